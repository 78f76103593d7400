//! CONNECTING: reach the JobManager and register, retrying with backoff (a JobManager
//! that is still starting, or restarting, is waited for) until the registration
//! timeout.

use std::time::{Duration, Instant};

use tarpc::client;
use tarpc::context;

use super::{Registered, State};
use crate::ClusterError;
use crate::rpc::{Refusal, ResourceManagerClient};
use crate::taskmanager::TaskManagerSettings;

pub(crate) struct Connecting {
    /// Whether the TaskManager was registered before (it lost the JobManager).
    again: bool,
}

impl Connecting {
    pub fn first() -> Self {
        Connecting { again: false }
    }

    pub fn again() -> Self {
        Connecting { again: true }
    }

    pub async fn run(self, settings: &TaskManagerSettings) -> Result<State, ClusterError> {
        let deadline = Instant::now() + settings.registration_timeout;
        let mut backoff = Duration::from_millis(20);
        let unreachable =
            |reason: String| ClusterError::JobManagerUnreachable { address: settings.jobmanager.clone(), reason };
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
            let tried = match tokio::time::timeout(left, attempt(settings)).await {
                Ok(result) => result,
                Err(_) => Err(Attempt::Failed(format!("no answer within {} ms", left.as_millis()))),
            };
            match tried {
                Ok((client, interval)) => {
                    tracing::info!(
                        jobmanager = %settings.jobmanager, id = %settings.registration.id, again = self.again,
                        "registered at the JobManager"
                    );
                    return Ok(State::Registered(Registered::new(client, interval)));
                }
                Err(Attempt::Refused(reason)) => {
                    return Err(ClusterError::Refused { address: settings.jobmanager.clone(), reason });
                }
                Err(Attempt::Failed(reason)) => {
                    if Instant::now() + backoff > deadline {
                        return Err(unreachable(format!(
                            "{reason} (gave up after {} ms, taskmanager.registration.timeout)",
                            settings.registration_timeout.as_millis()
                        )));
                    }
                    tracing::debug!(%reason, ?backoff, "the JobManager is not reachable yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

enum Attempt {
    /// Worth trying again.
    Failed(String),
    /// The JobManager said no: trying again gives the same answer.
    Refused(Refusal),
}

async fn attempt(settings: &TaskManagerSettings) -> Result<(ResourceManagerClient, Duration), Attempt> {
    let json = tarpc::tokio_serde::formats::Json::default;
    let transport = tarpc::serde_transport::tcp::connect(&settings.jobmanager, json)
        .await
        .map_err(|e| Attempt::Failed(e.to_string()))?;
    let _ = transport.get_ref().set_nodelay(true);
    let client = ResourceManagerClient::new(client::Config::default(), transport).spawn();
    match client.register(context::current(), settings.registration.clone()).await {
        Ok(Ok(interval)) => Ok((client, interval)),
        Ok(Err(refusal)) => Err(Attempt::Refused(refusal)),
        Err(e) => Err(Attempt::Failed(e.to_string())),
    }
}
