//! A task: one subtask's chain of operators, run by one thread in one loop.
//!
//! The loop takes input (a source poll or a batch from a channel), flushes output on the
//! buffer timeout, and otherwise waits on its inputs and the job's cancellation at once.
//! Everything a subtask does happens on this thread, so operators need no locks.

mod head;
mod input_gate;
mod two_input;

pub use head::{HeadStatus, OneInputHead, SourceHead, TaskHead};
pub use input_gate::{GateEvent, InputGate};
pub use two_input::TwoInputHead;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Select;
use spate_core::Timestamp;

use crate::TaskError;
use crate::channel::CancelToken;
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
        StreamTask { name, head, cancel, flush, clock }
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
            let status = self.head.step()?;
            next_timer = self.head.next_processing_time();
            match status {
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
                HeadStatus::Finished => return Ok(()),
            }
        }
    }

    /// Sleeps until an input has data, the job is cancelled, or `deadline` passes.
    fn wait(&self, deadline: Option<Instant>) {
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return;
        }
        let mut select = Select::new();
        self.cancel.register(&mut select);
        self.head.register(&mut select);
        match deadline {
            Some(d) => {
                let _ = select.ready_deadline(d);
            }
            None => {
                select.ready();
            }
        }
    }
}

/// The wall time from `now` to `due` (processing-time milliseconds), at least zero.
fn millis_until(due: Timestamp, now: Timestamp) -> Duration {
    Duration::from_millis(due.saturating_sub(now).max(0) as u64)
}
