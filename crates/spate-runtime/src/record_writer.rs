//! The end of a chain: writes records onto the channels of one output edge.

use std::sync::Arc;
use std::time::Instant;

use spate_core::StreamRecord;

use crate::TaskError;
use crate::channel::{CancelToken, ChannelSender, Event, SendOutcome};
use crate::checkpoint::{CheckpointBarrier, CheckpointId, TaskSnapshot};
use crate::event::ControlEvent;
use crate::metrics::TaskMetrics;
use crate::output::Downstream;
use crate::partitioner::Partitioner;

/// Buffers records per channel and sends a batch when it is full, when flushed (buffer
/// timeout), and before every control event (watermark, barrier, end of input), which
/// goes to every channel.
pub struct RecordWriter<T> {
    channels: Vec<ChannelSender<T>>,
    buffers: Vec<Vec<StreamRecord<T>>>,
    partitioner: Partitioner<T>,
    batch_size: usize,
    cancel: CancelToken,
    metrics: Arc<TaskMetrics>,
    /// Names the edge in errors raised while routing (a key selector's panic).
    edge_name: String,
}

impl<T: Clone> RecordWriter<T> {
    /// A writer onto `channels` (ordered by target subtask).
    pub fn new(
        channels: Vec<ChannelSender<T>>,
        partitioner: Partitioner<T>,
        batch_size: usize,
        cancel: CancelToken,
        metrics: Arc<TaskMetrics>,
        edge_name: String,
    ) -> Self {
        let buffers = channels.iter().map(|_| Vec::new()).collect();
        RecordWriter { channels, buffers, partitioner, batch_size: batch_size.max(1), cancel, metrics, edge_name }
    }

    fn send(&mut self, channel: usize, event: Event<T>) -> Result<(), TaskError> {
        let start = Instant::now();
        if self.channels[channel].send(event, &self.cancel)? == SendOutcome::Waited {
            self.metrics.add_back_pressured(start.elapsed().as_nanos() as u64);
        }
        Ok(())
    }

    fn send_buffer(&mut self, channel: usize) -> Result<(), TaskError> {
        if self.buffers[channel].is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.buffers[channel], Vec::with_capacity(self.batch_size));
        self.metrics.add_records_out(batch.len() as u64);
        self.send(channel, Event::Records(batch))
    }

    fn send_all_buffers(&mut self) -> Result<(), TaskError> {
        (0..self.channels.len()).try_for_each(|c| self.send_buffer(c))
    }

    #[inline]
    fn push(&mut self, channel: usize, record: StreamRecord<T>) -> Result<(), TaskError> {
        let buffer = &mut self.buffers[channel];
        if buffer.capacity() == 0 {
            buffer.reserve_exact(self.batch_size);
        }
        buffer.push(record);
        if buffer.len() >= self.batch_size { self.send_buffer(channel) } else { Ok(()) }
    }
}

impl<T: Clone> Downstream<T> for RecordWriter<T> {
    fn open(&mut self) -> Result<(), TaskError> {
        Ok(())
    }

    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> Result<(), TaskError> {
        let channels = self.channels.len();
        match &mut self.partitioner {
            Partitioner::Single(c) => {
                let c = *c;
                if self.buffers[c].is_empty() && batch.len() >= self.batch_size {
                    // A whole batch for one channel moves as it is: no copying.
                    let full = std::mem::replace(batch, Vec::with_capacity(self.batch_size));
                    self.metrics.add_records_out(full.len() as u64);
                    return self.send(c, Event::Records(full));
                }
                for record in batch.drain(..) {
                    self.push(c, record)?;
                }
            }
            Partitioner::Broadcast => {
                for record in batch.drain(..) {
                    for c in 1..channels {
                        self.push(c, record.clone())?;
                    }
                    self.push(0, record)?;
                }
            }
            _ => {
                let mut records = std::mem::take(batch);
                let mut routed = Ok(());
                for record in records.drain(..) {
                    match self.partitioner.select(&record.value, channels) {
                        Ok(c) => self.push(c, record)?,
                        Err(cause) => {
                            routed = Err(TaskError::Operator { operator: self.edge_name.clone(), cause });
                            break;
                        }
                    }
                }
                // Give the (now empty) allocation back to the caller for reuse.
                *batch = records;
                batch.clear();
                routed?;
            }
        }
        Ok(())
    }

