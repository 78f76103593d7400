//! The control plane's RPC services and their wire types. A TaskManager calls the
//! JobManager's [`ResourceManager`]: it registers its slots, then heartbeats; the
//! connection it registered on is watched, so a TaskManager that dies is noticed
//! when its connection breaks, not only after `heartbeat.timeout`.

use serde::{Deserialize, Serialize};

/// What a TaskManager tells the JobManager when it registers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Registration {
    /// Its id, `host:pid-xxxxxx` (Flink: `host:rpc-port-xxxxxx`); stable for the
    /// process's life, so a TaskManager that registers again is recognized.
    pub id: String,
    /// The address it announces (`taskmanager.host`).
    pub host: String,
    /// Slots it offers (`taskmanager.numberOfTaskSlots`).
    pub slots: u32,
    /// Its hardware, for `/taskmanagers`.
    pub hardware: Hardware,
    /// Its Spate version: the JobManager refuses another.
    pub version: String,
    /// The shared secret (`security.auth.token`), if it has one.
    pub token: Option<String>,
}

/// A TaskManager's machine.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hardware {
    /// CPU cores available to it.
    pub cpu_cores: u32,
    /// Physical memory, in bytes.
    pub physical_memory: u64,
    /// Free memory when it last reported, in bytes.
    pub free_memory: u64,
}

/// Why the JobManager refused a call.
#[derive(Clone, Debug, Serialize, Deserialize, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    /// The shared secret is missing or wrong.
    #[error("wrong or missing security.auth.token")]
    Unauthorized,
    /// The versions differ.
    #[error("version {theirs} cannot join a cluster of version {ours}")]
    Version {
        /// The caller's.
        theirs: String,
        /// The JobManager's.
        ours: String,
    },
    /// A heartbeat from a TaskManager that is not registered (it was declared lost):
    /// it must register again.
    #[error("TaskManager {0} is not registered")]
    UnknownTaskManager(String),
}

/// The JobManager's resource manager, as TaskManagers call it.
#[tarpc::service]
pub trait ResourceManager {
    /// Registers a TaskManager and its slots; returns the JobManager's heartbeat
    /// interval, which the TaskManager then keeps.
    async fn register(registration: Registration) -> Result<std::time::Duration, Refusal>;
    /// A TaskManager is alive; `hardware` is its latest view of its machine.
    async fn heartbeat(id: String, hardware: Hardware) -> Result<(), Refusal>;
}
