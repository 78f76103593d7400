//! `GET /jobs/:id/results` (Spate's own): the results of an `execute_and_collect` job,
//! a page at a time, as Flink's client fetches them through the JobManager from the
//! collect sink's coordinator. The JobManager holds no results: it asks the
//! TaskManager whose worker runs the collect sink and passes the page on, so its memory
//! stays bounded by the pages in flight.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

use super::RestError;
use crate::jobmanager::Shared;
use crate::rpc::ResultPage;

/// The query: the first record wanted (every record before it is acknowledged) and the
/// most bytes of records one page may carry.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResultsQuery {
    /// The version of the results the client has seen (0: none).
    #[serde(default)]
    version: u64,
    offset: u64,
    #[serde(rename = "max-bytes", default = "default_max_bytes")]
    max_bytes: u32,
}

fn default_max_bytes() -> u32 {
    2 << 20
}

fn unavailable(message: String) -> RestError {
    RestError { status: StatusCode::SERVICE_UNAVAILABLE, message }
}

/// A page of results; 503 while no worker of the job's current attempt runs (it is
/// being scheduled, deployed or restarted: ask again), 502 when its TaskManager could
/// not answer, 404 for an unknown job.
pub(super) async fn fetch(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    query: Result<Query<ResultsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ResultPage>, RestError> {
    let Query(query) = query.map_err(|e| RestError::bad_request(format!("/jobs/{id}/results: {e}")))?;
    // With one slot-sharing group, slot 0 holds subtask 0 of every vertex, and so the
    // collect sink (parallelism 1): its TaskManager is the first subtask's.
    let (attempt, taskmanager, ended) = {
        let jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let record = jobs.get(&id).ok_or_else(|| RestError::not_found(format!("Job {id} not found")))?;
        let ended = record.end_ms.is_some();
        match &record.placement {
            Some((attempt, taskmanagers)) if *attempt == record.attempt && !taskmanagers.is_empty() => {
                (*attempt, taskmanagers[0].clone(), ended)
            }
            _ => (record.attempt, String::new(), ended),
        }
    };
    if ended {
        return Err(RestError { status: StatusCode::CONFLICT, message: format!("Job {id} has ended") });
    }
    if taskmanager.is_empty() {
        return Err(unavailable(format!("job {id} has no running attempt yet")));
    }
    let address = {
        let rm = shared.resources();
        let entry = rm.get(&taskmanager).ok_or_else(|| unavailable(format!("TaskManager {taskmanager} is gone")))?;
        entry.registration.rpc_address.clone()
    };
    let client = shared.executor(&address).await.map_err(unavailable)?;
    let answer = client
        .fetch_results(
            tarpc::context::current(),
            crate::rpc::ResultsRequest {
                job_id: id.clone(),
                attempt,
                version: query.version,
                offset: query.offset,
                max_bytes: query.max_bytes,
            },
            shared.token.clone(),
        )
        .await;
    // 502: the TaskManager was reached and could not answer (the client gives up
    // after a while); 503 above: no attempt runs its sink now (the client asks again).
    let bad_gateway = |message: String| RestError { status: StatusCode::BAD_GATEWAY, message };
    let page = match answer {
        // Its worker is still starting (or already gone, and the job ends or restarts).
        Ok(Err(e @ crate::rpc::WorkerRefusal::NoWorker(_))) => {
            return Err(unavailable(format!("TaskManager {taskmanager}: {e}")));
        }
        Ok(answer) => answer.map_err(|e| bad_gateway(format!("TaskManager {taskmanager}: {e}")))?,
        Err(e) => {
            shared.forget_executor(&address);
            return Err(bad_gateway(format!("TaskManager {taskmanager}: {e}")));
        }
    };
    page.map(Json).ok_or_else(|| RestError::not_found(format!("job {id} collects no results")))
}
