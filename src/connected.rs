//! Connected streams: two streams of different types processed by one operator, and
//! broadcast streams whose records reach every subtask and fill broadcast state.

use std::hash::Hash;
use std::sync::Arc;

use spate_core::{Data, Key};
use spate_runtime::context::RuntimeContext;
use spate_runtime::functions::{
    BroadcastProcessFunction, CoFlatMapFunction, CoMapFunction, CoProcessFunction, FnResult,
    KeyedBroadcastProcessFunction, KeyedCoProcessFunction, KeyedContext,
};
use spate_runtime::operator::{
    BroadcastProcessOperator, CoFlatMapOperator, CoMapOperator, CoProcessOperator, DeclareBroadcastStates,
    KeyedBroadcastProcessOperator, KeyedCoProcessOperator, TwoInputOperator,
};
use spate_runtime::output::Collector;
use spate_runtime::state::{BroadcastStates, MapStateDescriptor};

use crate::datastream::DataStream;
use crate::graph::factory::{Prototype, TwoInputFactoryOf};
use crate::graph::port::Port;
use crate::graph::stream_graph::{EdgePartitioner, NodeOperator};
use crate::keyed_stream::KeyedStream;

/// What `connect` accepts: another stream, or a broadcast stream.
pub trait ConnectTo<T> {
    /// What connecting gives.
    type Connected;
    /// Connects `first` with `self`.
    fn connect_to(&self, first: &DataStream<T>) -> Self::Connected;
}

/// What `connect` on a keyed stream accepts: a stream keyed by the same key type, or a
/// broadcast stream.
pub trait KeyedConnectTo<T, K> {
    /// What connecting gives.
    type Connected;
    /// Connects `first` with `self`.
    fn connect_to(&self, first: &KeyedStream<T, K>) -> Self::Connected;
}

/// Adds a two-input operator reading `first` into input 1 and `second` into input 2.
fn two_input<T1: Data, T2: Data, O: Data, Op, M>(
    first: (&DataStream<T1>, Option<EdgePartitioner>),
    second: (&DataStream<T2>, Option<EdgePartitioner>),
    kind: &'static str,
    name: &str,
    make: M,
) -> DataStream<O>
where
    Op: TwoInputOperator<T1, T2, O>,
    M: Fn() -> Op + Send + Sync + 'static,
{
    let env = first.0.env().clone();
    let mut state = env.state.borrow_mut();
    let factory = TwoInputFactoryOf::shared(make);
    let id = state.add_node(kind, name.to_string(), NodeOperator::TwoInput(factory), None, Some(Port::<O>::shared()));
    state.connect(first.0.stream_ref(), id, 0, first.1);
    state.connect(second.0.stream_ref(), id, 1, second.1);
    drop(state);
    DataStream::new(env, crate::graph::stream_graph::StreamRef::Node(id))
}

/// Two streams connected, for a co-function (Flink's `ConnectedStreams`).
pub struct ConnectedStreams<T1, T2> {
    first: DataStream<T1>,
    second: DataStream<T2>,
}

impl<T1: Data, T2: Data> ConnectTo<T1> for DataStream<T2> {
    type Connected = ConnectedStreams<T1, T2>;
    fn connect_to(&self, first: &DataStream<T1>) -> ConnectedStreams<T1, T2> {
        ConnectedStreams { first: first.clone(), second: self.clone() }
    }
}

impl<T1: Data, T2: Data> ConnectedStreams<T1, T2> {
    /// Maps the records of both inputs to one output type.
    pub fn map<O: Data, F: CoMapFunction<T1, T2, O> + Clone>(&self, function: F) -> DataStream<O> {
        let prototype = Prototype::new(function);
        two_input((&self.first, None), (&self.second, None), "CoMap", "Co-Map", move || {
            CoMapOperator::new(prototype.instance())
        })
    }

    /// Turns the records of both inputs into any number of output records.
    pub fn flat_map<O: Data, F: CoFlatMapFunction<T1, T2, O> + Clone>(&self, function: F) -> DataStream<O> {
        let prototype = Prototype::new(function);
        two_input((&self.first, None), (&self.second, None), "CoFlatMap", "Co-Flat Map", move || {
            CoFlatMapOperator::new(prototype.instance())
        })
    }

