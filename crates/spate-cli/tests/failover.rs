//! Exactly-once on the cluster, tested with real kills: a checkpointed STREAMING
//! wordcount with the exactly-once file sink runs at parallelism 4 on three
//! TaskManagers of two slots, and TaskManagers and workers are killed with SIGKILL at
//! random moments, over several seeds; the committed output must equal, line for line,
//! what an uninterrupted run produces. A killed TaskManager is replaced by a new one,
//! which registers and whose slots are used.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// A small deterministic generator (xorshift), so that a failing seed can be rerun.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Text files to count: `files` files of `lines` lines of ten words from 500.
fn write_input(dir: &Path, files: usize, lines: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for f in 0..files {
        let mut text = String::new();
        for _ in 0..lines {
            let words: Vec<String> = (0..10).map(|_| format!("w{}", rng.below(500))).collect();
            text.push_str(&words.join(" "));
            text.push('\n');
        }
        std::fs::write(dir.join(format!("f{f}.txt")), text).unwrap();
    }
}

/// Every committed line of the part files in `dir`, sorted (hidden files are staged
/// output that no checkpoint committed).
fn committed_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue;
        }
        lines.extend(std::fs::read_to_string(&path).unwrap().lines().map(str::to_string));
    }
    lines.sort_unstable();
    lines
}

/// TaskManagers a test started itself (to replace killed ones): killed when it ends.
struct ExtraTaskManagers(Vec<Child>);

/// Processes a test started itself (a JobManager started again): killed when it ends.
type Spawned = ExtraTaskManagers;

impl Drop for ExtraTaskManagers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The parent of process `pid`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Lines per input file: enough for the job to run some seconds, so that kills land in
/// the middle of it.
const LINES: usize = 60_000;

/// What the kill hits.
#[derive(Clone, Copy, Debug)]
enum Victim {
    /// A TaskManager with a worker of the job (SIGKILL), replaced by a new one.
    TaskManager,
    /// One worker process of the job (SIGKILL); its TaskManager lives on.
    Worker,
}

