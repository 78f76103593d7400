//! Configuration: string key/value pairs from `config.yaml` and `-D key=value`, read
//! through typed [`ConfigOption`]s.
//!
//! Values are kept as strings until read so that a job's configuration can be shipped to
//! other processes as is; every known key is validated once, when the configuration is
//! assembled, so that a bad value is an error at start naming the key, not a surprise
//! in the middle of a run.

pub mod cluster;
pub mod duration;
pub mod fault_tolerance;
pub mod options;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use fault_tolerance::{CheckpointRetention, CheckpointingMode, RestartStrategyType, StateBackendType};
pub use options::{ConfigOption, RuntimeMode};

use crate::CoreError;
use crate::error::ConfigFileError;

/// Why a configuration value was refused: what was expected instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(String);

impl InvalidValue {
    /// What was expected.
    pub fn expected(&self) -> &str {
        &self.0
    }
}

impl From<String> for InvalidValue {
    fn from(expected: String) -> Self {
        InvalidValue(expected)
    }
}

impl From<&str> for InvalidValue {
    fn from(expected: &str) -> Self {
        InvalidValue(expected.to_string())
    }
}

/// The environment variable naming the directory that holds `config.yaml`.
pub const CONF_DIR_ENV: &str = "SPATE_CONF_DIR";

/// The config file's name inside the config directory.
pub const CONF_FILE_NAME: &str = "config.yaml";

/// The config file named by the value of `SPATE_CONF_DIR`: none when it is unset or empty.
fn conf_file(dir: Option<std::ffi::OsString>) -> Option<PathBuf> {
    dir.filter(|d| !d.is_empty()).map(|d| PathBuf::from(d).join(CONF_FILE_NAME))
}

/// A set of configuration values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    values: BTreeMap<String, String>,
}

