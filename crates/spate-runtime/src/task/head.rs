//! The head of a task: where its records come from.

use std::sync::Arc;
use std::time::Duration;

use spate_core::{StreamRecord, Timestamp};

use super::input_gate::InputGate;
use crate::TaskError;
use crate::channel::Event;
use crate::checkpoint::{CheckpointBarrier, CheckpointId, OperatorSnapshot, TaskSnapshot};
use crate::error::guard;
use crate::event::ControlEvent;
use crate::metrics::TaskMetrics;
use crate::notifier::TaskNotifier;
use crate::output::Downstream;
use crate::source::{SPLITS, SourcePoll, SourceReader};
use crate::state::Redistribution;

/// What one step of a head did.
#[derive(Debug)]
pub enum HeadStatus {
    /// It processed something; step again.
    Busy,
    /// Nothing to do now; wake when an input has data, or after `retry_after`.
    Idle {
        /// For sources that know when they will have data (rate limits, polling).
        retry_after: Option<Duration>,
    },
    /// All input is processed and the end has been passed down the chain.
    Finished,
    /// A barrier arrived on every input: it was passed on, and the chain wrote its state.
    Checkpointed(Box<Checkpointed>),
}

/// The chain's state for a checkpoint, or why it could not be written: the checkpoint
/// then fails, and the task goes on.
pub type SnapshotResult = Result<TaskSnapshot, TaskError>;

/// A snapshot a barrier asked for.
#[derive(Debug)]
pub struct Checkpointed {
    /// The barrier.
    pub barrier: CheckpointBarrier,
    /// The state, or why there is none.
    pub snapshot: SnapshotResult,
    /// How long the task stopped processing for it (the synchronous part).
    pub sync: Duration,
}

/// The input side of a task, behind which its chain of operators runs.
pub trait TaskHead {
    /// Opens the chain.
    fn open(&mut self) -> Result<(), TaskError>;
    /// Processes one unit of input (a batch, a watermark, a source poll).
    fn step(&mut self) -> Result<HeadStatus, TaskError>;
    /// Makes the inputs wake `notifier`, the task's, when they deliver.
    fn bind(&mut self, notifier: &Arc<TaskNotifier>);
    /// Whether a step would find input now (an idle task waits until one would).
    fn has_input(&self) -> bool;
    /// Sends partly filled output batches on.
    fn flush(&mut self) -> Result<(), TaskError>;
    /// Whether output waits in partly filled batches.
    fn has_buffered(&self) -> bool;
    /// Closes the chain (also after failure or cancellation).
    fn close(&mut self) -> Result<(), TaskError>;
    /// Fires the chain's processing-time timers that are due at `now`.
    fn on_processing_time(&mut self, now: Timestamp) -> Result<(), TaskError>;
    /// The earliest processing-time timer of the chain.
    fn next_processing_time(&self) -> Option<Timestamp>;
    /// Starts checkpoint `barrier` at a source: sends the barrier down and snapshots the
    /// reader and the chain. Only source heads are asked. The outer error fails the task
    /// (the barrier could not be sent), the inner one only the checkpoint.
    fn trigger_checkpoint(&mut self, barrier: &CheckpointBarrier) -> Result<SnapshotResult, TaskError> {
        Err(TaskError::Internal(format!("checkpoint {} was triggered at a task that is not a source", barrier.id)))
    }
    /// Checkpoint `id` completed or was aborted: tells the chain.
    fn notify_checkpoint(&mut self, id: CheckpointId, complete: bool) -> Result<(), TaskError>;
    /// Writes the state of the head and its chain for the checkpoint of `barrier`,
    /// sending nothing: after the barrier went down (a running task), or instead of it
    /// (a finished task, whose outputs have ended and whose final state every later
    /// checkpoint records).
    fn snapshot_chain(&mut self, barrier: &CheckpointBarrier) -> SnapshotResult;
    /// How long the last barrier alignment held inputs back.
    fn last_alignment(&self) -> Duration {
        Duration::ZERO
    }
}

/// A source reader feeding a chain.
pub struct SourceHead<T> {
    name: String,
    /// The source's uid, under which its reader's position is stored.
    uid: String,
    reader: Box<dyn SourceReader<T>>,
    chain: Box<dyn Downstream<T>>,
    batch: Vec<StreamRecord<T>>,
    batch_size: usize,
    metrics: std::sync::Arc<TaskMetrics>,
}

impl<T> SourceHead<T> {
    /// A head polling `reader` for batches of `batch_size`.
    pub fn new(
        name: String,
        uid: String,
        reader: Box<dyn SourceReader<T>>,
        chain: Box<dyn Downstream<T>>,
        batch_size: usize,
        metrics: std::sync::Arc<TaskMetrics>,
    ) -> Self {
        SourceHead { name, uid, reader, chain, batch: Vec::with_capacity(batch_size), batch_size, metrics }
    }
}

impl<T> TaskHead for SourceHead<T> {
    fn open(&mut self) -> Result<(), TaskError> {
        self.chain.open()
    }

