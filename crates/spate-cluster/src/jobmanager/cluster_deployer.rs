//! How a job master on the JobManager reaches its subtasks: one worker on each
//! TaskManager it got slots of, started, connected to each other, mailed and cancelled
//! over the TaskManagers' task executors.

use std::collections::HashMap;
use std::sync::Arc;

use spate_runtime::checkpoint::{CheckpointLocation, CompletedCheckpoint, TaskMail};
use spate_runtime::job_master::{AttemptFailed, DeployError, Deployer, ResourcesUnavailable, task_descriptors};
use spate_runtime::worker_link::{Deployment, Placement};
use tarpc::context;

use super::Shared;
use super::dispatcher::Submission;
use crate::rpc::{TaskExecutorClient, WorkerRequest};

/// The deployer of one job.
pub(crate) struct ClusterDeployer {
    shared: Arc<Shared>,
    job_id: String,
    submission: Arc<Submission>,
    /// Per attempt, its workers.
    attempts: HashMap<u32, AttemptWorkers>,
    /// Since when the attempt waiting for free slots waits (`slot.request.timeout`).
    waiting_since: Option<(u32, std::time::Instant)>,
    /// The savepoint the job was submitted with: where attempts start while no
    /// checkpoint of this run completed.
    initial: Option<CompletedCheckpoint>,
    /// Mail and cancels, in order per TaskManager, off the job master's thread.
    mail: super::executor_mail::ExecutorMail,
}

/// The workers of one attempt: one per TaskManager it has slots on.
struct AttemptWorkers {
    /// (TaskManager id, its executor's address), by worker index.
    workers: Vec<(String, String)>,
    /// The worker of each subtask, by task index.
    task_worker: Vec<usize>,
}

impl ClusterDeployer {
    pub fn new(
        shared: Arc<Shared>,
        job_id: String,
        submission: Arc<Submission>,
        initial: Option<CompletedCheckpoint>,
    ) -> Self {
        let mail = super::executor_mail::ExecutorMail::new(shared.clone(), job_id.clone());
        ClusterDeployer { shared, job_id, submission, attempts: HashMap::new(), waiting_since: None, initial, mail }
    }

    /// The checkpoint every worker of an attempt restores: the newest of `candidates`
    /// whose `_metadata` is readable and whose files are all there with the sizes
    /// written (chosen here, so that no two workers start from different checkpoints;
    /// damage inside a file is found by the worker that reads it, and that checkpoint
    /// is skipped next time); else the savepoint the job started from. Candidates that
    /// all fail are an error naming each.
    fn choose_restore(&self, candidates: &[CompletedCheckpoint]) -> Result<Option<ChosenRestore>, String> {
        let location =
            |c: &CompletedCheckpoint| CheckpointLocation { storage: c.storage.url().to_string(), dir: c.dir.clone() };
        let mut errors = Vec::new();
        let damaged = {
            let jobs = self.shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
            jobs.get(&self.job_id).map(|r| r.damaged_checkpoints.clone()).unwrap_or_default()
        };
        for candidate in candidates {
            if damaged.contains(&location(candidate)) {
                tracing::warn!(job = %self.job_id, checkpoint = candidate.id, "a worker could not read this checkpoint; trying an older one");
                errors.push(format!("{}: a worker could not read it", candidate.path()));
                continue;
            }
            match candidate.storage.read_metadata(&candidate.dir) {
                Ok(metadata) => {
                    return Ok(Some(ChosenRestore { location: location(candidate), metadata, path: candidate.path() }));
                }
                Err(error) => {
                    tracing::error!(job = %self.job_id, checkpoint = candidate.id, %error, "checkpoint is not usable; trying an older one");
                    errors.push(format!("{}: {error}", candidate.path()));
                }
            }
        }
        if !errors.is_empty() {
            return Err(format!("no usable checkpoint: {}", errors.join("; ")));
        }
        let Some(savepoint) = &self.initial else { return Ok(None) };
        if damaged.contains(&location(savepoint)) {
            // The job cannot start from where it was asked to: no restart fixes that.
            return Err(format!("the savepoint the job starts from, {}, cannot be read", savepoint.path()));
        }
        let metadata = savepoint.storage.read_metadata(&savepoint.dir).map_err(|e| e.to_string())?;
        Ok(Some(ChosenRestore { location: location(savepoint), metadata, path: savepoint.path() }))
    }

