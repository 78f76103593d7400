//! What operators write into a checkpoint and get back on restore.
//!
//! Keyed state is written per key group, so that on restore with another parallelism
//! each subtask reads only the key groups it now owns (from whichever old subtasks had
//! them). Within a key group an operator writes named *parts* (its table, its timers,
//! each user state), each an opaque encoding only that operator reads. Operator state is
//! written as named lists of encoded elements, redistributed on restore by their mode.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::state::Redistribution;

/// A list of operator state in a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSnapshot {
    /// The list's name within its operator.
    pub name: String,
    /// How it is split when the parallelism changes.
    pub union: bool,
    /// The encoded elements.
    pub elements: Vec<Vec<u8>>,
}

impl ListSnapshot {
    /// How the list is redistributed.
    pub fn mode(&self) -> Redistribution {
        if self.union { Redistribution::Union } else { Redistribution::EvenSplit }
    }
}

/// How many of the values written into a snapshot are decoded back at once, to find a
/// type that encodes but cannot be read back (serde's `untagged`, `flatten`, internally
/// tagged enums, `serde_json::Value`) while the state still exists, rather than when a
/// restore needs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verification {
    /// The first value of each state in each key group (checkpoints: cheap, and finds
    /// types whose every value fails, such as untagged enums; a value that fails only
    /// in some shapes, e.g. `Option<Untagged>` holding `None` first, is found by the
    /// next savepoint).
    #[default]
    Sample,
    /// Every value (savepoints: taken rarely, kept long, restored elsewhere).
    Every,
}

/// The state one operator instance wrote for one checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorSnapshot {
    /// Per key group: named parts.
    pub keyed: BTreeMap<u32, Vec<(String, Vec<u8>)>>,
    /// Operator (non-keyed) state.
    pub lists: Vec<ListSnapshot>,
    /// How much of what is written is decoded back (not stored).
    #[serde(skip)]
    pub verification: Verification,
}

impl OperatorSnapshot {
    /// An empty snapshot for the checkpoint or savepoint of `barrier`.
    pub fn for_barrier(barrier: &super::CheckpointBarrier) -> Self {
        let verification = match barrier.kind {
            super::CheckpointKind::Savepoint => Verification::Every,
            super::CheckpointKind::Checkpoint => Verification::Sample,
        };
        OperatorSnapshot { verification, ..Default::default() }
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.keyed.is_empty() && self.lists.iter().all(|l| l.elements.is_empty())
    }

    /// Adds a part of key group `key_group`.
    pub fn add_keyed(&mut self, key_group: u32, part: &str, bytes: Vec<u8>) {
        self.keyed.entry(key_group).or_default().push((part.to_string(), bytes));
    }

    /// Adds an operator list.
    pub fn add_list(&mut self, name: &str, mode: Redistribution, elements: Vec<Vec<u8>>) {
        self.lists.push(ListSnapshot { name: name.to_string(), union: mode == Redistribution::Union, elements });
    }

    /// The size of the encoded state, in bytes.
    pub fn size(&self) -> usize {
        let keyed: usize = self.keyed.values().flatten().map(|(_, b)| b.len()).sum();
        let lists: usize = self.lists.iter().flat_map(|l| &l.elements).map(Vec::len).sum();
        keyed + lists
    }
}

/// The state an operator instance starts from: the key groups it owns and its share of
/// every operator list, gathered from the snapshots of the subtasks that ran before.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoredState {
    /// Per key group: named parts.
    pub keyed: BTreeMap<u32, Vec<(String, Vec<u8>)>>,
    /// Operator lists by name, with this subtask's elements.
    pub lists: BTreeMap<String, Vec<Vec<u8>>>,
}

