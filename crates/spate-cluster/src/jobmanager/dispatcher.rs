//! The dispatcher: jobs submitted to the cluster, each with its job master — the
//! runtime's, the same as the embedded mini-cluster's — driven on a thread of its own
//! and reaching its subtasks through the [`ClusterDeployer`](super::cluster_deployer).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use spate_core::config::{Configuration, fault_tolerance as ft};
use spate_core::job_graph::JobGraph;
use spate_core::job_id::JobId;
use spate_runtime::checkpoint::{CheckpointCoordinator, CheckpointSettings, CheckpointStorage, CompletedCheckpoint};
use spate_runtime::job_master::{
    Driver, JobMaster, JobMessage, JobObserver, JobOutcome, JobStatus, STOP_GRACE, SavepointError, task_descriptors,
};
use spate_runtime::restart::RestartStrategy;
use spate_runtime::worker_link::RecordedJob;

use super::Shared;
use super::cluster_deployer::ClusterDeployer;
use super::subtasks::SubtaskState;

/// A job as `POST /jobs` takes it: the application (by hash), how it was run, and the
/// job its `main` planned.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// The application binary, by SHA-256 (uploaded first).
    pub artifact: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The client's working directory.
    pub cwd: String,
    /// Which `execute` of `main` this job is.
    pub job_index: u32,
    /// The job as planned.
    pub job_graph: JobGraph,
    /// Its configuration, `key: value`.
    pub config: Vec<(String, String)>,
    /// What the earlier jobs of the run returned.
    #[serde(default)]
    pub recorded: Vec<RecordedJob>,
    /// The values of `env.side_effect` calls before it, encoded.
    #[serde(default)]
    pub side_effects: Vec<Vec<u8>>,
}

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The application is not in the artifact store.
    #[error("artifact {0} is not stored: upload it first (PUT /artifacts/{0})")]
    UnknownArtifact(String),
    /// The configuration holds a bad value.
    #[error("the job's configuration: {0}")]
    Config(#[from] spate_core::CoreError),
    /// The job has no subtasks.
    #[error("the job has no operators")]
    Empty,
    /// A vertex's parallelism is out of range.
    #[error("vertex {vertex} has parallelism {parallelism}: it must be in 1..={max} (its max parallelism)")]
    Parallelism {
        /// The vertex.
        vertex: u32,
        /// Its parallelism.
        parallelism: u32,
        /// Its max parallelism.
        max: u32,
    },
    /// The job master could not start.
    #[error("cannot start the job master: {0}")]
    Start(std::io::Error),
    /// Checkpoints are enabled but have nowhere to go that every process sees.
    #[error(
        "execution.checkpointing.interval is set, but execution.checkpointing.dir is not: on a cluster, \
         checkpoints go to a directory every TaskManager and the JobManager see (file:///shared/dir)"
    )]
    NoCheckpointDir,
    /// The job could not be kept in the high-availability storage.
    #[error("{0}")]
    HighAvailability(String),
    /// The checkpoint storage or the savepoint to start from cannot be used.
    #[error("{setting}: {source}")]
    Storage {
        /// The key that names it.
        setting: &'static str,
        /// Why.
        #[source]
        source: spate_runtime::checkpoint::StorageError,
    },
}

/// How many failures a job's exception history keeps (Flink's
/// `web.exception-history-size` default).
pub(crate) const EXCEPTION_HISTORY: usize = 16;

/// Where a savepoint request stands (`GET /jobs/:id/savepoints/:triggerid`).
#[derive(Clone, Debug)]
pub(crate) enum SavepointOperation {
    /// Taken now.
    InProgress,
    /// Done: its directory.
    Completed(String),
    /// Failed: why.
    Failed(String),
}

/// The checkpoint or savepoint an attempt started from (Flink's `latest.restored`).
#[derive(Clone, Debug)]
pub(crate) struct RestoredCheckpoint {
    /// Its id.
    pub id: u64,
    /// When the attempt read it (ms since the epoch).
    pub timestamp: i64,
    /// Whether it is a savepoint.
    pub is_savepoint: bool,
    /// Its directory.
    pub path: String,
}

