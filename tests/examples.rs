//! End-to-end runs of the example binaries, as a user runs them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The path of an example binary of the same build profile as this test. A plain
/// `cargo test` builds the examples; when only this test was built, they are built once.
fn example(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
    let path = dir.join("examples").join(name);
    if !path.exists() {
        BUILT.get_or_init(|| {
            let mut cargo = Command::new(option_env!("CARGO").unwrap_or("cargo"));
            cargo.args(["build", "--examples", "-p", "spate"]);
            if dir.ends_with("release") {
                cargo.arg("--release");
            }
            assert!(cargo.status().expect("cargo runs").success(), "building the examples failed");
        });
    }
    assert!(path.exists(), "{} is missing", path.display());
    path
}

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(example(name))
        .args(args)
        .env_remove("SPATE_CONF_DIR")
        .env_remove("SPATE_ROLE")
        .output()
        .expect("example starts")
}

#[path = "common/temp_dir.rs"]
mod temp;
use temp::TempDir;

/// A fresh directory for one test (`spate-ex-NAME-PID`), removed when dropped.
fn temp_dir(name: &str) -> TempDir {
    TempDir::new(&format!("ex-{name}"))
}

/// Counts words the way Flink's WordCount defines them, independently of Spate.
fn count_words(texts: &[&str]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for text in texts {
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()) {
            *counts.entry(word.to_ascii_lowercase()).or_insert(0) += 1;
        }
    }
    counts
}

/// Reads `word count` lines from every part file of `dir`.
fn read_counts(dir: &Path) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            let (word, count) = line.rsplit_once(' ').expect("word count");
            let previous = counts.insert(word.to_string(), count.parse().unwrap());
            assert!(previous.is_none(), "'{word}' was counted in two places");
        }
    }
    counts
}

fn generated_text(lines: usize, seed: u64) -> String {
    let words = ["Spate", "flink", "stream", "BATCH", "key_by", "window", "state", "état", "x1", "it's"];
    let mut text = String::new();
    let mut x = seed;
    for _ in 0..lines {
        for _ in 0..(x % 9 + 1) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            text.push_str(words[(x >> 33) as usize % words.len()]);
            text.push_str(if x % 3 == 0 { ", " } else { " " });
        }
        text.push('\n');
    }
    text
}