#[test]
fn killed_taskmanagers_and_workers_leave_the_committed_output_exactly_as_an_uninterrupted_run() {
    let mut cluster = Cluster::new("failover", 3, "");
    cluster.start();
    let input = cluster.dir.join("input");
    write_input(&input, 8, LINES);
    let wordcount = example("wordcount");
    let streaming = ["-D", "execution.runtime-mode=STREAMING"];

    // The uninterrupted run, embedded.
    let expected_dir = cluster.dir.join("expected");
    let mut embedded = Command::new(&wordcount);
    embedded.args(["--input", input.to_str().unwrap(), "--output", expected_dir.to_str().unwrap(), "-p", "4"]);
    embedded.args(streaming);
    let out = run_with_deadline(embedded, Duration::from_secs(120));
    assert!(out.status.success(), "{}", text(&out));
    let expected = committed_lines(&expected_dir);
    assert_eq!(expected.len(), 8 * LINES * 10, "one count per word");

    let endpoints: Value = serde_json::from_slice(&std::fs::read(cluster.endpoint_file()).unwrap()).unwrap();
    let rpc_port = endpoints["rpc"].as_str().unwrap().rsplit_once(':').unwrap().1.to_string();
    let mut extra = ExtraTaskManagers(Vec::new());
    let plan = [
        (1, vec![Victim::TaskManager, Victim::TaskManager]),
        (2, vec![Victim::Worker, Victim::TaskManager]),
        (3, vec![Victim::TaskManager, Victim::Worker]),
    ];
    for (seed, victims) in plan {
        let mut rng = Rng(seed * 0x2545_f491_4f6c_dd1d);
        let interval = format!("execution.checkpointing.interval={}ms", 100 + rng.below(400));
        let output = cluster.dir.join(format!("out-{seed}"));
        let checkpoints = format!("execution.checkpointing.dir={}", cluster.dir.join("checkpoints").display());
        let args = [
            "run",
            "-d",
            "-p",
            "4",
            wordcount.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            streaming[0],
            streaming[1],
            "-D",
            &interval,
            "-D",
            &checkpoints,
        ];
        let out = cluster.spate(&args);
        assert!(out.status.success(), "seed {seed}: {}", text(&out));
        let id = submitted_id(&out);
        let mut kills = 0;
        for victim in &victims {
            // Somewhere in the run, once the job's workers run.
            wait_until("the job's workers", Duration::from_secs(60), || {
                job_state(&cluster, &id).as_deref() != Some("RUNNING") || !workers_of(&cluster.dir).is_empty()
            });
            // After a checkpoint completed (so that the restart restores one), at a
            // random moment.
            let job_checkpoints = cluster.dir.join("checkpoints").join(&id);
            wait_until("a completed checkpoint", Duration::from_secs(60), || {
                job_state(&cluster, &id).as_deref() != Some("RUNNING") || has_completed_checkpoint(&job_checkpoints)
            });
            std::thread::sleep(Duration::from_millis(rng.below(800)));
            if job_state(&cluster, &id).as_deref() != Some("RUNNING") {
                break;
            }
            let workers = workers_of(&cluster.dir);
            let Some(&worker) = workers.get(rng.below(workers.len().max(1) as u64) as usize) else { continue };
            match victim {
                Victim::Worker => signal(worker, "KILL"),
                Victim::TaskManager => {
                    let Some(tm) = parent_of(worker) else { continue };
                    signal(tm, "KILL");
                    // A new TaskManager takes its place: it registers and its slots are used.
                    let child = Command::new(SPATE)
                        .args(["taskmanager", "-D", &format!("jobmanager.rpc.port={rpc_port}")])
                        .env("SPATE_CONF_DIR", cluster.dir.join("conf"))
                        .env_remove("SPATE_LOG")
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap();
                    extra.0.push(child);
                }
            }
            kills += 1;
            eprintln!("seed {seed}: killed {victim:?} (worker {worker})");
            // The JobManager notices, records the root cause and restarts the job.
            wait_until("the job to restart", Duration::from_secs(60), || {
                let (_, exceptions) = cluster.get(&format!("/jobs/{id}/exceptions"));
                let recorded = exceptions["exceptionHistory"]["entries"].as_array().map_or(0, Vec::len);
                let state = job_state(&cluster, &id);
                recorded >= kills && matches!(state.as_deref(), Some("RUNNING" | "FINISHED" | "FAILED"))
            });
        }
        wait_until("the job to finish", Duration::from_secs(180), || {
            matches!(job_state(&cluster, &id).as_deref(), Some("FINISHED" | "FAILED" | "CANCELED"))
        });
        assert!(kills > 0, "seed {seed}: the job ended before any kill");
        let (_, exceptions) = cluster.get(&format!("/jobs/{id}/exceptions"));
        assert_eq!(job_state(&cluster, &id).as_deref(), Some("FINISHED"), "seed {seed}: {exceptions}");
        let got = committed_lines(&output);
        assert_eq!(got.len(), expected.len(), "seed {seed}: lines lost or repeated");
        assert!(got == expected, "seed {seed}: the committed output differs from the uninterrupted run's");
        // The failures are on record with their root causes, and a restart restored a
        // checkpoint rather than starting over.
        let entries = exceptions["exceptionHistory"]["entries"].as_array().cloned().unwrap_or_default();
        assert_eq!(entries.len(), kills, "seed {seed}: one failure per kill: {exceptions}");
        for entry in &entries {
            let cause = entry["stacktrace"].as_str().unwrap_or_default();
            assert!(cause.contains("lost") || cause.contains("killed by signal 9"), "seed {seed}: {cause}");
        }
        let log = std::fs::read_to_string(jobmanager_log_path(&cluster)).unwrap();
        let restored = log.lines().any(|l| l.contains("restoring checkpoint") && l.contains(&id));
        assert!(restored, "seed {seed}: no attempt restored a checkpoint");
        check_checkpoint_rest(&cluster, &id, kills);
    }
    // Every killed TaskManager was replaced: three are registered.
    wait_until("three TaskManagers", Duration::from_secs(20), || cluster.registered() == 3);
}

