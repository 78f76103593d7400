//! `spate cluster start|stop`: a standalone cluster as Flink's `start-cluster.sh` and
//! `stop-cluster.sh` bring it up — the JobManager on this host, one TaskManager per
//! line of `workers` (here for `localhost`, over ssh for other hosts, which must have
//! Spate at the same path), logs in `$SPATE_LOG_DIR`, pids in `$SPATE_PID_DIR`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;
use spate_cluster::endpoints::{Endpoints, endpoint_file, pid_dir, user};
use spate_core::config::cluster as keys;

use crate::{ConfArgs, conf_dir, pid_file};

/// How long `cluster start` waits for the JobManager and TaskManagers.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `cluster stop` waits for a daemon to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

fn log_dir() -> PathBuf {
    std::env::var_os("SPATE_LOG_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("log"))
}

fn host() -> String {
    conf_dir::hostname().unwrap_or_else(|| "localhost".into())
}

/// The log files of a daemon: `.log` (its log lines, on stderr) and `.out` (stdout).
fn log_files(role: &str, n: usize) -> (PathBuf, PathBuf) {
    let base = format!("spate-{}-{role}-{n}-{}", user(), host());
    let dir = log_dir();
    (dir.join(format!("{base}.log")), dir.join(format!("{base}.out")))
}

/// Starts `spate ROLE ARGS` detached (its own process group, stdin closed, output to
/// files), records its pid, and returns it with its log file.
fn spawn_daemon(role: &str, args: &ConfArgs, extra: &[String]) -> Result<(u32, PathBuf)> {
    use std::os::unix::process::CommandExt as _;
    let pids = pid_file::path(&pid_dir(), role);
    let n = pid_file::read(&pids)?.len();
    let (log, out) = log_files(role, n);
    std::fs::create_dir_all(log_dir()).with_context(|| format!("cannot create {}", log_dir().display()))?;
    // Before the daemon starts: the JobManager writes its endpoint file there, maybe
    // before its pid is recorded.
    std::fs::create_dir_all(pid_dir()).with_context(|| format!("cannot create {}", pid_dir().display()))?;
    let open = |p: &Path| std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()));
    let exe = std::env::current_exe().context("cannot find the spate executable")?;
    let mut command = Command::new(exe);
    command.arg(role).arg("--conf-dir").arg(conf_dir::dir(args));
    for d in args.dynamic.iter().chain(extra) {
        command.arg("-D").arg(d);
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(open(&out)?)
        .stderr(open(&log)?)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start the {role}"))?;
    pid_file::append(&pids, child.id())?;
    Ok((child.id(), log))
}

/// The last lines of `log`, to say why a daemon died.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// `cluster start`; on a failure, what it started is stopped again.
pub fn start(args: &ConfArgs) -> Result<()> {
    let mut started = Vec::new();
    let result = start_daemons(args, &mut started);
    if result.is_err() && !started.is_empty() {
        undo_start(&started);
    }
    result
}

fn start_daemons(args: &ConfArgs, started: &mut Vec<u32>) -> Result<()> {
    let config = conf_dir::load(args)?;
    let workers = conf_dir::workers(&conf_dir::dir(args))?;
    let running: Vec<u32> = pid_file::read(&pid_file::path(&pid_dir(), "jobmanager"))?
        .into_iter()
        .filter(|p| pid_file::is_ours(*p))
        .collect();
    if let Some(pid) = running.first() {
        bail!(
            "a JobManager of this user is already running (pid {pid}, {}); stop it with `spate cluster stop`",
            pid_file::path(&pid_dir(), "jobmanager").display()
        );
    }
    println!("Starting cluster.");
    println!("Starting standalonesession daemon on host {}.", host());
    let (jm_pid, jm_log) = spawn_daemon("jobmanager", args, &[])?;
    started.push(jm_pid);
    let deadline = Instant::now() + START_TIMEOUT;
    let endpoints = wait_for(deadline, || {
        if !pid_file::alive(jm_pid) {
            bail!("the JobManager exited at start (see {}):\n{}", jm_log.display(), tail(&jm_log));
        }
        Ok(Endpoints::read(&endpoint_file(&pid_dir())).filter(|e| e.pid == jm_pid))
    })
    .with_context(|| format!("the JobManager did not come up (see {})", jm_log.display()))?;

    // TaskManagers find the JobManager at the port it really got (rpc.port 0 included).
    let rpc_port = endpoints.rpc.rsplit_once(':').map(|(_, p)| p.to_string()).unwrap_or_default();
    let jm_host = config.get(&keys::JOBMANAGER_RPC_ADDRESS)?;
    let extra = vec![format!("jobmanager.rpc.address={jm_host}"), format!("jobmanager.rpc.port={rpc_port}")];
    let mut local = Vec::new();
    for worker in &workers {
        println!("Starting taskmanager daemon on host {worker}.");
        if conf_dir::is_local(worker) {
            let (pid, log) = spawn_daemon("taskmanager", args, &extra)?;
            started.push(pid);
            local.push((pid, log));
        } else {
            over_ssh(worker, "start-taskmanager", args, &extra)?;
        }
    }
    let url = format!("http://{}/overview", endpoints.rest);
    wait_for(deadline, || {
        for (pid, log) in &local {
            if !pid_file::alive(*pid) {
                bail!("a TaskManager exited at start (see {}):\n{}", log.display(), tail(log));
            }
        }
        let registered = overview(&url).ok().and_then(|v| v["taskmanagers"].as_u64()).unwrap_or(0);
        Ok((registered >= workers.len() as u64).then_some(()))
    })
    .with_context(|| format!("not every TaskManager registered with the JobManager at {}", endpoints.rest))?;
    Ok(())
}

