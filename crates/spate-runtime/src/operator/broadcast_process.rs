//! `process` on a stream connected to a broadcast stream.

use std::marker::PhantomData;

use spate_core::{Key, StreamRecord, Timestamp};

use super::TwoInputOperator;
use super::keyed_timers::{self, process_records};
use crate::context::RuntimeContext;
use crate::functions::{
    BroadcastContext, BroadcastProcessFunction, FnResult, KeyedBroadcastContext, KeyedBroadcastProcessFunction,
    KeyedReadOnlyContext, ProcessContext, ReadOnlyBroadcastContext,
};
use crate::key_selector::KeySelector;
use crate::output::{Collector, Output};
use crate::state::{BroadcastStates, KeyedBackend, KeyedLookahead, StateError};

/// Declares the broadcast states of an operator when it opens.
pub type DeclareBroadcastStates = std::sync::Arc<dyn Fn(&mut BroadcastStates) + Send + Sync>;

/// Runs a [`BroadcastProcessFunction`]: input 1 any stream, input 2 the broadcast one.
pub struct BroadcastProcessOperator<I1, I2, O, F> {
    function: F,
    declare: DeclareBroadcastStates,
    states: BroadcastStates,
    watermark: Timestamp,
    context: Option<RuntimeContext>,
    _types: PhantomData<fn(I1, I2) -> O>,
}

impl<I1, I2, O, F: BroadcastProcessFunction<I1, I2, O>> BroadcastProcessOperator<I1, I2, O, F> {
    /// An operator whose broadcast states `declare` declares.
    pub fn new(function: F, declare: DeclareBroadcastStates) -> Self {
        BroadcastProcessOperator {
            function,
            declare,
            states: BroadcastStates::default(),
            watermark: Timestamp::MIN,
            context: None,
            _types: PhantomData,
        }
    }
}

impl<I1: 'static, I2: 'static, O: 'static, F: BroadcastProcessFunction<I1, I2, O>> TwoInputOperator<I1, I2, O>
    for BroadcastProcessOperator<I1, I2, O, F>
{
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        if let Some(restored) = ctx.restored() {
            self.states.set_restored(restored);
        }
        (self.declare)(&mut self.states);
        self.states.check_restored()?;
        self.context = Some(ctx.clone());
        self.function.open(ctx)
    }

    fn snapshot_state(&mut self, snapshot: &mut crate::checkpoint::OperatorSnapshot) -> FnResult {
        // Every subtask holds the same copy: the first writes it, and on restore every
        // subtask reads it (a union list).
        if self.context.as_ref().is_some_and(|c| c.subtask_index() == 0) {
            for (name, bytes) in self.states.snapshot()? {
                snapshot.add_list(&name, crate::state::Redistribution::Union, vec![bytes]);
            }
        }
        Ok(())
    }

    fn process_batch1(&mut self, batch: &mut Vec<StreamRecord<I1>>, out: &mut Output<O>) -> FnResult {
        let runtime = self.context.as_ref().ok_or("broadcast process function used before open")?;
        let (main, side) = out.split();
        for record in batch.drain(..) {
            let process = ProcessContext::new(record.timestamp, self.watermark, runtime, side);
            let mut ctx = ReadOnlyBroadcastContext::new(process, &self.states);
            self.function.process_element(record.value, &mut ctx, &mut Collector::on(main, record.timestamp))?;
        }
        Ok(())
    }

    fn process_batch2(&mut self, batch: &mut Vec<StreamRecord<I2>>, out: &mut Output<O>) -> FnResult {
        let runtime = self.context.as_ref().ok_or("broadcast process function used before open")?;
        let (main, side) = out.split();
        for record in batch.drain(..) {
            let process = ProcessContext::new(record.timestamp, self.watermark, runtime, side);
            let mut ctx = BroadcastContext::new(process, &mut self.states);
            self.function.process_broadcast_element(
                record.value,
                &mut ctx,
                &mut Collector::on(main, record.timestamp),
            )?;
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<O>) -> FnResult {
        self.watermark = watermark;
        out.emit_watermark(watermark);
        Ok(())
    }

    fn close(&mut self) -> FnResult {
        self.function.close()
    }
}

