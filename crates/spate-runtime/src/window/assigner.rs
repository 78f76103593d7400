//! Window assigners: which windows a record belongs to (Flink's `WindowAssigner`s).

use std::sync::Arc;
use std::time::Duration;

use spate_core::Timestamp;

use super::trigger::{EventTimeTrigger, NeverTrigger, ProcessingTimeTrigger, Trigger};
use super::{GlobalWindow, TimeWindow, Window, sliding_windows};

/// Assigns each record to windows.
pub trait WindowAssigner<T>: Clone + Send + Sync + 'static {
    /// The kind of window.
    type W: Window;
    /// The trigger used unless another is set.
    type DefaultTrigger: Trigger<T, Self::W>;

    /// Pushes the windows of a record with `timestamp` (its event time for event-time
    /// assigners, the current processing time for the others) onto `windows`.
    fn assign_windows(&self, element: &T, timestamp: Timestamp, windows: &mut Vec<Self::W>);

    /// The default trigger: fire when time passes the end of the window.
    fn default_trigger(&self) -> Self::DefaultTrigger;

    /// Whether windows are in event time (else processing time).
    fn is_event_time(&self) -> bool;

    /// Whether windows merge (session windows).
    fn is_merging(&self) -> bool {
        false
    }

    /// Groups `windows` (of one key) into merged windows: each result is a window and
    /// the windows it covers (only groups of two or more are returned).
    fn merge_windows(&self, _windows: &[Self::W]) -> Vec<(Self::W, Vec<Self::W>)> {
        Vec::new()
    }

    /// Tumbling and sliding windows describe their geometry, which lets the runtime keep
    /// each record in one slice instead of in every window that holds it.
    fn slicing(&self) -> Option<Slicing> {
        None
    }

    /// Why the assigner cannot work (e.g. a window size of zero), checked when the
    /// pipeline is built.
    fn check(&self) -> Result<(), InvalidWindows> {
        Ok(())
    }
}

/// The geometry of tumbling (`size == slide`) and sliding windows: windows start at
/// `offset + k * slide` and last `size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slicing {
    /// Window length, ms.
    pub size: i64,
    /// Distance between window starts, ms.
    pub slide: i64,
    /// Shift of window starts from the epoch, ms.
    pub offset: i64,
    /// Event time (else processing time).
    pub event_time: bool,
}

