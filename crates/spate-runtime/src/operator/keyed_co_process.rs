//! `process` on connected streams keyed by the same key.

use std::marker::PhantomData;

use spate_core::{Key, StreamRecord, Timestamp};

use super::TwoInputOperator;
use super::keyed_timers::{self, process_records};
use crate::context::RuntimeContext;
use crate::functions::{FnResult, KeyedCoProcessFunction, OnTimerContext};
use crate::key_selector::KeySelector;
use crate::output::Output;
use crate::state::{KeyedBackend, KeyedLookahead, StateError};

/// Runs a [`KeyedCoProcessFunction`]: both inputs share keyed state and timers.
pub struct KeyedCoProcessOperator<K, I1, I2, O, F> {
    function: F,
    lookaheads: (KeyedLookahead<I1, K>, KeyedLookahead<I2, K>),
    backend: Option<KeyedBackend<K>>,
    _out: PhantomData<fn() -> O>,
}

impl<K: Key, I1: 'static, I2: 'static, O: 'static, F> KeyedCoProcessOperator<K, I1, I2, O, F>
where
    F: KeyedCoProcessFunction<K, I1, I2, O>,
{
    /// An operator keying input 1 by `key1` and input 2 by `key2`.
    pub fn new(key1: KeySelector<I1, K>, key2: KeySelector<I2, K>, function: F) -> Self {
        KeyedCoProcessOperator {
            function,
            lookaheads: (KeyedLookahead::new(key1, 1), KeyedLookahead::new(key2, 1)),
            backend: None,
            _out: PhantomData,
        }
    }
}

impl<K, I1, I2, O, F> TwoInputOperator<I1, I2, O> for KeyedCoProcessOperator<K, I1, I2, O, F>
where
    K: Key,
    I1: 'static,
    I2: 'static,
    O: 'static,
    F: KeyedCoProcessFunction<K, I1, I2, O>,
{
    const KEYED: bool = true;

    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.backend = Some(KeyedBackend::open(ctx)?);
        self.lookaheads.0.set_max_parallelism(ctx.max_parallelism());
        self.lookaheads.1.set_max_parallelism(ctx.max_parallelism());
        self.function.open(ctx)
    }

    fn process_batch1(&mut self, batch: &mut Vec<StreamRecord<I1>>, out: &mut Output<O>) -> FnResult {
        let backend = self.backend.as_mut().ok_or(StateError::NoScope)?;
        let function = &mut self.function;
        process_records(backend, &mut self.lookaheads.0, batch, out, |value, mut ctx, collector| {
            function.process_element1(value, &mut ctx, collector)
        })
    }

    fn process_batch2(&mut self, batch: &mut Vec<StreamRecord<I2>>, out: &mut Output<O>) -> FnResult {
        let backend = self.backend.as_mut().ok_or(StateError::NoScope)?;
        let function = &mut self.function;
        process_records(backend, &mut self.lookaheads.1, batch, out, |value, mut ctx, collector| {
            function.process_element2(value, &mut ctx, collector)
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
