//! `DataStream`: a stream of records of one type, and the operations on it.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

use spate_core::{Data, Key};
use spate_runtime::functions::{
    FilterFunction, FlatMapFunction, FnResult, MapFunction, ProcessContext, ProcessFunction, SinkFunction,
};
use spate_runtime::key_selector::{ComputedKey, FieldKey, KeySelector};
use spate_runtime::operator::{
    FilterOperator, FlatMapOperator, MapOperator, OneInputOperator, ProcessOperator, TimestampsAndWatermarksOperator,
};
use spate_runtime::output::{Collector, OutputTag};
use spate_runtime::sink::{FunctionSink, PrintSink, Sink};
use spate_runtime::watermark::WatermarkStrategy;

use crate::env::StreamEnv;
use crate::error::Result;
use crate::execution::collect::{CollectIterator, Started};
use crate::graph::factory::{CustomSelectorFactory, OperatorFactory, OperatorFactoryOf, Prototype, SinkFactoryOf};
use crate::graph::port::Port;
use crate::graph::stream_graph::{ChainingStrategy, EdgePartitioner, NodeId, NodeOperator, SidePort, StreamRef};
use crate::keyed_stream::KeyedStream;

/// A stream of records of type `T`.
///
/// Transformations take `&self`, so a stream can feed several operators; the settings
/// methods (`name`, `uid`, `set_parallelism`, ...) apply to the operator that produced
/// the stream and return it, builder style.
pub struct DataStream<T> {
    env: StreamEnv,
    stream: StreamRef,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for DataStream<T> {
    fn clone(&self) -> Self {
        DataStream { env: self.env.clone(), stream: self.stream.clone(), _type: PhantomData }
    }
}

impl<T: Data> DataStream<T> {
    pub(crate) fn new(env: StreamEnv, stream: StreamRef) -> Self {
        DataStream { env, stream, _type: PhantomData }
    }

    /// The environment this stream belongs to.
    pub fn env(&self) -> &StreamEnv {
        &self.env
    }

    pub(crate) fn stream_ref(&self) -> &StreamRef {
        &self.stream
    }

    /// Connects this stream with another stream (for a co-function) or with a
    /// [`BroadcastStream`](crate::BroadcastStream) (for a broadcast process function).
    pub fn connect<S: crate::connected::ConnectTo<T>>(&self, other: &S) -> S::Connected {
        other.connect_to(self)
    }

    /// A broadcast stream with the broadcast state `descriptor`: connected to another
    /// stream, every record of it reaches every subtask (Flink's `broadcast(descriptors)`;
    /// `broadcast()` without state is the partitioner).
    pub fn broadcast_with<K, V>(
        &self,
        descriptor: &spate_runtime::state::MapStateDescriptor<K, V>,
    ) -> crate::BroadcastStream<T>
    where
        K: Eq + std::hash::Hash + Send + Sync + spate_core::StateValue,
        V: Send + Sync + spate_core::StateValue,
    {
        crate::BroadcastStream::new(self.clone()).with_state(descriptor)
    }

    /// Adds an operator consuming this stream. `forced` overrides the partitioning of
    /// every input edge (as `key_by` does).
    pub(crate) fn add_operator<O: Data>(
        &self,
        kind: &'static str,
        name: &str,
        factory: Arc<dyn OperatorFactory>,
        forced: Option<EdgePartitioner>,
    ) -> DataStream<O> {
        let mut state = self.env.state.borrow_mut();
        let id = state.add_node(
            kind,
            name.to_string(),
            NodeOperator::Operator(factory),
            Some(Port::<T>::shared()),
            Some(Port::<O>::shared()),
        );
        state.connect(&self.stream, id, 0, forced);
        drop(state);
        DataStream::new(self.env.clone(), StreamRef::Node(id))
    }

    /// Records a problem with the pipeline, reported when it is planned or run.
    pub(crate) fn record_error(&self, message: String) {
        self.env.state.borrow_mut().errors.push(message);
    }

