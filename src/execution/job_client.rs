//! The handle of a running job, and what it reports when done.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use spate_core::job_id::JobId;
use spate_runtime::accumulator::{Accumulator, AccumulatorResults};
use spate_runtime::checkpoint::{CheckpointHistory, CheckpointStats, CheckpointStatus, CheckpointStorage};
use spate_runtime::job_master::JobMessage;
use spate_runtime::metrics::{TaskMetrics, TaskMetricsSnapshot};

use crate::error::{Error, Result};

pub use spate_runtime::job_master::JobStatus;

/// The I/O counters of one vertex, summed over its subtasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VertexMetrics {
    /// Vertex id.
    pub id: u32,
    /// Vertex name (its chained operators).
    pub name: String,
    /// Subtasks.
    pub parallelism: u32,
    /// Records received (for a source: read).
    pub records_in: u64,
    /// Records sent on (for a sink: written).
    pub records_out: u64,
    /// Input records dropped as malformed.
    pub records_in_errors: u64,
    /// Time spent waiting on full output channels, over all subtasks.
    pub back_pressured_time: Duration,
    /// Records dropped by window operators for coming after their windows were gone.
    pub late_records_dropped: u64,
}

/// What a finished job reports (Flink's `JobExecutionResult`).
#[derive(Clone, Debug)]
pub struct JobExecutionResult {
    /// The job's id.
    pub job_id: JobId,
    /// The job's name.
    pub job_name: String,
    /// Time from start to end of the job.
    pub net_runtime: Duration,
    /// Counters per vertex.
    pub vertices: Vec<VertexMetrics>,
    /// The accumulators' values, per subtask.
    pub accumulators: AccumulatorResults,
    /// Whether the job was submitted detached (`spate run -d`): `execute` returned when
    /// it was submitted, so nothing of its run is known (Flink's
    /// `DetachedJobExecutionResult`); [`accumulator_result`](Self::accumulator_result)
    /// then fails.
    pub detached: bool,
}

impl JobExecutionResult {
    /// The value of accumulator `name` over all subtasks, as an `A` (Flink's
    /// `getAccumulatorResult`); `None` if no function registered it.
    ///
    /// ```
    /// # use spate::prelude::*;
    /// #[derive(Clone, Default)]
    /// struct CountLines(IntCounter);
    /// impl MapFunction<String, usize> for CountLines {
    ///     fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
    ///         ctx.add_accumulator("lines", &mut self.0)?;
    ///         Ok(())
    ///     }
    ///     fn map(&mut self, line: String) -> FnResult<usize> {
    ///         self.0.add(1);
    ///         Ok(line.len())
    ///     }
    /// }
    /// let env = StreamEnv::local().unwrap();
    /// env.set_parallelism(2);
    /// env.from_iter(vec!["a".to_string(), "bb".into(), "ccc".into()]).rebalance().map_function(CountLines::default()).print();
    /// let result = env.execute("lines").unwrap();
    /// assert_eq!(result.accumulator_result::<IntCounter>("lines").unwrap(), Some(3));
    /// ```
    pub fn accumulator_result<A: Accumulator>(&self, name: &str) -> Result<Option<A::Result>> {
        if self.detached {
            return Err(Error::Detached { job: self.job_name.clone() });
        }
        Ok(self.accumulators.get::<A>(name)?)
    }

    /// The first vertex whose name contains `part`.
    pub fn vertex(&self, part: &str) -> Option<&VertexMetrics> {
        self.vertices.iter().find(|v| v.name.contains(part))
    }
}

/// Savepoint requests waiting for the job master's answer, by request token.
#[derive(Default)]
pub(crate) struct SavepointRequests {
    inner: Mutex<SavepointRequestsInner>,
}

#[derive(Default)]
struct SavepointRequestsInner {
    next: u64,
    /// Once the job ended, no request is taken (nothing would answer it).
    closed: bool,
    waiting: HashMap<u64, crossbeam_channel::Sender<Result<String>>>,
}

