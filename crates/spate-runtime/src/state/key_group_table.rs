//! A hash table per key group, for one piece of keyed state.
//!
//! Linear probing over one array of buckets, each holding a 32-bit tag from the key's
//! stable hash, the key and the value. A lookup of a key that is in the table usually
//! touches one cache line, and the bucket where its probe starts can be computed from the
//! hash alone, so the keyed operators prefetch it a few records ahead (`lookahead.rs`).
//! (hashbrown, used before, keeps control bytes apart from the entries: two dependent
//! cache misses per lookup, and no address to prefetch.) Removal shifts the following
//! entries back instead of leaving tombstones, so lookups never slow down with churn.

use std::num::NonZeroU32;

use spate_core::{Key, KeyGroupRange};

use super::StateError;
use super::prefetch::prefetch;

/// Tables grow past this load: linear probing gets slow beyond about 3/4.
const MAX_LOAD_NUMERATOR: usize = 3;
const MAX_LOAD_DENOMINATOR: usize = 4;
/// Buckets of a key group's table when its first key arrives.
const INITIAL_BUCKETS: usize = 16;
/// The tag's bit 0 is always set (so a bucket's tag is never zero and an empty bucket
/// costs nothing); bits 1..32 choose the bucket, which caps a table at 2^31 buckets.
const MAX_BUCKETS: usize = 1 << 31;

/// A key's tag: the low 32 bits of its stable hash, never zero. The key group comes from
/// the high 32 bits, so within one key group the tags are still uniform.
#[inline]
fn tag_of(hash: u64) -> NonZeroU32 {
    NonZeroU32::new(hash as u32 | 1).unwrap_or(NonZeroU32::MIN)
}

/// Key, value and tag, nothing else: state tables are large, and every byte of a bucket
/// decides how much of the table stays in cache. The tag doubles as the marker of an
/// occupied bucket (`Option<Bucket>` is no larger than `Bucket`).
struct Bucket<K, V> {
    tag: NonZeroU32,
    key: K,
    value: V,
}

/// The table of one key group.
struct Group<K, V> {
    buckets: Vec<Option<Bucket<K, V>>>,
    len: usize,
}

impl<K, V> Group<K, V> {
    fn new() -> Self {
        Group { buckets: Vec::new(), len: 0 }
    }

    /// The bucket where the probe for `tag` starts (the table must have buckets).
    #[inline]
    fn home(&self, tag: NonZeroU32) -> usize {
        (tag.get() >> 1) as usize & (self.buckets.len() - 1)
    }

