//! Windows on a keyed stream, for any assigner and trigger (Flink's `WindowOperator`):
//! each key keeps its open windows, each window its contents and trigger state, and
//! timers are per key and window. Tumbling and sliding windows with their default
//! trigger take the faster `sliced_window.rs` instead.

use std::sync::Arc;

use spate_core::key_group::KeyGroupAssigner;
use spate_core::{Key, KeyGroupRange, KeyHasher, NO_TIMESTAMP, StreamRecord, Timestamp};

use super::OneInputOperator;
use super::window_state::WindowFunctionState;
use crate::context::RuntimeContext;
use crate::functions::FnResult;
use crate::key_selector::KeySelector;
use crate::metrics::TaskMetrics;
use crate::output::{Collector, Output, OutputTag};
use crate::state::{KeyGroupTable, Lookup, StateError};
use crate::time::Clock;
use crate::timer::{TimeDomain, Timer, Timers};
use crate::window::{
    MergingWindowSet, TimerRequest, Trigger, TriggerContext, TriggerResult, Window, WindowAssigner, WindowContents,
    WindowContext, WindowEmit,
};

/// How a windowed stream was set up: assigner, trigger, allowed lateness, and where
/// late records go.
pub struct WindowSpec<T, A, G> {
    /// Which windows a record belongs to.
    pub assigner: A,
    /// When windows emit.
    pub trigger: G,
    /// How long after a window's end (in event time) late records still update it, ms.
    pub allowed_lateness: i64,
    /// Where records too late for every window go (dropped and counted if `None`).
    pub late_tag: Option<OutputTag<T>>,
}

impl<T, A: Clone, G: Clone> Clone for WindowSpec<T, A, G> {
    fn clone(&self) -> Self {
        WindowSpec {
            assigner: self.assigner.clone(),
            trigger: self.trigger.clone(),
            allowed_lateness: self.allowed_lateness,
            late_tag: self.late_tag.clone(),
        }
    }
}

impl<T, A: WindowAssigner<T>, G> WindowSpec<T, A, G> {
    /// When the state of `window` is dropped: its end plus the allowed lateness in event
    /// time, its end in processing time.
    pub fn cleanup_time(&self, window: &A::W) -> Timestamp {
        let end = window.max_timestamp();
        if self.assigner.is_event_time() { end.saturating_add(self.allowed_lateness) } else { end }
    }

    /// Whether `window` is past its cleanup time at `watermark` (event time only).
    pub fn is_window_late(&self, window: &A::W, watermark: Timestamp) -> bool {
        self.assigner.is_event_time() && self.cleanup_time(window) <= watermark
    }

    /// Whether a record with `timestamp` is too late for any window at `watermark`.
    pub fn is_element_late(&self, timestamp: Timestamp, watermark: Timestamp) -> bool {
        self.assigner.is_event_time() && timestamp.saturating_add(self.allowed_lateness) <= watermark
    }

    /// The timestamp windows are assigned by: the record's in event time (an error if
    /// it has none), the clock's in processing time.
    pub fn timestamp_of(&self, record_timestamp: Timestamp, clock: &dyn Clock) -> Result<Timestamp, StateError> {
        if !self.assigner.is_event_time() {
            return Ok(clock.now());
        }
        if record_timestamp == NO_TIMESTAMP {
            return Err(StateError::NoTimestamp);
        }
        Ok(record_timestamp)
    }
}

/// Routes a late record: to the late-data side output, or dropped and counted.
pub(crate) fn route_late<T: 'static, OUT>(
    late_tag: &Option<OutputTag<T>>,
    metrics: Option<&Arc<TaskMetrics>>,
    value: T,
    timestamp: Timestamp,
    out: &mut Output<OUT>,
) {
    match late_tag {
        Some(tag) => out.split().1.emit(tag, value, timestamp),
        None => {
            if let Some(metrics) = metrics {
                metrics.add_late_records_dropped(1);
            }
        }
    }
}

