//! `KeyedStream`: a stream partitioned by key, and the aggregations over it.

use std::ops::Add;
use std::sync::Arc;

use spate_core::{Data, Key};
use spate_runtime::context::RuntimeContext;
use spate_runtime::functions::{
    AggregateFunction, FilterFunction, FlatMapFunction, FnResult, KeyedContext, KeyedProcessFunction, MapFunction,
    ReduceFunction,
};
use spate_runtime::key_selector::KeySelector;
use spate_runtime::operator::{
    ByReduceFunction, Fold, InPlace, KeyedAggregateOperator, KeyedProcessOperator, KeyedReduceOperator,
};
use spate_runtime::output::Collector;

use crate::datastream::DataStream;
use crate::graph::factory::{KeyGroupSelectorFactory, OperatorFactoryOf, Prototype};
use crate::graph::stream_graph::EdgePartitioner;

/// A stream whose records are partitioned by a key: all records with the same key are
/// processed by the same subtask, which keeps state per key.
///
/// In STREAMING mode the aggregations emit the updated value after every record; in
/// BATCH mode they emit one final value per key at the end of the input.
pub struct KeyedStream<T, K> {
    input: DataStream<T>,
    key_selector: KeySelector<T, K>,
}

impl<T, K> Clone for KeyedStream<T, K> {
    fn clone(&self) -> Self {
        KeyedStream { input: self.input.clone(), key_selector: self.key_selector.clone() }
    }
}

impl<T: Data, K: Key> KeyedStream<T, K> {
    pub(crate) fn new(input: DataStream<T>, key_selector: KeySelector<T, K>) -> Self {
        KeyedStream { input, key_selector }
    }

    /// The key selector, shared by the partitioner and the keyed operator.
    pub fn key_selector(&self) -> &KeySelector<T, K> {
        &self.key_selector
    }

    /// The stream before keying.
    pub(crate) fn input(&self) -> &DataStream<T> {
        &self.input
    }

    /// Connects this stream with another stream keyed by the same key type (for a keyed
    /// co-process function) or with a broadcast stream.
    pub fn connect<S: crate::connected::KeyedConnectTo<T, K>>(&self, other: &S) -> S::Connected {
        other.connect_to(self)
    }

    pub(crate) fn partitioner(&self) -> EdgePartitioner {
        EdgePartitioner::Hash(Arc::new(KeyGroupSelectorFactory(self.key_selector.clone())))
    }

    /// Combines the records of each key with a closure of the value so far and the new
    /// record (Flink's `reduce`). Structs implementing [`ReduceFunction`] go to
    /// [`reduce_function`](Self::reduce_function).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// env.set_runtime_mode(RuntimeMode::Batch);
    /// let mut counts = env
    ///     .from_iter(vec![("a".to_string(), 1u64), ("b".into(), 1), ("a".into(), 1)])
    ///     .key_by(|(word, _)| word.clone())
    ///     .reduce(|a, b| (a.0, a.1 + b.1))
    ///     .execute_and_collect()
    ///     .unwrap();
    /// counts.sort();
    /// assert_eq!(counts, vec![("a".to_string(), 2), ("b".to_string(), 1)]);
    /// ```
    pub fn reduce<F>(&self, function: F) -> DataStream<T>
    where
        F: FnMut(T, T) -> T + Clone + Send + 'static,
    {
        self.reduce_function(function)
    }

    /// Combines the records of each key with a [`ReduceFunction`].
    pub fn reduce_function<F>(&self, function: F) -> DataStream<T>
    where
        F: ReduceFunction<T> + Clone,
    {
        let prototype = Prototype::new(function);
        self.fold("KeyedReduce", "Keyed Reduce", move || ByReduceFunction(prototype.instance()))
    }

