//! Processing time, from a clock a job can replace (tests use a manual one).

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use spate_core::Timestamp;

/// Milliseconds since the Unix epoch, the unit of Flink's processing time.
pub fn now_millis() -> Timestamp {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as Timestamp)
}

/// Where processing time comes from: processing-time timers and state TTL read it.
pub trait Clock: Send + Sync + Debug {
    /// The current processing time, in milliseconds since the epoch.
    fn now(&self) -> Timestamp;

    /// Whether time moves only when told to (tasks then poll for due timers instead of
    /// sleeping until them).
    fn is_manual(&self) -> bool {
        false
    }
}

/// The system's wall clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Timestamp {
        now_millis()
    }
}

/// A clock that moves only when told to, for tests of timers and TTL.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A manual clock at `start`.
    pub fn new(start: Timestamp) -> Arc<Self> {
        Arc::new(ManualClock { now: AtomicI64::new(start) })
    }

    /// Sets the time.
    pub fn set(&self, now: Timestamp) {
        self.now.store(now, Ordering::SeqCst);
    }

    /// Moves the time forward.
    pub fn advance(&self, millis: i64) {
        self.now.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.now.load(Ordering::SeqCst)
    }

    fn is_manual(&self) -> bool {
        true
    }
}

/// The clock jobs use unless told otherwise.
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}
