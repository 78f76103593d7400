//! REST errors as Flink writes them: `{"errors": ["…"]}` with the status code.

use axum::Json;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// An error answer.
#[derive(Debug)]
pub(crate) struct RestError {
    pub status: StatusCode,
    pub message: String,
}

impl RestError {
    pub fn not_found(message: impl Into<String>) -> Self {
        RestError { status: StatusCode::NOT_FOUND, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        RestError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "errors": [self.message] }))).into_response()
    }
}

pub(super) async fn not_found(uri: Uri) -> RestError {
    RestError::not_found(format!("Not found: {}", uri.path()))
}

pub(super) async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> RestError {
    RestError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("Method {method} is not allowed on {}", uri.path()),
    }
}
