//! The HTTP layer's error: a status code and a Problem Details body (RFC 9457,
//! `application/problem+json`): `type`, `title`, `status`, `detail`, and Berth's own `code`
//! (stable, for scripts) and, for a form with several things wrong, `errors`.

use axum::response::{IntoResponse, Response};
use domain::tenancy::FieldError;
use http::{StatusCode, header};
use serde::Serialize;

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
    /// Several things wrong with what was sent, each in words, by field where there is one.
    #[error("{}", describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("this server does not answer to the host {0:?}; add it to http.allowed_hosts")]
    UnknownHost(String),
    #[error("there is no such API call; the calls are listed at /api/v1/docs")]
    NoRoute,
    #[error("this API call does not take that method; see /api/v1/docs")]
    MethodNotAllowed,
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
            ServiceError::Stale(why) => ApiError::PreconditionFailed(why),
            ServiceError::Invalid(fields) => ApiError::Invalid(fields),
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
            ApiError::NotFound(_) | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Forbidden(_) | ApiError::CrossSite => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
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
            ApiError::NoRoute => "no_route",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::CrossSite => "cross_site",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Invalid(_) => "invalid",
            ApiError::PreconditionFailed(_) => "precondition_failed",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Conflict(_) => "conflict",
            ApiError::UnknownHost(_) => "unknown_host",
            ApiError::TooManyAttempts => "too_many_attempts",
            ApiError::TooManyStreams => "too_many_streams",
            ApiError::StaleRoles => "stale_roles",
        }
    }
}

fn describe(problems: &[FieldError]) -> String {
    let parts: Vec<String> = problems
        .iter()
        .map(|p| {
            if p.field.is_empty() {
                p.message.clone()
            } else {
                format!("{}: {}", p.field, p.message)
            }
        })
        .collect();
    parts.join("; ")
}

/// The body of every error answer (RFC 9457 Problem Details).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:berth:problem:<code>`: names the kind of problem, not a page to fetch.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's own phrase.
    pub title: String,
    pub status: u16,
    /// What went wrong, in words meant for the caller.
    pub detail: String,
    /// Berth's stable code for the problem (`forbidden`, `invalid`, `conflict`, …).
    pub code: String,
    /// Each thing wrong with what was sent (`invalid`); `field` is empty for the whole.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    pub fn problem(&self) -> Problem {
        let status = self.status();
        Problem {
            kind: format!("urn:berth:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code().to_owned(),
            errors: match self {
                ApiError::Invalid(problems) => problems.clone(),
                _ => Vec::new(),
            },
        }
    }
}

/// The media type of [`Problem`] bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            // Inside the request's span, so the line carries its request id; the client has
            // the same id in its `x-request-id` header to quote.
            tracing::warn!(code = self.code(), detail = %self, "answered with a server error");
        }
        let problem = self.problem();
        match serde_json::to_vec(&problem) {
            Ok(body) => {
                (self.status(), [(header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response()
            }
            Err(_) => self.status().into_response(),
        }
    }
}