/// The event time a restored window operator resumes from: the smallest of the values
/// its subtasks wrote under the union list `name`. With aligned barriers every subtask
/// wrote the same (it saw the same watermarks before the barrier); without alignment
/// (at-least-once) a subtask that was behind must not take a peer's time and drop as
/// late what it replays.
pub(crate) fn restored_time(
    restored: &crate::checkpoint::RestoredState,
    name: &str,
) -> Result<Option<Timestamp>, spate_core::CoreError> {
    let mut least: Option<Timestamp> = None;
    for bytes in restored.list(name).unwrap_or_default() {
        let time: Timestamp = spate_core::codec::decode(bytes)?;
        least = Some(least.map_or(time, |l| l.min(time)));
    }
    Ok(least)
}

/// The part holding each key's open windows.
const PANES: &str = "panes";
/// The prefix of the parts holding the timers of windows (`event`, `processing`).
const TIMERS_PART: &str = "window-timers/";
/// The operator list holding the watermark reached, which a restored operator resumes
/// from.
const WATERMARK: &str = "window/watermark";

/// One open window of one key.
#[derive(serde::Serialize, serde::Deserialize)]
struct Pane<W, Acc, S> {
    window: W,
    contents: Acc,
    trigger: S,
}

/// The open windows of every key.
type PaneTable<K, W, Acc, S> = KeyGroupTable<K, Vec<Pane<W, Acc, S>>>;

/// The window operator for any assigner and trigger.
pub struct WindowOperator<K, T, A, G, C, E, OUT>
where
    A: WindowAssigner<T>,
    G: Trigger<T, A::W>,
    C: WindowContents<T>,
{
    spec: WindowSpec<T, A, G>,
    contents: C,
    emit: E,
    key_selector: KeySelector<T, K>,
    hasher: KeyHasher,
    key_groups: KeyGroupAssigner,
    panes: PaneTable<K, A::W, C::Acc, G::State>,
    timers: Timers<(K, A::W)>,
    watermark: Timestamp,
    clock: Option<Arc<dyn Clock>>,
    state: Option<WindowFunctionState<K, A::W>>,
    metrics: Option<Arc<TaskMetrics>>,
    assigned: Vec<A::W>,
    requests: Vec<TimerRequest>,
    _out: std::marker::PhantomData<fn() -> OUT>,
}

