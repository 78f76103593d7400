//! Watermarks across tasks: the minimum over inputs, idleness, the final watermark.

use std::time::{Duration, Instant};

use spate::prelude::*;
use spate::{Boundedness, BoxError, Source, SourcePoll, SourceReader, StreamRecord, TextFileSource};

use crate::{Collected, env, sorted};

/// Subtask `k` of 2 emits `(k, t)` for `t` in `0..count` (one per millisecond of event
/// time): subtask 0 at once, subtask 1 one record per `pause`; subtask `k` waits
/// `linger[k]` after its last record before finishing.
#[derive(Clone)]
struct TwoPaces {
    count: i64,
    pause: Duration,
    linger: [Duration; 2],
}

struct PacedReader {
    subtask: u32,
    next: i64,
    config: TwoPaces,
    done_at: Option<Instant>,
}

impl Source<(u32, i64)> for TwoPaces {
    fn name(&self) -> String {
        "two paces".into()
    }
    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }
    fn max_parallelism(&self) -> Option<u32> {
        Some(2)
    }
    fn create_reader(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SourceReader<(u32, i64)>>, BoxError> {
        Ok(Box::new(PacedReader { subtask: ctx.subtask_index(), next: 0, config: self.clone(), done_at: None }))
    }
}

impl SourceReader<(u32, i64)> for PacedReader {
    fn poll_next(&mut self, batch: &mut Vec<StreamRecord<(u32, i64)>>, max: usize) -> Result<SourcePoll, BoxError> {
        if self.next >= self.config.count {
            let done = *self.done_at.get_or_insert_with(Instant::now);
            let linger = self.config.linger[self.subtask as usize];
            return Ok(match linger.checked_sub(done.elapsed()) {
                Some(left) if !left.is_zero() => SourcePoll::Idle(left.min(Duration::from_millis(20))),
                _ => SourcePoll::Finished,
            });
        }
        if self.subtask == 1 {
            std::thread::sleep(self.config.pause);
            batch.push(StreamRecord::new((1, self.next)));
            self.next += 1;
            return Ok(SourcePoll::More);
        }
        while self.next < self.config.count && batch.len() < max {
            batch.push(StreamRecord::new((0, self.next)));
            self.next += 1;
        }
        Ok(SourcePoll::More)
    }
}

fn strategy() -> WatermarkStrategy<(u32, i64)> {
    WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|e: &(u32, i64), _| e.1)
}

#[test]
fn a_slow_input_holds_the_watermark_back_so_nothing_is_late() {
    // Subtask 0 runs through all of event time at once; subtask 1 crawls. If the window
    // task took the faster watermark, subtask 1's records would all be late.
    let env = env(2);
    let source = TwoPaces { count: 200, pause: Duration::from_millis(2), linger: [Duration::ZERO; 2] };
    let late = OutputTag::<(u32, i64)>::new("late");
    let counts = env
        .from_source(source, strategy())
        .key_by(|e: &(u32, i64)| e.0)
        .window(TumblingEventTimeWindows::of(Duration::from_millis(50)))
        .side_output_late_data(&late)
        .aggregate_with(
            Count,
            |k: &u32, ctx: &mut WindowContext<'_, TimeWindow>, n: &[u64], out: &mut Collector<'_, (u32, i64, u64)>| {
                out.collect((*k, ctx.window().start, n[0]));
                Ok(())
            },
        );
    let (got, late_records) = (Collected::default(), Collected::default());
    let (g, l) = (got.clone(), late_records.clone());
    counts.add_sink(move |r: (u32, i64, u64)| g.push(r));
    counts.side_output(&late).add_sink(move |r: (u32, i64)| l.push(r));
    env.execute("two paces").unwrap();
    let got = got.take();
    let expected: Vec<(u32, i64, u64)> = (0..2).flat_map(|k| (0..4).map(move |w| (k, w * 50, 50))).collect();
    assert_eq!(got, expected);
    assert!(late_records.take().is_empty());
}

/// Counts records.
#[derive(Clone)]
struct Count;

impl AggregateFunction<(u32, i64), u64, u64> for Count {
    fn create_accumulator(&mut self) -> u64 {
        0
    }
    fn add(&mut self, _: (u32, i64), acc: &mut u64) {
        *acc += 1;
    }
    fn get_result(&mut self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&mut self, a: u64, b: u64) -> u64 {
        a + b
    }
}