/// `/jobs/:id/checkpoints` and its config and details, in the shapes of Flink's
/// samples, say what happened: restores, completed checkpoints acknowledged by every
/// subtask.
fn check_checkpoint_rest(cluster: &Cluster, id: &str, kills: usize) {
    let (status, overview) = cluster.get(&format!("/jobs/{id}/checkpoints"));
    assert_eq!(status, 200, "{overview}");
    let flink = sample("rest_job_checkpoints_running.json");
    assert_eq!(keys(&overview), keys(&flink));
    assert_eq!(keys(&overview["counts"]), keys(&flink["counts"]));
    assert_eq!(keys(&overview["summary"]), keys(&flink["summary"]));
    assert_eq!(keys(&overview["summary"]["state_size"]), keys(&flink["summary"]["state_size"]));
    assert_eq!(keys(&overview["latest"]), keys(&flink["latest"]));
    let restores = overview["counts"]["restored"].as_u64().unwrap();
    assert!(restores >= 1 && restores <= kills as u64, "{overview}");
    assert!(overview["latest"]["restored"]["id"].as_u64().unwrap() >= 1, "{overview}");
    assert_eq!(overview["latest"]["restored"]["is_savepoint"], false);
    assert!(overview["counts"]["completed"].as_u64().unwrap() >= 1, "{overview}");
    let completed = &overview["latest"]["completed"];
    assert_eq!(keys(completed), keys(&flink["latest"]["completed"]));
    assert_eq!(completed["num_subtasks"], completed["num_acknowledged_subtasks"]);
    for entry in overview["history"].as_array().unwrap() {
        let class = entry["className"].as_str().unwrap();
        if let Some(model) = flink["history"].as_array().unwrap().iter().find(|h| h["className"] == class) {
            assert_eq!(keys(entry), keys(model), "{class}");
        }
    }
    let chk = completed["id"].as_u64().unwrap();
    let (status, details) = cluster.get(&format!("/jobs/{id}/checkpoints/details/{chk}"));
    assert_eq!(status, 200, "{details}");
    let tasks = details["tasks"].as_object().unwrap();
    let vertices = cluster.get(&format!("/jobs/{id}")).1["vertices"].as_array().unwrap().len();
    assert_eq!(tasks.len(), vertices, "one entry per vertex: {details}");
    for task in tasks.values() {
        assert_eq!(task["num_acknowledged_subtasks"], task["num_subtasks"], "{details}");
    }
    assert_eq!(cluster.get(&format!("/jobs/{id}/checkpoints/details/999999")).0, 404);
    assert_eq!(cluster.get(&format!("/jobs/{id}/checkpoints/details/x")).0, 400);
    let (status, config) = cluster.get(&format!("/jobs/{id}/checkpoints/config"));
    assert_eq!(status, 200, "{config}");
    assert_eq!(keys(&config), keys(&sample("rest_job_checkpoints_config.json")));
    assert_eq!(config["mode"], "exactly_once");
}

/// The committed lines of the wordcount of `input`, run embedded without interruption.
fn uninterrupted(cluster: &Cluster, input: &Path) -> Vec<String> {
    let expected_dir = cluster.dir.join("expected");
    let mut embedded = Command::new(example("wordcount"));
    embedded.args(["--input", input.to_str().unwrap(), "--output", expected_dir.to_str().unwrap()]);
    embedded.args(["-D", "execution.runtime-mode=STREAMING"]);
    let out = run_with_deadline(embedded, Duration::from_secs(120));
    assert!(out.status.success(), "{}", text(&out));
    committed_lines(&expected_dir)
}

/// Submits the STREAMING wordcount of `input` into `output`, detached, at
/// `parallelism`, checkpointing every 200 ms into the cluster's `checkpoints/` (and the
/// `extra` arguments); its job id.
fn run_checkpointed(cluster: &Cluster, parallelism: &str, input: &Path, output: &Path, extra: &[&str]) -> String {
    let wordcount = example("wordcount");
    let checkpoints = format!("execution.checkpointing.dir={}", cluster.dir.join("checkpoints").display());
    let mut args = vec!["run", "-d", "-p", parallelism, wordcount.to_str().unwrap()];
    args.extend(["--input", input.to_str().unwrap(), "--output", output.to_str().unwrap()]);
    args.extend(["-D", "execution.runtime-mode=STREAMING", "-D", "execution.checkpointing.interval=200ms"]);
    args.extend(["-D", &checkpoints]);
    args.extend(extra);
    let out = cluster.spate(&args);
    assert!(out.status.success(), "{}", text(&out));
    submitted_id(&out)
}