impl Configuration {
    /// An empty configuration: every key at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The configuration a job was shipped with: `key: value` pairs as they travel
    /// (values are checked when read).
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut config = Self::new();
        for (key, value) in pairs {
            config.set_raw(key.clone(), value.clone());
        }
        config
    }

    /// Reads `$SPATE_CONF_DIR/config.yaml` when the variable is set (and not empty), else
    /// nothing: a launcher that exports `SPATE_CONF_DIR=` means "no config directory".
    pub fn from_env() -> Result<Self, CoreError> {
        match conf_file(std::env::var_os(CONF_DIR_ENV)) {
            Some(file) => Self::from_file(&file),
            None => Ok(Self::new()),
        }
    }

    /// Reads a config file in Flink's `config.yaml` form (see [`yaml`]); a malformed file
    /// is an error naming the file, line and column.
    pub fn from_file(path: &Path) -> Result<Self, CoreError> {
        let refused = |problem| CoreError::ConfigFile { path: path.display().to_string(), problem };
        let text = std::fs::read_to_string(path).map_err(|e| refused(ConfigFileError::Read(e)))?;
        let pairs = yaml::parse(&text).map_err(|e| refused(ConfigFileError::Yaml(e)))?;
        let mut config = Self::new();
        for (k, v) in pairs {
            config.set_raw(k, v);
        }
        Ok(config)
    }

    /// Sets a key from its text form.
    pub fn set_raw(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.values.insert(key.into(), value.into());
        self
    }

    /// Sets a typed key.
    pub fn set<T>(&mut self, option: &ConfigOption<T>, value: T) -> &mut Self {
        let text = option.format(&value);
        self.set_raw(option.key, text)
    }

    /// Applies one `key=value` (the argument of `-D`).
    pub fn apply_dynamic(&mut self, assignment: &str) -> Result<(), CoreError> {
        match assignment.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                self.set_raw(k.trim(), v.trim());
                Ok(())
            }
            _ => Err(CoreError::InvalidConfigValue {
                key: assignment.to_string(),
                value: String::new(),
                reason: "a dynamic property must be written -D key=value".into(),
            }),
        }
    }

    /// The raw text of a key, if set.
    pub fn get_raw(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Whether a key is set.
    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The typed value of a key, or its default. When the key is not set but one of its
    /// deprecated spellings is, that one is read, with Flink's warning; an invalid value
    /// is an error naming the key as written.
    pub fn get<T>(&self, option: &ConfigOption<T>) -> Result<T, CoreError> {
        match self.lookup(option.key, option.deprecated_keys) {
            Some((key, raw)) => option.parse(raw).map_err(|reason| CoreError::InvalidConfigValue {
                key: key.to_string(),
                value: raw.to_string(),
                reason,
            }),
            None => Ok(option.default_value()),
        }
    }

    /// The key that is set for an option (its own first, then its deprecated spellings in
    /// order, as Flink's `Configuration` looks them up) and its raw value.
    fn lookup<'a>(&'a self, key: &'a str, deprecated: &[&'a str]) -> Option<(&'a str, &'a str)> {
        if let Some(raw) = self.values.get(key) {
            return Some((key, raw));
        }
        let (old, raw) = deprecated.iter().find_map(|old| self.values.get(*old).map(|raw| (*old, raw)))?;
        tracing::warn!("Config uses deprecated configuration key '{old}' instead of proper key '{key}'");
        Some((old, raw))
    }

    /// Merges `other` over `self` (its values win).
    pub fn merge(&mut self, other: &Configuration) {
        for (k, v) in &other.values {
            self.values.insert(k.clone(), v.clone());
        }
    }

    /// Checks every known key's value (a deprecated spelling under its option's rules);
    /// returns the keys not known to Spate.
    pub fn validate(&self) -> Result<Vec<String>, CoreError> {
        let mut unknown = Vec::new();
        for (key, value) in &self.values {
            match options::find(key) {
                Some(option) => option.validate(value).map_err(|reason| CoreError::InvalidConfigValue {
                    key: key.clone(),
                    value: value.clone(),
                    reason: if key == option.key() {
                        reason
                    } else {
                        format!("{reason} ('{key}' is Flink's deprecated name of '{}')", option.key()).into()
                    },
                })?,
                None => unknown.push(key.clone()),
            }
        }
        Ok(unknown)
    }

    /// All values, ordered by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::options::*;
    use super::*;
    use std::time::Duration;

    use super::fault_tolerance as ft;

    #[test]
    fn typed_reads_and_defaults() {
        let mut c = Configuration::new();
        assert_eq!(c.get(&RUNTIME_MODE).unwrap(), RuntimeMode::Streaming);
        c.apply_dynamic("execution.runtime-mode=batch").unwrap();
        c.apply_dynamic("execution.buffer-timeout.interval = 20 ms").unwrap();
        assert_eq!(c.get(&RUNTIME_MODE).unwrap(), RuntimeMode::Batch);
        assert_eq!(c.get(&BUFFER_TIMEOUT).unwrap(), Duration::from_millis(20));
        c.set(&PARALLELISM_DEFAULT, 3);
        assert_eq!(c.get_raw("parallelism.default"), Some("3"));
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut c = Configuration::new();
        c.set_raw("parallelism.default", "zero");
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("parallelism.default") && err.contains("zero"), "{err}");
        c.set_raw("parallelism.default", "0");
        assert!(c.get(&PARALLELISM_DEFAULT).is_err());
        assert!(Configuration::new().apply_dynamic("novalue").is_err());
    }

    #[test]
    fn unknown_keys_are_reported_not_rejected() {
        let mut c = Configuration::new();
        c.set_raw("parallelism.defualt", "2");
        c.set_raw("parallelism.default", "2");
        assert_eq!(c.validate().unwrap(), vec!["parallelism.defualt".to_string()]);
    }

    #[test]
    fn every_default_parses_back() {
        for option in options::ALL_OPTIONS {
            let text = option.default_text();
            // An empty default means "unset" (no directory, no strategy chosen).
            if !text.is_empty() {
                option.validate(&text).unwrap_or_else(|e| panic!("{}: {e}", option.key()));
            }
        }
    }

    /// A fresh directory for one test's config file.
    fn conf_dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("spate-conf-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_a_file() {
        let dir = conf_dir("reads");
        let path = dir.join(CONF_FILE_NAME);
        std::fs::write(&path, "parallelism:\n  default: 6\n").unwrap();
        let c = Configuration::from_file(&path).unwrap();
        assert_eq!(c.get(&PARALLELISM_DEFAULT).unwrap(), 6);
        std::fs::write(&path, "parallelism default\n").unwrap();
        let err = Configuration::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("config.yaml") && err.contains("line 1"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_malformed_file_is_an_error_with_file_line_and_column() {
        let dir = conf_dir("malformed");
        let path = dir.join(CONF_FILE_NAME);
        std::fs::write(
            &path,
            "execution:\n  checkpointing:\n    interval: 1 s\nexecution.checkpointing.interval: 2 s\n",
        )
        .unwrap();
        let err = Configuration::from_file(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "configuration file {}: line 4, column 1: duplicate key 'execution.checkpointing.interval' \
                 (first set at line 3, column 5)",
                path.display()
            )
        );
        match err {
            CoreError::ConfigFile { problem: ConfigFileError::Yaml(e), .. } => {
                assert_eq!((e.at.line, e.at.column), (4, 1));
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(&path, "a: 1\nb:\n    c: 1\n  d: 2\n").unwrap();
        let err = Configuration::from_file(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("configuration file {}: line 4, column 3: invalid YAML", path.display())),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let err = Configuration::from_file(&path).unwrap_err();
        assert!(matches!(err, CoreError::ConfigFile { problem: ConfigFileError::Read(_), .. }), "{err:?}");
    }

    #[test]
    fn an_empty_conf_dir_variable_means_no_config_dir() {
        assert_eq!(conf_file(None), None);
        assert_eq!(conf_file(Some("".into())), None);
        assert_eq!(conf_file(Some("/etc/spate".into())), Some(PathBuf::from("/etc/spate/config.yaml")));
    }

    #[test]
    fn deprecated_keys_are_read_when_the_key_is_not_set() {
        let mut c = Configuration::new();
        c.set_raw("state.checkpoints.dir", "file:///tmp/chk");
        c.set_raw("state.checkpoints.num-retained", "3");
        c.set_raw("restart-strategy", "fixed-delay");
        c.set_raw("execution.buffer-timeout", "20 ms");
        c.set_raw("pipeline.operator-chaining", "false");
        assert_eq!(c.get(&ft::CHECKPOINTING_DIR).unwrap(), Some("/tmp/chk".to_string()));
        assert_eq!(c.get(&ft::CHECKPOINTING_NUM_RETAINED).unwrap(), 3);
        assert_eq!(c.get(&ft::RESTART_STRATEGY).unwrap(), Some(RestartStrategyType::FixedDelay));
        assert_eq!(c.get(&BUFFER_TIMEOUT).unwrap(), Duration::from_millis(20));
        assert!(!c.get(&OPERATOR_CHAINING).unwrap());
        // Known keys: nothing is reported as unknown.
        assert_eq!(c.validate().unwrap(), Vec::<String>::new());
        // Flink's oldest spelling of the checkpoint directory is read too.
        let mut old = Configuration::new();
        old.set_raw("state.backend.fs.checkpointdir", "/old");
        assert_eq!(old.get(&ft::CHECKPOINTING_DIR).unwrap(), Some("/old".to_string()));
    }

    #[test]
    fn the_proper_key_wins_over_a_deprecated_one() {
        let mut c = Configuration::new();
        c.set_raw("state.checkpoints.dir", "/deprecated");
        c.set_raw("execution.checkpointing.dir", "/proper");
        c.set_raw("state.backend.fs.checkpointdir", "/older");
        assert_eq!(c.get(&ft::CHECKPOINTING_DIR).unwrap(), Some("/proper".to_string()));
        c.set_raw("execution.checkpointing.dir", "");
        // Set but invalid: the proper key is still the one read, and its error names it.
        let err = c.get(&ft::CHECKPOINTING_DIR).unwrap_err().to_string();
        assert!(err.contains("'execution.checkpointing.dir'"), "{err}");
        let mut d = Configuration::new();
        d.set_raw("state.backend.fs.checkpointdir", "/older");
        d.set_raw("state.checkpoints.dir", "/deprecated");
        // Among deprecated spellings, Flink's order decides.
        assert_eq!(d.get(&ft::CHECKPOINTING_DIR).unwrap(), Some("/deprecated".to_string()));
    }

    #[test]
    fn invalid_values_of_deprecated_keys_name_the_key_written() {
        let mut c = Configuration::new();
        c.set_raw("state.checkpoints.num-retained", "none");
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("invalid value 'none' for configuration key 'state.checkpoints.num-retained'"),
            "{err}"
        );
        assert!(err.contains("deprecated name of 'execution.checkpointing.num-retained'"), "{err}");
        let err = c.get(&ft::CHECKPOINTING_NUM_RETAINED).unwrap_err().to_string();
        assert!(err.contains("'state.checkpoints.num-retained'"), "{err}");
        let mut r = Configuration::new();
        r.set_raw("restart-strategy", "sometimes");
        assert!(r.validate().unwrap_err().to_string().contains("'restart-strategy'"));
    }

    #[test]
    fn reading_a_deprecated_key_logs_flinks_warning() {
        let mut c = Configuration::new();
        c.set_raw("state.checkpoints.dir", "/tmp/chk");
        let logged = capture_logs(|| {
            c.get(&ft::CHECKPOINTING_DIR).unwrap();
        });
        assert_eq!(
            logged,
            vec![(
                tracing::Level::WARN,
                "Config uses deprecated configuration key 'state.checkpoints.dir' instead of proper key \
                 'execution.checkpointing.dir'"
                    .to_string()
            )]
        );
        c.set_raw("execution.checkpointing.dir", "/tmp/proper");
        assert!(capture_logs(|| drop(c.get(&ft::CHECKPOINTING_DIR))).is_empty());
    }

    #[test]
    fn the_state_backend_is_the_heap() {
        let mut c = Configuration::new();
        assert_eq!(c.get(&ft::STATE_BACKEND).unwrap(), StateBackendType::HashMap);
        for (key, value) in [
            ("state.backend.type", "hashmap"),
            ("state.backend.type", "HashMap"),
            ("state.backend", "hashmap"),
            ("state.backend", "filesystem"),
            ("state.backend", "jobmanager"),
        ] {
            let mut c = Configuration::new();
            c.set_raw(key, value);
            assert_eq!(c.validate().unwrap(), Vec::<String>::new(), "{key}: {value}");
            assert_eq!(c.get(&ft::STATE_BACKEND).unwrap(), StateBackendType::HashMap);
        }
        c.set_raw("state.backend.type", "rocksdb");
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("'state.backend.type'") && err.contains("no RocksDB state backend"), "{err}");
        let mut old = Configuration::new();
        old.set_raw("state.backend", "rocksdb");
        let err = old.validate().unwrap_err().to_string();
        assert!(err.contains("'state.backend'") && err.contains("no RocksDB"), "{err}");
        let mut other = Configuration::new();
        other.set_raw("state.backend.type", "com.example.MyStateBackendFactory");
        assert!(other.validate().unwrap_err().to_string().contains("expected hashmap"));
    }

    #[test]
    fn a_flink_training_config_keeps_its_checkpoints() {
        let dir = conf_dir("training");
        let path = dir.join(CONF_FILE_NAME);
        std::fs::write(
            &path,
            "state.backend: filesystem\nstate.checkpoints.dir: file:///tmp/checkpoints\n\
             execution.checkpointing.interval: 30s\n\
             execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION\n",
        )
        .unwrap();
        let c = Configuration::from_file(&path).unwrap();
        assert_eq!(c.validate().unwrap(), Vec::<String>::new());
        assert_eq!(c.get(&ft::CHECKPOINTING_DIR).unwrap(), Some("/tmp/checkpoints".to_string()));
        assert_eq!(c.get(&ft::CHECKPOINTING_INTERVAL).unwrap(), Some(Duration::from_secs(30)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tolerable_failed_checkpoints() {
        let mut c = Configuration::new();
        assert_eq!(c.get(&ft::CHECKPOINTING_TOLERABLE_FAILURES).unwrap(), 0);
        c.apply_dynamic("execution.checkpointing.tolerable-failed-checkpoints=3").unwrap();
        assert_eq!(c.get(&ft::CHECKPOINTING_TOLERABLE_FAILURES).unwrap(), 3);
        assert_eq!(c.validate().unwrap(), Vec::<String>::new());
        for bad in ["-1", "many", "1.5"] {
            c.set_raw("execution.checkpointing.tolerable-failed-checkpoints", bad);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains("execution.checkpointing.tolerable-failed-checkpoints"), "{err}");
        }
        let pairs = yaml::parse("execution:\n  checkpointing:\n    tolerable-failed-checkpoints: 2\n").unwrap();
        let mut from_yaml = Configuration::new();
        for (k, v) in pairs {
            from_yaml.set_raw(k, v);
        }
        assert_eq!(from_yaml.get(&ft::CHECKPOINTING_TOLERABLE_FAILURES).unwrap(), 2);
    }

    #[test]
    fn every_key_and_deprecated_key_names_one_option() {
        let mut seen = std::collections::BTreeSet::new();
        for option in options::ALL_OPTIONS {
            for key in std::iter::once(option.key()).chain(option.deprecated_keys().iter().copied()) {
                assert!(seen.insert(key), "{key} is registered twice");
                assert_eq!(options::find(key).map(|o| o.key()), Some(option.key()));
            }
        }
    }

    /// The events logged while `f` runs, as (level, message).
    fn capture_logs(f: impl FnOnce()) -> Vec<(tracing::Level, String)> {
        use std::sync::{Arc, Mutex};
        use tracing::field::{Field, Visit};
        use tracing::span::{Attributes, Id, Record};
        use tracing::{Event, Metadata, Subscriber};

        #[derive(Clone, Default)]
        struct Capture(Arc<Mutex<Vec<(tracing::Level, String)>>>);
        struct Message(String);
        impl Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        impl Subscriber for Capture {
            fn enabled(&self, _: &Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &Attributes<'_>) -> Id {
                Id::from_u64(1)
            }
            fn record(&self, _: &Id, _: &Record<'_>) {}
            fn record_follows_from(&self, _: &Id, _: &Id) {}
            fn event(&self, event: &Event<'_>) {
                let mut message = Message(String::new());
                event.record(&mut message);
                self.0.lock().unwrap().push((*event.metadata().level(), message.0));
            }
            fn enter(&self, _: &Id) {}
            fn exit(&self, _: &Id) {}
        }

        // `tracing` caches each callsite's interest for the whole process, and while at
        // most one dispatcher exists it computes it against the default of whichever
        // thread reaches the callsite first: a test logging the same warning on another
        // thread, without a subscriber, would cache "never" and this capture would see
        // nothing. A second dispatcher kept alive meanwhile makes the interest the union
        // over all dispatchers, and the rebuild clears what was cached before.
        let capture = Capture::default();
        let anchor = tracing::Dispatch::new(Capture::default());
        let dispatch = tracing::Dispatch::new(capture.clone());
        tracing::callsite::rebuild_interest_cache();
        tracing::dispatcher::with_default(&dispatch, f);
        drop(anchor);
        capture.0.lock().unwrap().clone()
    }
}
