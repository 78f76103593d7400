//! One worker process of a job's attempt, as its TaskManager starts and watches it.
//!
//! The application binary is fetched from the JobManager's artifact store by hash (and
//! kept in this TaskManager's cache, checked against the hash), then started in its own
//! process group, with a clean environment (`PATH` only, plus its role), its standard
//! output and error to files in a directory of the job, and its link — one end of a
//! socket pair — as standard input. Its reports go to the JobManager as they come; its
//! exit is reported at once, with its code or signal and the tail of its error output.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::jobmanager::artifact_store::{HashingWriter, is_sha256, sha256_file};
use spate_core::launch::{LAUNCHER_VERSION_ENV, ROLE_ENV, VERSION};
use spate_runtime::sink::ResultPage;
use spate_runtime::worker_link::{FrameReader, FrameWriter, FromWorker, ToWorker, greet};

use super::executor::ExecutorShared;
use crate::rpc::{WorkerEvent, WorkerRefusal, WorkerRequest, WorkerStarted};

/// A running worker, as the executor reaches it.
pub(crate) struct WorkerHandle {
    /// Its link, for mail.
    pub writer: Mutex<FrameWriter<UnixStream>>,
    /// Its process group.
    pub pgid: u32,
    /// Result fetches waiting for the worker's answer, by request.
    pub fetches: Mutex<std::collections::HashMap<u64, tokio::sync::oneshot::Sender<Option<ResultPage>>>>,
    /// The next fetch's request number.
    pub next_fetch: std::sync::atomic::AtomicU64,
}

/// The application, from the cache or downloaded into it.
fn fetch(shared: &ExecutorShared, request: &WorkerRequest) -> Result<PathBuf, WorkerRefusal> {
    use std::os::unix::fs::PermissionsExt as _;
    let refused = |reason: String| WorkerRefusal::Artifact { artifact: request.artifact.clone(), reason };
    if !is_sha256(&request.artifact) {
        return Err(refused("not a SHA-256".into()));
    }
    let cache = shared.dir.join("artifacts");
    std::fs::create_dir_all(&cache).map_err(|e| refused(format!("{}: {e}", cache.display())))?;
    let path = cache.join(&request.artifact);
    if path.is_file() && sha256_file(&path).is_ok_and(|actual| actual == request.artifact) {
        return Ok(path);
    }
    let url = format!("http://{}/artifacts/{}", request.rest, request.artifact);
    let mut call = ureq::get(&url);
    if let Some(token) = &shared.token {
        call = call.header("Authorization", &format!("Bearer {token}"));
    }
    let response = call.call().map_err(|e| refused(format!("GET {url}: {e}")))?;
    static FETCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = FETCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = cache.join(format!(".{}.{}.{n}", request.artifact, std::process::id()));
    // Streamed to the file and hashed on the way: the binary is never held in memory.
    let download = || -> Result<String, String> {
        let file = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let mut sink = HashingWriter::new(std::io::BufWriter::new(file));
        let mut body = response.into_body().into_reader();
        std::io::copy(&mut body, &mut sink).map_err(|e| format!("GET {url}: {e}"))?;
        let (file, actual, _) = sink.finish();
        let file = file.into_inner().map_err(|e| format!("{}: {e}", tmp.display()))?;
        file.sync_all().map_err(|e| format!("{}: {e}", tmp.display()))?;
        if actual != request.artifact {
            return Err(format!("the download hashes to {actual}"));
        }
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(actual)
    };
    if let Err(reason) = download() {
        let _ = std::fs::remove_file(&tmp);
        return Err(refused(reason));
    }
    Ok(path)
}

