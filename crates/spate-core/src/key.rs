//! Keys and the hash that places them.
//!
//! A key's hash decides which subtask owns its state, in every process of a job and in
//! every later run that restores that state. It must therefore never change: it is
//! **xxh3-64 of the key's bincode encoding in bincode's legacy configuration**
//! (little-endian fixed-width integers, `u64` length prefixes), both of which are fixed
//! formats. `std`'s hasher is randomly seeded per process and may change between Rust
//! versions, so it is never used for placement.

use std::any::Any;
use std::cell::RefCell;
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
    /// Integers and strings take a direct path that produces the same bytes as bincode
    /// (the branch is resolved at compile time for each key type); everything else is
    /// encoded through serde. Fails only for a key whose `Serialize` implementation
    /// fails or cannot be encoded (for example a sequence of unknown length).
    #[inline]
    pub fn hash<K: Serialize + 'static>(&mut self, key: &K) -> Result<u64, CoreError> {
        let any: &dyn Any = key;
        macro_rules! direct {
            ($($t:ty),*) => {$(
                if let Some(v) = any.downcast_ref::<$t>() {
                    return Ok(stable_hash(&v.to_le_bytes()));
                }
            )*};
        }
        direct!(u64, i64, u32, i32, u16, i16, u8, i8, u128, i128);
        if let Some(v) = any.downcast_ref::<usize>() {
            return Ok(stable_hash(&(*v as u64).to_le_bytes()));
        }
        if let Some(s) = any.downcast_ref::<String>() {
            self.scratch.clear();
            self.scratch.extend_from_slice(&(s.len() as u64).to_le_bytes());
            self.scratch.extend_from_slice(s.as_bytes());
            return Ok(stable_hash(&self.scratch));
        }
        self.hash_encoded(key)
    }

    /// The stable hash through the general path: bincode's encoding, then xxh3.
    pub fn hash_encoded<K: Serialize + ?Sized>(&mut self, key: &K) -> Result<u64, CoreError> {
        self.scratch.clear();
        bincode::serde::encode_into_std_write(key, &mut self.scratch, bincode::config::legacy())
            .map_err(|e| CoreError::KeySerialization(e.to_string()))?;
        Ok(stable_hash(&self.scratch))
    }
}

/// The stable hash of `key` with a per-thread scratch buffer, for code that cannot keep
/// a [`KeyHasher`] (such as a hash table recomputing hashes while it grows).
pub fn stable_key_hash<K: Serialize + 'static>(key: &K) -> Result<u64, CoreError> {
    thread_local! {
        static HASHER: RefCell<KeyHasher> = RefCell::new(KeyHasher::new());
    }
    HASHER.with(|h| match h.try_borrow_mut() {
        Ok(mut hasher) => hasher.hash(key),
        Err(_) => KeyHasher::new().hash(key),
    })
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
        assert_eq!(h.hash(&"hello".to_string()).unwrap(), xxhash_rust::xxh3::xxh3_64(&word));
        assert_eq!(h.hash_encoded("hello").unwrap(), h.hash(&"hello".to_string()).unwrap());
    }

    /// The literal values, written down once when the format was chosen.
    const PINNED_42: u64 = 0xd5a6_f8c8_38df_27c8;
    const PINNED_HELLO: u64 = 0x7d21_8dad_acd5_1137;

    #[test]
    fn hash_literals_never_change() {
        let mut h = KeyHasher::new();
        assert_eq!(h.hash(&42u64).unwrap(), PINNED_42);
        assert_eq!(h.hash(&"hello".to_string()).unwrap(), PINNED_HELLO);
    }

    /// The direct paths must give exactly what the general (bincode) path gives.
    #[test]
    fn direct_paths_equal_the_encoded_path() {
        let mut h = KeyHasher::new();
        for i in 0..2000u64 {
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(h.hash(&x).unwrap(), h.hash_encoded(&x).unwrap());
            assert_eq!(h.hash(&(x as i64)).unwrap(), h.hash_encoded(&(x as i64)).unwrap());
            assert_eq!(h.hash(&(x as u32)).unwrap(), h.hash_encoded(&(x as u32)).unwrap());
            assert_eq!(h.hash(&(x as i32)).unwrap(), h.hash_encoded(&(x as i32)).unwrap());
            assert_eq!(h.hash(&(x as u16)).unwrap(), h.hash_encoded(&(x as u16)).unwrap());
            assert_eq!(h.hash(&(x as i8)).unwrap(), h.hash_encoded(&(x as i8)).unwrap());
            assert_eq!(h.hash(&(x as usize)).unwrap(), h.hash_encoded(&(x as usize)).unwrap());
            assert_eq!(h.hash(&u128::from(x)).unwrap(), h.hash_encoded(&u128::from(x)).unwrap());
            let s = format!("k{x:x}é");
            assert_eq!(h.hash(&s).unwrap(), h.hash_encoded(&s).unwrap());
        }
        assert_eq!(stable_key_hash(&7u64).unwrap(), h.hash(&7u64).unwrap());
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
        assert_eq!(h.hash(&(7u32, "ab".to_string())).unwrap(), xxhash_rust::xxh3::xxh3_64(&bytes));
    }
}
