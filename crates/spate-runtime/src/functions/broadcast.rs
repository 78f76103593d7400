//! Functions over a stream connected to a broadcast stream, and the broadcast state
//! they see.

use std::hash::Hash;
use std::ops::{Deref, DerefMut};

use spate_core::{Key, Timestamp};

use super::{FnResult, KeyedContext, ProcessContext};
use crate::context::RuntimeContext;
use crate::output::Collector;
use crate::state::{
    BroadcastState, BroadcastStates, KeyedBackend, KeyedStateDescriptor, MapStateDescriptor, ReadOnlyBroadcastState,
    StateError,
};
use crate::timer::TimeDomain;

/// Processes a non-keyed stream together with a broadcast stream (Flink's
/// `BroadcastProcessFunction`).
pub trait BroadcastProcessFunction<I1, I2, O>: Send + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Processes a record of the non-broadcast input; broadcast state is read-only.
    fn process_element(
        &mut self,
        value: I1,
        ctx: &mut ReadOnlyBroadcastContext<'_>,
        out: &mut Collector<'_, O>,
    ) -> FnResult;
    /// Processes a record of the broadcast input; broadcast state is writable.
    fn process_broadcast_element(
        &mut self,
        value: I2,
        ctx: &mut BroadcastContext<'_>,
        out: &mut Collector<'_, O>,
    ) -> FnResult;
    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

/// Processes a keyed stream together with a broadcast stream (Flink's
/// `KeyedBroadcastProcessFunction`).
pub trait KeyedBroadcastProcessFunction<K, I1, I2, O>: Send + 'static {
    /// Called once per subtask before the first record; declare keyed state here.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Ok(())
    }
    /// Processes a record of the keyed input: keyed state and timers of its key, broadcast
    /// state read-only.
    fn process_element(
        &mut self,
        value: I1,
        ctx: &mut KeyedReadOnlyContext<'_, K>,
        out: &mut Collector<'_, O>,
    ) -> FnResult;
    /// Processes a record of the broadcast input: broadcast state writable, and keyed
    /// state of every key through `apply_to_keyed_state`.
    fn process_broadcast_element(
        &mut self,
        value: I2,
        ctx: &mut KeyedBroadcastContext<'_, K>,
        out: &mut Collector<'_, O>,
    ) -> FnResult;
    /// A timer of the current key fired (the context's `time_domain` says which).
    fn on_timer(
        &mut self,
        _timestamp: Timestamp,
        _ctx: &mut KeyedReadOnlyContext<'_, K>,
        _out: &mut Collector<'_, O>,
    ) -> FnResult {
        Ok(())
    }
    /// Called once at the end, also after a failure.
    fn close(&mut self) -> FnResult {
        Ok(())
    }
}

/// The context of a non-broadcast record: a [`ProcessContext`] and read-only broadcast
/// state.
pub struct ReadOnlyBroadcastContext<'a> {
    process: ProcessContext<'a>,
    states: &'a BroadcastStates,
}

impl<'a> ReadOnlyBroadcastContext<'a> {
    /// The context over `process` and `states`.
    pub fn new(process: ProcessContext<'a>, states: &'a BroadcastStates) -> Self {
        ReadOnlyBroadcastContext { process, states }
    }

    /// The broadcast state of `descriptor`, read-only.
    pub fn broadcast_state<K: Eq + Hash + 'static, V: 'static>(
        &self,
        descriptor: &MapStateDescriptor<K, V>,
    ) -> Result<ReadOnlyBroadcastState<'_, K, V>, StateError> {
        self.states.read(descriptor)
    }
}

impl<'a> Deref for ReadOnlyBroadcastContext<'a> {
    type Target = ProcessContext<'a>;
    fn deref(&self) -> &Self::Target {
        &self.process
    }
}

impl DerefMut for ReadOnlyBroadcastContext<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.process
    }
}

/// The context of a broadcast record: a [`ProcessContext`] and writable broadcast state.
pub struct BroadcastContext<'a> {
    process: ProcessContext<'a>,
    states: &'a mut BroadcastStates,
}

