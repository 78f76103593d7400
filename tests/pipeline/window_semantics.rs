//! Windows against Flink record for record: the cases where Spate once differed from
//! Flink 2.3 on the same input, then random inputs with disorder, lateness and late
//! records on tumbling and sliding windows, with order-insensitive and order-dependent
//! window functions, at parallelism 1 and 3, compared per key and in order with the
//! model in `window_model.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use spate::prelude::*;
use spate::{Data, EventTimeTrigger, WindowAssigner};

use crate::window_model::{Event, Modelled, Span, SumOf, flink, random_events, sliding, strategy, sum_of, tumbling};
use crate::{Collected, env};

/// What a window emits in these tests: its key, bounds and a value.
type Out<O> = (u32, i64, i64, O);

/// Everything a run emitted, per key in the order emitted, and its late records.
struct Run<O> {
    fired: BTreeMap<u32, Vec<(Span, O)>>,
    late: Vec<Event>,
}

/// Runs `build` over `input` from one source subtask with a watermark after every
/// record; the windows run with `parallelism`.
fn run<O: Data + Ord>(
    parallelism: u32,
    input: Vec<Event>,
    delay: i64,
    build: impl FnOnce(KeyedStream<Event, u32>, &OutputTag<Event>) -> DataStream<Out<O>>,
) -> Run<O> {
    let env = env(parallelism);
    let late = OutputTag::<Event>::new("late");
    let n = input.len() as u64;
    let keyed = env
        .from_source(GeneratorSource::new(move |j| input[j as usize], Some(n)), strategy(delay))
        .set_parallelism(1)
        .key_by(|e: &Event| e.0);
    let fired = build(keyed, &late);
    let late_records = fired.side_output(&late);
    let (fired_seen, late_seen) = (Collected::default(), Collected::default());
    let (f, l) = (fired_seen.clone(), late_seen.clone());
    // Chained to the window operator: each key's firings arrive in the order emitted.
    fired.add_sink(move |r: Out<O>| f.push(r));
    late_records.add_sink(move |r: Event| l.push(r));
    env.execute("windows").unwrap();
    let mut per_key: BTreeMap<u32, Vec<(Span, O)>> = BTreeMap::new();
    for (key, start, end, value) in fired_seen.take_in_order() {
        per_key.entry(key).or_default().push(((start, end), value));
    }
    Run { fired: per_key, late: late_seen.take() }
}

/// Asserts that a run matches the model exactly: per key, the same firings in the same
/// order; the same late records.
fn assert_matches<O: std::fmt::Debug + PartialEq>(run: &Run<O>, model: &Modelled<O>, what: &str) {
    for key in run.fired.keys().chain(model.fired.keys()) {
        let (got, expected) = (run.fired.get(key), model.fired.get(key));
        if got != expected {
            let first = got
                .into_iter()
                .flatten()
                .zip(expected.into_iter().flatten())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| got.map_or(0, Vec::len).min(expected.map_or(0, Vec::len)));
            panic!(
                "{what}: key {key} differs from Flink at firing {first}:\n  spate: {:?}\n  flink: {:?}",
                got.map(|v| &v[first.saturating_sub(2)..(first + 3).min(v.len())]),
                expected.map(|v| &v[first.saturating_sub(2)..(first + 3).min(v.len())]),
            );
        }
    }
    assert_eq!(run.late, model.late, "{what}: late records");
}

/// Emits the window's key, bounds and the one pre-aggregated value.
fn describe<V: Clone + 'static>(
    key: &u32,
    ctx: &mut WindowContext<'_, TimeWindow>,
    values: &[V],
    out: &mut Collector<'_, Out<V>>,
) -> FnResult {
    let w = *ctx.window();
    out.collect((*key, w.start, w.end, values[0].clone()));
    Ok(())
}

/// The first and the last value a window saw, as `first * 1000 + last`: depends on the
/// arrival order, and must never be merged (Flink merges accumulators only for merging
/// windows).
#[derive(Clone)]
struct FirstAndLast;

impl AggregateFunction<Event, Option<(i64, i64)>, i64> for FirstAndLast {
    fn create_accumulator(&mut self) -> Option<(i64, i64)> {
        None
    }
    fn add(&mut self, value: Event, acc: &mut Option<(i64, i64)>) {
        *acc = Some(match *acc {
            None => (value.2, value.2),
            Some((first, _)) => (first, value.2),
        });
    }
    fn get_result(&mut self, acc: &Option<(i64, i64)>) -> i64 {
        acc.map_or(-1, |(first, last)| first * 1000 + last)
    }
    fn merge(&mut self, _: Option<(i64, i64)>, _: Option<(i64, i64)>) -> Option<(i64, i64)> {
        panic!("merge called on windows that do not merge")
    }
}