    /// Logs, and records for REST, that an attempt starts from `chosen`.
    fn restoring(&self, chosen: &ChosenRestore) {
        let (metadata, path) = (&chosen.metadata, chosen.path.clone());
        let what = if metadata.kind == spate_runtime::checkpoint::CheckpointKind::Savepoint {
            "savepoint"
        } else {
            "checkpoint"
        };
        tracing::info!(job = %self.job_id, checkpoint = metadata.checkpoint_id, path = %path, "restoring {what}");
        let mut jobs = self.shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(record) = jobs.get_mut(&self.job_id) {
            record.restores += 1;
            record.restored = Some(super::dispatcher::RestoredCheckpoint {
                id: metadata.checkpoint_id,
                timestamp: super::dispatcher::now_ms(),
                is_savepoint: metadata.kind == spate_runtime::checkpoint::CheckpointKind::Savepoint,
                path,
            });
        }
    }

    /// Runs `call` against the executor at `address` on the JobManager's runtime.
    fn call<T>(
        &self,
        address: &str,
        call: impl AsyncFnOnce(TaskExecutorClient) -> Result<T, String>,
    ) -> Result<T, String> {
        let shared = self.shared.clone();
        let address = address.to_string();
        self.shared.runtime.block_on(async move {
            // The kept connection: checkpoint mail goes to every subtask each interval.
            let result = call(shared.executor(&address).await?).await;
            if result.is_err() {
                shared.forget_executor(&address);
            }
            result
        })
    }

    /// Cancels attempt `attempt` on the TaskManager at `address`; one that cannot be
    /// reached is lost, and its workers count as ended.
    fn cancel_on(&self, attempt: u32, taskmanager: &str, address: &str) {
        let (job, token) = (self.job_id.clone(), self.shared.token.clone());
        if let Err(reason) = self.call(address, async move |executor| {
            executor
                .cancel(context::current(), job, attempt, token)
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
        }) {
            tracing::warn!(job = %self.job_id, attempt, %reason, "cannot cancel the worker: its subtasks count as ended");
            super::dispatcher::taskmanager_lost(&self.shared, taskmanager, [self.job_id.clone()], &reason);
        }
    }

    /// Starts one worker per TaskManager of `slots` and hands each the others' data
    /// addresses with worker 0's listing of the sources' inputs; the workers started so
    /// far when one fails.
    fn start_workers(
        &self,
        attempt: u32,
        workers: &[(String, String)],
        slots: &[u32],
        restore_from: &Option<CheckpointLocation>,
    ) -> Result<(), (StartFailure, usize)> {
        let graph = &self.submission.job_graph;
        let mut data = Vec::with_capacity(workers.len());
        let mut splits = None;
        for (index, (tm, address)) in workers.iter().enumerate() {
            let request = WorkerRequest {
                artifact: self.submission.artifact.clone(),
                args: self.submission.args.clone(),
                cwd: self.submission.cwd.clone(),
                deployment: Deployment {
                    job_id: self.job_id.clone(),
                    job_index: self.submission.job_index,
                    attempt,
                    job_graph: graph.clone(),
                    config: self.submission.config.clone(),
                    placement: Placement { worker: index as u32, slots: slots.to_vec() },
                    data: Default::default(),
                    token: self.shared.token.clone(),
                    recorded: self.submission.recorded.clone(),
                    side_effects: self.submission.side_effects.clone(),
                    restore_from: restore_from.clone(),
                },
                rest: self.shared.rest_address.clone(),
            };
            let token = self.shared.token.clone();
            // Counted before it can exit: its exit may be reported before the answer.
            if let Some(record) = self.shared.jobs.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&self.job_id) {
                record.live_workers.insert((attempt, tm.clone()));
            }
            // Fetching the application and the replay of main may take a while.
            let address = address.clone();
            let started = self.shared.runtime.block_on(async move {
                let executor = crate::rpc::connect_executor(&address)
                    .await
                    .map_err(|reason| StartFailure { nothing_started: true, ..StartFailure::lost(reason) })?;
                let mut ctx = context::current();
                ctx.deadline = std::time::Instant::now() + START_DEADLINE;
                match executor.start_worker(ctx, request, token).await {
                    Ok(Ok(started)) => Ok(started),
                    Ok(Err(refusal)) => Err(StartFailure::refused(refusal)),
                    Err(lost) => Err(StartFailure::lost(lost.to_string())),
                }
            });
            // A start that timed out may still have started the worker: it counts.
            let started = match started {
                Ok(started) => started,
                Err(failure) => {
                    // Nothing runs: never reached, or refused (its worker killed and waited for).
                    if failure.nothing_started {
                        let mut jobs = self.shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some(record) = jobs.get_mut(&self.job_id) {
                            record.live_workers.remove(&(attempt, tm.clone()));
                        }
                    }
                    return Err((failure.on(tm), index + 1));
                }
            };
            if index == 0 {
                splits = started.splits;
            }
            data.push(started.address);
        }
        // Worker 0 lists for the attempt: without its listing every worker would list
        // for itself.
        let splits = splits.ok_or_else(|| {
            let reason = "worker 0 answered its deployment without the attempt's split listing".to_string();
            (StartFailure { reason, recoverable: false, nothing_started: false }.on(&workers[0].0), workers.len())
        })?;
        for (tm, address) in workers {
            let (job, token, addresses, splits) =
                (self.job_id.clone(), self.shared.token.clone(), data.clone(), splits.clone());
            self.call(address, async move |executor| {
                executor
                    .connect_peers(context::current(), job, attempt, addresses, splits, token)
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            })
            .map_err(|reason| (StartFailure::lost(reason).on(tm), workers.len()))?;
        }
        Ok(())
    }
}

