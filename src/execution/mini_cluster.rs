//! The embedded mini-cluster: every subtask of a job as a thread of this process.
//!
//! A job master thread supervises the subtasks: the first failure cancels all others,
//! and the job's result is published only after every subtask thread has ended.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crossbeam_channel::{Receiver, unbounded};
use spate_core::job_id::JobId;
use spate_runtime::TaskError;
use spate_runtime::channel::cancellation;
use spate_runtime::context::TaskInfo;
use spate_runtime::error::panic_message;
use spate_runtime::metrics::TaskMetrics;

use super::deploy::ExecutionPlan;
use super::job_client::{JobClient, JobExecutionResult, JobShared, JobState, JobStatus, TaskEntry};
use crate::error::{Error, Result};

/// How a subtask thread ended.
struct TaskOutcome {
    task: String,
    result: Result<(), TaskError>,
}

/// Starts `exec` as attempt 0 of a new job and returns its handle.
pub(crate) fn submit(exec: ExecutionPlan) -> Result<JobClient> {
    let exec = Arc::new(exec);
    let job = &exec.plan.job_graph;
    let (cancel_handle, cancel) = cancellation();
    let blueprints = exec.wire();
    let tasks: Vec<TaskEntry> =
        blueprints.iter().map(|b| TaskEntry { vertex: b.vertex, metrics: Arc::new(TaskMetrics::default()) }).collect();
    let shared = Arc::new(JobShared {
        job_id: JobId::generate(),
        job_name: job.job_name.clone(),
        cancel: cancel_handle,
        user_cancelled: AtomicBool::new(false),
        state: Mutex::new(JobState { status: JobStatus::Running, result: None, master: None }),
        done: Condvar::new(),
        vertices: job.vertices.iter().map(|v| (v.name.clone(), v.parallelism)).collect(),
        tasks,
        started: Instant::now(),
    });
    tracing::info!(job = %shared.job_name, id = %shared.job_id, subtasks = blueprints.len(), "starting job");

    let (outcomes_tx, outcomes_rx) = unbounded::<TaskOutcome>();
    let mut threads = Vec::with_capacity(blueprints.len());
    for (blueprint, entry) in blueprints.into_iter().zip(&shared.tasks) {
        let vertex = &job.vertices[blueprint.vertex as usize];
        let info = Arc::new(TaskInfo {
            job_name: job.job_name.clone(),
            task_name: vertex.name.clone(),
            subtask_index: blueprint.subtask,
            parallelism: vertex.parallelism,
            max_parallelism: vertex.max_parallelism,
            attempt: 0,
            execution_mode: job.execution_mode,
            clock: exec.settings.clock.clone(),
            auto_watermark_interval: exec.settings.auto_watermark_interval,
        });
        let name = info.display_name();
        let (exec, cancel, metrics, outcomes) =
            (exec.clone(), cancel.clone(), entry.metrics.clone(), outcomes_tx.clone());
        let task_name = name.clone();
        let spawned = std::thread::Builder::new().name(name.clone()).spawn(move || {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                exec.build_task(blueprint, info, cancel, metrics)?.run()
            }));
            let result = run.unwrap_or_else(|payload| {
                Err(TaskError::Internal(format!("the task thread panicked: {}", panic_message(&*payload))))
            });
            let _ = outcomes.send(TaskOutcome { task: task_name, result });
        });
        match spawned {
            Ok(handle) => threads.push(handle),
            Err(source) => {
                shared.cancel.cancel();
                for t in threads {
                    let _ = t.join();
                }
                return Err(Error::Io { context: format!("cannot start a thread for {name}"), source });
            }
        }
    }
    drop(outcomes_tx);

    let master_shared = shared.clone();
    let master = std::thread::Builder::new()
        .name("spate-job-master".into())
        .spawn(move || supervise(&master_shared, threads, outcomes_rx))
        .map_err(|source| Error::Io { context: "cannot start the job master thread".into(), source })?;
    if let Ok(mut state) = shared.state.lock() {
        state.master = Some(master);
    }
    Ok(JobClient { shared })
}

/// Waits for every subtask, cancels all on the first failure, then publishes the result.
fn supervise(shared: &JobShared, threads: Vec<std::thread::JoinHandle<()>>, outcomes: Receiver<TaskOutcome>) {
    let mut failure: Option<(String, TaskError)> = None;
    for outcome in outcomes.iter() {
        if let Err(error) = outcome.result {
            let replaces = match &failure {
                None => true,
                // A root cause wins over the cancellations it caused.
                Some((_, current)) => current.is_consequence() && !error.is_consequence(),
            };
            if !error.is_consequence() {
                tracing::error!(task = %outcome.task, %error, "task failed");
                shared.set_status(JobStatus::Failing);
            }
            if replaces {
                failure = Some((outcome.task, error));
            }
            shared.cancel.cancel();
        }
    }
    for t in threads {
        let _ = t.join();
    }
    let job = shared.job_name.clone();
    let (status, result) = match failure {
        None => (
            JobStatus::Finished,
            Ok(JobExecutionResult {
                job_id: shared.job_id,
                job_name: job,
                net_runtime: shared.started.elapsed(),
                vertices: shared.vertex_metrics(),
            }),
        ),
        Some((_, error)) if error.is_consequence() && shared.user_cancelled.load(Ordering::Acquire) => {
            (JobStatus::Canceled, Err(Error::JobCancelled { job }))
        }
        Some((task, cause)) => (JobStatus::Failed, Err(Error::JobFailed { job, task, cause })),
    };
    tracing::info!(job = %shared.job_name, ?status, "job ended");
    if let Ok(mut state) = shared.state.lock() {
        state.status = status;
        state.result = Some(result);
    }
    shared.done.notify_all();
}
