//! Channels between tasks: bounded queues of batches within a process, logical channels
//! over a connection between workers (`data_plane`) across processes.
//!
//! One channel connects one upstream subtask to one downstream subtask. It holds at most
//! `capacity` events, so a sender that gets ahead waits: backpressure travels upstream a
//! channel at a time, and memory stays bounded whatever the input size. A sender that
//! waits still wakes at once when its job is cancelled.
//!
//! The receiving task does not wait on each channel: every channel, local or remote,
//! wakes the task's one [`TaskNotifier`] when it delivers (see `notifier`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use spate_core::{Data, StreamRecord};

use crate::data_plane::{RemoteReceiver, RemoteSender};
use crate::event::ControlEvent;
use crate::notifier::{TaskNotifier, WaitingTasks, Wakeup};

use crate::TaskError;

/// What flows through a channel, in order.
#[derive(Debug)]
pub enum Event<T> {
    /// A batch of records.
    Records(Vec<StreamRecord<T>>),
    /// A watermark, a change of idleness, a barrier, or the end of the upstream
    /// subtask's stream (after which nothing follows).
    Control(ControlEvent),
}

/// Creates a channel that holds at most `capacity` events.
pub fn channel<T>(capacity: usize) -> (ChannelSender<T>, ChannelReceiver<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
    let wakeup = Wakeup::new();
    (ChannelSender(SenderKind::Local(tx, wakeup.clone())), ChannelReceiver(ReceiverKind::Local(rx, wakeup)))
}

/// The sending end of a channel: the record writer sees one type whether the receiving
/// task runs in this process or in another worker.
pub struct ChannelSender<T>(SenderKind<T>);

enum SenderKind<T> {
    /// The queue, and the wake-up of the task that reads it.
    Local(Sender<Event<T>>, Arc<Wakeup>),
    Remote(Box<dyn RemoteSend<T>>),
}

impl<T> Drop for ChannelSender<T> {
    /// The reading task wakes to see the channel disconnected.
    fn drop(&mut self) {
        if let SenderKind::Local(_, wakeup) = &self.0 {
            wakeup.close();
        }
    }
}

/// A remote channel's sending end, with its record type's encoding inside.
pub(crate) trait RemoteSend<T>: Send {
    fn send(&self, event: Event<T>, cancel: &CancelToken) -> Result<SendOutcome, TaskError>;
}

/// A remote channel's receiving end, with its record type's decoding inside.
pub(crate) trait RemoteReceive<T>: Send {
    fn try_recv(&self) -> Received<T>;
    /// Whether a buffer (or the news of a lost connection) is queued.
    fn has_event(&self) -> bool;
    /// Wakes `notifier` when a buffer arrives.
    fn bind(&self, notifier: &Arc<TaskNotifier>);
}

impl<T: Data> From<RemoteSender<T>> for ChannelSender<T> {
    fn from(remote: RemoteSender<T>) -> Self {
        ChannelSender(SenderKind::Remote(Box::new(remote)))
    }
}

impl<T: Data> From<RemoteReceiver<T>> for ChannelReceiver<T> {
    fn from(remote: RemoteReceiver<T>) -> Self {
        ChannelReceiver(ReceiverKind::Remote(Box::new(remote)))
    }
}

/// Whether a send had to wait for space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// There was room.
    Immediate,
    /// The channel was full and the sender waited (backpressure).
    Waited,
}

impl<T> ChannelSender<T> {
    /// Sends an event, waiting while the channel is full (a remote one: without credit)
    /// unless the job is cancelled.
    pub fn send(&self, event: Event<T>, cancel: &CancelToken) -> Result<SendOutcome, TaskError> {
        let (tx, wakeup) = match &self.0 {
            SenderKind::Local(tx, wakeup) => (tx, wakeup),
            SenderKind::Remote(remote) => return remote.send(event, cancel),
        };
        let outcome = match tx.try_send(event) {
            Ok(()) => SendOutcome::Immediate,
            Err(TrySendError::Disconnected(_)) => return Err(downstream_gone()),
            Err(TrySendError::Full(event)) => {
                crossbeam_channel::select! {
                    send(tx, event) -> sent => match sent {
                        Ok(()) => SendOutcome::Waited,
                        Err(_) => return Err(downstream_gone()),
                    },
                    recv(cancel.rx) -> _ => return Err(TaskError::Cancelled),
                }
            }
        };
        wakeup.wake();
        Ok(outcome)
    }

    /// Events queued and not yet received (a remote channel: unknown here, 0).
    pub fn queued(&self) -> usize {
        match &self.0 {
            SenderKind::Local(tx, _) => tx.len(),
            SenderKind::Remote(_) => 0,
        }
    }
}

fn downstream_gone() -> TaskError {
    TaskError::PeerGone("a downstream task went away".into())
}

/// The receiving end of a channel, local or remote.
pub struct ChannelReceiver<T>(ReceiverKind<T>);

enum ReceiverKind<T> {
    Local(Receiver<Event<T>>, Arc<Wakeup>),
    Remote(Box<dyn RemoteReceive<T>>),
}

