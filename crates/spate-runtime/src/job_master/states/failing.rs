//! FAILING: a subtask failed; the attempt's other subtasks are being cancelled. Once
//! every one ended, the restart strategy decides between RESTARTING and FAILED.

use std::time::Instant;

use super::{Ended, Restarting, State};
use crate::job_master::context::Context;
use crate::job_master::message::JobMessage;
use crate::job_master::outcome::{JobFailure, JobOutcome};
use crate::job_master::progress::Progress;
use crate::job_master::status::JobStatus;

pub(crate) struct Failing {
    progress: Progress,
    /// The root cause so far.
    failure: JobFailure,
    /// How the job ends instead, if the user cancelled or the master suspends while
    /// the attempt was failing.
    instead: Option<JobOutcome>,
}

impl Failing {
    pub fn start(ctx: &mut Context, progress: Progress, failure: JobFailure, now: Instant) -> State {
        ctx.set_status(JobStatus::Failing);
        ctx.cancel_attempt();
        Failing { progress, failure, instead: None }.settle(ctx, now)
    }

    pub fn on(mut self, ctx: &mut Context, message: JobMessage, now: Instant) -> State {
        let current = ctx.attempt;
        match message {
            JobMessage::TaskEnded { attempt, task, name, result } if attempt == current => {
                if !self.progress.end(task) {
                    return State::Failing(self);
                }
                if let Err(error) = result {
                    if self.failure.is_replaced_by(&error) {
                        tracing::error!(task = %name, %error, "task failed");
                        self.failure = JobFailure::Task { task: name, error };
                    }
                }
                self.settle(ctx, now)
            }
            JobMessage::DeployFailed { attempt, .. } if attempt == current => {
                self.progress.end_all();
                self.settle(ctx, now)
            }
            JobMessage::Task { attempt, message } if attempt == current => {
                ctx.coordinator.handle(message);
                State::Failing(self)
            }
            JobMessage::Tick => {
                ctx.coordinator.tick(now);
                State::Failing(self)
            }
            JobMessage::Cancel => {
                self.instead = Some(JobOutcome::Cancelled);
                ctx.cancel_attempt();
                State::Failing(self)
            }
            JobMessage::Suspend => {
                self.instead = Some(JobOutcome::Suspended);
                ctx.cancel_attempt();
                State::Failing(self)
            }
            _ => State::Failing(self),
        }
    }

    /// Once every subtask ended: restart, or fail the job.
    fn settle(self, ctx: &mut Context, now: Instant) -> State {
        if !self.progress.all_ended() {
            return State::Failing(self);
        }
        ctx.release_attempt("the attempt failed");
        if let Some(outcome) = self.instead {
            return Ended::enter(ctx, outcome);
        }
        if !self.failure.is_recoverable() {
            tracing::error!(job = %ctx.job_name, failure = %self.failure, "a restart cannot fix this failure: not restarting");
            return Ended::enter(ctx, JobOutcome::Failed(self.failure));
        }
        match ctx.restarts.on_failure(now) {
            Some(delay) => {
                tracing::warn!(job = %ctx.job_name, failure = %self.failure, ?delay, attempt = ctx.attempt + 1, "restarting the job");
                ctx.act(crate::job_master::JobAction::AttemptFailed {
                    attempt: ctx.attempt,
                    failure: self.failure.to_string(),
                });
                ctx.set_status(JobStatus::Restarting);
                State::Restarting(Restarting { until: now + delay })
            }
            None => Ended::enter(ctx, JobOutcome::Failed(self.failure)),
        }
    }
}