/// A failure a job restarted after.
pub(crate) struct JobException {
    /// When (ms since the epoch).
    pub timestamp: i64,
    /// Its root cause.
    pub failure: String,
}

/// What the cluster knows of a job.
pub(crate) struct JobRecord {
    pub name: String,
    pub status: JobStatus,
    pub streaming: bool,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub last_modification: i64,
    /// Subtasks.
    pub tasks: usize,
    /// The attempt running.
    pub attempt: u32,
    /// Why it failed, if it did.
    pub failure: Option<String>,
    /// The failures its restarts followed, oldest first (the last
    /// [`EXCEPTION_HISTORY`]).
    pub exceptions: Vec<JobException>,
    /// Whether older ones were dropped.
    pub exceptions_truncated: bool,
    /// Its checkpoints' statistics, shared with its job master.
    pub checkpoints: spate_runtime::checkpoint::CheckpointHistory,
    /// How it checkpoints.
    pub checkpoint_settings: CheckpointSettings,
    /// Where its checkpoints go (`None`: nowhere outlives the JobManager).
    pub checkpoint_dir: Option<String>,
    /// The checkpoint or savepoint its latest restore read, and how many restores read one.
    pub restored: Option<RestoredCheckpoint>,
    /// Restores from a checkpoint or savepoint.
    pub restores: u32,
    /// Savepoint requests by trigger id.
    pub savepoints: BTreeMap<String, SavepointOperation>,
    /// The trigger id of each request the job master was given.
    pub savepoint_requests: BTreeMap<u64, String>,
    /// The last request number given.
    pub next_savepoint_request: u64,
    /// Checkpoints a worker could not read: attempts restore older ones.
    pub damaged_checkpoints: Vec<spate_runtime::checkpoint::CheckpointLocation>,
    /// The attempt deployed last, with the TaskManager of each subtask.
    pub placement: Option<(u32, Vec<String>)>,
    /// The accumulators of the subtasks of the current attempt that ended, by task
    /// (each attempt counts from zero, as in Flink; a report sent twice counts once).
    pub accumulators: BTreeMap<usize, Vec<(String, spate_runtime::accumulator::AccumulatorValue)>>,
    /// The job as planned.
    pub graph: Arc<spate_core::job_graph::JobGraph>,
    /// Its shipped configuration.
    pub config: Vec<(String, String)>,
    /// When it first entered each status (Flink's `timestamps`), by status name.
    pub timestamps: std::collections::BTreeMap<&'static str, i64>,
    /// Its subtasks in the current attempt, by task index.
    pub subtasks: Vec<super::subtasks::SubtaskRecord>,
    /// Its master's inbox.
    pub inbox: crossbeam_channel::Sender<JobMessage>,
    /// The workers started and not known to have exited, as (attempt, TaskManager): an
    /// attempt is released, and the job terminal, only once they are gone.
    pub live_workers: std::collections::BTreeSet<(u32, String)>,
}

/// Every job, by id.
pub(crate) type Jobs = std::sync::Mutex<BTreeMap<String, JobRecord>>;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Forgets the jobs that ended longer than `jobstore.expiration-time` before `now_ms`
/// (Flink's job store expiration): they leave `/jobs` and the JobManager's memory.
pub(crate) fn expire_finished(shared: &Shared, now_ms: i64) {
    let keep = i64::try_from(shared.jobstore_expiration.as_millis()).unwrap_or(i64::MAX);
    let mut expired = Vec::new();
    shared.jobs.lock().unwrap_or_else(|p| p.into_inner()).retain(|id, record| {
        let gone = record.end_ms.is_some_and(|end| now_ms.saturating_sub(end) >= keep);
        if gone {
            tracing::info!(job = %id, "the finished job expired (jobstore.expiration-time)");
            expired.push(id.clone());
        }
        !gone
    });
    // Outside the jobs' lock: other calls need it meanwhile.
    if let Some(ha) = &shared.ha {
        for id in expired {
            ha.remove(&id);
        }
    }
}

