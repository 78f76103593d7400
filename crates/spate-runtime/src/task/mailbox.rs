//! The mailbox of a task: what the job master asks of it between two steps, and where
//! the task reports back.
//!
//! Mail is taken only between steps of the task loop, so a checkpoint trigger or a
//! commit never runs in the middle of an operator call, and operators need no locks.

use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::checkpoint::{CheckpointBarrier, CheckpointId, TaskSnapshot};

/// The checkpoint id under which a finished job's last staged output is committed.
pub const FINAL_CHECKPOINT: CheckpointId = CheckpointId::MAX;

/// A request from the job master.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskMail {
    /// Start a checkpoint at this source task (snapshot and send the barrier down), or
    /// at a task that finished (snapshot its final state).
    TriggerCheckpoint(CheckpointBarrier),
    /// A checkpoint completed (commit what was staged for it) or was aborted.
    NotifyCheckpoint {
        /// The checkpoint.
        id: CheckpointId,
        /// Completed, or aborted.
        complete: bool,
    },
    /// Every task of the job finished: commit what is still staged, then close.
    FinishJob,
}

/// What a task took a snapshot for, with how long it took.
#[derive(Debug)]
pub struct SnapshotReport {
    /// The barrier the snapshot belongs to.
    pub barrier: CheckpointBarrier,
    /// The encoded state of the chain.
    pub snapshot: TaskSnapshot,
    /// How long inputs were held back before the snapshot.
    pub alignment: Duration,
    /// The synchronous part: how long the task stopped processing to take it.
    pub sync: Duration,
}

/// Where a task reports to the job master. Implementations only queue messages: they
/// never block the task thread.
pub trait TaskReporter: Send {
    /// The task took a snapshot for a checkpoint.
    fn checkpointed(&self, report: SnapshotReport);
    /// The task could not take a snapshot for checkpoint `id`.
    fn declined(&self, id: CheckpointId, reason: String);
    /// The task processed all its input; it now answers checkpoint triggers directly.
    fn finished(&self);
}

/// A task's connection to its job master.
pub struct Mailbox {
    /// Requests from the master.
    pub mail: Receiver<TaskMail>,
    /// Reports to the master.
    pub reporter: Box<dyn TaskReporter>,
}