    fn process_control(&mut self, event: &ControlEvent) -> Result<(), TaskError> {
        self.send_all_buffers()?;
        (0..self.channels.len()).try_for_each(|c| self.send(c, Event::Control(event.clone())))
    }

    fn snapshot_state(&mut self, _: &CheckpointBarrier, _: &mut TaskSnapshot) -> Result<(), TaskError> {
        Ok(())
    }

    fn notify_checkpoint(&mut self, _id: CheckpointId, _complete: bool) -> Result<(), TaskError> {
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        self.send_all_buffers()
    }

    fn has_buffered(&self) -> bool {
        self.buffers.iter().any(|b| !b.is_empty())
    }

    fn close(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Received, cancellation, channel};

    fn drain<T>(rx: &crate::channel::ChannelReceiver<T>) -> Vec<Event<T>> {
        let mut out = Vec::new();
        while let Received::Event(e) = rx.try_recv() {
            out.push(e);
        }
        out
    }

    fn values(events: &[Event<u32>]) -> Vec<u32> {
        events
            .iter()
            .flat_map(|e| match e {
                Event::Records(b) => b.iter().map(|r| r.value).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn batches_by_size_and_flushes_before_watermarks_and_end() {
        let (_h, cancel) = cancellation();
        let (tx, rx) = channel::<u32>(16);
        let mut w = RecordWriter::new(vec![tx], Partitioner::Single(0), 4, cancel, Arc::default(), "e".into());
        // A full batch moves to the channel as it is; a partial one waits in the buffer.
        let mut batch: Vec<_> = (0..4).map(StreamRecord::new).collect();
        w.process_batch(&mut batch).unwrap();
        assert!(!w.has_buffered());
        let mut batch: Vec<_> = (4..6).map(StreamRecord::new).collect();
        w.process_batch(&mut batch).unwrap();
        assert!(w.has_buffered());
        w.process_control(&ControlEvent::Watermark(5)).unwrap();
        w.process_control(&ControlEvent::EndOfInput).unwrap();
        let events = drain(&rx);
        assert!(matches!(events[0], Event::Records(ref b) if b.len() == 4));
        assert!(matches!(events[1], Event::Records(ref b) if b.len() == 2));
        assert!(matches!(events[2], Event::Control(ControlEvent::Watermark(5))));
        assert!(matches!(events[3], Event::Control(ControlEvent::EndOfInput)));
        assert_eq!(values(&events), (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn broadcast_reaches_every_channel() {
        let (_h, cancel) = cancellation();
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..3).map(|_| channel::<u32>(16)).unzip();
        let mut w = RecordWriter::new(txs, Partitioner::Broadcast, 8, cancel, Arc::default(), "e".into());
        let mut batch: Vec<_> = (0..5).map(StreamRecord::new).collect();
        w.process_batch(&mut batch).unwrap();
        w.process_control(&ControlEvent::EndOfInput).unwrap();
        for rx in &rxs {
            assert_eq!(values(&drain(rx)), vec![0, 1, 2, 3, 4]);
        }
    }

    #[test]
    fn round_robin_splits_evenly() {
        let (_h, cancel) = cancellation();
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..2).map(|_| channel::<u32>(16)).unzip();
        let mut w = RecordWriter::new(txs, Partitioner::round_robin(0, 2), 8, cancel, Arc::default(), "e".into());
        let mut batch: Vec<_> = (0..10).map(StreamRecord::new).collect();
        w.process_batch(&mut batch).unwrap();
        w.flush().unwrap();
        assert_eq!(values(&drain(&rxs[0])), vec![0, 2, 4, 6, 8]);
        assert_eq!(values(&drain(&rxs[1])), vec![1, 3, 5, 7, 9]);
    }
}
