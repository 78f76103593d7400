//! A standalone cluster of real `spate` processes on 127.0.0.1, with ports the OS
//! chooses: started and stopped with the cluster scripts, observed over REST, its
//! TaskManagers killed and stopped with real signals. Every process a test starts is
//! stopped by pid when the test ends, also when it fails.

mod common;

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

#[test]
fn cluster_start_registers_every_taskmanager_and_stop_leaves_nothing_running() {
    let mut cluster = Cluster::new("start-stop", 2, "");
    let started = Instant::now();
    let printed = cluster.start_printing();
    eprintln!("cluster start took {} ms", started.elapsed().as_millis());
    // Flink's lines, one per daemon.
    assert!(printed.starts_with("Starting cluster.\nStarting standalonesession daemon on host "), "{printed}");
    assert_eq!(printed.matches("Starting taskmanager daemon on host localhost.").count(), 2, "{printed}");
    let (status, overview) = cluster.get("/overview");
    assert_eq!(status, 200);
    assert_eq!((overview["taskmanagers"].as_u64(), overview["slots-total"].as_u64()), (Some(2), Some(4)));
    assert_eq!(overview["slots-available"].as_u64(), Some(4));

    let (_, list) = cluster.get("/taskmanagers");
    let tms = list["taskmanagers"].as_array().unwrap();
    assert_eq!(tms.len(), 2);
    let pids = cluster.pids("taskmanager");
    for tm in tms {
        assert_eq!(tm["slotsNumber"], 2);
        // The id names the process: `host:pid-suffix`.
        let id = tm["id"].as_str().unwrap();
        let pid: u32 = id.split(':').nth(1).unwrap().split('-').next().unwrap().parse().unwrap();
        assert!(pids.contains(&pid), "{id} is one of {pids:?}");
        let (status, details) = cluster.get(&format!("/taskmanagers/{id}"));
        assert_eq!(status, 200);
        assert_eq!(details["id"], tm["id"]);
        assert_eq!(details["allocatedSlots"], serde_json::json!([]));
    }
    let (status, missing) = cluster.get("/taskmanagers/nobody");
    assert_eq!((status, missing["errors"][0].as_str().unwrap()), (404, "TaskManager nobody is not registered"));
    let (status, unknown) = cluster.get("/no/such/path");
    assert_eq!((status, unknown["errors"][0].as_str().unwrap()), (404, "Not found: /no/such/path"));
    let (status, refused) = request("DELETE", cluster.rest.as_deref().unwrap(), "/overview");
    assert_eq!(status, 405);
    assert!(refused["errors"][0].as_str().unwrap().contains("DELETE"));

    // A second start while it runs is refused.
    let again = cluster.spate(&["cluster", "start"]);
    assert!(!again.status.success());
    assert!(text(&again).contains("already running"), "{}", text(&again));

    let every: Vec<u32> = cluster.pids("jobmanager").into_iter().chain(cluster.pids("taskmanager")).collect();
    assert_eq!(every.len(), 3);
    let out = cluster.spate(&["cluster", "stop"]);
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    assert_eq!(printed.matches("Stopping taskmanager daemon (pid: ").count(), 2, "{printed}");
    assert!(printed.contains("Stopping standalonesession daemon (pid: "), "{printed}");
    wait_until("every daemon to exit", Duration::from_secs(20), || every.iter().all(|p| !alive(*p)));
    assert!(cluster.pids("jobmanager").is_empty() && cluster.pids("taskmanager").is_empty(), "pid files removed");
    let logs = std::fs::read_dir(cluster.dir.join("log")).unwrap().count();
    assert_eq!(logs, 6, "a .log and a .out per daemon");
}

#[test]
fn rest_answers_in_the_shapes_of_flinks_samples() {
    let mut cluster = Cluster::new("shapes", 1, "security.auth.token: s3cret\n");
    cluster.start();
    assert_eq!(keys(&cluster.get("/overview").1), keys(&sample("overview.json")));
    assert_eq!(keys(&cluster.get("/config").1), keys(&sample("config.json")));
    let ours = cluster.get("/taskmanagers").1;
    let flinks = sample("taskmanagers.json");
    let (ours, flinks) = (&ours["taskmanagers"][0], &flinks["taskmanagers"][0]);
    assert_eq!(keys(ours), keys(flinks));
    for nested in ["totalResource", "freeResource", "hardware", "memoryConfiguration"] {
        assert_eq!(keys(&ours[nested]), keys(&flinks[nested]), "{nested}");
    }
    let config = cluster.get("/jobmanager/config").1;
    let entries = config.as_array().unwrap();
    assert_eq!(keys(&entries[0]), keys(&sample("jobmanager_config.json")[0]));
    let value_of = |key: &str| entries.iter().find(|e| e["key"] == key).map(|e| e["value"].clone());
    assert_eq!(value_of("taskmanager.numberOfTaskSlots"), Some(Value::from("2")));
    assert_eq!(value_of("security.auth.token"), Some(Value::from("******")), "secrets are masked");
}

fn jobmanager_log(cluster: &Cluster) -> String {
    let log = std::fs::read_dir(cluster.dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("jobmanager") && p.extension().is_some_and(|e| e == "log"))
        .unwrap();
    std::fs::read_to_string(log).unwrap()
}

#[test]
fn a_killed_taskmanager_is_lost_from_its_closed_connection() {
    // heartbeat.timeout is 60 s: only the closed connection can tell within the wait.
    let mut cluster = Cluster::new("killed", 2, "");
    cluster.start();
    let tms = cluster.pids("taskmanager");
    signal(tms[0], "KILL");
    wait_until("the killed TaskManager to be lost", Duration::from_secs(20), || cluster.registered() == 1);
    let log = jobmanager_log(&cluster);
    assert!(log.contains(&format!(":{}-", tms[0])) && log.contains("lost: connection closed"), "{log}");
}

#[test]
fn a_stopped_taskmanager_is_lost_after_the_heartbeat_timeout_and_registers_again_when_resumed() {
    let mut cluster = Cluster::new("stopped", 1, "heartbeat.timeout: 1500 ms\n");
    cluster.start();
    let tm = cluster.pids("taskmanager")[0];
    // SIGSTOP: the connection stays open; the heartbeats stop.
    signal(tm, "STOP");
    wait_until("the stopped TaskManager to be lost", Duration::from_secs(20), || cluster.registered() == 0);
    assert!(jobmanager_log(&cluster).contains("lost: no heartbeat for 1500 ms (heartbeat.timeout)"));
    // Resumed, it is refused a heartbeat and registers again.
    signal(tm, "CONT");
    wait_until("the resumed TaskManager to register again", Duration::from_secs(20), || cluster.registered() == 1);
}

#[test]
fn a_port_in_use_fails_the_start_naming_the_key_the_address_and_the_log() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let cluster = Cluster::new("port-in-use", 1, &format!("rest.port: {port}\n"));
    let out = cluster.spate(&["cluster", "start"]);
    assert!(!out.status.success());
    let printed = text(&out);
    assert!(printed.contains("rest.port") && printed.contains(&format!("127.0.0.1:{port}")), "{printed}");
    assert!(printed.contains(&cluster.dir.join("log").display().to_string()), "names the log: {printed}");
    for pid in cluster.pids("jobmanager") {
        wait_until("the JobManager to exit", Duration::from_secs(10), || !alive(pid));
    }
}

