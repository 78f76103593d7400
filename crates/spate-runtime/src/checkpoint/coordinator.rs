//! The checkpoint coordinator: triggers checkpoints, collects the tasks' snapshots,
//! completes, retains and aborts checkpoints.
//!
//! It is a state machine driven by messages ([`CoordinatorMessage`]) and by the clock
//! ([`CheckpointCoordinator::tick`]); it reaches tasks only through a [`TaskGateway`].
//! So the embedded job master and a cluster's JobManager drive the same code: in one
//! process the gateway is a set of channels, across processes it is RPC.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spate_core::config::CheckpointRetention;

use serde::{Deserialize, Serialize};

use super::failure::{CheckpointFailure, FailureCounter, TooManyFailedCheckpoints};
use super::location::CheckpointLocation;
use super::writer::{StorageWriter, WriteJob};
use super::{
    CheckpointBarrier, CheckpointId, CheckpointKind, CheckpointMetadata, CheckpointStorage, CheckpointingMode, Decline,
    OperatorMetadata, StateFile, TaskMail,
};

/// `execution.checkpointing.*`, resolved.
#[derive(Clone, Debug)]
pub struct CheckpointSettings {
    /// Time between periodic checkpoints; `None`: only savepoints.
    pub interval: Option<Duration>,
    /// Aligned or not.
    pub mode: CheckpointingMode,
    /// Checkpoints not complete after this long are aborted.
    pub timeout: Duration,
    /// Least time from the end of one checkpoint to the start of the next.
    pub min_pause: Duration,
    /// Checkpoints in progress at once.
    pub max_concurrent: u32,
    /// Completed checkpoints kept.
    pub num_retained: u32,
    /// What happens to retained checkpoints when the job does not finish.
    pub retention: CheckpointRetention,
    /// Checkpoints that may fail in a row before the job fails over.
    pub tolerable_failures: u32,
}

impl CheckpointSettings {
    /// The `execution.checkpointing.*` keys of `config`.
    pub fn from_config(config: &spate_core::config::Configuration) -> Result<Self, spate_core::CoreError> {
        use spate_core::config::fault_tolerance as ft;
        Ok(CheckpointSettings {
            interval: config.get(&ft::CHECKPOINTING_INTERVAL)?,
            mode: config.get(&ft::CHECKPOINTING_MODE)?,
            timeout: config.get(&ft::CHECKPOINTING_TIMEOUT)?,
            min_pause: config.get(&ft::CHECKPOINTING_MIN_PAUSE)?,
            max_concurrent: config.get(&ft::CHECKPOINTING_MAX_CONCURRENT)?,
            num_retained: config.get(&ft::CHECKPOINTING_NUM_RETAINED)?,
            retention: config.get(&ft::CHECKPOINTING_RETENTION)?,
            tolerable_failures: config.get(&ft::CHECKPOINTING_TOLERABLE_FAILURES)?,
        })
    }
}

/// One subtask as the coordinator sees it.
#[derive(Clone, Debug)]
pub struct TaskDescriptor {
    /// Its vertex.
    pub vertex: u32,
    /// Its index.
    pub subtask: u32,
    /// Subtasks of its vertex.
    pub parallelism: u32,
    /// Key groups of its vertex.
    pub max_parallelism: u32,
    /// Whether barriers start here.
    pub is_source: bool,
}

/// Sends mail to the tasks of the running attempt.
pub trait TaskGateway: Send {
    /// Queues `mail` for task `task`; a task that has ended is skipped.
    fn send(&self, task: usize, mail: TaskMail);
}

/// What the coordinator is told: the tasks' reports (which cross processes as they
/// are) and its writer's results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum CoordinatorMessage {
    /// A task took its snapshot and stored it.
    Acknowledged {
        /// The task.
        task: usize,
        /// What it stored.
        ack: Acknowledgement,
    },
    /// A task could not take its snapshot.
    Declined {
        /// The task.
        task: usize,
        /// The checkpoint.
        id: CheckpointId,
        /// Why.
        decline: Decline,
    },
    /// A task processed all its input.
    Finished {
        /// The task.
        task: usize,
    },
    /// A task took its snapshot but could not store it.
    StateWriteFailed {
        /// The task.
        task: usize,
        /// The checkpoint.
        id: CheckpointId,
        /// Why, for people.
        reason: String,
    },
    /// The coordinator's writer stored `_metadata`.
    MetadataWritten {
        /// The checkpoint.
        id: CheckpointId,
        /// Whether it worked (why not, for people).
        result: Result<(), String>,
    },
}

