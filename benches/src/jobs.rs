//! The benchmark jobs, built with Spate's DataStream API exactly as a user would.

use std::path::Path;
use std::time::{Duration, Instant};

use spate::prelude::*;

use crate::{keyed_record, word_spans};

/// Splits a line into lowercase words as Flink's WordCount (`\W+`), emitting
/// `(word, 1)`: one allocation per word, for the word itself.
#[derive(Clone)]
pub struct Tokenizer;

impl FlatMapFunction<String, (String, u64)> for Tokenizer {
    #[inline]
    fn flat_map(&mut self, line: String, out: &mut Collector<'_, (String, u64)>) -> FnResult {
        for span in word_spans(line.as_bytes()) {
            out.collect((line[span].to_ascii_lowercase(), 1));
        }
        Ok(())
    }
}

/// An environment with the defaults, then `settings` (`key=value`, as `-D` takes them).
fn environment(parallelism: u32, settings: &[&str]) -> spate::Result<StreamEnv> {
    let mut config = spate::Configuration::new();
    for s in settings {
        config.apply_dynamic(s)?;
    }
    let env = StreamEnv::with_config(config)?;
    env.set_parallelism(parallelism);
    Ok(env)
}

/// WordCount over a text file: BATCH, results written as `word count` lines.
pub fn wordcount(input: &Path, output: &Path, parallelism: u32, settings: &[&str]) -> spate::Result<Duration> {
    let env = environment(parallelism, settings)?;
    env.set_runtime_mode(RuntimeMode::Batch);
    env.read_text_file(input)
        .flat_map_function(Tokenizer)
        .key_by_ref(|(word, _): &(String, u64)| word)
        .sum(|(_, count): &mut (String, u64)| count)
        .map(|(word, count): (String, u64)| format!("{word} {count}"))
        .sink_to(FileSink::text(output));
    let started = Instant::now();
    env.execute("wordcount")?;
    Ok(started.elapsed())
}

/// Keyed sum over generated records: STREAMING, every update to a discarding sink.
pub fn keyed_sum(records: u64, keys: u64, parallelism: u32, settings: &[&str]) -> spate::Result<Duration> {
    let env = environment(parallelism, settings)?;
    env.set_runtime_mode(RuntimeMode::Streaming);
    env.from_generator(move |j| keyed_record(j, keys), Some(records))
        .key_by(|r: &(u64, u64)| r.0)
        .reduce(|a: (u64, u64), b: (u64, u64)| (a.0, a.1.wrapping_add(b.1)))
        .sink_to(DiscardingSink);
    let started = Instant::now();
    env.execute("keyed_sum")?;
    Ok(started.elapsed())
}

/// The keys `0..keys` by the subtask of a keyed vertex at `parallelism` (and the
/// default max parallelism) that owns them.
pub fn keys_by_subtask(keys: u64, parallelism: u32) -> spate::Result<Vec<Vec<u64>>> {
    use spate_core::key_group::{default_max_parallelism, key_group_for_hash, operator_index_for_key_group};
    let max = default_max_parallelism(parallelism);
    let mut owned = vec![Vec::new(); parallelism as usize];
    for key in 0..keys {
        let hash = spate_core::key::stable_key_hash(&key).map_err(|e| spate::Error::Internal(e.to_string()))?;
        owned[operator_index_for_key_group(max, parallelism, key_group_for_hash(hash, max)) as usize].push(key);
    }
    Ok(owned)
}

/// Record `j` of the crossing keyed sum: the source subtask that emits it (`j % p`, as
/// `from_generator` deals them) picks a key, at random as [`keyed_record`] does, among
/// those the next subtask owns (every list must hold a key).
#[inline]
pub fn crossing_record(j: u64, owned: &[Vec<u64>]) -> (u64, u64) {
    let p = owned.len() as u64;
    let keys = &owned[((j % p + 1) % p) as usize];
    (keys[((crate::splitmix64(j) >> 1) % keys.len() as u64) as usize], j)
}

