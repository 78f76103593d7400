//! Reading a checkpoint or savepoint back for a new attempt of a job: which state each
//! subtask starts from.
//!
//! Everything is read and checked before any task starts, so a damaged checkpoint is
//! found while an older one can still be used, and never half-loaded.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use spate_core::KeyGroupRange;
use spate_runtime::checkpoint::{
    CheckpointId, CheckpointStorage, CompletedCheckpoint, METADATA_FILE, RestoredState, StorageError,
};
use thiserror::Error;

use super::deploy::ExecutionPlan;

/// Why a checkpoint or savepoint cannot be restored.
#[derive(Debug, Error)]
pub enum RestoreError {
    /// `execution.savepoint.path` names no directory.
    #[error("execution.savepoint.path: {path} is not a directory")]
    NotADirectory {
        /// The path given.
        path: String,
    },
    /// The storage of a checkpoint could not be opened.
    #[error("execution.savepoint.path: {path}: {source}")]
    Storage {
        /// The directory.
        path: String,
        /// Why.
        #[source]
        source: StorageError,
    },
    /// The checkpoint is damaged (missing or corrupt files): an older one may do.
    #[error("cannot restore from {path}: {source}")]
    Damaged {
        /// The checkpoint.
        path: String,
        /// What is wrong.
        #[source]
        source: StorageError,
    },
    /// It holds state no operator of this job claims.
    #[error(
        "cannot restore from {path}: it holds state of operators that are not in this job (uids: {uids}). \
         Give the operators their old uids, or set execution.savepoint.ignore-unclaimed-state: true to drop \
         that state"
    )]
    UnclaimedState {
        /// The checkpoint.
        path: String,
        /// The operators' uids, comma separated.
        uids: String,
    },
    /// An operator's number of key groups changed.
    #[error(
        "cannot restore operator '{operator}' (uid {uid}) from {path}: its state has {stored} key groups (max \
         parallelism), the job has {job}. The max parallelism of a stateful operator cannot change"
    )]
    MaxParallelismChanged {
        /// The checkpoint.
        path: String,
        /// The operator's name.
        operator: String,
        /// Its uid.
        uid: String,
        /// Key groups in the checkpoint.
        stored: u32,
        /// Key groups in the job.
        job: u32,
    },
    /// Every candidate was damaged.
    #[error("no usable checkpoint: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    NoneUsable(Vec<RestoreError>),
    /// The directory holds nothing to restore.
    #[error("execution.savepoint.path: nothing to restore in {path}")]
    Empty {
        /// The directory.
        path: String,
    },
}

impl RestoreError {
    /// Whether the checkpoint is of another job than this one: no other checkpoint of
    /// the same job would do better, so nothing older is tried.
    pub fn is_incompatible(&self) -> bool {
        matches!(self, RestoreError::UnclaimedState { .. } | RestoreError::MaxParallelismChanged { .. })
    }
}

/// The state of one subtask, by operator uid.
pub(crate) type TaskRestore = HashMap<String, RestoredState>;

/// A checkpoint read for restore: its id and the state of each subtask, in the order
/// of [`ExecutionPlan::wire`].
pub(crate) struct Restore {
    pub id: CheckpointId,
    pub path: String,
    pub tasks: Vec<TaskRestore>,
}

