//! The two ends of a channel whose tasks run in different workers.
//!
//! The sending task serializes each batch into buffers of at most a segment
//! (`taskmanager.memory.segment-size`, whole records each) and spends one credit per
//! buffer, waiting — as on a full local queue — while it has none: that wait is
//! backpressure. The receiving task decodes a buffer when it takes it and returns its
//! credit. The connection's threads only move bytes, so they never wait on a task.

use std::cell::Cell;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use spate_core::{Data, NO_TIMESTAMP, StreamRecord};

use super::ChannelKey;
use super::frame::Frame;
use crate::TaskError;
use crate::channel::{CancelToken, Event, Received, RemoteReceive, RemoteSend, SendOutcome};
use crate::event::ControlEvent;
use crate::notifier::{TaskNotifier, Wakeup};

/// A buffer's first byte: what it holds. Records without event time (most of them in
/// jobs without watermarks) travel without their timestamp.
const RECORDS: u8 = 0;
const CONTROL: u8 = 1;
const UNTIMED_RECORDS: u8 = 2;

/// What a connection's reader hands a receiving channel.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A buffer.
    Buffer(Vec<u8>),
    /// The connection broke: why, naming the peer.
    Lost(String),
}

/// The connection reader's end of a receiving channel's queue: what it queues wakes the
/// receiving task.
pub(crate) struct InboundQueue {
    pub(crate) tx: Sender<Inbound>,
    pub(crate) wakeup: Arc<Wakeup>,
}

impl InboundQueue {
    /// Queues `inbound` for the receiving task and wakes it.
    pub(crate) fn push(&self, inbound: Inbound) {
        let _ = self.tx.send(inbound);
        self.wakeup.wake();
    }
}

impl Drop for InboundQueue {
    /// The receiving task wakes to see the queue disconnected.
    fn drop(&mut self) {
        self.wakeup.close();
    }
}

/// The sending end of a remote channel.
pub struct RemoteSender<T> {
    pub(crate) key: ChannelKey,
    /// One message per credit granted by the receiver.
    pub(crate) credits: Receiver<()>,
    pub(crate) out: Sender<Frame>,
    pub(crate) segment: usize,
    /// The peer, for errors.
    pub(crate) peer: String,
    /// Whether a record already made the round trip (the first one is decoded again, so
    /// that a type whose encoding cannot be read back fails here, named).
    pub(crate) checked: Cell<bool>,
    pub(crate) _type: std::marker::PhantomData<fn(T)>,
}

impl<T: Data> RemoteSend<T> for RemoteSender<T> {
    /// Serializes `event` and sends its buffers, waiting for credit.
    fn send(&self, event: Event<T>, cancel: &CancelToken) -> Result<SendOutcome, TaskError> {
        let mut waited = false;
        match event {
            Event::Records(batch) => {
                if !self.checked.get() {
                    if let Some(first) = batch.first() {
                        self.round_trip(first)?;
                    }
                }
                let timed = batch.iter().any(|r| r.timestamp != NO_TIMESTAMP);
                let kind = if timed { RECORDS } else { UNTIMED_RECORDS };
                let mut buffer = Vec::with_capacity(self.segment.min(64 << 10));
                buffer.push(kind);
                for record in &batch {
                    let encoded = if timed {
                        spate_core::codec::encode_into(&(record.timestamp, &record.value), &mut buffer)
                    } else {
                        spate_core::codec::encode_into(&record.value, &mut buffer)
                    };
                    encoded.map_err(|e| self.encode_error(e))?;
                    if buffer.len() >= self.segment {
                        let full = std::mem::replace(&mut buffer, Vec::with_capacity(self.segment.min(64 << 10)));
                        buffer.push(kind);
                        waited |= self.ship(full, cancel)?;
                    }
                }
                if buffer.len() > 1 {
                    waited |= self.ship(buffer, cancel)?;
                }
            }
            Event::Control(control) => {
                let mut buffer = vec![CONTROL];
                spate_core::codec::encode_into(&control, &mut buffer).map_err(|e| self.encode_error(e))?;
                waited |= self.ship(buffer, cancel)?;
            }
        }
        Ok(if waited { SendOutcome::Waited } else { SendOutcome::Immediate })
    }
}

impl<T: Data> RemoteSender<T> {
    fn round_trip(&self, record: &StreamRecord<T>) -> Result<(), TaskError> {
        let mut bytes = Vec::new();
        spate_core::codec::encode_into(&(record.timestamp, &record.value), &mut bytes)
            .map_err(|e| self.encode_error(e))?;
        spate_core::codec::verify::<(i64, T)>(&bytes).map_err(|e| self.encode_error(e))?;
        self.checked.set(true);
        Ok(())
    }

