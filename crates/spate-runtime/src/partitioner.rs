//! Partitioners: which channel of an edge each record takes.

use std::sync::Arc;

use spate_core::key_group::{key_group_for_hash, operator_index_for_key_group};
use spate_core::{BoxError, Key, KeyHasher};

pub use crate::key_selector::KeySelector;
use crate::key_selector::with_key;

/// A user partitioner: the target subtask for a key, given the number of subtasks
/// (Flink's `Partitioner.partition(key, numPartitions)`).
pub type CustomPartitioner<K> = Arc<dyn Fn(&K, usize) -> usize + Send + Sync>;

/// Chooses a channel for each record of one subtask's output edge. The channels are the
/// ones this subtask is connected to, ordered by target subtask.
pub enum Partitioner<T> {
    /// Every record to the one connected channel (forward), or to channel 0 (global).
    Single(usize),
    /// Round robin over the connected channels (rebalance; rescale, whose connected
    /// channels are already the local subset).
    RoundRobin {
        /// The channel the next record takes.
        next: usize,
    },
    /// A pseudo-random channel per record.
    Shuffle {
        /// xorshift state.
        state: u64,
    },
    /// Every record to every channel.
    Broadcast,
    /// By the record's key.
    Keyed(Box<dyn KeyedSelector<T>>),
}

/// Picks a channel from a record's key.
pub trait KeyedSelector<T> {
    /// The channel index for `value` out of `channels`.
    fn select(&mut self, value: &T, channels: usize) -> Result<usize, BoxError>;
}

/// Routes by key group: the channel is the subtask that owns the key's key group.
pub struct KeyGroupSelector<T, K> {
    key_selector: KeySelector<T, K>,
    hasher: KeyHasher,
    max_parallelism: u32,
}

impl<T, K: Key> KeyGroupSelector<T, K> {
    /// A selector for a target of `max_parallelism` key groups.
    pub fn new(key_selector: KeySelector<T, K>, max_parallelism: u32) -> Self {
        KeyGroupSelector { key_selector, hasher: KeyHasher::new(), max_parallelism }
    }
}

impl<T, K: Key> KeyedSelector<T> for KeyGroupSelector<T, K> {
    #[inline]
    fn select(&mut self, value: &T, channels: usize) -> Result<usize, BoxError> {
        let hasher = &mut self.hasher;
        let hash = with_key(&*self.key_selector, value, |key| hasher.hash(key))?;
        let group = key_group_for_hash(hash, self.max_parallelism);
        Ok(operator_index_for_key_group(self.max_parallelism, channels as u32, group) as usize)
    }
}

/// Routes by a user partitioner over the key.
pub struct CustomSelector<T, K> {
    key_selector: KeySelector<T, K>,
    partitioner: CustomPartitioner<K>,
}

impl<T, K> CustomSelector<T, K> {
    /// A selector applying `partitioner` to each record's key.
    pub fn new(key_selector: KeySelector<T, K>, partitioner: CustomPartitioner<K>) -> Self {
        CustomSelector { key_selector, partitioner }
    }
}

impl<T, K> KeyedSelector<T> for CustomSelector<T, K> {
    fn select(&mut self, value: &T, channels: usize) -> Result<usize, BoxError> {
        let target = with_key(&*self.key_selector, value, |key| (self.partitioner)(key, channels));
        if target < channels {
            Ok(target)
        } else {
            Err(format!("custom partitioner returned partition {target}, but there are only {channels}").into())
        }
    }
}

impl<T> Partitioner<T> {
    /// Round robin starting at a subtask-dependent channel, so that parallel senders do
    /// not all start on channel 0.
    pub fn round_robin(subtask_index: u32, channels: usize) -> Self {
        Partitioner::RoundRobin { next: subtask_index as usize % channels.max(1) }
    }

    /// Random routing seeded per subtask.
    pub fn shuffle(subtask_index: u32) -> Self {
        Partitioner::Shuffle {
            state: 0x9E37_79B9_7F4A_7C15 ^ (u64::from(subtask_index) + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
        }
    }

    /// The channel for one record (not for [`Partitioner::Broadcast`]).
    #[inline]
    pub fn select(&mut self, value: &T, channels: usize) -> Result<usize, BoxError> {
        match self {
            Partitioner::Single(c) => Ok(*c),
            Partitioner::RoundRobin { next } => {
                let c = *next;
                *next = if c + 1 == channels { 0 } else { c + 1 };
                Ok(c)
            }
            Partitioner::Shuffle { state } => {
                // xorshift64*: fast, and good enough to spread load.
                let mut x = *state;
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                *state = x;
                Ok((x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as usize % channels)
            }
            Partitioner::Broadcast => Err("broadcast has no single channel".into()),
            Partitioner::Keyed(selector) => selector.select(value, channels),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_selector::{ComputedKey, FieldKey};
    use spate_core::KeyGroupRange;

    #[test]
    fn round_robin_cycles() {
        let mut p = Partitioner::<u8>::round_robin(1, 3);
        let got: Vec<usize> = (0..6).map(|_| p.select(&0, 3).unwrap()).collect();
        assert_eq!(got, vec![1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn shuffle_spreads_over_all_channels() {
        let mut p = Partitioner::<u8>::shuffle(0);
        let mut counts = [0; 4];
        for _ in 0..4000 {
            counts[p.select(&0, 4).unwrap()] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }

    #[test]
    fn key_groups_route_to_their_owner() {
        let mut sel = KeyGroupSelector::<(u64, u64), u64>::new(Arc::new(ComputedKey(|r: &(u64, u64)| r.0)), 128);
        let mut hasher = KeyHasher::new();
        for key in 0..1000u64 {
            let c = sel.select(&(key, 0), 3).unwrap();
            let group = key_group_for_hash(hasher.hash(&key).unwrap(), 128);
            assert!(KeyGroupRange::for_operator(128, 3, c as u32).contains(group));
        }
    }

    #[test]
    fn custom_partitioner_out_of_range_is_an_error() {
        fn itself(v: &u64) -> &u64 {
            v
        }
        let mut sel = CustomSelector::<u64, u64>::new(Arc::new(FieldKey(itself)), Arc::new(|k, _| *k as usize));
        assert_eq!(sel.select(&1, 2).unwrap(), 1);
        let err = sel.select(&5, 2).unwrap_err().to_string();
        assert!(err.contains("returned partition 5"), "{err}");
    }
}
