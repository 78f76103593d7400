//! `reduce` on a keyed stream (and `sum`, `min`, `max`, `min_by`, `max_by`, which are
//! reductions over a field).

use spate_core::job_graph::ExecutionMode;
use spate_core::key_group::key_group_for_hash;
use spate_core::{Key, KeyGroupRange, KeyHasher, NO_TIMESTAMP, StreamRecord};

use super::OneInputOperator;
use crate::context::RuntimeContext;
use crate::functions::{FnResult, ReduceFunction};
use crate::output::Output;
use crate::partitioner::KeySelector;
use crate::state::KeyGroupTable;

/// Keeps one reduced value per key. In STREAMING mode every update is emitted; in BATCH
/// mode the final value of each key is emitted at end of input.
pub struct KeyedReduceOperator<T, K, R> {
    key_selector: KeySelector<T, K>,
    reducer: R,
    hasher: KeyHasher,
    /// `Option` so the value can be moved into the reduce function and back.
    table: KeyGroupTable<K, Option<T>>,
    max_parallelism: u32,
    emit_updates: bool,
}

impl<T: Clone + 'static, K: Key, R: ReduceFunction<T>> KeyedReduceOperator<T, K, R> {
    /// A reduce by `key_selector`.
    pub fn new(key_selector: KeySelector<T, K>, reducer: R) -> Self {
        KeyedReduceOperator {
            key_selector,
            reducer,
            hasher: KeyHasher::new(),
            table: KeyGroupTable::new(KeyGroupRange { start: 0, end: 0 }),
            max_parallelism: 1,
            emit_updates: true,
        }
    }
}

impl<T: Clone + 'static, K: Key, R: ReduceFunction<T>> OneInputOperator<T, T> for KeyedReduceOperator<T, K, R> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        let task = ctx.task_info();
        self.table = KeyGroupTable::new(task.key_group_range());
        self.max_parallelism = task.max_parallelism;
        self.emit_updates = task.execution_mode == ExecutionMode::Streaming;
        self.reducer.open(ctx)
    }

    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>, out: &mut Output<T>) -> FnResult {
        for record in batch.drain(..) {
            let key = (self.key_selector)(&record.value);
            let hash = self.hasher.hash(&key)?;
            let group = key_group_for_hash(hash, self.max_parallelism);
            let slot = self.table.get_or_insert_with(group, hash, key, || None)?;
            let reduced = match slot.take() {
                Some(accumulated) => self.reducer.reduce(accumulated, record.value)?,
                None => record.value,
            };
            if self.emit_updates {
                out.emit(reduced.clone(), record.timestamp);
            }
            *slot = Some(reduced);
        }
        Ok(())
    }

    fn end_input(&mut self, out: &mut Output<T>) -> FnResult {
        if !self.emit_updates {
            for group in self.table.range().iter() {
                for (_, value) in self.table.drain_group(group)? {
                    if let Some(value) = value {
                        out.emit(value, NO_TIMESTAMP);
                    }
                }
            }
        }
        Ok(())
    }

    fn close(&mut self) -> FnResult {
        self.reducer.close()
    }
}
