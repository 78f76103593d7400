//! The keys of the cluster's processes — JobManager, TaskManagers, REST, heartbeats,
//! scheduling — in Flink's names and with Flink's defaults, except where binding is
//! concerned: Spate binds to 127.0.0.1 unless told otherwise (DESIGN.md section 9).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::InvalidValue;
use super::duration::{format_duration, parse_duration};
use super::options::{ConfigOption, parse_positive, show};

fn parse_text(raw: &str) -> Result<String, InvalidValue> {
    if raw.is_empty() { Err("expected a non-empty value".into()) } else { Ok(raw.to_string()) }
}

fn parse_port(raw: &str) -> Result<u16, InvalidValue> {
    raw.parse::<u16>().map_err(|_| "expected a port number in 0..=65535 (0: any free port)".into())
}

pub(crate) fn parse_bytes(raw: &str) -> Result<u64, InvalidValue> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let n: u64 = digits.parse().map_err(|_| InvalidValue::from("expected a size such as 104857600, 100mb or 1gb"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err("expected a size such as 104857600, 100mb or 1gb".into()),
    };
    n.checked_mul(factor).ok_or_else(|| "the size is too large".into())
}

/// A port, or a range of ports to try in order (`50100-50200`), as Flink's port keys take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    /// First port (0: any free port).
    pub first: u16,
    /// Last port, inclusive.
    pub last: u16,
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last { write!(f, "{}", self.first) } else { write!(f, "{}-{}", self.first, self.last) }
    }
}

fn parse_port_range(raw: &str) -> Result<PortRange, InvalidValue> {
    let bad = || InvalidValue::from("expected a port (0: any free port) or a range such as 50100-50200");
    match raw.split_once('-') {
        None => parse_port(raw).map(|p| PortRange { first: p, last: p }).map_err(|_| bad()),
        Some((a, b)) => {
            let (first, last) =
                (a.trim().parse::<u16>().map_err(|_| bad())?, b.trim().parse::<u16>().map_err(|_| bad())?);
            if first == 0 || first > last { Err(bad()) } else { Ok(PortRange { first, last }) }
        }
    }
}

/// How slots are chosen among TaskManagers (`taskmanager.load-balance.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadBalanceMode {
    /// Fill one TaskManager before the next (Flink's default).
    None,
    /// Spread slots evenly over the TaskManagers.
    Slots,
    /// Spread tasks evenly over the TaskManagers (with one slot-sharing group, the
    /// same as `Slots`).
    Tasks,
}

fn parse_load_balance(raw: &str) -> Result<LoadBalanceMode, InvalidValue> {
    match raw.to_ascii_uppercase().as_str() {
        "NONE" => Ok(LoadBalanceMode::None),
        "SLOTS" => Ok(LoadBalanceMode::Slots),
        "TASKS" => Ok(LoadBalanceMode::Tasks),
        _ => Err("expected NONE, SLOTS or TASKS".into()),
    }
}

fn parse_positive_duration(raw: &str) -> Result<Duration, InvalidValue> {
    match parse_duration(raw)? {
        d if d.is_zero() => Err("expected a duration above zero (examples: 500 ms, 10 s)".into()),
        d => Ok(d),
    }
}

fn show_duration(d: &Duration) -> String {
    format_duration(*d)
}

/// `jobmanager.rpc.address`: where TaskManagers and clients find the JobManager.
pub const JOBMANAGER_RPC_ADDRESS: ConfigOption<String> = ConfigOption::new(
    "jobmanager.rpc.address",
    "Host name or address of the JobManager, as TaskManagers reach it.",
    parse_text,
    || "localhost".into(),
    Clone::clone,
);

/// `jobmanager.rpc.port`.
pub const JOBMANAGER_RPC_PORT: ConfigOption<u16> = ConfigOption::new(
    "jobmanager.rpc.port",
    "Port of the JobManager's RPC endpoint (TaskManagers register there).",
    parse_port,
    || 6123,
    show,
);

/// `jobmanager.bind-host`.
pub const JOBMANAGER_BIND_HOST: ConfigOption<String> = ConfigOption::new(
    "jobmanager.bind-host",
    "Address the JobManager's RPC endpoint binds to. Default 127.0.0.1 (Flink: all \
     interfaces): set it, and security.auth.token, to accept TaskManagers of other hosts.",
    parse_text,
    || "127.0.0.1".into(),
    Clone::clone,
);

/// `rest.address`: where clients find the REST endpoint.
pub const REST_ADDRESS: ConfigOption<String> = ConfigOption::new(
    "rest.address",
    "Host name or address clients use to reach the REST endpoint. Default: \
     jobmanager.rpc.address.",
    parse_text,
    || "localhost".into(),
    Clone::clone,
);

/// `rest.port`.
pub const REST_PORT: ConfigOption<u16> =
    ConfigOption::new("rest.port", "Port of the REST endpoint (0: any free port).", parse_port, || 8081, show);

