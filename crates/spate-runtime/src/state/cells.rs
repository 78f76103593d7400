//! The values of one piece of keyed state, by slot.
//!
//! A keyed operator gives each key it holds state for a slot (see `directory.rs`); each
//! piece of state keeps its values in a vector indexed by slot. The values' type is known
//! here and the key's is not, which is what lets a `ValueState<T>` handle reach its
//! values without knowing the key type, in safe code.

use std::any::Any;

use spate_core::StateValue;
use spate_core::codec;
use std::collections::HashMap;
use std::hash::Hash;

use spate_core::Timestamp;

use super::StateError;
use super::ttl::{IncrementalCleanup, StateTtlConfig, StateVisibility, TtlUpdateType};
use crate::functions::AggregateFunction;
use crate::time::Clock;

/// How an operation changed whether a slot holds a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Change {
    /// The slot had no value and now has one.
    pub gained: bool,
    /// The slot had a value and now has none.
    pub lost: bool,
}

impl Change {
    pub(crate) const NONE: Change = Change { gained: false, lost: false };

    fn from(before: bool, after: bool) -> Change {
        Change { gained: !before && after, lost: before && !after }
    }
}

/// A piece of keyed state seen without its types, by the store and the operator.
pub(crate) trait StateCells: Any {
    /// Whether `slot` holds a value (expired or not).
    fn has_value(&self, slot: u32) -> bool;
    /// Removes the value of `slot`; whether there was one.
    fn clear_slot(&mut self, slot: u32) -> bool;
    /// Checks up to `budget` slots for expired values, removing them; pushes the slots
    /// that lost their value.
    fn sweep(&mut self, now: Timestamp, budget: usize, lost: &mut Vec<u32>);
    /// Starts loading the value of `slot`, so that it is in cache when it is used.
    fn prefetch(&self, slot: u32);
    /// The incremental TTL cleanup, if any.
    fn incremental(&self) -> Option<IncrementalCleanup>;
    /// Appends the value of `slot` (with its TTL stamps) to `out`; false if it has none.
    fn snapshot_slot(&self, slot: u32, out: &mut Vec<u8>) -> Result<bool, StateError>;
    /// Puts back into `slot` a value written by [`snapshot_slot`](Self::snapshot_slot).
    fn restore_slot(&mut self, slot: u32, bytes: &[u8]) -> Result<(), StateError>;
    /// Checks that `bytes`, written by [`snapshot_slot`](Self::snapshot_slot), decode
    /// back (see [`codec::verify`]).
    fn verify_value(&self, bytes: &[u8]) -> Result<(), StateError>;
}

/// A value with the processing time it was last stamped at (for TTL).
#[derive(Clone, Debug)]
pub(crate) struct Stamped<T> {
    pub value: T,
    pub stamp: Timestamp,
}

/// One value per slot (value, reducing and aggregating state), with TTL stamps kept in
/// a parallel vector only when a TTL is set.
pub(crate) struct SingleCells<V> {
    values: Vec<Option<V>>,
    stamps: Vec<Timestamp>,
    ttl: Option<StateTtlConfig>,
    cursor: usize,
}

/// What a read of a [`SingleCells`] found.
pub(crate) enum Read<'a, V> {
    Live(&'a mut V),
    /// Expired and removed, returned once (`ReturnExpiredIfNotCleanedUp`).
    Expired(V),
    Absent,
}

