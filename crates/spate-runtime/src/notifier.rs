//! How a waiting task learns that it has something to do.
//!
//! A task waits on one [`TaskNotifier`] for everything at once: its local channels, its
//! remote channels (whose buffers a network thread queues), its mailbox and its job's
//! cancellation. Whoever makes something available for the task — a sender after a
//! send, the network thread after it queued a buffer, the job master after it posted
//! mail, a cancel — wakes it through the [`Wakeup`] it shares with the task. Waiting
//! costs the task nothing per input (no registration of every channel before each
//! sleep), and a send costs the sender one fence and one load while the task is busy.
//!
//! The handshake that keeps wake-ups from being lost: the task announces that it waits,
//! then looks at its inputs once more, and only then parks; a waker first makes its
//! input visible, then looks whether the task waits. With a full fence on both sides,
//! either the task sees the input or the waker sees the task waiting (and `unpark`
//! before `park` makes the park return at once).

use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::Instant;

/// The wake-up of one task thread.
#[derive(Debug)]
pub struct TaskNotifier {
    waiting: AtomicBool,
    thread: Thread,
}

impl TaskNotifier {
    /// The notifier of the calling thread (the task's).
    pub fn for_current_thread() -> Arc<Self> {
        Arc::new(TaskNotifier { waiting: AtomicBool::new(false), thread: std::thread::current() })
    }

    /// Wakes the task if it waits. Call after making the input visible.
    #[inline]
    pub fn notify(&self) {
        fence(Ordering::SeqCst);
        self.unpark_if_waiting();
    }

    /// [`notify`](Self::notify) after the caller's own fence.
    #[inline]
    fn unpark_if_waiting(&self) {
        if self.waiting.load(Ordering::Relaxed) {
            self.thread.unpark();
        }
    }

    /// Parks the task until it is notified or `deadline` passes, unless `ready` (which
    /// looks at the task's inputs without taking from them) finds something first. It
    /// may return early: the caller looks again and waits again.
    pub fn wait(&self, deadline: Option<Instant>, ready: impl FnOnce() -> bool) {
        self.waiting.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if !ready() {
            match deadline {
                Some(deadline) => {
                    let now = Instant::now();
                    if deadline > now {
                        std::thread::park_timeout(deadline - now);
                    }
                }
                None => std::thread::park(),
            }
        }
        self.waiting.store(false, Ordering::Relaxed);
    }
}

/// What one input (a channel, a mailbox) shares with the task that reads it: the task's
/// notifier once the task runs, and whether the input's producer is gone.
#[derive(Debug, Default)]
pub struct Wakeup {
    task: OnceLock<Arc<TaskNotifier>>,
    closed: AtomicBool,
}

impl Wakeup {
    /// A wake-up not yet bound to a task.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Binds the input to the task that reads it (its first binding stays).
    pub fn bind(&self, notifier: &Arc<TaskNotifier>) {
        let _ = self.task.set(notifier.clone());
        fence(Ordering::SeqCst);
    }

    /// Wakes the reading task, if it runs and waits. Call after making input visible.
    #[inline]
    pub fn wake(&self) {
        // Before the binding is read: a task that binds and then looks at the input
        // either sees what was made visible or is seen bound.
        fence(Ordering::SeqCst);
        if let Some(task) = self.task.get() {
            task.unpark_if_waiting();
        }
    }

    /// The producer is gone: the reading task wakes to notice.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake();
    }

    /// Whether [`close`](Self::close) was called.
    #[inline]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// The tasks to wake when their job's attempt is cancelled.
#[derive(Debug, Default)]
pub(crate) struct WaitingTasks(Mutex<Vec<Arc<TaskNotifier>>>);

impl WaitingTasks {
    pub(crate) fn add(&self, notifier: &Arc<TaskNotifier>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(notifier.clone());
    }

    pub(crate) fn notify_all(&self) {
        for task in self.0.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            task.notify();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    #[test]
    fn a_wake_after_the_input_is_visible_is_never_lost() {
        // A producer publishes a counter and wakes; the task waits until it sees each
        // value. A lost wake-up would hang the task (the deadline is a day away).
        let value = Arc::new(AtomicU64::new(0));
        let wakeup = Wakeup::new();
        let (v, w) = (value.clone(), wakeup.clone());
        let (bound_tx, bound) = std::sync::mpsc::channel();
        let task = std::thread::spawn(move || {
            let notifier = TaskNotifier::for_current_thread();
            w.bind(&notifier);
            bound_tx.send(()).unwrap();
            let far = Instant::now() + Duration::from_secs(86_400);
            let mut seen = 0;
            while seen < 20_000 {
                let now = v.load(Ordering::Acquire);
                if now > seen {
                    seen = now;
                    continue;
                }
                notifier.wait(Some(far), || v.load(Ordering::Acquire) > seen);
            }
        });
        bound.recv().unwrap();
        for i in 1..=20_000 {
            value.store(i, Ordering::Release);
            wakeup.wake();
        }
        assert!(ends_within(task, Duration::from_secs(60)), "a wake-up was lost");
    }

    /// Whether `thread` ends within `timeout` (a hung one is left behind: the test
    /// fails rather than hangs).
    fn ends_within(thread: std::thread::JoinHandle<()>, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !thread.is_finished() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        thread.join().is_ok()
    }

    #[test]
    fn a_closed_input_wakes_its_task_and_an_unbound_one_wakes_nobody() {
        let wakeup = Wakeup::new();
        wakeup.wake();
        assert!(!wakeup.is_closed());
        let w = wakeup.clone();
        let task = std::thread::spawn(move || {
            let notifier = TaskNotifier::for_current_thread();
            w.bind(&notifier);
            while !w.is_closed() {
                notifier.wait(None, || w.is_closed());
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        wakeup.close();
        assert!(ends_within(task, Duration::from_secs(60)), "the close did not wake the task");
    }
}
