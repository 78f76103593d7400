//! CANCELLING: the user cancelled, the job master suspends, or a stop-with-savepoint
//! completed; the job ends once every subtask of the attempt ended.

use std::time::Instant;

use super::{Ended, State};
use crate::checkpoint::TaskMail;
use crate::job_master::context::Context;
use crate::job_master::message::JobMessage;
use crate::job_master::outcome::JobOutcome;
use crate::job_master::progress::Progress;
use crate::job_master::status::JobStatus;

pub(crate) struct Cancelling {
    progress: Progress,
    /// How the job ends once its subtasks did.
    outcome: JobOutcome,
    /// When subtasks asked to stop are cancelled instead.
    pub kill_at: Option<Instant>,
}

impl Cancelling {
    pub fn start(ctx: &mut Context, progress: Progress, outcome: JobOutcome, now: Instant) -> State {
        ctx.set_status(JobStatus::Cancelling);
        let kill_at = if matches!(outcome, JobOutcome::Stopped) {
            // Every subtask took the notification that commits what the savepoint
            // covers before this mail; then it closes. One that cannot read its mail
            // (blocked on a full channel) is cancelled after the grace period.
            ctx.mail_all(|| TaskMail::Stop);
            Some(now + ctx.stop_grace)
        } else {
            ctx.cancel_attempt();
            None
        };
        Cancelling { progress, outcome, kill_at }.settle(ctx)
    }

    pub fn on(mut self, ctx: &mut Context, message: JobMessage, now: Instant) -> State {
        let current = ctx.attempt;
        match message {
            // How a subtask ends while the job is cancelled does not matter.
            JobMessage::TaskEnded { attempt, task, .. } if attempt == current => {
                self.progress.end(task);
                self.settle(ctx)
            }
            JobMessage::DeployFailed { attempt, .. } if attempt == current => {
                self.progress.end_all();
                self.settle(ctx)
            }
            JobMessage::Task { attempt, message } if attempt == current => {
                ctx.coordinator.handle(message);
                State::Cancelling(self)
            }
            JobMessage::Tick => {
                if self.kill_at.is_some_and(|at| now >= at) {
                    self.kill_at = None;
                    ctx.cancel_attempt();
                }
                ctx.coordinator.tick(now);
                State::Cancelling(self)
            }
            JobMessage::Cancel | JobMessage::Suspend => {
                self.kill_at = None;
                ctx.cancel_attempt();
                State::Cancelling(self)
            }
            _ => State::Cancelling(self),
        }
    }

    fn settle(self, ctx: &mut Context) -> State {
        if !self.progress.all_ended() {
            return State::Cancelling(self);
        }
        ctx.release_attempt("the job was cancelled");
        Ended::enter(ctx, self.outcome)
    }
}
