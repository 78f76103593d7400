//! The keys of a keyed operator and the slots of their state.

use spate_core::{Key, KeyGroupRange};

use super::StateError;
use super::key_group_table::{KeyGroupTable, Lookup};

/// Maps each key that holds state to a slot: the index of its values in every piece of
/// the operator's state. Keys are grouped by key group (for snapshots and rescaling);
/// slots of keys that no longer hold any state are reused.
pub struct KeyDirectory<K> {
    table: KeyGroupTable<K, u32>,
    /// Per slot: the key group and stable hash of its key, to find it again.
    placement: Vec<(u32, u64)>,
    free: Vec<u32>,
}

impl<K: Key> KeyDirectory<K> {
    /// An empty directory for the key groups of `range`.
    pub fn new(range: KeyGroupRange) -> Self {
        KeyDirectory { table: KeyGroupTable::new(range), placement: Vec::new(), free: Vec::new() }
    }

    /// The key groups this directory covers.
    pub fn range(&self) -> KeyGroupRange {
        self.table.range()
    }

    /// The slot of `key`, if it has one.
    #[inline]
    pub fn slot(&self, key_group: u32, hash: u64, key: &K) -> Result<Option<u32>, StateError> {
        Ok(self.table.get(key_group, hash, key)?.copied())
    }

    /// The slot of `key`, the key as stored, and whether it is new: a key without a
    /// slot gets one, and `owned` makes the stored copy of it.
    #[inline]
    pub fn slot_or_insert(
        &mut self,
        key_group: u32,
        hash: u64,
        key: &K,
        owned: impl FnOnce() -> K,
    ) -> Result<(u32, &K, bool), StateError> {
        match self.table.lookup(key_group, hash, key)? {
            Lookup::Found(found) => {
                let (key, slot) = found.into_key_value();
                Ok((*slot, key, false))
            }
            Lookup::Missing(missing) => {
                let slot = allocate(&mut self.free, &mut self.placement, key_group, hash);
                let (key, _) = missing.insert_key_value(owned(), slot)?;
                Ok((slot, key, true))
            }
        }
    }

    /// [`slot_or_insert`](Self::slot_or_insert) for a key the caller owns (dropped if
    /// the key is already known).
    #[inline]
    pub fn slot_or_insert_owned(&mut self, key_group: u32, hash: u64, key: K) -> Result<(u32, &K, bool), StateError> {
        match self.table.lookup(key_group, hash, &key)? {
            Lookup::Found(found) => {
                let (key, slot) = found.into_key_value();
                Ok((*slot, key, false))
            }
            Lookup::Missing(missing) => {
                let slot = allocate(&mut self.free, &mut self.placement, key_group, hash);
                let (key, _) = missing.insert_key_value(key, slot)?;
                Ok((slot, key, true))
            }
        }
    }

    /// The key of `slot`, with its key group and hash.
    pub fn key_of(&self, slot: u32) -> Option<(&K, u32, u64)> {
        let &(key_group, hash) = self.placement.get(slot as usize)?;
        self.table.key_where(key_group, hash, |s| *s == slot).map(|k| (k, key_group, hash))
    }

    /// Forgets the key of `slot` (it holds no state any more) and frees the slot.
    pub fn release(&mut self, slot: u32) {
        if let Some(&(key_group, hash)) = self.placement.get(slot as usize) {
            if self.table.remove_where(key_group, hash, |s| *s == slot).is_some() {
                self.free.push(slot);
            }
        }
    }

    /// Number of keys holding state.
    pub fn len(&self) -> usize {
        self.placement.len() - self.free.len()
    }

    /// Whether no key holds state.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The (key, slot) of one key group.
    pub fn entries_group(&self, key_group: u32) -> impl Iterator<Item = (&K, u32)> {
        self.table.iter_group(key_group).into_iter().flatten().map(|(k, s)| (k, *s))
    }

    /// Every (key, slot), key group by key group.
    pub fn entries(&self) -> impl Iterator<Item = (&K, u32)> {
        let range = self.table.range();
        range.iter().flat_map(move |g| self.table.iter_group(g).into_iter().flatten().map(|(k, s)| (k, *s)))
    }

    /// Starts loading the bucket where the lookup of a key with this hash begins.
    #[inline]
    pub fn prefetch(&self, key_group: u32, hash: u64) {
        self.table.prefetch(key_group, hash);
    }
}

fn allocate(free: &mut Vec<u32>, placement: &mut Vec<(u32, u64)>, key_group: u32, hash: u64) -> u32 {
    match free.pop() {
        Some(slot) => {
            placement[slot as usize] = (key_group, hash);
            slot
        }
        None => {
            placement.push((key_group, hash));
            (placement.len() - 1) as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spate_core::KeyHasher;
    use spate_core::key_group::key_group_for_hash;

    #[test]
    fn slots_are_assigned_found_and_reused() {
        let mut d = KeyDirectory::<String>::new(KeyGroupRange { start: 0, end: 128 });
        let mut hasher = KeyHasher::new();
        let mut place = |k: &str| {
            let h = hasher.hash(&k.to_string()).unwrap();
            (key_group_for_hash(h, 128), h, k.to_string())
        };
        let (ga, ha, a) = place("a");
        let (gb, hb, b) = place("b");
        let (sa, _, new) = d.slot_or_insert(ga, ha, &a, || a.clone()).unwrap();
        assert!(new);
        let (sb, stored, _) = d.slot_or_insert(gb, hb, &b, || b.clone()).unwrap();
        assert_eq!(stored, "b");
        assert_ne!(sa, sb);
        let (again, _, new) = d.slot_or_insert(ga, ha, &a, || unreachable!("a is known")).unwrap();
        assert_eq!((again, new), (sa, false));
        assert_eq!(d.key_of(sb).map(|(k, _, _)| k.as_str()), Some("b"));
        d.release(sa);
        assert_eq!(d.slot(ga, ha, &a).unwrap(), None);
        assert_eq!(d.len(), 1);
        let (gc, hc, c) = place("c");
        assert_eq!(d.slot_or_insert(gc, hc, &c, || c.clone()).unwrap().0, sa, "a freed slot is reused");
        assert_eq!(d.entries().count(), 2);
    }
}
