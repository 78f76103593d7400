//! Accumulators: values functions add to, combined over every subtask and read by
//! name from the job's result (Flink's accumulators).

use std::collections::BTreeMap;

use spate::prelude::*;
use spate::{AccumulatorResults, Histogram};

use crate::env;

/// Counts records and their sizes, and keeps the longest, as a Flink user would.
#[derive(Clone, Default)]
struct Measure {
    records: IntCounter,
    total: LongCounter,
    sizes: Histogram,
    longest: Longest,
}

/// A custom accumulator: the longest string seen.
#[derive(Clone, Default)]
struct Longest(std::sync::Arc<std::sync::Mutex<String>>);

impl Accumulator for Longest {
    type Result = String;
    fn fresh(&self) -> Self {
        Longest::default()
    }
    fn local_value(&self) -> String {
        self.0.lock().unwrap().clone()
    }
    fn merge(a: String, b: String) -> String {
        if b.len() > a.len() { b } else { a }
    }
}

impl MapFunction<String, usize> for Measure {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        ctx.add_accumulator("records", &mut self.records)?;
        ctx.add_accumulator("total-bytes", &mut self.total)?;
        ctx.add_accumulator("sizes", &mut self.sizes)?;
        ctx.add_accumulator("longest", &mut self.longest)?;
        Ok(())
    }
    fn map(&mut self, line: String) -> FnResult<usize> {
        self.records.add(1);
        self.total.add(line.len() as i64);
        self.sizes.add(line.len() as i32);
        let mut longest = self.longest.0.lock().unwrap();
        if line.len() > longest.len() {
            *longest = line.clone();
        }
        Ok(line.len())
    }
}

fn lines() -> Vec<String> {
    (0..500).map(|i| "x".repeat(1 + i % 7) + &i.to_string()).collect()
}

#[test]
fn accumulators_combine_over_every_subtask() {
    let input = lines();
    let env = env(3);
    env.from_iter(input.clone()).rebalance().map_function(Measure::default()).add_sink(|_| {});
    let result = env.execute("measure").unwrap();
    assert_eq!(result.accumulator_result::<IntCounter>("records").unwrap(), Some(500));
    let bytes: i64 = input.iter().map(|l| l.len() as i64).sum();
    assert_eq!(result.accumulator_result::<LongCounter>("total-bytes").unwrap(), Some(bytes));
    let mut sizes = BTreeMap::new();
    for l in &input {
        *sizes.entry(l.len() as i32).or_insert(0) += 1;
    }
    assert_eq!(result.accumulator_result::<Histogram>("sizes").unwrap(), Some(sizes));
    let longest = input.iter().map(String::len).max().unwrap();
    assert_eq!(result.accumulator_result::<Longest>("longest").unwrap().map(|s| s.len()), Some(longest));
    assert_eq!(result.accumulators.values["records"].len(), 3, "one value per subtask");
    assert_eq!(result.accumulator_result::<IntCounter>("nothing").unwrap(), None);
    let err = result.accumulator_result::<LongCounter>("records").unwrap_err().to_string();
    assert!(err.contains("IntCounter"), "{err}");
}

#[test]
fn a_restarted_job_counts_from_zero() {
    // The first attempt fails half way; the restart reads everything again. The count
    // is the last attempt's (accumulators are not checkpointed), so it equals the input.
    #[derive(Clone)]
    struct FailOnce(IntCounter, std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl MapFunction<i64, i64> for FailOnce {
        fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
            ctx.add_accumulator("seen", &mut self.0)?;
            Ok(())
        }
        fn map(&mut self, x: i64) -> FnResult<i64> {
            self.0.add(1);
            if x == 500 && !self.1.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Err("the first attempt fails".into());
            }
            Ok(x)
        }
    }
    let env = env(1);
    env.set_config("restart-strategy.type", "fixed-delay").unwrap();
    env.set_config("restart-strategy.fixed-delay.delay", "0 ms").unwrap();
    let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    env.from_sequence(0..1_000).map_function(FailOnce(IntCounter::new(), failed)).add_sink(|_| {});
    let job = env.execute_async("restarts").unwrap();
    let result = job.wait().unwrap();
    assert_eq!(result.accumulator_result::<IntCounter>("seen").unwrap(), Some(1_000));
}

#[test]
fn the_same_name_with_two_types_fails_the_job() {
    #[derive(Clone)]
    struct Twice;
    impl MapFunction<i64, i64> for Twice {
        fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
            ctx.add_accumulator("n", &mut IntCounter::new())?;
            ctx.add_accumulator("n", &mut LongCounter::new())?;
            Ok(())
        }
        fn map(&mut self, x: i64) -> FnResult<i64> {
            Ok(x)
        }
    }
    let env = env(1);
    env.from_sequence(0..10).map_function(Twice).add_sink(|_| {});
    let err = env.execute("twice").unwrap_err().to_string();
    assert!(err.contains("accumulator 'n'") && err.contains("twice"), "{err}");
}

#[test]
fn accumulators_are_readable_while_the_job_runs() {
    #[derive(Clone, Default)]
    struct Counting(IntCounter);
    impl MapFunction<i64, i64> for Counting {
        fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
            ctx.add_accumulator("so-far", &mut self.0)?;
            Ok(())
        }
        fn map(&mut self, x: i64) -> FnResult<i64> {
            self.0.add(1);
            Ok(x)
        }
    }
    let env = env(1);
    env.from_generator(|j| j as i64, None).map_function(Counting::default()).add_sink(|_| {});
    let job = env.execute_async("live").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = 0;
    while seen < 10_000 {
        assert!(std::time::Instant::now() < deadline, "the live count grows: {seen}");
        let live: AccumulatorResults = job.accumulators().unwrap();
        seen = live.get::<IntCounter>("so-far").unwrap().unwrap_or(0);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    job.cancel();
    assert!(job.wait().is_err());
}
