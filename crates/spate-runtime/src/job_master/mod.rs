//! The job master: one job's lifecycle, checkpoints and failover, without I/O.
//!
//! It is typed on the [`JobGraph`] (no user code), so the embedded mini-cluster and a
//! cluster's JobManager run the same master. It is sans-IO:
//! [`handle`](JobMaster::handle) takes a [`JobMessage`] and the current time and
//! returns the [`JobAction`]s the host must carry out — deploy an attempt, mail or
//! cancel subtasks, report a status — and a [`Driver`] carries them out through a
//! [`Deployer`]. No call blocks, time is only what the caller passes in, and every
//! message about subtasks names its attempt, so stale, duplicated and reordered
//! messages are told apart from current ones. Protocol tests drive it with a fake
//! deployer and a manual clock.
//!
//! The lifecycle is a state machine in [`states`], one file per Flink `JobStatus`.

mod action;
mod context;
mod deployer;
mod driver;
mod message;
mod outcome;
mod progress;
mod states;
mod status;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use spate_core::job_graph::JobGraph;

pub use action::JobAction;
pub use deployer::Deployer;
pub use driver::{Driver, JobObserver};
pub use message::JobMessage;
pub use outcome::{AttemptFailed, DeployError, JobFailure, JobOutcome, ResourcesUnavailable, SavepointError};
pub use status::JobStatus;

use crate::checkpoint::{CheckpointCoordinator, CheckpointHistory, TaskDescriptor};
use crate::restart::{RestartStrategy, RestartTracker};
use context::Context;
use states::{Initializing, State};

/// How long subtasks of a job stopped with a savepoint get to close on their own
/// before they are cancelled.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// The subtasks of `graph`, vertex by vertex and subtask by subtask: the order in
/// which messages and actions number them.
pub fn task_descriptors(graph: &JobGraph) -> Vec<TaskDescriptor> {
    let mut tasks = Vec::new();
    for v in &graph.vertices {
        // A vertex without inputs reads a source: checkpoint barriers start there.
        let is_source = graph.inputs(v.id).next().is_none();
        for subtask in 0..v.parallelism {
            tasks.push(TaskDescriptor {
                vertex: v.id,
                subtask,
                parallelism: v.parallelism,
                max_parallelism: v.max_parallelism,
                is_source,
            });
        }
    }
    tasks
}

/// One job's master. See the [module documentation](self).
pub struct JobMaster {
    ctx: Context,
    state: State,
}

impl JobMaster {
    /// The master of the job `graph`, whose subtasks are `tasks` (see
    /// [`task_descriptors`]), checkpointed by `coordinator` and restarted by `restart`.
    /// It starts INITIALIZING; [`JobMessage::Start`] deploys the first attempt.
    pub fn new(
        graph: &JobGraph,
        tasks: usize,
        coordinator: CheckpointCoordinator,
        restart: RestartStrategy,
        stop_grace: Duration,
    ) -> Self {
        let ctx = Context::new(graph.job_name.clone(), tasks, coordinator, RestartTracker::new(restart), stop_grace);
        JobMaster { ctx, state: State::Initializing(Initializing) }
    }

    /// Takes `message` at time `now`; returns what the host must do, in order.
    pub fn handle(&mut self, message: JobMessage, now: Instant) -> Vec<JobAction> {
        let state = std::mem::replace(&mut self.state, State::Initializing(Initializing));
        let mut state = state.on(&mut self.ctx, message, now);
        // Savepoints the coordinator ended while handling it (their answers are
        // callbacks inside the coordinator, so they are turned into steps here).
        loop {
            let done = self.ctx.take_savepoints();
            if done.is_empty() {
                break;
            }
            for savepoint in done {
                state = state.on_savepoint(&mut self.ctx, savepoint, now);
            }
        }
        self.state = state;
        let mut actions = self.ctx.take_actions();
        // Answers the end caused (savepoints aborted with the attempt) come before it.
        if let Some(at) = actions.iter().position(|a| matches!(a, JobAction::Ended(_))) {
            let ended = actions.remove(at);
            actions.push(ended);
        }
        actions
    }

    /// When the master wants a [`JobMessage::Tick`]: a checkpoint to trigger or time
    /// out, a restart delay or a stop grace period that ends.
    pub fn next_deadline(&self) -> Option<Instant> {
        if matches!(self.state, State::Ended(_)) {
            return None;
        }
        match (self.ctx.coordinator.next_deadline(), self.state.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The job's status.
    pub fn status(&self) -> JobStatus {
        self.state.status()
    }

    /// The running attempt, or the last one that ran (restarts so far).
    pub fn attempt(&self) -> u32 {
        self.ctx.attempt
    }

    /// Numbers the job's attempts from `first` (before `Start`): a job a JobManager
    /// recovered numbers on after the attempts of the one that stopped, so that nothing
    /// of those (a queued report, a worker not yet reaped) passes for the new attempts.
    pub fn starting_at_attempt(mut self, first: u32) -> Self {
        self.ctx.attempt = first;
        self
    }

    /// The checkpoint statistics, shared with clients.
    pub fn checkpoint_history(&self) -> CheckpointHistory {
        self.ctx.coordinator.history()
    }
}