impl Slicing {
    /// The length of a slice: the largest span that every window boundary is a
    /// multiple of.
    pub fn slice(&self) -> i64 {
        gcd(self.size, self.slide)
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// A duration in milliseconds; 0 for durations under a millisecond, which
/// [`WindowAssigner::check`] reports.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Why an assigner's windows cannot exist.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidWindows {
    /// A size, slide or gap under a millisecond.
    #[error("{what} must be at least 1 ms")]
    TooShort {
        /// Which: `a window size`, `a window slide`, `a session gap`.
        what: &'static str,
    },
}

fn check_positive(value: i64, what: &'static str) -> Result<(), InvalidWindows> {
    if value > 0 { Ok(()) } else { Err(InvalidWindows::TooShort { what }) }
}

/// The window of `timestamp`. Windows are exact at both ends of time but for their
/// bounds, which are clamped: the first begins at `Timestamp::MIN` (and ends where it
/// should), the last ends at `Timestamp::MAX`.
fn tumbling(timestamp: Timestamp, size: i64, offset: i64) -> TimeWindow {
    TimeWindow::new(TimeWindow::start_of(timestamp, offset, size), TimeWindow::end_of(timestamp, offset, size))
}

/// The windows of `timestamp`, latest first (see [`sliding_windows`]).
fn sliding(timestamp: Timestamp, size: i64, slide: i64, offset: i64, windows: &mut Vec<TimeWindow>) {
    windows.extend(sliding_windows(timestamp, size, slide, offset));
}

macro_rules! time_windows {
    ($(#[$doc:meta])* $name:ident, $event_time:expr, $trigger:ident, tumbling) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name {
            size: i64,
            offset: i64,
        }

        impl $name {
            /// Windows of `size` (at least 1 ms), aligned to the epoch.
            pub fn of(size: Duration) -> Self {
                $name { size: millis(size), offset: 0 }
            }

            /// Windows of `size` starting `offset` after the epoch's alignment (e.g.
            /// days in a time zone).
            pub fn with_offset(mut self, offset: Duration) -> Self {
                self.offset = millis(offset) % self.size.max(1);
                self
            }
        }

        impl<T> WindowAssigner<T> for $name {
            type W = TimeWindow;
            type DefaultTrigger = $trigger;

            fn assign_windows(&self, _element: &T, timestamp: Timestamp, windows: &mut Vec<TimeWindow>) {
                windows.push(tumbling(timestamp, self.size, self.offset));
            }

            fn default_trigger(&self) -> $trigger {
                $trigger
            }

            fn is_event_time(&self) -> bool {
                $event_time
            }

            fn slicing(&self) -> Option<Slicing> {
                Some(Slicing { size: self.size, slide: self.size, offset: self.offset, event_time: $event_time })
            }

            fn check(&self) -> Result<(), InvalidWindows> {
                check_positive(self.size, "a window size")
            }
        }
    };
    ($(#[$doc:meta])* $name:ident, $event_time:expr, $trigger:ident, sliding) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name {
            size: i64,
            slide: i64,
            offset: i64,
        }

        impl $name {
            /// Windows of `size`, one starting every `slide` (both at least 1 ms).
            pub fn of(size: Duration, slide: Duration) -> Self {
                $name { size: millis(size), slide: millis(slide), offset: 0 }
            }

            /// Window starts shifted by `offset`.
            pub fn with_offset(mut self, offset: Duration) -> Self {
                self.offset = millis(offset) % self.slide.max(1);
                self
            }
        }

        impl<T> WindowAssigner<T> for $name {
            type W = TimeWindow;
            type DefaultTrigger = $trigger;

            fn assign_windows(&self, _element: &T, timestamp: Timestamp, windows: &mut Vec<TimeWindow>) {
                sliding(timestamp, self.size, self.slide, self.offset, windows);
            }

            fn default_trigger(&self) -> $trigger {
                $trigger
            }

            fn is_event_time(&self) -> bool {
                $event_time
            }

            fn slicing(&self) -> Option<Slicing> {
                Some(Slicing { size: self.size, slide: self.slide, offset: self.offset, event_time: $event_time })
            }

            fn check(&self) -> Result<(), InvalidWindows> {
                check_positive(self.size, "a window size")?;
                check_positive(self.slide, "a window slide")
            }
        }
    };
}

time_windows!(
    /// Consecutive event-time windows of one size (Flink's `TumblingEventTimeWindows`).
    TumblingEventTimeWindows, true, EventTimeTrigger, tumbling
);
time_windows!(
    /// Consecutive processing-time windows of one size.
    TumblingProcessingTimeWindows, false, ProcessingTimeTrigger, tumbling
);
time_windows!(
    /// Overlapping event-time windows: one of `size` every `slide`.
    SlidingEventTimeWindows, true, EventTimeTrigger, sliding
);
time_windows!(
    /// Overlapping processing-time windows: one of `size` every `slide`.
    SlidingProcessingTimeWindows, false, ProcessingTimeTrigger, sliding
);

/// The gap of a session window after an element, in milliseconds, from the element.
pub type DynamicGap<T> = Arc<dyn Fn(&T) -> Duration + Send + Sync>;

enum Gap<T> {
    Static(i64),
    Dynamic(DynamicGap<T>),
}

impl<T> Clone for Gap<T> {
    fn clone(&self) -> Self {
        match self {
            Gap::Static(gap) => Gap::Static(*gap),
            Gap::Dynamic(f) => Gap::Dynamic(f.clone()),
        }
    }
}

impl<T> Gap<T> {
    fn of(&self, element: &T) -> i64 {
        match self {
            Gap::Static(gap) => *gap,
            Gap::Dynamic(f) => millis(f(element)).max(1),
        }
    }
}

fn merge_sessions(windows: &[TimeWindow]) -> Vec<(TimeWindow, Vec<TimeWindow>)> {
    let mut sorted = windows.to_vec();
    sorted.sort();
    let mut groups: Vec<(TimeWindow, Vec<TimeWindow>)> = Vec::new();
    for w in sorted {
        match groups.last_mut() {
            Some((cover, members)) if cover.intersects(&w) => {
                *cover = cover.cover(&w);
                members.push(w);
            }
            _ => groups.push((w, vec![w])),
        }
    }
    groups.retain(|(_, members)| members.len() > 1);
    groups
}

macro_rules! session_windows {
    ($(#[$doc:meta])* $name:ident, $event_time:expr, $trigger:ident) => {
        $(#[$doc])*
        pub struct $name<T> {
            gap: Gap<T>,
        }

        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name { gap: self.gap.clone() }
            }
        }

        impl<T> $name<T> {
            /// Sessions that close after `gap` (at least 1 ms) without a record.
            pub fn with_gap(gap: Duration) -> Self {
                $name { gap: Gap::Static(millis(gap)) }
            }

            /// Sessions whose gap after each record depends on the record.
            pub fn with_dynamic_gap(gap: impl Fn(&T) -> Duration + Send + Sync + 'static) -> Self {
                $name { gap: Gap::Dynamic(Arc::new(gap)) }
            }
        }

        impl<T: 'static> WindowAssigner<T> for $name<T> {
            type W = TimeWindow;
            type DefaultTrigger = $trigger;

            fn assign_windows(&self, element: &T, timestamp: Timestamp, windows: &mut Vec<TimeWindow>) {
                windows.push(TimeWindow::new(timestamp, timestamp.saturating_add(self.gap.of(element))));
            }

            fn default_trigger(&self) -> $trigger {
                $trigger
            }

            fn is_event_time(&self) -> bool {
                $event_time
            }

            fn is_merging(&self) -> bool {
                true
            }

            fn merge_windows(&self, windows: &[TimeWindow]) -> Vec<(TimeWindow, Vec<TimeWindow>)> {
                merge_sessions(windows)
            }

            fn check(&self) -> Result<(), InvalidWindows> {
                match &self.gap {
                    Gap::Static(gap) => check_positive(*gap, "a session gap"),
                    Gap::Dynamic(_) => Ok(()),
                }
            }
        }
    };
}