    fn encode_error(&self, error: spate_core::CoreError) -> TaskError {
        TaskError::Operator {
            operator: format!("the channel to worker {} (edge {})", self.peer, self.key.edge),
            cause: Box::new(spate_core::Unrecoverable::new(format!(
                "records of type {} cannot cross a process boundary: {error}",
                std::any::type_name::<T>()
            ))),
        }
    }

    /// Spends a credit on `payload`; whether it had to wait for one.
    fn ship(&self, payload: Vec<u8>, cancel: &CancelToken) -> Result<bool, TaskError> {
        if payload.len() > super::frame::MAX_PAYLOAD as usize {
            return Err(self.encode_error(spate_core::CoreError::Encode {
                type_name: std::any::type_name::<T>(),
                reason: format!(
                    "a record of {} bytes exceeds the data plane's limit of {} bytes",
                    payload.len(),
                    super::frame::MAX_PAYLOAD
                ),
            }));
        }
        let waited = match self.credits.try_recv() {
            Ok(()) => false,
            Err(TryRecvError::Disconnected) => return Err(self.lost()),
            Err(TryRecvError::Empty) => {
                crossbeam_channel::select! {
                    recv(self.credits) -> credit => credit.map_err(|_| self.lost())?,
                    recv(cancel.rx) -> _ => return Err(TaskError::Cancelled),
                }
                true
            }
        };
        self.out.send(Frame::Data { key: self.key, payload }).map_err(|_| self.lost())?;
        Ok(waited)
    }

    fn lost(&self) -> TaskError {
        TaskError::Connection(format!("lost the connection to worker {}", self.peer))
    }
}

/// The receiving end of a remote channel.
pub struct RemoteReceiver<T> {
    pub(crate) key: ChannelKey,
    pub(crate) inbound: Receiver<Inbound>,
    /// Shared with the connection reader's [`InboundQueue`].
    pub(crate) wakeup: Arc<Wakeup>,
    pub(crate) out: Sender<Frame>,
    pub(crate) peer: String,
    pub(crate) _type: std::marker::PhantomData<fn() -> T>,
}

impl<T: Data> RemoteReceive<T> for RemoteReceiver<T> {
    /// Takes and decodes the next buffer, if one is queued, and returns its credit.
    fn try_recv(&self) -> Received<T> {
        match self.inbound.try_recv() {
            Ok(Inbound::Buffer(buffer)) => {
                let _ = self.out.send(Frame::Credit { key: self.key, credits: 1 });
                match self.decode(&buffer) {
                    Ok(event) => Received::Event(event),
                    Err(error) => Received::Failed(error),
                }
            }
            Ok(Inbound::Lost(reason)) => Received::Failed(TaskError::Connection(reason)),
            Err(TryRecvError::Empty) => Received::Empty,
            Err(TryRecvError::Disconnected) => {
                Received::Failed(TaskError::Connection(format!("lost the connection to worker {}", self.peer)))
            }
        }
    }

    fn has_event(&self) -> bool {
        !self.inbound.is_empty() || self.wakeup.is_closed()
    }

    fn bind(&self, notifier: &Arc<TaskNotifier>) {
        self.wakeup.bind(notifier);
    }
}

impl<T: Data> RemoteReceiver<T> {
    fn decode(&self, buffer: &[u8]) -> Result<Event<T>, TaskError> {
        let broken = |what: String| {
            TaskError::Connection(format!(
                "a buffer from worker {} on edge {} (subtask {} to {}) does not decode: {what}",
                self.peer, self.key.edge, self.key.from, self.key.to
            ))
        };
        match buffer.split_first() {
            Some((&RECORDS, mut rest)) => {
                let mut batch = Vec::new();
                while !rest.is_empty() {
                    let ((timestamp, value), tail) =
                        spate_core::codec::decode_prefix::<(i64, T)>(rest).map_err(|e| broken(e.to_string()))?;
                    batch.push(StreamRecord { value, timestamp });
                    rest = tail;
                }
                Ok(Event::Records(batch))
            }
            Some((&UNTIMED_RECORDS, mut rest)) => {
                let mut batch = Vec::new();
                while !rest.is_empty() {
                    let (value, tail) =
                        spate_core::codec::decode_prefix::<T>(rest).map_err(|e| broken(e.to_string()))?;
                    batch.push(StreamRecord { value, timestamp: NO_TIMESTAMP });
                    rest = tail;
                }
                Ok(Event::Records(batch))
            }
            Some((&CONTROL, rest)) => {
                spate_core::codec::decode::<ControlEvent>(rest).map(Event::Control).map_err(|e| broken(e.to_string()))
            }
            Some((kind, _)) => Err(broken(format!("unknown buffer kind {kind}"))),
            None => Err(broken("an empty buffer".into())),
        }
    }
}
