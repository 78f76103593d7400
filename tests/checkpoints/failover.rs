//! Failure injection: jobs that fail at random records, once or several times, restart
//! from their checkpoints and commit exactly the output of a run without failure.

use std::collections::BTreeMap;
use std::time::Duration;

use spate::prelude::*;
use spate::{BoxError, CheckpointStatus, Sink, SinkWriter, StreamRecord, TextFileSink};

use crate::{FailurePlan, Throttle, committed_lines, env, run_with_checkpoints, temp_dir};

const WORDS: [&str; 13] =
    ["to", "be", "or", "not", "that", "is", "the", "question", "whether", "tis", "nobler", "in", "mind"];

/// Line `i` of the input: a few words chosen by `i`.
pub(crate) fn line(i: i64) -> String {
    let i = i as usize;
    (0..1 + i % 4).map(|k| WORDS[(i * 7 + k * 3) % WORDS.len()]).collect::<Vec<_>>().join(" ")
}

/// Every running count of every word: what a STREAMING word count emits.
pub(crate) fn expected_word_counts(lines: i64) -> BTreeMap<String, u32> {
    let mut totals: BTreeMap<&str, u32> = BTreeMap::new();
    for i in 0..lines {
        for w in line(i).split(' ') {
            *totals.entry(WORDS.iter().find(|x| **x == w).unwrap()).or_insert(0) += 1;
        }
    }
    let mut expected = BTreeMap::new();
    for (w, n) in totals {
        for k in 1..=n {
            expected.insert(format!("{w} {k}"), 1);
        }
    }
    expected
}

/// Where the failure plan sits in a job.
#[derive(Clone, Copy, Debug)]
enum Where {
    /// In a function before the stateful operator.
    Before,
    /// In a function after it, just before the sink.
    After,
}

/// Splits line `i` into `(word, 1)`, passing the failure plan first if asked.
#[derive(Clone)]
pub(crate) struct SplitLine(pub(crate) Option<FailurePlan>);

impl FlatMapFunction<i64, (String, u64)> for SplitLine {
    fn flat_map(&mut self, i: i64, out: &mut Collector<'_, (String, u64)>) -> FnResult {
        if let Some(plan) = &self.0 {
            plan.step()?;
        }
        for w in line(i).split(' ') {
            out.collect((w.to_string(), 1));
        }
        Ok(())
    }
}

/// Passes records on, passing the failure plan first if asked.
#[derive(Clone)]
struct Checked(Option<FailurePlan>);

impl<T: Send + 'static> MapFunction<T, T> for Checked {
    fn map(&mut self, value: T) -> FnResult<T> {
        if let Some(plan) = &self.0 {
            plan.step()?;
        }
        Ok(value)
    }
}

fn word_count(p: u32, lines: i64, plan: &FailurePlan, at: Where, dir: &std::path::Path) -> spate::Result<JobClient> {
    let out = dir.join("out");
    let env = env(p, 15, &dir.join("checkpoints"));
    let (before, after) = match at {
        Where::Before => (Some(plan.clone()), None),
        Where::After => (None, Some(plan.clone())),
    };
    env.from_sequence(0..lines)
        .uid("lines")
        .map_function(Throttle(20, 0))
        .flat_map_function(SplitLine(before))
        .key_by(|(w, _): &(String, u64)| w.clone())
        .sum(|(_, n): &mut (String, u64)| n)
        .uid("counts")
        .map(|(w, n): (String, u64)| format!("{w} {n}"))
        .map_function(Checked(after))
        .sink_to(TextFileSink::new(&out))
        .uid("files");
    env.execute_async("word count")
}

