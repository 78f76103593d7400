//! The control plane's RPC services and their wire types. A TaskManager calls the
//! JobManager's [`ResourceManager`]: it registers its slots, then heartbeats; the
//! connection it registered on is watched, so a TaskManager that dies is noticed
//! when its connection breaks, not only after `heartbeat.timeout`.

use serde::{Deserialize, Serialize};

/// What a TaskManager tells the JobManager when it registers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Registration {
    /// Its id, `host:pid-xxxxxx` (Flink: `host:rpc-port-xxxxxx`); stable for the
    /// process's life, so a TaskManager that registers again is recognized.
    pub id: String,
    /// The address it announces (`taskmanager.host`).
    pub host: String,
    /// Where its task executor listens, `host:port` (`taskmanager.rpc.port`).
    pub rpc_address: String,
    /// Slots it offers (`taskmanager.numberOfTaskSlots`).
    pub slots: u32,
    /// Its hardware, for `/taskmanagers`.
    pub hardware: Hardware,
    /// Its Spate version: the JobManager refuses another.
    pub version: String,
    /// The shared secret (`security.auth.token`), if it has one.
    pub token: Option<String>,
}

/// A TaskManager's machine.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hardware {
    /// CPU cores available to it.
    pub cpu_cores: u32,
    /// Physical memory, in bytes.
    pub physical_memory: u64,
    /// Free memory when it last reported, in bytes.
    pub free_memory: u64,
}

/// Why the JobManager refused a call.
#[derive(Clone, Debug, Serialize, Deserialize, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    /// The shared secret is missing or wrong.
    #[error("wrong or missing security.auth.token")]
    Unauthorized,
    /// The versions differ.
    #[error("version {theirs} cannot join a cluster of version {ours}")]
    Version {
        /// The caller's.
        theirs: String,
        /// The JobManager's.
        ours: String,
    },
    /// A heartbeat from a TaskManager that is not registered (it was declared lost):
    /// it must register again.
    #[error("TaskManager {0} is not registered")]
    UnknownTaskManager(String),
}

/// What a TaskManager tells the JobManager about one of its workers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum WorkerEvent {
    /// The worker said this over its link.
    Report(spate_runtime::worker_link::FromWorker),
    /// The worker's process ended, with its exit code or the signal that killed it.
    Exited {
        /// The exit code.
        code: Option<i32>,
        /// The signal.
        signal: Option<i32>,
        /// The last lines of its standard error, to say why.
        stderr_tail: String,
    },
}

/// What the JobManager asks a TaskManager to run: one worker of a job's attempt.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkerRequest {
    /// The application binary, by SHA-256 in the artifact store.
    pub artifact: String,
    /// Its arguments, as the client got them.
    pub args: Vec<String>,
    /// The client's working directory: relative paths in the arguments resolve against it.
    pub cwd: String,
    /// What the worker runs.
    pub deployment: spate_runtime::worker_link::Deployment,
    /// The JobManager's REST endpoint, where the artifact is downloaded from.
    pub rest: String,
}

/// A worker that took its deployment: its replay built the job.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerStarted {
    /// Where it listens for the attempt's other workers.
    pub address: String,
    /// From worker 0: the attempt's listing of its sources' inputs, which every worker
    /// of the attempt gets with its peers' addresses.
    pub splits: Option<spate_runtime::source::AttemptSplits>,
}

/// Why a TaskManager could not start a worker.
#[derive(Clone, Debug, Serialize, Deserialize, thiserror::Error, PartialEq, Eq)]
pub enum WorkerRefusal {
    /// The application could not be downloaded or does not match its hash.
    #[error("cannot fetch the application {artifact}: {reason}")]
    Artifact {
        /// The artifact.
        artifact: String,
        /// Why.
        reason: String,
    },
    /// The process could not be started.
    #[error("cannot start the worker: {0}")]
    Spawn(String),
    /// The worker started but did not take its deployment: it failed or died while its
    /// replay of `main` built the job, or did not answer in time.
    #[error("the worker did not take its deployment ({reason}):\n{log}")]
    NotStarted {
        /// Why.
        reason: String,
        /// The tail of its log.
        log: String,
        /// Whether another attempt could get further (not for a replay that built
        /// another pipeline).
        recoverable: bool,
    },
    /// The shared secret is missing or wrong.
    #[error("wrong or missing security.auth.token")]
    Unauthorized,
    /// An output could not be read.
    #[error("{0}")]
    Output(String),
    /// No worker of the attempt runs on this TaskManager (yet, or any more).
    #[error("no worker of {0} runs here")]
    NoWorker(String),
    /// The job's results could not be fetched.
    #[error("cannot fetch the job's results: {0}")]
    Results(String),
}

