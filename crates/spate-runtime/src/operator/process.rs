//! `process` on a non-keyed stream.

use std::marker::PhantomData;

use spate_core::{StreamRecord, Timestamp};

use super::OneInputOperator;
use crate::context::RuntimeContext;
use crate::functions::{FnResult, ProcessContext, ProcessFunction};
use crate::output::{Collector, Output};

/// Runs a [`ProcessFunction`], tracking the watermark it may ask for.
pub struct ProcessOperator<I, O, F> {
    function: F,
    watermark: Timestamp,
    context: Option<RuntimeContext>,
    _types: PhantomData<fn(I) -> O>,
}

impl<I, O, F: ProcessFunction<I, O>> ProcessOperator<I, O, F> {
    /// Wraps a process function.
    pub fn new(function: F) -> Self {
        ProcessOperator { function, watermark: Timestamp::MIN, context: None, _types: PhantomData }
    }
}

impl<I: 'static, O: 'static, F: ProcessFunction<I, O>> OneInputOperator<I, O> for ProcessOperator<I, O, F> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.context = Some(ctx.clone());
        self.function.open(ctx)
    }

    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<I>>, out: &mut Output<O>) -> FnResult {
        let runtime = self.context.as_ref().ok_or("process function used before open")?;
        let (main, side) = out.split();
        for record in batch.drain(..) {
            let mut ctx = ProcessContext::new(record.timestamp, self.watermark, runtime, side);
            let mut collector = Collector::on(main, record.timestamp);
            self.function.process_element(record.value, &mut ctx, &mut collector)?;
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
