//! CREATED: the first attempt is being deployed.

use std::time::Instant;

use super::{Cancelling, Ended, Failing, Running, State};
use crate::job_master::context::Context;
use crate::job_master::message::JobMessage;
use crate::job_master::outcome::{JobFailure, JobOutcome};
use crate::job_master::progress::Progress;
use crate::job_master::status::JobStatus;

pub(crate) struct Created {
    pub progress: Progress,
}

impl Created {
    pub fn on(mut self, ctx: &mut Context, message: JobMessage, now: Instant) -> State {
        match message {
            JobMessage::Deployed { attempt } if attempt == ctx.attempt => self.run(ctx),
            JobMessage::DeployFailed { attempt, error } if attempt == ctx.attempt => {
                self.progress.end_all();
                if error.is_recoverable() {
                    return Failing::start(ctx, self.progress, JobFailure::Deployment(error), now);
                }
                ctx.release_attempt("the deployment failed");
                Ended::enter(ctx, JobOutcome::Failed(JobFailure::Deployment(error)))
            }
            // A subtask's report proves the deployment, even when it overtook the
            // deployer's answer.
            m @ (JobMessage::TaskEnded { .. } | JobMessage::Task { .. }) if m.attempt() == Some(ctx.attempt) => {
                self.run(ctx).on(ctx, m, now)
            }
            JobMessage::Cancel => Cancelling::start(ctx, self.progress, JobOutcome::Cancelled, now),
            JobMessage::Suspend => Cancelling::start(ctx, self.progress, JobOutcome::Suspended, now),
            JobMessage::Tick => {
                ctx.coordinator.tick(now);
                State::Created(self)
            }
            _ => State::Created(self),
        }
    }

    fn run(self, ctx: &mut Context) -> State {
        ctx.set_status(JobStatus::Running);
        State::Running(Running { progress: self.progress })
    }
}
