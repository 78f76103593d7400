//! The JobManager's RPC endpoint: each connection serves the resource manager, and
//! when it closes, the TaskManager that registered on it is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tarpc::context::Context;
use tarpc::server::{BaseChannel, Channel};

use super::Shared;
use super::dispatcher::fail_subtasks;
use super::subtasks::SubtaskState;
use spate_runtime::TaskError;
use spate_runtime::job_master::JobMessage;
use spate_runtime::worker_link::FromWorker;

use crate::rpc::{Hardware, Refusal, Registration, ResourceManager, WorkerEvent};

/// One connection's server.
#[derive(Clone)]
struct Connection {
    id: u64,
    shared: Arc<Shared>,
    heartbeat_interval: Duration,
}

impl ResourceManager for Connection {
    async fn register(self, _: Context, registration: Registration) -> Result<Duration, Refusal> {
        let result = self.shared.resources().register(registration.clone(), self.id, Instant::now());
        if let Err(refusal) = &result {
            tracing::warn!(taskmanager = %registration.id, %refusal, "refused a TaskManager");
        }
        result.map(|()| self.heartbeat_interval)
    }

    async fn heartbeat(self, _: Context, id: String, hardware: Hardware) -> Result<(), Refusal> {
        self.shared.resources().heartbeat(&id, self.id, hardware, Instant::now())
    }

    async fn worker_event(
        self,
        _: Context,
        id: String,
        job_id: String,
        attempt: u32,
        event: WorkerEvent,
    ) -> Result<(), Refusal> {
        if self.shared.resources().get(&id).is_none_or(|e| e.connection != self.id) {
            return Err(Refusal::UnknownTaskManager(id));
        }
        let (inbox, tasks, local) = match self.shared.jobs.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&job_id) {
            Some(record) => {
                if let WorkerEvent::Report(FromWorker::Metrics { tasks }) = &event {
                    // Live counters of the current attempt's running subtasks.
                    let current = record.placement.as_ref().is_some_and(|(deployed, _)| *deployed == attempt);
                    for (task, metrics) in tasks.iter().filter(|_| current) {
                        if let Some(subtask) = record.subtasks.get_mut(*task) {
                            subtask.running(*metrics);
                        }
                    }
                    return Ok(());
                }
                if let WorkerEvent::Report(FromWorker::RestoreFailed { checkpoint, .. }) = &event {
                    // The next attempt takes an older one.
                    if !record.damaged_checkpoints.contains(checkpoint) {
                        record.damaged_checkpoints.push(checkpoint.clone());
                    }
                }
                if let WorkerEvent::Exited { .. } = &event {
                    record.live_workers.remove(&(attempt, id.clone()));
                }
                if let WorkerEvent::Report(FromWorker::TaskEnded { task, error, accumulators, metrics, .. }) = &event {
                    let current = record.placement.as_ref().is_some_and(|(deployed, _)| *deployed == attempt);
                    if current && *task < record.tasks {
                        record.accumulators.insert(*task, accumulators.clone());
                        let state = match error {
                            None => SubtaskState::Finished,
                            Some(e) if e.consequence => SubtaskState::Canceled,
                            Some(_) => SubtaskState::Failed,
                        };
                        if let Some(subtask) = record.subtasks.get_mut(*task) {
                            subtask.end(state, super::dispatcher::now_ms(), Some(*metrics));
                        }
                    }
                }
                (record.inbox.clone(), record.tasks, record.tasks_on(attempt, &id))
            }
            None => return Ok(()),
        };
        for message in messages(&id, attempt, event, tasks, local) {
            let _ = inbox.send(message);
        }
        Ok(())
    }
}

