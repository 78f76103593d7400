//! Type-erased handles to one record type: the only place that knows how to make
//! channels, writers, outputs and input heads for it.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use spate_core::{Data, StreamRecord};
use spate_runtime::TaskError;
use spate_runtime::channel::{CancelToken, ChannelReceiver, ChannelSender, channel};
use spate_runtime::data_plane::{ChannelKey, DataPlane, DataPlaneError};
use spate_runtime::metrics::TaskMetrics;
use spate_runtime::output::{AnySideOutput, Downstream, Emitter, Fanout, Output, SideOutputs};
use spate_runtime::partitioner::{KeyedSelector, Partitioner};
use spate_runtime::record_writer::RecordWriter;
use spate_runtime::task::{InputGate, OneInputHead, TaskHead};

use super::stream_graph::EdgePartitioner;

/// A channel end of unknown record type.
pub(crate) type AnyEnd = Box<dyn Any + Send>;

/// Everything a record writer needs besides its channels.
pub(crate) struct WriterSettings {
    pub subtask_index: u32,
    pub target_max_parallelism: u32,
    pub batch_size: usize,
    pub cancel: CancelToken,
    pub metrics: Arc<TaskMetrics>,
    pub edge_name: String,
}

/// Operations on one record type, with the type erased.
pub(crate) trait DataPort: Send + Sync {
    /// A channel: (sender, receiver).
    fn channel(&self, capacity: usize) -> (AnyEnd, AnyEnd);

    /// The sending end of a channel to a task on worker `worker`.
    fn remote_sender(&self, plane: &mut DataPlane, worker: u32, key: ChannelKey) -> Result<AnyEnd, DataPlaneError>;

    /// The receiving end of a channel from a task on worker `worker`.
    fn remote_receiver(&self, plane: &mut DataPlane, worker: u32, key: ChannelKey) -> Result<AnyEnd, DataPlaneError>;

    /// A record writer onto `senders`, as a `Box<dyn Downstream<T>>`.
    fn writer(
        &self,
        senders: Vec<AnyEnd>,
        partitioner: &EdgePartitioner,
        settings: WriterSettings,
    ) -> Result<Box<dyn Any>, TaskError>;

    /// One `Box<dyn Downstream<T>>` feeding all `targets` (each a `Box<dyn
    /// Downstream<T>>`): the target itself, a fan-out, or nothing for an unconsumed
    /// stream.
    fn downstream(&self, targets: Vec<Box<dyn Any>>) -> Result<Box<dyn Any>, TaskError>;

    /// An `Output<T>` in front of `targets`, with side outputs `side`.
    fn output(
        &self,
        targets: Vec<Box<dyn Any>>,
        batch_size: usize,
        side: SideOutputs,
    ) -> Result<Box<dyn Any>, TaskError>;

    /// A side output of records of this type, in front of `targets`.
    fn side_output(&self, targets: Vec<Box<dyn Any>>, batch_size: usize) -> Result<Box<dyn AnySideOutput>, TaskError>;

    /// The head of a task whose first operator (`chain`, a `Box<dyn Downstream<T>>`)
    /// reads these channels.
    fn one_input_head(
        &self,
        receivers: Vec<AnyEnd>,
        chain: Box<dyn Any>,
        task_name: String,
        mode: spate_runtime::checkpoint::CheckpointingMode,
        metrics: Arc<TaskMetrics>,
    ) -> Result<Box<dyn TaskHead>, TaskError>;
}

/// The [`DataPort`] of `T`.
pub(crate) struct Port<T>(PhantomData<fn() -> T>);

impl<T: Data> Port<T> {
    pub(crate) fn shared() -> Arc<dyn DataPort> {
        Arc::new(Port::<T>(PhantomData))
    }
}

pub(crate) fn downcast<X: 'static>(value: Box<dyn Any>, what: &str) -> Result<X, TaskError> {
    value.downcast::<X>().map(|b| *b).map_err(|_| TaskError::Internal(format!("{what} has the wrong record type")))
}

fn downcast_end<X: 'static>(value: AnyEnd, what: &str) -> Result<X, TaskError> {
    (value as Box<dyn Any>)
        .downcast::<X>()
        .map(|b| *b)
        .map_err(|_| TaskError::Internal(format!("{what} has the wrong record type")))
}

impl<T: Data> DataPort for Port<T> {
    fn channel(&self, capacity: usize) -> (AnyEnd, AnyEnd) {
        let (tx, rx) = channel::<T>(capacity);
        (Box::new(tx), Box::new(rx))
    }

    fn remote_sender(&self, plane: &mut DataPlane, worker: u32, key: ChannelKey) -> Result<AnyEnd, DataPlaneError> {
        Ok(Box::new(plane.sender::<T>(worker, key)?))
    }

