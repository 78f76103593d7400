//! Keyed state, operator state and TTL, through user functions.

use std::collections::BTreeMap;

use spate::prelude::*;
use spate::{ManualClock, StateVisibility, TtlUpdateType};

use crate::{env, sorted};

/// Keeps a running sum per key in a `ValueState` and emits it.
#[derive(Clone, Default)]
struct RunningSum {
    sum: Option<ValueState<i64>>,
}

impl KeyedProcessFunction<u32, (u32, i64), (u32, i64)> for RunningSum {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.sum = Some(ctx.get_state(&ValueStateDescriptor::new("sum"))?);
        Ok(())
    }

    fn process_element(
        &mut self,
        (key, value): (u32, i64),
        ctx: &mut KeyedContext<'_, u32>,
        out: &mut Collector<'_, (u32, i64)>,
    ) -> FnResult {
        assert_eq!(*ctx.current_key(), key);
        let sum = self.sum.as_ref().ok_or("not opened")?;
        let total = sum.value()?.unwrap_or(0) + value;
        sum.update(total)?;
        out.collect((key, total));
        Ok(())
    }
}

fn keyed_input() -> Vec<(u32, i64)> {
    (0..3000).map(|i| ((i * 7 % 101) as u32, (i * 13 % 29) as i64 - 10)).collect()
}

fn running_sums(input: &[(u32, i64)]) -> Vec<(u32, i64)> {
    let mut totals = BTreeMap::new();
    input
        .iter()
        .map(|(k, v)| {
            let t = totals.entry(*k).or_insert(0);
            *t += v;
            (*k, *t)
        })
        .collect()
}

#[test]
fn value_state_keeps_one_value_per_key() {
    for p in [1, 3] {
        let out = env(p)
            .from_iter(keyed_input())
            .key_by(|r: &(u32, i64)| r.0)
            .process_function(RunningSum::default())
            .execute_and_collect()
            .unwrap();
        assert!(sorted(out) == sorted(running_sums(&keyed_input())), "parallelism {p}");
    }
}

/// Exercises list, map, reducing and aggregating state; emits what each holds.
#[derive(Clone, Default)]
struct AllStates {
    list: Option<ListState<i64>>,
    map: Option<MapState<i64, u32>>,
    reducing: Option<ReducingState<i64>>,
    aggregating: Option<AggregatingState<i64, (i64, u64)>>,
}

/// Sum and count, as an aggregate function.
#[derive(Clone)]
struct SumCount;

