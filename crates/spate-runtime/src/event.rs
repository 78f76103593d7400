//! What flows between records, in order with them: watermarks, idleness, checkpoint
//! barriers and the end of the input.
//!
//! One enum travels every path — a channel between tasks, an input gate, a chain of
//! operators, a record writer — through one method each (`process_control`), which
//! passes an event on unless a node has something to do with it. A new kind of event is
//! added here and handled only where it matters.

use spate_core::Timestamp;

use crate::checkpoint::CheckpointBarrier;
use crate::watermark::WatermarkStatus;

/// An event that is not a record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ControlEvent {
    /// No record with a smaller timestamp follows.
    Watermark(Timestamp),
    /// The stream went idle (its watermark stops counting) or became active again.
    Status(WatermarkStatus),
    /// Everything before belongs to a checkpoint, everything after does not.
    Barrier(CheckpointBarrier),
    /// Nothing follows: on a channel, its upstream subtask finished; in a chain, every
    /// input of the task ended.
    EndOfInput,
}
