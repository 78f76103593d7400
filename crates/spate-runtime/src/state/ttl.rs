//! State time-to-live (Flink's `StateTtlConfig`): values expire a fixed processing time
//! after they were last written (or read).

use std::time::Duration;

use spate_core::Timestamp;

/// When a value's time-to-live starts again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtlUpdateType {
    /// When the value is created or written.
    OnCreateAndWrite,
    /// Also when it is read.
    OnReadAndWrite,
}

/// Whether an expired value that is still stored may be returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateVisibility {
    /// Never: an expired value reads as absent.
    NeverReturnExpired,
    /// Once: it is returned by the read that finds it, and removed.
    ReturnExpiredIfNotCleanedUp,
}

/// How expired values are removed besides being removed when read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncrementalCleanup {
    /// Values checked per state access (and per record, see `every_record`).
    pub size: usize,
    /// Also check `size` values for every record the operator processes.
    pub every_record: bool,
}

/// The time-to-live of a state.
///
/// Expiry is in processing time. Expired values are removed when read (cleanup on
/// access) and, by default, by an incremental sweep that checks a few more values at
/// every access of the state (Flink's heap-backend default: 5).
///
/// ```
/// use std::time::Duration;
/// use spate_runtime::state::{StateTtlConfig, StateVisibility, TtlUpdateType};
/// let ttl = StateTtlConfig::new(Duration::from_secs(60))
///     .update_type(TtlUpdateType::OnReadAndWrite)
///     .state_visibility(StateVisibility::NeverReturnExpired)
///     .cleanup_incrementally(10, true);
/// assert_eq!(ttl.ttl(), Duration::from_secs(60));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateTtlConfig {
    ttl: Duration,
    update_type: TtlUpdateType,
    visibility: StateVisibility,
    incremental: Option<IncrementalCleanup>,
}

impl StateTtlConfig {
    /// Values expire `ttl` after they were created or written, are never returned once
    /// expired, and are swept incrementally (5 per access).
    pub fn new(ttl: Duration) -> Self {
        StateTtlConfig {
            ttl,
            update_type: TtlUpdateType::OnCreateAndWrite,
            visibility: StateVisibility::NeverReturnExpired,
            incremental: Some(IncrementalCleanup { size: 5, every_record: false }),
        }
    }

    /// When the time-to-live starts again.
    pub fn update_type(mut self, update_type: TtlUpdateType) -> Self {
        self.update_type = update_type;
        self
    }

    /// Whether an expired value may be returned once.
    pub fn state_visibility(mut self, visibility: StateVisibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// Checks `size` values at every state access (and every record if `every_record`).
    pub fn cleanup_incrementally(mut self, size: usize, every_record: bool) -> Self {
        self.incremental = Some(IncrementalCleanup { size: size.max(1), every_record });
        self
    }

    /// Removes expired values only when they are read.
    pub fn disable_cleanup_in_background(mut self) -> Self {
        self.incremental = None;
        self
    }

    /// The time-to-live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The update type.
    pub fn get_update_type(&self) -> TtlUpdateType {
        self.update_type
    }

    /// The visibility of expired values.
    pub fn visibility(&self) -> StateVisibility {
        self.visibility
    }

    /// The incremental cleanup, if enabled.
    pub fn incremental(&self) -> Option<IncrementalCleanup> {
        self.incremental
    }

    /// Whether a value last stamped at `stamp` has expired at `now`.
    #[inline]
    pub(crate) fn expired(&self, stamp: Timestamp, now: Timestamp) -> bool {
        stamp.saturating_add(self.ttl.as_millis() as i64) <= now
    }
}
