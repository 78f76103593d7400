//! The embedded mini-cluster: every subtask of a job as a thread of this process.
//!
//! A job master thread supervises the subtasks of the current attempt and drives the
//! checkpoint coordinator, all through one inbox of messages: task ends and reports,
//! the checkpoint writer's results, and client requests. On a failure it cancels the
//! attempt, asks the restart strategy, and starts a new attempt from the latest
//! completed checkpoint (global failover). The job's result is published only after
//! every thread of the job has ended.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use spate_core::job_graph::ExecutionMode;
use spate_core::job_id::JobId;
use spate_runtime::TaskError;
use spate_runtime::channel::cancellation;
use spate_runtime::checkpoint::{
    CheckpointCoordinator, CheckpointFailure, CheckpointStorage, CompletedCheckpoint, CoordinatorMessage, Decline,
    SnapshotReport, TaskDescriptor, TaskGateway, TaskMail, TaskReporter, TooManyFailedCheckpoints,
};
use spate_runtime::context::TaskInfo;
use spate_runtime::error::panic_message;
use spate_runtime::metrics::TaskMetrics;
use spate_runtime::restart::RestartTracker;
use spate_runtime::task::Mailbox;

use super::deploy::ExecutionPlan;
use super::job_client::{JobClient, JobExecutionResult, JobShared, JobState, JobStatus, TaskEntry};
use super::restore::{self, Restore, RestoreError};
use crate::error::{Error, Result};
use crate::graph::stream_graph::NodeOperator;

/// What the job master is told.
pub(crate) enum MasterEvent {
    /// A subtask thread of attempt `attempt` ended.
    TaskEnded { attempt: u32, name: String, result: Result<(), TaskError> },
    /// A subtask of attempt `attempt` reported (snapshot, decline, end of input).
    Task { attempt: u32, message: CoordinatorMessage },
    /// The checkpoint writer finished a piece of work.
    Storage(CoordinatorMessage),
    /// The user cancels the job.
    Cancel,
    /// The user asks for a savepoint in `dir`, and to stop the job after it if `stop`.
    Savepoint { dir: std::path::PathBuf, stop: bool, reply: Sender<Result<String>> },
    /// A savepoint ended.
    SavepointDone {
        result: std::result::Result<CompletedCheckpoint, CheckpointFailure>,
        stop: bool,
        reply: Sender<Result<String>>,
    },
}

