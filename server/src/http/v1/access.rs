//! Just-in-time access: requests, reviews, grants, early revocation, break-glass sign-off and
//! the policy that rules them.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use domain::jit::{AccessDetail, AccessOverview, AccessView, Draft};
use http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Decision;
use super::extract::{Body, Caller};
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(access_overview, request_access))
        .routes(routes!(access_detail))
        .routes(routes!(review_access))
        .routes(routes!(revoke_access))
        .routes(routes!(withdraw_access))
        .routes(routes!(sign_off_access))
        .routes(routes!(revoke_all_access))
        .routes(routes!(access_policy_text, save_access_policy))
}

/// The caller's requests, the review queue (SREs) and active grants.
#[utoipa::path(get, path = "/api/v1/access", tag = "access",
    responses((status = 200, body = AccessOverview),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn access_overview(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AccessOverview>, ApiError> {
    Ok(Json(state.services.access_overview(&caller.user).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct AccessRequest {
    #[serde(flatten)]
    draft: Draft,
    /// An active grant of the caller's this request would extend.
    #[serde(default)]
    extends: Option<String>,
}

/// Asks for elevated access; policy decides who must approve it.
#[utoipa::path(post, path = "/api/v1/access", tag = "access",
    request_body = AccessRequest,
    responses((status = 201, body = AccessView),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["access"]), ("session" = [])))]
async fn request_access(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<AccessRequest>,
) -> Result<(StatusCode, Json<AccessView>), ApiError> {
    let view = state
        .services
        .request_access(&caller.user, &caller.origin, body.draft, body.extends)
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One request with its reviews and history.
#[utoipa::path(get, path = "/api/v1/access/{id}", tag = "access",
    params(("id" = String, Path)),
    responses((status = 200, body = AccessDetail),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn access_detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AccessDetail>, ApiError> {
    Ok(Json(state.services.access_detail(&caller.user, &id).await?))
}

/// Approves or denies a request (SREs; never the requester).
#[utoipa::path(post, path = "/api/v1/access/{id}/review", tag = "access",
    params(("id" = String, Path)),
    request_body = Decision,
    responses((status = 200, body = AccessView),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["access"]), ("session" = [])))]
async fn review_access(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(decision): Body<Decision>,
) -> Result<Json<AccessView>, ApiError> {
    Ok(Json(
        state
            .services
            .review_access(
                &caller.user,
                &caller.origin,
                &id,
                decision.approves(),
                &decision.reason,
            )
            .await?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
struct Comment {
    comment: String,
}

/// Ends an active grant early (its requester, SREs).
#[utoipa::path(post, path = "/api/v1/access/{id}/revoke", tag = "access",
    params(("id" = String, Path)),
    request_body = Comment,
    responses((status = 200, body = AccessView),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["access"]), ("session" = [])))]
async fn revoke_access(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<Comment>,
) -> Result<Json<AccessView>, ApiError> {
    Ok(Json(
        state
            .services
            .revoke_access(&caller.user, &caller.origin, &id, &body.comment)
            .await?,
    ))
}

/// Takes back a pending request nobody has decided yet (its requester only; a reviewer
/// denies instead).
#[utoipa::path(post, path = "/api/v1/access/{id}/withdraw", tag = "access",
    params(("id" = String, Path)),
    request_body = Comment,
    responses((status = 200, body = AccessView),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["access"]), ("session" = [])))]
async fn withdraw_access(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<Comment>,
) -> Result<Json<AccessView>, ApiError> {
    Ok(Json(
        state
            .services
            .withdraw_access(&caller.user, &caller.origin, &id, &body.comment)
            .await?,
    ))
}

/// Signs off a break-glass grant after the fact (SREs other than its requester).
#[utoipa::path(post, path = "/api/v1/access/{id}/sign-off", tag = "access",
    params(("id" = String, Path)),
    request_body = Comment,
    responses((status = 200, body = AccessView),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["access"]), ("session" = [])))]
async fn sign_off_access(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<Comment>,
) -> Result<Json<AccessView>, ApiError> {
    Ok(Json(
        state
            .services
            .sign_off_access(&caller.user, &caller.origin, &id, &body.comment)
            .await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Revoked {
    /// How many active grants were ended.
    revoked: usize,
}

/// Ends every active grant at once (admins): the incident switch.
#[utoipa::path(post, path = "/api/v1/access/revoke-all", tag = "access",
    request_body = Comment,
    responses((status = 200, body = Revoked),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["access"]), ("session" = [])))]
async fn revoke_all_access(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<Comment>,
) -> Result<Json<Revoked>, ApiError> {
    let revoked = state
        .services
        .revoke_all_access(&caller.user, &caller.origin, &body.comment)
        .await?;
    Ok(Json(Revoked { revoked }))
}

/// The access policy as YAML (admins); its `ETag` goes back as `If-Match` when saving.
#[utoipa::path(get, path = "/api/v1/access-policy", tag = "access",
    responses((status = 200, body = Vec<domain::jit::Rule>, content_type = "application/yaml",
            headers(("ETag" = String, description = "The version, for If-Match"))),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn access_policy_text(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let text = state.services.access_policy_yaml(&caller.user).await?;
    let tag = crate::services::access::policy_version(&text);
    Ok((
        [
            (header::CONTENT_TYPE, "application/yaml".to_owned()),
            (header::ETAG, tag),
        ],
        text,
    )
        .into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PolicySaved {
    /// How many rules the saved policy holds.
    rules: usize,
}

/// Replaces the access policy with the YAML in the body (admins); checked whole first. With
/// `If-Match`, only if nobody changed it since.
#[utoipa::path(put, path = "/api/v1/access-policy", tag = "access",
    params(("If-Match" = Option<String>, Header, description = "The ETag the policy was read with")),
    request_body(content = Vec<domain::jit::Rule>, content_type = "application/yaml"),
    responses((status = 200, body = PolicySaved),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["admin"]), ("session" = [])))]
async fn save_access_policy(
    State(state): State<AppState>,
    caller: Caller,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<PolicySaved>, ApiError> {
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::BadRequest("the policy must be UTF-8 YAML text".to_owned()))?;
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "send the policy as YAML: a list of rules (GET this path for the current one)"
                .to_owned(),
        ));
    }
    let expected = super::if_match(&headers)?;
    let rules = state
        .services
        .save_access_policy(&caller.user, &caller.origin, &text, expected.as_ref())
        .await?;
    Ok(Json(PolicySaved { rules }))
}
