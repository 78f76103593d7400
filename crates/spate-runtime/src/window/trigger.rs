//! Triggers: when a window emits (Flink's `Trigger`s).

use spate_core::Timestamp;

use super::Window;
use crate::timer::TimeDomain;

/// What a trigger decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerResult {
    /// Do nothing.
    Continue,
    /// Emit the window's result and keep its contents.
    Fire,
    /// Drop the window's contents without emitting.
    Purge,
    /// Emit the window's result, then drop its contents.
    FireAndPurge,
}

impl TriggerResult {
    /// Whether the window emits.
    pub fn is_fire(self) -> bool {
        matches!(self, TriggerResult::Fire | TriggerResult::FireAndPurge)
    }

    /// Whether the window's contents are dropped.
    pub fn is_purge(self) -> bool {
        matches!(self, TriggerResult::Purge | TriggerResult::FireAndPurge)
    }
}

/// A timer a trigger asks for or gives up, for the window it was called for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerRequest {
    /// Call the trigger back at this time.
    Register(TimeDomain, Timestamp),
    /// Forget a timer asked for earlier.
    Delete(TimeDomain, Timestamp),
}

/// What a trigger can see and do: the time, and timers for its window.
pub struct TriggerContext<'a> {
    watermark: Timestamp,
    processing_time: Timestamp,
    requests: &'a mut Vec<TimerRequest>,
}

impl<'a> TriggerContext<'a> {
    /// A context at this watermark and processing time, collecting timer requests.
    pub fn new(watermark: Timestamp, processing_time: Timestamp, requests: &'a mut Vec<TimerRequest>) -> Self {
        TriggerContext { watermark, processing_time, requests }
    }

    /// The current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The current processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.processing_time
    }

    /// Calls `on_event_time` when the watermark reaches `time`.
    pub fn register_event_time_timer(&mut self, time: Timestamp) {
        self.requests.push(TimerRequest::Register(TimeDomain::EventTime, time));
    }

    /// Calls `on_processing_time` when processing time reaches `time`.
    pub fn register_processing_time_timer(&mut self, time: Timestamp) {
        self.requests.push(TimerRequest::Register(TimeDomain::ProcessingTime, time));
    }

    /// Deletes an event-time timer of this window.
    pub fn delete_event_time_timer(&mut self, time: Timestamp) {
        self.requests.push(TimerRequest::Delete(TimeDomain::EventTime, time));
    }

    /// Deletes a processing-time timer of this window.
    pub fn delete_processing_time_timer(&mut self, time: Timestamp) {
        self.requests.push(TimerRequest::Delete(TimeDomain::ProcessingTime, time));
    }
}

