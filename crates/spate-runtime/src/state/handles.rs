//! State handles: what user functions keep from `open` and call per record.
//!
//! A handle is a small copyable id. Calls resolve it against the state of the operator
//! the calling thread is running (the *scope*, entered by the runtime around every call
//! into the operator), and keyed state against the key of the record or timer being
//! processed. Using a handle elsewhere is an error, never undefined behaviour.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::rc::Rc;

use spate_core::StateValue;

use super::StateError;
use super::cells::{AggregatingSlot, ListCells, MapCells, Read, ReducingCells, SingleCells, Stamped, StateCells};
use super::store::{StateScope, with_scope};
use crate::time::Clock;

/// Runs `f` on the cells `C` of keyed state `index` for the current key; then accounts
/// for whether the key gained or lost a value and runs the incremental TTL sweep.
#[inline(always)]
fn keyed_access<C: StateCells, R>(
    scope_id: u64,
    index: u32,
    f: impl FnOnce(&mut C, u32, &dyn Clock) -> Result<R, StateError>,
) -> Result<R, StateError> {
    with_scope(|scope: &StateScope| {
        let Some(scope) = scope.resolve(scope_id) else { return Err(StateError::WrongOperator) };
        // `let else`, not `ok_or`: an error built eagerly is also dropped eagerly, on
        // every call (measured: 10 ns per record with two accesses).
        let Some(keyed) = scope.keyed.as_ref() else { return Err(StateError::NotKeyed) };
        let Some(slot) = keyed.current() else { return Err(StateError::NoCurrentKey) };
        let Ok(states) = keyed.states.try_borrow() else { return Err(StateError::Reentrant) };
        let Some(state) = states.get(index as usize) else { return Err(StateError::NotRegistered) };
        let Some(cells) = state.typed.downcast_ref::<Rc<RefCell<C>>>() else {
            return Err(StateError::NotRegistered);
        };
        let mut cells = cells.try_borrow_mut().map_err(|_| StateError::Reentrant)?;
        let before = cells.has_value(slot);
        let result = f(&mut cells, slot, &*scope.clock);
        let after = cells.has_value(slot);
        if before != after {
            keyed.note(slot, super::cells::Change { gained: after, lost: before });
        }
        if let Some(cleanup) = cells.incremental() {
            keyed.sweep(&mut *cells, &*scope.clock, cleanup.size);
        }
        result
    })
}

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident < $($t:ident),+ >) => {
        $(#[$doc])*
        pub struct $name<$($t),+> {
            scope: u64,
            target: Target,
            _types: PhantomData<fn() -> ($($t,)+)>,
        }

        impl<$($t),+> $name<$($t),+> {
            pub(crate) fn new(scope: u64, target: Target) -> Self {
                $name { scope, target, _types: PhantomData }
            }
        }

        impl<$($t),+> Clone for $name<$($t),+> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<$($t),+> Copy for $name<$($t),+> {}

        impl<$($t),+> std::fmt::Debug for $name<$($t),+> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.target)
            }
        }
    };
}

/// Where a handle's values live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Keyed(u32),
    Operator(u32),
}

impl Target {
    fn keyed(self) -> Result<u32, StateError> {
        match self {
            Target::Keyed(i) => Ok(i),
            Target::Operator(_) => Err(StateError::NotRegistered),
        }
    }
}

handle!(
    /// One value per key (Flink's `ValueState`).
    ValueState<T>
);
handle!(
    /// A list per key, or per subtask as operator state (Flink's `ListState`).
    ListState<T>
);
handle!(
    /// A map per key (Flink's `MapState`).
    MapState<UK, UV>
);
handle!(
    /// A value per key into which added values are reduced (Flink's `ReducingState`).
    ReducingState<T>
);
handle!(
    /// A value per key aggregated from the values added (Flink's `AggregatingState`).
    AggregatingState<IN, OUT>
);

impl<T: StateValue> ValueState<T> {
    /// The current key's value.
    #[inline]
    pub fn value(&self) -> Result<Option<T>, StateError> {
        keyed_access(self.scope, self.target.keyed()?, |cells: &mut SingleCells<T>, slot, clock| {
            Ok(match cells.read(slot, clock).0 {
                Read::Live(v) => Some(v.clone()),
                Read::Expired(v) => Some(v),
                Read::Absent => None,
            })
        })
    }

