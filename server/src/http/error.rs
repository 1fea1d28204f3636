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
    #[error("sign in first")]
    Unauthenticated,
    #[error("the API token is unknown, expired or revoked")]
    BadToken,
    #[error("{0}")]
    SignInFailed(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(
        "cross-site request refused: a state-changing request must come from this site's own pages \
         (its Origin or Referer did not match the host)"
    )]
    CrossSite,
    #[error("{0}")]
    BadRequest(String),
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("this server does not answer to the host {0:?}; add it to http.allowed_hosts")]
    UnknownHost(String),
    #[error("too many failed attempts from this address; wait a minute and try again")]
    TooManyAttempts,
    #[error("too many live views open; close some tabs and reload")]
    TooManyStreams,
    #[error(
        "this token's owner has not signed in to Berth for too long: their roles may have changed; sign in to refresh them"
    )]
    StaleRoles,
}

/// The database's own words stay in the log (they can carry queries and the input that broke
/// them); the client hears that it was the database.
impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        ApiError::from(crate::services::ServiceError::from(err))
    }
}

impl From<crate::services::ServiceError> for ApiError {
    fn from(err: crate::services::ServiceError) -> Self {
        use crate::services::ServiceError;
        match err {
            ServiceError::Forbidden(why) => ApiError::Forbidden(why),
            ServiceError::BadInput(why) => ApiError::BadRequest(why),
            ServiceError::NotFound(why) => ApiError::NotFound(why),
            ServiceError::Conflict(why) => ApiError::Conflict(why),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthenticated
            | ApiError::BadToken
            | ApiError::StaleRoles
            | ApiError::SignInFailed(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Forbidden(_) | ApiError::CrossSite => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::UnknownHost(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::TooManyAttempts | ApiError::TooManyStreams => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// Stable, machine-readable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Timeout { .. } => "timeout",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::BadToken => "bad_token",
            ApiError::SignInFailed(_) => "sign_in_failed",
            ApiError::NotFound(_) => "not_found",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::CrossSite => "cross_site",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Conflict(_) => "conflict",
            ApiError::UnknownHost(_) => "unknown_host",
            ApiError::TooManyAttempts => "too_many_attempts",
            ApiError::TooManyStreams => "too_many_streams",
            ApiError::StaleRoles => "stale_roles",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code(), "message": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}
