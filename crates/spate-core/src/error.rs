//! Errors of the foundation layer.

use thiserror::Error;

use crate::config::yaml::YamlError;

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
    #[error("configuration file {path}: {problem}")]
    ConfigFile {
        /// The file.
        path: String,
        /// What is wrong: it could not be read, or where and how it is malformed.
        problem: ConfigFileError,
    },
    /// A key could not be serialized for hashing.
    #[error("key cannot be serialized for hashing: {0}")]
    KeySerialization(String),
    /// State could not be encoded or decoded.
    #[error("{0}")]
    Codec(String),
}

/// Why a configuration file was refused: kept apart from the path so that callers (and
/// tests) can tell a missing file from a malformed one and find the line and column.
#[derive(Debug, Error)]
pub enum ConfigFileError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("{0}")]
    Read(std::io::Error),
    /// The file is not a valid config file; the error says where (line and column).
    #[error("{0}")]
    Yaml(YamlError),
}
