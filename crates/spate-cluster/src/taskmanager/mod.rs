//! The TaskManager process: it registers its slots with the JobManager's resource
//! manager and heartbeats; when the JobManager goes away it registers again.
//!
//! Its lifecycle is a state machine, one file per state in [`states`]: `connecting`
//! (reach the JobManager and register, retrying with backoff up to
//! `taskmanager.registration.timeout`) and `registered` (heartbeat every
//! `heartbeat.interval`; a failed heartbeat goes back to connecting).

mod hardware;
mod states;

use std::time::Duration;

use spate_core::config::Configuration;
use spate_core::config::cluster as keys;

use crate::ClusterError;
use crate::rpc::Registration;
use crate::version::VERSION;

/// A TaskManager's settings, read from its configuration.
#[derive(Clone, Debug)]
pub struct TaskManagerSettings {
    /// The JobManager's RPC address, `host:port`.
    pub jobmanager: String,
    /// How long to keep trying to register.
    pub registration_timeout: Duration,
    /// What it registers with.
    pub registration: Registration,
}

impl TaskManagerSettings {
    /// Reads `config`.
    pub fn from_config(config: &Configuration) -> Result<Self, ClusterError> {
        let host = config.get(&keys::TASKMANAGER_HOST)?;
        let jobmanager =
            format!("{}:{}", config.get(&keys::JOBMANAGER_RPC_ADDRESS)?, config.get(&keys::JOBMANAGER_RPC_PORT)?);
        let id = format!("{host}:{}-{:06x}", std::process::id(), random24());
        let registration = Registration {
            id,
            host,
            slots: config.get(&keys::TASK_SLOTS)?,
            hardware: hardware::probe(),
            version: VERSION.into(),
            token: config.get(&keys::AUTH_TOKEN)?,
        };
        Ok(TaskManagerSettings {
            jobmanager,
            registration_timeout: config.get(&keys::REGISTRATION_TIMEOUT)?,
            registration,
        })
    }
}

/// 24 bits that differ between processes, for the id's suffix.
fn random24() -> u32 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    (nanos ^ std::process::id().rotate_left(12)) & 0xFF_FFFF
}

/// Runs a TaskManager until `shutdown` resolves, or until it cannot reach the
/// JobManager within the registration timeout (the error names the address).
pub fn run(
    settings: TaskManagerSettings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ClusterError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ClusterError::Runtime)?;
    runtime.block_on(async move {
        tokio::select! {
            result = states::run(settings) => result,
            () = shutdown => {
                tracing::info!("TaskManager stopped");
                Ok(())
            }
        }
    })
}
