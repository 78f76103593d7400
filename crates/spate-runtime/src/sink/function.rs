//! A sink from a [`SinkFunction`] (`add_sink`).

use std::sync::Mutex;

use spate_core::{BoxError, StreamRecord};

use super::{Sink, SinkWriter};
use crate::context::RuntimeContext;
use crate::functions::{FnResult, SinkFunction};

/// Runs a copy of a [`SinkFunction`] in every subtask.
pub struct FunctionSink<F> {
    prototype: Mutex<F>,
}

impl<F> FunctionSink<F> {
    /// A sink cloning `function` for each subtask.
    pub fn new(function: F) -> Self {
        FunctionSink { prototype: Mutex::new(function) }
    }
}

impl<T, F> Sink<T> for FunctionSink<F>
where
    T: 'static,
    F: SinkFunction<T> + Clone,
{
    fn name(&self) -> String {
        "Sink".into()
    }

    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>, BoxError> {
        let mut function = self.prototype.lock().map_err(|_| "sink function prototype poisoned")?.clone();
        function.open(ctx)?;
        Ok(Box::new(FunctionWriter { function }))
    }
}

struct FunctionWriter<F> {
    function: F,
}

impl<T, F: SinkFunction<T>> SinkWriter<T> for FunctionWriter<F> {
    fn write_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> FnResult {
        for record in batch.drain(..) {
            self.function.invoke(record.value)?;
        }
        Ok(())
    }

    fn flush(&mut self, end_of_input: bool) -> FnResult {
        if end_of_input { self.function.finish() } else { Ok(()) }
    }

    fn close(&mut self) -> FnResult {
        self.function.close()
    }
}
