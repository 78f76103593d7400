//! `reduce` on a keyed stream (and `sum`, `min`, `max`, `min_by`, `max_by`, which are
//! reductions over a field).

use spate_core::job_graph::ExecutionMode;
use spate_core::{Key, KeyGroupRange, NO_TIMESTAMP, StreamRecord};

use super::OneInputOperator;
use crate::context::RuntimeContext;
use crate::functions::{FnResult, ReduceFunction};
use crate::output::Output;
use crate::partitioner::KeySelector;
use crate::state::{KeyGroupTable, KeyedLookahead};

/// Keeps one reduced value per key. In STREAMING mode every update is emitted; in BATCH
/// mode the final value of each key is emitted at end of input.
pub struct KeyedReduceOperator<T, K, R> {
    reducer: R,
    table: KeyGroupTable<K, T>,
    lookahead: KeyedLookahead<T, K>,
    emit_updates: bool,
}

impl<T: Clone + 'static, K: Key, R: ReduceFunction<T>> KeyedReduceOperator<T, K, R> {
    /// A reduce by `key_selector`.
    pub fn new(key_selector: KeySelector<T, K>, reducer: R) -> Self {
        KeyedReduceOperator {
            reducer,
            table: KeyGroupTable::new(KeyGroupRange { start: 0, end: 0 }),
            lookahead: KeyedLookahead::new(key_selector, 1),
            emit_updates: true,
        }
    }
}

impl<T: Clone + 'static, K: Key, R: ReduceFunction<T>> OneInputOperator<T, T> for KeyedReduceOperator<T, K, R> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        let task = ctx.task_info();
        self.table = KeyGroupTable::new(task.key_group_range());
        self.lookahead.set_max_parallelism(task.max_parallelism);
        self.emit_updates = task.execution_mode == ExecutionMode::Streaming;
        self.reducer.open(ctx)
    }

    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>, out: &mut Output<T>) -> FnResult {
        let mut records = batch.drain(..);
        loop {
            let mut chunk = self.lookahead.next_chunk(&mut records, &self.table)?.peekable();
            if chunk.peek().is_none() {
                return Ok(());
            }
            for placed in chunk {
                let reducer = &mut self.reducer;
                let value = placed.record.value;
                let reduced = self.table.upsert(placed.key_group, placed.hash, placed.key, |accumulated| {
                    match accumulated {
                        Some(accumulated) => reducer.reduce(accumulated, value),
                        None => Ok(value),
                    }
                })?;
                if self.emit_updates {
                    out.emit(reduced.clone(), placed.record.timestamp);
                }
            }
        }
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
        self.reducer.close()
    }
}
