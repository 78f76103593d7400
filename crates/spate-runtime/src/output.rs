//! How records leave an operator: the [`Downstream`] seam and the [`Output`] buffer.
//!
//! Inside a chain, an operator pushes records into its `Output`, a typed buffer; when the
//! buffer holds a batch, or when the operator returns, the whole batch is handed to the
//! next operator with one dynamic call. So the per-record path is a `Vec::push`, and the
//! per-batch path is one virtual call per chained operator.

use crate::checkpoint::{CheckpointBarrier, CheckpointId, TaskSnapshot};
use crate::event::ControlEvent;
use crate::watermark::WatermarkStatus;
use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use spate_core::{StreamRecord, Timestamp};

use crate::TaskError;

/// Whatever receives an operator's output: the next chained operator, a fan-out to
/// several, a record writer onto channels, or a sink.
///
/// Every call travels down the chain through this trait, so an operator never needs to
/// know what follows it. In-band events (records, then [`ControlEvent`]s in order with
/// them) come through `process_batch` and `process_control`; the rest are lifecycle
/// calls from the task.
pub trait Downstream<T> {
    /// Opens this receiver and everything after it (tail first, as in Flink).
    fn open(&mut self) -> Result<(), TaskError>;
    /// Processes and drains a batch.
    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> Result<(), TaskError>;
    /// Handles a control event (after every record before it) and passes it on.
    fn process_control(&mut self, event: &ControlEvent) -> Result<(), TaskError>;
    /// Writes the state of this receiver and everything after it into `snapshot`, for
    /// the checkpoint of `barrier` (the barrier itself travels as a control event). An
    /// error fails the checkpoint, not the task.
    fn snapshot_state(&mut self, barrier: &CheckpointBarrier, snapshot: &mut TaskSnapshot) -> Result<(), TaskError>;
    /// Checkpoint `id` completed (`true`: what it holds is durable; commit what waited
    /// for it) or was aborted (`false`), here and further down.
    fn notify_checkpoint(&mut self, id: CheckpointId, complete: bool) -> Result<(), TaskError>;
    /// Sends partly filled batches on (the buffer timeout expired).
    fn flush(&mut self) -> Result<(), TaskError>;
    /// Whether records wait in a partly filled batch somewhere down the chain.
    fn has_buffered(&self) -> bool;
    /// Releases resources; called once, also after a failure or cancellation.
    fn close(&mut self) -> Result<(), TaskError>;
    /// Processing time has reached `now`: fire the processing-time timers that are due,
    /// here and further down. Ends of chains have none.
    fn on_processing_time(&mut self, _now: Timestamp) -> Result<(), TaskError> {
        Ok(())
    }
    /// The earliest processing-time timer here or further down.
    fn next_processing_time(&self) -> Option<Timestamp> {
        None
    }
}

/// The main output of an operator: a typed buffer in front of its [`Downstream`].
///
/// Errors of the downstream are kept and reported after the operator returns, so that
/// user code can emit records without handling failures of code it did not write.
pub struct Emitter<T> {
    buffer: Vec<StreamRecord<T>>,
    batch_size: usize,
    next: Box<dyn Downstream<T>>,
    error: Option<TaskError>,
    emitted: u64,
}

