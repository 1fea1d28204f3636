//! Who a request is: sessions (signed in, looked up, signed out) and API tokens (made, shown
//! once, listed, revoked, and authenticated with the scopes they carry) — the one path every
//! door takes, audited here.

use std::time::Duration;

use domain::audit::{NewEvent, Outcome};
use domain::authz::{Action, Decision, Target, decide};
use domain::identity::{CurrentUser, RequestOrigin};

use super::{ServiceError, Services};
use crate::store::identity::{TokenInfo, TokenOwner};

impl Services {
    fn may_manage_tokens(&self, user: &CurrentUser) -> Result<(), ServiceError> {
        match decide(
            &user.actor(),
            Action::ManageOwnTokens,
            &Target::requested_by(&user.id),
        ) {
            Decision::Allow => Ok(()),
            Decision::Deny(why) => Err(ServiceError::Forbidden(why)),
        }
    }

    /// Makes a token for `user` living `days` (1 to `auth.token_max_days`) with `scopes`
    /// besides read; the answer holds the token, the only time it is shown.
    pub async fn create_token<'a>(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        name: &str,
        days: u64,
        scopes: impl IntoIterator<Item = &'a str>,
    ) -> Result<(TokenInfo, String), ServiceError> {
        self.may_manage_tokens(user)?;
        let name = name.trim();
        domain::identity::validate_token_request(name, days, self.auth.token_max_days)
            .map_err(ServiceError::BadInput)?;
        let scopes = domain::identity::parse_scopes(scopes).map_err(ServiceError::BadInput)?;
        let event = NewEvent::by(Some(user), origin, "token.create", Outcome::Success);
        Ok(self
            .store()
            .create_token(
                &user.id,
                name,
                Duration::from_secs(days * 86_400),
                &scopes,
                event,
            )
            .await?)
    }

    /// The longest a new token may live, and what a token asked for without a lifetime gets.
    pub fn token_days(&self, asked: Option<u64>) -> u64 {
        asked.unwrap_or(self.auth.token_max_days.min(90))
    }

    /// `user`'s tokens, never the tokens themselves.
    pub async fn list_tokens(&self, user: &CurrentUser) -> Result<Vec<TokenInfo>, ServiceError> {
        self.may_manage_tokens(user)?;
        Ok(self.store().list_tokens(&user.id).await?)
    }

    /// Revokes token `id`: one's own; admins anyone's (a leaked one, a leaver's).
    pub async fn revoke_token(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: &str,
    ) -> Result<(), ServiceError> {
        self.may_manage_tokens(user)?;
        let event = NewEvent::by(Some(user), origin, "token.revoke", Outcome::Success);
        let admin = decide(&user.actor(), Action::Administer, &Target::everything()).allowed();
        let owner = (!admin).then_some(user.id.as_str());
        match self.store().revoke_token(owner, id, event).await? {
            true => Ok(()),
            false if admin => Err(ServiceError::NotFound(format!("no live token {id}"))),
            false => Err(ServiceError::NotFound(format!(
                "you have no live token {id}"
            ))),
        }
    }

    /// Demo personas exist only in `berth demo`: their sessions and tokens, left in a database
    /// a demo once used, authenticate nobody in `serve`.
    fn admissible(&self, user: &CurrentUser) -> bool {
        self.demo || !user.id.starts_with("demo:")
    }

    /// The owner of an API token and its scopes, if it is live and its owner's roles recent.
    pub async fn token_user(&self, token: &str) -> Result<TokenOwner, ServiceError> {
        match self
            .store()
            .token_user(token, self.auth.token_roles_max_age)
            .await?
        {
            TokenOwner::Live(user, _) if !self.admissible(&user) => Ok(TokenOwner::Unknown),
            owner => Ok(owner),
        }
    }

    /// The user of a session cookie, if it is live (which keeps it so).
    pub async fn session_user(&self, token: &str) -> Result<Option<CurrentUser>, ServiceError> {
        Ok(self
            .store()
            .session_user(token, self.auth.session_idle)
            .await?
            .filter(|user| self.admissible(user)))
    }

    /// Starts a session for `user`, signed in `via` the identity provider (`OidcLogin`, with
    /// the roles and teams it gave) or as a demo persona (`""`); the answer is the cookie's
    /// token.
    pub async fn sign_in(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        via: &str,
    ) -> Result<String, ServiceError> {
        let mut event =
            NewEvent::by(Some(user), origin, "session.sign_in", Outcome::Success).on(via, "", "");
        if !via.is_empty() {
            event.after =
                Some(serde_json::json!({ "roles": user.role_names(), "teams": user.teams }));
        }
        Ok(self
            .store()
            .sign_in(user, self.auth.session_absolute, &event)
            .await?)
    }

    /// Ends the session of `token`.
    pub async fn sign_out(
        &self,
        token: &str,
        user: Option<&CurrentUser>,
        origin: &RequestOrigin,
    ) -> Result<(), ServiceError> {
        let event = NewEvent::by(user, origin, "session.sign_out", Outcome::Success);
        self.store().sign_out(token, &event).await?;
        Ok(())
    }

    /// Records a token's owner refused `action` (a token making tokens, a scope it lacks).
    pub async fn refuse_token(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        action: &str,
        target: &str,
    ) -> Result<(), ServiceError> {
        let event =
            NewEvent::by(Some(user), origin, action, Outcome::Denied).on("ApiToken", "", target);
        self.store().record(&event).await?;
        Ok(())
    }
}
