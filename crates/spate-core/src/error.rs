//! Errors of the foundation layer.

use thiserror::Error;

use crate::config::yaml::YamlError;

/// An error from user code or from any layer, carried across threads.
///
/// User functions return it so that `?` works on any error type, the way Flink's user
/// functions may throw any exception.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error that restarting the job cannot fix (Flink's `SuppressRestartsException`).
///
/// Returned from a user function, a source or a sink (wrapping the real cause), it
/// fails the job at once with that cause, instead of going through the restart strategy
/// to fail the same way again after every backoff: a file that a committed checkpoint
/// needs is gone, a configuration is wrong, input is rejected for good.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct Unrecoverable(pub BoxError);

impl Unrecoverable {
    /// Marks `cause` as one that a restart cannot fix.
    pub fn new(cause: impl Into<BoxError>) -> Self {
        Unrecoverable(cause.into())
    }
}

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
        reason: crate::config::InvalidValue,
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
    /// A value could not be encoded (for a snapshot, or to cross a process).
    #[error("cannot encode a value of type {type_name}: {reason}")]
    Encode {
        /// The Rust type, as `std::any::type_name` gives it.
        type_name: &'static str,
        /// What the encoder said.
        reason: String,
    },
    /// Bytes could not be decoded as a value of the type expected.
    #[error("cannot decode a value of type {type_name}: {reason}")]
    Decode {
        /// The Rust type expected.
        type_name: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// A value encodes, but its encoding does not decode back: it would be lost on
    /// restore. Found when the value is written, so that the checkpoint or savepoint
    /// fails instead of the restore.
    #[error(
        "a value of type {type_name} encodes but does not decode back ({reason}): Spate's binary encoding \
         is not self-describing, so serde features that need that (untagged or internally tagged enums, \
         flatten, serde_json::Value, deserialize_any) do not work in state or on records that cross a process"
    )]
    RoundTrip {
        /// The Rust type.
        type_name: &'static str,
        /// What the decoder said.
        reason: String,
    },
}

impl CoreError {
    /// Whether the same input would fail the same way again: bytes that do not decode,
    /// a type that cannot round-trip, a key that cannot be hashed.
    pub fn is_deterministic(&self) -> bool {
        matches!(self, CoreError::Decode { .. } | CoreError::RoundTrip { .. } | CoreError::KeySerialization(_))
    }
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