/// The checkpoint an attempt restores, as the JobManager checked it.
struct ChosenRestore {
    location: CheckpointLocation,
    metadata: spate_runtime::checkpoint::CheckpointMetadata,
    path: String,
}

/// Why a worker of an attempt did not start.
struct StartFailure {
    reason: String,
    /// Whether no worker of it runs: the TaskManager was not reached, or it answered
    /// (and left no worker running).
    nothing_started: bool,
    /// Whether another attempt could get further: the TaskManager was lost, or the
    /// worker died while its replay built the job.
    recoverable: bool,
}

impl StartFailure {
    fn lost(reason: String) -> Self {
        StartFailure { reason, recoverable: true, nothing_started: false }
    }

    fn refused(refusal: crate::rpc::WorkerRefusal) -> Self {
        let recoverable = matches!(refusal, crate::rpc::WorkerRefusal::NotStarted { recoverable: true, .. });
        StartFailure { reason: refusal.to_string(), recoverable, nothing_started: true }
    }

    /// Names the TaskManager.
    fn on(mut self, taskmanager: &str) -> Self {
        self.reason = format!("TaskManager {taskmanager}: {}", self.reason);
        self
    }
}

/// How long a TaskManager gets to fetch the application and start its worker.
const START_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// A deployment error from a message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failed(String);

/// The worker of each slot: slots go round the TaskManagers in turn (as many to each as
/// it granted), so that a vertex's subtasks spread over the workers.
fn slot_workers(granted: &[u32]) -> Vec<u32> {
    let mut left = granted.to_vec();
    let mut slots = Vec::with_capacity(granted.iter().sum::<u32>() as usize);
    while left.iter().any(|n| *n > 0) {
        for (worker, n) in left.iter_mut().enumerate() {
            if *n > 0 {
                *n -= 1;
                slots.push(worker as u32);
            }
        }
    }
    slots
}

