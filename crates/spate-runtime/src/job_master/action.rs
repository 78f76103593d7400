//! What a job master asks its host to do. The master performs no I/O itself: the host
//! (the embedded mini-cluster's loop, or a JobManager) carries these out through its
//! [`Deployer`](super::Deployer) and reports back with messages.

use crate::checkpoint::{CompletedCheckpoint, TaskMail};

use super::outcome::{JobOutcome, SavepointError};
use super::status::JobStatus;

/// An output of [`JobMaster::handle`](super::JobMaster::handle), in the order given.
#[derive(Debug)]
pub enum JobAction {
    /// Start every subtask of `attempt`, restoring from the first usable checkpoint of
    /// `restore_from` (newest first); when it is empty, from the state the job was
    /// submitted with (its savepoint, if any). Answered by `Deployed` or `DeployFailed`.
    Deploy {
        /// The attempt, numbered from 0.
        attempt: u32,
        /// Candidates to restore from, newest first.
        restore_from: Vec<CompletedCheckpoint>,
    },
    /// Deliver `mail` to subtask `task` of `attempt`; a subtask that has ended is skipped.
    Mail {
        /// The attempt.
        attempt: u32,
        /// The subtask's index in the job.
        task: usize,
        /// The mail.
        mail: TaskMail,
    },
    /// Cancel every subtask of `attempt` (asked again, it means: now).
    Cancel {
        /// The attempt.
        attempt: u32,
    },
    /// Every subtask of `attempt` has ended: free what it held (threads, slots).
    Release {
        /// The attempt.
        attempt: u32,
    },
    /// The job's status changed.
    StatusChanged {
        /// The new status.
        status: JobStatus,
        /// The attempt running (or about to run) in it.
        attempt: u32,
    },
    /// An attempt failed and the job restarts: its root cause, for the job's exception
    /// history (a failure that ends the job comes with `Ended`).
    AttemptFailed {
        /// The attempt that failed.
        attempt: u32,
        /// Its root cause, for people.
        failure: String,
    },
    /// The answer to `TriggerSavepoint` with this `request`.
    SavepointCompleted {
        /// The caller's token.
        request: u64,
        /// The savepoint, or why there is none.
        result: Result<CompletedCheckpoint, SavepointError>,
    },
    /// A completed checkpoint holds state of the operators with these uids (given when
    /// the set changes): the operators that really have state.
    CheckpointHolds {
        /// Their uids.
        uids: Vec<String>,
    },
    /// The job ended; this is the last action of the master, given once. Its checkpoint
    /// writer finishes its queue when the master is dropped.
    Ended(JobOutcome),
}