#[test]
fn wordcount_counts_files_and_directories() {
    let dir = temp_dir("wc");
    let (a, b, c) = (generated_text(5000, 1), generated_text(300, 2), generated_text(700, 3));
    std::fs::create_dir_all(dir.join("in/more")).unwrap();
    std::fs::write(dir.join("in/a.txt"), &a).unwrap();
    std::fs::write(dir.join("in/more/b.txt"), &b).unwrap();
    std::fs::write(dir.join("c.txt"), &c).unwrap();
    for p in ["1", "2"] {
        let out = dir.join(format!("out-{p}"));
        let input_dir = dir.join("in");
        let input_file = dir.join("c.txt");
        let result = run(
            "wordcount",
            &[
                "--input",
                input_dir.to_str().unwrap(),
                "--input",
                input_file.to_str().unwrap(),
                "--output",
                out.to_str().unwrap(),
                "-p",
                p,
            ],
        );
        assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
        assert_eq!(read_counts(&out), count_words(&[&a, &b, &c]), "parallelism {p}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wordcount_without_arguments_prints_the_builtin_text() {
    let result = run("wordcount", &["-p", "1"]);
    assert!(result.status.success());
    let stdout = String::from_utf8(result.stdout).unwrap();
    assert!(stdout.lines().any(|l| l == r#"("be", 3)"#), "{stdout}");
    assert!(stdout.lines().any(|l| l == r#"("sleep", 5)"#), "{stdout}");
    assert!(stdout.lines().any(|l| l == r#"("question", 1)"#), "{stdout}");
}

#[test]
fn wordcount_streaming_emits_running_counts() {
    let result = run("wordcount", &["-p", "1", "-D", "execution.runtime-mode=STREAMING"]);
    assert!(result.status.success());
    let stdout = String::from_utf8(result.stdout).unwrap();
    for n in 1..=3 {
        assert!(stdout.lines().any(|l| l == format!(r#"("be", {n})"#)), "running count {n} of 'be': {stdout}");
    }
}

#[test]
fn wordcount_plan_is_json() {
    let result = run("wordcount", &["--plan", "-p", "3"]);
    assert!(result.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    let vertices = plan["vertices"].as_array().unwrap();
    assert!(vertices.iter().any(|v| v["name"] == "counter -> Sink: Print to Std. Out" && v["parallelism"] == 3));
    assert_eq!(plan["execution_mode"], "BATCH");
}

#[test]
fn config_yaml_in_spate_conf_dir_is_read() {
    let dir = temp_dir("conf");
    std::fs::write(dir.join("config.yaml"), "parallelism:\n  default: 3\nsome.unknown.key: 1\n").unwrap();
    let result = Command::new(example("wordcount")).arg("--plan").env("SPATE_CONF_DIR", &dir).output().unwrap();
    assert!(result.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(plan["vertices"][1]["parallelism"], 3);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("unknown configuration key 'some.unknown.key'"), "{stderr}");

    std::fs::write(dir.join("config.yaml"), "parallelism.default: lots\n").unwrap();
    let result = Command::new(example("wordcount")).env("SPATE_CONF_DIR", &dir).output().unwrap();
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("parallelism.default") && stderr.contains("lots"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_gives_clear_errors() {
    let result = run("wordcount", &["--input", "/no/such/file.txt"]);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("input path /no/such/file.txt does not exist"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let result = run("wordcount", &["stray-argument"]);
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("unexpected argument 'stray-argument'"));

    let result = run("wordcount", &["-D", "execution.buffer-timeout.interval=soon"]);
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("execution.buffer-timeout.interval"));

    let worker = || {
        let mut command = Command::new(example("wordcount"));
        command.env("SPATE_ROLE", "worker");
        command
    };
    // A worker needs its TaskManager's socket as standard input.
    let result = worker().env("SPATE_LAUNCHER_VERSION", env!("CARGO_PKG_VERSION")).output().unwrap();
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("the handshake with the TaskManager"));
    // A launcher that does not say its version (or says another) is refused.
    let result = worker().output().unwrap();
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("rebuild the program against the cluster's version"));
}

#[test]
fn wordcount_skips_lines_that_are_not_utf8() {
    let dir = temp_dir("utf8");
    std::fs::write(dir.join("in.txt"), b"good words\n\xff\xfe bad bytes\nmore good words\n").unwrap();
    let out = dir.join("out");
    let result = run(
        "wordcount",
        &["--input", dir.join("in.txt").to_str().unwrap(), "--output", out.to_str().unwrap(), "-p", "1"],
    );
    assert!(result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("not valid UTF-8"), "{stderr}");
    assert_eq!(read_counts(&out), count_words(&["good words\nmore good words\n"]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn datagen_keyed_sum_reports_throughput_and_stops() {
    let mut child = Command::new(example("datagen_keyed_sum"))
        .args(["--seconds", "2", "--keys", "1000", "-p", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the example did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert!(status.success(), "{stdout}");
    let throughput_lines = stdout.lines().filter(|l| l.contains("M records/s")).count();
    assert!(throughput_lines >= 2, "{stdout}");
}

#[test]
fn fraud_detection_finds_exactly_the_planted_frauds() {
    for p in ["1", "3"] {
        let result = run("fraud_detection", &["-p", p]);
        assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
        let stdout = String::from_utf8(result.stdout).unwrap();
        let mut alerts: Vec<String> =
            stdout.lines().map(|l| l.split_once("> ").map_or(l, |(_, rest)| rest).to_string()).collect();
        alerts.sort();
        // Accounts 2, 4 and 5: the small transaction's account, 59 s later.
        assert_eq!(
            alerts,
            vec![
                "Alert { account: 2, timestamp: 1700001271000 }",
                "Alert { account: 4, timestamp: 1700012095000 }",
                "Alert { account: 5, timestamp: 1700020507000 }",
            ],
            "parallelism {p}"
        );
    }
}

#[test]
fn stream_filter_blocks_words_named_by_the_control_stream() {
    let result = run("stream_filter", &["-p", "2", "--words", "100", "--rate", "40"]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let stdout = String::from_utf8(result.stdout).unwrap();
    let count = |word: &str| stdout.lines().filter(|l| l.ends_with(&format!("\"{word}\""))).count();
    // Unblocked words pass every time; "drop" is blocked one second into the 2.5 s run.
    assert_eq!(count("apache"), 20);
    assert_eq!(count("flink"), 20);
    assert!(count("drop") < 20, "{stdout}");
    assert_eq!(
        stdout.lines().count(),
        count("apache") + count("flink") + count("spate") + count("drop") + count("ignore")
    );
}

/// The readings of the `event_time_windows` example, rewritten here: sensor, time, value.
fn reading(j: u64) -> (u32, i64, f64) {
    let mix = j.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33;
    let mut timestamp = (j / 3) as i64 * 1_000 - (mix % 3_000) as i64;
    if j % 50 == 49 {
        timestamp -= 20_000;
    }
    if j % 97 == 96 {
        timestamp -= 60_000;
    }
    ((j % 3) as u32, timestamp.max(0), (mix % 1_000) as f64 / 10.0)
}

/// What the example must print: windows of 10 s every 5 s per sensor, a watermark 3 s
/// behind the newest reading after every reading, 15 s of allowed lateness. Lines are
/// `(sensor, start s, readings, average x100, update)` and `late (sensor, second)`.
/// A printed window: sensor, start in seconds, readings, average x100, whether an update.
type WindowLine = (u32, i64, u64, i64, bool);

fn expected_windows(events: u64) -> (Vec<WindowLine>, Vec<(u32, i64)>) {
    use std::collections::BTreeMap;
    let mut open: BTreeMap<(u32, i64), (f64, u64, bool)> = BTreeMap::new();
    let (mut lines, mut late) = (Vec::new(), Vec::new());
    let mut newest = i64::MIN / 2;
    let line = |s: u32, start: i64, (sum, n, _): (f64, u64, bool), update: bool| {
        (s, start / 1_000, n, (sum / n as f64 * 100.0).round() as i64, update)
    };
    let advance = |open: &mut BTreeMap<(u32, i64), (f64, u64, bool)>, lines: &mut Vec<_>, wm: i64| {
        for (&(s, start), w) in open.iter_mut() {
            if !w.2 && start + 10_000 - 1 <= wm {
                w.2 = true;
                lines.push(line(s, start, *w, false));
            }
        }
        open.retain(|&(_, start), _| start + 10_000 - 1 + 15_000 > wm);
    };
    for j in 0..events {
        let (sensor, ts, value) = reading(j);
        let wm = newest - 3_001;
        let mut skipped = true;
        let last = ts - ts.rem_euclid(5_000);
        for start in [last, last - 5_000] {
            if start + 10_000 - 1 + 15_000 <= wm {
                continue;
            }
            skipped = false;
            let w = open.entry((sensor, start)).or_insert((0.0, 0, false));
            w.0 += value;
            w.1 += 1;
            if w.2 {
                lines.push(line(sensor, start, *w, true));
            }
        }
        if skipped {
            late.push((sensor, ts / 1_000));
        }
        newest = newest.max(ts);
        advance(&mut open, &mut lines, newest - 3_001);
    }
    advance(&mut open, &mut lines, i64::MAX);
    lines.sort();
    late.sort();
    (lines, late)
}

#[test]
fn event_time_windows_fire_update_and_report_late_readings() {
    let (expected, expected_late) = expected_windows(300);
    assert!(expected.iter().any(|l| l.4), "the input makes windows fire again");
    assert!(!expected_late.is_empty(), "and has readings later than the allowed lateness");
    for p in ["1", "2"] {
        let result = run("event_time_windows", &["-p", p]);
        assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
        let stdout = String::from_utf8(result.stdout).unwrap();
        let (mut lines, mut late) = (Vec::new(), Vec::new());
        for l in stdout.lines() {
            let l = l.split_once("> ").map_or(l, |(_, rest)| rest);
            let numbers: Vec<f64> = l
                .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .filter(|t| !t.is_empty() && *t != "." && *t != "-")
                .map(|t| t.parse().unwrap())
                .collect();
            if l.starts_with("late") {
                late.push((numbers[0] as u32, numbers[1] as i64));
            } else {
                let (sensor, start, readings, average) = (numbers[0], numbers[1], numbers[3], numbers[4]);
                lines.push((
                    sensor as u32,
                    start as i64,
                    readings as u64,
                    (average * 100.0).round() as i64,
                    l.contains("update"),
                ));
            }
        }
        lines.sort();
        late.sort();
        // Averages are printed to two decimals: equal up to the last digit's rounding.
        let without_average =
            |v: &[(u32, i64, u64, i64, bool)]| v.iter().map(|l| (l.0, l.1, l.2, l.4)).collect::<Vec<_>>();
        assert_eq!(without_average(&lines), without_average(&expected), "parallelism {p}");
        for (got, want) in lines.iter().zip(&expected) {
            assert!((got.3 - want.3).abs() <= 1, "average of {want:?}: {got:?}");
        }
        assert_eq!(late, expected_late, "parallelism {p}");
    }
}

#[test]
fn socket_window_wordcount_counts_words_per_window() {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut child = Command::new(example("socket_window_wordcount"))
        .args(["--hostname", "127.0.0.1", "--port", &port, "--window-secs", "1"])
        .env_remove("SPATE_CONF_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut connection, _) = listener.accept().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let wait_for = |wanted: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(wanted) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("no line with '{wanted}' within 20 s");
    };
    connection.write_all(b"to be or not to be\n").unwrap();
    assert!(wait_for("to : 2").ends_with("to : 2"));
    connection.write_all(b"that is the question\n").unwrap();
    wait_for("question : 1");
    drop(connection);
    let status = child.wait().unwrap();
    assert!(status.success(), "the job ends when the server closes the connection");
}

#[test]
fn socket_window_wordcount_needs_a_port() {
    let result = run("socket_window_wordcount", &[]);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("--port"), "{stderr}");
}

/// The newest completed checkpoint logged on `stderr` ("completed checkpoint ... path=").
fn last_logged_checkpoint(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .rev()
        .filter(|l| l.contains("completed checkpoint"))
        .filter_map(|l| l.split("path=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or("").trim_matches('"').to_string())
        .find(|p| Path::new(p).join("_metadata").is_file())
}

#[test]
fn wordcount_killed_with_sigkill_resumes_from_its_checkpoints_exactly_once() {
    let dir = temp_dir("wc-kill");
    let text = generated_text(400_000, 11);
    std::fs::write(dir.join("input.txt"), &text).unwrap();
    let (input, out, checkpoints) = (dir.join("input.txt"), dir.join("out"), dir.join("checkpoints"));
    let mut args: Vec<String> = [
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "-p",
        "2",
        "-D",
        "execution.runtime-mode=STREAMING",
        "-D",
        "execution.checkpointing.interval=100ms",
        "-D",
        &format!("execution.checkpointing.dir={}", checkpoints.display()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut seed = 7u64;
    let mut kills = 0;
    let mut resumed_from = Vec::new();
    loop {
        let mut child = Command::new(example("wordcount"))
            .args(&args)
            .env("SPATE_LOG", "info")
            .env_remove("SPATE_CONF_DIR")
            .env_remove("SPATE_ROLE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let kill_after = Duration::from_millis(150 + (seed >> 33) % 500);
        let started = std::time::Instant::now();
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if kills < 4 && started.elapsed() >= kill_after {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if finished.is_none() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
        let stderr = log.join().unwrap();
        if let Some(status) = finished {
            assert!(status.success(), "{stderr}");
            break;
        }
        kills += 1;
        // Resume from the newest completed checkpoint of any run so far.
        if let Some(path) = last_logged_checkpoint(&stderr) {
            args.retain(|a| !a.starts_with("execution.savepoint.path="));
            if args.last().is_some_and(|a| a == "-D") {
                args.pop();
            }
            args.push("-D".into());
            args.push(format!("execution.savepoint.path={path}"));
            resumed_from.push(path);
        }
    }
    assert!(kills >= 4, "the job was killed four times");
    assert!(!resumed_from.is_empty(), "runs resumed from logged checkpoints");
    // Every running count of every word, each exactly once.
    let mut expected: BTreeMap<String, u32> = BTreeMap::new();
    for (word, n) in count_words(&[&text]) {
        for k in 1..=n {
            expected.insert(format!("{word} {k}"), 1);
        }
    }
    let mut got: BTreeMap<String, u32> = BTreeMap::new();
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_str().unwrap().starts_with('.') {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            *got.entry(line.to_string()).or_insert(0) += 1;
        }
    }
    let missing = expected.keys().filter(|k| !got.contains_key(*k)).count();
    let duplicated = got.values().filter(|n| **n > 1).count();
    assert!(
        missing == 0 && duplicated == 0 && got.len() == expected.len(),
        "{missing} missing, {duplicated} duplicated, resumed from {resumed_from:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_yaml_with_flinks_deprecated_keys_checkpoints_to_that_directory() {
    // The Flink training repository's spelling of a checkpointed job's settings.
    let dir = temp_dir("deprecated-keys");
    let text = generated_text(400_000, 5);
    std::fs::write(dir.join("input.txt"), &text).unwrap();
    let checkpoints = dir.join("checkpoints");
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "state.backend: filesystem\nstate.checkpoints.dir: file://{}\nexecution:\n  runtime-mode: STREAMING\n  \
             checkpointing:\n    interval: 100 ms\n",
            checkpoints.display()
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let result = Command::new(example("wordcount"))
        .args(["--input", dir.join("input.txt").to_str().unwrap(), "--output", out.to_str().unwrap(), "-p", "2"])
        .env("SPATE_CONF_DIR", &dir)
        .env("SPATE_LOG", "info")
        .env_remove("SPATE_ROLE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "Config uses deprecated configuration key 'state.checkpoints.dir' instead of proper key \
             'execution.checkpointing.dir'"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("unknown configuration key"), "{stderr}");
    let written_there = stderr
        .lines()
        .filter(|l| l.contains("completed checkpoint"))
        .any(|l| l.contains(checkpoints.to_str().unwrap()));
    assert!(written_there, "no checkpoint was written to {}: {stderr}", checkpoints.display());
    // Streaming: running counts; the highest of each word is its count.
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_str().unwrap().starts_with('.') {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let (word, n) = line.rsplit_once(' ').expect("word count");
            let n: u64 = n.parse().unwrap();
            let highest = last.entry(word.to_string()).or_insert(0);
            *highest = (*highest).max(n);
        }
    }
    assert_eq!(last, count_words(&[&text]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_yaml_errors_name_the_line_and_column() {
    let dir = temp_dir("conf-errors");
    let file = dir.join("config.yaml");
    std::fs::write(&file, "parallelism:\n  default: 2\nparallelism.default: 3\n").unwrap();
    let result = Command::new(example("wordcount")).arg("--plan").env("SPATE_CONF_DIR", &dir).output().unwrap();
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains(&format!(
            "configuration file {}: line 3, column 1: duplicate key 'parallelism.default' (first set at line 2, \
             column 3)",
            file.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    std::fs::write(&file, "state.backend.type: rocksdb\n").unwrap();
    let result = Command::new(example("wordcount")).arg("--plan").env("SPATE_CONF_DIR", &dir).output().unwrap();
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("state.backend.type") && stderr.contains("no RocksDB state backend"), "{stderr}");

    // Set but empty: no config directory at all.
    let result = Command::new(example("wordcount")).arg("--plan").env("SPATE_CONF_DIR", "").output().unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wordcount_rejects_a_misspelled_flag_with_its_usage() {
    let result = run("wordcount", &["--inptu", "file.txt"]);
    assert_eq!(result.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("unknown parameter --inptu (did you mean --input?)"), "{stderr}");
    assert!(stderr.contains("Usage: wordcount") && stderr.contains("--input FILE_OR_DIR"), "{stderr}");
    assert!(result.stdout.is_empty(), "nothing is counted: {}", String::from_utf8_lossy(&result.stdout));
}

#[test]
fn wordcount_input_needs_a_value() {
    for args in [&["--input"][..], &["--input", "--plan"], &["--output", "-p", "1"]] {
        let result = run("wordcount", args);
        assert_eq!(result.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(stderr.contains(&format!("{} needs a value", args[0])), "{stderr}");
        assert!(stderr.contains("Usage: wordcount"), "{stderr}");
        assert!(result.stdout.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&result.stdout));
    }
}

#[test]
fn every_example_prints_its_usage_on_help() {
    let examples = [
        "wordcount",
        "datagen_keyed_sum",
        "event_time_windows",
        "fraud_detection",
        "socket_window_wordcount",
        "stream_filter",
    ];
    for name in examples {
        for help in ["--help", "-h"] {
            let result = run(name, &[help]);
            assert!(result.status.success(), "{name} {help}: {}", String::from_utf8_lossy(&result.stderr));
            let stdout = String::from_utf8(result.stdout).unwrap();
            assert!(stdout.contains(&format!("Usage: {name} ")), "{stdout}");
            assert!(stdout.contains("--plan ") && stdout.contains("-p, --parallelism N"), "{stdout}");
            assert!(result.stderr.is_empty(), "{name} {help}: {}", String::from_utf8_lossy(&result.stderr));
        }
    }
    let stdout = String::from_utf8(run("wordcount", &["--help"]).stdout).unwrap();
    assert!(
        stdout.contains("--input FILE_OR_DIR  a text file, or a directory of them, to count (repeatable)"),
        "{stdout}"
    );
}

#[test]
fn other_examples_reject_wrong_flags() {
    let result = run("stream_filter", &["--word", "10"]);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("unknown parameter --word (did you mean --words?)"), "{stderr}");
    assert!(stderr.contains("Usage: stream_filter") && stderr.contains("--rate N"), "{stderr}");
    assert!(result.stdout.is_empty(), "no job ran: {}", String::from_utf8_lossy(&result.stdout));

    let result = run("fraud_detection", &["--plan=yes"]);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("--plan takes no value, but was given 'yes'"), "{stderr}");
    assert!(result.stdout.is_empty(), "no job ran: {}", String::from_utf8_lossy(&result.stdout));

    let result = run("event_time_windows", &["--events", "10", "--events", "20"]);
    assert_eq!(result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&result.stderr).contains("--events was given more than once"));

    let result = run("socket_window_wordcount", &["--hostname", "localhost"]);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("missing required parameter --port"), "{stderr}");
    assert!(stderr.contains("--port PORT") && stderr.contains("(required)"), "{stderr}");
}

#[test]
fn the_uid_warning_names_only_operators_that_really_have_state() {
    // The generator source records its position in every checkpoint, the keyed sum
    // its sums; only the keyed sum is named (a source's generated uid is stable).
    let out = run(
        "datagen_keyed_sum",
        &["--seconds", "2", "--keys", "100", "--rate", "20000", "-D", "execution.checkpointing.interval=100ms"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("without an explicit uid")).collect();
    assert_eq!(warnings.len(), 1, "warned once: {stderr}");
    assert!(warnings[0].contains("keyed-sum"), "{}", warnings[0]);
    assert!(!warnings[0].contains("generator"), "{}", warnings[0]);
}
