//! The REST endpoint, in Flink's paths and JSON shapes (see `docs/rest.md`).

mod artifacts;
mod auth;
mod checkpoints;
mod cluster;
mod error;
mod job_details;
mod jobs;
mod results;
mod savepoints;
mod taskmanagers;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

use super::Shared;

pub(super) use error::RestError;

/// Every route.
pub(super) fn router(shared: Arc<Shared>, max_content_length: u64) -> Router {
    // Calls that change anything, hand out code or show what jobs printed and logged
    // need the token, checked before a body is read.
    let guarded = Router::new()
        .route("/taskmanagers/{id}/log", get(taskmanagers::log))
        .route("/taskmanagers/{id}/stdout", get(taskmanagers::stdout))
        .route("/artifacts/{sha256}", get(artifacts::get).head(artifacts::head).put(artifacts::put))
        .route("/jobs", axum::routing::post(jobs::submit))
        .route("/jobs/{id}", axum::routing::patch(jobs::cancel))
        .route("/jobs/{id}/results", get(results::fetch))
        .route("/jobs/{id}/savepoints", axum::routing::post(savepoints::trigger))
        .route("/jobs/{id}/stop", axum::routing::post(savepoints::stop))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), auth::require_token));
    Router::new()
        .merge(guarded)
        .route("/overview", get(cluster::overview))
        .route("/jobs", get(jobs::list))
        .route("/jobs/overview", get(jobs::overview))
        .route("/jobs/{id}/exceptions", get(jobs::exceptions))
        .route("/jobs/{id}/accumulators", get(jobs::accumulators))
        .route("/jobs/{id}/checkpoints", get(checkpoints::overview))
        .route("/jobs/{id}/savepoints/{triggerid}", get(savepoints::status))
        .route("/jobs/{id}/checkpoints/config", get(checkpoints::config))
        .route("/jobs/{id}/checkpoints/details/{checkpointid}", get(checkpoints::details))
        .route("/jobs/{id}", get(job_details::details))
        .route("/jobs/{id}/plan", get(job_details::plan))
        .route("/jobs/{id}/config", get(job_details::config))
        .route("/config", get(cluster::dashboard_config))
        .route("/jobmanager/config", get(cluster::jobmanager_config))
        .route("/taskmanagers", get(taskmanagers::list))
        .route("/taskmanagers/{id}", get(taskmanagers::details))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(usize::try_from(max_content_length).unwrap_or(usize::MAX)))
        .with_state(shared)
}
