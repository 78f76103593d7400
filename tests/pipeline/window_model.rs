//! A record-by-record model of Flink's `WindowOperator` with the event-time trigger,
//! written from Flink's rules rather than from Spate's code, and the inputs the window
//! tests feed it.
//!
//! Rules: a record is dropped for each of its windows whose last millisecond plus the
//! allowed lateness is at or before the watermark, and kept for the others; windows
//! are listed latest first (as Flink's sliding assigner lists them) and each adds the
//! record in arrival order; a window whose end the watermark already passed fires at
//! once, with the record in it; otherwise a timer fires it when the watermark passes
//! its end, if it holds anything; it is dropped when the watermark passes its end plus
//! the lateness. A record dropped by all its windows goes to the late side output.
//!
//! The source has one subtask and emits a watermark after every record (the largest
//! timestamp so far minus the delay, minus one), so the watermark each record meets is
//! known in advance wherever it is processed.

use std::collections::{BTreeMap, BTreeSet};

use spate::prelude::*;
use spate::{WatermarkGenerator, WatermarkOutput};

/// `(key, event time, value)`.
pub type Event = (u32, i64, i64);

/// A window as `(start, end)`.
pub type Span = (i64, i64);

/// Sums the values of events. It does not declare itself commutative, so sliding
/// windows keep it per window; wrapped in `Commutative(..)` it goes on slices.
#[derive(Clone)]
pub struct SumOf;

impl AggregateFunction<Event, i64, i64> for SumOf {
    fn create_accumulator(&mut self) -> i64 {
        0
    }
    fn add(&mut self, value: Event, acc: &mut i64) {
        *acc += value.2;
    }
    fn get_result(&mut self, acc: &i64) -> i64 {
        *acc
    }
    fn merge(&mut self, a: i64, b: i64) -> i64 {
        a + b
    }
}

/// A watermark after every record: the largest timestamp minus `delay`, minus one.
#[derive(Clone)]
pub struct EveryRecord {
    delay: i64,
    max: i64,
}

impl WatermarkGenerator<Event> for EveryRecord {
    fn on_event(&mut self, _: &Event, timestamp: i64, output: &mut WatermarkOutput) {
        self.max = self.max.max(timestamp);
        output.emit_watermark(self.max.saturating_sub(self.delay).saturating_sub(1));
    }
    fn on_periodic_emit(&mut self, _: &mut WatermarkOutput) {}
}

/// Timestamps from the events' second field, a watermark after every record.
pub fn strategy(delay: i64) -> WatermarkStrategy<Event> {
    WatermarkStrategy::for_generator(move || EveryRecord { delay, max: i64::MIN })
        .with_timestamp_assigner(|e: &Event, _| e.1)
}

/// The watermark after each record.
fn watermarks_after(events: &[Event], delay: i64) -> Vec<i64> {
    let mut max = i64::MIN;
    events
        .iter()
        .map(|e| {
            max = max.max(e.1);
            max.saturating_sub(delay).saturating_sub(1)
        })
        .collect()
}

/// Tumbling windows of `size`.
pub fn tumbling(size: i64) -> impl Fn(i64) -> Vec<Span> + Clone {
    move |ts| {
        let start = ts - ts.rem_euclid(size);
        vec![(start, start + size)]
    }
}

/// Sliding windows of `size` every `slide`, latest first.
pub fn sliding(size: i64, slide: i64) -> impl Fn(i64) -> Vec<Span> + Clone {
    move |ts| {
        let last = ts - ts.rem_euclid(slide);
        (0..).map(|k| last - k * slide).take_while(|s| *s > ts - size).map(|s| (s, s + size)).collect()
    }
}

/// What a model run produced: per key, the window firings in the order they happen;
/// and the records too late for all their windows, sorted.
pub struct Modelled<O> {
    pub fired: BTreeMap<u32, Vec<(Span, O)>>,
    pub late: Vec<Event>,
}

impl<O: Clone + Ord> Modelled<O> {
    /// Every firing as `(key, start, end, output)`, sorted.
    pub fn sorted(&self) -> Vec<(u32, i64, i64, O)> {
        let mut all: Vec<(u32, i64, i64, O)> =
            self.fired.iter().flat_map(|(k, v)| v.iter().map(move |((s, e), o)| (*k, *s, *e, o.clone()))).collect();
        all.sort();
        all
    }

