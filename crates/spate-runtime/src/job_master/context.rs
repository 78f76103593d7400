//! What every state of the job lifecycle works with: the checkpoint coordinator, the
//! restart strategy, the attempt number, and the actions collected for the host.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::checkpoint::{
    CheckpointCoordinator, CheckpointFailure, CheckpointStorage, CompletedCheckpoint, TaskGateway, TaskMail,
};
use crate::restart::RestartTracker;

use super::action::JobAction;
use super::outcome::SavepointError;
use super::progress::Progress;
use super::status::JobStatus;

/// A savepoint the coordinator ended.
pub(crate) struct SavepointDone {
    pub request: u64,
    pub stop: bool,
    /// Its sources advanced event time to its end before the barrier.
    pub drain: bool,
    pub result: Result<CompletedCheckpoint, CheckpointFailure>,
}

/// Mail the coordinator sends, collected until the master turns it into actions (in
/// order with the master's own).
type Outbox = Arc<Mutex<Vec<(u32, usize, TaskMail)>>>;

/// The coordinator's gateway for one attempt: mail goes into the outbox.
struct OutboxGateway {
    attempt: u32,
    outbox: Outbox,
}

impl TaskGateway for OutboxGateway {
    fn send(&self, task: usize, mail: TaskMail) {
        if let Ok(mut outbox) = self.outbox.lock() {
            outbox.push((self.attempt, task, mail));
        }
    }
}

pub(crate) struct Context {
    pub job_name: String,
    pub tasks: usize,
    pub coordinator: CheckpointCoordinator,
    pub restarts: RestartTracker,
    /// The attempt running, or the last one that ran.
    pub attempt: u32,
    /// How long subtasks stopped after a savepoint get to close on their own.
    pub stop_grace: Duration,
    actions: Vec<JobAction>,
    /// The operators with state in the latest completed checkpoint, as last reported.
    holders: Vec<String>,
    outbox: Outbox,
    savepoints: Arc<Mutex<Vec<SavepointDone>>>,
}

impl Context {
    pub fn new(
        job_name: String,
        tasks: usize,
        coordinator: CheckpointCoordinator,
        restarts: RestartTracker,
        stop_grace: Duration,
    ) -> Self {
        Context {
            job_name,
            tasks,
            coordinator,
            restarts,
            attempt: 0,
            stop_grace,
            actions: Vec::new(),
            holders: Vec::new(),
            outbox: Arc::default(),
            savepoints: Arc::default(),
        }
    }

    /// Queues `action` after what the coordinator sent so far.
    pub fn act(&mut self, action: JobAction) {
        self.flush_mail();
        self.actions.push(action);
    }

    /// Turns the coordinator's mail into actions.
    pub fn flush_mail(&mut self) {
        if let Ok(mut outbox) = self.outbox.lock() {
            self.actions.extend(outbox.drain(..).map(|(attempt, task, mail)| JobAction::Mail { attempt, task, mail }));
        }
    }

    /// The actions collected since the last call.
    pub fn take_actions(&mut self) -> Vec<JobAction> {
        self.flush_mail();
        std::mem::take(&mut self.actions)
    }

    /// Reports the operators with state when a checkpoint changed them.
    pub fn note_state_holders(&mut self) {
        if self.coordinator.operators_with_state() != self.holders.as_slice() {
            self.holders = self.coordinator.operators_with_state().to_vec();
            let uids = self.holders.clone();
            self.act(JobAction::CheckpointHolds { uids });
        }
    }

    /// Savepoints the coordinator ended since the last call.
    pub fn take_savepoints(&mut self) -> Vec<SavepointDone> {
        self.savepoints.lock().map(|mut s| std::mem::take(&mut *s)).unwrap_or_default()
    }

    pub fn set_status(&mut self, status: JobStatus) {
        let attempt = self.attempt;
        self.act(JobAction::StatusChanged { status, attempt });
    }

    /// Deploys the current attempt and starts checkpointing it.
    pub fn deploy(&mut self, now: Instant, restore_from: Vec<CompletedCheckpoint>) -> Progress {
        let attempt = self.attempt;
        self.act(JobAction::Deploy { attempt, restore_from });
        self.coordinator.start_attempt(Box::new(OutboxGateway { attempt, outbox: self.outbox.clone() }), now);
        Progress::new(self.tasks)
    }

    /// Mails every subtask of the current attempt.
    pub fn mail_all(&mut self, mail: impl Fn() -> TaskMail) {
        for task in 0..self.tasks {
            let attempt = self.attempt;
            self.act(JobAction::Mail { attempt, task, mail: mail() });
        }
    }

    /// Cancels the current attempt.
    pub fn cancel_attempt(&mut self) {
        let attempt = self.attempt;
        self.act(JobAction::Cancel { attempt });
    }

    /// Every subtask of the current attempt ended: its checkpoints in progress are
    /// aborted and what it held is freed.
    pub fn release_attempt(&mut self, reason: &str) {
        self.coordinator.stop_attempt(reason);
        let attempt = self.attempt;
        self.act(JobAction::Release { attempt });
    }

    pub fn trigger_savepoint(
        &mut self,
        now: Instant,
        request: u64,
        storage: CheckpointStorage,
        stop: bool,
        drain: bool,
    ) {
        let done = self.savepoints.clone();
        self.coordinator.trigger_savepoint(
            now,
            storage,
            stop,
            drain,
            Box::new(move |result| {
                if let Ok(mut done) = done.lock() {
                    done.push(SavepointDone { request, stop, drain, result });
                }
            }),
        );
    }

    pub fn refuse_savepoint(&mut self, request: u64, status: JobStatus) {
        self.act(JobAction::SavepointCompleted { request, result: Err(SavepointError::NotRunning { status }) });
    }

    pub fn answer_savepoint(&mut self, done: SavepointDone) {
        let result = done.result.map_err(SavepointError::Failed);
        self.act(JobAction::SavepointCompleted { request: done.request, result });
    }
}
