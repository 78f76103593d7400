//! Savepoints over REST, in Flink's shapes: `POST /jobs/:id/savepoints` and
//! `POST /jobs/:id/stop` answer 202 with a `request-id` at once; the savepoint is taken
//! by the job master (its barrier crosses every worker, each writes its own state);
//! `GET /jobs/:id/savepoints/:triggerid` says where it stands and, once done, its
//! location or why it failed.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use spate_core::config::{Configuration, fault_tolerance as ft};
use spate_runtime::checkpoint::CheckpointStorage;
use spate_runtime::job_master::JobMessage;

use super::RestError;
use crate::jobmanager::Shared;
use crate::jobmanager::dispatcher::SavepointOperation;

/// The body of `POST /jobs/:id/savepoints` (Flink's `SavepointTriggerRequestBody`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TriggerBody {
    #[serde(rename = "target-directory")]
    target_directory: Option<String>,
    /// Stop the job once the savepoint completed (Flink's deprecated cancel-with-
    /// savepoint; Spate stops it, as `stop` does: see docs/rest.md).
    #[serde(rename = "cancel-job", default)]
    cancel_job: bool,
    #[serde(rename = "formatType")]
    format_type: Option<String>,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
}

/// The body of `POST /jobs/:id/stop` (Flink's `StopWithSavepointRequestBody`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct StopBody {
    #[serde(rename = "targetDirectory")]
    target_directory: Option<String>,
    #[serde(default)]
    drain: bool,
    #[serde(rename = "formatType")]
    format_type: Option<String>,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
}

fn body<T: Default>(body: Result<Json<T>, JsonRejection>) -> Result<T, RestError> {
    match body {
        Ok(Json(body)) => Ok(body),
        // No body at all: every field has its default.
        Err(JsonRejection::MissingJsonContentType(_)) => Ok(T::default()),
        Err(rejection) => Err(RestError { status: rejection.status(), message: rejection.body_text() }),
    }
}

/// Spate writes one format: canonical and native name the same files (docs/rest.md).
fn check_format(format: Option<&str>) -> Result<(), RestError> {
    match format.map(str::to_ascii_uppercase).as_deref() {
        None | Some("CANONICAL" | "NATIVE") => Ok(()),
        Some(other) => Err(RestError::bad_request(format!("formatType {other}: expected CANONICAL or NATIVE"))),
    }
}

pub(super) async fn trigger(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    request: Result<Json<TriggerBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), RestError> {
    let request = body(request)?;
    check_format(request.format_type.as_deref())?;
    start(&shared, &id, request.target_directory, request.cancel_job, false, request.trigger_id).await
}

pub(super) async fn stop(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    request: Result<Json<StopBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), RestError> {
    let request = body(request)?;
    check_format(request.format_type.as_deref())?;
    start(&shared, &id, request.target_directory, true, request.drain, request.trigger_id).await
}

/// Hands the job master a savepoint request; answers with its trigger id.
async fn start(
    shared: &Arc<Shared>,
    id: &str,
    target: Option<String>,
    stop: bool,
    drain: bool,
    trigger_id: Option<String>,
) -> Result<(StatusCode, Json<Value>), RestError> {
    // Where it goes, from the request or the job's configuration (or the cluster's).
    let configured = {
        let jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let record = jobs.get(id).ok_or_else(|| RestError::not_found(format!("Job {id} not found")))?;
        match Configuration::from_pairs(&record.config).get(&ft::SAVEPOINT_DIR) {
            Ok(Some(dir)) => Some(dir),
            _ => shared.config.get(&ft::SAVEPOINT_DIR).ok().flatten(),
        }
    };
    let Some(dir) = target.or(configured) else {
        return Err(RestError::bad_request(
            "Config key [execution.checkpointing.savepoint-dir] is not set. Property [target-directory] must be \
             provided.",
        ));
    };
    if !CheckpointStorage::is_absolute(&dir) {
        return Err(RestError::bad_request(format!(
            "savepoint directory '{dir}' is relative: give an absolute path or a file:// URL"
        )));
    }
    // Creating the directory may be slow (a network filesystem): off the runtime's
    // threads, and without holding the jobs' lock.
    let location = dir.clone();
    let storage = tokio::task::spawn_blocking(move || CheckpointStorage::open(&location))
        .await
        .map_err(|e| RestError { status: StatusCode::INTERNAL_SERVER_ERROR, message: e.to_string() })?
        .map_err(|e| RestError::bad_request(e.to_string()))?;
    let mut jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
    let record = jobs.get_mut(id).ok_or_else(|| RestError::not_found(format!("Job {id} not found")))?;
    if record.status.is_terminal() {
        return Err(RestError {
            status: StatusCode::CONFLICT,
            message: format!("Job {id} has already ended ({})", record.status.name()),
        });
    }
    let trigger = match trigger_id {
        Some(t) if record.savepoints.contains_key(&t) => {
            // Flink's idempotent retry: the same trigger id is the same request.
            return Ok((StatusCode::ACCEPTED, Json(json!({ "request-id": t }))));
        }
        Some(t) => t,
        None => spate_core::job_id::JobId::generate().to_string(),
    };
    record.next_savepoint_request += 1;
    let request = record.next_savepoint_request;
    let operation = match record.inbox.send(JobMessage::TriggerSavepoint { request, storage, stop, drain }) {
        Ok(()) => {
            record.savepoint_requests.insert(request, trigger.clone());
            SavepointOperation::InProgress
        }
        // Its master just ended.
        Err(_) => SavepointOperation::Failed(format!("job {id} ended before the savepoint could start")),
    };
    record.savepoints.insert(trigger.clone(), operation);
    tracing::info!(job = %id, %trigger, %dir, stop, drain, "savepoint requested");
    Ok((StatusCode::ACCEPTED, Json(json!({ "request-id": trigger }))))
}

pub(super) async fn status(
    State(shared): State<Arc<Shared>>,
    Path((id, trigger)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
    let record = jobs.get(&id).ok_or_else(|| RestError::not_found(format!("Job {id} not found")))?;
    let operation = record.savepoints.get(&trigger).ok_or_else(|| {
        RestError::not_found(format!("There is no savepoint operation with triggerId={trigger} for job {id}"))
    })?;
    Ok(Json(match operation {
        SavepointOperation::InProgress => json!({ "status": { "id": "IN_PROGRESS" }, "operation": null }),
        SavepointOperation::Completed(path) => {
            json!({ "status": { "id": "COMPLETED" }, "operation": { "location": format!("file:{path}") } })
        }
        SavepointOperation::Failed(reason) => json!({
            "status": { "id": "COMPLETED" },
            "operation": { "failure-cause": { "class": "SavepointFailed", "stack-trace": reason, "serialized-throwable": null } },
        }),
    }))
}
