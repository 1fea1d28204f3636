//! The fleet: the clusters Berth serves, their health, and the registry admins change while
//! Berth runs.

use axum::Json;
use axum::extract::{Path, State};
use domain::fleet::{ClusterDraft, ClusterSummary};
use http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Body, Caller};
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clusters, add_cluster))
        .routes(routes!(remove_cluster))
}

/// Every cluster, the home one first, with its last known health.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "clusters",
    responses((status = 200, body = Vec<ClusterSummary>),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn list_clusters(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<ClusterSummary>>, ApiError> {
    Ok(Json(state.services.clusters()))
}

/// Registers a cluster (admins): its kubeconfig must be readable and its API server must
/// answer. Watches start at once; no restart.
#[utoipa::path(post, path = "/api/v1/clusters", tag = "clusters",
    request_body = ClusterDraft,
    responses((status = 201, body = ClusterSummary),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["admin"]), ("session" = [])))]
async fn add_cluster(
    State(state): State<AppState>,
    caller: Caller,
    Body(draft): Body<ClusterDraft>,
) -> Result<(StatusCode, Json<ClusterSummary>), ApiError> {
    let summary = state
        .services
        .add_cluster(&caller.user, &caller.origin, draft)
        .await?;
    Ok((StatusCode::CREATED, Json(summary)))
}

/// Takes a registered cluster out of the fleet (admins); configured ones leave with the
/// configuration file.
#[utoipa::path(delete, path = "/api/v1/clusters/{name}", tag = "clusters",
    params(("name" = String, Path)),
    responses((status = 204),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["admin"]), ("session" = [])))]
async fn remove_cluster(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .remove_cluster(&caller.user, &caller.origin, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
