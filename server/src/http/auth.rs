//! Sessions on requests, the same-origin guard against forged posts, demo sign-in, sign-out.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use domain::audit::{NewEvent, Outcome};
use domain::failures::Verdict;
use domain::identity::SignedIn;
use http::{HeaderMap, HeaderValue, Method, header};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use crate::auth::{SESSION_COOKIE, demo_personas};
use crate::store::identity::TokenOwner;

/// The session token of a request, for sign-out.
#[derive(Clone, Debug)]
pub struct SessionToken(pub String);

/// The API token a request authenticated with, for live streams to re-check.
#[derive(Clone, Debug)]
pub struct BearerToken(pub String);

pub use domain::identity::RequestOrigin;

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn origin_of(request: &Request) -> RequestOrigin {
    RequestOrigin {
        source: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default(),
        request_id: request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    }
}

/// Finds the session of the request's cookie and marks the request with its user.
pub async fn load_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let origin = origin_of(&request);
    request.extensions_mut().insert(origin.clone());
    // The bundle is the same for everyone, and a first visit fetches it in a hundred or more
    // pieces (one per route chunk): none of them needs the session looked up in Postgres.
    if request.method() == Method::GET && super::static_files::is_static(request.uri().path()) {
        return next.run(request).await;
    }
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    if let Some(token) = bearer {
        // A script's token: it either names a live token or the request goes no further.
        match state.services.token_user(&token).await {
            Ok(TokenOwner::StaleRoles) => {
                let failed = NewEvent::by(None, &origin, "token.authenticate", Outcome::Failure)
                    .on("ApiToken", "", "");
                return refused(&state, &failed, ApiError::StaleRoles);
            }
            Ok(TokenOwner::Live(user, scopes)) => {
                // A token that makes tokens would outlive its own expiry and revocation.
                if mints_tokens(&request) {
                    if let Err(err) = state
                        .services
                        .refuse_token(&user, &origin, "token.create", "")
                        .await
                    {
                        return ApiError::from(err).into_response();
                    }
                    return ApiError::Forbidden(
                        "an API token cannot make API tokens: sign in to Berth to make one"
                            .to_owned(),
                    )
                    .into_response();
                }
                let needed = match request.extensions().get::<axum::extract::MatchedPath>() {
                    // Nothing answers there but a Problem saying so.
                    Some(m) if m.as_str() == "/api/v1/{*rest}" => {
                        domain::identity::TokenScope::Read
                    }
                    Some(m) => super::v1::scope_needed(request.method(), m.as_str())
                        .unwrap_or_else(|| {
                            super::scopes::needed(request.method(), request.uri().path())
                        }),
                    None => super::scopes::needed(request.method(), request.uri().path()),
                };
                if !domain::identity::scope_allows(&scopes, needed) {
                    if let Err(err) = state
                        .services
                        .refuse_token(&user, &origin, "token.scope", request.uri().path())
                        .await
                    {
                        return ApiError::from(err).into_response();
                    }
                    let have: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
                    return ApiError::Forbidden(format!(
                        "this token's scopes ({}) do not cover this: it needs {}; make a token with that scope",
                        have.join(", "),
                        needed.as_str()
                    ))
                    .into_response();
                }
                request.extensions_mut().insert(SignedIn(user));
                request.extensions_mut().insert(BearerToken(token));
                return next.run(request).await;
            }
            Ok(TokenOwner::Unknown) => {
                let failed = NewEvent::by(None, &origin, "token.authenticate", Outcome::Failure)
                    .on("ApiToken", "", "");
                return refused(&state, &failed, ApiError::BadToken);
            }
            Err(err) => return ApiError::from(err).into_response(),
        }
    }
    if let Some(token) = cookie(request.headers(), SESSION_COOKIE) {
        match state.services.session_user(&token).await {
            Ok(Some(user)) => {
                request.extensions_mut().insert(SignedIn(user));
            }
            Ok(None) => {}
            Err(err) => return ApiError::from(err).into_response(),
        }
        request.extensions_mut().insert(SessionToken(token));
    }
    next.run(request).await
}

/// A failed anonymous attempt: counted for the audit trail's summary of the window (not a row
/// of its own), and answered with `answer`, or "too many attempts" past the limit.
pub fn refused(state: &AppState, failed: &NewEvent, answer: ApiError) -> Response {
    match state.services.note_failure(failed) {
        Verdict::Counted => answer.into_response(),
        Verdict::Limited => ApiError::TooManyAttempts.into_response(),
    }
}

/// The two doors that make API tokens: the REST endpoint and the page's server function.
fn mints_tokens(request: &Request) -> bool {
    use leptos::server_fn::ServerFn;
    let path = request.uri().path();
    request.method() == Method::POST
        && (path == "/api/v1/tokens" || path == app::api::MakeToken::PATH)
}

fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map(|(_, r)| r)?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// Refuses state-changing requests that a browser sent from another site: the Origin (or,
/// failing that, the Referer) must name this host. API calls with a bearer token carry no
/// ambient credentials and pass.
pub async fn same_origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let unsafe_method = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    if unsafe_method && !bearer {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok());
        let claimed = request
            .headers()
            .get(header::ORIGIN)
            .or_else(|| request.headers().get(header::REFERER))
            .and_then(|v| v.to_str().ok());
        let same = match (host, claimed.and_then(host_of)) {
            (Some(h), Some(c)) => h.eq_ignore_ascii_case(c),
            _ => false,
        };
        if !same {
            let user = request.extensions().get::<SignedIn>().map(|s| s.0.clone());
            let origin = request
                .extensions()
                .get::<RequestOrigin>()
                .cloned()
                .unwrap_or_default();
            let mut refused = NewEvent::by(
                user.as_ref(),
                &origin,
                "request.cross_site_refused",
                Outcome::Denied,
            );
            refused.target_kind = "Request".to_owned();
            refused.target_name = format!("{} {}", request.method(), request.uri().path());
            refused.after = Some(serde_json::json!({ "origin": claimed, "host": host }));
            if let Err(err) = state.services.store().record(&refused).await {
                tracing::error!(error = %err, "could not audit a refused cross-site request");
            }
            return ApiError::CrossSite.into_response();
        }
    }
    next.run(request).await
}

pub fn session_cookie(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&text)
        .unwrap_or_else(|_| HeaderValue::from_static("berth_session=; Max-Age=0"))
}

#[derive(Debug, Deserialize)]
pub struct DemoSignIn {
    persona: String,
    /// The page to go back to (a shared link opened signed out), if it is one of this site's.
    #[serde(default)]
    next: String,
}

/// `POST /auth/demo`: sign in as a demo persona. Routed only in `berth demo`.
pub async fn demo_sign_in(State(state): State<AppState>, request: Request) -> Response {
    let origin = request
        .extensions()
        .get::<RequestOrigin>()
        .cloned()
        .unwrap_or_default();
    let form =
        <Form<DemoSignIn> as axum::extract::FromRequest<AppState>>::from_request(request, &state)
            .await;
    let form = form.ok().map(|Form(f)| f);
    let next = form.as_ref().map(|f| f.next.clone()).unwrap_or_default();
    let Some(persona) = form.and_then(|f| demo_personas().into_iter().find(|p| p.id == f.persona))
    else {
        let failed = NewEvent::by(None, &origin, "session.sign_in", Outcome::Failure);
        return refused(
            &state,
            &failed,
            ApiError::BadRequest("there is no such demo persona".to_owned()),
        );
    };
    let outcome = state.services.sign_in(&persona, &origin, "").await;
    signed_in_response(&state, outcome, &next)
}

/// After a sign-in: back to `next` when it is a page of this site (a shared link opened
/// signed out keeps its view), else home, with the session cookie; or why it could not be
/// stored.
pub fn signed_in_response(
    state: &AppState,
    outcome: Result<String, crate::services::ServiceError>,
    next: &str,
) -> Response {
    match outcome {
        Ok(token) => {
            let to = domain::identity::return_path(next).unwrap_or("/");
            let mut response = Redirect::to(to).into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(
                    &token,
                    state.auth.session_absolute.as_secs(),
                    state.auth.secure_cookies,
                ),
            );
            response
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// `POST /auth/signout`: ends the session on the server, then forgets the cookie.
pub async fn sign_out(State(state): State<AppState>, request: Request) -> Response {
    let origin = request
        .extensions()
        .get::<RequestOrigin>()
        .cloned()
        .unwrap_or_default();
    let user = request.extensions().get::<SignedIn>().map(|s| s.0.clone());
    if let Some(SessionToken(token)) = request.extensions().get::<SessionToken>() {
        if let Err(err) = state.services.sign_out(token, user.as_ref(), &origin).await {
            return ApiError::from(err).into_response();
        }
        state.streams.session_ended(token);
    }
    let mut response = Redirect::to("/signin").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie("", 0, state.auth.secure_cookies),
    );
    response
}

/// Who the caller is, as Berth knows them.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Me {
    id: String,
    email: String,
    display_name: String,
    roles: Vec<String>,
    teams: Vec<String>,
}

/// Who the session or token belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity",
    responses((status = 200, body = Me),
        (status = "default", body = super::error::Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
pub async fn me(request: Request) -> Response {
    match request.extensions().get::<SignedIn>() {
        Some(SignedIn(user)) => axum::Json(Me {
            id: user.id.clone(),
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            roles: user.role_names(),
            teams: user.teams.clone(),
        })
        .into_response(),
        None => ApiError::Unauthenticated.into_response(),
    }
}