/// When each window result reached the sink, relative to the job's start.
fn window_arrivals(idleness: Option<Duration>) -> (Vec<(u32, i64, u64)>, Vec<Duration>, Duration) {
    // Subtask 0 emits event time 0..100 at once and then lingers for 1.5 s; subtask 1
    // emits nothing until the end. Only idleness lets the windows fire before the end.
    let env = env(2);
    let source = TwoPaces {
        count: 100,
        pause: Duration::from_millis(1),
        linger: [Duration::from_millis(1_500), Duration::ZERO],
    };
    let mut strategy = strategy();
    if let Some(timeout) = idleness {
        strategy = strategy.with_idleness(timeout);
    }
    let quiet = TwoPacesOnlyFirst(source);
    let started = Instant::now();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    env.from_source(quiet, strategy)
        .key_by(|e: &(u32, i64)| e.0)
        .window(TumblingEventTimeWindows::of(Duration::from_millis(25)))
        .aggregate_with(
            Count,
            |k: &u32, ctx: &mut WindowContext<'_, TimeWindow>, n: &[u64], out: &mut Collector<'_, (u32, i64, u64)>| {
                out.collect((*k, ctx.window().start, n[0]));
                Ok(())
            },
        )
        .add_sink(move |r: (u32, i64, u64)| s.lock().unwrap().push((r, started.elapsed())));
    env.execute("idleness").unwrap();
    let total = started.elapsed();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    (sorted(seen.iter().map(|(r, _)| *r).collect()), seen.iter().map(|(_, t)| *t).collect(), total)
}

/// [`TwoPaces`] whose second subtask has no records at all.
struct TwoPacesOnlyFirst(TwoPaces);

impl Source<(u32, i64)> for TwoPacesOnlyFirst {
    fn name(&self) -> String {
        "one of two".into()
    }
    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }
    fn max_parallelism(&self) -> Option<u32> {
        Some(2)
    }
    fn create_reader(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SourceReader<(u32, i64)>>, BoxError> {
        let mut config = self.0.clone();
        if ctx.subtask_index() == 1 {
            config.count = 0;
            config.linger = [Duration::from_millis(1_500); 2];
        }
        Ok(Box::new(PacedReader { subtask: ctx.subtask_index(), next: 0, config, done_at: None }))
    }
}

#[test]
fn an_idle_input_stops_holding_windows_back() {
    let expected: Vec<(u32, i64, u64)> = (0..4).map(|w| (0, w * 25, 25)).collect();
    let (without, arrivals, total) = window_arrivals(None);
    assert_eq!(without, expected);
    assert!(
        arrivals.iter().all(|t| *t + Duration::from_millis(500) > total),
        "without idleness, windows wait for the end of input ({arrivals:?} of {total:?})"
    );
    let (with, arrivals, total) = window_arrivals(Some(Duration::from_millis(100)));
    assert_eq!(with, expected);
    let early = arrivals.iter().filter(|t| **t + Duration::from_millis(700) < total).count();
    assert!(early >= 3, "with idleness, windows fire while the job still runs ({arrivals:?} of {total:?})");
}

#[test]
fn the_end_of_input_fires_every_pending_window() {
    // No watermark ever reaches the windows before the end: the final one fires them all.
    let env = env(3);
    let out = env
        .from_source(
            GeneratorSource::new(|j| (j as u32 % 5, j as i64 * 1_000), Some(100)),
            WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_secs(3600))
                .with_timestamp_assigner(|e: &(u32, i64), _| e.1),
        )
        .key_by(|e: &(u32, i64)| e.0)
        .window(SlidingEventTimeWindows::of(Duration::from_secs(10), Duration::from_secs(5)))
        .aggregate(Count)
        .execute_and_collect()
        .unwrap();
    // 100 records, each in 2 windows.
    assert_eq!(out.iter().sum::<u64>(), 200);
}

#[test]
fn file_sources_take_a_watermark_strategy() {
    // Lines `key,millis`, out of order by up to 2 s, split over two source subtasks.
    let dir = crate::temp_dir("event-time-file");
    let mut text = String::new();
    let mut expected = std::collections::BTreeMap::new();
    for j in 0..2_000i64 {
        let (key, t) = (j % 3, j * 10 - (j * 7919) % 2_000);
        text.push_str(&format!("{key},{t}\n"));
        *expected.entry((key, t.max(0) / 1_000 * 1_000)).or_insert(0u64) += 1;
    }
    std::fs::write(dir.join("events.csv"), text).unwrap();
    let env = env(2);
    let counts = env
        .from_source(
            TextFileSource::new(vec![dir.join("events.csv")]),
            WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_secs(2)).with_timestamp_assigner(
                |line: &String, _| line.split_once(',').and_then(|(_, t)| t.parse::<i64>().ok()).unwrap_or(0).max(0),
            ),
        )
        .map(|line: String| line.split_once(',').map_or(0, |(k, _)| k.parse::<i64>().unwrap_or(-1)))
        .key_by(|k: &i64| *k)
        .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
        .process(
            |k: &i64,
             ctx: &mut WindowContext<'_, TimeWindow>,
             e: &[i64],
             out: &mut Collector<'_, ((i64, i64), u64)>| {
                out.collect(((*k, ctx.window().start), e.len() as u64));
                Ok(())
            },
        )
        .execute_and_collect()
        .unwrap();
    assert_eq!(sorted(counts), expected.into_iter().collect::<Vec<_>>());
}
