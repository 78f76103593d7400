//! `WindowedStream` and `AllWindowedStream`: windows over a keyed or a whole stream.

use std::time::Duration;

use spate_core::{Data, Key};
use spate_runtime::context::RuntimeContext;
use spate_runtime::functions::{AggregateFunction, FnResult, ReduceFunction};
use spate_runtime::output::{Collector, OutputTag};
use spate_runtime::timer::TimeDomain;
use spate_runtime::window::{
    AggregateContents, EmitElements, EmitWith, ListContents, ProcessWindowFunction, ReduceContents, Trigger,
    WindowAssigner, WindowContents, WindowContext, WindowEmit,
};

use spate_runtime::operator::{SlicedWindowOperator, WindowOperator, WindowSpec};

use crate::datastream::DataStream;
use crate::graph::factory::{OperatorFactoryOf, Prototype};
use crate::keyed_stream::KeyedStream;

/// A keyed stream cut into windows (Flink's `WindowedStream`): set a trigger, an
/// allowed lateness and a late-data side output, then say what each window emits with
/// `reduce`, `aggregate` or `process`.
///
/// ```
/// # use spate::prelude::*;
/// # use std::time::Duration;
/// let env = StreamEnv::local().unwrap();
/// env.set_parallelism(1);
/// let mut counts = env
///     .from_iter(vec![('a', 1_000i64), ('b', 2_000), ('a', 4_000), ('a', 6_000)])
///     .assign_timestamps_and_watermarks(
///         WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|e: &(char, i64), _| e.1),
///     )
///     .map(|(word, _)| (word.to_string(), 1u64))
///     .key_by(|(word, _)| word.clone())
///     .window(TumblingEventTimeWindows::of(Duration::from_secs(5)))
///     .reduce(|a, b| (a.0, a.1 + b.1))
///     .execute_and_collect()
///     .unwrap();
/// counts.sort();
/// assert_eq!(counts, vec![("a".into(), 1), ("a".into(), 2), ("b".into(), 1)]);
/// ```
pub struct WindowedStream<T, K, A, G> {
    input: KeyedStream<T, K>,
    spec: WindowSpec<T, A, G>,
    lateness_set: bool,
}

impl<T: Data, K: Key> KeyedStream<T, K> {
    /// Cuts the stream of each key into the windows of `assigner` (tumbling, sliding,
    /// session or global), with the assigner's default trigger.
    pub fn window<A: WindowAssigner<T>>(&self, assigner: A) -> WindowedStream<T, K, A, A::DefaultTrigger> {
        let trigger = assigner.default_trigger();
        WindowedStream {
            input: self.clone(),
            spec: WindowSpec { assigner, trigger, allowed_lateness: 0, late_tag: None },
            lateness_set: false,
        }
    }
}

