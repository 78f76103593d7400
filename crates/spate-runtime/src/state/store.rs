//! The state of one operator instance, as its handles reach it.

use std::any::TypeId;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use super::StateError;
use super::cells::{Change, StateCells};
use crate::checkpoint::Verification;
use crate::time::Clock;

/// A restored value waiting for its state to be declared: the key's slot and the bytes.
type PendingValue = (u32, Vec<u8>);
/// The kinds of keyed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKind {
    /// [`ValueState`](super::ValueState).
    Value,
    /// [`ListState`](super::ListState).
    List,
    /// [`MapState`](super::MapState).
    Map,
    /// [`ReducingState`](super::ReducingState).
    Reducing,
    /// [`AggregatingState`](super::AggregatingState).
    Aggregating,
}

pub(crate) struct RegisteredState {
    pub name: String,
    pub kind: StateKind,
    pub type_id: TypeId,
    /// The cells, seen without their type (to prefetch and sweep them).
    pub cells: Rc<RefCell<dyn StateCells>>,
    /// The same cells as an `Rc<RefCell<C>>` of their concrete type, so that a handle
    /// finds them with one type check and calls them without dynamic dispatch.
    pub typed: Box<dyn std::any::Any>,
}

/// The keyed state of one operator instance, without its key type: the slot of the
/// current key, the registered states, and how many states hold a value per slot (so
/// that keys without state are forgotten).
#[derive(Default)]
pub struct KeyedStore {
    pub(crate) current: Cell<Option<u32>>,
    pub(crate) states: RefCell<Vec<RegisteredState>>,
    live: RefCell<Vec<u32>>,
    /// Whether the current slot lost a value since it became current (then it may hold
    /// no state any more and must be checked when the operator is done with it).
    lost_current: Cell<bool>,
    /// Whether some state sweeps expired values after every record.
    per_record_cleanup: Cell<bool>,
    /// Slots that lost their last value in an incremental sweep, to be released.
    swept: RefCell<Vec<u32>>,
    /// Restored values of states not registered yet, by state name: (slot, encoding).
    pending: RefCell<HashMap<String, Vec<PendingValue>>>,
}

impl KeyedStore {
    /// Registers a state, or returns the index of the state already registered under
    /// `name` if it has the same kind and type.
    pub(crate) fn register<C: StateCells>(
        &self,
        name: &str,
        kind: StateKind,
        type_id: TypeId,
        make: impl FnOnce() -> C,
    ) -> Result<u32, StateError> {
        let mut states = self.states.borrow_mut();
        if let Some((i, existing)) = states.iter().enumerate().find(|(_, s)| s.name == name) {
            if existing.kind != kind || existing.type_id != type_id {
                return Err(StateError::Incompatible(Box::new(name.to_string())));
            }
            return Ok(i as u32);
        }
        let typed = Rc::new(RefCell::new(make()));
        if typed.borrow().incremental().is_some_and(|c| c.every_record) {
            self.per_record_cleanup.set(true);
        }
        if let Some(restored) = self.pending.borrow_mut().remove(name) {
            let mut cells = typed.borrow_mut();
            // The slots were counted live when the values were set aside.
            for (slot, bytes) in restored {
                cells
                    .restore_slot(slot, &bytes)
                    .map_err(|e| StateError::Restore(Box::new(format!("state '{name}': {e}"))))?;
            }
        }
        let cells: Rc<RefCell<dyn StateCells>> = typed.clone();
        states.push(RegisteredState { name: name.to_string(), kind, type_id, cells, typed: Box::new(typed) });
        Ok((states.len() - 1) as u32)
    }

    /// Holds restored values of state `name` until the state is registered (functions
    /// declare their state in `open`, after the runtime restored the keys).
    pub(crate) fn add_pending(&self, name: &str, slot: u32, bytes: Vec<u8>) {
        self.pending.borrow_mut().entry(name.to_string()).or_default().push((slot, bytes));
        // Counted as held, so that the key keeps its slot (and these values) until the
        // state is declared, or for good if it never is.
        self.note(slot, Change { gained: true, lost: false });
    }