/// `rest.bind-address`.
pub const REST_BIND_ADDRESS: ConfigOption<String> = ConfigOption::new(
    "rest.bind-address",
    "Address the REST endpoint binds to. Default 127.0.0.1.",
    parse_text,
    || "127.0.0.1".into(),
    Clone::clone,
);

/// `rest.server.max-content-length`: the largest request body (uploads included).
pub const REST_MAX_CONTENT_LENGTH: ConfigOption<u64> = ConfigOption::new(
    "rest.server.max-content-length",
    "Largest request body the REST endpoint accepts, in bytes (application uploads \
     included).",
    parse_bytes,
    || 104_857_600,
    show,
);

/// `taskmanager.numberOfTaskSlots`.
pub const TASK_SLOTS: ConfigOption<u32> =
    ConfigOption::new("taskmanager.numberOfTaskSlots", "Slots each TaskManager offers.", parse_positive, || 1, show);

/// `taskmanager.host`.
pub const TASKMANAGER_HOST: ConfigOption<String> = ConfigOption::new(
    "taskmanager.host",
    "Address the TaskManager announces to the JobManager and peers. Default 127.0.0.1.",
    parse_text,
    || "127.0.0.1".into(),
    Clone::clone,
);

/// `taskmanager.bind-host`.
pub const TASKMANAGER_BIND_HOST: ConfigOption<String> = ConfigOption::new(
    "taskmanager.bind-host",
    "Address the TaskManager's endpoints bind to. Default 127.0.0.1.",
    parse_text,
    || "127.0.0.1".into(),
    Clone::clone,
);

/// `taskmanager.rpc.port`.
pub const TASKMANAGER_RPC_PORT: ConfigOption<PortRange> = ConfigOption::new(
    "taskmanager.rpc.port",
    "Port or range of the TaskManager's RPC endpoint. 0: any free port, so that several \
     TaskManagers share a host.",
    parse_port_range,
    || PortRange { first: 0, last: 0 },
    show,
);

/// `taskmanager.data.port`.
pub const TASKMANAGER_DATA_PORT: ConfigOption<PortRange> = ConfigOption::new(
    "taskmanager.data.port",
    "Port or range the TaskManager's workers listen on for the data plane. 0: any free \
     port.",
    parse_port_range,
    || PortRange { first: 0, last: 0 },
    show,
);

/// `taskmanager.memory.segment-size`: the size of one network buffer, which is also
/// what one credit of the data plane stands for.
pub const SEGMENT_SIZE: ConfigOption<u64> = ConfigOption::new(
    "taskmanager.memory.segment-size",
    "Size of one network buffer between workers (one credit of flow control). Default \
     32kb.",
    parse_segment_size,
    || 32 << 10,
    show,
);

fn parse_segment_size(raw: &str) -> Result<u64, InvalidValue> {
    let n = parse_bytes(raw)?;
    if (256..=(64 << 20)).contains(&n) { Ok(n) } else { Err("expected a size between 256b and 64mb".into()) }
}

/// `taskmanager.registration.timeout`.
pub const REGISTRATION_TIMEOUT: ConfigOption<Duration> = ConfigOption::new(
    "taskmanager.registration.timeout",
    "How long a TaskManager keeps trying to reach and register with the JobManager \
     before it gives up and exits.",
    parse_positive_duration,
    || Duration::from_secs(300),
    show_duration,
);

/// `heartbeat.interval`.
pub const HEARTBEAT_INTERVAL: ConfigOption<Duration> = ConfigOption::new(
    "heartbeat.interval",
    "Time between heartbeats of a TaskManager to the JobManager.",
    parse_positive_duration,
    || Duration::from_secs(10),
    show_duration,
);

/// `heartbeat.timeout`.
pub const HEARTBEAT_TIMEOUT: ConfigOption<Duration> = ConfigOption::new(
    "heartbeat.timeout",
    "Time without a heartbeat after which a TaskManager is declared lost (a closed \
     connection is noticed at once).",
    parse_positive_duration,
    || Duration::from_secs(50),
    show_duration,
);

/// `slot.request.timeout`.
pub const SLOT_REQUEST_TIMEOUT: ConfigOption<Duration> = ConfigOption::new(
    "slot.request.timeout",
    "How long a job waits for enough free slots before it fails.",
    parse_duration,
    || Duration::from_secs(300),
    show_duration,
);

/// `taskmanager.load-balance.mode`.
pub const LOAD_BALANCE_MODE: ConfigOption<LoadBalanceMode> = ConfigOption::new(
    "taskmanager.load-balance.mode",
    "NONE (fill one TaskManager first), SLOTS or TASKS (spread evenly).",
    parse_load_balance,
    || LoadBalanceMode::None,
    |m| format!("{m:?}").to_ascii_uppercase(),
);

/// `cluster.evenly-spread-out-slots`: Flink's deprecated switch for spreading slots.
pub const EVENLY_SPREAD_OUT_SLOTS: ConfigOption<bool> = ConfigOption::new(
    "cluster.evenly-spread-out-slots",
    "Deprecated: true means taskmanager.load-balance.mode: SLOTS.",
    super::options::parse_bool,
    || false,
    show,
);

