//! REGISTERED: heartbeat every `heartbeat.interval`. A heartbeat that fails (the
//! JobManager went away, or declared this TaskManager lost) goes back to connecting; a
//! refused one (declared lost) or a JobManager that went away first kills the workers,
//! whose attempts nobody leads any more.

use std::time::Duration;

use tarpc::context;

use super::{Connecting, State};
use crate::rpc::ResourceManagerClient;
use crate::taskmanager::executor::ExecutorShared;
use crate::taskmanager::{TaskManagerSettings, hardware};

pub(crate) struct Registered {
    client: ResourceManagerClient,
    interval: Duration,
}

impl Registered {
    pub fn new(client: ResourceManagerClient, interval: Duration) -> Self {
        Registered { client, interval }
    }

    pub async fn run(self, settings: &TaskManagerSettings, shared: &ExecutorShared) -> State {
        // The workers' events go to this JobManager connection from now on.
        *shared.jobmanager.lock().unwrap_or_else(|p| p.into_inner()) = Some(self.client.clone());
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let id = settings.registration.id.clone();
            match self.client.heartbeat(context::current(), id, hardware::probe()).await {
                Ok(Ok(())) => {}
                Ok(Err(refusal)) => {
                    // It declared this TaskManager lost (a stop longer than
                    // heartbeat.timeout, say) and restarted its jobs elsewhere: the
                    // workers here belong to failed attempts. Killed, so that none of them
                    // goes on beside the new attempt (they could commit nothing anyway).
                    tracing::warn!(%refusal, "the JobManager refused a heartbeat: killing this TaskManager's workers and registering again");
                    crate::taskmanager::executor::kill_all(shared);
                    return State::Connecting(Connecting::again());
                }
                Err(tarpc::client::RpcError::DeadlineExceeded) => {
                    // A slow answer, not a lost JobManager: its workers run on.
                    tracing::warn!(jobmanager = %settings.jobmanager, "a heartbeat got no answer in time; registering again");
                    return State::Connecting(Connecting::again());
                }
                Err(error) => {
                    // The connection is gone (the JobManager died): its jobs are the next
                    // JobManager's to recover (high availability) or gone, and the workers
                    // here belong to attempts nobody leads any more.
                    tracing::warn!(%error, jobmanager = %settings.jobmanager, "lost the JobManager: killing this TaskManager's workers and registering again");
                    crate::taskmanager::executor::kill_all(shared);
                    return State::Connecting(Connecting::again());
                }
            }
        }
    }
}