/// Starts `exec` as a new job and returns its handle.
pub(crate) fn submit(mut exec: ExecutionPlan) -> Result<JobClient> {
    if exec.plan.job_graph.execution_mode == ExecutionMode::Batch && exec.settings.checkpoint.interval.is_some() {
        // As in Flink: a bounded job in BATCH mode recovers by rerunning, not from
        // checkpoints.
        tracing::info!("checkpointing is disabled in BATCH execution mode");
        exec.settings.checkpoint.interval = None;
    }
    let exec = Arc::new(exec);
    let job = &exec.plan.job_graph;
    let job_id = JobId::generate();
    let settings = &exec.settings;

    // State to start from: read and checked before anything runs.
    let initial = match &settings.savepoint_path {
        Some(path) => {
            let candidates = restore::savepoint_candidates(path)?;
            let restore = restore::load_first_usable(&exec, &candidates, settings.ignore_unclaimed_state)?
                .ok_or_else(|| RestoreError::Empty { path: path.clone() })?;
            tracing::info!(path = %restore.path, checkpoint = restore.id, "restoring the job");
            Some(restore)
        }
        None => None,
    };

    let mut descriptors = Vec::new();
    for v in &job.vertices {
        let is_source = matches!(exec.graph.nodes[exec.plan.heads[v.id as usize]].operator, NodeOperator::Source(_));
        for s in 0..v.parallelism {
            descriptors.push(TaskDescriptor {
                vertex: v.id,
                subtask: s,
                parallelism: v.parallelism,
                max_parallelism: v.max_parallelism,
                is_source,
            });
        }
    }
    let storage = match &settings.checkpoint_dir {
        Some(dir) => CheckpointStorage::local(dir).map_err(|source| Error::Storage {
            setting: "execution.checkpointing.dir".into(),
            source: Box::new(source),
        })?,
        None => CheckpointStorage::in_memory(),
    };
    let (inbox_tx, inbox_rx) = unbounded::<MasterEvent>();
    let post_tx = inbox_tx.clone();
    let coordinator = CheckpointCoordinator::new(
        settings.checkpoint.clone(),
        job_id.to_string(),
        descriptors.clone(),
        storage,
        initial.as_ref().map_or(1, |r| r.id + 1),
        Arc::new(move |m| {
            let _ = post_tx.send(MasterEvent::Storage(m));
        }),
    )
    .map_err(|source| Error::Io { context: "cannot start the checkpoint writer thread".into(), source })?;

    let tasks: Vec<TaskEntry> =
        descriptors.iter().map(|d| TaskEntry { vertex: d.vertex, metrics: Arc::new(TaskMetrics::default()) }).collect();
    let shared = Arc::new(JobShared {
        job_id,
        job_name: job.job_name.clone(),
        inbox: inbox_tx.clone(),
        user_cancelled: std::sync::atomic::AtomicBool::new(false),
        restarts: std::sync::atomic::AtomicU32::new(0),
        state: std::sync::Mutex::new(JobState { status: JobStatus::Running, result: None, master: None }),
        done: std::sync::Condvar::new(),
        vertices: job.vertices.iter().map(|v| (v.name.clone(), v.parallelism)).collect(),
        tasks,
        started: Instant::now(),
        checkpoints: coordinator.history(),
    });
    tracing::info!(job = %shared.job_name, id = %shared.job_id, subtasks = descriptors.len(), "starting job");

    let master = JobMaster {
        exec: exec.clone(),
        shared: shared.clone(),
        inbox: inbox_rx,
        inbox_tx,
        coordinator,
        restarts: RestartTracker::new(settings.restart.clone()),
        initial,
        warned_uids: BTreeSet::new(),
    };
    let handle = std::thread::Builder::new()
        .name("spate-job-master".into())
        .spawn(move || master.run())
        .map_err(|source| Error::Io { context: "cannot start the job master thread".into(), source })?;
    if let Ok(mut state) = shared.state.lock() {
        state.master = Some(handle);
    }
    Ok(JobClient { shared })
}

/// Warns about operators whose state a checkpoint holds under a generated uid: a
/// changed pipeline changes their uid, and their state would not be found. Derived from
/// what the checkpoint really holds, once per operator; a source's positions are left
/// out (every source records them, and its generated uid changes only when sources are
/// added before it).
fn warn_about_missing_uids(exec: &ExecutionPlan, with_state: &[String], warned: &mut BTreeSet<String>) {
    let missing: Vec<String> = exec
        .graph
        .nodes
        .iter()
        .filter(|n| n.uid.is_none() && !matches!(n.operator, NodeOperator::Source(_)))
        .filter(|n| {
            let uid = exec.plan.uid(n.id);
            with_state.iter().any(|s| s == uid) && warned.insert(uid.to_string())
        })
        .map(|n| format!("'{}'", n.display_name()))
        .collect();
    if !missing.is_empty() {
        tracing::warn!(
            operators = %missing.join(", "),
            "operators with state but without an explicit uid: their state is matched by a generated uid that \
             changes when the pipeline changes; set .uid(..) to keep restoring it"
        );
    }
}

/// Tells whoever asked for a savepoint how it ended.
fn answer_savepoint(
    result: std::result::Result<CompletedCheckpoint, CheckpointFailure>,
    reply: &Sender<Result<String>>,
) {
    let _ = reply.send(match result {
        Ok(done) => Ok(done.path()),
        Err(reason) => Err(Error::SavepointFailed(reason)),
    });
}

