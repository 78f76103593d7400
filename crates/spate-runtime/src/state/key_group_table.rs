//! A hash table per key group, for one piece of keyed state.

use hashbrown::HashTable;
use hashbrown::hash_table::{Entry as TableEntry, OccupiedEntry};
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
/// already computed to route the record, so a key is hashed once per record; and they
/// take the key by reference, so a key is copied only when it enters the table.
pub struct KeyGroupTable<K, V> {
    range: KeyGroupRange,
    groups: Vec<HashTable<Entry<K, V>>>,
}

/// The result of [`KeyGroupTable::lookup`].
pub enum Lookup<'t, K, V> {
    /// The key has a value.
    Found(Found<'t, K, V>),
    /// The key has no value; the place to insert one.
    Missing(Missing<'t, K, V>),
}

/// A key's entry, found.
pub struct Found<'t, K, V>(OccupiedEntry<'t, Entry<K, V>>);

/// Where a missing key goes.
pub struct Missing<'t, K, V> {
    table: &'t mut HashTable<Entry<K, V>>,
    hash: u64,
}

impl<'t, K: Key, V> Found<'t, K, V> {
    /// The value, in place.
    #[inline]
    pub fn into_mut(self) -> &'t mut V {
        &mut self.0.into_mut().value
    }

    /// Replaces the value with `update(value)`, moving it out so that `update` may
    /// consume it. If `update` fails, the key has no value afterwards.
    #[inline]
    pub fn replace_with<E>(self, update: impl FnOnce(V) -> Result<V, E>) -> Result<&'t mut V, E> {
        let (entry, vacant) = self.0.remove();
        let value = update(entry.value)?;
        Ok(&mut vacant.insert(Entry { key: entry.key, value }).into_mut().value)
    }

    /// Removes the key, returning its value.
    pub fn remove(self) -> V {
        self.0.remove().0.value
    }

    /// The stored key and its value.
    #[inline]
    pub fn into_key_value(self) -> (&'t K, &'t mut V) {
        let entry = self.0.into_mut();
        (&entry.key, &mut entry.value)
    }
}

impl<'t, K: Key, V> Missing<'t, K, V> {
    /// Inserts the key (which must equal the one looked up) with `value`.
    #[inline]
    pub fn insert(self, key: K, value: V) -> &'t mut V {
        self.insert_key_value(key, value).1
    }

    /// Inserts the key with `value`, returning both as stored.
    #[inline]
    pub fn insert_key_value(self, key: K, value: V) -> (&'t K, &'t mut V) {
        let entry = self.table.insert_unique(self.hash, Entry { key, value }, rehash).into_mut();
        (&entry.key, &mut entry.value)
    }
}

impl<K: Key, V> KeyGroupTable<K, V> {
    /// An empty table for the key groups of `range`.
    pub fn new(range: KeyGroupRange) -> Self {
        KeyGroupTable { range, groups: (0..range.len()).map(|_| HashTable::new()).collect() }
    }

    /// The key groups this table covers.
    pub fn range(&self) -> KeyGroupRange {
        self.range
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.groups.iter().map(HashTable::len).sum()
    }

