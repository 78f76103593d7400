//! A task: one subtask's chain of operators, run by one thread in one loop.
//!
//! The loop takes input (a source poll or a batch from a channel), flushes output on the
//! buffer timeout, and otherwise waits on its inputs and the job's cancellation at once.
//! Everything a subtask does happens on this thread, so operators need no locks.

mod alignment;
mod head;
mod input_gate;
mod mailbox;
mod two_input;
mod valve;

pub use alignment::BarrierAligner;
pub use head::{Checkpointed, HeadStatus, OneInputHead, SnapshotResult, SourceHead, TaskHead};
pub use input_gate::InputGate;
pub use mailbox::{MailSender, Mailbox, mailbox};
pub use two_input::TwoInputHead;
pub use valve::{Combination, WatermarkValve};

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::TryRecvError;
use spate_core::Timestamp;

use crate::TaskError;
use crate::channel::CancelToken;
use crate::checkpoint::{CheckpointBarrier, Decline, FINAL_CHECKPOINT, SnapshotReport, TaskMail};
use crate::notifier::TaskNotifier;
use crate::time::Clock;

/// How often a task looks for due timers when its clock is manual (tests).
const MANUAL_CLOCK_POLL: Duration = Duration::from_millis(5);

/// When partly filled output batches are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushPolicy {
    /// After every input batch.
    Immediate,
    /// When the oldest buffered record has waited this long.
    After(Duration),
    /// Only when full (and at end of input, before watermarks).
    WhenFull,
}

/// One subtask, ready to run.
pub struct StreamTask {
    name: String,
    head: Box<dyn TaskHead>,
    cancel: CancelToken,
    flush: FlushPolicy,
    clock: Arc<dyn Clock>,
    mailbox: Option<Mailbox>,
    /// What wakes the task's thread; made when the task runs (on that thread).
    notifier: Option<Arc<TaskNotifier>>,
}

impl StreamTask {
    /// A task named `name` (e.g. `Map -> Sink (1/2)`).
    pub fn new(
        name: String,
        head: Box<dyn TaskHead>,
        cancel: CancelToken,
        flush: FlushPolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        StreamTask { name, head, cancel, flush, clock, mailbox: None, notifier: None }
    }

    /// Connects the task to its job master: it then takes checkpoint triggers and
    /// commits, and after its input ends waits for the job to finish before closing.
    pub fn with_mailbox(mut self, mailbox: Mailbox) -> Self {
        self.mailbox = Some(mailbox);
        self
    }

    /// The task's display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs until the input ends, the job is cancelled, or something fails. The chain is
    /// closed in every case.
    pub fn run(mut self) -> Result<(), TaskError> {
        let result = self.run_loop();
        let closed = self.head.close();
        match result {
            Ok(()) => closed,
            Err(e) => {
                if let Err(close_error) = closed {
                    tracing::debug!(task = %self.name, error = %close_error, "close after failure also failed");
                }
                Err(e)
            }
        }
    }

    fn run_loop(&mut self) -> Result<(), TaskError> {
        // Everything the task waits for wakes this thread.
        let notifier = TaskNotifier::for_current_thread();
        self.head.bind(&notifier);
        self.cancel.bind(&notifier);
        if let Some(mailbox) = &self.mailbox {
            mailbox.wakeup.bind(&notifier);
        }
        self.notifier = Some(notifier);
        self.head.open()?;
        let mut last_flush = Instant::now();
        let mut next_timer = self.head.next_processing_time();
        loop {
            if self.cancel.is_cancelled() {
                return Err(TaskError::Cancelled);
            }
            if let Some(due) = next_timer {
                let now = self.clock.now();
                if now >= due {
                    self.head.on_processing_time(now)?;
                }
            }
            if self.take_mail()? {
                return Ok(());
            }
            let status = match self.head.step() {
                Err(e @ TaskError::PeerGone(_)) => {
                    // A peer that went away may have stopped on a Stop mail, after the
                    // notification that commits what the savepoint holds; this task's own
                    // notification may be waiting still: take it first.
                    if self.take_mail()? {
                        return Ok(());
                    }
                    return Err(e);
                }
                status => status?,
            };
            next_timer = self.head.next_processing_time();
            match status {
                HeadStatus::Checkpointed(done) => {
                    let Checkpointed { barrier, snapshot, sync } = *done;
                    self.report_snapshot(barrier, snapshot, sync);
                }
                HeadStatus::Busy => match self.flush {
                    FlushPolicy::Immediate => self.head.flush()?,
                    FlushPolicy::After(timeout) if last_flush.elapsed() >= timeout => {
                        self.head.flush()?;
                        last_flush = Instant::now();
                    }
                    _ => {}
                },
                HeadStatus::Idle { retry_after } => {
                    let now = Instant::now();
                    let mut deadline = retry_after.map(|d| now + d);
                    if self.head.has_buffered() {
                        match self.flush {
                            FlushPolicy::Immediate => self.head.flush()?,
                            FlushPolicy::After(timeout) => {
                                let due = last_flush + timeout;
                                if due <= now {
                                    self.head.flush()?;
                                    last_flush = now;
                                } else {
                                    deadline = Some(deadline.map_or(due, |d| d.min(due)));
                                }
                            }
                            FlushPolicy::WhenFull => {}
                        }
                    }
                    if let Some(due) = next_timer {
                        let at = if self.clock.is_manual() {
                            now + MANUAL_CLOCK_POLL
                        } else {
                            now + millis_until(due, self.clock.now())
                        };
                        deadline = Some(deadline.map_or(at, |d| d.min(at)));
                    }
                    self.wait(deadline);
                }
                HeadStatus::Finished => return self.after_end(),
            }
        }
    }

