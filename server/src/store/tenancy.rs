//! Tiers and namespace requests. Each change to a request is written in one transaction with
//! its audit event; a request in `approved` or `provisioning` is the outbox the provisioner
//! works through.

use domain::audit::NewEvent;
use domain::page::Cursor;
use domain::tenancy::{Plan, RequestState, Tier, TierSpec};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{Store, StoreError};

/// Timestamps as RFC 3339 in UTC, the way the UI and the manifests show them.
const UTC: &str = "to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

pub(crate) fn utc(column: &str) -> String {
    UTC.replace("%s", column)
}

/// A timestamp column as whole microseconds since the epoch: exact, for a page's cursor.
pub(crate) fn micros(column: &str) -> String {
    format!("(extract(epoch from {column}) * 1000000)::bigint")
}

/// A request row as stored.
#[derive(Clone, Debug)]
pub struct RequestRow {
    pub id: String,
    pub name: String,
    pub team: String,
    pub requester_id: String,
    pub requester_name: String,
    pub state: RequestState,
    pub plan: Plan,
    pub created_at: String,
    /// Where a page that ends on this row goes on from.
    pub cursor: Cursor,
    pub expires_at: Option<String>,
    pub decided_by: Option<String>,
    pub decided_by_name: Option<String>,
    pub decision_reason: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

fn columns() -> String {
    format!(
        "id, name, team, requester_id, requester_name, state, plan, attempts, last_error, \
         decided_by, decided_by_name, decision_reason, {} AS created_at, {} AS created_us, \
         {} AS expires_at",
        utc("created_at"),
        micros("created_at"),
        utc("expires_at")
    )
}

fn request_from_row(row: &PgRow) -> Result<RequestRow, StoreError> {
    let state: String = row.try_get("state")?;
    let plan: serde_json::Value = row.try_get("plan")?;
    let mut plan: Plan = serde_json::from_value(plan)
        .map_err(|e| StoreError::Corrupt(format!("request plan: {e}")))?;
    let expires_at: Option<String> = row.try_get("expires_at")?;
    // The expiry is the column's, fixed when the namespace is granted; the plan carries it to
    // the namespace's annotation without storing it twice.
    plan.expires_at = expires_at.clone();
    Ok(RequestRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        team: row.try_get("team")?,
        requester_id: row.try_get("requester_id")?,
        requester_name: row.try_get("requester_name")?,
        state: RequestState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown request state {state:?}")))?,
        plan,
        created_at: row.try_get("created_at")?,
        cursor: Cursor {
            at_us: row.try_get("created_us")?,
            id: row.try_get("id")?,
        },
        expires_at,
        decided_by: row.try_get("decided_by")?,
        decided_by_name: row.try_get("decided_by_name")?,
        decision_reason: row.try_get("decision_reason")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
    })
}

/// A request about to be stored; `expires_in` counts from the moment it is stored.
pub struct NewRequest {
    pub plan: Plan,
    pub requester_name: String,
    pub state: RequestState,
    pub expires_in_secs: Option<i64>,
    /// Set when policy approves it at once.
    pub decided_by: Option<Decider>,
    pub decision_reason: Option<String>,
}

/// Who decided a request or a change: their id, and their name for the pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decider {
    pub id: String,
    pub name: String,
}

impl Decider {
    pub fn of(user: &domain::identity::CurrentUser) -> Self {
        Decider {
            id: user.id.clone(),
            name: user.display_name.clone(),
        }
    }

    /// Berth's own policy, when it grants without asking anyone.
    pub fn policy() -> Self {
        Decider {
            id: "berth".to_owned(),
            name: "berth".to_owned(),
        }
    }
}

