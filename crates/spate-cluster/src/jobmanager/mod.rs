//! The JobManager process: the resource manager behind its RPC endpoint, and the REST
//! endpoint. Both bind before the JobManager says it is up, so a port in use is an
//! error at start naming the key and the address.

pub mod artifact_store;
mod cluster_deployer;
pub mod dispatcher;
mod executor_mail;
mod ha;
mod resource_manager;
mod rest;
mod rpc_server;
mod subtasks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use spate_core::config::Configuration;
use spate_core::config::cluster as keys;

pub use resource_manager::{LossReason, NotEnoughSlots, ResourceManager, TaskManagerEntry};

use crate::ClusterError;
use crate::endpoints::Endpoints;

/// What the JobManager's endpoints share.
pub(crate) struct Shared {
    pub resources: Mutex<ResourceManager>,
    /// Uploaded applications.
    pub artifacts: Arc<artifact_store::ArtifactStore>,
    /// `security.auth.token`.
    pub token: Option<String>,
    /// The jobs.
    pub jobs: dispatcher::Jobs,
    /// The high-availability store (`high-availability.type: filesystem`), locked.
    pub(crate) ha: Option<ha::HaStore>,
    /// The runtime, for job masters (on threads of their own) to make their calls on.
    pub runtime: tokio::runtime::Handle,
    /// Where the REST endpoint listens (TaskManagers download applications there).
    pub rest_address: String,
    /// `taskmanager.load-balance.mode`.
    pub load_balance: spate_core::config::cluster::LoadBalanceMode,
    /// The effective configuration, for `/jobmanager/config`.
    pub config: Configuration,
    /// When the process started (wall clock), to turn instants into timestamps.
    pub started: (Instant, SystemTime),
    /// Connections to task executors, by address, kept for calls that come often
    /// (result fetches).
    pub executors: Mutex<std::collections::HashMap<String, crate::rpc::TaskExecutorClient>>,
    /// `rest.server.max-content-length`, which also bounds uploads (streamed, so no
    /// body limit layer sees them).
    pub max_content_length: u64,
    /// `slot.request.timeout`: how long a job waits for free slots.
    pub slot_request_timeout: std::time::Duration,
    /// `jobstore.expiration-time`: how long a finished job stays listed.
    pub jobstore_expiration: std::time::Duration,
    /// How long an ending attempt waits for its workers' exits: the TaskManagers kill
    /// them after `task.cancellation.timeout`, and report it.
    pub worker_exit_timeout: std::time::Duration,
}

impl Shared {
    /// The registry. Its data stay consistent under a panic elsewhere (each change is
    /// one map operation), so a poisoned lock is taken over rather than failing every
    /// later call.
    pub fn resources(&self) -> std::sync::MutexGuard<'_, ResourceManager> {
        self.resources.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A connection to the task executor at `address`: the kept one, or a new one.
    pub async fn executor(&self, address: &str) -> Result<crate::rpc::TaskExecutorClient, String> {
        let kept = self.executors.lock().unwrap_or_else(|p| p.into_inner()).get(address).cloned();
        if let Some(client) = kept {
            return Ok(client);
        }
        let client = crate::rpc::connect_executor(address).await?;
        self.executors.lock().unwrap_or_else(|p| p.into_inner()).insert(address.to_string(), client.clone());
        Ok(client)
    }

    /// Forgets the connection to `address` (a call on it failed).
    pub fn forget_executor(&self, address: &str) {
        self.executors.lock().unwrap_or_else(|p| p.into_inner()).remove(address);
    }

