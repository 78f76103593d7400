//! Why checkpoints fail, and when failing checkpoints fail the job (Flink's
//! `CheckpointFailureManager` and `execution.checkpointing.tolerable-failed-checkpoints`).

use thiserror::Error;

use super::Decline;

/// Why a checkpoint or savepoint was aborted.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CheckpointFailure {
    /// It was not complete within `execution.checkpointing.timeout`.
    #[error("the checkpoint timed out (execution.checkpointing.timeout)")]
    Expired,
    /// A task could not take its snapshot.
    #[error("a task declined it: {}", .0.reason)]
    Declined(Decline),
    /// A task's state file could not be stored.
    #[error("writing the state of subtask {subtask} of vertex {vertex} failed: {reason}")]
    StateWrite {
        /// The vertex.
        vertex: u32,
        /// The subtask.
        subtask: u32,
        /// What the storage said.
        reason: String,
    },
    /// `_metadata` could not be stored.
    #[error("writing _metadata failed: {0}")]
    Metadata(String),
    /// A newer checkpoint completed first.
    #[error("subsumed by a newer completed checkpoint")]
    Subsumed,
    /// The attempt it belonged to ended (failure, cancellation, the end of the job).
    #[error("{0}")]
    Stopped(String),
}

impl CheckpointFailure {
    /// Whether the failure counts against the tolerable number: as in Flink's
    /// `CheckpointFailureManager`, declines, timeouts and failed state writes do;
    /// finalizing (`_metadata`), being subsumed or ending with the attempt do not.
    pub fn counts(&self) -> bool {
        !matches!(self, CheckpointFailure::Subsumed | CheckpointFailure::Stopped(_) | CheckpointFailure::Metadata(_))
    }

    /// Whether a restarted job could take this checkpoint: not when a task's state
    /// cannot be written whatever the attempt.
    pub fn is_recoverable(&self) -> bool {
        match self {
            CheckpointFailure::Declined(decline) => decline.recoverable,
            _ => true,
        }
    }
}

/// The job fails because too many checkpoints failed in a row.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error(
    "exceeded checkpoint tolerable failure threshold ({tolerable}, \
     execution.checkpointing.tolerable-failed-checkpoints): the latest checkpoint failed: {latest}"
)]
pub struct TooManyFailedCheckpoints {
    /// The threshold.
    pub tolerable: u32,
    /// The failure that crossed it.
    pub latest: CheckpointFailure,
}

/// Counts periodic checkpoints that failed in a row. Savepoints never count: a failed
/// savepoint fails only the request for it.
#[derive(Debug)]
pub struct FailureCounter {
    tolerable: u32,
    in_a_row: u32,
}

impl FailureCounter {
    /// A counter failing the job after more than `tolerable` failures in a row.
    pub fn new(tolerable: u32) -> Self {
        FailureCounter { tolerable, in_a_row: 0 }
    }

    /// A checkpoint completed: the count starts again.
    pub fn on_success(&mut self) {
        self.in_a_row = 0;
    }

    /// A checkpoint failed: `Some` when the job must fail over.
    pub fn on_failure(&mut self, failure: &CheckpointFailure) -> Option<TooManyFailedCheckpoints> {
        if !failure.counts() {
            return None;
        }
        self.in_a_row += 1;
        (self.in_a_row > self.tolerable)
            .then(|| TooManyFailedCheckpoints { tolerable: self.tolerable, latest: failure.clone() })
    }

    /// A new attempt starts with a clean count (as Flink's does after a failover).
    pub fn reset(&mut self) {
        self.in_a_row = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fails_after_more_than_the_tolerable_number_in_a_row() {
        let mut c = FailureCounter::new(2);
        let expired = CheckpointFailure::Expired;
        assert!(c.on_failure(&expired).is_none());
        assert!(c.on_failure(&CheckpointFailure::Subsumed).is_none(), "does not count");
        assert!(c.on_failure(&expired).is_none());
        c.on_success();
        assert!(c.on_failure(&expired).is_none());
        assert!(c.on_failure(&expired).is_none());
        assert!(c.on_failure(&CheckpointFailure::Metadata("disk full".into())).is_none(), "finalizing does not count");
        let write = CheckpointFailure::StateWrite { vertex: 0, subtask: 1, reason: "disk full".into() };
        let failed = c.on_failure(&write).unwrap();
        assert!(failed.to_string().contains("disk full") && failed.to_string().contains("(2,"), "{failed}");
        assert!(!CheckpointFailure::Stopped("the job ended".into()).counts());
        assert!(FailureCounter::new(0).on_failure(&expired).is_some(), "Flink's default: none tolerated");
    }
}