impl Store {
    /// Puts the seeded tiers in place on a fresh installation; admins' edits are kept.
    pub async fn seed_tiers(&self, tiers: &[Tier]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tiers")
            .fetch_one(&mut *tx)
            .await?;
        if count == 0 {
            for (position, tier) in tiers.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO tiers (name, description, position, spec) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(&tier.name)
                .bind(&tier.description)
                .bind(i32::try_from(position).unwrap_or(i32::MAX))
                .bind(spec_json(&tier.spec)?)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every tier, in the order admins gave them.
    pub async fn tiers(&self) -> Result<Vec<Tier>, StoreError> {
        let rows = sqlx::query("SELECT name, description, spec FROM tiers ORDER BY position, name")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                let spec: serde_json::Value = row.try_get("spec")?;
                Ok(Tier {
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                    spec: serde_json::from_value::<TierSpec>(spec)
                        .map_err(|e| StoreError::Corrupt(format!("tier spec: {e}")))?,
                })
            })
            .collect()
    }

    /// Creates or replaces a tier with its audit event (before and after); `true` when it is
    /// new. New tiers go last. Requests keep the tier they were planned with.
    pub async fn save_tier(
        &self,
        tier: &Tier,
        by: &str,
        mut event: NewEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let before: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT spec FROM tiers WHERE name = $1 FOR UPDATE")
                .bind(&tier.name)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO tiers (name, description, position, spec, updated_at, updated_by) \
             VALUES ($1, $2, (SELECT coalesce(max(position), -1) + 1 FROM tiers), $3, now(), $4) \
             ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description, \
               spec = EXCLUDED.spec, updated_at = now(), updated_by = EXCLUDED.updated_by",
        )
        .bind(&tier.name)
        .bind(&tier.description)
        .bind(spec_json(&tier.spec)?)
        .bind(by)
        .execute(&mut *tx)
        .await?;
        let created = before.is_none();
        event.before = before;
        event.after = Some(spec_json(&tier.spec)?);
        super::audit::append(&mut tx, self.audit_key(), &event).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Whether a live request (not denied, not failed) holds `name` on `cluster` (a fleet
    /// name); on the home cluster, requests from before the fleet (naming none) count too.
    pub async fn name_held(
        &self,
        name: &str,
        cluster: &str,
        home: bool,
    ) -> Result<bool, StoreError> {
        let held: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM namespace_requests \
             WHERE name = $1 AND state NOT IN ('denied', 'failed', 'expired') \
               AND coalesce(plan->'draft'->>'cluster', '') IN ($2, CASE WHEN $3 THEN '' END))",
        )
        .bind(name)
        .bind(cluster)
        .bind(home)
        .fetch_one(self.pool())
        .await?;
        Ok(held)
    }

    /// The clusters whose live requests hold `name` (empty for requests from before the
    /// fleet), in name order: none, one, or several (names are unique per cluster).
    pub async fn live_request_clusters(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let clusters: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT coalesce(plan->'draft'->>'cluster', '') AS cluster \
             FROM namespace_requests \
             WHERE name = $1 AND state NOT IN ('denied', 'failed', 'expired') ORDER BY 1",
        )
        .bind(name)
        .fetch_all(self.pool())
        .await?;
        Ok(clusters)
    }

    /// Stores a request and its audit event together. `Conflict` when a live request already
    /// holds the name (two people racing for it: one wins).
    pub async fn create_namespace_request(
        &self,
        new: NewRequest,
        mut event: NewEvent,
    ) -> Result<RequestRow, StoreError> {
        let mut tx = self.pool().begin().await?;
        let plan = serde_json::to_value(&new.plan)
            .map_err(|e| StoreError::Corrupt(format!("request plan: {e}")))?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO namespace_requests \
               (id, name, team, requester_id, requester_name, state, plan, expires_at, \
                decided_by, decided_at, decision_reason, decided_by_name) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8), \
                     $9, CASE WHEN $9 IS NULL THEN NULL ELSE now() END, $10, $11) \
             RETURNING {}",
            columns()
        ))
        .bind(&new.plan.request_id)
        .bind(&new.plan.draft.name)
        .bind(&new.plan.draft.team)
        .bind(&new.plan.requester)
        .bind(&new.requester_name)
        .bind(new.state.as_str())
        .bind(plan)
        .bind(new.expires_in_secs.map(|s| s as f64))
        .bind(new.decided_by.as_ref().map(|d| d.id.as_str()))
        .bind(&new.decision_reason)
        .bind(new.decided_by.as_ref().map(|d| d.name.as_str()))
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Err(StoreError::Conflict(format!(
                    "{} is taken on {} by another open request",
                    new.plan.draft.name, new.plan.draft.cluster
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let request = request_from_row(&row)?;
        event.after = Some(serde_json::json!({
            "state": request.state.as_str(),
            "tier": request.plan.draft.tier,
            "lifetime": request.plan.draft.lifetime,
            "expires_at": request.expires_at,
        }));
        super::audit::append(&mut tx, self.audit_key(), &event).await?;
        tx.commit().await?;
        Ok(request)
    }

    pub async fn namespace_request(&self, id: &str) -> Result<Option<RequestRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM namespace_requests WHERE id = $1",
            columns()
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    /// Requests of `teams` (every team when `None`) and of `requester`, newest first.
    pub async fn namespace_requests(
        &self,
        teams: Option<&[String]>,
        requester: &str,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<Vec<RequestRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM namespace_requests \
             WHERE ($1::text[] IS NULL OR team = ANY($1) OR requester_id = $2) \
               AND ($4::bigint IS NULL OR ({}, id) < ($4, $5)) \
             ORDER BY created_us DESC, id DESC LIMIT $3",
            columns(),
            micros("created_at")
        ))
        .bind(teams)
        .bind(requester)
        .bind(limit)
        .bind(after.map(|c| c.at_us))
        .bind(after.map(|c| c.id.as_str()))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(request_from_row).collect()
    }

    /// Approves or denies a pending request, with its audit event. `Conflict` when it is no
    /// longer pending (someone else decided first).
    pub async fn decide_namespace_request(
        &self,
        id: &str,
        approve: bool,
        decided_by: &Decider,
        reason: &str,
        expires_in_secs: Option<i64>,
        mut event: NewEvent,
    ) -> Result<RequestRow, StoreError> {
        let next = if approve {
            RequestState::Approved
        } else {
            RequestState::Denied
        };
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE namespace_requests SET state = $2, decided_by = $3, decided_at = now(), \
               decision_reason = $4, updated_at = now(), next_attempt_at = now(), \
               expires_at = now() + make_interval(secs => $5), decided_by_name = $6 \
             WHERE id = $1 AND state = 'pending' RETURNING {}",
            columns()
        ))
        .bind(id)
        .bind(next.as_str())
        .bind(&decided_by.id)
        .bind(reason)
        // The lifetime starts when the namespace is granted, not when it was asked for.
        .bind(expires_in_secs.filter(|_| approve).map(|s| s as f64))
        .bind(&decided_by.name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::Conflict(format!(
                "request {id} is no longer pending"
            )));
        };
        let request = request_from_row(&row)?;
        event.before = Some(serde_json::json!({ "state": "pending" }));
        event.after = Some(serde_json::json!({ "state": next.as_str(), "reason": reason }));
        super::audit::append(&mut tx, self.audit_key(), &event).await?;
        tx.commit().await?;
        Ok(request)
    }

    /// Requests the provisioner should work on now.
    pub async fn due_namespace_requests(&self, limit: i64) -> Result<Vec<RequestRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM namespace_requests \
             WHERE state IN ('approved', 'provisioning') AND next_attempt_at <= now() \
             ORDER BY next_attempt_at, id LIMIT $1",
            columns()
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(request_from_row).collect()
    }

    /// Marks an attempt started: a crash from here on leaves the row `provisioning`, and the
    /// next pass (on any replica) applies it again.
    pub async fn start_provisioning(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE namespace_requests SET state = 'provisioning', attempts = attempts + 1, \
               updated_at = now() WHERE id = $1 AND state IN ('approved', 'provisioning')",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The end of an attempt: `ready`, `failed`, or another try after `retry_in_secs`. Final
    /// states carry their audit event in the same transaction.
    pub async fn finish_provisioning(
        &self,
        id: &str,
        outcome: ProvisionOutcome,
        event: Option<NewEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        match &outcome {
            ProvisionOutcome::Ready => {
                sqlx::query(
                    "UPDATE namespace_requests SET state = 'ready', last_error = NULL, \
                       updated_at = now() WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            ProvisionOutcome::Retry {
                error,
                retry_in_secs,
            } => {
                sqlx::query(
                    "UPDATE namespace_requests SET last_error = $2, updated_at = now(), \
                       next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
                )
                .bind(id)
                .bind(error)
                .bind(*retry_in_secs)
                .execute(&mut *tx)
                .await?;
            }
            ProvisionOutcome::Failed { error } => {
                sqlx::query(
                    "UPDATE namespace_requests SET state = 'failed', last_error = $2, \
                       updated_at = now() WHERE id = $1",
                )
                .bind(id)
                .bind(error)
                .execute(&mut *tx)
                .await?;
            }
        }
        if let Some(event) = event {
            super::audit::append(&mut tx, self.audit_key(), &event).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Ready namespaces whose time is up, and expiries recorded but not yet carried out.
    pub async fn due_expiries(&self, limit: i64) -> Result<Vec<RequestRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM namespace_requests \
             WHERE (state = 'ready' AND expires_at <= now() \
                    AND NOT EXISTS (SELECT 1 FROM namespace_changes c \
                                    WHERE c.request_id = namespace_requests.id \
                                      AND c.kind = 'extend' AND c.state = 'approved')) \
                OR state = 'expiring' \
             ORDER BY namespace_requests.expires_at, id LIMIT $1",
            columns()
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(request_from_row).collect()
    }

    /// Moves a request along the expiry path (`ready → expiring → expired`) with its audit
    /// event; `false` when it was no longer in `from` (another pass got there first).
    pub async fn advance_expiry(
        &self,
        id: &str,
        from: RequestState,
        to: RequestState,
        event: NewEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let moved = sqlx::query(
            "UPDATE namespace_requests SET state = $3, updated_at = now() \
             WHERE id = $1 AND state = $2",
        )
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if moved {
            super::audit::append(&mut tx, self.audit_key(), &event).await?;
        }
        tx.commit().await?;
        Ok(moved)
    }
}

impl Store {
    /// Ready namespaces within three days of expiry whose one-day warning is not yet sent,
    /// with the last warning sent (3 or 1 days before).
    pub async fn expiry_warnings_due(
        &self,
        limit: i64,
    ) -> Result<Vec<(RequestRow, Option<i32>)>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {}, expiry_warned_days FROM namespace_requests \
             WHERE state = 'ready' AND expires_at > now() \
               AND expires_at <= now() + interval '3 days' \
               AND (expiry_warned_days IS NULL OR expiry_warned_days > 1) \
             ORDER BY namespace_requests.expires_at, id LIMIT $1",
            columns()
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((request_from_row(row)?, row.try_get("expiry_warned_days")?)))
            .collect()
    }

    /// Records that the warning `days` before expiry went out.
    pub async fn mark_expiry_warned(&self, id: &str, days: i32) -> Result<(), StoreError> {
        sqlx::query("UPDATE namespace_requests SET expiry_warned_days = $2 WHERE id = $1")
            .bind(id)
            .bind(days)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// How a provisioning attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub enum ProvisionOutcome {
    Ready,
    Retry { error: String, retry_in_secs: f64 },
    Failed { error: String },
}

fn spec_json(spec: &TierSpec) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(spec).map_err(|e| StoreError::Corrupt(format!("tier spec: {e}")))
}