/// Reads checkpoint `checkpoint` for the job in `exec`: the state of the subtasks
/// `only` names (task indices), or of all of them; the others get none.
pub(crate) fn load(
    exec: &ExecutionPlan,
    checkpoint: &CompletedCheckpoint,
    ignore_unclaimed: bool,
    only: Option<&[usize]>,
) -> Result<Restore, RestoreError> {
    let path = checkpoint.path();
    let fail = |source: StorageError| RestoreError::Damaged { path: path.clone(), source };
    let metadata = checkpoint.storage.read_metadata(&checkpoint.dir).map_err(fail)?;
    let job = &exec.plan.job_graph;
    let uids: BTreeSet<&str> = job.vertices.iter().flat_map(|v| &v.operators).map(|o| o.uid.as_str()).collect();
    let unclaimed: Vec<&str> =
        metadata.operators.iter().map(|o| o.uid.as_str()).filter(|uid| !uids.contains(uid)).collect();
    if !unclaimed.is_empty() {
        if !ignore_unclaimed {
            return Err(RestoreError::UnclaimedState { path, uids: unclaimed.join(", ") });
        }
        tracing::warn!(path = %path, uids = %unclaimed.join(", "), "dropping state of operators that are not in the job");
    }
    let mut tasks = Vec::new();
    for vertex in &job.vertices {
        for operator in &vertex.operators {
            let Some(meta) = metadata.operators.iter().find(|o| o.uid == operator.uid) else { continue };
            if meta.max_parallelism != vertex.max_parallelism {
                return Err(RestoreError::MaxParallelismChanged {
                    path,
                    operator: operator.name.clone(),
                    uid: operator.uid.clone(),
                    stored: meta.max_parallelism,
                    job: vertex.max_parallelism,
                });
            }
        }
        for subtask in 0..vertex.parallelism {
            let range = KeyGroupRange::for_operator(vertex.max_parallelism, vertex.parallelism, subtask);
            let mut restore = TaskRestore::new();
            if only.is_some_and(|only| !only.contains(&tasks.len())) {
                tasks.push(restore);
                continue;
            }
            for operator in &vertex.operators {
                let Some(meta) = metadata.operators.iter().find(|o| o.uid == operator.uid) else { continue };
                let state = checkpoint
                    .storage
                    .load_operator(&checkpoint.dir, meta, range, subtask, vertex.parallelism)
                    .map_err(fail)?;
                restore.insert(operator.uid.clone(), state);
            }
            tasks.push(restore);
        }
    }
    Ok(Restore { id: metadata.checkpoint_id, path, tasks })
}

/// Tries `candidates` newest first; a damaged one is logged and the next is used. A
/// checkpoint of an incompatible job ends the search at once.
pub(crate) fn load_first_usable(
    exec: &ExecutionPlan,
    candidates: &[CompletedCheckpoint],
    ignore_unclaimed: bool,
) -> Result<Option<Restore>, RestoreError> {
    let mut errors = Vec::new();
    for (i, candidate) in candidates.iter().enumerate() {
        match load(exec, candidate, ignore_unclaimed, None) {
            Ok(restore) => return Ok(Some(restore)),
            Err(e) if e.is_incompatible() => return Err(e),
            Err(e) => {
                if i + 1 < candidates.len() {
                    tracing::error!(error = %e, "checkpoint is not usable; trying an older one");
                } else if candidates.len() > 1 {
                    tracing::error!(error = %e, "checkpoint is not usable, and no older one is left");
                } else {
                    tracing::error!(error = %e, "checkpoint is not usable, and there is no older one to fall back to");
                }
                errors.push(e);
            }
        }
    }
    if errors.is_empty() { Ok(None) } else { Err(RestoreError::NoneUsable(errors)) }
}

/// The checkpoints to try for `execution.savepoint.path`: the directory itself, then,
/// when it is a retained `chk-N`, the older `chk-M` beside it.
pub(crate) fn savepoint_candidates(path: &str) -> Result<Vec<CompletedCheckpoint>, RestoreError> {
    let path = PathBuf::from(path);
    let path = if path.file_name().is_some_and(|n| n == METADATA_FILE) {
        path.parent().map(Path::to_path_buf).unwrap_or(path)
    } else {
        path
    };
    if !path.is_dir() {
        return Err(RestoreError::NotADirectory { path: path.display().to_string() });
    }
    let storage = |dir: &Path| {
        CheckpointStorage::local(dir)
            .map_err(|source| RestoreError::Storage { path: dir.display().to_string(), source })
    };
    let mut candidates = vec![CompletedCheckpoint { id: 0, storage: storage(&path)?, dir: String::new() }];
    let own_id =
        path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("chk-")).and_then(|n| n.parse().ok());
    if let (Some(own), Some(parent)) = (own_id, path.parent()) {
        let parent_storage = storage(parent)?;
        let mut older: Vec<CheckpointId> =
            parent_storage.list_checkpoints("").unwrap_or_default().into_iter().filter(|id| *id < own).collect();
        older.reverse();
        for id in older {
            candidates.push(CompletedCheckpoint { id, storage: parent_storage.clone(), dir: format!("chk-{id}") });
        }
    }
    Ok(candidates)
}