    /// Encodes the values of one key group's `entries` (key, slot), state by state, and
    /// hands each state's part to `emit` (state name, bytes). A part decodes as
    /// `Vec<(K, Vec<u8>)>`: a count, then each key with its value's encoding. One pass
    /// per state and one reused scratch buffer: nothing is allocated per key.
    ///
    /// Keys and values are decoded back as `verification` asks (every one, or the first
    /// of each state), so that a type that cannot be restored fails the snapshot.
    pub(crate) fn snapshot_entries<K: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        entries: &[(&K, u32)],
        verification: Verification,
        mut emit: impl FnMut(&str, Vec<u8>),
    ) -> Result<(), StateError> {
        let states = self.states.try_borrow().map_err(|_| StateError::Reentrant)?;
        let mut scratch = Vec::new();
        let mut part = |name: &str, body: Vec<u8>, count: u64| -> Result<(), StateError> {
            if count > 0 {
                let mut bytes = spate_core::codec::encode(&count)?;
                bytes.extend_from_slice(&body);
                emit(name, bytes);
            }
            Ok(())
        };
        for state in states.iter() {
            let cells = state.cells.try_borrow().map_err(|_| StateError::Reentrant)?;
            let (mut body, mut count) = (Vec::new(), 0u64);
            let in_state = |cause: StateError| StateError::Snapshot {
                state: Box::new(state.name.clone()),
                cause: Box::new(cause),
            };
            for (i, (key, slot)) in entries.iter().enumerate() {
                // Slots lie scattered over the cells: load well ahead (little work per entry).
                if let Some((_, ahead)) = entries.get(i + 4 * super::PREFETCH_DISTANCE) {
                    cells.prefetch(*ahead);
                }
                scratch.clear();
                if cells.snapshot_slot(*slot, &mut scratch).map_err(in_state)? {
                    let key_at = body.len();
                    spate_core::codec::encode_into(key, &mut body).map_err(|e| in_state(e.into()))?;
                    if verification == Verification::Every || count == 0 {
                        spate_core::codec::verify::<K>(&body[key_at..]).map_err(|e| in_state(e.into()))?;
                        cells.verify_value(&scratch).map_err(in_state)?;
                    }
                    spate_core::codec::encode_into(scratch.as_slice(), &mut body)?;
                    count += 1;
                }
            }
            part(&state.name, body, count)?;
        }
        // Restored values whose state was never declared again stay in the snapshot.
        let pending = self.pending.borrow();
        if !pending.is_empty() {
            let keys: HashMap<u32, &K> = entries.iter().map(|(k, s)| (*s, *k)).collect();
            for (name, values) in pending.iter() {
                let (mut body, mut count) = (Vec::new(), 0u64);
                for (slot, bytes) in values {
                    if let Some(key) = keys.get(slot) {
                        spate_core::codec::encode_into(key, &mut body)?;
                        spate_core::codec::encode_into(bytes.as_slice(), &mut body)?;
                        count += 1;
                    }
                }
                part(name, body, count)?;
            }
        }
        Ok(())
    }

    /// Whether any state is registered (if not, nothing needs a current key).
    #[inline]
    pub fn has_states(&self) -> bool {
        self.states.try_borrow().is_ok_and(|s| !s.is_empty())
    }

    /// Drops every state's value for `slot` (its key is gone for good).
    pub fn clear_slot(&self, slot: u32) {
        if let Ok(states) = self.states.try_borrow() {
            for state in states.iter() {
                if let Ok(mut cells) = state.cells.try_borrow_mut() {
                    cells.clear_slot(slot);
                }
            }
        }
        if let Some(live) = self.live.borrow_mut().get_mut(slot as usize) {
            *live = 0;
        }
    }

    /// Makes `slot` current (or none).
    #[inline]
    pub fn set_current(&self, slot: Option<u32>) {
        self.current.set(slot);
        self.lost_current.set(false);
    }

    /// Whether the current slot lost a value since it became current.
    #[inline]
    pub fn current_lost_a_value(&self) -> bool {
        self.lost_current.get()
    }

    /// The current slot.
    #[inline]
    pub fn current(&self) -> Option<u32> {
        self.current.get()
    }

    /// How many states hold a value for `slot`.
    #[inline]
    pub fn live(&self, slot: u32) -> u32 {
        self.live.borrow().get(slot as usize).copied().unwrap_or(0)
    }

    #[inline]
    pub(crate) fn note(&self, slot: u32, change: Change) {
        if change == Change::NONE {
            return;
        }
        let mut live = self.live.borrow_mut();
        let i = slot as usize;
        if i >= live.len() {
            live.resize(i + 1, 0);
        }
        if change.gained {
            live[i] += 1;
        }
        if change.lost {
            live[i] = live[i].saturating_sub(1);
            if self.current.get() == Some(slot) {
                self.lost_current.set(true);
            }
        }
    }

    /// Runs an incremental TTL sweep on one state's cells.
    pub(crate) fn sweep(&self, cells: &mut dyn StateCells, clock: &dyn Clock, budget: usize) {
        let mut lost = Vec::new();
        cells.sweep(clock.now(), budget, &mut lost);
        for slot in lost {
            self.note(slot, Change { gained: false, lost: true });
            if self.live(slot) == 0 && self.current.get() != Some(slot) {
                self.swept.borrow_mut().push(slot);
            }
        }
    }

    /// Sweeps every state with an incremental TTL cleanup that runs per record.
    #[inline]
    pub fn sweep_per_record(&self, clock: &dyn Clock) {
        if !self.per_record_cleanup.get() {
            return;
        }
        let states = self.states.borrow();
        for state in states.iter() {
            if let Ok(mut cells) = state.cells.try_borrow_mut() {
                if let Some(cleanup) = cells.incremental().filter(|c| c.every_record) {
                    self.sweep(&mut *cells, clock, cleanup.size);
                }
            }
        }
    }

    /// Slots emptied by sweeps since the last call.
    #[inline]
    pub fn take_swept(&self) -> Vec<u32> {
        let mut swept = self.swept.borrow_mut();
        if swept.is_empty() { Vec::new() } else { std::mem::take(&mut *swept) }
    }

    /// The index of the registered state `name` of this kind and type.
    pub(crate) fn index_of(&self, name: &str, kind: StateKind, type_id: TypeId) -> Result<u32, StateError> {
        let states = self.states.borrow();
        let (i, state) = states
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
            .ok_or_else(|| StateError::UnknownState(Box::new(name.to_string())))?;
        if state.kind != kind || state.type_id != type_id {
            return Err(StateError::Incompatible(Box::new(name.to_string())));
        }
        Ok(i as u32)
    }

    /// Whether state `index` holds a value for `slot`.
    pub(crate) fn has_value(&self, index: u32, slot: u32) -> bool {
        self.states.borrow().get(index as usize).is_some_and(|s| s.cells.borrow().has_value(slot))
    }

    /// Starts loading every state's value for `slot`, so that it is in cache when used.
    #[inline]
    pub fn prefetch(&self, slot: u32) {
        if let Ok(states) = self.states.try_borrow() {
            for state in states.iter() {
                if let Ok(cells) = state.cells.try_borrow() {
                    cells.prefetch(slot);
                }
            }
        }
    }
}

