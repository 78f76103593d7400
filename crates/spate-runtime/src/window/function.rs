//! What a window emits: the user's [`ProcessWindowFunction`], and the runtime's pieces
//! that every window operator combines — how a window's contents are kept
//! ([`WindowContents`]) and how they become output ([`WindowEmit`]).

use std::marker::PhantomData;
use std::rc::Rc;

use spate_core::Timestamp;

use super::Window;
use crate::context::RuntimeContext;
use crate::functions::{AggregateFunction, FnResult, ReduceFunction};
use crate::output::{Collector, OutputTag, SideOutputs};
use crate::state::{KeyedStateStore, StateError, StateScope};

/// Emits the results of a window from all its elements (Flink's
/// `ProcessWindowFunction`). Combined with `reduce` or `aggregate`, it gets the one
/// pre-aggregated value instead, and the window keeps only that.
pub trait ProcessWindowFunction<IN, OUT, K, W: Window>: Send + 'static {
    /// Called once per subtask before the first window; declare per-key state here.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }

    /// Emits the results of `window` of `key`.
    fn process(
        &mut self,
        key: &K,
        ctx: &mut WindowContext<'_, W>,
        elements: &[IN],
        out: &mut Collector<'_, OUT>,
    ) -> FnResult;

    /// The window is dropped for good (its state in
    /// [`window_state`](WindowContext::window_state) is dropped with it).
    fn clear(&mut self, _key: &K, _ctx: &mut WindowContext<'_, W>) -> FnResult {
        Ok(())
    }

    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

impl<F, IN, OUT, K, W> ProcessWindowFunction<IN, OUT, K, W> for F
where
    W: Window,
    F: FnMut(&K, &mut WindowContext<'_, W>, &[IN], &mut Collector<'_, OUT>) -> FnResult + Send + 'static,
{
    fn process(
        &mut self,
        key: &K,
        ctx: &mut WindowContext<'_, W>,
        elements: &[IN],
        out: &mut Collector<'_, OUT>,
    ) -> FnResult {
        self(key, ctx, elements, out)
    }
}

/// Gives a window function its state scopes on demand: resolving the current key (and
/// key and window) costs a lookup, which windows whose function keeps no state skip.
pub trait WindowStateAccess {
    /// The scope of the current key and window, made current.
    fn window_scope(&mut self) -> Result<&Rc<StateScope>, StateError>;
    /// The scope of the current key, made current.
    fn global_scope(&mut self) -> Result<&Rc<StateScope>, StateError>;
}

/// What a [`ProcessWindowFunction`] knows about the window it emits.
pub struct WindowContext<'a, W> {
    window: &'a W,
    watermark: Timestamp,
    processing_time: Timestamp,
    side: &'a mut SideOutputs,
    state: &'a mut dyn WindowStateAccess,
}

impl<'a, W: Window> WindowContext<'a, W> {
    /// The context of `window`.
    pub fn new(
        window: &'a W,
        watermark: Timestamp,
        processing_time: Timestamp,
        side: &'a mut SideOutputs,
        state: &'a mut dyn WindowStateAccess,
    ) -> Self {
        WindowContext { window, watermark, processing_time, side, state }
    }

    /// The window.
    pub fn window(&self) -> &W {
        self.window
    }

    /// The current event-time watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The current processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.processing_time
    }

    /// State of this key and window, dropped with the window.
    pub fn window_state(&mut self) -> Result<KeyedStateStore<'_>, StateError> {
        KeyedStateStore::new(self.state.window_scope()?)
    }

    /// State of this key, across its windows.
    pub fn global_state(&mut self) -> Result<KeyedStateStore<'_>, StateError> {
        KeyedStateStore::new(self.state.global_scope()?)
    }

    /// Emits `value` to the side output `tag`, stamped with the window's last moment.
    pub fn output<X: 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        self.side.emit(tag, value, self.window.max_timestamp());
    }
}

/// How a window keeps its contents: an accumulator per key and window, which records
/// are added to, which merges with another (for slices and merging windows), and which
/// yields the elements a window function gets.
pub trait WindowContents<T>: Send + 'static {
    /// The contents of one window of one key.
    type Acc: spate_core::StateValue + Send;
    /// What a window function gets.
    type Elem: 'static;

    /// Opens the user functions inside.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Empty contents.
    fn create(&mut self) -> Self::Acc;
    /// Adds a record.
    fn add(&mut self, acc: &mut Self::Acc, value: T) -> FnResult;
    /// Adds `other` to `acc` (`other` holds later records).
    fn merge(&mut self, acc: &mut Self::Acc, other: Self::Acc) -> FnResult;
    /// Calls `f` with the elements of `acc`.
    fn elements(&mut self, acc: &Self::Acc, f: &mut dyn FnMut(&[Self::Elem]) -> FnResult) -> FnResult;
    /// Closes the user functions inside.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
    /// Whether contents may be built from parts in any order and merged: only then may a
    /// window be combined from slices shared with overlapping windows. Records kept for
    /// a process function are not (it sees them in arrival order, as in Flink).
    fn is_commutative(&self) -> bool {
        false
    }
}

/// Windows that keep every record (for a process function alone).
pub struct ListContents<T>(PhantomData<fn() -> T>);

impl<T> Default for ListContents<T> {
    fn default() -> Self {
        ListContents(PhantomData)
    }
}