    fn remote_receiver(&self, plane: &mut DataPlane, worker: u32, key: ChannelKey) -> Result<AnyEnd, DataPlaneError> {
        Ok(Box::new(plane.receiver::<T>(worker, key)?))
    }

    fn writer(
        &self,
        senders: Vec<AnyEnd>,
        partitioner: &EdgePartitioner,
        settings: WriterSettings,
    ) -> Result<Box<dyn Any>, TaskError> {
        let senders = senders
            .into_iter()
            .map(|s| downcast_end::<ChannelSender<T>>(s, "a channel"))
            .collect::<Result<Vec<_>, _>>()?;
        let n = senders.len();
        let partitioner = match partitioner {
            // With one channel there is nothing to choose: no key is hashed, and full
            // batches move to the channel as they are.
            _ if n == 1 => Partitioner::Single(0),
            EdgePartitioner::Forward | EdgePartitioner::Global => Partitioner::Single(0),
            EdgePartitioner::Rebalance | EdgePartitioner::Rescale => {
                Partitioner::round_robin(settings.subtask_index, n)
            }
            EdgePartitioner::Shuffle => Partitioner::shuffle(settings.subtask_index),
            EdgePartitioner::Broadcast => Partitioner::Broadcast,
            EdgePartitioner::Hash(factory) | EdgePartitioner::Custom(factory) => {
                let selector = factory.create(settings.target_max_parallelism);
                Partitioner::Keyed(downcast::<Box<dyn KeyedSelector<T>>>(selector, "a key selector")?)
            }
        };
        let writer = RecordWriter::new(
            senders,
            partitioner,
            settings.batch_size,
            settings.cancel,
            settings.metrics,
            settings.edge_name,
        );
        Ok(Box::new(Box::new(writer) as Box<dyn Downstream<T>>))
    }

    fn downstream(&self, targets: Vec<Box<dyn Any>>) -> Result<Box<dyn Any>, TaskError> {
        let mut targets = targets
            .into_iter()
            .map(|t| downcast::<Box<dyn Downstream<T>>>(t, "a chained operator"))
            .collect::<Result<Vec<_>, _>>()?;
        let next: Box<dyn Downstream<T>> = match targets.len() {
            0 => Box::new(Unconsumed),
            1 => targets.pop().expect("one target"),
            _ => Box::new(Fanout::new(targets)),
        };
        Ok(Box::new(next))
    }

    fn output(
        &self,
        targets: Vec<Box<dyn Any>>,
        batch_size: usize,
        side: SideOutputs,
    ) -> Result<Box<dyn Any>, TaskError> {
        let next = downcast::<Box<dyn Downstream<T>>>(self.downstream(targets)?, "an output")?;
        Ok(Box::new(Output::with_side_outputs(next, batch_size, side)))
    }

    fn side_output(&self, targets: Vec<Box<dyn Any>>, batch_size: usize) -> Result<Box<dyn AnySideOutput>, TaskError> {
        let next = downcast::<Box<dyn Downstream<T>>>(self.downstream(targets)?, "a side output")?;
        Ok(Box::new(Emitter::new(next, batch_size)))
    }

    fn one_input_head(
        &self,
        receivers: Vec<AnyEnd>,
        chain: Box<dyn Any>,
        task_name: String,
        mode: spate_runtime::checkpoint::CheckpointingMode,
        metrics: Arc<TaskMetrics>,
    ) -> Result<Box<dyn TaskHead>, TaskError> {
        let receivers = receivers
            .into_iter()
            .map(|r| downcast_end::<ChannelReceiver<T>>(r, "a channel"))
            .collect::<Result<Vec<_>, _>>()?;
        let chain = downcast::<Box<dyn Downstream<T>>>(chain, "a task's first operator")?;
        Ok(Box::new(OneInputHead::new(InputGate::new(receivers, task_name).with_mode(mode), chain, metrics)))
    }
}

/// Where the records of a stream that nothing consumes go: nowhere.
struct Unconsumed;

impl<T> Downstream<T> for Unconsumed {
    fn open(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> Result<(), TaskError> {
        batch.clear();
        Ok(())
    }
    fn process_control(&mut self, _: &spate_runtime::event::ControlEvent) -> Result<(), TaskError> {
        Ok(())
    }
    fn flush(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
    fn has_buffered(&self) -> bool {
        false
    }
    fn close(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
    fn snapshot_state(
        &mut self,
        _: &spate_runtime::checkpoint::CheckpointBarrier,
        _: &mut spate_runtime::checkpoint::TaskSnapshot,
    ) -> Result<(), TaskError> {
        Ok(())
    }
    fn notify_checkpoint(&mut self, _: spate_runtime::checkpoint::CheckpointId, _: bool) -> Result<(), TaskError> {
        Ok(())
    }
}