impl<T> Emitter<T> {
    /// An emitter that hands batches of `batch_size` records to `next`.
    pub fn new(next: Box<dyn Downstream<T>>, batch_size: usize) -> Self {
        let batch_size = batch_size.max(1);
        Emitter { buffer: Vec::with_capacity(batch_size), batch_size, next, error: None, emitted: 0 }
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

    /// Emits a control event after every record emitted before it.
    pub fn emit_control(&mut self, event: &ControlEvent) {
        self.flush_batch();
        if self.error.is_none() {
            if let Err(e) = self.next.process_control(event) {
                self.error = Some(e);
            }
        }
    }

    /// Emits a watermark after every record emitted before it.
    pub fn emit_watermark(&mut self, watermark: Timestamp) {
        self.emit_control(&ControlEvent::Watermark(watermark));
    }

    /// Passes a change of watermark status on, after every record emitted before it.
    pub fn emit_watermark_status(&mut self, status: WatermarkStatus) {
        self.emit_control(&ControlEvent::Status(status));
    }

    /// The first error of the downstream, if any (taking it).
    pub fn take_error(&mut self) -> Result<(), TaskError> {
        self.error.take().map_or(Ok(()), Err)
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

    /// The earliest processing-time timer further down.
    pub fn next_processing_time(&self) -> Option<Timestamp> {
        self.next.next_processing_time()
    }
}

/// Names a side output and the type of its records (Flink's `OutputTag`).
///
/// Tags are equal when their names are; a program must not use one name for two types.
pub struct OutputTag<T> {
    id: u64,
    name: Arc<str>,
    _type: PhantomData<fn() -> T>,
}

impl<T> OutputTag<T> {
    /// A tag named `name`.
    pub fn new(name: &str) -> Self {
        OutputTag { id: spate_core::key::stable_hash(name.as_bytes()), name: name.into(), _type: PhantomData }
    }

    /// The tag's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag's id (a stable hash of its name).
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl<T> Clone for OutputTag<T> {
    fn clone(&self) -> Self {
        OutputTag { id: self.id, name: self.name.clone(), _type: PhantomData }
    }
}

impl<T> std::fmt::Debug for OutputTag<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OutputTag({})", self.name)
    }
}

/// One side output's emitter, with its record type erased.
pub trait AnySideOutput {
    /// The `Emitter<X>` behind it.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// See [`Emitter::flush_batch`].
    fn flush_batch(&mut self);
    /// See [`Emitter::emit_control`].
    fn emit_control(&mut self, event: &ControlEvent);
    /// See [`Emitter::take_error`].
    fn take_error(&mut self) -> Result<(), TaskError>;
    /// See [`Emitter::has_buffered`].
    fn has_buffered(&self) -> bool;
    /// See [`Emitter::next_processing_time`].
    fn next_processing_time(&self) -> Option<Timestamp>;
    /// The lifecycle of what follows.
    fn lifecycle(&mut self) -> &mut dyn Lifecycle;
}

/// The lifecycle calls of a [`Downstream`], without its record type.
pub trait Lifecycle {
    /// See [`Downstream::open`].
    fn open(&mut self) -> Result<(), TaskError>;
    /// See [`Downstream::snapshot_state`].
    fn snapshot_state(&mut self, barrier: &CheckpointBarrier, snapshot: &mut TaskSnapshot) -> Result<(), TaskError>;
    /// See [`Downstream::flush`].
    fn flush(&mut self) -> Result<(), TaskError>;
    /// See [`Downstream::close`].
    fn close(&mut self) -> Result<(), TaskError>;
    /// See [`Downstream::on_processing_time`].
    fn on_processing_time(&mut self, now: Timestamp) -> Result<(), TaskError>;
    /// See [`Downstream::next_processing_time`].
    fn next_processing_time(&self) -> Option<Timestamp>;
    /// See [`Downstream::notify_checkpoint`].
    fn notify_checkpoint(&mut self, id: CheckpointId, complete: bool) -> Result<(), TaskError>;
}

impl<T> Lifecycle for Box<dyn Downstream<T>> {
    fn open(&mut self) -> Result<(), TaskError> {
        Downstream::open(&mut **self)
    }
    fn snapshot_state(&mut self, barrier: &CheckpointBarrier, snapshot: &mut TaskSnapshot) -> Result<(), TaskError> {
        Downstream::snapshot_state(&mut **self, barrier, snapshot)
    }
    fn flush(&mut self) -> Result<(), TaskError> {
        Downstream::flush(&mut **self)
    }
    fn close(&mut self) -> Result<(), TaskError> {
        Downstream::close(&mut **self)
    }
    fn on_processing_time(&mut self, now: Timestamp) -> Result<(), TaskError> {
        Downstream::on_processing_time(&mut **self, now)
    }
    fn next_processing_time(&self) -> Option<Timestamp> {
        Downstream::next_processing_time(&**self)
    }
    fn notify_checkpoint(&mut self, id: CheckpointId, complete: bool) -> Result<(), TaskError> {
        Downstream::notify_checkpoint(&mut **self, id, complete)
    }
}

impl<T: 'static> AnySideOutput for Emitter<T> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn flush_batch(&mut self) {
        Emitter::flush_batch(self);
    }
    fn emit_control(&mut self, event: &ControlEvent) {
        Emitter::emit_control(self, event);
    }
    fn take_error(&mut self) -> Result<(), TaskError> {
        Emitter::take_error(self)
    }
    fn has_buffered(&self) -> bool {
        Emitter::has_buffered(self)
    }
    fn next_processing_time(&self) -> Option<Timestamp> {
        Emitter::next_processing_time(self)
    }
    fn lifecycle(&mut self) -> &mut dyn Lifecycle {
        &mut self.next
    }
}