/// Where a job comes from.
pub(crate) enum Origin {
    /// `POST /jobs`.
    Submitted,
    /// The high-availability store of a JobManager that stopped: the job keeps its id,
    /// and resumes from its latest completed checkpoint unless it had ended.
    Recovered { id: String, submitted_ms: i64, result: Option<super::ha::StoredResult>, attempt: Option<u32> },
}

/// Accepts `submission` and starts its job master; returns the job's id.
pub(crate) fn submit(shared: &Arc<Shared>, submission: Submission) -> Result<String, SubmitError> {
    start(shared, submission, Origin::Submitted)
}

/// Takes over the jobs a JobManager that stopped kept in the high-availability store:
/// the ended ones are listed, the others resume from their latest checkpoints, on the
/// TaskManagers as they register again.
pub(crate) fn recover(shared: &Arc<Shared>) {
    let Some(ha) = &shared.ha else { return };
    for job in ha.load() {
        let ended = job.result.is_some();
        let id = job.id.clone();
        let origin =
            Origin::Recovered { id: job.id, submitted_ms: job.submitted_ms, result: job.result, attempt: job.attempt };
        match start(shared, job.submission, origin) {
            Ok(_) if ended => tracing::info!(job = %id, "recovered an ended job"),
            Ok(_) => tracing::info!(job = %id, "recovered a running job: it resumes from its latest checkpoint"),
            Err(error) => tracing::error!(job = %id, %error, "cannot recover the job"),
        }
    }
}

/// The newest completed checkpoint of job `job_id` in `storage` that reads, and the
/// highest checkpoint number found there (completed or not).
fn latest_checkpoint(storage: &CheckpointStorage, job_id: &str) -> (Option<CompletedCheckpoint>, u64) {
    let ids = storage.list_checkpoints(job_id).unwrap_or_default();
    let highest = ids.last().copied().unwrap_or(0);
    let usable = ids.iter().rev().find_map(|id| {
        let dir = format!("{job_id}/chk-{id}");
        match storage.read_metadata(&dir) {
            Ok(_) => Some(CompletedCheckpoint { id: *id, storage: storage.clone(), dir }),
            Err(error) => {
                tracing::warn!(job = %job_id, checkpoint = id, %error, "not a usable checkpoint; trying an older one");
                None
            }
        }
    });
    (usable, highest)
}

