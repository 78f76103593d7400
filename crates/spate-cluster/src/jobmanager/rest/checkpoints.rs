//! `/jobs/:id/checkpoints`, `/jobs/:id/checkpoints/config` and
//! `/jobs/:id/checkpoints/details/:checkpointid`, in Flink's shapes: counts, a summary
//! of completed checkpoints, the latest of each kind, the history (newest first, the
//! last ten as Flink's `web.checkpoints.history`), and one checkpoint per vertex.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use spate_core::config::{CheckpointRetention, CheckpointingMode};
use spate_runtime::checkpoint::{CheckpointKind, CheckpointStats, CheckpointStatus};

use super::RestError;
use super::job_details::vertex_id;
use crate::jobmanager::Shared;
use crate::jobmanager::dispatcher::JobRecord;

/// Entries of `history` (Flink's `web.checkpoints.history` default).
const HISTORY: usize = 10;

fn with_record<T>(shared: &Shared, id: &str, f: impl FnOnce(&JobRecord) -> T) -> Result<T, RestError> {
    let jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
    jobs.get(id).map(f).ok_or_else(|| RestError::not_found(format!("Job {id} not found")))
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One checkpoint as Flink lists it; `tasks` filled only for the details.
fn entry(stats: &CheckpointStats, subtasks: usize, vertices: &[(u32, u32)], details: bool, retained: bool) -> Value {
    let (class, status) = match &stats.status {
        CheckpointStatus::InProgress => ("in_progress", "IN_PROGRESS"),
        CheckpointStatus::Completed => ("completed", "COMPLETED"),
        CheckpointStatus::Failed(_) => ("failed", "FAILED"),
    };
    let savepoint = stats.kind == CheckpointKind::Savepoint;
    let acknowledged: u32 = stats.vertices.values().map(|v| v.acknowledged).sum();
    let end_to_end = match stats.duration {
        Some(d) => millis(d),
        // In progress: up to the latest acknowledgement, as Flink's.
        None if stats.latest_ack_timestamp > 0 => {
            u64::try_from(stats.latest_ack_timestamp - stats.trigger_timestamp).unwrap_or(0)
        }
        None => 0,
    };
    let tasks: serde_json::Map<String, Value> = if details {
        vertices
            .iter()
            .map(|(vertex, parallelism)| {
                let v = stats.vertices.get(vertex).cloned().unwrap_or_default();
                let value = json!({
                    "id": vertex_id(*vertex),
                    "status": status,
                    "latest_ack_timestamp": v.latest_ack_timestamp,
                    "checkpointed_size": v.state_size,
                    "state_size": v.state_size,
                    "end_to_end_duration": if v.acknowledged > 0 { v.latest_ack_timestamp - stats.trigger_timestamp } else { 0 },
                    "alignment_buffered": 0,
                    "processed_data": 0,
                    "persisted_data": 0,
                    "num_subtasks": parallelism,
                    "num_acknowledged_subtasks": v.acknowledged,
                });
                (vertex_id(*vertex), value)
            })
            .collect()
    } else {
        serde_json::Map::new()
    };
    let mut out = json!({
        "className": class,
        "id": stats.id,
        "status": status,
        "is_savepoint": savepoint,
        "savepointFormat": if savepoint { json!("CANONICAL") } else { Value::Null },
        "trigger_timestamp": stats.trigger_timestamp,
        "latest_ack_timestamp": stats.latest_ack_timestamp,
        "checkpointed_size": stats.state_size,
        "state_size": stats.state_size,
        "end_to_end_duration": end_to_end,
        "alignment_buffered": 0,
        "processed_data": 0,
        "persisted_data": 0,
        "num_subtasks": subtasks,
        "num_acknowledged_subtasks": acknowledged,
        "checkpoint_type": if savepoint { "SAVEPOINT" } else { "CHECKPOINT" },
        "tasks": tasks,
    });
    let map = out.as_object_mut().expect("an object");
    match &stats.status {
        CheckpointStatus::Completed => {
            let path = stats.path.as_deref().map(|p| format!("file:{p}"));
            map.insert("external_path".into(), json!(path));
            map.insert("discarded".into(), json!(!retained && !savepoint));
        }
        CheckpointStatus::Failed(reason) => {
            map.insert("failure_timestamp".into(), json!(stats.trigger_timestamp + end_to_end as i64));
            map.insert("failure_message".into(), json!(reason));
        }
        CheckpointStatus::InProgress => {}
    }
    out
}

/// Flink's min/max/avg/percentiles of `values`.
fn summary(values: &mut [u64]) -> Value {
    values.sort_unstable();
    if values.is_empty() {
        return json!({"min": 0, "max": 0, "avg": 0, "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0, "p999": 0.0});
    }
    let n = values.len();
    let quantile = |q: f64| -> f64 {
        // Flink's (Apache Commons' default) estimate: position q·(n+1), interpolated.
        let pos = q * (n as f64 + 1.0);
        if pos < 1.0 {
            return values[0] as f64;
        }
        if pos >= n as f64 {
            return values[n - 1] as f64;
        }
        let low = values[pos as usize - 1] as f64;
        let high = values[pos as usize] as f64;
        low + (pos - pos.floor()) * (high - low)
    };
    let sum: u64 = values.iter().sum();
    json!({
        "min": values[0],
        "max": values[n - 1],
        "avg": sum / n as u64,
        "p50": quantile(0.5),
        "p90": quantile(0.9),
        "p95": quantile(0.95),
        "p99": quantile(0.99),
        "p999": quantile(0.999),
    })
}

/// The vertices of the job with their parallelism, and its subtasks.
fn shape(record: &JobRecord) -> (Vec<(u32, u32)>, usize) {
    let vertices: Vec<(u32, u32)> = record.graph.vertices.iter().map(|v| (v.id, v.parallelism)).collect();
    (vertices, record.tasks)
}

pub(super) async fn overview(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    with_record(&shared, &id, |record| {
        let history: Vec<CheckpointStats> =
            record.checkpoints.lock().map(|h| h.iter().cloned().collect()).unwrap_or_default();
        let (vertices, subtasks) = shape(record);
        let retained = record.checkpoint_settings.num_retained.max(1) as usize;
        let completed_ids: Vec<u64> = history
            .iter()
            .filter(|s| s.status == CheckpointStatus::Completed && s.kind == CheckpointKind::Checkpoint)
            .map(|s| s.id)
            .collect();
        let is_retained = |s: &CheckpointStats| completed_ids.iter().rev().take(retained).any(|id| *id == s.id);
        let count = |f: &dyn Fn(&CheckpointStats) -> bool| history.iter().filter(|s| f(s)).count();
        let completed: Vec<&CheckpointStats> =
            history.iter().filter(|s| s.status == CheckpointStatus::Completed).collect();
        let mut sizes: Vec<u64> = completed.iter().map(|s| s.state_size).collect();
        let mut durations: Vec<u64> = completed.iter().filter_map(|s| s.duration).map(millis).collect();
        let latest = |f: &dyn Fn(&CheckpointStats) -> bool| {
            history
                .iter()
                .rev()
                .find(|s| f(s))
                .map_or(Value::Null, |s| entry(s, subtasks, &vertices, false, is_retained(s)))
        };
        let restored = record.restored.as_ref().map_or(Value::Null, |r| {
            json!({
                "id": r.id,
                "restore_timestamp": r.timestamp,
                "is_savepoint": r.is_savepoint,
                "external_path": format!("file:{}", r.path),
            })
        });
        let recent: Vec<Value> =
            history.iter().rev().take(HISTORY).map(|s| entry(s, subtasks, &vertices, false, is_retained(s))).collect();
        Json(json!({
            "counts": {
                "restored": record.restores,
                "total": history.len(),
                "in_progress": count(&|s| s.status == CheckpointStatus::InProgress),
                "completed": completed.len(),
                "failed": count(&|s| matches!(s.status, CheckpointStatus::Failed(_))),
            },
            "summary": {
                "checkpointed_size": summary(&mut sizes.clone()),
                "state_size": summary(&mut sizes),
                "end_to_end_duration": summary(&mut durations),
                "alignment_buffered": summary(&mut []),
                "processed_data": summary(&mut []),
                "persisted_data": summary(&mut []),
            },
            "latest": {
                "completed": latest(&|s| s.status == CheckpointStatus::Completed && s.kind == CheckpointKind::Checkpoint),
                "savepoint": latest(&|s| s.status == CheckpointStatus::Completed && s.kind == CheckpointKind::Savepoint),
                "failed": latest(&|s| matches!(s.status, CheckpointStatus::Failed(_))),
                "restored": restored,
            },
            "history": recent,
        }))
    })
}

pub(super) async fn config(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    with_record(&shared, &id, |record| {
        let s = &record.checkpoint_settings;
        let Some(interval) = s.interval else {
            // Flink answers this way for a job without periodic checkpoints.
            return Err(RestError::not_found(format!("Checkpointing is not enabled for job {id}")));
        };
        let externalized = s.retention != CheckpointRetention::NoExternalizedCheckpoints;
        let out = json!({
            "mode": if s.mode == CheckpointingMode::ExactlyOnce { "exactly_once" } else { "at_least_once" },
            "interval": millis(interval),
            "timeout": millis(s.timeout),
            "min_pause": millis(s.min_pause),
            "max_concurrent": s.max_concurrent,
            "externalization": {
                "enabled": externalized,
                "delete_on_cancellation": s.retention != CheckpointRetention::RetainOnCancellation,
            },
            "state_backend": "HashMapStateBackend",
            "checkpoint_storage": if record.checkpoint_dir.is_some() { "FileSystemCheckpointStorage" } else { "JobManagerCheckpointStorage" },
            "unaligned_checkpoints": false,
            "tolerable_failed_checkpoints": s.tolerable_failures,
            "aligned_checkpoint_timeout": 0,
            "checkpoints_after_tasks_finish": true,
            "state_changelog_enabled": false,
            "changelog_periodic_materialization_interval": 600000,
            "changelog_storage": "memory",
        });
        Ok(Json(out))
    })?
}

pub(super) async fn details(
    State(shared): State<Arc<Shared>>,
    Path((id, checkpoint)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let checkpoint: u64 = checkpoint
        .parse()
        .map_err(|_| RestError::bad_request(format!("checkpoint id '{checkpoint}' is not a number")))?;
    with_record(&shared, &id, |record| {
        let history = record.checkpoints.lock().map(|h| h.iter().cloned().collect::<Vec<_>>()).unwrap_or_default();
        let stats = history.iter().find(|s| s.id == checkpoint).ok_or_else(|| {
            RestError::not_found(format!("Could not find checkpointing statistics for checkpoint {checkpoint}."))
        })?;
        let (vertices, subtasks) = shape(record);
        let retained = record.checkpoint_settings.num_retained.max(1) as usize;
        let newer_completed = history
            .iter()
            .filter(|s| {
                s.id > checkpoint && s.status == CheckpointStatus::Completed && s.kind == CheckpointKind::Checkpoint
            })
            .count();
        Ok(Json(entry(stats, subtasks, &vertices, true, newer_completed < retained)))
    })?
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn percentiles_follow_flinks_estimate() {
        let s = summary(&mut [4, 1, 3, 2]);
        assert_eq!((s["min"].as_u64(), s["max"].as_u64(), s["avg"].as_u64()), (Some(1), Some(4), Some(2)));
        assert_eq!(s["p50"].as_f64(), Some(2.5));
        assert_eq!(s["p999"].as_f64(), Some(4.0));
        assert_eq!(summary(&mut [])["p90"].as_f64(), Some(0.0));
    }
}
