//! Exactly-once sinks by two-phase commit (Flink's `TwoPhaseCommitSinkFunction`).
//!
//! Output goes into a *transaction* that nobody sees yet. When a checkpoint's barrier
//! passes the sink, the open transaction is *pre-committed* (made durable, still
//! invisible) and recorded in the checkpoint; when the checkpoint completes, it is
//! *committed* (made visible). A failure before completion leaves the transaction
//! uncommitted, and the restarted job writes that output again into a new one. On
//! restore, the transactions recorded in the checkpoint are committed, since the
//! checkpoint completed; so commits must be idempotent.

use serde::Serialize;
use serde::de::DeserializeOwned;
use spate_core::{BoxError, StreamRecord, codec};

use super::SinkWriter;
use crate::checkpoint::FINAL_CHECKPOINT;
use crate::checkpoint::{CheckpointId, OperatorSnapshot};
use crate::context::RuntimeContext;
use crate::functions::FnResult;
use crate::state::Redistribution;

/// The operator list under which pre-committed transactions are checkpointed.
pub const PENDING_TRANSACTIONS: &str = "pending-transactions";

/// The transactional side of a sink: what a transaction is and how it moves from open
/// to pre-committed to committed (or aborted).
pub trait TwoPhaseCommitWriter<T>: 'static {
    /// A handle that names a transaction, stored in checkpoints.
    type Transaction: Serialize + DeserializeOwned;

    /// Opens a new transaction.
    fn begin(&mut self) -> Result<Self::Transaction, BoxError>;
    /// Writes and drains a batch into `transaction`.
    fn write(&mut self, transaction: &mut Self::Transaction, batch: &mut Vec<StreamRecord<T>>) -> FnResult;
    /// Makes `transaction` durable; nothing more is written to it.
    fn pre_commit(&mut self, transaction: &mut Self::Transaction) -> FnResult;
    /// Makes a pre-committed transaction visible. Must succeed when called again for a
    /// transaction already committed (after a restore).
    fn commit(&mut self, transaction: Self::Transaction) -> FnResult;
    /// Throws an open transaction away.
    fn abort(&mut self, transaction: Self::Transaction) -> FnResult;
    /// State of the writer itself (such as a counter naming transactions), stored with
    /// every subtask's copy given to every subtask on restore.
    fn writer_state(&self) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(None)
    }
    /// Takes back the [`writer_state`](Self::writer_state) of every subtask of the
    /// previous run, before any transaction is committed or begun.
    fn restore_writer_state(&mut self, _states: &[Vec<u8>]) -> FnResult {
        Ok(())
    }
}

/// The operator list under which the writers' own state is checkpointed.
pub const WRITER_STATE: &str = "writer-state";

/// A [`SinkWriter`] that runs a [`TwoPhaseCommitWriter`]'s transactions along the
/// checkpoints: one transaction per checkpoint interval, begun at the first record.
/// Without checkpointing, the last transaction is committed when the job finishes.
pub struct TwoPhaseCommitSinkWriter<T, W: TwoPhaseCommitWriter<T>> {
    writer: W,
    current: Option<W::Transaction>,
    /// Pre-committed transactions with the checkpoint that recorded them.
    pending: Vec<(CheckpointId, W::Transaction)>,
    _records: std::marker::PhantomData<fn(T)>,
}

impl<T, W: TwoPhaseCommitWriter<T>> TwoPhaseCommitSinkWriter<T, W> {
    /// Wraps `writer`; commits the transactions the restored checkpoint recorded.
    pub fn new(mut writer: W, ctx: &RuntimeContext) -> Result<Self, BoxError> {
        if let Some(restored) = ctx.restored() {
            writer.restore_writer_state(restored.list(WRITER_STATE).unwrap_or_default())?;
            for bytes in restored.list(PENDING_TRANSACTIONS).unwrap_or_default() {
                let (_, transaction): (CheckpointId, W::Transaction) = codec::decode(bytes)?;
                writer.commit(transaction)?;
            }
        }
        Ok(TwoPhaseCommitSinkWriter { writer, current: None, pending: Vec::new(), _records: std::marker::PhantomData })
    }

    /// The wrapped writer.
    pub fn writer(&self) -> &W {
        &self.writer
    }

    fn commit_through(&mut self, id: CheckpointId) -> FnResult {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending).into_iter().partition(|(c, _)| *c <= id);
        self.pending = later;
        for (_, transaction) in due {
            self.writer.commit(transaction)?;
        }
        Ok(())
    }
}

impl<T, W: TwoPhaseCommitWriter<T>> SinkWriter<T> for TwoPhaseCommitSinkWriter<T, W> {
    fn write_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> FnResult {
        if batch.is_empty() {
            return Ok(());
        }
        let transaction = match &mut self.current {
            Some(t) => t,
            None => self.current.insert(self.writer.begin()?),
        };
        self.writer.write(transaction, batch)
    }

    fn flush(&mut self, _end_of_input: bool) -> FnResult {
        Ok(())
    }

    fn snapshot_state(&mut self, id: CheckpointId, snapshot: &mut OperatorSnapshot) -> FnResult {
        if let Some(mut transaction) = self.current.take() {
            self.writer.pre_commit(&mut transaction)?;
            self.pending.push((id, transaction));
        }
        let elements = self.pending.iter().map(codec::encode).collect::<Result<Vec<_>, _>>()?;
        snapshot.add_list(PENDING_TRANSACTIONS, Redistribution::EvenSplit, elements);
        if let Some(state) = self.writer.writer_state()? {
            snapshot.add_list(WRITER_STATE, Redistribution::Union, vec![state]);
        }
        Ok(())
    }

    fn notify_checkpoint_complete(&mut self, id: CheckpointId) -> FnResult {
        if id == FINAL_CHECKPOINT {
            // The job finished: nothing can replay this output any more.
            if let Some(mut transaction) = self.current.take() {
                self.writer.pre_commit(&mut transaction)?;
                self.pending.push((id, transaction));
            }
        }
        self.commit_through(id)
    }

    fn close(&mut self) -> FnResult {
        // Pre-committed transactions stay: a completed checkpoint may still commit them.
        match self.current.take() {
            Some(transaction) => self.writer.abort(transaction),
            None => Ok(()),
        }
    }
}
