//! The TaskManager's lifecycle, one file per state.

mod connecting;
mod registered;

use std::sync::Arc;

use super::TaskManagerSettings;
use super::executor::ExecutorShared;
use crate::ClusterError;

pub(super) use connecting::Connecting;
pub(super) use registered::Registered;

/// Where the TaskManager is.
pub(super) enum State {
    Connecting(Connecting),
    Registered(Registered),
}

/// Runs the lifecycle until it fails.
pub(super) async fn run(settings: TaskManagerSettings, shared: Arc<ExecutorShared>) -> Result<(), ClusterError> {
    let mut state = State::Connecting(Connecting::first());
    loop {
        state = match state {
            State::Connecting(s) => s.run(&settings).await?,
            State::Registered(s) => s.run(&settings, &shared).await,
        };
    }
}
