//! The keys of checkpointing, restarts, savepoints and the state backend, in Flink's
//! names and with Flink's defaults (where Spate differs, the description says so), and
//! with Flink's deprecated spellings where Flink has them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::InvalidValue;
use super::duration::{format_duration, parse_duration};
use super::options::{ConfigOption, parse_bool, parse_positive, show};

/// Whether tasks align barriers (`execution.checkpointing.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckpointingMode {
    /// Tasks hold inputs that delivered a barrier until all have: every record is
    /// reflected in the state exactly once.
    ExactlyOnce,
    /// Tasks do not hold inputs back: after a restore some records may be reflected
    /// twice, but barriers never wait.
    AtLeastOnce,
}

/// What happens to retained checkpoints when a job ends without finishing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckpointRetention {
    /// Keep them when the job is cancelled or fails: they restore like savepoints.
    RetainOnCancellation,
    /// Delete them when the job is cancelled (keep them when it fails).
    DeleteOnCancellation,
    /// Delete them whenever the job ends.
    NoExternalizedCheckpoints,
}

/// `restart-strategy.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartStrategyType {
    /// Fail the job on the first failure.
    None,
    /// A fixed number of attempts with a fixed delay.
    FixedDelay,
    /// Restart unless too many failures happened within an interval.
    FailureRate,
    /// Delays that grow with each failure and reset after a quiet period.
    ExponentialDelay,
}

/// Where keyed state lives while a job runs (`state.backend.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StateBackendType {
    /// On the heap, in hash maps (Flink's `hashmap`): Spate's only backend so far.
    HashMap,
}

fn parse_state_backend(raw: &str) -> Result<StateBackendType, InvalidValue> {
    match raw.to_ascii_lowercase().as_str() {
        // `jobmanager` and `filesystem` are Flink 1.x's older names of heap backends
        // (they differed only in where checkpoints went, which Spate sets with
        // execution.checkpointing.dir).
        "hashmap" | "jobmanager" | "filesystem" => Ok(StateBackendType::HashMap),
        "rocksdb" => Err("Spate has no RocksDB state backend yet: keyed state is kept on the heap; use hashmap".into()),
        "forst" => Err("Spate has no ForSt state backend: keyed state is kept on the heap; use hashmap".into()),
        _ => Err("expected hashmap (Spate keeps keyed state on the heap)".into()),
    }
}

fn parse_interval(raw: &str) -> Result<Option<Duration>, InvalidValue> {
    if raw.eq_ignore_ascii_case("none") || raw.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let d = parse_duration(raw)?;
    if d < Duration::from_millis(10) {
        return Err("expected a duration of at least 10 ms, or none".into());
    }
    Ok(Some(d))
}

fn parse_mode(raw: &str) -> Result<CheckpointingMode, InvalidValue> {
    match raw.to_ascii_uppercase().replace('-', "_").as_str() {
        "EXACTLY_ONCE" => Ok(CheckpointingMode::ExactlyOnce),
        "AT_LEAST_ONCE" => Ok(CheckpointingMode::AtLeastOnce),
        _ => Err("expected EXACTLY_ONCE or AT_LEAST_ONCE".into()),
    }
}

fn parse_retention(raw: &str) -> Result<CheckpointRetention, InvalidValue> {
    match raw.to_ascii_uppercase().replace('-', "_").as_str() {
        "RETAIN_ON_CANCELLATION" => Ok(CheckpointRetention::RetainOnCancellation),
        "DELETE_ON_CANCELLATION" => Ok(CheckpointRetention::DeleteOnCancellation),
        "NO_EXTERNALIZED_CHECKPOINTS" => Ok(CheckpointRetention::NoExternalizedCheckpoints),
        _ => Err("expected RETAIN_ON_CANCELLATION, DELETE_ON_CANCELLATION or NO_EXTERNALIZED_CHECKPOINTS".into()),
    }
}

fn parse_strategy(raw: &str) -> Result<Option<RestartStrategyType>, InvalidValue> {
    match raw.to_ascii_lowercase().as_str() {
        "none" | "off" | "disable" => Ok(Some(RestartStrategyType::None)),
        "fixed-delay" | "fixeddelay" => Ok(Some(RestartStrategyType::FixedDelay)),
        "failure-rate" | "failurerate" => Ok(Some(RestartStrategyType::FailureRate)),
        "exponential-delay" | "exponentialdelay" => Ok(Some(RestartStrategyType::ExponentialDelay)),
        _ => Err("expected none, fixed-delay, failure-rate or exponential-delay".into()),
    }
}

