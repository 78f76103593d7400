//! How a task fails.

use spate_core::BoxError;
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
    /// A broken invariant of the runtime itself.
    #[error("internal error: {0}")]
    Internal(String),
}

impl TaskError {
    /// Whether this error only follows from another task's failure or a cancellation,
    /// so that the job reports the other, original error.
    pub fn is_consequence(&self) -> bool {
        matches!(self, TaskError::Cancelled | TaskError::PeerGone(_))
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
    fn guard_names_the_operator() {
        let e = guard::<()>("tokenizer", || Err("bad line".into())).unwrap_err();
        assert_eq!(e.to_string(), "operator 'tokenizer' failed: bad line");
        let e = guard::<()>("tokenizer", || panic!("boom {}", 7)).unwrap_err();
        assert_eq!(e.to_string(), "operator 'tokenizer' panicked: boom 7");
        assert_eq!(guard("x", || Ok(3)).unwrap(), 3);
    }
}