/// The side outputs of an operator that something consumes.
#[derive(Default)]
pub struct SideOutputs {
    outputs: Vec<(u64, Box<dyn AnySideOutput>)>,
    error: Option<TaskError>,
}

impl SideOutputs {
    /// No side outputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the side output of tag id `tag`.
    pub fn add(&mut self, tag: u64, output: Box<dyn AnySideOutput>) {
        self.outputs.push((tag, output));
    }

    /// Emits `value` to the side output `tag`; dropped if nothing consumes it (as in
    /// Flink).
    #[inline]
    pub fn emit<X: 'static>(&mut self, tag: &OutputTag<X>, value: X, timestamp: Timestamp) {
        if let Some((_, output)) = self.outputs.iter_mut().find(|(id, _)| *id == tag.id) {
            match output.as_any_mut().downcast_mut::<Emitter<X>>() {
                Some(emitter) => emitter.emit(value, timestamp),
                None => {
                    self.error.get_or_insert_with(|| {
                        TaskError::Internal(format!("side output '{}' is used with two record types", tag.name))
                    });
                }
            }
        }
    }

    fn each(&mut self, mut f: impl FnMut(&mut dyn AnySideOutput) -> Result<(), TaskError>) -> Result<(), TaskError> {
        let mut first = None;
        for (_, output) in &mut self.outputs {
            if let Err(e) = f(&mut **output) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// An operator's output: the main [`Emitter`] and its [`SideOutputs`].
pub struct Output<T> {
    main: Emitter<T>,
    side: SideOutputs,
}

impl<T> Output<T> {
    /// An output that hands batches of `batch_size` records to `next`.
    pub fn new(next: Box<dyn Downstream<T>>, batch_size: usize) -> Self {
        Output { main: Emitter::new(next, batch_size), side: SideOutputs::new() }
    }

    /// An output with side outputs.
    pub fn with_side_outputs(next: Box<dyn Downstream<T>>, batch_size: usize, side: SideOutputs) -> Self {
        Output { main: Emitter::new(next, batch_size), side }
    }

    /// Emits a record.
    #[inline]
    pub fn collect(&mut self, record: StreamRecord<T>) {
        self.main.collect(record);
    }

    /// Emits a value with a timestamp.
    #[inline]
    pub fn emit(&mut self, value: T, timestamp: Timestamp) {
        self.main.emit(value, timestamp);
    }

    /// The main output and the side outputs, borrowed apart: a process function gets a
    /// collector for the first and a context for the second.
    #[inline]
    pub fn split(&mut self) -> (&mut Emitter<T>, &mut SideOutputs) {
        (&mut self.main, &mut self.side)
    }

    /// Hands the buffered records, main and side, to what follows.
    pub fn flush_batch(&mut self) {
        self.main.flush_batch();
        for (_, output) in &mut self.side.outputs {
            output.flush_batch();
        }
    }

    /// Emits a control event on the main and every side output, after every record
    /// emitted before it; a failure further down is kept for
    /// [`take_error`](Self::take_error).
    pub fn emit_control(&mut self, event: &ControlEvent) {
        self.main.emit_control(event);
        for (_, output) in &mut self.side.outputs {
            output.emit_control(event);
        }
    }

    /// Emits a watermark on the main and every side output.
    pub fn emit_watermark(&mut self, watermark: Timestamp) {
        self.emit_control(&ControlEvent::Watermark(watermark));
    }

    /// Passes a change of watermark status on the main and every side output.
    pub fn emit_watermark_status(&mut self, status: WatermarkStatus) {
        self.emit_control(&ControlEvent::Status(status));
    }

    /// Snapshots everything down the main and every side output.
    pub fn snapshot_downstream(
        &mut self,
        barrier: &CheckpointBarrier,
        snapshot: &mut TaskSnapshot,
    ) -> Result<(), TaskError> {
        self.main.downstream().snapshot_state(barrier, snapshot)?;
        self.side.each(|o| o.lifecycle().snapshot_state(barrier, snapshot))
    }

    /// Passes the end of a checkpoint down the main and every side output.
    pub fn notify_downstream(&mut self, id: CheckpointId, complete: bool) -> Result<(), TaskError> {
        self.main.downstream().notify_checkpoint(id, complete)?;
        self.side.each(|o| o.lifecycle().notify_checkpoint(id, complete))
    }

    /// The first error of anything downstream, if any (taking it).
    pub fn take_error(&mut self) -> Result<(), TaskError> {
        self.main.take_error()?;
        if let Some(e) = self.side.error.take() {
            return Err(e);
        }
        self.side.each(|o| o.take_error())
    }

    /// Records emitted on the main output so far.
    pub fn emitted(&self) -> u64 {
        self.main.emitted()
    }

    /// Whether records wait here or further down.
    pub fn has_buffered(&self) -> bool {
        self.main.has_buffered() || self.side.outputs.iter().any(|(_, o)| o.has_buffered())
    }

    /// Opens everything downstream.
    pub fn open_downstream(&mut self) -> Result<(), TaskError> {
        self.main.downstream().open()?;
        self.side.each(|o| o.lifecycle().open())
    }

    /// Flushes everything downstream.
    pub fn flush_downstream(&mut self) -> Result<(), TaskError> {
        self.flush_batch();
        self.take_error()?;
        self.main.downstream().flush()?;
        self.side.each(|o| o.lifecycle().flush())
    }

    /// Closes everything downstream, reporting the first failure.
    pub fn close_downstream(&mut self) -> Result<(), TaskError> {
        let main = self.main.downstream().close();
        let side = self.side.each(|o| o.lifecycle().close());
        main.and(side)
    }

    /// Fires processing-time timers downstream.
    pub fn processing_time_downstream(&mut self, now: Timestamp) -> Result<(), TaskError> {
        self.main.downstream().on_processing_time(now)?;
        self.side.each(|o| o.lifecycle().on_processing_time(now))
    }

    /// The earliest processing-time timer downstream.
    pub fn next_processing_time_downstream(&self) -> Option<Timestamp> {
        let side = self.side.outputs.iter().filter_map(|(_, o)| o.next_processing_time());
        self.main.next_processing_time().into_iter().chain(side).min()
    }
}

/// What user functions emit records through; records inherit the timestamp of the
/// record being processed unless given another (as Flink's `TimestampedCollector`).
pub struct Collector<'a, T> {
    output: &'a mut Emitter<T>,
    timestamp: Timestamp,
}

impl<'a, T> Collector<'a, T> {
    /// A collector that stamps records with `timestamp`.
    pub fn new(output: &'a mut Output<T>, timestamp: Timestamp) -> Self {
        Collector { output: &mut output.main, timestamp }
    }

    /// A collector on an emitter (the main output, split from the side outputs).
    pub fn on(output: &'a mut Emitter<T>, timestamp: Timestamp) -> Self {
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

    /// The timestamp records are given.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
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

    fn process_control(&mut self, event: &ControlEvent) -> Result<(), TaskError> {
        self.targets.iter_mut().try_for_each(|t| t.process_control(event))
    }

    fn snapshot_state(&mut self, barrier: &CheckpointBarrier, snapshot: &mut TaskSnapshot) -> Result<(), TaskError> {
        self.targets.iter_mut().try_for_each(|t| t.snapshot_state(barrier, snapshot))
    }

    fn notify_checkpoint(&mut self, id: CheckpointId, complete: bool) -> Result<(), TaskError> {
        self.targets.iter_mut().try_for_each(|t| t.notify_checkpoint(id, complete))
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

    fn on_processing_time(&mut self, now: Timestamp) -> Result<(), TaskError> {
        self.targets.iter_mut().try_for_each(|t| t.on_processing_time(now))
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.targets.iter().filter_map(|t| t.next_processing_time()).min()
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
        pub statuses: Vec<WatermarkStatus>,
        pub barriers: Vec<CheckpointId>,
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
            statuses: Vec::new(),
            barriers: Vec::new(),
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
        fn process_control(&mut self, event: &ControlEvent) -> Result<(), TaskError> {
            let mut r = self.0.lock().unwrap();
            match event {
                ControlEvent::Watermark(w) => r.watermarks.push(*w),
                ControlEvent::Status(s) => r.statuses.push(*s),
                ControlEvent::Barrier(b) => r.barriers.push(b.id),
                ControlEvent::EndOfInput => r.ended = true,
            }
            Ok(())
        }
        fn snapshot_state(&mut self, _: &CheckpointBarrier, _: &mut TaskSnapshot) -> Result<(), TaskError> {
            Ok(())
        }
        fn notify_checkpoint(&mut self, _: CheckpointId, _: bool) -> Result<(), TaskError> {
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
        fan.process_control(&ControlEvent::EndOfInput).unwrap();
        for seen in [seen_a, seen_b] {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.records.len(), 2);
            assert!(seen.ended);
        }
    }
}
