//! Carries out a job master's actions: the loop that feeds it messages from an inbox
//! and the clock, and hands its actions to a [`Deployer`] and a [`JobObserver`].

use std::collections::VecDeque;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::JobMaster;
use super::action::JobAction;
use super::deployer::Deployer;
use super::message::JobMessage;
use super::outcome::{JobOutcome, SavepointError};
use super::status::JobStatus;
use crate::checkpoint::CompletedCheckpoint;

/// What the host learns from its job master besides the deployer's work.
pub trait JobObserver {
    /// The job's status changed; `attempt` runs (or is about to) in it.
    fn status_changed(&mut self, status: JobStatus, attempt: u32);
    /// A savepoint request was answered.
    fn savepoint_completed(&mut self, request: u64, result: Result<CompletedCheckpoint, SavepointError>);
    /// A completed checkpoint holds state of the operators with these uids (told when
    /// the set changes).
    fn checkpoint_holds(&mut self, uids: &[String]);
    /// The job ended. Called once, after the master (and its checkpoint writer, with
    /// its queue of deletions) is gone.
    fn ended(&mut self, outcome: JobOutcome);
}

/// A job master with its deployer and observer.
pub struct Driver<D, O> {
    master: Option<JobMaster>,
    /// The deployer's own answers, handled before the next inbox message.
    follow_ups: VecDeque<JobMessage>,
    /// The job's end, once the master gave it.
    outcome: Option<JobOutcome>,
    /// Reaches the subtasks.
    pub deployer: D,
    /// Hears about the job.
    pub observer: O,
}

impl<D: Deployer, O: JobObserver> Driver<D, O> {
    /// Drives `master`.
    pub fn new(master: JobMaster, deployer: D, observer: O) -> Self {
        Driver { master: Some(master), follow_ups: VecDeque::new(), outcome: None, deployer, observer }
    }

    /// Hands `message` to the master at `now` and carries out what follows; true once
    /// the job ended (the observer was told).
    pub fn feed(&mut self, message: JobMessage, now: Instant) -> bool {
        self.follow_ups.push_back(message);
        while let Some(message) = self.follow_ups.pop_front() {
            let Some(master) = self.master.as_mut() else { break };
            for action in master.handle(message, now) {
                self.perform(action);
            }
        }
        if let Some(outcome) = self.outcome.take() {
            // The master's checkpoint writer finishes its queue when dropped.
            self.master = None;
            self.observer.ended(outcome);
        }
        self.master.is_none()
    }

    /// Runs until the job ended, taking messages from `inbox` and ticks at the
    /// master's deadlines. Returns early if every sender of `inbox` is gone.
    pub fn run(&mut self, inbox: &Receiver<JobMessage>) {
        let mut ticked = false;
        while let Some(master) = &self.master {
            let message = match master.next_deadline() {
                // A deadline that passed is served even while messages keep coming,
                // taking turns with them.
                Some(deadline) if !ticked && Instant::now() >= deadline => JobMessage::Tick,
                Some(deadline) => match inbox.recv_deadline(deadline) {
                    Ok(message) => message,
                    Err(RecvTimeoutError::Timeout) => JobMessage::Tick,
                    Err(RecvTimeoutError::Disconnected) => return,
                },
                None => match inbox.recv() {
                    Ok(message) => message,
                    Err(_) => return,
                },
            };
            ticked = matches!(message, JobMessage::Tick);
            if self.feed(message, Instant::now()) {
                return;
            }
        }
    }

    fn perform(&mut self, action: JobAction) {
        match action {
            JobAction::Deploy { attempt, restore_from } => match self.deployer.deploy(attempt, restore_from) {
                Ok(()) => self.follow_ups.push_back(JobMessage::Deployed { attempt }),
                Err(error) => self.follow_ups.push_back(JobMessage::DeployFailed { attempt, error }),
            },
            JobAction::Mail { attempt, task, mail } => self.deployer.send(attempt, task, mail),
            JobAction::Cancel { attempt } => self.deployer.cancel(attempt),
            JobAction::Release { attempt } => self.deployer.release(attempt),
            JobAction::StatusChanged { status, attempt } => self.observer.status_changed(status, attempt),
            JobAction::SavepointCompleted { request, result } => self.observer.savepoint_completed(request, result),
            JobAction::CheckpointHolds { uids } => self.observer.checkpoint_holds(&uids),
            JobAction::Ended(outcome) => self.outcome = Some(outcome),
        }
    }
}
