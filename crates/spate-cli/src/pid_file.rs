//! Pid files as Flink's scripts keep them: `$SPATE_PID_DIR/spate-USER-ROLE.pid`, one
//! pid per line, a line per daemon started. Stopping uses them and only them — never a
//! process name — and checks that a pid still belongs to a `spate` process, since the
//! OS reuses pids.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The pid file of `role` (`jobmanager`, `taskmanager`) in `dir`.
pub fn path(dir: &Path, role: &str) -> PathBuf {
    dir.join(format!("spate-{}-{role}.pid", spate_cluster::endpoints::user()))
}

/// Adds `pid` to the file.
pub fn append(file: &Path, pid: u32) -> Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .with_context(|| format!("cannot write {}", file.display()))?;
    writeln!(f, "{pid}").with_context(|| format!("cannot write {}", file.display()))
}

/// The pids the file names (none if it does not exist). A line that is not a pid is
/// an error naming the file and line.
pub fn read(file: &Path) -> Result<Vec<u32>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            l.trim()
                .parse::<u32>()
                .with_context(|| format!("{}:{}: '{}' is not a pid", file.display(), i + 1, l.trim()))
        })
        .collect()
}

/// Whether `pid` is a live process running this `spate` executable.
pub fn is_ours(pid: u32) -> bool {
    let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) else { return false };
    let ours = std::env::current_exe().ok().and_then(|p| p.canonicalize().ok());
    // A rebuilt binary shows as "… (deleted)"; it is still ours.
    let exe = PathBuf::from(exe.to_string_lossy().trim_end_matches(" (deleted)"));
    ours.is_some_and(|o| o == exe) && alive(pid)
}

/// Whether `pid` exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the command name in parentheses: Z is a zombie.
    !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
}

/// Sends `signal` to `pid`; a process that already exited counts as signalled.
pub fn signal(pid: u32, signal: Signal) -> Result<()> {
    let raw = i32::try_from(pid).context("pid out of range")?;
    match kill(Pid::from_raw(raw), signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot signal pid {pid}")),
    }
}