/// Everything state handles reach through the current scope: the keyed store (for keyed
/// operators), the operator state, and the clock.
pub struct StateScope {
    pub(crate) id: u64,
    pub(crate) keyed: Option<KeyedStore>,
    pub(crate) operator: super::operator_state::OperatorStore,
    pub(crate) clock: Arc<dyn Clock>,
    /// The operator's scope, for a nested one (a window's state inside a window
    /// operator): handles of the parent keep working while the nested scope is entered.
    parent: Option<Rc<StateScope>>,
}

fn next_scope_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl StateScope {
    /// A scope for one operator instance; `keyed` if it processes a keyed stream.
    pub fn new(keyed: bool, clock: Arc<dyn Clock>) -> Rc<Self> {
        Rc::new(StateScope {
            id: next_scope_id(),
            keyed: keyed.then(KeyedStore::default),
            operator: Default::default(),
            clock,
            parent: None,
        })
    }

    /// A keyed scope inside `parent` (per key and window state of a window operator,
    /// whose "key" is the pair).
    pub fn nested(parent: &Rc<StateScope>) -> Rc<Self> {
        Rc::new(StateScope {
            id: next_scope_id(),
            keyed: Some(KeyedStore::default()),
            operator: Default::default(),
            clock: parent.clock.clone(),
            parent: Some(parent.clone()),
        })
    }

    /// This scope or the enclosing one with id `id`.
    #[inline]
    pub(crate) fn resolve(&self, id: u64) -> Option<&StateScope> {
        let mut scope = self;
        loop {
            if scope.id == id {
                return Some(scope);
            }
            scope = scope.parent.as_deref()?;
        }
    }

    /// The keyed store, for keyed operators.
    pub fn keyed(&self) -> Option<&KeyedStore> {
        self.keyed.as_ref()
    }

    /// The clock state TTL reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<StateScope>>> = const { RefCell::new(None) };
}

