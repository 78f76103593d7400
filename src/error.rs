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
