//! Sign-in through an OpenID Connect provider, the browser's part: off to the provider and
//! back, the callback bound to the browser that began it by a cookie. The protocol (PKCE,
//! state and nonce, the token exchange, groups) is `services::oidc`.

use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::audit::{NewEvent, Outcome};
use serde::Deserialize;

use super::AppState;
use super::auth::{RequestOrigin, signed_in_response};
use super::error::ApiError;
use crate::services::oidc::OidcError;

impl From<OidcError> for ApiError {
    fn from(err: OidcError) -> Self {
        match err {
            OidcError::Service(err) => ApiError::from(err),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

/// Holds the sign-in's state in the browser that started it: a callback is accepted only with
/// the same value, so a callback URL from someone else's sign-in (login CSRF: the attacker's
/// code, sent to a victim) signs nobody in. Lax, because the provider's redirect back is a
/// top-level navigation from another site.
const STATE_COOKIE: &str = "berth_oidc_state";

fn state_cookie(value: &str, secure: bool) -> http::HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    http::HeaderValue::from_str(&format!(
        "{STATE_COOKIE}={value}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=600{secure}"
    ))
    .unwrap_or_else(|_| http::HeaderValue::from_static(""))
}

/// Carries the page to return to across the provider's round trip, hex-encoded (a cookie
/// value takes no `;`, `,` or spaces).
const NEXT_COOKIE: &str = "berth_oidc_next";

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<String> {
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[derive(Debug, Default, Deserialize)]
pub struct Login {
    #[serde(default)]
    next: String,
}

/// `GET /auth/oidc/login`: off to the provider.
pub async fn login(State(state): State<AppState>, Query(params): Query<Login>) -> Response {
    let Some(config) = state.oidc.as_deref() else {
        return ApiError::NotFound(
            "sign-in through an identity provider is not configured".to_owned(),
        )
        .into_response();
    };
    let outcome = state.services.begin_oidc_sign_in(config).await;
    match outcome {
        Ok((url, csrf)) => {
            let mut response = Redirect::to(&url).into_response();
            response.headers_mut().append(
                http::header::SET_COOKIE,
                state_cookie(&csrf, state.auth.secure_cookies),
            );
            if let Some(next) = domain::identity::return_path(&params.next) {
                let secure = if state.auth.secure_cookies {
                    "; Secure"
                } else {
                    ""
                };
                if let Ok(value) = http::HeaderValue::from_str(&format!(
                    "{NEXT_COOKIE}={}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=600{secure}",
                    hex(next)
                )) {
                    response
                        .headers_mut()
                        .append(http::header::SET_COOKIE, value);
                }
            }
            response
        }
        Err(why) => ApiError::from(why).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/oidc/callback`: the provider sends the browser back with a code.
pub async fn callback(
    State(state): State<AppState>,
    Query(params): Query<Callback>,
    request: Request,
) -> Response {
    let origin = request
        .extensions()
        .get::<RequestOrigin>()
        .cloned()
        .unwrap_or_default();
    let Some(config) = state.oidc.as_deref() else {
        return ApiError::NotFound(
            "sign-in through an identity provider is not configured".to_owned(),
        )
        .into_response();
    };
    if let Some(error) = params.error {
        return refuse(
            &state,
            &origin,
            format!(
                "the provider said {error}: {}",
                params.error_description.unwrap_or_default()
            ),
            401,
        );
    }
    let (Some(code), Some(csrf)) = (params.code, params.state) else {
        return refuse(
            &state,
            &origin,
            "the callback carries no code or state".to_owned(),
            400,
        );
    };
    // Checked before the state is used up: a stranger's callback leaves the real sign-in
    // (the attacker's own) untouched, and signs nobody in here.
    let bound = super::auth::cookie(request.headers(), STATE_COOKIE);
    if bound.as_deref() != Some(csrf.as_str()) {
        return refuse(
            &state,
            &origin,
            "this sign-in was started in another browser (or over ten minutes ago); start again"
                .to_owned(),
            400,
        );
    }
    match state
        .services
        .finish_oidc_sign_in(config, code, &csrf, &origin)
        .await
    {
        Ok(token) => {
            let next = super::auth::cookie(request.headers(), NEXT_COOKIE)
                .and_then(|v| unhex(&v))
                .unwrap_or_default();
            signed_in_response(&state, Ok(token), &next)
        }
        Err(OidcError::Service(err)) => ApiError::from(err).into_response(),
        Err(why @ OidcError::UnknownState) => refuse(&state, &origin, why.to_string(), 400),
        Err(why) => refuse(&state, &origin, why.to_string(), 401),
    }
}

/// Records a failed sign-in and answers with why.
fn refuse(state: &AppState, origin: &RequestOrigin, why: String, code: u16) -> Response {
    let mut failed = NewEvent::by(None, origin, "session.sign_in", Outcome::Failure);
    failed.target_kind = "OidcLogin".to_owned();
    failed.after = Some(serde_json::json!({ "reason": why }));
    let message = format!("sign-in failed: {why}");
    let answer = if code == 401 {
        ApiError::SignInFailed(message)
    } else {
        ApiError::BadRequest(message)
    };
    super::auth::refused(state, &failed, answer)
}
