//! The configuration directory: `config.yaml` and `workers`, as Flink's `conf/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use spate_core::config::Configuration;

use crate::ConfArgs;

/// The directory `args` name: `--conf-dir`, else `$SPATE_CONF_DIR`, else `./conf`.
pub fn dir(args: &ConfArgs) -> PathBuf {
    args.conf_dir
        .clone()
        .or_else(|| std::env::var_os("SPATE_CONF_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("conf"))
}

/// `DIR/config.yaml` (if there is one) with the `-D` assignments over it, checked: a
/// bad value is an error naming the key, an unknown key a warning.
pub fn load(args: &ConfArgs) -> Result<Configuration> {
    let dir = dir(args);
    let file = dir.join("config.yaml");
    let mut config = if file.exists() {
        Configuration::from_file(&file).with_context(|| format!("cannot read {}", file.display()))?
    } else {
        Configuration::new()
    };
    for assignment in &args.dynamic {
        config.apply_dynamic(assignment).with_context(|| format!("-D {assignment}"))?;
    }
    for warning in config.validate().with_context(|| format!("invalid configuration (in {} or -D)", file.display()))? {
        tracing::warn!("{warning}");
    }
    Ok(config)
}

/// The hosts of `DIR/workers`: one TaskManager per line; blank lines and `#` comments
/// are skipped. No file means one TaskManager on localhost, as Flink's scripts.
pub fn workers(dir: &Path) -> Result<Vec<String>> {
    let file = dir.join("workers");
    if !file.exists() {
        return Ok(vec!["localhost".into()]);
    }
    let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Whether `host` is this machine (its TaskManager is started here, not over ssh).
pub fn is_local(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1") || hostname().is_some_and(|h| h == host)
}

/// This machine's name.
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty())
}
