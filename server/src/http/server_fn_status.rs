//! Leptos answers every failed server function with 500, whatever failed. Its body is a
//! [`Failure`](app::failure::Failure) that says what kind of failure it was: the status says it
//! too (400 / 422 for what was sent, 401, 403, 404, 409, 503), so clients, logs and alerts tell
//! the caller's mistakes and refusals from the server's own faults.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;

/// Error bodies are a line or two; anything bigger is left as it is.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

pub async fn correct(request: Request, next: Next) -> Response {
    let server_fn =
        request.uri().path().starts_with("/api/") && !request.uri().path().starts_with("/api/v1/");
    let response = next.run(request).await;
    if !server_fn || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, ERROR_BODY_LIMIT).await else {
        parts.status = StatusCode::INTERNAL_SERVER_ERROR;
        return Response::from_parts(parts, Body::empty());
    };
    if let Some(status) = status_of(&String::from_utf8_lossy(&bytes)) {
        parts.status = status;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The status a server function's [`Failure`](app::failure::Failure) deserves.
fn status_of(encoded: &str) -> Option<StatusCode> {
    use app::failure::{Failure, FailureKind};
    let failure: Failure = serde_json::from_str(encoded).ok()?;
    Some(match failure.kind {
        FailureKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        FailureKind::Forbidden => StatusCode::FORBIDDEN,
        FailureKind::NotFound => StatusCode::NOT_FOUND,
        FailureKind::Invalid if failure.fields.is_empty() => StatusCode::BAD_REQUEST,
        FailureKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        FailureKind::Conflict => StatusCode::CONFLICT,
        FailureKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_failure_has_its_status() {
        for (body, status) in [
            (
                r#"{"kind":"Invalid","message":"the request was not understood: EOF"}"#,
                400,
            ),
            (
                r#"{"kind":"Unauthenticated","message":"sign in first"}"#,
                401,
            ),
            (r#"{"kind":"Forbidden","message":"not yours"}"#, 403),
            (
                r#"{"kind":"Invalid","message":"x","fields":[{"field":"name","message":"x"}]}"#,
                422,
            ),
            (
                r#"{"kind":"Unavailable","message":"the database could not"}"#,
                503,
            ),
        ] {
            assert_eq!(status_of(body).map(|s| s.as_u16()), Some(status), "{body}");
        }
        assert_eq!(status_of("plain text"), None);
    }
}
