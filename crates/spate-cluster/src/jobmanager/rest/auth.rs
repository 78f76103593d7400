//! The shared secret on REST: `Authorization: Bearer TOKEN` when `security.auth.token`
//! is set, for every call that changes anything or hands out code.

use axum::http::{HeaderMap, StatusCode};

use super::RestError;
use crate::jobmanager::Shared;

/// Ok if the cluster has no token, or `headers` carry it.
pub(super) fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), RestError> {
    let Some(token) = &shared.token else { return Ok(()) };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| crate::jobmanager::same_secret(g.as_bytes(), token.as_bytes())) {
        Ok(())
    } else {
        Err(RestError {
            status: StatusCode::UNAUTHORIZED,
            message: "this call needs the cluster's security.auth.token (Authorization: Bearer TOKEN)".into(),
        })
    }
}

/// A layer that refuses a call without the token before its body is read.
pub(super) async fn require_token(
    axum::extract::State(shared): axum::extract::State<std::sync::Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match authorize(&shared, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}
