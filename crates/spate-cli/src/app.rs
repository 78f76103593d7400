//! Starting the user's application binary in a role: checked before it runs, so a
//! missing or non-executable APP is an error naming it, and started with the
//! environment that tells it its role and this launcher's version.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use spate_core::launch::{LAUNCHER_VERSION_ENV, ROLE_ENV, VERSION};

/// APP, checked: it exists, is a file, and may be executed.
pub fn resolve(app: &Path) -> Result<PathBuf> {
    let meta = std::fs::metadata(app).with_context(|| format!("APP {}: no such file", app.display()))?;
    if !meta.is_file() {
        bail!("APP {} is not a file", app.display());
    }
    if meta.permissions().mode() & 0o111 == 0 {
        bail!("APP {} is not executable (chmod +x it, or give the built binary)", app.display());
    }
    // A relative APP without a slash would be looked up on PATH by the OS.
    std::fs::canonicalize(app).with_context(|| format!("APP {}", app.display()))
}

/// A command running `app ARGS` in `role`.
pub fn command(app: &Path, args: &[String], role: &str) -> Command {
    let mut command = Command::new(app);
    command.args(args).env(ROLE_ENV, role).env(LAUNCHER_VERSION_ENV, VERSION);
    command
}