impl<V: 'static> SingleCells<V> {
    pub(crate) fn new(ttl: Option<StateTtlConfig>) -> Self {
        SingleCells { values: Vec::new(), stamps: Vec::new(), ttl, cursor: 0 }
    }

    fn ensure(&mut self, slot: usize) {
        if slot >= self.values.len() {
            self.values.resize_with(slot + 1, || None);
            if self.ttl.is_some() {
                self.stamps.resize(slot + 1, 0);
            }
        }
    }

    /// The value of `slot` after applying the TTL.
    #[inline]
    pub(crate) fn read(&mut self, slot: u32, clock: &dyn Clock) -> (Read<'_, V>, Change) {
        let i = slot as usize;
        if !matches!(self.values.get(i), Some(Some(_))) {
            return (Read::Absent, Change::NONE);
        }
        if let Some(ttl) = self.ttl {
            let now = clock.now();
            if ttl.expired(self.stamps[i], now) {
                let lost = Change { gained: false, lost: true };
                return match (self.values[i].take(), ttl.visibility()) {
                    (Some(v), StateVisibility::ReturnExpiredIfNotCleanedUp) => (Read::Expired(v), lost),
                    _ => (Read::Absent, lost),
                };
            }
            if ttl.get_update_type() == TtlUpdateType::OnReadAndWrite {
                self.stamps[i] = now;
            }
        }
        match self.values[i].as_mut() {
            Some(v) => (Read::Live(v), Change::NONE),
            None => (Read::Absent, Change::NONE),
        }
    }

    /// Stores `value` in `slot`.
    #[inline]
    pub(crate) fn write(&mut self, slot: u32, value: V, clock: &dyn Clock) -> Change {
        let i = slot as usize;
        self.ensure(i);
        if self.ttl.is_some() {
            self.stamps[i] = clock.now();
        }
        let before = self.values[i].is_some();
        self.values[i] = Some(value);
        Change::from(before, true)
    }

    /// Removes the value of `slot`.
    pub(crate) fn take(&mut self, slot: u32) -> Option<V> {
        self.values.get_mut(slot as usize).and_then(Option::take)
    }
}

impl<V: StateValue> StateCells for SingleCells<V> {
    fn has_value(&self, slot: u32) -> bool {
        matches!(self.values.get(slot as usize), Some(Some(_)))
    }

    fn clear_slot(&mut self, slot: u32) -> bool {
        self.take(slot).is_some()
    }

    fn sweep(&mut self, now: Timestamp, budget: usize, lost: &mut Vec<u32>) {
        let Some(ttl) = self.ttl else { return };
        let n = self.values.len();
        for _ in 0..budget.min(n) {
            self.cursor = if self.cursor + 1 >= n { 0 } else { self.cursor + 1 };
            let i = self.cursor;
            if self.values[i].is_some() && ttl.expired(self.stamps[i], now) {
                self.values[i] = None;
                lost.push(i as u32);
            }
        }
    }

    #[inline]
    fn prefetch(&self, slot: u32) {
        if let Some(cell) = self.values.get(slot as usize) {
            super::prefetch::prefetch(cell);
        }
    }

    fn incremental(&self) -> Option<IncrementalCleanup> {
        self.ttl.and_then(|t| t.incremental())
    }

    fn snapshot_slot(&self, slot: u32, out: &mut Vec<u8>) -> Result<bool, StateError> {
        let i = slot as usize;
        let Some(Some(value)) = self.values.get(i) else { return Ok(false) };
        let stamp = self.ttl.map(|_| self.stamps[i]);
        codec::encode_into(&(value, stamp), out)?;
        Ok(true)
    }

    fn verify_value(&self, bytes: &[u8]) -> Result<(), StateError> {
        Ok(codec::verify::<(V, Option<Timestamp>)>(bytes)?)
    }

    fn restore_slot(&mut self, slot: u32, bytes: &[u8]) -> Result<(), StateError> {
        let (value, stamp): (V, Option<Timestamp>) = codec::decode(bytes)?;
        let i = slot as usize;
        self.ensure(i);
        if self.ttl.is_some() {
            // A value from a job without TTL starts its time to live now... at the
            // oldest possible stamp, so that it is not kept longer than configured.
            self.stamps[i] = stamp.unwrap_or(0);
        }
        self.values[i] = Some(value);
        Ok(())
    }
}

/// The cells of a reducing state: values and the reduce function.
pub(crate) struct ReducingCells<T> {
    pub cells: SingleCells<T>,
    pub reduce: super::descriptor::StateReduceFunction<T>,
}