/// What a worker's event means to its job master.
/// `local`: the subtasks the worker runs.
fn messages(taskmanager: &str, attempt: u32, event: WorkerEvent, tasks: usize, local: Vec<usize>) -> Vec<JobMessage> {
    match event {
        WorkerEvent::Report(FromWorker::TaskEnded { task, .. }) if task >= tasks => {
            tracing::warn!(taskmanager, attempt, task, tasks, "a worker reported a subtask the job does not have");
            Vec::new()
        }
        WorkerEvent::Report(FromWorker::Report(message))
            if !message.task().is_some_and(|task| local.contains(&task)) =>
        {
            tracing::warn!(taskmanager, attempt, ?message, "a worker reported for a subtask it does not run");
            Vec::new()
        }
        // The TaskManager answers fetches itself; one that came here is late.
        WorkerEvent::Report(FromWorker::Listening { .. } | FromWorker::Results { .. } | FromWorker::Metrics { .. }) => {
            Vec::new()
        }
        WorkerEvent::Report(FromWorker::Report(message)) => vec![JobMessage::Task { attempt, message }],
        WorkerEvent::Report(FromWorker::TaskEnded { task, name, error, .. }) => {
            vec![JobMessage::TaskEnded {
                attempt,
                task,
                name,
                result: error.map_or(Ok(()), |e| Err(TaskError::Remote(e))),
            }]
        }
        // The worker cannot run the job (its replay built another job: a restart would
        // fail the same way; or it could not reach its peers).
        WorkerEvent::Report(FromWorker::RestoreFailed { checkpoint, reason, recoverable }) => {
            tracing::error!(taskmanager, attempt, dir = %checkpoint.dir, %reason, "a worker cannot restore its checkpoint");
            fail_subtasks(attempt, local, &format!("worker on {taskmanager}"), &reason, recoverable)
        }
        WorkerEvent::Report(FromWorker::Failed { reason, recoverable }) => {
            tracing::warn!(taskmanager, attempt, %reason, "a worker cannot run its job");
            fail_subtasks(attempt, local, &format!("worker on {taskmanager}"), &reason, recoverable)
        }
        WorkerEvent::Exited { code, signal, stderr_tail } => {
            // Its reports came before its exit (the TaskManager relays them first), so a
            // subtask that has not ended by now never will: even after exit code 0 (a
            // `main` that did not run the job it was deployed for) it failed. The job
            // master counts each subtask once: those that ended are not touched.
            let how = match (code, signal) {
                (_, Some(signal)) => format!("was killed by signal {signal}"),
                (Some(code), None) => format!("exited with code {code}"),
                (None, None) => "ended".to_string(),
            };
            let message = format!("the worker on TaskManager {taskmanager} {how}: {}", stderr_tail.trim());
            fail_subtasks(attempt, local, &format!("worker on {taskmanager}"), &message, true)
        }
    }
}

/// Serves every connection of `incoming`.
pub(super) async fn serve<S>(incoming: S, shared: Arc<Shared>, heartbeat_interval: Duration)
where
    S: futures::Stream<Item = std::io::Result<TransportOf>> + Send,
{
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut incoming = std::pin::pin!(incoming);
    while let Some(transport) = incoming.next().await {
        let transport = match transport {
            Ok(t) => t,
            Err(error) => {
                tracing::warn!(%error, "an RPC connection failed to open");
                continue;
            }
        };
        let _ = transport.get_ref().set_nodelay(true);
        let peer = transport.peer_addr().ok();
        let connection =
            Connection { id: NEXT.fetch_add(1, Ordering::Relaxed), shared: shared.clone(), heartbeat_interval };
        tokio::spawn(async move {
            let id = connection.id;
            let shared = connection.shared.clone();
            BaseChannel::with_defaults(transport)
                .execute(connection.serve())
                .for_each(|response| async move {
                    tokio::spawn(response);
                })
                .await;
            let lost = shared.resources().connection_closed(id);
            if let Some((entry, reason)) = lost {
                let r = &entry.registration;
                tracing::warn!(taskmanager = %r.id, ?peer, "TaskManager {} at {} lost: {reason}", r.id, r.host);
                super::dispatcher::taskmanager_lost(
                    &shared,
                    &r.id,
                    entry.allocations.keys().cloned(),
                    &reason.to_string(),
                );
            }
        });
    }
}

