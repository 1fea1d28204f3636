//! Sign-in through an OpenID Connect provider, the protocol's part: authorization code flow
//! with PKCE, state and nonce kept in Postgres and consumed once, the ID token checked against
//! the nonce, roles and teams from the groups claim. The HTTP handlers (`http::oidc`) keep the
//! browser's part: redirects and the cookie that binds a callback to the browser that began.

use domain::identity::{CurrentUser, RequestOrigin, map_groups};
use openidconnect::core::{CoreClient, CoreGenderClaim, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};

use super::{ServiceError, Services};
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
pub enum OidcError {
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
    /// The callback's state is not one Berth gave out, or it was used or expired.
    #[error("unknown, expired or already used state")]
    UnknownState,
    #[error(transparent)]
    Service(#[from] ServiceError),
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

impl Services {
    /// Begins a sign-in: the provider's authorization URL to send the browser to, and the
    /// state it will come back with (kept, with the nonce and PKCE verifier, for ten minutes).
    pub async fn begin_oidc_sign_in(
        &self,
        config: &OidcConfig,
    ) -> Result<(String, String), OidcError> {
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
        self.store()
            .save_oidc_login(csrf.secret(), nonce.secret(), verifier.secret())
            .await
            .map_err(ServiceError::from)?;
        Ok((url.to_string(), csrf.secret().clone()))
    }

    /// Finishes a sign-in the provider sent back with `code` and `state` (used up here, so a
    /// replayed callback fails): the session's token.
    pub async fn finish_oidc_sign_in(
        &self,
        config: &OidcConfig,
        code: String,
        state: &str,
        origin: &RequestOrigin,
    ) -> Result<String, OidcError> {
        let pending = self
            .store()
            .take_oidc_login(state)
            .await
            .map_err(ServiceError::from)?
            .ok_or(OidcError::UnknownState)?;
        let user = exchange(config, code, pending).await?;
        Ok(self.sign_in(&user, origin, "OidcLogin").await?)
    }
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
