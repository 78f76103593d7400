//! Accumulators (Flink's): values a job's functions add to as they run — counters,
//! sums, histograms, or any type of the user's — combined over every subtask when the
//! job ends and read from its result by name.
//!
//! An accumulator is a cheap handle a function keeps and adds to; registering it with
//! the runtime context (`RuntimeContext::add_accumulator`) lets the task read its value.
//! Values leave the task encoded, with their type's name and a printable form, so that
//! they can be combined where the type is known (the program that asks for them) and
//! shown where it is not (a JobManager's REST API).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;
use spate_core::{CoreError, codec};
use thiserror::Error;

/// A value functions add to, combined over all subtasks (Flink's `Accumulator`).
///
/// Implementations are handles: clones share one value, so that the copy registered
/// with the runtime sees what the function adds. Since every subtask's function is a
/// clone of one prototype, registering gives the function a [`fresh`](Self::fresh)
/// handle of its own.
pub trait Accumulator: Clone + Send + Sync + 'static {
    /// What it adds up to.
    type Result: Clone + Debug + Serialize + DeserializeOwned + Send + 'static;
    /// A handle with a value of its own, at the start (zero, empty), and the same
    /// settings.
    fn fresh(&self) -> Self;
    /// This subtask's value so far.
    fn local_value(&self) -> Self::Result;
    /// Two subtasks' values combined.
    fn merge(a: Self::Result, b: Self::Result) -> Self::Result;
}

/// Counts with `i32` (Flink's `IntCounter`).
#[derive(Clone, Debug, Default)]
pub struct IntCounter(Arc<AtomicI32>);

impl IntCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds `n`. One task thread writes a handle, so a plain load and store suffice
    /// (no atomic read-modify-write on the record path).
    #[inline]
    pub fn add(&self, n: i32) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }
}

impl Accumulator for IntCounter {
    fn fresh(&self) -> Self {
        Self::default()
    }
    type Result = i32;
    fn local_value(&self) -> i32 {
        self.0.load(Ordering::Relaxed)
    }
    fn merge(a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }
}

/// Counts with `i64` (Flink's `LongCounter`).
#[derive(Clone, Debug, Default)]
pub struct LongCounter(Arc<AtomicI64>);

impl LongCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds `n` (as [`IntCounter::add`]).
    #[inline]
    pub fn add(&self, n: i64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }
}

impl Accumulator for LongCounter {
    fn fresh(&self) -> Self {
        Self::default()
    }
    type Result = i64;
    fn local_value(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
    fn merge(a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }
}

/// Sums `f64`s (Flink's `DoubleCounter`).
#[derive(Clone, Debug, Default)]
pub struct DoubleCounter(Arc<AtomicU64>);

impl DoubleCounter {
    /// A sum at zero.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds `x`. The handle is used by one task thread, so the update needs no loop.
    #[inline]
    pub fn add(&self, x: f64) {
        let sum = f64::from_bits(self.0.load(Ordering::Relaxed)) + x;
        self.0.store(sum.to_bits(), Ordering::Relaxed);
    }
}

impl Accumulator for DoubleCounter {
    fn fresh(&self) -> Self {
        Self::default()
    }
    type Result = f64;
    fn local_value(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
    fn merge(a: f64, b: f64) -> f64 {
        a + b
    }
}

/// Counts how often each integer was added (Flink's `Histogram`). Each `add` takes an
/// uncontended lock (the task's thread and a reader share the map): fine for what one
/// counts per record, as Flink's, but a `LongCounter` is cheaper where it does.
#[derive(Clone, Debug, Default)]
pub struct Histogram(Arc<Mutex<BTreeMap<i32, i32>>>);

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }
    /// Counts one occurrence of `value`.
    pub fn add(&self, value: i32) {
        let mut counts = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *counts.entry(value).or_insert(0) += 1;
    }
}

impl Accumulator for Histogram {
    fn fresh(&self) -> Self {
        Self::default()
    }
    type Result = BTreeMap<i32, i32>;
    fn local_value(&self) -> BTreeMap<i32, i32> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
    fn merge(mut a: BTreeMap<i32, i32>, b: BTreeMap<i32, i32>) -> BTreeMap<i32, i32> {
        for (value, count) in b {
            let slot = a.entry(value).or_insert(0);
            *slot = slot.wrapping_add(count);
        }
        a
    }
}

