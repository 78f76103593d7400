//! Where a checkpoint's files go, as its barrier carries it to every task: the tasks
//! write their own state files (DESIGN.md section 7), in whatever process they run,
//! so each needs to reach the storage the coordinator chose — the job's checkpoint
//! directory, or a savepoint's.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::storage::{CheckpointStorage, StorageError};

/// A checkpoint's directory: the storage's address and the directory within it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointLocation {
    /// [`CheckpointStorage::url`] of the storage.
    pub storage: String,
    /// The checkpoint's directory in it (`JOB_ID/chk-N`, `savepoint-…`).
    pub dir: String,
}

/// Opens the storages barriers name, once each per process.
///
/// Storage in memory can only be reached from the process that made it, so it is
/// registered ([`with`](Self::with)); `file://` storage is opened on first use.
#[derive(Debug, Default)]
pub struct StorageResolver {
    known: Mutex<HashMap<String, CheckpointStorage>>,
}

impl StorageResolver {
    /// A resolver that knows no storage yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also resolves `storage` (one in this process's memory, say).
    pub fn with(self, storage: &CheckpointStorage) -> Self {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).insert(storage.url().to_string(), storage.clone());
        self
    }

    /// The storage at `url`.
    pub fn resolve(&self, url: &str) -> Result<CheckpointStorage, StorageError> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(storage) = known.get(url) {
            return Ok(storage.clone());
        }
        if url.starts_with("memory:") {
            return Err(StorageError::Invalid(format!(
                "checkpoint storage {url} is in another process's memory: a job whose tasks run in several \
                 processes needs execution.checkpointing.dir (a directory every process sees)"
            )));
        }
        let storage = CheckpointStorage::open(url)?;
        known.insert(url.to_string(), storage.clone());
        Ok(storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_memory_and_file_urls_resolve_and_foreign_memory_does_not() {
        let memory = CheckpointStorage::in_memory();
        let resolver = StorageResolver::new().with(&memory);
        memory.put("a/b", vec![1, 2]).unwrap();
        assert_eq!(&resolver.resolve(memory.url()).unwrap().get("a/b").unwrap()[..], [1, 2]);

        let other = CheckpointStorage::in_memory();
        let err = resolver.resolve(other.url()).unwrap_err().to_string();
        assert!(err.contains("execution.checkpointing.dir"), "{err}");

        let dir = std::env::temp_dir().join(format!("spate-resolver-test-{}", std::process::id()));
        let local = CheckpointStorage::local(&dir).unwrap();
        assert!(local.url().starts_with("file:///"), "{}", local.url());
        resolver.resolve(local.url()).unwrap().put("x", vec![7]).unwrap();
        assert_eq!(std::fs::read(dir.join("x")).unwrap(), [7]);
        let _ = std::fs::remove_dir_all(&dir);

        let err = CheckpointStorage::open("ftp://host/dir").unwrap_err().to_string();
        assert!(err.contains("ftp://") && err.contains("file://"), "{err}");
    }
}