    /// Sets the current key's value.
    #[inline]
    pub fn update(&self, value: T) -> Result<(), StateError> {
        keyed_access(self.scope, self.target.keyed()?, |cells: &mut SingleCells<T>, slot, clock| {
            cells.write(slot, value, clock);
            Ok(())
        })
    }

    /// Removes the current key's value.
    pub fn clear(&self) -> Result<(), StateError> {
        keyed_access(self.scope, self.target.keyed()?, |cells: &mut SingleCells<T>, slot, _| {
            cells.take(slot);
            Ok(())
        })
    }
}

impl<T: StateValue> ListState<T> {
    /// Runs `keyed` or `operator` with `arg`, depending on where the list lives.
    fn access<A, R>(
        &self,
        arg: A,
        keyed: impl FnOnce(&mut ListCells<T>, u32, &dyn Clock, A) -> R,
        operator: impl FnOnce(&mut Vec<T>, A) -> R,
    ) -> Result<R, StateError> {
        match self.target {
            Target::Keyed(index) => keyed_access(self.scope, index, |cells: &mut ListCells<T>, slot, clock| {
                Ok(keyed(cells, slot, clock, arg))
            }),
            Target::Operator(index) => with_scope(|scope| {
                let Some(scope) = scope.resolve(self.scope) else { return Err(StateError::WrongOperator) };
                scope.operator.with_list(index, |list| operator(list, arg))
            }),
        }
    }

    /// The elements.
    pub fn get(&self) -> Result<Vec<T>, StateError> {
        self.access((), |cells, slot, clock, ()| cells.get(slot, clock).0, |list, ()| list.clone())
    }

    /// Appends an element.
    pub fn add(&self, value: T) -> Result<(), StateError> {
        self.add_all(vec![value])
    }

    /// Appends elements.
    pub fn add_all(&self, values: Vec<T>) -> Result<(), StateError> {
        self.access(
            values,
            |cells, slot, clock, values| {
                cells.add_all(slot, values, clock);
            },
            |list, values| list.extend(values),
        )
    }

    /// Replaces the elements (an empty list clears the state).
    pub fn update(&self, values: Vec<T>) -> Result<(), StateError> {
        self.access(
            values,
            |cells, slot, clock, values| {
                cells.update(slot, values, clock);
            },
            |list, values| *list = values,
        )
    }

    /// Removes every element.
    pub fn clear(&self) -> Result<(), StateError> {
        self.access(
            (),
            |cells, slot, _, ()| {
                cells.clear_slot(slot);
            },
            |list, ()| list.clear(),
        )
    }
}

impl<UK: StateValue + Eq + Hash, UV: StateValue> MapState<UK, UV> {
    /// Runs `f` on the current key's map (after TTL) and the entries that expired but
    /// are returned once.
    fn read<R>(
        &self,
        f: impl FnOnce(Option<&mut HashMap<UK, Stamped<UV>>>, Vec<(UK, UV)>) -> R,
    ) -> Result<R, StateError> {
        keyed_access(self.scope, self.target.keyed()?, |cells: &mut MapCells<UK, UV>, slot, clock| {
            let mut expired = Vec::new();
            let (map, _) = cells.map(slot, clock, &mut expired);
            Ok(f(map, expired))
        })
    }

    /// The value of `key`.
    pub fn get(&self, key: &UK) -> Result<Option<UV>, StateError> {
        self.read(|map, expired| {
            map.and_then(|m| m.get(key).map(|e| e.value.clone()))
                .or_else(|| expired.into_iter().find(|(k, _)| k == key).map(|(_, v)| v))
        })
    }

    /// Whether `key` has a value.
    pub fn contains(&self, key: &UK) -> Result<bool, StateError> {
        self.read(|map, expired| map.is_some_and(|m| m.contains_key(key)) || expired.iter().any(|(k, _)| k == key))
    }

    /// Sets the value of `key`.
    pub fn put(&self, key: UK, value: UV) -> Result<(), StateError> {
        self.put_all(std::iter::once((key, value)))
    }

