//! How records leave an operator: the [`Downstream`] seam and the [`Output`] buffer.
//!
//! Inside a chain, an operator pushes records into its `Output`, a typed buffer; when the
//! buffer holds a batch, or when the operator returns, the whole batch is handed to the
//! next operator with one dynamic call. So the per-record path is a `Vec::push`, and the
//! per-batch path is one virtual call per chained operator.

use spate_core::{StreamRecord, Timestamp};

use crate::TaskError;

/// Whatever receives an operator's output: the next chained operator, a fan-out to
/// several, a record writer onto channels, or a sink.
///
/// Every lifecycle call travels down the chain through this trait, so an operator never
/// needs to know what follows it.
pub trait Downstream<T> {
    /// Opens this receiver and everything after it (tail first, as in Flink).
    fn open(&mut self) -> Result<(), TaskError>;
    /// Processes and drains a batch.
    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> Result<(), TaskError>;
    /// Handles a watermark that has advanced.
    fn process_watermark(&mut self, watermark: Timestamp) -> Result<(), TaskError>;
    /// The input has ended: emit final results, then pass the end on.
    fn end_input(&mut self) -> Result<(), TaskError>;
    /// Sends partly filled batches on (the buffer timeout expired).
    fn flush(&mut self) -> Result<(), TaskError>;
    /// Whether records wait in a partly filled batch somewhere down the chain.
    fn has_buffered(&self) -> bool;
    /// Releases resources; called once, also after a failure or cancellation.
    fn close(&mut self) -> Result<(), TaskError>;
}

/// An operator's output: a typed buffer in front of its [`Downstream`].
///
/// Errors of the downstream are kept and reported after the operator returns, so that
/// user code can emit records without handling failures of code it did not write.
pub struct Output<T> {
    buffer: Vec<StreamRecord<T>>,
    batch_size: usize,
    next: Box<dyn Downstream<T>>,
    error: Option<TaskError>,
    emitted: u64,
}

impl<T> Output<T> {
    /// An output that hands batches of `batch_size` records to `next`.
    pub fn new(next: Box<dyn Downstream<T>>, batch_size: usize) -> Self {
        let batch_size = batch_size.max(1);
        Output { buffer: Vec::with_capacity(batch_size), batch_size, next, error: None, emitted: 0 }
    }

    /// Emits a record.
    #[inline]
    pub fn collect(&mut self, record: StreamRecord<T>) {
        self.buffer.push(record);
        if self.buffer.len() >= self.batch_size {
            self.flush_batch();
        }
    }

    /// Emits a value with a timestamp.
    #[inline]
    pub fn emit(&mut self, value: T, timestamp: Timestamp) {
        self.collect(StreamRecord { value, timestamp });
    }

    /// Hands the buffered records to the downstream.
    pub fn flush_batch(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        if self.error.is_some() {
            self.buffer.clear();
            return;
        }
        self.emitted += self.buffer.len() as u64;
        if let Err(e) = self.next.process_batch(&mut self.buffer) {
            self.error = Some(e);
        }
        self.buffer.clear();
    }

    /// Emits a watermark after every record emitted before it.
    pub fn emit_watermark(&mut self, watermark: Timestamp) {
        self.flush_batch();
        if self.error.is_none() {
            if let Err(e) = self.next.process_watermark(watermark) {
                self.error = Some(e);
            }
        }
    }

    /// The first error of the downstream, if any (taking it).
    pub fn take_error(&mut self) -> Result<(), TaskError> {
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Records emitted so far.
    pub fn emitted(&self) -> u64 {
        self.emitted + self.buffer.len() as u64
    }

    /// The downstream, for lifecycle calls that travel down the chain.
    pub fn downstream(&mut self) -> &mut dyn Downstream<T> {
        &mut *self.next
    }

    /// Whether records wait here or further down.
    pub fn has_buffered(&self) -> bool {
        !self.buffer.is_empty() || self.next.has_buffered()
    }
}

/// What user functions emit records through; records inherit the timestamp of the
/// record being processed unless given another (as Flink's `TimestampedCollector`).
pub struct Collector<'a, T> {
    output: &'a mut Output<T>,
    timestamp: Timestamp,
}

impl<'a, T> Collector<'a, T> {
    /// A collector that stamps records with `timestamp`.
    pub fn new(output: &'a mut Output<T>, timestamp: Timestamp) -> Self {
        Collector { output, timestamp }
    }

    /// Emits a record.
    #[inline]
    pub fn collect(&mut self, value: T) {
        self.output.emit(value, self.timestamp);
    }

    /// Emits a record with its own event timestamp.
    #[inline]
    pub fn collect_with_timestamp(&mut self, value: T, timestamp: Timestamp) {
        self.output.emit(value, timestamp);
    }

    /// Changes the timestamp given to records emitted after this call.
    pub fn set_timestamp(&mut self, timestamp: Timestamp) {
        self.timestamp = timestamp;
    }
}

