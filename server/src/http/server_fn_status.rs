//! Leptos answers every failed server function with 500, whatever failed. A body that is not
//! the function's arguments, or a caller who is not signed in, is the client's doing: said as
//! 400 and 401, so clients, logs and alerts tell them from the server's own faults.

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

/// The status an encoded server-function error deserves, when it is not the server's fault.
fn status_of(encoded: &str) -> Option<StatusCode> {
    let (kind, message) = encoded.split_once('|')?;
    match kind {
        "Args" | "MissingArg" | "Deserialization" => Some(StatusCode::BAD_REQUEST),
        "ServerError" if message == "sign in first" => Some(StatusCode::UNAUTHORIZED),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_mistakes_are_named_as_such() {
        assert_eq!(
            status_of("Deserialization|EOF while parsing"),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            status_of("ServerError|sign in first"),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(status_of("ServerError|the database could not"), None);
        assert_eq!(status_of("plain text"), None);
    }
}