fn parse_count(raw: &str) -> Result<u32, InvalidValue> {
    raw.parse::<u32>().map_err(|_| "expected a non-negative integer".into())
}

fn parse_factor(min: f64, max: f64) -> impl Fn(&str) -> Result<f64, InvalidValue> {
    move |raw| match raw.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= min && f <= max => Ok(f),
        _ => Err(format!("expected a number in {min}..={max}").into()),
    }
}

/// Whether a checkpoint or savepoint location names a place independently of a working
/// directory: a URL, Flink's `file:/dir`, or an absolute path.
pub fn is_absolute_location(location: &str) -> bool {
    location.contains("://") || location.strip_prefix("file:").unwrap_or(location).starts_with('/')
}

fn parse_path(raw: &str) -> Result<Option<String>, InvalidValue> {
    if raw.is_empty() {
        return Err("expected a path".into());
    }
    // `file:///dir`, or Flink's `file:/dir` as savepoint paths are printed.
    Ok(Some(raw.strip_prefix("file://").or_else(|| raw.strip_prefix("file:")).unwrap_or(raw).to_string()))
}

fn duration(d: &Duration) -> String {
    format_duration(*d)
}

fn upper(v: &impl std::fmt::Debug) -> String {
    let name = format!("{v:?}");
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// `execution.checkpointing.interval`: how often checkpoints are triggered.
pub const CHECKPOINTING_INTERVAL: ConfigOption<Option<Duration>> = ConfigOption::new(
    "execution.checkpointing.interval",
    "Time between checkpoints (at least 10 ms). none: checkpointing is off.",
    parse_interval,
    || None,
    |v| v.map_or("none".into(), format_duration),
);

/// `execution.checkpointing.mode`.
pub const CHECKPOINTING_MODE: ConfigOption<CheckpointingMode> = ConfigOption::new(
    "execution.checkpointing.mode",
    "EXACTLY_ONCE (tasks align barriers) or AT_LEAST_ONCE (no alignment; records may be \
     reflected twice after a restore).",
    parse_mode,
    || CheckpointingMode::ExactlyOnce,
    upper,
);

/// `execution.checkpointing.timeout`.
pub const CHECKPOINTING_TIMEOUT: ConfigOption<Duration> = ConfigOption::new(
    "execution.checkpointing.timeout",
    "A checkpoint not complete after this long is aborted and its files removed.",
    |raw| {
        parse_duration(raw).and_then(|d| if d.is_zero() { Err("expected a positive duration".into()) } else { Ok(d) })
    },
    || Duration::from_secs(600),
    duration,
);

/// `execution.checkpointing.min-pause`.
pub const CHECKPOINTING_MIN_PAUSE: ConfigOption<Duration> = ConfigOption::new(
    "execution.checkpointing.min-pause",
    "Least time between the end of one checkpoint and the start of the next.",
    parse_duration,
    || Duration::ZERO,
    duration,
);

/// `execution.checkpointing.max-concurrent-checkpoints`.
pub const CHECKPOINTING_MAX_CONCURRENT: ConfigOption<u32> = ConfigOption::new(
    "execution.checkpointing.max-concurrent-checkpoints",
    "Checkpoints that may be in progress at once.",
    parse_positive,
    || 1,
    show,
);

/// `execution.checkpointing.num-retained`.
pub const CHECKPOINTING_NUM_RETAINED: ConfigOption<u32> = ConfigOption::new(
    "execution.checkpointing.num-retained",
    "Completed checkpoints kept; older ones are deleted.",
    parse_positive,
    || 1,
    show,
)
.with_deprecated_keys(&["state.checkpoints.num-retained"]);

/// `execution.checkpointing.tolerable-failed-checkpoints`: how many failed checkpoints
/// in a row a job survives before it fails over, so that a job whose checkpoints keep
/// failing (and whose restore point grows ever older) does not go unnoticed.
pub const CHECKPOINTING_TOLERABLE_FAILURES: ConfigOption<u32> = ConfigOption::new(
    "execution.checkpointing.tolerable-failed-checkpoints",
    "Failed checkpoints in a row that are tolerated; one more fails the job over. 0: no \
     failed checkpoint is tolerated (Flink's default).",
    parse_count,
    || 0,
    show,
);

/// `execution.checkpointing.dir`.
pub const CHECKPOINTING_DIR: ConfigOption<Option<String>> = ConfigOption::new(
    "execution.checkpointing.dir",
    "Directory of checkpoints (DIR/JOB_ID/chk-N). Unset: checkpoints are kept in memory and \
     only serve restarts within the process (Flink's JobManager storage).",
    parse_path,
    || None,
    |v| v.clone().unwrap_or_default(),
)
.with_deprecated_keys(&["state.checkpoints.dir", "state.backend.fs.checkpointdir"]);

/// `execution.checkpointing.externalized-checkpoint-retention`.
pub const CHECKPOINTING_RETENTION: ConfigOption<CheckpointRetention> = ConfigOption::new(
    "execution.checkpointing.externalized-checkpoint-retention",
    "RETAIN_ON_CANCELLATION, DELETE_ON_CANCELLATION or NO_EXTERNALIZED_CHECKPOINTS: whether \
     checkpoints stay after the job is cancelled or fails. A finished job deletes them.",
    parse_retention,
    || CheckpointRetention::RetainOnCancellation,
    upper,
);

/// `execution.savepoint.path`.
pub const SAVEPOINT_PATH: ConfigOption<Option<String>> = ConfigOption::new(
    "execution.savepoint.path",
    "Savepoint or retained checkpoint (the directory holding _metadata) to start the job from.",
    parse_path,
    || None,
    |v| v.clone().unwrap_or_default(),
);

/// `execution.checkpointing.savepoint-dir`.
pub const SAVEPOINT_DIR: ConfigOption<Option<String>> = ConfigOption::new(
    "execution.checkpointing.savepoint-dir",
    "Where savepoints go when a request names no directory (spate savepoint, spate stop, REST).",
    parse_path,
    || None,
    |v| v.clone().unwrap_or_default(),
);

/// `execution.state-recovery.claim-mode`.
pub const CLAIM_MODE: ConfigOption<ClaimMode> = ConfigOption::new(
    "execution.state-recovery.claim-mode",
    "NO_CLAIM or CLAIM: whether the job owns the savepoint it starts from. Spate never changes or deletes \
     the savepoint it restores, so both leave it as it is (CLAIM allows Flink to delete it later).",
    parse_claim_mode,
    || ClaimMode::NoClaim,
    upper,
);

/// Who owns the savepoint a job starts from (`-cm` of `spate run`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimMode {
    /// The user keeps it.
    NoClaim,
    /// The job takes it over.
    Claim,
}

