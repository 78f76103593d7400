//! `flat_map`: one record in, any number out.

use std::marker::PhantomData;

use spate_core::StreamRecord;

use super::OneInputOperator;
use crate::context::RuntimeContext;
use crate::functions::{FlatMapFunction, FnResult};
use crate::output::{Collector, Output};

/// Applies a [`FlatMapFunction`]; emitted records carry the input's timestamp.
pub struct FlatMapOperator<I, O, F> {
    function: F,
    _types: PhantomData<fn(I) -> O>,
}

impl<I, O, F: FlatMapFunction<I, O>> FlatMapOperator<I, O, F> {
    /// Wraps a flat-map function.
    pub fn new(function: F) -> Self {
        FlatMapOperator { function, _types: PhantomData }
    }
}

impl<I: 'static, O: 'static, F: FlatMapFunction<I, O>> OneInputOperator<I, O> for FlatMapOperator<I, O, F> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.function.open(ctx)
    }

    #[inline]
    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<I>>, out: &mut Output<O>) -> FnResult {
        for record in batch.drain(..) {
            let mut collector = Collector::new(out, record.timestamp);
            self.function.flat_map(record.value, &mut collector)?;
        }
        Ok(())
    }

    fn close(&mut self) -> FnResult {
        self.function.close()
    }
}
