//! What every keyed operator with a user function does alike: run the function for
//! each record with its key current, fire timers as the watermark and processing time
//! advance, and write its keyed state and timers into snapshots. The keyed process,
//! keyed co-process and keyed broadcast operators are thin on top of this.

use spate_core::{Key, NO_TIMESTAMP, StreamRecord, Timestamp};

use crate::checkpoint::OperatorSnapshot;
use crate::functions::{FnResult, KeyedContext};
use crate::output::{Collector, Output};
use crate::state::{KeyedBackend, KeyedLookahead};
use crate::timer::{TimeDomain, Timer};

/// Fires the timers of `domain` due at `time` into `on_timer`, which gets the timer's
/// time and domain, the context of its key, and a collector (records of event-time timers carry
/// the timer's time as timestamp, those of processing-time timers none).
fn fire_timers<K: Key, O>(
    backend: &mut KeyedBackend<K>,
    domain: TimeDomain,
    time: Timestamp,
    out: &mut Output<O>,
    mut on_timer: impl FnMut(Timestamp, TimeDomain, KeyedContext<'_, K>, &mut Collector<'_, O>) -> FnResult,
) -> FnResult {
    loop {
        let timer: Option<Timer<K>> = match domain {
            TimeDomain::EventTime => backend.timers.event.pop_due(time),
            TimeDomain::ProcessingTime => backend.timers.processing.pop_due(time),
        };
        let Some(timer) = timer else { return Ok(()) };
        let (main, side) = out.split();
        backend.with_timer(timer, |timestamp, timers| {
            let output_timestamp = if domain == TimeDomain::EventTime { timestamp } else { NO_TIMESTAMP };
            let ctx = KeyedContext::new(output_timestamp, timers, side);
            on_timer(timestamp, domain, ctx, &mut Collector::on(main, output_timestamp))
        })??;
    }
}

/// Runs `process` on each record of `batch` with its key current (state warmed ahead by
/// the lookahead); `process` gets the value, the context of its key and a collector.
pub(crate) fn process_records<K: Key, T, O>(
    backend: &mut KeyedBackend<K>,
    lookahead: &mut KeyedLookahead<T, K>,
    batch: &mut Vec<StreamRecord<T>>,
    out: &mut Output<O>,
    mut process: impl FnMut(T, KeyedContext<'_, K>, &mut Collector<'_, O>) -> FnResult,
) -> FnResult {
    lookahead.run(
        batch,
        backend,
        |backend, stage, placed, key| backend.warm(stage, placed.key_group, placed.hash, key),
        |backend, key_selector, placed| -> FnResult {
            let (main, side) = out.split();
            backend.with_record(key_selector, placed, |value, timestamp, timers| {
                process(value, KeyedContext::new(timestamp, timers, side), &mut Collector::on(main, timestamp))
            })?
        },
    )
}

/// The watermark advanced: fires the event-time timers it passed (their records carry
/// the timer's time), then passes it on.
pub(crate) fn on_watermark<K: Key, O>(
    backend: Option<&mut KeyedBackend<K>>,
    watermark: Timestamp,
    out: &mut Output<O>,
    on_timer: impl FnMut(Timestamp, TimeDomain, KeyedContext<'_, K>, &mut Collector<'_, O>) -> FnResult,
) -> FnResult {
    if let Some(backend) = backend {
        backend.watermark = watermark;
        fire_timers(backend, TimeDomain::EventTime, watermark, out, on_timer)?;
    }
    out.emit_watermark(watermark);
    Ok(())
}

/// Processing time reached `now`: fires the processing-time timers that are due.
pub(crate) fn on_processing_time<K: Key, O>(
    backend: Option<&mut KeyedBackend<K>>,
    now: Timestamp,
    out: &mut Output<O>,
    on_timer: impl FnMut(Timestamp, TimeDomain, KeyedContext<'_, K>, &mut Collector<'_, O>) -> FnResult,
) -> FnResult {
    match backend {
        Some(backend) => fire_timers(backend, TimeDomain::ProcessingTime, now, out, on_timer),
        None => Ok(()),
    }
}

/// The earliest processing-time timer.
pub(crate) fn next_processing_time<K: Key>(backend: Option<&KeyedBackend<K>>) -> Option<Timestamp> {
    backend.and_then(|b| b.timers.processing.next())
}

/// Writes the keyed state and timers.
pub(crate) fn snapshot<K: Key>(backend: Option<&KeyedBackend<K>>, snapshot: &mut OperatorSnapshot) -> FnResult {
    match backend {
        Some(backend) => Ok(backend.snapshot(snapshot)?),
        None => Ok(()),
    }
}