fn start(shared: &Arc<Shared>, submission: Submission, origin: Origin) -> Result<String, SubmitError> {
    if shared.artifacts.get(&submission.artifact).ok().flatten().is_none() {
        return Err(SubmitError::UnknownArtifact(submission.artifact));
    }
    let graph = &submission.job_graph;
    for v in &graph.vertices {
        let max = v.max_parallelism.min(spate_core::key_group::UPPER_BOUND_MAX_PARALLELISM);
        if v.parallelism == 0 || v.parallelism > max {
            return Err(SubmitError::Parallelism { vertex: v.id, parallelism: v.parallelism, max });
        }
    }
    let tasks = task_descriptors(graph);
    if tasks.is_empty() {
        return Err(SubmitError::Empty);
    }
    let config = Configuration::from_pairs(&submission.config);
    let mut checkpoints = CheckpointSettings::from_config(&config)?;
    if graph.execution_mode == spate_core::job_graph::ExecutionMode::Batch {
        // As in Flink: a bounded job in BATCH mode recovers by rerunning.
        checkpoints.interval = None;
    }
    // Relative paths are the client's, as its arguments are.
    let cwd = std::path::Path::new(&submission.cwd);
    let open = |setting: &'static str, location: &str| {
        let location = match CheckpointStorage::is_absolute(location) {
            true => location.to_string(),
            false => cwd.join(location).display().to_string(),
        };
        CheckpointStorage::open(&location).map_err(|source| SubmitError::Storage { setting, source })
    };
    let storage = match config.get(&ft::CHECKPOINTING_DIR)? {
        Some(dir) => open("execution.checkpointing.dir", &dir)?,
        None if checkpoints.interval.is_some() => return Err(SubmitError::NoCheckpointDir),
        None => CheckpointStorage::in_memory(),
    };
    // The savepoint (or retained checkpoint) the job starts from, checked now.
    let savepoint = match config.get(&ft::SAVEPOINT_PATH)? {
        Some(path) => {
            let path = path.strip_suffix(&format!("/{}", spate_runtime::checkpoint::METADATA_FILE)).unwrap_or(&path);
            let storage = open("execution.savepoint.path", path)?;
            let metadata = storage
                .read_metadata("")
                .map_err(|source| SubmitError::Storage { setting: "execution.savepoint.path", source })?;
            Some(CompletedCheckpoint { id: metadata.checkpoint_id, storage, dir: String::new() })
        }
        None => None,
    };
    let restart = RestartStrategy::from_config(&config, checkpoints.interval.is_some())?;
    let settings_for_record = checkpoints.clone();
    let checkpoint_dir = storage.is_durable().then(|| storage.local_path("").display().to_string());
    let is_new = matches!(origin, Origin::Submitted);
    let (job_id, submitted_ms, result, first_attempt) = match origin {
        Origin::Submitted => (JobId::generate().to_string(), now_ms(), None, 0),
        // On after every attempt the stopped JobManager deployed (and one it may have
        // been deploying as it died).
        Origin::Recovered { id, submitted_ms, result, attempt } => {
            (id, submitted_ms, result, attempt.map_or(1, |a| a.saturating_add(2)))
        }
    };
    // A recovered job resumes from its own latest checkpoint, numbering on after every
    // one it wrote; else from the savepoint it was submitted with.
    let (latest, highest) = if storage.is_durable() { latest_checkpoint(&storage, &job_id) } else { (None, 0) };
    let first_id = match (&latest, &savepoint) {
        (Some(_), _) => highest + 1,
        (None, Some(savepoint)) => (savepoint.id + 1).max(highest + 1),
        (None, None) => highest + 1,
    };
    let initial = latest.or(savepoint);
    let (inbox_tx, inbox) = crossbeam_channel::unbounded::<JobMessage>();
    let post = inbox_tx.clone();
    let coordinator = CheckpointCoordinator::new(
        checkpoints,
        job_id.clone(),
        tasks.clone(),
        storage,
        first_id,
        Arc::new(move |m| {
            let _ = post.send(JobMessage::Storage(m));
        }),
    )
    .map_err(SubmitError::Start)?;
    let master =
        JobMaster::new(graph, tasks.len(), coordinator, restart, STOP_GRACE).starting_at_attempt(first_attempt);
    let now = now_ms();
    let mut record = JobRecord {
        name: graph.job_name.clone(),
        status: master.status(),
        streaming: graph.execution_mode == spate_core::job_graph::ExecutionMode::Streaming,
        start_ms: submitted_ms,
        end_ms: None,
        last_modification: now,
        tasks: tasks.len(),
        attempt: first_attempt,
        failure: None,
        exceptions: Vec::new(),
        exceptions_truncated: false,
        checkpoints: master.checkpoint_history(),
        checkpoint_settings: settings_for_record,
        checkpoint_dir,
        restored: None,
        restores: 0,
        savepoints: BTreeMap::new(),
        savepoint_requests: BTreeMap::new(),
        next_savepoint_request: 0,
        damaged_checkpoints: Vec::new(),
        placement: None,
        accumulators: Default::default(),
        graph: Arc::new(graph.clone()),
        config: submission.config.clone(),
        timestamps: [(master.status().name(), now)].into_iter().collect(),
        subtasks: vec![Default::default(); tasks.len()],
        inbox: inbox_tx,
        live_workers: Default::default(),
    };
    if let Some(result) = result {
        // It ended before the JobManager stopped: listed as it ended, not run.
        record.status = status_named(&result.status);
        record.end_ms = Some(result.end_ms);
        record.failure = result.failure;
        record.timestamps.insert(record.status.name(), result.end_ms);
        shared.jobs.lock().unwrap_or_else(|p| p.into_inner()).insert(job_id.clone(), record);
        return Ok(job_id);
    }
    if let Some(ha) = &shared.ha {
        if is_new {
            ha.save_submission(&job_id, &submission, submitted_ms)
                .map_err(|e| SubmitError::HighAvailability(e.to_string()))?;
        }
    }
    shared.jobs.lock().unwrap_or_else(|p| p.into_inner()).insert(job_id.clone(), record);
    tracing::info!(job = %job_id, name = %graph.job_name, subtasks = tasks.len(), "job submitted");
    let deployer = ClusterDeployer::new(shared.clone(), job_id.clone(), Arc::new(submission), initial);
    let observer = RecordObserver { shared: shared.clone(), job_id: job_id.clone() };
    let mut driver = Driver::new(master, deployer, observer);
    let guard = FailOnPanic { shared: shared.clone(), job_id: job_id.clone() };
    std::thread::Builder::new()
        .name(format!("spate-job-{}", &job_id[..8]))
        .spawn(move || {
            let _guard = guard;
            if !driver.feed(JobMessage::Start, Instant::now()) {
                driver.run(&inbox);
            }
        })
        .map_err(|e| {
            // Nothing runs it: it is not listed.
            shared.jobs.lock().unwrap_or_else(|p| p.into_inner()).remove(&job_id);
            SubmitError::Start(e)
        })?;
    Ok(job_id)
}

