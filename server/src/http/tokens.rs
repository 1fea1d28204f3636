//! `/api/v1/tokens`: personal API tokens — made (shown once), listed, revoked — through the
//! same service as the Tokens page.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, Problem};
use super::v1::extract::{Body, Caller};

/// A new token, shown this once.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    id: String,
    name: String,
    expires_at: String,
    scopes: Vec<String>,
    /// The token itself: send it as `Authorization: Bearer <token>`.
    token: String,
    note: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    /// 1 to `auth.token_max_days`; 90 (or that maximum) when absent.
    expires_in_days: Option<u64>,
    /// Besides read (always): `namespaces`, `access`, `admin`.
    #[serde(default)]
    scopes: Vec<String>,
}

/// Makes an API token for the caller (signed in by session: a token cannot make tokens).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "identity",
    request_body = NewToken,
    responses((status = 201, body = CreatedToken),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(request): Body<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let days = state.services.token_days(request.expires_in_days);
    let (info, token) = state
        .services
        .create_token(
            &caller.user,
            &caller.origin,
            &request.name,
            days,
            request.scopes.iter().map(String::as_str),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: info.id,
            name: info.name,
            expires_at: info.expires_at,
            scopes: info.scopes,
            token,
            note: "this is the only time the token is shown".to_owned(),
        }),
    ))
}

/// The caller's API tokens, never the tokens themselves.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "identity",
    responses((status = 200, body = Vec<crate::store::identity::TokenInfo>),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<crate::store::identity::TokenInfo>>, ApiError> {
    Ok(Json(state.services.list_tokens(&caller.user).await?))
}

/// Revokes a token: the caller's own; admins any.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "identity",
    params(("id" = String, Path)),
    responses((status = 204, description = "Revoked"),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .revoke_token(&caller.user, &caller.origin, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
