//! The windows of one key under a merging assigner (sessions).

use super::Window;

/// The windows of one key that merge: adding a window merges it with the ones it
/// overlaps (Flink's `MergingWindowSet`, without its indirection to "state windows":
/// here the contents move with the window, since they are in memory).
#[derive(Clone, Debug, Default)]
pub struct MergingWindowSet<W> {
    windows: Vec<W>,
}

/// What adding a window did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged<W> {
    /// The window the new one ended up in.
    pub window: W,
    /// Windows that existed before and are now part of `window` (their contents must
    /// move into it), not including `window` itself if it existed.
    pub absorbed: Vec<W>,
    /// Whether `window` is new (not a window that existed before).
    pub is_new: bool,
}

impl<W: Window> MergingWindowSet<W> {
    /// An empty set.
    pub fn new() -> Self {
        MergingWindowSet { windows: Vec::new() }
    }

    /// The windows.
    pub fn windows(&self) -> &[W] {
        &self.windows
    }

    /// Whether there is no window.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Adds `window`, merging it with what `merge` groups it with (`merge` is the
    /// assigner's: it returns each merged window with the windows it covers).
    pub fn add(&mut self, window: W, merge: impl Fn(&[W]) -> Vec<(W, Vec<W>)>) -> Merged<W> {
        let mut all = self.windows.clone();
        all.push(window.clone());
        for (merged, members) in merge(&all) {
            if members.contains(&window) {
                let absorbed: Vec<W> =
                    members.iter().filter(|m| **m != merged && self.windows.contains(m)).cloned().collect();
                let existed = self.windows.contains(&merged);
                self.windows.retain(|w| !members.contains(w));
                self.windows.push(merged.clone());
                return Merged { window: merged, absorbed, is_new: !existed };
            }
        }
        if self.windows.contains(&window) {
            return Merged { window, absorbed: Vec::new(), is_new: false };
        }
        self.windows.push(window.clone());
        Merged { window, absorbed: Vec::new(), is_new: true }
    }

    /// Removes a window (it was purged or cleaned up).
    pub fn remove(&mut self, window: &W) {
        self.windows.retain(|w| w != window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{EventTimeSessionWindows, TimeWindow, WindowAssigner};

    #[test]
    fn a_bridging_window_merges_two_sessions() {
        let assigner = EventTimeSessionWindows::<()>::with_gap(std::time::Duration::from_millis(10));
        let merge = |w: &[TimeWindow]| assigner.merge_windows(w);
        let mut set = MergingWindowSet::new();
        let a = set.add(TimeWindow::new(0, 10), merge);
        assert_eq!(a, Merged { window: TimeWindow::new(0, 10), absorbed: vec![], is_new: true });
        set.add(TimeWindow::new(30, 40), merge);
        let bridge = set.add(TimeWindow::new(15, 25), merge);
        assert_eq!(bridge.window, TimeWindow::new(15, 25), "15..25 touches neither 0..10 nor 30..40");
        let joined = set.add(TimeWindow::new(8, 32), merge);
        assert_eq!(joined.window, TimeWindow::new(0, 40));
        assert_eq!(joined.absorbed.len(), 3);
        assert!(joined.is_new);
        assert_eq!(set.windows(), &[TimeWindow::new(0, 40)]);
        let inside = set.add(TimeWindow::new(5, 15), merge);
        assert_eq!(inside, Merged { window: TimeWindow::new(0, 40), absorbed: vec![], is_new: false });
    }
}
