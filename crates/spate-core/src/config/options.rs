//! Every configuration key Spate knows, with its type, default and meaning.
//!
//! Keys use Flink's names where the concept is the same, so a Flink user's settings
//! carry over. Flink's older spellings of a key (its `withDeprecatedKeys`) are read too,
//! with Flink's warning, because config files and examples still use them (the Flink
//! training repository writes `state.checkpoints.dir`). A key not listed here is reported
//! as unknown (a warning, not an error, so that a newer config file still starts an older
//! binary).

use std::time::Duration;

use super::InvalidValue;
use super::cluster as cl;
use super::duration::{format_duration, parse_duration};
use super::fault_tolerance as ft;

/// A typed configuration key.
pub struct ConfigOption<T: 'static> {
    /// The key, e.g. `parallelism.default`.
    pub key: &'static str,
    /// What the key does (shown by `--help`-style listings and in docs).
    pub description: &'static str,
    /// Flink's older spellings of the key, read in this order when the key itself is not
    /// set (Flink's deprecated keys).
    pub deprecated_keys: &'static [&'static str],
    parse: fn(&str) -> Result<T, InvalidValue>,
    default: fn() -> T,
    display: fn(&T) -> String,
}

impl<T: 'static> ConfigOption<T> {
    /// Declares a key.
    pub const fn new(
        key: &'static str,
        description: &'static str,
        parse: fn(&str) -> Result<T, InvalidValue>,
        default: fn() -> T,
        display: fn(&T) -> String,
    ) -> Self {
        ConfigOption { key, description, deprecated_keys: &[], parse, default, display }
    }

    /// The same option, also read from Flink's deprecated spellings `keys` (first set one
    /// wins) when its own key is not set, so that an old config file keeps its meaning
    /// instead of being ignored as unknown.
    pub const fn with_deprecated_keys(self, keys: &'static [&'static str]) -> Self {
        ConfigOption { deprecated_keys: keys, ..self }
    }

    /// Parses a raw value; the error says what was expected.
    pub fn parse(&self, raw: &str) -> Result<T, InvalidValue> {
        (self.parse)(raw.trim())
    }

    /// The value when the key is not set.
    pub fn default_value(&self) -> T {
        (self.default)()
    }

    /// Formats a value the way it would be written in the config file.
    pub fn format(&self, value: &T) -> String {
        (self.display)(value)
    }
}

/// A configuration key seen without its type: what the registry of known keys holds.
pub trait AnyOption: Sync {
    /// The key.
    fn key(&self) -> &'static str;
    /// What it does.
    fn description(&self) -> &'static str;
    /// Flink's deprecated spellings of the key.
    fn deprecated_keys(&self) -> &'static [&'static str];
    /// Checks a raw value.
    fn validate(&self, raw: &str) -> Result<(), InvalidValue>;
    /// The default, formatted.
    fn default_text(&self) -> String;
}

impl<T: 'static> AnyOption for ConfigOption<T> {
    fn key(&self) -> &'static str {
        self.key
    }
    fn description(&self) -> &'static str {
        self.description
    }
    fn deprecated_keys(&self) -> &'static [&'static str] {
        self.deprecated_keys
    }
    fn validate(&self, raw: &str) -> Result<(), InvalidValue> {
        self.parse(raw).map(|_| ())
    }
    fn default_text(&self) -> String {
        self.format(&self.default_value())
    }
}

/// `execution.runtime-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeMode {
    /// Continuous processing; every keyed update is emitted.
    Streaming,
    /// Bounded inputs only; keyed aggregations emit final results at end of input.
    Batch,
    /// BATCH when every source is bounded, STREAMING otherwise.
    Automatic,
}

fn parse_runtime_mode(raw: &str) -> Result<RuntimeMode, InvalidValue> {
    match raw.to_ascii_uppercase().as_str() {
        "STREAMING" => Ok(RuntimeMode::Streaming),
        "BATCH" => Ok(RuntimeMode::Batch),
        "AUTOMATIC" => Ok(RuntimeMode::Automatic),
        _ => Err("expected STREAMING, BATCH or AUTOMATIC".into()),
    }
}

pub(super) fn parse_positive(raw: &str) -> Result<u32, InvalidValue> {
    match raw.parse::<u32>() {
        Ok(0) | Err(_) => Err("expected a positive integer".into()),
        Ok(n) => Ok(n),
    }
}