/// What a non-blocking receive found.
pub enum Received<T> {
    /// An event.
    Event(Event<T>),
    /// Nothing queued now.
    Empty,
    /// The sender is gone without having sent [`ControlEvent::EndOfInput`].
    Disconnected,
    /// A remote channel broke: its connection, or a buffer that does not decode.
    Failed(TaskError),
}

impl<T> ChannelReceiver<T> {
    /// Takes the next event if one is queued.
    #[inline]
    pub fn try_recv(&self) -> Received<T> {
        let rx = match &self.0 {
            ReceiverKind::Local(rx, _) => rx,
            ReceiverKind::Remote(remote) => return remote.try_recv(),
        };
        match rx.try_recv() {
            Ok(event) => Received::Event(event),
            Err(crossbeam_channel::TryRecvError::Empty) => Received::Empty,
            Err(crossbeam_channel::TryRecvError::Disconnected) => Received::Disconnected,
        }
    }

    /// Whether [`try_recv`](Self::try_recv) would find something: an event, or the
    /// news that the sender is gone.
    #[inline]
    pub fn has_event(&self) -> bool {
        match &self.0 {
            ReceiverKind::Local(rx, wakeup) => !rx.is_empty() || wakeup.is_closed(),
            ReceiverKind::Remote(remote) => remote.has_event(),
        }
    }

    /// Makes the channel wake `notifier`, the reading task's, when it delivers.
    pub fn bind(&self, notifier: &Arc<TaskNotifier>) {
        match &self.0 {
            ReceiverKind::Local(_, wakeup) => wakeup.bind(notifier),
            ReceiverKind::Remote(remote) => remote.bind(notifier),
        }
    }
}

/// Cancels every task of one job attempt at once.
pub struct CancelHandle {
    sender: std::sync::Mutex<Option<Sender<()>>>,
    flag: Arc<AtomicBool>,
    waiting: Arc<WaitingTasks>,
}

/// What a task checks, and waits on, to learn that it was cancelled.
#[derive(Clone)]
pub struct CancelToken {
    pub(crate) rx: Receiver<()>,
    flag: Arc<AtomicBool>,
    waiting: Arc<WaitingTasks>,
}

/// A cancel handle and the token it controls.
pub fn cancellation() -> (CancelHandle, CancelToken) {
    let (tx, rx) = crossbeam_channel::bounded(0);
    let flag = Arc::new(AtomicBool::new(false));
    let waiting = Arc::new(WaitingTasks::default());
    (
        CancelHandle { sender: std::sync::Mutex::new(Some(tx)), flag: flag.clone(), waiting: waiting.clone() },
        CancelToken { rx, flag, waiting },
    )
}

impl CancelHandle {
    /// Cancels: every waiting task wakes up, every running task stops at its next check.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
        // Dropping the only sender disconnects the channel, which wakes every sender
        // waiting for room; the tasks waiting for input wake through their notifiers.
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        self.waiting.notify_all();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken").field("cancelled", &self.is_cancelled()).finish()
    }
}

impl CancelToken {
    /// Whether the job was cancelled.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Makes a cancel wake `notifier`, a task's.
    pub fn bind(&self, notifier: &Arc<TaskNotifier>) {
        self.waiting.add(notifier);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn full_channel_blocks_until_received() {
        let (_h, cancel) = cancellation();
        let (tx, rx) = channel::<u32>(1);
        assert_eq!(tx.send(Event::Control(ControlEvent::Watermark(1)), &cancel).unwrap(), SendOutcome::Immediate);
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut got = Vec::new();
            while got.len() < 2 {
                if let Received::Event(Event::Control(ControlEvent::Watermark(w))) = rx.try_recv() {
                    got.push(w);
                }
            }
            got
        });
        let start = Instant::now();
        assert_eq!(tx.send(Event::Control(ControlEvent::Watermark(2)), &cancel).unwrap(), SendOutcome::Waited);
        assert!(start.elapsed() >= Duration::from_millis(40));
        assert_eq!(reader.join().unwrap(), vec![1, 2]);
    }

    #[test]
    fn cancel_wakes_a_blocked_sender() {
        let (handle, cancel) = cancellation();
        let (tx, _rx) = channel::<u32>(1);
        tx.send(Event::Control(ControlEvent::Watermark(1)), &cancel).unwrap();
        let t = std::thread::spawn(move || tx.send(Event::Control(ControlEvent::Watermark(2)), &cancel));
        std::thread::sleep(Duration::from_millis(30));
        handle.cancel();
        assert!(matches!(t.join().unwrap(), Err(TaskError::Cancelled)));
        assert!(handle.is_cancelled());
    }

    #[test]
    fn dropped_receiver_is_reported() {
        let (_h, cancel) = cancellation();
        let (tx, rx) = channel::<u32>(1);
        drop(rx);
        assert!(matches!(tx.send(Event::Control(ControlEvent::EndOfInput), &cancel), Err(TaskError::PeerGone(_))));
        let (tx, rx) = channel::<u32>(1);
        drop(tx);
        assert!(matches!(rx.try_recv(), Received::Disconnected));
    }
}
