//! What a TaskManager and its worker say over the link after the handshake.

use serde::{Deserialize, Serialize};
use spate_core::job_graph::JobGraph;

use crate::TaskError;
use crate::accumulator::AccumulatorResults;
use crate::checkpoint::TaskMail;

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
    /// What the earlier jobs of the application returned, so that `main` replays them.
    pub recorded: Vec<RecordedJob>,
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
    /// Cancel every subtask.
    Cancel,
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
}

impl From<&TaskError> for RemoteTaskError {
    fn from(error: &TaskError) -> Self {
        RemoteTaskError {
            message: error.to_string(),
            recoverable: error.is_recoverable(),
            consequence: error.is_consequence(),
        }
    }
}

/// From the worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FromWorker {
    /// Subtask `task` processed all its input.
    Finished {
        /// The subtask.
        task: usize,
    },
    /// Subtask `task` ended.
    TaskEnded {
        /// The subtask.
        task: usize,
        /// Its display name.
        name: String,
        /// Its error, if it failed.
        error: Option<RemoteTaskError>,
    },
    /// The worker cannot run the job at all (its replay built another pipeline, its
    /// state cannot be read): it exits after this.
    Failed {
        /// Why, for people.
        reason: String,
    },
}
