//! The layers every request passes: request id, trace span, timeout, compression, body limit.

use axum::Router;
use axum::response::{IntoResponse, Response};
use http::{Request, StatusCode, header};
use tower::util::MapResponseLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{MakeSpan, TraceLayer};
use tracing::Span;

use super::AppState;
use super::error::ApiError;
use crate::config::HttpConfig;

/// Wraps `router` in the middleware; the last layer added is the first a request meets.
pub fn apply(router: Router<AppState>, http: &HttpConfig) -> Router<AppState> {
    let limit = http.body_limit_bytes;
    let seconds = http.request_timeout.as_secs();
    let hosts = std::sync::Arc::new(http.allowed_hosts.clone());
    router
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(MapResponseLayer::new(security_headers))
        .layer(MapResponseLayer::new(move |response| {
            json_for_bare_errors(response, limit, seconds)
        }))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn(move |request, next| {
            known_host(hosts.clone(), request, next)
        }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            http.request_timeout,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(RequestSpan))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// A span per request carrying its id, so every log line of a request can be found.
#[derive(Clone, Debug)]
struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let id = request
            .extensions()
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .unwrap_or("-");
        tracing::info_span!(
            "request",
            method = %request.method(),
            uri = %request.uri(),
            request_id = %id,
        )
    }
}

/// Answers only requests for a host in `http.allowed_hosts`. Probes and scrapers reach a pod by
/// its address, so health, readiness and metrics (no credentials, nothing to change) answer
/// any host.
async fn known_host(
    hosts: std::sync::Arc<Vec<String>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return next.run(request).await;
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if domain::hosts::allowed(&hosts, &host) {
        next.run(request).await
    } else {
        tracing::warn!(host = %host, "refused a request for an unknown host");
        ApiError::UnknownHost(host.chars().take(100).collect()).into_response()
    }
}

/// Headers that keep a browser from sniffing types, framing Berth (clickjacking) or leaking its
/// URLs to other sites. The policy restricts frames, plugins and `<base>` only: the hydration
/// scripts Leptos inlines would need a nonce per response before scripts can be restricted.
fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::CONTENT_SECURITY_POLICY,
            "frame-ancestors 'none'; object-src 'none'; base-uri 'self'",
        ),
    ] {
        if !headers.contains_key(&name) {
            headers.insert(name, http::HeaderValue::from_static(value));
        }
    }
    response
}

/// The body-limit and timeout layers answer with an empty or plain-text body; clients get the
/// same Problem Details body as from any handler.
fn json_for_bare_errors(response: Response, limit: usize, seconds: u64) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/json") || v.starts_with(super::error::PROBLEM_JSON)
        });
    if is_json {
        return response;
    }
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit }.into_response(),
        StatusCode::REQUEST_TIMEOUT => ApiError::Timeout { seconds }.into_response(),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed.into_response(),
        _ => response,
    }
}
