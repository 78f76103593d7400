//! What a job master is told: by the deployer, by the tasks of an attempt, by the
//! checkpoint writer, by the user and by the clock.
//!
//! Every message about tasks carries the attempt it belongs to: after a restart, what
//! the old attempt's subtasks still report is stale and ignored, so a slow or hung
//! process of an earlier attempt cannot disturb the running one.

use crate::TaskError;
use crate::checkpoint::{CheckpointStorage, CoordinatorMessage};

use super::outcome::DeployError;

/// An input of [`JobMaster::handle`](super::JobMaster::handle).
#[derive(Debug)]
pub enum JobMessage {
    /// Start the job: deploy its first attempt.
    Start,
    /// Every subtask of `attempt` was started.
    Deployed {
        /// The attempt.
        attempt: u32,
    },
    /// `attempt` could not be deployed; nothing of it runs any more.
    DeployFailed {
        /// The attempt.
        attempt: u32,
        /// Why.
        error: DeployError,
    },
    /// Subtask `task` of `attempt` ended (its thread or process is gone).
    TaskEnded {
        /// The attempt.
        attempt: u32,
        /// The subtask's index in the job (vertex by vertex, subtask by subtask).
        task: usize,
        /// Its display name, for the failure report.
        name: String,
        /// How it ended.
        result: Result<(), TaskError>,
    },
    /// A subtask of `attempt` reported to the checkpoint coordinator (snapshot,
    /// decline, end of input).
    Task {
        /// The attempt.
        attempt: u32,
        /// The report.
        message: CoordinatorMessage,
    },
    /// The checkpoint writer finished a piece of work.
    Storage(CoordinatorMessage),
    /// The user cancels the job.
    Cancel,
    /// The process hosting the job master stops without ending the job.
    Suspend,
    /// The user asks for a savepoint into `storage`, and to stop the job after it if
    /// `stop`; answered by [`JobAction::SavepointCompleted`](super::JobAction) with the
    /// same `request`.
    TriggerSavepoint {
        /// The caller's token for the answer.
        request: u64,
        /// Where to write it.
        storage: CheckpointStorage,
        /// Whether the job stops after it.
        stop: bool,
        /// With `stop`: advance event time to its end first (`stop --drain`).
        drain: bool,
    },
    /// The time given to `handle` reached [`JobMaster::next_deadline`](super::JobMaster::next_deadline).
    Tick,
}

impl JobMessage {
    /// The attempt a message about subtasks belongs to.
    pub fn attempt(&self) -> Option<u32> {
        match self {
            JobMessage::Deployed { attempt }
            | JobMessage::DeployFailed { attempt, .. }
            | JobMessage::TaskEnded { attempt, .. }
            | JobMessage::Task { attempt, .. } => Some(*attempt),
            _ => None,
        }
    }
}