    /// Adds an operator made from a user function: every subtask wraps its own copy of
    /// `function` with `wrap`.
    fn apply<O, F, Op>(&self, kind: &'static str, name: &str, function: F, wrap: fn(F) -> Op) -> DataStream<O>
    where
        O: Data,
        F: Clone + Send + 'static,
        Op: OneInputOperator<T, O>,
    {
        let prototype = Prototype::new(function);
        self.add_operator(kind, name, OperatorFactoryOf::shared(move || wrap(prototype.instance())), None)
    }

    fn add_sink_node(&self, sink: Arc<dyn Sink<T>>) -> DataStreamSink {
        let mut state = self.env.state.borrow_mut();
        let name = sink.name();
        let id = state.add_node(
            "Sink",
            name,
            NodeOperator::Sink(Arc::new(SinkFactoryOf(sink))),
            Some(Port::<T>::shared()),
            None,
        );
        state.connect(&self.stream, id, 0, None);
        drop(state);
        DataStreamSink { env: self.env.clone(), node: id }
    }

    /// Transforms every record. The closure's argument type is inferred, as with
    /// `Iterator::map`; a struct implementing [`MapFunction`] (a rich function, with
    /// `open`, `close` and the runtime context) goes to [`map_function`](Self::map_function).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// let out = env.from_iter(vec!["a".to_string(), "bb".into()]).map(|s| s.len()).execute_and_collect().unwrap();
    /// assert_eq!(out, vec![1, 2]);
    /// ```
    pub fn map<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        F: FnMut(T) -> O + Clone + Send + 'static,
    {
        self.map_function(function)
    }

    /// Transforms every record with a [`MapFunction`].
    ///
    /// ```
    /// # use spate::prelude::*;
    /// #[derive(Clone)]
    /// struct Tagged(u32);
    /// impl MapFunction<i64, (u32, i64)> for Tagged {
    ///     fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
    ///         self.0 = ctx.subtask_index();
    ///         Ok(())
    ///     }
    ///     fn map(&mut self, value: i64) -> FnResult<(u32, i64)> {
    ///         Ok((self.0, value))
    ///     }
    /// }
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// let out = env.from_sequence(0..2).map_function(Tagged(9)).execute_and_collect().unwrap();
    /// assert_eq!(out, vec![(0, 0), (0, 1)]);
    /// ```
    pub fn map_function<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        F: MapFunction<T, O> + Clone,
    {
        self.apply("Map", "Map", function, MapOperator::new)
    }

    /// Turns every record into any number of records: the closure returns an iterable.
    /// Structs implementing [`FlatMapFunction`] go to
    /// [`flat_map_function`](Self::flat_map_function).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// let words = env
    ///     .from_iter(vec!["to be".to_string(), "or".to_string()])
    ///     .flat_map(|line| line.split(' ').map(str::to_string).collect::<Vec<_>>())
    ///     .execute_and_collect()
    ///     .unwrap();
    /// assert_eq!(words, vec!["to", "be", "or"]);
    /// ```
    pub fn flat_map<O, It, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        It: IntoIterator<Item = O>,
        F: FnMut(T) -> It + Clone + Send + 'static,
    {
        self.flat_map_function(function)
    }

    /// Turns every record into any number of records with a [`FlatMapFunction`], which
    /// emits through a collector (no collection per record).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// #[derive(Clone)]
    /// struct Words;
    /// impl FlatMapFunction<String, String> for Words {
    ///     fn flat_map(&mut self, line: String, out: &mut Collector<'_, String>) -> FnResult {
    ///         line.split(' ').for_each(|w| out.collect(w.to_string()));
    ///         Ok(())
    ///     }
    /// }
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// let words = env.from_iter(vec!["to be".to_string()]).flat_map_function(Words).execute_and_collect().unwrap();
    /// assert_eq!(words, vec!["to", "be"]);
    /// ```
    pub fn flat_map_function<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        F: FlatMapFunction<T, O> + Clone,
    {
        self.apply("FlatMap", "Flat Map", function, FlatMapOperator::new)
    }

    /// Keeps the records for which the closure returns `true`. Structs implementing
    /// [`FilterFunction`] go to [`filter_function`](Self::filter_function).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// let even = env.from_sequence(0..6).filter(|x| x % 2 == 0).execute_and_collect().unwrap();
    /// assert_eq!(even, vec![0, 2, 4]);
    /// ```
    pub fn filter<F>(&self, function: F) -> DataStream<T>
    where
        F: FnMut(&T) -> bool + Clone + Send + 'static,
    {
        self.filter_function(function)
    }

    /// Keeps the records for which a [`FilterFunction`] returns `true`.
    ///
    /// ```
    /// # use spate::prelude::*;
    /// #[derive(Clone)]
    /// struct Below(i64);
    /// impl FilterFunction<i64> for Below {
    ///     fn filter(&mut self, value: &i64) -> FnResult<bool> {
    ///         Ok(*value < self.0)
    ///     }
    /// }
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// assert_eq!(env.from_sequence(0..6).filter_function(Below(2)).execute_and_collect().unwrap(), vec![0, 1]);
    /// ```
    pub fn filter_function<F>(&self, function: F) -> DataStream<T>
    where
        F: FilterFunction<T> + Clone,
    {
        self.apply("Filter", "Filter", function, FilterOperator::new)
    }

    /// Processes every record with a closure that sees its context (timestamp,
    /// watermark, side outputs) and emits any number of records. Structs implementing
    /// [`ProcessFunction`] go to [`process_function`](Self::process_function).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// let out = env
    ///     .from_iter(vec![3u32, 1])
    ///     .process(|x, _ctx, out| {
    ///         for i in 0..x {
    ///             out.collect(i);
    ///         }
    ///         Ok(())
    ///     })
    ///     .execute_and_collect()
    ///     .unwrap();
    /// assert_eq!(out, vec![0, 1, 2, 0]);
    /// ```
    pub fn process<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        F: FnMut(T, &mut ProcessContext<'_>, &mut Collector<'_, O>) -> FnResult + Clone + Send + 'static,
    {
        self.process_function(function)
    }

    /// Applies a [`ProcessFunction`]: any output, with access to timestamps and time.
    ///
    /// ```
    /// # use spate::prelude::*;
    /// #[derive(Clone)]
    /// struct Stamped;
    /// impl ProcessFunction<u32, (u32, Option<i64>)> for Stamped {
    ///     fn process_element(
    ///         &mut self,
    ///         x: u32,
    ///         ctx: &mut ProcessContext<'_>,
    ///         out: &mut Collector<'_, (u32, Option<i64>)>,
    ///     ) -> FnResult {
    ///         out.collect((x, ctx.timestamp()));
    ///         Ok(())
    ///     }
    /// }
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// assert_eq!(env.from_iter(vec![7u32]).process_function(Stamped).execute_and_collect().unwrap(), vec![(7, None)]);
    /// ```
    pub fn process_function<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        F: ProcessFunction<T, O> + Clone,
    {
        self.apply("Process", "Process", function, ProcessOperator::new)
    }

    /// The records the operator that produced this stream emitted to the side output
    /// `tag` (`ctx.output(&tag, value)` in a process function).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// let odd = OutputTag::<i64>::new("odd");
    /// let tag = odd.clone();
    /// let even = env.from_sequence(0..6).process(move |x, ctx, out| {
    ///     if x % 2 == 0 { out.collect(x) } else { ctx.output(&tag, x) }
    ///     Ok(())
    /// });
    /// even.side_output(&odd).map(|x| -x).print();
    /// assert_eq!(even.execute_and_collect().unwrap(), vec![0, 2, 4]);
    /// ```
    pub fn side_output<X: Data>(&self, tag: &OutputTag<X>) -> DataStream<X> {
        let Some(id) = self.stream.node() else {
            self.env.state.borrow_mut().errors.push(format!(
                "side_output('{}') applies to an operator, but was called on a partitioned or united stream",
                tag.name()
            ));
            return DataStream::new(self.env.clone(), StreamRef::Union(Vec::new()));
        };
        let mut state = self.env.state.borrow_mut();
        let type_id = std::any::TypeId::of::<X>();
        let conflict = match state.graph.nodes[id].side_outputs.iter().find(|s| s.id == tag.id()) {
            Some(existing) => existing.type_id != type_id,
            None => {
                state.graph.nodes[id].side_outputs.push(SidePort {
                    id: tag.id(),
                    name: tag.name().to_string(),
                    type_id,
                    port: Port::<X>::shared(),
                });
                false
            }
        };
        if conflict {
            state.errors.push(format!("the side output '{}' is used with two record types", tag.name()));
        }
        drop(state);
        DataStream::new(self.env.clone(), StreamRef::SideOutput(id, tag.id()))
    }

    /// Gives records event timestamps and the stream watermarks, from `strategy`.
    pub fn assign_timestamps_and_watermarks(&self, strategy: WatermarkStrategy<T>) -> DataStream<T> {
        let strategy = std::sync::Mutex::new(strategy);
        let factory = OperatorFactoryOf::shared(move || {
            let strategy = match strategy.lock() {
                Ok(s) => s.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            };
            TimestampsAndWatermarksOperator::new(strategy)
        });
        self.add_operator("Timestamps/Watermarks", "Timestamps/Watermarks", factory, None)
    }

    /// [`assign_timestamps_and_watermarks`](Self::assign_timestamps_and_watermarks) with
    /// the timestamp assigner given on its own, so that its argument types are inferred
    /// from the stream.
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// let stamped = env
    ///     .from_iter(vec![('a', 1_000i64), ('b', 2_000)])
    ///     .assign_timestamps(WatermarkStrategy::for_monotonous_timestamps(), |e, _| e.1);
    /// # let _ = stamped;
    /// ```
    pub fn assign_timestamps<F>(&self, strategy: WatermarkStrategy<T>, assigner: F) -> DataStream<T>
    where
        F: Fn(&T, spate_core::Timestamp) -> spate_core::Timestamp + Send + Sync + 'static,
    {
        self.assign_timestamps_and_watermarks(strategy.with_timestamp_assigner(assigner))
    }

    /// Partitions the stream by a key computed from each record: records with equal
    /// keys go to the same subtask, and keyed operators on the result keep state per
    /// key.
    ///
    /// The key selector must be deterministic: it is applied once to route a record and
    /// again where the record arrives. When the key is a field of the record, prefer
    /// [`key_by_ref`](Self::key_by_ref), which does not copy it.
    pub fn key_by<K, F>(&self, key_selector: F) -> KeyedStream<T, K>
    where
        K: Key,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        KeyedStream::new(self.clone(), Arc::new(ComputedKey(key_selector)))
    }

