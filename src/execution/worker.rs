//! The worker role (DESIGN.md sections 2 and 3): a TaskManager started this process
//! with the application's arguments to run some subtasks of job number k.
//!
//! Its link to the TaskManager is the socket it got as standard input (inherited, so it
//! needs no path; the TaskManager's end closes when the TaskManager dies). At start it
//! shakes hands and takes the deployment; `main` then replays: `execute` calls before
//! job k return the results recorded when they really ran, and `execute` number k
//! checks that the replay built the job the first run planned, answers the deployment
//! (worker 0 with the attempt's listing of the sources' inputs), runs its subtasks —
//! with the listing worker 0 made — as threads, relays their ends and reports to the TaskManager and the TaskManager's mail
//! to them, and ends the process. A link that closes cancels the subtasks and ends the
//! process: a dead TaskManager leaves no worker behind.

use std::os::fd::AsFd as _;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use crossbeam_channel::{select, unbounded};
use spate_core::determinism::first_difference;
use spate_core::job_id::JobId;
use spate_runtime::checkpoint::{CompletedCheckpoint, StorageResolver};
use spate_runtime::data_plane::{DATA_PROTOCOL_VERSION, DataListener, DataPlane, DataPlaneSettings, PeerHello};
use spate_runtime::job_master::{Deployer as _, JobMessage, JobStatus, task_descriptors};
use spate_runtime::sink::CollectBuffer;
use std::time::Duration;

use super::collect::to_wire;
use spate_runtime::worker_link::{
    Deployment, FrameReader, FrameWriter, FromWorker, RecordedJob, RemoteTaskError, ToWorker, accept,
};

use super::deploy::ExecutionPlan;
use super::job_client::{JobClient, JobExecutionResult, JobShared};
use super::mini_cluster::ThreadDeployer;
use crate::error::{Error, Result};

/// The worker's end of the link, after the handshake, with the job it is to run.
pub(crate) struct WorkerLink {
    reader: FrameReader<UnixStream>,
    writer: FrameWriter<UnixStream>,
    /// What to run.
    pub deployment: Deployment,
    /// Where the other workers of the attempt connect, bound before its address went
    /// out.
    listener: DataListener,
    /// The buffer of the job's collect sink, when `main` called `execute_and_collect`:
    /// the program that collects reads it through the TaskManager.
    pub results: Option<Arc<CollectBuffer<Vec<u8>>>>,
}

fn link_error(what: &str, error: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::WorkerLink { what: what.to_string(), source: Box::new(error) }
}

impl WorkerLink {
    /// Takes the TaskManager's socket from standard input, shakes hands, reads the
    /// deployment and binds where it listens for its peers ([`run`] answers the
    /// deployment once the replay has built the job).
    pub fn connect() -> Result<Self> {
        let fd = std::io::stdin().as_fd().try_clone_to_owned().map_err(|e| link_error("standard input", e))?;
        let stream = UnixStream::from(fd);
        let clone = stream.try_clone().map_err(|e| link_error("standard input is not the TaskManager's socket", e))?;
        let (mut reader, mut writer) = (FrameReader::new(clone), FrameWriter::new(stream));
        accept(&mut reader, &mut writer).map_err(|e| link_error("the handshake with the TaskManager", e))?;
        let deployment = match reader.receive::<ToWorker>().map_err(|e| link_error("the deployment", e))? {
            ToWorker::Deploy(deployment) => *deployment,
            other => return Err(Error::Internal(format!("the TaskManager sent {other:?} before the deployment"))),
        };
        let bind = &deployment.data;
        let listener = match DataListener::bind(&bind.bind_host, &bind.advertised_host, bind.first_port, bind.last_port)
        {
            Ok(listener) => listener,
            Err(error) => {
                let _ = writer.send(&FromWorker::Failed { reason: error.to_string(), recoverable: true });
                return Err(Error::DataPlane(error));
            }
        };
        Ok(WorkerLink { reader, writer, deployment, listener, results: None })
    }
}

/// How long a worker waits for the other workers of its attempt to connect.
const PEER_TIMEOUT: std::time::Duration = Duration::from_secs(60);

/// How long a worker waits for its peers' addresses: the JobManager starts the other
/// workers first, each within its 120 s start deadline.
const PEERS_TIMEOUT: std::time::Duration = Duration::from_secs(300);

impl WorkerLink {
    /// Tells the TaskManager that this worker cannot run its job and no attempt could
    /// (the replay went another way than the first run).
    pub fn fail(&mut self, reason: &str) {
        let _ = self.writer.send(&FromWorker::Failed { reason: reason.to_string(), recoverable: false });
    }
}