/// The accumulator-free view of an aggregating state's cells, which a handle that knows
/// only the input and output types can use.
pub(crate) trait AggregatingAccess<IN, OUT> {
    fn get(&mut self, slot: u32, clock: &dyn Clock) -> (Option<OUT>, Change);
    fn add(&mut self, slot: u32, value: IN, clock: &dyn Clock) -> Change;
    fn cells(&mut self) -> &mut dyn StateCells;
    fn cells_ref(&self) -> &dyn StateCells;
}

/// The cells of an aggregating state: accumulators and the aggregate function.
pub(crate) struct AggregatingCells<IN, ACC, OUT> {
    pub cells: SingleCells<ACC>,
    pub function: Box<dyn AggregateFunction<IN, ACC, OUT>>,
}

impl<IN: 'static, ACC: StateValue, OUT: 'static> AggregatingAccess<IN, OUT> for AggregatingCells<IN, ACC, OUT> {
    fn get(&mut self, slot: u32, clock: &dyn Clock) -> (Option<OUT>, Change) {
        let function = &mut self.function;
        let (read, change) = self.cells.read(slot, clock);
        let out = match read {
            Read::Live(acc) => Some(function.get_result(acc)),
            Read::Expired(acc) => Some(function.get_result(&acc)),
            Read::Absent => None,
        };
        (out, change)
    }

    fn add(&mut self, slot: u32, value: IN, clock: &dyn Clock) -> Change {
        let function = &mut self.function;
        let (read, change) = self.cells.read(slot, clock);
        let mut acc = match read {
            Read::Live(acc) => {
                function.add(value, acc);
                // Written: restart the TTL.
                if self.cells.ttl.is_some() {
                    self.cells.stamps[slot as usize] = clock.now();
                }
                return change;
            }
            _ => function.create_accumulator(),
        };
        function.add(value, &mut acc);
        let written = self.cells.write(slot, acc, clock);
        Change { gained: written.gained && !change.lost, lost: change.lost && !written.gained }
    }

    fn cells(&mut self) -> &mut dyn StateCells {
        &mut self.cells
    }

    fn cells_ref(&self) -> &dyn StateCells {
        &self.cells
    }
}

/// An aggregating state's cells behind [`AggregatingAccess`], so that its handle can
/// find them without knowing the accumulator type.
pub(crate) struct AggregatingSlot<IN, OUT>(pub Box<dyn AggregatingAccess<IN, OUT>>);

macro_rules! delegate_cells {
    ($ty:ty, $($path:tt)+) => {
        fn has_value(&self, slot: u32) -> bool {
            self.$($path)+.has_value(slot)
        }
        fn clear_slot(&mut self, slot: u32) -> bool {
            self.$($path)+.clear_slot(slot)
        }
        fn sweep(&mut self, now: Timestamp, budget: usize, lost: &mut Vec<u32>) {
            self.$($path)+.sweep(now, budget, lost)
        }
        fn prefetch(&self, slot: u32) {
            self.$($path)+.prefetch(slot)
        }
        fn incremental(&self) -> Option<IncrementalCleanup> {
            self.$($path)+.incremental()
        }
        fn snapshot_slot(&self, slot: u32, out: &mut Vec<u8>) -> Result<bool, StateError> {
            self.$($path)+.snapshot_slot(slot, out)
        }
        fn restore_slot(&mut self, slot: u32, bytes: &[u8]) -> Result<(), StateError> {
            self.$($path)+.restore_slot(slot, bytes)
        }
        fn verify_value(&self, bytes: &[u8]) -> Result<(), StateError> {
            self.$($path)+.verify_value(bytes)
        }
    };
}

impl<T: StateValue> StateCells for ReducingCells<T> {
    delegate_cells!(ReducingCells<T>, cells);
}

