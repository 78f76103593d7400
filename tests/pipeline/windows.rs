//! Windows on crafted out-of-order input, against the record-by-record model of
//! Flink's window semantics in `window_model.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use spate::prelude::*;

use crate::window_model::{Event, SumOf, flink, sliding, strategy, sum_of, tumbling};
use crate::{Collected, env, sorted};

/// `(key, window start, window end, sum of values)`.
type Fired = (u32, i64, i64, i64);

/// Flink's window semantics with the event-time trigger, record by record: the windows
/// that fire with their sums (again on every late record within the allowed lateness),
/// sorted, and the records too late for all their windows.
fn model(
    events: &[Event],
    delay: i64,
    windows_of: impl Fn(i64) -> Vec<(i64, i64)>,
    lateness: i64,
) -> (Vec<Fired>, Vec<Event>) {
    let modelled = flink(events, delay, windows_of, lateness, sum_of);
    (modelled.sorted(), modelled.late)
}

/// Out-of-order events over a few keys: mostly increasing time with jitter, a few far
/// behind (late), deterministic.
fn events(n: usize, keys: u32) -> Vec<Event> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let jitter = (x % 400) as i64;
            let far = if x % 23 == 0 { 2_500 } else { 0 };
            ((x >> 20) as u32 % keys, i as i64 * 37 + jitter - far, (x >> 40) as i64 % 100)
        })
        .collect()
}

/// Emits `(key, start, end, sum)` for a window holding one pre-aggregated sum.
fn describe(
    key: &u32,
    ctx: &mut WindowContext<'_, TimeWindow>,
    sums: &[i64],
    out: &mut Collector<'_, Fired>,
) -> FnResult {
    let w = *ctx.window();
    assert!(ctx.current_watermark() >= w.max_timestamp(), "fires only when the watermark passed the window");
    out.collect((*key, w.start, w.end, sums[0]));
    Ok(())
}

/// [`describe`] without the check on the watermark (early and processing-time firings).
fn describe_any(
    key: &u32,
    ctx: &mut WindowContext<'_, TimeWindow>,
    sums: &[i64],
    out: &mut Collector<'_, Fired>,
) -> FnResult {
    let w = *ctx.window();
    out.collect((*key, w.start, w.end, sums[0]));
    Ok(())
}

fn sum(a: Event, b: Event) -> Event {
    (a.0, a.1.max(b.1), a.2 + b.2)
}

fn run_windows(
    parallelism: u32,
    input: Vec<Event>,
    delay: i64,
    build: impl FnOnce(KeyedStream<Event, u32>, &OutputTag<Event>) -> DataStream<Fired>,
) -> (Vec<Fired>, Vec<Event>) {
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
    fired.add_sink(move |r: Fired| f.push(r));
    late_records.add_sink(move |r: Event| l.push(r));
    env.execute("windows").unwrap();
    (fired_seen.take(), late_seen.take())
}

#[test]
fn tumbling_event_time_windows_match_the_model_at_any_parallelism() {
    let input = events(3_000, 7);
    let (expected, expected_late) = model(&input, 300, tumbling(1_000), 0);
    assert!(expected_late.len() > 20, "the input has late records: {}", expected_late.len());
    for p in [1, 3] {
        let (fired, late) = run_windows(p, input.clone(), 300, |keyed, late| {
            keyed
                .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
                .side_output_late_data(late)
                .aggregate_with(SumOf, describe)
        });
        assert_eq!(fired, expected, "parallelism {p}");
        assert_eq!(late, expected_late, "parallelism {p}");
    }
}

#[test]
fn sliding_windows_with_uneven_slides_match_the_model() {
    let input = events(2_000, 5);
    for (size, slide) in [(1_000, 250), (1_000, 300), (700, 700)] {
        let (expected, expected_late) = model(&input, 200, sliding(size, slide), 0);
        let (fired, late) = run_windows(2, input.clone(), 200, |keyed, late| {
            keyed
                .window(SlidingEventTimeWindows::of(
                    Duration::from_millis(size as u64),
                    Duration::from_millis(slide as u64),
                ))
                .side_output_late_data(late)
                .reduce_with(
                    sum,
                    |k: &u32, ctx: &mut WindowContext<'_, TimeWindow>, e: &[Event], out: &mut Collector<'_, Fired>| {
                        let w = *ctx.window();
                        out.collect((*k, w.start, w.end, e[0].2));
                        Ok(())
                    },
                )
        });
        assert_eq!(fired, expected, "{size}/{slide}");
        assert_eq!(late, expected_late, "{size}/{slide}");
    }
}

