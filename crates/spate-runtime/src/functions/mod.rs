//! The interfaces of user functions, in Flink's shapes: one-input functions here; keyed
//! process functions, co-functions of connected streams and broadcast functions in the
//! submodules.
//!
//! Each can be implemented by a struct (a *rich* function, with `open` and `close` and
//! access to the [`RuntimeContext`]) or given as a closure. Implementations must be
//! `Clone`-able where the API asks for it: every parallel subtask gets its own copy, as
//! every Flink subtask gets its own deserialized instance.

use spate_core::{BoxError, NO_TIMESTAMP, Timestamp};

mod aggregates;
mod broadcast;
mod co;
mod keyed;

pub use aggregates::{Commutative, Count, Max, Min, Sum, Summable};
pub use broadcast::{
    BroadcastContext, BroadcastProcessFunction, KeyedBroadcastContext, KeyedBroadcastProcessFunction,
    KeyedReadOnlyContext, ReadOnlyBroadcastContext,
};
pub use co::{CoFlatMapFunction, CoMapFunction, CoProcessFunction, KeyedCoProcessFunction};
pub use keyed::{KeyedContext, KeyedProcessFunction, OnTimerContext, TimerService};

use crate::context::RuntimeContext;
use crate::output::{Collector, OutputTag, SideOutputs};

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
    /// Whether the result depends neither on the order values come in nor on how they
    /// are grouped (the function is commutative and associative, as a sum is).
    ///
    /// Sliding windows of such a function keep one reduced value per slice of time that
    /// overlapping windows share, and combine slices when a window fires: a record costs
    /// the same however many windows hold it. Otherwise every window reduces its records
    /// in the order they arrive, as Flink's do. Wrap a function in
    /// [`Commutative`] to declare it.
    fn is_commutative(&self) -> bool {
        false
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
    /// Whether the result depends neither on the order records are added in nor on how
    /// accumulators are merged (see [`ReduceFunction::is_commutative`]); sliding windows
    /// then aggregate slices of time and `merge` them. The built-in [`Count`], [`Sum`],
    /// [`Min`] and [`Max`] are.
    fn is_commutative(&self) -> bool {
        false
    }
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
