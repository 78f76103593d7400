//! `map`: one record in, one out.

use std::marker::PhantomData;

use spate_core::StreamRecord;

use super::OneInputOperator;
use crate::context::RuntimeContext;
use crate::functions::{FnResult, MapFunction};
use crate::output::Output;

/// Applies a [`MapFunction`] to every record, keeping its timestamp.
pub struct MapOperator<I, O, F> {
    function: F,
    _types: PhantomData<fn(I) -> O>,
}

impl<I, O, F: MapFunction<I, O>> MapOperator<I, O, F> {
    /// Wraps a map function.
    pub fn new(function: F) -> Self {
        MapOperator { function, _types: PhantomData }
    }
}

impl<I: 'static, O: 'static, F: MapFunction<I, O>> OneInputOperator<I, O> for MapOperator<I, O, F> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.function.open(ctx)
    }

    #[inline]
    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<I>>, out: &mut Output<O>) -> FnResult {
        for record in batch.drain(..) {
            out.emit(self.function.map(record.value)?, record.timestamp);
        }
        Ok(())
    }

    fn close(&mut self) -> FnResult {
        self.function.close()
    }
}