    /// Applies a [`CoProcessFunction`].
    pub fn process<O: Data, F: CoProcessFunction<T1, T2, O> + Clone>(&self, function: F) -> DataStream<O> {
        let prototype = Prototype::new(function);
        two_input((&self.first, None), (&self.second, None), "CoProcess", "Co-Process", move || {
            CoProcessOperator::new(prototype.instance())
        })
    }

    /// Keys both inputs by the same key type: records with equal keys meet in the same
    /// subtask and share keyed state.
    pub fn key_by<K, F1, F2>(&self, key1: F1, key2: F2) -> KeyedConnectedStreams<T1, T2, K>
    where
        K: Key,
        F1: Fn(&T1) -> K + Send + Sync + 'static,
        F2: Fn(&T2) -> K + Send + Sync + 'static,
    {
        KeyedConnectedStreams { first: self.first.key_by(key1), second: self.second.key_by(key2) }
    }
}

/// Two streams keyed by the same key type, connected (Flink's keyed
/// `ConnectedStreams`).
pub struct KeyedConnectedStreams<T1, T2, K> {
    first: KeyedStream<T1, K>,
    second: KeyedStream<T2, K>,
}

impl<T1: Data, T2: Data, K: Key> KeyedConnectTo<T1, K> for KeyedStream<T2, K> {
    type Connected = KeyedConnectedStreams<T1, T2, K>;
    fn connect_to(&self, first: &KeyedStream<T1, K>) -> KeyedConnectedStreams<T1, T2, K> {
        KeyedConnectedStreams { first: first.clone(), second: self.clone() }
    }
}

impl<T1: Data, T2: Data, K: Key> KeyedConnectedStreams<T1, T2, K> {
    /// Applies a [`KeyedCoProcessFunction`]: keyed state and timers shared by both
    /// inputs.
    pub fn process<O: Data, F: KeyedCoProcessFunction<K, T1, T2, O> + Clone>(&self, function: F) -> DataStream<O> {
        let prototype = Prototype::new(function);
        let (key1, key2) = (self.first.key_selector().clone(), self.second.key_selector().clone());
        two_input(
            (self.first.input(), Some(self.first.partitioner())),
            (self.second.input(), Some(self.second.partitioner())),
            "KeyedCoProcess",
            "Keyed Co-Process",
            move || KeyedCoProcessOperator::new(key1.clone(), key2.clone(), prototype.instance()),
        )
    }

    /// Maps the records of both inputs, with keyed state available to a rich
    /// co-map function.
    pub fn map<O: Data, F: CoMapFunction<T1, T2, O> + Clone>(&self, function: F) -> DataStream<O> {
        self.process(KeyedCoMap(function))
    }

    /// Flat-maps the records of both inputs, with keyed state.
    pub fn flat_map<O: Data, F: CoFlatMapFunction<T1, T2, O> + Clone>(&self, function: F) -> DataStream<O> {
        self.process(KeyedCoFlatMap(function))
    }
}

/// A co-map function run with the current key set.
#[derive(Clone)]
struct KeyedCoMap<F>(F);

impl<K, I1, I2, O, F: CoMapFunction<I1, I2, O>> KeyedCoProcessFunction<K, I1, I2, O> for KeyedCoMap<F> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.0.open(ctx)
    }
    fn process_element1(&mut self, value: I1, _: &mut KeyedContext<'_, K>, out: &mut Collector<'_, O>) -> FnResult {
        out.collect(self.0.map1(value)?);
        Ok(())
    }
    fn process_element2(&mut self, value: I2, _: &mut KeyedContext<'_, K>, out: &mut Collector<'_, O>) -> FnResult {
        out.collect(self.0.map2(value)?);
        Ok(())
    }
    fn close(&mut self) -> FnResult {
        self.0.close()
    }
}

/// A co-flat-map function run with the current key set.
#[derive(Clone)]
struct KeyedCoFlatMap<F>(F);

impl<K, I1, I2, O, F: CoFlatMapFunction<I1, I2, O>> KeyedCoProcessFunction<K, I1, I2, O> for KeyedCoFlatMap<F> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.0.open(ctx)
    }
    fn process_element1(&mut self, value: I1, _: &mut KeyedContext<'_, K>, out: &mut Collector<'_, O>) -> FnResult {
        self.0.flat_map1(value, out)
    }
    fn process_element2(&mut self, value: I2, _: &mut KeyedContext<'_, K>, out: &mut Collector<'_, O>) -> FnResult {
        self.0.flat_map2(value, out)
    }
    fn close(&mut self) -> FnResult {
        self.0.close()
    }
}

