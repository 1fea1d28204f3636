//! `/healthz`: the process is alive. `/readyz`: its dependencies answer.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use super::AppState;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = state.services.readiness().await;
    match readiness.reason() {
        None => (StatusCode::OK, Json(readiness)).into_response(),
        Some(reason) => {
            tracing::warn!(%reason, "not ready");
            // A problem (RFC 9457) like every other error, with the checks beside it.
            let body = json!({
                "type": "urn:berth:problem:not_ready",
                "title": "Service Unavailable",
                "status": 503,
                "detail": reason,
                "code": "not_ready",
                "ready": false,
                "checks": readiness.checks,
            });
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(http::header::CONTENT_TYPE, super::error::PROBLEM_JSON)],
                body.to_string(),
            )
                .into_response()
        }
    }
}
