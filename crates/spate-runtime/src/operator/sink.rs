//! The end of a chain that writes to the outside world.

use std::sync::Arc;

use spate_core::{BoxError, StreamRecord, Unrecoverable};

use crate::TaskError;
use crate::checkpoint::{CheckpointBarrier, CheckpointId, OperatorSnapshot, TaskSnapshot};
use crate::context::RuntimeContext;
use crate::error::guard;
use crate::event::ControlEvent;
use crate::metrics::TaskMetrics;
use crate::output::Downstream;
use crate::sink::{Sink, SinkWriter};

/// Runs a [`Sink`]'s writer for one subtask.
pub struct SinkOperator<T> {
    name: String,
    sink: Arc<dyn Sink<T>>,
    writer: Option<Box<dyn SinkWriter<T>>>,
    context: RuntimeContext,
    metrics: Arc<TaskMetrics>,
    uid: String,
    /// A snapshot of the writer failed: a sink's snapshot has side effects (a
    /// transaction is pre-committed), so the writer cannot go on as if nothing happened.
    /// The checkpoint is declined at once, and the task fails with this error at its
    /// next step, to restart from the last checkpoint rather than lose what the failed
    /// transaction held.
    failed: Option<FailedSnapshot>,
}

/// A snapshot of a sink's writer that failed, kept to fail the task (and any later
/// checkpoint) with.
struct FailedSnapshot {
    checkpoint: CheckpointId,
    /// The cause, without the operator's name (which the error adds).
    cause: String,
    /// Whether a restart can fix it.
    recoverable: bool,
}

impl FailedSnapshot {
    fn error(&self, operator: &str) -> TaskError {
        let cause: BoxError = format!("its snapshot for checkpoint {} failed: {}", self.checkpoint, self.cause).into();
        let cause = if self.recoverable { cause } else { Unrecoverable(cause).into() };
        TaskError::Operator { operator: operator.to_string(), cause }
    }
}

impl<T: 'static> SinkOperator<T> {
    /// A sink operator; the writer is created in `open`.
    pub fn new(sink: Arc<dyn Sink<T>>, context: RuntimeContext, metrics: Arc<TaskMetrics>) -> Self {
        let uid = context.operator_uid().to_string();
        let name = context.operator_name().to_string();
        SinkOperator { name, uid, sink, writer: None, context, metrics, failed: None }
    }

    /// The error of a failed snapshot, once, to fail the task with.
    fn check(&mut self) -> Result<(), TaskError> {
        self.failed.take().map_or(Ok(()), |failed| Err(failed.error(&self.name)))
    }
}

/// What went wrong in an operator, without the operator's name (which the caller adds).
fn cause_of(error: &TaskError) -> String {
    match error {
        TaskError::Operator { cause, .. } => cause.to_string(),
        TaskError::Panic { message, .. } => format!("panicked: {message}"),
        other => other.to_string(),
    }
}

fn not_open(name: &str) -> TaskError {
    TaskError::Internal(format!("sink '{name}' used before open"))
}