/// Whether a checkpoint of the job whose checkpoints are in `dir` completed.
fn has_completed_checkpoint(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| entries.flatten().any(|e| e.path().join("_metadata").exists()))
}

/// The live worker processes of the cluster in `dir`.
fn workers_of(dir: &Path) -> Vec<u32> {
    processes_under(&dir.join("tm"))
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| String::from_utf8_lossy(&env).contains("SPATE_ROLE=worker"))
        })
        .collect()
}

fn jobmanager_log_path(cluster: &Cluster) -> PathBuf {
    std::fs::read_dir(cluster.dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("jobmanager") && p.to_string_lossy().ends_with(".log"))
        .expect("the JobManager's log")
}

/// The path `spate savepoint` or `spate stop` printed (`file:/…`, as Flink prints it).
fn savepoint_path(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = stdout.lines().find_map(|l| l.strip_prefix("Savepoint completed. Path: "));
    let path = path.unwrap_or_else(|| panic!("no savepoint path: {}", text(out))).to_string();
    assert!(path.starts_with("file:/"), "{path}");
    path
}

/// The directory a printed savepoint path names.
fn local(printed: &str) -> &Path {
    Path::new(printed.strip_prefix("file:").unwrap())
}

#[test]
fn savepoints_stop_and_resume_at_other_parallelisms_with_exact_output() {
    let mut cluster = Cluster::new("savepoints", 3, "");
    cluster.start();
    let input = cluster.dir.join("input");
    write_input(&input, 8, LINES);
    let wordcount = example("wordcount");
    let expected = uninterrupted(&cluster, &input);

    let savepoints = cluster.dir.join("savepoints");
    let savepoints = savepoints.to_str().unwrap();
    let mut committed = Vec::new();
    let mut resume: Option<String> = None;
    let mut first_savepoint = None;
    // p=2, stopped with a canonical savepoint; p=3 from it, stopped with a native one;
    // p=1 from that, to the end.
    for (round, (parallelism, stop_type)) in
        [("2", Some("canonical")), ("3", Some("native")), ("1", None)].iter().enumerate()
    {
        // The same output directory each time, as a resumed job is run: the sink
        // commits there what the savepoint staged.
        let output = cluster.dir.join("out");
        let mut args = vec!["run", "-d", "-p", parallelism];
        if let Some(path) = &resume {
            args.extend(["-s", path.as_str()]);
        }
        let output_arg = output.to_str().unwrap().to_string();
        args.extend([wordcount.to_str().unwrap(), "--input", input.to_str().unwrap(), "--output", &output_arg]);
        args.extend(["-D", "execution.runtime-mode=STREAMING"]);
        let out = cluster.spate(&args);
        assert!(out.status.success(), "round {round}: {}", text(&out));
        let id = submitted_id(&out);
        if resume.is_some() {
            let restored = &cluster.get(&format!("/jobs/{id}/checkpoints")).1["latest"]["restored"];
            assert_eq!(restored["is_savepoint"], true, "round {round}: {restored}");
        }
        if let Some(kind) = stop_type {
            wait_until("the job to run", Duration::from_secs(60), || {
                job_state(&cluster, &id).as_deref() != Some("CREATED")
            });
            let (_, exceptions) = cluster.get(&format!("/jobs/{id}/exceptions"));
            assert_eq!(job_state(&cluster, &id).as_deref(), Some("RUNNING"), "round {round}: {exceptions}");
            // Early enough that the job is far from done (its input takes seconds).
            std::thread::sleep(Duration::from_millis(600));
            if round == 0 {
                // A savepoint that does not stop the job.
                let out = cluster.spate(&["savepoint", &id, savepoints]);
                assert!(out.status.success(), "{}", text(&out));
                let printed = String::from_utf8_lossy(&out.stdout).to_string();
                assert!(
                    printed.starts_with(&format!("Triggering savepoint for job {id}.\nWaiting for response...\n")),
                    "{printed}"
                );
                assert!(
                    printed.ends_with("You can resume your program from this savepoint with the run command.\n"),
                    "{printed}"
                );
                let path = savepoint_path(&out);
                assert!(local(&path).join("_metadata").is_file(), "{path}");
                assert_eq!(job_state(&cluster, &id).as_deref(), Some("RUNNING"), "a savepoint leaves the job running");
                first_savepoint = Some(path);
            }
            // The second stop also drains (event time to its end first; wordcount has no
            // event-time windows, so its output stays the same).
            let mut stop = vec!["stop", "--savepointPath", savepoints, "-type", kind];
            if round == 1 {
                stop.push("--drain");
            }
            stop.push(&id);
            let out = cluster.spate(&stop);
            assert!(out.status.success(), "round {round}: {}", text(&out));
            let printed = String::from_utf8_lossy(&out.stdout).to_string();
            let format = kind.to_ascii_uppercase();
            assert!(
                printed.starts_with(&format!(
                    "Suspending job \"{id}\" with a {format} savepoint.\nTriggering stop-with-savepoint for job {id}.\nWaiting for response...\n"
                )),
                "{printed}"
            );
            resume = Some(savepoint_path(&out));
        }
        wait_until("the job to end", Duration::from_secs(180), || {
            matches!(job_state(&cluster, &id).as_deref(), Some("FINISHED" | "FAILED" | "CANCELED"))
        });
        let (_, exceptions) = cluster.get(&format!("/jobs/{id}/exceptions"));
        assert_eq!(job_state(&cluster, &id).as_deref(), Some("FINISHED"), "round {round}: {exceptions}");
    }
    committed.extend(committed_lines(&cluster.dir.join("out")));
    committed.sort_unstable();
    assert_eq!(committed.len(), expected.len(), "lines lost or repeated over the stops");
    assert!(committed == expected, "the output over three runs differs from the uninterrupted run's");

    // Disposing removes the savepoint; a directory that is none is refused.
    let first = first_savepoint.unwrap();
    let out = cluster.spate(&["savepoint", "-d", &first]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!local(&first).exists());
    let out = cluster.spate(&["savepoint", "-d", input.to_str().unwrap()]);
    assert!(!out.status.success() && text(&out).contains("not a savepoint"), "{}", text(&out));
    // A savepoint of an ended job, and one without a directory, are refused with reasons.
    let out = cluster.spate(&["savepoint", "0123456789abcdef0123456789abcdef"]);
    assert!(!out.status.success() && text(&out).contains("not found"), "{}", text(&out));
}

