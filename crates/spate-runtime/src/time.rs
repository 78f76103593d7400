//! Processing time.

use std::time::{SystemTime, UNIX_EPOCH};

use spate_core::Timestamp;

/// Milliseconds since the Unix epoch, the unit of Flink's processing time.
pub fn now_millis() -> Timestamp {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as Timestamp)
}
