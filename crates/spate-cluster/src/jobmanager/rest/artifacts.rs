//! `PUT`, `HEAD` and `GET /artifacts/:sha256`: Spate's own endpoints for the
//! application binaries `spate run` uploads and TaskManagers download. Every call needs
//! `security.auth.token` when the cluster has one (checked by a layer, before the body
//! is read).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::RestError;
use crate::jobmanager::Shared;
use crate::jobmanager::artifact_store::ArtifactError;

fn failed(error: ArtifactError) -> RestError {
    let status = match error {
        ArtifactError::BadHash(_) | ArtifactError::Mismatch { .. } => StatusCode::BAD_REQUEST,
        ArtifactError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    RestError { status, message: error.to_string() }
}

/// The stored file of `hash`, looked up off the runtime's threads (a file not yet
/// checked in this process is read and hashed).
async fn lookup(shared: &Arc<Shared>, hash: String) -> Result<Option<std::path::PathBuf>, RestError> {
    let store = shared.artifacts.clone();
    tokio::task::spawn_blocking(move || store.get(&hash))
        .await
        .map_err(|e| RestError { status: StatusCode::INTERNAL_SERVER_ERROR, message: e.to_string() })?
        .map_err(failed)
}

/// Stores the body as artifact `hash` (which it must hash to).
pub(super) async fn put(
    State(shared): State<Arc<Shared>>,
    Path(hash): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RestError> {
    let body = body.map_err(|rejection| RestError {
        status: rejection.status(),
        message: format!("{} (rest.server.max-content-length)", rejection.body_text()),
    })?;
    let store = shared.artifacts.clone();
    let stored = tokio::task::spawn_blocking(move || store.put(&hash, &body).map(|_| hash))
        .await
        .map_err(|e| RestError { status: StatusCode::INTERNAL_SERVER_ERROR, message: e.to_string() })?
        .map_err(failed)?;
    Ok((StatusCode::CREATED, Json(json!({ "sha256": stored }))).into_response())
}

/// 200 if artifact `hash` is stored, 404 if not.
pub(super) async fn head(State(shared): State<Arc<Shared>>, Path(hash): Path<String>) -> Result<StatusCode, RestError> {
    match lookup(&shared, hash.clone()).await? {
        Some(_) => Ok(StatusCode::OK),
        None => Err(RestError::not_found(format!("artifact {hash} is not stored"))),
    }
}

/// The bytes of artifact `hash`.
pub(super) async fn get(State(shared): State<Arc<Shared>>, Path(hash): Path<String>) -> Result<Response, RestError> {
    let path = lookup(&shared, hash.clone())
        .await?
        .ok_or_else(|| RestError::not_found(format!("artifact {hash} is not stored")))?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| RestError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("{}: {e}", path.display()),
    })?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}
