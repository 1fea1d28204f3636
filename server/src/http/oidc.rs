//! Sign-in through an OpenID Connect provider: authorization code flow with PKCE, state and
//! nonce kept server-side and consumed once; roles and teams from the groups claim.

use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::audit::{NewEvent, Outcome};
use domain::identity::{CurrentUser, map_groups};
use openidconnect::core::{CoreClient, CoreGenderClaim, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::{RequestOrigin, signed_in_response};
use super::error::ApiError;
use crate::config::OidcConfig;

/// The `groups` claim, which standard claims do not include.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct Groups {
    #[serde(default)]
    groups: Vec<String>,
}

impl AdditionalClaims for Groups {}

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong talking to the provider, each step with the library's own error as its
/// source; the database's part is a service error (its words stay in the log).
#[derive(Debug, thiserror::Error)]
enum OidcError {
    #[error("no HTTP client: {0}")]
    Client(#[source] Cause),
    #[error("the configured {what} is not a URL: {source}")]
    Url {
        what: &'static str,
        #[source]
        source: Cause,
    },
    #[error("discovery at {issuer} failed: {source}")]
    Discovery {
        issuer: String,
        #[source]
        source: Cause,
    },
    #[error("the token exchange failed: {0}")]
    Exchange(#[source] Cause),
    #[error("the provider returned no ID token")]
    NoIdToken,
    #[error("the ID token is not valid: {0}")]
    IdToken(#[source] Cause),
    #[error("the userinfo request failed: {0}")]
    UserInfo(#[source] Cause),
    #[error(transparent)]
    Service(#[from] crate::services::ServiceError),
}

impl From<OidcError> for ApiError {
    fn from(err: OidcError) -> Self {
        match err {
            OidcError::Service(err) => ApiError::from(err),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

fn http_client() -> Result<openidconnect::reqwest::Client, OidcError> {
    openidconnect::reqwest::ClientBuilder::new()
        // Following redirects would let a provider steer Berth's requests anywhere.
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| OidcError::Client(e.into()))
}

fn redirect_url(config: &OidcConfig) -> Result<RedirectUrl, OidcError> {
    RedirectUrl::new(config.redirect_url.clone()).map_err(|e| OidcError::Url {
        what: "redirect_url",
        source: e.into(),
    })
}

async fn metadata(
    config: &OidcConfig,
    http: &openidconnect::reqwest::Client,
) -> Result<CoreProviderMetadata, OidcError> {
    let issuer = IssuerUrl::new(config.issuer_url.clone()).map_err(|e| OidcError::Url {
        what: "issuer_url",
        source: e.into(),
    })?;
    CoreProviderMetadata::discover_async(issuer, http)
        .await
        .map_err(|e| OidcError::Discovery {
            issuer: config.issuer_url.clone(),
            source: e.into(),
        })
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

/// `GET /auth/oidc/login`: off to the provider.
pub async fn login(State(state): State<AppState>) -> Response {
    let Some(config) = state.oidc.as_deref() else {
        return ApiError::NotFound(
            "sign-in through an identity provider is not configured".to_owned(),
        )
        .into_response();
    };
    let outcome = async {
        let http = http_client()?;
        let client = CoreClient::from_provider_metadata(
            metadata(config, &http).await?,
            ClientId::new(config.client_id.clone()),
            config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect_url(config)?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, csrf, nonce) = request.url();
        state
            .services
            .store()
            .save_oidc_login(csrf.secret(), nonce.secret(), verifier.secret())
            .await
            .map_err(crate::services::ServiceError::from)?;
        Ok::<(String, String), OidcError>((url.to_string(), csrf.secret().clone()))
    }
    .await;
    match outcome {
        Ok((url, csrf)) => {
            let mut response = Redirect::to(&url).into_response();
            response.headers_mut().append(
                http::header::SET_COOKIE,
                state_cookie(&csrf, state.auth.secure_cookies),
            );
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
    let store = state.services.store();
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
    let pending = match store.take_oidc_login(&csrf).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return refuse(
                &state,
                &origin,
                "unknown, expired or already used state".to_owned(),
                400,
            );
        }
        Err(err) => return ApiError::from(err).into_response(),
    };
    let user = match exchange(config, code, pending).await {
        Ok(u) => u,
        Err(OidcError::Service(err)) => return ApiError::from(err).into_response(),
        Err(why) => return refuse(&state, &origin, why.to_string(), 401),
    };
    let outcome = state.services.sign_in(&user, &origin, "OidcLogin").await;
    signed_in_response(&state, outcome)
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

/// Code for tokens; the ID token checked against the nonce; groups from the userinfo endpoint.
async fn exchange(
    config: &OidcConfig,
    code: String,
    pending: (String, String),
) -> Result<CurrentUser, OidcError> {
    let (nonce, verifier) = pending;
    let http = http_client()?;
    let client = CoreClient::from_provider_metadata(
        metadata(config, &http).await?,
        ClientId::new(config.client_id.clone()),
        config.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect_url(config)?);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| OidcError::Exchange(e.into()))?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&http)
        .await
        .map_err(|e| OidcError::Exchange(e.into()))?;
    let id_token = tokens.id_token().ok_or(OidcError::NoIdToken)?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(nonce))
        .map_err(|e| OidcError::IdToken(e.into()))?;
    let subject = claims.subject().clone();
    let info: UserInfoClaims<Groups, CoreGenderClaim> = client
        .user_info(tokens.access_token().clone(), Some(subject.clone()))
        .map_err(|e| OidcError::UserInfo(e.into()))?
        .request_async(&http)
        .await
        .map_err(|e| OidcError::UserInfo(e.into()))?;
    let email = info
        .email()
        .or(claims.email())
        .map(|e| e.as_str().to_owned())
        .unwrap_or_default();
    // Only a verified address may match `oidc.admins` by e-mail.
    let email_verified = info
        .email_verified()
        .or(claims.email_verified())
        .unwrap_or(false);
    let name = info
        .name()
        .or(claims.name())
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_owned())
        .unwrap_or_else(|| email.clone());
    let groups = &info.additional_claims().groups;
    let (roles, teams) = map_groups(
        groups,
        &config.roles,
        &config.teams,
        &config.admins,
        subject.as_str(),
        &email,
        email_verified,
    );
    Ok(CurrentUser {
        id: format!("oidc:{}", subject.as_str()),
        email,
        display_name: name,
        roles,
        teams,
    })
}