/// The keyed sum with every record sent to another subtask than the one that made it:
/// on two TaskManagers at p=2, every record crosses the data plane (with one
/// slot-sharing group, [`keyed_sum`] sends about half across).
pub fn keyed_sum_crossing(records: u64, keys: u64, parallelism: u32, settings: &[&str]) -> spate::Result<Duration> {
    let owned = std::sync::Arc::new(keys_by_subtask(keys, parallelism)?);
    if owned.iter().any(Vec::is_empty) {
        return Err(spate::Error::Arguments(format!("{keys} keys leave a subtask of {parallelism} without any")));
    }
    let env = environment(parallelism, settings)?;
    env.set_runtime_mode(RuntimeMode::Streaming);
    env.from_generator(move |j| crossing_record(j, &owned), Some(records))
        .key_by(|r: &(u64, u64)| r.0)
        .reduce(|a: (u64, u64), b: (u64, u64)| (a.0, a.1.wrapping_add(b.1)))
        .sink_to(DiscardingSink);
    let started = Instant::now();
    env.execute("keyed_sum_crossing")?;
    Ok(started.elapsed())
}

/// Keeps a running sum per key in a `ValueState<u64>` and emits nothing (the Flink
/// reference `keyed` job).
#[derive(Clone, Default)]
pub struct StateSum {
    sum: Option<ValueState<u64>>,
}

impl KeyedProcessFunction<u64, (u64, u64), ()> for StateSum {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.sum = Some(ctx.get_state(&ValueStateDescriptor::new("sum"))?);
        Ok(())
    }

    #[inline]
    fn process_element(
        &mut self,
        value: (u64, u64),
        _: &mut KeyedContext<'_, u64>,
        _: &mut Collector<'_, ()>,
    ) -> FnResult {
        let sum = self.sum.as_ref().ok_or("not opened")?;
        sum.update(sum.value()?.unwrap_or(0).wrapping_add(value.1))?;
        Ok(())
    }
}

/// Keyed state: a `KeyedProcessFunction` with a `ValueState` per key, STREAMING.
pub fn keyed_state(records: u64, keys: u64, parallelism: u32, settings: &[&str]) -> spate::Result<Duration> {
    let env = environment(parallelism, settings)?;
    env.set_runtime_mode(RuntimeMode::Streaming);
    env.from_generator(move |j| keyed_record(j, keys), Some(records))
        .key_by(|r: &(u64, u64)| r.0)
        .process_function(StateSum::default())
        .sink_to(DiscardingSink);
    let started = Instant::now();
    env.execute("keyed_state")?;
    Ok(started.elapsed())
}

/// The windows of the window benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    /// Tumbling 1 s windows, timestamps in order (the Flink reference `window` job).
    Tumbling,
    /// Tumbling 1 s windows, timestamps up to 1 s out of order.
    TumblingDisordered,
    /// Sliding windows of 60 s every `slide` seconds, with the built-in `Count`
    /// (commutative: windows are combined from shared slices).
    Sliding(u64),
    /// The same with a count that declares nothing: a count per key and window.
    SlidingPerWindow(u64),
}

impl WindowKind {
    /// Windows each record belongs to.
    pub fn windows_per_record(self) -> u64 {
        match self {
            WindowKind::Sliding(slide) | WindowKind::SlidingPerWindow(slide) => 60 / slide,
            _ => 1,
        }
    }
}

/// The event time of record `j`: `j / 1000` ms (1 M records per second of event time),
/// moved back by up to 999 ms when `disorder`.
#[inline]
pub fn event_time(j: u64, disorder: bool) -> i64 {
    let t = (j / 1_000) as i64;
    if disorder { (t - (crate::splitmix64(j ^ 0xD1B5_4A32_D192_ED03) % 1_000) as i64).max(0) } else { t }
}

/// Counts records without declaring that counting is commutative: sliding windows then
/// keep a count per window, as Flink does, rather than per slice.
#[derive(Clone)]
pub struct CountPerWindow;

impl AggregateFunction<(u64, u64), u64, u64> for CountPerWindow {
    #[inline]
    fn create_accumulator(&mut self) -> u64 {
        0
    }
    #[inline]
    fn add(&mut self, _: (u64, u64), acc: &mut u64) {
        *acc += 1;
    }
    #[inline]
    fn get_result(&mut self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&mut self, a: u64, b: u64) -> u64 {
        a + b
    }
}

/// Emits `(key, window start, count)`.
#[inline]
fn key_window_count(
    key: &u64,
    ctx: &mut WindowContext<'_, TimeWindow>,
    counts: &[u64],
    out: &mut Collector<'_, (u64, i64, u64)>,
) -> FnResult {
    out.collect((*key, ctx.window().start, counts[0]));
    Ok(())
}