session_windows!(
    /// Event-time sessions: windows that grow while records keep coming within the gap,
    /// and merge when a record bridges two (Flink's `EventTimeSessionWindows`).
    EventTimeSessionWindows, true, EventTimeTrigger
);
session_windows!(
    /// Processing-time sessions.
    ProcessingTimeSessionWindows, false, ProcessingTimeTrigger
);

/// One window per key holding all its records; it fires only by a trigger set on the
/// windowed stream (Flink's `GlobalWindows`), e.g. a [`CountTrigger`](super::CountTrigger).
#[derive(Clone, Copy, Debug, Default)]
pub struct GlobalWindows;

impl GlobalWindows {
    /// The global window assigner.
    pub fn create() -> Self {
        GlobalWindows
    }
}

impl<T> WindowAssigner<T> for GlobalWindows {
    type W = GlobalWindow;
    type DefaultTrigger = NeverTrigger;

    fn assign_windows(&self, _element: &T, _timestamp: Timestamp, windows: &mut Vec<GlobalWindow>) {
        windows.push(GlobalWindow);
    }

    fn default_trigger(&self) -> NeverTrigger {
        NeverTrigger
    }

    fn is_event_time(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assign<A: WindowAssigner<()>>(a: &A, ts: Timestamp) -> Vec<A::W> {
        let mut w = Vec::new();
        a.assign_windows(&(), ts, &mut w);
        w
    }

    #[test]
    fn tumbling_and_sliding_windows_hold_their_timestamps() {
        let t = TumblingEventTimeWindows::of(Duration::from_secs(5));
        assert_eq!(assign(&t, 7_000), vec![TimeWindow::new(5_000, 10_000)]);
        let t = t.with_offset(Duration::from_secs(1));
        assert_eq!(assign(&t, 5_500), vec![TimeWindow::new(1_000, 6_000)]);
        let s = SlidingEventTimeWindows::of(Duration::from_secs(10), Duration::from_secs(5));
        assert_eq!(assign(&s, 7_000), vec![TimeWindow::new(5_000, 15_000), TimeWindow::new(0, 10_000)]);
        assert_eq!(assign(&s, 5_000), vec![TimeWindow::new(5_000, 15_000), TimeWindow::new(0, 10_000)]);
        let uneven = SlidingEventTimeWindows::of(Duration::from_millis(10), Duration::from_millis(4));
        for ts in -20..20 {
            let windows = assign(&uneven, ts);
            assert!(windows.iter().all(|w| w.start <= ts && ts < w.end), "{ts}: {windows:?}");
            assert!(windows.len() == 2 || windows.len() == 3, "{ts}: {windows:?}");
        }
        assert_eq!(WindowAssigner::<()>::slicing(&uneven).map(|s| s.slice()), Some(2));
    }

    #[test]
    fn sessions_merge_when_they_touch() {
        let a = EventTimeSessionWindows::<()>::with_gap(Duration::from_millis(10));
        let windows =
            [TimeWindow::new(0, 10), TimeWindow::new(25, 35), TimeWindow::new(10, 20), TimeWindow::new(40, 50)];
        let merged = a.merge_windows(&windows);
        assert_eq!(merged, vec![(TimeWindow::new(0, 20), vec![TimeWindow::new(0, 10), TimeWindow::new(10, 20)])]);
        let dynamic = EventTimeSessionWindows::with_dynamic_gap(|gap: &u64| Duration::from_millis(*gap));
        let mut w = Vec::new();
        dynamic.assign_windows(&7, 100, &mut w);
        assert_eq!(w, vec![TimeWindow::new(100, 107)]);
    }
}
