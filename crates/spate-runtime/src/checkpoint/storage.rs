//! Where checkpoints live: a directory tree in an [`object_store`] store.
//!
//! The layout is Flink's: `DIR/JOB_ID/chk-N/` holds one state file per subtask that had
//! state (`state-<vertex>-<subtask>-a<attempt>`) and `_metadata`, written last, whose presence makes the checkpoint complete. A
//! savepoint is the same tree under a directory of the user's choice; since `_metadata`
//! names files relative to its own directory, any checkpoint or savepoint directory can
//! be copied elsewhere and restored from there.
//!
//! `object_store` is the abstraction over stores: the local filesystem today, S3-like
//! stores by swapping the store, so this type needs no trait of its own. The store's
//! calls are futures; on a local filesystem they complete without a runtime, so they
//! are driven with a minimal executor.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::format::{self, CheckpointMetadata, FOOTER_LEN, FormatError, OperatorIndex, OperatorMetadata};
use super::{RestoredState, TaskSnapshot};
use crate::state::Redistribution;

/// The name of the file that completes a checkpoint.
pub const METADATA_FILE: &str = "_metadata";

/// Why checkpoint storage could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store failed (permissions, missing file, full disk).
    #[error("checkpoint storage {location}: {source}")]
    Store {
        /// The file or directory.
        location: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// A file exists but is damaged.
    #[error("corrupt checkpoint file {0}")]
    Corrupt(#[from] FormatError),
    /// State could not be encoded.
    #[error("cannot encode checkpoint state: {0}")]
    Encode(#[from] spate_core::CoreError),
    /// The checkpoint does not fit the job (another max parallelism, a missing file).
    #[error("{0}")]
    Invalid(String),
}

/// A directory of checkpoints (or one savepoint) in an object store.
#[derive(Clone, Debug)]
pub struct CheckpointStorage {
    store: Arc<dyn ObjectStore>,
    /// The local directory behind the store (for messages and removing empty
    /// directories); `None` for storage in memory.
    root: Option<PathBuf>,
    /// Its address, which barriers carry to the tasks that write into it
    /// (`file:///dir`, or `memory:N` for one in this process).
    url: Arc<str>,
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

impl CheckpointStorage {
    /// Storage in local directory `dir`, created if missing.
    pub fn local(dir: impl AsRef<Path>) -> Result<Self, StorageError> {
        let dir = dir.as_ref();
        let location = dir.display().to_string();
        std::fs::create_dir_all(dir).map_err(|e| StorageError::Store {
            location: location.clone(),
            source: object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(e) },
        })?;
        let root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let store = LocalFileSystem::new_with_prefix(&root)
            .map_err(|source| StorageError::Store { location, source })?
            .with_automatic_cleanup(true);
        let url = format!("file://{}", root.display()).into();
        Ok(CheckpointStorage { store: Arc::new(store), root: Some(root), url })
    }

    /// Storage in this process's memory (Flink's JobManager checkpoint storage): it
    /// serves restarts of a running job and is gone with the process.
    pub fn in_memory() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        CheckpointStorage {
            store: Arc::new(object_store::memory::InMemory::new()),
            root: None,
            url: format!("memory:{n}").into(),
        }
    }

    /// The storage a configured location names: a `file://` URL, Flink's `file:/dir`
    /// (as savepoint paths are printed), or a path (absolute, or relative to the working
    /// directory).
    pub fn open(location: &str) -> Result<Self, StorageError> {
        match location.split_once("://") {
            None => Self::local(location.strip_prefix("file:").unwrap_or(location)),
            Some(("file", path)) => Self::local(path),
            Some((scheme, _)) => Err(StorageError::Invalid(format!(
                "checkpoint storage {location}: the scheme {scheme}:// is not supported (use file:// or a path)"
            ))),
        }
    }

    /// Whether `location` names a place independently of a working directory: a URL,
    /// `file:/dir`, or an absolute path.
    pub fn is_absolute(location: &str) -> bool {
        spate_core::config::fault_tolerance::is_absolute_location(location)
    }

    /// Its address: what a barrier carries so that a task in any process writes into
    /// this storage ([`StorageResolver`](super::StorageResolver)).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the files outlive the process.
    pub fn is_durable(&self) -> bool {
        self.root.is_some()
    }

    /// The directory `path` (relative to this storage) as a local path.
    pub fn local_path(&self, path: &str) -> PathBuf {
        let root = self.root.clone().unwrap_or_else(|| PathBuf::from("memory:"));
        if path.is_empty() { root } else { root.join(path) }
    }

    fn error(&self, path: &str, source: object_store::Error) -> StorageError {
        StorageError::Store { location: self.local_path(path).display().to_string(), source }
    }

    /// Writes `bytes` to `path`. The file appears whole or not at all.
    pub fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        block_on(self.store.put(&StorePath::from(path), PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|e| self.error(path, e))
    }

    /// The whole file at `path`.
    pub fn get(&self, path: &str) -> Result<Bytes, StorageError> {
        block_on(async { self.store.get(&StorePath::from(path)).await?.bytes().await }).map_err(|e| self.error(path, e))
    }

    /// Bytes `range` of the file at `path`.
    pub fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, StorageError> {
        block_on(self.store.get_range(&StorePath::from(path), range)).map_err(|e| self.error(path, e))
    }

    /// The size of the file at `path`.
    pub fn size(&self, path: &str) -> Result<u64, StorageError> {
        block_on(self.store.head(&StorePath::from(path))).map(|m| m.size).map_err(|e| self.error(path, e))
    }

    /// Removes every file under directory `dir`, and the directory.
    pub fn delete_dir(&self, dir: &str) -> Result<(), StorageError> {
        let prefix = StorePath::from(dir);
        let files: Vec<StorePath> = futures_executor::block_on_stream(self.store.list(Some(&prefix)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(dir, e))?
            .into_iter()
            .map(|m| m.location)
            .collect();
        for file in files {
            block_on(self.store.delete(&file)).map_err(|e| self.error(file.as_ref(), e))?;
        }
        let local = self.local_path(dir);
        if self.root.is_some() && local.is_dir() {
            let _ = std::fs::remove_dir_all(&local);
        }
        Ok(())
    }

    /// The checkpoints under `dir` (`dir/chk-N`), oldest first; with `_metadata` or not.
    pub fn list_checkpoints(&self, dir: &str) -> Result<Vec<u64>, StorageError> {
        let prefix = StorePath::from(dir);
        let listed = block_on(self.store.list_with_delimiter(Some(&prefix))).map_err(|e| self.error(dir, e))?;
        let mut ids: Vec<u64> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().and_then(|name| name.strip_prefix("chk-")).and_then(|n| n.parse().ok()))
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Writes the state file `dir/name` of one subtask; returns its size.
    pub fn write_state(&self, dir: &str, name: &str, snapshot: &TaskSnapshot) -> Result<u64, StorageError> {
        let bytes = format::write_state_file(snapshot)?;
        let size = bytes.len() as u64;
        self.put(&join(dir, name), bytes)?;
        Ok(size)
    }

    /// Writes `dir/_metadata`, which completes the checkpoint in `dir`.
    pub fn write_metadata(&self, dir: &str, metadata: &CheckpointMetadata) -> Result<(), StorageError> {
        self.put(&join(dir, METADATA_FILE), metadata.encode()?)
    }

    /// Reads `dir/_metadata` and checks that every state file it names is there, whole.
    pub fn read_metadata(&self, dir: &str) -> Result<CheckpointMetadata, StorageError> {
        let path = join(dir, METADATA_FILE);
        let bytes = self.get(&path)?;
        let metadata = CheckpointMetadata::decode(&self.local_path(&path).display().to_string(), &bytes)?;
        for file in metadata.operators.iter().flat_map(|o| &o.files) {
            let path = join(dir, &file.name);
            let size = self.size(&path)?;
            if size != file.size {
                return Err(StorageError::Invalid(format!(
                    "checkpoint file {} has {size} bytes, {} were written",
                    self.local_path(&path).display(),
                    file.size
                )));
            }
        }
        Ok(metadata)
    }

    /// The state of subtask `subtask` of `parallelism` of one operator, owning key
    /// groups `range`: reads from each state file the index, then only the key groups in
    /// `range` and the operator lists.
    pub fn load_operator(
        &self,
        dir: &str,
        operator: &OperatorMetadata,
        range: spate_core::KeyGroupRange,
        subtask: u32,
        parallelism: u32,
    ) -> Result<RestoredState, StorageError> {
        let mut previous = Vec::with_capacity(operator.files.len());
        let mut files: Vec<&super::StateFile> = operator.files.iter().collect();
        files.sort_by_key(|f| f.subtask);
        for file in files {
            let path = join(dir, &file.name);
            let shown = self.local_path(&path).display().to_string();
            let index = self.read_index(&path, &shown, file.size)?;
            let Some(entry) = index.into_iter().find(|e| e.uid == operator.uid) else {
                return Err(StorageError::Invalid(format!("{shown} holds no state of operator '{}'", operator.uid)));
            };
            let mut snapshot = super::OperatorSnapshot::default();
            for (group, section) in &entry.keyed {
                if range.contains(*group) {
                    let bytes = self.get_range(&path, section.offset..section.offset + section.len)?;
                    snapshot.keyed.insert(*group, format::read_keyed(&shown, section, &bytes)?);
                }
            }
            for (name, union, section) in &entry.lists {
                let bytes = self.get_range(&path, section.offset..section.offset + section.len)?;
                let elements = format::read_list(&shown, section, &bytes)?;
                let mode = if *union { Redistribution::Union } else { Redistribution::EvenSplit };
                snapshot.add_list(name, mode, elements);
            }
            previous.push(snapshot);
        }
        let refs: Vec<&super::OperatorSnapshot> = previous.iter().collect();
        Ok(RestoredState::assemble(&refs, range, subtask, parallelism))
    }

    fn read_index(&self, path: &str, shown: &str, size: u64) -> Result<Vec<OperatorIndex>, StorageError> {
        // Most indexes fit in the last 64 KiB; a larger one is read in a second call.
        let tail_len = size.min(64 * 1024);
        let tail = self.get_range(path, size - tail_len..size)?;
        if tail.len() >= FOOTER_LEN {
            let footer = &tail[tail.len() - FOOTER_LEN..];
            let index_len = u64::from_le_bytes(footer[..8].try_into().unwrap_or_default());
            let needed = index_len.saturating_add(FOOTER_LEN as u64);
            if needed > tail_len && needed <= size {
                let tail = self.get_range(path, size - needed..size)?;
                return Ok(format::read_index(shown, &tail, size)?);
            }
        }
        Ok(format::read_index(shown, &tail, size)?)
    }
}

/// `dir/name`, or `name` when `dir` is empty.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{CheckpointKind, OperatorSnapshot, StateFile};
    use spate_core::KeyGroupRange;

    fn snapshot(groups: std::ops::Range<u32>) -> TaskSnapshot {
        let mut op = OperatorSnapshot::default();
        for g in groups {
            op.add_keyed(g, "table", vec![g as u8; 10]);
        }
        op.add_list("splits", Redistribution::EvenSplit, vec![vec![1]]);
        TaskSnapshot { operators: vec![("op".into(), op)] }
    }

    #[test]
    fn a_checkpoint_round_trips_and_damage_is_reported() {
        let dir = std::env::temp_dir().join(format!("spate-storage-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let storage = CheckpointStorage::local(dir.join("checkpoints")).unwrap();
        let chk = "job/chk-3";
        let a = storage.write_state(chk, "op-0", &snapshot(0..4)).unwrap();
        let b = storage.write_state(chk, "op-1", &snapshot(4..8)).unwrap();
        let metadata = CheckpointMetadata {
            job_id: "job".into(),
            checkpoint_id: 3,
            timestamp: 0,
            kind: CheckpointKind::Checkpoint,
            operators: vec![OperatorMetadata {
                uid: "op".into(),
                parallelism: 2,
                max_parallelism: 8,
                files: vec![
                    StateFile { subtask: 0, name: "op-0".into(), size: a },
                    StateFile { subtask: 1, name: "op-1".into(), size: b },
                ],
            }],
        };
        storage.write_metadata(chk, &metadata).unwrap();
        assert_eq!(storage.list_checkpoints("job").unwrap(), vec![3]);
        let read = storage.read_metadata(chk).unwrap();
        assert_eq!(read, metadata);
        let restored =
            storage.load_operator(chk, &read.operators[0], KeyGroupRange { start: 3, end: 6 }, 0, 1).unwrap();
        assert_eq!(restored.keyed.keys().copied().collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(restored.list("splits").unwrap().len(), 2);

        // A flipped byte in a key group is found when that group is read.
        let file = dir.join("checkpoints/job/chk-3/op-1");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[20] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        let err = storage.load_operator(chk, &read.operators[0], KeyGroupRange { start: 0, end: 8 }, 0, 1).unwrap_err();
        assert!(err.to_string().contains("checksum") && err.to_string().contains("op-1"), "{err}");
        // A truncated file is found from the metadata alone.
        std::fs::write(&file, &bytes[..bytes.len() - 5]).unwrap();
        let err = storage.read_metadata(chk).unwrap_err().to_string();
        assert!(err.contains("op-1") && err.contains("bytes"), "{err}");
        // Without _metadata the checkpoint is not complete.
        std::fs::remove_file(dir.join("checkpoints/job/chk-3/_metadata")).unwrap();
        let err = storage.read_metadata(chk).unwrap_err().to_string();
        assert!(err.contains("_metadata"), "{err}");
        storage.delete_dir(chk).unwrap();
        assert!(!dir.join("checkpoints/job/chk-3").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
