//! Namespaces: the onboarding form's choices, draft checks, requests and their decisions,
//! extensions and quota changes, tiers, and the quota and capacity views.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use domain::capacity::ClusterCapacity;
use domain::change::{ChangeDraft, ChangeOutcome, ChangeView};
use domain::quota::NamespaceQuota;
use domain::tenancy::{DraftCheck, NamespaceDraft, OnboardingChoices, RequestView, SubmitOutcome};
use domain::tiers::{TierDraft, TierOutcome};
use http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Body, Caller, Params};
use super::{Decision, OnCluster, PageQuery, Submitted, paged};
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(onboarding_options))
        .routes(routes!(list_namespace_requests, submit_draft))
        .routes(routes!(check_draft))
        .routes(routes!(decide_request))
        .routes(routes!(list_namespace_changes, request_change))
        .routes(routes!(decide_change))
        .routes(routes!(save_tier))
        .routes(routes!(quota_overview))
        .routes(routes!(capacity_overview))
}

/// Teams and tiers the onboarding form offers the caller.
#[utoipa::path(get, path = "/api/v1/onboarding", tag = "namespaces",
    responses((status = 200, body = OnboardingChoices),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn onboarding_options(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<OnboardingChoices>, ApiError> {
    Ok(Json(state.services.onboarding_choices(&caller.user).await?))
}

/// Field errors and the manifests a draft would apply; changes nothing.
#[utoipa::path(post, path = "/api/v1/namespace-requests/check", tag = "namespaces",
    request_body = NamespaceDraft,
    responses((status = 200, body = DraftCheck),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn check_draft(
    State(state): State<AppState>,
    caller: Caller,
    Body(draft): Body<NamespaceDraft>,
) -> Result<Json<DraftCheck>, ApiError> {
    Ok(Json(
        state.services.check_draft(&caller.user, &draft).await?,
    ))
}

/// The namespace requests the caller may see, newest first.
#[utoipa::path(get, path = "/api/v1/namespace-requests", tag = "namespaces",
    params(PageQuery),
    responses((status = 200, body = Vec<RequestView>,
            headers(("Link" = String, description = "rel=\"next\": the next page, when there is one"))),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn list_namespace_requests(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<PageQuery>,
) -> Result<Response, ApiError> {
    let (after, limit) = query.parts()?;
    let page = state
        .services
        .namespace_requests(&caller.user, after.as_ref(), limit)
        .await?;
    Ok(paged("/api/v1/namespace-requests", page, limit))
}

/// Requests a namespace; granted at once or left for a manager, as policy says.
#[utoipa::path(post, path = "/api/v1/namespace-requests", tag = "namespaces",
    request_body = NamespaceDraft,
    responses((status = 201, body = Submitted),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["namespaces"]), ("session" = [])))]
async fn submit_draft(
    State(state): State<AppState>,
    caller: Caller,
    Body(draft): Body<NamespaceDraft>,
) -> Result<(StatusCode, Json<Submitted>), ApiError> {
    match state
        .services
        .submit_namespace_request(&caller.user, &caller.origin, draft)
        .await?
    {
        SubmitOutcome::Submitted { id, state } => Ok(Submitted::created(id, state.as_str())),
        SubmitOutcome::Invalid(fields) => Err(ApiError::Invalid(fields)),
    }
}

/// Approves or denies a pending namespace request (managers of its team, admins).
#[utoipa::path(post, path = "/api/v1/namespace-requests/{id}/decision", tag = "namespaces",
    params(("id" = String, Path, description = "The request's id")),
    request_body = Decision,
    responses((status = 200, body = RequestView),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["namespaces"]), ("session" = [])))]
async fn decide_request(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(decision): Body<Decision>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(
        state
            .services
            .decide_namespace_request(
                &caller.user,
                &caller.origin,
                &id,
                decision.approves(),
                &decision.reason,
            )
            .await?,
    ))
}

/// Extensions and quota changes the caller may see, newest first.
#[utoipa::path(get, path = "/api/v1/namespace-changes", tag = "namespaces",
    params(PageQuery),
    responses((status = 200, body = Vec<ChangeView>,
            headers(("Link" = String, description = "rel=\"next\": the next page, when there is one"))),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn list_namespace_changes(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<PageQuery>,
) -> Result<Response, ApiError> {
    let (after, limit) = query.parts()?;
    let page = state
        .services
        .namespace_changes(&caller.user, after.as_ref(), limit)
        .await?;
    Ok(paged("/api/v1/namespace-changes", page, limit))
}

/// Asks to extend a namespace's lifetime or change its tier.
#[utoipa::path(post, path = "/api/v1/namespace-changes", tag = "namespaces",
    request_body = ChangeDraft,
    responses((status = 201, body = Submitted),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["namespaces"]), ("session" = [])))]
async fn request_change(
    State(state): State<AppState>,
    caller: Caller,
    Body(draft): Body<ChangeDraft>,
) -> Result<(StatusCode, Json<Submitted>), ApiError> {
    match state
        .services
        .request_namespace_change(&caller.user, &caller.origin, draft)
        .await?
    {
        ChangeOutcome::Submitted { id, state } => Ok(Submitted::created(id, state.as_str())),
        ChangeOutcome::Invalid(fields) => Err(ApiError::Invalid(fields)),
    }
}

/// Approves or denies a pending extension or quota change.
#[utoipa::path(post, path = "/api/v1/namespace-changes/{id}/decision", tag = "namespaces",
    params(("id" = String, Path, description = "The change's id")),
    request_body = Decision,
    responses((status = 200, body = ChangeView),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["namespaces"]), ("session" = [])))]
async fn decide_change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(decision): Body<Decision>,
) -> Result<Json<ChangeView>, ApiError> {
    Ok(Json(
        state
            .services
            .decide_namespace_change(
                &caller.user,
                &caller.origin,
                &id,
                decision.approves(),
                &decision.reason,
            )
            .await?,
    ))
}

/// Creates or changes a tier (admins).
#[utoipa::path(post, path = "/api/v1/tiers", tag = "namespaces",
    request_body = TierDraft,
    responses((status = 200, body = TierOutcome),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["admin"]), ("session" = [])))]
async fn save_tier(
    State(state): State<AppState>,
    caller: Caller,
    Body(draft): Body<TierDraft>,
) -> Result<Json<TierOutcome>, ApiError> {
    match state
        .services
        .save_tier(&caller.user, &caller.origin, &draft)
        .await?
    {
        TierOutcome::Invalid(fields) => Err(ApiError::Invalid(fields)),
        saved => Ok(Json(saved)),
    }
}

/// Namespaces the caller may see with their quota use, near-quota first.
#[utoipa::path(get, path = "/api/v1/namespaces", tag = "quota",
    responses((status = 200, body = Vec<NamespaceQuota>),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn quota_overview(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<NamespaceQuota>>, ApiError> {
    Ok(Json(state.services.namespace_quotas(&caller.user).await?))
}

/// Node capacity of one cluster: allocatable, requested and stranded, with every cluster's
/// totals and their sum (SREs, managers, admins).
#[utoipa::path(get, path = "/api/v1/capacity", tag = "quota",
    params(OnCluster),
    responses((status = 200, body = ClusterCapacity),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn capacity_overview(
    State(state): State<AppState>,
    caller: Caller,
    Params(on): Params<OnCluster>,
) -> Result<Json<ClusterCapacity>, ApiError> {
    let cluster = on.cluster.unwrap_or_default();
    Ok(Json(
        state
            .services
            .cluster_capacity(&caller.user, &cluster)
            .await?,
    ))
}
