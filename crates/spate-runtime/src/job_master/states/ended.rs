//! FINISHED, FAILED, CANCELED or SUSPENDED: nothing of the job runs, and nothing will.
//! The four terminal states behave alike (they refuse every request), so they share
//! this file and differ only in the status they report.

use super::State;
use crate::job_master::action::JobAction;
use crate::job_master::context::Context;
use crate::job_master::message::JobMessage;
use crate::job_master::outcome::JobOutcome;
use crate::job_master::status::JobStatus;

pub(crate) struct Ended {
    pub status: JobStatus,
}

impl Ended {
    /// The job ends with `outcome`: retained checkpoints are kept or deleted by policy
    /// (a finished job deletes them; a stopped one keeps them as a cancelled one does);
    /// a suspended job keeps every one, since it is to be resumed from them.
    pub fn enter(ctx: &mut Context, outcome: JobOutcome) -> State {
        let status = outcome.status();
        if matches!(outcome, JobOutcome::Suspended) {
            ctx.coordinator.stop_attempt("the job was suspended");
        } else {
            let finished = matches!(outcome, JobOutcome::Finished);
            let cancelled = matches!(outcome, JobOutcome::Cancelled | JobOutcome::Stopped);
            ctx.coordinator.shutdown(finished, cancelled);
        }
        tracing::info!(job = %ctx.job_name, %status, "job ended");
        ctx.act(JobAction::Ended(outcome));
        State::Ended(Ended { status })
    }

    pub fn on(self, _ctx: &mut Context, _message: JobMessage) -> State {
        State::Ended(self)
    }
}