#[test]
fn a_stopped_taskmanagers_workers_cannot_harm_the_attempt_that_replaces_them() {
    // The stopped TaskManager is declared lost after heartbeat.timeout.
    let mut cluster = Cluster::new("stopped", 3, "heartbeat.timeout: 2 s\n");
    cluster.start();
    let input = cluster.dir.join("input");
    write_input(&input, 8, LINES);
    let expected = uninterrupted(&cluster, &input);

    let output = cluster.dir.join("out");
    let id = run_checkpointed(&cluster, "4", &input, &output, &[]);
    let job_checkpoints = cluster.dir.join("checkpoints").join(&id);
    wait_until("a completed checkpoint", Duration::from_secs(60), || has_completed_checkpoint(&job_checkpoints));
    let worker = *workers_of(&cluster.dir).first().expect("a worker runs");
    let stopped = parent_of(worker).unwrap();
    signal(stopped, "STOP");
    // Its workers run on, beside the attempt that replaces them, until it comes back.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until("the job to restart", Duration::from_secs(60), || {
            let (_, exceptions) = cluster.get(&format!("/jobs/{id}/exceptions"));
            !exceptions["exceptionHistory"]["entries"].as_array().is_none_or(Vec::is_empty)
                && job_state(&cluster, &id).as_deref() == Some("RUNNING")
        });
        std::thread::sleep(Duration::from_millis(500));
    }));
    signal(stopped, "CONT");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    wait_until("the job to finish", Duration::from_secs(180), || {
        matches!(job_state(&cluster, &id).as_deref(), Some("FINISHED" | "FAILED" | "CANCELED"))
    });
    let (_, exceptions) = cluster.get(&format!("/jobs/{id}/exceptions"));
    assert_eq!(job_state(&cluster, &id).as_deref(), Some("FINISHED"), "{exceptions}");
    let cause = exceptions["exceptionHistory"]["entries"][0]["stacktrace"].as_str().unwrap_or_default().to_string();
    assert!(cause.contains("lost") && cause.contains("heartbeat"), "{cause}");
    let got = committed_lines(&output);
    assert_eq!(got.len(), expected.len(), "lines lost or repeated");
    assert!(got == expected, "the committed output differs from the uninterrupted run's");
    // The resumed TaskManager killed its stale workers and registered again.
    wait_until("the resumed TaskManager to register", Duration::from_secs(30), || cluster.registered() == 3);
    wait_until("its stale worker to be gone", Duration::from_secs(30), || !alive(worker));
}