#[test]
fn allowed_lateness_fires_windows_again_then_drops_them() {
    let input = events(2_000, 4);
    let (expected, expected_late) = model(&input, 100, sliding(1_000, 500), 1_500);
    let refired = expected.len() - model(&input, 100, sliding(1_000, 500), 0).0.len();
    assert!(refired > 20, "late records re-fire windows: {refired}");
    assert!(!expected_late.is_empty(), "some records are later than the allowed lateness");
    let (fired, late) = run_windows(2, input, 100, |keyed, late| {
        keyed
            .window(SlidingEventTimeWindows::of(Duration::from_secs(1), Duration::from_millis(500)))
            .allowed_lateness(Duration::from_millis(1_500))
            .side_output_late_data(late)
            .aggregate_with(SumOf, describe)
    });
    assert_eq!(fired, expected);
    assert_eq!(late, expected_late);
}

#[test]
fn a_custom_trigger_takes_the_per_window_path_with_the_same_results() {
    // An event-time trigger that is not the built-in one: the general operator runs it,
    // with a timer per key and window; results must equal the sliced operator's.
    #[derive(Clone)]
    struct AtEnd;
    impl Trigger<Event, TimeWindow> for AtEnd {
        type State = ();
        fn on_element(
            &mut self,
            _: &Event,
            _: i64,
            w: &TimeWindow,
            _: &mut (),
            ctx: &mut TriggerContext<'_>,
        ) -> TriggerResult {
            if w.max_timestamp() <= ctx.current_watermark() {
                return TriggerResult::Fire;
            }
            ctx.register_event_time_timer(w.max_timestamp());
            TriggerResult::Continue
        }
        fn on_event_time(&mut self, t: i64, w: &TimeWindow, _: &mut (), _: &mut TriggerContext<'_>) -> TriggerResult {
            if t == w.max_timestamp() { TriggerResult::Fire } else { TriggerResult::Continue }
        }
        fn on_processing_time(
            &mut self,
            _: i64,
            _: &TimeWindow,
            _: &mut (),
            _: &mut TriggerContext<'_>,
        ) -> TriggerResult {
            TriggerResult::Continue
        }
        fn clear(&mut self, w: &TimeWindow, _: &mut (), ctx: &mut TriggerContext<'_>) {
            ctx.delete_event_time_timer(w.max_timestamp());
        }
    }
    let input = events(1_500, 5);
    let (expected, expected_late) = model(&input, 200, sliding(1_000, 250), 400);
    let (fired, late) = run_windows(2, input, 200, |keyed, late| {
        keyed
            .window(SlidingEventTimeWindows::of(Duration::from_secs(1), Duration::from_millis(250)))
            .trigger(AtEnd)
            .allowed_lateness(Duration::from_millis(400))
            .side_output_late_data(late)
            .aggregate_with(SumOf, describe)
    });
    assert_eq!(fired, expected);
    assert_eq!(late, expected_late);
}

#[test]
fn reduce_alone_emits_the_reduced_records() {
    let input = events(1_000, 3);
    let (expected, _) = model(&input, 300, tumbling(2_000), 0);
    let env = env(2);
    let n = input.len() as u64;
    let reduced = env
        .from_source(GeneratorSource::new(move |j| input[j as usize], Some(n)), strategy(300))
        .set_parallelism(1)
        .key_by(|e: &Event| e.0)
        .window(TumblingEventTimeWindows::of(Duration::from_secs(2)))
        .reduce(sum)
        .execute_and_collect()
        .unwrap();
    let got = sorted(reduced.into_iter().map(|(k, _, v)| (k, v)).collect::<Vec<_>>());
    assert_eq!(got, sorted(expected.into_iter().map(|(k, _, _, v)| (k, v)).collect::<Vec<_>>()));
}

