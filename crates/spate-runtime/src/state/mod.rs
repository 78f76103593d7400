//! Keyed state on the heap: typed values in hash maps, one map per key group.
//!
//! Keeping one map per key group makes every later step a matter of whole maps: a
//! snapshot writes each key group's map on its own, and a rescale hands whole key groups
//! to their new owners.

mod key_group_table;
mod lookahead;

pub use key_group_table::{Found, KeyGroupTable, Lookup, Missing};
pub use lookahead::{KeyedLookahead, LOOKAHEAD, Placed, key_of};

use spate_core::KeyGroupRange;
use thiserror::Error;

/// Errors of state access.
#[derive(Debug, Error)]
pub enum StateError {
    /// A record's key belongs to a key group this subtask does not own. It means the
    /// key selector gave a different key when the record was routed than when it
    /// arrived: key selectors must be deterministic.
    #[error(
        "key group {key_group} is not owned by this subtask (owns {}..{}): the key selector must \
         return the same key for the same record every time",
        range.start,
        range.end
    )]
    KeyGroupOutOfRange {
        /// The key's group.
        key_group: u32,
        /// The groups this subtask owns.
        range: KeyGroupRange,
    },
    /// A placed record lost its key: a bug in the runtime.
    #[error("internal error: a placed record has no key")]
    MissingKey,
}