/// How long tasks of a job stopped with a savepoint get to close on their own before
/// they are cancelled.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Why an attempt failed.
enum Failure {
    /// A task failed (the first root cause).
    Task { task: String, error: TaskError },
    /// Too many checkpoints failed in a row.
    Checkpoints(TooManyFailedCheckpoints),
}

impl Failure {
    /// Whether a restart could help (see [`TaskError::is_recoverable`]).
    fn is_recoverable(&self) -> bool {
        match self {
            Failure::Task { error, .. } => error.is_recoverable(),
            Failure::Checkpoints(too_many) => too_many.latest.is_recoverable(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Task { task, error } => write!(f, "{task}: {error}"),
            Failure::Checkpoints(cause) => write!(f, "{cause}"),
        }
    }
}

/// How an attempt ended.
enum AttemptEnd {
    Finished,
    Cancelled,
    Stopped,
    Failed(Failure),
}

struct JobMaster {
    exec: Arc<ExecutionPlan>,
    shared: Arc<JobShared>,
    inbox: Receiver<MasterEvent>,
    inbox_tx: Sender<MasterEvent>,
    coordinator: CheckpointCoordinator,
    restarts: RestartTracker,
    initial: Option<Restore>,
    /// Operators already warned about for lacking a uid.
    warned_uids: BTreeSet<String>,
}

/// Reaches the tasks of one attempt through their mailboxes.
struct MailGateway {
    mailboxes: Vec<Sender<TaskMail>>,
}

impl TaskGateway for MailGateway {
    fn send(&self, task: usize, mail: TaskMail) {
        if let Some(mailbox) = self.mailboxes.get(task) {
            let _ = mailbox.send(mail);
        }
    }
}

/// Posts a task's reports into the master's inbox, tagged with the attempt.
struct InboxReporter {
    attempt: u32,
    task: usize,
    inbox: Sender<MasterEvent>,
}

impl TaskReporter for InboxReporter {
    fn checkpointed(&self, report: SnapshotReport) {
        let message = CoordinatorMessage::Snapshot { task: self.task, report };
        let _ = self.inbox.send(MasterEvent::Task { attempt: self.attempt, message });
    }

    fn declined(&self, id: u64, decline: Decline) {
        let message = CoordinatorMessage::Declined { task: self.task, id, decline };
        let _ = self.inbox.send(MasterEvent::Task { attempt: self.attempt, message });
    }

    fn finished(&self) {
        let message = CoordinatorMessage::Finished { task: self.task };
        let _ = self.inbox.send(MasterEvent::Task { attempt: self.attempt, message });
    }
}

impl JobMaster {
    fn run(mut self) {
        let mut attempt = 0u32;
        let mut restore = self.initial.take();
        let end = loop {
            let outcome = self.run_attempt(attempt, restore.take());
            match outcome {
                Ok(AttemptEnd::Failed(failure)) => {
                    if !failure.is_recoverable() {
                        tracing::error!(job = %self.shared.job_name, %failure, "a restart cannot fix this failure: not restarting");
                        break Ok(AttemptEnd::Failed(failure));
                    }
                    let Some(delay) = self.restarts.on_failure(Instant::now()) else {
                        break Ok(AttemptEnd::Failed(failure));
                    };
                    tracing::warn!(job = %self.shared.job_name, %failure, ?delay, attempt = attempt + 1, "restarting the job");
                    self.shared.set_status(JobStatus::Restarting);
                    if !self.wait_restart_delay(delay) {
                        break Ok(AttemptEnd::Cancelled);
                    }
                    let candidates: Vec<CompletedCheckpoint> = self.coordinator.completed().cloned().collect();
                    let loaded = if candidates.is_empty() {
                        // No checkpoint of this run: the one the job started from, if any.
                        match &self.exec.settings.savepoint_path {
                            Some(path) => restore::savepoint_candidates(path).and_then(|c| {
                                restore::load_first_usable(&self.exec, &c, self.exec.settings.ignore_unclaimed_state)
                            }),
                            None => Ok(None),
                        }
                    } else {
                        restore::load_first_usable(&self.exec, &candidates, self.exec.settings.ignore_unclaimed_state)
                    };
                    match loaded {
                        Ok(r) => restore = r,
                        Err(reason) => break Err(reason.into()),
                    }
                    attempt += 1;
                    self.shared.restarts.store(attempt, Ordering::Release);
                    self.shared.set_status(JobStatus::Running);
                }
                other => break other,
            }
        };
        self.publish(end);
    }