#[test]
fn word_count_commits_exactly_the_output_of_a_run_without_failure() {
    let lines = 6_000;
    let expected = expected_word_counts(lines);
    for seed in 0..6u64 {
        let dir = temp_dir(&format!("wc-{seed}"));
        let failures = 1 + seed as usize % 3;
        let plan = FailurePlan::random(seed, failures, lines as u64, 0);
        let at = if seed % 2 == 0 { Where::Before } else { Where::After };
        let p = 1 + (seed % 3) as u32;
        let job = word_count(p, lines, &plan, at, &dir).unwrap();
        assert!(job.wait_timeout(Duration::from_secs(120)), "seed {seed}: the job ended");
        let stats = job.checkpoint_stats();
        let restarts = job.restarts();
        job.wait().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let completed = stats.iter().filter(|s| s.status == CheckpointStatus::Completed).count();
        assert!(completed > 0, "seed {seed}: checkpoints completed during the run: {stats:?}");
        let got = committed_lines(&dir.join("out"));
        assert_eq!(plan.failures() as usize, failures, "seed {seed}: every planned failure happened");
        assert!(
            got == expected,
            "seed {seed} (p={p}, {restarts} failures {at:?}): output differs from a run without failure: {} lines vs {}",
            got.values().sum::<u32>(),
            expected.values().sum::<u32>()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn without_checkpoints_a_restart_begins_again_and_still_commits_once() {
    let dir = temp_dir("wc-no-checkpoints");
    let lines = 2_000;
    let plan = FailurePlan::new(vec![700], 0);
    let out = dir.join("out");
    let env = env(2, 0, &dir.join("checkpoints"));
    env.from_sequence(0..lines)
        .flat_map_function(SplitLine(Some(plan.clone())))
        .key_by(|(w, _): &(String, u64)| w.clone())
        .sum(|(_, n): &mut (String, u64)| n)
        .map(|(w, n): (String, u64)| format!("{w} {n}"))
        .sink_to(TextFileSink::new(&out));
    env.execute("restart from scratch").unwrap();
    assert_eq!(plan.failures(), 1);
    assert_eq!(committed_lines(&out), expected_word_counts(lines));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sums values per key and bucket of 100 ms of event time; an event-time timer at the
/// bucket's end emits `key bucket-end sum`.
#[derive(Clone)]
struct BucketSums {
    sums: Option<MapState<i64, i64>>,
    plan: FailurePlan,
}

impl KeyedProcessFunction<u32, (u32, i64, i64), String> for BucketSums {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.sums = Some(ctx.get_map_state(&MapStateDescriptor::new("sums"))?);
        Ok(())
    }

    fn process_element(
        &mut self,
        (_, t, v): (u32, i64, i64),
        ctx: &mut KeyedContext<'_, u32>,
        _out: &mut Collector<'_, String>,
    ) -> FnResult {
        self.plan.step()?;
        let end = (t / 100 + 1) * 100 - 1;
        let sums = self.sums.as_ref().ok_or("not open")?;
        sums.put(end, sums.get(&end)?.unwrap_or(0) + v)?;
        ctx.timer_service().register_event_time_timer(end);
        Ok(())
    }

    fn on_timer(&mut self, t: i64, ctx: &mut OnTimerContext<'_, u32>, out: &mut Collector<'_, String>) -> FnResult {
        let sums = self.sums.as_ref().ok_or("not open")?;
        let sum = sums.remove(&t)?.ok_or("a timer without a sum")?;
        out.collect(format!("{} {t} {sum}", ctx.current_key()));
        Ok(())
    }
}

/// Record `i`: key `i % 7`, time `i`, value `i % 10`.
fn event(i: i64) -> (u32, i64, i64) {
    ((i % 7) as u32, i, i % 10)
}

fn expected_buckets(n: i64) -> BTreeMap<String, u32> {
    let mut sums: BTreeMap<(u32, i64), i64> = BTreeMap::new();
    for i in 0..n {
        let (k, t, v) = event(i);
        *sums.entry((k, (t / 100 + 1) * 100 - 1)).or_insert(0) += v;
    }
    sums.into_iter().map(|((k, end), s)| (format!("{k} {end} {s}"), 1)).collect()
}

fn timestamped(env: &StreamEnv, n: i64) -> DataStream<(u32, i64, i64)> {
    env.from_sequence(0..n).uid("events").map_function(Throttle(40, 0)).map(event).assign_timestamps_and_watermarks(
        WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|e: &(u32, i64, i64), _| e.1),
    )
}

#[test]
fn keyed_timers_and_state_survive_failures_exactly_once() {
    let n = 8_000;
    let expected = expected_buckets(n);
    for seed in 10..14u64 {
        let dir = temp_dir(&format!("timers-{seed}"));
        let plan = FailurePlan::random(seed, 2, n as u64, 0);
        let env = env(2, 15, &dir.join("checkpoints"));
        env.set_auto_watermark_interval(Duration::from_millis(5));
        timestamped(&env, n)
            .key_by(|e: &(u32, i64, i64)| e.0)
            .process_function(BucketSums { sums: None, plan: plan.clone() })
            .uid("buckets")
            .sink_to(TextFileSink::new(dir.join("out")))
            .uid("files");
        run_with_checkpoints(&env, &format!("bucket sums {seed}"));
        assert_eq!(plan.failures(), 2, "seed {seed}");
        assert_eq!(committed_lines(&dir.join("out")), expected, "seed {seed}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn event_time_windows_survive_failures_exactly_once() {
    let n = 8_000;
    let expected = expected_buckets(n);
    for seed in 20..24u64 {
        let dir = temp_dir(&format!("windows-{seed}"));
        let plan = FailurePlan::random(seed, 2, n as u64, 0);
        let env = env(2, 15, &dir.join("checkpoints"));
        env.set_auto_watermark_interval(Duration::from_millis(5));
        timestamped(&env, n)
            .map_function(Checked(Some(plan.clone())))
            .key_by(|e: &(u32, i64, i64)| e.0)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(100)))
            .process(
                |key: &u32,
                 ctx: &mut WindowContext<'_, TimeWindow>,
                 items: &[(u32, i64, i64)],
                 out: &mut Collector<'_, String>| {
                    let sum: i64 = items.iter().map(|e| e.2).sum();
                    out.collect(format!("{key} {} {sum}", ctx.window().max_timestamp()));
                    Ok(())
                },
            )
            .uid("windows")
            .sink_to(TextFileSink::new(dir.join("out")))
            .uid("files");
        run_with_checkpoints(&env, &format!("window sums {seed}"));
        assert_eq!(plan.failures(), 2, "seed {seed}");
        assert_eq!(committed_lines(&dir.join("out")), expected, "seed {seed}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A text file sink whose writer fails while taking its `n`-th snapshot (counted over
/// all attempts and subtasks), once.
struct FailAtCheckpoint {
    files: TextFileSink,
    plan: FailurePlan,
}

impl Sink<String> for FailAtCheckpoint {
    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<String>>, BoxError> {
        Ok(Box::new(FailingSnapshots {
            inner: Sink::<String>::create_writer(&self.files, ctx)?,
            plan: self.plan.clone(),
        }))
    }
}

struct FailingSnapshots {
    inner: Box<dyn SinkWriter<String>>,
    plan: FailurePlan,
}

impl SinkWriter<String> for FailingSnapshots {
    fn write_batch(&mut self, batch: &mut Vec<StreamRecord<String>>) -> FnResult {
        self.inner.write_batch(batch)
    }
    fn flush(&mut self, end: bool) -> FnResult {
        self.inner.flush(end)
    }
    fn snapshot_state(&mut self, id: u64, snapshot: &mut spate::OperatorSnapshot) -> FnResult {
        self.plan.step()?;
        self.inner.snapshot_state(id, snapshot)
    }
    fn notify_checkpoint_complete(&mut self, id: u64) -> FnResult {
        self.inner.notify_checkpoint_complete(id)
    }
    fn close(&mut self) -> FnResult {
        self.inner.close()
    }
}

#[test]
fn a_sink_failing_while_it_snapshots_loses_and_duplicates_nothing() {
    let lines = 6_000;
    let expected = expected_word_counts(lines);
    for (seed, at) in [(30u64, vec![3]), (31, vec![2, 5])] {
        let dir = temp_dir(&format!("sink-snapshot-{seed}"));
        let plan = FailurePlan::new(at.clone(), 0);
        let env = env(2, 15, &dir.join("checkpoints"));
        env.from_sequence(0..lines)
            .uid("lines")
            .map_function(Throttle(20, 0))
            .flat_map_function(SplitLine(None))
            .key_by(|(w, _): &(String, u64)| w.clone())
            .sum(|(_, n): &mut (String, u64)| n)
            .uid("counts")
            .map(|(w, n): (String, u64)| format!("{w} {n}"))
            .sink_to(FailAtCheckpoint { files: TextFileSink::new(dir.join("out")), plan: plan.clone() })
            .uid("files");
        run_with_checkpoints(&env, &format!("failing snapshots {seed}"));
        assert_eq!(plan.failures() as usize, at.len(), "seed {seed}: failed at snapshots {at:?}");
        assert_eq!(committed_lines(&dir.join("out")), expected, "seed {seed}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