/// A stream whose records go to every subtask of the operator it is connected to, with
/// the broadcast states that operator keeps (Flink's `BroadcastStream`).
pub struct BroadcastStream<T> {
    stream: DataStream<T>,
    declare: Vec<DeclareBroadcastStates>,
}

impl<T> Clone for BroadcastStream<T> {
    fn clone(&self) -> Self {
        BroadcastStream { stream: self.stream.clone(), declare: self.declare.clone() }
    }
}

impl<T: Data> BroadcastStream<T> {
    pub(crate) fn new(stream: DataStream<T>) -> Self {
        BroadcastStream { stream, declare: Vec::new() }
    }

    /// Declares a further broadcast state.
    pub fn with_state<K, V>(mut self, descriptor: &MapStateDescriptor<K, V>) -> Self
    where
        K: Eq + Hash + Send + Sync + spate_core::StateValue,
        V: Send + Sync + spate_core::StateValue,
    {
        let descriptor = descriptor.clone();
        self.declare.push(Arc::new(move |states: &mut BroadcastStates| states.declare(&descriptor)));
        self
    }

    fn declarations(&self) -> DeclareBroadcastStates {
        let all = self.declare.clone();
        Arc::new(move |states: &mut BroadcastStates| all.iter().for_each(|declare| declare(states)))
    }
}

/// A stream connected to a broadcast stream.
pub struct BroadcastConnectedStream<T1, T2> {
    first: DataStream<T1>,
    broadcast: BroadcastStream<T2>,
}

impl<T1: Data, T2: Data> ConnectTo<T1> for BroadcastStream<T2> {
    type Connected = BroadcastConnectedStream<T1, T2>;
    fn connect_to(&self, first: &DataStream<T1>) -> BroadcastConnectedStream<T1, T2> {
        BroadcastConnectedStream { first: first.clone(), broadcast: self.clone() }
    }
}

impl<T1: Data, T2: Data> BroadcastConnectedStream<T1, T2> {
    /// Applies a [`BroadcastProcessFunction`].
    pub fn process<O: Data, F: BroadcastProcessFunction<T1, T2, O> + Clone>(&self, function: F) -> DataStream<O> {
        let prototype = Prototype::new(function);
        let declare = self.broadcast.declarations();
        two_input(
            (&self.first, None),
            (&self.broadcast.stream, Some(EdgePartitioner::Broadcast)),
            "BroadcastProcess",
            "Broadcast Process",
            move || BroadcastProcessOperator::new(prototype.instance(), declare.clone()),
        )
    }
}

/// A keyed stream connected to a broadcast stream.
pub struct KeyedBroadcastConnectedStream<T1, T2, K> {
    first: KeyedStream<T1, K>,
    broadcast: BroadcastStream<T2>,
}

impl<T1: Data, T2: Data, K: Key> KeyedConnectTo<T1, K> for BroadcastStream<T2> {
    type Connected = KeyedBroadcastConnectedStream<T1, T2, K>;
    fn connect_to(&self, first: &KeyedStream<T1, K>) -> KeyedBroadcastConnectedStream<T1, T2, K> {
        KeyedBroadcastConnectedStream { first: first.clone(), broadcast: self.clone() }
    }
}

impl<T1: Data, T2: Data, K: Key> KeyedBroadcastConnectedStream<T1, T2, K> {
    /// Applies a [`KeyedBroadcastProcessFunction`].
    pub fn process<O: Data, F: KeyedBroadcastProcessFunction<K, T1, T2, O> + Clone>(
        &self,
        function: F,
    ) -> DataStream<O> {
        let prototype = Prototype::new(function);
        let declare = self.broadcast.declarations();
        let key_selector = self.first.key_selector().clone();
        two_input(
            (self.first.input(), Some(self.first.partitioner())),
            (&self.broadcast.stream, Some(EdgePartitioner::Broadcast)),
            "KeyedBroadcastProcess",
            "Keyed Broadcast Process",
            move || KeyedBroadcastProcessOperator::new(key_selector.clone(), prototype.instance(), declare.clone()),
        )
    }
}