impl<T, K, A, G> WindowedStream<T, K, A, G>
where
    T: Data,
    K: Key,
    A: WindowAssigner<T>,
    G: Trigger<T, A::W>,
{
    /// Replaces the default trigger.
    pub fn trigger<G2: Trigger<T, A::W>>(self, trigger: G2) -> WindowedStream<T, K, A, G2> {
        let WindowSpec { assigner, allowed_lateness, late_tag, .. } = self.spec;
        WindowedStream {
            input: self.input,
            spec: WindowSpec { assigner, trigger, allowed_lateness, late_tag },
            lateness_set: self.lateness_set,
        }
    }

    /// Keeps windows for `lateness` of event time after their end: records that come
    /// that late update the window and fire it again (event-time windows only).
    pub fn allowed_lateness(mut self, lateness: Duration) -> Self {
        self.spec.allowed_lateness = i64::try_from(lateness.as_millis()).unwrap_or(i64::MAX);
        self.lateness_set = !lateness.is_zero();
        self
    }

    /// Sends records that come after their windows are gone to the side output `tag`
    /// (read it with `side_output(&tag)` on the stream this returns); without it they
    /// are dropped and counted in `numLateRecordsDropped`.
    pub fn side_output_late_data(mut self, tag: &OutputTag<T>) -> Self {
        self.spec.late_tag = Some(tag.clone());
        self
    }

    /// Reduces each window's records to one as they arrive (in arrival order, as in
    /// Flink), and emits it. The closure's argument types are inferred; structs go to
    /// [`reduce_function`](Self::reduce_function), which is also the way to declare a
    /// function [`Commutative`](spate_runtime::functions::Commutative) so that sliding
    /// windows share pre-aggregated slices.
    pub fn reduce<F>(&self, function: F) -> DataStream<T>
    where
        F: FnMut(T, T) -> T + Clone + Send + 'static,
    {
        self.reduce_function(function)
    }

    /// Reduces each window's records with a [`ReduceFunction`].
    ///
    /// ```
    /// # use spate::prelude::*;
    /// # use std::time::Duration;
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// let mut sums = env
    ///     .from_iter(vec![(1u8, 500i64, 2u64), (1, 1_500, 3)])
    ///     .assign_timestamps_and_watermarks(
    ///         WatermarkStrategy::<(u8, i64, u64)>::for_monotonous_timestamps().with_timestamp_assigner(|r, _| r.1),
    ///     )
    ///     .key_by(|r| r.0)
    ///     .window(SlidingEventTimeWindows::of(Duration::from_secs(2), Duration::from_secs(1)))
    ///     // A sum does not depend on the order of its input: declared so, sliding windows
    ///     // add each record to one slice instead of to every window that holds it.
    ///     .reduce_function(Commutative(|a: (u8, i64, u64), b: (u8, i64, u64)| (a.0, a.1.max(b.1), a.2 + b.2)))
    ///     .execute_and_collect()
    ///     .unwrap();
    /// sums.sort();
    /// assert_eq!(sums, vec![(1, 500, 2), (1, 1_500, 3), (1, 1_500, 5)]);
    /// ```
    pub fn reduce_function<F>(&self, function: F) -> DataStream<T>
    where
        F: ReduceFunction<T> + Clone,
    {
        let prototype = Prototype::new(function);
        self.build("WindowReduce", "Window(Reduce)", move || ReduceContents(prototype.instance()), || EmitElements)
    }

    /// Aggregates each window's records as they arrive, and emits the result.
    pub fn aggregate<ACC, OUT, F>(&self, function: F) -> DataStream<OUT>
    where
        ACC: spate_core::StateValue + Send,
        OUT: Data,
        F: AggregateFunction<T, ACC, OUT> + Clone,
    {
        let prototype = Prototype::new(function);
        self.build(
            "WindowAggregate",
            "Window(Aggregate)",
            move || AggregateContents::new(prototype.instance()),
            || EmitElements,
        )
    }

    /// Keeps each window's records and hands them, in arrival order, to a closure of the
    /// key, the window's context, the records and a collector when the window fires.
    /// Structs implementing [`ProcessWindowFunction`] go to
    /// [`process_function`](Self::process_function).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// # use std::time::Duration;
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// let out = env
    ///     .from_iter(vec![('a', 1_000i64), ('a', 2_000)])
    ///     .assign_timestamps_and_watermarks(
    ///         WatermarkStrategy::<(char, i64)>::for_monotonous_timestamps().with_timestamp_assigner(|e, _| e.1),
    ///     )
    ///     .key_by(|e| e.0)
    ///     .window(TumblingEventTimeWindows::of(Duration::from_secs(5)))
    ///     .process(|key, ctx, events, out| {
    ///         out.collect(format!("{key} {} {}", ctx.window().start, events.len()));
    ///         Ok(())
    ///     })
    ///     .execute_and_collect()
    ///     .unwrap();
    /// assert_eq!(out, vec!["a 0 2"]);
    /// ```
    pub fn process<OUT, F>(&self, function: F) -> DataStream<OUT>
    where
        OUT: Data,
        F: FnMut(&K, &mut WindowContext<'_, A::W>, &[T], &mut Collector<'_, OUT>) -> FnResult + Clone + Send + 'static,
    {
        self.process_function(function)
    }

    /// Keeps each window's records and hands them to a [`ProcessWindowFunction`] when
    /// the window fires.
    pub fn process_function<OUT, F>(&self, function: F) -> DataStream<OUT>
    where
        OUT: Data,
        F: ProcessWindowFunction<T, OUT, K, A::W> + Clone,
    {
        let prototype = Prototype::new(function);
        self.build("WindowProcess", "Window(Process)", ListContents::default, move || EmitWith(prototype.instance()))
    }

    /// Reduces each window's records as they arrive, and hands the result to a closure
    /// (which sees the window) when the window fires (Flink's two-argument `reduce`).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// # use std::time::Duration;
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(1);
    /// let out = env
    ///     .from_iter(vec![('a', 1_000i64), ('a', 2_000)])
    ///     .assign_timestamps_and_watermarks(
    ///         WatermarkStrategy::<(char, i64)>::for_monotonous_timestamps().with_timestamp_assigner(|e, _| e.1),
    ///     )
    ///     .key_by(|e| e.0)
    ///     .window(TumblingEventTimeWindows::of(Duration::from_secs(5)))
    ///     .reduce_with(|a, b| (a.0, a.1.max(b.1)), |_, ctx, latest, out| {
    ///         out.collect((ctx.window().end, latest[0].1));
    ///         Ok(())
    ///     })
    ///     .execute_and_collect()
    ///     .unwrap();
    /// assert_eq!(out, vec![(5_000, 2_000)]);
    /// ```
    pub fn reduce_with<OUT, R, F>(&self, reduce: R, function: F) -> DataStream<OUT>
    where
        OUT: Data,
        R: FnMut(T, T) -> T + Clone + Send + 'static,
        F: FnMut(&K, &mut WindowContext<'_, A::W>, &[T], &mut Collector<'_, OUT>) -> FnResult + Clone + Send + 'static,
    {
        self.reduce_with_function(reduce, function)
    }

    /// Reduces each window's records as they arrive, and hands the result to a
    /// [`ProcessWindowFunction`] when the window fires.
    pub fn reduce_with_function<OUT, R, F>(&self, reduce: R, function: F) -> DataStream<OUT>
    where
        OUT: Data,
        R: ReduceFunction<T> + Clone,
        F: ProcessWindowFunction<T, OUT, K, A::W> + Clone,
    {
        let (reduce, function) = (Prototype::new(reduce), Prototype::new(function));
        self.build(
            "WindowReduce",
            "Window(Reduce, Process)",
            move || ReduceContents(reduce.instance()),
            move || EmitWith(function.instance()),
        )
    }

    /// Aggregates each window's records as they arrive, and hands the result to a
    /// closure (which sees the window) when the window fires (Flink's two-argument
    /// `aggregate`).
    pub fn aggregate_with<ACC, V, OUT, AF, F>(&self, aggregate: AF, function: F) -> DataStream<OUT>
    where
        ACC: spate_core::StateValue + Send,
        V: 'static,
        OUT: Data,
        AF: AggregateFunction<T, ACC, V> + Clone,
        F: FnMut(&K, &mut WindowContext<'_, A::W>, &[V], &mut Collector<'_, OUT>) -> FnResult + Clone + Send + 'static,
    {
        self.aggregate_with_function(aggregate, function)
    }

    /// Aggregates each window's records as they arrive, and hands the result to a
    /// [`ProcessWindowFunction`] when the window fires.
    pub fn aggregate_with_function<ACC, V, OUT, AF, F>(&self, aggregate: AF, function: F) -> DataStream<OUT>
    where
        ACC: spate_core::StateValue + Send,
        V: 'static,
        OUT: Data,
        AF: AggregateFunction<T, ACC, V> + Clone,
        F: ProcessWindowFunction<V, OUT, K, A::W> + Clone,
    {
        let (aggregate, function) = (Prototype::new(aggregate), Prototype::new(function));
        self.build(
            "WindowAggregate",
            "Window(Aggregate, Process)",
            move || AggregateContents::new(aggregate.instance()),
            move || EmitWith(function.instance()),
        )
    }

    /// Why this windowed stream cannot run, if it cannot.
    fn problem(&self) -> Option<String> {
        if let Err(e) = self.spec.assigner.check() {
            return Some(e.to_string());
        }
        if self.spec.assigner.is_merging() && !self.spec.trigger.can_merge() {
            return Some("the trigger cannot be used with merging (session) windows".into());
        }
        if self.lateness_set && !self.spec.assigner.is_event_time() {
            return Some("allowed lateness applies to event-time windows only".into());
        }
        None
    }

    fn build<C, E, OUT, MC, ME>(&self, kind: &'static str, name: &str, contents: MC, emit: ME) -> DataStream<OUT>
    where
        OUT: Data,
        C: WindowContents<T>,
        E: WindowEmit<K, A::W, C::Elem, OUT>,
        MC: Fn() -> C + Send + Sync + 'static,
        ME: Fn() -> E + Send + Sync + 'static,
    {
        if let Some(problem) = self.problem() {
            self.input.input().record_error(format!("{name}: {problem}"));
        }
        let key_selector = self.input.key_selector().clone();
        let domain = |event_time: bool| if event_time { TimeDomain::EventTime } else { TimeDomain::ProcessingTime };
        // Slices serve the assigner's own trigger; a window of several slices also needs
        // contents that may be combined in any order. Everything else is kept per key and
        // window, in arrival order, as Flink does.
        let commutative = contents().is_commutative();
        let slicing = self
            .spec
            .assigner
            .slicing()
            .filter(|s| self.spec.trigger.fires_at_window_end() == Some(domain(s.event_time)))
            .filter(|s| s.slice() == s.size || commutative);
        let (allowed_lateness, late_tag) = (self.spec.allowed_lateness, self.spec.late_tag.clone());
        let spec = Prototype::new(self.spec.clone());
        let factory = match slicing {
            Some(slicing) => OperatorFactoryOf::shared(move || {
                SlicedWindowOperator::<K, T, A::W, C, E, OUT>::new(
                    key_selector.clone(),
                    slicing,
                    allowed_lateness,
                    late_tag.clone(),
                    contents(),
                    emit(),
                )
            }),
            None => OperatorFactoryOf::shared(move || {
                WindowOperator::new(key_selector.clone(), spec.instance(), contents(), emit())
            }),
        };
        self.input.input().add_operator(kind, name, factory, Some(self.input.partitioner()))
    }
}

/// Emits the results of a window of a whole stream from its elements (Flink's
/// `ProcessAllWindowFunction`).
pub trait ProcessAllWindowFunction<IN, OUT, W: spate_runtime::window::Window>: Send + 'static {
    /// Called once before the first window.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Emits the results of one window.
    fn process(&mut self, ctx: &mut WindowContext<'_, W>, elements: &[IN], out: &mut Collector<'_, OUT>) -> FnResult;
    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

impl<F, IN, OUT, W> ProcessAllWindowFunction<IN, OUT, W> for F
where
    W: spate_runtime::window::Window,
    F: FnMut(&mut WindowContext<'_, W>, &[IN], &mut Collector<'_, OUT>) -> FnResult + Send + 'static,
{
    fn process(&mut self, ctx: &mut WindowContext<'_, W>, elements: &[IN], out: &mut Collector<'_, OUT>) -> FnResult {
        self(ctx, elements, out)
    }
}

/// A [`ProcessAllWindowFunction`] as a window function of the one key `()`.
#[derive(Clone)]
struct AllWindows<F>(F);

impl<IN, OUT, W, F> ProcessWindowFunction<IN, OUT, (), W> for AllWindows<F>
where
    W: spate_runtime::window::Window,
    F: ProcessAllWindowFunction<IN, OUT, W>,
{
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.0.open(ctx)
    }

    fn process(
        &mut self,
        _: &(),
        ctx: &mut WindowContext<'_, W>,
        elements: &[IN],
        out: &mut Collector<'_, OUT>,
    ) -> FnResult {
        self.0.process(ctx, elements, out)
    }

    fn close(&mut self) -> FnResult {
        self.0.close()
    }
}

