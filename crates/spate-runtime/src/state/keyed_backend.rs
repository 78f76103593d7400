//! What a keyed operator keeps besides its function: the key directory, the state scope,
//! the timers and the watermark.

use std::rc::Rc;
use std::sync::Arc;

use spate_core::key_group::KeyGroupAssigner;
use spate_core::{Key, KeyHasher, Timestamp, codec};

use super::directory::KeyDirectory;
use super::{KeyedStore, Placed, StateError, StateScope, Warm};
use crate::checkpoint::{OperatorSnapshot, RestoredState};
use crate::context::RuntimeContext;
use crate::functions::TimerService;
use crate::key_selector::KeyExtractor;
use crate::time::Clock;
use crate::timer::{Timer, Timers};

/// The snapshot part of a user state is this prefix and the state's name.
const STATE_PART: &str = "state/";
/// The prefix of the snapshot parts of timers (`timers/event`, `timers/processing`).
const TIMERS_PART: &str = "timers/";

/// The keyed side of a keyed operator.
pub struct KeyedBackend<K> {
    /// Keys holding state, and their slots.
    pub directory: KeyDirectory<K>,
    /// The operator's state scope (its keyed store).
    pub scope: Rc<StateScope>,
    /// Event-time and processing-time timers.
    pub timers: Timers<K>,
    /// The last watermark processed.
    pub watermark: Timestamp,
    /// The processing-time clock.
    pub clock: Arc<dyn Clock>,
}

impl<K: Key> KeyedBackend<K> {
    /// The backend of the operator that `ctx` belongs to (which must be keyed).
    pub fn open(ctx: &RuntimeContext) -> Result<Self, StateError> {
        let scope = ctx.scope().cloned().ok_or(StateError::NoScope)?;
        if scope.keyed().is_none() {
            return Err(StateError::NotKeyed);
        }
        let mut backend = KeyedBackend {
            directory: KeyDirectory::new(ctx.task_info().key_group_range()),
            clock: ctx.task_info().clock.clone(),
            scope,
            timers: Timers::default(),
            watermark: Timestamp::MIN,
        };
        if let Some(restored) = ctx.restored() {
            backend.restore(restored, ctx.max_parallelism())?;
        }
        Ok(backend)
    }

    /// Writes the keys, their values in every state, and the timers, key group by key
    /// group (parts `state/<name>` and `timers/event`, `timers/processing`).
    pub fn snapshot(&self, out: &mut OperatorSnapshot) -> Result<(), StateError> {
        self.snapshot_prefixed(out, "")
    }

    /// [`snapshot`](Self::snapshot) with every part name prefixed (for a second backend
    /// of the same operator).
    pub fn snapshot_prefixed(&self, out: &mut OperatorSnapshot, prefix: &str) -> Result<(), StateError> {
        let store = self.store();
        let verification = out.verification;
        let mut entries = Vec::new();
        for group in self.directory.range().iter() {
            entries.clear();
            entries.extend(self.directory.entries_group(group));
            if entries.is_empty() {
                continue;
            }
            store.snapshot_entries(&entries, verification, |name, bytes| {
                out.add_keyed(group, &format!("{prefix}{STATE_PART}{name}"), bytes);
            })?;
        }
        Ok(self.timers.snapshot_into(out, &format!("{prefix}{TIMERS_PART}"))?)
    }

    /// Takes back keys, values and timers written by [`snapshot`](Self::snapshot): keys
    /// get slots at once, values wait in the store until their state is declared.
    pub fn restore(&mut self, restored: &RestoredState, max_parallelism: u32) -> Result<(), StateError> {
        self.restore_prefixed(restored, max_parallelism, "", true)
    }

    /// [`restore`](Self::restore) of parts written by
    /// [`snapshot_prefixed`](Self::snapshot_prefixed); `check_groups: false` for a
    /// nested backend, whose keys are placed by the outer key.
    pub fn restore_prefixed(
        &mut self,
        restored: &RestoredState,
        max_parallelism: u32,
        prefix: &str,
        check_groups: bool,
    ) -> Result<(), StateError> {
        let mut hasher = KeyHasher::new();
        let groups = KeyGroupAssigner::new(max_parallelism);
        let mut place = |group: u32, key: &K| -> Result<u64, StateError> {
            let hash = hasher.hash(key)?;
            if check_groups {
                super::check_group(groups.key_group(hash), group)?;
            }
            Ok(hash)
        };
        let store = self.scope.keyed().ok_or(StateError::NotKeyed)?;
        let state_prefix = format!("{prefix}{STATE_PART}");
        for part in restored.part_names(&state_prefix) {
            let name = &part[state_prefix.len()..];
            for (group, bytes) in restored.keyed_parts(&part) {
                let entries: Vec<(K, Vec<u8>)> = codec::decode(bytes)?;
                for (key, value) in entries {
                    let hash = place(group, &key)?;
                    let (slot, _, _) = self.directory.slot_or_insert_owned(group, hash, key)?;
                    store.add_pending(name, slot, value);
                }
            }
        }
        self.timers.restore_from(restored, &format!("{prefix}{TIMERS_PART}"), place)
    }

