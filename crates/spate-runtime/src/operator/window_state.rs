//! The state a window function may use: per key, across windows (the operator's keyed
//! state) and per key and window (a nested scope keyed by the pair, dropped with the
//! window). Both are set up only when the function uses them.

use std::rc::Rc;

use spate_core::{Key, KeyHasher};

use crate::context::RuntimeContext;
use crate::state::{KeyedBackend, ScopeGuard, StateError, StateScope};
use crate::window::{Window, WindowStateAccess};

/// The prefix of the parts of per-window state in a checkpoint.
const WINDOWS_PART: &str = "windows/";

/// Per-key and per-window state of a window operator's function.
pub struct WindowFunctionState<K, W> {
    global: KeyedBackend<K>,
    windows: KeyedBackend<(K, W)>,
    hasher: KeyHasher,
}

impl<K: Key, W: Window> WindowFunctionState<K, W> {
    /// The state of the operator of `ctx`.
    pub fn open(ctx: &RuntimeContext) -> Result<Self, StateError> {
        let global = KeyedBackend::open(ctx)?;
        let mut windows = global.nested();
        if let Some(restored) = ctx.restored() {
            windows.restore_prefixed(restored, ctx.max_parallelism(), WINDOWS_PART, false)?;
        }
        Ok(WindowFunctionState { global, windows, hasher: KeyHasher::new() })
    }

    /// Writes the global and per-window state of the window function.
    pub fn snapshot(&self, out: &mut crate::checkpoint::OperatorSnapshot) -> Result<(), StateError> {
        self.global.snapshot(out)?;
        self.windows.snapshot_prefixed(out, WINDOWS_PART)
    }

    /// Access for one call of the window function for `key` and `window`.
    pub fn access<'a>(&'a mut self, key: &'a K, key_group: u32, hash: u64, window: &'a W) -> Access<'a, K, W> {
        Access { state: self, key, key_group, hash, window, global_slot: None, window_slot: None, guard: None }
    }

    /// Drops the state of `window` of `key`.
    pub fn clear_window(&mut self, key: &K, key_group: u32, window: &W) -> Result<(), StateError> {
        if !self.windows.store().has_states() {
            return Ok(());
        }
        let pair = (key.clone(), window.clone());
        let hash = self.hasher.hash(&pair)?;
        if let Some(slot) = self.windows.directory.slot(key_group, hash, &pair)? {
            self.windows.store().clear_slot(slot);
            self.windows.directory.release(slot);
        }
        Ok(())
    }
}

/// The state of one call of a window function: scopes are made current on first use
/// (or at once, if state was declared before), and left when the call ends.
pub struct Access<'a, K: Key, W: Window> {
    state: &'a mut WindowFunctionState<K, W>,
    key: &'a K,
    key_group: u32,
    hash: u64,
    window: &'a W,
    global_slot: Option<(u32, bool)>,
    window_slot: Option<(u32, bool)>,
    guard: Option<ScopeGuard>,
}

impl<K: Key, W: Window> Access<'_, K, W> {
    /// Makes current the scopes that already hold state, so that handles declared
    /// earlier work without the function asking for the store again.
    pub fn prepare(&mut self) -> Result<(), StateError> {
        if self.state.global.store().has_states() {
            self.global_scope()?;
        }
        if self.state.windows.store().has_states() {
            self.window_scope()?;
        }
        Ok(())
    }
}

impl<K: Key, W: Window> WindowStateAccess for Access<'_, K, W> {
    fn window_scope(&mut self) -> Result<&Rc<StateScope>, StateError> {
        if self.window_slot.is_none() {
            let pair = (self.key.clone(), self.window.clone());
            let hash = self.state.hasher.hash(&pair)?;
            self.window_slot = Some(self.state.windows.enter_key(self.key_group, hash, &pair)?);
            self.guard = Some(self.state.windows.scope.enter());
        }
        Ok(&self.state.windows.scope)
    }

    fn global_scope(&mut self) -> Result<&Rc<StateScope>, StateError> {
        if self.global_slot.is_none() {
            self.global_slot = Some(self.state.global.enter_key(self.key_group, self.hash, self.key)?);
        }
        Ok(&self.state.global.scope)
    }
}

impl<K: Key, W: Window> Drop for Access<'_, K, W> {
    fn drop(&mut self) {
        self.guard.take();
        if let Some((slot, new)) = self.window_slot.take() {
            self.state.windows.leave(slot, new);
        }
        if let Some((slot, new)) = self.global_slot.take() {
            self.state.global.leave(slot, new);
        }
    }
}
