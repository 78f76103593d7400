//! Hands records back to the program that runs the job (`execute_and_collect`).

use crossbeam_channel::Sender;
use spate_core::{BoxError, StreamRecord};

use super::{Sink, SinkWriter};
use crate::context::RuntimeContext;
use crate::functions::FnResult;

/// Sends every batch of records to a receiver in the client program.
pub struct CollectSink<T> {
    sender: Sender<Vec<T>>,
}

impl<T> CollectSink<T> {
    /// A sink that sends batches of values to `sender`.
    pub fn new(sender: Sender<Vec<T>>) -> Self {
        CollectSink { sender }
    }
}

impl<T: Send + 'static> Sink<T> for CollectSink<T> {
    fn name(&self) -> String {
        "Collect Sink".into()
    }

    fn create_writer(&self, _ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>, BoxError> {
        Ok(Box::new(CollectWriter { sender: self.sender.clone() }))
    }
}

struct CollectWriter<T> {
    sender: Sender<Vec<T>>,
}

impl<T: Send> SinkWriter<T> for CollectWriter<T> {
    fn write_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> FnResult {
        let values: Vec<T> = batch.drain(..).map(|r| r.value).collect();
        self.sender.send(values).map_err(|_| "the program collecting the results has gone away")?;
        Ok(())
    }

    fn flush(&mut self, _end_of_input: bool) -> FnResult {
        Ok(())
    }
}
