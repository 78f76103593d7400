//! Carries out a job master's actions: the loop that feeds it messages from an inbox
//! and the clock, and hands its actions to a [`Deployer`] and a [`JobObserver`].

use std::collections::VecDeque;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::JobMaster;
use super::action::JobAction;
use super::deployer::Deployer;
use super::message::JobMessage;
use super::outcome::{DeployError, JobOutcome, SavepointError};
use super::status::JobStatus;
use crate::checkpoint::CompletedCheckpoint;

/// How often a deployment waiting for resources is tried again.
const RETRY_DEPLOY_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// What the host learns from its job master besides the deployer's work.
pub trait JobObserver {
    /// The job's status changed; `attempt` runs (or is about to) in it.
    fn status_changed(&mut self, status: JobStatus, attempt: u32);
    /// Attempt `attempt` failed with `failure` (its root cause) and the job restarts.
    fn attempt_failed(&mut self, attempt: u32, failure: &str);
    /// A savepoint request was answered.
    fn savepoint_completed(&mut self, request: u64, result: Result<CompletedCheckpoint, SavepointError>);
    /// A completed checkpoint holds state of the operators with these uids (told when
    /// the set changes).
    fn checkpoint_holds(&mut self, uids: &[String]);
    /// The job ended. Called once, after the master (and its checkpoint writer, with
    /// its queue of deletions) is gone.
    fn ended(&mut self, outcome: JobOutcome);
    /// The job is ending with `outcome`: called as soon as the master says so, before
    /// it is dropped (for what must be recorded before its checkpoints go).
    fn ending(&mut self, _outcome: &JobOutcome) {}
}

/// A job master with its deployer and observer.
pub struct Driver<D, O> {
    master: Option<JobMaster>,
    /// The deployer's own answers, handled before the next inbox message.
    follow_ups: VecDeque<JobMessage>,
    /// The job's end, once the master gave it.
    outcome: Option<JobOutcome>,
    /// A deployment waiting for resources: its attempt, what it restores, when to try
    /// again.
    waiting: Option<(u32, Vec<CompletedCheckpoint>, Instant)>,
    /// Reaches the subtasks.
    pub deployer: D,
    /// Hears about the job.
    pub observer: O,
}

impl<D: Deployer, O: JobObserver> Driver<D, O> {
    /// Drives `master`.
    pub fn new(master: JobMaster, deployer: D, observer: O) -> Self {
        Driver { master: Some(master), follow_ups: VecDeque::new(), outcome: None, waiting: None, deployer, observer }
    }

    /// Hands `message` to the master at `now` and carries out what follows; true once
    /// the job ended (the observer was told).
    pub fn feed(&mut self, message: JobMessage, now: Instant) -> bool {
        self.follow_ups.push_back(message);
        self.feed_follow_ups(now)
    }

    /// Hands the queued messages to the master; true once the job ended.
    fn feed_follow_ups(&mut self, now: Instant) -> bool {
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
        while self.master.is_some() {
            if let Some((attempt, _, at)) = &self.waiting {
                if Instant::now() >= *at {
                    let (attempt, restore_from) = (*attempt, self.waiting.take().map(|w| w.1).unwrap_or_default());
                    self.perform(JobAction::Deploy { attempt, restore_from });
                    if self.feed_follow_ups(Instant::now()) {
                        return;
                    }
                    continue;
                }
            }
            let Some(master) = &self.master else { return };
            let deadline = match (master.next_deadline(), &self.waiting) {
                (Some(d), Some((_, _, at))) => Some(d.min(*at)),
                (d, None) => d,
                (None, Some((_, _, at))) => Some(*at),
            };
            let message = match deadline {
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
            JobAction::Deploy { attempt, restore_from } => match self.deployer.deploy(attempt, restore_from.clone()) {
                Ok(()) => self.follow_ups.push_back(JobMessage::Deployed { attempt }),
                Err(error) if error.is_resources_unavailable() => {
                    tracing::debug!(%error, "waiting for resources");
                    self.waiting = Some((attempt, restore_from, Instant::now() + RETRY_DEPLOY_EVERY));
                }
                Err(error) => self.follow_ups.push_back(JobMessage::DeployFailed { attempt, error }),
            },
            JobAction::Mail { attempt, task, mail } => self.deployer.send(attempt, task, mail),
            JobAction::Cancel { attempt } => {
                if self.waiting.as_ref().is_some_and(|w| w.0 == attempt) {
                    // Nothing of the attempt runs: it ends at once.
                    self.waiting = None;
                    let source = "cancelled while waiting for resources".into();
                    self.follow_ups
                        .push_back(JobMessage::DeployFailed { attempt, error: DeployError { attempt, source } });
                }
                self.deployer.cancel(attempt)
            }
            JobAction::Release { attempt } => {
                if self.waiting.as_ref().is_some_and(|w| w.0 == attempt) {
                    self.waiting = None;
                }
                self.deployer.release(attempt)
            }
            JobAction::StatusChanged { status, attempt } => self.observer.status_changed(status, attempt),
            JobAction::AttemptFailed { attempt, failure } => self.observer.attempt_failed(attempt, &failure),
            JobAction::SavepointCompleted { request, result } => self.observer.savepoint_completed(request, result),
            JobAction::CheckpointHolds { uids } => self.observer.checkpoint_holds(&uids),
            JobAction::Ended(outcome) => {
                self.observer.ending(&outcome);
                self.outcome = Some(outcome);
            }
        }
    }
}
