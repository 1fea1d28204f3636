//! Users and server-side sessions. The cookie holds a random token; the table holds only its
//! SHA-256, so reading the table signs nobody in.

use std::time::Duration;

use domain::authz::Role;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Store, StoreError};
use crate::auth::CurrentUser;

pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 244 random bits, hex: unguessable, and safe in a cookie.
fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A user from a row with id, email, display_name, roles and teams.
fn user_from_row(row: &sqlx::postgres::PgRow) -> Result<CurrentUser, sqlx::Error> {
    let roles: Vec<String> = row.try_get("roles")?;
    Ok(CurrentUser {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        roles: roles.iter().filter_map(|r| Role::parse(r)).collect(),
        teams: row.try_get("teams")?,
    })
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Store {
    /// The user of a live session, touching it; `None` once it ended, expired or sat idle.
    /// Whether a session (or, with `bearer`, an API token) still authenticates, without
    /// counting as a use: a live stream asks now and then, and must not keep a session awake.
    pub async fn credential_alive(
        &self,
        token: &str,
        bearer: bool,
        idle: Duration,
    ) -> Result<bool, StoreError> {
        let alive: Option<i32> = if bearer {
            sqlx::query_scalar(
                "SELECT 1 FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL \
                 AND expires_at > now()",
            )
            .bind(token_hash(token))
            .fetch_optional(self.pool())
            .await?
        } else {
            sqlx::query_scalar(
                "SELECT 1 FROM sessions WHERE token_hash = $1 AND ended_at IS NULL \
                 AND expires_at > now() AND last_seen_at > now() - make_interval(secs => $2)",
            )
            .bind(token_hash(token))
            .bind(secs(idle))
            .fetch_optional(self.pool())
            .await?
        };
        Ok(alive.is_some())
    }

    pub async fn session_user(
        &self,
        token: &str,
        idle: Duration,
    ) -> Result<Option<CurrentUser>, StoreError> {
        let row = sqlx::query(
            "UPDATE sessions s SET last_seen_at = now() FROM users u \
             WHERE s.token_hash = $1 AND s.user_id = u.id AND s.ended_at IS NULL \
               AND s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => $2) \
             RETURNING u.id, u.email, u.display_name, u.roles, u.teams",
        )
        .bind(token_hash(token))
        .bind(secs(idle))
        .fetch_optional(self.pool())
        .await?;
        row.as_ref()
            .map(user_from_row)
            .transpose()
            .map_err(StoreError::from)
    }
}

/// Whom an API token speaks for.
#[derive(Clone, Debug)]
pub enum TokenOwner {
    /// The owner, and what the token may do besides read.
    Live(CurrentUser, Vec<domain::identity::TokenScope>),
    /// The owner has not signed in for too long to trust the roles stored then.
    StaleRoles,
    /// Unknown, expired or revoked.
    Unknown,
}

/// A token as its owner may see it: never the token itself.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked: bool,
    pub last_used_at: Option<String>,
    pub scopes: Vec<String>,
}

/// Prefix that makes Berth tokens recognisable (to people and to secret scanners).
pub const TOKEN_PREFIX: &str = "berth_";