/// What `execute` number `index` returned when it really ran.
pub(crate) fn replayed(recorded: &RecordedJob, index: u32) -> Result<JobClient> {
    let job_id: JobId = recorded
        .job_id
        .parse()
        .map_err(|_| Error::Internal(format!("the recorded result of job {index} has no valid job id")))?;
    let graph = spate_core::job_graph::JobGraph::new(
        recorded.job_name.clone(),
        spate_core::job_graph::ExecutionMode::Streaming,
        Vec::new(),
        Vec::new(),
    );
    let (tx, _) = unbounded();
    let shared = JobShared::new(job_id, &graph, &[], tx, JobStatus::Finished, Default::default());
    if let Ok(mut state) = shared.state.lock() {
        state.result = Some(Ok(JobExecutionResult {
            job_id,
            job_name: recorded.job_name.clone(),
            net_runtime: Duration::from_millis(recorded.net_runtime_ms),
            vertices: Vec::new(),
            accumulators: recorded.accumulators.clone(),
            detached: recorded.detached,
        }));
    }
    Ok(JobClient { shared })
}

/// How often the worker reports its running subtasks' counters.
const METRICS_EVERY: Duration = Duration::from_secs(1);

/// How long a fetch of the results waits for records before it answers with none.
const FETCH_WAIT: Duration = Duration::from_millis(100);

/// A fetch of the results, as the TaskManager passed it on.
struct Fetch {
    request: u64,
    version: u64,
    offset: u64,
    max_bytes: u32,
}

/// Starts the thread that answers fetches of the results from `buffer`; returns where
/// to send them, and the thread (it ends once that is dropped and its last answer went).
fn answer_fetches(
    buffer: Arc<CollectBuffer<Vec<u8>>>,
    writer: Arc<std::sync::Mutex<FrameWriter<UnixStream>>>,
) -> Result<(crossbeam_channel::Sender<Fetch>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = unbounded::<Fetch>();
    let thread = std::thread::Builder::new()
        .name("spate-worker-results".into())
        .spawn(move || {
            for Fetch { request, version, offset, max_bytes } in rx {
                let page = Some(to_wire(buffer.fetch(version, offset, max_bytes as usize, FETCH_WAIT)));
                // A broken link is the main loop's to notice.
                let _ = writer.lock().unwrap_or_else(|p| p.into_inner()).send(&FromWorker::Results { request, page });
            }
        })
        .map_err(|source| Error::Io { context: "cannot start the worker's results thread".into(), source })?;
    Ok((tx, thread))
}