/// Runs a [`KeyedBroadcastProcessFunction`]: input 1 keyed, input 2 the broadcast one.
pub struct KeyedBroadcastProcessOperator<K, I1, I2, O, F> {
    function: F,
    declare: DeclareBroadcastStates,
    states: BroadcastStates,
    lookahead: KeyedLookahead<I1, K>,
    backend: Option<KeyedBackend<K>>,
    context: Option<RuntimeContext>,
    _types: PhantomData<fn(I2) -> O>,
}

impl<K: Key, I1: 'static, I2, O, F> KeyedBroadcastProcessOperator<K, I1, I2, O, F>
where
    F: KeyedBroadcastProcessFunction<K, I1, I2, O>,
{
    /// An operator keying input 1 by `key_selector`, with the broadcast states `declare`
    /// declares.
    pub fn new(key_selector: KeySelector<I1, K>, function: F, declare: DeclareBroadcastStates) -> Self {
        KeyedBroadcastProcessOperator {
            function,
            declare,
            states: BroadcastStates::default(),
            lookahead: KeyedLookahead::new(key_selector, 1),
            backend: None,
            context: None,
            _types: PhantomData,
        }
    }
}

impl<K, I1, I2, O, F> TwoInputOperator<I1, I2, O> for KeyedBroadcastProcessOperator<K, I1, I2, O, F>
where
    K: Key,
    I1: 'static,
    I2: 'static,
    O: 'static,
    F: KeyedBroadcastProcessFunction<K, I1, I2, O>,
{
    const KEYED: bool = true;

    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        if let Some(restored) = ctx.restored() {
            self.states.set_restored(restored);
        }
        (self.declare)(&mut self.states);
        self.states.check_restored()?;
        self.backend = Some(KeyedBackend::open(ctx)?);
        self.lookahead.set_max_parallelism(ctx.max_parallelism());
        self.context = Some(ctx.clone());
        self.function.open(ctx)
    }

    fn snapshot_state(&mut self, snapshot: &mut crate::checkpoint::OperatorSnapshot) -> FnResult {
        // Every subtask holds the same copy: the first writes it, and on restore every
        // subtask reads it (a union list).
        if self.context.as_ref().is_some_and(|c| c.subtask_index() == 0) {
            for (name, bytes) in self.states.snapshot()? {
                snapshot.add_list(&name, crate::state::Redistribution::Union, vec![bytes]);
            }
        }
        keyed_timers::snapshot(self.backend.as_ref(), snapshot)
    }

    fn process_batch1(&mut self, batch: &mut Vec<StreamRecord<I1>>, out: &mut Output<O>) -> FnResult {
        let backend = self.backend.as_mut().ok_or(StateError::NoScope)?;
        let (function, states) = (&mut self.function, &self.states);
        process_records(backend, &mut self.lookahead, batch, out, |value, ctx, collector| {
            function.process_element(value, &mut KeyedReadOnlyContext::new(ctx, states, None), collector)
        })
    }

    fn process_batch2(&mut self, batch: &mut Vec<StreamRecord<I2>>, out: &mut Output<O>) -> FnResult {
        let runtime = self.context.as_ref().ok_or("broadcast process function used before open")?;
        let backend = self.backend.as_mut().ok_or(StateError::NoScope)?;
        let (main, side) = out.split();
        for record in batch.drain(..) {
            let process = ProcessContext::new(record.timestamp, backend.watermark, runtime, side);
            let mut ctx = KeyedBroadcastContext::new(process, &mut self.states, backend);
            self.function.process_broadcast_element(
                record.value,
                &mut ctx,
                &mut Collector::on(main, record.timestamp),
            )?;
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<O>) -> FnResult {
        let (function, states) = (&mut self.function, &self.states);
        keyed_timers::on_watermark(self.backend.as_mut(), watermark, out, |t, d, ctx, c| {
            function.on_timer(t, &mut KeyedReadOnlyContext::new(ctx, states, Some(d)), c)
        })
    }

    fn on_processing_time(&mut self, now: Timestamp, out: &mut Output<O>) -> FnResult {
        let (function, states) = (&mut self.function, &self.states);
        keyed_timers::on_processing_time(self.backend.as_mut(), now, out, |t, d, ctx, c| {
            function.on_timer(t, &mut KeyedReadOnlyContext::new(ctx, states, Some(d)), c)
        })
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        keyed_timers::next_processing_time(self.backend.as_ref())
    }

    fn close(&mut self) -> FnResult {
        self.function.close()
    }
}