impl<IN: 'static, OUT: 'static> StateCells for AggregatingSlot<IN, OUT> {
    fn has_value(&self, slot: u32) -> bool {
        self.0.cells_ref().has_value(slot)
    }
    fn clear_slot(&mut self, slot: u32) -> bool {
        self.0.cells().clear_slot(slot)
    }
    fn sweep(&mut self, now: Timestamp, budget: usize, lost: &mut Vec<u32>) {
        self.0.cells().sweep(now, budget, lost)
    }
    fn prefetch(&self, slot: u32) {
        self.0.cells_ref().prefetch(slot)
    }
    fn incremental(&self) -> Option<IncrementalCleanup> {
        self.0.cells_ref().incremental()
    }
    fn snapshot_slot(&self, slot: u32, out: &mut Vec<u8>) -> Result<bool, StateError> {
        self.0.cells_ref().snapshot_slot(slot, out)
    }
    fn restore_slot(&mut self, slot: u32, bytes: &[u8]) -> Result<(), StateError> {
        self.0.cells().restore_slot(slot, bytes)
    }
    fn verify_value(&self, bytes: &[u8]) -> Result<(), StateError> {
        self.0.cells_ref().verify_value(bytes)
    }
}

/// Removes the expired elements, returning them.
fn expire_elements<T>(items: &mut Vec<Stamped<T>>, ttl: &StateTtlConfig, now: Timestamp) -> Vec<T> {
    let mut expired = Vec::new();
    let mut i = 0;
    while i < items.len() {
        if ttl.expired(items[i].stamp, now) {
            expired.push(items.swap_remove(i).value);
        } else {
            i += 1;
        }
    }
    expired
}

/// A list per slot; with a TTL, every element expires on its own (as in Flink).
pub(crate) struct ListCells<T> {
    lists: Vec<Option<Vec<Stamped<T>>>>,
    ttl: Option<StateTtlConfig>,
    cursor: usize,
}

impl<T: Clone + 'static> ListCells<T> {
    pub(crate) fn new(ttl: Option<StateTtlConfig>) -> Self {
        ListCells { lists: Vec::new(), ttl, cursor: 0 }
    }

    fn slot_mut(&mut self, slot: u32) -> &mut Option<Vec<Stamped<T>>> {
        let i = slot as usize;
        if i >= self.lists.len() {
            self.lists.resize_with(i + 1, || None);
        }
        &mut self.lists[i]
    }

    /// The elements of `slot` (after TTL).
    pub(crate) fn get(&mut self, slot: u32, clock: &dyn Clock) -> (Vec<T>, Change) {
        let ttl = self.ttl;
        let Some(Some(list)) = self.lists.get_mut(slot as usize) else { return (Vec::new(), Change::NONE) };
        let mut out = Vec::with_capacity(list.len());
        if let Some(ttl) = ttl {
            let now = clock.now();
            let expired = expire_elements(list, &ttl, now);
            if ttl.visibility() == StateVisibility::ReturnExpiredIfNotCleanedUp {
                out.extend(expired);
            }
            if ttl.get_update_type() == TtlUpdateType::OnReadAndWrite {
                list.iter_mut().for_each(|e| e.stamp = now);
            }
        }
        out.extend(list.iter().map(|e| e.value.clone()));
        if list.is_empty() {
            self.lists[slot as usize] = None;
            return (out, Change { gained: false, lost: true });
        }
        (out, Change::NONE)
    }

    /// Appends elements.
    pub(crate) fn add_all(&mut self, slot: u32, values: Vec<T>, clock: &dyn Clock) -> Change {
        if values.is_empty() {
            return Change::NONE;
        }
        let stamp = if self.ttl.is_some() { clock.now() } else { 0 };
        let entry = self.slot_mut(slot);
        let before = entry.is_some();
        entry.get_or_insert_with(Vec::new).extend(values.into_iter().map(|value| Stamped { value, stamp }));
        Change::from(before, true)
    }

    /// Replaces the list (an empty list clears it).
    pub(crate) fn update(&mut self, slot: u32, values: Vec<T>, clock: &dyn Clock) -> Change {
        let stamp = if self.ttl.is_some() { clock.now() } else { 0 };
        let entry = self.slot_mut(slot);
        let before = entry.is_some();
        *entry = (!values.is_empty()).then(|| values.into_iter().map(|value| Stamped { value, stamp }).collect());
        Change::from(before, entry.is_some())
    }
}

