//! Spate's foundation layer: what every other crate agrees on.
//!
//! - [`record`]: the bound on record types and the timestamped envelope records travel in;
//! - [`key`] and [`key_group`]: the stable key hash and Flink's key-group arithmetic, which
//!   must give the same answer in every process, run and version;
//! - [`job_graph`]: the serializable description of a job, shipped between processes;
//! - [`config`]: configuration keys in Flink's names, parsed and validated in one place;
//! - [`codec`]: the binary encoding of state in snapshots.
//!
//! Nothing here runs anything; the runtime and the API build on it.

pub mod codec;
pub mod config;
pub mod determinism;
pub mod error;
pub mod job_graph;
pub mod job_id;
pub mod key;
pub mod key_group;
pub mod launch;
pub mod record;

pub use error::{BoxError, CoreError, Unrecoverable};
pub use key::{Key, KeyHasher};
pub use key_group::KeyGroupRange;
pub use record::{Data, NO_TIMESTAMP, StateValue, StreamRecord, Timestamp};
