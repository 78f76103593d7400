//! The worker role of a real application binary, driven over its link as a
//! TaskManager drives it: the handshake, the deployment, the subtasks' reports, the
//! mail that closes them; a replay that builds another job; a link that closes.

use std::io::Read as _;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use spate_core::job_graph::JobGraph;
use spate_runtime::accumulator::{AccumulatorResults, AccumulatorValue};
use spate_runtime::checkpoint::{CoordinatorMessage, TaskMail};
use spate_runtime::source::AttemptSplits;
use spate_runtime::worker_link::{
    DataBind, Deployment, FrameReader, FrameWriter, FromWorker, Placement, RecordedJob, ToWorker, greet,
};

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

fn test_app() -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    deps.parent().unwrap().join("examples/test_app")
}

/// The JobGraph the first run of `test_app ARGS` plans (from `spate info`) with the
/// configuration the deployments ship (`parallelism.default: 1`).
fn planned(args: &[&str]) -> JobGraph {
    let app = test_app();
    let mut all = vec!["info", app.to_str().unwrap(), "-D", "parallelism.default=1"];
    all.extend_from_slice(args);
    let out = Command::new(SPATE).args(&all).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `test_app ARGS` in the worker role with its link on stdin, output to a pipe; killed
/// when dropped.
struct Worker {
    child: Child,
    reader: FrameReader<UnixStream>,
    writer: FrameWriter<UnixStream>,
}

impl Worker {
    fn start(args: &[&str]) -> Worker {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let child = Command::new(test_app())
            .args(args)
            .env("SPATE_ROLE", "worker")
            .env("SPATE_LAUNCHER_VERSION", env!("CARGO_PKG_VERSION"))
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        ours.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let (mut reader, mut writer) = (FrameReader::new(ours.try_clone().unwrap()), FrameWriter::new(ours));
        greet(&mut reader, &mut writer).expect("the worker shakes hands");
        Worker { child, reader, writer }
    }

    /// Deploys `job_graph` with the configuration its first run had:
    /// `parallelism.default` as `parallelism` (what `--parallelism` sets).
    /// Returns the worker's answer when it refused the deployment.
    fn deploy(&mut self, job_graph: JobGraph, parallelism: u32) -> Option<FromWorker> {
        self.deploy_job(job_graph, parallelism, 0, Vec::new())
    }

    /// Deploys job number `job_index`, the earlier ones having returned `recorded`;
    /// returns the worker's answer when it refused the deployment.
    fn deploy_job(
        &mut self,
        job_graph: JobGraph,
        parallelism: u32,
        job_index: u32,
        recorded: Vec<RecordedJob>,
    ) -> Option<FromWorker> {
        let slots = job_graph.vertices.iter().map(|v| v.parallelism).max().unwrap_or(1);
        let deployment = Deployment {
            job_id: "0123456789abcdef0123456789abcdef".into(),
            job_index,
            attempt: 0,
            job_graph,
            config: vec![("parallelism.default".into(), parallelism.to_string())],
            // Every slot on this worker, which listens on any free port.
            placement: Placement { worker: 0, slots: vec![0; slots as usize] },
            data: DataBind {
                bind_host: "127.0.0.1".into(),
                advertised_host: "127.0.0.1".into(),
                first_port: 0,
                last_port: 0,
            },
            token: None,
            recorded,
            side_effects: Vec::new(),
            restore_from: None,
        };
        self.writer.send(&ToWorker::Deploy(Box::new(deployment))).unwrap();
        // Once its replay built the job, it answers with its data address and, as
        // worker 0, the listing of the sources' inputs (this job's source lists none);
        // as the only worker it has no peer.
        let (address, splits) = match self.reader.receive::<FromWorker>().unwrap() {
            FromWorker::Listening { address, splits } => (address, splits),
            refused => return Some(refused),
        };
        assert!(address.starts_with("127.0.0.1:"), "{address}");
        assert_eq!(splits, Some(AttemptSplits::default()), "worker 0 lists for the attempt");
        self.writer.send(&ToWorker::Peers { addresses: vec![address], splits: AttemptSplits::default() }).unwrap();
        None
    }

    /// Waits for the process to end; its status and output.
    fn wait(mut self) -> (std::process::ExitStatus, String, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the worker did not end");
            std::thread::sleep(Duration::from_millis(20));
        };
        let (mut out, mut err) = (String::new(), String::new());
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        (status, out, err)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_worker_runs_the_deployed_job_reports_its_subtasks_and_ends() {
    let graph = planned(&["--parallelism", "2"]);
    let tasks: usize = graph.vertices.iter().map(|v| v.parallelism as usize).sum();
    let mut worker = Worker::start(&["--parallelism", "2"]);
    assert!(worker.deploy(graph, 2).is_none(), "the worker takes its deployment");
    // Every subtask reports the end of its input; then the job tells them to close.
    run_to_end(&mut worker, tasks);
    let (status, out, err) = worker.wait();
    assert!(status.success(), "{err}");
    // The count's final values: 0..1000 by i % 7.
    for (key, count) in [(0, 143), (5, 143), (6, 142)] {
        assert!(out.lines().any(|l| l.ends_with(&format!("({key}, {count})"))), "({key}, {count}) in {out}");
    }
}

#[test]
fn a_replay_that_builds_another_job_names_the_difference_and_runs_nothing() {
    let graph = planned(&["--parallelism", "2"]);
    let mut worker = Worker::start(&["--parallelism", "3"]);
    // It refuses the deployment rather than answer it.
    match worker.deploy(graph, 2) {
        Some(FromWorker::Failed { reason, .. }) => {
            // The count at parallelism 3 no longer chains with the print at 2.
            let expected = "pipeline construction is not deterministic: the number of vertices";
            assert!(reason.starts_with(expected), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let (status, out, err) = worker.wait();
    assert!(!status.success());
    assert!(err.contains("not deterministic"), "{err}");
    assert!(!out.contains("(0, "), "nothing ran: {out}");
}

#[test]
fn a_worker_whose_link_closes_cancels_its_subtasks_and_exits() {
    let graph = planned(&[]);
    let mut worker = Worker::start(&[]);
    assert!(worker.deploy(graph, 1).is_none(), "the worker takes its deployment");
    // The TaskManager goes away before it tells the subtasks to close.
    let Worker { child, reader, writer } = &mut worker;
    drop(std::mem::replace(reader, FrameReader::new(UnixStream::pair().unwrap().0)));
    drop(std::mem::replace(writer, FrameWriter::new(UnixStream::pair().unwrap().0)));
    let _ = child;
    let (status, _, err) = worker.wait();
    assert!(!status.success(), "{err}");
    assert!(err.contains("the link to the TaskManager closed"), "{err}");
}

/// The first job's result as the client recorded it, with `records` in its accumulator.
fn first_job_result(records: i32) -> RecordedJob {
    let mut accumulators = AccumulatorResults::default();
    let value = AccumulatorValue {
        type_name: std::any::type_name::<spate::IntCounter>().to_string(),
        bytes: spate_core::codec::encode(&records).unwrap(),
        display: records.to_string(),
    };
    accumulators.add(vec![("records".to_string(), value)]);
    RecordedJob {
        job_id: "fedcba9876543210fedcba9876543210".into(),
        job_name: "test-app".into(),
        net_runtime_ms: 12,
        accumulators,
        detached: false,
        collected: None,
    }
}

/// Runs the worker to its end as the TaskManager would: waits for every subtask's end
/// of input, tells them to close, collects their ends.
fn run_to_end(worker: &mut Worker, tasks: usize) {
    let mut finished = vec![false; tasks];
    while finished.iter().any(|f| !f) {
        match worker.reader.receive::<FromWorker>().unwrap() {
            FromWorker::Report(CoordinatorMessage::Finished { task }) => finished[task] = true,
            other => panic!("before every subtask finished: {other:?}"),
        }
    }
    for task in 0..tasks {
        worker.writer.send(&ToWorker::Mail { task, mail: TaskMail::FinishJob }).unwrap();
    }
    let mut ended = vec![false; tasks];
    while ended.iter().any(|e| !e) {
        match worker.reader.receive::<FromWorker>().unwrap() {
            FromWorker::TaskEnded { task, error: None, .. } => ended[task] = true,
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_worker_of_a_later_job_replays_the_earlier_results_without_running_them() {
    // Job 1's parallelism follows job 0's accumulator (3 when it counted 1000 records);
    // `--skip-first-with 1000` plans job 1 alone as the first run saw it.
    let second = planned(&["--two-jobs", "--skip-first-with", "1000"]);
    let tasks: usize = second.vertices.iter().map(|v| v.parallelism as usize).sum();
    assert!(second.vertices.iter().any(|v| v.parallelism == 3), "{second:?}");

    let mut worker = Worker::start(&["--two-jobs"]);
    assert!(worker.deploy_job(second.clone(), 1, 1, vec![first_job_result(1000)]).is_none());
    run_to_end(&mut worker, tasks);
    let (status, out, err) = worker.wait();
    assert!(status.success(), "{err}");
    assert!(!out.contains("(0, "), "job 0 was not run again: {out}");
    assert!(out.lines().any(|l| l.trim().ends_with("18")), "job 1 ran: {out}");

    // Replayed with another result, `main` builds another job 1: named, nothing runs.
    let mut worker = Worker::start(&["--two-jobs"]);
    match worker.deploy_job(second, 1, 1, vec![first_job_result(999)]) {
        Some(FromWorker::Failed { reason, .. }) => assert!(reason.contains("not deterministic"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let (status, out, _) = worker.wait();
    assert!(!status.success());
    assert!(out.is_empty(), "{out}");
}