    /// Partitions the stream by a field of each record, read in place: the key is
    /// copied only when a new key enters state (no allocation per record for a string
    /// key).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// env.set_runtime_mode(RuntimeMode::Batch);
    /// let mut counts = env
    ///     .from_iter(vec![("a".to_string(), 1u64), ("b".into(), 1), ("a".into(), 1)])
    ///     .key_by_ref(|(word, _): &(String, u64)| word)
    ///     .sum(|(_, count): &mut (String, u64)| count)
    ///     .execute_and_collect()
    ///     .unwrap();
    /// counts.sort();
    /// assert_eq!(counts, vec![("a".to_string(), 2), ("b".to_string(), 1)]);
    /// ```
    pub fn key_by_ref<K, F>(&self, key_selector: F) -> KeyedStream<T, K>
    where
        K: Key,
        F: for<'a> Fn(&'a T) -> &'a K + Send + Sync + 'static,
    {
        KeyedStream::new(self.clone(), Arc::new(FieldKey(key_selector)))
    }

    /// This stream and `other` as one stream (no operator; both feed whatever consumes
    /// the union).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// let a = env.from_iter(vec![1]);
    /// let b = env.from_iter(vec![2]);
    /// let mut all = a.union(&b).execute_and_collect().unwrap();
    /// all.sort();
    /// assert_eq!(all, vec![1, 2]);
    /// ```
    pub fn union(&self, other: &DataStream<T>) -> DataStream<T> {
        let mut members = Vec::new();
        for s in [&self.stream, &other.stream] {
            match s {
                StreamRef::Union(inner) => members.extend(inner.iter().cloned()),
                single => members.push(single.clone()),
            }
        }
        DataStream::new(self.env.clone(), StreamRef::Union(members))
    }

