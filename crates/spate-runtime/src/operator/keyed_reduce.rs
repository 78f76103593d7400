//! `reduce` on a keyed stream (and `sum`, `min`, `max`, `min_by`, `max_by`, which are
//! reductions over a field).

use spate_core::job_graph::ExecutionMode;
use spate_core::{BoxError, Key, KeyGroupRange, NO_TIMESTAMP, StateValue, StreamRecord};

use crate::checkpoint::OperatorSnapshot;

/// The part under which the reduced values are checkpointed.
const TABLE: &str = "table";

use super::OneInputOperator;
use crate::context::RuntimeContext;
use crate::functions::{FnResult, ReduceFunction};
use crate::key_selector::KeySelector;
use crate::output::Output;
use crate::state::{Found, KeyGroupTable, KeyedLookahead, Lookup, StateError, key_of};

/// How a keyed reduce folds a new value into the value stored for its key.
pub trait Fold<T>: Send + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }

    /// Folds `value` into the stored value of `found`.
    fn fold<'t, K: Key>(&mut self, found: Found<'t, K, T>, value: T) -> Result<&'t mut T, BoxError>;

    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

/// Folds with a [`ReduceFunction`], which takes both values and returns a new one.
pub struct ByReduceFunction<R>(pub R);

impl<T: 'static, R: ReduceFunction<T>> Fold<T> for ByReduceFunction<R> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.0.open(ctx)
    }

    #[inline]
    fn fold<'t, K: Key>(&mut self, found: Found<'t, K, T>, value: T) -> Result<&'t mut T, BoxError> {
        found.replace_with(|accumulated| self.0.reduce(accumulated, value))
    }

    fn close(&mut self) -> FnResult {
        self.0.close()
    }
}

/// Folds by updating the stored value in place (the field aggregations `sum`, `min`,
/// ...), which saves moving it out of the table and back.
pub struct InPlace<F>(pub F);

impl<T: 'static, F: FnMut(&mut T, T) + Send + 'static> Fold<T> for InPlace<F> {
    #[inline]
    fn fold<'t, K: Key>(&mut self, found: Found<'t, K, T>, value: T) -> Result<&'t mut T, BoxError> {
        let stored = found.into_mut();
        (self.0)(stored, value);
        Ok(stored)
    }
}

/// Keeps one reduced value per key. In STREAMING mode every update is emitted; in BATCH
/// mode the final value of each key is emitted at end of input.
pub struct KeyedReduceOperator<T, K, R> {
    fold: R,
    table: KeyGroupTable<K, T>,
    lookahead: KeyedLookahead<T, K>,
    emit_updates: bool,
}

impl<T: Clone + 'static, K: Key, R: Fold<T>> KeyedReduceOperator<T, K, R> {
    /// A reduce by `key_selector`, folding with `fold`.
    pub fn new(key_selector: KeySelector<T, K>, fold: R) -> Self {
        KeyedReduceOperator {
            fold,
            lookahead: KeyedLookahead::new(key_selector, 1),
            table: KeyGroupTable::new(KeyGroupRange { start: 0, end: 0 }),
            emit_updates: true,
        }
    }
}

impl<T: StateValue, K: Key, R: Fold<T>> OneInputOperator<T, T> for KeyedReduceOperator<T, K, R> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        let task = ctx.task_info();
        self.table = KeyGroupTable::new(task.key_group_range());
        self.lookahead.set_max_parallelism(task.max_parallelism);
        self.emit_updates = task.execution_mode == ExecutionMode::Streaming;
        if let Some(restored) = ctx.restored() {
            self.table.restore_from(TABLE, restored, task.max_parallelism)?;
        }
        self.fold.open(ctx)
    }

    fn snapshot_state(&mut self, snapshot: &mut OperatorSnapshot) -> FnResult {
        Ok(self.table.snapshot_into(TABLE, snapshot)?)
    }

    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>, out: &mut Output<T>) -> FnResult {
        let (fold, emit_updates) = (&mut self.fold, self.emit_updates);
        self.lookahead.run(
            batch,
            &mut self.table,
            |table, stage, placed, _| table.warm(stage, placed.key_group, placed.hash),
            |table, key_selector, mut placed| -> FnResult {
                let Some(key) = key_of(key_selector, &placed) else { return Err(StateError::MissingKey.into()) };
                let reduced = match table.lookup(placed.key_group, placed.hash, key)? {
                    Lookup::Found(found) => fold.fold(found, placed.record.value)?,
                    Lookup::Missing(missing) => missing.insert(placed.take_key(key_selector), placed.record.value)?,
                };
                if emit_updates {
                    out.emit(reduced.clone(), placed.record.timestamp);
                }
                Ok(())
            },
        )
    }

    fn end_input(&mut self, out: &mut Output<T>) -> FnResult {
        if !self.emit_updates {
            for group in self.table.range().iter() {
                for (_, value) in self.table.drain_group(group)? {
                    out.emit(value, NO_TIMESTAMP);
                }
            }
        }
        Ok(())
    }

    fn close(&mut self) -> FnResult {
        self.fold.close()
    }
}
