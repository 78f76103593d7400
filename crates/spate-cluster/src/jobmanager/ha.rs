//! High availability on a filesystem (`high-availability.type: filesystem`): the
//! JobManager keeps each job's submission and, once it ended, its result under
//! `high-availability.storageDir/cluster-id/jobs/<job id>/`. A JobManager started again
//! on the same directory recovers every job without a result from its latest completed
//! checkpoint (found in the job's checkpoint directory: the checkpoints themselves are
//! the pointers), and lists the others as they ended. An exclusive lock on
//! `cluster-id/jobmanager.lock`, held for the process's life, keeps a second JobManager
//! from running the same cluster; standby JobManagers with leader election through an
//! existing service (etcd or Kubernetes leases) are the next step.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::dispatcher::Submission;
use crate::ClusterError;

/// What a job's end leaves in the store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredResult {
    /// Flink's status name (`FINISHED`, `FAILED`, `CANCELED`).
    pub status: String,
    /// When it was submitted and ended (ms since the epoch).
    pub start_ms: i64,
    pub end_ms: i64,
    /// Why it failed.
    pub failure: Option<String>,
}

/// A job found in the store.
pub(crate) struct StoredJob {
    pub id: String,
    pub submission: Submission,
    pub result: Option<StoredResult>,
    /// When it was first submitted.
    pub submitted_ms: i64,
    /// The last attempt deployed.
    pub attempt: Option<u32>,
}

/// The cluster's directory in the high-availability storage, locked.
pub(crate) struct HaStore {
    dir: PathBuf,
    /// Held until the process ends.
    _lock: Flock<File>,
}

fn error(dir: &Path, reason: impl std::fmt::Display) -> ClusterError {
    ClusterError::HighAvailability { path: dir.display().to_string(), reason: reason.to_string() }
}