    /// The bucket holding the entry with `tag` that satisfies `matches`.
    #[inline]
    fn find(&self, tag: NonZeroU32, matches: impl Fn(&K, &V) -> bool) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.buckets.len() - 1;
        let mut i = self.home(tag);
        // Terminates: the load stays below 1, so some bucket is empty.
        loop {
            match &self.buckets[i] {
                None => return None,
                Some(b) if b.tag == tag && matches(&b.key, &b.value) => return Some(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    #[inline]
    fn prefetch(&self, tag: NonZeroU32) {
        if !self.buckets.is_empty() {
            prefetch(&self.buckets[self.home(tag)]);
        }
    }

    /// Puts a new entry (whose key is not in the table) in the first free bucket from its
    /// home, growing the table first if it would be too full; returns the bucket.
    fn insert_new(&mut self, tag: NonZeroU32, key: K, value: V) -> Result<usize, StateError> {
        if (self.len + 1) * MAX_LOAD_DENOMINATOR > self.buckets.len() * MAX_LOAD_NUMERATOR {
            self.grow()?;
        }
        let i = self.free_bucket(tag);
        self.buckets[i] = Some(Bucket { tag, key, value });
        self.len += 1;
        Ok(i)
    }

    fn free_bucket(&self, tag: NonZeroU32) -> usize {
        let mask = self.buckets.len() - 1;
        let mut i = self.home(tag);
        while self.buckets[i].is_some() {
            i = (i + 1) & mask;
        }
        i
    }

    fn grow(&mut self) -> Result<(), StateError> {
        let buckets = (self.buckets.len() * 2).max(INITIAL_BUCKETS);
        if buckets > MAX_BUCKETS {
            return Err(StateError::KeyGroupFull { keys: self.len });
        }
        let old = std::mem::replace(&mut self.buckets, std::iter::repeat_with(|| None).take(buckets).collect());
        for bucket in old.into_iter().flatten() {
            let i = self.free_bucket(bucket.tag);
            self.buckets[i] = Some(bucket);
        }
        Ok(())
    }

    /// Empties bucket `i`, keeping every other entry reachable from its home.
    fn remove_at(&mut self, i: usize) -> Option<Bucket<K, V>> {
        let removed = self.buckets[i].take()?;
        self.len -= 1;
        self.close_gap(i);
        Some(removed)
    }

    /// Bucket `gap` was just emptied: moves back the entries after it whose probe passes
    /// through it (backward-shift deletion), until an empty bucket ends the run.
    fn close_gap(&mut self, mut gap: usize) {
        let mask = self.buckets.len() - 1;
        let mut j = gap;
        loop {
            j = (j + 1) & mask;
            let Some(bucket) = &self.buckets[j] else { return };
            let from_home = j.wrapping_sub(self.home(bucket.tag)) & mask;
            let from_gap = j.wrapping_sub(gap) & mask;
            if from_home >= from_gap {
                self.buckets[gap] = self.buckets[j].take();
                gap = j;
            }
        }
    }

    fn bucket_mut(&mut self, i: usize) -> Option<&mut Bucket<K, V>> {
        self.buckets.get_mut(i).and_then(Option::as_mut)
    }
}

/// Values of type `V` per key `K`, split by key group.
///
/// Lookups take the key's stable hash and key group, which the keyed operator has
/// already computed to route the record, so a key is hashed once per record (and never
/// again: growing a table moves entries by their tags); and they take the key by
/// reference, so a key is copied only when it enters the table.
pub struct KeyGroupTable<K, V> {
    range: KeyGroupRange,
    groups: Vec<Group<K, V>>,
}

/// The result of [`KeyGroupTable::lookup`].
pub enum Lookup<'t, K, V> {
    /// The key has a value.
    Found(Found<'t, K, V>),
    /// The key has no value; the place to insert one.
    Missing(Missing<'t, K, V>),
}

/// A key's entry, found.
pub struct Found<'t, K, V> {
    group: &'t mut Group<K, V>,
    bucket: usize,
}

/// Where a missing key goes.
pub struct Missing<'t, K, V> {
    group: &'t mut Group<K, V>,
    tag: NonZeroU32,
}

impl<'t, K: Key, V> Found<'t, K, V> {
    /// The entry. `Found` holds the table mutably from the lookup that found the bucket
    /// occupied, so it still is.
    fn entry(self) -> &'t mut Bucket<K, V> {
        self.group.bucket_mut(self.bucket).expect("a found bucket stays occupied while it is borrowed")
    }

    /// The value, in place.
    #[inline]
    pub fn into_mut(self) -> &'t mut V {
        &mut self.entry().value
    }

    /// Replaces the value with `update(value)`, moving it out so that `update` may
    /// consume it. If `update` fails, the key has no value afterwards.
    #[inline]
    pub fn replace_with<E>(self, update: impl FnOnce(V) -> Result<V, E>) -> Result<&'t mut V, E> {
        let Found { group, bucket } = self;
        let Bucket { tag, key, value } =
            group.buckets[bucket].take().expect("a found bucket stays occupied while it is borrowed");
        match update(value) {
            Ok(value) => Ok(&mut group.buckets[bucket].insert(Bucket { tag, key, value }).value),
            Err(e) => {
                group.len -= 1;
                group.close_gap(bucket);
                Err(e)
            }
        }
    }

    /// Removes the key, returning its value.
    pub fn remove(self) -> V {
        self.group.remove_at(self.bucket).expect("a found bucket stays occupied while it is borrowed").value
    }

    /// The stored key and its value.
    #[inline]
    pub fn into_key_value(self) -> (&'t K, &'t mut V) {
        let entry = self.entry();
        (&entry.key, &mut entry.value)
    }
}

impl<'t, K: Key, V> Missing<'t, K, V> {
    /// Inserts the key (which must equal the one looked up) with `value`.
    #[inline]
    pub fn insert(self, key: K, value: V) -> Result<&'t mut V, StateError> {
        Ok(self.insert_key_value(key, value)?.1)
    }

    /// Inserts the key with `value`, returning both as stored.
    #[inline]
    pub fn insert_key_value(self, key: K, value: V) -> Result<(&'t K, &'t mut V), StateError> {
        let Missing { group, tag } = self;
        let i = group.insert_new(tag, key, value)?;
        let entry = group.bucket_mut(i).expect("the bucket was just filled");
        Ok((&entry.key, &mut entry.value))
    }
}

impl<K: Key, V> KeyGroupTable<K, V> {
    /// An empty table for the key groups of `range`.
    pub fn new(range: KeyGroupRange) -> Self {
        KeyGroupTable { range, groups: (0..range.len()).map(|_| Group::new()).collect() }
    }