/// The terminal status of a kept result.
fn status_named(name: &str) -> JobStatus {
    match name {
        "FINISHED" => JobStatus::Finished,
        "CANCELED" => JobStatus::Canceled,
        "SUSPENDED" => JobStatus::Suspended,
        _ => JobStatus::Failed,
    }
}

/// A job master's thread that panics fails its job, rather than leaving it running
/// for ever in the listings and its client waiting.
struct FailOnPanic {
    shared: Arc<Shared>,
    job_id: String,
}

impl Drop for FailOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.shared.resources().release(&self.job_id);
            if let Some(r) = self.shared.jobs.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&self.job_id) {
                r.status = JobStatus::Failed;
                r.end_ms = Some(now_ms());
                r.failure = Some("the job master panicked".into());
                for (_, trigger) in std::mem::take(&mut r.savepoint_requests) {
                    r.savepoints.insert(trigger, SavepointOperation::Failed("the job master panicked".into()));
                }
            }
        }
    }
}

/// Messages failing every subtask of `attempt` (the job master counts each subtask
/// once, so those that already ended are not touched).
impl JobRecord {
    /// The subtasks of `attempt` on TaskManager `taskmanager` (all of them when it is
    /// not the attempt deployed last: the job master ignores what is stale).
    pub(crate) fn tasks_on(&self, attempt: u32, taskmanager: &str) -> Vec<usize> {
        match &self.placement {
            Some((deployed, tms)) if *deployed == attempt => {
                tms.iter().enumerate().filter(|(_, tm)| *tm == taskmanager).map(|(task, _)| task).collect()
            }
            _ => (0..self.tasks).collect(),
        }
    }
}

pub(crate) fn fail_subtasks(
    attempt: u32,
    tasks: impl IntoIterator<Item = usize>,
    name: &str,
    message: &str,
    recoverable: bool,
) -> Vec<JobMessage> {
    tasks
        .into_iter()
        .map(|task| JobMessage::TaskEnded {
            attempt,
            task,
            name: name.to_string(),
            result: Err(spate_runtime::TaskError::Remote(spate_runtime::worker_link::RemoteTaskError {
                message: message.to_string(),
                recoverable,
                consequence: false,
                connection: false,
            })),
        })
        .collect()
}

/// TaskManager `id` was lost: every subtask of the jobs it ran fails (its worker is
/// gone, or cut off), so their job masters fail over.
pub(crate) fn taskmanager_lost(shared: &Shared, id: &str, jobs: impl IntoIterator<Item = String>, reason: &str) {
    let mut records = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
    for job in jobs {
        let Some(record) = records.get_mut(&job) else { continue };
        // Its workers exit by themselves once their link to it closed.
        record.live_workers.retain(|(_, tm)| tm != id);
        let message = format!("TaskManager {id} lost: {reason}");
        let tasks = record.tasks_on(record.attempt, id);
        for lost in fail_subtasks(record.attempt, tasks, &format!("worker on {id}"), &message, true) {
            let _ = record.inbox.send(lost);
        }
    }
}