#[test]
fn a_taskmanager_that_cannot_reach_the_jobmanager_says_where_it_looked() {
    let cluster = Cluster::new("unreachable", 1, "");
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = cluster.spate(&[
        "taskmanager",
        "-D",
        &format!("jobmanager.rpc.port={closed}"),
        "-D",
        "taskmanager.registration.timeout=500 ms",
    ]);
    assert!(!out.status.success());
    let printed = text(&out);
    assert!(printed.contains(&format!("cannot reach the JobManager at localhost:{closed}")), "{printed}");
    assert!(printed.contains("taskmanager.registration.timeout"), "{printed}");
}

#[test]
fn a_taskmanager_without_the_shared_secret_is_refused() {
    let mut cluster = Cluster::new("token", 1, "security.auth.token: s3cret\n");
    cluster.start();
    let endpoints: Value = serde_json::from_slice(&std::fs::read(cluster.endpoint_file()).unwrap()).unwrap();
    let port = endpoints["rpc"].as_str().unwrap().rsplit_once(':').unwrap().1.to_string();
    for token in ["wrong", ""] {
        let mut args = vec!["taskmanager".to_string(), "-D".into(), format!("jobmanager.rpc.port={port}")];
        args.extend(["-D".into(), format!("security.auth.token={token}")]);
        if token.is_empty() {
            args.truncate(3);
            // Without a token: a config dir of its own that sets none.
            args.extend(["--conf-dir".into(), cluster.dir.join("none").display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = cluster.spate(&args);
        assert!(!out.status.success());
        assert!(
            text(&out).contains("refused this TaskManager: wrong or missing security.auth.token"),
            "{}",
            text(&out)
        );
    }
    assert_eq!(cluster.registered(), 1, "the cluster's own TaskManager stays");
}

#[test]
fn bad_values_and_flags_are_errors_that_name_them() {
    let cluster = Cluster::new("bad-input", 1, "");
    let out = cluster.spate(&["jobmanager", "-D", "rest.port=eighty"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("rest.port"), "{}", text(&out));
    let out = cluster.spate(&["jobmanager", "-D", "no-equals-sign"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no-equals-sign"), "{}", text(&out));
    let out = cluster.spate(&["cluster", "launch"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(text(&out).contains("launch"), "{}", text(&out));
    std::fs::write(cluster.dir.join("conf/config.yaml"), "taskmanager.numberOfTaskSlots: zero\n").unwrap();
    let out = cluster.spate(&["cluster", "start"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("taskmanager.numberOfTaskSlots"), "{}", text(&out));
    assert!(cluster.pids("jobmanager").is_empty(), "nothing was started");
}

#[test]
fn artifacts_are_stored_by_their_hash_checked_bounded_and_guarded_by_the_secret() {
    let config = "security.auth.token: s3cret\nrest.server.max-content-length: 64kb\n";
    let mut cluster = Cluster::new("artifacts", 1, config);
    let store = cluster.dir.join("artifacts");
    cluster.start();
    let host = cluster.rest.clone().unwrap();
    let auth = "Authorization: Bearer s3cret";
    let app = b"#!/bin/sh\necho an application\n".repeat(100);
    let hash = sha256sum(&app);
    let path = format!("/artifacts/{hash}");

    assert_eq!(raw_request("HEAD", &host, &path, &[auth], b"").0, 404);
    let (status, body) = raw_request("PUT", &host, &path, &[], &app);
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("security.auth.token"));
    assert_eq!(raw_request("PUT", &host, &path, &["Authorization: Bearer wrong"], &app).0, 401);
    let (status, body) = raw_request("PUT", &host, &path, &[auth], &app);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["sha256"], hash.as_str());
    assert_eq!(raw_request("HEAD", &host, &path, &[auth], b"").0, 200);
    let (status, bytes) = raw_request("GET", &host, &path, &[auth], b"");
    assert_eq!((status, bytes), (200, app.clone()));
    // Stored under its hash, executable.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(store.join(&hash)).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111);

    // Bytes that do not hash to the name, names that are no hash, bodies over the limit.
    let (status, body) = raw_request("PUT", &host, &format!("/artifacts/{}", sha256sum(b"x")), &[auth], &app);
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains(&format!("SHA-256 is {hash}")));
    let (status, body) = raw_request("GET", &host, "/artifacts/..%2F..%2Fetc%2Fpasswd", &[auth], b"");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let big = vec![b'x'; 100 * 1024];
    let (status, body) = raw_request("PUT", &host, &format!("/artifacts/{}", sha256sum(&big)), &[auth], &big);
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    let errors: Value = serde_json::from_slice(&body).unwrap();
    assert!(errors["errors"][0].as_str().unwrap().contains("rest.server.max-content-length"), "{errors}");

    // Malformed submissions: broken JSON, unknown fields, a body over the limit.
    let json = "Content-Type: application/json";
    let (status, body) = raw_request("POST", &host, "/jobs", &[auth, json], b"{\"artifact\": ");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("errors"));
    let (status, body) = raw_request("POST", &host, "/jobs", &[auth, json], b"{\"artifact\": \"x\", \"colour\": 1}");
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("colour"), "{}", String::from_utf8_lossy(&body));
    let huge = format!("{{\"artifact\": \"{}\"}}", "x".repeat(100 * 1024));
    assert_eq!(raw_request("POST", &host, "/jobs", &[auth, json], huge.as_bytes()).0, 413);

    // The CLI without the secret, or with a wrong one, says so and changes nothing.
    for (name, conf) in [("none", ""), ("wrong", "security.auth.token: wrong\n")] {
        let dir = cluster.dir.join(format!("conf-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.yaml"), conf).unwrap();
        for args in [vec!["run", "-m", &host, test_app().to_str().unwrap()], vec!["cancel", "-m", &host, &hash[..32]]] {
            let mut command = Command::new(SPATE);
            command.args(&args).env("SPATE_CONF_DIR", &dir);
            let out = run_with_deadline(command, Duration::from_secs(60));
            assert!(!out.status.success(), "{name} {args:?}: {}", text(&out));
            assert!(text(&out).contains("security.auth.token"), "{name} {args:?}: {}", text(&out));
        }
    }
    assert_eq!(cluster.get("/jobs/overview").1["jobs"].as_array().map(Vec::len), Some(0), "nothing was submitted");
}

#[test]
fn a_failed_start_stops_what_it_started() {
    // The TaskManagers look for the JobManager where it does not listen.
    let config = "jobmanager.rpc.address: 127.0.0.2\ntaskmanager.registration.timeout: 1 s\n";
    let cluster = Cluster::new("failed-start", 1, config);
    let out = cluster.spate(&["cluster", "start"]);
    assert!(!out.status.success());
    let printed = text(&out);
    assert!(printed.contains("a TaskManager exited at start"), "{printed}");
    assert!(printed.contains("cannot reach the JobManager at 127.0.0.2:"), "its log's tail says why: {printed}");
    let logs: Vec<String> =
        std::fs::read_dir(cluster.dir.join("log")).unwrap().map(|e| e.unwrap().path().display().to_string()).collect();
    assert!(logs.iter().any(|l| printed.contains(l.as_str())), "names the log: {printed}");
    assert!(cluster.pids("jobmanager").is_empty() && cluster.pids("taskmanager").is_empty(), "pid files emptied");
    let jm = std::fs::read_to_string(
        cluster.dir.join("log").join(logs.iter().find(|l| l.contains("jobmanager") && l.ends_with(".log")).unwrap()),
    )
    .unwrap();
    assert!(jm.contains("JobManager stopped"), "the JobManager was stopped: {jm}");
}

/// Uploads the test application; its hash.
fn upload_test_app(host: &str) -> String {
    let app = std::fs::read(test_app()).unwrap();
    let hash = sha256sum(&app);
    let (status, body) = raw_request("PUT", host, &format!("/artifacts/{hash}"), &[], &app);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    hash
}

/// Submits the test application's first job as `spate run` will: the plan from the
/// info role, the arguments, the configuration it ran with.
fn submit_test_app(host: &str, artifact: &str, parallelism: u32) -> (u16, Value) {
    submit_test_app_with(host, artifact, parallelism, &[])
}

/// Submits the test app with `extra` arguments.
fn submit_test_app_with(host: &str, artifact: &str, parallelism: u32, extra: &[&str]) -> (u16, Value) {
    let p = parallelism.to_string();
    let mut args = vec!["--parallelism", p.as_str()];
    args.extend_from_slice(extra);
    let out = Command::new(SPATE).arg("info").arg(test_app()).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let graph: Value = serde_json::from_slice(&out.stdout).unwrap();
    let submission = serde_json::json!({
        "artifact": artifact,
        "args": args,
        "cwd": std::env::temp_dir(),
        "job_index": 0,
        "job_graph": graph,
        "config": [["parallelism.default", p]],
    });
    let body = serde_json::to_vec(&submission).unwrap();
    let (status, answer) = raw_request("POST", host, "/jobs", &["Content-Type: application/json"], &body);
    (status, serde_json::from_slice(&answer).unwrap_or(Value::Null))
}

#[test]
fn a_job_waits_for_free_slots_runs_when_they_come_and_can_be_cancelled_while_it_waits() {
    // Two slots, and the default slot.request.timeout (300 s).
    let mut cluster = Cluster::new("slots", 1, "");
    cluster.start();
    let host = cluster.rest.clone().unwrap();
    let artifact = upload_test_app(&host);
    let submit = |parallelism: u32, extra: &[&str]| {
        let (status, answer) = submit_test_app_with(&host, &artifact, parallelism, extra);
        assert_eq!(status, 202, "{answer}");
        answer["jobid"].as_str().unwrap().to_string()
    };
    // About 30 s of work on both slots (it is cancelled long before).
    let busy = submit(2, &["--slow-ms", "60"]);
    wait_until("the first job to run", Duration::from_secs(30), || {
        job_state(&cluster, &busy).as_deref() == Some("RUNNING")
    });
    // Its vertices' counters are live while it runs.
    wait_until("live vertex metrics", Duration::from_secs(30), || {
        let details = cluster.get(&format!("/jobs/{busy}")).1;
        let vertices = details["vertices"].as_array().cloned().unwrap_or_default();
        let written: u64 = vertices.iter().filter_map(|v| v["metrics"]["write-records"].as_u64()).sum();
        let complete = vertices.iter().any(|v| v["metrics"]["write-records-complete"] == true);
        assert!(!complete || details["state"] != "RUNNING", "counters are complete only at the end: {details}");
        written > 0 && details["state"] == "RUNNING"
    });
    let waiting = submit(1, &[]);
    let cancelled = submit(1, &[]);
    wait_until("both to wait for slots", Duration::from_secs(30), || {
        jobmanager_log(&cluster).matches("waiting for free slots").count() == 2
    });
    assert_eq!(job_state(&cluster, &waiting).as_deref(), Some("CREATED"));
    // A waiting job is cancelled at once (nothing of it runs).
    let (status, answer) = request("PATCH", &host, &format!("/jobs/{cancelled}"));
    assert_eq!(status, 202, "{answer}");
    wait_until("the waiting job to be cancelled", Duration::from_secs(10), || {
        job_state(&cluster, &cancelled).as_deref() == Some("CANCELED")
    });
    // Slots come free: the other waiting job gets one and runs to its end.
    assert_eq!(request("PATCH", &host, &format!("/jobs/{busy}")).0, 202);
    wait_until("the waiting job to finish", Duration::from_secs(60), || {
        let state = job_state(&cluster, &waiting);
        assert_ne!(state.as_deref(), Some("FAILED"), "{}", jobmanager_log(&cluster));
        state.as_deref() == Some("FINISHED")
    });
    assert_eq!(job_state(&cluster, &busy).as_deref(), Some("CANCELED"));
}

#[test]
fn an_interrupted_attached_run_leaves_its_job_running_unless_sae_cancels_it() {
    let mut cluster = Cluster::new("sae", 1, "");
    cluster.start();
    let app = test_app();
    for sae in [false, true] {
        let mut run = Command::new(SPATE);
        run.arg("run");
        if sae {
            run.arg("-sae");
        }
        // About 20 s of work, and the program waits for it.
        run.args(["-p", "1", app.to_str().unwrap(), "--slow-ms", "20"])
            .env("SPATE_CONF_DIR", cluster.dir.join("conf"))
            .env("SPATE_PID_DIR", cluster.dir.join("pids"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = run.spawn().unwrap();
        let running = || {
            cluster.get("/jobs/overview").1["jobs"]
                .as_array()
                .and_then(|jobs| jobs.iter().find(|j| j["state"] == "RUNNING"))
                .and_then(|j| j["jid"].as_str().map(str::to_string))
        };
        wait_until("the job to run", Duration::from_secs(30), || running().is_some());
        let id = running().unwrap();
        // SIGTERM, as a killed session sends (a test harness may run with SIGINT ignored).
        signal(child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "spate run did not end after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(!status.success());
        // The program holds the pipe until it ended.
        let mut stderr = String::new();
        if sae {
            child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            assert!(stderr.contains(&format!("Cancelled job {id}")), "{stderr}");
            wait_until("the job to be cancelled", Duration::from_secs(30), || {
                job_state(&cluster, &id).as_deref() == Some("CANCELED")
            });
        } else {
            // As Flink's: the client went, the job runs on (and the program that
            // waits for it ends once it is cancelled).
            assert_eq!(job_state(&cluster, &id).as_deref(), Some("RUNNING"), "{stderr}");
            let out = cluster.spate(&["cancel", &id]);
            assert!(out.status.success(), "{}", text(&out));
            wait_until("the job to be cancelled", Duration::from_secs(30), || {
                job_state(&cluster, &id).as_deref() == Some("CANCELED")
            });
        }
        // Terminal only once its worker's exit was confirmed.
        assert_eq!(processes_under(&cluster.dir.join("tm")), Vec::<u32>::new(), "a worker outlived its job");
    }
}

#[test]
fn a_submitted_job_runs_in_a_worker_on_a_taskmanager() {
    // A job that can never get its slots fails after slot.request.timeout.
    let mut cluster = Cluster::new("job", 1, "slot.request.timeout: 1 s\n");
    let tmp = cluster.dir.join("tm");
    cluster.start();
    let host = cluster.rest.clone().unwrap();
    let artifact = upload_test_app(&host);

    let (status, answer) = submit_test_app(&host, &artifact, 2);
    assert_eq!(status, 202, "{answer}");
    let id = answer["jobid"].as_str().unwrap().to_string();
    wait_until("the job to finish", Duration::from_secs(60), || {
        let state = job_state(&cluster, &id);
        assert_ne!(state.as_deref(), Some("FAILED"), "{}", jobmanager_log(&cluster));
        state.as_deref() == Some("FINISHED")
    });
    let jobs = cluster.get("/jobs").1;
    assert_eq!(jobs["jobs"][0]["status"], "FINISHED");
    let overview = cluster.get("/overview").1;
    assert_eq!((overview["jobs-finished"].as_u64(), overview["slots-available"].as_u64()), (Some(1), Some(2)));

    // The worker's output is in its job directory on the TaskManager.
    let tm_dir = std::fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap();
    let out = std::fs::read_to_string(tm_dir.join(format!("job-{id}-0/worker.out"))).unwrap();
    for (key, count) in [(0, 143), (6, 142)] {
        assert!(out.lines().any(|l| l.ends_with(&format!("({key}, {count})"))), "({key}, {count}) in {out}");
    }

    // A job that needs more slots than one TaskManager has fails, saying so.
    let (status, answer) = submit_test_app(&host, &artifact, 3);
    assert_eq!(status, 202, "{answer}");
    let id = answer["jobid"].as_str().unwrap().to_string();
    wait_until("the job to fail", Duration::from_secs(30), || job_state(&cluster, &id).as_deref() == Some("FAILED"));
    let log = jobmanager_log(&cluster);
    assert!(log.contains("needs 3 slots, 2 free") && log.contains("slot.request.timeout"), "{log}");
    let (status, answer) = request("PATCH", &host, &format!("/jobs/{id}"));
    assert_eq!(status, 409, "cancel of an ended job: {answer}");
    assert_eq!(request("PATCH", &host, "/jobs/0000").0, 404);

    // Bad submissions.
    let (status, answer) =
        raw_request("POST", &host, "/jobs", &["Content-Type: application/json"], b"{\"artifact\": 7}");
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&answer));
    assert!(String::from_utf8_lossy(&answer).contains("errors"));
    let (status, answer) = submit_test_app(&host, &sha256sum(b"nothing uploaded"), 1);
    assert_eq!(status, 400);
    assert!(answer["errors"][0].as_str().unwrap().contains("upload it first"), "{answer}");
}

#[test]
fn spate_run_uploads_once_submits_waits_and_lists_and_cancel_names_what_it_cannot_cancel() {
    // Two TaskManagers: the second job of `--two-jobs` needs 3 slots.
    let mut cluster = Cluster::new("run", 2, "");
    cluster.start();
    let app = test_app();
    let app = app.to_str().unwrap();

    let out = cluster.spate(&["run", "-p", "2", app]);
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let id = printed
        .lines()
        .find_map(|l| l.strip_prefix("Job has been submitted with JobID "))
        .unwrap_or_else(|| panic!("{printed}"))
        .to_string();
    for expected in [
        "Program execution finished",
        &format!("Job with JobID {id} has finished."),
        "Job Runtime: ",
        // The workers' accumulators, combined, as Flink prints them.
        "Accumulator Results: \n- records (IntCounter): 1000\n",
    ] {
        assert!(printed.contains(expected), "{expected} in {printed}");
    }
    let (status, accumulators) = cluster.get(&format!("/jobs/{id}/accumulators"));
    assert_eq!(status, 200);
    assert_eq!(keys(&accumulators), keys(&sample("job_accumulators.json")));
    assert_eq!(
        accumulators["user-task-accumulators"],
        serde_json::json!([{"name": "records", "type": "IntCounter", "value": "1000"}])
    );
    let (status, _) = cluster.get(&format!("/jobs/{id}/accumulators?includeSerializedValue=maybe"));
    assert_eq!(status, 400);

    // The job's details, plan and configuration, in Flink's shapes.
    let (status, details) = cluster.get(&format!("/jobs/{id}"));
    assert_eq!(status, 200);
    let flink = sample("job_detail.json");
    assert_eq!(keys(&details), keys(&flink));
    assert_eq!(details["state"], "FINISHED");
    for key in ["timestamps", "status-counts"] {
        let (mut ours, mut theirs) = (keys(&details[key]), keys(&flink[key]));
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{key}");
    }
    assert!(details["timestamps"]["RUNNING"].as_i64().unwrap() > 0, "{details}");
    assert!(details["timestamps"]["FINISHED"].as_i64() >= details["timestamps"]["RUNNING"].as_i64());
    let vertices = details["vertices"].as_array().unwrap();
    assert!(vertices.len() >= 2, "{details}");
    for v in vertices {
        assert_eq!(keys(v), keys(&flink["vertices"][0]));
        assert_eq!(keys(&v["metrics"]), keys(&flink["vertices"][0]["metrics"]));
        assert_eq!(v["status"], "FINISHED", "{v}");
        assert_eq!(v["tasks"]["FINISHED"], v["parallelism"], "{v}");
        assert_eq!(v["metrics"]["write-records-complete"], true, "{v}");
    }
    // The source's 1000 records went out of its vertex (real counters from the
    // workers), and the last vertex (the count and its print) took them in.
    assert_eq!(vertices[0]["metrics"]["write-records"], 1000, "{details}");
    assert_eq!(vertices.last().unwrap()["metrics"]["read-records"], 1000, "{details}");
    let (status, plan) = cluster.get(&format!("/jobs/{id}/plan"));
    assert_eq!(status, 200);
    assert_eq!(keys(&plan["plan"]), keys(&sample("rest_job_plan.json")["plan"]));
    let nodes = plan["plan"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), vertices.len());
    assert!(nodes.iter().any(|n| n["inputs"][0]["ship_strategy"] == "HASH"), "{plan}");
    let (status, config) = cluster.get(&format!("/jobs/{id}/config"));
    assert_eq!(status, 200);
    assert_eq!(keys(&config), keys(&sample("rest_job_config.json")));
    assert_eq!(keys(&config["execution-config"]), keys(&sample("rest_job_config.json")["execution-config"]));
    assert_eq!(config["execution-config"]["job-parallelism"], 2, "{config}");
    assert_eq!(cluster.get("/jobs/00000000000000000000000000000000/plan").0, 404);
    let out_file = cluster.worker_outputs(None).concat();
    assert!(out_file.lines().any(|l| l.ends_with("(0, 143)")), "{out_file}");
    // The same output, and the TaskManagers' logs, over REST (Flink's paths, as text).
    let (_, taskmanagers) = cluster.get("/taskmanagers");
    let ids: Vec<String> = taskmanagers["taskmanagers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tm| tm["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    let host = cluster.rest.clone().unwrap();
    let mut printed = String::new();
    for id in &ids {
        let (status, body) = raw_request("GET", &host, &format!("/taskmanagers/{id}/stdout"), &[], b"");
        assert_eq!(status, 200);
        printed += &String::from_utf8_lossy(&body);
        let (status, body) = raw_request("GET", &host, &format!("/taskmanagers/{id}/log"), &[], b"");
        let log = String::from_utf8_lossy(&body).to_string();
        assert_eq!(status, 200, "{log}");
        assert!(log.contains("registered"), "{log}");
    }
    assert!(printed.contains("(0, 143)"), "{printed}");
    let (status, _) = raw_request("GET", &host, "/taskmanagers/nobody/stdout", &[], b"");
    assert_eq!(status, 404);

    // Two jobs in one run, the second planned from the first one's result (its
    // `records` accumulator says 1000: parallelism 3, over both TaskManagers); the
    // application is not uploaded again.
    let out = cluster.spate(&["run", app, "--two-jobs"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("has finished.").count(), 2, "{}", text(&out));
    let (_, overview) = cluster.get("/jobs/overview");
    let second = overview["jobs"].as_array().unwrap().iter().find(|j| j["name"] == "test-app-second").cloned();
    let second = second.unwrap_or_else(|| panic!("{overview}"));
    // Its source, `double` at parallelism 3 and the print at 2; at parallelism 1 (no
    // records counted) `double` would chain with the source: 3.
    assert_eq!(second["tasks"]["total"], 6, "{second}");

    // A pipeline shaped by a value only the first run knows (the process's role): the
    // workers replay the recorded value and build the same job.
    let out = cluster.spate(&["run", app, "--side-effect"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("has finished."), "{}", text(&out));
    assert_eq!(jobmanager_log(&cluster).matches("stored an application").count(), 1, "uploaded once");

    let out = cluster.spate(&["list", "-a"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(listed.starts_with("Waiting for response...\nNo running jobs.\nNo scheduled jobs.\n"), "{listed}");
    assert!(listed.contains("---------------------- Terminated Jobs -----------------------"), "{listed}");
    assert!(listed.contains(&format!(" : {id} : test-app (FINISHED)")), "{listed}");
    assert_eq!(listed.matches("(FINISHED)").count(), 4, "{listed}");
    let out = cluster.spate(&["list"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Terminated"), "{}", text(&out));
    // -r and -s print only their section, as Flink's.
    let out = cluster.spate(&["list", "-r"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Waiting for response...\nNo running jobs.\n", "{}", text(&out));
    let out = cluster.spate(&["list", "-s"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Waiting for response...\nNo scheduled jobs.\n", "{}", text(&out));

    let out = cluster.spate(&["cancel", &id]);
    assert!(!out.status.success());
    assert!(text(&out).contains("has already ended (FINISHED)"), "{}", text(&out));
    let out = cluster.spate(&["cancel", "00000000000000000000000000000000"]);
    assert!(text(&out).contains("not found"), "{}", text(&out));

    let out = cluster.spate(&["run", "/no/such/app"]);
    assert!(text(&out).contains("APP /no/such/app: no such file"), "{}", text(&out));
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = cluster.spate(&["run", "-m", &format!("127.0.0.1:{closed}"), app]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("cannot reach the JobManager at http://127.0.0.1:{closed}")),
        "{}",
        text(&out)
    );
}

#[test]
fn a_worker_that_panics_or_aborts_fails_its_job_and_the_taskmanager_lives_on() {
    // Three slots: one for a job that runs meanwhile, two for the failing ones.
    let mut cluster = Cluster::new("crash", 1, "taskmanager.numberOfTaskSlots: 3\n");
    cluster.start();
    let app = test_app();
    let app = app.to_str().unwrap();
    // Another job, in a worker of its own: it must live through the other's crashes.
    // About 20 s (20 ms a record): it outlives the crashes below and then finishes.
    let out = cluster.spate(&["run", "-d", "-p", "1", app, "--parallelism", "1", "--slow-ms", "20"]);
    assert!(out.status.success(), "{}", text(&out));
    let other = submitted_id(&out);
    wait_until("the other job to run", Duration::from_secs(30), || {
        job_state(&cluster, &other).as_deref() == Some("RUNNING")
    });
    for (how, says) in [("panic", "test_app fails at record 500"), ("abort", "killed by signal 6")] {
        let out = cluster.spate(&["run", app, "--fail-with", how]);
        assert!(!out.status.success(), "{how}: {}", text(&out));
        // The client says why, from /jobs/:id/exceptions.
        assert!(text(&out).contains("failed") && text(&out).contains(says), "{how}: {}", text(&out));
        let id = submitted_id(&out);
        let (status, exceptions) = cluster.get(&format!("/jobs/{id}/exceptions"));
        assert_eq!(status, 200);
        let entry = &exceptions["exceptionHistory"]["entries"][0];
        assert!(entry["stacktrace"].as_str().unwrap().contains(says), "{exceptions}");
        assert_eq!(keys(&exceptions), keys(&sample("job_exceptions.json")));
        assert_eq!(cluster.registered(), 1, "the TaskManager lives on after a worker's {how}");
        assert_eq!(job_state(&cluster, &other).as_deref(), Some("RUNNING"), "the other job lives on after a {how}");
    }
    // And runs the next job.
    let out = cluster.spate(&["run", app]);
    assert!(out.status.success(), "{}", text(&out));
    wait_until("the other job to finish", Duration::from_secs(120), || {
        job_state(&cluster, &other).as_deref() == Some("FINISHED")
    });
}

/// Every `word count` line of the files in `dir`.
fn counts(dir: &Path) -> std::collections::BTreeMap<String, u64> {
    let mut counts = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let (word, count) = line.rsplit_once(' ').unwrap();
            assert!(counts.insert(word.to_string(), count.parse().unwrap()).is_none(), "'{word}' twice");
        }
    }
    counts
}

#[test]
fn the_wordcount_example_runs_unchanged_on_the_cluster_with_the_embedded_result() {
    let mut cluster = Cluster::new("wordcount", 2, "");
    cluster.start();
    let input = cluster.dir.join("input.txt");
    let words: String =
        (0..2000).map(|i| format!("to be or not {} to be\n", ["spate", "flink", "stream"][i % 3])).collect();
    std::fs::write(&input, words).unwrap();
    let wordcount = example("wordcount");
    let (embedded, on_cluster) = (cluster.dir.join("out-embedded"), cluster.dir.join("out-cluster"));
    let args = |out: &Path| {
        vec!["--input".to_string(), input.display().to_string(), "--output".into(), out.display().to_string()]
    };
    let local =
        Command::new(&wordcount).args(args(&embedded)).args(["-p", "2"]).env_remove("SPATE_ROLE").output().unwrap();
    assert!(local.status.success(), "{}", text(&local));

    // p=4 over two TaskManagers of two slots: the shuffle crosses the data plane.
    let mut run = vec!["run".to_string(), "-p".into(), "4".into(), wordcount.display().to_string()];
    run.extend(args(&on_cluster));
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    let out = cluster.spate(&run);
    assert!(out.status.success(), "{}", text(&out));
    // The count made here, word by word.
    let mut expected = std::collections::BTreeMap::new();
    for word in std::fs::read_to_string(&input).unwrap().split_whitespace() {
        *expected.entry(word.to_string()).or_insert(0u64) += 1;
    }
    assert_eq!(expected.get("be"), Some(&4000));
    assert_eq!(counts(&embedded), expected);
    assert_eq!(counts(&on_cluster), expected);
}

#[test]
fn a_main_that_plans_another_job_in_its_workers_fails_naming_the_difference_and_leaves_nothing() {
    let mut cluster = Cluster::new("nondeterministic", 1, "");
    cluster.start();
    let out = cluster.spate(&[
        "run",
        "-D",
        "restart-strategy.type=fixed-delay",
        "-D",
        "restart-strategy.fixed-delay.delay=10ms",
        test_app().to_str().unwrap(),
        "--nondeterministic",
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("pipeline construction is not deterministic"), "{}", text(&out));
    let jobs = cluster.get("/jobs/overview").1;
    let id = jobs["jobs"][0]["jid"].as_str().unwrap().to_string();
    let job = cluster.get(&format!("/jobs/{id}")).1;
    assert_eq!(
        (&job["state"], &job["timestamps"]["RESTARTING"]),
        (&serde_json::json!("FAILED"), &serde_json::json!(0)),
        "{job}"
    );
    assert_eq!(processes_under(&cluster.dir.join("tm")), Vec::<u32>::new());
}

#[test]
fn a_worker_that_ignores_its_cancel_is_killed_after_the_cancellation_timeout() {
    let mut cluster = Cluster::new("cancel-timeout", 1, "task.cancellation.timeout: 1 s\n");
    cluster.start();
    // Each record sleeps a minute: the subtask cannot notice the cancel for that long.
    let out = cluster.spate(&["run", "-d", test_app().to_str().unwrap(), "--slow-ms", "60000"]);
    assert!(out.status.success(), "{}", text(&out));
    let id = submitted_id(&out);
    wait_until("the job to run", Duration::from_secs(30), || job_state(&cluster, &id).as_deref() == Some("RUNNING"));
    wait_until("its worker", Duration::from_secs(30), || !processes_under(&cluster.dir.join("tm")).is_empty());
    let out = cluster.spate(&["cancel", &id]);
    assert!(out.status.success(), "{}", text(&out));
    // Well within the minute the record sleeps: the process group was killed.
    wait_until("the job to be cancelled", Duration::from_secs(30), || {
        job_state(&cluster, &id).as_deref() == Some("CANCELED")
    });
    assert_eq!(processes_under(&cluster.dir.join("tm")), Vec::<u32>::new());
    let log = std::fs::read_dir(cluster.dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("taskmanager"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect::<String>();
    assert!(log.contains("did not stop within task.cancellation.timeout"), "{log}");
}

#[test]
fn the_subtasks_of_a_source_on_two_taskmanagers_read_one_listing_of_its_splits() {
    // Spread: the source's four subtasks alternate between the two TaskManagers.
    let mut cluster = Cluster::new("listing", 2, "taskmanager.load-balance.mode: SLOTS\n");
    cluster.start();
    // Every listing of this source differs (it names its process): each worker listing
    // for itself would read two listings, and skip or repeat splits.
    let out = cluster.spate(&["run", "-p", "4", collect_app().to_str().unwrap(), "--mode", "listing"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("read splits [0, 1, 2, 3, 4, 5, 6, 7] from 1 listing(s)\n"), "{}", text(&out));
    let ran_on = std::fs::read_dir(cluster.dir.join("tm"))
        .unwrap()
        .filter(|tm| {
            let mut dirs = std::fs::read_dir(tm.as_ref().unwrap().path()).unwrap();
            dirs.any(|d| d.is_ok_and(|d| d.file_name().to_string_lossy().starts_with("job-")))
        })
        .count();
    assert_eq!(ran_on, 2, "the job ran on both TaskManagers");

    // An input that cannot be listed fails the job at once, naming it, without the
    // restarts its strategy allows (a restart would list the same input).
    let missing = cluster.dir.join("no-such-input");
    let out = cluster.spate(&[
        "run",
        "-D",
        "restart-strategy.type=fixed-delay",
        "-D",
        "restart-strategy.fixed-delay.delay=10ms",
        example("wordcount").to_str().unwrap(),
        "--input",
        missing.to_str().unwrap(),
        "--output",
        cluster.dir.join("out").to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    let expected = format!("input path {} does not exist", missing.display());
    assert!(text(&out).contains(&expected), "{}", text(&out));
    let jobs = cluster.get("/jobs/overview").1;
    let failed = jobs["jobs"].as_array().unwrap().iter().find(|j| j["state"] == "FAILED").expect("a failed job");
    let id = failed["jid"].as_str().unwrap();
    let exceptions = cluster.get(&format!("/jobs/{id}/exceptions")).1;
    let cause = exceptions["exceptionHistory"]["entries"][0]["stacktrace"].as_str().unwrap_or_default().to_string();
    assert!(cause.contains(&expected), "{exceptions}");
    assert_eq!(cluster.get(&format!("/jobs/{id}")).1["timestamps"]["RESTARTING"], 0, "never restarted");
}

#[test]
fn a_worker_that_dies_while_it_replays_main_fails_its_attempt_and_the_restart_strategy_decides() {
    let mut cluster = Cluster::new("replay-dies", 1, "");
    cluster.start();
    let out = cluster.spate(&[
        "run",
        "-D",
        "restart-strategy.type=fixed-delay",
        "-D",
        "restart-strategy.fixed-delay.attempts=2",
        "-D",
        "restart-strategy.fixed-delay.delay=10ms",
        test_app().to_str().unwrap(),
        "--panic-in-worker",
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("test_app panics while a worker replays main"), "{}", text(&out));
    let jobs = cluster.get("/jobs/overview").1;
    let id = jobs["jobs"][0]["jid"].as_str().unwrap().to_string();
    let job = cluster.get(&format!("/jobs/{id}")).1;
    assert_eq!(job["state"], "FAILED");
    assert_ne!(job["timestamps"]["RESTARTING"], 0, "the attempts were restarted: {job}");
    // Every worker it started was stopped, and the TaskManager runs the next job.
    wait_until("the workers to exit", Duration::from_secs(20), || processes_under(&cluster.dir.join("tm")).is_empty());
    assert_eq!(cluster.get("/overview").1["slots-available"].as_u64(), Some(2));
    let out = cluster.spate(&["run", test_app().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn finished_jobs_expire_and_a_program_without_a_job_is_an_error() {
    let mut cluster = Cluster::new("expire", 1, "jobstore.expiration-time: 3 s\n");
    cluster.start();
    // As Flink's "The program didn't contain a Flink job."
    let out = cluster.spate(&["run", "/bin/true"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("The program didn't contain a Spate job"), "{}", text(&out));

    // The result's counters are the JobManager's sums: the same as embedded.
    let out = cluster.spate(&["run", test_app().to_str().unwrap(), "--print-counts"]);
    assert!(out.status.success(), "{}", text(&out));
    let counts = |out: &Output| -> Vec<String> {
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        stdout.lines().filter(|l| l.starts_with("vertex ")).map(str::to_string).collect()
    };
    let embedded = Command::new(test_app()).arg("--print-counts").env_remove("SPATE_ROLE").output().unwrap();
    assert!(embedded.status.success(), "{}", text(&embedded));
    assert!(counts(&embedded).iter().any(|l| l.starts_with("vertex Source") && l.ends_with("1000 out")));
    assert_eq!(counts(&out), counts(&embedded), "{}", text(&out));
    let id = submitted_id(&out);
    // Listed once it ended, then gone after jobstore.expiration-time.
    assert_eq!(cluster.get(&format!("/jobs/{id}")).1["state"], "FINISHED");
    wait_until("the finished job to expire", Duration::from_secs(30), || cluster.get(&format!("/jobs/{id}")).0 == 404);
    let listed = cluster.get("/jobs/overview").1;
    assert_eq!(listed["jobs"].as_array().map(Vec::len), Some(0), "{listed}");
}

#[test]
fn a_killed_taskmanager_fails_its_running_job_and_leaves_no_worker_behind() {
    let mut cluster = Cluster::new("tm-killed", 1, "");
    cluster.start();
    let host = cluster.rest.clone().unwrap();
    let artifact = upload_test_app(&host);
    // A job of about 10 s (10 ms per record).
    let out = Command::new(SPATE)
        .arg("info")
        .arg(test_app())
        .args(["--parallelism", "1", "--slow-ms", "10"])
        .output()
        .unwrap();
    let graph: Value = serde_json::from_slice(&out.stdout).unwrap();
    let submission = serde_json::json!({
        "artifact": artifact, "args": ["--parallelism", "1", "--slow-ms", "10"], "cwd": "/", "job_index": 0,
        "job_graph": graph, "config": [["parallelism.default", "1"]],
    });
    let (status, answer) = raw_request(
        "POST",
        &host,
        "/jobs",
        &["Content-Type: application/json"],
        &serde_json::to_vec(&submission).unwrap(),
    );
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&answer));
    let id = serde_json::from_slice::<Value>(&answer).unwrap()["jobid"].as_str().unwrap().to_string();
    wait_until("the worker to run", Duration::from_secs(30), || !processes_under(&cluster.dir.join("tm")).is_empty());
    // The job runs once its worker was started and handed its peers.
    wait_until("the job to run", Duration::from_secs(30), || job_state(&cluster, &id).as_deref() == Some("RUNNING"));

    signal(cluster.pids("taskmanager")[0], "KILL");
    wait_until("the job to fail", Duration::from_secs(20), || job_state(&cluster, &id).as_deref() == Some("FAILED"));
    let (_, exceptions) = cluster.get(&format!("/jobs/{id}/exceptions"));
    let cause = exceptions["exceptionHistory"]["entries"][0]["stacktrace"].as_str().unwrap_or_default().to_string();
    assert!(cause.contains("lost: connection closed"), "{exceptions}");
    // Its worker saw its link close and exited by itself.
    wait_until("the orphaned worker to exit", Duration::from_secs(20), || {
        processes_under(&cluster.dir.join("tm")).is_empty()
    });
}

#[test]
fn a_detached_run_returns_at_submission_and_its_job_can_be_cancelled() {
    let mut cluster = Cluster::new("detached", 1, "");
    cluster.start();
    let app = test_app();
    // 20 s of records in batches of 10: a cancel is taken within a batch.
    let args = [
        "run",
        "-d",
        "-D",
        "execution.records-per-batch=10",
        app.to_str().unwrap(),
        "--parallelism",
        "1",
        "--slow-ms",
        "20",
    ];
    let out = cluster.spate(&args);
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let id = printed.lines().find_map(|l| l.strip_prefix("Job has been submitted with JobID ")).unwrap().to_string();
    assert!(!printed.contains("has finished"), "detached: {printed}");

    wait_until("the job to run", Duration::from_secs(30), || job_state(&cluster, &id).as_deref() == Some("RUNNING"));
    let listed = String::from_utf8_lossy(&cluster.spate(&["list"]).stdout).to_string();
    assert!(listed.contains("------------------ Running/Restarting Jobs -------------------"), "{listed}");
    assert!(listed.contains(&format!(" : {id} : test-app (RUNNING)")), "{listed}");

    let out = cluster.spate(&["cancel", &id]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("Cancelling job {id}.\nCancelled job {id}.\n"));
    wait_until("the job to be cancelled", Duration::from_secs(30), || {
        job_state(&cluster, &id).as_deref() == Some("CANCELED")
    });
    // Terminal only once its worker's exit was confirmed: nothing of it runs now.
    assert_eq!(processes_under(&cluster.dir.join("tm")), Vec::<u32>::new(), "a worker outlived its CANCELED job");
    assert_eq!(cluster.get("/overview").1["slots-available"].as_u64(), Some(2), "its slot is free again");
}

fn collect_app() -> PathBuf {
    test_app().parent().unwrap().join("collect_app")
}

/// The peak resident memory of `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

#[test]
fn execute_and_collect_on_a_cluster_returns_every_result_and_a_later_job_replays_them() {
    // Spread: each vertex has subtasks on both TaskManagers, and the collect sink sits
    // on one of them.
    let mut cluster = Cluster::new("collect", 2, "taskmanager.load-balance.mode: SLOTS\n");
    cluster.start();
    let (records, keys) = (20_000u64, 40u64);
    let app = collect_app();
    let out = cluster.spate(&[
        "run",
        "-p",
        "4",
        app.to_str().unwrap(),
        "--mode",
        "vec",
        "--records",
        &records.to_string(),
        "--keys",
        &keys.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Every running count 1..=n of every key, once.
    let n = records / keys;
    let checksum = keys * n * (n + 1) / 2;
    assert!(stdout.contains(&format!("job 0 collected {records} updates, checksum {checksum}\n")), "{}", text(&out));
    // Job 1 was built from job 0's results, in the client and in its workers' replay.
    assert!(stdout.contains(&format!("job 1 collected {keys} keys, total {}\n", 2 * records)), "{}", text(&out));
    assert_eq!(stdout.matches("Job has been submitted with JobID").count(), 2);
    wait_until("the workers to exit", Duration::from_secs(20), || processes_under(&cluster.dir.join("tm")).is_empty());
}

#[test]
fn collected_results_stay_exactly_once_when_a_job_restarts_on_the_cluster() {
    let mut cluster = Cluster::new("collect-restart", 2, "taskmanager.load-balance.mode: SLOTS\n");
    cluster.start();
    let app = collect_app();
    // `-D` goes to `spate run`, `--fail-at` (the program's own flag) after the program.
    let run = |settings: &[&str], program: &[&str]| {
        let mut args = vec!["run", "-p", "4"];
        args.extend(settings);
        args.extend([app.to_str().unwrap(), "--mode", "vec", "--records", "20000", "--keys", "40"]);
        args.extend(program);
        let out = cluster.spate(&args);
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        stdout.lines().filter(|l| l.starts_with("job ")).map(str::to_string).collect::<Vec<_>>()
    };
    let clean = run(&[], &[]);
    assert_eq!(clean.len(), 2, "{clean:?}");
    let restart = ["-D", "restart-strategy.type=fixed-delay", "-D", "restart-strategy.fixed-delay.delay=10ms"];
    for at in ["1", "2500"] {
        assert_eq!(run(&restart, &["--fail-at", at]), clean, "failing at record {at}");
    }
    let jobs = cluster.get("/jobs/overview").1;
    let restarted = jobs["jobs"].as_array().unwrap().iter().filter(|j| {
        let detail = cluster.get(&format!("/jobs/{}", j["jid"].as_str().unwrap())).1;
        detail["timestamps"]["RESTARTING"] != 0
    });
    assert_eq!(restarted.count(), 2, "each failing run restarted its first job once: {jobs}");
}

#[test]
fn ten_million_results_cross_the_cluster_with_bounded_memory_in_the_jobmanager_and_the_client() {
    let mut cluster = Cluster::new("collect-10m", 2, "");
    cluster.start();
    let records = 10_000_000u64;
    let app = collect_app();
    let mut run = Command::new(SPATE);
    run.args(["run", "-p", "2", app.to_str().unwrap(), "--mode", "iter", "--records", &records.to_string()])
        .env("SPATE_CONF_DIR", cluster.dir.join("conf"))
        .env("SPATE_PID_DIR", cluster.dir.join("pids"));
    let out = run_with_deadline(run, Duration::from_secs(300));
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let sum = 3 * records * (records - 1) / 2;
    let prefix = format!("collected {records} records, sum {sum}, peak rss ");
    let client_kib: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.strip_suffix(" KiB")?.parse().ok())
        .unwrap_or_else(|| panic!("{}", text(&out)));
    // 10 M records are some 80 MB as values (more encoded): neither side held them, and
    // the JobManager did not hold the uploaded binary either (it is streamed to disk).
    assert!(client_kib < 48 * 1024, "the client reached {} MB", client_kib / 1024);
    let jobmanager = cluster.pids("jobmanager")[0];
    let jobmanager_kib = peak_rss_kib(jobmanager).unwrap();
    assert!(jobmanager_kib < 48 * 1024, "the JobManager reached {} MB", jobmanager_kib / 1024);
}

#[test]
fn large_results_cross_the_cluster_in_pieces_that_fit_its_frames() {
    // 1 024 records of 20 kB are a 20 MB batch: more than a page, an RPC frame's
    // default or the sink's buffer hold.
    let mut cluster = Cluster::new("collect-large", 2, "");
    cluster.start();
    let (records, payload) = (3_000u64, 20_000u64);
    let app = collect_app();
    let out = cluster.spate(&[
        "run",
        "-p",
        "2",
        app.to_str().unwrap(),
        "--mode",
        "iter",
        "--records",
        &records.to_string(),
        "--payload",
        &payload.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let sum = 3 * records * (records - 1) / 2;
    let expected = format!("collected {records} records, sum {sum}, {} bytes of text\n", records * payload);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&expected), "{}", text(&out));
}

#[test]
fn dropping_a_collect_iterator_cancels_its_unbounded_job_on_the_cluster() {
    let mut cluster = Cluster::new("collect-take", 2, "");
    cluster.start();
    let app = collect_app();
    let out = cluster.spate(&["run", "-p", "2", app.to_str().unwrap(), "--mode", "take", "--take", "5000"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("took 5000 records of job ").map(str::to_string))
        .unwrap_or_else(|| panic!("{}", text(&out)));
    wait_until("the job to be cancelled", Duration::from_secs(30), || {
        job_state(&cluster, &id).as_deref() == Some("CANCELED")
    });
    wait_until("its workers to exit", Duration::from_secs(20), || processes_under(&cluster.dir.join("tm")).is_empty());
}

fn shuffle_app() -> PathBuf {
    test_app().parent().unwrap().join("shuffle_app")
}

/// The `key count` lines the workers of a test cluster printed, by key, and how many
/// TaskManagers' workers printed any.
fn printed_counts(cluster: &Cluster) -> (std::collections::BTreeMap<u64, Vec<u64>>, usize) {
    let mut counts: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
    let outputs = cluster.worker_outputs(None);
    for line in outputs.iter().flat_map(|text| text.lines()) {
        // `print()` writes `subtask> record`, as Flink's (a string in quotes).
        let record = line.split_once("> ").map_or(line, |(_, record)| record).trim_matches('"');
        let (key, count) = record.split_once(' ').unwrap_or_else(|| panic!("'{line}' is no `key count`"));
        counts.entry(key.parse().unwrap()).or_default().push(count.parse().unwrap());
    }
    (counts, outputs.len())
}

/// Every key of `0..keys` counted `records / keys` times, each update once, in order.
fn assert_exact_counts(counts: &std::collections::BTreeMap<u64, Vec<u64>>, records: u64, keys: u64) {
    assert_eq!(counts.len() as u64, keys, "keys printed");
    for (key, updates) in counts {
        let expected: Vec<u64> = (1..=records / keys).collect();
        assert_eq!(updates, &expected, "the updates of key {key}");
    }
}

/// The resident memory of `pid`, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// A `/proc/PID/status` field of `pid` given in KiB (`VmRSS:`, `VmHWM:`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_job_spans_taskmanagers_and_its_shuffle_counts_exactly() {
    let mut cluster = Cluster::new("span", 2, "");
    cluster.start();
    // Four slots on two TaskManagers: every vertex has subtasks on both, and about half
    // the hash-partitioned records cross between their workers.
    let (records, keys) = (100_000u64, 50u64);
    let app = shuffle_app();
    let out = cluster.spate(&[
        "run",
        "-p",
        "4",
        app.to_str().unwrap(),
        "--records",
        &records.to_string(),
        "--keys",
        &keys.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let (counts, printing) = printed_counts(&cluster);
    assert_eq!(printing, 2, "both TaskManagers' workers printed");
    assert_exact_counts(&counts, records, keys);
    wait_until("the workers to exit", Duration::from_secs(20), || processes_under(&cluster.dir.join("tm")).is_empty());
}

#[test]
fn backpressure_crosses_processes_and_the_senders_memory_stays_bounded() {
    // Spread: a job at parallelism 2 has one subtask of each vertex on each
    // TaskManager.
    let mut cluster = Cluster::new("backpressure", 2, "taskmanager.load-balance.mode: SLOTS\n");
    cluster.start();
    // 300 MB of payload, generated far faster than the slow step after the shuffle
    // takes it: without backpressure it would pile up in the senders.
    let (records, keys) = (300_000u64, 10u64);
    let app = shuffle_app();
    let mut run = Command::new(SPATE);
    run.args(["run", "-p", "2", app.to_str().unwrap(), "--payload", "1000", "--slow-every", "30"])
        .args(["--records", &records.to_string(), "--keys", &keys.to_string()])
        .env("SPATE_CONF_DIR", cluster.dir.join("conf"))
        .env("SPATE_PID_DIR", cluster.dir.join("pids"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = run.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut peak_kib = 0;
    let mut workers_seen = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the job did not end within 120 s");
        }
        let workers = processes_under(&cluster.dir.join("tm"));
        workers_seen = workers_seen.max(workers.len());
        peak_kib = workers.iter().filter_map(|pid| rss_kib(*pid)).max().unwrap_or(0).max(peak_kib);
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert_eq!(workers_seen, 2, "one worker per TaskManager");
    assert!(peak_kib > 0, "the workers' memory was sampled");
    assert!(peak_kib < 150 * 1024, "a worker reached {} MB", peak_kib / 1024);
    let (counts, printing) = printed_counts(&cluster);
    assert_eq!(printing, 2);
    assert_exact_counts(&counts, records, keys);
}

#[test]
fn a_killed_taskmanager_fails_a_job_spanning_two_and_the_other_worker_exits() {
    let mut cluster = Cluster::new("span-killed", 2, "taskmanager.load-balance.mode: SLOTS\n");
    cluster.start();
    let app = shuffle_app();
    // About 20 s of work (1 ms every 10 records after the shuffle, 100 000 per subtask).
    let mut run = Command::new(SPATE);
    run.args(["run", "-d", "-p", "2", app.to_str().unwrap(), "--records", "200000", "--slow-every", "10"])
        .env("SPATE_CONF_DIR", cluster.dir.join("conf"))
        .env("SPATE_PID_DIR", cluster.dir.join("pids"));
    let out = run_with_deadline(run, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Job has been submitted with JobID ").map(str::to_string))
        .unwrap_or_else(|| panic!("{}", text(&out)));
    wait_until("the job to run", Duration::from_secs(30), || job_state(&cluster, &id).as_deref() == Some("RUNNING"));
    wait_until("both workers", Duration::from_secs(30), || processes_under(&cluster.dir.join("tm")).len() == 2);

    let taskmanagers = cluster.pids("taskmanager");
    signal(taskmanagers[0], "KILL");
    wait_until("the job to fail", Duration::from_secs(30), || job_state(&cluster, &id).as_deref() == Some("FAILED"));
    // The root cause is the lost TaskManager (or its worker), not the broken
    // connection the other worker saw.
    let (_, exceptions) = cluster.get(&format!("/jobs/{id}/exceptions"));
    let cause = exceptions["exceptionHistory"]["entries"][0]["stacktrace"].as_str().unwrap_or_default().to_string();
    assert!(cause.contains("TaskManager"), "{exceptions}");
    // The surviving worker was cancelled and exited; its TaskManager lives on.
    wait_until("every worker to exit", Duration::from_secs(30), || processes_under(&cluster.dir.join("tm")).is_empty());
    assert!(alive(taskmanagers[1]));
    wait_until("one TaskManager left", Duration::from_secs(10), || cluster.registered() == 1);
}

#[test]
fn the_examples_print_on_a_cluster_what_they_print_embedded() {
    // Spread: at parallelism 2 every vertex has a subtask on each TaskManager, so keyed
    // state, timers and windows work across the data plane.
    let mut cluster = Cluster::new("examples", 2, "taskmanager.load-balance.mode: SLOTS\n");
    cluster.start();
    for name in ["fraud_detection", "event_time_windows"] {
        let app = example(name);
        let local = Command::new(&app).args(["-p", "2"]).env_remove("SPATE_ROLE").output().unwrap();
        assert!(local.status.success(), "{}", text(&local));
        let mut expected: Vec<String> = String::from_utf8_lossy(&local.stdout).lines().map(str::to_string).collect();
        expected.sort();
        assert!(!expected.is_empty(), "{name} prints something");

        let out = cluster.spate(&["run", "-p", "2", app.to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", text(&out));
        let id = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("Job has been submitted with JobID ").map(str::to_string))
            .unwrap_or_else(|| panic!("{}", text(&out)));
        let outputs = cluster.worker_outputs(Some(&id));
        let mut printed: Vec<String> = outputs.iter().flat_map(|t| t.lines().map(str::to_string)).collect();
        printed.sort();
        assert_eq!(outputs.len(), 2, "{name} ran on both TaskManagers");
        assert_eq!(printed, expected, "{name}");
    }
}
