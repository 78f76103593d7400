//! `assign_timestamps_and_watermarks`: event timestamps and watermarks mid-stream.

use std::time::Duration;

use spate_core::{StreamRecord, Timestamp};

use super::OneInputOperator;
use crate::context::RuntimeContext;
use crate::functions::FnResult;
use crate::output::Output;
use crate::time::Clock;
use crate::watermark::{WatermarkGenerator, WatermarkOutput, WatermarkStatus, WatermarkStrategy};

/// Assigns timestamps with a strategy's assigner and emits its generator's watermarks:
/// after any record that makes it emit one (punctuated) and every auto-watermark
/// interval (periodic). With an idleness timeout, it marks the stream idle when no
/// record came for that long, and active again with the next record. Watermarks and
/// idleness from upstream are dropped, except the final watermark of a bounded input.
pub struct TimestampsAndWatermarksOperator<T> {
    strategy: WatermarkStrategy<T>,
    generator: Option<Box<dyn WatermarkGenerator<T>>>,
    emitted: Timestamp,
    interval: Duration,
    next_emit: Option<Timestamp>,
    clock: Option<std::sync::Arc<dyn Clock>>,
    scratch: WatermarkOutput,
    /// Processing time of the last batch of records.
    last_record: Timestamp,
    idle: bool,
}

impl<T: 'static> TimestampsAndWatermarksOperator<T> {
    /// An operator applying `strategy`.
    pub fn new(strategy: WatermarkStrategy<T>) -> Self {
        TimestampsAndWatermarksOperator {
            strategy,
            generator: None,
            emitted: Timestamp::MIN,
            interval: Duration::ZERO,
            next_emit: None,
            clock: None,
            scratch: WatermarkOutput::default(),
            last_record: Timestamp::MIN,
            idle: false,
        }
    }

    /// When the stream goes idle if no record comes first.
    fn idle_at(&self) -> Option<Timestamp> {
        let timeout = self.strategy.idleness?;
        (!self.idle).then(|| self.last_record.saturating_add(timeout.as_millis().max(1) as i64))
    }

    fn forward(&mut self, out: &mut Output<T>) {
        if let Some(watermark) = self.scratch.take() {
            if watermark > self.emitted {
                self.emitted = watermark;
                out.emit_watermark(watermark);
            }
        }
    }
}

impl<T: 'static> OneInputOperator<T, T> for TimestampsAndWatermarksOperator<T> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.generator = Some((self.strategy.generator)());
        self.interval = ctx.task_info().auto_watermark_interval;
        let clock = ctx.task_info().clock.clone();
        if !self.interval.is_zero() {
            self.next_emit = Some(clock.now() + self.interval.as_millis() as i64);
        }
        self.last_record = clock.now();
        self.clock = Some(clock);
        Ok(())
    }

    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>, out: &mut Output<T>) -> FnResult {
        if self.strategy.idleness.is_some() {
            if let Some(clock) = &self.clock {
                self.last_record = clock.now();
            }
            if self.idle && !batch.is_empty() {
                self.idle = false;
                out.emit_watermark_status(WatermarkStatus::Active);
            }
        }
        let generator = self.generator.as_mut().ok_or("timestamp assigner used before open")?;
        for record in batch.drain(..) {
            let timestamp = match &self.strategy.assigner {
                Some(assign) => assign(&record.value, record.timestamp),
                None => record.timestamp,
            };
            generator.on_event(&record.value, timestamp, &mut self.scratch);
            out.emit(record.value, timestamp);
            if let Some(watermark) = self.scratch.take() {
                if watermark > self.emitted {
                    self.emitted = watermark;
                    out.emit_watermark(watermark);
                }
            }
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<T>) -> FnResult {
        if watermark == Timestamp::MAX {
            if self.idle {
                // A watermark only counts downstream from an active stream.
                self.idle = false;
                out.emit_watermark_status(WatermarkStatus::Active);
            }
            self.emitted = Timestamp::MAX;
            out.emit_watermark(watermark);
        }
        Ok(())
    }

    fn process_watermark_status(&mut self, _status: WatermarkStatus, _out: &mut Output<T>) -> FnResult {
        Ok(())
    }

    fn on_processing_time(&mut self, now: Timestamp, out: &mut Output<T>) -> FnResult {
        if self.idle_at().is_some_and(|at| at <= now) {
            // The watermark of the records seen so far goes out first, so that going
            // idle never holds back time the stream has already reached.
            if let Some(generator) = self.generator.as_mut() {
                generator.on_periodic_emit(&mut self.scratch);
            }
            self.forward(out);
            self.idle = true;
            out.emit_watermark_status(WatermarkStatus::Idle);
        }
        if self.next_emit.is_some_and(|at| at <= now) {
            if !self.idle {
                if let Some(generator) = self.generator.as_mut() {
                    generator.on_periodic_emit(&mut self.scratch);
                }
                self.forward(out);
            }
            self.next_emit = Some(now + self.interval.as_millis().max(1) as i64);
        }
        Ok(())
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        match (self.next_emit, self.idle_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::context::test_context;
    use crate::output::testing::recorder;
    use crate::time::ManualClock;

    #[test]
    fn a_stream_without_records_goes_idle_and_comes_back_with_the_next() {
        let clock = ManualClock::new(1_000);
        let strategy = WatermarkStrategy::<i64>::for_monotonous_timestamps()
            .with_timestamp_assigner(|t: &i64, _| *t)
            .with_idleness(Duration::from_millis(500));
        let mut op = TimestampsAndWatermarksOperator::new(strategy);
        let (sink, seen) = recorder::<i64>();
        let mut out = Output::new(sink, 16);
        op.open(&mut test_context(clock.clone(), false)).unwrap();
        op.process_batch(&mut vec![StreamRecord::new(5)], &mut out).unwrap();
        assert_eq!(op.next_processing_time(), Some(1_200), "the periodic emit comes first");
        clock.set(1_200);
        op.on_processing_time(1_200, &mut out).unwrap();
        assert_eq!(seen.lock().unwrap().watermarks, vec![4], "largest timestamp minus one");
        assert_eq!(op.next_processing_time(), Some(1_400));
        clock.set(1_500);
        op.on_processing_time(1_500, &mut out).unwrap();
        assert_eq!(seen.lock().unwrap().statuses, vec![WatermarkStatus::Idle], "500 ms without a record");
        op.process_batch(&mut vec![StreamRecord::new(9)], &mut out).unwrap();
        out.flush_batch();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.statuses, vec![WatermarkStatus::Idle, WatermarkStatus::Active]);
        assert_eq!(seen.records.iter().map(|r| (r.value, r.timestamp)).collect::<Vec<_>>(), vec![(5, 5), (9, 9)]);
    }
}
