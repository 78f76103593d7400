//! Timers of a keyed operator, in event time and processing time.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use spate_core::Timestamp;

/// Which clock a timer follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeDomain {
    /// The watermark.
    EventTime,
    /// The processing-time clock.
    ProcessingTime,
}

/// A timer, with its key's placement so that its state can be found when it fires.
#[derive(Debug)]
pub struct Timer<K> {
    /// When it fires.
    pub timestamp: Timestamp,
    /// Registration order, to fire timers of equal time in the order they were set.
    seq: u64,
    /// The key it belongs to.
    pub key: K,
    /// The key's group.
    pub key_group: u32,
    /// The key's stable hash.
    pub hash: u64,
}

impl<K> PartialEq for Timer<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.timestamp, self.seq) == (other.timestamp, other.seq)
    }
}
impl<K> Eq for Timer<K> {}
impl<K> PartialOrd for Timer<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Timer<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.timestamp, self.seq).cmp(&(other.timestamp, other.seq))
    }
}

/// A registered timer as the deduplicating set holds it: hashed by its time and the key's
/// stable hash, which the caller has already computed, so that registering a timer (once
/// per record in window operators) does not hash the key again with SipHash.
#[derive(Debug)]
struct TimerId<K> {
    timestamp: Timestamp,
    hash: u64,
    key: K,
}

impl<K: PartialEq> PartialEq for TimerId<K> {
    fn eq(&self, other: &Self) -> bool {
        self.timestamp == other.timestamp && self.key == other.key
    }
}
impl<K: Eq> Eq for TimerId<K> {}

impl<K> Hash for TimerId<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash ^ (self.timestamp as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }
}

/// Finishes the one `u64` a [`TimerId`] writes with a full 64-bit mix (murmur3's
/// finalizer): the set's buckets take the low bits and its control bytes the high ones.
#[derive(Default)]
struct TimerIdHasher(u64);

impl Hasher for TimerIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }

    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
}

/// The timers of one time domain: at most one per key and timestamp, fired in timestamp
/// order. A deleted timer stays in the heap until it would fire and is skipped then.
///
/// `hash` arguments are the key's stable hash (as for its state); a key must come with
/// the same hash every time.
#[derive(Debug)]
pub struct TimerQueue<K> {
    heap: BinaryHeap<Reverse<Timer<K>>>,
    registered: HashSet<TimerId<K>, BuildHasherDefault<TimerIdHasher>>,
    seq: u64,
}

impl<K> Default for TimerQueue<K> {
    fn default() -> Self {
        TimerQueue { heap: BinaryHeap::new(), registered: HashSet::default(), seq: 0 }
    }
}

impl<K: Hash + Eq + Clone> TimerQueue<K> {
    /// Registers a timer; a second one for the same key and time is ignored.
    pub fn register(&mut self, timestamp: Timestamp, key: &K, key_group: u32, hash: u64) {
        if self.registered.insert(TimerId { timestamp, hash, key: key.clone() }) {
            self.seq += 1;
            self.heap.push(Reverse(Timer { timestamp, seq: self.seq, key: key.clone(), key_group, hash }));
        }
    }

    /// Deletes a timer, if registered.
    pub fn delete(&mut self, timestamp: Timestamp, key: &K, hash: u64) {
        self.registered.remove(&TimerId { timestamp, hash, key: key.clone() });
    }

    /// The next registered timer due at or before `time`, removed.
    pub fn pop_due(&mut self, time: Timestamp) -> Option<Timer<K>> {
        while self.heap.peek().is_some_and(|Reverse(t)| t.timestamp <= time) {
            let Reverse(timer) = self.heap.pop()?;
            let probe = TimerId { timestamp: timer.timestamp, hash: timer.hash, key: timer.key };
            if self.registered.remove(&probe) {
                return Some(Timer { timestamp: probe.timestamp, key: probe.key, ..timer });
            }
        }
        None
    }

    /// The registered timers per key group, each group's in firing order (time, then
    /// registration), for a snapshot.
    pub fn snapshot(&self) -> std::collections::BTreeMap<u32, Vec<(Timestamp, &K)>> {
        let mut live: Vec<&Timer<K>> = self
            .heap
            .iter()
            .map(|Reverse(t)| t)
            .filter(|t| self.registered.contains(&TimerId { timestamp: t.timestamp, hash: t.hash, key: t.key.clone() }))
            .collect();
        live.sort_by_key(|t| (t.timestamp, t.seq));
        let mut groups: std::collections::BTreeMap<u32, Vec<(Timestamp, &K)>> = std::collections::BTreeMap::new();
        let mut seen = HashSet::new();
        for t in live {
            // A timer deleted and registered again has two heap entries: keep one.
            if seen.insert((t.timestamp, &t.key)) {
                groups.entry(t.key_group).or_default().push((t.timestamp, &t.key));
            }
        }
        groups
    }

    /// The time of the earliest timer (possibly one already deleted).
    pub fn next(&self) -> Option<Timestamp> {
        self.heap.peek().map(|Reverse(t)| t.timestamp)
    }

