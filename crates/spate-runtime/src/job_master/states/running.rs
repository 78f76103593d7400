//! RUNNING: an attempt is deployed; its subtasks process records and take checkpoints.

use std::time::Instant;

use super::{Cancelling, Ended, Failing, State};
use crate::checkpoint::{CoordinatorMessage, TaskMail};
use crate::job_master::context::{Context, SavepointDone};
use crate::job_master::message::JobMessage;
use crate::job_master::outcome::{JobFailure, JobOutcome};
use crate::job_master::progress::Progress;

pub(crate) struct Running {
    pub progress: Progress,
}

impl Running {
    pub fn on(mut self, ctx: &mut Context, message: JobMessage, now: Instant) -> State {
        let current = ctx.attempt;
        match message {
            JobMessage::TaskEnded { attempt, task, name, result } if attempt == current => {
                if !self.progress.end(task) {
                    return State::Running(self);
                }
                match result {
                    Err(error) => {
                        if !error.is_consequence() {
                            tracing::error!(task = %name, %error, "task failed");
                        }
                        Failing::start(ctx, self.progress, JobFailure::Task { task: name, error }, now)
                    }
                    Ok(()) if self.progress.all_ended() => {
                        ctx.release_attempt("the job finished");
                        Ended::enter(ctx, JobOutcome::Finished)
                    }
                    Ok(()) => State::Running(self),
                }
            }
            JobMessage::Task { attempt, message } if attempt == current => {
                if let CoordinatorMessage::Finished { task } = message {
                    if self.progress.finish(task) && self.progress.all_finished() && !self.progress.finish_sent {
                        // Every subtask processed all its input: commit and close.
                        self.progress.finish_sent = true;
                        ctx.coordinator.stop_attempt("the job finished");
                        ctx.mail_all(|| TaskMail::FinishJob);
                    }
                }
                ctx.coordinator.handle(message);
                self.check_checkpoints(ctx, now)
            }
            JobMessage::DeployFailed { attempt, error } if attempt == current => {
                // The deployer left nothing of the attempt running.
                self.progress.end_all();
                if error.is_recoverable() {
                    return Failing::start(ctx, self.progress, JobFailure::Deployment(error), now);
                }
                ctx.release_attempt("the deployment failed");
                Ended::enter(ctx, JobOutcome::Failed(JobFailure::Deployment(error)))
            }
            JobMessage::Tick => {
                ctx.coordinator.tick(now);
                self.check_checkpoints(ctx, now)
            }
            JobMessage::Cancel => Cancelling::start(ctx, self.progress, JobOutcome::Cancelled, now),
            JobMessage::Suspend => Cancelling::start(ctx, self.progress, JobOutcome::Suspended, now),
            JobMessage::TriggerSavepoint { request, storage, stop, drain } => {
                ctx.trigger_savepoint(now, request, storage, stop, drain);
                State::Running(self)
            }
            _ => State::Running(self),
        }
    }

    /// Too many checkpoints failed in a row: the attempt fails.
    pub fn check_checkpoints(self, ctx: &mut Context, now: Instant) -> State {
        match ctx.coordinator.take_job_failure() {
            Some(too_many) => {
                tracing::error!(job = %ctx.job_name, error = %too_many, "failing the job");
                Failing::start(ctx, self.progress, JobFailure::Checkpoints(too_many), now)
            }
            None => State::Running(self),
        }
    }

    pub fn on_savepoint(self, ctx: &mut Context, done: SavepointDone, now: Instant) -> State {
        let stop = done.stop && done.result.is_ok();
        // Only a drain whose barrier went out moved event time: not one the job's own
        // end overtook (refused, or aborted once every subtask finished).
        let drained_and_failed = done.drain && done.result.is_err() && !self.progress.finish_sent;
        match &done.result {
            Ok(savepoint) => tracing::info!(path = %savepoint.path(), "savepoint completed"),
            Err(reason) if done.drain => tracing::warn!(%reason, "the drained savepoint failed; the job restarts"),
            Err(reason) => tracing::warn!(%reason, "savepoint failed; the job goes on"),
        }
        let reason = done.result.as_ref().err().map(ToString::to_string);
        ctx.answer_savepoint(done);
        if drained_and_failed {
            // Its sources sent the end of event time: every window fired and every
            // later record would be dropped as late. The attempt restarts from the last
            // checkpoint instead of going on (as Flink's).
            let error = crate::TaskError::Internal(format!(
                "the savepoint of stop --drain failed ({}) after event time was advanced to its end",
                reason.unwrap_or_default()
            ));
            let failure = crate::job_master::outcome::JobFailure::Task { task: "stop --drain".into(), error };
            return super::Failing::start(ctx, self.progress, failure, now);
        }
        if stop { Cancelling::start(ctx, self.progress, JobOutcome::Stopped, now) } else { State::Running(self) }
    }
}