impl AggregateFunction<i64, (i64, u64), (i64, u64)> for SumCount {
    fn create_accumulator(&mut self) -> (i64, u64) {
        (0, 0)
    }
    fn add(&mut self, value: i64, acc: &mut (i64, u64)) {
        acc.0 += value;
        acc.1 += 1;
    }
    fn get_result(&mut self, acc: &(i64, u64)) -> (i64, u64) {
        *acc
    }
    fn merge(&mut self, a: (i64, u64), b: (i64, u64)) -> (i64, u64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

/// What `AllStates` reports for a record: list, map entries (sorted), max so far, sum
/// and count.
type Snapshot = (u32, Vec<i64>, Vec<(i64, u32)>, Option<i64>, Option<(i64, u64)>);

const CLEAR: i64 = -1000;

impl KeyedProcessFunction<u32, (u32, i64), Snapshot> for AllStates {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.list = Some(ctx.get_list_state(&ListStateDescriptor::new("list"))?);
        self.map = Some(ctx.get_map_state(&MapStateDescriptor::new("map"))?);
        self.reducing = Some(ctx.get_reducing_state(&ReducingStateDescriptor::new("max", i64::max))?);
        self.aggregating = Some(ctx.get_aggregating_state(&AggregatingStateDescriptor::new("sum-count", SumCount))?);
        Ok(())
    }

    fn process_element(
        &mut self,
        (key, v): (u32, i64),
        _: &mut KeyedContext<'_, u32>,
        out: &mut Collector<'_, Snapshot>,
    ) -> FnResult {
        let (list, map, reducing, aggregating) =
            (self.list.unwrap(), self.map.unwrap(), self.reducing.unwrap(), self.aggregating.unwrap());
        if v == CLEAR {
            list.clear()?;
            map.clear()?;
            reducing.clear()?;
            aggregating.clear()?;
            assert!(map.is_empty()? && list.get()?.is_empty());
        } else {
            list.add(v)?;
            if list.get()?.len() > 4 {
                // Keep the last four.
                let kept: Vec<i64> = list.get()?.split_off(1);
                list.update(kept)?;
            }
            let bucket = v.rem_euclid(3);
            let count = map.get(&bucket)?.unwrap_or(0);
            assert_eq!(map.contains(&bucket)?, count > 0);
            if count == 2 {
                assert_eq!(map.remove(&bucket)?, Some(2));
            } else {
                map.put(bucket, count + 1)?;
            }
            reducing.add(v)?;
            aggregating.add(v)?;
        }
        let mut entries = map.entries()?;
        entries.sort();
        let mut keys = map.keys()?;
        keys.sort();
        assert_eq!(keys, entries.iter().map(|e| e.0).collect::<Vec<_>>());
        assert_eq!(map.values()?.len(), entries.len());
        assert_eq!(map.iter()?.count(), entries.len());
        out.collect((key, list.get()?, entries, reducing.get()?, aggregating.get()?));
        Ok(())
    }
}

/// The same, computed without Spate.
fn model(input: &[(u32, i64)]) -> Vec<Snapshot> {
    #[derive(Default)]
    struct Per {
        list: Vec<i64>,
        map: BTreeMap<i64, u32>,
        max: Option<i64>,
        sum_count: Option<(i64, u64)>,
    }
    let mut per: BTreeMap<u32, Per> = BTreeMap::new();
    input
        .iter()
        .map(|&(key, v)| {
            let s = per.entry(key).or_default();
            if v == CLEAR {
                *s = Per::default();
            } else {
                s.list.push(v);
                if s.list.len() > 4 {
                    s.list.remove(0);
                }
                let bucket = v.rem_euclid(3);
                let count = s.map.get(&bucket).copied().unwrap_or(0);
                if count == 2 {
                    s.map.remove(&bucket);
                } else {
                    s.map.insert(bucket, count + 1);
                }
                s.max = Some(s.max.map_or(v, |m| m.max(v)));
                let (sum, n) = s.sum_count.unwrap_or((0, 0));
                s.sum_count = Some((sum + v, n + 1));
            }
            (key, s.list.clone(), s.map.iter().map(|(k, c)| (*k, *c)).collect(), s.max, s.sum_count)
        })
        .collect()
}

#[test]
fn list_map_reducing_and_aggregating_state() {
    let input: Vec<(u32, i64)> =
        (0..2000).map(|i| ((i % 17) as u32, if i % 97 == 5 { CLEAR } else { (i * 31 % 41) as i64 - 20 })).collect();
    for p in [1, 3] {
        let out = env(p)
            .from_iter(input.clone())
            .key_by(|r: &(u32, i64)| r.0)
            .process_function(AllStates::default())
            .execute_and_collect()
            .unwrap();
        assert_eq!(out.len(), input.len());
        assert!(sorted(out) == sorted(model(&input)), "parallelism {p}");
    }
}

#[test]
fn operators_and_keys_do_not_share_state() {
    let input = keyed_input();
    let out = env(2)
        .from_iter(input.clone())
        .key_by(|r: &(u32, i64)| r.0)
        .process_function(RunningSum::default())
        .key_by(|r: &(u32, i64)| r.0)
        .process_function(RunningSum::default())
        .execute_and_collect()
        .unwrap();
    // The second operator's "sum" state is its own: it sums the first one's sums (per
    // key, the order of the first one's output survives the keyed exchange).
    let mut expected = Vec::new();
    let mut totals = BTreeMap::new();
    for (k, v) in running_sums(&input) {
        let t = totals.entry(k).or_insert(0);
        *t += v;
        expected.push((k, *t));
    }
    assert!(sorted(out) == sorted(expected));
}

/// Counts records per key with keyed state in a rich map function.
#[derive(Clone, Default)]
struct CountingMap {
    count: Option<ValueState<u64>>,
}

impl MapFunction<(u32, i64), (u32, u64)> for CountingMap {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.count = Some(ctx.get_state(&ValueStateDescriptor::new("count"))?);
        Ok(())
    }
    fn map(&mut self, value: (u32, i64)) -> FnResult<(u32, u64)> {
        let count = self.count.as_ref().ok_or("not opened")?;
        let n = count.value()?.unwrap_or(0) + 1;
        count.update(n)?;
        Ok((value.0, n))
    }
}

#[test]
fn rich_functions_on_keyed_streams_use_keyed_state() {
    let out = env(3)
        .from_iter(keyed_input())
        .key_by(|r: &(u32, i64)| r.0)
        .map_function(CountingMap::default())
        .execute_and_collect()
        .unwrap();
    let mut per_key: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for (k, n) in out {
        per_key.entry(k).or_default().push(n);
    }
    for (k, mut counts) in per_key {
        counts.sort();
        let expected = keyed_input().iter().filter(|r| r.0 == k).count() as u64;
        assert_eq!(counts, (1..=expected).collect::<Vec<_>>(), "key {k}");
    }
}

#[test]
fn keyed_state_on_a_stream_that_is_not_keyed_is_an_error() {
    let env = env(1);
    env.from_sequence(0..10)
        .map(|x: i64| (x as u32, x))
        .map_function(CountingMap::default())
        .name("counter")
        .add_sink(|_: (u32, u64)| {});
    let text = env.execute("not keyed").unwrap_err().to_string();
    assert!(text.contains("operator 'counter' failed: keyed state is only available on a keyed stream"), "{text}");
}

/// Registers one name twice with different types.
#[derive(Clone)]
struct Confused;

impl KeyedProcessFunction<u32, (u32, i64), ()> for Confused {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        ctx.get_state(&ValueStateDescriptor::<i64>::new("x"))?;
        ctx.get_state(&ValueStateDescriptor::<String>::new("x"))?;
        Ok(())
    }
    fn process_element(&mut self, _: (u32, i64), _: &mut KeyedContext<'_, u32>, _: &mut Collector<'_, ()>) -> FnResult {
        Ok(())
    }
}

