//! A task's reports to the checkpoint coordinator, sent from the task's own process:
//! its snapshots are written to storage here, off the task thread, and only their
//! handles (file name, size, operators) go on — state bytes never pass through the
//! coordinator, which may be in another process (DESIGN.md section 7).
//!
//! Every report of a task goes through the one queue, so they reach the coordinator in
//! the order the task made them: a task that snapshotted for checkpoint *n* and then
//! ran out of input is acknowledged before it is known to have finished (the
//! coordinator would otherwise ask it again for *n*, and a sink would stage output
//! from after the barrier under *n*).

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, unbounded};

use super::coordinator::{Acknowledgement, CoordinatorMessage, WrittenFile};
use super::location::StorageResolver;
use super::{CheckpointId, Decline, SnapshotReport, TaskReporter};

/// Where reports go, tagged with their attempt.
pub type PostReport = Arc<dyn Fn(u32, CoordinatorMessage) + Send + Sync>;

enum Report {
    Snapshot(SnapshotReport),
    Declined(CheckpointId, Decline),
    Finished,
}

struct Job {
    attempt: u32,
    task: usize,
    /// The name of the task's state file in a checkpoint's directory.
    file: Arc<str>,
    report: Report,
}

/// The thread that writes the snapshots of a process's tasks of one job and passes
/// their reports on.
pub struct ReportWriter {
    queue: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl ReportWriter {
    /// Starts the thread: it writes into the storages `resolver` opens and hands every
    /// report to `post`.
    pub fn start(resolver: Arc<StorageResolver>, post: PostReport) -> std::io::Result<Self> {
        let (tx, rx) = unbounded::<Job>();
        let thread = std::thread::Builder::new().name("spate-state-writer".into()).spawn(move || {
            for Job { attempt, task, file, report } in rx {
                let message = match report {
                    Report::Snapshot(report) => write(&resolver, task, &file, report),
                    Report::Declined(id, decline) => CoordinatorMessage::Declined { task, id, decline },
                    Report::Finished => CoordinatorMessage::Finished { task },
                };
                post(attempt, message);
            }
        })?;
        Ok(ReportWriter { queue: Some(tx), thread: Some(thread) })
    }

    /// The reporter of subtask `subtask` of vertex `vertex` (task `task` of the job)
    /// in attempt `attempt`.
    pub fn reporter(&self, attempt: u32, task: usize, vertex: u32, subtask: u32) -> Box<dyn TaskReporter> {
        let (queue, _) = unbounded();
        let queue = self.queue.clone().unwrap_or(queue);
        // The attempt in the name: a worker of a failed attempt that still runs writes
        // beside the new attempt's file of the same checkpoint, never over it.
        let file = format!("state-{vertex}-{subtask}-a{attempt}").into();
        Box::new(QueuedReporter { queue, attempt, task, file })
    }
}

fn write(resolver: &StorageResolver, task: usize, file: &str, report: SnapshotReport) -> CoordinatorMessage {
    let SnapshotReport { barrier, snapshot, alignment, sync } = report;
    let id = barrier.id;
    if snapshot.operators.is_empty() {
        // Nothing to store.
        return CoordinatorMessage::Acknowledged { task, ack: Acknowledgement { id, file: None, alignment, sync } };
    }
    let location = &barrier.location;
    let written = resolver.resolve(&location.storage).and_then(|storage| {
        let size = storage.write_state(&location.dir, file, &snapshot)?;
        Ok(WrittenFile {
            name: file.to_string(),
            size,
            uids: snapshot.operators.into_iter().map(|(uid, _)| uid).collect(),
        })
    });
    match written {
        Ok(file) => {
            CoordinatorMessage::Acknowledged { task, ack: Acknowledgement { id, file: Some(file), alignment, sync } }
        }
        Err(error) => CoordinatorMessage::StateWriteFailed { task, id, reason: error.to_string() },
    }
}

impl Drop for ReportWriter {
    /// Finishes the queued writes once every reporter is gone (the tasks ended).
    fn drop(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A task's end of the queue.
struct QueuedReporter {
    queue: Sender<Job>,
    attempt: u32,
    task: usize,
    file: Arc<str>,
}

impl QueuedReporter {
    fn queue(&self, report: Report) {
        let _ = self.queue.send(Job { attempt: self.attempt, task: self.task, file: self.file.clone(), report });
    }
}

impl TaskReporter for QueuedReporter {
    fn checkpointed(&self, report: SnapshotReport) {
        self.queue(Report::Snapshot(report));
    }

    fn declined(&self, id: CheckpointId, decline: Decline) {
        self.queue(Report::Declined(id, decline));
    }

    fn finished(&self) {
        self.queue(Report::Finished);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::checkpoint::{
        CheckpointBarrier, CheckpointKind, CheckpointLocation, CheckpointStorage, OperatorSnapshot, TaskSnapshot,
    };

    fn report(storage: &str, id: u64) -> SnapshotReport {
        let mut op = OperatorSnapshot::default();
        op.add_keyed(3, "table", vec![1, 2, 3]);
        let location = CheckpointLocation { storage: storage.to_string(), dir: format!("job/chk-{id}") };
        SnapshotReport {
            barrier: CheckpointBarrier { id, timestamp: 0, kind: CheckpointKind::Checkpoint, location, drain: false },
            snapshot: TaskSnapshot { operators: vec![("op".into(), op)] },
            alignment: Duration::from_millis(2),
            sync: Duration::from_millis(1),
        }
    }

    #[test]
    fn snapshots_are_stored_in_the_tasks_process_and_reports_keep_their_order() {
        let storage = CheckpointStorage::in_memory();
        let (tx, rx) = unbounded();
        let writer = ReportWriter::start(
            Arc::new(StorageResolver::new().with(&storage)),
            Arc::new(move |attempt, message| {
                let _ = tx.send((attempt, message));
            }),
        )
        .unwrap();
        let reporter = writer.reporter(4, 7, 1, 2);
        reporter.checkpointed(report(storage.url(), 5));
        reporter.finished();
        // A storage no process of this job made: the write fails and says why.
        reporter.checkpointed(report(CheckpointStorage::in_memory().url(), 6));
        drop(reporter);
        drop(writer);
        let messages: Vec<(u32, CoordinatorMessage)> = rx.iter().collect();
        assert!(messages.iter().all(|(attempt, _)| *attempt == 4));
        match &messages[0].1 {
            CoordinatorMessage::Acknowledged { task: 7, ack } => {
                assert_eq!((ack.id, ack.alignment), (5, Duration::from_millis(2)));
                let file = ack.file.as_ref().expect("the state file");
                assert_eq!((file.name.as_str(), file.uids.clone()), ("state-1-2-a4", vec!["op".to_string()]));
                assert_eq!(storage.size("job/chk-5/state-1-2-a4").unwrap(), file.size);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(messages[1].1, CoordinatorMessage::Finished { task: 7 }), "{messages:?}");
        match &messages[2].1 {
            CoordinatorMessage::StateWriteFailed { task: 7, id: 6, reason } => {
                assert!(reason.contains("another process"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(messages.len(), 3);
    }
}