/// The transport of one RPC connection.
pub(super) type TransportOf = tarpc::serde_transport::Transport<
    tokio::net::TcpStream,
    tarpc::ClientMessage<crate::rpc::ResourceManagerRequest>,
    tarpc::Response<crate::rpc::ResourceManagerResponse>,
    super::RpcCodec,
>;

#[cfg(test)]
mod tests {
    use spate_runtime::checkpoint::{Acknowledgement, CheckpointLocation, CoordinatorMessage};
    use spate_runtime::job_master::JobMessage;
    use spate_runtime::worker_link::FromWorker;

    use super::messages;
    use crate::rpc::WorkerEvent;

    fn ended(messages: &[JobMessage]) -> Vec<(u32, usize, bool, String)> {
        messages
            .iter()
            .filter_map(|m| match m {
                JobMessage::TaskEnded { attempt, task, result: Err(e), .. } => {
                    Some((*attempt, *task, e.is_recoverable(), e.to_string()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_workers_exit_fails_only_its_own_subtasks_naming_its_taskmanager_and_signal() {
        let exit = WorkerEvent::Exited { code: None, signal: Some(9), stderr_tail: "last words\n".into() };
        let failed = ended(&messages("tm-a", 3, exit, 6, vec![1, 4]));
        assert_eq!(failed.iter().map(|f| (f.0, f.1, f.2)).collect::<Vec<_>>(), [(3, 1, true), (3, 4, true)]);
        assert!(failed[0].3.contains("TaskManager tm-a was killed by signal 9: last words"), "{}", failed[0].3);
    }

    #[test]
    fn checkpoint_reports_pass_only_for_the_workers_own_subtasks_and_never_as_the_coordinators() {
        let ack = |task| {
            let ack = Acknowledgement { id: 7, file: None, alignment: Default::default(), sync: Default::default() };
            WorkerEvent::Report(FromWorker::Report(CoordinatorMessage::Acknowledged { task, ack }))
        };
        let passed = messages("tm-a", 2, ack(4), 6, vec![1, 4]);
        assert!(matches!(
            passed[..],
            [JobMessage::Task { attempt: 2, message: CoordinatorMessage::Acknowledged { task: 4, .. } }]
        ));
        assert!(messages("tm-a", 2, ack(0), 6, vec![1, 4]).is_empty(), "another worker's subtask");
        assert!(messages("tm-a", 2, ack(99), 6, vec![1, 4]).is_empty(), "no such subtask");
        // Only the coordinator's own writer completes a checkpoint.
        let forged = CoordinatorMessage::MetadataWritten { id: 7, result: Ok(()) };
        assert!(messages("tm-a", 2, WorkerEvent::Report(FromWorker::Report(forged)), 6, vec![1, 4]).is_empty());
    }

    #[test]
    fn a_checkpoint_a_worker_cannot_read_fails_its_subtasks_as_a_restart_can_fix_it() {
        let checkpoint = CheckpointLocation { storage: "file:///c".into(), dir: "job/chk-3".into() };
        let event = WorkerEvent::Report(FromWorker::RestoreFailed {
            checkpoint,
            reason: "checksum of key group 5 does not match".into(),
            recoverable: true,
        });
        let failed = ended(&messages("tm-b", 1, event, 4, vec![0, 2]));
        assert_eq!(failed.iter().map(|f| (f.1, f.2)).collect::<Vec<_>>(), [(0, true), (2, true)]);
        assert!(failed[0].3.contains("checksum"), "{}", failed[0].3);
        let refused = WorkerEvent::Report(FromWorker::Failed { reason: "another pipeline".into(), recoverable: false });
        assert!(ended(&messages("tm-b", 1, refused, 4, vec![0])).iter().all(|f| !f.2), "not recoverable");
    }
}
