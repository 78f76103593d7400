//! What a job master and a task tell each other about checkpoints: the requests a task
//! takes from its mailbox and the reports it sends back.
//!
//! The types sit with the checkpoints, below the tasks, so that the coordinator depends
//! on them and not on the task that implements them; across processes they travel as
//! they are (serde).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{CheckpointBarrier, CheckpointId, TaskSnapshot};

/// The checkpoint id under which a finished job's last staged output is committed.
pub const FINAL_CHECKPOINT: CheckpointId = CheckpointId::MAX;

/// A request from the job master to a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The job stops (after the savepoint that stops it completed, whose notification
    /// came before this mail): close without processing more; what was staged after
    /// the savepoint stays uncommitted, for a job restored from it to produce again.
    Stop,
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

/// Why a task could not take its snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decline {
    /// The task and the error, for people.
    pub reason: String,
    /// Whether another attempt could succeed (see `TaskError::is_recoverable`): a
    /// state that cannot be encoded fails every checkpoint, and restarting cannot help.
    pub recoverable: bool,
}

/// Where a task reports to the job master. Implementations only queue messages: they
/// never block the task thread.
pub trait TaskReporter: Send {
    /// The task took a snapshot for a checkpoint.
    fn checkpointed(&self, report: SnapshotReport);
    /// The task could not take its snapshot for checkpoint `id` (it goes on running;
    /// the checkpoint fails).
    fn declined(&self, id: CheckpointId, decline: Decline);
    /// The task processed all its input; it now answers checkpoint triggers directly.
    fn finished(&self);
}
