//! `process` on a keyed stream: a [`KeyedProcessFunction`] with keyed state and timers.

use std::marker::PhantomData;

use spate_core::{Key, StreamRecord, Timestamp};

use super::OneInputOperator;
use super::keyed_timers::{self, process_records};
use crate::context::RuntimeContext;
use crate::functions::{FnResult, KeyedProcessFunction, OnTimerContext};
use crate::key_selector::KeySelector;
use crate::output::Output;
use crate::state::{KeyedBackend, KeyedLookahead, StateError};

/// Runs a [`KeyedProcessFunction`]: sets the current key for every record and timer,
/// keeps the timers, and fires them as the watermark and processing time advance.
pub struct KeyedProcessOperator<K, I, O, F> {
    function: F,
    lookahead: KeyedLookahead<I, K>,
    backend: Option<KeyedBackend<K>>,
    _out: PhantomData<fn() -> O>,
}

impl<K: Key, I: 'static, O: 'static, F: KeyedProcessFunction<K, I, O>> KeyedProcessOperator<K, I, O, F> {
    /// A keyed process operator keyed by `key_selector`.
    pub fn new(key_selector: KeySelector<I, K>, function: F) -> Self {
        KeyedProcessOperator {
            function,
            lookahead: KeyedLookahead::new(key_selector, 1),
            backend: None,
            _out: PhantomData,
        }
    }
}

impl<K, I, O, F> OneInputOperator<I, O> for KeyedProcessOperator<K, I, O, F>
where
    K: Key,
    I: 'static,
    O: 'static,
    F: KeyedProcessFunction<K, I, O>,
{
    const KEYED: bool = true;

    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.backend = Some(KeyedBackend::open(ctx)?);
        self.lookahead.set_max_parallelism(ctx.max_parallelism());
        self.function.open(ctx)
    }

    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<I>>, out: &mut Output<O>) -> FnResult {
        let backend = self.backend.as_mut().ok_or(StateError::NoScope)?;
        let function = &mut self.function;
        process_records(backend, &mut self.lookahead, batch, out, |value, mut ctx, collector| {
            function.process_element(value, &mut ctx, collector)
        })
    }

    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<O>) -> FnResult {
        let function = &mut self.function;
        keyed_timers::on_watermark(self.backend.as_mut(), watermark, out, |t, d, ctx, c| {
            function.on_timer(t, &mut OnTimerContext::new(ctx, d), c)
        })
    }

    fn on_processing_time(&mut self, now: Timestamp, out: &mut Output<O>) -> FnResult {
        let function = &mut self.function;
        keyed_timers::on_processing_time(self.backend.as_mut(), now, out, |t, d, ctx, c| {
            function.on_timer(t, &mut OnTimerContext::new(ctx, d), c)
        })
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        keyed_timers::next_processing_time(self.backend.as_ref())
    }

    fn snapshot_state(&mut self, snapshot: &mut crate::checkpoint::OperatorSnapshot) -> FnResult {
        keyed_timers::snapshot(self.backend.as_ref(), snapshot)
    }

    fn close(&mut self) -> FnResult {
        self.function.close()
    }
}