impl Store {
    /// Makes a token for `user_id`; returns its id, the token (to show once) and its expiry,
    /// with the audit event in the same transaction.
    pub async fn create_token(
        &self,
        user_id: &str,
        name: &str,
        lifetime: Duration,
        scopes: &[domain::identity::TokenScope],
        audit_event: domain::audit::NewEvent,
    ) -> Result<(TokenInfo, String), StoreError> {
        let scopes: Vec<String> = scopes.iter().map(|s| s.as_str().to_owned()).collect();
        let id = uuid::Uuid::new_v4().to_string();
        let token = format!("{TOKEN_PREFIX}{}", new_token());
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, expires_at, scopes) \
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6) \
             RETURNING created_at::text AS created_at, expires_at::text AS expires_at",
        )
        .bind(&id)
        .bind(user_id)
        .bind(name)
        .bind(token_hash(&token))
        .bind(secs(lifetime))
        .bind(&scopes)
        .fetch_one(&mut *tx)
        .await?;
        let info = TokenInfo {
            id: id.clone(),
            name: name.to_owned(),
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked: false,
            last_used_at: None,
            scopes,
        };
        let mut event = audit_event;
        event.target_kind = "ApiToken".to_owned();
        event.target_name = id;
        event.after = Some(serde_json::json!({
            "name": info.name, "expires_at": info.expires_at, "scopes": info.scopes,
        }));
        super::audit::append(&mut tx, self.audit_key(), &event).await?;
        tx.commit().await?;
        Ok((info, token))
    }

    pub async fn list_tokens(&self, user_id: &str) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, created_at::text AS created_at, expires_at::text AS expires_at, \
             revoked_at IS NOT NULL AS revoked, last_used_at::text AS last_used_at, scopes \
             FROM api_tokens WHERE user_id = $1 ORDER BY api_tokens.created_at DESC",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    revoked: r.try_get("revoked")?,
                    last_used_at: r.try_get("last_used_at")?,
                    scopes: r.try_get("scopes")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Revokes one of `user_id`'s live tokens, audited in the same transaction; false when
    /// there is no such live token of theirs.
    /// Revokes token `id` of `user_id` (any user's with `None`: an admin's revocation).
    pub async fn revoke_token(
        &self,
        user_id: Option<&str>,
        id: &str,
        audit_event: domain::audit::NewEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let owner: Option<String> = sqlx::query_scalar(
            "UPDATE api_tokens SET revoked_at = now() \
             WHERE id = $1 AND ($2::text IS NULL OR user_id = $2) AND revoked_at IS NULL \
             RETURNING user_id",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(owner) = owner else {
            return Ok(false);
        };
        let mut event = audit_event;
        event.target_kind = "ApiToken".to_owned();
        event.target_name = id.to_owned();
        event.after = Some(serde_json::json!({ "owner": owner }));
        super::audit::append(&mut tx, self.audit_key(), &event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The owner of a live (unrevoked, unexpired) token, noting its use; `StaleRoles` when the
    /// owner has not signed in for `roles_max_age` (their roles and teams, read at sign-in,
    /// may no longer be true).
    pub async fn token_user(
        &self,
        token: &str,
        roles_max_age: Duration,
    ) -> Result<TokenOwner, StoreError> {
        let row = sqlx::query(
            "UPDATE api_tokens t SET last_used_at = now() FROM users u \
             WHERE t.token_hash = $1 AND t.user_id = u.id AND t.revoked_at IS NULL AND t.expires_at > now() \
             RETURNING u.id, u.email, u.display_name, u.roles, u.teams, t.scopes, \
             u.last_seen_at > now() - make_interval(secs => $2) AS fresh",
        )
        .bind(token_hash(token))
        .bind(secs(roles_max_age))
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(TokenOwner::Unknown);
        };
        let fresh: bool = row.try_get("fresh")?;
        if !fresh {
            return Ok(TokenOwner::StaleRoles);
        }
        let names: Vec<String> = row.try_get("scopes")?;
        // A name this build does not know grants nothing.
        let scopes = names
            .iter()
            .filter_map(|n| domain::identity::TokenScope::parse(n))
            .collect();
        Ok(TokenOwner::Live(user_from_row(&row)?, scopes))
    }
}

impl Store {
    /// Remembers a sign-in sent to the identity provider.
    pub async fn save_oidc_login(
        &self,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM oidc_logins WHERE created_at < now() - interval '10 minutes'")
            .execute(self.pool())
            .await?;
        sqlx::query("INSERT INTO oidc_logins (state, nonce, pkce_verifier) VALUES ($1, $2, $3)")
            .bind(state)
            .bind(nonce)
            .bind(verifier)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The nonce and PKCE verifier of a pending sign-in, removed so the state works once.
    pub async fn take_oidc_login(
        &self,
        state: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "DELETE FROM oidc_logins WHERE state = $1 AND created_at > now() - interval '10 minutes' \
             RETURNING nonce, pkce_verifier",
        )
        .bind(state)
        .fetch_optional(self.pool())
        .await?;
        Ok(row)
    }
}

impl Store {
    /// Signs `user` in: refreshes the user, starts a session and records `audit_event`, all in
    /// one transaction, so there is never a session without its audit event (or the reverse).
    pub async fn sign_in(
        &self,
        user: &CurrentUser,
        absolute: Duration,
        audit_event: &domain::audit::NewEvent,
    ) -> Result<String, StoreError> {
        let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
        let token = new_token();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO users (id, email, display_name, roles, teams) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET email = $2, display_name = $3, roles = $4, teams = $5, \
             last_seen_at = now()",
        )
        .bind(&user.id)
        .bind(&user.email)
        .bind(&user.display_name)
        .bind(&roles)
        .bind(&user.teams)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, expires_at) \
             VALUES ($1, $2, now() + make_interval(secs => $3))",
        )
        .bind(token_hash(&token))
        .bind(&user.id)
        .bind(secs(absolute))
        .execute(&mut *tx)
        .await?;
        super::audit::append(&mut tx, self.audit_key(), audit_event).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Ends a session and records `audit_event` in one transaction; false if it had ended.
    pub async fn sign_out(
        &self,
        token: &str,
        audit_event: &domain::audit::NewEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = now() WHERE token_hash = $1 AND ended_at IS NULL",
        )
        .bind(token_hash(token))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        super::audit::append(&mut tx, self.audit_key(), audit_event).await?;
        tx.commit().await?;
        Ok(true)
    }
}
