//! Where functions get keyed state handles (Flink's `KeyedStateStore`): the runtime
//! context in `open`, and a window function's per-window and per-key state.

use std::any::TypeId;
use std::hash::Hash;
use std::rc::Rc;

use spate_core::StateValue;

use super::{
    AggregatingCells, AggregatingSlot, AggregatingState, AggregatingStateDescriptor, KeyedStore, ListCells, ListState,
    ListStateDescriptor, MapCells, MapState, MapStateDescriptor, ReducingCells, ReducingState, ReducingStateDescriptor,
    SingleCells, StateError, StateKind, StateScope, Target, ValueState, ValueStateDescriptor,
};

/// Declares keyed state in one scope: the handles it returns reach the values of the
/// scope's current key (or key and window).
pub struct KeyedStateStore<'a> {
    scope: &'a Rc<StateScope>,
    keyed: &'a KeyedStore,
}

impl<'a> KeyedStateStore<'a> {
    /// The store of `scope`, which must hold keyed state.
    pub fn new(scope: &'a Rc<StateScope>) -> Result<Self, StateError> {
        let keyed = scope.keyed().ok_or(StateError::NotKeyed)?;
        Ok(KeyedStateStore { scope, keyed })
    }

    /// The value state declared by `descriptor` (Flink's `getState`).
    pub fn get_state<T: StateValue>(&self, descriptor: &ValueStateDescriptor<T>) -> Result<ValueState<T>, StateError> {
        let (scope, keyed) = (self.scope, self.keyed);
        let ttl = descriptor.ttl();
        let index =
            keyed.register(descriptor.name(), StateKind::Value, TypeId::of::<T>(), || SingleCells::<T>::new(ttl))?;
        Ok(ValueState::new(scope.id, Target::Keyed(index)))
    }

    /// The keyed list state declared by `descriptor` (Flink's `getListState`).
    pub fn get_list_state<T: StateValue>(
        &self,
        descriptor: &ListStateDescriptor<T>,
    ) -> Result<ListState<T>, StateError> {
        let (scope, keyed) = (self.scope, self.keyed);
        let ttl = descriptor.ttl();
        let index =
            keyed.register(descriptor.name(), StateKind::List, TypeId::of::<T>(), || ListCells::<T>::new(ttl))?;
        Ok(ListState::new(scope.id, Target::Keyed(index)))
    }

    /// The map state declared by `descriptor` (Flink's `getMapState`).
    pub fn get_map_state<UK, UV>(&self, descriptor: &MapStateDescriptor<UK, UV>) -> Result<MapState<UK, UV>, StateError>
    where
        UK: StateValue + Eq + Hash,
        UV: StateValue,
    {
        let (scope, keyed) = (self.scope, self.keyed);
        let ttl = descriptor.ttl();
        let index = keyed
            .register(descriptor.name(), StateKind::Map, TypeId::of::<(UK, UV)>(), || MapCells::<UK, UV>::new(ttl))?;
        Ok(MapState::new(scope.id, Target::Keyed(index)))
    }

    /// The reducing state declared by `descriptor` (Flink's `getReducingState`).
    pub fn get_reducing_state<T: StateValue>(
        &self,
        descriptor: &ReducingStateDescriptor<T>,
    ) -> Result<ReducingState<T>, StateError> {
        let (scope, keyed) = (self.scope, self.keyed);
        let (ttl, reduce) = (descriptor.ttl(), descriptor.reduce.clone());
        let index = keyed.register(descriptor.name(), StateKind::Reducing, TypeId::of::<T>(), || ReducingCells {
            cells: SingleCells::<T>::new(ttl),
            reduce,
        })?;
        Ok(ReducingState::new(scope.id, Target::Keyed(index)))
    }

    /// The aggregating state declared by `descriptor` (Flink's `getAggregatingState`).
    pub fn get_aggregating_state<IN: 'static, ACC: StateValue, OUT: 'static>(
        &self,
        descriptor: &AggregatingStateDescriptor<IN, ACC, OUT>,
    ) -> Result<AggregatingState<IN, OUT>, StateError> {
        let (scope, keyed) = (self.scope, self.keyed);
        let (ttl, factory) = (descriptor.ttl(), descriptor.factory.clone());
        let index =
            keyed.register(descriptor.name(), StateKind::Aggregating, TypeId::of::<(IN, ACC, OUT)>(), || {
                let cells = AggregatingCells { cells: SingleCells::<ACC>::new(ttl), function: factory() };
                AggregatingSlot::<IN, OUT>(Box::new(cells))
            })?;
        Ok(AggregatingState::new(scope.id, Target::Keyed(index)))
    }
}