/// One subtask's value of one accumulator, as it leaves the task.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AccumulatorValue {
    /// The accumulator's Rust type (`std::any::type_name`).
    pub type_name: String,
    /// The encoded result.
    pub bytes: Vec<u8>,
    /// The result as `Debug` prints it, for places that do not know the type.
    pub display: String,
}

/// Why an accumulator could not be registered or read.
#[derive(Debug, Error)]
pub enum AccumulatorError {
    /// A second accumulator was registered under a name in one task (Flink refuses it
    /// too: the two would count into one name without knowing of each other).
    #[error("the accumulator '{name}' was added twice in one task ({first}, then {second})")]
    Conflict {
        /// The name.
        name: String,
        /// The type registered first.
        first: String,
        /// The other.
        second: String,
    },
    /// The result was asked for as another type than it was registered with.
    #[error("the accumulator '{name}' is a {actual}, not a {asked}")]
    WrongType {
        /// The name.
        name: String,
        /// What it is.
        actual: String,
        /// What was asked for.
        asked: &'static str,
    },
    /// A value could not be encoded or decoded.
    #[error("the accumulator '{name}': {cause}")]
    Codec {
        /// The name.
        name: String,
        /// Why.
        #[source]
        cause: CoreError,
    },
}

/// A registered accumulator with its type erased.
trait Registered: Send + Sync {
    fn value(&self) -> Result<AccumulatorValue, CoreError>;
    fn type_name(&self) -> &'static str;
}

impl<A: Accumulator> Registered for A {
    fn value(&self) -> Result<AccumulatorValue, CoreError> {
        let local = self.local_value();
        Ok(AccumulatorValue {
            type_name: std::any::type_name::<A>().to_string(),
            bytes: codec::encode(&local)?,
            display: format!("{local:?}"),
        })
    }
    fn type_name(&self) -> &'static str {
        std::any::type_name::<A>()
    }
}

/// The accumulators one subtask registered (in the current attempt).
#[derive(Default)]
pub struct TaskAccumulators {
    registered: Mutex<Vec<(String, Box<dyn Registered>)>>,
}

impl Debug for TaskAccumulators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.lock().iter().map(|(n, _)| n.clone()).collect();
        f.debug_struct("TaskAccumulators").field("names", &names).finish()
    }
}

impl TaskAccumulators {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, Box<dyn Registered>)>> {
        self.registered.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers `accumulator` under `name`, after giving it a fresh value of its own.
    pub fn add<A: Accumulator>(&self, name: &str, accumulator: &mut A) -> Result<(), AccumulatorError> {
        *accumulator = accumulator.fresh();
        let mut registered = self.lock();
        if let Some((_, existing)) = registered.iter().find(|(n, _)| n == name) {
            return Err(AccumulatorError::Conflict {
                name: name.to_string(),
                first: existing.type_name().to_string(),
                second: std::any::type_name::<A>().to_string(),
            });
        }
        registered.push((name.to_string(), Box::new(accumulator.clone())));
        Ok(())
    }

    /// Forgets every accumulator: a new attempt of the job starts from zero, as in
    /// Flink (accumulators are not checkpointed).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The current value of each accumulator, by name.
    pub fn values(&self) -> Result<Vec<(String, AccumulatorValue)>, AccumulatorError> {
        self.lock()
            .iter()
            .map(|(name, a)| {
                a.value()
                    .map(|v| (name.clone(), v))
                    .map_err(|cause| AccumulatorError::Codec { name: name.clone(), cause })
            })
            .collect()
    }
}

/// The values of a job's accumulators, per subtask, combined on request.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AccumulatorResults {
    /// Per name: each subtask's value.
    pub values: BTreeMap<String, Vec<AccumulatorValue>>,
}

impl AccumulatorResults {
    /// Adds one subtask's values.
    pub fn add(&mut self, values: Vec<(String, AccumulatorValue)>) {
        for (name, value) in values {
            self.values.entry(name).or_default().push(value);
        }
    }

    /// The value of accumulator `name` over all subtasks, read as an `A`; `None` if no
    /// subtask registered it.
    pub fn get<A: Accumulator>(&self, name: &str) -> Result<Option<A::Result>, AccumulatorError> {
        let Some(values) = self.values.get(name) else { return Ok(None) };
        let mut merged: Option<A::Result> = None;
        for value in values {
            if value.type_name != std::any::type_name::<A>() {
                return Err(AccumulatorError::WrongType {
                    name: name.to_string(),
                    actual: value.type_name.clone(),
                    asked: std::any::type_name::<A>(),
                });
            }
            let local: A::Result = codec::decode(&value.bytes)
                .map_err(|cause| AccumulatorError::Codec { name: name.to_string(), cause })?;
            merged = Some(match merged {
                Some(so_far) => A::merge(so_far, local),
                None => local,
            });
        }
        Ok(merged)
    }

