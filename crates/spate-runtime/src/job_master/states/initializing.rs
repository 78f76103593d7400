//! INITIALIZING: the job master exists and waits to be started.

use std::time::Instant;

use super::{Created, Ended, State};
use crate::job_master::context::Context;
use crate::job_master::message::JobMessage;
use crate::job_master::outcome::JobOutcome;
use crate::job_master::status::JobStatus;

pub(crate) struct Initializing;

impl Initializing {
    pub fn on(self, ctx: &mut Context, message: JobMessage, now: Instant) -> State {
        match message {
            JobMessage::Start => {
                ctx.set_status(JobStatus::Created);
                // The first attempt starts from the job's initial state.
                let progress = ctx.deploy(now, Vec::new());
                State::Created(Created { progress })
            }
            JobMessage::Cancel => Ended::enter(ctx, JobOutcome::Cancelled),
            JobMessage::Suspend => Ended::enter(ctx, JobOutcome::Suspended),
            _ => State::Initializing(self),
        }
    }
}
