//! The embedded mini-cluster: every subtask of a job as a thread of this process.
//!
//! The job master is the runtime's ([`spate_runtime::job_master`]), the same one a
//! cluster's JobManager runs; here its [`Deployer`] starts an attempt's subtasks as
//! threads wired with in-process channels, and a thread per job drives it from one
//! inbox: the subtasks' ends and reports, the checkpoint writer's results, and the
//! clients' requests. The job's result is published only after every thread of the job
//! has ended.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Sender, unbounded};
use spate_core::job_graph::ExecutionMode;
use spate_core::job_id::JobId;
use spate_runtime::TaskError;
use spate_runtime::channel::{CancelHandle, cancellation};
use spate_runtime::checkpoint::{
    CheckpointCoordinator, CheckpointStorage, CompletedCheckpoint, ReportWriter, StorageResolver, TaskMail,
};
use spate_runtime::context::TaskInfo;
use spate_runtime::error::panic_message;
use spate_runtime::job_master::{DeployError, Deployer, Driver, JobMaster, JobMessage, STOP_GRACE, task_descriptors};
use spate_runtime::source::AttemptSplits;
use spate_runtime::task::{MailSender, mailbox};

use super::client_observer::ClientObserver;
use super::deploy::{ExecutionPlan, TaskBlueprint};
use super::job_client::{JobClient, JobShared, JobStatus};
use super::restore::{self, Restore, RestoreError};
use crate::error::{Error, Result};

/// Starts `exec` as a new job and returns its handle. The first attempt is deployed
/// before this returns, so a job that cannot start fails here.
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

    let descriptors = task_descriptors(job);
    let storage = match &settings.checkpoint_dir {
        Some(dir) => CheckpointStorage::open(dir).map_err(|source| Error::Storage {
            setting: "execution.checkpointing.dir".into(),
            source: Box::new(source),
        })?,
        None => CheckpointStorage::in_memory(),
    };
    let (inbox_tx, inbox_rx) = unbounded::<JobMessage>();
    let post_tx = inbox_tx.clone();
    let coordinator = CheckpointCoordinator::new(
        settings.checkpoint.clone(),
        job_id.to_string(),
        descriptors.clone(),
        storage.clone(),
        initial.as_ref().map_or(1, |r| r.id + 1),
        Arc::new(move |m| {
            let _ = post_tx.send(JobMessage::Storage(m));
        }),
    )
    .map_err(|source| Error::Io { context: "cannot start the checkpoint writer thread".into(), source })?;
    let master = JobMaster::new(job, descriptors.len(), coordinator, settings.restart.clone(), STOP_GRACE);

    let shared =
        JobShared::new(job_id, job, &descriptors, inbox_tx.clone(), master.status(), master.checkpoint_history());
    tracing::info!(job = %shared.job_name, id = %shared.job_id, subtasks = descriptors.len(), "starting job");

    let resolver = Arc::new(StorageResolver::new().with(&storage));
    let deployer = ThreadDeployer::new(exec.clone(), shared.clone(), inbox_tx, initial, resolver)?;
    let observer = ClientObserver::new(exec, shared.clone(), BTreeSet::new());
    let mut driver = Driver::new(master, deployer, observer);
    // The master thread deploys the first attempt before `submit` returns, so a job that
    // cannot start fails here; if the thread cannot start, nothing was deployed.
    let (started_tx, started_rx) = crossbeam_channel::bounded::<()>(1);
    let guard = PublishOnPanic(shared.clone());
    let handle = std::thread::Builder::new()
        .name("spate-job-master".into())
        .spawn(move || {
            let _guard = guard;
            let ended = driver.feed(JobMessage::Start, Instant::now());
            let _ = started_tx.send(());
            if !ended {
                driver.run(&inbox_rx);
            }
        })
        .map_err(|source| Error::Io { context: "cannot start the job master thread".into(), source })?;
    let _ = started_rx.recv();
    if let Ok(mut state) = shared.state.lock() {
        state.master = Some(handle);
    }
    Ok(JobClient { shared })
}

/// If the job master's thread panics, its clients would wait for ever: they are told
/// the job failed, and waiting savepoint requests are dropped.
struct PublishOnPanic(Arc<JobShared>);

impl Drop for PublishOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        self.0.savepoints.close();
        if let Ok(mut state) = self.0.state.lock() {
            if state.result.is_none() {
                state.status = JobStatus::Failed;
                state.result = Some(Err(Error::Internal("the job master panicked".into())));
            }
        }
        self.0.done.notify_all();
    }
}

/// The subtasks of one attempt, as threads.
struct AttemptThreads {
    cancel: CancelHandle,
    /// By task index.
    mailboxes: HashMap<usize, MailSender>,
    threads: Vec<JoinHandle<()>>,
}

/// Deploys an attempt's subtasks as threads of this process.
pub(crate) struct ThreadDeployer {
    exec: Arc<ExecutionPlan>,
    shared: Arc<JobShared>,
    inbox: Sender<JobMessage>,
    /// The state the job was submitted with, for its first attempt.
    initial: Option<Restore>,
    attempts: HashMap<u32, AttemptThreads>,
    /// The subtasks of the first attempt, already wired (a worker's share of a job,
    /// with channels to other workers); `None`: every subtask, wired here.
    wired: Option<Vec<(usize, TaskBlueprint)>>,
    /// The first attempt's listing of its sources' inputs, made by another process (a
    /// worker's share of a job); `None`: each attempt lists them here.
    listed: Option<AttemptSplits>,
    /// Whether an attempt was deployed: only the first starts from `initial`.
    deployed: bool,
    /// Writes the subtasks' snapshots and passes their reports into the inbox.
    reports: ReportWriter,
}

