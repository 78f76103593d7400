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
    if given == Some(token.as_str()) {
        Ok(())
    } else {
        Err(RestError {
            status: StatusCode::UNAUTHORIZED,
            message: "this call needs the cluster's security.auth.token (Authorization: Bearer TOKEN)".into(),
        })
    }
}