impl Deployer for ClusterDeployer {
    fn deploy(&mut self, attempt: u32, restore_from: Vec<CompletedCheckpoint>) -> Result<(), DeployError> {
        let failed = |message: String| DeployError { attempt, source: Box::new(Failed(message)) };
        let restore_from = self.choose_restore(&restore_from).map_err(failed)?;
        let graph = &self.submission.job_graph;
        let slots = graph.vertices.iter().map(|v| v.parallelism).max().unwrap_or(1);
        let (workers, granted) = {
            let mut rm = self.shared.resources();
            let taken = match rm.allocate(&self.job_id, slots, self.shared.load_balance) {
                Ok(taken) => taken,
                Err(missing) => {
                    // Too few free slots: the job waits (and can be cancelled meanwhile)
                    // up to slot.request.timeout, then fails saying for what.
                    let now = std::time::Instant::now();
                    let since = match self.waiting_since {
                        Some((waiting, since)) if waiting == attempt => since,
                        _ => {
                            tracing::info!(job = %self.job_id, attempt, %missing, "waiting for free slots");
                            self.waiting_since = Some((attempt, now));
                            now
                        }
                    };
                    let timeout = self.shared.slot_request_timeout;
                    if now.duration_since(since) < timeout {
                        return Err(DeployError {
                            attempt,
                            source: Box::new(ResourcesUnavailable(missing.to_string())),
                        });
                    }
                    self.waiting_since = None;
                    return Err(failed(format!(
                        "{missing}: no slots came free within slot.request.timeout ({} ms)",
                        timeout.as_millis()
                    )));
                }
            };
            self.waiting_since = None;
            let workers: Vec<(String, String)> = taken
                .iter()
                .map(|(tm, _)| (tm.clone(), rm.get(tm).map(|e| e.registration.rpc_address.clone()).unwrap_or_default()))
                .collect();
            (workers, taken.iter().map(|(_, n)| *n).collect::<Vec<_>>())
        };
        let slots = slot_workers(&granted);
        let task_worker: Vec<usize> = task_descriptors(graph)
            .iter()
            .map(|t| slots.get(t.subtask as usize).copied().unwrap_or(0) as usize)
            .collect();
        // Known before any worker runs: a worker's event names only its own subtasks.
        let placement: Vec<String> = task_worker.iter().map(|w| workers[*w].0.clone()).collect();
        if let Some(record) = self.shared.jobs.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&self.job_id) {
            record.placement = Some((attempt, placement));
            let now = super::dispatcher::now_ms();
            record.subtasks = vec![super::subtasks::SubtaskRecord::deployed(now); record.tasks];
            record.accumulators.clear();
        }
        if let Some(chosen) = &restore_from {
            self.restoring(chosen);
        }
        if let Some(ha) = &self.shared.ha {
            // Before any worker of it runs: a JobManager that recovers the job numbers on.
            if let Err(error) = ha.save_attempt(&self.job_id, attempt) {
                tracing::error!(job = %self.job_id, attempt, %error, "cannot keep the attempt number");
            }
        }
        let restore_from = restore_from.map(|chosen| chosen.location);
        if let Err((failure, started)) = self.start_workers(attempt, &workers, &slots, &restore_from) {
            for (tm, address) in &workers[..started] {
                self.cancel_on(attempt, tm, address);
            }
            // The slots are freed by `release`, once the cancelled workers exited.
            if failure.recoverable {
                return Err(DeployError { attempt, source: Box::new(AttemptFailed(failure.reason)) });
            }
            return Err(failed(failure.reason));
        }
        let taskmanagers: Vec<&str> = workers.iter().map(|(tm, _)| tm.as_str()).collect();
        tracing::info!(job = %self.job_id, attempt, ?taskmanagers, slots = slots.len(), "deployed");
        self.attempts.insert(attempt, AttemptWorkers { workers, task_worker });
        Ok(())
    }

    fn send(&mut self, attempt: u32, task: usize, mail: TaskMail) {
        let Some(a) = self.attempts.get(&attempt) else { return };
        let Some((tm, address)) = a.task_worker.get(task).and_then(|w| a.workers.get(*w)) else { return };
        self.mail.mail(tm, address, attempt, task, mail);
    }

    fn cancel(&mut self, attempt: u32) {
        let Some(a) = self.attempts.get(&attempt) else { return };
        for (tm, address) in &a.workers {
            // A lost TaskManager's workers count as ended already.
            if self.shared.resources().get(tm).is_some() {
                self.mail.cancel(tm, address, attempt);
            }
        }
    }

    /// Waits until every worker of the attempt exited (their TaskManagers report it;
    /// a lost TaskManager's count as gone), then frees the slots: a job is terminal,
    /// and its slots free, only once nothing of it runs.
    fn release(&mut self, attempt: u32) {
        let deadline = std::time::Instant::now() + self.shared.worker_exit_timeout;
        loop {
            let live: Vec<String> = {
                let jobs = self.shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
                let record = jobs.get(&self.job_id);
                let workers = record.map(|r| r.live_workers.iter()).into_iter().flatten();
                workers.filter(|(a, _)| *a == attempt).map(|(_, tm)| tm.clone()).collect()
            };
            if live.is_empty() {
                break;
            }
            if std::time::Instant::now() >= deadline {
                tracing::warn!(job = %self.job_id, attempt, taskmanagers = ?live, "workers did not report their exit in time: releasing their slots");
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.attempts.remove(&attempt);
        self.shared.resources().release(&self.job_id);
    }
}

#[cfg(test)]
mod tests {
    use super::slot_workers;

    #[test]
    fn slots_alternate_between_taskmanagers() {
        assert_eq!(slot_workers(&[2, 2]), vec![0, 1, 0, 1]);
        assert_eq!(slot_workers(&[3, 1]), vec![0, 1, 0, 0]);
        assert_eq!(slot_workers(&[1]), vec![0]);
        assert_eq!(slot_workers(&[]), Vec::<u32>::new());
    }
}
