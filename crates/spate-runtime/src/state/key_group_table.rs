//! A hash table per key group, for one piece of keyed state.

use hashbrown::HashTable;
use hashbrown::hash_table::Entry as TableEntry;
use spate_core::key::stable_key_hash;
use spate_core::{Key, KeyGroupRange};

use super::StateError;

/// Key and value, nothing else: state tables are large, and every byte of an entry
/// decides how much of the table stays in cache.
struct Entry<K, V> {
    key: K,
    value: V,
}

/// The hash of an entry when the table grows. It is the same stable hash the caller
/// passed in when inserting, recomputed: growth is rare, lookups are not. (A key that
/// could be hashed once can be hashed again, so the fallback is never taken.)
#[inline]
fn rehash<K: Key, V>(entry: &Entry<K, V>) -> u64 {
    stable_key_hash(&entry.key).unwrap_or_default()
}

/// Values of type `V` per key `K`, split by key group.
///
/// Lookups take the key's stable hash and key group, which the keyed operator has
/// already computed to route the record, so a key is hashed once per record.
pub struct KeyGroupTable<K, V> {
    range: KeyGroupRange,
    groups: Vec<HashTable<Entry<K, V>>>,
    len: usize,
}

impl<K: Key, V> KeyGroupTable<K, V> {
    /// An empty table for the key groups of `range`.
    pub fn new(range: KeyGroupRange) -> Self {
        KeyGroupTable { range, groups: (0..range.len()).map(|_| HashTable::new()).collect(), len: 0 }
    }

