//! `/api/v1/tokens`: personal API tokens — made (shown once), listed, revoked.

use domain::audit::{NewEvent, Outcome};
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, http::StatusCode};
use domain::authz::{Action, Decision, Target, decide};
use domain::identity::SignedIn;
use serde::Deserialize;

use super::AppState;
use super::auth::RequestOrigin;
use super::error::{ApiError, Problem};

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

fn signed_in(user: Option<Extension<SignedIn>>) -> Result<domain::identity::CurrentUser, ApiError> {
    let user = user
        .map(|Extension(SignedIn(u))| u)
        .ok_or(ApiError::Unauthenticated)?;
    match decide(
        &user.actor(),
        Action::ManageOwnTokens,
        &Target::requested_by(&user.id),
    ) {
        Decision::Allow => Ok(user),
        Decision::Deny(why) => Err(ApiError::Forbidden(why)),
    }
}

/// Makes an API token for the caller (signed in by session: a token cannot make tokens).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "identity",
    request_body = NewToken,
    responses((status = 201, body = CreatedToken),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("session" = [])))]
pub async fn create(
    State(state): State<AppState>,
    user: Option<Extension<SignedIn>>,
    Extension(origin): Extension<RequestOrigin>,
    body: Result<Json<NewToken>, JsonRejection>,
) -> Response {
    let user = match signed_in(user) {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let Json(request) = match body {
        Ok(b) => b,
        Err(rejection) => {
            return ApiError::BadRequest(format!(
                "the body must be JSON like {{\"name\": \"ci\", \"expires_in_days\": 30}}: {}",
                rejection.body_text()
            ))
            .into_response();
        }
    };
    let name = request.name.trim();
    let max = state.auth.token_max_days;
    let days = request.expires_in_days.unwrap_or(max.min(90));
    if let Err(why) = domain::identity::validate_token_request(name, days, max) {
        return ApiError::BadRequest(why).into_response();
    }
    let scopes = match domain::identity::parse_scopes(request.scopes.iter().map(String::as_str)) {
        Ok(scopes) => scopes,
        Err(why) => return ApiError::BadRequest(why).into_response(),
    };
    let audit = NewEvent::by(Some(&user), &origin, "token.create", Outcome::Success);
    match state
        .services
        .store()
        .create_token(
            &user.id,
            name,
            Duration::from_secs(days * 86_400),
            &scopes,
            audit,
        )
        .await
    {
        Ok((info, token)) => (
            StatusCode::CREATED,
            Json(CreatedToken {
                id: info.id,
                name: info.name,
                expires_at: info.expires_at,
                scopes: info.scopes,
                token,
                note: "this is the only time the token is shown".to_owned(),
            }),
        )
            .into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// The caller's API tokens, never the tokens themselves.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "identity",
    responses((status = 200, body = Vec<crate::store::identity::TokenInfo>),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
pub async fn list(State(state): State<AppState>, user: Option<Extension<SignedIn>>) -> Response {
    let user = match signed_in(user) {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    match state.services.store().list_tokens(&user.id).await {
        Ok(tokens) => Json(tokens).into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// Revokes a token: the caller's own; admins any.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "identity",
    params(("id" = String, Path)),
    responses((status = 204, description = "Revoked"),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    user: Option<Extension<SignedIn>>,
    Extension(origin): Extension<RequestOrigin>,
    Path(id): Path<String>,
) -> Response {
    let user = match signed_in(user) {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let audit = NewEvent::by(Some(&user), &origin, "token.revoke", Outcome::Success);
    // Admins revoke anyone's token (a leaked one, a leaver's); everyone else their own.
    let admin = decide(&user.actor(), Action::Administer, &Target::everything()).allowed();
    let owner = (!admin).then_some(user.id.as_str());
    match state.services.store().revoke_token(owner, &id, audit).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) if admin => ApiError::NotFound(format!("no live token {id}")).into_response(),
        Ok(false) => ApiError::NotFound(format!("you have no live token {id}")).into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}