impl<T: 'static> Downstream<T> for SinkOperator<T> {
    fn open(&mut self) -> Result<(), TaskError> {
        let (sink, context) = (&self.sink, &mut self.context);
        self.writer = Some(guard(&self.name, || sink.create_writer(context))?);
        Ok(())
    }

    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> Result<(), TaskError> {
        self.check()?;
        self.metrics.add_records_out(batch.len() as u64);
        let writer = self.writer.as_mut().ok_or_else(|| not_open(&self.name))?;
        guard(&self.name, || writer.write_batch(batch))
    }

    fn process_control(&mut self, event: &ControlEvent) -> Result<(), TaskError> {
        self.check()?;
        if *event == ControlEvent::EndOfInput {
            let writer = self.writer.as_mut().ok_or_else(|| not_open(&self.name))?;
            guard(&self.name, || writer.flush(true))?;
        }
        Ok(())
    }

    fn snapshot_state(&mut self, barrier: &CheckpointBarrier, snapshot: &mut TaskSnapshot) -> Result<(), TaskError> {
        let writer = self.writer.as_mut().ok_or_else(|| not_open(&self.name))?;
        if let Some(failed) = &self.failed {
            // No later checkpoint may complete over the transaction that was lost.
            return Err(failed.error(&self.name));
        }
        let mut state = OperatorSnapshot::for_barrier(barrier);
        if let Err(error) = guard(&self.name, || writer.snapshot_state(barrier.id, &mut state)) {
            // The decline carries the error itself (whether a restart can fix it
            // included); the task fails later with the same cause.
            let (cause, recoverable) = (cause_of(&error), error.is_recoverable());
            self.failed = Some(FailedSnapshot { checkpoint: barrier.id, cause, recoverable });
            return Err(error);
        }
        snapshot.add(&self.uid, state);
        Ok(())
    }

    fn notify_checkpoint(&mut self, id: CheckpointId, complete: bool) -> Result<(), TaskError> {
        self.check()?;
        let writer = self.writer.as_mut().ok_or_else(|| not_open(&self.name))?;
        guard(&self.name, || if complete { writer.notify_checkpoint_complete(id) } else { Ok(()) })
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        Ok(())
    }

    fn has_buffered(&self) -> bool {
        false
    }

    fn close(&mut self) -> Result<(), TaskError> {
        match self.writer.as_mut() {
            Some(writer) => guard(&self.name, || writer.close()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::test_context;
    use crate::functions::FnResult;
    use crate::time::ManualClock;

    /// A writer whose snapshots fail, as `unrecoverable` says.
    struct FailingSnapshots {
        unrecoverable: bool,
    }

    impl SinkWriter<u32> for FailingSnapshots {
        fn write_batch(&mut self, batch: &mut Vec<StreamRecord<u32>>) -> FnResult {
            batch.clear();
            Ok(())
        }
        fn flush(&mut self, _: bool) -> FnResult {
            Ok(())
        }
        fn snapshot_state(&mut self, _: CheckpointId, _: &mut OperatorSnapshot) -> FnResult {
            let cause = "disk full";
            Err(if self.unrecoverable { Box::new(Unrecoverable::new(cause)) } else { cause.into() })
        }
    }

    struct FailingSink(bool);

    impl Sink<u32> for FailingSink {
        fn create_writer(&self, _: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<u32>>, BoxError> {
            Ok(Box::new(FailingSnapshots { unrecoverable: self.0 }))
        }
    }

    fn barrier(id: CheckpointId) -> CheckpointBarrier {
        CheckpointBarrier::checkpoint(id)
    }

    #[test]
    fn a_failed_snapshot_declines_then_fails_later_checkpoints_and_the_task_with_its_cause() {
        for unrecoverable in [false, true] {
            let context = test_context(ManualClock::new(0), false);
            let mut sink = SinkOperator::new(Arc::new(FailingSink(unrecoverable)), context, Arc::default());
            sink.open().unwrap();
            let declined = sink.snapshot_state(&barrier(1), &mut TaskSnapshot::default()).unwrap_err();
            assert_eq!(declined.to_string(), "operator 'op' failed: disk full");
            assert_eq!(declined.is_recoverable(), !unrecoverable);
            // A later checkpoint may not complete over the lost transaction.
            let later = sink.snapshot_state(&barrier(2), &mut TaskSnapshot::default()).unwrap_err();
            assert_eq!(later.to_string(), "operator 'op' failed: its snapshot for checkpoint 1 failed: disk full");
            assert_eq!(later.is_recoverable(), !unrecoverable, "the cause's kind is kept");
            // The task fails at its next step, with the same cause, once.
            let failed = sink.process_batch(&mut vec![StreamRecord::new(1)]).unwrap_err();
            assert_eq!(failed.to_string(), later.to_string());
            assert_eq!(failed.is_recoverable(), !unrecoverable);
            assert!(sink.process_batch(&mut vec![StreamRecord::new(2)]).is_ok());
        }
    }
}
