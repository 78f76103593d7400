//! Every transformation, at parallelism 1 and 3.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use spate::prelude::*;

use crate::{env, sorted};

const PARALLELISMS: [u32; 2] = [1, 3];

#[test]
fn map_flat_map_filter() {
    for p in PARALLELISMS {
        let env = env(p);
        let out = env
            .from_sequence(0..1000)
            .map(|x: i64| x * 3)
            .filter(|x: &i64| x % 2 == 0)
            .flat_map(|x: i64| std::iter::repeat_n(x, (x % 3 + 1) as usize))
            .execute_and_collect()
            .unwrap();
        let expected: Vec<i64> = (0..1000)
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0)
            .flat_map(|x| std::iter::repeat_n(x, (x % 3 + 1) as usize))
            .collect();
        assert_eq!(sorted(out), sorted(expected), "parallelism {p}");
    }
}

#[test]
fn process_function_emits_through_the_collector() {
    for p in PARALLELISMS {
        let env = env(p);
        let out = env
            .from_sequence(0..200)
            .process(|x: i64, ctx: &mut ProcessContext<'_>, out: &mut Collector<'_, (i64, bool)>| {
                assert!(ctx.timestamp().is_none(), "sequence records carry no timestamp");
                if x % 5 == 0 {
                    out.collect((x, ctx.current_processing_time() > 0));
                    out.collect((-x, true));
                }
                Ok(())
            })
            .execute_and_collect()
            .unwrap();
        let expected: Vec<(i64, bool)> =
            (0..200).filter(|x| x % 5 == 0).flat_map(|x| [(x, true), (-x, true)]).collect();
        assert_eq!(sorted(out), sorted(expected), "parallelism {p}");
    }
}

/// Records `(key, value)` from one ordered source, so each key's order is fixed.
fn keyed_input() -> Vec<(u32, i64)> {
    (0..600).map(|i| ((i * 7 % 13) as u32, (i * 31 % 97) as i64 - 40)).collect()
}

#[test]
fn streaming_reduce_emits_every_running_value() {
    for p in PARALLELISMS {
        let env = env(p);
        let out = env
            .from_iter(keyed_input())
            .key_by(|r: &(u32, i64)| r.0)
            .reduce(|a: (u32, i64), b: (u32, i64)| (a.0, a.1 + b.1))
            .execute_and_collect()
            .unwrap();
        let mut running = BTreeMap::new();
        let expected: Vec<(u32, i64)> = keyed_input()
            .into_iter()
            .map(|(k, v)| {
                let total = running.entry(k).or_insert(0);
                *total += v;
                (k, *total)
            })
            .collect();
        assert_eq!(sorted(out), sorted(expected), "parallelism {p}");
    }
}

fn batch_env(p: u32) -> StreamEnv {
    let env = env(p);
    env.set_runtime_mode(RuntimeMode::Batch);
    env
}

/// (key, value, sequence number)
type Row = (u32, i64, u32);

fn field(r: &mut Row) -> &mut i64 {
    &mut r.1
}

fn per_key<F: Fn(&[(u32, i64, u32)]) -> (u32, i64, u32)>(input: &[(u32, i64, u32)], f: F) -> Vec<(u32, i64, u32)> {
    let mut groups: BTreeMap<u32, Vec<(u32, i64, u32)>> = BTreeMap::new();
    for r in input {
        groups.entry(r.0).or_default().push(*r);
    }
    groups.values().map(|g| f(g)).collect()
}

#[test]
fn field_aggregations_in_batch_mode() {
    // (key, value, sequence number): the sequence number shows which record was kept.
    let input: Vec<(u32, i64, u32)> = (0..300u32).map(|i| (i % 7, ((i * 37) % 101) as i64, i)).collect();
    for p in PARALLELISMS {
        let run = |agg: &dyn Fn(KeyedStream<Row, u32>) -> DataStream<Row>| {
            let env = batch_env(p);
            let keyed = env.from_iter(input.clone()).key_by(|r: &(u32, i64, u32)| r.0);
            sorted(agg(keyed).execute_and_collect().unwrap())
        };
        assert_eq!(
            run(&|k| k.sum(field)),
            per_key(&input, |g| (g[0].0, g.iter().map(|r| r.1).sum(), g[0].2)),
            "sum, parallelism {p}"
        );
        assert_eq!(
            run(&|k| k.min(field)),
            per_key(&input, |g| (g[0].0, g.iter().map(|r| r.1).min().unwrap(), g[0].2)),
            "min, parallelism {p}"
        );
        assert_eq!(
            run(&|k| k.max(field)),
            per_key(&input, |g| (g[0].0, g.iter().map(|r| r.1).max().unwrap(), g[0].2)),
            "max, parallelism {p}"
        );
        assert_eq!(
            run(&|k| k.min_by(field)),
            per_key(&input, |g| *g.iter().min_by_key(|r| (r.1, r.2)).unwrap()),
            "min_by keeps the first of equal records, parallelism {p}"
        );
        assert_eq!(
            run(&|k| k.max_by(field)),
            per_key(&input, |g| *g.iter().max_by_key(|r| (r.1, std::cmp::Reverse(r.2))).unwrap()),
            "max_by keeps the first of equal records, parallelism {p}"
        );
    }
}