/// Keeps a job's record up to date.
struct RecordObserver {
    shared: Arc<Shared>,
    job_id: String,
}

impl RecordObserver {
    fn update(&self, f: impl FnOnce(&mut JobRecord)) {
        if let Some(record) = self.shared.jobs.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&self.job_id) {
            f(record);
            record.last_modification = now_ms();
        }
    }
}

impl JobObserver for RecordObserver {
    fn status_changed(&mut self, status: JobStatus, attempt: u32) {
        self.update(|r| {
            r.status = status;
            r.attempt = attempt;
            r.timestamps.insert(status.name(), now_ms());
        });
    }

    fn attempt_failed(&mut self, _: u32, failure: &str) {
        self.update(|r| {
            r.exceptions.push(JobException { timestamp: now_ms(), failure: failure.to_string() });
            // Flink's web.exception-history-size.
            if r.exceptions.len() > EXCEPTION_HISTORY {
                r.exceptions.remove(0);
                r.exceptions_truncated = true;
            }
        });
    }

    fn savepoint_completed(&mut self, request: u64, result: Result<CompletedCheckpoint, SavepointError>) {
        let operation = match result {
            Ok(savepoint) => {
                tracing::info!(job = %self.job_id, path = %savepoint.path(), "savepoint completed");
                SavepointOperation::Completed(savepoint.path())
            }
            Err(error) => {
                tracing::warn!(job = %self.job_id, %error, "savepoint failed");
                SavepointOperation::Failed(error.to_string())
            }
        };
        self.update(|r| {
            if let Some(trigger) = r.savepoint_requests.remove(&request) {
                r.savepoints.insert(trigger, operation);
            }
        });
    }

    fn checkpoint_holds(&mut self, _: &[String]) {}

    fn ended(&mut self, outcome: JobOutcome) {
        let status = outcome.status();
        let failure = match &outcome {
            JobOutcome::Failed(failure) => Some(failure.to_string()),
            _ => None,
        };
        tracing::info!(job = %self.job_id, %status, failure = failure.as_deref().unwrap_or(""), "job ended");
        self.shared.resources().release(&self.job_id);
        self.update(|r| {
            r.status = status;
            r.end_ms = Some(now_ms());
            r.timestamps.insert(status.name(), now_ms());
            r.failure = failure;
            // Subtasks cut off without a report (a lost TaskManager's) end with the job,
            // without counters.
            let end = match status {
                JobStatus::Finished => SubtaskState::Finished,
                JobStatus::Failed => SubtaskState::Failed,
                _ => SubtaskState::Canceled,
            };
            for subtask in &mut r.subtasks {
                subtask.end(end, now_ms(), None);
            }
            // Requests the ended master never took are answered: nobody waits for ever.
            for (_, trigger) in std::mem::take(&mut r.savepoint_requests) {
                let reason = format!("the job ended ({}) before the savepoint was taken", status.name());
                r.savepoints.insert(trigger, SavepointOperation::Failed(reason));
            }
        });
    }

    /// Keeps the result in the high-availability store as soon as the master has it,
    /// before its checkpoints are deleted: a JobManager started again must not run an
    /// ended job again.
    fn ending(&mut self, outcome: &JobOutcome) {
        let Some(ha) = &self.shared.ha else { return };
        let status = outcome.status();
        // A suspended job is to be resumed by the next JobManager: no result kept.
        if status == JobStatus::Suspended {
            return;
        }
        let failure = match outcome {
            JobOutcome::Failed(failure) => Some(failure.to_string()),
            _ => None,
        };
        let start_ms =
            self.shared.jobs.lock().unwrap_or_else(|p| p.into_inner()).get(&self.job_id).map_or(0, |r| r.start_ms);
        let result = super::ha::StoredResult { status: status.name().to_string(), start_ms, end_ms: now_ms(), failure };
        if let Err(error) = ha.save_result(&self.job_id, &result) {
            tracing::error!(job = %self.job_id, %error, "cannot keep the job's result: a JobManager started again would run it again");
        }
    }
}
