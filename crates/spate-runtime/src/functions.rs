//! The interfaces of user functions, in Flink's shapes.
//!
//! Each can be implemented by a struct (a *rich* function, with `open` and `close` and
//! access to the [`RuntimeContext`]) or given as a closure. Implementations must be
//! `Clone`-able where the API asks for it: every parallel subtask gets its own copy, as
//! every Flink subtask gets its own deserialized instance.

use spate_core::{BoxError, NO_TIMESTAMP, Timestamp};

use std::sync::Arc;

use crate::context::RuntimeContext;
use crate::output::{Collector, OutputTag, SideOutputs};
use crate::time::Clock;
use crate::timer::{TimeDomain, Timers};

/// What user functions return: `?` works on any error type.
pub type FnResult<T = ()> = Result<T, BoxError>;

/// One record in, one out.
pub trait MapFunction<I, O>: Send + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Transforms one record.
    fn map(&mut self, value: I) -> FnResult<O>;
    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

impl<F, I, O> MapFunction<I, O> for F
where
    F: FnMut(I) -> O + Send + 'static,
{
    #[inline]
    fn map(&mut self, value: I) -> FnResult<O> {
        Ok(self(value))
    }
}

/// One record in, any number out.
pub trait FlatMapFunction<I, O>: Send + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Emits the records for one input through `out`.
    fn flat_map(&mut self, value: I, out: &mut Collector<'_, O>) -> FnResult;
    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

/// A closure returning any iterable is a flat-map function.
impl<F, I, O, It> FlatMapFunction<I, O> for F
where
    F: FnMut(I) -> It + Send + 'static,
    It: IntoIterator<Item = O>,
{
    #[inline]
    fn flat_map(&mut self, value: I, out: &mut Collector<'_, O>) -> FnResult {
        for o in self(value) {
            out.collect(o);
        }
        Ok(())
    }
}

/// Keeps the records for which it returns `true`.
pub trait FilterFunction<T>: Send + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Whether to keep `value`.
    fn filter(&mut self, value: &T) -> FnResult<bool>;
    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

impl<F, T> FilterFunction<T> for F
where
    F: FnMut(&T) -> bool + Send + 'static,
{
    #[inline]
    fn filter(&mut self, value: &T) -> FnResult<bool> {
        Ok(self(value))
    }
}

/// Combines two values of a key into one (Flink's `ReduceFunction`).
pub trait ReduceFunction<T>: Send + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Combines the value so far with a new one.
    fn reduce(&mut self, accumulated: T, value: T) -> FnResult<T>;
    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

impl<F, T> ReduceFunction<T> for F
where
    F: FnMut(T, T) -> T + Send + 'static,
{
    #[inline]
    fn reduce(&mut self, accumulated: T, value: T) -> FnResult<T> {
        Ok(self(accumulated, value))
    }
}

/// An incremental aggregation with an accumulator (Flink's `AggregateFunction`).
///
/// `add` updates the accumulator in place rather than returning a new one: the same
/// contract without moving the accumulator in and out of state for every record.
pub trait AggregateFunction<IN, ACC, OUT>: Send + 'static {
    /// A new, empty accumulator.
    fn create_accumulator(&mut self) -> ACC;
    /// Adds a value to the accumulator.
    fn add(&mut self, value: IN, accumulator: &mut ACC);
    /// The result for an accumulator.
    fn get_result(&mut self, accumulator: &ACC) -> OUT;
    /// Merges two accumulators (used when windows merge).
    fn merge(&mut self, a: ACC, b: ACC) -> ACC;
}

/// The lowest-level function on a non-keyed stream: any output, access to timestamps and
/// time (Flink's `ProcessFunction`).
pub trait ProcessFunction<I, O>: Send + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Processes one record, emitting through `out`.
    fn process_element(&mut self, value: I, ctx: &mut ProcessContext<'_>, out: &mut Collector<'_, O>) -> FnResult;
    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

impl<F, I, O> ProcessFunction<I, O> for F
where
    F: FnMut(I, &mut ProcessContext<'_>, &mut Collector<'_, O>) -> FnResult + Send + 'static,
{
    fn process_element(&mut self, value: I, ctx: &mut ProcessContext<'_>, out: &mut Collector<'_, O>) -> FnResult {
        self(value, ctx, out)
    }
}

/// What a [`ProcessFunction`] knows about the record it processes.
pub struct ProcessContext<'a> {
    timestamp: Timestamp,
    watermark: Timestamp,
    runtime: &'a RuntimeContext,
    side: &'a mut SideOutputs,
}

impl<'a> ProcessContext<'a> {
    /// The context for one record.
    pub fn new(
        timestamp: Timestamp,
        watermark: Timestamp,
        runtime: &'a RuntimeContext,
        side: &'a mut SideOutputs,
    ) -> Self {
        ProcessContext { timestamp, watermark, runtime, side }
    }

    /// Emits `value` to the side output `tag`, with the record's timestamp.
    pub fn output<X: 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        self.side.emit(tag, value, self.timestamp);
    }

    /// The record's event timestamp, if it has one.
    pub fn timestamp(&self) -> Option<Timestamp> {
        (self.timestamp != NO_TIMESTAMP).then_some(self.timestamp)
    }

    /// The current event-time watermark (`i64::MIN` before the first).
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The current processing time, in milliseconds since the epoch.
    pub fn current_processing_time(&self) -> Timestamp {
        self.runtime.current_processing_time()
    }

    /// The task this function runs in.
    pub fn runtime_context(&self) -> &RuntimeContext {
        self.runtime
    }
}

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

/// Registers and deletes the timers of the current key (Flink's `TimerService`).
pub struct TimerService<'a, K> {
    timers: &'a mut Timers<K>,
    key: &'a K,
    key_group: u32,
    hash: u64,
    watermark: Timestamp,
    clock: &'a Arc<dyn Clock>,
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
        self.timers.event.delete(timestamp, self.key);
    }

    /// Deletes a processing-time timer of the current key.
    pub fn delete_processing_time_timer(&mut self, timestamp: Timestamp) {
        self.timers.processing.delete(timestamp, self.key);
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
    /// The context for one record or timer of `key`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        timestamp: Timestamp,
        key: &'a K,
        key_group: u32,
        hash: u64,
        timers: &'a mut Timers<K>,
        watermark: Timestamp,
        clock: &'a Arc<dyn Clock>,
        side: &'a mut SideOutputs,
    ) -> Self {
        KeyedContext { timestamp, timers: TimerService { timers, key, key_group, hash, watermark, clock }, side }
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

/// Consumes records one at a time (Flink's `SinkFunction`).
pub trait SinkFunction<T>: Send + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Consumes one record.
    fn invoke(&mut self, value: T) -> FnResult;
    /// The input has ended; write out what is buffered.
    fn finish(&mut self) -> FnResult {
        Ok(())
    }
    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

impl<F, T> SinkFunction<T> for F
where
    F: FnMut(T) + Send + 'static,
{
    fn invoke(&mut self, value: T) -> FnResult {
        self(value);
        Ok(())
    }
}
