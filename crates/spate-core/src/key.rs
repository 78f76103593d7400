//! Keys and the hash that places them.
//!
//! A key's hash decides which subtask owns its state, in every process of a job and in
//! every later run that restores that state. It must therefore never change: it is
//! **xxh3-64 of the key's bincode encoding in bincode's legacy configuration**
//! (little-endian fixed-width integers, `u64` length prefixes), both of which are fixed
//! formats. `std`'s hasher is randomly seeded per process and may change between Rust
//! versions, so it is never used for placement.

use std::hash::Hash;

use serde::Serialize;

use crate::CoreError;
use crate::record::Data;

/// The bound on key types: records that can also be compared and hashed in memory.
pub trait Key: Data + Eq + Hash {}

impl<T: Data + Eq + Hash> Key for T {}

/// The stable 64-bit hash of raw bytes (xxh3-64), for ids that must not change
/// between processes, runs and versions.
#[inline]
pub fn stable_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// Computes the stable hash of keys, reusing one scratch buffer so that hashing a key
/// allocates nothing once the buffer has grown to the largest key seen.
#[derive(Debug, Default)]
pub struct KeyHasher {
    scratch: Vec<u8>,
}

impl KeyHasher {
    /// A hasher with an empty scratch buffer.
    pub fn new() -> Self {
        KeyHasher { scratch: Vec::with_capacity(64) }
    }

    /// The stable 64-bit hash of `key`.
    ///
    /// Fails only for a key whose `Serialize` implementation fails or cannot be encoded
    /// (for example a sequence of unknown length).
    #[inline]
    pub fn hash<K: Serialize + ?Sized>(&mut self, key: &K) -> Result<u64, CoreError> {
        self.scratch.clear();
        bincode::serde::encode_into_std_write(key, &mut self.scratch, bincode::config::legacy())
            .map_err(|e| CoreError::KeySerialization(e.to_string()))?;
        Ok(stable_hash(&self.scratch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// These values are a compatibility promise: state written by one version is found
    /// by the next only if they never change.
    #[test]
    fn hash_is_fixed_across_versions() {
        let mut h = KeyHasher::new();
        assert_eq!(h.hash(&42u64).unwrap(), xxhash_rust::xxh3::xxh3_64(&42u64.to_le_bytes()));
        let mut word = Vec::new();
        word.extend_from_slice(&5u64.to_le_bytes());
        word.extend_from_slice(b"hello");
        assert_eq!(h.hash("hello").unwrap(), xxhash_rust::xxh3::xxh3_64(&word));
        assert_eq!(h.hash(&"hello".to_string()).unwrap(), h.hash("hello").unwrap());
    }

    /// The literal values, written down once when the format was chosen.
    const PINNED_42: u64 = 0xd5a6_f8c8_38df_27c8;
    const PINNED_HELLO: u64 = 0x7d21_8dad_acd5_1137;

    #[test]
    fn hash_literals_never_change() {
        let mut h = KeyHasher::new();
        assert_eq!(h.hash(&42u64).unwrap(), PINNED_42);
        assert_eq!(h.hash("hello").unwrap(), PINNED_HELLO);
    }

    #[test]
    fn tuples_hash_as_their_fields_in_order() {
        let mut h = KeyHasher::new();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&7u32.to_le_bytes());
        bytes.extend_from_slice(&2u64.to_le_bytes());
        bytes.extend_from_slice(b"ab");
        assert_eq!(h.hash(&(7u32, "ab")).unwrap(), xxhash_rust::xxh3::xxh3_64(&bytes));
        assert_ne!(h.hash(&(1u8, 2u8)).unwrap(), h.hash(&(2u8, 1u8)).unwrap());
    }
}