impl<T: spate_core::StateValue + Send> WindowContents<T> for ListContents<T> {
    type Acc = Vec<T>;
    type Elem = T;

    fn create(&mut self) -> Vec<T> {
        Vec::new()
    }

    #[inline]
    fn add(&mut self, acc: &mut Vec<T>, value: T) -> FnResult {
        acc.push(value);
        Ok(())
    }

    fn merge(&mut self, acc: &mut Vec<T>, other: Vec<T>) -> FnResult {
        acc.extend(other);
        Ok(())
    }

    fn elements(&mut self, acc: &Vec<T>, f: &mut dyn FnMut(&[T]) -> FnResult) -> FnResult {
        f(acc)
    }
}

/// Windows that reduce their records as they come (`reduce`).
pub struct ReduceContents<R>(pub R);

impl<T: spate_core::StateValue + Send, R: ReduceFunction<T>> WindowContents<T> for ReduceContents<R> {
    type Acc = Option<T>;
    type Elem = T;

    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.0.open(ctx)
    }

    fn create(&mut self) -> Option<T> {
        None
    }

    #[inline]
    fn add(&mut self, acc: &mut Option<T>, value: T) -> FnResult {
        *acc = Some(match acc.take() {
            Some(reduced) => self.0.reduce(reduced, value)?,
            None => value,
        });
        Ok(())
    }

    fn merge(&mut self, acc: &mut Option<T>, other: Option<T>) -> FnResult {
        if let Some(value) = other {
            self.add(acc, value)?;
        }
        Ok(())
    }

    fn elements(&mut self, acc: &Option<T>, f: &mut dyn FnMut(&[T]) -> FnResult) -> FnResult {
        f(acc.as_slice())
    }

    fn close(&mut self) -> FnResult {
        self.0.close()
    }

    fn is_commutative(&self) -> bool {
        self.0.is_commutative()
    }
}

/// Windows that aggregate their records as they come (`aggregate`).
pub struct AggregateContents<A, ACC, OUT> {
    function: A,
    _types: PhantomData<fn() -> (ACC, OUT)>,
}

impl<A, ACC, OUT> AggregateContents<A, ACC, OUT> {
    /// Contents aggregated by `function`.
    pub fn new(function: A) -> Self {
        AggregateContents { function, _types: PhantomData }
    }
}

impl<T, ACC, OUT, A> WindowContents<T> for AggregateContents<A, ACC, OUT>
where
    ACC: spate_core::StateValue + Send,
    OUT: 'static,
    A: AggregateFunction<T, ACC, OUT>,
{
    type Acc = ACC;
    type Elem = OUT;

    fn create(&mut self) -> ACC {
        self.function.create_accumulator()
    }

    #[inline]
    fn add(&mut self, acc: &mut ACC, value: T) -> FnResult {
        self.function.add(value, acc);
        Ok(())
    }

    fn merge(&mut self, acc: &mut ACC, other: ACC) -> FnResult {
        let mine = std::mem::replace(acc, self.function.create_accumulator());
        *acc = self.function.merge(mine, other);
        Ok(())
    }

    #[inline]
    fn elements(&mut self, acc: &ACC, f: &mut dyn FnMut(&[OUT]) -> FnResult) -> FnResult {
        let result = self.function.get_result(acc);
        f(std::slice::from_ref(&result))
    }

    fn is_commutative(&self) -> bool {
        self.function.is_commutative()
    }
}

/// How a window's elements become output.
pub trait WindowEmit<K, W: Window, E, OUT>: Send + 'static {
    /// Opens the user function.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Emits the results of `window` of `key` from its elements.
    fn emit(
        &mut self,
        key: &K,
        ctx: &mut WindowContext<'_, W>,
        elements: &[E],
        out: &mut Collector<'_, OUT>,
    ) -> FnResult;
    /// The window of `key` is dropped.
    fn clear(&mut self, _key: &K, _ctx: &mut WindowContext<'_, W>) -> FnResult {
        Ok(())
    }
    /// Closes the user function.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

/// Emits the elements as they are (`reduce` and `aggregate` without a process function).
pub struct EmitElements;

impl<K, W: Window, E: Clone + 'static> WindowEmit<K, W, E, E> for EmitElements {
    #[inline]
    fn emit(&mut self, _: &K, _: &mut WindowContext<'_, W>, elements: &[E], out: &mut Collector<'_, E>) -> FnResult {
        for e in elements {
            out.collect(e.clone());
        }
        Ok(())
    }
}

/// Emits through a [`ProcessWindowFunction`].
pub struct EmitWith<F>(pub F);

impl<K, W, E, OUT, F> WindowEmit<K, W, E, OUT> for EmitWith<F>
where
    W: Window,
    F: ProcessWindowFunction<E, OUT, K, W>,
{
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.0.open(ctx)
    }

    #[inline]
    fn emit(
        &mut self,
        key: &K,
        ctx: &mut WindowContext<'_, W>,
        elements: &[E],
        out: &mut Collector<'_, OUT>,
    ) -> FnResult {
        self.0.process(key, ctx, elements, out)
    }

    fn clear(&mut self, key: &K, ctx: &mut WindowContext<'_, W>) -> FnResult {
        self.0.clear(key, ctx)
    }

    fn close(&mut self) -> FnResult {
        self.0.close()
    }
}
