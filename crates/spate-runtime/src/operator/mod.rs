//! Operators: the runtime's side of the user functions.
//!
//! One-input operators run inside chains; two-input operators ([`TwoInputOperator`])
//! are the heads of their tasks (`task/two_input.rs`).
//!
//! An operator implements one small interface, [`OneInputOperator`]; the
//! [`ChainedOperator`] node runs it inside a chain — guarding every call into user code,
//! flushing its output, and passing lifecycle calls on to what follows. One mechanism,
//! many thin operators on top of it (one per file).

mod broadcast_process;
mod chained;
mod co_map;
mod co_process;
mod filter;
mod flat_map;
mod keyed_aggregate;
mod keyed_co_process;
mod keyed_process;
mod keyed_reduce;
mod keyed_timers;
mod map;
mod process;
mod sink;
mod sliced_window;
mod timestamps;
mod window;
mod window_state;

pub use broadcast_process::{BroadcastProcessOperator, DeclareBroadcastStates, KeyedBroadcastProcessOperator};
pub use chained::ChainedOperator;
pub use co_map::{CoFlatMapOperator, CoMapOperator};
pub use co_process::CoProcessOperator;
pub use filter::FilterOperator;
pub use flat_map::FlatMapOperator;
pub use keyed_aggregate::KeyedAggregateOperator;
pub use keyed_co_process::KeyedCoProcessOperator;
pub use keyed_process::KeyedProcessOperator;
pub use keyed_reduce::{ByReduceFunction, Fold, InPlace, KeyedReduceOperator};
pub use map::MapOperator;
pub use process::ProcessOperator;
pub use sink::SinkOperator;
pub use sliced_window::SlicedWindowOperator;
pub use timestamps::TimestampsAndWatermarksOperator;
pub use window::{WindowOperator, WindowSpec};

use crate::checkpoint::{CheckpointId, OperatorSnapshot};
use crate::event::ControlEvent;
use crate::watermark::WatermarkStatus;
use spate_core::{StreamRecord, Timestamp};

use crate::context::RuntimeContext;
use crate::functions::FnResult;
use crate::output::Output;

/// An operator with one input (Flink's `OneInputStreamOperator`).
///
/// Every method runs on the task's thread, one at a time, so an operator's state needs
/// no locks. Errors are the operator's own; failures of what follows are reported by
/// the chain.
pub trait OneInputOperator<IN, OUT>: 'static {
    /// Whether the operator processes a keyed stream: it then gets a keyed state store,
    /// and sets the current key for every record and timer it processes.
    const KEYED: bool = false;

    /// Prepares the operator (and opens the user function).
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }

    /// Processes and drains a batch of records.
    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<IN>>, out: &mut Output<OUT>) -> FnResult;

    /// A control event, after every record before it. The one place every kind of
    /// event arrives: by default watermarks and idleness go to their hooks below, the
    /// end of input to [`end_input`](Self::end_input), and every event (a kind added
    /// later too) is passed on. Barriers pass through; the task asks for state with
    /// [`snapshot_state`](Self::snapshot_state).
    fn process_control(&mut self, event: &ControlEvent, out: &mut Output<OUT>) -> FnResult {
        match event {
            ControlEvent::Watermark(w) => self.process_watermark(*w, out),
            ControlEvent::Status(status) => self.process_watermark_status(*status, out),
            ControlEvent::EndOfInput => {
                self.end_input(out)?;
                out.emit_control(event);
                Ok(())
            }
            ControlEvent::Barrier(_) => {
                out.emit_control(event);
                Ok(())
            }
        }
    }

    /// Handles an advanced watermark; by default passes it on.
    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<OUT>) -> FnResult {
        out.emit_watermark(watermark);
        Ok(())
    }

    /// The input went idle or became active again; by default passes it on.
    fn process_watermark_status(&mut self, status: WatermarkStatus, out: &mut Output<OUT>) -> FnResult {
        out.emit_watermark_status(status);
        Ok(())
    }

    /// Writes the operator's own state for a checkpoint (state in its scope — operator
    /// lists — is written by the runtime). Stateless operators keep the default.
    fn snapshot_state(&mut self, _snapshot: &mut OperatorSnapshot) -> FnResult {
        Ok(())
    }

    /// Checkpoint `id` completed (or, with `complete` false, was aborted).
    fn notify_checkpoint(&mut self, _id: CheckpointId, _complete: bool, _out: &mut Output<OUT>) -> FnResult {
        Ok(())
    }

    /// Processing time has reached `now`: fire the processing-time timers that are due.
    fn on_processing_time(&mut self, _now: Timestamp, _out: &mut Output<OUT>) -> FnResult {
        Ok(())
    }

    /// The earliest pending processing-time timer.
    fn next_processing_time(&self) -> Option<Timestamp> {
        None
    }

    /// The input has ended: emit what is held back (BATCH results).
    fn end_input(&mut self, _out: &mut Output<OUT>) -> FnResult {
        Ok(())
    }

    /// Releases resources (and closes the user function).
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

/// An operator with two inputs of different types (Flink's `TwoInputStreamOperator`):
/// connected streams, co-process functions, broadcast state. Always the head of its
/// task; the task combines the inputs' watermarks (the minimum over inputs that have
/// not ended) before calling [`process_watermark`](Self::process_watermark).
pub trait TwoInputOperator<IN1, IN2, OUT>: 'static {
    /// Whether the operator processes keyed streams (see [`OneInputOperator::KEYED`]).
    const KEYED: bool = false;

    /// Prepares the operator (and opens the user function).
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }

    /// Processes and drains a batch of the first input.
    fn process_batch1(&mut self, batch: &mut Vec<StreamRecord<IN1>>, out: &mut Output<OUT>) -> FnResult;

    /// Processes and drains a batch of the second input.
    fn process_batch2(&mut self, batch: &mut Vec<StreamRecord<IN2>>, out: &mut Output<OUT>) -> FnResult;

    /// Handles an advanced combined watermark; by default passes it on.
    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<OUT>) -> FnResult {
        out.emit_watermark(watermark);
        Ok(())
    }

    /// See [`OneInputOperator::snapshot_state`].
    fn snapshot_state(&mut self, _snapshot: &mut OperatorSnapshot) -> FnResult {
        Ok(())
    }

    /// See [`OneInputOperator::notify_checkpoint`].
    fn notify_checkpoint(&mut self, _id: CheckpointId, _complete: bool, _out: &mut Output<OUT>) -> FnResult {
        Ok(())
    }

    /// Input `input` (1 or 2) has ended.
    fn end_input(&mut self, _input: u8, _out: &mut Output<OUT>) -> FnResult {
        Ok(())
    }

    /// Processing time has reached `now`: fire the processing-time timers that are due.
    fn on_processing_time(&mut self, _now: Timestamp, _out: &mut Output<OUT>) -> FnResult {
        Ok(())
    }

    /// The earliest pending processing-time timer.
    fn next_processing_time(&self) -> Option<Timestamp> {
        None
    }

    /// Releases resources (and closes the user function).
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}
