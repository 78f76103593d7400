//! Key groups: the unit of keyed-state placement, redistribution and migration.
//!
//! A key belongs to key group `hash(key) % max_parallelism`, and key group `g` to subtask
//! `g * parallelism / max_parallelism` (Flink's formula), so each subtask owns one
//! contiguous range of key groups and a rescale moves whole ranges.

use serde::{Deserialize, Serialize};

/// Max parallelism when none is configured and the parallelism is at most 85.
pub const DEFAULT_MAX_PARALLELISM: u32 = 128;

/// The largest max parallelism (Flink's bound, `2^15`).
pub const UPPER_BOUND_MAX_PARALLELISM: u32 = 1 << 15;

/// The key group of a key with stable hash `hash`.
///
/// Takes the high 32 bits, so that a hash table keyed by the same hash (which indexes
/// buckets by the low bits) still spreads the keys of one key group over all its buckets.
#[inline]
pub fn key_group_for_hash(hash: u64, max_parallelism: u32) -> u32 {
    ((hash >> 32) % u64::from(max_parallelism)) as u32
}

/// [`key_group_for_hash`] for one max parallelism, without a division when the max
/// parallelism is a power of two (the default), since it runs once per keyed record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyGroupAssigner {
    max_parallelism: u32,
    mask: Option<u32>,
}

impl KeyGroupAssigner {
    /// An assigner for `max_parallelism` key groups.
    pub fn new(max_parallelism: u32) -> Self {
        let max_parallelism = max_parallelism.max(1);
        KeyGroupAssigner { max_parallelism, mask: max_parallelism.is_power_of_two().then(|| max_parallelism - 1) }
    }

    /// The number of key groups.
    pub fn max_parallelism(&self) -> u32 {
        self.max_parallelism
    }

    /// The key group of a key with stable hash `hash`; equal to [`key_group_for_hash`].
    #[inline]
    pub fn key_group(&self, hash: u64) -> u32 {
        let high = (hash >> 32) as u32;
        match self.mask {
            Some(mask) => high & mask,
            None => high % self.max_parallelism,
        }
    }
}

/// The subtask (operator index) that owns key group `key_group`.
#[inline]
pub fn operator_index_for_key_group(max_parallelism: u32, parallelism: u32, key_group: u32) -> u32 {
    (u64::from(key_group) * u64::from(parallelism) / u64::from(max_parallelism)) as u32
}

/// The max parallelism Flink chooses when none is set: 1.5 × parallelism rounded up to
/// a power of two, within `[128, 32768]`.
pub fn default_max_parallelism(parallelism: u32) -> u32 {
    let wanted = u64::from(parallelism) + u64::from(parallelism) / 2;
    (wanted.max(1).next_power_of_two() as u32).clamp(DEFAULT_MAX_PARALLELISM, UPPER_BOUND_MAX_PARALLELISM)
}

/// A contiguous range of key groups, `start..end` (end exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyGroupRange {
    /// First key group in the range.
    pub start: u32,
    /// One past the last key group.
    pub end: u32,
}

impl KeyGroupRange {
    /// The key groups owned by subtask `index` of `parallelism` (the inverse of
    /// [`operator_index_for_key_group`]).
    pub fn for_operator(max_parallelism: u32, parallelism: u32, index: u32) -> Self {
        let (max, par, i) = (u64::from(max_parallelism), u64::from(parallelism), u64::from(index));
        let start = (i * max).div_ceil(par);
        let end = ((i + 1) * max).div_ceil(par);
        KeyGroupRange { start: start as u32, end: end as u32 }
    }

    /// Number of key groups in the range.
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether the range holds no key group.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Whether `key_group` lies in the range.
    #[inline]
    pub fn contains(&self, key_group: u32) -> bool {
        key_group >= self.start && key_group < self.end
    }

    /// The key groups of the range in order.
    pub fn iter(&self) -> std::ops::Range<u32> {
        self.start..self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_the_inverse_of_the_assignment() {
        for max in [1u32, 2, 7, 128, 129, 1000] {
            for par in 1..=max.min(40) {
                let mut next = 0;
                for index in 0..par {
                    let range = KeyGroupRange::for_operator(max, par, index);
                    assert_eq!(range.start, next, "ranges are contiguous (max {max} par {par})");
                    assert!(!range.is_empty(), "every subtask owns a key group (max {max} par {par})");
                    for kg in range.iter() {
                        assert_eq!(operator_index_for_key_group(max, par, kg), index);
                    }
                    next = range.end;
                }
                assert_eq!(next, max);
            }
        }
    }

    #[test]
    fn flink_example_values() {
        // Flink: keyGroup 64 of 128 at parallelism 2 goes to operator 1.
        assert_eq!(operator_index_for_key_group(128, 2, 63), 0);
        assert_eq!(operator_index_for_key_group(128, 2, 64), 1);
        assert_eq!(KeyGroupRange::for_operator(128, 3, 1), KeyGroupRange { start: 43, end: 86 });
    }

    #[test]
    fn default_max_parallelism_follows_flink() {
        assert_eq!(default_max_parallelism(1), 128);
        assert_eq!(default_max_parallelism(85), 128);
        assert_eq!(default_max_parallelism(86), 256);
        assert_eq!(default_max_parallelism(100_000), UPPER_BOUND_MAX_PARALLELISM);
    }

    #[test]
    fn the_assigner_agrees_with_the_formula() {
        for max in [1u32, 2, 7, 100, 128, 4096, 32768] {
            let assigner = KeyGroupAssigner::new(max);
            for i in 0..5000u64 {
                let hash = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i << 40);
                assert_eq!(assigner.key_group(hash), key_group_for_hash(hash, max));
            }
        }
    }

    #[test]
    fn key_group_uses_high_bits() {
        assert_eq!(key_group_for_hash(0x0000_0005_FFFF_FFFF, 128), 5);
        assert_eq!(key_group_for_hash(u64::MAX, 1), 0);
    }
}
