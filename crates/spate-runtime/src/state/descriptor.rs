//! State descriptors: the name, type and options of a piece of state, as a function
//! declares it in `open` (Flink's `*StateDescriptor` classes).

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use std::any::TypeId;
use std::hash::Hash;

use super::handles::{ListState, MapState, Target, ValueState};
use super::store::StateKind;
use super::ttl::StateTtlConfig;
use crate::functions::AggregateFunction;

macro_rules! plain_descriptor {
    ($(#[$doc:meta])* $name:ident < $($t:ident),+ >) => {
        $(#[$doc])*
        pub struct $name<$($t),+> {
            name: String,
            ttl: Option<StateTtlConfig>,
            _types: PhantomData<fn() -> ($($t,)+)>,
        }

        impl<$($t),+> $name<$($t),+> {
            /// A descriptor of the state named `name`.
            pub fn new(name: &str) -> Self {
                $name { name: name.to_string(), ttl: None, _types: PhantomData }
            }

            /// Gives the state a time-to-live.
            pub fn enable_time_to_live(mut self, ttl: StateTtlConfig) -> Self {
                self.ttl = Some(ttl);
                self
            }

            /// The state's name, unique within its operator.
            pub fn name(&self) -> &str {
                &self.name
            }

            /// The time-to-live, if any.
            pub fn ttl(&self) -> Option<StateTtlConfig> {
                self.ttl
            }
        }

        impl<$($t),+> Clone for $name<$($t),+> {
            fn clone(&self) -> Self {
                $name { name: self.name.clone(), ttl: self.ttl, _types: PhantomData }
            }
        }
    };
}

plain_descriptor!(
    /// Declares a [`ValueState`](super::ValueState): one value per key.
    ValueStateDescriptor<T>
);
plain_descriptor!(
    /// Declares a [`ListState`](super::ListState): a list per key (or, as operator state,
    /// per subtask).
    ListStateDescriptor<T>
);
plain_descriptor!(
    /// Declares a [`MapState`](super::MapState): a map per key; also names broadcast
    /// state.
    MapStateDescriptor<K, V>
);

/// The reduce function of a [`ReducingStateDescriptor`].
pub type StateReduceFunction<T> = Arc<dyn Fn(T, T) -> T + Send + Sync>;

/// Declares a [`ReducingState`](super::ReducingState): values added per key are reduced
/// into one.
pub struct ReducingStateDescriptor<T> {
    name: String,
    ttl: Option<StateTtlConfig>,
    pub(crate) reduce: StateReduceFunction<T>,
}

impl<T> ReducingStateDescriptor<T> {
    /// A descriptor of the state named `name`, reducing with `reduce`.
    pub fn new(name: &str, reduce: impl Fn(T, T) -> T + Send + Sync + 'static) -> Self {
        ReducingStateDescriptor { name: name.to_string(), ttl: None, reduce: Arc::new(reduce) }
    }

    /// Gives the state a time-to-live.
    pub fn enable_time_to_live(mut self, ttl: StateTtlConfig) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The state's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The time-to-live, if any.
    pub fn ttl(&self) -> Option<StateTtlConfig> {
        self.ttl
    }
}

/// Makes one instance of an aggregate function per subtask.
pub type AggregateFactory<IN, ACC, OUT> = Arc<dyn Fn() -> Box<dyn AggregateFunction<IN, ACC, OUT>> + Send + Sync>;

/// Declares an [`AggregatingState`](super::AggregatingState): values added per key are
/// aggregated into an accumulator.
pub struct AggregatingStateDescriptor<IN, ACC, OUT> {
    name: String,
    ttl: Option<StateTtlConfig>,
    pub(crate) factory: AggregateFactory<IN, ACC, OUT>,
}

impl<IN, ACC, OUT> AggregatingStateDescriptor<IN, ACC, OUT> {
    /// A descriptor of the state named `name`, aggregating with (copies of) `function`.
    pub fn new<A>(name: &str, function: A) -> Self
    where
        A: AggregateFunction<IN, ACC, OUT> + Clone,
    {
        let prototype = Mutex::new(function);
        let factory: AggregateFactory<IN, ACC, OUT> = Arc::new(move || {
            let function = match prototype.lock() {
                Ok(f) => f.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            };
            Box::new(function)
        });
        AggregatingStateDescriptor { name: name.to_string(), ttl: None, factory }
    }

    /// Gives the state a time-to-live.
    pub fn enable_time_to_live(mut self, ttl: StateTtlConfig) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The state's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The time-to-live, if any.
    pub fn ttl(&self) -> Option<StateTtlConfig> {
        self.ttl
    }
}

/// A descriptor of keyed state whose keys can be visited (`apply_to_keyed_state`).
pub trait KeyedStateDescriptor {
    /// The handle of the state.
    type Handle;
    /// The state's name.
    fn state_name(&self) -> &str;
    /// The state's kind and type, to find it among the registered states.
    fn signature(&self) -> (StateKind, TypeId);
    /// The handle of registered state `index` of operator scope `scope`.
    fn handle(&self, scope: u64, index: u32) -> Self::Handle;
}

impl<T: 'static> KeyedStateDescriptor for ValueStateDescriptor<T> {
    type Handle = ValueState<T>;
    fn state_name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> (StateKind, TypeId) {
        (StateKind::Value, TypeId::of::<T>())
    }
    fn handle(&self, scope: u64, index: u32) -> ValueState<T> {
        ValueState::new(scope, Target::Keyed(index))
    }
}

impl<T: 'static> KeyedStateDescriptor for ListStateDescriptor<T> {
    type Handle = ListState<T>;
    fn state_name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> (StateKind, TypeId) {
        (StateKind::List, TypeId::of::<T>())
    }
    fn handle(&self, scope: u64, index: u32) -> ListState<T> {
        ListState::new(scope, Target::Keyed(index))
    }
}

impl<K: Eq + Hash + 'static, V: 'static> KeyedStateDescriptor for MapStateDescriptor<K, V> {
    type Handle = MapState<K, V>;
    fn state_name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> (StateKind, TypeId) {
        (StateKind::Map, TypeId::of::<(K, V)>())
    }
    fn handle(&self, scope: u64, index: u32) -> MapState<K, V> {
        MapState::new(scope, Target::Keyed(index))
    }
}
