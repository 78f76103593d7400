//! A sink that drops everything (for benchmarks and jobs run for their side effects).

use spate_core::{BoxError, StreamRecord};

use super::{Sink, SinkWriter};
use crate::context::RuntimeContext;
use crate::functions::FnResult;

/// Drops every record (Flink's `DiscardingSink`).
#[derive(Clone, Copy, Debug, Default)]
pub struct DiscardingSink;

impl<T: 'static> Sink<T> for DiscardingSink {
    fn name(&self) -> String {
        "Discarding Sink".into()
    }

    fn create_writer(&self, _ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>, BoxError> {
        Ok(Box::new(DiscardingSink))
    }
}

impl<T> SinkWriter<T> for DiscardingSink {
    #[inline]
    fn write_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> FnResult {
        batch.clear();
        Ok(())
    }

    fn flush(&mut self, _end_of_input: bool) -> FnResult {
        Ok(())
    }
}