fn parse_claim_mode(raw: &str) -> Result<ClaimMode, InvalidValue> {
    match raw.to_ascii_uppercase().replace('-', "_").as_str() {
        "NO_CLAIM" => Ok(ClaimMode::NoClaim),
        "CLAIM" => Ok(ClaimMode::Claim),
        _ => Err("expected NO_CLAIM or CLAIM".into()),
    }
}

/// `execution.savepoint.ignore-unclaimed-state`.
pub const SAVEPOINT_IGNORE_UNCLAIMED: ConfigOption<bool> = ConfigOption::new(
    "execution.savepoint.ignore-unclaimed-state",
    "Allow a savepoint to hold state of operators that are not in the job (it is dropped).",
    parse_bool,
    || false,
    show,
);

/// `restart-strategy.type`.
pub const RESTART_STRATEGY: ConfigOption<Option<RestartStrategyType>> = ConfigOption::new(
    "restart-strategy.type",
    "none, fixed-delay, failure-rate or exponential-delay. Unset: exponential-delay when \
     checkpointing is on, none otherwise (Flink's defaults).",
    parse_strategy,
    || None,
    |v| v.map_or(String::new(), |t| upper(&t).to_ascii_lowercase().replace('_', "-")),
)
.with_deprecated_keys(&["restart-strategy"]);

