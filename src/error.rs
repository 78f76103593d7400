//! Errors of the user-facing API.

use spate_core::CoreError;
use spate_runtime::TaskError;
use spate_runtime::checkpoint::{CheckpointFailure, StorageError, TooManyFailedCheckpoints};
use thiserror::Error;

use crate::execution::restore::RestoreError;

/// What can go wrong when building or running a job.
///
/// `Debug` prints the same message as `Display`, so that `fn main() -> spate::Result<()>`
/// reports a failure as a sentence rather than as a struct.
#[derive(Error)]
pub enum Error {
    /// A configuration key has a bad value, or the config file is broken.
    #[error(transparent)]
    Config(#[from] CoreError),
    /// The command line could not be parsed.
    #[error("bad command line: {0}")]
    Arguments(String),
    /// A required `--key value` was not given.
    #[error("missing required parameter --{0}")]
    MissingParameter(String),
    /// A `--key value` could not be parsed.
    #[error("invalid value '{value}' for --{key}: {reason}")]
    InvalidParameter {
        /// The parameter.
        key: String,
        /// Its value.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// The pipeline cannot run as defined.
    #[error("invalid pipeline: {0}")]
    InvalidPipeline(String),
    /// A subtask failed, and with it the job.
    #[error("job '{job}' failed: {task}: {cause}")]
    JobFailed {
        /// The job's name.
        job: String,
        /// The subtask that failed first, e.g. `Flat Map -> Map (2/4)`.
        task: String,
        /// Why.
        #[source]
        cause: TaskError,
    },
    /// More checkpoints failed in a row than `execution.checkpointing.tolerable-failed-checkpoints`
    /// allows, and no restart was left (or allowed).
    #[error("job '{job}' failed: {cause}")]
    CheckpointsFailed {
        /// The job's name.
        job: String,
        /// The threshold and the last failure.
        #[source]
        cause: TooManyFailedCheckpoints,
    },
    /// The job was cancelled before it finished.
    #[error("job '{job}' was cancelled")]
    JobCancelled {
        /// The job's name.
        job: String,
    },
    /// A savepoint could not be taken; the job goes on.
    #[error("savepoint failed: {0}")]
    SavepointFailed(#[source] CheckpointFailure),
    /// The job cannot do what was asked in the state it is in (it ended, or restarts).
    #[error("job '{job}' {state}")]
    JobNotRunning {
        /// The job's name.
        job: String,
        /// Where it is: `has ended`, `is restarting`.
        state: &'static str,
    },
    /// State to start from cannot be used.
    #[error(transparent)]
    Restore(Box<RestoreError>),
    /// Checkpoint storage cannot be opened.
    #[error("{setting}: {source}")]
    Storage {
        /// The setting naming the storage (`execution.checkpointing.dir`, a savepoint
        /// directory).
        setting: String,
        /// Why.
        #[source]
        source: Box<StorageError>,
    },
    /// The process was started in a role this build cannot play.
    #[error("{0}")]
    Unsupported(String),
    /// A broken invariant of Spate itself (a thread of the job panicked).
    #[error("internal error: {0}")]
    Internal(String),
    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl From<RestoreError> for Error {
    fn from(e: RestoreError) -> Self {
        Error::Restore(Box::new(e))
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
