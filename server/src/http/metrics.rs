//! `GET /metrics` (Prometheus text format) and the layer that counts every request by the
//! route it matched (its template, so label values stay few).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

pub async fn metrics(State(state): State<AppState>) -> Response {
    let clusters: Vec<crate::metrics::ClusterGauges> = state
        .services
        .fleet()
        .members()
        .iter()
        .map(|m| crate::metrics::ClusterGauges {
            name: m.name().to_owned(),
            up: m.health().answering,
            cache_sizes: m.caches.sizes(),
        })
        .collect();
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::render(&clusters),
    )
        .into_response()
}

pub async fn count(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || "(static or unmatched)".to_owned(),
        |p| p.as_str().to_owned(),
    );
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    crate::metrics::http_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
