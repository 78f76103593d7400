//! Tumbling and sliding windows with their default trigger, kept as slices.
//!
//! Time is cut into slices of `gcd(size, slide)`; every window is a run of whole
//! slices. A record goes into the one slice that holds its timestamp (a hash table per
//! slice, key → contents), however many windows overlap it; a window is combined from
//! its slices when it fires. Flink instead adds each record to all `size / slide`
//! windows that hold it. Firing is per slice range, not per key: no timer per key and
//! window. Late records within the allowed lateness go into their slice and re-fire
//! the windows of their key that already fired.
//!
//! Combining slices reorders records and merges contents, so only contents that are
//! commutative and associative may span several slices (`WindowContents::is_commutative`);
//! the API sends other functions on sliding windows to the per-window operator, and
//! tumbling windows (one slice each) here whatever their function.
//!
//! Flink's rules, which this operator keeps: a record is dropped for each of its windows
//! past their cleanup time (last millisecond + allowed lateness ≤ watermark) and kept
//! for the others; a record within the lateness of a window that already fired fires it
//! again at once, for its key only; a window that held nothing when time passed its end
//! never fires later unless such a record arrives.

use std::collections::VecDeque;
use std::sync::Arc;

use spate_core::{Key, KeyGroupRange, NO_TIMESTAMP, StreamRecord, Timestamp};

use super::OneInputOperator;
use super::window::{restored_time, route_late};
use super::window_state::WindowFunctionState;
use crate::context::RuntimeContext;
use crate::functions::FnResult;
use crate::key_selector::{KeyExtractor, KeySelector};
use crate::metrics::TaskMetrics;
use crate::output::{Collector, Output, OutputTag};
use crate::state::{KeyGroupTable, KeyedLookahead, Lookup, Placed, StateError, Warm, key_of};
use crate::time::Clock;
use crate::window::{
    Slicing, TimeWindow, Window, WindowContents, WindowContext, WindowEmit, clamp_time, grid_start, sliding_windows,
};

/// The prefix of the parts holding slices (followed by the slice's end).
const SLICE_PART: &str = "slice/";
/// The operator list holding the time up to which windows have fired (for event time
/// also the watermark, which a restored operator resumes from).
const FIRED_UNTIL: &str = "window/fired-until";
/// The list of earlier versions: the end of the last window fired (read as the time
/// just before it, so that snapshots taken by them restore without firing again).
const LEGACY_FIRED_THROUGH: &str = "fired-through";

/// The operator for tumbling and sliding windows that fire when time passes their end.
pub struct SlicedWindowOperator<K, T, W, C, E, OUT>
where
    C: WindowContents<T>,
{
    lookahead: KeyedLookahead<T, K>,
    slices: Slices<K, T, W, C, E, OUT>,
}

/// Everything but the lookahead (which lends it to the record loop).
struct Slices<K, T, W, C, E, OUT>
where
    C: WindowContents<T>,
{
    geometry: Geometry,
    allowed_lateness: i64,
    late_tag: Option<OutputTag<T>>,
    contents: C,
    emit: E,
    /// Slices that hold records, oldest first: (slice end, contents per key).
    slices: VecDeque<(Timestamp, KeyGroupTable<K, C::Acc>)>,
    /// Every window whose last millisecond is at or before this time has fired (or held
    /// nothing when time passed it): the watermark, or processing time, fired up to.
    fired_until: Timestamp,
    watermark: Timestamp,
    /// The slice of the latest record, `(start, end)`: records of a stream in order
    /// mostly fall into it, and skip the division that finds a slice.
    recent_slice: std::cell::Cell<(Timestamp, Timestamp)>,
    range: KeyGroupRange,
    clock: Option<Arc<dyn Clock>>,
    state: Option<WindowFunctionState<K, W>>,
    metrics: Option<Arc<TaskMetrics>>,
    _out: std::marker::PhantomData<fn() -> OUT>,
}

/// Window and slice arithmetic.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    size: i64,
    slide: i64,
    offset: i64,
    slice: i64,
    event_time: bool,
    /// Whether some times belong to no window (a slide longer than the size).
    gaps: bool,
    /// Where window ends fall on the slide grid: `(offset + size) mod slide`.
    ends: i64,
}

impl Geometry {
    fn new(slicing: Slicing) -> Self {
        Geometry {
            size: slicing.size,
            slide: slicing.slide,
            offset: slicing.offset,
            slice: slicing.slice(),
            event_time: slicing.event_time,
            gaps: slicing.slide > slicing.size,
            ends: ((i128::from(slicing.offset) + i128::from(slicing.size)).rem_euclid(i128::from(slicing.slide.max(1))))
                as i64,
        }
    }

