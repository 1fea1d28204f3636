//! `/api/v1/tokens`: personal API tokens — made (shown once), listed, revoked.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, http::StatusCode};
use domain::access::{Action, Decision, Target, decide};
use domain::identity::SignedIn;
use serde::Deserialize;

use super::AppState;
use super::auth::{RequestOrigin, event};
use super::error::ApiError;

#[derive(Debug, Deserialize)]
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
    let audit = event(Some(&user), &origin, "token.create", "success");
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
            Json(serde_json::json!({
                "id": info.id,
                "name": info.name,
                "expires_at": info.expires_at,
                "scopes": info.scopes,
                "token": token,
                "note": "this is the only time the token is shown",
            })),
        )
            .into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

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
    let audit = event(Some(&user), &origin, "token.revoke", "success");
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