fn parse_max_parallelism(raw: &str) -> Result<Option<u32>, InvalidValue> {
    if raw == "-1" {
        return Ok(None);
    }
    match raw.parse::<u32>() {
        Ok(n) if (1..=super::super::key_group::UPPER_BOUND_MAX_PARALLELISM).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "expected an integer in 1..={} (or -1 for the default)",
            super::super::key_group::UPPER_BOUND_MAX_PARALLELISM
        )
        .into()),
    }
}

pub(super) fn parse_bool(raw: &str) -> Result<bool, InvalidValue> {
    match raw.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn available_cores() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
}

pub(super) fn show<T: ToString>(v: &T) -> String {
    v.to_string()
}

/// `parallelism.default`: subtasks per operator unless set otherwise.
pub const PARALLELISM_DEFAULT: ConfigOption<u32> = ConfigOption::new(
    "parallelism.default",
    "Default parallelism of operators. Default: the number of CPU cores.",
    parse_positive,
    available_cores,
    show,
);

/// `pipeline.max-parallelism`: number of key groups (the upper limit for rescaling).
pub const MAX_PARALLELISM: ConfigOption<Option<u32>> = ConfigOption::new(
    "pipeline.max-parallelism",
    "Number of key groups, the upper bound for rescaling keyed state. -1: 128, or more for \
     parallelism above 85 (Flink's rule).",
    parse_max_parallelism,
    || None,
    |v| v.map_or("-1".to_string(), |n| n.to_string()),
);

/// `execution.runtime-mode`.
pub const RUNTIME_MODE: ConfigOption<RuntimeMode> = ConfigOption::new(
    "execution.runtime-mode",
    "STREAMING, BATCH (bounded inputs, final results only) or AUTOMATIC.",
    parse_runtime_mode,
    || RuntimeMode::Streaming,
    |v| format!("{v:?}").to_ascii_uppercase(),
);

/// `execution.buffer-timeout.enabled`.
pub const BUFFER_TIMEOUT_ENABLED: ConfigOption<bool> = ConfigOption::new(
    "execution.buffer-timeout.enabled",
    "Whether partly filled output batches are sent after execution.buffer-timeout.interval. \
     false: only full batches are sent (and all at end of input).",
    parse_bool,
    || true,
    show,
);

/// `execution.buffer-timeout.interval`.
pub const BUFFER_TIMEOUT: ConfigOption<Duration> = ConfigOption::new(
    "execution.buffer-timeout.interval",
    "Longest time a record waits in a partly filled output batch. 0: send after every \
     input batch.",
    parse_duration,
    || Duration::from_millis(5),
    |d| format_duration(*d),
)
.with_deprecated_keys(&["execution.buffer-timeout"]);

/// `pipeline.operator-chaining.enabled`.
pub const OPERATOR_CHAINING: ConfigOption<bool> = ConfigOption::new(
    "pipeline.operator-chaining.enabled",
    "Fuse operators connected by forward edges of equal parallelism into one task.",
    parse_bool,
    || true,
    show,
)
.with_deprecated_keys(&["pipeline.operator-chaining"]);

/// `execution.records-per-batch` (Spate's own): records per batch on the data path.
pub const RECORDS_PER_BATCH: ConfigOption<u32> = ConfigOption::new(
    "execution.records-per-batch",
    "Records per batch between tasks (the unit of channel transfer and of backpressure).",
    parse_positive,
    || 1024,
    show,
);

/// `collect-sink.batch-size.max` (Flink's): how much of an `execute_and_collect` job's
/// results its sink holds until the program reads them, which is also the most one
/// page of results carries.
pub const COLLECT_BATCH_SIZE_MAX: ConfigOption<u64> = ConfigOption::new(
    "collect-sink.batch-size.max",
    "The most results (in bytes, encoded) the collect sink of execute_and_collect holds \
     until the program reads them; the sink waits while it holds that much. Default 2mb.",
    parse_collect_batch_size,
    || 2 << 20,
    show,
);

fn parse_collect_batch_size(raw: &str) -> Result<u64, InvalidValue> {
    let n = cl::parse_bytes(raw)?;
    if (1024..=(32 << 20)).contains(&n) { Ok(n) } else { Err("expected a size between 1kb and 32mb".into()) }
}

