//! Writing a [`KeyGroupTable`] into a checkpoint and reading it back, key group by key
//! group, for the operators that keep their values in a table of their own (reduce,
//! aggregate, window contents).

use serde::Serialize;
use serde::de::DeserializeOwned;
use spate_core::key_group::KeyGroupAssigner;
use spate_core::{CoreError, Key, KeyHasher, codec};

use super::{KeyGroupTable, StateError};
use crate::checkpoint::{OperatorSnapshot, RestoredState, Verification};

impl<K: Key, V: Serialize + DeserializeOwned> KeyGroupTable<K, V> {
    /// Writes every non-empty key group as part `part`, decoding back what
    /// `out.verification` asks for (everything, or the first entry of each group).
    pub fn snapshot_into(&self, part: &str, out: &mut OperatorSnapshot) -> Result<(), StateError> {
        let in_part = |cause: CoreError| StateError::Snapshot {
            state: Box::new(part.to_string()),
            cause: Box::new(cause.into()),
        };
        for group in self.range().iter() {
            if self.group_len(group) == 0 {
                continue;
            }
            let entries: Vec<(&K, &V)> = self.iter_group(group)?.collect();
            let bytes = codec::encode(&entries).map_err(in_part)?;
            match out.verification {
                Verification::Every => codec::verify::<Vec<(K, V)>>(&bytes).map_err(in_part)?,
                Verification::Sample => {
                    let first = codec::encode(&entries[..1]).map_err(in_part)?;
                    codec::verify::<Vec<(K, V)>>(&first).map_err(in_part)?;
                }
            }
            out.add_keyed(group, part, bytes);
        }
        Ok(())
    }

    /// Inserts the entries of part `part` of the key groups this table covers; checks
    /// that each key belongs to the key group it was stored under (it does not when the
    /// max parallelism changed).
    pub fn restore_from(
        &mut self,
        part: &str,
        restored: &RestoredState,
        max_parallelism: u32,
    ) -> Result<(), StateError> {
        let mut hasher = KeyHasher::new();
        let groups = KeyGroupAssigner::new(max_parallelism);
        for (group, bytes) in restored.keyed_parts(part) {
            let entries: Vec<(K, V)> = codec::decode(bytes)?;
            self.reserve_group(group, entries.len())?;
            for (key, value) in entries {
                let hash = hasher.hash(&key)?;
                check_group(groups.key_group(hash), group)?;
                self.insert(group, hash, key, value)?;
            }
        }
        Ok(())
    }
}

/// Fails when a key stored under `stored` belongs to key group `actual`.
pub(crate) fn check_group(actual: u32, stored: u32) -> Result<(), StateError> {
    if actual != stored {
        return Err(StateError::Restore(Box::new(format!(
            "a key of key group {actual} was stored in key group {stored}: the max parallelism of the operator \
             differs from the one its state was written with"
        ))));
    }
    Ok(())
}