/// A fetch of an `execute_and_collect` job's results (see `GET /jobs/:id/results`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResultsRequest {
    /// The job.
    pub job_id: String,
    /// Its attempt whose worker runs the sink.
    pub attempt: u32,
    /// The version of the results the client has seen (0: none).
    pub version: u64,
    /// The first unit wanted (acknowledging those before it).
    pub offset: u64,
    /// At most this many bytes of records (0: none).
    pub max_bytes: u32,
}

/// A page of an `execute_and_collect` job's results, as it crosses JSON.
pub use spate_runtime::sink::ResultPage;

/// Which output of a TaskManager (Flink's `/taskmanagers/:id/log` and `/stdout`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum OutputKind {
    /// Its log (its standard error, when that is a file: `spate cluster start` makes it one).
    Log,
    /// What its workers printed.
    Stdout,
}

/// A TaskManager's task executor, as the JobManager calls it.
#[tarpc::service]
pub trait TaskExecutor {
    /// Starts a worker for `request`'s job and attempt; answers once its replay built
    /// the job, with where it listens for the attempt's other workers.
    async fn start_worker(request: WorkerRequest, token: Option<String>) -> Result<WorkerStarted, WorkerRefusal>;
    /// Hands the worker of a job's attempt the data addresses of all the attempt's
    /// workers (by index) and worker 0's listing of the sources' inputs: it connects to
    /// its peers and starts its subtasks.
    async fn connect_peers(
        job_id: String,
        attempt: u32,
        addresses: Vec<String>,
        splits: spate_runtime::source::AttemptSplits,
        token: Option<String>,
    ) -> Result<(), WorkerRefusal>;
    /// Mail for subtask `task` of a job's attempt.
    async fn mail(
        job_id: String,
        attempt: u32,
        task: usize,
        mail: spate_runtime::checkpoint::TaskMail,
        token: Option<String>,
    ) -> Result<(), WorkerRefusal>;
    /// The tail (at most `max_bytes`) of the TaskManager's log, or of its workers'
    /// standard output (`print()`), oldest job first.
    async fn read_output(kind: OutputKind, max_bytes: u64, token: Option<String>) -> Result<String, WorkerRefusal>;
    /// The results of a job's attempt from `offset` on, acknowledging those before it,
    /// from the collect sink of its worker here (`None`: none runs in it).
    async fn fetch_results(request: ResultsRequest, token: Option<String>)
    -> Result<Option<ResultPage>, WorkerRefusal>;
    /// Cancels a job's attempt: asks its worker, and kills its process group after
    /// `task.cancellation.timeout`.
    async fn cancel(job_id: String, attempt: u32, token: Option<String>) -> Result<(), WorkerRefusal>;
}

/// The largest message to or from a task executor: a page of results is at most half
/// of `collect-sink.batch-size.max` (≤ 32 MiB) and one record, a third more in base64 —
/// tokio's default of 8 MiB would refuse a large one.
pub(crate) const EXECUTOR_MAX_FRAME: usize = 64 << 20;

/// A client of the task executor at `address`, connected within 10 s; the error names
/// the address.
pub(crate) async fn connect_executor(address: &str) -> Result<TaskExecutorClient, String> {
    let json = tarpc::tokio_serde::formats::Json::default;
    let mut connect = tarpc::serde_transport::tcp::connect(address, json);
    connect.config_mut().max_frame_length(EXECUTOR_MAX_FRAME);
    let transport = tokio::time::timeout(std::time::Duration::from_secs(10), connect)
        .await
        .map_err(|_| format!("cannot reach the TaskManager at {address}: no answer within 10 s"))?
        .map_err(|e| format!("cannot reach the TaskManager at {address}: {e}"))?;
    // Calls and answers come in turns: no Nagle delay.
    let _ = transport.get_ref().set_nodelay(true);
    Ok(TaskExecutorClient::new(tarpc::client::Config::default(), transport).spawn())
}

/// The JobManager's resource manager, as TaskManagers call it.
#[tarpc::service]
pub trait ResourceManager {
    /// Registers a TaskManager and its slots; returns the JobManager's heartbeat
    /// interval, which the TaskManager then keeps.
    async fn register(registration: Registration) -> Result<std::time::Duration, Refusal>;
    /// A TaskManager is alive; `hardware` is its latest view of its machine.
    async fn heartbeat(id: String, hardware: Hardware) -> Result<(), Refusal>;
    /// A worker of attempt `attempt` of job `job_id` on TaskManager `id` reported or ended.
    async fn worker_event(id: String, job_id: String, attempt: u32, event: WorkerEvent) -> Result<(), Refusal>;
}
