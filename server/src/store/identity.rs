//! Users and server-side sessions. The cookie holds a random token; the table holds only its
//! SHA-256, so reading the table signs nobody in.

use std::time::Duration;

use domain::access::Role;
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

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Store {
    /// Creates or refreshes a user from what the identity provider says of them.
    pub async fn upsert_user(&self, user: &CurrentUser) -> Result<(), StoreError> {
        let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
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
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Starts a session and returns the token for the cookie.
    pub async fn create_session(
        &self,
        user_id: &str,
        absolute: Duration,
    ) -> Result<String, StoreError> {
        let token = new_token();
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, expires_at) \
             VALUES ($1, $2, now() + make_interval(secs => $3))",
        )
        .bind(token_hash(&token))
        .bind(user_id)
        .bind(secs(absolute))
        .execute(self.pool())
        .await?;
        Ok(token)
    }

    /// The user of a live session, touching it; `None` once it ended, expired or sat idle.
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
        let Some(row) = row else { return Ok(None) };
        let roles: Vec<String> = row.try_get("roles")?;
        Ok(Some(CurrentUser {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            display_name: row.try_get("display_name")?,
            roles: roles.iter().filter_map(|r| Role::parse(r)).collect(),
            teams: row.try_get("teams")?,
        }))
    }

    /// Ends a session now; later requests with its cookie are anonymous.
    pub async fn end_session(&self, token: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = now() WHERE token_hash = $1 AND ended_at IS NULL",
        )
        .bind(token_hash(token))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