    /// The key groups this table covers.
    pub fn range(&self) -> KeyGroupRange {
        self.range
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.len).sum()
    }

    /// Whether no key has a value.
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.len == 0)
    }

    #[inline]
    fn index(&self, key_group: u32) -> Result<usize, StateError> {
        if self.range.contains(key_group) {
            Ok((key_group - self.range.start) as usize)
        } else {
            Err(StateError::KeyGroupOutOfRange { key_group, range: self.range })
        }
    }

    /// Starts loading the bucket where the lookup of a key with this hash will begin,
    /// without waiting for it (see [`KeyedLookahead`](super::KeyedLookahead)).
    #[inline]
    pub fn prefetch(&self, key_group: u32, hash: u64) {
        if let Ok(i) = self.index(key_group) {
            self.groups[i].prefetch(tag_of(hash));
        }
    }

    /// Warms a record's entry ahead of its lookup (see [`KeyedLookahead`](super::KeyedLookahead)):
    /// the bucket holds key and value, so prefetching it is all there is to do.
    #[inline]
    pub fn warm(&self, stage: super::Warm, key_group: u32, hash: u64) {
        if stage == super::Warm::Bucket {
            self.prefetch(key_group, hash);
        }
    }

    /// Finds `key`: its entry, or the place to insert it.
    #[inline]
    pub fn lookup(&mut self, key_group: u32, hash: u64, key: &K) -> Result<Lookup<'_, K, V>, StateError> {
        let i = self.index(key_group)?;
        let group = &mut self.groups[i];
        let tag = tag_of(hash);
        Ok(match group.find(tag, |k, _| k == key) {
            Some(bucket) => Lookup::Found(Found { group, bucket }),
            None => Lookup::Missing(Missing { group, tag }),
        })
    }

    /// The value of `key`.
    #[inline]
    pub fn get(&self, key_group: u32, hash: u64, key: &K) -> Result<Option<&V>, StateError> {
        let group = &self.groups[self.index(key_group)?];
        Ok(group.find(tag_of(hash), |k, _| k == key).and_then(|i| group.buckets[i].as_ref()).map(|b| &b.value))
    }

    /// The value of `key`, mutably.
    #[inline]
    pub fn get_mut(&mut self, key_group: u32, hash: u64, key: &K) -> Result<Option<&mut V>, StateError> {
        let i = self.index(key_group)?;
        let group = &mut self.groups[i];
        Ok(match group.find(tag_of(hash), |k, _| k == key) {
            Some(bucket) => group.bucket_mut(bucket).map(|b| &mut b.value),
            None => None,
        })
    }

    /// Sets the value of `key`, returning the previous one.
    pub fn insert(&mut self, key_group: u32, hash: u64, key: K, value: V) -> Result<Option<V>, StateError> {
        match self.lookup(key_group, hash, &key)? {
            Lookup::Found(found) => Ok(Some(std::mem::replace(found.into_mut(), value))),
            Lookup::Missing(missing) => missing.insert(key, value).map(|_| None),
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
        let group = &self.groups[self.index(key_group).ok()?];
        let bucket = group.find(tag_of(hash), |_, v| matches(v))?;
        group.buckets[bucket].as_ref().map(|b| &b.key)
    }

    /// Removes the entry whose value satisfies `matches` among the keys with stable hash
    /// `hash`; returns its key.
    pub fn remove_where(&mut self, key_group: u32, hash: u64, matches: impl Fn(&V) -> bool) -> Option<K> {
        let i = self.index(key_group).ok()?;
        let group = &mut self.groups[i];
        let bucket = group.find(tag_of(hash), |_, v| matches(v))?;
        group.remove_at(bucket).map(|b| b.key)
    }

    /// The keys and values of one key group, in no particular order.
    pub fn iter_group(&self, key_group: u32) -> Result<impl Iterator<Item = (&K, &V)>, StateError> {
        let group = &self.groups[self.index(key_group)?];
        Ok(group.buckets.iter().flatten().map(|b| (&b.key, &b.value)))
    }

    /// The keys and values of one key group, each with a hash that finds the key in any
    /// `KeyGroupTable` as its stable hash would (tables use only part of the hash), so
    /// that entries can move between tables without hashing their keys again.
    pub fn iter_group_hashed(&self, key_group: u32) -> Result<impl Iterator<Item = (u64, &K, &V)>, StateError> {
        let group = &self.groups[self.index(key_group)?];
        Ok(group.buckets.iter().flatten().map(|b| (u64::from(b.tag.get()), &b.key, &b.value)))
    }

    /// [`drain_group`](Self::drain_group) with the hashes of
    /// [`iter_group_hashed`](Self::iter_group_hashed).
    pub fn drain_group_hashed(
        &mut self,
        key_group: u32,
    ) -> Result<impl Iterator<Item = (u64, K, V)> + use<K, V>, StateError> {
        let i = self.index(key_group)?;
        let group = std::mem::replace(&mut self.groups[i], Group::new());
        Ok(group.buckets.into_iter().flatten().map(|b| (u64::from(b.tag.get()), b.key, b.value)))
    }

    /// Number of keys in one key group.
    pub fn group_len(&self, key_group: u32) -> usize {
        self.index(key_group).map_or(0, |i| self.groups[i].len)
    }

    /// Makes room in one key group for `keys` keys without growing.
    ///
    /// Filling a table from another table's iteration inserts keys in the order of their
    /// buckets there; into a smaller table that order piles them up in long runs (linear
    /// probing degrades to quadratic time). Reserving at least the source's size first
    /// keeps every key near its home.
    pub fn reserve_group(&mut self, key_group: u32, keys: usize) -> Result<(), StateError> {
        let i = self.index(key_group)?;
        let group = &mut self.groups[i];
        while keys * MAX_LOAD_DENOMINATOR > group.buckets.len() * MAX_LOAD_NUMERATOR {
            group.grow()?;
        }
        Ok(())
    }

    /// Removes every key of one key group, keeping the group's table allocated for
    /// the keys to come.
    pub fn clear_group(&mut self, key_group: u32) -> Result<(), StateError> {
        let i = self.index(key_group)?;
        let group = &mut self.groups[i];
        group.buckets.iter_mut().for_each(|b| *b = None);
        group.len = 0;
        Ok(())
    }

    /// Removes and returns the keys and values of one key group.
    pub fn drain_group(&mut self, key_group: u32) -> Result<impl Iterator<Item = (K, V)> + use<K, V>, StateError> {
        let i = self.index(key_group)?;
        let group = std::mem::replace(&mut self.groups[i], Group::new());
        Ok(group.buckets.into_iter().flatten().map(|b| (b.key, b.value)))
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
            Lookup::Missing(missing) => *missing.insert(key.to_string(), n).unwrap(),
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

    /// Random inserts, updates, failed updates and removals against a `HashMap`, with
    /// hashes chosen to collide (few distinct tags, so long runs of occupied buckets):
    /// every key stays reachable after each backward shift and each growth.
    #[test]
    fn agrees_with_a_hash_map_under_collisions() {
        use std::collections::HashMap;
        for distinct_tags in [1u64, 3, 64, u64::MAX] {
            let mut table = KeyGroupTable::<u64, u64>::new(KeyGroupRange { start: 0, end: 2 });
            let mut model = HashMap::new();
            let hash = |k: u64| (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) % distinct_tags) & 0xFFFF_FFFF | ((k & 1) << 32);
            let mut x = 0x2545_F491_4F6C_DD1Du64;
            for step in 0..20_000u64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let key = x % 300;
                let (h, g) = (hash(key), (hash(key) >> 32) as u32);
                match (x >> 40) % 5 {
                    0 | 1 => assert_eq!(table.insert(g, h, key, step).unwrap(), model.insert(key, step)),
                    2 => assert_eq!(table.remove(g, h, &key).unwrap(), model.remove(&key)),
                    3 => {
                        if let Lookup::Found(found) = table.lookup(g, h, &key).unwrap() {
                            assert!(found.replace_with(|_| Err("fail")).is_err());
                            model.remove(&key);
                        }
                    }
                    _ => {
                        if let Lookup::Found(found) = table.lookup(g, h, &key).unwrap() {
                            *found.replace_with::<()>(|v| Ok(v + 1)).unwrap() += 0;
                            *model.get_mut(&key).unwrap() += 1;
                        }
                    }
                }
                if step % 997 == 0 {
                    assert_eq!(table.len(), model.len());
                    for (k, v) in &model {
                        assert_eq!(table.get((hash(*k) >> 32) as u32, hash(*k), k).unwrap(), Some(v), "key {k}");
                    }
                }
            }
            let mut all: Vec<(u64, u64)> = (0..2).flat_map(|g| table.drain_group(g).unwrap()).collect();
            all.sort();
            let mut expected: Vec<(u64, u64)> = model.into_iter().collect();
            expected.sort();
            assert_eq!(all, expected);
        }
    }

    #[test]
    fn foreign_key_groups_are_an_error() {
        let mut t = KeyGroupTable::<u64, u64>::new(KeyGroupRange { start: 4, end: 8 });
        let err = t.lookup(2, 0, &1).err().unwrap();
        assert!(err.to_string().contains("key group 2 is not owned"), "{err}");
    }
}