#[test]
fn late_records_without_a_side_output_are_counted() {
    let input = events(1_000, 3);
    let (_, expected_late) = model(&input, 100, tumbling(500), 0);
    let env = env(1);
    let n = input.len() as u64;
    env.from_source(GeneratorSource::new(move |j| input[j as usize], Some(n)), strategy(100))
        .key_by(|e: &Event| e.0)
        .window(TumblingEventTimeWindows::of(Duration::from_millis(500)))
        .reduce(sum)
        .add_sink(|_: Event| {});
    let result = env.execute("late").unwrap();
    let dropped: u64 = result.vertices.iter().map(|v| v.late_records_dropped).sum();
    assert_eq!(dropped, expected_late.len() as u64);
}

/// Emits `(key, start, end, sum, firing of this window, firing of this key)`, counting
/// firings in per-window and per-key state.
#[derive(Clone)]
struct CountingFirings;

impl ProcessWindowFunction<Event, (u32, i64, i64, i64, u32, u32), u32, TimeWindow> for CountingFirings {
    fn process(
        &mut self,
        key: &u32,
        ctx: &mut WindowContext<'_, TimeWindow>,
        elements: &[Event],
        out: &mut Collector<'_, (u32, i64, i64, i64, u32, u32)>,
    ) -> FnResult {
        let w = *ctx.window();
        assert!(elements.iter().all(|e| e.0 == *key && w.start <= e.1 && e.1 < w.end));
        let this_window = ctx.window_state()?.get_state(&ValueStateDescriptor::<u32>::new("firings"))?;
        let n = this_window.value()?.unwrap_or(0) + 1;
        this_window.update(n)?;
        let this_key = ctx.global_state()?.get_state(&ValueStateDescriptor::<u32>::new("firings"))?;
        let m = this_key.value()?.unwrap_or(0) + 1;
        this_key.update(m)?;
        out.collect((*key, w.start, w.end, elements.iter().map(|e| e.2).sum(), n, m));
        Ok(())
    }
}

#[test]
fn process_window_functions_see_every_element_and_keep_window_and_key_state() {
    let input = events(1_500, 4);
    let (expected, _) = model(&input, 100, tumbling(1_000), 2_000);
    let env = env(2);
    let n = input.len() as u64;
    let out = env
        .from_source(GeneratorSource::new(move |j| input[j as usize], Some(n)), strategy(100))
        .set_parallelism(1)
        .key_by(|e: &Event| e.0)
        .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
        .allowed_lateness(Duration::from_secs(2))
        .process_function(CountingFirings)
        .execute_and_collect()
        .unwrap();
    let got = sorted(out.iter().map(|&(k, s, e, sum, _, _)| (k, s, e, sum)).collect::<Vec<_>>());
    assert_eq!(got, expected);
    // Per window, firings are numbered 1, 2, ... (window state lives until cleanup); per
    // key, all firings of all windows are numbered 1..=n (key state spans windows).
    let mut per_window: BTreeMap<(u32, i64), Vec<u32>> = BTreeMap::new();
    let mut per_key: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &(k, s, _, _, n, m) in &out {
        per_window.entry((k, s)).or_default().push(n);
        per_key.entry(k).or_default().push(m);
    }
    assert!(per_window.values().any(|v| v.len() > 1), "some windows fired more than once");
    for v in per_window.values().chain(per_key.values()) {
        assert_eq!(sorted(v.clone()), (1..=v.len() as u32).collect::<Vec<_>>());
    }
}

/// Sessions per key from timestamps that are never late: sorted, a new session where
/// the gap to the last session's end is passed.
fn sessions(events: &[Event], gap: impl Fn(&Event) -> i64) -> Vec<Fired> {
    let mut by_key: BTreeMap<u32, Vec<Event>> = BTreeMap::new();
    for e in events {
        by_key.entry(e.0).or_default().push(*e);
    }
    let mut out = Vec::new();
    for (key, mut es) in by_key {
        es.sort_by_key(|e| e.1);
        let mut current: Option<(i64, i64, i64)> = None;
        for e in es {
            let end = e.1 + gap(&e);
            current = match current {
                Some((s, x, sum)) if e.1 <= x => Some((s, x.max(end), sum + e.2)),
                Some((s, x, sum)) => {
                    out.push((key, s, x, sum));
                    Some((e.1, end, e.2))
                }
                None => Some((e.1, end, e.2)),
            };
        }
        if let Some((s, x, sum)) = current {
            out.push((key, s, x, sum));
        }
    }
    sorted(out)
}

