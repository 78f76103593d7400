//! The coordinator's thread that writes `_metadata` and deletes checkpoints, so that
//! the job master never waits on storage (tasks write their own state files:
//! `task_reports.rs`).
//!
//! Jobs run in the order they were queued: a directory deleted after an aborted
//! checkpoint is never recreated by a write of that checkpoint still in the queue.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, unbounded};

use super::coordinator::CoordinatorMessage;
use super::{CheckpointId, CheckpointMetadata, CheckpointStorage};

/// One piece of work for the writer.
pub(crate) enum WriteJob {
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
                    WriteJob::Metadata { id, storage, dir, metadata } => {
                        let result = storage.write_metadata(&dir, &metadata).map_err(|e| e.to_string());
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
