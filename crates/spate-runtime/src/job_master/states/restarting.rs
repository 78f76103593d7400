//! RESTARTING: the failed attempt ended; the next one is deployed when the restart
//! delay has passed, from the latest completed checkpoint.

use std::time::Instant;

use super::{Ended, Running, State};
use crate::job_master::context::Context;
use crate::job_master::message::JobMessage;
use crate::job_master::outcome::JobOutcome;
use crate::job_master::status::JobStatus;

pub(crate) struct Restarting {
    /// When the next attempt is deployed.
    pub until: Instant,
}

impl Restarting {
    pub fn on(self, ctx: &mut Context, message: JobMessage, now: Instant) -> State {
        match message {
            JobMessage::Tick if now >= self.until => {
                ctx.attempt += 1;
                let restore_from = ctx.coordinator.completed().cloned().collect();
                ctx.set_status(JobStatus::Running);
                let progress = ctx.deploy(now, restore_from);
                State::Running(Running { progress })
            }
            JobMessage::Tick => {
                ctx.coordinator.tick(now);
                State::Restarting(self)
            }
            JobMessage::Cancel => Ended::enter(ctx, JobOutcome::Cancelled),
            JobMessage::Suspend => Ended::enter(ctx, JobOutcome::Suspended),
            _ => State::Restarting(self),
        }
    }
}
