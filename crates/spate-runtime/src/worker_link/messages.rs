//! What a TaskManager and its worker say over the link after the handshake.

use serde::{Deserialize, Serialize};
use spate_core::job_graph::JobGraph;

use crate::TaskError;
use crate::accumulator::AccumulatorResults;
use crate::checkpoint::{CheckpointLocation, CoordinatorMessage, TaskMail};
use crate::source::AttemptSplits;

/// What a worker is to run: job number `job_index` of the application, as the first
/// run planned it, with the configuration shipped with it (never the host's).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Deployment {
    /// The job's id.
    pub job_id: String,
    /// Which `execute` of `main` it is (0 for the first).
    pub job_index: u32,
    /// The attempt.
    pub attempt: u32,
    /// The job as the first run planned it: the replay must build the same.
    pub job_graph: JobGraph,
    /// The job's configuration, `key: value`.
    pub config: Vec<(String, String)>,
    /// Where the attempt's subtasks run, and which of them this worker runs.
    pub placement: Placement,
    /// Where this worker listens for its peers.
    pub data: DataBind,
    /// `security.auth.token`, which peers present to each other.
    pub token: Option<String>,
    /// What the earlier jobs of the application returned, so that `main` replays them.
    pub recorded: Vec<RecordedJob>,
    /// The values of `env.side_effect` calls before this job, encoded, in call order.
    pub side_effects: Vec<Vec<u8>>,
    /// The checkpoint (or savepoint) the attempt starts from, which the JobManager chose
    /// for every worker of it: each reads only its own subtasks' key groups from it.
    #[serde(default)]
    pub restore_from: Option<CheckpointLocation>,
}

/// Where an attempt's subtasks run: with one slot-sharing group, slot `i` holds subtask
/// `i` of every vertex, and each slot is on one worker (one per TaskManager).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Placement {
    /// This worker's index among the attempt's workers.
    pub worker: u32,
    /// The worker of each slot.
    pub slots: Vec<u32>,
}

impl Placement {
    /// Whether subtask `subtask` (of any vertex) runs on this worker.
    pub fn is_local(&self, subtask: u32) -> bool {
        self.slots.get(subtask as usize) == Some(&self.worker)
    }

    /// The worker of subtask `subtask`.
    pub fn worker_of(&self, subtask: u32) -> Option<u32> {
        self.slots.get(subtask as usize).copied()
    }
}

/// Where a worker listens for the other workers of its attempt: set by its
/// TaskManager (`taskmanager.bind-host`, `taskmanager.host`, `taskmanager.data.port`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DataBind {
    /// The address to bind.
    pub bind_host: String,
    /// The address peers are told.
    pub advertised_host: String,
    /// The port range to try.
    pub first_port: u16,
    /// The port range to try.
    pub last_port: u16,
}

/// What an earlier `execute` returned when it really ran.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedJob {
    /// Its id.
    pub job_id: String,
    /// Its name.
    pub job_name: String,
    /// Its net runtime, in ms.
    pub net_runtime_ms: u64,
    /// Its accumulators.
    pub accumulators: AccumulatorResults,
    /// Whether it was submitted detached (its result says so in the replay too).
    #[serde(default)]
    pub detached: bool,
    /// What `execute_and_collect` returned (base64 of the encoded `Vec`: it travels in
    /// JSON), so that the replay returns it too.
    #[serde(default)]
    pub collected: Option<String>,
}

/// From the TaskManager.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToWorker {
    /// The job to run (the first message).
    Deploy(Box<Deployment>),
    /// Mail for subtask `task` (its index in the job).
    Mail {
        /// The subtask.
        task: usize,
        /// The mail.
        mail: TaskMail,
    },
    /// The data addresses of every worker of the attempt, by worker index, and the
    /// attempt's listing of its sources' inputs (made by worker 0): the worker connects
    /// to its peers and starts its subtasks.
    Peers {
        /// `host:port` of each worker.
        addresses: Vec<String>,
        /// What worker 0 listed.
        splits: AttemptSplits,
    },
    /// Cancel every subtask.
    Cancel,
    /// The program collecting the job's results asks for them from `offset` on,
    /// acknowledging every record before it (answered with [`FromWorker::Results`]).
    FetchResults {
        /// Pairs the answer with the question.
        request: u64,
        /// The version of the results the reader has seen (0: none): it acknowledges
        /// only under that version.
        version: u64,
        /// The first record wanted.
        offset: u64,
        /// At most this many bytes of records (at least one record).
        max_bytes: u32,
    },
}

/// A subtask's error, as it crosses a process.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RemoteTaskError {
    /// What it said.
    pub message: String,
    /// Whether a restart could help.
    pub recoverable: bool,
    /// Whether it only followed from another failure (a cancellation, a lost peer).
    pub consequence: bool,
    /// Whether it is a broken connection to another worker: a root cause, but one that
    /// the other worker's own failure (its exit, its TaskManager's loss) explains better.
    #[serde(default)]
    pub connection: bool,
}

impl From<&TaskError> for RemoteTaskError {
    fn from(error: &TaskError) -> Self {
        RemoteTaskError {
            message: error.to_string(),
            recoverable: error.is_recoverable(),
            consequence: error.is_consequence(),
            connection: error.is_connection(),
        }
    }
}

/// From the worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FromWorker {
    /// A subtask's report to the checkpoint coordinator: a stored snapshot's handle, a
    /// decline, the end of its input — in the order the subtask made them.
    Report(CoordinatorMessage),
    /// Subtask `task` ended.
    TaskEnded {
        /// The subtask.
        task: usize,
        /// Its display name.
        name: String,
        /// Its error, if it failed.
        error: Option<RemoteTaskError>,
        /// Its accumulators' values.
        #[serde(default)]
        accumulators: Vec<(String, crate::accumulator::AccumulatorValue)>,
        /// Its I/O counters.
        #[serde(default)]
        metrics: crate::metrics::TaskMetricsSnapshot,
    },
    /// The answer to [`ToWorker::FetchResults`]: `None` when no collect sink runs in
    /// this worker.
    Results {
        /// The question's `request`.
        request: u64,
        /// The records.
        page: Option<crate::sink::ResultPage>,
    },
    /// The counters of the worker's running subtasks, sent every second so that the
    /// JobManager's vertex metrics are live.
    Metrics {
        /// (subtask, its counters so far).
        tasks: Vec<(usize, crate::metrics::TaskMetricsSnapshot)>,
    },
    /// The worker's answer to the deployment, once its replay built the job the first
    /// run planned: where it listens for its peers, and, from worker 0, the attempt's
    /// listing of its sources' inputs (made once, in one process).
    Listening {
        /// `host:port`.
        address: String,
        /// Worker 0's listing; `None` from the others.
        splits: Option<AttemptSplits>,
    },
    /// The checkpoint the attempt was to restore cannot be read here (a damaged file):
    /// the worker exits after this, and the next attempt takes an older checkpoint.
    RestoreFailed {
        /// The checkpoint.
        checkpoint: CheckpointLocation,
        /// Why, for people.
        reason: String,
        /// Whether an older checkpoint could do (not when this one does not fit the job).
        recoverable: bool,
    },
    /// The worker cannot run the job at all (its replay built another pipeline, its
    /// state cannot be read): it exits after this.
    Failed {
        /// Why, for people.
        reason: String,
        /// Whether another attempt could succeed (a peer that was gone): not when the
        /// replay built another job.
        recoverable: bool,
    },
}
