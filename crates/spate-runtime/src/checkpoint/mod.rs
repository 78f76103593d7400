//! Checkpoints: consistent snapshots of a running job by asynchronous barrier
//! snapshotting (Flink's checkpoints, after Chandy and Lamport).
//!
//! The coordinator injects barrier *n* at the sources; every task, once barrier *n*
//! arrived on all its inputs (holding back inputs that delivered it first, for
//! exactly-once), snapshots its operators' state and passes the barrier on; the
//! snapshot is written to storage off the task thread, in the task's process, and
//! acknowledged with its handle; when every task acknowledged, the checkpoint is
//! complete and the coordinator writes its metadata.

mod coordinator;
mod failure;
mod format;
mod location;
mod protocol;
mod snapshot;
mod storage;
mod task_reports;
mod writer;

pub use coordinator::{
    Acknowledgement, CheckpointCoordinator, CheckpointHistory, CheckpointSettings, CheckpointStats, CheckpointStatus,
    CompletedCheckpoint, CoordinatorMessage, SavepointReply, TaskDescriptor, TaskGateway, VertexCheckpointStats,
    WrittenFile,
};
pub use failure::{CheckpointFailure, FailureCounter, TooManyFailedCheckpoints};
pub use format::{CheckpointMetadata, FormatError, OperatorMetadata, StateFile};
pub use location::{CheckpointLocation, StorageResolver};
pub use protocol::{Decline, FINAL_CHECKPOINT, SnapshotReport, TaskMail, TaskReporter};
pub use storage::{CheckpointStorage, METADATA_FILE, StorageError, join};
pub use task_reports::{PostReport, ReportWriter};

pub use snapshot::{ListSnapshot, OperatorSnapshot, RestoredState, Verification};

/// The snapshots of the operators of one subtask's chain, by operator uid.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSnapshot {
    /// (operator uid, its state), in chain order.
    pub operators: Vec<(String, OperatorSnapshot)>,
}

impl TaskSnapshot {
    /// Adds the state of operator `uid` (nothing if it has none).
    pub fn add(&mut self, uid: &str, snapshot: OperatorSnapshot) {
        if !snapshot.is_empty() {
            self.operators.push((uid.to_string(), snapshot));
        }
    }

    /// The size of the encoded state, in bytes.
    pub fn size(&self) -> usize {
        self.operators.iter().map(|(_, s)| s.size()).sum()
    }
}

use serde::{Deserialize, Serialize};
use spate_core::Timestamp;

/// Checkpoints are numbered from 1 in the order they are triggered.
pub type CheckpointId = u64;

/// What a barrier starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckpointKind {
    /// A periodic checkpoint, owned by the system (retained or deleted by policy).
    Checkpoint,
    /// A savepoint, owned by the user, into a directory of their choice.
    Savepoint,
}

/// The marker that flows with the records and cuts the stream into before and after a
/// checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointBarrier {
    /// The checkpoint it belongs to.
    pub id: CheckpointId,
    /// When the coordinator triggered it (processing time).
    pub timestamp: Timestamp,
    /// Checkpoint or savepoint.
    pub kind: CheckpointKind,
    /// Where every task writes its state for it.
    pub location: CheckpointLocation,
    /// A savepoint that stops the job with its event time at its end: the sources send
    /// a final MAX watermark before the barrier, so every event-time window and timer
    /// fires into the savepoint (Flink's `stop --drain`).
    #[serde(default)]
    pub drain: bool,
}

#[cfg(test)]
impl CheckpointBarrier {
    /// A periodic checkpoint's barrier with nowhere to write (for tests of the tasks).
    pub(crate) fn checkpoint(id: CheckpointId) -> Self {
        CheckpointBarrier {
            id,
            timestamp: 0,
            kind: CheckpointKind::Checkpoint,
            location: Default::default(),
            drain: false,
        }
    }
}

/// Whether tasks align barriers (`execution.checkpointing.mode`).
pub use spate_core::config::CheckpointingMode;