impl<T: StateValue> StateCells for ListCells<T> {
    fn has_value(&self, slot: u32) -> bool {
        matches!(self.lists.get(slot as usize), Some(Some(_)))
    }

    fn clear_slot(&mut self, slot: u32) -> bool {
        self.lists.get_mut(slot as usize).and_then(Option::take).is_some()
    }

    fn sweep(&mut self, now: Timestamp, budget: usize, lost: &mut Vec<u32>) {
        let Some(ttl) = self.ttl else { return };
        let n = self.lists.len();
        for _ in 0..budget.min(n) {
            self.cursor = if self.cursor + 1 >= n { 0 } else { self.cursor + 1 };
            if let Some(list) = &mut self.lists[self.cursor] {
                expire_elements(list, &ttl, now);
                if list.is_empty() {
                    self.lists[self.cursor] = None;
                    lost.push(self.cursor as u32);
                }
            }
        }
    }

    fn prefetch(&self, slot: u32) {
        if let Some(cell) = self.lists.get(slot as usize) {
            super::prefetch::prefetch(cell);
        }
    }

    fn incremental(&self) -> Option<IncrementalCleanup> {
        self.ttl.and_then(|t| t.incremental())
    }

    fn snapshot_slot(&self, slot: u32, out: &mut Vec<u8>) -> Result<bool, StateError> {
        let Some(Some(list)) = self.lists.get(slot as usize) else { return Ok(false) };
        let items: Vec<(&T, Timestamp)> = list.iter().map(|e| (&e.value, e.stamp)).collect();
        codec::encode_into(&items, out)?;
        Ok(true)
    }

    fn verify_value(&self, bytes: &[u8]) -> Result<(), StateError> {
        Ok(codec::verify::<Vec<(T, Timestamp)>>(bytes)?)
    }

    fn restore_slot(&mut self, slot: u32, bytes: &[u8]) -> Result<(), StateError> {
        let items: Vec<(T, Timestamp)> = codec::decode(bytes)?;
        *self.slot_mut(slot) = Some(items.into_iter().map(|(value, stamp)| Stamped { value, stamp }).collect());
        Ok(())
    }
}

/// A map per slot; with a TTL, every entry expires on its own (as in Flink).
pub(crate) struct MapCells<UK, UV> {
    maps: Vec<Option<HashMap<UK, Stamped<UV>>>>,
    ttl: Option<StateTtlConfig>,
    cursor: usize,
}

impl<UK: Eq + Hash + Clone + 'static, UV: Clone + 'static> MapCells<UK, UV> {
    pub(crate) fn new(ttl: Option<StateTtlConfig>) -> Self {
        MapCells { maps: Vec::new(), ttl, cursor: 0 }
    }

    /// The map of `slot` after TTL: expired entries are removed (and, with
    /// `ReturnExpiredIfNotCleanedUp`, returned once in `expired`).
    pub(crate) fn map(
        &mut self,
        slot: u32,
        clock: &dyn Clock,
        expired: &mut Vec<(UK, UV)>,
    ) -> (Option<&mut HashMap<UK, Stamped<UV>>>, Change) {
        let ttl = self.ttl;
        let i = slot as usize;
        let Some(Some(map)) = self.maps.get_mut(i) else { return (None, Change::NONE) };
        if let Some(ttl) = ttl {
            let now = clock.now();
            let before = map.len();
            map.retain(|k, e| {
                let keep = !ttl.expired(e.stamp, now);
                if !keep && ttl.visibility() == StateVisibility::ReturnExpiredIfNotCleanedUp {
                    expired.push((k.clone(), e.value.clone()));
                }
                keep
            });
            if ttl.get_update_type() == TtlUpdateType::OnReadAndWrite {
                map.values_mut().for_each(|e| e.stamp = now);
            }
            if map.is_empty() && before > 0 {
                self.maps[i] = None;
                return (None, Change { gained: false, lost: true });
            }
        }
        (self.maps[i].as_mut(), Change::NONE)
    }

