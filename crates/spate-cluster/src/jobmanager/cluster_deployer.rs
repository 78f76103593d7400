//! How a job master on the JobManager reaches its subtasks: a worker on a TaskManager
//! with enough free slots, started, mailed and cancelled over the TaskManager's task
//! executor.

use std::collections::HashMap;
use std::sync::Arc;

use spate_runtime::checkpoint::{CompletedCheckpoint, TaskMail};
use spate_runtime::job_master::{DeployError, Deployer};
use spate_runtime::worker_link::Deployment;
use tarpc::client;
use tarpc::context;

use super::Shared;
use super::dispatcher::Submission;
use crate::rpc::{TaskExecutorClient, WorkerRequest};

/// The deployer of one job.
pub(crate) struct ClusterDeployer {
    shared: Arc<Shared>,
    job_id: String,
    submission: Arc<Submission>,
    /// Per attempt, the executor address of the TaskManager running it.
    attempts: HashMap<u32, String>,
}

impl ClusterDeployer {
    pub fn new(shared: Arc<Shared>, job_id: String, submission: Arc<Submission>) -> Self {
        ClusterDeployer { shared, job_id, submission, attempts: HashMap::new() }
    }

    /// Runs `call` against the executor at `address` on the JobManager's runtime.
    fn call<T>(
        &self,
        address: &str,
        call: impl AsyncFnOnce(TaskExecutorClient) -> Result<T, String>,
    ) -> Result<T, String> {
        let address = address.to_string();
        self.shared.runtime.block_on(async move {
            let json = tarpc::tokio_serde::formats::Json::default;
            let connect = tarpc::serde_transport::tcp::connect(&address, json);
            let transport = tokio::time::timeout(std::time::Duration::from_secs(10), connect)
                .await
                .map_err(|_| format!("cannot reach the TaskManager at {address}: no answer within 10 s"))?
                .map_err(|e| format!("cannot reach the TaskManager at {address}: {e}"))?;
            call(TaskExecutorClient::new(client::Config::default(), transport).spawn()).await
        })
    }
}

/// How long a TaskManager gets to fetch the application and start its worker.
const START_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// A deployment error from a message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failed(String);

impl Deployer for ClusterDeployer {
    fn deploy(&mut self, attempt: u32, _restore_from: Vec<CompletedCheckpoint>) -> Result<(), DeployError> {
        let failed = |message: String| DeployError { attempt, source: Box::new(Failed(message)) };
        let graph = &self.submission.job_graph;
        let slots = graph.vertices.iter().map(|v| v.parallelism).max().unwrap_or(1);
        let (tm, address) = {
            let mut rm = self.shared.resources();
            let tm = rm
                .allocate_one(&self.job_id, slots, self.shared.load_balance)
                .map_err(|e| DeployError { attempt, source: Box::new(e) })?;
            let address = rm.get(&tm).map(|e| e.registration.rpc_address.clone()).unwrap_or_default();
            (tm, address)
        };
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
                recorded: self.submission.recorded.clone(),
            },
            rest: self.shared.rest_address.clone(),
        };
        let token = self.shared.token.clone();
        let started = self.call(&address, async move |executor| {
            // Fetching the application and the handshake may take a while.
            let mut ctx = context::current();
            ctx.deadline = std::time::Instant::now() + START_DEADLINE;
            executor.start_worker(ctx, request, token).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
        });
        match started {
            Ok(()) => {
                tracing::info!(job = %self.job_id, attempt, taskmanager = %tm, slots, "deployed");
                self.attempts.insert(attempt, address);
                Ok(())
            }
            Err(reason) => {
                // A start that timed out may still start the worker: it is cancelled.
                let (job, token) = (self.job_id.clone(), self.shared.token.clone());
                let _ = self.call(&address, async move |executor| {
                    executor
                        .cancel(context::current(), job, attempt, token)
                        .await
                        .map_err(|e| e.to_string())
                        .map(|_| ())
                });
                self.shared.resources().release(&self.job_id);
                Err(failed(format!("TaskManager {tm}: {reason}")))
            }
        }
    }

    fn send(&mut self, attempt: u32, task: usize, mail: TaskMail) {
        let Some(address) = self.attempts.get(&attempt).cloned() else { return };
        let (job, token) = (self.job_id.clone(), self.shared.token.clone());
        let _ = self.call(&address, async move |executor| {
            executor
                .mail(context::current(), job, attempt, task, mail, token)
                .await
                .map_err(|e| e.to_string())
                .map(|_| ())
        });
    }

    fn cancel(&mut self, attempt: u32) {
        let Some(address) = self.attempts.get(&attempt).cloned() else { return };
        let (job, token) = (self.job_id.clone(), self.shared.token.clone());
        if let Err(reason) = self.call(&address, async move |executor| {
            executor
                .cancel(context::current(), job, attempt, token)
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
        }) {
            // The TaskManager cannot be reached: its worker is cut off from the job.
            tracing::warn!(job = %self.job_id, attempt, %reason, "cannot cancel the worker: its subtasks count as ended");
            super::dispatcher::taskmanager_lost(&self.shared, &address, [self.job_id.clone()], &reason);
        }
    }

    fn release(&mut self, attempt: u32) {
        self.attempts.remove(&attempt);
        self.shared.resources().release(&self.job_id);
    }
}
