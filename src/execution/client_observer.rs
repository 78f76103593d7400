//! What the embedded job master tells the job's clients: its status, savepoint
//! answers, warnings about state under generated uids, and the job's result.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use spate_runtime::checkpoint::CompletedCheckpoint;
use spate_runtime::job_master::{JobFailure, JobObserver, JobOutcome, JobStatus, SavepointError};

use super::deploy::ExecutionPlan;
use super::job_client::{JobExecutionResult, JobShared};
use super::restore::RestoreError;
use crate::error::{Error, Result};
use crate::graph::stream_graph::NodeOperator;

/// Publishes what the job master says into the state its [`JobClient`](super::job_client::JobClient)s read.
pub(crate) struct ClientObserver {
    exec: Arc<ExecutionPlan>,
    shared: Arc<JobShared>,
    /// Operators already warned about for lacking a uid.
    warned_uids: BTreeSet<String>,
}

impl ClientObserver {
    pub fn new(exec: Arc<ExecutionPlan>, shared: Arc<JobShared>, warned_uids: BTreeSet<String>) -> Self {
        ClientObserver { exec, shared, warned_uids }
    }

    fn result(&self, outcome: JobOutcome) -> Result<JobExecutionResult> {
        let job = self.shared.job_name.clone();
        match outcome {
            JobOutcome::Finished | JobOutcome::Stopped => Ok(JobExecutionResult {
                job_id: self.shared.job_id,
                job_name: job,
                net_runtime: self.shared.started.elapsed(),
                vertices: self.shared.vertex_metrics(),
                accumulators: self.shared.accumulators()?,
                detached: false,
            }),
            JobOutcome::Cancelled => Err(Error::JobCancelled { job }),
            JobOutcome::Suspended => Err(Error::JobNotRunning { job, state: not_running(JobStatus::Suspended) }),
            JobOutcome::Failed(JobFailure::Task { task, error }) => Err(Error::JobFailed { job, task, cause: error }),
            JobOutcome::Failed(JobFailure::Checkpoints(cause)) => Err(Error::CheckpointsFailed { job, cause }),
            JobOutcome::Failed(JobFailure::Deployment(failed)) => {
                // The deployer is ours: its errors are ours, restore errors among them.
                Err(match failed.source.downcast::<RestoreError>() {
                    Ok(restore) => Error::Restore(restore),
                    Err(other) => match other.downcast::<Error>() {
                        Ok(error) => *error,
                        Err(other) => Error::Internal(other.to_string()),
                    },
                })
            }
        }
    }
}

impl JobObserver for ClientObserver {
    /// The embedded job's log says it (the job master logs every restart).
    fn attempt_failed(&mut self, _: u32, _: &str) {}

    fn status_changed(&mut self, status: JobStatus, attempt: u32) {
        self.shared.restarts.store(attempt, Ordering::Release);
        self.shared.set_status(status);
    }

    fn savepoint_completed(&mut self, request: u64, result: std::result::Result<CompletedCheckpoint, SavepointError>) {
        let Some(reply) = self.shared.savepoints.take(request) else { return };
        let job = &self.shared.job_name;
        let _ = reply.send(match result {
            Ok(done) => Ok(done.path()),
            Err(SavepointError::Failed(reason)) => Err(Error::SavepointFailed(reason)),
            Err(SavepointError::NotRunning { status }) => {
                Err(Error::JobNotRunning { job: job.clone(), state: not_running(status) })
            }
        });
    }

    /// Warns about operators whose state a checkpoint holds under a generated uid: a
    /// changed pipeline changes their uid, and their state would not be found. Derived
    /// from what the checkpoint really holds, once per operator; a source's positions
    /// are left out (every source records them, and its generated uid changes only
    /// when sources are added before it).
    fn checkpoint_holds(&mut self, uids: &[String]) {
        let exec = &self.exec;
        let warned = &mut self.warned_uids;
        let missing: Vec<String> = exec
            .graph
            .nodes
            .iter()
            .filter(|n| n.uid.is_none() && !is_source(&n.operator))
            .filter(|n| {
                let uid = exec.plan.uid(n.id);
                uids.iter().any(|s| s == uid) && warned.insert(uid.to_string())
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

    fn ended(&mut self, outcome: JobOutcome) {
        let status = outcome.status();
        let result = self.result(outcome);
        // Requests that came too late get no savepoint: their answers are dropped.
        self.shared.savepoints.close();
        if let Ok(mut state) = self.shared.state.lock() {
            state.status = if result.is_ok() {
                status
            } else if status == JobStatus::Finished {
                JobStatus::Failed
            } else {
                status
            };
            state.result = Some(result);
        }
        self.shared.done.notify_all();
    }
}

/// Whether node `operator` reads a source (for the uid warning, sources are left out).
fn is_source(operator: &NodeOperator) -> bool {
    matches!(operator, NodeOperator::Source(_))
}

/// A status the client sees as "not running", in [`Error::JobNotRunning`]'s words.
fn not_running(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Initializing | JobStatus::Created => "is starting",
        JobStatus::Running => "is running",
        JobStatus::Failing => "is failing",
        JobStatus::Restarting => "is restarting",
        JobStatus::Cancelling => "is being cancelled",
        JobStatus::Suspended => "was suspended",
        JobStatus::Finished | JobStatus::Failed | JobStatus::Canceled => "has ended",
    }
}