    /// Handles the mail that arrived since the last step; true when the job stops.
    fn take_mail(&mut self) -> Result<bool, TaskError> {
        loop {
            let Some(mailbox) = &self.mailbox else { return Ok(false) };
            let mail = match mailbox.mail.try_recv() {
                Ok(mail) => mail,
                Err(TryRecvError::Empty) => return Ok(false),
                // The master is gone: the job is being torn down.
                Err(TryRecvError::Disconnected) => return Err(TaskError::Cancelled),
            };
            if mail == TaskMail::Stop {
                return Ok(true);
            }
            self.handle_mail(mail)?;
        }
    }

    fn handle_mail(&mut self, mail: TaskMail) -> Result<(), TaskError> {
        match mail {
            TaskMail::TriggerCheckpoint(barrier) => {
                let started = Instant::now();
                match self.head.trigger_checkpoint(&barrier) {
                    Ok(snapshot) => self.report_snapshot(barrier, snapshot, started.elapsed()),
                    Err(e) => {
                        if let Some(m) = &self.mailbox {
                            let reason = format!("{}: {e}", self.name);
                            m.reporter.declined(barrier.id, Decline { reason, recoverable: e.is_recoverable() });
                        }
                        return Err(e);
                    }
                }
            }
            TaskMail::NotifyCheckpoint { id, complete } => self.head.notify_checkpoint(id, complete)?,
            TaskMail::FinishJob => self.head.notify_checkpoint(FINAL_CHECKPOINT, true)?,
            TaskMail::Stop => {}
        }
        Ok(())
    }

    /// Reports a snapshot, or declines the checkpoint it could not be taken for: the
    /// checkpoint fails, and the task goes on.
    fn report_snapshot(&self, barrier: CheckpointBarrier, snapshot: SnapshotResult, sync: Duration) {
        let Some(m) = &self.mailbox else { return };
        match snapshot {
            Ok(snapshot) => {
                let alignment = self.head.last_alignment();
                m.reporter.checkpointed(SnapshotReport { barrier, snapshot, alignment, sync });
            }
            Err(error) => {
                tracing::warn!(task = %self.name, checkpoint = barrier.id, %error, "cannot take a snapshot");
                let reason = format!("{}: {error}", self.name);
                m.reporter.declined(barrier.id, Decline { reason, recoverable: error.is_recoverable() });
            }
        }
    }

    /// The input ended. Under a job master the task stays until the job finishes: it
    /// answers checkpoint triggers with its final state (no barrier reaches it any
    /// more), and output it staged is committed only when no restart can replay it.
    fn after_end(&mut self) -> Result<(), TaskError> {
        self.head.flush()?;
        let Some(mailbox) = &self.mailbox else { return Ok(()) };
        mailbox.reporter.finished();
        loop {
            if self.cancel.is_cancelled() {
                return Err(TaskError::Cancelled);
            }
            let Some(mailbox) = &self.mailbox else { return Ok(()) };
            if let Some(notifier) = &self.notifier {
                notifier.wait(None, || self.cancel.is_cancelled() || has_mail(mailbox));
            }
            match mailbox.mail.try_recv() {
                Ok(TaskMail::FinishJob) => {
                    self.head.notify_checkpoint(FINAL_CHECKPOINT, true)?;
                    return Ok(());
                }
                Ok(TaskMail::NotifyCheckpoint { id, complete }) => self.head.notify_checkpoint(id, complete)?,
                Ok(TaskMail::Stop) => return Ok(()),
                Ok(TaskMail::TriggerCheckpoint(barrier)) => {
                    let started = Instant::now();
                    let snapshot = self.head.snapshot_chain(&barrier);
                    self.report_snapshot(barrier, snapshot, started.elapsed());
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => return Err(TaskError::Cancelled),
            }
        }
    }

    /// Sleeps until an input has data, mail comes, the job is cancelled, or `deadline`
    /// passes.
    fn wait(&self, deadline: Option<Instant>) {
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return;
        }
        let Some(notifier) = &self.notifier else { return };
        notifier.wait(deadline, || {
            self.cancel.is_cancelled() || self.head.has_input() || self.mailbox.as_ref().is_some_and(has_mail)
        });
    }
}

/// Whether the task has mail, or news that its master is gone.
fn has_mail(mailbox: &Mailbox) -> bool {
    !mailbox.mail.is_empty() || mailbox.wakeup.is_closed()
}

/// The wall time from `now` to `due` (processing-time milliseconds), at least zero.
fn millis_until(due: Timestamp, now: Timestamp) -> Duration {
    Duration::from_millis(due.saturating_sub(now).max(0) as u64)
}