impl<K, T, A, G, C, E, OUT> WindowOperator<K, T, A, G, C, E, OUT>
where
    K: Key,
    T: Clone + 'static,
    A: WindowAssigner<T>,
    G: Trigger<T, A::W>,
    C: WindowContents<T>,
    E: WindowEmit<K, A::W, C::Elem, OUT>,
    OUT: 'static,
{
    /// Windows keyed by `key_selector`, kept as `contents` and emitted by `emit`.
    pub fn new(key_selector: KeySelector<T, K>, spec: WindowSpec<T, A, G>, contents: C, emit: E) -> Self {
        WindowOperator {
            spec,
            contents,
            emit,
            key_selector,
            hasher: KeyHasher::new(),
            key_groups: KeyGroupAssigner::new(1),
            panes: KeyGroupTable::new(KeyGroupRange { start: 0, end: 0 }),
            timers: Timers::default(),
            watermark: Timestamp::MIN,
            clock: None,
            state: None,
            metrics: None,
            assigned: Vec::new(),
            requests: Vec::new(),
            _out: std::marker::PhantomData,
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.as_ref().map_or(0, |c| c.now())
    }

    /// Registers and deletes the timers a trigger asked for, for `key` and `window`.
    fn apply_requests(&mut self, key: &K, window: &A::W, key_group: u32, hash: u64) {
        for request in self.requests.drain(..) {
            let id = (key.clone(), window.clone());
            match request {
                TimerRequest::Register(TimeDomain::EventTime, t) => self.timers.event.register(t, &id, key_group, hash),
                TimerRequest::Register(TimeDomain::ProcessingTime, t) => {
                    self.timers.processing.register(t, &id, key_group, hash)
                }
                TimerRequest::Delete(TimeDomain::EventTime, t) => self.timers.event.delete(t, &id, hash),
                TimerRequest::Delete(TimeDomain::ProcessingTime, t) => self.timers.processing.delete(t, &id, hash),
            }
        }
    }

    fn register_cleanup(&mut self, key: &K, window: &A::W, key_group: u32, hash: u64) {
        let at = self.spec.cleanup_time(window);
        if at == Timestamp::MAX {
            return;
        }
        let id = (key.clone(), window.clone());
        if self.spec.assigner.is_event_time() {
            self.timers.event.register(at, &id, key_group, hash);
        } else {
            self.timers.processing.register(at, &id, key_group, hash);
        }
    }

    fn delete_cleanup(&mut self, key: &K, window: &A::W, hash: u64) {
        let at = self.spec.cleanup_time(window);
        let id = (key.clone(), window.clone());
        if self.spec.assigner.is_event_time() {
            self.timers.event.delete(at, &id, hash);
        } else {
            self.timers.processing.delete(at, &id, hash);
        }
    }

    /// Emits the contents of `pane` of `key`.
    #[allow(clippy::too_many_arguments)]
    fn fire(
        contents: &mut C,
        emit: &mut E,
        state: &mut Option<WindowFunctionState<K, A::W>>,
        key: &K,
        key_group: u32,
        hash: u64,
        window: &A::W,
        acc: &C::Acc,
        times: (Timestamp, Timestamp),
        out: &mut Output<OUT>,
    ) -> FnResult {
        let state = state.as_mut().ok_or(StateError::NoScope)?;
        let (main, side) = out.split();
        let mut collector = Collector::on(main, window.max_timestamp());
        let mut access = state.access(key, key_group, hash, window);
        access.prepare()?;
        let mut ctx = WindowContext::new(window, times.0, times.1, side, &mut access);
        contents.elements(acc, &mut |elements| emit.emit(key, &mut ctx, elements, &mut collector))
    }

    /// Drops a window of `key` for good: its function's `clear`, its trigger's timers,
    /// its window state.
    fn clear_window(
        &mut self,
        key: &K,
        key_group: u32,
        hash: u64,
        pane: &mut Pane<A::W, C::Acc, G::State>,
        out: &mut Output<OUT>,
    ) -> FnResult {
        let (watermark, now) = (self.watermark, self.now());
        let mut ctx = TriggerContext::new(watermark, now, &mut self.requests);
        self.spec.trigger.clear(&pane.window, &mut pane.trigger, &mut ctx);
        self.apply_requests(key, &pane.window, key_group, hash);
        self.delete_cleanup(key, &pane.window, hash);
        let state = self.state.as_mut().ok_or(StateError::NoScope)?;
        {
            let side = out.split().1;
            let mut access = state.access(key, key_group, hash, &pane.window);
            access.prepare()?;
            let mut ctx = WindowContext::new(&pane.window, watermark, now, side, &mut access);
            self.emit.clear(key, &mut ctx)?;
        }
        state.clear_window(key, key_group, &pane.window)?;
        Ok(())
    }

    /// Acts on a trigger's decision for `pane`.
    fn act(
        &mut self,
        result: TriggerResult,
        key: &K,
        key_group: u32,
        hash: u64,
        pane: &mut Pane<A::W, C::Acc, G::State>,
        out: &mut Output<OUT>,
    ) -> FnResult {
        if result.is_fire() {
            let times = (self.watermark, self.now());
            Self::fire(
                &mut self.contents,
                &mut self.emit,
                &mut self.state,
                key,
                key_group,
                hash,
                &pane.window,
                &pane.contents,
                times,
                out,
            )?;
        }
        if result.is_purge() {
            pane.contents = self.contents.create();
        }
        Ok(())
    }

    /// Puts `window` into the windows of a key under a merging assigner: merges it with
    /// the windows it touches (their contents and trigger states) and returns the
    /// window the record goes to.
    fn merge_window(
        &mut self,
        key: &K,
        key_group: u32,
        hash: u64,
        panes: &mut Vec<Pane<A::W, C::Acc, G::State>>,
        window: A::W,
    ) -> FnResult<A::W> {
        let mut set = MergingWindowSet::new();
        for pane in panes.iter() {
            set.add(pane.window.clone(), |_| Vec::new());
        }
        let assigner = self.spec.assigner.clone();
        let merged = set.add(window, |w| assigner.merge_windows(w));
        if merged.is_new {
            panes.push(Pane {
                window: merged.window.clone(),
                contents: self.contents.create(),
                trigger: G::State::default(),
            });
        }
        if merged.absorbed.is_empty() {
            return Ok(merged.window);
        }
        let target = panes.iter().position(|p| p.window == merged.window).ok_or(StateError::MissingKey)?;
        let mut states = vec![panes[target].trigger.clone()];
        let mut absorbed = Vec::new();
        let mut i = 0;
        while i < panes.len() {
            if merged.absorbed.contains(&panes[i].window) {
                absorbed.push(panes.swap_remove(i));
            } else {
                i += 1;
            }
        }
        absorbed.sort_by(|a, b| a.window.cmp(&b.window));
        let target = panes.iter().position(|p| p.window == merged.window).ok_or(StateError::MissingKey)?;
        for pane in &absorbed {
            states.push(pane.trigger.clone());
        }
        let (watermark, now) = (self.watermark, self.now());
        let mut ctx = TriggerContext::new(watermark, now, &mut self.requests);
        panes[target].trigger = self.spec.trigger.on_merge(&merged.window, states, &mut ctx);
        self.apply_requests(key, &merged.window, key_group, hash);
        for mut old in absorbed {
            let mut ctx = TriggerContext::new(watermark, now, &mut self.requests);
            self.spec.trigger.clear(&old.window, &mut old.trigger, &mut ctx);
            self.apply_requests(key, &old.window, key_group, hash);
            self.delete_cleanup(key, &old.window, hash);
            if let Some(state) = self.state.as_mut() {
                state.clear_window(key, key_group, &old.window)?;
            }
            self.contents.merge(&mut panes[target].contents, old.contents)?;
        }
        Ok(merged.window)
    }

    fn process_element(
        &mut self,
        key: K,
        key_group: u32,
        hash: u64,
        record: StreamRecord<T>,
        out: &mut Output<OUT>,
    ) -> FnResult {
        // Not `ok_or`: an error value built eagerly is dropped on every record.
        let Some(clock) = self.clock.clone() else { return Err(StateError::NoScope.into()) };
        let timestamp = self.spec.timestamp_of(record.timestamp, &*clock)?;
        // One reading of the clock per record, for all its windows' triggers: reading it
        // per window cost 5 % of a sliding-window job.
        let now = clock.now();
        let mut assigned = std::mem::take(&mut self.assigned);
        assigned.clear();
        self.spec.assigner.assign_windows(&record.value, timestamp, &mut assigned);
        let mut panes = match self.panes.lookup(key_group, hash, &key)? {
            Lookup::Found(found) => std::mem::take(found.into_mut()),
            Lookup::Missing(_) => Vec::new(),
        };
        let mut skipped = true;
        let count = assigned.len();
        let mut value = Some(record.value);
        let result = (|| -> FnResult {
            for (i, window) in assigned.drain(..).enumerate() {
                let window = if self.spec.assigner.is_merging() {
                    self.merge_window(&key, key_group, hash, &mut panes, window)?
                } else {
                    window
                };
                if self.spec.is_window_late(&window, self.watermark) {
                    if self.spec.assigner.is_merging() {
                        if let Some(at) = panes.iter().position(|p| p.window == window) {
                            let mut pane = panes.swap_remove(at);
                            self.clear_window(&key, key_group, hash, &mut pane, out)?;
                        }
                    }
                    continue;
                }
                skipped = false;
                let at = match panes.iter().position(|p| p.window == window) {
                    Some(at) => at,
                    None => {
                        let contents = self.contents.create();
                        panes.push(Pane { window: window.clone(), contents, trigger: G::State::default() });
                        panes.len() - 1
                    }
                };
                let Some(element) = value.as_ref() else { return Err(StateError::MissingKey.into()) };
                let mut ctx = TriggerContext::new(self.watermark, now, &mut self.requests);
                let decision =
                    self.spec.trigger.on_element(element, timestamp, &window, &mut panes[at].trigger, &mut ctx);
                let element = if i + 1 == count { value.take() } else { value.clone() };
                if let Some(element) = element {
                    self.contents.add(&mut panes[at].contents, element)?;
                }
                self.apply_requests(&key, &window, key_group, hash);
                let mut pane = panes.swap_remove(at);
                let acted = self.act(decision, &key, key_group, hash, &mut pane, out);
                panes.push(pane);
                acted?;
                self.register_cleanup(&key, &window, key_group, hash);
            }
            Ok(())
        })();
        self.assigned = assigned;
        if skipped && self.spec.is_element_late(timestamp, self.watermark) {
            if let Some(value) = value.take() {
                route_late(&self.spec.late_tag, self.metrics.as_ref(), value, timestamp, out);
            }
        }
        self.store_panes(key, key_group, hash, panes)?;
        result
    }

    /// Puts a key's windows back (or forgets the key if it has none).
    fn store_panes(
        &mut self,
        key: K,
        key_group: u32,
        hash: u64,
        panes: Vec<Pane<A::W, C::Acc, G::State>>,
    ) -> Result<(), StateError> {
        if panes.is_empty() {
            self.panes.remove(key_group, hash, &key)?;
        } else {
            self.panes.insert(key_group, hash, key, panes)?;
        }
        Ok(())
    }

    /// Fires the timers of `domain` due at `time`.
    fn fire_timers(&mut self, domain: TimeDomain, time: Timestamp, out: &mut Output<OUT>) -> FnResult {
        loop {
            let timer: Option<Timer<(K, A::W)>> = match domain {
                TimeDomain::EventTime => self.timers.event.pop_due(time),
                TimeDomain::ProcessingTime => self.timers.processing.pop_due(time),
            };
            let Some(Timer { timestamp, key: (key, window), key_group, hash, .. }) = timer else { return Ok(()) };
            let mut panes = match self.panes.lookup(key_group, hash, &key)? {
                Lookup::Found(found) => std::mem::take(found.into_mut()),
                Lookup::Missing(_) => continue,
            };
            let result = self.on_timer(domain, timestamp, &key, key_group, hash, &window, &mut panes, out);
            self.store_panes(key, key_group, hash, panes)?;
            result?;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_timer(
        &mut self,
        domain: TimeDomain,
        timestamp: Timestamp,
        key: &K,
        key_group: u32,
        hash: u64,
        window: &A::W,
        panes: &mut Vec<Pane<A::W, C::Acc, G::State>>,
        out: &mut Output<OUT>,
    ) -> FnResult {
        let Some(at) = panes.iter().position(|p| p.window == *window) else { return Ok(()) };
        let mut pane = panes.swap_remove(at);
        let mut ctx = TriggerContext::new(self.watermark, self.now(), &mut self.requests);
        let decision = match domain {
            TimeDomain::EventTime => self.spec.trigger.on_event_time(timestamp, window, &mut pane.trigger, &mut ctx),
            TimeDomain::ProcessingTime => {
                self.spec.trigger.on_processing_time(timestamp, window, &mut pane.trigger, &mut ctx)
            }
        };
        self.apply_requests(key, window, key_group, hash);
        self.act(decision, key, key_group, hash, &mut pane, out)?;
        let cleanup_domain =
            if self.spec.assigner.is_event_time() { TimeDomain::EventTime } else { TimeDomain::ProcessingTime };
        if domain == cleanup_domain && timestamp == self.spec.cleanup_time(window) {
            self.clear_window(key, key_group, hash, &mut pane, out)?;
        } else {
            panes.push(pane);
        }
        Ok(())
    }
}

impl<K, T, A, G, C, E, OUT> OneInputOperator<T, OUT> for WindowOperator<K, T, A, G, C, E, OUT>
where
    K: Key,
    T: Clone + 'static,
    A: WindowAssigner<T>,
    G: Trigger<T, A::W>,
    C: WindowContents<T>,
    E: WindowEmit<K, A::W, C::Elem, OUT>,
    OUT: 'static,
{
    const KEYED: bool = true;

    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        let task = ctx.task_info().clone();
        self.panes = KeyGroupTable::new(task.key_group_range());
        self.key_groups = KeyGroupAssigner::new(task.max_parallelism);
        self.clock = Some(task.clock.clone());
        self.metrics = Some(ctx.metrics().clone());
        self.state = Some(WindowFunctionState::open(ctx)?);
        if let Some(restored) = ctx.restored() {
            // Resuming from the watermark reached (Flink forgets it) treats records
            // replayed after the barrier as the first run did: late ones stay late
            // instead of reopening windows that were already dropped.
            if let Some(watermark) = restored_time(restored, WATERMARK)? {
                self.watermark = watermark;
            }
            self.panes.restore_from(PANES, restored, task.max_parallelism)?;
            let (hasher, key_groups) = (&mut self.hasher, &self.key_groups);
            self.timers.restore_from(restored, TIMERS_PART, |group, id: &(K, A::W)| -> Result<u64, StateError> {
                let hash = hasher.hash(&id.0)?;
                crate::state::check_group(key_groups.key_group(hash), group)?;
                Ok(hash)
            })?;
        }
        self.contents.open(ctx)?;
        self.emit.open(ctx)
    }

    fn snapshot_state(&mut self, snapshot: &mut crate::checkpoint::OperatorSnapshot) -> FnResult {
        let watermark = vec![spate_core::codec::encode(&self.watermark)?];
        snapshot.add_list(WATERMARK, crate::state::Redistribution::Union, watermark);
        self.panes.snapshot_into(PANES, snapshot)?;
        self.timers.snapshot_into(snapshot, TIMERS_PART)?;
        if let Some(state) = &self.state {
            state.snapshot(snapshot)?;
        }
        Ok(())
    }

    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>, out: &mut Output<OUT>) -> FnResult {
        for record in batch.drain(..) {
            let key = match self.key_selector.borrowed(&record.value) {
                Some(key) => key.clone(),
                None => self.key_selector.owned(&record.value),
            };
            let hash = self.hasher.hash(&key)?;
            let key_group = self.key_groups.key_group(hash);
            self.process_element(key, key_group, hash, record, out)?;
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<OUT>) -> FnResult {
        // A restored operator may see its inputs start below the watermark it resumed
        // from; event time never goes back, and only an advance is passed on.
        if watermark <= self.watermark {
            return Ok(());
        }
        self.watermark = watermark;
        self.fire_timers(TimeDomain::EventTime, watermark, out)?;
        out.emit_watermark(watermark);
        Ok(())
    }

    fn on_processing_time(&mut self, now: Timestamp, out: &mut Output<OUT>) -> FnResult {
        self.fire_timers(TimeDomain::ProcessingTime, now, out)
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.timers.processing.next()
    }

    fn close(&mut self) -> FnResult {
        let contents = self.contents.close();
        let emit = self.emit.close();
        contents.and(emit)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::context::test_context;
    use crate::key_selector::ComputedKey;
    use crate::output::testing::{Shared, recorder};
    use crate::time::ManualClock;
    use crate::window::{
        ContinuousProcessingTimeTrigger, EmitWith, ListContents, ProcessingTimeSessionWindows, TimeWindow,
        TumblingProcessingTimeWindows,
    };

    type Out = (u32, i64, i64, usize);

    fn describe(
        k: &u32,
        ctx: &mut WindowContext<'_, TimeWindow>,
        e: &[(u32, i64)],
        out: &mut Collector<'_, Out>,
    ) -> FnResult {
        out.collect((*k, ctx.window().start, ctx.window().end, e.len()));
        Ok(())
    }

    fn records(r: &[(u32, i64)]) -> Vec<StreamRecord<(u32, i64)>> {
        r.iter().map(|r| StreamRecord::new(*r)).collect()
    }

    type Describe = fn(&u32, &mut WindowContext<'_, TimeWindow>, &[(u32, i64)], &mut Collector<'_, Out>) -> FnResult;
    type Operator<A, G> = WindowOperator<u32, (u32, i64), A, G, ListContents<(u32, i64)>, EmitWith<Describe>, Out>;

    /// An opened operator keeping every record and describing each firing, on `clock`.
    fn operator<A, G>(clock: &Arc<ManualClock>, assigner: A, trigger: G) -> (Operator<A, G>, Output<Out>, Shared<Out>)
    where
        A: WindowAssigner<(u32, i64), W = TimeWindow>,
        G: Trigger<(u32, i64), TimeWindow>,
    {
        let spec = WindowSpec { assigner, trigger, allowed_lateness: 0, late_tag: None };
        let mut op = WindowOperator::new(
            Arc::new(ComputedKey(|r: &(u32, i64)| r.0)),
            spec,
            ListContents::default(),
            EmitWith(describe as Describe),
        );
        let (sink, seen) = recorder::<Out>();
        op.open(&mut test_context(clock.clone(), true)).unwrap();
        (op, Output::new(sink, 16), seen)
    }

    #[test]
    fn processing_time_sessions_merge_and_close_on_the_clock() {
        let clock = ManualClock::new(0);
        let sessions = ProcessingTimeSessionWindows::with_gap(Duration::from_millis(100));
        let (mut op, mut out, seen) = operator(&clock, sessions, crate::window::ProcessingTimeTrigger);
        op.process_batch(&mut records(&[(1, 0)]), &mut out).unwrap();
        clock.set(50);
        op.process_batch(&mut records(&[(1, 0), (2, 0)]), &mut out).unwrap();
        assert_eq!(op.next_processing_time(), Some(99), "key 1's first session window ended at 100 before merging");
        clock.set(99);
        op.on_processing_time(99, &mut out).unwrap();
        out.flush_batch();
        assert!(seen.lock().unwrap().records.is_empty(), "the merged session [0, 150) is still open");
        clock.set(149);
        op.on_processing_time(149, &mut out).unwrap();
        clock.set(300);
        op.process_batch(&mut records(&[(1, 0)]), &mut out).unwrap();
        op.on_processing_time(399, &mut out).unwrap();
        out.flush_batch();
        let mut fired: Vec<Out> = seen.lock().unwrap().records.iter().map(|r| r.value).collect();
        fired.sort();
        assert_eq!(fired, vec![(1, 0, 150, 2), (1, 300, 400, 1), (2, 50, 150, 1)]);
        assert_eq!(op.next_processing_time(), None);
    }

    #[test]
    fn continuous_processing_time_triggers_fire_every_interval() {
        let clock = ManualClock::new(1_000);
        let tumbling = TumblingProcessingTimeWindows::of(Duration::from_secs(1));
        let trigger = ContinuousProcessingTimeTrigger::of(Duration::from_millis(300));
        let (mut op, mut out, seen) = operator(&clock, tumbling, trigger);
        for t in [1_000, 1_100, 1_400, 1_700] {
            clock.set(t);
            while let Some(due) = op.next_processing_time().filter(|d| *d <= t) {
                op.on_processing_time(due, &mut out).unwrap();
            }
            op.process_batch(&mut records(&[(7, 0)]), &mut out).unwrap();
        }
        for t in [1_900, 2_000] {
            clock.set(t);
            while let Some(due) = op.next_processing_time().filter(|d| *d <= t) {
                op.on_processing_time(due, &mut out).unwrap();
            }
        }
        out.flush_batch();
        let counts: Vec<usize> = seen.lock().unwrap().records.iter().map(|r| r.value.3).collect();
        // Fires at 1200 (2 records), 1500 (3), 1800 (4), then 1999 at the end (4).
        assert_eq!(counts, vec![2, 3, 4, 4]);
    }

    /// Resuming from a snapshot: the operator takes up event time where the snapshot
    /// left it, so that records replayed after a restore are judged as the first run
    /// judged them.
    mod resume_from_watermark {
        use super::*;
        use crate::checkpoint::{OperatorSnapshot, RestoredState};
        use crate::window::{EventTimeTrigger, TumblingEventTimeWindows};

        type Tumbling = Operator<TumblingEventTimeWindows, EventTimeTrigger>;

        /// Allowed lateness of the windows below, ms.
        const LATENESS: i64 = 5;

        /// An opened operator keeping tumbling event-time windows of 10 ms, restored
        /// from `snapshot` if given; with its output and metrics (late records are
        /// dropped and counted, there is no late-data side output).
        fn tumbling(snapshot: Option<&OperatorSnapshot>) -> (Tumbling, Output<Out>, Shared<Out>, Arc<TaskMetrics>) {
            let assigner = TumblingEventTimeWindows::of(Duration::from_millis(10));
            let spec = WindowSpec { assigner, trigger: EventTimeTrigger, allowed_lateness: LATENESS, late_tag: None };
            let mut op = WindowOperator::new(
                Arc::new(ComputedKey(|r: &(u32, i64)| r.0)),
                spec,
                ListContents::default(),
                EmitWith(describe as Describe),
            );
            let mut ctx = test_context(ManualClock::new(0), true);
            if let Some(snapshot) = snapshot {
                let range = ctx.task_info().key_group_range();
                let restored = RestoredState::assemble(&[snapshot], range, 0, 1);
                ctx = ctx.with_restored(Some(std::rc::Rc::new(restored)));
            }
            op.open(&mut ctx).unwrap();
            let (sink, seen) = recorder::<Out>();
            (op, Output::new(sink, 16), seen, ctx.metrics().clone())
        }

        /// Records `(key, timestamp)` stamped with their timestamp.
        fn at(records: &[(u32, i64)]) -> Vec<StreamRecord<(u32, i64)>> {
            records.iter().map(|r| StreamRecord::with_timestamp(*r, r.1)).collect()
        }

        fn fired(seen: &Shared<Out>) -> Vec<Out> {
            let mut fired: Vec<Out> = seen.lock().unwrap().records.iter().map(|r| r.value).collect();
            fired.sort();
            fired
        }

        #[test]
        fn late_records_stay_late_and_a_lower_watermark_fires_nothing() {
            let (mut first, mut out, seen, _) = tumbling(None);
            first.process_batch(&mut at(&[(1, 5), (1, 15), (2, 150)]), &mut out).unwrap();
            first.process_watermark(100, &mut out).unwrap();
            out.flush_batch();
            assert_eq!(fired(&seen), vec![(1, 0, 10, 1), (1, 10, 20, 1)], "[0, 10) and [10, 20) fired at 100");
            let mut snapshot = OperatorSnapshot::default();
            first.snapshot_state(&mut snapshot).unwrap();

            let (mut op, mut out, seen, metrics) = tumbling(Some(&snapshot));
            // [50, 60) was past its lateness (59 + 5 <= 100) before the snapshot: the
            // record is late at once, without a watermark after the restore.
            op.process_batch(&mut at(&[(3, 50)]), &mut out).unwrap();
            out.flush_batch();
            assert_eq!(metrics.snapshot().late_records_dropped, 1, "the record is dropped as late");
            assert_eq!(fired(&seen), vec![], "no window was opened or fired for it");

            // Inputs may start below the watermark the operator resumed from.
            op.process_watermark(70, &mut out).unwrap();
            out.flush_batch();
            assert_eq!(fired(&seen), vec![], "a lower watermark fires nothing");
            // Event time stayed at 100: [80, 90) is past its lateness (89 + 5 <= 100).
            op.process_batch(&mut at(&[(3, 85)]), &mut out).unwrap();
            out.flush_batch();
            assert_eq!(metrics.snapshot().late_records_dropped, 2, "event time did not go back to 70");
            assert_eq!(fired(&seen), vec![]);

            // The window open at the snapshot was restored and fires when time passes it.
            op.process_watermark(160, &mut out).unwrap();
            out.flush_batch();
            assert_eq!(fired(&seen), vec![(2, 150, 160, 1)], "only [150, 160) of key 2 fires");
        }
    }
}