/// `state.backend.type`: known so that Flink config files that name the heap backend
/// (`state.backend: hashmap`, or the older `filesystem`) start, and one that asks for
/// RocksDB fails with a clear error instead of silently running on the heap.
pub const STATE_BACKEND: ConfigOption<StateBackendType> = ConfigOption::new(
    "state.backend.type",
    "Where keyed state lives: hashmap (on the heap; Flink's older names jobmanager and \
     filesystem mean the same here). Spate has no RocksDB backend yet.",
    parse_state_backend,
    || StateBackendType::HashMap,
    |v| match v {
        StateBackendType::HashMap => "hashmap".into(),
    },
)
.with_deprecated_keys(&["state.backend"]);

/// `restart-strategy.fixed-delay.attempts`.
pub const FIXED_DELAY_ATTEMPTS: ConfigOption<u32> = ConfigOption::new(
    "restart-strategy.fixed-delay.attempts",
    "Restarts before the job fails.",
    parse_count,
    || 1,
    show,
);

/// `restart-strategy.fixed-delay.delay`.
pub const FIXED_DELAY_DELAY: ConfigOption<Duration> = ConfigOption::new(
    "restart-strategy.fixed-delay.delay",
    "Time between a failure and the restart.",
    parse_duration,
    || Duration::from_secs(1),
    duration,
);

/// `restart-strategy.failure-rate.max-failures-per-interval`.
pub const FAILURE_RATE_MAX_FAILURES: ConfigOption<u32> = ConfigOption::new(
    "restart-strategy.failure-rate.max-failures-per-interval",
    "Failures within the interval that make the job fail.",
    parse_positive,
    || 1,
    show,
);

/// `restart-strategy.failure-rate.failure-rate-interval`.
pub const FAILURE_RATE_INTERVAL: ConfigOption<Duration> = ConfigOption::new(
    "restart-strategy.failure-rate.failure-rate-interval",
    "The window in which failures are counted.",
    parse_duration,
    || Duration::from_secs(60),
    duration,
);

/// `restart-strategy.failure-rate.delay`.
pub const FAILURE_RATE_DELAY: ConfigOption<Duration> = ConfigOption::new(
    "restart-strategy.failure-rate.delay",
    "Time between a failure and the restart.",
    parse_duration,
    || Duration::from_secs(1),
    duration,
);

/// `restart-strategy.exponential-delay.initial-backoff`.
pub const EXPONENTIAL_INITIAL: ConfigOption<Duration> = ConfigOption::new(
    "restart-strategy.exponential-delay.initial-backoff",
    "Delay before the first restart.",
    parse_duration,
    || Duration::from_secs(1),
    duration,
);

/// `restart-strategy.exponential-delay.max-backoff`.
pub const EXPONENTIAL_MAX: ConfigOption<Duration> = ConfigOption::new(
    "restart-strategy.exponential-delay.max-backoff",
    "Upper bound of the delay.",
    parse_duration,
    || Duration::from_secs(60),
    duration,
);

/// `restart-strategy.exponential-delay.backoff-multiplier`.
pub const EXPONENTIAL_MULTIPLIER: ConfigOption<f64> = ConfigOption::new(
    "restart-strategy.exponential-delay.backoff-multiplier",
    "Factor by which the delay grows after each failure (at least 1).",
    |raw| parse_factor(1.0, 1e6)(raw),
    || 1.5,
    show,
);

/// `restart-strategy.exponential-delay.reset-backoff-threshold`.
pub const EXPONENTIAL_RESET: ConfigOption<Duration> = ConfigOption::new(
    "restart-strategy.exponential-delay.reset-backoff-threshold",
    "A job running this long without failure starts again from the initial delay.",
    parse_duration,
    || Duration::from_secs(3600),
    duration,
);

/// `restart-strategy.exponential-delay.jitter-factor`.
pub const EXPONENTIAL_JITTER: ConfigOption<f64> = ConfigOption::new(
    "restart-strategy.exponential-delay.jitter-factor",
    "Random spread of each delay, as a fraction of it (0..=1).",
    |raw| parse_factor(0.0, 1.0)(raw),
    || 0.1,
    show,
);

/// `restart-strategy.exponential-delay.attempts-before-reset-backoff`.
pub const EXPONENTIAL_ATTEMPTS: ConfigOption<Option<u32>> = ConfigOption::new(
    "restart-strategy.exponential-delay.attempts-before-reset-backoff",
    "Restarts allowed before the job fails, counted since the last reset. Unset: unlimited.",
    |raw| parse_count(raw).map(Some),
    || None,
    |v| v.map_or(String::new(), |n| n.to_string()),
);