impl<'a> BroadcastContext<'a> {
    /// The context over `process` and `states`.
    pub fn new(process: ProcessContext<'a>, states: &'a mut BroadcastStates) -> Self {
        BroadcastContext { process, states }
    }

    /// The broadcast state of `descriptor`.
    pub fn broadcast_state<K: Eq + Hash + 'static, V: 'static>(
        &mut self,
        descriptor: &MapStateDescriptor<K, V>,
    ) -> Result<BroadcastState<'_, K, V>, StateError> {
        self.states.write(descriptor)
    }
}

impl<'a> Deref for BroadcastContext<'a> {
    type Target = ProcessContext<'a>;
    fn deref(&self) -> &Self::Target {
        &self.process
    }
}

impl DerefMut for BroadcastContext<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.process
    }
}

/// The context of a keyed record (or a timer): a [`KeyedContext`] and read-only
/// broadcast state.
pub struct KeyedReadOnlyContext<'a, K> {
    keyed: KeyedContext<'a, K>,
    states: &'a BroadcastStates,
    domain: Option<TimeDomain>,
}

impl<'a, K> KeyedReadOnlyContext<'a, K> {
    /// The context over `keyed` and `states`; `domain` for a firing timer.
    pub fn new(keyed: KeyedContext<'a, K>, states: &'a BroadcastStates, domain: Option<TimeDomain>) -> Self {
        KeyedReadOnlyContext { keyed, states, domain }
    }

    /// The broadcast state of `descriptor`, read-only.
    pub fn broadcast_state<BK: Eq + Hash + 'static, V: 'static>(
        &self,
        descriptor: &MapStateDescriptor<BK, V>,
    ) -> Result<ReadOnlyBroadcastState<'_, BK, V>, StateError> {
        self.states.read(descriptor)
    }

    /// For a firing timer, its time domain.
    pub fn time_domain(&self) -> Option<TimeDomain> {
        self.domain
    }
}

impl<'a, K> Deref for KeyedReadOnlyContext<'a, K> {
    type Target = KeyedContext<'a, K>;
    fn deref(&self) -> &Self::Target {
        &self.keyed
    }
}

impl<K> DerefMut for KeyedReadOnlyContext<'_, K> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.keyed
    }
}

/// The context of a broadcast record on a keyed operator: writable broadcast state, and
/// keyed state of every key.
pub struct KeyedBroadcastContext<'a, K> {
    process: ProcessContext<'a>,
    states: &'a mut BroadcastStates,
    backend: &'a mut KeyedBackend<K>,
}

impl<'a, K: Key> KeyedBroadcastContext<'a, K> {
    /// The context over `process`, `states` and the keyed `backend`.
    pub fn new(process: ProcessContext<'a>, states: &'a mut BroadcastStates, backend: &'a mut KeyedBackend<K>) -> Self {
        KeyedBroadcastContext { process, states, backend }
    }

    /// The broadcast state of `descriptor`.
    pub fn broadcast_state<BK: Eq + Hash + 'static, V: 'static>(
        &mut self,
        descriptor: &MapStateDescriptor<BK, V>,
    ) -> Result<BroadcastState<'_, BK, V>, StateError> {
        self.states.write(descriptor)
    }

    /// Calls `function` for every key that holds a value in the keyed state of
    /// `descriptor`, with that key current (Flink's `applyToKeyedState`).
    pub fn apply_to_keyed_state<D: KeyedStateDescriptor>(
        &mut self,
        descriptor: &D,
        function: impl FnMut(&K, &D::Handle) -> FnResult,
    ) -> FnResult {
        self.backend.apply_to_state(descriptor, function)
    }
}

impl<'a, K> Deref for KeyedBroadcastContext<'a, K> {
    type Target = ProcessContext<'a>;
    fn deref(&self) -> &Self::Target {
        &self.process
    }
}

impl<K> DerefMut for KeyedBroadcastContext<'_, K> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.process
    }
}
