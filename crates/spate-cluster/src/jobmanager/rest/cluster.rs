//! `/overview`, `/config` and `/jobmanager/config`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::jobmanager::Shared;
use crate::version::VERSION;

/// `/overview`: TaskManagers, slots and jobs by state (Flink's `ClusterOverview`).
pub(super) async fn overview(State(shared): State<Arc<Shared>>) -> Json<Value> {
    use spate_runtime::job_master::JobStatus;
    let (taskmanagers, total, free) = {
        let rm = shared.resources();
        (rm.taskmanagers().count(), rm.total_slots(), rm.free_slots())
    };
    let (mut running, mut finished, mut cancelled, mut failed) = (0, 0, 0, 0);
    for record in shared.jobs.lock().unwrap_or_else(|p| p.into_inner()).values() {
        match record.status {
            JobStatus::Finished => finished += 1,
            JobStatus::Canceled => cancelled += 1,
            JobStatus::Failed => failed += 1,
            JobStatus::Suspended => {}
            _ => running += 1,
        }
    }
    Json(json!({
        "taskmanagers": taskmanagers,
        "slots-total": total,
        "slots-available": free,
        "jobs-running": running,
        "jobs-finished": finished,
        "jobs-cancelled": cancelled,
        "jobs-failed": failed,
        "flink-version": VERSION,
        "flink-commit": "",
    }))
}

/// `/config`: what Flink's dashboard reads first. Spate reports time in UTC.
pub(super) async fn dashboard_config() -> Json<Value> {
    Json(json!({
        "refresh-interval": 3000,
        "timezone-name": "Coordinated Universal Time",
        "timezone-offset": 0,
        "flink-version": VERSION,
        "flink-revision": "",
        "features": {"web-submit": false, "web-cancel": true, "web-rescale": false, "web-history": false},
    }))
}

/// `/jobmanager/config`: the effective configuration as `[{"key", "value"}]`, with
/// secrets masked.
pub(super) async fn jobmanager_config(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let entries: Vec<Value> = shared
        .config
        .iter()
        .map(|(key, value)| {
            let shown = if is_secret(key) { "******" } else { value };
            json!({"key": key, "value": shown})
        })
        .collect();
    Json(Value::Array(entries))
}

/// Whether a configuration key names a secret, whose value REST never shows.
pub(super) fn is_secret(key: &str) -> bool {
    // Flink's list of sensitive keys (GlobalConfiguration.SENSITIVE_KEYS) and Spate's own.
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "credential",
        "jaas.config",
        "fs.azure.account.key",
        "apikey",
        "api-key",
        "auth-params",
        "service-key",
        "basic-auth",
        "http-headers",
    ]
    .iter()
    .any(|s| key.contains(s))
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_recognized_by_flinks_sensitive_keys() {
        for key in ["security.auth.token", "s3.secret-key", "properties.sasl.jaas.config", "metrics.reporter.x.apikey"]
        {
            assert!(super::is_secret(key), "{key}");
        }
        for key in ["parallelism.default", "rest.port", "s3.endpoint"] {
            assert!(!super::is_secret(key), "{key}");
        }
    }
}