#[test]
fn session_windows_merge_out_of_order_records() {
    // Key 1: sessions [0,50) and [100,150), then 60 bridges into [60,150), then 45
    // joins everything into [0,150). Key 2 keeps two sessions.
    let input: Vec<Event> = vec![(1, 0, 1), (1, 100, 2), (2, 10, 1), (1, 60, 4), (2, 200, 1), (1, 45, 8), (1, 400, 16)];
    let expected = sessions(&input, |_| 50);
    assert!(expected.contains(&(1, 0, 150, 15)), "{expected:?}");
    let (fired, late) = run_windows(1, input.clone(), 1_000, |keyed, _| {
        keyed.window(EventTimeSessionWindows::with_gap(Duration::from_millis(50))).aggregate_with(SumOf, describe)
    });
    assert_eq!(fired, expected);
    assert!(late.is_empty());
    // The same with every element kept (merging lists of elements).
    let (fired, _) = run_windows(2, input, 1_000, |keyed, _| {
        keyed.window(EventTimeSessionWindows::with_gap(Duration::from_millis(50))).process(
            |k: &u32, ctx: &mut WindowContext<'_, TimeWindow>, e: &[Event], out: &mut Collector<'_, Fired>| {
                let w = *ctx.window();
                out.collect((*k, w.start, w.end, e.iter().map(|e| e.2).sum()));
                Ok(())
            },
        )
    });
    assert_eq!(fired, expected);
}

#[test]
fn session_windows_close_as_the_watermark_passes_and_take_dynamic_gaps() {
    let input = events(1_000, 6);
    let in_order = sorted(input.iter().map(|e| (e.1, e.0, e.2)).collect::<Vec<_>>());
    let input: Vec<Event> = in_order.into_iter().map(|(t, k, v)| (k, t, v)).collect();
    let gap = |e: &Event| 100 + (e.2 % 3) * 150;
    let expected = sessions(&input, gap);
    let (fired, late) = run_windows(2, input, 0, |keyed, _| {
        keyed
            .window(EventTimeSessionWindows::with_dynamic_gap(move |e: &Event| Duration::from_millis(gap(e) as u64)))
            .aggregate_with(SumOf, describe)
    });
    assert_eq!(fired, expected);
    assert!(late.is_empty());
}

#[test]
fn global_windows_fire_by_count_accumulating_or_purging() {
    let input = events(200, 3);
    let mut per_key: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    for e in &input {
        per_key.entry(e.0).or_default().push(e.2);
    }
    let mut accumulating = Vec::new();
    let mut purging = Vec::new();
    for (k, values) in &per_key {
        for chunk in 1..=values.len() / 3 {
            accumulating.push((*k, values[..chunk * 3].iter().sum::<i64>()));
            purging.push((*k, values[(chunk - 1) * 3..chunk * 3].iter().sum::<i64>()));
        }
    }
    let run = |purge: bool| {
        let env = env(2);
        let input = input.clone();
        let keyed = env.from_iter(input).key_by(|e: &Event| e.0);
        let windows = keyed.window(GlobalWindows::create());
        let out = if purge {
            windows.trigger(PurgingTrigger::of(CountTrigger::of(3))).reduce(sum)
        } else {
            windows.trigger(CountTrigger::of(3)).reduce(sum)
        };
        sorted(out.execute_and_collect().unwrap().into_iter().map(|e| (e.0, e.2)).collect::<Vec<_>>())
    };
    assert_eq!(run(false), sorted(accumulating));
    assert_eq!(run(true), sorted(purging));
}

