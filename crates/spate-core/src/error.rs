//! Errors of the foundation layer.

use thiserror::Error;

/// An error from user code or from any layer, carried across threads.
///
/// User functions return it so that `?` works on any error type, the way Flink's user
/// functions may throw any exception.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of `spate-core`: configuration, graphs and key handling.
#[derive(Debug, Error)]
pub enum CoreError {
    /// A configuration value could not be parsed or is out of range.
    #[error("invalid value '{value}' for configuration key '{key}': {reason}")]
    InvalidConfigValue {
        /// The configuration key, in Flink's naming (`parallelism.default`).
        key: String,
        /// The value as given.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// The configuration file could not be read or parsed.
    #[error("configuration file {path}: {reason}")]
    ConfigFile {
        /// The file.
        path: String,
        /// What is wrong, with the line number where known.
        reason: String,
    },
    /// A key could not be serialized for hashing.
    #[error("key cannot be serialized for hashing: {0}")]
    KeySerialization(String),
    /// State could not be encoded or decoded.
    #[error("{0}")]
    Codec(String),
}
