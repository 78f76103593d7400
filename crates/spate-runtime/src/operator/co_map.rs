//! `map` and `flat_map` on connected streams.

use std::marker::PhantomData;

use spate_core::StreamRecord;

use super::TwoInputOperator;
use crate::context::RuntimeContext;
use crate::functions::{CoFlatMapFunction, CoMapFunction, FnResult};
use crate::output::{Collector, Output};

/// Applies a [`CoMapFunction`] to the records of both inputs.
pub struct CoMapOperator<I1, I2, O, F> {
    function: F,
    _types: PhantomData<fn(I1, I2) -> O>,
}

impl<I1, I2, O, F: CoMapFunction<I1, I2, O>> CoMapOperator<I1, I2, O, F> {
    /// Wraps a co-map function.
    pub fn new(function: F) -> Self {
        CoMapOperator { function, _types: PhantomData }
    }
}

impl<I1: 'static, I2: 'static, O: 'static, F: CoMapFunction<I1, I2, O>> TwoInputOperator<I1, I2, O>
    for CoMapOperator<I1, I2, O, F>
{
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.function.open(ctx)
    }

    fn process_batch1(&mut self, batch: &mut Vec<StreamRecord<I1>>, out: &mut Output<O>) -> FnResult {
        for record in batch.drain(..) {
            out.emit(self.function.map1(record.value)?, record.timestamp);
        }
        Ok(())
    }

    fn process_batch2(&mut self, batch: &mut Vec<StreamRecord<I2>>, out: &mut Output<O>) -> FnResult {
        for record in batch.drain(..) {
            out.emit(self.function.map2(record.value)?, record.timestamp);
        }
        Ok(())
    }

    fn close(&mut self) -> FnResult {
        self.function.close()
    }
}

/// Applies a [`CoFlatMapFunction`] to the records of both inputs.
pub struct CoFlatMapOperator<I1, I2, O, F> {
    function: F,
    _types: PhantomData<fn(I1, I2) -> O>,
}

impl<I1, I2, O, F: CoFlatMapFunction<I1, I2, O>> CoFlatMapOperator<I1, I2, O, F> {
    /// Wraps a co-flat-map function.
    pub fn new(function: F) -> Self {
        CoFlatMapOperator { function, _types: PhantomData }
    }
}

impl<I1: 'static, I2: 'static, O: 'static, F: CoFlatMapFunction<I1, I2, O>> TwoInputOperator<I1, I2, O>
    for CoFlatMapOperator<I1, I2, O, F>
{
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.function.open(ctx)
    }

    fn process_batch1(&mut self, batch: &mut Vec<StreamRecord<I1>>, out: &mut Output<O>) -> FnResult {
        for record in batch.drain(..) {
            self.function.flat_map1(record.value, &mut Collector::new(out, record.timestamp))?;
        }
        Ok(())
    }

    fn process_batch2(&mut self, batch: &mut Vec<StreamRecord<I2>>, out: &mut Output<O>) -> FnResult {
        for record in batch.drain(..) {
            self.function.flat_map2(record.value, &mut Collector::new(out, record.timestamp))?;
        }
        Ok(())
    }

    fn close(&mut self) -> FnResult {
        self.function.close()
    }
}