/// The last lines of `path`.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Starts the worker `request` asks for and watches it on threads of its own.
/// Starts the worker of `request` and waits for its answer to the deployment, until
/// shortly before `deadline` (the caller's).
pub(crate) fn start(
    shared: Arc<ExecutorShared>,
    mut request: WorkerRequest,
    deadline: std::time::Instant,
) -> Result<WorkerStarted, WorkerRefusal> {
    use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
    request.deployment.data = shared.data.clone();
    let deployment = &request.deployment;
    // The id names a directory: only a real job id may.
    if deployment.job_id.parse::<spate_core::job_id::JobId>().is_err() {
        return Err(WorkerRefusal::Spawn(format!(
            "'{}' is not a job id",
            deployment.job_id.chars().take(40).collect::<String>()
        )));
    }
    let app = fetch(&shared, &request)?;
    let (job, attempt) = (deployment.job_id.clone(), deployment.attempt);
    let spawn_error = |what: &str, e: &dyn std::fmt::Display| WorkerRefusal::Spawn(format!("{what}: {e}"));
    let dir = shared.dir.join(format!("job-{job}-{attempt}"));
    std::fs::create_dir_all(&dir).map_err(|e| spawn_error(&dir.display().to_string(), &e))?;
    let (out_path, err_path) = (dir.join("worker.out"), dir.join("worker.log"));
    let out = std::fs::File::create(&out_path).map_err(|e| spawn_error("worker.out", &e))?;
    let err = std::fs::File::create(&err_path).map_err(|e| spawn_error("worker.log", &e))?;
    let (ours, theirs) = UnixStream::pair().map_err(|e| spawn_error("socket pair", &e))?;
    let cwd = if Path::new(&request.cwd).is_dir() { PathBuf::from(&request.cwd) } else { dir.clone() };
    let mut child = Command::new(&app)
        .args(&request.args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()))
        .env(ROLE_ENV, "worker")
        .env(LAUNCHER_VERSION_ENV, VERSION)
        .env("SPATE_JOB_DIR", &dir)
        .current_dir(&cwd)
        .process_group(0)
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| spawn_error(&app.display().to_string(), &e))?;
    let pgid = child.id();
    tracing::info!(job = %job, attempt, pid = pgid, dir = %dir.display(), "started a worker");

    let kill = || super::executor::kill_group(pgid);
    let reader_stream = ours.try_clone().map_err(|e| spawn_error("socket", &e))?;
    // The answer comes once `main` replayed up to the job's `execute`; the caller gets
    // the refusal before it gives up itself.
    let left = deadline.saturating_duration_since(std::time::Instant::now()).saturating_sub(ANSWER_MARGIN);
    let _ = ours.set_read_timeout(Some(left.max(Duration::from_secs(1))));
    let (mut reader, mut writer) =
        (FrameReader::new(reader_stream), FrameWriter::new(ours.try_clone().map_err(|e| spawn_error("socket", &e))?));
    // A worker of another version is no better on a restart; one that dies or hangs
    // while it replays main may be.
    let shaken = greet(&mut reader, &mut writer)
        .map_err(|e| (e.to_string(), false))
        .and_then(|()| writer.send(&ToWorker::Deploy(Box::new(deployment.clone()))).map_err(|e| (e.to_string(), true)))
        .and_then(|()| match reader.receive::<FromWorker>() {
            Ok(FromWorker::Listening { address, splits }) => Ok(WorkerStarted { address, splits }),
            Ok(FromWorker::Failed { reason, recoverable }) => Err((reason, recoverable)),
            Ok(other) => Err((format!("it answered {other:?}"), false)),
            Err(e) => Err((e.to_string(), true)),
        });
    let started = match shaken {
        Ok(started) => started,
        Err((reason, recoverable)) => {
            kill();
            let _ = child.wait();
            return Err(WorkerRefusal::NotStarted { reason, log: tail(&err_path), recoverable });
        }
    };
    let _ = ours.set_read_timeout(None);
    let key = (job.clone(), attempt);
    let handle = Arc::new(WorkerHandle {
        writer: Mutex::new(writer),
        pgid,
        fetches: Mutex::default(),
        next_fetch: std::sync::atomic::AtomicU64::new(0),
    });
    // Registered under the lock a cancel looks under, unless the cancel came first.
    let cancelled = {
        let mut cancelled = shared.cancelled_starts.lock().unwrap_or_else(|p| p.into_inner());
        let found = cancelled.iter().position(|k| *k == key);
        let cancelled = found.and_then(|i| cancelled.remove(i)).is_some();
        if !cancelled {
            shared.workers.lock().unwrap_or_else(|p| p.into_inner()).insert((job.clone(), attempt), handle.clone());
        }
        cancelled
    };
    if cancelled {
        kill();
        let _ = child.wait();
        return Err(WorkerRefusal::NotStarted {
            reason: "its attempt was cancelled while it started".into(),
            log: String::new(),
            recoverable: false,
        });
    }

    let events = shared.events.clone();
    let (job_r, events_r) = (job.clone(), events.clone());
    let relay = std::thread::Builder::new().name(format!("spate-worker-link-{attempt}")).spawn(move || {
        while let Ok(report) = reader.receive::<FromWorker>() {
            // Answers to fetches go to who asked, not to the JobManager's job master.
            if let FromWorker::Results { request, page } = report {
                let waiting = handle.fetches.lock().unwrap_or_else(|p| p.into_inner()).remove(&request);
                if let Some(reply) = waiting {
                    let _ = reply.send(page);
                }
                continue;
            }
            if events_r.send((job_r.clone(), attempt, WorkerEvent::Report(report))).is_err() {
                return;
            }
        }
    });
    let relay = match relay {
        Ok(r) => r,
        Err(e) => {
            kill();
            let _ = child.wait();
            return Err(spawn_error("a thread", &e));
        }
    };
    let watcher = shared.clone();
    std::thread::Builder::new()
        .name(format!("spate-worker-wait-{attempt}"))
        .spawn(move || {
            let status = child.wait();
            // Its last reports go first: the link's end follows the process's.
            let _ = relay.join();
            let gone = watcher.workers.lock().unwrap_or_else(|p| p.into_inner()).remove(&(job.clone(), attempt));
            // Fetches still waiting learn at once that no answer comes.
            if let Some(handle) = gone {
                handle.fetches.lock().unwrap_or_else(|p| p.into_inner()).clear();
            }
            let (code, signal) = match status {
                Ok(s) => (s.code(), s.signal()),
                Err(_) => (None, None),
            };
            tracing::info!(job = %job, attempt, ?code, ?signal, "a worker ended");
            let _ = events.send((job, attempt, WorkerEvent::Exited { code, signal, stderr_tail: tail(&err_path) }));
        })
        .map_err(|e| spawn_error("a thread", &e))?;
    Ok(started)
}

/// How much before the caller's deadline a worker that has not answered is given up.
const ANSWER_MARGIN: Duration = Duration::from_secs(2);
