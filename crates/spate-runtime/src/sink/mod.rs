//! Sinks: where records leave a job.
//!
//! A [`Sink`] is the definition a user hands to `sink_to`; each parallel subtask creates
//! its own [`SinkWriter`] from it.

mod collect;
mod discard;
mod function;
mod print;
mod text_file;
mod two_phase_commit;

pub use collect::{COLLECT_STATE, CollectBuffer, CollectError, CollectSink, FINAL_FETCH_TIMEOUT, Page, ResultPage};
pub use discard::DiscardingSink;
pub use function::FunctionSink;
pub use print::PrintSink;
pub use text_file::TextFileSink;
pub use two_phase_commit::{PENDING_TRANSACTIONS, TwoPhaseCommitSinkWriter, TwoPhaseCommitWriter, WRITER_STATE};

use spate_core::{BoxError, StreamRecord};

use crate::checkpoint::{CheckpointId, OperatorSnapshot};
use crate::context::RuntimeContext;
use crate::functions::FnResult;

/// A sink definition, shared by all subtasks.
pub trait Sink<T>: Send + Sync + 'static {
    /// The operator name shown in plans and errors.
    fn name(&self) -> String {
        "Sink".to_string()
    }

    /// Creates the writer of one subtask.
    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>, BoxError>;
}

/// Writes the records of one subtask.
pub trait SinkWriter<T> {
    /// Writes and drains a batch.
    fn write_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> FnResult;

    /// Makes written records durable or visible; `end_of_input` when no more follow.
    fn flush(&mut self, end_of_input: bool) -> FnResult;

    /// Writes the writer's state for checkpoint `id` (for an exactly-once sink: stages
    /// what was written since the last checkpoint, to be committed when `id` completes).
    /// Sinks without state keep the default.
    fn snapshot_state(&mut self, _id: CheckpointId, _snapshot: &mut OperatorSnapshot) -> FnResult {
        Ok(())
    }

    /// Checkpoint `id` completed: commit what was staged for it and before.
    fn notify_checkpoint_complete(&mut self, _id: CheckpointId) -> FnResult {
        Ok(())
    }

    /// Releases resources; also called after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}