impl RestoredState {
    /// The parts named `part`, key group by key group.
    pub fn keyed_parts<'a>(&'a self, part: &'a str) -> impl Iterator<Item = (u32, &'a [u8])> + 'a {
        self.keyed.iter().flat_map(move |(g, parts)| {
            parts.iter().filter(move |(p, _)| p == part).map(move |(_, b)| (*g, b.as_slice()))
        })
    }

    /// The names of keyed parts starting with `prefix` (e.g. the user states).
    pub fn part_names(&self, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> =
            self.keyed.values().flatten().map(|(p, _)| p).filter(|p| p.starts_with(prefix)).cloned().collect();
        names.sort();
        names.dedup();
        names
    }

    /// This subtask's elements of operator list `name`, if the snapshot had it.
    pub fn list(&self, name: &str) -> Option<&[Vec<u8>]> {
        self.lists.get(name).map(Vec::as_slice)
    }

    /// Gathers the state of subtask `subtask` of `parallelism`, owning key groups
    /// `range`, from the snapshots of the previous run's subtasks (in subtask order):
    /// keyed state by key group, even-split lists dealt out in turn, union lists whole.
    pub fn assemble(
        previous: &[&OperatorSnapshot],
        range: spate_core::KeyGroupRange,
        subtask: u32,
        parallelism: u32,
    ) -> RestoredState {
        let mut restored = RestoredState::default();
        for snapshot in previous {
            for (g, parts) in &snapshot.keyed {
                if range.contains(*g) {
                    restored.keyed.entry(*g).or_default().extend(parts.iter().cloned());
                }
            }
        }
        let mut names: Vec<(&str, bool)> =
            previous.iter().flat_map(|s| &s.lists).map(|l| (l.name.as_str(), l.union)).collect();
        names.sort();
        names.dedup();
        for (name, union) in names {
            let all = previous.iter().flat_map(|s| &s.lists).filter(|l| l.name == name).flat_map(|l| &l.elements);
            let mine: Vec<Vec<u8>> = if union {
                all.cloned().collect()
            } else {
                all.enumerate()
                    .filter(|(i, _)| *i as u32 % parallelism.max(1) == subtask)
                    .map(|(_, e)| e.clone())
                    .collect()
            };
            restored.lists.insert(name.to_string(), mine);
        }
        restored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spate_core::KeyGroupRange;

    #[test]
    fn restore_splits_key_groups_and_lists_over_the_new_parallelism() {
        let mut a = OperatorSnapshot::default();
        let mut b = OperatorSnapshot::default();
        for g in 0..4 {
            a.add_keyed(g, "table", vec![g as u8]);
        }
        for g in 4..8 {
            b.add_keyed(g, "table", vec![g as u8]);
            b.add_keyed(g, "timers", vec![100 + g as u8]);
        }
        a.add_list("offsets", Redistribution::EvenSplit, vec![vec![1], vec![2], vec![3]]);
        b.add_list("offsets", Redistribution::EvenSplit, vec![vec![4]]);
        a.add_list("rules", Redistribution::Union, vec![vec![9]]);
        b.add_list("rules", Redistribution::Union, vec![vec![8]]);
        let parts = |r: &RestoredState, p: &str| r.keyed_parts(p).map(|(g, b)| (g, b[0])).collect::<Vec<_>>();
        let all: Vec<RestoredState> = (0..3)
            .map(|s| {
                let range = KeyGroupRange { start: s * 8 / 3, end: (s + 1) * 8 / 3 };
                RestoredState::assemble(&[&a, &b], range, s, 3)
            })
            .collect();
        assert_eq!(parts(&all[0], "table"), vec![(0, 0), (1, 1)]);
        assert_eq!(parts(&all[1], "table"), vec![(2, 2), (3, 3), (4, 4)]);
        assert_eq!(parts(&all[1], "timers"), vec![(4, 104)]);
        assert_eq!(parts(&all[2], "table"), vec![(5, 5), (6, 6), (7, 7)]);
        let offsets: Vec<Vec<Vec<u8>>> = all.iter().map(|r| r.list("offsets").unwrap().to_vec()).collect();
        assert_eq!(offsets, vec![vec![vec![1], vec![4]], vec![vec![2]], vec![vec![3]]], "dealt out in turn");
        assert!(all.iter().all(|r| r.list("rules") == Some(&[vec![9], vec![8]][..])), "union lists go to everyone");
        assert_eq!(all[1].part_names("t"), vec!["table".to_string(), "timers".to_string()]);
    }
}