/// `cluster start-taskmanager`: one TaskManager here, in the background.
pub fn start_taskmanager(args: &ConfArgs) -> Result<u32> {
    spawn_daemon("taskmanager", args, &[]).map(|(pid, _)| pid)
}

/// Runs `spate cluster ACTION` on `host` over ssh (Spate at the same path there).
fn over_ssh(host: &str, action: &str, args: &ConfArgs, extra: &[String]) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the spate executable")?;
    let conf = std::fs::canonicalize(conf_dir::dir(args)).unwrap_or_else(|_| conf_dir::dir(args));
    let mut remote = format!(
        "{} cluster {action} --conf-dir {}",
        quote(&exe.display().to_string()),
        quote(&conf.display().to_string())
    );
    for d in args.dynamic.iter().chain(extra) {
        remote.push_str(&format!(" -D {}", quote(d)));
    }
    let status = Command::new("ssh")
        .args(["-n", "-o", "BatchMode=yes", host, &remote])
        .status()
        .with_context(|| format!("cannot run ssh to {host}"))?;
    if !status.success() {
        bail!("`spate cluster {action}` over ssh on {host} failed ({status})");
    }
    Ok(())
}

/// `text` as one word of a POSIX shell command line.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// `GET url` as JSON.
fn overview(url: &str) -> Result<serde_json::Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(2))).build().into();
    let text = agent.get(url).call()?.body_mut().read_to_string()?;
    Ok(serde_json::from_str(&text)?)
}

/// Polls `check` every 20 ms until it gives a value, fails, or `deadline` passes.
fn wait_for<T>(deadline: Instant, mut check: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {} s", START_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops the daemons the pid file of `role` names: SIGTERM, then SIGKILL after the
/// stop timeout; the file is removed.
fn stop_role(role: &str, label: &str) -> Result<()> {
    let file = pid_file::path(&pid_dir(), role);
    let pids = pid_file::read(&file)?;
    if pids.is_empty() {
        println!("No {label} daemon to stop on host {}.", host());
    }
    for pid in pids.iter().rev().copied() {
        if !pid_file::is_ours(pid) {
            println!("No {label} daemon (pid: {pid}) is running anymore on {}.", host());
            continue;
        }
        println!("Stopping {label} daemon (pid: {pid}) on host {}.", host());
        pid_file::signal(pid, Signal::SIGTERM)?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while pid_file::is_ours(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if pid_file::is_ours(pid) {
            eprintln!("The {label} daemon (pid: {pid}) did not stop within {} s: killing it.", STOP_TIMEOUT.as_secs());
            pid_file::signal(pid, Signal::SIGKILL)?;
        }
    }
    match std::fs::remove_file(&file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", file.display())),
    }
}

/// `cluster stop-taskmanagers`: this host's TaskManagers.
pub fn stop_taskmanagers() -> Result<()> {
    stop_role("taskmanager", "taskmanager")
}

/// `cluster stop`: the TaskManagers (here and over ssh), then the JobManager. A step
/// that fails does not keep the others from running; the failures are reported at the
/// end.
pub fn stop(args: &ConfArgs) -> Result<()> {
    let workers = conf_dir::workers(&conf_dir::dir(args))?;
    let mut remote: Vec<&String> = workers.iter().filter(|w| !conf_dir::is_local(w)).collect();
    remote.sort();
    remote.dedup();
    let mut failures = Vec::new();
    for host in remote {
        if let Err(e) = over_ssh(host, "stop-taskmanagers", args, &[]) {
            failures.push(format!("{e:#}"));
        }
    }
    for result in [stop_taskmanagers(), stop_role("jobmanager", "standalonesession")] {
        if let Err(e) = result {
            failures.push(format!("{e:#}"));
        }
    }
    if failures.is_empty() { Ok(()) } else { bail!("{}", failures.join("; ")) }
}

/// Stops the daemons `cluster start` started before it failed, so a failed start
/// leaves nothing running.
fn undo_start(started: &[u32]) {
    for pid in started {
        if pid_file::is_ours(*pid) {
            let _ = pid_file::signal(*pid, Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while started.iter().any(|p| pid_file::is_ours(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for pid in started {
        if pid_file::is_ours(*pid) {
            let _ = pid_file::signal(*pid, Signal::SIGKILL);
        }
    }
    for role in ["jobmanager", "taskmanager"] {
        let file = pid_file::path(&pid_dir(), role);
        let left: Vec<u32> =
            pid_file::read(&file).unwrap_or_default().into_iter().filter(|p| !started.contains(p)).collect();
        let _ = std::fs::remove_file(&file);
        for pid in left {
            let _ = pid_file::append(&file, pid);
        }
    }
}
