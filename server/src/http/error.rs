//! The HTTP layer's error: a status code and a JSON body `{ "error": code, "message": text }`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request took longer than {seconds} s and was stopped")]
    Timeout { seconds: u64 },
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// Stable, machine-readable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Timeout { .. } => "timeout",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code(), "message": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}