    /// How many firings there are.
    pub fn len(&self) -> usize {
        self.fired.values().map(Vec::len).sum()
    }
}

/// Runs Flink's window operator over `events`; `emit` computes a window's output from
/// its records in arrival order.
pub fn flink<O>(
    events: &[Event],
    delay: i64,
    windows_of: impl Fn(i64) -> Vec<Span>,
    lateness: i64,
    emit: impl Fn(u32, Span, &[Event]) -> O,
) -> Modelled<O> {
    let cleanup = |(_, end): Span| (end - 1).saturating_add(lateness);
    let mut contents: BTreeMap<(u32, Span), Vec<Event>> = BTreeMap::new();
    // (time, key, window): Flink's timers, deduplicated as its timer service does.
    let mut timers: BTreeSet<(i64, u32, Span)> = BTreeSet::new();
    let mut out = Modelled { fired: BTreeMap::new(), late: Vec::new() };
    let mut watermark = i64::MIN;
    let marks = watermarks_after(events, delay);

    let advance = |to: i64,
                   watermark: &mut i64,
                   contents: &mut BTreeMap<(u32, Span), Vec<Event>>,
                   timers: &mut BTreeSet<(i64, u32, Span)>,
                   fired: &mut BTreeMap<u32, Vec<(Span, O)>>| {
        if to <= *watermark {
            return;
        }
        *watermark = to;
        while let Some(&(time, key, window)) = timers.first() {
            if time > to {
                break;
            }
            timers.pop_first();
            if time == window.1 - 1 {
                if let Some(records) = contents.get(&(key, window)) {
                    fired.entry(key).or_default().push((window, emit(key, window, records)));
                }
            }
            if time == cleanup(window) {
                contents.remove(&(key, window));
            }
        }
    };

    for (i, &event) in events.iter().enumerate() {
        let (key, ts, _) = event;
        let mut skipped = true;
        for window in windows_of(ts) {
            if cleanup(window) <= watermark {
                continue;
            }
            skipped = false;
            let records = contents.entry((key, window)).or_default();
            records.push(event);
            if window.1 - 1 <= watermark {
                out.fired.entry(key).or_default().push((window, emit(key, window, records)));
            } else {
                timers.insert((window.1 - 1, key, window));
            }
            if cleanup(window) != i64::MAX {
                timers.insert((cleanup(window), key, window));
            }
        }
        if skipped && ts.saturating_add(lateness) <= watermark {
            out.late.push(event);
        }
        advance(marks[i], &mut watermark, &mut contents, &mut timers, &mut out.fired);
    }
    advance(i64::MAX, &mut watermark, &mut contents, &mut timers, &mut out.fired);
    out.late.sort();
    out
}

/// The sum of the records' values.
pub fn sum_of(_: u32, _: Span, records: &[Event]) -> i64 {
    records.iter().map(|e| e.2).sum()
}

/// A small random number generator (xorshift), so inputs are reproducible by seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Out-of-order events over `keys` keys (at least 3), starting before 1970: mostly
/// increasing time with jitter up to `jitter`; every so often a record up to `far`
/// behind (within the allowed lateness or later), or from `far` to twice that behind
/// (late for everything); quiet stretches; and two rare keys, whose windows are often
/// empty when the watermark passes them.
pub fn random_events(seed: u64, n: usize, keys: u32, jitter: i64, far: i64) -> Vec<Event> {
    let mut rng = Rng::new(seed);
    let mut t = -20_000 - rng.below(5_000) as i64;
    (0..n)
        .map(|_| {
            t += 1 + rng.below(60) as i64;
            if rng.below(200) == 0 {
                t += 3_000; // a quiet stretch
            }
            let behind = match rng.below(20) {
                0 => far + rng.below(far as u64 + 1) as i64,
                1 | 2 => rng.below(far as u64 + 1) as i64,
                _ => 0,
            };
            let ts = t - rng.below(jitter as u64 + 1) as i64 - behind;
            let key =
                if rng.below(10) == 0 { keys - 1 - rng.below(2) as u32 } else { rng.below(keys as u64 - 2) as u32 };
            (key, ts, rng.below(100) as i64)
        })
        .collect()
}