#[test]
fn a_damaged_checkpoint_is_skipped_for_the_one_before_it() {
    let mut cluster = Cluster::new("damaged", 2, "");
    cluster.start();
    let input = cluster.dir.join("input");
    write_input(&input, 8, LINES);
    let expected = uninterrupted(&cluster, &input);

    let output = cluster.dir.join("out");
    let id = run_checkpointed(&cluster, "2", &input, &output, &["-D", "execution.checkpointing.num-retained=3"]);
    let job_dir = cluster.dir.join("checkpoints").join(&id);
    let completed = || -> Vec<u64> {
        let mut ids: Vec<u64> = std::fs::read_dir(&job_dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().join("_metadata").exists())
                    .filter_map(|e| e.file_name().to_str()?.strip_prefix("chk-")?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    };
    wait_until("three completed checkpoints", Duration::from_secs(60), || completed().len() >= 3);
    // The attempt fails (no checkpoint completes after that), and the newest
    // checkpoint's state files get a flipped byte each, their sizes unchanged.
    let worker = *workers_of(&cluster.dir).first().expect("a worker runs");
    signal(worker, "KILL");
    // Once it restarts, no checkpoint of the failed attempt can complete any more; the
    // restart delay (1 s) leaves time to damage the newest before it is read.
    wait_until("the job to restart", Duration::from_secs(30), || {
        job_state(&cluster, &id).as_deref() == Some("RESTARTING")
    });
    let newest = *completed().last().unwrap();
    let chk = job_dir.join(format!("chk-{newest}"));
    for entry in std::fs::read_dir(&chk).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("state-") {
            use std::os::unix::fs::FileExt as _;
            let file = std::fs::OpenOptions::new().read(true).write(true).open(entry.path()).unwrap();
            let middle = file.metadata().unwrap().len() / 2;
            let mut byte = [0u8];
            file.read_exact_at(&mut byte, middle).unwrap();
            file.write_all_at(&[byte[0] ^ 0xff], middle).unwrap();
        }
    }
    wait_until("the job to finish", Duration::from_secs(180), || {
        matches!(job_state(&cluster, &id).as_deref(), Some("FINISHED" | "FAILED" | "CANCELED"))
    });
    let (_, exceptions) = cluster.get(&format!("/jobs/{id}/exceptions"));
    assert_eq!(job_state(&cluster, &id).as_deref(), Some("FINISHED"), "{exceptions}");
    let got = committed_lines(&output);
    assert_eq!(got.len(), expected.len(), "lines lost or repeated");
    assert!(got == expected, "the committed output differs from the uninterrupted run's");
    // The damaged one was found by a worker (a checksum), and an older one restored.
    let causes = exceptions.to_string();
    assert!(causes.contains("checksum") && causes.contains(&format!("chk-{newest}")), "{causes}");
    let restored = cluster.get(&format!("/jobs/{id}/checkpoints")).1["latest"]["restored"]["id"].as_u64().unwrap();
    assert!(restored < newest, "restored {restored}, the damaged one is {newest}");
}