/// Decides when a window emits. Called per key and window; `state` is the trigger's own
/// state for that key and window (a count, the next firing time), kept by the runtime
/// with the window and dropped with it.
pub trait Trigger<T, W: Window>: Clone + Send + 'static {
    /// The trigger's state per key and window.
    type State: Default + Clone + Send + serde::Serialize + serde::de::DeserializeOwned + 'static;

    /// A record was added to `window`.
    fn on_element(
        &mut self,
        element: &T,
        timestamp: Timestamp,
        window: &W,
        state: &mut Self::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult;

    /// An event-time timer of `window` fired.
    fn on_event_time(
        &mut self,
        time: Timestamp,
        window: &W,
        state: &mut Self::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult;

    /// A processing-time timer of `window` fired.
    fn on_processing_time(
        &mut self,
        time: Timestamp,
        window: &W,
        state: &mut Self::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult;

    /// Whether the trigger works with merging (session) windows.
    fn can_merge(&self) -> bool {
        false
    }

    /// Windows were merged into `window`: returns the merged window's state from the
    /// states of the windows merged, and registers its timers (the merged windows' own
    /// timers are cleared by the runtime through [`clear`](Self::clear)).
    fn on_merge(&mut self, _window: &W, _merged: Vec<Self::State>, _ctx: &mut TriggerContext<'_>) -> Self::State {
        Self::State::default()
    }

    /// The window is dropped: delete its timers.
    fn clear(&mut self, window: &W, state: &mut Self::State, ctx: &mut TriggerContext<'_>);

    /// `Some(domain)` if the trigger fires exactly when `domain` passes the end of the
    /// window and does nothing else; lets the runtime serve tumbling and sliding
    /// windows from slices. Custom triggers keep the default.
    fn fires_at_window_end(&self) -> Option<TimeDomain> {
        None
    }
}

/// Fires when the watermark passes the end of the window; a late record within the
/// allowed lateness fires the window again at once (Flink's `EventTimeTrigger`).
#[derive(Clone, Copy, Debug, Default)]
pub struct EventTimeTrigger;

impl<T, W: Window> Trigger<T, W> for EventTimeTrigger {
    type State = ();

    fn on_element(
        &mut self,
        _: &T,
        _: Timestamp,
        window: &W,
        _: &mut (),
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if window.max_timestamp() <= ctx.current_watermark() {
            return TriggerResult::Fire;
        }
        ctx.register_event_time_timer(window.max_timestamp());
        TriggerResult::Continue
    }

    fn on_event_time(&mut self, time: Timestamp, window: &W, _: &mut (), _: &mut TriggerContext<'_>) -> TriggerResult {
        if time == window.max_timestamp() { TriggerResult::Fire } else { TriggerResult::Continue }
    }

    fn on_processing_time(&mut self, _: Timestamp, _: &W, _: &mut (), _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Continue
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn on_merge(&mut self, window: &W, _: Vec<()>, ctx: &mut TriggerContext<'_>) {
        if window.max_timestamp() > ctx.current_watermark() {
            ctx.register_event_time_timer(window.max_timestamp());
        }
    }

    fn clear(&mut self, window: &W, _: &mut (), ctx: &mut TriggerContext<'_>) {
        ctx.delete_event_time_timer(window.max_timestamp());
    }

    fn fires_at_window_end(&self) -> Option<TimeDomain> {
        Some(TimeDomain::EventTime)
    }
}

/// Fires when processing time passes the end of the window (Flink's
/// `ProcessingTimeTrigger`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessingTimeTrigger;

impl<T, W: Window> Trigger<T, W> for ProcessingTimeTrigger {
    type State = ();

    fn on_element(
        &mut self,
        _: &T,
        _: Timestamp,
        window: &W,
        _: &mut (),
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        ctx.register_processing_time_timer(window.max_timestamp());
        TriggerResult::Continue
    }

    fn on_event_time(&mut self, _: Timestamp, _: &W, _: &mut (), _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Continue
    }

    fn on_processing_time(&mut self, _: Timestamp, _: &W, _: &mut (), _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Fire
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn on_merge(&mut self, window: &W, _: Vec<()>, ctx: &mut TriggerContext<'_>) {
        if window.max_timestamp() > ctx.current_processing_time() {
            ctx.register_processing_time_timer(window.max_timestamp());
        }
    }

    fn clear(&mut self, window: &W, _: &mut (), ctx: &mut TriggerContext<'_>) {
        ctx.delete_processing_time_timer(window.max_timestamp());
    }

    fn fires_at_window_end(&self) -> Option<TimeDomain> {
        Some(TimeDomain::ProcessingTime)
    }
}

/// Never fires: the default of [`GlobalWindows`](super::GlobalWindows), which need a
/// trigger of their own.
#[derive(Clone, Copy, Debug, Default)]
pub struct NeverTrigger;

impl<T, W: Window> Trigger<T, W> for NeverTrigger {
    type State = ();

    fn on_element(&mut self, _: &T, _: Timestamp, _: &W, _: &mut (), _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Continue
    }

    fn on_event_time(&mut self, _: Timestamp, _: &W, _: &mut (), _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Continue
    }

    fn on_processing_time(&mut self, _: Timestamp, _: &W, _: &mut (), _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Continue
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn clear(&mut self, _: &W, _: &mut (), _: &mut TriggerContext<'_>) {}
}

/// Fires every `count` records of a window (Flink's `CountTrigger`).
#[derive(Clone, Copy, Debug)]
pub struct CountTrigger {
    count: u64,
}

impl CountTrigger {
    /// Fires after every `count` records (at least 1).
    pub fn of(count: u64) -> Self {
        CountTrigger { count: count.max(1) }
    }
}

impl<T, W: Window> Trigger<T, W> for CountTrigger {
    type State = u64;

    fn on_element(&mut self, _: &T, _: Timestamp, _: &W, seen: &mut u64, _: &mut TriggerContext<'_>) -> TriggerResult {
        *seen += 1;
        if *seen >= self.count {
            *seen = 0;
            TriggerResult::Fire
        } else {
            TriggerResult::Continue
        }
    }

    fn on_event_time(&mut self, _: Timestamp, _: &W, _: &mut u64, _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Continue
    }

    fn on_processing_time(&mut self, _: Timestamp, _: &W, _: &mut u64, _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Continue
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn on_merge(&mut self, _: &W, merged: Vec<u64>, _: &mut TriggerContext<'_>) -> u64 {
        merged.into_iter().sum()
    }

    fn clear(&mut self, _: &W, seen: &mut u64, _: &mut TriggerContext<'_>) {
        *seen = 0;
    }
}

/// Turns every `Fire` of another trigger into `FireAndPurge`: each firing emits only
/// what came since the last (Flink's `PurgingTrigger`).
#[derive(Clone, Copy, Debug)]
pub struct PurgingTrigger<G> {
    inner: G,
}

impl<G> PurgingTrigger<G> {
    /// Purges after every firing of `inner`.
    pub fn of(inner: G) -> Self {
        PurgingTrigger { inner }
    }
}

fn purging(result: TriggerResult) -> TriggerResult {
    if result.is_fire() { TriggerResult::FireAndPurge } else { result }
}

impl<T, W: Window, G: Trigger<T, W>> Trigger<T, W> for PurgingTrigger<G> {
    type State = G::State;

    fn on_element(
        &mut self,
        element: &T,
        timestamp: Timestamp,
        window: &W,
        state: &mut G::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        purging(self.inner.on_element(element, timestamp, window, state, ctx))
    }

    fn on_event_time(
        &mut self,
        time: Timestamp,
        window: &W,
        state: &mut G::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        purging(self.inner.on_event_time(time, window, state, ctx))
    }

    fn on_processing_time(
        &mut self,
        time: Timestamp,
        window: &W,
        state: &mut G::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        purging(self.inner.on_processing_time(time, window, state, ctx))
    }

    fn can_merge(&self) -> bool {
        self.inner.can_merge()
    }

    fn on_merge(&mut self, window: &W, merged: Vec<G::State>, ctx: &mut TriggerContext<'_>) -> G::State {
        self.inner.on_merge(window, merged, ctx)
    }

    fn clear(&mut self, window: &W, state: &mut G::State, ctx: &mut TriggerContext<'_>) {
        self.inner.clear(window, state, ctx)
    }
}

/// The first firing of a continuous trigger for a record at `time`: one `interval`
/// after `time` rounded to a multiple of it. The rounding is Flink's, Java's remainder,
/// which rounds toward zero: before 1970 it rounds up, not down, so that the same
/// records fire at the same times as in Flink.
fn first_firing(time: Timestamp, interval: i64) -> Timestamp {
    // Rust's `%` is Java's: the remainder has the sign of the dividend.
    (time - time % interval).saturating_add(interval)
}

/// Fires every `interval` of event time while the window is open, and at its end
/// (Flink's `ContinuousEventTimeTrigger`): early results.
#[derive(Clone, Copy, Debug)]
pub struct ContinuousEventTimeTrigger {
    interval: i64,
}

impl ContinuousEventTimeTrigger {
    /// Fires every `interval` (at least 1 ms).
    pub fn of(interval: std::time::Duration) -> Self {
        ContinuousEventTimeTrigger { interval: (interval.as_millis() as i64).max(1) }
    }
}

impl<T, W: Window> Trigger<T, W> for ContinuousEventTimeTrigger {
    /// The next early firing.
    type State = Option<Timestamp>;

    fn on_element(
        &mut self,
        _: &T,
        timestamp: Timestamp,
        window: &W,
        next: &mut Option<Timestamp>,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if window.max_timestamp() <= ctx.current_watermark() {
            return TriggerResult::Fire;
        }
        ctx.register_event_time_timer(window.max_timestamp());
        if next.is_none() {
            let at = first_firing(timestamp, self.interval).min(window.max_timestamp());
            *next = Some(at);
            ctx.register_event_time_timer(at);
        }
        TriggerResult::Continue
    }

    fn on_event_time(
        &mut self,
        time: Timestamp,
        window: &W,
        next: &mut Option<Timestamp>,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if time == window.max_timestamp() {
            return TriggerResult::Fire;
        }
        if *next == Some(time) {
            let at = time.saturating_add(self.interval).min(window.max_timestamp());
            *next = Some(at);
            ctx.register_event_time_timer(at);
            return TriggerResult::Fire;
        }
        TriggerResult::Continue
    }

    fn on_processing_time(
        &mut self,
        _: Timestamp,
        _: &W,
        _: &mut Option<Timestamp>,
        _: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn on_merge(
        &mut self,
        window: &W,
        merged: Vec<Option<Timestamp>>,
        ctx: &mut TriggerContext<'_>,
    ) -> Option<Timestamp> {
        let next = merged.into_iter().flatten().min();
        if let Some(at) = next {
            ctx.register_event_time_timer(at);
        }
        if window.max_timestamp() > ctx.current_watermark() {
            ctx.register_event_time_timer(window.max_timestamp());
        }
        next
    }

    fn clear(&mut self, window: &W, next: &mut Option<Timestamp>, ctx: &mut TriggerContext<'_>) {
        if let Some(at) = next.take() {
            ctx.delete_event_time_timer(at);
        }
        ctx.delete_event_time_timer(window.max_timestamp());
    }
}

/// Fires every `interval` of processing time while the window has records (Flink's
/// `ContinuousProcessingTimeTrigger`).
#[derive(Clone, Copy, Debug)]
pub struct ContinuousProcessingTimeTrigger {
    interval: i64,
}

impl ContinuousProcessingTimeTrigger {
    /// Fires every `interval` (at least 1 ms).
    pub fn of(interval: std::time::Duration) -> Self {
        ContinuousProcessingTimeTrigger { interval: (interval.as_millis() as i64).max(1) }
    }
}

impl<T, W: Window> Trigger<T, W> for ContinuousProcessingTimeTrigger {
    /// The next firing.
    type State = Option<Timestamp>;

    fn on_element(
        &mut self,
        _: &T,
        _: Timestamp,
        window: &W,
        next: &mut Option<Timestamp>,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if next.is_none() {
            let at = first_firing(ctx.current_processing_time(), self.interval).min(window.max_timestamp());
            *next = Some(at);
            ctx.register_processing_time_timer(at);
        }
        TriggerResult::Continue
    }

    fn on_event_time(
        &mut self,
        _: Timestamp,
        _: &W,
        _: &mut Option<Timestamp>,
        _: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    fn on_processing_time(
        &mut self,
        time: Timestamp,
        window: &W,
        next: &mut Option<Timestamp>,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if *next == Some(time) {
            let at = time.saturating_add(self.interval).min(window.max_timestamp());
            *next = Some(at);
            if at > time {
                ctx.register_processing_time_timer(at);
            }
            return TriggerResult::Fire;
        }
        TriggerResult::Continue
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn on_merge(&mut self, _: &W, merged: Vec<Option<Timestamp>>, ctx: &mut TriggerContext<'_>) -> Option<Timestamp> {
        let next = merged.into_iter().flatten().min();
        if let Some(at) = next {
            ctx.register_processing_time_timer(at);
        }
        next
    }

    fn clear(&mut self, _: &W, next: &mut Option<Timestamp>, ctx: &mut TriggerContext<'_>) {
        if let Some(at) = next.take() {
            ctx.delete_processing_time_timer(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::TimeWindow;

    #[test]
    fn event_time_trigger_fires_at_the_end_and_on_late_records() {
        let w = TimeWindow::new(0, 10);
        let mut requests = Vec::new();
        let mut ctx = TriggerContext::new(5, 0, &mut requests);
        let mut t = EventTimeTrigger;
        assert_eq!(Trigger::<(), _>::on_element(&mut t, &(), 3, &w, &mut (), &mut ctx), TriggerResult::Continue);
        assert_eq!(requests, vec![TimerRequest::Register(TimeDomain::EventTime, 9)]);
        let mut ctx = TriggerContext::new(9, 0, &mut requests);
        assert_eq!(Trigger::<(), _>::on_event_time(&mut t, 9, &w, &mut (), &mut ctx), TriggerResult::Fire);
        assert_eq!(Trigger::<(), _>::on_element(&mut t, &(), 4, &w, &mut (), &mut ctx), TriggerResult::Fire, "late");
    }

    #[test]
    fn count_and_purging_triggers() {
        let w = TimeWindow::new(0, 10);
        let mut requests = Vec::new();
        let mut ctx = TriggerContext::new(0, 0, &mut requests);
        let mut t = PurgingTrigger::of(CountTrigger::of(2));
        let mut seen = 0;
        let results: Vec<_> =
            (0..4).map(|i| Trigger::<(), _>::on_element(&mut t, &(), i, &w, &mut seen, &mut ctx)).collect();
        use TriggerResult::*;
        assert_eq!(results, vec![Continue, FireAndPurge, Continue, FireAndPurge]);
        assert_eq!(Trigger::<(), TimeWindow>::on_merge(&mut t, &w, vec![1, 2], &mut ctx), 3);
    }

    #[test]
    fn continuous_event_time_trigger_fires_every_interval_and_at_the_end() {
        let w = TimeWindow::new(0, 100);
        let mut requests = Vec::new();
        let mut t = ContinuousEventTimeTrigger::of(std::time::Duration::from_millis(30));
        let mut next = None;
        let mut ctx = TriggerContext::new(0, 0, &mut requests);
        assert_eq!(Trigger::<(), _>::on_element(&mut t, &(), 5, &w, &mut next, &mut ctx), TriggerResult::Continue);
        assert_eq!(next, Some(30));
        let mut ctx = TriggerContext::new(30, 0, &mut requests);
        assert_eq!(Trigger::<(), _>::on_event_time(&mut t, 30, &w, &mut next, &mut ctx), TriggerResult::Fire);
        assert_eq!(next, Some(60));
        assert_eq!(Trigger::<(), _>::on_event_time(&mut t, 45, &w, &mut next, &mut ctx), TriggerResult::Continue);
        assert_eq!(Trigger::<(), _>::on_event_time(&mut t, 99, &w, &mut next, &mut ctx), TriggerResult::Fire);
    }

    #[test]
    fn continuous_triggers_round_first_firings_toward_zero_as_flink() {
        // Flink computes `timestamp - timestamp % interval` with Java's remainder: for
        // -75605 every 10 s that is -70000, so the first firing is -60000, which the
        // end of [-90000, -60000) caps at its last millisecond: one firing, at the end.
        assert_eq!(first_firing(-75_605, 10_000), -60_000);
        assert_eq!(first_firing(75_605, 10_000), 80_000);
        assert_eq!(first_firing(-10_000, 10_000), 0);
        assert_eq!(first_firing(i64::MAX - 3, 10), i64::MAX, "saturates instead of overflowing");
        assert_eq!(first_firing(i64::MIN, 10), i64::MIN + 18, "rounds toward zero, without overflow");
        let w = TimeWindow::new(-90_000, -60_000);
        let mut requests = Vec::new();
        let mut ctx = TriggerContext::new(i64::MIN, 0, &mut requests);
        let mut t = ContinuousEventTimeTrigger::of(std::time::Duration::from_secs(10));
        let mut next = None;
        Trigger::<(), _>::on_element(&mut t, &(), -75_605, &w, &mut next, &mut ctx);
        assert_eq!(next, Some(-60_001), "the early firing is the window's end");
    }
}