/// The window benchmarks (the Flink reference `window` job and its variants): keyed
/// generated records with event time, windows counting per key through a process
/// function emitting `(key, window start, count)`, into a sink that adds the counts up.
/// Fails unless the counts add up to every record in every window it belongs to.
pub fn window(
    records: u64,
    keys: u64,
    kind: WindowKind,
    parallelism: u32,
    settings: &[&str],
) -> spate::Result<Duration> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let env = environment(parallelism, settings)?;
    env.set_runtime_mode(RuntimeMode::Streaming);
    let disorder = kind == WindowKind::TumblingDisordered;
    let strategy = if disorder {
        WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_secs(1))
    } else {
        WatermarkStrategy::for_monotonous_timestamps()
    }
    .with_timestamp_assigner(move |r: &(u64, u64), _| event_time(r.1, disorder));
    let keyed = env
        .from_source(GeneratorSource::new(move |j| keyed_record(j, keys), Some(records)), strategy)
        .key_by(|r: &(u64, u64)| r.0);
    let counted = match kind {
        WindowKind::Tumbling | WindowKind::TumblingDisordered => {
            keyed.window(TumblingEventTimeWindows::of(Duration::from_secs(1))).aggregate_with(Count, key_window_count)
        }
        WindowKind::Sliding(slide) => keyed
            .window(SlidingEventTimeWindows::of(Duration::from_secs(60), Duration::from_secs(slide)))
            .aggregate_with(Count, key_window_count),
        WindowKind::SlidingPerWindow(slide) => keyed
            .window(SlidingEventTimeWindows::of(Duration::from_secs(60), Duration::from_secs(slide)))
            .aggregate_with(CountPerWindow, key_window_count),
    };
    let total = Arc::new(AtomicU64::new(0));
    let sink_total = total.clone();
    counted.add_sink(move |(_, _, count): (u64, i64, u64)| {
        sink_total.fetch_add(count, Ordering::Relaxed);
    });
    let started = Instant::now();
    env.execute("window")?;
    let elapsed = started.elapsed();
    let expected = records * kind.windows_per_record();
    let counted = total.load(Ordering::Relaxed);
    if counted != expected {
        return Err(spate::Error::InvalidPipeline(format!(
            "the window counts add up to {counted}, not {expected}: records were lost or counted twice"
        )));
    }
    Ok(elapsed)
}

/// What a checkpointed state of `keys` keys costs: the savepoint's duration and size,
/// and the time a job restored from it takes to open (read, check and rebuild its
/// state) until its first record flows.
#[derive(Clone, Debug)]
pub struct SnapshotCost {
    /// From trigger to completion of the savepoint.
    pub savepoint: Duration,
    /// Bytes written.
    pub bytes: u64,
    /// The longest time a task stopped processing to take its part.
    pub sync: Duration,
    /// From submitting the restored job to its first record.
    pub restore: Duration,
}

/// Runs the keyed-state job until every key has state, takes a savepoint into `dir`,
/// then restores a new job from it; see [`SnapshotCost`].
pub fn snapshot_cost(keys: u64, parallelism: u32, dir: &Path, settings: &[&str]) -> spate::Result<SnapshotCost> {
    let job = |extra: &[String]| -> spate::Result<spate::JobClient> {
        let mut all: Vec<&str> = settings.to_vec();
        all.extend(extra.iter().map(String::as_str));
        let env = environment(parallelism, &all)?;
        env.set_runtime_mode(RuntimeMode::Streaming);
        env.from_generator(move |j| keyed_record(j, keys), None)
            .uid("generator")
            .key_by(|r: &(u64, u64)| r.0)
            .process_function(StateSum::default())
            .uid("sums")
            .sink_to(DiscardingSink);
        env.execute_async("keyed_state")
    };
    let source_records = |client: &spate::JobClient| client.metrics().first().map_or(0, |v| v.records_out);
    let first = job(&[])?;
    while source_records(&first) < keys * 2 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let path = first.trigger_savepoint(dir)?;
    let stats = first
        .checkpoint_stats()
        .into_iter()
        .rev()
        .find(|s| s.status == spate::CheckpointStatus::Completed)
        .map(|s| (s.duration.unwrap_or_default(), s.state_size, s.sync_duration))
        .unwrap_or_default();
    first.cancel();
    let _ = first.wait();
    let started = Instant::now();
    let restored = job(&[format!("execution.savepoint.path={path}")])?;
    while source_records(&restored) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let restore = started.elapsed();
    restored.cancel();
    let _ = restored.wait();
    let _ = std::fs::remove_dir_all(&path);
    Ok(SnapshotCost { savepoint: stats.0, bytes: stats.1, sync: stats.2, restore })
}
