//! Watermark strategies: how records get event timestamps and how watermarks follow
//! them (Flink's `WatermarkStrategy`, `WatermarkGenerator`, `TimestampAssigner`).

use std::sync::Arc;
use std::time::Duration;

use spate_core::Timestamp;

/// Whether a stream holds back the watermark downstream (Flink's `WatermarkStatus`).
///
/// An idle stream (a source subtask or split without data for the idleness timeout of
/// its [`WatermarkStrategy`]) stops counting in the minimum over inputs, so that the
/// others' watermarks can advance; it rejoins with its next record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WatermarkStatus {
    /// The stream's watermark counts.
    Active,
    /// The stream sends nothing for now; its watermark does not count.
    Idle,
}

/// Where a generator emits watermarks.
#[derive(Debug, Default)]
pub struct WatermarkOutput {
    watermark: Option<Timestamp>,
}

impl WatermarkOutput {
    /// Emits a watermark (ignored unless it is later than the last one emitted).
    pub fn emit_watermark(&mut self, watermark: Timestamp) {
        self.watermark = Some(self.watermark.map_or(watermark, |w| w.max(watermark)));
    }

    pub(crate) fn take(&mut self) -> Option<Timestamp> {
        self.watermark.take()
    }
}

/// Generates watermarks from the events it sees: on every event (punctuated) and/or
/// every `pipeline.auto-watermark-interval` (periodic).
pub trait WatermarkGenerator<T>: Send + 'static {
    /// Called for every record, with its assigned timestamp.
    fn on_event(&mut self, event: &T, timestamp: Timestamp, output: &mut WatermarkOutput);
    /// Called periodically.
    fn on_periodic_emit(&mut self, output: &mut WatermarkOutput);
}

/// Watermarks that trail the largest timestamp seen by a fixed delay.
#[derive(Clone, Debug)]
pub struct BoundedOutOfOrderness {
    max_timestamp: Timestamp,
    delay: i64,
}

impl BoundedOutOfOrderness {
    /// A generator allowing records up to `delay` late.
    pub fn new(delay: Duration) -> Self {
        let delay = delay.as_millis() as i64;
        BoundedOutOfOrderness { max_timestamp: Timestamp::MIN.saturating_add(delay + 1), delay }
    }
}

impl<T> WatermarkGenerator<T> for BoundedOutOfOrderness {
    fn on_event(&mut self, _event: &T, timestamp: Timestamp, _output: &mut WatermarkOutput) {
        self.max_timestamp = self.max_timestamp.max(timestamp);
    }

    fn on_periodic_emit(&mut self, output: &mut WatermarkOutput) {
        // Flink's definition: the watermark is the largest timestamp minus the delay,
        // minus one (a watermark `w` promises no more records with timestamp <= w).
        output.emit_watermark(self.max_timestamp - self.delay - 1);
    }
}

/// A generator that never emits watermarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoWatermarks;

impl<T> WatermarkGenerator<T> for NoWatermarks {
    fn on_event(&mut self, _event: &T, _timestamp: Timestamp, _output: &mut WatermarkOutput) {}
    fn on_periodic_emit(&mut self, _output: &mut WatermarkOutput) {}
}

/// Makes one generator per subtask.
pub type GeneratorFactory<T> = Arc<dyn Fn() -> Box<dyn WatermarkGenerator<T>> + Send + Sync>;

/// Assigns a record's event timestamp from the record and its previous timestamp.
pub type TimestampAssigner<T> = Arc<dyn Fn(&T, Timestamp) -> Timestamp + Send + Sync>;

/// How a stream gets timestamps and watermarks.
///
/// ```
/// use std::time::Duration;
/// use spate_runtime::watermark::WatermarkStrategy;
/// let strategy = WatermarkStrategy::<(String, i64)>::for_bounded_out_of_orderness(Duration::from_secs(5))
///     .with_timestamp_assigner(|event, _previous| event.1);
/// ```
pub struct WatermarkStrategy<T> {
    pub(crate) generator: GeneratorFactory<T>,
    pub(crate) assigner: Option<TimestampAssigner<T>>,
    pub(crate) idleness: Option<Duration>,
    /// Whether the generator never emits (`no_watermarks`).
    silent: bool,
}

impl<T> Clone for WatermarkStrategy<T> {
    fn clone(&self) -> Self {
        WatermarkStrategy {
            generator: self.generator.clone(),
            assigner: self.assigner.clone(),
            idleness: self.idleness,
            silent: self.silent,
        }
    }
}

impl<T: 'static> WatermarkStrategy<T> {
    /// Watermarks trailing the largest timestamp by `max_out_of_orderness`.
    pub fn for_bounded_out_of_orderness(max_out_of_orderness: Duration) -> Self {
        Self::for_generator(move || BoundedOutOfOrderness::new(max_out_of_orderness))
    }

    /// Watermarks equal to the largest timestamp (for timestamps that never decrease).
    pub fn for_monotonous_timestamps() -> Self {
        Self::for_bounded_out_of_orderness(Duration::ZERO)
    }

    /// No watermarks (event time never advances, except at the end of bounded input).
    pub fn no_watermarks() -> Self {
        WatermarkStrategy { silent: true, ..Self::for_generator(|| NoWatermarks) }
    }

    /// Whether the strategy does nothing: no watermarks, no timestamp assigner, no
    /// idleness (a source needs no stage for it).
    pub fn is_no_op(&self) -> bool {
        self.silent && self.assigner.is_none() && self.idleness.is_none()
    }

    /// Watermarks from a custom generator (periodic, punctuated, or both).
    pub fn for_generator<G: WatermarkGenerator<T>>(make: impl Fn() -> G + Send + Sync + 'static) -> Self {
        WatermarkStrategy {
            generator: Arc::new(move || Box::new(make())),
            assigner: None,
            idleness: None,
            silent: false,
        }
    }

    /// Takes record timestamps from `assigner(event, previous_timestamp)`.
    pub fn with_timestamp_assigner(
        mut self,
        assigner: impl Fn(&T, Timestamp) -> Timestamp + Send + Sync + 'static,
    ) -> Self {
        self.assigner = Some(Arc::new(assigner));
        self
    }

    /// Marks the stream idle when no record arrived for `timeout`, so that it stops
    /// holding back the watermark downstream.
    pub fn with_idleness(mut self, timeout: Duration) -> Self {
        self.idleness = Some(timeout);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_out_of_orderness_trails_the_maximum() {
        let mut g = BoundedOutOfOrderness::new(Duration::from_millis(10));
        let mut out = WatermarkOutput::default();
        for ts in [100, 130, 120] {
            WatermarkGenerator::<()>::on_event(&mut g, &(), ts, &mut out);
        }
        WatermarkGenerator::<()>::on_periodic_emit(&mut g, &mut out);
        assert_eq!(out.take(), Some(119));
        let mut none = WatermarkOutput::default();
        WatermarkGenerator::<()>::on_periodic_emit(&mut NoWatermarks, &mut none);
        assert_eq!(none.take(), None);
    }
}
