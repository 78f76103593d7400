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

use super::deploy::ExecutionPlan;

/// The state of one subtask, by operator uid.
pub(crate) type TaskRestore = HashMap<String, RestoredState>;

/// A checkpoint read for restore: its id and the state of each subtask, in the order
/// of [`ExecutionPlan::wire`].
pub(crate) struct Restore {
    pub id: CheckpointId,
    pub path: String,
    pub tasks: Vec<TaskRestore>,
}

/// Reads checkpoint `checkpoint` for the job in `exec`.
pub(crate) fn load(
    exec: &ExecutionPlan,
    checkpoint: &CompletedCheckpoint,
    ignore_unclaimed: bool,
) -> Result<Restore, String> {
    let path = checkpoint.path();
    let fail = |e: StorageError| format!("cannot restore from {path}: {e}");
    let metadata = checkpoint.storage.read_metadata(&checkpoint.dir).map_err(fail)?;
    let job = &exec.plan.job_graph;
    let uids: BTreeSet<&str> = job.vertices.iter().flat_map(|v| &v.operators).map(|o| o.uid.as_str()).collect();
    let unclaimed: Vec<&str> =
        metadata.operators.iter().map(|o| o.uid.as_str()).filter(|uid| !uids.contains(uid)).collect();
    if !unclaimed.is_empty() {
        if !ignore_unclaimed {
            return Err(format!(
                "cannot restore from {path}: it holds state of operators that are not in this job (uids: {}). \
                 Give the operators their old uids, or set execution.savepoint.ignore-unclaimed-state: true \
                 to drop that state",
                unclaimed.join(", ")
            ));
        }
        tracing::warn!(path = %path, uids = %unclaimed.join(", "), "dropping state of operators that are not in the job");
    }
    let mut tasks = Vec::new();
    for vertex in &job.vertices {
        for operator in &vertex.operators {
            let Some(meta) = metadata.operators.iter().find(|o| o.uid == operator.uid) else { continue };
            if meta.max_parallelism != vertex.max_parallelism {
                return Err(format!(
                    "cannot restore operator '{}' (uid {}) from {path}: its state has {} key groups (max \
                     parallelism), the job has {}. The max parallelism of a stateful operator cannot change",
                    operator.name, operator.uid, meta.max_parallelism, vertex.max_parallelism
                ));
            }
        }
        for subtask in 0..vertex.parallelism {
            let range = KeyGroupRange::for_operator(vertex.max_parallelism, vertex.parallelism, subtask);
            let mut restore = TaskRestore::new();
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

/// Tries `candidates` newest first; a damaged one is logged and the next is used.
pub(crate) fn load_first_usable(
    exec: &ExecutionPlan,
    candidates: &[CompletedCheckpoint],
    ignore_unclaimed: bool,
) -> Result<Option<Restore>, String> {
    let mut errors = Vec::new();
    for candidate in candidates {
        match load(exec, candidate, ignore_unclaimed) {
            Ok(restore) => return Ok(Some(restore)),
            Err(e) if e.contains("max parallelism") || e.contains("not in this job") => return Err(e),
            Err(e) => {
                tracing::error!(error = %e, "checkpoint is not usable; trying an older one");
                errors.push(e);
            }
        }
    }
    if errors.is_empty() { Ok(None) } else { Err(format!("no usable checkpoint: {}", errors.join("; "))) }
}

/// The checkpoints to try for `execution.savepoint.path`: the directory itself, then,
/// when it is a retained `chk-N`, the older `chk-M` beside it.
pub(crate) fn savepoint_candidates(path: &str) -> Result<Vec<CompletedCheckpoint>, String> {
    let path = PathBuf::from(path);
    let path = if path.file_name().is_some_and(|n| n == METADATA_FILE) {
        path.parent().map(Path::to_path_buf).unwrap_or(path)
    } else {
        path
    };
    if !path.is_dir() {
        return Err(format!("execution.savepoint.path: {} is not a directory", path.display()));
    }
    let storage = |dir: &Path| {
        CheckpointStorage::local(dir).map_err(|e| format!("execution.savepoint.path: {}: {e}", dir.display()))
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
