//! How a job ends, and why it failed.

use crate::TaskError;
use crate::checkpoint::{CheckpointFailure, TooManyFailedCheckpoints};

use super::status::JobStatus;

/// A deployer could not start an attempt (e.g. the checkpoint to restore is unusable).
/// The error stays typed, so the caller that produced it can recover its own type.
#[derive(Debug, thiserror::Error)]
#[error("cannot deploy attempt {attempt}: {source}")]
pub struct DeployError {
    /// The attempt.
    pub attempt: u32,
    /// Why.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// The source of a [`DeployError`] that says the resources the attempt needs are not
/// there yet (too few free slots): the driver asks the deployer again shortly, while the
/// job master goes on taking messages (a cancel among them), until the deployer gives
/// up with another error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ResourcesUnavailable(pub String);

/// The source of a [`DeployError`] that a restart may cure: a worker that died or
/// failed while it started (its replay of `main` crashed, its TaskManager was lost).
/// The attempt fails as if a subtask had, and the restart strategy decides.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AttemptFailed(pub String);

impl DeployError {
    /// Whether the deployer asks to be asked again.
    pub fn is_resources_unavailable(&self) -> bool {
        self.source.downcast_ref::<ResourcesUnavailable>().is_some()
    }

    /// Whether a restart could help (see [`AttemptFailed`]).
    pub fn is_recoverable(&self) -> bool {
        self.source.downcast_ref::<AttemptFailed>().is_some()
    }
}

/// Why an attempt, and maybe the job, failed.
#[derive(Debug, thiserror::Error)]
pub enum JobFailure {
    /// A subtask failed: the first root cause (not the cancellations it caused).
    #[error("{task}: {error}")]
    Task {
        /// The subtask's display name.
        task: String,
        /// Its error.
        error: TaskError,
    },
    /// Too many checkpoints failed in a row.
    #[error("{0}")]
    Checkpoints(TooManyFailedCheckpoints),
    /// An attempt could not be deployed.
    #[error("{0}")]
    Deployment(DeployError),
}

impl JobFailure {
    /// Whether a restart could help (see [`TaskError::is_recoverable`]); a failed
    /// deployment is retried only when the deployer says a restart may cure it
    /// ([`AttemptFailed`]).
    pub fn is_recoverable(&self) -> bool {
        match self {
            JobFailure::Task { error, .. } => error.is_recoverable(),
            JobFailure::Checkpoints(too_many) => too_many.latest.is_recoverable(),
            JobFailure::Deployment(error) => error.is_recoverable(),
        }
    }

    /// Whether `error` of another subtask is a better root cause than this failure:
    /// a real error wins over the cancellations and lost peers it caused, and a worker's
    /// own failure over the broken connections its peers saw.
    pub(crate) fn is_replaced_by(&self, error: &TaskError) -> bool {
        match self {
            JobFailure::Task { error: current, .. } => {
                (current.is_consequence() && !error.is_consequence())
                    || (current.is_connection() && !error.is_consequence() && !error.is_connection())
            }
            JobFailure::Checkpoints(_) | JobFailure::Deployment(_) => false,
        }
    }
}

/// How a job ended.
#[derive(Debug)]
pub enum JobOutcome {
    /// Every subtask processed all its input.
    Finished,
    /// Stopped after a savepoint (`stop-with-savepoint`): FINISHED, as in Flink.
    Stopped,
    /// Cancelled by the user.
    Cancelled,
    /// Its job master stopped without ending it.
    Suspended,
    /// Failed, and not restarted.
    Failed(JobFailure),
}

impl JobOutcome {
    /// The terminal status this outcome is reported as.
    pub fn status(&self) -> JobStatus {
        match self {
            JobOutcome::Finished | JobOutcome::Stopped => JobStatus::Finished,
            JobOutcome::Cancelled => JobStatus::Canceled,
            JobOutcome::Suspended => JobStatus::Suspended,
            JobOutcome::Failed(_) => JobStatus::Failed,
        }
    }
}

/// Why a savepoint request got no savepoint.
#[derive(Debug, thiserror::Error)]
pub enum SavepointError {
    /// The job is not running (restarting, failing, stopping or ended).
    #[error("the job is {status}")]
    NotRunning {
        /// Its status when the request arrived.
        status: JobStatus,
    },
    /// The savepoint was started and failed.
    #[error("{0}")]
    Failed(CheckpointFailure),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker_link::RemoteTaskError;

    fn remote(message: &str, consequence: bool, connection: bool) -> TaskError {
        TaskError::Remote(RemoteTaskError { message: message.into(), recoverable: true, consequence, connection })
    }

    #[test]
    fn a_workers_own_failure_explains_the_broken_connections_its_peers_saw() {
        let lost = JobFailure::Task { task: "b".into(), error: remote("lost the connection to worker 0", false, true) };
        // The dead worker's exit wins; another broken connection or a cancellation does not.
        assert!(lost.is_replaced_by(&remote("the worker on TaskManager a was killed by signal 9", false, false)));
        assert!(!lost.is_replaced_by(&remote("lost the connection to worker 1", false, true)));
        assert!(!lost.is_replaced_by(&TaskError::Cancelled));
        // A real error is never replaced by a connection loss.
        let real = JobFailure::Task { task: "a".into(), error: remote("division by zero", false, false) };
        assert!(!real.is_replaced_by(&TaskError::Connection("lost".into())));
        assert!(TaskError::Connection("x".into()).is_connection());
    }
}
