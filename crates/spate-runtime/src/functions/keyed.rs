//! Keyed process functions and what they see: the current key, its timers, side
//! outputs.

use std::sync::Arc;

use spate_core::{NO_TIMESTAMP, Timestamp};

use super::FnResult;
use crate::context::RuntimeContext;
use crate::output::{Collector, OutputTag, SideOutputs};
use crate::time::Clock;
use crate::timer::{TimeDomain, Timers};

/// The lowest-level function on a keyed stream: keyed state, timers and side outputs
/// (Flink's `KeyedProcessFunction`).
pub trait KeyedProcessFunction<K, I, O>: Send + 'static {
    /// Called once per subtask before the first record; declare state here.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Processes one record of the current key.
    fn process_element(&mut self, value: I, ctx: &mut KeyedContext<'_, K>, out: &mut Collector<'_, O>) -> FnResult;
    /// A timer of the current key fired.
    fn on_timer(
        &mut self,
        _timestamp: Timestamp,
        _ctx: &mut OnTimerContext<'_, K>,
        _out: &mut Collector<'_, O>,
    ) -> FnResult {
        Ok(())
    }
    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

/// A closure of the record, its key's context and a collector is a keyed process
/// function without state or timers of its own.
impl<F, K, I, O> KeyedProcessFunction<K, I, O> for F
where
    F: FnMut(I, &mut KeyedContext<'_, K>, &mut Collector<'_, O>) -> FnResult + Send + 'static,
{
    #[inline]
    fn process_element(&mut self, value: I, ctx: &mut KeyedContext<'_, K>, out: &mut Collector<'_, O>) -> FnResult {
        self(value, ctx, out)
    }
}

/// Registers and deletes the timers of the current key (Flink's `TimerService`).
pub struct TimerService<'a, K> {
    timers: &'a mut Timers<K>,
    key: &'a K,
    key_group: u32,
    hash: u64,
    watermark: Timestamp,
    clock: &'a Arc<dyn Clock>,
}

impl<'a, K> TimerService<'a, K> {
    /// The timer service of `key` (whose placement is `key_group` and `hash`).
    pub fn new(
        timers: &'a mut Timers<K>,
        key: &'a K,
        key_group: u32,
        hash: u64,
        watermark: Timestamp,
        clock: &'a Arc<dyn Clock>,
    ) -> Self {
        TimerService { timers, key, key_group, hash, watermark, clock }
    }
}

impl<K: std::hash::Hash + Eq + Clone> TimerService<'_, K> {
    /// Calls `on_timer` when the watermark reaches `timestamp`.
    pub fn register_event_time_timer(&mut self, timestamp: Timestamp) {
        self.timers.event.register(timestamp, self.key, self.key_group, self.hash);
    }

    /// Calls `on_timer` when processing time reaches `timestamp`.
    pub fn register_processing_time_timer(&mut self, timestamp: Timestamp) {
        self.timers.processing.register(timestamp, self.key, self.key_group, self.hash);
    }

    /// Deletes an event-time timer of the current key.
    pub fn delete_event_time_timer(&mut self, timestamp: Timestamp) {
        self.timers.event.delete(timestamp, self.key, self.hash);
    }

    /// Deletes a processing-time timer of the current key.
    pub fn delete_processing_time_timer(&mut self, timestamp: Timestamp) {
        self.timers.processing.delete(timestamp, self.key, self.hash);
    }

    /// The current processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.clock.now()
    }

    /// The current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }
}

/// What a keyed function knows about the record it processes: its timestamp and key,
/// timers, and side outputs.
pub struct KeyedContext<'a, K> {
    timestamp: Timestamp,
    timers: TimerService<'a, K>,
    side: &'a mut SideOutputs,
}

impl<'a, K> KeyedContext<'a, K> {
    /// The context for one record or timer, with the timers of its key.
    pub fn new(timestamp: Timestamp, timers: TimerService<'a, K>, side: &'a mut SideOutputs) -> Self {
        KeyedContext { timestamp, timers, side }
    }

    /// The record's event timestamp, if it has one.
    pub fn timestamp(&self) -> Option<Timestamp> {
        (self.timestamp != NO_TIMESTAMP).then_some(self.timestamp)
    }

    /// The key of the record being processed.
    pub fn current_key(&self) -> &K {
        self.timers.key
    }

    /// The timers of the current key.
    pub fn timer_service(&mut self) -> &mut TimerService<'a, K> {
        &mut self.timers
    }

    /// The current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.timers.watermark
    }

    /// The current processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.timers.clock.now()
    }

    /// Emits `value` to the side output `tag`, with the record's timestamp.
    pub fn output<X: 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        self.side.emit(tag, value, self.timestamp);
    }
}

/// The context of a firing timer: a [`KeyedContext`] and the timer's time domain.
pub struct OnTimerContext<'a, K> {
    context: KeyedContext<'a, K>,
    domain: TimeDomain,
}

impl<'a, K> OnTimerContext<'a, K> {
    /// The context of a timer of `domain`.
    pub fn new(context: KeyedContext<'a, K>, domain: TimeDomain) -> Self {
        OnTimerContext { context, domain }
    }

    /// Whether the timer is an event-time or a processing-time timer.
    pub fn time_domain(&self) -> TimeDomain {
        self.domain
    }
}

impl<'a, K> std::ops::Deref for OnTimerContext<'a, K> {
    type Target = KeyedContext<'a, K>;
    fn deref(&self) -> &Self::Target {
        &self.context
    }
}

impl<K> std::ops::DerefMut for OnTimerContext<'_, K> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.context
    }
}