impl CoordinatorMessage {
    /// The task that sent it; `None` for the coordinator's own writer's results (the
    /// only kind no other process may send).
    pub fn task(&self) -> Option<usize> {
        match self {
            CoordinatorMessage::Acknowledged { task, .. }
            | CoordinatorMessage::Declined { task, .. }
            | CoordinatorMessage::Finished { task }
            | CoordinatorMessage::StateWriteFailed { task, .. } => Some(*task),
            CoordinatorMessage::MetadataWritten { .. } => None,
        }
    }
}

/// A task's snapshot, stored: the handle the coordinator completes the checkpoint with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The checkpoint.
    pub id: CheckpointId,
    /// Its state file; `None` when the task had no state.
    pub file: Option<WrittenFile>,
    /// How long its inputs were held back before the snapshot.
    pub alignment: Duration,
    /// How long the task stopped processing to take it.
    pub sync: Duration,
}

/// A state file a task stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WrittenFile {
    /// Its name in the checkpoint's directory.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// The operators whose state it holds.
    pub uids: Vec<String>,
}

/// Where a checkpoint ends up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointStatus {
    /// Triggered, not complete.
    InProgress,
    /// Complete: restorable.
    Completed,
    /// Aborted, with the reason.
    Failed(String),
}

/// The statistics of one checkpoint or savepoint (Flink's checkpoint history).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Its id.
    pub id: CheckpointId,
    /// Checkpoint or savepoint.
    pub kind: CheckpointKind,
    /// When it was triggered (ms since the epoch).
    pub trigger_timestamp: i64,
    /// From trigger to completion (or failure).
    pub duration: Option<Duration>,
    /// Bytes of state files written.
    pub state_size: u64,
    /// The longest barrier alignment of any task.
    pub alignment: Duration,
    /// The longest synchronous snapshot of any task.
    pub sync_duration: Duration,
    /// Where it stands.
    pub status: CheckpointStatus,
    /// Its directory, once complete.
    pub path: Option<String>,
    /// The subtasks that acknowledged it, by vertex.
    pub vertices: BTreeMap<u32, VertexCheckpointStats>,
    /// When the last subtask acknowledged it (ms since the epoch; 0 before any).
    pub latest_ack_timestamp: i64,
}

/// One vertex's part of a checkpoint (Flink's per-task checkpoint statistics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VertexCheckpointStats {
    /// Subtasks of the vertex that acknowledged.
    pub acknowledged: u32,
    /// When the last of them did (ms since the epoch).
    pub latest_ack_timestamp: i64,
    /// Bytes of state they stored.
    pub state_size: u64,
    /// The longest barrier alignment among them.
    pub alignment: Duration,
}

/// A complete checkpoint or savepoint that can be restored.
#[derive(Clone, Debug)]
pub struct CompletedCheckpoint {
    /// Its id.
    pub id: CheckpointId,
    /// Its storage.
    pub storage: CheckpointStorage,
    /// Its directory within the storage.
    pub dir: String,
}

impl CompletedCheckpoint {
    /// Its location, for logs and users.
    pub fn path(&self) -> String {
        self.storage.local_path(&self.dir).display().to_string()
    }
}

/// Shared with job clients: the history of checkpoints.
pub type CheckpointHistory = Arc<Mutex<VecDeque<CheckpointStats>>>;

/// How many checkpoints the history keeps.
const HISTORY: usize = 1000;

/// A reply to a savepoint request.
pub type SavepointReply = Box<dyn FnOnce(Result<CompletedCheckpoint, CheckpointFailure>) + Send>;