    /// The end of the slice holding `timestamp` (exact also for the first slice of time,
    /// which begins before `Timestamp::MIN`; saturating at `Timestamp::MAX`).
    fn slice_end(&self, timestamp: Timestamp) -> Timestamp {
        TimeWindow::end_of(timestamp, self.offset, self.slice)
    }

    /// The end of the latest window holding `timestamp`.
    fn last_end(&self, timestamp: Timestamp) -> Timestamp {
        self.last_end_at(i128::from(timestamp))
    }

    /// The end of the latest window holding time `t` (which may lie before
    /// `Timestamp::MIN`: the start of the first slice).
    #[inline]
    fn last_end_at(&self, t: i128) -> Timestamp {
        let latest_start = Timestamp::try_from(t).ok().and_then(|t| {
            let shifted = t.checked_sub(self.offset)?;
            t.checked_sub(shifted.rem_euclid(self.slide))
        });
        match latest_start {
            Some(start) => start.saturating_add(self.size),
            None => {
                let (size, slide) = (i128::from(self.size), i128::from(self.slide));
                clamp_time(t - (t - i128::from(self.offset)).rem_euclid(slide) + size)
            }
        }
    }

    /// The end of the earliest window holding `timestamp`.
    fn first_end(&self, timestamp: Timestamp) -> Timestamp {
        // The earliest window holding `timestamp` is the first whose end is after it.
        self.window_end_at_or_after(timestamp.saturating_add(1))
    }

    /// The smallest window end at or after `t`.
    fn window_end_at_or_after(&self, t: Timestamp) -> Timestamp {
        let ahead = (self.ends - t.rem_euclid(self.slide)).rem_euclid(self.slide);
        t.saturating_add(ahead)
    }

    /// The starts of the windows that end at `Timestamp::MAX` (their ends clamped there,
    /// or exactly there), earliest first: each fires as a window of its own, as the
    /// per-window operator fires them.
    fn starts_ending_at_max(&self) -> impl Iterator<Item = Timestamp> {
        let slide = i128::from(self.slide);
        let earliest = i128::from(Timestamp::MAX - self.size);
        let first = earliest + (i128::from(self.offset) - earliest).rem_euclid(slide);
        let last = grid_start(Timestamp::MAX, self.offset, self.slide);
        (0..)
            .map(move |k: i128| first + k * slide)
            .take_while(move |&start| start <= last)
            .map(|start| start as Timestamp)
    }

    /// The end of the last window holding the slice that ends at `slice_end`.
    fn last_end_of_slice(&self, slice_end: Timestamp) -> Timestamp {
        if slice_end == Timestamp::MAX {
            // The slice's end saturated, so its start is not `slice_end - slice`; the
            // windows after it saturate too.
            return Timestamp::MAX;
        }
        self.last_end_at(i128::from(slice_end) - i128::from(self.slice))
    }
}

impl<K, T, W, C, E, OUT> SlicedWindowOperator<K, T, W, C, E, OUT>
where
    K: Key,
    T: 'static,
    C: WindowContents<T>,
    W: Window,
    E: WindowEmit<K, W, C::Elem, OUT>,
    OUT: 'static,
{
    /// Windows of `slicing`, keyed by `key_selector`, kept as `contents`, emitted by
    /// `emit`. `allowed_lateness` is in ms of event time.
    pub fn new(
        key_selector: KeySelector<T, K>,
        slicing: Slicing,
        allowed_lateness: i64,
        late_tag: Option<OutputTag<T>>,
        contents: C,
        emit: E,
    ) -> Self {
        SlicedWindowOperator {
            lookahead: KeyedLookahead::new(key_selector, 1),
            slices: Slices {
                geometry: Geometry::new(slicing),
                allowed_lateness: if slicing.event_time { allowed_lateness.max(0) } else { 0 },
                late_tag,
                contents,
                emit,
                slices: VecDeque::new(),
                fired_until: Timestamp::MIN,
                watermark: Timestamp::MIN,
                recent_slice: std::cell::Cell::new((0, 0)),
                range: KeyGroupRange { start: 0, end: 0 },
                clock: None,
                state: None,
                metrics: None,
                _out: std::marker::PhantomData,
            },
        }
    }
}