#[test]
fn continuous_event_time_triggers_fire_early_and_at_the_end() {
    let input: Vec<Event> = (0..20).map(|i| (7, i * 100, 1)).collect();
    let (fired, _) = run_windows(1, input, 0, |keyed, _| {
        keyed
            .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
            .trigger(ContinuousEventTimeTrigger::of(Duration::from_millis(250)))
            .aggregate_with(SumOf, describe_any)
    });
    let got: Vec<(i64, i64)> = fired.iter().map(|f| (f.1, f.3)).collect();
    assert_eq!(got, vec![(0, 4), (0, 7), (0, 9), (0, 10), (1_000, 4), (1_000, 7), (1_000, 9), (1_000, 10)]);
}

#[test]
fn window_all_counts_the_whole_stream_in_one_subtask() {
    let input = events(2_000, 9);
    let all: Vec<Event> = input.iter().map(|e| (0, e.1, 1)).collect();
    let (expected, expected_late) = model(&all, 300, tumbling(1_000), 0);
    let env = env(3);
    let n = input.len() as u64;
    let late = OutputTag::<Event>::new("late");
    let counts = env
        .from_source(GeneratorSource::new(move |j| input[j as usize], Some(n)), strategy(300))
        .set_parallelism(1)
        .window_all(TumblingEventTimeWindows::of(Duration::from_secs(1)))
        .side_output_late_data(&late)
        .process(|ctx: &mut WindowContext<'_, TimeWindow>, e: &[Event], out: &mut Collector<'_, Fired>| {
            let w = *ctx.window();
            out.collect((0, w.start, w.end, e.len() as i64));
            Ok(())
        });
    let late_count = counts.side_output(&late).map(|_: Event| 1u64);
    let plan = env.execution_plan().unwrap();
    assert!(plan.contains("\"parallelism\": 1") || plan.contains("\"parallelism\":1"), "{plan}");
    let seen = Collected::default();
    let s = seen.clone();
    counts.add_sink(move |f: Fired| s.push(f));
    let late_seen = Collected::default();
    let l = late_seen.clone();
    late_count.add_sink(move |x: u64| l.push(x));
    env.execute("window all").unwrap();
    assert_eq!(seen.take(), expected);
    assert_eq!(late_seen.take().len(), expected_late.len());
}

#[test]
fn event_time_windows_need_timestamps() {
    let env = env(1);
    env.from_iter(vec![(1u32, 0i64, 1i64)])
        .key_by(|e: &Event| e.0)
        .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
        .reduce(sum)
        .add_sink(|_: Event| {});
    let err = env.execute("no timestamps").unwrap_err().to_string();
    assert!(err.contains("no timestamp") && err.contains("WatermarkStrategy"), "{err}");
}