    /// Whether no key has a value.
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(HashTable::is_empty)
    }

    #[inline]
    fn index(&self, key_group: u32) -> Result<usize, StateError> {
        if self.range.contains(key_group) {
            Ok((key_group - self.range.start) as usize)
        } else {
            Err(StateError::KeyGroupOutOfRange { key_group, range: self.range })
        }
    }

    /// Looks `key` up without using the result, to bring its slot into cache (see
    /// [`KeyedLookahead`](super::KeyedLookahead)).
    #[inline]
    pub fn touch(&self, key_group: u32, hash: u64, key: &K) {
        if let Ok(i) = self.index(key_group) {
            std::hint::black_box(self.groups[i].find(hash, |e| e.key == *key).is_some());
        }
    }

    /// Finds `key`: its entry, or the place to insert it.
    #[inline]
    pub fn lookup(&mut self, key_group: u32, hash: u64, key: &K) -> Result<Lookup<'_, K, V>, StateError> {
        let i = self.index(key_group)?;
        Ok(match self.groups[i].find_entry(hash, |e| e.key == *key) {
            Ok(found) => Lookup::Found(Found(found)),
            Err(absent) => Lookup::Missing(Missing { table: absent.into_table(), hash }),
        })
    }

    /// The value of `key`.
    #[inline]
    pub fn get(&self, key_group: u32, hash: u64, key: &K) -> Result<Option<&V>, StateError> {
        let i = self.index(key_group)?;
        Ok(self.groups[i].find(hash, |e| e.key == *key).map(|e| &e.value))
    }

    /// The value of `key`, mutably.
    #[inline]
    pub fn get_mut(&mut self, key_group: u32, hash: u64, key: &K) -> Result<Option<&mut V>, StateError> {
        let i = self.index(key_group)?;
        Ok(self.groups[i].find_mut(hash, |e| e.key == *key).map(|e| &mut e.value))
    }

    /// Sets the value of `key`, returning the previous one.
    pub fn insert(&mut self, key_group: u32, hash: u64, key: K, value: V) -> Result<Option<V>, StateError> {
        let i = self.index(key_group)?;
        match self.groups[i].entry(hash, |e| e.key == key, rehash) {
            TableEntry::Occupied(mut o) => Ok(Some(std::mem::replace(&mut o.get_mut().value, value))),
            TableEntry::Vacant(v) => {
                v.insert(Entry { key, value });
                Ok(None)
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key_group: u32, hash: u64, key: &K) -> Result<Option<V>, StateError> {
        Ok(match self.lookup(key_group, hash, key)? {
            Lookup::Found(found) => Some(found.remove()),
            Lookup::Missing(_) => None,
        })
    }

    /// The key whose value satisfies `matches` among the keys with stable hash `hash`.
    pub fn key_where(&self, key_group: u32, hash: u64, matches: impl Fn(&V) -> bool) -> Option<&K> {
        let i = self.index(key_group).ok()?;
        self.groups[i].find(hash, |e| matches(&e.value)).map(|e| &e.key)
    }

    /// Removes the entry whose value satisfies `matches` among the keys with stable hash
    /// `hash`; returns its key.
    pub fn remove_where(&mut self, key_group: u32, hash: u64, matches: impl Fn(&V) -> bool) -> Option<K> {
        let i = self.index(key_group).ok()?;
        self.groups[i].find_entry(hash, |e| matches(&e.value)).ok().map(|found| found.remove().0.key)
    }

    /// The keys and values of one key group, in no particular order.
    pub fn iter_group(&self, key_group: u32) -> Result<impl Iterator<Item = (&K, &V)>, StateError> {
        let i = self.index(key_group)?;
        Ok(self.groups[i].iter().map(|e| (&e.key, &e.value)))
    }

    /// Removes and returns the keys and values of one key group.
    pub fn drain_group(&mut self, key_group: u32) -> Result<impl Iterator<Item = (K, V)> + '_, StateError> {
        let i = self.index(key_group)?;
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

    fn add(t: &mut KeyGroupTable<String, u32>, key: &str, n: u32) -> u32 {
        let (g, h) = place(key);
        match t.lookup(g, h, &key.to_string()).unwrap() {
            Lookup::Found(found) => {
                let v = found.into_mut();
                *v += n;
                *v
            }
            Lookup::Missing(missing) => *missing.insert(key.to_string(), n),
        }
    }

    #[test]
    fn keys_are_independent_and_grouped() {
        let mut t = KeyGroupTable::<String, u32>::new(KeyGroupRange { start: 0, end: 8 });
        // Grows many times: every entry must be found again after each growth.
        let words: Vec<String> = (0..500).map(|i| format!("w{i}")).collect();
        for (i, w) in words.iter().enumerate() {
            assert_eq!(add(&mut t, w, i as u32), i as u32);
            assert_eq!(add(&mut t, w, 1), i as u32 + 1);
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
        let Lookup::Found(found) = t.lookup(g, h, &"w9".to_string()).unwrap() else { panic!("w9 is there") };
        assert_eq!(*found.replace_with::<()>(|v| Ok(v * 2)).unwrap(), 20);
        let Lookup::Found(found) = t.lookup(g, h, &"w9".to_string()).unwrap() else { panic!("w9 is there") };
        assert!(found.replace_with(|_| Err("no")).is_err());
        assert_eq!(t.get(g, h, &"w9".to_string()).unwrap(), None, "a failed update leaves no value");
        assert_eq!(t.len(), 499);
        let total: usize = (0..8).map(|g| t.drain_group(g).unwrap().count()).sum();
        assert_eq!(total, 499);
        assert!(t.is_empty());
    }

    #[test]
    fn foreign_key_groups_are_an_error() {
        let mut t = KeyGroupTable::<u64, u64>::new(KeyGroupRange { start: 4, end: 8 });
        let err = t.lookup(2, 0, &1).err().unwrap();
        assert!(err.to_string().contains("key group 2 is not owned"), "{err}");
    }
}