    fn partitioned(&self, partitioner: EdgePartitioner) -> DataStream<T> {
        DataStream::new(self.env.clone(), StreamRef::Partitioned(Box::new(self.stream.clone()), partitioner))
    }

    /// Distributes records round robin over all subtasks of the next operator.
    pub fn rebalance(&self) -> DataStream<T> {
        self.partitioned(EdgePartitioner::Rebalance)
    }

    /// Distributes records round robin over a local subset of the next operator's
    /// subtasks (fewer connections than `rebalance`).
    pub fn rescale(&self) -> DataStream<T> {
        self.partitioned(EdgePartitioner::Rescale)
    }

    /// Sends every record to every subtask of the next operator.
    pub fn broadcast(&self) -> DataStream<T> {
        self.partitioned(EdgePartitioner::Broadcast)
    }

    /// Sends subtask `i`'s records to subtask `i` of the next operator (equal
    /// parallelism required).
    pub fn forward(&self) -> DataStream<T> {
        self.partitioned(EdgePartitioner::Forward)
    }

    /// Sends each record to a random subtask of the next operator.
    pub fn shuffle(&self) -> DataStream<T> {
        self.partitioned(EdgePartitioner::Shuffle)
    }

    /// Sends every record to the first subtask of the next operator.
    pub fn global(&self) -> DataStream<T> {
        self.partitioned(EdgePartitioner::Global)
    }