impl SavepointRequests {
    /// A token for a new request answered on `reply`; `None` once the job ended.
    pub fn register(&self, reply: crossbeam_channel::Sender<Result<String>>) -> Option<u64> {
        let mut inner = self.inner.lock().ok()?;
        if inner.closed {
            return None;
        }
        inner.next += 1;
        let token = inner.next;
        inner.waiting.insert(token, reply);
        Some(token)
    }

    /// Where the answer to request `token` goes.
    pub fn take(&self, token: u64) -> Option<crossbeam_channel::Sender<Result<String>>> {
        self.inner.lock().ok()?.waiting.remove(&token)
    }

    /// The job ended: every waiting request is dropped (its caller hears that the job
    /// ended), and no new one is taken.
    pub fn close(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.closed = true;
            inner.waiting.clear();
        }
    }
}

pub(crate) struct TaskEntry {
    pub vertex: u32,
    pub metrics: Arc<TaskMetrics>,
}

pub(crate) struct JobState {
    pub status: JobStatus,
    pub result: Option<Result<JobExecutionResult>>,
    pub master: Option<JoinHandle<()>>,
}

/// State shared by the job master and every client handle.
pub(crate) struct JobShared {
    pub job_id: JobId,
    pub job_name: String,
    /// The job master's inbox.
    pub inbox: crossbeam_channel::Sender<JobMessage>,
    /// Savepoint requests waiting for their answers.
    pub savepoints: SavepointRequests,
    pub user_cancelled: AtomicBool,
    /// Restarts so far (the attempt number of the running attempt).
    pub restarts: AtomicU32,
    pub state: Mutex<JobState>,
    pub done: Condvar,
    pub tasks: Vec<TaskEntry>,
    pub vertices: Vec<(String, u32)>,
    pub started: Instant,
    /// What `execute_and_collect` returned (base64 of its encoding), for the replay of
    /// later jobs.
    pub collected: Mutex<Option<String>>,
    pub checkpoints: CheckpointHistory,
    /// The vertex sums the JobManager reported, for a job that runs on a cluster (its
    /// subtasks' counters are in other processes).
    pub reported: Mutex<Option<Vec<VertexMetrics>>>,
}

impl JobShared {
    /// The shared state of job `job_id` of `job` with subtasks `tasks`, in `status`.
    pub(crate) fn new(
        job_id: JobId,
        job: &spate_core::job_graph::JobGraph,
        tasks: &[spate_runtime::checkpoint::TaskDescriptor],
        inbox: crossbeam_channel::Sender<JobMessage>,
        status: JobStatus,
        checkpoints: CheckpointHistory,
    ) -> Arc<JobShared> {
        Arc::new(JobShared {
            job_id,
            job_name: job.job_name.clone(),
            inbox,
            savepoints: SavepointRequests::default(),
            user_cancelled: AtomicBool::new(false),
            restarts: AtomicU32::new(0),
            state: Mutex::new(JobState { status, result: None, master: None }),
            done: Condvar::new(),
            tasks: tasks
                .iter()
                .map(|d| TaskEntry { vertex: d.vertex, metrics: Arc::new(TaskMetrics::default()) })
                .collect(),
            vertices: job.vertices.iter().map(|v| (v.name.clone(), v.parallelism)).collect(),
            started: Instant::now(),
            checkpoints,
            collected: Mutex::new(None),
            reported: Mutex::default(),
        })
    }

    /// The accumulators' current values, per subtask.
    pub(crate) fn accumulators(&self) -> Result<AccumulatorResults> {
        let mut results = AccumulatorResults::default();
        for task in &self.tasks {
            results.add(task.metrics.accumulators.values()?);
        }
        Ok(results)
    }

