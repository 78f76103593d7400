//! Windows over keyed streams (Flink's windowing): which windows a record belongs to
//! ([`WindowAssigner`]), when a window emits ([`Trigger`]), and what it emits (an
//! aggregate, a reduce, or a [`ProcessWindowFunction`] over its elements).
//!
//! The operators are in `operator/window.rs` (any assigner and trigger, per key and
//! window, as in Flink) and `operator/sliced_window.rs` (tumbling and sliding windows
//! with their default trigger: records go into one slice each, and windows are combined
//! from slices when they fire, so a record costs the same whatever the overlap).

mod assigner;
mod function;
mod merging;
mod trigger;

use std::fmt::Debug;
use std::hash::Hash;

use serde::{Deserialize, Serialize};
use spate_core::Timestamp;

pub use assigner::{
    DynamicGap, EventTimeSessionWindows, GlobalWindows, InvalidWindows, ProcessingTimeSessionWindows, Slicing,
    SlidingEventTimeWindows, SlidingProcessingTimeWindows, TumblingEventTimeWindows, TumblingProcessingTimeWindows,
    WindowAssigner,
};
pub use function::{
    AggregateContents, EmitElements, EmitWith, ListContents, ProcessWindowFunction, ReduceContents, WindowContents,
    WindowContext, WindowEmit, WindowStateAccess,
};
pub use merging::{Merged, MergingWindowSet};
pub use trigger::{
    ContinuousEventTimeTrigger, ContinuousProcessingTimeTrigger, CountTrigger, EventTimeTrigger, NeverTrigger,
    ProcessingTimeTrigger, PurgingTrigger, TimerRequest, Trigger, TriggerContext, TriggerResult,
};

/// A window: a group of records that are emitted together.
pub trait Window:
    Clone + Eq + Hash + Ord + Debug + Send + Sync + Serialize + serde::de::DeserializeOwned + 'static
{
    /// The largest timestamp that belongs to the window: an event-time window is
    /// complete when the watermark reaches it.
    fn max_timestamp(&self) -> Timestamp;

    /// This kind of window for a time window, if it is one (windows of tumbling and
    /// sliding assigners, which the sliced operator builds from their bounds).
    fn from_time_window(_window: TimeWindow) -> Option<Self> {
        None
    }
}

/// A window of time, `[start, end)` in milliseconds (Flink's `TimeWindow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimeWindow {
    /// The first millisecond in the window.
    pub start: Timestamp,
    /// The first millisecond after the window.
    pub end: Timestamp,
}

impl TimeWindow {
    /// The window `[start, end)`.
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        TimeWindow { start, end }
    }

    /// Whether the two windows overlap or touch (session windows that touch merge).
    pub fn intersects(&self, other: &TimeWindow) -> bool {
        self.start <= other.end && self.end >= other.start
    }

    /// The smallest window covering both.
    pub fn cover(&self, other: &TimeWindow) -> TimeWindow {
        TimeWindow { start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    /// The start of the window of `size` (shifted by `offset`) that holds `timestamp`
    /// (computed without overflow for any timestamp a record may carry).
    #[inline]
    pub fn start_of(timestamp: Timestamp, offset: i64, size: i64) -> Timestamp {
        let size = size.max(1);
        if let Some(shifted) = timestamp.checked_sub(offset) {
            if let Some(start) = timestamp.checked_sub(shifted.rem_euclid(size)) {
                return start;
            }
        }
        clamp_time(grid_start(timestamp, offset, size))
    }

    /// The end of the window of `size` (shifted by `offset`) that holds `timestamp`:
    /// exact also for a window that begins before `Timestamp::MIN` (whose start
    /// [`start_of`](Self::start_of) clamps), saturating at `Timestamp::MAX`.
    #[inline]
    pub fn end_of(timestamp: Timestamp, offset: i64, size: i64) -> Timestamp {
        let size = size.max(1);
        if let Some(shifted) = timestamp.checked_sub(offset) {
            if let Some(start) = timestamp.checked_sub(shifted.rem_euclid(size)) {
                return start.saturating_add(size);
            }
        }
        clamp_time(grid_start(timestamp, offset, size) + i128::from(size))
    }
}

/// The start of the cell of `size` (shifted by `offset`) that holds `timestamp`, without
/// overflow: below `Timestamp::MIN` for the first cells of time.
pub(crate) fn grid_start(timestamp: Timestamp, offset: i64, size: i64) -> i128 {
    let size = size.max(1);
    if let Some(start) =
        timestamp.checked_sub(offset).and_then(|shifted| timestamp.checked_sub(shifted.rem_euclid(size)))
    {
        return i128::from(start);
    }
    let (t, size) = (i128::from(timestamp), i128::from(size));
    t - (t - i128::from(offset)).rem_euclid(size)
}

/// The sliding windows of `size` every `slide` (shifted by `offset`) that hold
/// `timestamp`, latest first: all of them also at both ends of time, where their bounds
/// are clamped (the first windows begin before `Timestamp::MIN`, the last end after MAX).
pub(crate) fn sliding_windows(
    timestamp: Timestamp,
    size: i64,
    slide: i64,
    offset: i64,
) -> impl Iterator<Item = TimeWindow> {
    let latest = grid_start(timestamp, offset, slide);
    let (earliest, size, slide) =
        (i128::from(timestamp) - i128::from(size), i128::from(size), i128::from(slide.max(1)));
    (0..)
        .map(move |k: i128| latest - k * slide)
        .take_while(move |&start| start > earliest)
        .map(move |start| TimeWindow::new(clamp_time(start), clamp_time(start + size)))
}

/// A time computed in `i128`, clamped to the range of [`Timestamp`].
pub(crate) fn clamp_time(t: i128) -> Timestamp {
    t.clamp(i128::from(Timestamp::MIN), i128::from(Timestamp::MAX)) as Timestamp
}

impl Window for TimeWindow {
    fn max_timestamp(&self) -> Timestamp {
        self.end - 1
    }

    fn from_time_window(window: TimeWindow) -> Option<Self> {
        Some(window)
    }
}

/// The one window of [`GlobalWindows`]: every record of a key, until a trigger fires.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GlobalWindow;

impl Window for GlobalWindow {
    fn max_timestamp(&self) -> Timestamp {
        Timestamp::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_starts_align_to_size_and_offset() {
        assert_eq!(TimeWindow::start_of(12_345, 0, 5_000), 10_000);
        assert_eq!(TimeWindow::start_of(-1, 0, 5_000), -5_000, "negative timestamps round down");
        assert_eq!(TimeWindow::start_of(12_345, 1_000, 5_000), 11_000);
        assert_eq!(TimeWindow::start_of(10_000, 0, 5_000), 10_000);
        let a = TimeWindow::new(0, 10);
        assert!(a.intersects(&TimeWindow::new(10, 20)), "touching windows intersect");
        assert!(!a.intersects(&TimeWindow::new(11, 20)));
        assert_eq!(a.cover(&TimeWindow::new(5, 30)), TimeWindow::new(0, 30));
        assert_eq!(a.max_timestamp(), 9);
    }
}
