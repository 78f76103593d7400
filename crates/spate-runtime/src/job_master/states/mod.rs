//! The job lifecycle, one file per state (Flink's `JobStatus`). Each state takes the
//! messages it understands and returns the state the job is in next; anything else —
//! reports of an earlier attempt, duplicates, requests that make no sense now — leaves
//! it where it is.

mod cancelling;
mod created;
mod ended;
mod failing;
mod initializing;
mod restarting;
mod running;

use std::time::Instant;

pub(crate) use cancelling::Cancelling;
pub(crate) use created::Created;
pub(crate) use ended::Ended;
pub(crate) use failing::Failing;
pub(crate) use initializing::Initializing;
pub(crate) use restarting::Restarting;
pub(crate) use running::Running;

use super::context::{Context, SavepointDone};
use super::message::JobMessage;
use super::status::JobStatus;

/// The job's state with what that state needs to know.
pub(crate) enum State {
    Initializing(Initializing),
    Created(Created),
    Running(Running),
    Failing(Failing),
    Restarting(Restarting),
    Cancelling(Cancelling),
    Ended(Ended),
}

impl State {
    pub fn status(&self) -> JobStatus {
        match self {
            State::Initializing(_) => JobStatus::Initializing,
            State::Created(_) => JobStatus::Created,
            State::Running(_) => JobStatus::Running,
            State::Failing(_) => JobStatus::Failing,
            State::Restarting(_) => JobStatus::Restarting,
            State::Cancelling(_) => JobStatus::Cancelling,
            State::Ended(ended) => ended.status,
        }
    }

    pub fn on(self, ctx: &mut Context, message: JobMessage, now: Instant) -> State {
        let status = self.status();
        // What every state does alike.
        let message = match message {
            JobMessage::TriggerSavepoint { request, .. } if !matches!(self, State::Running(_)) => {
                ctx.refuse_savepoint(request, status);
                return self;
            }
            JobMessage::Storage(report) if !matches!(self, State::Ended(_)) => {
                ctx.coordinator.handle(report);
                ctx.note_state_holders();
                return self.after_coordinator(ctx, now);
            }
            other => other,
        };
        match self {
            State::Initializing(s) => s.on(ctx, message, now),
            State::Created(s) => s.on(ctx, message, now),
            State::Running(s) => s.on(ctx, message, now),
            State::Failing(s) => s.on(ctx, message, now),
            State::Restarting(s) => s.on(ctx, message, now),
            State::Cancelling(s) => s.on(ctx, message, now),
            State::Ended(s) => s.on(ctx, message),
        }
    }

    /// A savepoint ended: answered, and a stop-with-savepoint stops the job.
    pub fn on_savepoint(self, ctx: &mut Context, done: SavepointDone, now: Instant) -> State {
        match self {
            State::Running(s) => s.on_savepoint(ctx, done, now),
            other => {
                ctx.answer_savepoint(done);
                other
            }
        }
    }

    /// After the coordinator handled something: too many failed checkpoints fail a
    /// running attempt.
    fn after_coordinator(self, ctx: &mut Context, now: Instant) -> State {
        match self {
            State::Running(s) => s.check_checkpoints(ctx, now),
            other => other,
        }
    }

    /// When the state wants to be woken (besides the coordinator's deadlines).
    pub fn deadline(&self) -> Option<Instant> {
        match self {
            State::Restarting(s) => Some(s.until),
            State::Cancelling(s) => s.kill_at,
            _ => None,
        }
    }
}
