//! `aggregate` on a keyed stream.

use std::marker::PhantomData;

use spate_core::job_graph::ExecutionMode;
use spate_core::{Key, KeyGroupRange, NO_TIMESTAMP, StateValue, StreamRecord};

use crate::checkpoint::OperatorSnapshot;

/// The part under which the accumulators are checkpointed.
const TABLE: &str = "table";

use super::OneInputOperator;
use crate::context::RuntimeContext;
use crate::functions::{AggregateFunction, FnResult};
use crate::key_selector::KeySelector;
use crate::output::Output;
use crate::state::{KeyGroupTable, KeyedLookahead, Lookup, StateError, key_of};

/// Keeps one accumulator per key. In STREAMING mode the result is emitted after every
/// record; in BATCH mode once per key at end of input.
pub struct KeyedAggregateOperator<T, K, ACC, OUT, A> {
    function: A,
    table: KeyGroupTable<K, ACC>,
    lookahead: KeyedLookahead<T, K>,
    emit_updates: bool,
    _out: PhantomData<fn() -> OUT>,
}

impl<T, K, ACC, OUT, A> KeyedAggregateOperator<T, K, ACC, OUT, A>
where
    K: Key,
    A: AggregateFunction<T, ACC, OUT>,
{
    /// An aggregation by `key_selector`.
    pub fn new(key_selector: KeySelector<T, K>, function: A) -> Self {
        KeyedAggregateOperator {
            function,
            lookahead: KeyedLookahead::new(key_selector, 1),
            table: KeyGroupTable::new(KeyGroupRange { start: 0, end: 0 }),
            emit_updates: true,
            _out: PhantomData,
        }
    }
}

impl<T, K, ACC, OUT, A> OneInputOperator<T, OUT> for KeyedAggregateOperator<T, K, ACC, OUT, A>
where
    T: 'static,
    K: Key,
    ACC: StateValue,
    OUT: 'static,
    A: AggregateFunction<T, ACC, OUT>,
{
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        let task = ctx.task_info();
        self.table = KeyGroupTable::new(task.key_group_range());
        self.lookahead.set_max_parallelism(task.max_parallelism);
        self.emit_updates = task.execution_mode == ExecutionMode::Streaming;
        if let Some(restored) = ctx.restored() {
            self.table.restore_from(TABLE, restored, task.max_parallelism)?;
        }
        Ok(())
    }

    fn snapshot_state(&mut self, snapshot: &mut OperatorSnapshot) -> FnResult {
        Ok(self.table.snapshot_into(TABLE, snapshot)?)
    }

    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>, out: &mut Output<OUT>) -> FnResult {
        let (function, emit_updates) = (&mut self.function, self.emit_updates);
        self.lookahead.run(
            batch,
            &mut self.table,
            |table, stage, placed, _| table.warm(stage, placed.key_group, placed.hash),
            |table, key_selector, mut placed| -> FnResult {
                let Some(key) = key_of(key_selector, &placed) else { return Err(StateError::MissingKey.into()) };
                let accumulator = match table.lookup(placed.key_group, placed.hash, key)? {
                    Lookup::Found(found) => found.into_mut(),
                    Lookup::Missing(missing) => {
                        missing.insert(placed.take_key(key_selector), function.create_accumulator())?
                    }
                };
                function.add(placed.record.value, accumulator);
                if emit_updates {
                    out.emit(function.get_result(accumulator), placed.record.timestamp);
                }
                Ok(())
            },
        )
    }

    fn end_input(&mut self, out: &mut Output<OUT>) -> FnResult {
        if !self.emit_updates {
            for group in self.table.range().iter() {
                for (_, accumulator) in self.table.drain_group(group)? {
                    out.emit(self.function.get_result(&accumulator), NO_TIMESTAMP);
                }
            }
        }
        Ok(())
    }
}