impl HaStore {
    /// Opens (creating) `storage_dir/cluster_id` and takes its lock.
    pub fn open(storage_dir: &str, cluster_id: &str) -> Result<Self, ClusterError> {
        let dir = Path::new(storage_dir).join(cluster_id.trim_start_matches('/'));
        std::fs::create_dir_all(dir.join("jobs")).map_err(|e| error(&dir, e))?;
        let path = dir.join("jobmanager.lock");
        let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(|e| error(&dir, e))?;
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, Errno::EWOULDBLOCK)) => {
                return Err(error(
                    &dir,
                    format!("another JobManager runs this cluster (it holds {}); stop it first", path.display()),
                ));
            }
            Err((_, errno)) => return Err(error(&dir, errno)),
        };
        Ok(HaStore { dir, _lock: lock })
    }

    fn job_dir(&self, id: &str) -> PathBuf {
        self.dir.join("jobs").join(id)
    }

    /// Writes `name` in job `id`'s directory whole or not at all.
    fn write(&self, id: &str, name: &str, value: &impl Serialize) -> Result<(), ClusterError> {
        let dir = self.job_dir(id);
        std::fs::create_dir_all(&dir).map_err(|e| error(&dir, e))?;
        let bytes = serde_json::to_vec(value).map_err(|e| error(&dir, e))?;
        let tmp = dir.join(format!(".{name}.tmp"));
        let written = File::create(&tmp).and_then(|mut file| {
            std::io::Write::write_all(&mut file, &bytes)?;
            file.sync_all()
        });
        written.map_err(|e| error(&tmp, e))?;
        std::fs::rename(&tmp, dir.join(name)).map_err(|e| error(&dir, e))
    }

    /// Keeps a submitted job.
    pub fn save_submission(&self, id: &str, submission: &Submission, submitted_ms: i64) -> Result<(), ClusterError> {
        self.write(id, "submitted-at", &submitted_ms)?;
        self.write(id, "submission.json", submission)
    }

    /// Keeps how a job ended: a JobManager started again lists it, and does not run it.
    pub fn save_result(&self, id: &str, result: &StoredResult) -> Result<(), ClusterError> {
        self.write(id, "result.json", result)
    }

    /// Records that attempt `attempt` of job `id` is deployed (before its workers start).
    pub fn save_attempt(&self, id: &str, attempt: u32) -> Result<(), ClusterError> {
        self.write(id, "attempt", &attempt)
    }

    /// Forgets a job (it expired).
    pub fn remove(&self, id: &str) {
        let _ = std::fs::remove_dir_all(self.job_dir(id));
    }

    /// Every job kept; a job whose files cannot be read is skipped with an error logged
    /// (it cannot be recovered, and must not keep the others from it).
    pub fn load(&self) -> Vec<StoredJob> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("jobs")) else { return Vec::new() };
        let mut jobs = Vec::new();
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().to_string();
            if id.parse::<spate_core::job_id::JobId>().is_err() {
                tracing::error!(path = %entry.path().display(), "not a job's directory: skipped");
                continue;
            }
            let read = |name: &str| std::fs::read(entry.path().join(name));
            let submission = match read("submission.json").map(|b| serde_json::from_slice::<Submission>(&b)) {
                Ok(Ok(submission)) => submission,
                Ok(Err(e)) => {
                    tracing::error!(job = %id, error = %e, "a kept job cannot be read: not recovered");
                    continue;
                }
                // Submitted while the JobManager died: never accepted.
                Err(_) => continue,
            };
            let result = match read("result.json") {
                Err(_) => None,
                Ok(bytes) => Some(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                    // It ended; how is lost. It must not run again.
                    tracing::error!(job = %id, error = %e, "a kept result cannot be read: listed as FAILED");
                    StoredResult {
                        status: "FAILED".into(),
                        start_ms: 0,
                        end_ms: 0,
                        failure: Some(format!("its kept result cannot be read: {e}")),
                    }
                })),
            };
            let submitted_ms = read("submitted-at").ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(0);
            let attempt = read("attempt").ok().and_then(|b| serde_json::from_slice(&b).ok());
            jobs.push(StoredJob { id, submission, result, submitted_ms, attempt });
        }
        jobs.sort_by_key(|j| j.submitted_ms);
        jobs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_jobmanager_holds_the_store_and_jobs_and_results_survive_it() {
        let root = std::env::temp_dir().join(format!("spate-ha-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let store = HaStore::open(root.to_str().unwrap(), "/c1").unwrap();
        let second = HaStore::open(root.to_str().unwrap(), "/c1").err().expect("the lock is held");
        assert!(second.to_string().contains("another JobManager"), "{second}");
        // Another cluster id is another cluster.
        assert!(HaStore::open(root.to_str().unwrap(), "c2").is_ok());
        let graph = spate_core::job_graph::JobGraph::new(
            "j".into(),
            spate_core::job_graph::ExecutionMode::Streaming,
            Vec::new(),
            Vec::new(),
        );
        let submission = Submission {
            artifact: "a".into(),
            args: Vec::new(),
            cwd: "/".into(),
            job_index: 0,
            job_graph: graph,
            config: Vec::new(),
            recorded: Vec::new(),
            side_effects: Vec::new(),
        };
        let (j1, j2) = ("0000000000000000000000000000000a", "0000000000000000000000000000000b");
        store.save_submission(j1, &submission, 5).unwrap();
        store.save_attempt(j1, 3).unwrap();
        store.save_submission(j2, &submission, 7).unwrap();
        let result = StoredResult { status: "FINISHED".into(), start_ms: 7, end_ms: 9, failure: None };
        store.save_result(j2, &result).unwrap();
        std::fs::create_dir_all(root.join("c1/jobs/not-a-job")).unwrap();
        drop(store);
        let store = HaStore::open(root.to_str().unwrap(), "c1").unwrap();
        let jobs = store.load();
        let seen: Vec<_> = jobs.iter().map(|j| (j.id.as_str(), j.result.is_some(), j.attempt)).collect();
        assert_eq!(seen, [(j1, false, Some(3)), (j2, true, None)], "a directory that is no job's is skipped");
        // A result that cannot be read lists the job as failed: it never runs again.
        std::fs::write(root.join(format!("c1/jobs/{j1}/result.json")), b"{broken").unwrap();
        let jobs = store.load();
        assert_eq!(jobs[0].result.as_ref().map(|r| r.status.as_str()), Some("FAILED"));
        store.remove(j1);
        assert_eq!(store.load().len(), 1);
        let _ = std::fs::remove_dir_all(&root);
    }
}
