//! Functions of connected streams: two inputs of different types, one output.

use spate_core::Timestamp;

use super::{FnResult, KeyedContext, OnTimerContext, ProcessContext};
use crate::context::RuntimeContext;
use crate::output::Collector;

/// One record of either input in, one out (Flink's `CoMapFunction`).
pub trait CoMapFunction<I1, I2, O>: Send + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Transforms a record of the first input.
    fn map1(&mut self, value: I1) -> FnResult<O>;
    /// Transforms a record of the second input.
    fn map2(&mut self, value: I2) -> FnResult<O>;
    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

/// One record of either input in, any number out (Flink's `CoFlatMapFunction`).
pub trait CoFlatMapFunction<I1, I2, O>: Send + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Processes a record of the first input.
    fn flat_map1(&mut self, value: I1, out: &mut Collector<'_, O>) -> FnResult;
    /// Processes a record of the second input.
    fn flat_map2(&mut self, value: I2, out: &mut Collector<'_, O>) -> FnResult;
    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

/// A process function over two inputs (Flink's `CoProcessFunction`).
pub trait CoProcessFunction<I1, I2, O>: Send + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Processes a record of the first input.
    fn process_element1(&mut self, value: I1, ctx: &mut ProcessContext<'_>, out: &mut Collector<'_, O>) -> FnResult;
    /// Processes a record of the second input.
    fn process_element2(&mut self, value: I2, ctx: &mut ProcessContext<'_>, out: &mut Collector<'_, O>) -> FnResult;
    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

/// A process function over two inputs keyed by the same key: keyed state and timers
/// are shared by both (Flink's `KeyedCoProcessFunction`).
pub trait KeyedCoProcessFunction<K, I1, I2, O>: Send + 'static {
    /// Called once per subtask before the first record; declare state here.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Processes a record of the first input.
    fn process_element1(&mut self, value: I1, ctx: &mut KeyedContext<'_, K>, out: &mut Collector<'_, O>) -> FnResult;
    /// Processes a record of the second input.
    fn process_element2(&mut self, value: I2, ctx: &mut KeyedContext<'_, K>, out: &mut Collector<'_, O>) -> FnResult;
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
