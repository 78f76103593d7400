//! The thread that writes checkpoint files, so that no task waits on storage.
//!
//! Jobs run in the order they were queued: a directory deleted after an aborted
//! checkpoint is never recreated by a write of that checkpoint still in the queue.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, unbounded};

use super::coordinator::{CoordinatorMessage, WrittenFile};
use super::{CheckpointId, CheckpointMetadata, CheckpointStorage, TaskSnapshot};

/// One piece of work for the writer.
pub(crate) enum WriteJob {
    /// Write a subtask's state file and report its size.
    State {
        id: CheckpointId,
        task: usize,
        storage: CheckpointStorage,
        dir: String,
        name: String,
        snapshot: TaskSnapshot,
    },
    /// Write `_metadata`, completing a checkpoint.
    Metadata { id: CheckpointId, storage: CheckpointStorage, dir: String, metadata: Box<CheckpointMetadata> },
    /// Remove a checkpoint's directory.
    Delete { storage: CheckpointStorage, dir: String },
}

/// The writer thread and its queue.
pub(crate) struct StorageWriter {
    queue: Option<Sender<WriteJob>>,
    thread: Option<JoinHandle<()>>,
}

impl StorageWriter {
    /// Starts the thread; results are posted through `post`.
    pub(crate) fn start(post: Arc<dyn Fn(CoordinatorMessage) + Send + Sync>) -> std::io::Result<Self> {
        let (tx, rx) = unbounded::<WriteJob>();
        let thread = std::thread::Builder::new().name("spate-checkpoint-writer".into()).spawn(move || {
            for job in rx {
                match job {
                    WriteJob::State { id, task, storage, dir, name, snapshot } => {
                        let uids = snapshot.operators.iter().map(|(uid, _)| uid.clone()).collect();
                        let result =
                            storage.write_state(&dir, &name, &snapshot).map(|size| WrittenFile { name, size, uids });
                        post(CoordinatorMessage::StateWritten { id, task, result });
                    }
                    WriteJob::Metadata { id, storage, dir, metadata } => {
                        let result = storage.write_metadata(&dir, &metadata);
                        post(CoordinatorMessage::MetadataWritten { id, result });
                    }
                    WriteJob::Delete { storage, dir } => {
                        if let Err(e) = storage.delete_dir(&dir) {
                            tracing::warn!(error = %e, "cannot delete a checkpoint directory");
                        }
                    }
                }
            }
        })?;
        Ok(StorageWriter { queue: Some(tx), thread: Some(thread) })
    }

    pub(crate) fn submit(&self, job: WriteJob) {
        if let Some(queue) = &self.queue {
            let _ = queue.send(job);
        }
    }
}

impl Drop for StorageWriter {
    /// Finishes the queued work (deletions of old checkpoints included) before the job
    /// reports its end.
    fn drop(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