impl ThreadDeployer {
    /// Deploys the subtasks of `exec` as threads reporting into `inbox`; the first
    /// attempt starts from `initial`. The subtasks write their snapshots into the
    /// storages `resolver` opens.
    pub(crate) fn new(
        exec: Arc<ExecutionPlan>,
        shared: Arc<JobShared>,
        inbox: Sender<JobMessage>,
        initial: Option<Restore>,
        resolver: Arc<StorageResolver>,
    ) -> Result<Self> {
        let post = inbox.clone();
        let reports = ReportWriter::start(
            resolver,
            Arc::new(move |attempt, message| {
                let _ = post.send(JobMessage::Task { attempt, message });
            }),
        )
        .map_err(|source| Error::Io { context: "cannot start the state writer thread".into(), source })?;
        Ok(ThreadDeployer {
            exec,
            shared,
            inbox,
            initial,
            attempts: HashMap::new(),
            wired: None,
            listed: None,
            deployed: false,
            reports,
        })
    }

    /// Deploys only `blueprints` (task index, blueprint), wired by the caller.
    pub(crate) fn with_blueprints(mut self, blueprints: Vec<(usize, TaskBlueprint)>) -> Self {
        self.wired = Some(blueprints);
        self
    }

    /// Gives the subtasks of the first attempt `splits`, the attempt's listing of its
    /// sources' inputs.
    pub(crate) fn with_splits(mut self, splits: AttemptSplits) -> Self {
        self.listed = Some(splits);
        self
    }

    /// The state attempt `attempt` starts from.
    fn restore(&mut self, candidates: &[CompletedCheckpoint]) -> Result<Option<Restore>, RestoreError> {
        if !std::mem::replace(&mut self.deployed, true) {
            return Ok(self.initial.take());
        }
        let ignore = self.exec.settings.ignore_unclaimed_state;
        if !candidates.is_empty() {
            return restore::load_first_usable(&self.exec, candidates, ignore);
        }
        // No checkpoint of this run: the savepoint the job started from, if any.
        match &self.exec.settings.savepoint_path {
            Some(path) => restore::load_first_usable(&self.exec, &restore::savepoint_candidates(path)?, ignore),
            None => Ok(None),
        }
    }
}

impl Deployer for ThreadDeployer {
    fn deploy(&mut self, attempt: u32, restore_from: Vec<CompletedCheckpoint>) -> Result<(), DeployError> {
        let restore = self.restore(&restore_from).map_err(|e| DeployError { attempt, source: Box::new(e) })?;
        let exec = self.exec.clone();
        let job = &exec.plan.job_graph;
        let (cancel_handle, cancel) = cancellation();
        // Accumulators are not checkpointed: each attempt counts from zero (as in Flink).
        for task in &self.shared.tasks {
            task.metrics.accumulators.clear();
        }
        let blueprints = match self.wired.take() {
            Some(wired) => wired,
            None => exec.wire().into_iter().enumerate().collect(),
        };
        // Listed by the first source subtask that needs it, unless another process did.
        let splits = Arc::new(self.listed.take().map(std::sync::OnceLock::from).unwrap_or_default());
        let n = blueprints.len();
        let mut restored: Vec<_> = restore.map(|r| r.tasks).unwrap_or_default().into_iter().map(Some).collect();
        let mut mailboxes = HashMap::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for (index, blueprint) in blueprints {
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
                cancel: Some(cancel.clone()),
            });
            let name = info.display_name();
            let reporter = self.reports.reporter(attempt, index, blueprint.vertex, blueprint.subtask);
            let (mail, mailbox) = mailbox(reporter);
            mailboxes.insert(index, mail);
            let state = restored.get_mut(index).and_then(Option::take).unwrap_or_default();
            let (exec, cancel, metrics, inbox, splits) = (
                exec.clone(),
                cancel.clone(),
                self.shared.tasks[index].metrics.clone(),
                self.inbox.clone(),
                splits.clone(),
            );
            let task_name = name.clone();
            let spawned = std::thread::Builder::new().name(name.clone()).spawn(move || {
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    exec.build_task(blueprint, info, cancel, metrics, state, &splits)?.with_mailbox(mailbox).run()
                }));
                let result = run.unwrap_or_else(|payload| {
                    Err(TaskError::Internal(format!("the task thread panicked: {}", panic_message(&*payload))))
                });
                let _ = inbox.send(JobMessage::TaskEnded { attempt, task: index, name: task_name, result });
            });
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(source) => {
                    // Nothing of the attempt may stay running.
                    cancel_handle.cancel();
                    for t in threads {
                        let _ = t.join();
                    }
                    let error = Error::Io { context: format!("cannot start a thread for {name}"), source };
                    return Err(DeployError { attempt, source: Box::new(error) });
                }
            }
        }
        self.attempts.insert(attempt, AttemptThreads { cancel: cancel_handle, mailboxes, threads });
        Ok(())
    }

    fn send(&mut self, attempt: u32, task: usize, mail: TaskMail) {
        if let Some(mailbox) = self.attempts.get(&attempt).and_then(|a| a.mailboxes.get(&task)) {
            let _ = mailbox.send(mail);
        }
    }

    fn cancel(&mut self, attempt: u32) {
        if let Some(a) = self.attempts.get(&attempt) {
            a.cancel.cancel();
        }
    }

    fn release(&mut self, attempt: u32) {
        if let Some(a) = self.attempts.remove(&attempt) {
            for t in a.threads {
                let _ = t.join();
            }
        }
    }
}