/// A port that was free a moment ago (for a JobManager that must come back on it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_killed_jobmanager_started_again_on_its_storage_recovers_its_jobs_exactly() {
    let rpc_port = free_port();
    // Inside the cluster's directory (Cluster::new names it so), removed with it.
    let ha = std::env::temp_dir().join(format!("spate-cluster-jm-ha-{}", std::process::id())).join("ha");
    let config = format!(
        "jobmanager.rpc.port: {rpc_port}\nhigh-availability.type: filesystem\nhigh-availability.storageDir: {}\n\
         high-availability.cluster-id: /test-cluster\n",
        ha.display()
    );
    let mut cluster = Cluster::new("jm-ha", 2, &config);
    assert!(ha.starts_with(&cluster.dir));
    cluster.start();
    let wordcount = example("wordcount");

    // A job that ends before the crash: its result outlives the JobManager.
    let small = cluster.dir.join("small");
    let out = cluster.spate(&["run", wordcount.to_str().unwrap(), "--output", small.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let finished = submitted_id(&out);

    let input = cluster.dir.join("input");
    write_input(&input, 8, LINES);
    let expected = uninterrupted(&cluster, &input);

    let output = cluster.dir.join("out");
    let id = run_checkpointed(&cluster, "2", &input, &output, &[]);
    let job_checkpoints = cluster.dir.join("checkpoints").join(&id);
    wait_until("a completed checkpoint", Duration::from_secs(60), || has_completed_checkpoint(&job_checkpoints));
    let jobmanager = cluster.pids("jobmanager")[0];
    signal(jobmanager, "KILL");
    wait_until("the JobManager to die", Duration::from_secs(10), || !alive(jobmanager));

    // Started again on the same storage and port; the TaskManagers register again.
    let log = std::fs::File::create(cluster.dir.join("log/jobmanager-again.log")).unwrap();
    let mut spawned: Spawned = ExtraTaskManagers(Vec::new());
    let again = Command::new(SPATE)
        .arg("jobmanager")
        .env("SPATE_CONF_DIR", cluster.dir.join("conf"))
        .env("SPATE_PID_DIR", cluster.dir.join("pids"))
        .env_remove("SPATE_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let again_pid = again.id();
    spawned.0.push(again);
    wait_until("the new JobManager's endpoints", Duration::from_secs(30), || {
        std::fs::read(cluster.endpoint_file())
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|e| e["pid"].as_u64() == Some(u64::from(again_pid)))
    });
    let endpoints: Value = serde_json::from_slice(&std::fs::read(cluster.endpoint_file()).unwrap()).unwrap();
    cluster.rest = Some(endpoints["rest"].as_str().unwrap().to_string());

    // A second JobManager of the same cluster is refused by the lock.
    let mut second = Command::new(SPATE);
    second
        .args(["jobmanager", "-D", "rest.port=0", "-D", "jobmanager.rpc.port=0"])
        .env("SPATE_CONF_DIR", cluster.dir.join("conf"))
        .env("SPATE_PID_DIR", cluster.dir.join("elsewhere"))
        .env_remove("SPATE_LOG");
    let out = run_with_deadline(second, Duration::from_secs(30));
    assert!(!out.status.success() && text(&out).contains("another JobManager runs this cluster"), "{}", text(&out));

    wait_until("the recovered job to finish", Duration::from_secs(180), || {
        matches!(job_state(&cluster, &id).as_deref(), Some("FINISHED" | "FAILED" | "CANCELED"))
    });
    let (_, exceptions) = cluster.get(&format!("/jobs/{id}/exceptions"));
    assert_eq!(job_state(&cluster, &id).as_deref(), Some("FINISHED"), "{exceptions}");
    let got = committed_lines(&output);
    assert_eq!(got.len(), expected.len(), "lines lost or repeated");
    assert!(got == expected, "the committed output differs from the uninterrupted run's");
    let restored = &cluster.get(&format!("/jobs/{id}/checkpoints")).1["latest"]["restored"];
    assert!(restored["id"].as_u64().is_some_and(|n| n >= 1), "resumed from a checkpoint: {restored}");
    // The job that had ended is listed as it ended.
    assert_eq!(job_state(&cluster, &finished).as_deref(), Some("FINISHED"));
    assert_eq!(cluster.registered(), 2);
}