    pub(crate) fn vertex_metrics(&self) -> Vec<VertexMetrics> {
        if let Some(reported) = self.reported.lock().ok().and_then(|r| r.clone()) {
            return reported;
        }
        let mut sums = vec![TaskMetricsSnapshot::default(); self.vertices.len()];
        for task in &self.tasks {
            sums[task.vertex as usize] += task.metrics.snapshot();
        }
        self.vertices
            .iter()
            .zip(sums)
            .enumerate()
            .map(|(id, ((name, parallelism), m))| VertexMetrics {
                id: id as u32,
                name: name.clone(),
                parallelism: *parallelism,
                records_in: m.records_in,
                records_out: m.records_out,
                records_in_errors: m.records_in_errors,
                late_records_dropped: m.late_records_dropped,
                back_pressured_time: Duration::from_nanos(m.back_pressured_nanos),
            })
            .collect()
    }

    pub(crate) fn set_status(&self, status: JobStatus) {
        if let Ok(mut state) = self.state.lock() {
            if !state.status.is_terminal() {
                state.status = status;
            }
        }
    }
}

/// A handle on a submitted job: status, metrics, cancellation, and its result. Clones
/// are handles on the same job.
#[derive(Clone)]
pub struct JobClient {
    pub(crate) shared: Arc<JobShared>,
}

impl JobClient {
    /// The result `execute` gives for a job submitted detached.
    pub(crate) fn detached_result(&self) -> JobExecutionResult {
        JobExecutionResult {
            job_id: self.shared.job_id,
            job_name: self.shared.job_name.clone(),
            net_runtime: Duration::ZERO,
            vertices: Vec::new(),
            accumulators: AccumulatorResults::default(),
            detached: true,
        }
    }

    /// Another handle on the same job.
    pub(crate) fn handle(&self) -> JobClient {
        JobClient { shared: self.shared.clone() }
    }

    /// What this job returned, as a later job's workers replay it (a job still running
    /// when the later one was submitted replays as having returned nothing yet).
    pub(crate) fn recorded(&self) -> spate_runtime::worker_link::RecordedJob {
        let state = self.shared.state.lock();
        let finished = state.as_ref().ok().and_then(|s| s.result.as_ref()).and_then(|r| r.as_ref().ok());
        spate_runtime::worker_link::RecordedJob {
            job_id: self.shared.job_id.to_string(),
            job_name: self.shared.job_name.clone(),
            net_runtime_ms: finished.map_or(0, |r| r.net_runtime.as_millis() as u64),
            accumulators: finished.map(|r| r.accumulators.clone()).unwrap_or_default(),
            detached: std::env::var_os(spate_core::launch::DETACHED_ENV).is_some(),
            collected: self.shared.collected.lock().ok().and_then(|c| c.clone()),
        }
    }

    /// The job's id.
    pub fn job_id(&self) -> JobId {
        self.shared.job_id
    }

    /// The job's name.
    pub fn job_name(&self) -> &str {
        &self.shared.job_name
    }

    /// The job's current status.
    pub fn status(&self) -> JobStatus {
        self.shared.state.lock().map(|s| s.status).unwrap_or(JobStatus::Failed)
    }

    /// Asks the job to stop; returns at once. [`wait`](Self::wait) then reports
    /// [`Error::JobCancelled`] (unless the job ended first).
    pub fn cancel(&self) {
        if !self.status().is_terminal() {
            self.shared.user_cancelled.store(true, Ordering::Release);
            self.shared.set_status(JobStatus::Cancelling);
            let _ = self.shared.inbox.send(JobMessage::Cancel);
        }
    }

    /// How many times the job was restarted after failures.
    pub fn restarts(&self) -> u32 {
        self.shared.restarts.load(Ordering::Acquire)
    }

    /// The statistics of the job's checkpoints and savepoints, oldest first.
    pub fn checkpoint_stats(&self) -> Vec<CheckpointStats> {
        self.shared.checkpoints.lock().map(|h| h.iter().cloned().collect()).unwrap_or_default()
    }

