//! A job's status, in Flink's `JobStatus` names and spellings, so that what the CLI,
//! REST and logs say reads as Flink users expect.

use serde::{Deserialize, Serialize};

/// Where a job is in its lifecycle.
///
/// ```text
/// INITIALIZING → CREATED → RUNNING → (FAILING → RESTARTING → RUNNING)* → FINISHED | FAILED
///                               └──→ CANCELLING → CANCELED        (and SUSPENDED)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// The job master exists but has not been told to start.
    Initializing,
    /// The first attempt is being deployed.
    Created,
    /// An attempt is deployed and running.
    Running,
    /// A subtask failed; the attempt's other subtasks are being stopped.
    Failing,
    /// The attempt ended in failure; a new one starts after the restart delay.
    Restarting,
    /// Cancellation (or stop with a savepoint) was requested; subtasks are stopping.
    Cancelling,
    /// Every subtask finished.
    Finished,
    /// The job failed and is not restarted.
    Failed,
    /// The job was cancelled.
    Canceled,
    /// The job master stopped without ending the job (its checkpoints are kept, so it
    /// can be resumed).
    Suspended,
}

impl JobStatus {
    /// Whether the job has ended: nothing of it runs and nothing will again.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Finished | JobStatus::Failed | JobStatus::Canceled | JobStatus::Suspended)
    }

    /// Flink's name (`RUNNING`, `CANCELED`, …), as the CLI and REST print it.
    pub fn name(self) -> &'static str {
        match self {
            JobStatus::Initializing => "INITIALIZING",
            JobStatus::Created => "CREATED",
            JobStatus::Running => "RUNNING",
            JobStatus::Failing => "FAILING",
            JobStatus::Restarting => "RESTARTING",
            JobStatus::Cancelling => "CANCELLING",
            JobStatus::Finished => "FINISHED",
            JobStatus::Failed => "FAILED",
            JobStatus::Canceled => "CANCELED",
            JobStatus::Suspended => "SUSPENDED",
        }
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_flinks_and_match_the_serialized_form() {
        for status in [
            JobStatus::Initializing,
            JobStatus::Created,
            JobStatus::Running,
            JobStatus::Failing,
            JobStatus::Restarting,
            JobStatus::Cancelling,
            JobStatus::Finished,
            JobStatus::Failed,
            JobStatus::Canceled,
            JobStatus::Suspended,
        ] {
            assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{}\"", status.name()));
        }
        assert_eq!(JobStatus::Cancelling.to_string(), "CANCELLING");
        assert!(JobStatus::Suspended.is_terminal() && !JobStatus::Restarting.is_terminal());
    }
}