    /// Sets several values.
    pub fn put_all(&self, entries: impl IntoIterator<Item = (UK, UV)>) -> Result<(), StateError> {
        keyed_access(self.scope, self.target.keyed()?, |cells: &mut MapCells<UK, UV>, slot, clock| {
            let stamp = cells.stamp(clock);
            let (map, _) = cells.map_for_write(slot);
            for (key, value) in entries {
                map.insert(key, Stamped { value, stamp });
            }
            cells.drop_if_empty(slot);
            Ok(())
        })
    }

    /// Removes `key`, returning its value.
    pub fn remove(&self, key: &UK) -> Result<Option<UV>, StateError> {
        keyed_access(self.scope, self.target.keyed()?, |cells: &mut MapCells<UK, UV>, slot, clock| {
            let mut expired = Vec::new();
            let (map, _) = cells.map(slot, clock, &mut expired);
            let removed = map.and_then(|m| m.remove(key)).map(|e| e.value);
            cells.drop_if_empty(slot);
            Ok(removed.or_else(|| expired.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)))
        })
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> Result<Vec<(UK, UV)>, StateError> {
        self.read(|map, mut expired| {
            if let Some(m) = map {
                expired.extend(m.iter().map(|(k, e)| (k.clone(), e.value.clone())));
            }
            expired
        })
    }

    /// Every entry, as an iterator.
    pub fn iter(&self) -> Result<std::vec::IntoIter<(UK, UV)>, StateError> {
        Ok(self.entries()?.into_iter())
    }

    /// Every key.
    pub fn keys(&self) -> Result<Vec<UK>, StateError> {
        Ok(self.entries()?.into_iter().map(|(k, _)| k).collect())
    }

    /// Every value.
    pub fn values(&self) -> Result<Vec<UV>, StateError> {
        Ok(self.entries()?.into_iter().map(|(_, v)| v).collect())
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> Result<bool, StateError> {
        self.read(|map, expired| map.is_none_or(|m| m.is_empty()) && expired.is_empty())
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<(), StateError> {
        keyed_access(self.scope, self.target.keyed()?, |cells: &mut MapCells<UK, UV>, slot, _| {
            cells.clear_slot(slot);
            Ok(())
        })
    }
}

impl<T: StateValue> ReducingState<T> {
    /// The reduced value.
    pub fn get(&self) -> Result<Option<T>, StateError> {
        keyed_access(self.scope, self.target.keyed()?, |cells: &mut ReducingCells<T>, slot, clock| {
            Ok(match cells.cells.read(slot, clock).0 {
                Read::Live(v) => Some(v.clone()),
                Read::Expired(v) => Some(v),
                Read::Absent => None,
            })
        })
    }

    /// Reduces `value` into the current value.
    pub fn add(&self, value: T) -> Result<(), StateError> {
        keyed_access(self.scope, self.target.keyed()?, |cells: &mut ReducingCells<T>, slot, clock| {
            let live = matches!(cells.cells.read(slot, clock).0, Read::Live(_));
            let reduced = match live.then(|| cells.cells.take(slot)).flatten() {
                Some(current) => (cells.reduce)(current, value),
                None => value,
            };
            cells.cells.write(slot, reduced, clock);
            Ok(())
        })
    }

    /// Removes the value.
    pub fn clear(&self) -> Result<(), StateError> {
        keyed_access(self.scope, self.target.keyed()?, |cells: &mut ReducingCells<T>, slot, _| {
            cells.cells.take(slot);
            Ok(())
        })
    }
}

impl<IN: 'static, OUT: 'static> AggregatingState<IN, OUT> {
    /// The aggregate's result.
    pub fn get(&self) -> Result<Option<OUT>, StateError> {
        keyed_access(self.scope, self.target.keyed()?, |cells: &mut AggregatingSlot<IN, OUT>, slot, clock| {
            Ok(cells.0.get(slot, clock).0)
        })
    }

    /// Adds `value` to the aggregate.
    pub fn add(&self, value: IN) -> Result<(), StateError> {
        keyed_access(self.scope, self.target.keyed()?, |cells: &mut AggregatingSlot<IN, OUT>, slot, clock| {
            cells.0.add(slot, value, clock);
            Ok(())
        })
    }

    /// Removes the aggregate.
    pub fn clear(&self) -> Result<(), StateError> {
        keyed_access(self.scope, self.target.keyed()?, |cells: &mut AggregatingSlot<IN, OUT>, slot, _| {
            cells.0.cells().clear_slot(slot);
            Ok(())
        })
    }
}