impl<K, T, W, C, E, OUT> Slices<K, T, W, C, E, OUT>
where
    K: Key,
    T: 'static,
    C: WindowContents<T>,
    W: Window,
    E: WindowEmit<K, W, C::Elem, OUT>,
    OUT: 'static,
{
    /// The time records are assigned by (event time) or that processing time has
    /// reached (processing time).
    fn now(&self) -> Timestamp {
        self.clock.as_ref().map_or(0, |c| c.now())
    }

    /// When the window ending at `end` is dropped.
    fn cleanup_time(&self, end: Timestamp) -> Timestamp {
        (end - 1).saturating_add(self.allowed_lateness)
    }

    /// The end of the slice holding `timestamp` (see `recent_slice`).
    #[inline]
    fn slice_end(&self, timestamp: Timestamp) -> Timestamp {
        let (start, end) = self.recent_slice.get();
        if start <= timestamp && timestamp < end {
            return end;
        }
        let end = self.geometry.slice_end(timestamp);
        // Not cached at either end of time, where a slice is clamped and shorter: its
        // nominal bounds would claim timestamps of its neighbour.
        if end < Timestamp::MAX {
            if let Some(start) = end.checked_sub(self.geometry.slice) {
                self.recent_slice.set((start, end));
            }
        }
        end
    }

    /// Whether the window ending at `end` has fired (or passed while empty).
    fn has_fired(&self, end: Timestamp) -> bool {
        end - 1 <= self.fired_until
    }

    /// The next window to fire: the earliest window that has not fired and holds a
    /// slice.
    fn next_window_end(&self) -> Option<Timestamp> {
        let g = &self.geometry;
        // The smallest end whose last millisecond is after `fired_until`.
        let after = self.fired_until.checked_add(2)?;
        self.slices.iter().find_map(|(slice_end, _)| {
            let end = g.window_end_at_or_after(after.max(*slice_end));
            (end.saturating_sub(g.size) < *slice_end).then_some(end)
        })
    }

    /// Fires every window ending at or before `time` (the watermark, or processing
    /// time), then drops the slices no window needs any more.
    fn fire_until(&mut self, time: Timestamp, out: &mut Output<OUT>) -> FnResult {
        while let Some(end) = self.next_window_end() {
            if end - 1 > time {
                break;
            }
            if end == Timestamp::MAX {
                let g = self.geometry;
                let mut starts = g.starts_ending_at_max().peekable();
                while let Some(start) = starts.next() {
                    self.fire_window(TimeWindow::new(start, end), starts.peek().is_none(), time, out)?;
                }
            } else {
                self.fire_window(TimeWindow::new(end.saturating_sub(self.geometry.size), end), true, time, out)?;
            }
            // Strictly increasing, so the loop ends even where window ends saturate.
            self.fired_until = end - 1;
        }
        // Windows up to `time` that held nothing count as fired too: a late record gives
        // them one firing of their own, at once, never a second one here.
        self.fired_until = self.fired_until.max(time);
        let g = self.geometry;
        while let Some((slice_end, _)) = self.slices.front() {
            let last_end = g.last_end_of_slice(*slice_end);
            if !self.has_fired(last_end) || self.cleanup_time(last_end) > time {
                break;
            }
            self.slices.pop_front();
        }
        Ok(())
    }

    /// Emits the window `bounds` for every key that has records in it; `is_last` when no
    /// later window ends where it does (at the end of time several do).
    fn fire_window(&mut self, bounds: TimeWindow, is_last: bool, time: Timestamp, out: &mut Output<OUT>) -> FnResult {
        let g = self.geometry;
        let end = bounds.end;
        let window = W::from_time_window(bounds).ok_or(StateError::NotTimeWindows)?;
        let first = self.slices.partition_point(|(slice_end, _)| *slice_end <= bounds.start);
        let last = self.slices.partition_point(|(slice_end, _)| *slice_end <= end);
        let times = (self.watermark, self.now());
        if last == first + 1 {
            // One slice: emit straight from it, taking it if nothing needs it after.
            let slice_end = self.slices[first].0;
            let done = is_last && g.last_end_of_slice(slice_end) <= end && self.cleanup_time(end) <= time;
            if done && first == 0 {
                let (_, mut table) = self.slices.pop_front().ok_or(StateError::MissingKey)?;
                for group in self.range.iter() {
                    for (hash, key, acc) in table.drain_group_hashed(group)? {
                        self.emit_one(&key, group, hash, &window, &acc, times, out)?;
                    }
                }
                return Ok(());
            }
            let table = std::mem::replace(&mut self.slices[first].1, KeyGroupTable::new(self.range));
            let result = self.emit_table(&table, &window, times, out);
            self.slices[first].1 = table;
            return result;
        }
        // Key group by key group: the group's slices are read in sequence and combined
        // into a table of one group, which stays in cache, is emitted, and is reused.
        let mut combined: KeyGroupTable<K, C::Acc> = KeyGroupTable::new(self.range);
        for group in self.range.iter() {
            let largest = self.slices.range(first..last).map(|(_, s)| s.group_len(group)).max().unwrap_or(0);
            combined.reserve_group(group, largest * 2)?;
            for (_, slice) in self.slices.range(first..last) {
                for (hash, key, acc) in slice.iter_group_hashed(group)? {
                    match combined.lookup(group, hash, key)? {
                        Lookup::Found(found) => self.contents.merge(found.into_mut(), acc.clone())?,
                        Lookup::Missing(missing) => {
                            missing.insert(key.clone(), acc.clone())?;
                        }
                    }
                }
            }
            for (hash, key, acc) in combined.iter_group_hashed(group)? {
                self.emit_one(key, group, hash, &window, acc, times, out)?;
            }
            combined.clear_group(group)?;
        }
        Ok(())
    }

    fn emit_table(
        &mut self,
        table: &KeyGroupTable<K, C::Acc>,
        window: &W,
        times: (Timestamp, Timestamp),
        out: &mut Output<OUT>,
    ) -> FnResult {
        for group in self.range.iter() {
            for (hash, key, acc) in table.iter_group_hashed(group)? {
                self.emit_one(key, group, hash, window, acc, times, out)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn emit_one(
        &mut self,
        key: &K,
        key_group: u32,
        hash: u64,
        window: &W,
        acc: &C::Acc,
        times: (Timestamp, Timestamp),
        out: &mut Output<OUT>,
    ) -> FnResult {
        let Some(state) = self.state.as_mut() else { return Err(StateError::NoScope.into()) };
        let (main, side) = out.split();
        let mut collector = Collector::on(main, window.max_timestamp());
        let mut access = state.access(key, key_group, hash, window);
        access.prepare()?;
        let mut ctx = WindowContext::new(window, times.0, times.1, side, &mut access);
        let emit = &mut self.emit;
        self.contents.elements(acc, &mut |elements| emit.emit(key, &mut ctx, elements, &mut collector))
    }

    /// A record with `timestamp` of `key` arrived after some of its windows fired:
    /// fires those within the allowed lateness again for this key, latest window first
    /// (the order Flink's assigner lists them in).
    fn fire_late(
        &mut self,
        key: &K,
        key_group: u32,
        hash: u64,
        timestamp: Timestamp,
        out: &mut Output<OUT>,
    ) -> FnResult {
        let g = self.geometry;
        let times = (self.watermark, self.now());
        // Its windows, latest first (as the per-window operator lists them).
        for bounds in sliding_windows(timestamp, g.size, g.slide, g.offset) {
            let (start, end) = (bounds.start, bounds.end);
            if !self.has_fired(end) || self.cleanup_time(end) <= self.watermark {
                continue;
            }
            let window = W::from_time_window(bounds).ok_or(StateError::NotTimeWindows)?;
            let mut acc: Option<C::Acc> = None;
            for (slice_end, slice) in &self.slices {
                if *slice_end <= start || *slice_end > end {
                    continue;
                }
                if let Some(part) = slice.get(key_group, hash, key)? {
                    match acc.as_mut() {
                        Some(acc) => self.contents.merge(acc, part.clone())?,
                        None => acc = Some(part.clone()),
                    }
                }
            }
            if let Some(acc) = acc {
                self.emit_one(key, key_group, hash, &window, &acc, times, out)?;
            }
        }
        Ok(())
    }

    /// Adds a record to its slice (or routes it as late), and re-fires its key's
    /// windows that already fired if it is late but within the allowed lateness.
    fn add(
        &mut self,
        key_selector: &dyn KeyExtractor<T, K>,
        mut placed: Placed<K, T>,
        now: Timestamp,
        out: &mut Output<OUT>,
    ) -> FnResult {
        let g = self.geometry;
        let timestamp = if g.event_time {
            if placed.record.timestamp == NO_TIMESTAMP {
                return Err(StateError::NoTimestamp.into());
            }
            placed.record.timestamp
        } else {
            now
        };
        let (key_group, hash) = (placed.key_group, placed.hash);
        // Only a record behind event time can be late; in-order records skip the window
        // arithmetic below (each of its windows ends after it).
        let behind = g.event_time && timestamp <= self.watermark.max(self.fired_until);
        if g.gaps || behind {
            let last_end = g.last_end(timestamp);
            if timestamp >= last_end {
                // Between two windows (a slide longer than the size): no window holds
                // it. As in Flink, it counts as late only if later than the lateness.
                if g.event_time && timestamp.saturating_add(self.allowed_lateness) <= self.watermark {
                    route_late(&self.late_tag, self.metrics.as_ref(), placed.record.value, timestamp, out);
                }
                return Ok(());
            }
            if behind && self.cleanup_time(last_end) <= self.watermark {
                route_late(&self.late_tag, self.metrics.as_ref(), placed.record.value, timestamp, out);
                return Ok(());
            }
        }
        let late = behind && self.has_fired(g.first_end(timestamp));
        let slice_end = self.slice_end(timestamp);
        let Some(key) = key_of(key_selector, &placed) else { return Err(StateError::MissingKey.into()) };
        let late_key = late.then(|| key.clone());
        let contents = &mut self.contents;
        let slice = slice_mut(&mut self.slices, slice_end, self.range);
        match slice.lookup(key_group, hash, key)? {
            Lookup::Found(found) => contents.add(found.into_mut(), placed.record.value)?,
            Lookup::Missing(_) => {
                let mut acc = contents.create();
                let key = placed.take_key(key_selector);
                contents.add(&mut acc, placed.record.value)?;
                slice.insert(key_group, hash, key, acc)?;
            }
        }
        if let Some(key) = late_key {
            self.fire_late(&key, key_group, hash, timestamp, out)?;
        }
        Ok(())
    }
}

/// The slice table for records ending at `slice_end`, created if needed.
#[inline]
fn slice_mut<K: Key, A>(
    slices: &mut VecDeque<(Timestamp, KeyGroupTable<K, A>)>,
    slice_end: Timestamp,
    range: KeyGroupRange,
) -> &mut KeyGroupTable<K, A> {
    let at = match slices.iter().rposition(|(end, _)| *end <= slice_end) {
        Some(i) if slices[i].0 == slice_end => i,
        found => {
            let at = found.map_or(0, |i| i + 1);
            slices.insert(at, (slice_end, KeyGroupTable::new(range)));
            at
        }
    };
    &mut slices[at].1
}

/// The slice table holding `slice_end`, for warming.
fn find_slice<K, A>(
    slices: &VecDeque<(Timestamp, KeyGroupTable<K, A>)>,
    slice_end: Timestamp,
) -> Option<&KeyGroupTable<K, A>> {
    slices.iter().rev().find(|(end, _)| *end <= slice_end).filter(|(end, _)| *end == slice_end).map(|(_, t)| t)
}

impl<K, T, W, C, E, OUT> OneInputOperator<T, OUT> for SlicedWindowOperator<K, T, W, C, E, OUT>
where
    K: Key,
    T: 'static,
    C: WindowContents<T>,
    W: Window,
    E: WindowEmit<K, W, C::Elem, OUT>,
    OUT: 'static,
{
    const KEYED: bool = true;

    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        let task = ctx.task_info().clone();
        self.lookahead.set_max_parallelism(task.max_parallelism);
        let s = &mut self.slices;
        s.range = task.key_group_range();
        s.clock = Some(task.clock.clone());
        s.metrics = Some(ctx.metrics().clone());
        s.state = Some(WindowFunctionState::open(ctx)?);
        if let Some(restored) = ctx.restored() {
            let mut ends: Vec<Timestamp> =
                restored.part_names(SLICE_PART).iter().filter_map(|p| p[SLICE_PART.len()..].parse().ok()).collect();
            ends.sort_unstable();
            for end in ends {
                let mut table = KeyGroupTable::new(s.range);
                table.restore_from(&format!("{SLICE_PART}{end}"), restored, task.max_parallelism)?;
                s.slices.push_back((end, table));
            }
            if let Some(fired) = restored_time(restored, FIRED_UNTIL)? {
                s.fired_until = fired;
            } else if let Some(end) = restored_time(restored, LEGACY_FIRED_THROUGH)? {
                s.fired_until = end.saturating_sub(1);
            }
            if s.geometry.event_time {
                // Resuming from the watermark reached (Flink forgets it) treats records
                // replayed after the barrier exactly as the first run did: late ones
                // stay late instead of opening windows that were already dropped.
                s.watermark = s.fired_until;
            }
        }
        s.contents.open(ctx)?;
        s.emit.open(ctx)
    }

    fn snapshot_state(&mut self, snapshot: &mut crate::checkpoint::OperatorSnapshot) -> FnResult {
        let s = &self.slices;
        for (end, table) in &s.slices {
            table.snapshot_into(&format!("{SLICE_PART}{end}"), snapshot)?;
        }
        snapshot.add_list(
            FIRED_UNTIL,
            crate::state::Redistribution::Union,
            vec![spate_core::codec::encode(&s.fired_until)?],
        );
        if let Some(state) = &s.state {
            state.snapshot(snapshot)?;
        }
        Ok(())
    }

    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>, out: &mut Output<OUT>) -> FnResult {
        let g = self.slices.geometry;
        let now = if g.event_time { 0 } else { self.slices.now() };
        self.lookahead.run(
            batch,
            &mut self.slices,
            |this, stage, placed, _| {
                if stage == Warm::Bucket {
                    let timestamp = if g.event_time { placed.record.timestamp } else { now };
                    if timestamp == NO_TIMESTAMP {
                        return;
                    }
                    if let Some(slice) = find_slice(&this.slices, this.slice_end(timestamp)) {
                        slice.prefetch(placed.key_group, placed.hash);
                    }
                }
            },
            |this, key_selector, placed| this.add(key_selector, placed, now, out),
        )
    }

    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<OUT>) -> FnResult {
        let s = &mut self.slices;
        // A restored operator may see its inputs start below the watermark it resumed
        // from; event time never goes back, and only an advance is passed on.
        if watermark <= s.watermark {
            return Ok(());
        }
        s.watermark = watermark;
        if s.geometry.event_time {
            s.fire_until(watermark, out)?;
        }
        out.emit_watermark(watermark);
        Ok(())
    }

    fn on_processing_time(&mut self, now: Timestamp, out: &mut Output<OUT>) -> FnResult {
        if !self.slices.geometry.event_time {
            // A window fires once the clock passed its end: until then, a record of its
            // last millisecond may still arrive (records take the clock of their batch).
            self.slices.fire_until(now.saturating_sub(1), out)?;
        }
        Ok(())
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        let s = &self.slices;
        if s.geometry.event_time { None } else { s.next_window_end() }
    }

    fn close(&mut self) -> FnResult {
        let contents = self.slices.contents.close();
        let emit = self.slices.emit.close();
        contents.and(emit)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::context::test_context;
    use crate::key_selector::ComputedKey;
    use crate::output::testing::recorder;
    use crate::time::ManualClock;
    use crate::window::{AggregateContents, EmitElements, SlidingProcessingTimeWindows, WindowAssigner};

    /// Counts records.
    struct Count;

    impl crate::functions::AggregateFunction<(u32, i64), (u32, u64), (u32, u64)> for Count {
        fn create_accumulator(&mut self) -> (u32, u64) {
            (0, 0)
        }
        fn add(&mut self, value: (u32, i64), acc: &mut (u32, u64)) {
            *acc = (value.0, acc.1 + 1);
        }
        fn get_result(&mut self, acc: &(u32, u64)) -> (u32, u64) {
            *acc
        }
        fn merge(&mut self, a: (u32, u64), b: (u32, u64)) -> (u32, u64) {
            (a.0.max(b.0), a.1 + b.1)
        }
    }

    /// Counts records of `(key, _)` per window.
    type Counting = SlicedWindowOperator<
        u32,
        (u32, i64),
        TimeWindow,
        AggregateContents<Count, (u32, u64), (u32, u64)>,
        EmitElements,
        (u32, u64),
    >;

    /// What a counting operator emitted.
    type Seen = crate::output::testing::Shared<(u32, u64)>;

    /// An opened operator counting records per window of `assigner` on `clock`, its
    /// output and what it emitted.
    fn counting<A: WindowAssigner<(u32, i64)>>(
        assigner: &A,
        clock: &Arc<ManualClock>,
    ) -> (Counting, Output<(u32, u64)>, Seen) {
        let slicing = assigner.slicing().unwrap();
        let mut op = SlicedWindowOperator::new(
            Arc::new(ComputedKey(|r: &(u32, i64)| r.0)),
            slicing,
            0,
            None,
            AggregateContents::new(Count),
            EmitElements,
        );
        let (sink, seen) = recorder::<(u32, u64)>();
        let out = Output::new(sink, 16);
        op.open(&mut test_context(clock.clone(), true)).unwrap();
        (op, out, seen)
    }

    #[test]
    fn processing_time_windows_fire_when_the_clock_passes_their_end() {
        let clock = ManualClock::new(1_000);
        let assigner = SlidingProcessingTimeWindows::of(Duration::from_secs(1), Duration::from_millis(500));
        let (mut op, mut out, seen) = counting(&assigner, &clock);
        let batch = |records: &[(u32, i64)]| records.iter().map(|r| StreamRecord::new(*r)).collect::<Vec<_>>();
        // Record timestamps are ignored: processing time decides.
        op.process_batch(&mut batch(&[(1, -99), (2, 12_345)]), &mut out).unwrap();
        clock.set(1_600);
        op.process_batch(&mut batch(&[(1, 0)]), &mut out).unwrap();
        assert_eq!(op.next_processing_time(), Some(1_500), "window [500, 1500) holds the first two");
        op.on_processing_time(1_499, &mut out).unwrap();
        out.flush_batch();
        assert!(seen.lock().unwrap().records.is_empty(), "a record of the window's last millisecond may still come");
        op.process_batch(&mut batch(&[]), &mut out).unwrap();
        op.on_processing_time(1_500, &mut out).unwrap();
        out.flush_batch();
        let first: Vec<(u32, u64)> = seen.lock().unwrap().records.iter().map(|r| r.value).collect();
        assert_eq!(
            {
                let mut f = first;
                f.sort();
                f
            },
            vec![(1, 1), (2, 1)]
        );
        assert_eq!(op.next_processing_time(), Some(2_000));
        op.on_processing_time(2_500, &mut out).unwrap();
        out.flush_batch();
        let mut fired: Vec<((u32, u64), i64)> =
            seen.lock().unwrap().records.iter().map(|r| (r.value, r.timestamp)).collect();
        fired.sort();
        // [1000, 2000) holds all three; [1500, 2500) the last one.
        assert_eq!(fired, vec![((1, 1), 1_499), ((1, 1), 2_499), ((1, 2), 1_999), ((2, 1), 1_499), ((2, 1), 1_999)]);
        assert_eq!(op.next_processing_time(), None, "nothing is left");
    }

    #[test]
    fn a_processing_time_window_takes_records_until_its_last_millisecond_is_over() {
        let clock = ManualClock::new(1_999);
        let assigner = crate::window::TumblingProcessingTimeWindows::of(Duration::from_secs(1));
        let (mut op, mut out, seen) = counting(&assigner, &clock);
        op.process_batch(&mut vec![StreamRecord::new((1, 0))], &mut out).unwrap();
        // The task fires timers due at `now`: 1999 is the last millisecond of [1000, 2000).
        op.on_processing_time(1_999, &mut out).unwrap();
        op.process_batch(&mut vec![StreamRecord::new((1, 0))], &mut out).unwrap();
        clock.set(2_000);
        op.on_processing_time(2_000, &mut out).unwrap();
        out.flush_batch();
        let fired: Vec<(u32, u64)> = seen.lock().unwrap().records.iter().map(|r| r.value).collect();
        assert_eq!(fired, vec![(1, 2)], "both records of its last millisecond are in the window");
    }

    fn geometry(size: i64, slide: i64, offset: i64) -> Geometry {
        Geometry::new(Slicing { size, slide, offset, event_time: true })
    }

    #[test]
    fn window_arithmetic_matches_the_assigner() {
        use crate::window::{SlidingEventTimeWindows, WindowAssigner};
        for (size, slide, offset) in [(10, 5, 0), (10, 4, 0), (10, 10, 3), (60, 1, 0), (7, 3, 2), (3, 5, 1)] {
            let g = geometry(size, slide, offset);
            let assigner = SlidingEventTimeWindows::of(
                std::time::Duration::from_millis(size as u64),
                std::time::Duration::from_millis(slide as u64),
            )
            .with_offset(std::time::Duration::from_millis(offset as u64));
            for ts in -50..50 {
                let mut windows = Vec::new();
                WindowAssigner::<()>::assign_windows(&assigner, &(), ts, &mut windows);
                if windows.is_empty() {
                    // Between two windows (a slide longer than the size).
                    assert!(g.gaps && ts >= g.last_end(ts), "{ts} is in no window of {size}/{slide}+{offset}");
                    continue;
                }
                let first = windows.iter().map(|w| w.end).min().unwrap();
                let last = windows.iter().map(|w| w.end).max().unwrap();
                assert_eq!(g.first_end(ts), first, "first end of {ts} in {size}/{slide}+{offset}");
                assert_eq!(g.last_end(ts), last, "last end of {ts}");
                let slice_end = g.slice_end(ts);
                assert!(slice_end - g.slice <= ts && ts < slice_end);
                assert!(windows.iter().all(|w| w.start <= slice_end - g.slice && slice_end <= w.end));
                assert_eq!(g.last_end_of_slice(slice_end), last);
                assert_eq!(g.window_end_at_or_after(first), first);
                assert_eq!(g.window_end_at_or_after(first - slide + 1), first);
            }
            // At both ends of time, where windows are clamped: the first slice and
            // windows of time begin before `Timestamp::MIN`, the last end after MAX.
            let extremes = (Timestamp::MIN..Timestamp::MIN + 100).chain(Timestamp::MAX - 100..=Timestamp::MAX);
            let mut ending_at_max = std::collections::BTreeSet::new();
            for ts in extremes {
                let mut windows = Vec::new();
                WindowAssigner::<()>::assign_windows(&assigner, &(), ts, &mut windows);
                ending_at_max.extend(windows.iter().filter(|w| w.end == Timestamp::MAX).map(|w| w.start));
                if windows.is_empty() {
                    assert!(g.gaps, "{ts} is in a window of {size}/{slide}+{offset}");
                    continue;
                }
                let first = windows.iter().map(|w| w.end).min().unwrap();
                let last = windows.iter().map(|w| w.end).max().unwrap();
                assert_eq!(g.first_end(ts), first, "first end of {ts} in {size}/{slide}+{offset}");
                assert_eq!(g.last_end(ts), last, "last end of {ts} in {size}/{slide}+{offset}");
                let slice_end = g.slice_end(ts);
                assert!(ts < slice_end || slice_end == Timestamp::MAX, "{ts} before its slice's end {slice_end}");
                assert!(windows.iter().all(|w| w.start <= ts && slice_end <= w.end), "{ts}: {windows:?}");
                assert_eq!(g.last_end_of_slice(slice_end), last, "last end of the slice of {ts}");
            }
            let starts: Vec<Timestamp> = g.starts_ending_at_max().collect();
            assert_eq!(starts, ending_at_max.into_iter().collect::<Vec<_>>(), "windows ending at MAX, {size}/{slide}");
        }
    }

    /// Resuming from a snapshot: the operator takes up event time where the snapshot
    /// left it, so that records replayed after a restore are judged as the first run
    /// judged them.
    mod resume_from_watermark {
        use super::*;
        use crate::checkpoint::{OperatorSnapshot, RestoredState};
        use crate::output::testing::Shared;

        /// Allowed lateness of the windows below, ms.
        const LATENESS: i64 = 5;

        /// What the operator below emits: a key and its count in a window.
        type Counted = (u32, u64);
        /// The operator under test, named so that a helper can build and return it.
        type Counting = SlicedWindowOperator<
            u32,
            (u32, i64),
            TimeWindow,
            AggregateContents<Count, Counted, Counted>,
            EmitElements,
            Counted,
        >;

        /// An opened operator counting records per key in tumbling event-time windows of
        /// 10 ms, restored from `snapshot` if given; with its output and metrics (late
        /// records are dropped and counted, there is no late-data side output).
        fn tumbling(
            snapshot: Option<&OperatorSnapshot>,
        ) -> (Counting, Output<Counted>, Shared<Counted>, Arc<TaskMetrics>) {
            let slicing = Slicing { size: 10, slide: 10, offset: 0, event_time: true };
            let mut op = Counting::new(
                Arc::new(ComputedKey(|r: &(u32, i64)| r.0)),
                slicing,
                LATENESS,
                None,
                AggregateContents::new(Count),
                EmitElements,
            );
            let mut ctx = test_context(ManualClock::new(0), true);
            if let Some(snapshot) = snapshot {
                let range = ctx.task_info().key_group_range();
                let restored = RestoredState::assemble(&[snapshot], range, 0, 1);
                ctx = ctx.with_restored(Some(std::rc::Rc::new(restored)));
            }
            op.open(&mut ctx).unwrap();
            let (sink, seen) = recorder::<(u32, u64)>();
            (op, Output::new(sink, 16), seen, ctx.metrics().clone())
        }

        /// Records `(key, timestamp)` stamped with their timestamp.
        fn at(records: &[(u32, i64)]) -> Vec<StreamRecord<(u32, i64)>> {
            records.iter().map(|r| StreamRecord::with_timestamp(*r, r.1)).collect()
        }

        fn fired(seen: &Shared<(u32, u64)>) -> Vec<(u32, u64)> {
            let mut fired: Vec<(u32, u64)> = seen.lock().unwrap().records.iter().map(|r| r.value).collect();
            fired.sort();
            fired
        }

        #[test]
        fn late_records_stay_late_and_a_lower_watermark_fires_nothing() {
            let (mut first, mut out, seen, _) = tumbling(None);
            first.process_batch(&mut at(&[(1, 5), (1, 15), (2, 150)]), &mut out).unwrap();
            first.process_watermark(100, &mut out).unwrap();
            out.flush_batch();
            assert_eq!(fired(&seen), vec![(1, 1), (1, 1)], "[0, 10) and [10, 20) fired at 100");
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
            assert_eq!(fired(&seen), vec![(2, 1)], "only [150, 160) of key 2 fires");
        }
    }
}
