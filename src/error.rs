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
    /// A flag the program does not declare (see [`Usage`](crate::Usage)); most often a
    /// typo, which is why the closest declared flag is suggested.
    #[error("unknown parameter {flag}{}", did_you_mean(.suggestion))]
    UnknownParameter {
        /// The flag as written, e.g. `--inptu`.
        flag: String,
        /// The declared flag it most resembles, e.g. `--input`.
        suggestion: Option<String>,
    },
    /// A flag that takes a value was given none: it ended the command line or another
    /// flag followed it. Without this the flag would silently be read as absent.
    #[error("{flag} needs a value")]
    MissingValue {
        /// The flag as written, e.g. `--input` or `-p`.
        flag: String,
    },
    /// A flag that takes no value was given one with `--flag=value`.
    #[error("{flag} takes no value, but was given '{value}'")]
    UnexpectedValue {
        /// The flag as written.
        flag: String,
        /// The value it was given.
        value: String,
    },
    /// A flag that takes one value was given more than once, so which one was meant is
    /// unclear.
    #[error("{flag} was given more than once (it takes one value)")]
    RepeatedParameter {
        /// The flag as written the second time.
        flag: String,
    },
    /// An argument that is neither a flag nor a flag's value: programs take only
    /// `--key value` parameters.
    #[error("unexpected argument '{argument}' ({})", after_hint(.after))]
    UnexpectedArgument {
        /// The argument.
        argument: String,
        /// The flag before it when that flag takes no value (so the argument may have been
        /// meant as its value), e.g. `--plan`.
        after: Option<String>,
    },
    /// `--help` or `-h` was given: not a failure, but the program must print its usage
    /// instead of running, so it stops parsing like an error does. Its message is the
    /// usage text.
    #[error("{usage}")]
    HelpRequested {
        /// The usage text to print.
        usage: String,
    },
    /// The pipeline cannot run as defined.
    #[error("invalid pipeline: {0}")]
    InvalidPipeline(String),
    /// The pipeline cannot be planned into a job.
    #[error("invalid pipeline: {0}")]
    Plan(#[from] crate::graph::planner::PlanError),
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
    /// An accumulator could not be registered or read.
    #[error(transparent)]
    Accumulator(#[from] spate_runtime::accumulator::AccumulatorError),
    /// A detached job's result was asked for what only its run knows.
    #[error("job '{job}' was submitted detached (spate run -d): its results are not known here")]
    Detached {
        /// The job.
        job: String,
    },
    /// The cluster refused a call or could not be reached (client role).
    #[error("cluster: {0}")]
    Cluster(String),
    /// A worker's link to its TaskManager failed.
    #[error("worker: {what}: {source}")]
    WorkerLink {
        /// What was being done.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A worker could not connect to the other workers of its attempt.
    #[error("worker: the data plane: {0}")]
    DataPlane(#[from] spate_runtime::data_plane::DataPlaneError),
    /// `env.side_effect` number `index` could not be recorded or replayed.
    #[error("side effect {index}: {reason}")]
    SideEffect {
        /// Which call of `side_effect` (0 for the first).
        index: usize,
        /// Why.
        reason: String,
    },
    /// A worker's replay of `main` built another job than the first run.
    #[error(transparent)]
    NotDeterministic(#[from] spate_core::determinism::GraphDifference),
    /// The results of an `execute_and_collect` job could not be read.
    #[error("collecting the results of job '{job}': {reason}")]
    Collect {
        /// The job.
        job: String,
        /// Why.
        reason: String,
    },
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

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default()
}

fn after_hint(after: &Option<String>) -> String {
    match after {
        Some(flag) => format!("{flag} takes no value"),
        None => "parameters are written --key value".into(),
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