    /// Milliseconds since the epoch at `instant`.
    pub fn epoch_millis(&self, instant: Instant) -> i64 {
        let (i0, s0) = self.started;
        let at = if instant >= i0 { s0 + (instant - i0) } else { s0 - (i0 - instant) };
        at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

/// The resource manager's wire format: JSON frames of tarpc messages.
type RpcCodec = tarpc::tokio_serde::formats::Json<
    tarpc::ClientMessage<crate::rpc::ResourceManagerRequest>,
    tarpc::Response<crate::rpc::ResourceManagerResponse>,
>;

/// The RPC endpoint's listener.
type RpcIncoming = tarpc::serde_transport::tcp::Incoming<
    tarpc::ClientMessage<crate::rpc::ResourceManagerRequest>,
    tarpc::Response<crate::rpc::ResourceManagerResponse>,
    RpcCodec,
    fn() -> RpcCodec,
>;

/// A JobManager that listens; [`run`](Self::run) serves until shutdown.
pub struct JobManager {
    runtime: tokio::runtime::Runtime,
    rest: tokio::net::TcpListener,
    rpc: RpcIncoming,
    shared: Arc<Shared>,
    heartbeat_interval: Duration,
    max_content_length: u64,
}

impl JobManager {
    /// Binds the REST and RPC endpoints of `config`.
    pub fn bind(config: Configuration) -> Result<Self, ClusterError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("spate-jobmanager")
            .enable_all()
            .build()
            .map_err(ClusterError::Runtime)?;
        let rest_addr = format!("{}:{}", config.get(&keys::REST_BIND_ADDRESS)?, config.get(&keys::REST_PORT)?);
        let rpc_addr =
            format!("{}:{}", config.get(&keys::JOBMANAGER_BIND_HOST)?, config.get(&keys::JOBMANAGER_RPC_PORT)?);
        let token = config.get(&keys::AUTH_TOKEN)?;
        let heartbeat_interval = config.get(&keys::HEARTBEAT_INTERVAL)?;
        let heartbeat_timeout = config.get(&keys::HEARTBEAT_TIMEOUT)?;
        let max_content_length = config.get(&keys::REST_MAX_CONTENT_LENGTH)?;
        if heartbeat_timeout <= heartbeat_interval {
            return Err(ClusterError::Settings {
                keys: "heartbeat.timeout, heartbeat.interval",
                reason: format!(
                    "the timeout ({} ms) must be longer than the interval ({} ms), or every TaskManager is lost \
                     between two heartbeats",
                    heartbeat_timeout.as_millis(),
                    heartbeat_interval.as_millis()
                ),
            });
        }
        for (key, addr) in [("rest.bind-address", &rest_addr), ("jobmanager.bind-host", &rpc_addr)] {
            if token.is_none() && !is_loopback(addr) {
                tracing::warn!(
                    key, address = %addr,
                    "binding beyond loopback without security.auth.token: anyone who reaches this port can run code \
                     on the cluster"
                );
            }
        }
        // Taken before anything is bound: a second JobManager of the cluster stops here.
        let ha = match config.get(&keys::HA_TYPE)? {
            keys::HighAvailability::None => None,
            keys::HighAvailability::Filesystem => {
                let Some(dir) = config.get(&keys::HA_STORAGE_DIR)? else {
                    return Err(ClusterError::Settings {
                        keys: "high-availability.type, high-availability.storageDir",
                        reason: "filesystem high availability needs a storage directory".into(),
                    });
                };
                Some(ha::HaStore::open(&dir, &config.get(&keys::HA_CLUSTER_ID)?)?)
            }
        };
        let (rest, rpc) = runtime.block_on(async {
            let rest = tokio::net::TcpListener::bind(&rest_addr).await.map_err(|source| ClusterError::Bind {
                endpoint: "REST endpoint (rest.bind-address, rest.port)",
                address: rest_addr.clone(),
                source,
            })?;
            let json: fn() -> _ = tarpc::tokio_serde::formats::Json::default;
            let rpc =
                tarpc::serde_transport::tcp::listen(&rpc_addr, json).await.map_err(|source| ClusterError::Bind {
                    endpoint: "RPC endpoint (jobmanager.bind-host, jobmanager.rpc.port)",
                    address: rpc_addr.clone(),
                    source,
                })?;
            Ok::<_, ClusterError>((rest, rpc))
        })?;
        let artifact_dir = match config.get(&keys::BLOB_STORAGE_DIRECTORY)? {
            Some(dir) => std::path::PathBuf::from(dir),
            None => std::env::temp_dir().join(format!("spate-{}-artifacts", crate::endpoints::user())),
        };
        let artifacts = Arc::new(
            artifact_store::ArtifactStore::open(&artifact_dir).map_err(|e| ClusterError::Artifacts(Box::new(e)))?,
        );
        let load_balance = if config.get(&keys::EVENLY_SPREAD_OUT_SLOTS)? {
            spate_core::config::cluster::LoadBalanceMode::Slots
        } else {
            config.get(&keys::LOAD_BALANCE_MODE)?
        };
        // Where TaskManagers download applications: the address clients use, at the port
        // really bound (a wildcard bind address is no address to connect to).
        let rest_port = rest.local_addr().map(|a| a.port()).unwrap_or_default();
        let rest_address = format!("{}:{rest_port}", config.get(&keys::REST_ADDRESS)?);
        let shared = Arc::new(Shared {
            ha,
            executors: Mutex::default(),
            max_content_length,
            slot_request_timeout: config.get(&keys::SLOT_REQUEST_TIMEOUT)?,
            jobstore_expiration: config.get(&keys::JOBSTORE_EXPIRATION)?,
            worker_exit_timeout: config.get(&keys::TASK_CANCELLATION_TIMEOUT)? + Duration::from_secs(30),
            resources: Mutex::new(ResourceManager::new(heartbeat_timeout, token.clone())),
            artifacts,
            token,
            jobs: Default::default(),
            runtime: runtime.handle().clone(),
            rest_address,
            load_balance,
            config,
            started: (Instant::now(), SystemTime::now()),
        });
        Ok(JobManager { runtime, rest, rpc, shared, heartbeat_interval, max_content_length })
    }

    /// Where the endpoints listen (the ports the OS chose when configured as 0).
    pub fn endpoints(&self) -> Endpoints {
        let rest = self.rest.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let rpc = self.rpc.local_addr().to_string();
        Endpoints { rest, rpc, pid: std::process::id() }
    }

    /// Serves until `shutdown` resolves.
    pub fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), ClusterError> {
        let JobManager { runtime, rest, rpc, shared, heartbeat_interval, max_content_length } = self;
        let endpoints = Endpoints {
            rest: rest.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            rpc: rpc.local_addr().to_string(),
            pid: std::process::id(),
        };
        tracing::info!(rest = %endpoints.rest, rpc = %endpoints.rpc, "JobManager is up: REST endpoint listening at http://{}", endpoints.rest);
        dispatcher::recover(&shared);
        runtime.block_on(async move {
            let sweeper = tokio::spawn(sweep(shared.clone(), heartbeat_interval));
            let rpc_task = tokio::spawn(rpc_server::serve(rpc, shared.clone(), heartbeat_interval));
            let app = rest::router(shared.clone(), max_content_length);
            // Requests and answers are small and come in turns: no Nagle delay.
            use axum::serve::ListenerExt as _;
            let rest = rest.tap_io(|stream| {
                let _ = stream.set_nodelay(true);
            });
            let served = axum::serve(rest, app).with_graceful_shutdown(shutdown).await;
            sweeper.abort();
            rpc_task.abort();
            served.map_err(|source| ClusterError::Bind { endpoint: "REST endpoint", address: endpoints.rest, source })
        })?;
        tracing::info!("JobManager stopped");
        Ok(())
    }
}

pub(crate) use spate_runtime::data_plane::{same_secret, token_accepted};

/// Declares TaskManagers lost when their heartbeats stopped, and forgets finished jobs
/// after `jobstore.expiration-time`.
async fn sweep(shared: Arc<Shared>, interval: Duration) {
    let period = interval.clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        let lost = shared.resources().expire(Instant::now());
        for (entry, reason) in lost {
            let r = &entry.registration;
            tracing::warn!(taskmanager = %r.id, "TaskManager {} at {} lost: {reason}", r.id, r.host);
            dispatcher::taskmanager_lost(&shared, &r.id, entry.allocations.keys().cloned(), &reason.to_string());
        }
        dispatcher::expire_finished(&shared, dispatcher::now_ms());
    }
}

/// Whether `host` (a name or an address without a port) is this machine's loopback.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_loopback(addr: &str) -> bool {
    match addr.parse::<SocketAddr>() {
        Ok(a) => a.ip().is_loopback(),
        Err(_) => addr.starts_with("localhost:"),
    }
}
