//! How a task fails.

use spate_core::{BoxError, CoreError, Unrecoverable};

use crate::state::StateError;
use thiserror::Error;

/// Why a task stopped before finishing.
#[derive(Debug, Error)]
pub enum TaskError {
    /// A user function (or a source or sink) returned an error.
    #[error("operator '{operator}' failed: {cause}")]
    Operator {
        /// The operator's name.
        operator: String,
        /// The error it returned.
        #[source]
        cause: BoxError,
    },
    /// A user function panicked.
    #[error("operator '{operator}' panicked: {message}")]
    Panic {
        /// The operator's name.
        operator: String,
        /// The panic message.
        message: String,
    },
    /// The task was cancelled (by the user, or because another task failed).
    #[error("task was cancelled")]
    Cancelled,
    /// A peer task went away without finishing its stream: a consequence of another
    /// failure, never a root cause.
    #[error("{0}")]
    PeerGone(String),
    /// A connection of the data plane to another worker broke (that worker died, or
    /// sent what does not decode): a root cause, which a restart may cure.
    #[error("{0}")]
    Connection(String),
    /// A broken invariant of the runtime itself.
    #[error("internal error: {0}")]
    Internal(String),
    /// A subtask of another process failed (or its process ended): its error as it
    /// crossed the link, with what it said of itself.
    #[error("{0}")]
    Remote(crate::worker_link::RemoteTaskError),
}

impl TaskError {
    /// Whether this error only follows from another task's failure or a cancellation,
    /// so that the job reports the other, original error.
    pub fn is_consequence(&self) -> bool {
        match self {
            TaskError::Cancelled | TaskError::PeerGone(_) => true,
            TaskError::Remote(remote) => remote.consequence,
            _ => false,
        }
    }

    /// Whether this is a broken connection to another worker (here or in another
    /// process): a root cause that the peer's own failure explains better.
    pub fn is_connection(&self) -> bool {
        match self {
            TaskError::Connection(_) => true,
            TaskError::Remote(remote) => remote.connection,
            _ => false,
        }
    }

    /// Whether restarting the job could help. It cannot when the cause (or anything it
    /// wraps) is marked [`Unrecoverable`], or is an error that the same checkpoint and
    /// input reproduce: state that cannot be decoded, state declared inconsistently,
    /// a pipeline that cannot run. The job master then fails the job at once.
    pub fn is_recoverable(&self) -> bool {
        match self {
            TaskError::Operator { cause, .. } => {
                let mut next: Option<&(dyn std::error::Error + 'static)> = Some(cause.as_ref());
                while let Some(error) = next {
                    if error.is::<Unrecoverable>()
                        || error.downcast_ref::<StateError>().is_some_and(StateError::is_deterministic)
                        || error.downcast_ref::<CoreError>().is_some_and(CoreError::is_deterministic)
                    {
                        return false;
                    }
                    next = error.source();
                }
                true
            }
            TaskError::Remote(remote) => remote.recoverable,
            TaskError::Internal(_)
            | TaskError::Panic { .. }
            | TaskError::Cancelled
            | TaskError::PeerGone(_)
            | TaskError::Connection(_) => true,
        }
    }
}

/// Runs user code for `operator`, turning an `Err` or a panic into a [`TaskError`] that
/// names the operator.
///
/// `catch_unwind` costs nothing on the path that does not panic, so it wraps every call
/// into user code at batch granularity.
#[inline]
pub fn guard<R>(operator: &str, f: impl FnOnce() -> Result<R, BoxError>) -> Result<R, TaskError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(cause)) => Err(TaskError::Operator { operator: operator.to_string(), cause }),
        Err(payload) => Err(TaskError::Panic { operator: operator.to_string(), message: panic_message(&*payload) }),
    }
}

/// The message of a panic payload (`&str` or `String`; anything else is described).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_a_restart_cannot_fix_are_told_apart() {
        let failed = |cause: BoxError| TaskError::Operator { operator: "op".into(), cause };
        assert!(failed("connection refused".into()).is_recoverable());
        assert!(!failed(Box::new(Unrecoverable::new("the pending file is gone"))).is_recoverable());
        let decode = CoreError::Decode { type_name: "u64", reason: "unexpected end".into() };
        assert!(!failed(Box::new(StateError::from(decode))).is_recoverable());
        assert!(!failed(Box::new(StateError::Restore(Box::new("bad".into())))).is_recoverable());
        assert!(failed(Box::new(StateError::KeyGroupFull { keys: 1 })).is_recoverable());
        let round_trip = CoreError::RoundTrip { type_name: "E", reason: "any".into() };
        assert!(!failed(Box::new(round_trip)).is_recoverable());
        assert!(TaskError::Panic { operator: "op".into(), message: "boom".into() }.is_recoverable());
    }

    #[test]
    fn guard_names_the_operator() {
        let e = guard::<()>("tokenizer", || Err("bad line".into())).unwrap_err();
        assert_eq!(e.to_string(), "operator 'tokenizer' failed: bad line");
        let e = guard::<()>("tokenizer", || panic!("boom {}", 7)).unwrap_err();
        assert_eq!(e.to_string(), "operator 'tokenizer' panicked: boom 7");
        assert_eq!(guard("x", || Ok(3)).unwrap(), 3);
    }
}
