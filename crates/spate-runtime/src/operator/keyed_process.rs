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

/// Fires the timers of `domain` due at `time` into `on_timer`, which gets the timer's
/// time, the context of its key, and a collector (records of event-time timers carry
/// the timer's time as timestamp, those of processing-time timers none).
pub(crate) fn fire_timers<K: Key, O>(
    backend: &mut KeyedBackend<K>,
    domain: TimeDomain,
    time: Timestamp,
    out: &mut Output<O>,
    mut on_timer: impl FnMut(Timestamp, KeyedContext<'_, K>, &mut Collector<'_, O>) -> FnResult,
) -> FnResult {
    loop {
        let timer: Option<Timer<K>> = match domain {
            TimeDomain::EventTime => backend.timers.event.pop_due(time),
            TimeDomain::ProcessingTime => backend.timers.processing.pop_due(time),
        };
        let Some(timer) = timer else { return Ok(()) };
        let (main, side) = out.split();
        backend.with_timer(timer, |timestamp, timers| {
            let output_timestamp = if domain == TimeDomain::EventTime { timestamp } else { NO_TIMESTAMP };
            let ctx = KeyedContext::new(output_timestamp, timers, side);
            on_timer(timestamp, ctx, &mut Collector::on(main, output_timestamp))
        })??;
    }
}

/// Runs `process` on each record of `batch` with its key current (state warmed ahead by
/// the lookahead); `process` gets the value, the context of its key and a collector.
pub(crate) fn process_records<K: Key, T, O>(
    backend: &mut KeyedBackend<K>,
    lookahead: &mut KeyedLookahead<T, K>,
    batch: &mut Vec<StreamRecord<T>>,
    out: &mut Output<O>,
    mut process: impl FnMut(T, KeyedContext<'_, K>, &mut Collector<'_, O>) -> FnResult,
) -> FnResult {
    lookahead.run(
        batch,
        backend,
        |backend, stage, placed, key| backend.warm(stage, placed.key_group, placed.hash, key),
        |backend, key_selector, placed| -> FnResult {
            let (main, side) = out.split();
            backend.with_record(key_selector, placed, |value, timestamp, timers| {
                process(value, KeyedContext::new(timestamp, timers, side), &mut Collector::on(main, timestamp))
            })?
        },
    )
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
        if let Some(backend) = self.backend.as_mut() {
            backend.watermark = watermark;
            let function = &mut self.function;
            fire_timers(backend, TimeDomain::EventTime, watermark, out, |t, ctx, c| {
                function.on_timer(t, &mut OnTimerContext::new(ctx, TimeDomain::EventTime), c)
            })?;
        }
        out.emit_watermark(watermark);
        Ok(())
    }

    fn on_processing_time(&mut self, now: Timestamp, out: &mut Output<O>) -> FnResult {
        if let Some(backend) = self.backend.as_mut() {
            let function = &mut self.function;
            fire_timers(backend, TimeDomain::ProcessingTime, now, out, |t, ctx, c| {
                function.on_timer(t, &mut OnTimerContext::new(ctx, TimeDomain::ProcessingTime), c)
            })?;
        }
        Ok(())
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.backend.as_ref().and_then(|b| b.timers.processing.next())
    }

    fn snapshot_state(&mut self, snapshot: &mut crate::checkpoint::OperatorSnapshot) -> FnResult {
        match &self.backend {
            Some(backend) => Ok(backend.snapshot(snapshot)?),
            None => Ok(()),
        }
    }

    fn close(&mut self) -> FnResult {
        self.function.close()
    }
}