    /// Number of registered timers.
    pub fn len(&self) -> usize {
        self.registered.len()
    }

    /// Whether no timer is registered.
    pub fn is_empty(&self) -> bool {
        self.registered.is_empty()
    }
}

/// The event-time and processing-time timers of a keyed operator.
#[derive(Debug)]
pub struct Timers<K> {
    /// Fired by the watermark.
    pub event: TimerQueue<K>,
    /// Fired by the processing-time clock.
    pub processing: TimerQueue<K>,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Timers { event: TimerQueue::default(), processing: TimerQueue::default() }
    }
}

impl<K: Hash + Eq + Clone + serde::Serialize + serde::de::DeserializeOwned> Timers<K> {
    /// Writes both queues, key group by key group, as parts `{prefix}event` and
    /// `{prefix}processing`.
    pub fn snapshot_into(
        &self,
        out: &mut crate::checkpoint::OperatorSnapshot,
        prefix: &str,
    ) -> Result<(), spate_core::CoreError> {
        for (domain, queue) in [("event", &self.event), ("processing", &self.processing)] {
            let part = format!("{prefix}{domain}");
            for (group, timers) in queue.snapshot() {
                let bytes = spate_core::codec::encode(&timers)?;
                // The keys are those of the state, checked there; timers of keys
                // without state (or of windows) are checked here, once per group.
                match out.verification {
                    crate::checkpoint::Verification::Every => spate_core::codec::verify::<Vec<(Timestamp, K)>>(&bytes)?,
                    crate::checkpoint::Verification::Sample => {
                        let first = spate_core::codec::encode(&timers[..1])?;
                        spate_core::codec::verify::<Vec<(Timestamp, K)>>(&first)?
                    }
                }
                out.add_keyed(group, &part, bytes);
            }
        }
        Ok(())
    }

    /// Registers the timers written by [`snapshot_into`](Self::snapshot_into); `place`
    /// gives the key of a timer of key group `group` its hash (and may refuse it).
    pub fn restore_from<E: From<spate_core::CoreError>>(
        &mut self,
        restored: &crate::checkpoint::RestoredState,
        prefix: &str,
        mut place: impl FnMut(u32, &K) -> Result<u64, E>,
    ) -> Result<(), E> {
        for (domain, queue) in [("event", &mut self.event), ("processing", &mut self.processing)] {
            for (group, bytes) in restored.keyed_parts(&format!("{prefix}{domain}")) {
                let timers: Vec<(Timestamp, K)> = spate_core::codec::decode(bytes)?;
                for (at, key) in timers {
                    let hash = place(group, &key)?;
                    queue.register(at, &key, group, hash);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_order_once_and_not_when_deleted() {
        let mut q = TimerQueue::<&str>::default();
        q.register(30, &"a", 0, 0);
        q.register(10, &"b", 0, 0);
        q.register(10, &"b", 0, 0);
        q.register(20, &"a", 0, 0);
        q.register(10, &"c", 0, 0);
        q.delete(20, &"a", 0);
        assert_eq!(q.len(), 3);
        assert!(q.pop_due(5).is_none());
        let fired: Vec<(Timestamp, &str)> =
            std::iter::from_fn(|| q.pop_due(25)).map(|t| (t.timestamp, t.key)).collect();
        assert_eq!(fired, vec![(10, "b"), (10, "c")], "deduplicated, in time then registration order, deleted skipped");
        q.register(20, &"a", 0, 0);
        assert_eq!(q.pop_due(100).map(|t| (t.timestamp, t.key)), Some((20, "a")), "re-registered after delete");
        assert_eq!(q.pop_due(100).map(|t| (t.timestamp, t.key)), Some((30, "a")));
        assert!(q.pop_due(100).is_none());
        assert!(q.is_empty());
    }

    #[test]
    fn many_keys_deduplicate_by_key_and_time_whatever_their_hashes() {
        let mut q = TimerQueue::<u64>::default();
        // Keys 0..1000 at times 0..3, each registered twice; keys share hashes
        // in pairs (a collision must not merge two keys' timers).
        for _ in 0..2 {
            for key in 0..1000u64 {
                for at in 0..3 {
                    q.register(at, &key, 0, key / 2 * 0x9E37_79B9);
                }
            }
        }
        assert_eq!(q.len(), 3000);
        for key in (0..1000u64).step_by(2) {
            q.delete(1, &key, key / 2 * 0x9E37_79B9);
        }
        assert_eq!(q.len(), 2500);
        let fired: Vec<(Timestamp, u64)> = std::iter::from_fn(|| q.pop_due(2)).map(|t| (t.timestamp, t.key)).collect();
        let expected: Vec<(Timestamp, u64)> =
            (0..3).flat_map(|at| (0..1000u64).filter(move |k| at != 1 || k % 2 == 1).map(move |k| (at, k))).collect();
        assert_eq!(fired, expected, "in time, then registration order");
        assert!(q.is_empty());
    }
}