    /// The key groups this table covers.
    pub fn range(&self) -> KeyGroupRange {
        self.range
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no key has a value.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn index(&self, key_group: u32) -> Result<usize, StateError> {
        if self.range.contains(key_group) {
            Ok((key_group - self.range.start) as usize)
        } else {
            Err(StateError::KeyGroupOutOfRange { key_group, range: self.range })
        }
    }

    /// The value of `key`.
    #[inline]
    pub fn get(&self, key_group: u32, hash: u64, key: &K) -> Result<Option<&V>, StateError> {
        let i = self.index(key_group)?;
        Ok(self.groups[i].find(hash, |e| e.key == *key).map(|e| &e.value))
    }

    /// Looks `key` up without using the result, to bring its slot into cache: a batch
    /// first touches the slots of all its keys in a tight loop, so that their cache
    /// misses overlap, and then updates them.
    #[inline]
    pub fn touch(&self, key_group: u32, hash: u64, key: &K) {
        if let Ok(i) = self.index(key_group) {
            std::hint::black_box(self.groups[i].find(hash, |e| e.key == *key).is_some());
        }
    }

    /// The value of `key`, mutably.
    #[inline]
    pub fn get_mut(&mut self, key_group: u32, hash: u64, key: &K) -> Result<Option<&mut V>, StateError> {
        let i = self.index(key_group)?;
        Ok(self.groups[i].find_mut(hash, |e| e.key == *key).map(|e| &mut e.value))
    }

    /// The value of `key`, inserting `default()` first if there is none. The key is
    /// moved into the table only when it is new.
    #[inline]
    pub fn get_or_insert_with(
        &mut self,
        key_group: u32,
        hash: u64,
        key: K,
        default: impl FnOnce() -> V,
    ) -> Result<&mut V, StateError> {
        let i = self.index(key_group)?;
        match self.groups[i].entry(hash, |e| e.key == key, rehash) {
            TableEntry::Occupied(o) => Ok(&mut o.into_mut().value),
            TableEntry::Vacant(v) => {
                self.len += 1;
                Ok(&mut v.insert(Entry { key, value: default() }).into_mut().value)
            }
        }
    }

    /// Replaces the value of `key` with `update(previous)`, moving the previous value
    /// out (so `update` may consume it) and the new one in. If `update` fails, the key
    /// has no value afterwards.
    #[inline]
    pub fn upsert<E: From<StateError>>(
        &mut self,
        key_group: u32,
        hash: u64,
        key: K,
        update: impl FnOnce(Option<V>) -> Result<V, E>,
    ) -> Result<&mut V, E> {
        let i = self.index(key_group)?;
        match self.groups[i].find_entry(hash, |e| e.key == key) {
            Ok(occupied) => {
                let (entry, vacant) = occupied.remove();
                match update(Some(entry.value)) {
                    Ok(value) => Ok(&mut vacant.insert(Entry { key: entry.key, value }).into_mut().value),
                    Err(e) => {
                        self.len -= 1;
                        Err(e)
                    }
                }
            }
            Err(absent) => {
                let value = update(None)?;
                self.len += 1;
                let table = absent.into_table();
                Ok(&mut table.insert_unique(hash, Entry { key, value }, rehash).into_mut().value)
            }
        }
    }

    /// Sets the value of `key`, returning the previous one.
    pub fn insert(&mut self, key_group: u32, hash: u64, key: K, value: V) -> Result<Option<V>, StateError> {
        let i = self.index(key_group)?;
        match self.groups[i].entry(hash, |e| e.key == key, rehash) {
            TableEntry::Occupied(mut o) => Ok(Some(std::mem::replace(&mut o.get_mut().value, value))),
            TableEntry::Vacant(v) => {
                self.len += 1;
                v.insert(Entry { key, value });
                Ok(None)
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key_group: u32, hash: u64, key: &K) -> Result<Option<V>, StateError> {
        let i = self.index(key_group)?;
        match self.groups[i].find_entry(hash, |e| e.key == *key) {
            Ok(entry) => {
                self.len -= 1;
                Ok(Some(entry.remove().0.value))
            }
            Err(_) => Ok(None),
        }
    }

    /// The keys and values of one key group, in no particular order.
    pub fn iter_group(&self, key_group: u32) -> Result<impl Iterator<Item = (&K, &V)>, StateError> {
        let i = self.index(key_group)?;
        Ok(self.groups[i].iter().map(|e| (&e.key, &e.value)))
    }

    /// Removes and returns the keys and values of one key group.
    pub fn drain_group(&mut self, key_group: u32) -> Result<impl Iterator<Item = (K, V)> + '_, StateError> {
        let i = self.index(key_group)?;
        self.len -= self.groups[i].len();
        Ok(self.groups[i].drain().map(|e| (e.key, e.value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spate_core::KeyHasher;
    use spate_core::key_group::key_group_for_hash;

    fn place(key: &str) -> (u32, u64) {
        let hash = KeyHasher::new().hash(&key.to_string()).unwrap();
        (key_group_for_hash(hash, 8), hash)
    }

    #[test]
    fn keys_are_independent_and_grouped() {
        let mut t = KeyGroupTable::<String, u32>::new(KeyGroupRange { start: 0, end: 8 });
        // Grows many times: every entry must be found again after each growth.
        let words: Vec<String> = (0..500).map(|i| format!("w{i}")).collect();
        for (i, w) in words.iter().enumerate() {
            let (g, h) = place(w);
            *t.get_or_insert_with(g, h, w.clone(), || 0).unwrap() += i as u32;
            *t.get_or_insert_with(g, h, w.clone(), || 0).unwrap() += 1;
        }
        assert_eq!(t.len(), 500);
        for (i, w) in words.iter().enumerate() {
            let (g, h) = place(w);
            assert_eq!(t.get(g, h, w).unwrap(), Some(&(i as u32 + 1)));
        }
        let (g, h) = place("w7");
        assert_eq!(t.remove(g, h, &"w7".to_string()).unwrap(), Some(8));
        assert_eq!(t.get(g, h, &"w7".to_string()).unwrap(), None);
        assert_eq!(t.insert(g, h, "w7".into(), 1).unwrap(), None);
        assert_eq!(t.insert(g, h, "w7".into(), 2).unwrap(), Some(1));
        let (g, h) = place("w9");
        let doubled = t.upsert::<StateError>(g, h, "w9".into(), |old| Ok(old.unwrap() * 2)).unwrap();
        assert_eq!(*doubled, 20);
        let (g, h) = place("new");
        assert_eq!(*t.upsert::<StateError>(g, h, "new".into(), |old| Ok(old.map_or(5, |v| v + 1))).unwrap(), 5);
        assert_eq!(t.len(), 501);
        let failed: Result<_, spate_core::BoxError> = t.upsert(g, h, "new".into(), |_| Err("no".into()));
        assert!(failed.is_err());
        assert_eq!(t.get(g, h, &"new".to_string()).unwrap(), None, "a failed update leaves no value");
        let total: usize = (0..8).map(|g| t.drain_group(g).unwrap().count()).sum();
        assert_eq!(total, 500);
        assert!(t.is_empty());
    }

    #[test]
    fn foreign_key_groups_are_an_error() {
        let mut t = KeyGroupTable::<u64, u64>::new(KeyGroupRange { start: 4, end: 8 });
        let err = t.get_or_insert_with(2, 0, 1, || 0).unwrap_err();
        assert!(err.to_string().contains("key group 2 is not owned"), "{err}");
    }
}
