//! What a record is, and the envelope it travels in.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The bound on every record type.
///
/// Inside a process records move as typed values and are never serialized; `Serialize`
/// and `DeserializeOwned` are required because a record may have to cross to another
/// process or into a state snapshot. It is implemented for every type that satisfies the
/// bounds, so users never implement it by hand.
pub trait Data: Clone + Send + Serialize + DeserializeOwned + 'static {}

impl<T: Clone + Send + Serialize + DeserializeOwned + 'static> Data for T {}

/// The bound on values kept in state (keyed state, accumulators, window contents,
/// trigger state): they are copied into snapshots and read back on restore.
pub trait StateValue: Clone + Serialize + DeserializeOwned + 'static {}

impl<T: Clone + Serialize + DeserializeOwned + 'static> StateValue for T {}

/// Milliseconds since the Unix epoch, as in Flink: event-time timestamps and watermarks.
pub type Timestamp = i64;

/// The timestamp of a record that has none (no event time assigned).
pub const NO_TIMESTAMP: Timestamp = i64::MIN;

/// A record with its event timestamp, as it moves between operators.
///
/// The timestamp travels with every record (rather than in a side column) so that every
/// operator has one code path whether or not event time is in use; [`NO_TIMESTAMP`] marks
/// a record without one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRecord<T> {
    /// The user's record.
    pub value: T,
    /// Its event timestamp, or [`NO_TIMESTAMP`].
    pub timestamp: Timestamp,
}

impl<T> StreamRecord<T> {
    /// A record without a timestamp.
    #[inline]
    pub fn new(value: T) -> Self {
        StreamRecord { value, timestamp: NO_TIMESTAMP }
    }

    /// A record with an event timestamp.
    #[inline]
    pub fn with_timestamp(value: T, timestamp: Timestamp) -> Self {
        StreamRecord { value, timestamp }
    }

    /// The event timestamp, if the record has one.
    #[inline]
    pub fn timestamp(&self) -> Option<Timestamp> {
        (self.timestamp != NO_TIMESTAMP).then_some(self.timestamp)
    }

    /// The same timestamp around another value (what a `map` does).
    #[inline]
    pub fn replace<U>(self, value: U) -> StreamRecord<U> {
        StreamRecord { value, timestamp: self.timestamp }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_is_optional() {
        assert_eq!(StreamRecord::new(1).timestamp(), None);
        assert_eq!(StreamRecord::with_timestamp(1, 5).timestamp(), Some(5));
        assert_eq!(StreamRecord::with_timestamp(1, 5).replace("x").timestamp, 5);
    }
}
