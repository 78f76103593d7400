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

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spate-ex-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
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

    let result = Command::new(example("wordcount")).env("SPATE_ROLE", "worker").output().unwrap();
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("Worker role"));
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