/// A whole (non-keyed) stream cut into windows, computed by one subtask (Flink's
/// `AllWindowedStream`).
pub struct AllWindowedStream<T, A, G> {
    windows: WindowedStream<T, (), A, G>,
}

impl<T: Data> DataStream<T> {
    /// Cuts the whole stream into the windows of `assigner`; the windows are computed
    /// with parallelism 1.
    pub fn window_all<A: WindowAssigner<T>>(&self, assigner: A) -> AllWindowedStream<T, A, A::DefaultTrigger> {
        AllWindowedStream { windows: self.key_by(|_: &T| ()).window(assigner) }
    }
}

impl<T, A, G> AllWindowedStream<T, A, G>
where
    T: Data,
    A: WindowAssigner<T>,
    G: Trigger<T, A::W>,
{
    /// See [`WindowedStream::trigger`].
    pub fn trigger<G2: Trigger<T, A::W>>(self, trigger: G2) -> AllWindowedStream<T, A, G2> {
        AllWindowedStream { windows: self.windows.trigger(trigger) }
    }

    /// See [`WindowedStream::allowed_lateness`].
    pub fn allowed_lateness(self, lateness: Duration) -> Self {
        AllWindowedStream { windows: self.windows.allowed_lateness(lateness) }
    }

    /// See [`WindowedStream::side_output_late_data`].
    pub fn side_output_late_data(self, tag: &OutputTag<T>) -> Self {
        AllWindowedStream { windows: self.windows.side_output_late_data(tag) }
    }

    /// See [`WindowedStream::reduce`].
    pub fn reduce<F>(&self, function: F) -> DataStream<T>
    where
        F: FnMut(T, T) -> T + Clone + Send + 'static,
    {
        self.reduce_function(function)
    }

    /// See [`WindowedStream::reduce_function`].
    pub fn reduce_function<F: ReduceFunction<T> + Clone>(&self, function: F) -> DataStream<T> {
        self.windows.reduce_function(function).set_parallelism(1)
    }

    /// See [`WindowedStream::aggregate`].
    pub fn aggregate<ACC, OUT, F>(&self, function: F) -> DataStream<OUT>
    where
        ACC: spate_core::StateValue + Send,
        OUT: Data,
        F: AggregateFunction<T, ACC, OUT> + Clone,
    {
        self.windows.aggregate(function).set_parallelism(1)
    }

    /// Keeps each window's records and hands them to a closure of the window's context,
    /// the records and a collector when it fires.
    ///
    /// ```
    /// # use spate::prelude::*;
    /// # use std::time::Duration;
    /// let env = StreamEnv::local().unwrap();
    /// let mut counts = env
    ///     .from_iter(vec![1_000i64, 2_000, 7_000])
    ///     .assign_timestamps_and_watermarks(
    ///         WatermarkStrategy::<i64>::for_monotonous_timestamps().with_timestamp_assigner(|t, _| *t),
    ///     )
    ///     .window_all(TumblingEventTimeWindows::of(Duration::from_secs(5)))
    ///     .process(|ctx, events, out| {
    ///         out.collect((ctx.window().start, events.len()));
    ///         Ok(())
    ///     })
    ///     .execute_and_collect()
    ///     .unwrap();
    /// counts.sort();
    /// assert_eq!(counts, vec![(0, 2), (5_000, 1)]);
    /// ```
    pub fn process<OUT, F>(&self, function: F) -> DataStream<OUT>
    where
        OUT: Data,
        F: FnMut(&mut WindowContext<'_, A::W>, &[T], &mut Collector<'_, OUT>) -> FnResult + Clone + Send + 'static,
    {
        self.process_function(function)
    }

    /// Keeps each window's records and hands them to a [`ProcessAllWindowFunction`]
    /// when it fires.
    pub fn process_function<OUT, F>(&self, function: F) -> DataStream<OUT>
    where
        OUT: Data,
        F: ProcessAllWindowFunction<T, OUT, A::W> + Clone,
    {
        self.windows.process_function(AllWindows(function)).set_parallelism(1)
    }
}
