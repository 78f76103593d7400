//! What a keyed operator keeps besides its function: the key directory, the state scope,
//! the timers and the watermark.

use std::rc::Rc;
use std::sync::Arc;

use spate_core::{Key, Timestamp};

use super::directory::KeyDirectory;
use super::{KeyedStore, StateError, StateScope};
use crate::context::RuntimeContext;
use crate::time::Clock;
use crate::timer::Timers;

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
        Ok(KeyedBackend {
            directory: KeyDirectory::new(ctx.task_info().key_group_range()),
            clock: ctx.task_info().clock.clone(),
            scope,
            timers: Timers::default(),
            watermark: Timestamp::MIN,
        })
    }

    /// The keyed store.
    #[inline]
    pub fn store(&self) -> &KeyedStore {
        self.scope.keyed().expect("a keyed backend is only opened on a keyed scope")
    }

    /// Warms the cache for a key: its directory entry and its values in every state.
    #[inline]
    pub fn touch(&self, key_group: u32, hash: u64, key: &K) {
        if let Some(slot) = self.directory.touch(key_group, hash, key) {
            self.store().touch(slot);
        }
    }

    /// After a record or timer of `slot`: forgets the key if it holds no state, runs
    /// the per-record TTL sweep, and forgets keys that sweeps emptied.
    #[inline]
    pub fn leave(&mut self, slot: u32) {
        let store = self.scope.keyed().expect("a keyed backend is only opened on a keyed scope");
        store.sweep_per_record(&*self.clock);
        store.set_current(None);
        if store.live(slot) == 0 {
            self.directory.release(slot);
        }
        for swept in store.take_swept() {
            if store.live(swept) == 0 {
                self.directory.release(swept);
            }
        }
    }
}