    /// A backend for a finer key (a key and a window) whose state lives in a scope
    /// nested in this one, in the same key groups.
    pub fn nested<K2: Key>(&self) -> KeyedBackend<K2> {
        KeyedBackend {
            directory: KeyDirectory::new(self.directory.range()),
            clock: self.clock.clone(),
            scope: StateScope::nested(&self.scope),
            timers: Timers::default(),
            watermark: Timestamp::MIN,
        }
    }

    /// Makes `key` current (giving it a slot) for state accessed outside a record or
    /// timer (a window function); returns its slot and whether it is new, for
    /// [`leave`](Self::leave).
    pub fn enter_key(&mut self, key_group: u32, hash: u64, key: &K) -> Result<(u32, bool), StateError> {
        let (slot, _, new_key) = self.directory.slot_or_insert(key_group, hash, key, || key.clone())?;
        if let Some(store) = self.scope.keyed() {
            store.set_current(Some(slot));
        }
        Ok((slot, new_key))
    }

    /// The keyed store.
    #[inline]
    pub fn store(&self) -> &KeyedStore {
        self.scope.keyed().expect("a keyed backend is only opened on a keyed scope")
    }

    /// Warms the state of a record ahead (see [`KeyedLookahead`](super::KeyedLookahead)):
    /// first its directory bucket, then the values of its slot in every state.
    #[inline]
    pub fn warm(&self, stage: Warm, key_group: u32, hash: u64, key: &K) {
        match stage {
            Warm::Bucket => self.directory.prefetch(key_group, hash),
            Warm::Values => {
                if let Ok(Some(slot)) = self.directory.slot(key_group, hash, key) {
                    self.store().prefetch(slot);
                }
            }
        }
    }

    /// After a record or timer of `slot`: runs the per-record TTL sweep, forgets the key
    /// if it holds no state (checked only when the key was new or lost a value, so that
    /// the common case reads nothing more), and forgets keys that sweeps emptied.
    #[inline]
    pub fn leave(&mut self, slot: u32, new_key: bool) {
        let store = self.scope.keyed().expect("a keyed backend is only opened on a keyed scope");
        store.sweep_per_record(&*self.clock);
        let maybe_empty = new_key || store.current_lost_a_value();
        store.set_current(None);
        if maybe_empty && store.live(slot) == 0 {
            self.directory.release(slot);
        }
        for swept in store.take_swept() {
            if store.live(swept) == 0 {
                self.directory.release(swept);
            }
        }
    }

    /// Runs `f` on a placed record with its key current: `f` gets the record's value and
    /// timestamp and the timers of its key (which carry the key as stored).
    #[inline]
    pub fn with_record<T, R>(
        &mut self,
        key_selector: &dyn KeyExtractor<T, K>,
        placed: Placed<K, T>,
        f: impl FnOnce(T, Timestamp, TimerService<'_, K>) -> R,
    ) -> Result<R, StateError> {
        let (key_group, hash) = (placed.key_group, placed.hash);
        let (slot, key, new_key) = match placed.computed_key {
            Some(key) => self.directory.slot_or_insert_owned(key_group, hash, key)?,
            None => {
                let Some(key) = key_selector.borrowed(&placed.record.value) else {
                    return Err(StateError::MissingKey);
                };
                self.directory.slot_or_insert(key_group, hash, key, || key.clone())?
            }
        };
        if let Some(store) = self.scope.keyed() {
            store.set_current(Some(slot));
        }
        let timers = TimerService::new(&mut self.timers, key, key_group, hash, self.watermark, &self.clock);
        let result = f(placed.record.value, placed.record.timestamp, timers);
        self.leave(slot, new_key);
        Ok(result)
    }

    /// Runs `f` for a firing timer with its key current.
    pub fn with_timer<R>(
        &mut self,
        timer: Timer<K>,
        f: impl FnOnce(Timestamp, TimerService<'_, K>) -> R,
    ) -> Result<R, StateError> {
        let (key_group, hash, timestamp) = (timer.key_group, timer.hash, timer.timestamp);
        let (slot, key, new_key) = self.directory.slot_or_insert_owned(key_group, hash, timer.key)?;
        if let Some(store) = self.scope.keyed() {
            store.set_current(Some(slot));
        }
        let timers = TimerService::new(&mut self.timers, key, key_group, hash, self.watermark, &self.clock);
        let result = f(timestamp, timers);
        self.leave(slot, new_key);
        Ok(result)
    }

    /// Calls `function` for every key holding a value in the state of `descriptor`,
    /// with that key current.
    pub fn apply_to_state<D: super::KeyedStateDescriptor>(
        &mut self,
        descriptor: &D,
        mut function: impl FnMut(&K, &D::Handle) -> crate::functions::FnResult,
    ) -> crate::functions::FnResult {
        let scope = self.scope.clone();
        let store = scope.keyed().ok_or(StateError::NotKeyed)?;
        let (kind, type_id) = descriptor.signature();
        let index = store.index_of(descriptor.state_name(), kind, type_id)?;
        let handle = descriptor.handle(self.scope.id, index);
        let holding: Vec<(K, u32)> = self
            .directory
            .entries()
            .filter(|(_, slot)| store.has_value(index, *slot))
            .map(|(key, slot)| (key.clone(), slot))
            .collect();
        for (key, slot) in holding {
            store.set_current(Some(slot));
            let result = function(&key, &handle);
            self.leave(slot, false);
            result?;
        }
        Ok(())
    }
}