/// While alive, state handles on this thread resolve against one operator's scope.
pub struct ScopeGuard {
    previous: Option<Rc<StateScope>>,
}

impl StateScope {
    /// Enters this scope until the guard is dropped (scopes nest: a chained operator
    /// called from inside another's call enters its own and restores the other's).
    #[inline]
    pub fn enter(self: &Rc<Self>) -> ScopeGuard {
        let previous = CURRENT.with(|c| c.replace(Some(self.clone())));
        ScopeGuard { previous }
    }
}

impl Drop for ScopeGuard {
    #[inline]
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| {
            c.replace(previous);
        });
    }
}

/// Runs `f` with the scope current on this thread.
#[inline(always)]
pub(crate) fn with_scope<R>(f: impl FnOnce(&StateScope) -> Result<R, StateError>) -> Result<R, StateError> {
    // The thread-local stays borrowed while `f` runs: nothing a state access can run
    // (a state's own reduce or aggregate function) enters another operator's scope.
    CURRENT.with(|c| match c.try_borrow() {
        Ok(current) => match current.as_ref() {
            Some(scope) => f(scope),
            None => Err(StateError::NoScope),
        },
        Err(_) => Err(StateError::Reentrant),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::StateTtlConfig;
    use crate::state::cells::SingleCells;
    use crate::time::ManualClock;

    #[test]
    fn incremental_sweep_removes_expired_values_and_reports_empty_slots() {
        let clock = ManualClock::new(0);
        let store = KeyedStore::default();
        let ttl = StateTtlConfig::new(Duration::from_millis(100)).cleanup_incrementally(3, true);
        let index =
            store.register("v", StateKind::Value, TypeId::of::<u32>(), || SingleCells::<u32>::new(Some(ttl))).unwrap();
        assert_eq!(index, 0);
        {
            let states = store.states.borrow();
            let cells = states[0].typed.downcast_ref::<Rc<RefCell<SingleCells<u32>>>>().unwrap();
            for slot in 0..10u32 {
                cells.borrow_mut().write(slot, slot, &*clock);
                store.note(slot, Change { gained: true, lost: false });
            }
        }
        assert!((0..10).all(|s| store.live(s) == 1));
        clock.set(150);
        store.set_current(Some(4));
        // Each per-record sweep checks 3 slots; the current slot is never reported.
        for _ in 0..4 {
            store.sweep_per_record(&*clock);
        }
        let swept = store.take_swept();
        assert_eq!(swept.len(), 9, "every expired slot but the current one: {swept:?}");
        assert!(!swept.contains(&4));
        assert!((0..10).all(|s| store.live(s) == 0));
        assert!(store.take_swept().is_empty());
    }
}
