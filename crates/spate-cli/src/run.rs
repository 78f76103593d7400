//! `spate run [-m HOST:PORT] [-p N] [-D key=value]... APP [ARGS...]`: uploads APP to
//! the JobManager (content-addressed: a binary it already has is not sent again), then
//! runs APP here in the client role, whose `execute` calls submit jobs to the cluster.

use std::path::Path;

use anyhow::{Context, Result, bail};
use spate_core::launch::{ARTIFACT_ENV, CLIENT_CONFIG_ENV, REST_ENV, TOKEN_ENV};

use crate::app;
use crate::rest::{Rest, errors};

/// What `spate run` was given.
pub struct RunArgs<'a> {
    pub jobmanager: Option<&'a str>,
    pub parallelism: Option<u32>,
    pub detached: bool,
    /// `-sae`: cancel the application's jobs if `spate run` is interrupted.
    pub shutdown_on_attached_exit: bool,
    pub dynamic: &'a [String],
    pub app: &'a Path,
    pub args: &'a [String],
}

/// Uploads and runs; returns APP's exit code.
pub fn run(run: RunArgs<'_>, config: &spate_core::config::Configuration) -> Result<i32> {
    let app = app::resolve(run.app)?;
    let rest = Rest::locate(run.jobmanager, config)?;
    // Hashed and uploaded a piece at a time: a large binary is never held in memory.
    let hash = spate_cluster::jobmanager::artifact_store::sha256_file(&app)
        .with_context(|| format!("cannot read {}", app.display()))?;
    let path = format!("/artifacts/{hash}");
    let (status, answer) = rest.call("HEAD", &path)?;
    match status {
        200 => tracing::debug!(%hash, "the JobManager has the application already"),
        404 => {
            let file = std::fs::File::open(&app).with_context(|| format!("cannot read {}", app.display()))?;
            let (status, answer) = rest.upload(&path, &file)?;
            if status != 201 {
                bail!(
                    "uploading {} to the JobManager at {} failed: {status} {}",
                    app.display(),
                    rest.address,
                    errors(&answer)
                );
            }
        }
        401 => bail!("the JobManager at {} needs security.auth.token", rest.address),
        other => bail!("the JobManager at {} answered {other} {}", rest.address, errors(&answer)),
    }
    // `-p` and `-D` of `spate run` go to the program's configuration.
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(p) = run.parallelism {
        pairs.push(("parallelism.default".into(), p.to_string()));
    }
    for d in run.dynamic {
        let (k, v) = d.split_once('=').with_context(|| format!("-D {d}: expected key=value"))?;
        pairs.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut command = app::command(&app, run.args, "client");
    command
        .env(REST_ENV, &rest.address)
        .env(ARTIFACT_ENV, &hash)
        .env(CLIENT_CONFIG_ENV, serde_json::to_string(&pairs)?);
    if let Some(token) = &rest.token {
        command.env(TOKEN_ENV, token);
    }
    if run.detached {
        command.env(spate_core::launch::DETACHED_ENV, "1");
    }
    // The program names each job it submits here: for -sae, and to tell a program that
    // submitted none (not a Spate application, or one that never calls execute).
    let jobs_file = JobsFile::create()?;
    command.env(spate_core::launch::JOBS_FILE_ENV, &jobs_file.0);
    let (code, jobs) = if !run.shutdown_on_attached_exit || run.detached {
        if run.shutdown_on_attached_exit {
            eprintln!("Warning: -sae has no effect with -d: a detached run leaves its jobs running.");
        }
        let status = command.status().with_context(|| format!("cannot run {}", app.display()))?;
        (status.code().unwrap_or(1), jobs_file.jobs())
    } else {
        attached_with_shutdown(command, &app, &rest, &jobs_file)?
    };
    if code == 0 && jobs.is_empty() {
        // Flink's ProgramMissingJobException.
        eprintln!(
            "The program didn't contain a Spate job. Perhaps you forgot to call execute() on the execution \
             environment, or {} is not a Spate application.",
            app.display()
        );
        return Ok(1);
    }
    Ok(code)
}

/// A file, new and private to this user, where the program lists the jobs it submitted;
/// removed when dropped.
struct JobsFile(std::path::PathBuf);

impl JobsFile {
    fn create() -> Result<Self> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
        let path = std::env::temp_dir().join(format!("spate-run-jobs-{}-{nanos:08x}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(JobsFile(path))
    }

    /// The ids of the jobs listed so far.
    fn jobs(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.0).unwrap_or_default();
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
    }
}

impl Drop for JobsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs the program for `-sae`: an interrupt or termination of `spate run` goes to the
/// program, and if the program ended by a signal, the jobs it submitted that still run
/// are cancelled.
/// Returns the program's exit code and the jobs it submitted.
fn attached_with_shutdown(
    mut command: std::process::Command,
    app: &Path,
    rest: &Rest,
    jobs_file: &JobsFile,
) -> Result<(i32, Vec<String>)> {
    use nix::sys::signal::{SigSet, Signal};
    use std::io::Write as _;
    use std::os::unix::process::ExitStatusExt as _;
    let mut child = command.spawn().with_context(|| format!("cannot run {}", app.display()))?;
    // From here on `spate run` outlives the signals that end an attached run: a thread
    // takes them and passes them on to the program.
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        signals.add(signal);
    }
    signals.thread_block().context("cannot block the interrupt signals")?;
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (flag, pid) = (interrupted.clone(), nix::unistd::Pid::from_raw(child.id() as i32));
    std::thread::Builder::new()
        .name("spate-run-signals".into())
        .spawn(move || {
            while let Ok(signal) = signals.wait() {
                flag.store(true, std::sync::atomic::Ordering::Release);
                let _ = nix::sys::signal::kill(pid, signal);
            }
        })
        .context("cannot start the signal thread")?;
    let status = child.wait().with_context(|| format!("cannot wait for {}", app.display()))?;
    let abrupt = status.signal().is_some() || interrupted.load(std::sync::atomic::Ordering::Acquire);
    let jobs = jobs_file.jobs();
    if abrupt {
        // The terminal may be gone (SIGHUP): what cannot be said is not said, and every
        // job is still cancelled.
        let mut stderr = std::io::stderr();
        for id in &jobs {
            // 409: it ended already.
            let _ = match rest.call("PATCH", &format!("/jobs/{id}")) {
                Ok((202, _)) => writeln!(stderr, "Cancelled job {id}: spate run was interrupted (-sae)."),
                Ok((409, _)) => Ok(()),
                Ok((status, answer)) => writeln!(stderr, "Cannot cancel job {id}: {status} {}", errors(&answer)),
                Err(error) => writeln!(stderr, "Cannot cancel job {id}: {error:#}"),
            };
        }
    }
    Ok((status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(1)), jobs))
}
