//! What a job master tells its workers' TaskManagers — checkpoint mail, cancels —
//! sent in order per TaskManager, off the job master's thread: a TaskManager that
//! stopped answering (SIGSTOP) holds up only its own queue until it is declared lost,
//! never the job master, which meanwhile fails the attempt over.

use std::collections::HashMap;
use std::sync::Arc;

use spate_runtime::checkpoint::TaskMail;
use tarpc::context;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::Shared;

/// One order for a TaskManager.
enum Order {
    /// Mail for subtask `task` of `attempt`.
    Mail { attempt: u32, task: usize, mail: TaskMail },
    /// Cancel the worker of `attempt`.
    Cancel { attempt: u32 },
}

/// The queues of one job, one per TaskManager it has workers on.
pub(crate) struct ExecutorMail {
    shared: Arc<Shared>,
    job_id: String,
    /// By TaskManager id and executor address (a TaskManager started again may get the
    /// same port under a new id).
    queues: HashMap<(String, String), UnboundedSender<Order>>,
}

impl ExecutorMail {
    pub fn new(shared: Arc<Shared>, job_id: String) -> Self {
        ExecutorMail { shared, job_id, queues: HashMap::new() }
    }

    /// Queues `mail` for subtask `task` of `attempt` on the TaskManager `taskmanager`
    /// at `address`.
    pub fn mail(&mut self, taskmanager: &str, address: &str, attempt: u32, task: usize, mail: TaskMail) {
        self.send(taskmanager, address, Order::Mail { attempt, task, mail });
    }

    /// Queues a cancel of `attempt` there; a TaskManager that cannot be reached is
    /// lost, and its workers count as ended.
    pub fn cancel(&mut self, taskmanager: &str, address: &str, attempt: u32) {
        self.send(taskmanager, address, Order::Cancel { attempt });
    }

    fn send(&mut self, taskmanager: &str, address: &str, order: Order) {
        let key = (taskmanager.to_string(), address.to_string());
        let queue = self.queues.entry(key).or_insert_with(|| {
            let (tx, rx) = unbounded_channel();
            let (shared, job, tm, address) =
                (self.shared.clone(), self.job_id.clone(), taskmanager.to_string(), address.to_string());
            self.shared.runtime.spawn(deliver(shared, job, tm, address, rx));
            tx
        });
        let _ = queue.send(order);
    }
}

/// Carries out the orders for one TaskManager, in order.
async fn deliver(
    shared: Arc<Shared>,
    job: String,
    taskmanager: String,
    address: String,
    mut orders: tokio::sync::mpsc::UnboundedReceiver<Order>,
) {
    while let Some(order) = orders.recv().await {
        let token = shared.token.clone();
        let attempt = match &order {
            Order::Mail { attempt, .. } | Order::Cancel { attempt } => *attempt,
        };
        let current = || shared.jobs.lock().unwrap_or_else(|p| p.into_inner()).get(&job).map(|r| r.attempt);
        if matches!(order, Order::Mail { .. }) && current() != Some(attempt) {
            // Mail of an attempt that failed: its subtasks are cancelled anyway, and an
            // unreachable TaskManager would hold the new attempt's orders up.
            continue;
        }
        let result = async {
            let executor = shared.executor(&address).await?;
            match order {
                Order::Mail { attempt, task, mail } => executor
                    .mail(context::current(), job.clone(), attempt, task, mail, token)
                    .await
                    .map_err(|e| e.to_string())
                    .map(|_| ()),
                Order::Cancel { attempt } => executor
                    .cancel(context::current(), job.clone(), attempt, token)
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string()),
            }
        }
        .await;
        let Err(reason) = result else { continue };
        shared.forget_executor(&address);
        // Not reached, or no answer within the call's deadline: for the attempt that
        // runs, the TaskManager is lost (a broken connection is evidence).
        if current() == Some(attempt) {
            tracing::warn!(job = %job, taskmanager = %taskmanager, %reason, "cannot reach the TaskManager: its workers count as ended");
            super::dispatcher::taskmanager_lost(&shared, &taskmanager, [job.clone()], &reason);
        }
    }
}
