//! Every partitioner: which subtask each record reaches.

use std::collections::{BTreeMap, BTreeSet};

use spate::prelude::*;
use spate_core::KeyGroupRange;
use spate_core::key::KeyHasher;
use spate_core::key_group::key_group_for_hash;

use crate::{env, sorted};

/// A map that tags each record with the subtask that processed it.
#[derive(Clone, Default)]
struct Where {
    subtask: u32,
}

impl MapFunction<i64, (u32, i64)> for Where {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.subtask = ctx.subtask_index();
        Ok(())
    }
    fn map(&mut self, value: i64) -> FnResult<(u32, i64)> {
        Ok((self.subtask, value))
    }
}

/// Tags records with their source subtask, then with the subtask of the next operator.
#[derive(Clone, Default)]
struct Where2 {
    subtask: u32,
}

impl MapFunction<(u32, i64), (u32, u32, i64)> for Where2 {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.subtask = ctx.subtask_index();
        Ok(())
    }
    fn map(&mut self, (from, value): (u32, i64)) -> FnResult<(u32, u32, i64)> {
        Ok((from, self.subtask, value))
    }
}

/// Runs `source (p_up) -> partition -> map (p_down)` and returns (from, to, value).
fn route(
    p_up: u32,
    p_down: u32,
    partition: impl Fn(&DataStream<(u32, i64)>) -> DataStream<(u32, i64)>,
) -> Vec<(u32, u32, i64)> {
    let env = env(p_up);
    let tagged = env.from_sequence(0..1200).map_function(Where::default());
    partition(&tagged).map_function(Where2::default()).set_parallelism(p_down).execute_and_collect().unwrap()
}

#[test]
fn forward_keeps_the_subtask() {
    let out = route(3, 3, |s| s.forward());
    assert_eq!(out.len(), 1200);
    assert!(out.iter().all(|(from, to, _)| from == to));
}

#[test]
fn forward_with_unequal_parallelism_is_an_error() {
    let env = env(2);
    env.from_sequence(0..10).forward().map(|x: i64| x).set_parallelism(3).add_sink(|_: i64| {});
    let err = env.execute("bad forward").unwrap_err().to_string();
    assert!(err.contains("forward partitioning needs equal parallelism"), "{err}");
}

#[test]
fn rebalance_spreads_evenly_over_all_subtasks() {
    let out = route(2, 3, |s| s.rebalance());
    let mut per_target = BTreeMap::new();
    let mut pairs = BTreeSet::new();
    for (from, to, _) in &out {
        *per_target.entry(*to).or_insert(0) += 1;
        pairs.insert((*from, *to));
    }
    assert_eq!(per_target.values().copied().collect::<Vec<_>>(), vec![400, 400, 400]);
    assert_eq!(pairs.len(), 6, "every source subtask sends to every target");
}

#[test]
fn rescale_sends_to_a_local_subset() {
    let out = route(2, 4, |s| s.rescale());
    let pairs: BTreeSet<(u32, u32)> = out.iter().map(|(f, t, _)| (*f, *t)).collect();
    assert_eq!(pairs, BTreeSet::from([(0, 0), (0, 1), (1, 2), (1, 3)]));
    assert_eq!(out.len(), 1200);
}

#[test]
fn broadcast_reaches_every_subtask() {
    let out = route(2, 3, |s| s.broadcast());
    assert_eq!(out.len(), 3600);
    let mut seen: BTreeMap<i64, BTreeSet<u32>> = BTreeMap::new();
    for (_, to, v) in out {
        seen.entry(v).or_default().insert(to);
    }
    assert_eq!(seen.len(), 1200);
    assert!(seen.values().all(|targets| targets.len() == 3));
}

#[test]
fn global_sends_everything_to_subtask_zero() {
    let out = route(3, 3, |s| s.global());
    assert_eq!(out.len(), 1200);
    assert!(out.iter().all(|(_, to, _)| *to == 0));
}

#[test]
fn shuffle_uses_every_subtask() {
    let out = route(2, 4, |s| s.shuffle());
    assert_eq!(sorted(out.iter().map(|r| r.2).collect()), (0..1200).collect::<Vec<_>>());
    let targets: BTreeSet<u32> = out.iter().map(|r| r.1).collect();
    assert_eq!(targets.len(), 4);
}

#[test]
fn partition_custom_uses_the_users_choice() {
    let out = route(2, 3, |s| s.partition_custom(|key: &i64, n| (*key as usize) % n, |r: &(u32, i64)| r.1));
    assert_eq!(out.len(), 1200);
    assert!(out.iter().all(|(_, to, v)| *to as i64 == v % 3));
}

#[test]
fn partition_custom_out_of_range_fails_the_job() {
    let env = env(2);
    env.from_sequence(0..10).partition_custom(|_: &i64, n| n + 1, |v: &i64| *v).map(|x: i64| x).add_sink(|_: i64| {});
    let err = env.execute("bad partitioner").unwrap_err().to_string();
    assert!(err.contains("custom partitioner returned partition 3, but there are only 2"), "{err}");
}

#[test]
fn key_by_sends_each_key_to_the_owner_of_its_key_group() {
    for p in [1u32, 3] {
        let env = env(2);
        let out = env
            .from_sequence(0..2000)
            .key_by(|v: &i64| v % 97)
            .reduce(|a: i64, _b: i64| a)
            .set_parallelism(p)
            .map_function(Where::default())
            .set_parallelism(p)
            .execute_and_collect()
            .unwrap();
        let mut hasher = KeyHasher::new();
        for (subtask, value) in out {
            let group = key_group_for_hash(hasher.hash(&(value % 97)).unwrap(), 128);
            assert!(
                KeyGroupRange::for_operator(128, p, subtask).contains(group),
                "key {} (group {group}) at subtask {subtask} of {p}",
                value % 97
            );
        }
    }
}