    /// The map of `slot` for writing, created if absent.
    pub(crate) fn map_for_write(&mut self, slot: u32) -> (&mut HashMap<UK, Stamped<UV>>, bool) {
        let i = slot as usize;
        if i >= self.maps.len() {
            self.maps.resize_with(i + 1, || None);
        }
        let created = self.maps[i].is_none();
        (self.maps[i].get_or_insert_with(HashMap::new), created)
    }

    /// Drops the map of `slot` if it became empty; whether it did.
    pub(crate) fn drop_if_empty(&mut self, slot: u32) -> bool {
        let i = slot as usize;
        if matches!(self.maps.get(i), Some(Some(m)) if m.is_empty()) {
            self.maps[i] = None;
            return true;
        }
        false
    }

    /// The stamp for a write now.
    pub(crate) fn stamp(&self, clock: &dyn Clock) -> Timestamp {
        if self.ttl.is_some() { clock.now() } else { 0 }
    }
}

impl<UK: StateValue + Eq + Hash, UV: StateValue> StateCells for MapCells<UK, UV> {
    fn has_value(&self, slot: u32) -> bool {
        matches!(self.maps.get(slot as usize), Some(Some(_)))
    }

    fn clear_slot(&mut self, slot: u32) -> bool {
        self.maps.get_mut(slot as usize).and_then(Option::take).is_some()
    }

    fn sweep(&mut self, now: Timestamp, budget: usize, lost: &mut Vec<u32>) {
        let Some(ttl) = self.ttl else { return };
        let n = self.maps.len();
        for _ in 0..budget.min(n) {
            self.cursor = if self.cursor + 1 >= n { 0 } else { self.cursor + 1 };
            if let Some(map) = &mut self.maps[self.cursor] {
                map.retain(|_, e| !ttl.expired(e.stamp, now));
                if map.is_empty() {
                    self.maps[self.cursor] = None;
                    lost.push(self.cursor as u32);
                }
            }
        }
    }

    fn prefetch(&self, slot: u32) {
        if let Some(cell) = self.maps.get(slot as usize) {
            super::prefetch::prefetch(cell);
        }
    }

    fn incremental(&self) -> Option<IncrementalCleanup> {
        self.ttl.and_then(|t| t.incremental())
    }

    fn snapshot_slot(&self, slot: u32, out: &mut Vec<u8>) -> Result<bool, StateError> {
        let Some(Some(map)) = self.maps.get(slot as usize) else { return Ok(false) };
        let entries: Vec<(&UK, &UV, Timestamp)> = map.iter().map(|(k, e)| (k, &e.value, e.stamp)).collect();
        codec::encode_into(&entries, out)?;
        Ok(true)
    }

    fn verify_value(&self, bytes: &[u8]) -> Result<(), StateError> {
        Ok(codec::verify::<Vec<(UK, UV, Timestamp)>>(bytes)?)
    }

