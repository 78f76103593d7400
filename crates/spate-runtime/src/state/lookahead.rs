//! Overlapping the cache misses of keyed state.
//!
//! Keyed state is usually larger than the processor's caches, so the lookup of each
//! record's key misses the cache, and looked up one record at a time those misses run
//! one after another. The [`KeyedLookahead`] places a whole batch first (key, stable
//! hash, key group), then processes it in order while warming the state of the records
//! ahead, in two stages: [`Warm::Bucket`] `2 × PREFETCH_DISTANCE` records ahead (the
//! operator prefetches the table bucket where the key's lookup starts, known from the
//! hash alone), and [`Warm::Values`] `PREFETCH_DISTANCE` records ahead (the bucket is in
//! cache by then, so the operator can find the key's slot and prefetch its values).
//! Many misses are in flight at once and the record being processed finds its state in
//! cache. Measured on the keyed-state benchmark (1 M keys): see docs/benchmarks.md.

use spate_core::key_group::KeyGroupAssigner;
use spate_core::{CoreError, Key, KeyHasher, StreamRecord};

use crate::key_selector::{KeyExtractor, KeySelector};

/// How many records ahead of the one being processed the values of keys are warmed
/// (and twice as many for table buckets). Chosen by measurement: 4, 8 and 16 were tried
/// on 1 M keys.
pub const PREFETCH_DISTANCE: usize = 8;

/// A stage of warming a record's state before it is processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warm {
    /// Start loading the table bucket where the key's lookup begins; do not wait for it.
    Bucket,
    /// The bucket was requested a while ago: look the key up and start loading what the
    /// entry points to.
    Values,
}

/// A record with its key's stable hash and key group.
pub struct Placed<K, T> {
    /// The key, if the selector computed it (a field key stays in the record).
    pub computed_key: Option<K>,
    /// The key's stable hash.
    pub hash: u64,
    /// The key's group.
    pub key_group: u32,
    /// The record.
    pub record: StreamRecord<T>,
}

/// Places a batch of records, then processes them in order while warming the state of
/// the records ahead.
pub struct KeyedLookahead<T, K> {
    key_selector: KeySelector<T, K>,
    hasher: KeyHasher,
    key_groups: KeyGroupAssigner,
    placed: Vec<Placed<K, T>>,
}

impl<T, K: Key> KeyedLookahead<T, K> {
    /// A lookahead for keys from `key_selector` over `max_parallelism` key groups.
    pub fn new(key_selector: KeySelector<T, K>, max_parallelism: u32) -> Self {
        KeyedLookahead {
            key_selector,
            hasher: KeyHasher::new(),
            key_groups: KeyGroupAssigner::new(max_parallelism),
            placed: Vec::new(),
        }
    }

    /// Sets the number of key groups (known once the operator opens).
    pub fn set_max_parallelism(&mut self, max_parallelism: u32) {
        self.key_groups = KeyGroupAssigner::new(max_parallelism);
    }

    /// Takes every record of `batch` and calls `process` on each, in order, with the
    /// record placed; before that, calls `warm` for the records ahead (each record gets
    /// [`Warm::Bucket`] once, then [`Warm::Values`] once). `state` is what both work on:
    /// `warm` reads it while `process` may change it; `process` also gets the key selector.
    #[inline]
    pub fn run<S, E: From<CoreError>>(
        &mut self,
        batch: &mut Vec<StreamRecord<T>>,
        state: &mut S,
        warm: impl Fn(&S, Warm, &Placed<K, T>, &K),
        mut process: impl FnMut(&mut S, &dyn KeyExtractor<T, K>, Placed<K, T>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.placed.clear();
        for record in batch.drain(..) {
            let (computed_key, hash) = match self.key_selector.borrowed(&record.value) {
                Some(key) => (None, self.hasher.hash(key)?),
                None => {
                    let key = self.key_selector.owned(&record.value);
                    let hash = self.hasher.hash(&key)?;
                    (Some(key), hash)
                }
            };
            let key_group = self.key_groups.key_group(hash);
            self.placed.push(Placed { computed_key, hash, key_group, record });
        }
        let selector = &*self.key_selector;
        let warm_one = |state: &S, stage: Warm, placed: &Placed<K, T>| {
            if let Some(key) = key_of(selector, placed) {
                warm(state, stage, placed, key);
            }
        };
        let mut records = self.placed.drain(..);
        for placed in records.as_slice().iter().take(2 * PREFETCH_DISTANCE) {
            warm_one(state, Warm::Bucket, placed);
        }
        for placed in records.as_slice().iter().take(PREFETCH_DISTANCE) {
            warm_one(state, Warm::Values, placed);
        }
        loop {
            let ahead = records.as_slice();
            if let Some(placed) = ahead.get(2 * PREFETCH_DISTANCE) {
                warm_one(state, Warm::Bucket, placed);
            }
            if let Some(placed) = ahead.get(PREFETCH_DISTANCE) {
                warm_one(state, Warm::Values, placed);
            }
            let Some(placed) = records.next() else { return Ok(()) };
            process(state, selector, placed)?;
        }
    }
}

impl<K, T> Placed<K, T> {
    /// The key, owned: the computed one, or a copy of the record's field.
    #[inline]
    pub fn take_key(&mut self, selector: &dyn KeyExtractor<T, K>) -> K {
        self.computed_key.take().unwrap_or_else(|| selector.owned(&self.record.value))
    }
}

/// The key of a placed record, by reference.
#[inline]
pub fn key_of<'a, T, K>(
    selector: &dyn crate::key_selector::KeyExtractor<T, K>,
    placed: &'a Placed<K, T>,
) -> Option<&'a K> {
    placed.computed_key.as_ref().or_else(|| selector.borrowed(&placed.record.value))
}