/// `jobstore.expiration-time`.
pub const JOBSTORE_EXPIRATION: ConfigOption<Duration> = ConfigOption::new(
    "jobstore.expiration-time",
    "How long finished jobs stay listed.",
    parse_duration,
    || Duration::from_secs(3600),
    show_duration,
);

/// `high-availability.type`.
pub const HA_TYPE: ConfigOption<HighAvailability> = ConfigOption::new(
    "high-availability.type",
    "NONE, or filesystem: the JobManager keeps its jobs in high-availability.storageDir and a JobManager \
     started again on it recovers them from their latest checkpoints.",
    parse_high_availability,
    || HighAvailability::None,
    |v| match v {
        HighAvailability::None => "NONE".into(),
        HighAvailability::Filesystem => "filesystem".into(),
    },
);

/// How the JobManager keeps its jobs across a restart (`high-availability.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HighAvailability {
    /// Not at all: a JobManager that stops loses its jobs.
    None,
    /// In a directory (`high-availability.storageDir`).
    Filesystem,
}

fn parse_high_availability(raw: &str) -> Result<HighAvailability, InvalidValue> {
    match raw.to_ascii_lowercase().as_str() {
        "none" => Ok(HighAvailability::None),
        "filesystem" => Ok(HighAvailability::Filesystem),
        "zookeeper" | "kubernetes" => Err(format!(
            "{raw} is not supported yet: use filesystem (one JobManager, its jobs recovered when it is started \
             again)"
        )
        .into()),
        _ => Err("expected NONE or filesystem".into()),
    }
}

/// `high-availability.storageDir`.
pub const HA_STORAGE_DIR: ConfigOption<Option<String>> = ConfigOption::new(
    "high-availability.storageDir",
    "Where the JobManager keeps its jobs with high-availability.type: filesystem (a path or file:// URL).",
    |raw| parse_text(raw).map(|v| Some(v.strip_prefix("file://").unwrap_or(&v).to_string())),
    || None,
    |v| v.clone().unwrap_or_default(),
);

/// `high-availability.cluster-id`.
pub const HA_CLUSTER_ID: ConfigOption<String> = ConfigOption::new(
    "high-availability.cluster-id",
    "The cluster's name within high-availability.storageDir: clusters sharing the directory keep apart.",
    parse_text,
    || "/default".into(),
    Clone::clone,
);

/// `task.cancellation.timeout`.
pub const TASK_CANCELLATION_TIMEOUT: ConfigOption<Duration> = ConfigOption::new(
    "task.cancellation.timeout",
    "How long a cancelled worker gets to stop on its own (two-phase-commit sinks abort) \
     before its process group is killed. 0: never killed.",
    parse_duration,
    || Duration::from_secs(180),
    show_duration,
);

/// `blob.storage.directory`: where the JobManager keeps uploaded applications.
pub const BLOB_STORAGE_DIRECTORY: ConfigOption<Option<String>> = ConfigOption::new(
    "blob.storage.directory",
    "Directory of the JobManager's artifact store (applications, by SHA-256). Default: \
     spate-USER-artifacts in the system's temporary directory.",
    |raw| parse_text(raw).map(Some),
    || None,
    |v| v.clone().unwrap_or_default(),
);

/// `io.tmp.dirs`: where a TaskManager keeps its artifact cache and its jobs'
/// directories (the first of a `,`- or `:`-separated list).
pub const IO_TMP_DIRS: ConfigOption<Option<String>> = ConfigOption::new(
    "io.tmp.dirs",
    "Directories for temporary files; a TaskManager uses the first for its artifact cache \
     and its workers' directories (their output). Default: the system's temporary directory.",
    |raw| parse_text(raw).map(Some),
    || None,
    |v| v.clone().unwrap_or_default(),
);

/// `security.auth.token` (Spate's own): the shared secret of a cluster.
pub const AUTH_TOKEN: ConfigOption<Option<String>> = ConfigOption::new(
    "security.auth.token",
    "A shared secret. When set, REST calls that change anything, uploads and every \
     internal connection must present it.",
    |raw| parse_text(raw).map(Some),
    || None,
    |v| if v.is_some() { "******".into() } else { String::new() },
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_ranges_sizes_and_modes_parse_or_say_what_they_expect() {
        assert_eq!(parse_port_range("0").unwrap(), PortRange { first: 0, last: 0 });
        assert_eq!(parse_port_range("50100-50200").unwrap(), PortRange { first: 50100, last: 50200 });
        assert!(parse_port_range("50200-50100").is_err());
        assert!(parse_port_range("70000").unwrap_err().expected().contains("port"));
        assert_eq!(parse_bytes("100mb").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("104857600").unwrap(), 104_857_600);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_load_balance("slots").unwrap(), LoadBalanceMode::Slots);
        assert!(parse_load_balance("round-robin").is_err());
        assert_eq!(AUTH_TOKEN.format(&Some("secret".into())), "******", "a secret is never shown");
    }
}
