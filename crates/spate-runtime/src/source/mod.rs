//! Sources: where records enter a job.
//!
//! A [`Source`] is the definition a user hands to the environment; each parallel subtask
//! creates a [`SourceReader`] from it and polls it from its task loop. Polling, not a
//! thread per source, keeps a source subtask responsive: between two polls the task
//! flushes output and notices cancellation (and, later, checkpoint triggers).

mod collection;
mod enumeration;
mod generator;
mod sequence;
mod socket;
mod text_file;

pub use collection::CollectionSource;
pub use enumeration::{AttemptSplits, ListingFailed, SourceSplits, SplitListing};
pub use generator::GeneratorSource;
pub use sequence::SequenceSource;
pub use socket::SocketTextSource;
pub use text_file::{FileSplit, TextFileSource};

use std::time::Duration;

use spate_core::{BoxError, StreamRecord, Unrecoverable};

use crate::context::RuntimeContext;
use crate::functions::FnResult;

/// Whether a source ends on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boundedness {
    /// The input is finite; the source finishes when it is read.
    Bounded,
    /// The input never ends by itself.
    ContinuousUnbounded,
}

/// A source definition, shared by all subtasks.
pub trait Source<T>: Send + Sync + 'static {
    /// The operator name shown in plans and errors.
    fn name(&self) -> String;

    /// Whether the input is finite.
    fn boundedness(&self) -> Boundedness;

    /// The most subtasks this source can run with (`Some(1)` for a non-parallel source).
    fn max_parallelism(&self) -> Option<u32> {
        None
    }

    /// Creates the reader of one subtask of a source that does not enumerate splits
    /// (see [`Source::enumerate_splits`]).
    fn create_reader(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SourceReader<T>>, BoxError>;

    /// Lists the input's splits, encoded as the readers encode their positions (see
    /// [`SourceReader::snapshot`]), for `parallelism` subtasks; `None` (the default)
    /// for a source whose subtasks know their part without a listing (a generator).
    ///
    /// The listing is made once per attempt, in one process, and each subtask gets its
    /// share — the splits at its index, then every `parallelism`-th — through
    /// [`Source::restore_reader`]: subtasks on different TaskManagers read one listing,
    /// not each their own of an input that may change between two. An error fails the
    /// source's subtasks without restarts (a restart would list the same input).
    fn enumerate_splits(&self, _parallelism: u32) -> Result<Option<Vec<Vec<u8>>>, BoxError> {
        Ok(None)
    }

    /// Creates the reader of one subtask to read `splits`: its share of the attempt's
    /// listing (see [`Source::enumerate_splits`]), or, in a restored job, the positions
    /// its readers wrote in the checkpoint (dealt out over the subtasks, so a reader may
    /// get several, or none). A source that cannot go on from a position keeps the
    /// default, which fails the restore.
    fn restore_reader(
        &self,
        _ctx: &mut RuntimeContext,
        _splits: Vec<Vec<u8>>,
    ) -> Result<Box<dyn SourceReader<T>>, BoxError> {
        Err(format!("the source '{}' cannot resume from a checkpoint", self.name()).into())
    }
}

/// The operator list under which source readers store their positions.
pub const SPLITS: &str = "splits";

/// What one poll of a reader found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourcePoll {
    /// More records are available now: poll again.
    More,
    /// Nothing is available now; poll again after at most this long.
    Idle(Duration),
    /// The input is exhausted.
    Finished,
}

/// Reads the part of a source assigned to one subtask.
pub trait SourceReader<T> {
    /// Appends at most `max` records to `batch`.
    fn poll_next(&mut self, batch: &mut Vec<StreamRecord<T>>, max: usize) -> Result<SourcePoll, BoxError>;

    /// Releases resources; also called after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }

    /// The reader's position for a checkpoint: one encoded element per split it reads
    /// (what is left of it), for [`Source::restore_reader`]. Records handed out before
    /// this call are before the position. A reader that cannot say keeps the default,
    /// and jobs reading it cannot take checkpoints: every one fails, and once more have
    /// failed than `execution.checkpointing.tolerable-failed-checkpoints` allows (by
    /// default none) the job fails without restarts (a restart would only fail the same
    /// way after every backoff), telling the user to turn checkpointing off or implement
    /// this method.
    fn snapshot(&mut self) -> Result<Vec<Vec<u8>>, BoxError> {
        Err(Unrecoverable::new(
            "this source cannot record its position (SourceReader::snapshot is not implemented), \
             so the job cannot take checkpoints: disable checkpointing or implement it",
        )
        .into())
    }
}