/// The window functions compared with Flink, over the same windows.
#[derive(Clone, Copy, Debug)]
enum Function {
    /// The built-in `Sum`, declared commutative: sliding windows share slices.
    BuiltInSum,
    /// An aggregate that declares nothing: kept per window.
    PlainSum,
    /// Keeps the first record of each window (`reduce`).
    KeepFirst,
    /// The first and last value (`aggregate`, order-dependent).
    FirstAndLast,
    /// Every value, in the order the window saw them (`process`).
    Concatenation,
}

/// One comparison: an input, its watermark delay, the allowed lateness, the windows'
/// parallelism, and what to call it in failures.
struct Case<'a> {
    input: &'a [Event],
    delay: i64,
    lateness: i64,
    parallelism: u32,
    what: String,
}

/// Runs `function` on the windows of `assigner` (which `windows_of` models) and
/// compares with the model; returns how many firings there were.
fn compare<A>(case: &Case<'_>, function: Function, assigner: A, windows_of: impl Fn(i64) -> Vec<Span> + Clone) -> usize
where
    A: WindowAssigner<Event, W = TimeWindow, DefaultTrigger = EventTimeTrigger>,
{
    let Case { input, delay, lateness, parallelism, .. } = *case;
    let what = format!("{}, {function:?}, lateness {lateness}, p={parallelism}", case.what);
    let windowed = move |keyed: KeyedStream<Event, u32>, late: &OutputTag<Event>| {
        keyed.window(assigner).allowed_lateness(Duration::from_millis(lateness as u64)).side_output_late_data(late)
    };
    let input_vec = input.to_vec();
    match function {
        Function::BuiltInSum | Function::PlainSum => {
            let model = flink(input, delay, windows_of, lateness, sum_of);
            let got = run(parallelism, input_vec, delay, |keyed, late| match function {
                Function::BuiltInSum => windowed(keyed, late).aggregate_with(Sum::of(|e: &Event| e.2), describe),
                _ => windowed(keyed, late).aggregate_with(SumOf, describe),
            });
            assert_matches(&got, &model, &what);
            model.len()
        }
        Function::KeepFirst => {
            let model = flink(input, delay, windows_of, lateness, |_, _, r: &[Event]| r[0].2);
            let got = run(parallelism, input_vec, delay, |keyed, late| {
                windowed(keyed, late).reduce_with(
                    |first: Event, _: Event| first,
                    |k: &u32,
                     ctx: &mut WindowContext<'_, TimeWindow>,
                     e: &[Event],
                     out: &mut Collector<'_, Out<i64>>| {
                        let w = *ctx.window();
                        out.collect((*k, w.start, w.end, e[0].2));
                        Ok(())
                    },
                )
            });
            assert_matches(&got, &model, &what);
            model.len()
        }
        Function::FirstAndLast => {
            let model = flink(input, delay, windows_of, lateness, |_, _, r: &[Event]| r[0].2 * 1000 + r[r.len() - 1].2);
            let got = run(parallelism, input_vec, delay, |keyed, late| {
                windowed(keyed, late).aggregate_with(FirstAndLast, describe)
            });
            assert_matches(&got, &model, &what);
            model.len()
        }
        Function::Concatenation => {
            let join = |r: &[Event]| r.iter().map(|e| e.2.to_string()).collect::<Vec<_>>().join(",");
            let model = flink(input, delay, windows_of, lateness, |_, _, r: &[Event]| join(r));
            let got = run(parallelism, input_vec, delay, |keyed, late| {
                windowed(keyed, late).process(
                    move |k: &u32,
                          ctx: &mut WindowContext<'_, TimeWindow>,
                          e: &[Event],
                          out: &mut Collector<'_, Out<String>>| {
                        let w = *ctx.window();
                        out.collect((*k, w.start, w.end, join(e)));
                        Ok(())
                    },
                )
            });
            assert_matches(&got, &model, &what);
            model.len()
        }
    }
}

const ALL: [Function; 5] =
    [Function::BuiltInSum, Function::PlainSum, Function::KeepFirst, Function::FirstAndLast, Function::Concatenation];

fn ms(ms: i64) -> Duration {
    Duration::from_millis(ms as u64)
}

#[test]
fn a_late_record_fires_its_empty_window_once_at_arrival() {
    // Tumbling 10 s, out-of-orderness 2 s, allowed lateness 5 s. The watermark passed
    // [90000, 100000) while it was empty; the late record fires it once, with 21.
    let input = vec![(5, 106_633, 38), (5, 95_984, 21)];
    let model = flink(&input, 2_000, tumbling(10_000), 5_000, sum_of);
    assert_eq!(model.sorted(), vec![(5, 90_000, 100_000, 21), (5, 100_000, 110_000, 38)]);
    let case = Case { input: &input, delay: 2_000, lateness: 5_000, parallelism: 1, what: "issue".into() };
    for function in ALL {
        compare(&case, function, TumblingEventTimeWindows::of(ms(10_000)), tumbling(10_000));
    }
}

