//! The TaskManager process: it registers its slots with the JobManager's resource
//! manager and heartbeats; when the JobManager goes away it registers again.
//!
//! Its lifecycle is a state machine, one file per state in [`states`]: `connecting`
//! (reach the JobManager and register, retrying with backoff up to
//! `taskmanager.registration.timeout`) and `registered` (heartbeat every
//! `heartbeat.interval`; a failed heartbeat goes back to connecting).

mod executor;
mod hardware;
mod output;
mod states;
mod worker_process;

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
    /// What it registers with (its executor's address is filled in when it listens).
    pub registration: Registration,
    /// Where the executor binds.
    pub bind_host: String,
    /// The executor's port or range.
    pub rpc_ports: spate_core::config::cluster::PortRange,
    /// Its directory: the artifact cache and the jobs' directories.
    pub dir: std::path::PathBuf,
    /// `task.cancellation.timeout`.
    pub cancellation_timeout: Duration,
    /// Where its workers listen for each other (`taskmanager.data.port`).
    pub data: spate_runtime::worker_link::DataBind,
}

impl TaskManagerSettings {
    /// Reads `config`.
    pub fn from_config(config: &Configuration) -> Result<Self, ClusterError> {
        let host = config.get(&keys::TASKMANAGER_HOST)?;
        let jobmanager =
            format!("{}:{}", config.get(&keys::JOBMANAGER_RPC_ADDRESS)?, config.get(&keys::JOBMANAGER_RPC_PORT)?);
        let id = format!("{host}:{}-{:06x}", std::process::id(), random24());
        let tmp = config
            .get(&keys::IO_TMP_DIRS)?
            .and_then(|d| d.split([',', ':']).next().map(std::path::PathBuf::from))
            .unwrap_or_else(std::env::temp_dir);
        let dir = tmp.join(format!("spate-taskmanager-{}", id.replace([':', '/'], "_")));
        let data_ports = config.get(&keys::TASKMANAGER_DATA_PORT)?;
        let registration = Registration {
            id,
            rpc_address: String::new(),
            host,
            slots: config.get(&keys::TASK_SLOTS)?,
            hardware: hardware::probe(),
            version: VERSION.into(),
            token: config.get(&keys::AUTH_TOKEN)?,
        };
        let bind_host = config.get(&keys::TASKMANAGER_BIND_HOST)?;
        if registration.token.is_none() && !crate::jobmanager::is_loopback_host(&bind_host) {
            tracing::warn!(
                key = "taskmanager.bind-host",
                address = %bind_host,
                "binding beyond loopback without security.auth.token: anyone who reaches the task executor's \
                 or the workers' ports can run code on this host"
            );
        }
        Ok(TaskManagerSettings {
            jobmanager,
            registration_timeout: config.get(&keys::REGISTRATION_TIMEOUT)?,
            bind_host: config.get(&keys::TASKMANAGER_BIND_HOST)?,
            rpc_ports: config.get(&keys::TASKMANAGER_RPC_PORT)?,
            dir,
            cancellation_timeout: config.get(&keys::TASK_CANCELLATION_TIMEOUT)?,
            data: spate_runtime::worker_link::DataBind {
                bind_host: config.get(&keys::TASKMANAGER_BIND_HOST)?,
                advertised_host: registration.host.clone(),
                first_port: data_ports.first,
                last_port: data_ports.last,
            },
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
    mut settings: TaskManagerSettings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ClusterError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("spate-taskmanager")
        .enable_all()
        .build()
        .map_err(ClusterError::Runtime)?;
    runtime.block_on(async move {
        let incoming =
            executor::bind(&settings.bind_host, settings.rpc_ports).await.map_err(|source| ClusterError::Bind {
                endpoint: "task executor (taskmanager.bind-host, taskmanager.rpc.port)",
                address: format!("{}:{}", settings.bind_host, settings.rpc_ports),
                source,
            })?;
        let port = incoming.local_addr().port();
        settings.registration.rpc_address = format!("{}:{port}", settings.registration.host);
        let (events, relayed) = tokio::sync::mpsc::unbounded_channel();
        let shared = std::sync::Arc::new(executor::ExecutorShared {
            id: settings.registration.id.clone(),
            dir: settings.dir.clone(),
            token: settings.registration.token.clone(),
            cancellation_timeout: settings.cancellation_timeout,
            data: settings.data.clone(),
            workers: Default::default(),
            cancelled_starts: Default::default(),
            events,
            jobmanager: Default::default(),
        });
        tokio::spawn(executor::serve(incoming, shared.clone()));
        tokio::spawn(executor::relay(shared.clone(), relayed));
        let result = tokio::select! {
            result = states::run(settings, shared.clone()) => result,
            () = shutdown => {
                tracing::info!("TaskManager stopped");
                Ok(())
            }
        };
        executor::kill_all(&shared);
        result
    })
}
