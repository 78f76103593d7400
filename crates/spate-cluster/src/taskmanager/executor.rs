//! The TaskManager's task executor: the RPC endpoint the JobManager calls to start a
//! job's worker, mail its subtasks and cancel it; and the relay that carries the
//! workers' reports and exits to the JobManager, across re-registrations.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use tarpc::context::Context;
use tarpc::server::{BaseChannel, Channel as _};
use tokio::sync::mpsc;

use super::worker_process::{self, WorkerHandle};
use crate::rpc::{ResourceManagerClient, TaskExecutor, WorkerEvent, WorkerRefusal, WorkerRequest, WorkerStarted};

/// A worker's event on its way to the JobManager: (job, attempt, event).
pub(crate) type Event = (String, u32, WorkerEvent);

/// What the executor's calls and the workers' watchers share.
pub(crate) struct ExecutorShared {
    /// This TaskManager's id.
    pub id: String,
    /// Its directory: the artifact cache and a directory per job attempt.
    pub dir: PathBuf,
    /// `security.auth.token`.
    pub token: Option<String>,
    /// How long a cancelled worker gets before its process group is killed.
    pub cancellation_timeout: Duration,
    /// Where workers listen for their peers.
    pub data: spate_runtime::worker_link::DataBind,
    /// Running workers, by (job, attempt).
    pub workers: Mutex<HashMap<(String, u32), Arc<WorkerHandle>>>,
    /// Attempts cancelled while their worker was still starting: a worker that answers
    /// its deployment after that is killed rather than left waiting for peers. The most
    /// recent [`CANCELLED_STARTS`] (a cancel also lands here for a worker that already
    /// ended).
    pub cancelled_starts: Mutex<std::collections::VecDeque<(String, u32)>>,
    /// Events for the relay.
    pub events: mpsc::UnboundedSender<Event>,
    /// The JobManager, while registered.
    pub jobmanager: Mutex<Option<ResourceManagerClient>>,
}

#[derive(Clone)]
struct Executor(Arc<ExecutorShared>);

impl Executor {
    /// Every call needs the cluster's token, when it has one.
    fn authorize(&self, token: &Option<String>) -> Result<(), WorkerRefusal> {
        if crate::jobmanager::token_accepted(&self.0.token, token) { Ok(()) } else { Err(WorkerRefusal::Unauthorized) }
    }

    /// Sends `message` to the worker of (job, attempt), off the runtime's threads (a
    /// worker that stops reading blocks only this write).
    async fn to_worker(
        &self,
        key: (String, u32),
        message: spate_runtime::worker_link::ToWorker,
    ) -> Option<Arc<WorkerHandle>> {
        let handle = self.0.workers.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned()?;
        let h = handle.clone();
        let _ = tokio::task::spawn_blocking(move || h.writer.lock().unwrap_or_else(|p| p.into_inner()).send(&message))
            .await;
        Some(handle)
    }
}

impl TaskExecutor for Executor {
    async fn start_worker(
        self,
        ctx: Context,
        request: WorkerRequest,
        token: Option<String>,
    ) -> Result<WorkerStarted, WorkerRefusal> {
        self.authorize(&token)?;
        let shared = self.0.clone();
        tokio::task::spawn_blocking(move || worker_process::start(shared, request, ctx.deadline))
            .await
            .map_err(|e| WorkerRefusal::Spawn(e.to_string()))?
    }

    async fn mail(
        self,
        _: Context,
        job_id: String,
        attempt: u32,
        task: usize,
        mail: spate_runtime::checkpoint::TaskMail,
        token: Option<String>,
    ) -> Result<(), WorkerRefusal> {
        self.authorize(&token)?;
        self.to_worker((job_id, attempt), spate_runtime::worker_link::ToWorker::Mail { task, mail }).await;
        Ok(())
    }

    async fn connect_peers(
        self,
        _: Context,
        job_id: String,
        attempt: u32,
        addresses: Vec<String>,
        splits: spate_runtime::source::AttemptSplits,
        token: Option<String>,
    ) -> Result<(), WorkerRefusal> {
        self.authorize(&token)?;
        let peers = spate_runtime::worker_link::ToWorker::Peers { addresses, splits };
        match self.to_worker((job_id.clone(), attempt), peers).await {
            Some(_) => Ok(()),
            None => Err(WorkerRefusal::Spawn(format!("no worker of attempt {attempt} of job {job_id} runs here"))),
        }
    }

    async fn read_output(
        self,
        _: Context,
        kind: crate::rpc::OutputKind,
        max_bytes: u64,
        token: Option<String>,
    ) -> Result<String, WorkerRefusal> {
        self.authorize(&token)?;
        let dir = self.0.dir.clone();
        tokio::task::spawn_blocking(move || super::output::read(kind, &dir, max_bytes))
            .await
            .map_err(|e| WorkerRefusal::Output(e.to_string()))?
    }

