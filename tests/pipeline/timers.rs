//! Timers and side outputs of keyed process functions.

use std::sync::Arc;
use std::time::Duration;

use spate::ManualClock;
use spate::prelude::*;

use crate::{env, sorted};

/// For every record `(key, t, delete)`: registers an event-time timer at `t + 10`,
/// twice (deduplicated), and deletes it again if `delete`. Timers emit
/// `(key, timer time, watermark)`; records with timestamp 0 go to a side output.
#[derive(Clone)]
struct EventTimers {
    early: OutputTag<(u32, i64)>,
}

impl KeyedProcessFunction<u32, (u32, i64, bool), (u32, i64, i64)> for EventTimers {
    fn process_element(
        &mut self,
        (key, t, command): (u32, i64, bool),
        ctx: &mut KeyedContext<'_, u32>,
        _out: &mut Collector<'_, (u32, i64, i64)>,
    ) -> FnResult {
        assert_eq!(ctx.timestamp(), Some(t));
        if t == 0 {
            ctx.output(&self.early, (key, t));
        }
        let timers = ctx.timer_service();
        timers.register_event_time_timer(t + 10);
        timers.register_event_time_timer(t + 10);
        if command {
            timers.delete_event_time_timer(t + 10);
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        ctx: &mut OnTimerContext<'_, u32>,
        out: &mut Collector<'_, (u32, i64, i64)>,
    ) -> FnResult {
        assert_eq!(ctx.time_domain(), TimeDomain::EventTime);
        assert!(ctx.current_watermark() >= timestamp);
        out.collect((*ctx.current_key(), timestamp, ctx.current_watermark()));
        Ok(())
    }
}

#[test]
fn event_time_timers_fire_once_in_order_unless_deleted() {
    let input: Vec<(u32, i64, bool)> =
        vec![(1, 0, false), (2, 0, false), (1, 5, true), (1, 20, false), (2, 30, false), (1, 40, false), (2, 40, true)];
    let env = env(1);
    let early = OutputTag::<(u32, i64)>::new("early");
    let fired = env
        .from_iter(input)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|r: &(u32, i64, bool), _| r.1),
        )
        .key_by(|r: &(u32, i64, bool)| r.0)
        .process_function(EventTimers { early: early.clone() });
    let (sender, receiver) = std::sync::mpsc::channel();
    fired.side_output(&early).add_sink(move |r: (u32, i64)| sender.send(r).unwrap());
    let fired = fired.execute_and_collect().unwrap();
    let times: Vec<(u32, i64)> = fired.iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(times, vec![(1, 10), (2, 10), (1, 30), (2, 40), (1, 50)], "in timestamp order; deleted ones missing");
    assert!(fired.iter().all(|r| r.2 >= r.1), "a timer fires once the watermark passes it");
    assert_eq!(sorted(receiver.try_iter().collect()), vec![(1, 0), (2, 0)]);
}

/// Registers a processing-time timer 100 ms ahead, then moves the manual clock 150 ms
/// on: the timer fires after the batch, from the task loop, never during a record.
#[derive(Clone)]
struct ProcessingTimers {
    clock: Arc<ManualClock>,
    busy: Arc<std::sync::atomic::AtomicBool>,
}

impl KeyedProcessFunction<u32, u32, (u32, i64, bool)> for ProcessingTimers {
    fn process_element(
        &mut self,
        key: u32,
        ctx: &mut KeyedContext<'_, u32>,
        _: &mut Collector<'_, (u32, i64, bool)>,
    ) -> FnResult {
        self.busy.store(true, std::sync::atomic::Ordering::SeqCst);
        let now = ctx.current_processing_time();
        ctx.timer_service().register_processing_time_timer(now + 100 + i64::from(key));
        self.clock.advance(150 + i64::from(key));
        self.busy.store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        ctx: &mut OnTimerContext<'_, u32>,
        out: &mut Collector<'_, (u32, i64, bool)>,
    ) -> FnResult {
        assert_eq!(ctx.time_domain(), TimeDomain::ProcessingTime);
        let during_record = self.busy.load(std::sync::atomic::Ordering::SeqCst);
        out.collect((*ctx.current_key(), timestamp, during_record));
        Ok(())
    }
}

#[test]
fn processing_time_timers_fire_from_the_task_loop() {
    let clock = ManualClock::new(1_000);
    let env = env(1);
    env.set_processing_time_clock(clock.clone());
    let function = ProcessingTimers { clock: clock.clone(), busy: Arc::default() };
    let fired =
        env.from_iter(vec![1u32, 2, 3]).key_by(|k: &u32| *k).process_function(function).execute_and_collect().unwrap();
    assert_eq!(fired.len(), 3, "{fired:?}");
    assert!(fired.iter().all(|(_, _, during)| !during), "never concurrently with a record");
    assert!(fired.windows(2).all(|w| w[0].1 <= w[1].1), "in timestamp order: {fired:?}");
}

#[test]
fn periodic_watermarks_follow_the_auto_watermark_interval() {
    // With no periodic emission and no punctuation, only the end of input moves event
    // time: every timer fires with the final watermark.
    let env = env(1);
    env.set_auto_watermark_interval(Duration::ZERO);
    let early = OutputTag::<(u32, i64)>::new("early");
    let fired = env
        .from_iter(vec![(1u32, 5i64, false), (1, 500, false)])
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|r: &(u32, i64, bool), _| r.1),
        )
        .key_by(|r: &(u32, i64, bool)| r.0)
        .process_function(EventTimers { early })
        .execute_and_collect()
        .unwrap();
    assert_eq!(fired, vec![(1, 15, i64::MAX), (1, 510, i64::MAX)]);
}
