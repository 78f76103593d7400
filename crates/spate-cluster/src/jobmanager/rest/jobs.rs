//! `/jobs`, `/jobs/overview`, `PATCH /jobs/:id` (cancel) in Flink's shapes, and
//! `POST /jobs` (Spate's own submission: Flink submits through `/jars/:id/run`).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use spate_runtime::job_master::{JobMessage, JobStatus};

use super::RestError;
use crate::jobmanager::Shared;
use crate::jobmanager::dispatcher::{self, JobRecord, Submission, SubmitError};

pub(super) async fn submit(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<Submission>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), RestError> {
    let Json(submission) =
        body.map_err(|rejection| RestError { status: rejection.status(), message: rejection.body_text() })?;
    let shared2 = shared.clone();
    let job_id = tokio::task::spawn_blocking(move || dispatcher::submit(&shared2, submission))
        .await
        .map_err(|e| RestError { status: StatusCode::INTERNAL_SERVER_ERROR, message: e.to_string() })?
        .map_err(|e| {
            let status = match e {
                SubmitError::UnknownArtifact(_)
                | SubmitError::Config(_)
                | SubmitError::Empty
                | SubmitError::Parallelism { .. }
                | SubmitError::NoCheckpointDir
                | SubmitError::Storage { .. } => StatusCode::BAD_REQUEST,
                SubmitError::Start(_) | SubmitError::HighAvailability(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            RestError { status, message: e.to_string() }
        })?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "jobid": job_id }))))
}

pub(super) async fn list(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
    let jobs: Vec<Value> = jobs.iter().map(|(id, r)| json!({"id": id, "status": r.status.name()})).collect();
    Json(json!({ "jobs": jobs }))
}

fn overview_of(id: &str, r: &JobRecord, now: i64) -> Value {
    let end = r.end_ms.unwrap_or(-1);
    let duration = r.end_ms.unwrap_or(now) - r.start_ms;
    let (running, finished, failed, canceled) = match r.status {
        JobStatus::Finished => (0, r.tasks, 0, 0),
        JobStatus::Failed => (0, 0, r.tasks, 0),
        JobStatus::Canceled => (0, 0, 0, r.tasks),
        JobStatus::Running => (r.tasks, 0, 0, 0),
        _ => (0, 0, 0, 0),
    };
    json!({
        "jid": id,
        "name": r.name,
        "jobType": if r.streaming { "STREAMING" } else { "BATCH" },
        "schedulerType": "Default",
        "start-time": r.start_ms,
        "end-time": end,
        "duration": duration,
        "state": r.status.name(),
        "last-modification": r.last_modification,
        "tasks": {
            "running": running,
            "canceling": if r.status == JobStatus::Cancelling { r.tasks } else { 0 },
            "canceled": canceled,
            "total": r.tasks,
            "created": if matches!(r.status, JobStatus::Initializing | JobStatus::Created) { r.tasks } else { 0 },
            "scheduled": 0,
            "deploying": 0,
            "reconciling": 0,
            "finished": finished,
            "initializing": 0,
            "failed": failed,
        },
        "pending-operators": 0,
    })
}

pub(super) async fn overview(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
    let mut newest_first: Vec<(&String, &JobRecord)> = jobs.iter().collect();
    newest_first.sort_by_key(|(_, r)| std::cmp::Reverse(r.start_ms));
    let jobs: Vec<Value> = newest_first.into_iter().map(|(id, r)| overview_of(id, r, now)).collect();
    Json(json!({ "jobs": jobs }))
}

/// `PATCH /jobs/:id` (Flink's `?mode=cancel`, the default): cancels the job.
pub(super) async fn cancel(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), RestError> {
    let jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
    let record = jobs.get(&id).ok_or_else(|| RestError::not_found(format!("Job {id} not found")))?;
    if record.status.is_terminal() {
        return Err(RestError {
            status: StatusCode::CONFLICT,
            message: format!("Job {id} has already ended ({})", record.status.name()),
        });
    }
    let _ = record.inbox.send(JobMessage::Cancel);
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

/// `/jobs/:id/exceptions`: Flink 2's `exceptionHistory`, with the root cause of the
/// job's failure (what ended it; the failures of earlier attempts come with failover).
pub(super) async fn exceptions(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
    let record = jobs.get(&id).ok_or_else(|| RestError::not_found(format!("Job {id} not found")))?;
    // Newest first, as Flink's: the failure that ended the job, then those the job
    // restarted after.
    let ended = record.failure.iter().map(|failure| (record.end_ms.unwrap_or(record.last_modification), failure));
    let restarted = record.exceptions.iter().rev().map(|e| (e.timestamp, &e.failure));
    let entries: Vec<Value> = ended
        .chain(restarted)
        .map(|(timestamp, failure)| {
            json!({
                "exceptionName": "JobFailure",
                "stacktrace": failure,
                "timestamp": timestamp,
                "taskName": Value::Null,
                "location": Value::Null,
                "endpoint": Value::Null,
                "taskManagerId": Value::Null,
                "failureLabels": {},
                "concurrentExceptions": [],
            })
        })
        .collect();
    let truncated = record.exceptions_truncated;
    Ok(Json(json!({ "exceptionHistory": { "entries": entries, "truncated": truncated } })))
}

/// The query of `/jobs/:id/accumulators`.
#[derive(serde::Deserialize)]
pub(super) struct AccumulatorsQuery {
    #[serde(rename = "includeSerializedValue", default)]
    include_serialized_value: bool,
}

/// `/jobs/:id/accumulators`: Flink's shape, the user's accumulators combined over the
/// subtasks that ended. With `includeSerializedValue=true`, each accumulator's
/// per-subtask values in Spate's encoding (what a client needs to read them typed).
pub(super) async fn accumulators(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    query: Result<axum::extract::Query<AccumulatorsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, RestError> {
    let query = query.map_err(|e| RestError::bad_request(format!("/jobs/{id}/accumulators: {e}")))?;
    let jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
    let record = jobs.get(&id).ok_or_else(|| RestError::not_found(format!("Job {id} not found")))?;
    let mut results = spate_runtime::accumulator::AccumulatorResults::default();
    for values in record.accumulators.values() {
        results.add(values.clone());
    }
    let results = &results;
    let user: Vec<Value> = results
        .names()
        .filter_map(|name| {
            let (kind, value) = results.describe(name)?;
            Some(json!({ "name": name, "type": kind, "value": value }))
        })
        .collect();
    let serialized = if query.include_serialized_value {
        serde_json::to_value(&results.values).unwrap_or_else(|_| json!({}))
    } else {
        json!({})
    };
    Ok(Json(json!({
        "job-accumulators": [],
        "user-task-accumulators": user,
        "serialized-user-task-accumulators": serialized,
    })))
}