#[test]
fn a_record_is_dropped_only_for_its_windows_that_are_late() {
    // Sliding 30 s every 10 s, count per key, no lateness: [60000, 90000) had passed the
    // watermark, so the second record counts in its two other windows only.
    let input = vec![(4, 100_872, 15), (4, 87_478, 45)];
    let count = |_, _, r: &[Event]| r.len() as i64;
    let model = flink(&input, 2_000, sliding(30_000, 10_000), 0, count);
    assert_eq!(
        model.sorted(),
        vec![(4, 70_000, 100_000, 1), (4, 80_000, 110_000, 2), (4, 90_000, 120_000, 1), (4, 100_000, 130_000, 1)]
    );
    assert!(model.late.is_empty());
    let got = run(1, input, 2_000, |keyed, late| {
        keyed
            .window(SlidingEventTimeWindows::of(ms(30_000), ms(10_000)))
            .side_output_late_data(late)
            .aggregate_with(Count, describe)
    });
    let got_counts = Modelled { fired: got.fired, late: got.late }.sorted();
    assert_eq!(got_counts.iter().map(|&(k, s, e, c)| (k, s, e, c as i64)).collect::<Vec<_>>(), model.sorted());
}

#[test]
fn window_functions_see_records_in_arrival_order() {
    // Sliding 20 s every 5 s: the second record is earlier in time but later in arrival;
    // Flink's process() gets [4, 28], a keep-first reduce keeps 4.
    let input = vec![(2, 165_000, 4), (2, 164_939, 28)];
    let case = Case { input: &input, delay: 2_000, lateness: 0, parallelism: 1, what: "issue".into() };
    for function in ALL {
        compare(&case, function, SlidingEventTimeWindows::of(ms(20_000), ms(5_000)), sliding(20_000, 5_000));
    }
    let got = run(1, input, 2_000, |keyed, _| {
        keyed.window(SlidingEventTimeWindows::of(ms(20_000), ms(5_000))).process(
            |k: &u32, ctx: &mut WindowContext<'_, TimeWindow>, e: &[Event], out: &mut Collector<'_, Out<Vec<i64>>>| {
                let w = *ctx.window();
                out.collect((*k, w.start, w.end, e.iter().map(|e| e.2).collect()));
                Ok(())
            },
        )
    });
    let shared = &got.fired[&2].iter().find(|(w, _)| *w == (150_000, 170_000)).unwrap().1;
    assert_eq!(shared, &vec![4, 28]);
}

#[test]
fn continuous_event_time_triggers_before_1970_fire_as_flink() {
    // Tumbling 30 s, early firings every 10 s, one record at -75605: Flink's first early
    // firing rounds toward zero (-70000 + 10 s = -60000), past the window's end, so the
    // window fires once.
    let input = vec![(2, -75_605, 20)];
    let got = run(1, input, 0, |keyed, _| {
        keyed
            .window(TumblingEventTimeWindows::of(ms(30_000)))
            .trigger(ContinuousEventTimeTrigger::of(ms(10_000)))
            .aggregate_with(Sum::of(|e: &Event| e.2), describe)
    });
    assert_eq!(got.fired[&2], vec![((-90_000, -60_000), 20)]);
}

