//! `process` on a keyed stream: a [`KeyedProcessFunction`] with keyed state and timers.

use std::marker::PhantomData;

use spate_core::{Key, NO_TIMESTAMP, StreamRecord, Timestamp};

use super::OneInputOperator;
use crate::context::RuntimeContext;
use crate::functions::{FnResult, KeyedContext, KeyedProcessFunction, OnTimerContext};
use crate::key_selector::KeySelector;
use crate::output::{Collector, Output};
use crate::state::{KeyedBackend, KeyedLookahead, StateError};
use crate::timer::{TimeDomain, Timer};

/// Runs a [`KeyedProcessFunction`]: sets the current key for every record and timer,
/// keeps the timers, and fires them as the watermark and processing time advance.
pub struct KeyedProcessOperator<K, I, O, F> {
    function: F,
    key_selector: KeySelector<I, K>,
    lookahead: KeyedLookahead<I, K>,
    backend: Option<KeyedBackend<K>>,
    /// Scratch for the slots touched ahead of processing a chunk.
    slots: Vec<u32>,
    _out: PhantomData<fn() -> O>,
}

impl<K: Key, I: 'static, O: 'static, F: KeyedProcessFunction<K, I, O>> KeyedProcessOperator<K, I, O, F> {
    /// A keyed process operator keyed by `key_selector`.
    pub fn new(key_selector: KeySelector<I, K>, function: F) -> Self {
        KeyedProcessOperator {
            function,
            lookahead: KeyedLookahead::new(key_selector.clone(), 1),
            key_selector,
            backend: None,
            slots: Vec::new(),
            _out: PhantomData,
        }
    }

    /// Fires one timer with its key current.
    fn fire(&mut self, timer: Timer<K>, domain: TimeDomain, out: &mut Output<O>) -> FnResult {
        let backend = self.backend.as_mut().ok_or(StateError::NoScope)?;
        let (key_group, hash, timestamp) = (timer.key_group, timer.hash, timer.timestamp);
        let (slot, key, new_key) = backend.directory.slot_or_insert_owned(key_group, hash, timer.key)?;
        backend.scope.keyed().ok_or(StateError::NotKeyed)?.set_current(Some(slot));
        let output_timestamp = if domain == TimeDomain::EventTime { timestamp } else { NO_TIMESTAMP };
        let (main, side) = out.split();
        let context = KeyedContext::new(
            output_timestamp,
            key,
            key_group,
            hash,
            &mut backend.timers,
            backend.watermark,
            &backend.clock,
            side,
        );
        let mut ctx = OnTimerContext::new(context, domain);
        let mut collector = Collector::on(main, output_timestamp);
        let result = self.function.on_timer(timestamp, &mut ctx, &mut collector);
        backend.leave(slot, new_key);
        result
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
        let mut records = batch.drain(..);
        loop {
            if self.lookahead.fill(&mut records, |_, _, _| {})? == 0 {
                return Ok(());
            }
            backend.touch_all(self.lookahead.placed(), &mut self.slots);
            for placed in self.lookahead.take() {
                let (key_group, hash) = (placed.key_group, placed.hash);
                let (slot, key, new_key) = match placed.computed_key {
                    Some(key) => backend.directory.slot_or_insert_owned(key_group, hash, key)?,
                    None => {
                        let key = self.key_selector.borrowed(&placed.record.value).ok_or(StateError::MissingKey)?;
                        backend.directory.slot_or_insert(key_group, hash, key, || key.clone())?
                    }
                };
                backend.scope.keyed().ok_or(StateError::NotKeyed)?.set_current(Some(slot));
                let timestamp = placed.record.timestamp;
                let (main, side) = out.split();
                let mut ctx = KeyedContext::new(
                    timestamp,
                    key,
                    key_group,
                    hash,
                    &mut backend.timers,
                    backend.watermark,
                    &backend.clock,
                    side,
                );
                let mut collector = Collector::on(main, timestamp);
                let result = self.function.process_element(placed.record.value, &mut ctx, &mut collector);
                backend.leave(slot, new_key);
                result?;
            }
        }
    }

    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<O>) -> FnResult {
        if let Some(backend) = self.backend.as_mut() {
            backend.watermark = watermark;
        }
        while let Some(timer) = self.backend.as_mut().and_then(|b| b.timers.event.pop_due(watermark)) {
            self.fire(timer, TimeDomain::EventTime, out)?;
        }
        out.emit_watermark(watermark);
        Ok(())
    }

    fn on_processing_time(&mut self, now: Timestamp, out: &mut Output<O>) -> FnResult {
        while let Some(timer) = self.backend.as_mut().and_then(|b| b.timers.processing.pop_due(now)) {
            self.fire(timer, TimeDomain::ProcessingTime, out)?;
        }
        Ok(())
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.backend.as_ref().and_then(|b| b.timers.processing.next())
    }

    fn close(&mut self) -> FnResult {
        self.function.close()
    }
}
