//! `process` on connected streams that are not keyed.

use std::marker::PhantomData;

use spate_core::{StreamRecord, Timestamp};

use super::TwoInputOperator;
use crate::context::RuntimeContext;
use crate::functions::{CoProcessFunction, FnResult, ProcessContext};
use crate::output::{Collector, Output};

/// Runs a [`CoProcessFunction`].
pub struct CoProcessOperator<I1, I2, O, F> {
    function: F,
    watermark: Timestamp,
    context: Option<RuntimeContext>,
    _types: PhantomData<fn(I1, I2) -> O>,
}

impl<I1, I2, O, F: CoProcessFunction<I1, I2, O>> CoProcessOperator<I1, I2, O, F> {
    /// Wraps a co-process function.
    pub fn new(function: F) -> Self {
        CoProcessOperator { function, watermark: Timestamp::MIN, context: None, _types: PhantomData }
    }
}

impl<I1: 'static, I2: 'static, O: 'static, F: CoProcessFunction<I1, I2, O>> TwoInputOperator<I1, I2, O>
    for CoProcessOperator<I1, I2, O, F>
{
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.context = Some(ctx.clone());
        self.function.open(ctx)
    }

    fn process_batch1(&mut self, batch: &mut Vec<StreamRecord<I1>>, out: &mut Output<O>) -> FnResult {
        let runtime = self.context.as_ref().ok_or("co-process function used before open")?;
        let (main, side) = out.split();
        for record in batch.drain(..) {
            let mut ctx = ProcessContext::new(record.timestamp, self.watermark, runtime, side);
            self.function.process_element1(record.value, &mut ctx, &mut Collector::on(main, record.timestamp))?;
        }
        Ok(())
    }

    fn process_batch2(&mut self, batch: &mut Vec<StreamRecord<I2>>, out: &mut Output<O>) -> FnResult {
        let runtime = self.context.as_ref().ok_or("co-process function used before open")?;
        let (main, side) = out.split();
        for record in batch.drain(..) {
            let mut ctx = ProcessContext::new(record.timestamp, self.watermark, runtime, side);
            self.function.process_element2(record.value, &mut ctx, &mut Collector::on(main, record.timestamp))?;
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