#[test]
fn windows_at_the_end_of_time_finish() {
    // Window ends saturate at i64::MAX: the firing loop must still pass them, on either
    // operator, whatever the geometry and the watermark delay.
    let input = vec![(1, 9_223_372_036_854_775_000, 2), (1, 9_223_372_036_854_760_000, 4)];
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let worker = std::thread::spawn(move || {
        for (size, slide) in [(10_000, 5_000), (30_000, 10_000), (60_000, 1_000), (10_000, 10_000)] {
            for delay in [0, 1_000, 20_000] {
                for function in [Function::BuiltInSum, Function::PlainSum, Function::Concatenation] {
                    let got = run(1, input.clone(), delay, |keyed, late| {
                        let windows =
                            keyed.window(SlidingEventTimeWindows::of(ms(size), ms(slide))).side_output_late_data(late);
                        match function {
                            Function::BuiltInSum => windows.aggregate_with(Sum::of(|e: &Event| e.2), describe),
                            Function::PlainSum => windows.aggregate_with(SumOf, describe),
                            _ => windows.process(
                                |k: &u32,
                                 ctx: &mut WindowContext<'_, TimeWindow>,
                                 e: &[Event],
                                 out: &mut Collector<'_, Out<i64>>| {
                                    let w = *ctx.window();
                                    out.collect((*k, w.start, w.end, e.iter().map(|e| e.2).sum()));
                                    Ok(())
                                },
                            ),
                        }
                    });
                    let what = format!("{function:?} {size}/{slide}, delay {delay}");
                    let fired = got.fired.get(&1).cloned().unwrap_or_default();
                    // The first record's windows end at i64::MAX (they would end after
                    // it) and fire once each at the end of the input.
                    assert!(fired.iter().any(|((_, end), _)| *end == i64::MAX), "{what}: {fired:?}");
                    let mut windows: Vec<Span> = fired.iter().map(|(w, _)| *w).collect();
                    windows.sort_unstable();
                    windows.dedup();
                    assert_eq!(windows.len(), fired.len(), "{what}: a window fired twice: {fired:?}");
                    assert!(fired.iter().all(|(_, v)| [2, 4, 6].contains(v)), "{what}: {fired:?}");
                    assert!(got.late.iter().all(|e| *e == input[1]), "{what}: {:?}", got.late);
                }
            }
        }
        flag.store(true, std::sync::atomic::Ordering::Release);
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !done.load(std::sync::atomic::Ordering::Acquire) {
        if worker.is_finished() && !done.load(std::sync::atomic::Ordering::Acquire) {
            break; // it failed: join reports how
        }
        assert!(std::time::Instant::now() < deadline, "windows near i64::MAX do not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.join().unwrap();
}

#[test]
fn random_tumbling_windows_match_flink() {
    for seed in 1..=3 {
        let input = random_events(seed, 1_500, 6, 400, 2_000);
        for lateness in [0, 700] {
            for p in [1, 3] {
                let what = format!("tumbling 1000, seed {seed}");
                let case = Case { input: &input, delay: 300, lateness, parallelism: p, what };
                for function in ALL {
                    let fired = compare(&case, function, TumblingEventTimeWindows::of(ms(1_000)), tumbling(1_000));
                    assert!(fired > 100, "the input fires windows: {fired}");
                }
            }
        }
    }
}

#[test]
fn random_sliding_windows_match_flink() {
    for seed in 4..=5 {
        let input = random_events(seed, 1_200, 5, 400, 2_000);
        for (size, slide) in [(1_000, 250), (1_000, 300), (700, 700), (400, 1_000)] {
            for lateness in [0, 900] {
                for (p, functions) in [(1, &ALL[..]), (3, &[Function::BuiltInSum, Function::Concatenation][..])] {
                    let what = format!("sliding {size}/{slide}, seed {seed}");
                    let case = Case { input: &input, delay: 200, lateness, parallelism: p, what };
                    for &function in functions {
                        compare(
                            &case,
                            function,
                            SlidingEventTimeWindows::of(ms(size), ms(slide)),
                            sliding(size, slide),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn random_windows_near_both_ends_of_time_match_flink() {
    // The random inputs moved to within 100 s of i64::MIN and of i64::MAX: window
    // arithmetic on timestamps of that size (the exact ends themselves are
    // `windows_at_the_end_of_time_finish`), across seeds, at p=1 and 3.
    for seed in 6..=7 {
        let input = random_events(seed, 800, 5, 400, 2_000);
        let (low, high) = (input.iter().map(|e| e.1).min().unwrap_or(0), input.iter().map(|e| e.1).max().unwrap_or(0));
        for shift in [i64::MIN + 100_000 - low, i64::MAX - 100_000 - high] {
            let moved: Vec<Event> = input.iter().map(|&(k, t, v)| (k, t + shift, v)).collect();
            for p in [1, 3] {
                let end = if shift < 0 { "i64::MIN" } else { "i64::MAX" };
                let what = format!("near {end}, seed {seed}");
                let case = Case { input: &moved, delay: 200, lateness: 500, parallelism: p, what };
                for function in [Function::BuiltInSum, Function::Concatenation] {
                    let fired = compare(&case, function, TumblingEventTimeWindows::of(ms(1_000)), tumbling(1_000));
                    assert!(fired > 30, "the input fires windows: {fired}");
                    compare(&case, function, SlidingEventTimeWindows::of(ms(1_000), ms(300)), sliding(1_000, 300));
                }
            }
        }
    }
}

#[test]
fn the_random_input_has_what_the_model_tests_need() {
    // Late records, records within the lateness that re-fire windows, and windows that
    // the watermark passed while empty and that a late record then fires.
    let input = random_events(4, 1_200, 5, 400, 2_000);
    let strict = flink(&input, 200, sliding(1_000, 250), 0, sum_of);
    let lenient = flink(&input, 200, sliding(1_000, 250), 900, sum_of);
    assert!(strict.late.len() > 20, "late records: {}", strict.late.len());
    assert!(lenient.len() > strict.len() + 20, "re-firings: {} vs {}", lenient.len(), strict.len());
    assert!(input.iter().any(|e| e.1 < 0) && input.iter().any(|e| e.1 > 0), "the input spans 1970");
}
