//! Operators: the runtime's side of the user functions.
//!
//! An operator implements one small interface, [`OneInputOperator`]; the
//! [`ChainedOperator`] node runs it inside a chain — guarding every call into user code,
//! flushing its output, and passing lifecycle calls on to what follows. One mechanism,
//! many thin operators on top of it (one per file).

mod chained;
mod filter;
mod flat_map;
mod keyed_aggregate;
mod keyed_process;
mod keyed_reduce;
mod map;
mod process;
mod sink;
mod timestamps;

pub use chained::ChainedOperator;
pub use filter::FilterOperator;
pub use flat_map::FlatMapOperator;
pub use keyed_aggregate::KeyedAggregateOperator;
pub use keyed_process::KeyedProcessOperator;
pub use keyed_reduce::{ByReduceFunction, Fold, InPlace, KeyedReduceOperator};
pub use map::MapOperator;
pub use process::ProcessOperator;
pub use sink::SinkOperator;
pub use timestamps::TimestampsAndWatermarksOperator;

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

    /// Handles an advanced watermark; by default passes it on.
    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<OUT>) -> FnResult {
        out.emit_watermark(watermark);
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