#[test]
fn impossible_windows_are_refused_when_the_job_is_built() {
    type Build = Box<dyn Fn(&StreamEnv)>;
    let cases: Vec<(&str, Build)> = vec![
        (
            "window size must be at least 1 ms",
            Box::new(|env: &StreamEnv| {
                env.from_iter(vec![(1u32, 0i64, 1i64)])
                    .key_by(|e: &Event| e.0)
                    .window(TumblingEventTimeWindows::of(Duration::ZERO))
                    .reduce(sum)
                    .add_sink(|_: Event| {});
            }),
        ),
        (
            "allowed lateness applies to event-time windows only",
            Box::new(|env: &StreamEnv| {
                env.from_iter(vec![(1u32, 0i64, 1i64)])
                    .key_by(|e: &Event| e.0)
                    .window(TumblingProcessingTimeWindows::of(Duration::from_secs(1)))
                    .allowed_lateness(Duration::from_secs(1))
                    .reduce(sum)
                    .add_sink(|_: Event| {});
            }),
        ),
        (
            "cannot be used with merging (session) windows",
            Box::new(|env: &StreamEnv| {
                #[derive(Clone)]
                struct Plain;
                impl Trigger<Event, TimeWindow> for Plain {
                    type State = ();
                    fn on_element(
                        &mut self,
                        _: &Event,
                        _: i64,
                        _: &TimeWindow,
                        _: &mut (),
                        _: &mut TriggerContext<'_>,
                    ) -> TriggerResult {
                        TriggerResult::Fire
                    }
                    fn on_event_time(
                        &mut self,
                        _: i64,
                        _: &TimeWindow,
                        _: &mut (),
                        _: &mut TriggerContext<'_>,
                    ) -> TriggerResult {
                        TriggerResult::Continue
                    }
                    fn on_processing_time(
                        &mut self,
                        _: i64,
                        _: &TimeWindow,
                        _: &mut (),
                        _: &mut TriggerContext<'_>,
                    ) -> TriggerResult {
                        TriggerResult::Continue
                    }
                    fn clear(&mut self, _: &TimeWindow, _: &mut (), _: &mut TriggerContext<'_>) {}
                }
                env.from_iter(vec![(1u32, 0i64, 1i64)])
                    .key_by(|e: &Event| e.0)
                    .window(EventTimeSessionWindows::with_gap(Duration::from_secs(1)))
                    .trigger(Plain)
                    .reduce(sum)
                    .add_sink(|_: Event| {});
            }),
        ),
    ];
    for (message, build) in cases {
        let env = env(1);
        build(&env);
        let err = env.execute("bad windows").unwrap_err().to_string();
        assert!(err.contains(message), "expected '{message}' in: {err}");
    }
}

#[test]
fn extreme_timestamps_do_not_break_windows() {
    let input: Vec<Event> = vec![(1, i64::MIN + 3, 1), (1, -1, 2), (1, 0, 4), (1, i64::MAX - 3, 8)];
    for sliding in [false, true] {
        let (fired, _) = run_windows(1, input.clone(), i64::MAX / 4, |keyed, _| {
            if sliding {
                keyed
                    .window(SlidingEventTimeWindows::of(Duration::from_secs(10), Duration::from_secs(5)))
                    .aggregate_with(SumOf, describe_any)
            } else {
                keyed.window(TumblingEventTimeWindows::of(Duration::from_secs(10))).aggregate_with(SumOf, describe_any)
            }
        });
        let total: i64 = fired.iter().filter(|f| f.1 <= 0 && 0 < f.2).map(|f| f.3).sum();
        assert!(total >= 4, "the window of 0 holds its record: {fired:?}");
        assert!(fired.iter().any(|f| f.3 == 8 || f.3 == 12), "the largest timestamp lands somewhere: {fired:?}");
    }
}

#[test]
fn records_at_both_ends_of_time_land_in_the_same_windows_sliced_and_per_window() {
    // Near i64::MIN the first slices and windows begin before MIN (their starts are
    // clamped); records just after the first slice belong to the next one. Near MAX
    // several windows end after MAX, each a window of its own.
    let (min, max) = (i64::MIN, i64::MAX);
    let everywhere: Vec<Event> = vec![
        (1, min + 3, 1),
        (1, min + 900, 2),
        (1, min + 5_900, 4),
        (1, min + 6_000, 8),
        (1, min + 12_000, 16),
        (1, 0, 32),
        (1, max - 9_000, 64),
        (1, max - 900, 128),
        (1, max - 3, 256),
    ];
    // Only the last slice of time holds records: the two windows ending at MAX both
    // read it, so the first may not take it.
    let last_slice_only: Vec<Event> = vec![(1, max - 3, 256), (2, max, 512)];
    for input in [everywhere, last_slice_only] {
        let run = |commutative: bool| {
            let (mut fired, late) = run_windows(1, input.clone(), 0, |keyed, _| {
                let windows =
                    keyed.window(SlidingEventTimeWindows::of(Duration::from_secs(10), Duration::from_secs(5)));
                if commutative {
                    windows.aggregate_with(Commutative(SumOf), describe_any)
                } else {
                    windows.aggregate_with(SumOf, describe_any)
                }
            });
            fired.sort_unstable();
            (fired, late)
        };
        let (sliced, per_window) = (run(true), run(false));
        assert_eq!(sliced, per_window, "sliced (left) and per-window (right) operators agree");
        // Every record is in two windows of 10 s every 5 s.
        let total: i64 = sliced.0.iter().map(|f| f.3).sum();
        assert_eq!(total, 2 * input.iter().map(|e| e.2).sum::<i64>(), "{sliced:?}");
    }
}