    fn step(&mut self) -> Result<HeadStatus, TaskError> {
        let (reader, batch, max) = (&mut self.reader, &mut self.batch, self.batch_size);
        let polled = guard(&self.name, || reader.poll_next(batch, max))?;
        if !self.batch.is_empty() {
            self.metrics.add_records_in(self.batch.len() as u64);
            self.chain.process_batch(&mut self.batch)?;
            self.batch.clear();
        }
        Ok(match polled {
            SourcePoll::More => HeadStatus::Busy,
            SourcePoll::Idle(wait) => HeadStatus::Idle { retry_after: Some(wait) },
            SourcePoll::Finished => {
                // A finished bounded input fires everything event time still holds back.
                self.chain.process_control(&ControlEvent::Watermark(Timestamp::MAX))?;
                self.chain.process_control(&ControlEvent::EndOfInput)?;
                HeadStatus::Finished
            }
        })
    }

    /// A source is polled: it has no channels to wait on.
    fn bind(&mut self, _notifier: &Arc<TaskNotifier>) {}

    fn has_input(&self) -> bool {
        false
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        self.chain.flush()
    }

    fn has_buffered(&self) -> bool {
        self.chain.has_buffered()
    }

    fn close(&mut self) -> Result<(), TaskError> {
        let reader = &mut self.reader;
        let own = guard(&self.name, || reader.close());
        let chain = self.chain.close();
        own.and(chain)
    }

    fn on_processing_time(&mut self, now: Timestamp) -> Result<(), TaskError> {
        self.chain.on_processing_time(now)
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.chain.next_processing_time()
    }

    fn snapshot_chain(&mut self, barrier: &CheckpointBarrier) -> SnapshotResult {
        let mut snapshot = TaskSnapshot::default();
        let reader = &mut self.reader;
        let splits = guard(&self.name, || reader.snapshot())?;
        let mut own = OperatorSnapshot::for_barrier(barrier);
        own.add_list(SPLITS, Redistribution::EvenSplit, splits);
        snapshot.operators.push((self.uid.clone(), own));
        self.chain.snapshot_state(barrier, &mut snapshot)?;
        Ok(snapshot)
    }

    fn trigger_checkpoint(&mut self, barrier: &CheckpointBarrier) -> Result<SnapshotResult, TaskError> {
        // Draining: event time ends first, so every window and timer fires into the
        // savepoint.
        if barrier.drain {
            // A watermark counts downstream only from an active stream.
            self.chain.process_control(&ControlEvent::Status(crate::watermark::WatermarkStatus::Active))?;
            self.chain.process_control(&ControlEvent::Watermark(Timestamp::MAX))?;
        }
        // The barrier goes first (as in Flink): downstream tasks start aligning while
        // this one writes its state; nothing is read in between.
        self.chain.process_control(&ControlEvent::Barrier(barrier.clone()))?;
        Ok(self.snapshot_chain(barrier))
    }

    fn notify_checkpoint(&mut self, id: CheckpointId, complete: bool) -> Result<(), TaskError> {
        self.chain.notify_checkpoint(id, complete)
    }
}

/// One input gate feeding a chain.
pub struct OneInputHead<T> {
    gate: InputGate<T>,
    chain: Box<dyn Downstream<T>>,
    metrics: std::sync::Arc<TaskMetrics>,
}

impl<T> OneInputHead<T> {
    /// A head reading `gate` into `chain`.
    pub fn new(gate: InputGate<T>, chain: Box<dyn Downstream<T>>, metrics: std::sync::Arc<TaskMetrics>) -> Self {
        OneInputHead { gate, chain, metrics }
    }
}

impl<T> TaskHead for OneInputHead<T> {
    fn open(&mut self) -> Result<(), TaskError> {
        self.chain.open()
    }

    fn step(&mut self) -> Result<HeadStatus, TaskError> {
        Ok(match self.gate.poll()? {
            Some(Event::Records(mut batch)) => {
                self.metrics.add_records_in(batch.len() as u64);
                self.chain.process_batch(&mut batch)?;
                HeadStatus::Busy
            }
            Some(Event::Control(event)) => {
                self.chain.process_control(&event)?;
                match event {
                    ControlEvent::Barrier(barrier) => {
                        let started = std::time::Instant::now();
                        let snapshot = self.snapshot_chain(&barrier);
                        HeadStatus::Checkpointed(Box::new(Checkpointed { barrier, snapshot, sync: started.elapsed() }))
                    }
                    ControlEvent::EndOfInput => HeadStatus::Finished,
                    _ => HeadStatus::Busy,
                }
            }
            None => HeadStatus::Idle { retry_after: None },
        })
    }

    fn bind(&mut self, notifier: &Arc<TaskNotifier>) {
        self.gate.bind(notifier);
    }

    fn has_input(&self) -> bool {
        self.gate.has_input()
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        self.chain.flush()
    }

    fn has_buffered(&self) -> bool {
        self.chain.has_buffered()
    }

    fn close(&mut self) -> Result<(), TaskError> {
        self.chain.close()
    }

    fn on_processing_time(&mut self, now: Timestamp) -> Result<(), TaskError> {
        self.chain.on_processing_time(now)
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.chain.next_processing_time()
    }

    fn notify_checkpoint(&mut self, id: CheckpointId, complete: bool) -> Result<(), TaskError> {
        self.chain.notify_checkpoint(id, complete)
    }

    fn last_alignment(&self) -> Duration {
        self.gate.last_alignment()
    }

    fn snapshot_chain(&mut self, barrier: &CheckpointBarrier) -> SnapshotResult {
        let mut snapshot = TaskSnapshot::default();
        self.chain.snapshot_state(barrier, &mut snapshot)?;
        Ok(snapshot)
    }
}
