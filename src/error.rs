//! Errors of the user-facing API.

use spate_core::CoreError;
use spate_runtime::TaskError;
use thiserror::Error;

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
    /// The job was cancelled before it finished.
    #[error("job '{job}' was cancelled")]
    JobCancelled {
        /// The job's name.
        job: String,
    },
    /// The process was started in a role this build cannot play.
    #[error("{0}")]
    Unsupported(String),
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

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