    /// Sends each record to the subtask `partitioner(key, n)` of the next operator's `n`.
    /// A result outside `0..n` fails the job.
    pub fn partition_custom<K, P, F>(&self, partitioner: P, key_selector: F) -> DataStream<T>
    where
        K: 'static,
        P: Fn(&K, usize) -> usize + Send + Sync + 'static,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let key_selector: KeySelector<T, K> = Arc::new(ComputedKey(key_selector));
        self.partitioned(EdgePartitioner::Custom(Arc::new(CustomSelectorFactory {
            key_selector,
            partitioner: Arc::new(partitioner),
        })))
    }

    fn with_node(self, what: &str, apply: impl FnOnce(&mut crate::graph::stream_graph::StreamNode)) -> Self {
        match self.stream.node() {
            Some(id) => apply(&mut self.env.state.borrow_mut().graph.nodes[id]),
            None => self
                .env
                .state
                .borrow_mut()
                .errors
                .push(format!("{what} applies to an operator, but was called on a partitioned or united stream")),
        }
        self
    }

    /// Names the operator that produced this stream (shown in plans, logs and errors).
    pub fn name(self, name: &str) -> Self {
        let name = name.to_string();
        self.with_node("name()", |n| n.name = name)
    }

    /// Sets the operator's uid: the name its state is stored under in checkpoints and
    /// savepoints. Set it on every stateful operator of a long-lived job.
    pub fn uid(self, uid: &str) -> Self {
        let uid = uid.to_string();
        self.with_node("uid()", |n| n.uid = Some(uid))
    }

    /// Sets the operator's parallelism.
    pub fn set_parallelism(self, parallelism: u32) -> Self {
        if parallelism == 0 {
            self.env.state.borrow_mut().errors.push("parallelism must be at least 1".into());
            return self;
        }
        self.with_node("set_parallelism()", |n| n.parallelism = Some(parallelism))
    }

    /// Sets the operator's max parallelism (its number of key groups).
    pub fn set_max_parallelism(self, max_parallelism: u32) -> Self {
        if max_parallelism == 0 || max_parallelism > spate_core::key_group::UPPER_BOUND_MAX_PARALLELISM {
            self.env.state.borrow_mut().errors.push(format!(
                "max parallelism must be in 1..={}, not {max_parallelism}",
                spate_core::key_group::UPPER_BOUND_MAX_PARALLELISM
            ));
            return self;
        }
        self.with_node("set_max_parallelism()", |n| n.max_parallelism = Some(max_parallelism))
    }

    /// Keeps the operator out of every chain: it runs as a task of its own.
    pub fn disable_chaining(self) -> Self {
        self.with_node("disable_chaining()", |n| n.chaining = ChainingStrategy::Never)
    }

    /// Starts a new chain at this operator (operators after it may still chain to it).
    pub fn start_new_chain(self) -> Self {
        self.with_node("start_new_chain()", |n| n.chaining = ChainingStrategy::Head)
    }

    /// Prints every record's `Debug` form to standard output; with parallelism > 1 each
    /// line starts with `N> `, N the subtask number (as Flink prints).
    pub fn print(&self) -> DataStreamSink
    where
        T: Debug,
    {
        self.add_sink_node(Arc::new(PrintSink::stdout()))
    }

    /// Prints every record to standard error.
    pub fn print_to_err(&self) -> DataStreamSink
    where
        T: Debug,
    {
        self.add_sink_node(Arc::new(PrintSink::stderr()))
    }

    /// Writes the stream to a [`Sink`], e.g. [`FileSink::text`](crate::FileSink::text).
    pub fn sink_to<S: Sink<T>>(&self, sink: S) -> DataStreamSink {
        self.add_sink_node(Arc::new(sink))
    }

    /// Consumes every record with a closure.
    ///
    /// ```
    /// # use spate::prelude::*;
    /// # use std::sync::{Arc, Mutex};
    /// let env = StreamEnv::local().unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let into = seen.clone();
    /// env.from_iter(vec![(1, "a".to_string())]).add_sink(move |r| into.lock().unwrap().push(r.1.len()));
    /// env.execute("sink").unwrap();
    /// assert_eq!(*seen.lock().unwrap(), vec![1]);
    /// ```
    pub fn add_sink<F>(&self, function: F) -> DataStreamSink
    where
        F: FnMut(T) + Clone + Send + 'static,
    {
        self.add_sink_function(function)
    }

    /// Consumes the stream with a [`SinkFunction`] (with `open`, `finish` and `close`).
    pub fn add_sink_function<F>(&self, function: F) -> DataStreamSink
    where
        F: SinkFunction<T> + Clone,
    {
        self.add_sink_node(Arc::new(FunctionSink::new(function)))
    }

    fn start_collect(&self) -> Result<Started<T>> {
        crate::execution::collect::start(&self.env, "Collect Job", |sink| {
            // One sink, as Flink's collect: one buffer for the program to read.
            // A fixed uid: its state (the unread results) is Spate's, not the user's.
            self.add_sink_node(sink).set_parallelism(1).uid("spate-collect-sink");
        })
    }

    /// Runs the pipeline and returns this stream's records, once the job finished (for
    /// tests and small programs; a job that does not end needs
    /// [`execute_and_collect_iter`](Self::execute_and_collect_iter)). The records of
    /// parallel subtasks arrive in no particular order. The program pulls them while
    /// the job runs, so the job's sink holds at most `collect-sink.batch-size.max`; on
    /// a cluster they come through the JobManager. A restart is invisible: with
    /// checkpoints the results go on from the checkpoint, without they start over.
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// let mut squares = env.from_sequence(1..4).map(|x| x * x).execute_and_collect().unwrap();
    /// squares.sort();
    /// assert_eq!(squares, vec![1, 4, 9]);
    /// ```
    pub fn execute_and_collect(&self) -> Result<Vec<T>> {
        let iterator = match self.start_collect()? {
            Started::Running(iterator) => iterator,
            Started::Replayed(Some(values)) => return Ok(values),
            Started::Replayed(None) => {
                return Err(crate::Error::Collect {
                    job: "Collect Job".into(),
                    reason: "the first run recorded no results of this job for the replay".into(),
                });
            }
        };
        let job = iterator.job_client().handle();
        let values = iterator.into_vec()?;
        if self.env.role() == crate::Role::Client {
            // Later jobs' workers replay `main`: they get these results too.
            use base64::Engine as _;
            let encoded = spate_core::codec::encode(&values).map_err(crate::Error::from)?;
            if let Ok(mut collected) = job.shared.collected.lock() {
                *collected = Some(base64::engine::general_purpose::STANDARD.encode(encoded));
            }
        }
        Ok(values)
    }

    /// Runs the pipeline and returns an iterator over this stream's records as they
    /// come, for jobs that do not end too; dropping it (or
    /// [`close`](CollectIterator::close)) cancels the job, as Flink's
    /// `executeAndCollect` iterator does. With checkpoints a record is handed out once
    /// a checkpoint after it completed, so a restart repeats none; without, records
    /// come at once, and a restart after some were handed out ends the iterator with an
    /// error. A worker's replay of `main` does not replay an iterator's records: build
    /// later jobs from [`execute_and_collect`](Self::execute_and_collect)'s.
    ///
    /// ```
    /// # use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// let first: Vec<i64> = env
    ///     .from_sequence(0..i64::MAX) // unbounded, for all practical purposes
    ///     .filter(|x| x % 2 == 0)
    ///     .execute_and_collect_iter()
    ///     .unwrap()
    ///     .take(3)
    ///     .collect::<spate::Result<_>>()
    ///     .unwrap();
    /// assert_eq!(first.len(), 3);
    /// ```
    pub fn execute_and_collect_iter(&self) -> Result<CollectIterator<T>> {
        match self.start_collect()? {
            Started::Running(iterator) => Ok(*iterator),
            Started::Replayed(_) => Err(crate::Error::Collect {
                job: "Collect Job".into(),
                reason: "a worker's replay of main does not replay an iterator's records: \
                         build later jobs from execute_and_collect's Vec"
                    .into(),
            }),
        }
    }
}

/// The end of a pipeline: a sink whose operator settings can still be changed.
pub struct DataStreamSink {
    env: StreamEnv,
    node: NodeId,
}

impl DataStreamSink {
    fn with_node(self, apply: impl FnOnce(&mut crate::graph::stream_graph::StreamNode)) -> Self {
        apply(&mut self.env.state.borrow_mut().graph.nodes[self.node]);
        self
    }

    /// Names the sink.
    pub fn name(self, name: &str) -> Self {
        let name = name.to_string();
        self.with_node(|n| n.name = name)
    }

    /// Sets the sink's uid.
    pub fn uid(self, uid: &str) -> Self {
        let uid = uid.to_string();
        self.with_node(|n| n.uid = Some(uid))
    }

    /// Sets the sink's parallelism.
    pub fn set_parallelism(self, parallelism: u32) -> Self {
        if parallelism == 0 {
            self.env.state.borrow_mut().errors.push("parallelism must be at least 1".into());
            return self;
        }
        self.with_node(|n| n.parallelism = Some(parallelism))
    }

    /// Keeps the sink out of every chain.
    pub fn disable_chaining(self) -> Self {
        self.with_node(|n| n.chaining = ChainingStrategy::Never)
    }
}
