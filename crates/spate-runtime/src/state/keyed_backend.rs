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

    /// Warms the cache for the keys of a chunk of records, in two loops that do nothing
    /// else so that their cache misses overlap: first the directory entries (finding the
    /// slots of known keys), then the keys' values in every state.
    #[inline]
    pub fn touch_all<'a>(&self, keys: impl Iterator<Item = (u32, u64, &'a K)>, slots: &mut Vec<u32>)
    where
        K: 'a,
    {
        slots.clear();
        slots.extend(keys.filter_map(|(g, h, k)| self.directory.touch(g, h, k)));
        let store = self.store();
        for &slot in slots.iter() {
            store.touch(slot);
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
}