/// `taskmanager.network.memory.buffers-per-channel`: batches in flight per channel.
pub const BUFFERS_PER_CHANNEL: ConfigOption<u32> = ConfigOption::new(
    "taskmanager.network.memory.buffers-per-channel",
    "Batches that may be queued on one channel before the sender waits (backpressure).",
    parse_positive,
    || 4,
    show,
);

/// `pipeline.auto-watermark-interval`.
pub const AUTO_WATERMARK_INTERVAL: ConfigOption<Duration> = ConfigOption::new(
    "pipeline.auto-watermark-interval",
    "How often periodic watermark generators emit. 0 disables periodic watermarks.",
    parse_duration,
    || Duration::from_millis(200),
    |d| format_duration(*d),
);

/// Every key Spate knows.
pub static ALL_OPTIONS: &[&dyn AnyOption] = &[
    &PARALLELISM_DEFAULT,
    &MAX_PARALLELISM,
    &RUNTIME_MODE,
    &BUFFER_TIMEOUT_ENABLED,
    &BUFFER_TIMEOUT,
    &OPERATOR_CHAINING,
    &RECORDS_PER_BATCH,
    &BUFFERS_PER_CHANNEL,
    &COLLECT_BATCH_SIZE_MAX,
    &AUTO_WATERMARK_INTERVAL,
    &ft::CHECKPOINTING_INTERVAL,
    &ft::CHECKPOINTING_MODE,
    &ft::CHECKPOINTING_TIMEOUT,
    &ft::CHECKPOINTING_MIN_PAUSE,
    &ft::CHECKPOINTING_MAX_CONCURRENT,
    &ft::CHECKPOINTING_NUM_RETAINED,
    &ft::CHECKPOINTING_TOLERABLE_FAILURES,
    &ft::CHECKPOINTING_DIR,
    &ft::CHECKPOINTING_RETENTION,
    &ft::SAVEPOINT_PATH,
    &ft::SAVEPOINT_IGNORE_UNCLAIMED,
    &ft::SAVEPOINT_DIR,
    &ft::CLAIM_MODE,
    &ft::STATE_BACKEND,
    &ft::RESTART_STRATEGY,
    &ft::FIXED_DELAY_ATTEMPTS,
    &ft::FIXED_DELAY_DELAY,
    &ft::FAILURE_RATE_MAX_FAILURES,
    &ft::FAILURE_RATE_INTERVAL,
    &ft::FAILURE_RATE_DELAY,
    &ft::EXPONENTIAL_INITIAL,
    &ft::EXPONENTIAL_MAX,
    &ft::EXPONENTIAL_MULTIPLIER,
    &ft::EXPONENTIAL_RESET,
    &ft::EXPONENTIAL_JITTER,
    &ft::EXPONENTIAL_ATTEMPTS,
    &cl::JOBMANAGER_RPC_ADDRESS,
    &cl::JOBMANAGER_RPC_PORT,
    &cl::JOBMANAGER_BIND_HOST,
    &cl::REST_ADDRESS,
    &cl::REST_PORT,
    &cl::REST_BIND_ADDRESS,
    &cl::REST_MAX_CONTENT_LENGTH,
    &cl::TASK_SLOTS,
    &cl::TASKMANAGER_HOST,
    &cl::TASKMANAGER_BIND_HOST,
    &cl::TASKMANAGER_RPC_PORT,
    &cl::TASKMANAGER_DATA_PORT,
    &cl::SEGMENT_SIZE,
    &cl::REGISTRATION_TIMEOUT,
    &cl::HEARTBEAT_INTERVAL,
    &cl::HEARTBEAT_TIMEOUT,
    &cl::SLOT_REQUEST_TIMEOUT,
    &cl::LOAD_BALANCE_MODE,
    &cl::EVENLY_SPREAD_OUT_SLOTS,
    &cl::JOBSTORE_EXPIRATION,
    &cl::HA_TYPE,
    &cl::HA_STORAGE_DIR,
    &cl::HA_CLUSTER_ID,
    &cl::TASK_CANCELLATION_TIMEOUT,
    &cl::BLOB_STORAGE_DIRECTORY,
    &cl::IO_TMP_DIRS,
    &cl::AUTH_TOKEN,
];

/// The registered option with this key, as its own key or as one of its deprecated
/// spellings.
pub fn find(key: &str) -> Option<&'static dyn AnyOption> {
    ALL_OPTIONS.iter().copied().find(|o| o.key() == key || o.deprecated_keys().contains(&key))
}