/// The average value per key.
#[derive(Clone)]
struct Average;

impl AggregateFunction<(u32, i64), (u32, i64, u64), (u32, f64)> for Average {
    fn create_accumulator(&mut self) -> (u32, i64, u64) {
        (0, 0, 0)
    }
    fn add(&mut self, value: (u32, i64), acc: &mut (u32, i64, u64)) {
        *acc = (value.0, acc.1 + value.1, acc.2 + 1);
    }
    fn get_result(&mut self, acc: &(u32, i64, u64)) -> (u32, f64) {
        (acc.0, acc.1 as f64 / acc.2 as f64)
    }
    fn merge(&mut self, a: (u32, i64, u64), b: (u32, i64, u64)) -> (u32, i64, u64) {
        (a.0, a.1 + b.1, a.2 + b.2)
    }
}

#[test]
fn aggregate_function_in_both_modes() {
    for p in PARALLELISMS {
        let out = batch_env(p)
            .from_iter(keyed_input())
            .key_by(|r: &(u32, i64)| r.0)
            .aggregate(Average)
            .execute_and_collect()
            .unwrap();
        let mut groups: BTreeMap<u32, (i64, u64)> = BTreeMap::new();
        for (k, v) in keyed_input() {
            let g = groups.entry(k).or_default();
            g.0 += v;
            g.1 += 1;
        }
        let expected: Vec<(u32, f64)> = groups.iter().map(|(k, (s, n))| (*k, *s as f64 / *n as f64)).collect();
        let mut out = out;
        out.sort_by_key(|r| r.0);
        assert_eq!(out, expected, "batch, parallelism {p}");

        let streaming = env(p)
            .from_iter(keyed_input())
            .key_by(|r: &(u32, i64)| r.0)
            .aggregate(Average)
            .execute_and_collect()
            .unwrap();
        assert_eq!(streaming.len(), keyed_input().len(), "streaming emits after every record");
    }
}

#[test]
fn union_merges_streams() {
    for p in PARALLELISMS {
        let env = env(p);
        let a = env.from_sequence(0..100);
        let b = env.from_sequence(100..150).map(|x: i64| x * 10);
        let c = env.from_iter(vec![-1i64, -2]);
        let out = a.union(&b).union(&c).map(|x: i64| x + 1).execute_and_collect().unwrap();
        let expected: Vec<i64> = (0..100).chain((100..150).map(|x| x * 10)).chain([-1, -2]).map(|x| x + 1).collect();
        assert_eq!(sorted(out), sorted(expected), "parallelism {p}");
    }
}

/// A rich map function: sees its subtask in `open`, counts its `open` and `close`.
#[derive(Clone)]
struct Tagger {
    subtask: Option<u32>,
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl MapFunction<i64, (u32, u32, i64)> for Tagger {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        assert!(ctx.subtask_index() < ctx.parallelism());
        assert_eq!(ctx.max_parallelism(), 128);
        assert_eq!(ctx.attempt_number(), 0);
        assert_eq!(ctx.operator_name(), "tagger");
        self.subtask = Some(ctx.subtask_index());
        self.opened.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn map(&mut self, value: i64) -> FnResult<(u32, u32, i64)> {
        Ok((self.subtask.ok_or("map before open")?, 0, value))
    }
    fn close(&mut self) -> FnResult {
        self.closed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn rich_functions_open_and_close_once_per_subtask() {
    for p in PARALLELISMS {
        let (opened, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tagger = Tagger { subtask: None, opened: opened.clone(), closed: closed.clone() };
        let out = env(p).from_sequence(0..90).map_function(tagger).name("tagger").execute_and_collect().unwrap();
        assert_eq!(out.len(), 90);
        assert_eq!(opened.load(Ordering::SeqCst), p as usize);
        assert_eq!(closed.load(Ordering::SeqCst), p as usize);
        // A sequence source splits contiguously and the map is chained to it.
        for (subtask, _, value) in out {
            let part = 90 / i64::from(p);
            assert_eq!(i64::from(subtask), value / part, "value {value} at subtask {subtask} (p {p})");
        }
    }
}

#[test]
fn a_stream_feeds_several_consumers() {
    for p in PARALLELISMS {
        let env = env(p);
        let numbers = env.from_sequence(0..50);
        let doubled = numbers.map(|x: i64| x * 2);
        let negated = numbers.map(|x: i64| -x);
        let out = doubled.union(&negated).execute_and_collect().unwrap();
        let expected: Vec<i64> = (0..50).map(|x| x * 2).chain((0..50).map(|x| -x)).collect();
        assert_eq!(sorted(out), sorted(expected), "parallelism {p}");
    }
}

#[test]
fn execute_starts_a_new_pipeline_each_time() {
    let env = env(2);
    env.from_sequence(0..10).add_sink(|_: i64| {});
    env.execute("first").unwrap();
    let second = env.from_sequence(5..8).execute_and_collect().unwrap();
    assert_eq!(sorted(second), vec![5, 6, 7], "the first job's operators are not run again");
    let err = env.execute("empty").unwrap_err().to_string();
    assert!(err.contains("no operators were defined"), "{err}");
}
