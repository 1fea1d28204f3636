//! API tokens: made (shown once), listed, revoked — the one path the Tokens page and
//! `/api/v1/tokens` both take, authorised and audited here.

use std::time::Duration;

use domain::audit::{NewEvent, Outcome};
use domain::authz::{Action, Decision, Target, decide};
use domain::identity::{CurrentUser, RequestOrigin};

use super::{ServiceError, Services};
use crate::store::identity::TokenInfo;

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
        domain::identity::validate_token_request(name, days, self.token_max_days)
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
        asked.unwrap_or(self.token_max_days.min(90))
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
}