struct Pending {
    barrier: CheckpointBarrier,
    storage: CheckpointStorage,
    dir: String,
    started: Instant,
    /// Per task: its file once it acknowledged (`None` inside: the task had no state).
    written: Vec<Option<Option<WrittenFile>>>,
    alignment: Duration,
    sync: Duration,
    /// `_metadata` is being written.
    finishing: bool,
    /// The operators (uids) that wrote state.
    operators: Vec<String>,
    /// A savepoint that stops the job.
    stops: bool,
    reply: Option<SavepointReply>,
}

/// The coordinator of one job.
pub struct CheckpointCoordinator {
    settings: CheckpointSettings,
    job_id: String,
    tasks: Vec<TaskDescriptor>,
    storage: CheckpointStorage,
    gateway: Option<Box<dyn TaskGateway>>,
    writer: StorageWriter,
    next_id: CheckpointId,
    pending: BTreeMap<CheckpointId, Pending>,
    completed: VecDeque<CompletedCheckpoint>,
    /// Per task of the running attempt: whether it processed all its input (it then
    /// answers triggers directly, as no barrier reaches it any more).
    finished: Vec<bool>,
    next_trigger: Option<Instant>,
    last_completion: Option<Instant>,
    history: CheckpointHistory,
    failures: FailureCounter,
    /// The operators whose state the last completed checkpoint holds, by uid.
    operators_with_state: Vec<String>,
    /// A savepoint that stops the job is under way: no periodic checkpoint starts.
    stopping: bool,
    /// Set when failed checkpoints must fail the job; taken by the job master.
    job_failure: Option<TooManyFailedCheckpoints>,
    /// The directories of the latest aborted checkpoints: a task's state file that is
    /// written after its checkpoint was aborted (tasks write their own) is removed again
    /// when its acknowledgement comes.
    aborted: VecDeque<(CheckpointId, CheckpointStorage, String)>,
}

/// How many aborted checkpoints the coordinator remembers for late state files.
const ABORTED_REMEMBERED: usize = 64;

fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl CheckpointCoordinator {
    /// A coordinator writing checkpoints of job `job_id` into `storage`
    /// (`JOB_ID/chk-N`), numbering from `first_id`. Results of the writer thread come
    /// back through `post`, which must deliver them to [`handle`](Self::handle).
    pub fn new(
        settings: CheckpointSettings,
        job_id: String,
        tasks: Vec<TaskDescriptor>,
        storage: CheckpointStorage,
        first_id: CheckpointId,
        post: Arc<dyn Fn(CoordinatorMessage) + Send + Sync>,
    ) -> std::io::Result<Self> {
        let writer = StorageWriter::start(post)?;
        let n = tasks.len();
        let settings_tolerable = settings.tolerable_failures;
        Ok(CheckpointCoordinator {
            settings,
            job_id,
            tasks,
            storage,
            gateway: None,
            writer,
            next_id: first_id.max(1),
            pending: BTreeMap::new(),
            completed: VecDeque::new(),
            finished: vec![false; n],
            next_trigger: None,
            last_completion: None,
            history: Arc::new(Mutex::new(VecDeque::new())),
            failures: FailureCounter::new(settings_tolerable),
            operators_with_state: Vec::new(),
            stopping: false,
            job_failure: None,
            aborted: VecDeque::new(),
        })
    }

    /// The history shared with clients.
    pub fn history(&self) -> CheckpointHistory {
        self.history.clone()
    }

    /// The newest completed checkpoints, newest first (savepoints excluded).
    pub fn completed(&self) -> impl Iterator<Item = &CompletedCheckpoint> {
        self.completed.iter().rev()
    }

    /// A new attempt of the job runs: its tasks are reached through `gateway`; periodic
    /// checkpoints start one interval from `now`.
    pub fn start_attempt(&mut self, gateway: Box<dyn TaskGateway>, now: Instant) {
        self.gateway = Some(gateway);
        self.failures.reset();
        self.job_failure = None;
        self.stopping = false;
        self.finished = vec![false; self.tasks.len()];
        self.next_trigger = self.settings.interval.map(|i| now + i);
    }

    /// The running attempt ended (failure, cancellation or the end of the job): every
    /// checkpoint in progress is aborted.
    pub fn stop_attempt(&mut self, reason: &str) {
        let ids: Vec<CheckpointId> = self.pending.keys().copied().collect();
        for id in ids {
            self.abort(id, CheckpointFailure::Stopped(reason.to_string()));
        }
        self.gateway = None;
        self.next_trigger = None;
    }

    /// When [`tick`](Self::tick) should run next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let timeouts = self.pending.values().map(|p| p.started + self.settings.timeout).min();
        // While no checkpoint may start, the trigger time waits (it is not a deadline).
        let trigger = self.next_trigger.filter(|_| self.gateway.is_some() && !self.stopping);
        match (trigger, timeouts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Aborts timed-out checkpoints and triggers the next periodic one when due.
    pub fn tick(&mut self, now: Instant) {
        let expired: Vec<CheckpointId> =
            self.pending.iter().filter(|(_, p)| now >= p.started + self.settings.timeout).map(|(id, _)| *id).collect();
        for id in expired {
            self.abort(id, CheckpointFailure::Expired);
        }
        let Some(due) = self.next_trigger else { return };
        if now < due || self.gateway.is_none() || self.stopping {
            return;
        }
        let running = self.pending.values().filter(|p| p.barrier.kind == CheckpointKind::Checkpoint).count();
        if running as u32 >= self.settings.max_concurrent {
            // Tried again when one completes or is aborted.
            self.next_trigger = None;
            return;
        }
        if let Some(last) = self.last_completion {
            if now < last + self.settings.min_pause {
                self.next_trigger = Some(last + self.settings.min_pause);
                return;
            }
        }
        if self.finished.iter().all(|f| *f) {
            // Every task finished: nothing left to checkpoint.
            self.next_trigger = None;
            return;
        }
        let dir = format!("{}/chk-{}", self.job_id, self.next_id);
        self.trigger(now, CheckpointKind::Checkpoint, self.storage.clone(), dir, None, false);
        self.next_trigger = self.settings.interval.map(|i| now + i);
    }

    /// Takes a savepoint into `storage`/`dir`; `reply` is called when it completes or
    /// fails. A savepoint that `stops` the job pauses periodic checkpoints (none may
    /// commit output after it) and, once complete, tells the tasks to commit what it
    /// holds; any other savepoint commits nothing (Flink's rule: a failover may restore
    /// an older checkpoint, and output a savepoint committed would be produced again).
    /// With `drain` (only with `stops`), the sources first advance event time to its end.
    pub fn trigger_savepoint(
        &mut self,
        now: Instant,
        storage: CheckpointStorage,
        stops: bool,
        drain: bool,
        reply: SavepointReply,
    ) {
        if self.gateway.is_none() {
            reply(Err(CheckpointFailure::Stopped("the job is not running".into())));
            return;
        }
        let short: String = self.job_id.chars().take(6).collect();
        let dir = format!("savepoint-{short}-{}", self.next_id);
        if stops {
            self.stopping = true;
        }
        let id = self.next_id;
        self.trigger(now, CheckpointKind::Savepoint, storage, dir, Some(reply), stops && drain);
        if let Some(p) = self.pending.get_mut(&id) {
            p.stops = stops;
        }
    }

    fn trigger(
        &mut self,
        now: Instant,
        kind: CheckpointKind,
        storage: CheckpointStorage,
        dir: String,
        reply: Option<SavepointReply>,
        drain: bool,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let location = CheckpointLocation { storage: storage.url().to_string(), dir: dir.clone() };
        let barrier = CheckpointBarrier { id, timestamp: now_millis(), kind: kind.clone(), location, drain };
        let n = self.tasks.len();
        self.pending.insert(
            id,
            Pending {
                barrier: barrier.clone(),
                storage,
                dir,
                started: now,
                written: vec![None; n],
                alignment: Duration::ZERO,
                sync: Duration::ZERO,
                finishing: false,
                operators: Vec::new(),
                stops: false,
                reply,
            },
        );
        self.record(CheckpointStats {
            id,
            kind,
            trigger_timestamp: barrier.timestamp,
            duration: None,
            state_size: 0,
            alignment: Duration::ZERO,
            sync_duration: Duration::ZERO,
            status: CheckpointStatus::InProgress,
            path: None,
            vertices: BTreeMap::new(),
            latest_ack_timestamp: 0,
        });
        tracing::debug!(checkpoint = id, "triggering checkpoint");
        for task in 0..n {
            if self.finished[task] || self.tasks[task].is_source {
                if let Some(gateway) = &self.gateway {
                    gateway.send(task, TaskMail::TriggerCheckpoint(barrier.clone()));
                }
            }
        }
    }

    /// Handles one message.
    pub fn handle(&mut self, message: CoordinatorMessage) {
        match message {
            CoordinatorMessage::Acknowledged { task, ack } => {
                let id = ack.id;
                let Some(p) = self.pending.get_mut(&id) else {
                    if ack.file.is_some() {
                        if let Some((_, storage, dir)) = self.aborted.iter().find(|(a, _, _)| *a == id) {
                            // Written after the abort deleted its directory.
                            self.writer.submit(WriteJob::Delete { storage: storage.clone(), dir: dir.clone() });
                        }
                    }
                    return;
                };
                // A task's first acknowledgement of a checkpoint counts.
                let Some(slot @ None) = p.written.get_mut(task) else { return };
                let size = ack.file.as_ref().map_or(0, |f| f.size);
                *slot = Some(ack.file);
                p.alignment = p.alignment.max(ack.alignment);
                p.sync = p.sync.max(ack.sync);
                let vertex = self.tasks.get(task).map_or(0, |d| d.vertex);
                let now = now_millis();
                self.update(id, |s| {
                    s.latest_ack_timestamp = now;
                    let v = s.vertices.entry(vertex).or_default();
                    v.acknowledged += 1;
                    v.latest_ack_timestamp = now;
                    v.state_size += size;
                    v.alignment = v.alignment.max(ack.alignment);
                });
                self.try_complete(id);
            }
            CoordinatorMessage::Declined { id, decline, .. } => {
                if self.pending.contains_key(&id) {
                    self.abort(id, CheckpointFailure::Declined(decline));
                }
            }
            CoordinatorMessage::Finished { task } => {
                if let Some(slot) = self.finished.get_mut(task) {
                    *slot = true;
                }
                // Checkpoints whose barrier can no longer reach the task ask it directly.
                for p in self.pending.values() {
                    if p.written.get(task).is_some_and(Option::is_none) {
                        if let Some(gateway) = &self.gateway {
                            gateway.send(task, TaskMail::TriggerCheckpoint(p.barrier.clone()));
                        }
                    }
                }
            }
            CoordinatorMessage::StateWriteFailed { task, id, reason } => {
                let Some(d) = self.tasks.get(task) else { return };
                let failure = CheckpointFailure::StateWrite { vertex: d.vertex, subtask: d.subtask, reason };
                self.abort(id, failure);
            }
            CoordinatorMessage::MetadataWritten { id, result } => match result {
                Ok(()) => self.complete(id),
                Err(error) => self.abort(id, CheckpointFailure::Metadata(error)),
            },
        }
    }

    /// Writes `_metadata` once every task's state is stored.
    fn try_complete(&mut self, id: CheckpointId) {
        let Some(p) = self.pending.get_mut(&id) else { return };
        if p.finishing || p.written.iter().any(Option::is_none) {
            return;
        }
        p.finishing = true;
        let mut operators: BTreeMap<String, OperatorMetadata> = BTreeMap::new();
        for (task, file) in p.written.iter().enumerate() {
            let Some(Some(file)) = file else { continue };
            let d = &self.tasks[task];
            for uid in &file.uids {
                operators
                    .entry(uid.clone())
                    .or_insert_with(|| OperatorMetadata {
                        uid: uid.clone(),
                        parallelism: d.parallelism,
                        max_parallelism: d.max_parallelism,
                        files: Vec::new(),
                    })
                    .files
                    .push(StateFile { subtask: d.subtask, name: file.name.clone(), size: file.size });
            }
        }
        p.operators = operators.keys().cloned().collect();
        let metadata = CheckpointMetadata {
            job_id: self.job_id.clone(),
            checkpoint_id: id,
            timestamp: p.barrier.timestamp,
            kind: p.barrier.kind.clone(),
            operators: operators.into_values().collect(),
        };
        self.writer.submit(WriteJob::Metadata {
            id,
            storage: p.storage.clone(),
            dir: p.dir.clone(),
            metadata: Box::new(metadata),
        });
    }

    fn complete(&mut self, id: CheckpointId) {
        let Some(p) = self.pending.remove(&id) else { return };
        self.operators_with_state = p.operators.clone();
        let completed = CompletedCheckpoint { id, storage: p.storage.clone(), dir: p.dir.clone() };
        let path = completed.path();
        let size: u64 = p.written.iter().flatten().flatten().map(|f| f.size).sum();
        let now = Instant::now();
        self.update(id, |s| {
            s.duration = Some(now - p.started);
            s.state_size = size;
            s.alignment = p.alignment;
            s.sync_duration = p.sync;
            s.status = CheckpointStatus::Completed;
            s.path = Some(path.clone());
        });
        tracing::info!(checkpoint = id, path = %path, bytes = size, took = ?(now - p.started), "completed checkpoint");
        let commits = p.barrier.kind == CheckpointKind::Checkpoint || p.stops;
        if let Some(gateway) = self.gateway.as_ref().filter(|_| commits) {
            for task in 0..self.tasks.len() {
                gateway.send(task, TaskMail::NotifyCheckpoint { id, complete: true });
            }
        }
        if p.barrier.kind == CheckpointKind::Checkpoint {
            self.failures.on_success();
            self.last_completion = Some(now);
            self.completed.push_back(completed.clone());
            while self.completed.len() > self.settings.num_retained.max(1) as usize {
                if let Some(old) = self.completed.pop_front() {
                    self.writer.submit(WriteJob::Delete { storage: old.storage, dir: old.dir });
                }
            }
            // Older checkpoints still in progress are subsumed.
            let older: Vec<CheckpointId> = self
                .pending
                .iter()
                .filter(|(i, q)| **i < id && q.barrier.kind == CheckpointKind::Checkpoint)
                .map(|(i, _)| *i)
                .collect();
            for old in older {
                self.abort(old, CheckpointFailure::Subsumed);
            }
            self.resume_periodic(now);
        }
        if let Some(reply) = p.reply {
            reply(Ok(completed));
        }
    }

    fn abort(&mut self, id: CheckpointId, reason: CheckpointFailure) {
        let Some(p) = self.pending.remove(&id) else { return };
        let kind = if p.barrier.kind == CheckpointKind::Savepoint { "savepoint" } else { "checkpoint" };
        tracing::warn!(checkpoint = id, %reason, "{kind} aborted");
        let took = p.started.elapsed();
        self.update(id, |s| {
            s.duration = Some(took);
            s.status = CheckpointStatus::Failed(reason.to_string());
        });
        if p.barrier.kind == CheckpointKind::Checkpoint && self.job_failure.is_none() {
            self.job_failure = self.failures.on_failure(&reason);
        }
        if p.stops {
            // The job goes on: periodic checkpoints resume.
            self.stopping = false;
        }
        self.writer.submit(WriteJob::Delete { storage: p.storage.clone(), dir: p.dir.clone() });
        if self.aborted.len() == ABORTED_REMEMBERED {
            self.aborted.pop_front();
        }
        self.aborted.push_back((id, p.storage.clone(), p.dir.clone()));
        if let Some(gateway) = &self.gateway {
            for task in 0..self.tasks.len() {
                gateway.send(task, TaskMail::NotifyCheckpoint { id, complete: false });
            }
        }
        if let Some(reply) = p.reply {
            reply(Err(reason));
        }
        self.resume_periodic(Instant::now());
    }

    /// The uids of the operators whose state the latest completed checkpoint or
    /// savepoint holds: the operators that really have state.
    pub fn operators_with_state(&self) -> &[String] {
        &self.operators_with_state
    }

    /// Whether failed checkpoints must fail the running attempt (more than
    /// `tolerable_failures` in a row); taken once.
    pub fn take_job_failure(&mut self) -> Option<TooManyFailedCheckpoints> {
        self.job_failure.take()
    }

    /// After a checkpoint ends, periodic triggering resumes if it was waiting.
    fn resume_periodic(&mut self, now: Instant) {
        if self.next_trigger.is_none() && self.gateway.is_some() && self.settings.interval.is_some() {
            self.next_trigger = Some(now + self.settings.min_pause);
        }
    }

    /// The job ended: retained checkpoints are kept or deleted by the retention policy
    /// (a finished job deletes them, as Flink does).
    pub fn shutdown(&mut self, finished: bool, cancelled: bool) {
        self.stop_attempt("the job ended");
        let delete = finished
            || !self.storage.is_durable()
            || match self.settings.retention {
                CheckpointRetention::RetainOnCancellation => false,
                CheckpointRetention::DeleteOnCancellation => cancelled,
                CheckpointRetention::NoExternalizedCheckpoints => true,
            };
        if delete {
            for old in self.completed.drain(..) {
                self.writer.submit(WriteJob::Delete { storage: old.storage, dir: old.dir });
            }
            if self.storage.is_durable() {
                self.writer.submit(WriteJob::Delete { storage: self.storage.clone(), dir: self.job_id.clone() });
            }
        }
    }

    fn record(&self, stats: CheckpointStats) {
        if let Ok(mut history) = self.history.lock() {
            history.push_back(stats);
            while history.len() > HISTORY {
                history.pop_front();
            }
        }
    }

    fn update(&self, id: CheckpointId, f: impl FnOnce(&mut CheckpointStats)) {
        if let Ok(mut history) = self.history.lock() {
            if let Some(s) = history.iter_mut().rev().find(|s| s.id == id) {
                f(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Arc<Mutex<Vec<(usize, TaskMail)>>>);

    impl TaskGateway for Collect {
        fn send(&self, task: usize, mail: TaskMail) {
            self.0.lock().unwrap().push((task, mail));
        }
    }

    #[test]
    fn a_state_file_written_after_its_checkpoint_was_aborted_is_removed_when_it_is_acknowledged() {
        let root = std::env::temp_dir().join(format!("spate-coordinator-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let storage = CheckpointStorage::local(&root).unwrap();
        let settings = CheckpointSettings {
            interval: Some(Duration::from_secs(1)),
            mode: CheckpointingMode::ExactlyOnce,
            timeout: Duration::from_secs(60),
            min_pause: Duration::ZERO,
            max_concurrent: 1,
            num_retained: 1,
            retention: CheckpointRetention::RetainOnCancellation,
            tolerable_failures: 5,
        };
        let task = TaskDescriptor { vertex: 0, subtask: 0, parallelism: 1, max_parallelism: 8, is_source: true };
        let mut c =
            CheckpointCoordinator::new(settings, "job".into(), vec![task], storage.clone(), 1, Arc::new(|_| {}))
                .unwrap();
        let start = Instant::now();
        c.start_attempt(Box::new(Collect(Arc::default())), start);
        c.tick(start + Duration::from_secs(1));
        storage.put("job/chk-1/other", vec![0]).unwrap();
        let decline = Decline { reason: "busy".into(), recoverable: true };
        c.handle(CoordinatorMessage::Declined { task: 0, id: 1, decline });
        // The abort's deletion is done; then the task's own write lands.
        let deadline = Instant::now() + Duration::from_secs(10);
        while root.join("job/chk-1").exists() {
            assert!(Instant::now() < deadline, "the aborted checkpoint's directory is deleted");
            std::thread::sleep(Duration::from_millis(5));
        }
        storage.put("job/chk-1/state-0-0", vec![1, 2, 3]).unwrap();
        let file = WrittenFile { name: "state-0-0".into(), size: 3, uids: vec!["op".into()] };
        let ack = Acknowledgement { id: 1, file: Some(file), alignment: Duration::ZERO, sync: Duration::ZERO };
        c.handle(CoordinatorMessage::Acknowledged { task: 0, ack });
        drop(c); // the writer finishes its queue
        assert!(!root.join("job/chk-1").exists(), "the late file is removed");
        let _ = std::fs::remove_dir_all(&root);
    }
}