    /// The names of the accumulators.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
    /// Accumulator `name` for people, where its Rust type is not at hand (the
    /// JobManager, the CLI): (short type name, value). Spate's own accumulators are
    /// combined over the subtasks; a custom one shows each subtask's value.
    pub fn describe(&self, name: &str) -> Option<(String, String)> {
        let values = self.values.get(name)?;
        let type_name = values.first()?.type_name.clone();
        fn shown<A: Accumulator>(results: &AccumulatorResults, name: &str) -> Option<String>
        where
            A::Result: std::fmt::Debug,
        {
            results.get::<A>(name).ok().flatten().map(|v| format!("{v:?}"))
        }
        let merged = match type_name.as_str() {
            t if t == std::any::type_name::<IntCounter>() => shown::<IntCounter>(self, name),
            t if t == std::any::type_name::<LongCounter>() => shown::<LongCounter>(self, name),
            t if t == std::any::type_name::<DoubleCounter>() => shown::<DoubleCounter>(self, name),
            t if t == std::any::type_name::<Histogram>() => shown::<Histogram>(self, name),
            _ => None,
        };
        let value = merged.unwrap_or_else(|| {
            let each: Vec<&str> = values.iter().map(|v| v.display.as_str()).collect();
            format!("[{}]", each.join(", "))
        });
        let short = type_name.rsplit("::").next().unwrap_or(&type_name).to_string();
        Some((short, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_combine_spates_own_accumulators_and_list_custom_ones() {
        let (a, b) = (TaskAccumulators::default(), TaskAccumulators::default());
        let (mut x, mut y) = (LongCounter::new(), LongCounter::new());
        a.add("n", &mut x).unwrap();
        b.add("n", &mut y).unwrap();
        x.add(2);
        y.add(40);
        let mut results = AccumulatorResults::default();
        results.add(a.values().unwrap());
        results.add(b.values().unwrap());
        assert_eq!(results.describe("n"), Some(("LongCounter".to_string(), "42".to_string())));
        assert_eq!(results.describe("missing"), None);
        results.values.get_mut("n").unwrap().iter_mut().for_each(|v| v.type_name = "app::Longest".into());
        let (kind, value) = results.describe("n").unwrap();
        assert_eq!(kind, "Longest");
        assert!(value.starts_with('[') && value.contains(", "), "{value}");
    }

    #[test]
    fn values_combine_over_subtasks_by_their_type() {
        let (a, b) = (TaskAccumulators::default(), TaskAccumulators::default());
        // One prototype's clones, as every subtask's function is.
        let prototype = IntCounter::new();
        let (mut lines_a, mut lines_b) = (prototype.clone(), prototype.clone());
        a.add("lines", &mut lines_a).unwrap();
        b.add("lines", &mut lines_b).unwrap();
        let mut sizes = Histogram::new();
        a.add("sizes", &mut sizes).unwrap();
        lines_a.add(3);
        lines_b.add(4);
        sizes.add(2);
        sizes.add(2);
        sizes.add(5);
        let mut results = AccumulatorResults::default();
        results.add(a.values().unwrap());
        results.add(b.values().unwrap());
        assert_eq!(results.get::<IntCounter>("lines").unwrap(), Some(7));
        assert_eq!(results.get::<Histogram>("sizes").unwrap(), Some(BTreeMap::from([(2, 2), (5, 1)])));
        assert_eq!(results.get::<IntCounter>("absent").unwrap(), None);
        let err = results.get::<LongCounter>("lines").unwrap_err().to_string();
        assert!(err.contains("IntCounter") && err.contains("LongCounter"), "{err}");
        assert_eq!(prototype.local_value(), 0, "the prototype counts nothing");
        let err = a.add("lines", &mut DoubleCounter::new()).unwrap_err().to_string();
        assert!(err.contains("twice"), "{err}");
        let err = a.add("lines", &mut IntCounter::new()).unwrap_err().to_string();
        assert!(err.contains("twice"), "the same type twice is refused too: {err}");
        let sum = DoubleCounter::new();
        sum.add(1.5);
        sum.add(2.25);
        assert_eq!(sum.local_value(), 3.75);
        a.clear();
        assert!(a.values().unwrap().is_empty());
    }
}
