//! `filter`: keeps the records a predicate accepts.

use std::marker::PhantomData;

use spate_core::StreamRecord;

use super::OneInputOperator;
use crate::context::RuntimeContext;
use crate::functions::{FilterFunction, FnResult};
use crate::output::Output;

/// Passes on the records for which a [`FilterFunction`] returns `true`.
pub struct FilterOperator<T, F> {
    function: F,
    _types: PhantomData<fn(T)>,
}

impl<T, F: FilterFunction<T>> FilterOperator<T, F> {
    /// Wraps a filter function.
    pub fn new(function: F) -> Self {
        FilterOperator { function, _types: PhantomData }
    }
}

impl<T: 'static, F: FilterFunction<T>> OneInputOperator<T, T> for FilterOperator<T, F> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.function.open(ctx)
    }

    #[inline]
    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>, out: &mut Output<T>) -> FnResult {
        for record in batch.drain(..) {
            if self.function.filter(&record.value)? {
                out.collect(record);
            }
        }
        Ok(())
    }

    fn close(&mut self) -> FnResult {
        self.function.close()
    }
}