    /// The directory of the newest completed checkpoint, if any.
    pub fn latest_completed_checkpoint(&self) -> Option<String> {
        self.shared.checkpoints.lock().ok().and_then(|h| {
            h.iter()
                .rev()
                .find(|s| {
                    s.status == CheckpointStatus::Completed
                        && s.kind == spate_runtime::checkpoint::CheckpointKind::Checkpoint
                })
                .and_then(|s| s.path.clone())
        })
    }

    /// Takes a savepoint into a new directory under `dir` and returns its path, once it
    /// is complete. The job goes on.
    pub fn trigger_savepoint(&self, dir: impl AsRef<std::path::Path>) -> Result<String> {
        self.savepoint(dir.as_ref(), false, false)
    }

    /// Takes a savepoint into a new directory under `dir`, then stops the job; returns
    /// the savepoint's path. [`wait`](Self::wait) then reports the job as finished.
    pub fn stop_with_savepoint(&self, dir: impl AsRef<std::path::Path>) -> Result<String> {
        self.savepoint(dir.as_ref(), true, false)
    }

    /// As [`stop_with_savepoint`](Self::stop_with_savepoint), after advancing event time
    /// to its end (Flink's `stop --drain`): the sources send a final MAX watermark before
    /// the savepoint's barrier, so every event-time window and timer fires and its output
    /// is in what the savepoint commits. For a job that is to end for good: a job
    /// resumed from such a savepoint has seen the end of event time already.
    pub fn stop_with_savepoint_and_drain(&self, dir: impl AsRef<std::path::Path>) -> Result<String> {
        self.savepoint(dir.as_ref(), true, true)
    }

    fn savepoint(&self, dir: &std::path::Path, stop: bool, drain: bool) -> Result<String> {
        let ended = || Error::JobNotRunning { job: self.shared.job_name.clone(), state: "has ended" };
        if self.status().is_terminal() {
            return Err(ended());
        }
        let storage = CheckpointStorage::local(dir).map_err(|source| Error::Storage {
            setting: format!("savepoint directory {}", dir.display()),
            source: Box::new(source),
        })?;
        let (reply, answer) = crossbeam_channel::bounded(1);
        let request = self.shared.savepoints.register(reply).ok_or_else(ended)?;
        self.shared.inbox.send(JobMessage::TriggerSavepoint { request, storage, stop, drain }).map_err(|_| ended())?;
        answer.recv().map_err(|_| ended())?
    }

    /// The accumulators' values now (Flink's `JobClient.getAccumulators`), read with
    /// [`AccumulatorResults::get`].
    pub fn accumulators(&self) -> Result<AccumulatorResults> {
        self.shared.accumulators()
    }

    /// The I/O counters of each vertex, now.
    pub fn metrics(&self) -> Vec<VertexMetrics> {
        self.shared.vertex_metrics()
    }

    /// Waits up to `timeout` for the job to end; returns whether it has.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let Ok(mut state) = self.shared.state.lock() else { return true };
        while state.result.is_none() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = match self.shared.done.wait_timeout(state, deadline - now) {
                Ok((s, _)) => s,
                Err(_) => return true,
            };
        }
        true
    }

    /// Waits for the job to end and returns its result. When this returns, every
    /// thread of the job has ended.
    pub fn wait(self) -> Result<JobExecutionResult> {
        let poisoned = || Error::Internal("the job master panicked".into());
        let mut state = self.shared.state.lock().map_err(|_| poisoned())?;
        while state.result.is_none() {
            state = self.shared.done.wait(state).map_err(|_| poisoned())?;
        }
        let result = state.result.take().unwrap_or_else(|| Err(poisoned()));
        // A successful result stays: later jobs of a cluster application record it for
        // their workers' replay.
        if let Ok(finished) = &result {
            state.result = Some(Ok(finished.clone()));
        }
        let master = state.master.take();
        drop(state);
        if let Some(master) = master {
            let _ = master.join();
        }
        result
    }
}