/// Runs the deployed job's subtasks and ends the process: with status 0 when every
/// subtask ended well, 1 otherwise. Returns only with the error that kept it from
/// starting (another pipeline than the first run's, a thread that cannot start).
pub(crate) fn run(exec: ExecutionPlan, link: WorkerLink) -> Result<JobClient> {
    let WorkerLink { mut reader, mut writer, deployment, listener, results } = link;
    if let Some(difference) = first_difference(&deployment.job_graph, &exec.plan.job_graph) {
        let _ = writer.send(&FromWorker::Failed { reason: difference.to_string(), recoverable: false });
        return Err(Error::NotDeterministic(difference));
    }
    let Ok(job_id) = deployment.job_id.parse::<JobId>() else {
        let reason = format!("the deployment names no valid job id ('{}')", deployment.job_id);
        let _ = writer.send(&FromWorker::Failed { reason: reason.clone(), recoverable: false });
        return Err(Error::Internal(reason));
    };
    let attempt = deployment.attempt;

    // The answer to the deployment: the replay built the job. Worker 0 lists the
    // sources' inputs for the whole attempt.
    let listed = (deployment.placement.worker == 0).then(|| exec.enumerate_splits());
    writer
        .send(&FromWorker::Listening { address: listener.address.clone(), splits: listed })
        .map_err(|e| link_error("the answer to the deployment", e))?;

    // The peers' addresses, then a connection to each of them. A JobManager that gave
    // up on the attempt while this worker started may never send them.
    let _ = reader.get_ref().set_read_timeout(Some(PEERS_TIMEOUT));
    let peers = loop {
        match reader.receive::<ToWorker>() {
            // The program collecting the results may ask before the sink runs: nothing yet.
            Ok(ToWorker::FetchResults { request, version, offset, max_bytes }) => {
                let page =
                    results.as_ref().map(|r| to_wire(r.fetch(version, offset, max_bytes as usize, Duration::ZERO)));
                let _ = writer.send(&FromWorker::Results { request, page });
            }
            other => break other,
        }
    };
    let _ = reader.get_ref().set_read_timeout(None);
    let (addresses, splits) = match peers {
        Ok(ToWorker::Peers { addresses, splits }) => (addresses, splits),
        Ok(ToWorker::Cancel) => {
            tracing::info!("cancelled before the subtasks started");
            std::process::exit(1);
        }
        Err(error) => {
            tracing::error!(%error, "no peers' addresses within {} s: exiting", PEERS_TIMEOUT.as_secs());
            std::process::exit(1);
        }
        Ok(other) => {
            let reason = format!("the TaskManager sent {other:?} before the peers' addresses");
            let _ = writer.send(&FromWorker::Failed { reason: reason.clone(), recoverable: false });
            return Err(Error::Internal(reason));
        }
    };
    let hello = PeerHello {
        protocol: DATA_PROTOCOL_VERSION,
        spate_version: spate_core::launch::VERSION.to_string(),
        job_id: deployment.job_id.clone(),
        attempt,
        worker: deployment.placement.worker,
        token: deployment.token.clone(),
    };
    let settings = DataPlaneSettings {
        segment_size: exec.settings.segment_size,
        buffers_per_channel: exec.settings.channel_capacity as u32,
    };
    let wired = DataPlane::connect(listener, &addresses, hello, settings, PEER_TIMEOUT).and_then(|mut plane| {
        let blueprints = exec.wire_across(&deployment.placement, &mut plane)?;
        Ok((blueprints, plane.start()?))
    });
    let (blueprints, data_plane) = match wired {
        Ok(wired) => wired,
        Err(error) => {
            let _ = writer.send(&FromWorker::Failed { reason: error.to_string(), recoverable: true });
            return Err(Error::DataPlane(error));
        }
    };
    let local: Vec<usize> = blueprints.iter().map(|(task, _)| *task).collect();

    let exec = Arc::new(exec);
    let descriptors = task_descriptors(&exec.plan.job_graph);
    let (inbox_tx, inbox) = unbounded::<JobMessage>();
    let shared = JobShared::new(
        job_id,
        &exec.plan.job_graph,
        &descriptors,
        inbox_tx.clone(),
        JobStatus::Running,
        Default::default(),
    );
    // The state of this worker's subtasks, from the checkpoint the JobManager chose
    // for every worker of the attempt.
    let resolver = Arc::new(StorageResolver::new());
    let initial = match &deployment.restore_from {
        Some(location) => {
            let loaded = resolver
                .resolve(&location.storage)
                .map_err(|source| super::restore::RestoreError::Storage { path: location.storage.clone(), source });
            let loaded = loaded.and_then(|storage| {
                let checkpoint = CompletedCheckpoint { id: 0, storage, dir: location.dir.clone() };
                super::restore::load(&exec, &checkpoint, exec.settings.ignore_unclaimed_state, Some(&local))
            });
            match loaded {
                Ok(restore) => {
                    tracing::info!(path = %restore.path, checkpoint = restore.id, "restoring the subtasks");
                    Some(restore)
                }
                Err(error) => {
                    // Another attempt may pick an older checkpoint unless this one
                    // cannot fit the job at all.
                    let recoverable = !error.is_incompatible();
                    let checkpoint = location.clone();
                    let _ =
                        writer.send(&FromWorker::RestoreFailed { checkpoint, reason: error.to_string(), recoverable });
                    return Err(error.into());
                }
            }
        }
        None => None,
    };
    let deployer = ThreadDeployer::new(exec, shared.clone(), inbox_tx, initial, resolver);
    let mut deployer = match deployer {
        Ok(deployer) => deployer.with_blueprints(blueprints).with_splits(splits),
        Err(error) => {
            let _ = writer.send(&FromWorker::Failed { reason: error.to_string(), recoverable: true });
            return Err(error);
        }
    };
    if let Err(error) = deployer.deploy(attempt, Vec::new()) {
        let _ = writer.send(&FromWorker::Failed { reason: error.to_string(), recoverable: true });
        return Err(Error::Internal(error.to_string()));
    }
    tracing::info!(job = %deployment.job_id, attempt, subtasks = local.len(), peers = addresses.len().saturating_sub(1), "worker running its subtasks");

    // The TaskManager's messages, read on their own thread; `None` when the link closed.
    let (mail_tx, mail) = unbounded::<Option<ToWorker>>();
    std::thread::Builder::new()
        .name("spate-worker-link".into())
        .spawn(move || {
            loop {
                match reader.receive::<ToWorker>() {
                    Ok(message) => {
                        if mail_tx.send(Some(message)).is_err() {
                            return;
                        }
                    }
                    Err(_) => {
                        let _ = mail_tx.send(None);
                        return;
                    }
                }
            }
        })
        .map_err(|source| Error::Io { context: "cannot start the worker's link thread".into(), source })?;

    // Fetches of the results are answered on a thread of their own, which waits a
    // little for records rather than answer "nothing yet" and have the reader poll.
    let writer = Arc::new(std::sync::Mutex::new(writer));
    let (fetches, answering) = match &results {
        Some(buffer) => {
            let (fetches, answering) = answer_fetches(buffer.clone(), writer.clone())?;
            (Some(fetches), Some(answering))
        }
        None => (None, None),
    };

    // After the link closed, subtasks get this long to honour the cancel.
    const LOST_LINK_GRACE: std::time::Duration = Duration::from_secs(10);
    // Only this worker's subtasks end here.
    let mut ended: Vec<bool> = (0..descriptors.len()).map(|task| !local.contains(&task)).collect();
    let mut failed = false;
    let mut link_lost = false;
    let lose_link = |deployer: &mut ThreadDeployer, link_lost: &mut bool| {
        if !*link_lost {
            tracing::warn!("the link to the TaskManager closed: cancelling the subtasks");
            *link_lost = true;
            deployer.cancel(attempt);
            // Nobody can read the results any more: a sink waiting for room fails.
            if let Some(results) = &results {
                results.close();
            }
        }
    };
    let never = crossbeam_channel::never::<Option<ToWorker>>();
    let mut give_up: Option<std::time::Instant> = None;
    let mut metrics_due = std::time::Instant::now() + METRICS_EVERY;
    while ended.iter().any(|e| !e) {
        if !link_lost && std::time::Instant::now() >= metrics_due {
            metrics_due = std::time::Instant::now() + METRICS_EVERY;
            let tasks: Vec<_> = ended
                .iter()
                .enumerate()
                .filter(|(_, ended)| !**ended)
                .filter_map(|(task, _)| shared.tasks.get(task).map(|t| (task, t.metrics.snapshot())))
                .collect();
            if writer.lock().unwrap_or_else(|p| p.into_inner()).send(&FromWorker::Metrics { tasks }).is_err() {
                lose_link(&mut deployer, &mut link_lost);
            }
        }
        if link_lost && give_up.is_none() {
            give_up = Some(std::time::Instant::now() + LOST_LINK_GRACE);
        }
        if give_up.is_some_and(|at| std::time::Instant::now() >= at) {
            tracing::error!(
                "subtasks did not stop within {} s of losing the TaskManager: exiting",
                LOST_LINK_GRACE.as_secs()
            );
            std::process::exit(1);
        }
        select! {
            recv(inbox) -> message => {
                let Ok(message) = message else { break };
                let frame = match message {
                    JobMessage::TaskEnded { task, name, result, .. } => {
                        if let Some(e) = ended.get_mut(task) {
                            *e = true;
                        }
                        failed |= result.is_err();
                        let accumulators = shared.tasks.get(task).and_then(|t| t.metrics.accumulators.values().ok());
                        let metrics = shared.tasks.get(task).map(|t| t.metrics.snapshot()).unwrap_or_default();
                        Some(FromWorker::TaskEnded {
                            task,
                            name,
                            error: result.err().as_ref().map(RemoteTaskError::from),
                            accumulators: accumulators.unwrap_or_default(),
                            metrics,
                        })
                    }
                    // Stored snapshots, declines and ends of input, in the subtask's order.
                    JobMessage::Task { message, .. } => Some(FromWorker::Report(message)),
                    _ => None,
                };
                if let Some(frame) = frame.filter(|_| !link_lost) {
                    if writer.lock().unwrap_or_else(|p| p.into_inner()).send(&frame).is_err() {
                        lose_link(&mut deployer, &mut link_lost);
                    }
                }
            }
            // Once the link closed, its channel is ready at every pass: not selected.
            recv(if link_lost { &never } else { &mail }) -> message => match message {
                Ok(Some(ToWorker::Mail { task, mail })) => deployer.send(attempt, task, mail),
                Ok(Some(ToWorker::Cancel)) => {
                    deployer.cancel(attempt);
                    if let Some(results) = &results {
                        results.close();
                    }
                }
                Ok(Some(ToWorker::FetchResults { request, version, offset, max_bytes })) => match &fetches {
                    Some(fetches) => {
                        let _ = fetches.send(Fetch { request, version, offset, max_bytes });
                    }
                    None => {
                        let answer = FromWorker::Results { request, page: None };
                        if writer.lock().unwrap_or_else(|p| p.into_inner()).send(&answer).is_err() {
                            lose_link(&mut deployer, &mut link_lost);
                        }
                    }
                },
                Ok(Some(ToWorker::Deploy(_) | ToWorker::Peers { .. })) => {
                    tracing::warn!("a second deployment on the worker link is ignored")
                }
                Ok(None) | Err(_) => lose_link(&mut deployer, &mut link_lost),
            },
            default(Duration::from_millis(200)) => {}
        }
    }
    deployer.release(attempt);
    // The answer to the fetch that took the last results goes out before the process
    // ends (the sink ended once they were acknowledged).
    drop(fetches);
    if let Some(answering) = answering {
        let _ = answering.join();
    }
    // Everything the subtasks sent reaches the peers before the process ends.
    data_plane.shutdown(Duration::from_secs(5));
    std::process::exit(if failed || link_lost { 1 } else { 0 })
}