    /// Sleeps before a restart while still answering the user; false if cancelled.
    fn wait_restart_delay(&mut self, delay: std::time::Duration) -> bool {
        let deadline = Instant::now() + delay;
        loop {
            match self.inbox.recv_deadline(deadline) {
                Ok(MasterEvent::Cancel) => return false,
                Ok(MasterEvent::Savepoint { reply, .. }) => {
                    let job = self.shared.job_name.clone();
                    let _ = reply.send(Err(Error::JobNotRunning { job, state: "is restarting" }));
                }
                Ok(MasterEvent::Storage(m)) => self.coordinator.handle(m),
                Ok(MasterEvent::SavepointDone { result, reply, .. }) => answer_savepoint(result, &reply),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return true,
                Err(RecvTimeoutError::Disconnected) => return true,
            }
        }
    }

    fn run_attempt(&mut self, attempt: u32, restore: Option<Restore>) -> Result<AttemptEnd> {
        let exec = self.exec.clone();
        let job = &exec.plan.job_graph;
        let (cancel_handle, cancel) = cancellation();
        // Accumulators are not checkpointed: each attempt counts from zero (as in Flink).
        for task in &self.shared.tasks {
            task.metrics.accumulators.clear();
        }
        let blueprints = exec.wire();
        let n = blueprints.len();
        let mut restored = restore.map(|r| r.tasks).unwrap_or_default().into_iter();
        let mut mailboxes = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for (index, blueprint) in blueprints.into_iter().enumerate() {
            let vertex = &job.vertices[blueprint.vertex as usize];
            let info = Arc::new(TaskInfo {
                job_name: job.job_name.clone(),
                task_name: vertex.name.clone(),
                subtask_index: blueprint.subtask,
                parallelism: vertex.parallelism,
                max_parallelism: vertex.max_parallelism,
                attempt,
                execution_mode: job.execution_mode,
                clock: exec.settings.clock.clone(),
                auto_watermark_interval: exec.settings.auto_watermark_interval,
                checkpointing_mode: exec.settings.checkpoint.mode,
            });
            let name = info.display_name();
            let (mail_tx, mail_rx) = unbounded::<TaskMail>();
            mailboxes.push(mail_tx);
            let mailbox = Mailbox {
                mail: mail_rx,
                reporter: Box::new(InboxReporter { attempt, task: index, inbox: self.inbox_tx.clone() }),
            };
            let state = restored.next().unwrap_or_default();
            let (exec, cancel, metrics, inbox) =
                (exec.clone(), cancel.clone(), self.shared.tasks[index].metrics.clone(), self.inbox_tx.clone());
            let task_name = name.clone();
            let spawned = std::thread::Builder::new().name(name.clone()).spawn(move || {
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    exec.build_task(blueprint, info, cancel, metrics, state)?.with_mailbox(mailbox).run()
                }));
                let result = run.unwrap_or_else(|payload| {
                    Err(TaskError::Internal(format!("the task thread panicked: {}", panic_message(&*payload))))
                });
                let _ = inbox.send(MasterEvent::TaskEnded { attempt, name: task_name, result });
            });
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(source) => {
                    cancel_handle.cancel();
                    for t in threads {
                        let _ = t.join();
                    }
                    return Err(Error::Io { context: format!("cannot start a thread for {name}"), source });
                }
            }
        }
        self.coordinator.start_attempt(Box::new(MailGateway { mailboxes: mailboxes.clone() }), Instant::now());

        let mut ended = 0;
        let mut finished = 0;
        let mut failure: Option<Failure> = None;
        let mut stopping = false;
        let mut cancelled = false;
        let mut stop_deadline: Option<Instant> = None;
        while ended < n {
            let deadline = match (self.coordinator.next_deadline(), stop_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let event = match deadline {
                Some(deadline) => match self.inbox.recv_deadline(deadline) {
                    Ok(event) => event,
                    Err(RecvTimeoutError::Timeout) => {
                        if stop_deadline.is_some_and(|d| Instant::now() >= d) {
                            stop_deadline = None;
                            cancel_handle.cancel();
                        }
                        self.coordinator.tick(Instant::now());
                        self.check_checkpoint_failures(&mut failure, &cancel_handle, stopping || cancelled);
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match self.inbox.recv() {
                    Ok(event) => event,
                    Err(_) => break,
                },
            };
            match event {
                MasterEvent::TaskEnded { attempt: a, .. } if a != attempt => {}
                MasterEvent::TaskEnded { name, result, .. } => {
                    ended += 1;
                    if let Err(error) = result {
                        if stopping || cancelled {
                            continue;
                        }
                        let replaces = match &failure {
                            None => true,
                            // A root cause wins over the cancellations it caused.
                            Some(Failure::Task { error: current, .. }) => {
                                current.is_consequence() && !error.is_consequence()
                            }
                            Some(Failure::Checkpoints(_)) => false,
                        };
                        if !error.is_consequence() {
                            tracing::error!(task = %name, %error, "task failed");
                            self.shared.set_status(JobStatus::Failing);
                        }
                        if replaces {
                            failure = Some(Failure::Task { task: name, error });
                        }
                        cancel_handle.cancel();
                    }
                }
                MasterEvent::Task { attempt: a, .. } if a != attempt => {}
                MasterEvent::Task { message, .. } => {
                    if matches!(message, CoordinatorMessage::Finished { .. }) {
                        finished += 1;
                        if finished == n && failure.is_none() && !cancelled && !stopping {
                            // Every task processed all its input: commit and close.
                            self.coordinator.stop_attempt("the job finished");
                            for mailbox in &mailboxes {
                                let _ = mailbox.send(TaskMail::FinishJob);
                            }
                        }
                    }
                    self.coordinator.handle(message);
                    self.check_checkpoint_failures(&mut failure, &cancel_handle, stopping || cancelled);
                }
                MasterEvent::Storage(message) => {
                    self.coordinator.handle(message);
                    self.check_checkpoint_failures(&mut failure, &cancel_handle, stopping || cancelled);
                    let with_state = self.coordinator.operators_with_state();
                    warn_about_missing_uids(&self.exec, with_state, &mut self.warned_uids);
                }
                MasterEvent::Cancel => {
                    cancelled = true;
                    cancel_handle.cancel();
                }
                MasterEvent::Savepoint { dir, stop, reply } => {
                    let storage = match CheckpointStorage::local(&dir) {
                        Ok(s) => s,
                        Err(source) => {
                            let setting = format!("savepoint directory {}", dir.display());
                            let _ = reply.send(Err(Error::Storage { setting, source: Box::new(source) }));
                            continue;
                        }
                    };
                    let inbox = self.inbox_tx.clone();
                    self.coordinator.trigger_savepoint(
                        Instant::now(),
                        storage,
                        stop,
                        Box::new(move |result| {
                            let _ = inbox.send(MasterEvent::SavepointDone { result, stop, reply });
                        }),
                    );
                }
                MasterEvent::SavepointDone { result, stop, reply } => match result {
                    Ok(done) => {
                        let path = done.path();
                        tracing::info!(path = %path, "savepoint completed");
                        if stop && failure.is_none() {
                            // Every task took the notification that commits what the
                            // savepoint covers before this mail; then it closes. A task
                            // that cannot read its mail (blocked on a full channel) is
                            // cancelled after a grace period.
                            stopping = true;
                            self.shared.set_status(JobStatus::Cancelling);
                            for mailbox in &mailboxes {
                                let _ = mailbox.send(TaskMail::Stop);
                            }
                            stop_deadline = Some(Instant::now() + STOP_GRACE);
                        }
                        let _ = reply.send(Ok(path));
                    }
                    Err(reason) => {
                        tracing::warn!(%reason, "savepoint failed; the job goes on");
                        let _ = reply.send(Err(Error::SavepointFailed(reason)));
                    }
                },
            }
        }
        for t in threads {
            let _ = t.join();
        }
        self.coordinator.stop_attempt("the attempt ended");
        Ok(if stopping {
            AttemptEnd::Stopped
        } else if cancelled {
            AttemptEnd::Cancelled
        } else {
            match failure {
                Some(failure) => AttemptEnd::Failed(failure),
                None => AttemptEnd::Finished,
            }
        })
    }

    /// Fails the attempt if the coordinator says too many checkpoints failed in a row.
    fn check_checkpoint_failures(
        &mut self,
        failure: &mut Option<Failure>,
        cancel: &spate_runtime::channel::CancelHandle,
        ending: bool,
    ) {
        let Some(too_many) = self.coordinator.take_job_failure() else { return };
        if ending || failure.is_some() {
            return;
        }
        tracing::error!(job = %self.shared.job_name, error = %too_many, "failing the job");
        self.shared.set_status(JobStatus::Failing);
        *failure = Some(Failure::Checkpoints(too_many));
        cancel.cancel();
    }

    fn publish(mut self, end: Result<AttemptEnd>) {
        let job = self.shared.job_name.clone();
        // Savepoints the last attempt took with it, and requests that came too late.
        while let Ok(event) = self.inbox.try_recv() {
            match event {
                MasterEvent::SavepointDone { result, reply, .. } => answer_savepoint(result, &reply),
                MasterEvent::Savepoint { reply, .. } => {
                    let _ = reply.send(Err(Error::JobNotRunning { job: job.clone(), state: "has ended" }));
                }
                _ => {}
            }
        }
        let stopped = matches!(end, Ok(AttemptEnd::Stopped));
        let (status, result) = match end {
            Ok(AttemptEnd::Finished) | Ok(AttemptEnd::Stopped) => match self.shared.accumulators() {
                Ok(accumulators) => (
                    JobStatus::Finished,
                    Ok(JobExecutionResult {
                        job_id: self.shared.job_id,
                        job_name: job,
                        net_runtime: self.shared.started.elapsed(),
                        vertices: self.shared.vertex_metrics(),
                        accumulators,
                    }),
                ),
                Err(e) => (JobStatus::Failed, Err(e)),
            },
            Ok(AttemptEnd::Cancelled) => (JobStatus::Canceled, Err(Error::JobCancelled { job })),
            Ok(AttemptEnd::Failed(Failure::Task { task, error })) => {
                (JobStatus::Failed, Err(Error::JobFailed { job, task, cause: error }))
            }
            Ok(AttemptEnd::Failed(Failure::Checkpoints(cause))) => {
                (JobStatus::Failed, Err(Error::CheckpointsFailed { job, cause }))
            }
            Err(error) => (JobStatus::Failed, Err(error)),
        };
        // Checkpoints of a job stopped with a savepoint are kept as those of a cancelled one.
        self.coordinator.shutdown(status == JobStatus::Finished && !stopped, status == JobStatus::Canceled || stopped);
        // Waits for the writer's queue (deletions included) before reporting the end.
        drop(self.coordinator);
        tracing::info!(job = %self.shared.job_name, ?status, "job ended");
        if let Ok(mut state) = self.shared.state.lock() {
            state.status = status;
            state.result = Some(result);
        }
        self.shared.done.notify_all();
    }
}
