//! Counters a task publishes while it runs, read by the job master and clients.
//!
//! Tasks count into plain fields on the hot path and publish into these atomics once per
//! batch, so that reading metrics never slows processing down.

use std::sync::atomic::{AtomicU64, Ordering};

/// The I/O counters of one subtask (Flink's `numRecordsIn`, `numRecordsOut`, ...).
#[derive(Debug, Default)]
pub struct TaskMetrics {
    records_in: AtomicU64,
    records_out: AtomicU64,
    records_in_errors: AtomicU64,
    back_pressured_nanos: AtomicU64,
    late_records_dropped: AtomicU64,
    /// The accumulators the task's functions registered.
    pub accumulators: crate::accumulator::TaskAccumulators,
}

/// A point-in-time copy of [`TaskMetrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskMetricsSnapshot {
    /// Records the task received (for a source: records it read).
    pub records_in: u64,
    /// Records the task sent to other tasks or sinks.
    pub records_out: u64,
    /// Input records dropped as malformed (e.g. lines that are not UTF-8).
    pub records_in_errors: u64,
    /// Time spent waiting for space in full output channels, in nanoseconds.
    pub back_pressured_nanos: u64,
    /// Records that came after their windows were gone, dropped (Flink's
    /// `numLateRecordsDropped`; with a late-data side output they go there instead).
    pub late_records_dropped: u64,
}

impl TaskMetrics {
    /// Adds to `numRecordsIn`.
    #[inline]
    pub fn add_records_in(&self, n: u64) {
        self.records_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds to `numRecordsOut`.
    #[inline]
    pub fn add_records_out(&self, n: u64) {
        self.records_out.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds to `numRecordsInErrors`.
    pub fn add_records_in_errors(&self, n: u64) {
        self.records_in_errors.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds time spent back-pressured.
    pub fn add_back_pressured(&self, nanos: u64) {
        self.back_pressured_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Adds to `numLateRecordsDropped`.
    pub fn add_late_records_dropped(&self, n: u64) {
        self.late_records_dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads all counters.
    pub fn snapshot(&self) -> TaskMetricsSnapshot {
        TaskMetricsSnapshot {
            records_in: self.records_in.load(Ordering::Relaxed),
            records_out: self.records_out.load(Ordering::Relaxed),
            records_in_errors: self.records_in_errors.load(Ordering::Relaxed),
            back_pressured_nanos: self.back_pressured_nanos.load(Ordering::Relaxed),
            late_records_dropped: self.late_records_dropped.load(Ordering::Relaxed),
        }
    }
}

impl std::ops::AddAssign for TaskMetricsSnapshot {
    fn add_assign(&mut self, other: Self) {
        self.records_in += other.records_in;
        self.records_out += other.records_out;
        self.records_in_errors += other.records_in_errors;
        self.back_pressured_nanos += other.back_pressured_nanos;
        self.late_records_dropped += other.late_records_dropped;
    }
}