#[test]
fn one_name_for_two_types_fails_in_open() {
    let env = env(1);
    env.from_iter(keyed_input()).key_by(|r: &(u32, i64)| r.0).process_function(Confused).add_sink(|_: ()| {});
    let text = env.execute("confused").unwrap_err().to_string();
    assert!(text.contains("the state 'x' was registered twice with different kinds or types"), "{text}");
}

/// Operator list state: each subtask remembers the values it saw.
#[derive(Clone, Default)]
struct Remember {
    seen: Option<ListState<i64>>,
}

impl MapFunction<i64, (usize, i64)> for Remember {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.seen = Some(ctx.get_operator_list_state(&ListStateDescriptor::new("seen"))?);
        // A keyed state is not available here, a union list is.
        assert!(ctx.get_state(&ValueStateDescriptor::<i64>::new("v")).is_err());
        ctx.get_union_list_state(&ListStateDescriptor::<i64>::new("union"))?;
        Ok(())
    }
    fn map(&mut self, value: i64) -> FnResult<(usize, i64)> {
        let seen = self.seen.as_ref().ok_or("not opened")?;
        seen.add(value)?;
        if value % 10 == 9 {
            let kept: Vec<i64> = seen.get()?.into_iter().filter(|v| v % 2 == 0).collect();
            seen.update(kept)?;
        }
        Ok((seen.get()?.len(), value))
    }
}

#[test]
fn operator_list_state_is_per_subtask() {
    let out = env(1).from_sequence(0..30).map_function(Remember::default()).execute_and_collect().unwrap();
    let mut model: Vec<i64> = Vec::new();
    let expected: Vec<(usize, i64)> = (0..30)
        .map(|v| {
            model.push(v);
            if v % 10 == 9 {
                model.retain(|x| x % 2 == 0);
            }
            (model.len(), v)
        })
        .collect();
    assert_eq!(out, expected);
}

/// Drives a manual clock from inside the function, so that each record sees exactly
/// the time the test means: record `(key, Some(t))` sets the clock to `t` and writes,
/// `(key, None)` reads.
#[derive(Clone)]
struct TtlProbe {
    clock: std::sync::Arc<ManualClock>,
    ttl: StateTtlConfig,
    state: Option<ValueState<i64>>,
}

impl KeyedProcessFunction<u32, (u32, i64, bool), (i64, Option<i64>)> for TtlProbe {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.state = Some(ctx.get_state(&ValueStateDescriptor::new("v").enable_time_to_live(self.ttl))?);
        Ok(())
    }
    fn process_element(
        &mut self,
        (_, time, write): (u32, i64, bool),
        _: &mut KeyedContext<'_, u32>,
        out: &mut Collector<'_, (i64, Option<i64>)>,
    ) -> FnResult {
        self.clock.set(time);
        let state = self.state.as_ref().ok_or("not opened")?;
        if write {
            state.update(time)?;
        }
        out.collect((time, state.value()?));
        Ok(())
    }
}

fn ttl_run(ttl: StateTtlConfig, steps: &[(i64, bool)]) -> Vec<(i64, Option<i64>)> {
    let clock = ManualClock::new(0);
    let env = env(1);
    env.set_processing_time_clock(clock.clone());
    env.from_iter(steps.iter().map(|&(t, w)| (7u32, t, w)).collect::<Vec<_>>())
        .key_by(|r: &(u32, i64, bool)| r.0)
        .process_function(TtlProbe { clock, ttl, state: None })
        .execute_and_collect()
        .unwrap()
}

#[test]
fn ttl_expires_values_by_update_type_and_visibility() {
    use std::time::Duration;
    let second = Duration::from_secs(1);
    // Written at 0, expires at 1000.
    let out =
        ttl_run(StateTtlConfig::new(second), &[(0, true), (500, false), (999, false), (1000, false), (1500, false)]);
    assert_eq!(out, vec![(0, Some(0)), (500, Some(0)), (999, Some(0)), (1000, None), (1500, None)]);
    // Reads restart the time-to-live.
    let out = ttl_run(
        StateTtlConfig::new(second).update_type(TtlUpdateType::OnReadAndWrite),
        &[(0, true), (800, false), (1600, false), (2700, false)],
    );
    assert_eq!(out, vec![(0, Some(0)), (800, Some(0)), (1600, Some(0)), (2700, None)]);
    // An expired value is returned once, then gone.
    let out = ttl_run(
        StateTtlConfig::new(second).state_visibility(StateVisibility::ReturnExpiredIfNotCleanedUp),
        &[(0, true), (5000, false), (5001, false)],
    );
    assert_eq!(out, vec![(0, Some(0)), (5000, Some(0)), (5001, None)]);
    // A write after expiry starts over.
    let out = ttl_run(StateTtlConfig::new(second), &[(0, true), (3000, true), (3500, false)]);
    assert_eq!(out, vec![(0, Some(0)), (3000, Some(3000)), (3500, Some(3000))]);
}
