//! Rollouts: the workloads a caller may see with their derived state, one workload in full,
//! and the actions on it (restart, pause, resume, scale, roll back, set resources).

use axum::Json;
use axum::extract::{Path, State};
use domain::rollout::{RolloutPage, WorkloadAction, WorkloadKind, WorkloadRef};
use domain::workload_detail::WorkloadDetail;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Body, Caller, Params};
use super::{Done, OnCluster};
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::services::rollouts::RolloutFilter;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rollout_overview))
        .routes(routes!(workload_detail))
        .routes(routes!(act_on_workload))
}

/// Far past any cluster's last page (10,000 namespaces of 200 workloads make 10,000).
const MAX_PAGE: i64 = 100_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RolloutQuery {
    /// Only this namespace.
    namespace: Option<String>,
    /// Only this team's namespaces.
    team: Option<String>,
    /// Only this cluster of the fleet.
    cluster: Option<String>,
    /// The page, from 1 (pages hold whole namespaces, about 200 workloads); past the last,
    /// the last.
    #[param(minimum = 1, maximum = 100000)]
    page: Option<i64>,
}

/// Workloads the caller may see, by namespace, a page at a time.
#[utoipa::path(get, path = "/api/v1/rollouts", tag = "rollouts",
    params(RolloutQuery),
    responses((status = 200, body = RolloutPage),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn rollout_overview(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<RolloutQuery>,
) -> Result<Json<RolloutPage>, ApiError> {
    let filter = RolloutFilter {
        namespace: query.namespace.filter(|n| !n.is_empty()),
        team: query.team.filter(|t| !t.is_empty()),
        cluster: query.cluster.filter(|c| !c.is_empty()),
    };
    let page = match query.page.unwrap_or(1) {
        page @ 1..=MAX_PAGE => page as usize,
        other => {
            return Err(ApiError::BadRequest(format!(
                "page must be 1 to {MAX_PAGE}, not {other}"
            )));
        }
    };
    Ok(Json(
        state
            .services
            .rollout_page(&caller.user, &filter, page)
            .await?,
    ))
}

fn kind(text: &str) -> Result<WorkloadKind, ApiError> {
    WorkloadKind::parse(text).map_err(ApiError::NotFound)
}

/// One workload: its rollout view, pods and recent events.
#[utoipa::path(get, path = "/api/v1/workloads/{kind}/{namespace}/{name}", tag = "rollouts",
    params(("kind" = String, Path, description = "deployments, statefulsets or daemonsets"),
        ("namespace" = String, Path), ("name" = String, Path), OnCluster),
    responses((status = 200, body = WorkloadDetail),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn workload_detail(
    State(state): State<AppState>,
    caller: Caller,
    Path((kind_text, namespace, name)): Path<(String, String, String)>,
    Params(on): Params<OnCluster>,
) -> Result<Json<WorkloadDetail>, ApiError> {
    let target = WorkloadRef {
        cluster: on.cluster.unwrap_or_default(),
        kind: kind(&kind_text)?,
        namespace,
        name,
    };
    Ok(Json(
        state
            .services
            .workload_detail(&caller.user, &target)
            .await?,
    ))
}

/// Restarts, pauses, resumes, scales, rolls back or sets one container's resources.
#[utoipa::path(post, path = "/api/v1/workloads/{kind}/{namespace}/{name}/actions", tag = "rollouts",
    params(("kind" = String, Path, description = "deployments, statefulsets or daemonsets"),
        ("namespace" = String, Path), ("name" = String, Path), OnCluster),
    request_body = WorkloadAction,
    responses((status = 200, body = Done),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["namespaces"]), ("session" = [])))]
async fn act_on_workload(
    State(state): State<AppState>,
    caller: Caller,
    Path((kind_text, namespace, name)): Path<(String, String, String)>,
    Params(on): Params<OnCluster>,
    Body(action): Body<WorkloadAction>,
) -> Result<Json<Done>, ApiError> {
    let target = WorkloadRef {
        cluster: on.cluster.unwrap_or_default(),
        kind: kind(&kind_text)?,
        namespace,
        name,
    };
    let message = state
        .services
        .act_on_workload(&caller.user, &caller.origin, &target, action)
        .await?;
    Ok(Json(Done { message }))
}