    fn restore_slot(&mut self, slot: u32, bytes: &[u8]) -> Result<(), StateError> {
        let entries: Vec<(UK, UV, Timestamp)> = codec::decode(bytes)?;
        let (map, _) = self.map_for_write(slot);
        map.clear();
        map.extend(entries.into_iter().map(|(k, value, stamp)| (k, Stamped { value, stamp })));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::time::ManualClock;

    fn second() -> StateTtlConfig {
        StateTtlConfig::new(Duration::from_secs(1))
    }

    #[test]
    fn list_elements_expire_one_by_one() {
        let clock = ManualClock::new(0);
        let mut cells = ListCells::<String>::new(Some(second()));
        assert_eq!(cells.add_all(3, vec!["a".to_string()], &*clock), Change { gained: true, lost: false });
        clock.set(600);
        cells.add_all(3, vec!["b".to_string()], &*clock);
        clock.set(1_000);
        assert_eq!(
            cells.get(3, &*clock),
            (vec!["b".to_string()], Change::NONE),
            "a was written at 0 and expired at 1000"
        );
        clock.set(1_600);
        assert_eq!(cells.get(3, &*clock), (Vec::<String>::new(), Change { gained: false, lost: true }));
        assert!(!cells.has_value(3), "an emptied list leaves the slot");
    }

    #[test]
    fn list_reads_refresh_only_with_on_read_and_write() {
        let clock = ManualClock::new(0);
        let mut refreshed = ListCells::<u8>::new(Some(second().update_type(TtlUpdateType::OnReadAndWrite)));
        let mut plain = ListCells::<u8>::new(Some(second()));
        refreshed.add_all(0, vec![1], &*clock);
        plain.add_all(0, vec![1], &*clock);
        clock.set(900);
        assert_eq!(refreshed.get(0, &*clock).0, vec![1]);
        assert_eq!(plain.get(0, &*clock).0, vec![1]);
        clock.set(1_500);
        assert_eq!(refreshed.get(0, &*clock).0, vec![1], "the read at 900 restarted its time to live");
        assert_eq!(plain.get(0, &*clock).0, Vec::<u8>::new());
    }

    #[test]
    fn expired_map_entries_are_returned_once_if_asked() {
        let clock = ManualClock::new(0);
        let ttl = second().state_visibility(StateVisibility::ReturnExpiredIfNotCleanedUp);
        let mut cells = MapCells::<String, u32>::new(Some(ttl));
        let stamp = cells.stamp(&*clock);
        cells.map_for_write(1).0.insert("old".into(), Stamped { value: 1, stamp });
        clock.set(500);
        let stamp = cells.stamp(&*clock);
        cells.map_for_write(1).0.insert("new".into(), Stamped { value: 2, stamp });
        clock.set(1_200);
        let mut expired = Vec::new();
        let (map, change) = cells.map(1, &*clock, &mut expired);
        assert_eq!(map.map(|m| m.keys().cloned().collect::<Vec<_>>()), Some(vec!["new".to_string()]));
        assert_eq!((expired, change), (vec![("old".to_string(), 1)], Change::NONE));
        let mut again = Vec::new();
        cells.map(1, &*clock, &mut again);
        assert!(again.is_empty(), "an expired entry is returned once, then it is gone");
        clock.set(1_500);
        let (map, change) = cells.map(1, &*clock, &mut again);
        assert!(map.is_none());
        assert_eq!(change, Change { gained: false, lost: true });
    }

    #[test]
    fn sweeps_empty_lists_and_maps_and_report_their_slots() {
        let clock = ManualClock::new(0);
        let mut lists = ListCells::<u8>::new(Some(second()));
        let mut maps = MapCells::<u8, u8>::new(Some(second()));
        for slot in 0..4 {
            lists.add_all(slot, vec![slot as u8], &*clock);
            maps.map_for_write(slot).0.insert(0, Stamped { value: 0, stamp: 0 });
        }
        clock.set(800);
        lists.add_all(2, vec![9], &*clock);
        let (mut lost_lists, mut lost_maps) = (Vec::new(), Vec::new());
        lists.sweep(2_000, 10, &mut lost_lists);
        maps.sweep(2_000, 10, &mut lost_maps);
        lost_lists.sort();
        lost_maps.sort();
        assert_eq!(lost_lists, vec![0, 1, 2, 3]);
        assert_eq!(lost_maps, vec![0, 1, 2, 3]);
        lists.add_all(1, vec![1], &*clock);
        let mut lost = Vec::new();
        lists.sweep(1_500, 1, &mut lost);
        lists.sweep(1_500, 1, &mut lost);
        assert!(lost.is_empty(), "a value written at 800 lives until 1800");
    }
}
