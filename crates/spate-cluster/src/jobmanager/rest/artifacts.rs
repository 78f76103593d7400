//! `PUT`, `HEAD` and `GET /artifacts/:sha256`: Spate's own endpoints for the
//! application binaries `spate run` uploads and TaskManagers download. Every call needs
//! `security.auth.token` when the cluster has one (checked by a layer, before the body
//! is read).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::RestError;
use crate::jobmanager::Shared;
use crate::jobmanager::artifact_store::{ArtifactError, HashingWriter};

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

/// Stores the body as artifact `hash` (which it must hash to), streamed into a
/// temporary file and hashed on the way, so that no upload is held in memory; at most
/// `rest.server.max-content-length` bytes.
pub(super) async fn put(
    State(shared): State<Arc<Shared>>,
    Path(hash): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Response, RestError> {
    use futures::StreamExt as _;
    use std::io::Write as _;
    let internal = |message: String| RestError { status: StatusCode::INTERNAL_SERVER_ERROR, message };
    let limit = shared.max_content_length;
    let too_large = || RestError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!("the upload is larger than {limit} bytes (rest.server.max-content-length)"),
    };
    // Refused before a byte is read when the client says how much comes.
    let declared = headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let tmp = shared.artifacts.temporary(&hash).map_err(failed)?;
    let file = std::fs::File::create(&tmp).map_err(|e| internal(format!("{}: {e}", tmp.display())))?;
    // Removed unless stored: also when the client goes away mid-upload (the handler is
    // dropped then).
    let _guard = RemoveOnDrop(tmp.clone());
    let mut sink = HashingWriter::new(std::io::BufWriter::new(file));
    let mut chunks = body.into_data_stream();
    let streamed: Result<(), RestError> = async {
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| RestError::bad_request(format!("the upload broke off: {e}")))?;
            if sink.written() + chunk.len() as u64 > limit {
                return Err(too_large());
            }
            // A local file: a short blocking write, as tokio's own file writes are.
            sink.write_all(&chunk).map_err(|e| internal(format!("{}: {e}", tmp.display())))?;
        }
        Ok(())
    }
    .await;
    if let Err(error) = streamed {
        let _ = std::fs::remove_file(&tmp);
        return Err(error);
    }
    let (mut file, actual, _) = sink.finish();
    file.flush().map_err(|e| internal(format!("{}: {e}", tmp.display())))?;
    drop(file);
    let store = shared.artifacts.clone();
    let stored = tokio::task::spawn_blocking(move || store.commit(&hash, &tmp, &actual).map(|_| hash))
        .await
        .map_err(|e| internal(e.to_string()))?
        .map_err(failed)?;
    Ok((StatusCode::CREATED, Json(json!({ "sha256": stored }))).into_response())
}

/// Removes a temporary upload when dropped (a stored one was renamed away already).
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// 200 if artifact `hash` is stored, 404 if not.
pub(super) async fn head(State(shared): State<Arc<Shared>>, Path(hash): Path<String>) -> Result<StatusCode, RestError> {
    match lookup(&shared, hash.clone()).await? {
        Some(_) => Ok(StatusCode::OK),
        None => Err(RestError::not_found(format!("artifact {hash} is not stored"))),
    }
}

/// The bytes of artifact `hash`, streamed from its file.
pub(super) async fn get(State(shared): State<Arc<Shared>>, Path(hash): Path<String>) -> Result<Response, RestError> {
    let path = lookup(&shared, hash.clone())
        .await?
        .ok_or_else(|| RestError::not_found(format!("artifact {hash} is not stored")))?;
    let file = tokio::fs::File::open(&path).await.map_err(|e| RestError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("{}: {e}", path.display()),
    })?;
    let length = file.metadata().await.map(|m| m.len()).ok();
    let chunks = futures::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt as _;
        let mut chunk = vec![0u8; 256 << 10];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let mut response = axum::body::Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/octet-stream"));
    if let Some(length) = length {
        headers.insert(axum::http::header::CONTENT_LENGTH, axum::http::HeaderValue::from(length));
    }
    Ok(response)
}