/// Sends every record to several downstreams: a stream consumed by more than one
/// chained operator or edge. All but the last receive copies.
pub struct Fanout<T> {
    targets: Vec<Box<dyn Downstream<T>>>,
    scratch: Vec<StreamRecord<T>>,
}

impl<T: Clone> Fanout<T> {
    /// A fan-out to `targets` (with none, records are dropped).
    pub fn new(targets: Vec<Box<dyn Downstream<T>>>) -> Self {
        Fanout { targets, scratch: Vec::new() }
    }

    fn each(&mut self, mut f: impl FnMut(&mut dyn Downstream<T>) -> Result<(), TaskError>) -> Result<(), TaskError> {
        let mut first_error = None;
        for t in &mut self.targets {
            if let Err(e) = f(&mut **t) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl<T: Clone> Downstream<T> for Fanout<T> {
    fn open(&mut self) -> Result<(), TaskError> {
        self.targets.iter_mut().try_for_each(|t| t.open())
    }

    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> Result<(), TaskError> {
        let Some((last, rest)) = self.targets.split_last_mut() else {
            batch.clear();
            return Ok(());
        };
        for target in rest {
            self.scratch.clear();
            self.scratch.extend(batch.iter().cloned());
            target.process_batch(&mut self.scratch)?;
        }
        last.process_batch(batch)
    }

    fn process_watermark(&mut self, watermark: Timestamp) -> Result<(), TaskError> {
        self.targets.iter_mut().try_for_each(|t| t.process_watermark(watermark))
    }

    fn end_input(&mut self) -> Result<(), TaskError> {
        self.targets.iter_mut().try_for_each(|t| t.end_input())
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        self.targets.iter_mut().try_for_each(|t| t.flush())
    }

    fn has_buffered(&self) -> bool {
        self.targets.iter().any(|t| t.has_buffered())
    }

    fn close(&mut self) -> Result<(), TaskError> {
        self.each(|t| t.close())
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A downstream that records what reaches it, for operator tests.

    use super::*;
    use std::sync::{Arc, Mutex};

    /// Everything a [`Recorder`] saw.
    #[derive(Debug, Default)]
    pub struct Recorded<T> {
        pub records: Vec<StreamRecord<T>>,
        pub batches: usize,
        pub watermarks: Vec<Timestamp>,
        pub ended: bool,
        pub opened: bool,
        pub closed: bool,
    }

    /// Records what reaches it.
    pub struct Recorder<T>(pub Arc<Mutex<Recorded<T>>>);

    pub type Shared<T> = Arc<Mutex<Recorded<T>>>;

    pub fn recorder<T>() -> (Box<dyn Downstream<T>>, Shared<T>)
    where
        T: Send + 'static,
    {
        let shared = Arc::new(Mutex::new(Recorded {
            records: Vec::new(),
            batches: 0,
            watermarks: Vec::new(),
            ended: false,
            opened: false,
            closed: false,
        }));
        (Box::new(Recorder(shared.clone())), shared)
    }

    impl<T> Downstream<T> for Recorder<T> {
        fn open(&mut self) -> Result<(), TaskError> {
            self.0.lock().unwrap().opened = true;
            Ok(())
        }
        fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> Result<(), TaskError> {
            let mut r = self.0.lock().unwrap();
            r.batches += 1;
            r.records.append(batch);
            Ok(())
        }
        fn process_watermark(&mut self, watermark: Timestamp) -> Result<(), TaskError> {
            self.0.lock().unwrap().watermarks.push(watermark);
            Ok(())
        }
        fn end_input(&mut self) -> Result<(), TaskError> {
            self.0.lock().unwrap().ended = true;
            Ok(())
        }
        fn flush(&mut self) -> Result<(), TaskError> {
            Ok(())
        }
        fn has_buffered(&self) -> bool {
            false
        }
        fn close(&mut self) -> Result<(), TaskError> {
            self.0.lock().unwrap().closed = true;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::recorder;
    use super::*;

    #[test]
    fn output_hands_over_full_batches_and_keeps_order() {
        let (rec, seen) = recorder::<u32>();
        let mut out = Output::new(rec, 3);
        for i in 0..7 {
            out.emit(i, i64::from(i));
        }
        assert_eq!(seen.lock().unwrap().batches, 2);
        out.emit_watermark(10);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.batches, 3);
        assert_eq!(seen.records.iter().map(|r| r.value).collect::<Vec<_>>(), (0..7).collect::<Vec<_>>());
        assert_eq!(seen.watermarks, vec![10]);
        assert_eq!(out.emitted(), 7);
    }

    #[test]
    fn fanout_copies_to_every_target() {
        let (a, seen_a) = recorder::<String>();
        let (b, seen_b) = recorder::<String>();
        let mut fan = Fanout::new(vec![a, b]);
        let mut batch = vec![StreamRecord::new("x".to_string()), StreamRecord::new("y".to_string())];
        fan.process_batch(&mut batch).unwrap();
        fan.end_input().unwrap();
        for seen in [seen_a, seen_b] {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.records.len(), 2);
            assert!(seen.ended);
        }
    }
}