    async fn fetch_results(
        self,
        _: Context,
        results: crate::rpc::ResultsRequest,
        token: Option<String>,
    ) -> Result<Option<crate::rpc::ResultPage>, WorkerRefusal> {
        self.authorize(&token)?;
        let crate::rpc::ResultsRequest { job_id, attempt, version, offset, max_bytes } = results;
        let key = (job_id.clone(), attempt);
        let gone = || WorkerRefusal::Results(format!("no worker of attempt {attempt} of job {job_id} runs here"));
        // A worker still replaying main has not registered yet: ask again.
        let not_running = || WorkerRefusal::NoWorker(format!("attempt {attempt} of job {job_id}"));
        let handle =
            self.0.workers.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned().ok_or_else(not_running)?;
        let request = handle.next_fetch.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (reply, answer) = tokio::sync::oneshot::channel();
        handle.fetches.lock().unwrap_or_else(|p| p.into_inner()).insert(request, reply);
        let message = spate_runtime::worker_link::ToWorker::FetchResults { request, version, offset, max_bytes };
        let forget = || handle.fetches.lock().unwrap_or_else(|p| p.into_inner()).remove(&request);
        let h = handle.clone();
        let sent =
            tokio::task::spawn_blocking(move || h.writer.lock().unwrap_or_else(|p| p.into_inner()).send(&message))
                .await;
        if !matches!(sent, Ok(Ok(()))) {
            forget();
            return Err(gone());
        }
        match tokio::time::timeout(FETCH_TIMEOUT, answer).await {
            Ok(Ok(page)) => Ok(page),
            Ok(Err(_)) => Err(gone()),
            Err(_) => {
                forget();
                Err(WorkerRefusal::Results(format!(
                    "the worker of attempt {attempt} of job {job_id} did not answer within {} s",
                    FETCH_TIMEOUT.as_secs()
                )))
            }
        }
    }

    async fn cancel(
        self,
        _: Context,
        job_id: String,
        attempt: u32,
        token: Option<String>,
    ) -> Result<(), WorkerRefusal> {
        self.authorize(&token)?;
        let key = (job_id, attempt);
        {
            // Its worker may still be starting (the JobManager gave up waiting for it):
            // looked at under the lock a starting worker registers under.
            let mut cancelled = self.0.cancelled_starts.lock().unwrap_or_else(|p| p.into_inner());
            if !self.0.workers.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&key) {
                if cancelled.len() == CANCELLED_STARTS {
                    cancelled.pop_front();
                }
                cancelled.push_back(key);
                return Ok(());
            }
        }
        let Some(handle) = self.to_worker(key.clone(), spate_runtime::worker_link::ToWorker::Cancel).await else {
            return Ok(());
        };
        let (shared, timeout, pgid) = (self.0.clone(), self.0.cancellation_timeout, handle.pgid);
        if !timeout.is_zero() {
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                let still = shared.workers.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&key);
                if still {
                    tracing::warn!(job = %key.0, attempt = key.1, "the worker did not stop within task.cancellation.timeout: killing its process group");
                    kill_group(pgid);
                }
            });
        }
        Ok(())
    }
}

/// How many cancelled attempts a TaskManager remembers for their starting workers.
pub(crate) const CANCELLED_STARTS: usize = 256;

/// How long a result fetch waits for the worker's answer (a worker answers at once,
/// or after a short wait for records).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Kills a worker's process group.
pub(crate) fn kill_group(pgid: u32) {
    if let Ok(pid) = i32::try_from(pgid) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

/// The TaskManager stops: its workers are killed with it.
pub(crate) fn kill_all(shared: &ExecutorShared) {
    for handle in shared.workers.lock().unwrap_or_else(|p| p.into_inner()).values() {
        kill_group(handle.pgid);
    }
}

/// The executor's listener.
pub(crate) type ExecutorIncoming = tarpc::serde_transport::tcp::Incoming<
    tarpc::ClientMessage<crate::rpc::TaskExecutorRequest>,
    tarpc::Response<crate::rpc::TaskExecutorResponse>,
    ExecutorCodec,
    fn() -> ExecutorCodec,
>;

/// The executor's wire format.
pub(crate) type ExecutorCodec = tarpc::tokio_serde::formats::Json<
    tarpc::ClientMessage<crate::rpc::TaskExecutorRequest>,
    tarpc::Response<crate::rpc::TaskExecutorResponse>,
>;

/// Binds the executor to the first free port of `ports` on `host`.
pub(crate) async fn bind(
    host: &str,
    ports: spate_core::config::cluster::PortRange,
) -> std::io::Result<ExecutorIncoming> {
    let mut last = None;
    for port in ports.first..=ports.last {
        let codec: fn() -> ExecutorCodec = tarpc::tokio_serde::formats::Json::default;
        match tarpc::serde_transport::tcp::listen((host, port), codec).await {
            Ok(mut incoming) => {
                incoming.config_mut().max_frame_length(crate::rpc::EXECUTOR_MAX_FRAME);
                return Ok(incoming);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("an empty port range")))
}

/// Serves the executor on `incoming`'s connections.
pub(crate) async fn serve(mut incoming: ExecutorIncoming, shared: Arc<ExecutorShared>) {
    while let Some(transport) = incoming.next().await {
        let Ok(transport) = transport else { continue };
        // Calls and answers come in turns: no Nagle delay.
        let _ = transport.get_ref().set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            BaseChannel::with_defaults(transport)
                .execute(Executor(shared).serve())
                .for_each(|response| async move {
                    tokio::spawn(response);
                })
                .await;
        });
    }
}

/// Carries events to the JobManager, waiting while the TaskManager re-registers.
pub(crate) async fn relay(shared: Arc<ExecutorShared>, mut events: mpsc::UnboundedReceiver<Event>) {
    while let Some((job, attempt, event)) = events.recv().await {
        loop {
            let client = shared.jobmanager.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(client) = client {
                let sent = client
                    .worker_event(tarpc::context::current(), shared.id.clone(), job.clone(), attempt, event.clone())
                    .await;
                // Refused (the JobManager does not know this TaskManager yet): sent
                // again once it registered.
                if matches!(sent, Ok(Ok(()))) {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