    fn fold<R, M>(&self, kind: &'static str, name: &str, make: M) -> DataStream<T>
    where
        R: Fold<T>,
        M: Fn() -> R + Send + Sync + 'static,
    {
        let key_selector = self.key_selector.clone();
        let factory = OperatorFactoryOf::shared(move || KeyedReduceOperator::new(key_selector.clone(), make()));
        self.input.add_operator(kind, name, factory, Some(self.partitioner()))
    }

    /// A field aggregation: updates the stored record in place with `update`.
    fn field_aggregation<U>(&self, name: &str, update: U) -> DataStream<T>
    where
        U: FnMut(&mut T, T) + Clone + Send + 'static,
    {
        let prototype = Prototype::new(update);
        self.fold("KeyedAggregation", name, move || InPlace(prototype.instance()))
    }

    /// Sums a numeric field per key; the other fields are those of the key's first
    /// record (Flink's `sum(field)`). The field is chosen by a closure returning a
    /// mutable reference to it.
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// let sums = env
    ///     .from_iter(vec![(1u8, 10u64), (1, 5)])
    ///     .key_by(|r: &(u8, u64)| r.0)
    ///     .sum(|r: &mut (u8, u64)| &mut r.1)
    ///     .execute_and_collect()
    ///     .unwrap();
    /// assert_eq!(sums, vec![(1, 10), (1, 15)]);
    /// ```
    pub fn sum<N, F>(&self, field: F) -> DataStream<T>
    where
        N: Copy + Add<Output = N> + 'static,
        F: Fn(&mut T) -> &mut N + Clone + Send + 'static,
    {
        self.field_aggregation("Keyed Aggregation (sum)", move |stored: &mut T, mut value: T| {
            let add = *field(&mut value);
            let total = field(stored);
            *total = *total + add;
        })
    }

    /// The minimum of a field per key; the other fields are those of the key's first
    /// record (Flink's `min(field)`; see [`min_by`](Self::min_by) for the whole record).
    pub fn min<N, F>(&self, field: F) -> DataStream<T>
    where
        N: Copy + PartialOrd + 'static,
        F: Fn(&mut T) -> &mut N + Clone + Send + 'static,
    {
        self.field_aggregation("Keyed Aggregation (min)", move |stored: &mut T, mut value: T| {
            let candidate = *field(&mut value);
            let current = field(stored);
            if candidate < *current {
                *current = candidate;
            }
        })
    }

    /// The maximum of a field per key; the other fields are those of the key's first
    /// record (Flink's `max(field)`).
    pub fn max<N, F>(&self, field: F) -> DataStream<T>
    where
        N: Copy + PartialOrd + 'static,
        F: Fn(&mut T) -> &mut N + Clone + Send + 'static,
    {
        self.field_aggregation("Keyed Aggregation (max)", move |stored: &mut T, mut value: T| {
            let candidate = *field(&mut value);
            let current = field(stored);
            if candidate > *current {
                *current = candidate;
            }
        })
    }

    /// The record with the smallest field per key (the first of equal ones).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// env.set_runtime_mode(RuntimeMode::Batch);
    /// env.set_parallelism(1);
    /// let cheapest = env
    ///     .from_iter(vec![('k', 3u32, 'x'), ('k', 1, 'y'), ('k', 1, 'z')])
    ///     .key_by(|r: &(char, u32, char)| r.0)
    ///     .min_by(|r: &mut (char, u32, char)| &mut r.1)
    ///     .execute_and_collect()
    ///     .unwrap();
    /// assert_eq!(cheapest, vec![('k', 1, 'y')]);
    /// ```
    pub fn min_by<N, F>(&self, field: F) -> DataStream<T>
    where
        N: Copy + PartialOrd + 'static,
        F: Fn(&mut T) -> &mut N + Clone + Send + 'static,
    {
        self.field_aggregation("Keyed Aggregation (minBy)", move |stored: &mut T, mut value: T| {
            if *field(&mut value) < *field(stored) {
                *stored = value;
            }
        })
    }

    /// The record with the largest field per key (the first of equal ones).
    pub fn max_by<N, F>(&self, field: F) -> DataStream<T>
    where
        N: Copy + PartialOrd + 'static,
        F: Fn(&mut T) -> &mut N + Clone + Send + 'static,
    {
        self.field_aggregation("Keyed Aggregation (maxBy)", move |stored: &mut T, mut value: T| {
            if *field(&mut value) > *field(stored) {
                *stored = value;
            }
        })
    }

    /// Processes every record with a closure that sees the current key's context (its
    /// timers, side outputs) and emits any number of records. A struct implementing
    /// [`KeyedProcessFunction`] — with keyed state from `open`, and `on_timer` — goes
    /// to [`process_function`](Self::process_function).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// let out = env
    ///     .from_iter(vec![(1u8, 10i64), (2, 20)])
    ///     .key_by(|r| r.0)
    ///     .process(|r, ctx, out| {
    ///         out.collect((*ctx.current_key(), r.1 * 2));
    ///         Ok(())
    ///     })
    ///     .execute_and_collect()
    ///     .unwrap();
    /// assert_eq!(out, vec![(1, 20), (2, 40)]);
    /// ```
    pub fn process<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        F: FnMut(T, &mut KeyedContext<'_, K>, &mut Collector<'_, O>) -> FnResult + Clone + Send + 'static,
    {
        self.process_function(function)
    }

    /// Applies a [`KeyedProcessFunction`]: keyed state, event- and processing-time timers,
    /// side outputs.
    pub fn process_function<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        F: KeyedProcessFunction<K, T, O> + Clone,
    {
        self.keyed("KeyedProcess", "Keyed Process", function)
    }

    fn keyed<O, F>(&self, kind: &'static str, name: &str, function: F) -> DataStream<O>
    where
        O: Data,
        F: KeyedProcessFunction<K, T, O> + Clone,
    {
        let prototype = Prototype::new(function);
        let key_selector = self.key_selector.clone();
        let factory =
            OperatorFactoryOf::shared(move || KeyedProcessOperator::new(key_selector.clone(), prototype.instance()));
        self.input.add_operator(kind, name, factory, Some(self.partitioner()))
    }

    /// Transforms every record of the keyed stream (the result is not keyed).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// let out = env.from_iter(vec![(1u8, 2i64)]).key_by(|r| r.0).map(|r| r.1 + 1).execute_and_collect().unwrap();
    /// assert_eq!(out, vec![3]);
    /// ```
    pub fn map<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        F: FnMut(T) -> O + Clone + Send + 'static,
    {
        self.map_function(function)
    }

    /// Transforms every record with a [`MapFunction`], whose keyed state (handles
    /// obtained in `open`) is scoped to the record's key.
    pub fn map_function<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        F: MapFunction<T, O> + Clone,
    {
        self.keyed("KeyedMap", "Map", KeyedMap(function))
    }

    /// Turns every record into any number of records (the closure returns an
    /// iterable).
    pub fn flat_map<O, It, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        It: IntoIterator<Item = O>,
        F: FnMut(T) -> It + Clone + Send + 'static,
    {
        self.flat_map_function(function)
    }

    /// Turns every record into any number of records with a [`FlatMapFunction`], with
    /// keyed state.
    pub fn flat_map_function<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        F: FlatMapFunction<T, O> + Clone,
    {
        self.keyed("KeyedFlatMap", "Flat Map", KeyedFlatMap(function))
    }

    /// Keeps the records for which the closure returns `true`.
    pub fn filter<F>(&self, function: F) -> DataStream<T>
    where
        F: FnMut(&T) -> bool + Clone + Send + 'static,
    {
        self.filter_function(function)
    }

    /// Keeps the records for which a [`FilterFunction`] returns `true`, with keyed
    /// state.
    pub fn filter_function<F>(&self, function: F) -> DataStream<T>
    where
        F: FilterFunction<T> + Clone,
    {
        self.keyed("KeyedFilter", "Filter", KeyedFilter(function))
    }

    /// Aggregates the records of each key with an [`AggregateFunction`].
    pub fn aggregate<ACC, OUT, A>(&self, function: A) -> DataStream<OUT>
    where
        ACC: spate_core::StateValue,
        OUT: Data,
        A: AggregateFunction<T, ACC, OUT> + Clone,
    {
        let prototype = Prototype::new(function);
        let key_selector = self.key_selector.clone();
        let factory =
            OperatorFactoryOf::shared(move || KeyedAggregateOperator::new(key_selector.clone(), prototype.instance()));
        self.input.add_operator("KeyedAggregate", "Keyed Aggregation", factory, Some(self.partitioner()))
    }
}

/// A map function run with the current key set (so that it may use keyed state).
#[derive(Clone)]
struct KeyedMap<F>(F);

impl<K, I, O, F: MapFunction<I, O>> KeyedProcessFunction<K, I, O> for KeyedMap<F> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.0.open(ctx)
    }
    #[inline]
    fn process_element(&mut self, value: I, _ctx: &mut KeyedContext<'_, K>, out: &mut Collector<'_, O>) -> FnResult {
        out.collect(self.0.map(value)?);
        Ok(())
    }
    fn close(&mut self) -> FnResult {
        self.0.close()
    }
}

/// A flat-map function run with the current key set.
#[derive(Clone)]
struct KeyedFlatMap<F>(F);

impl<K, I, O, F: FlatMapFunction<I, O>> KeyedProcessFunction<K, I, O> for KeyedFlatMap<F> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.0.open(ctx)
    }
    #[inline]
    fn process_element(&mut self, value: I, _ctx: &mut KeyedContext<'_, K>, out: &mut Collector<'_, O>) -> FnResult {
        self.0.flat_map(value, out)
    }
    fn close(&mut self) -> FnResult {
        self.0.close()
    }
}

/// A filter function run with the current key set.
#[derive(Clone)]
struct KeyedFilter<F>(F);

impl<K, T, F: FilterFunction<T>> KeyedProcessFunction<K, T, T> for KeyedFilter<F> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.0.open(ctx)
    }
    #[inline]
    fn process_element(&mut self, value: T, _ctx: &mut KeyedContext<'_, K>, out: &mut Collector<'_, T>) -> FnResult {
        if self.0.filter(&value)? {
            out.collect(value);
        }
        Ok(())
    }
    fn close(&mut self) -> FnResult {
        self.0.close()
    }
}
