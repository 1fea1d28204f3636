//! Changes to provisioned namespaces (extensions, quota changes). Like requests, each change of
//! state is one transaction with its audit event, and an `approved` change is an outbox entry:
//! the provisioner applies its plan, and only then does the request take that plan over.

use domain::audit::NewEvent;
use domain::change::{ChangeKind, ChangeState, QuotaDelta};
use domain::page::Cursor;
use domain::tenancy::Plan;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::tenancy::{micros, utc};
use super::{Store, StoreError};
use crate::store::tenancy::{Decider, ProvisionOutcome};

/// A change row with its namespace's name and team.
#[derive(Clone, Debug)]
pub struct ChangeRow {
    pub id: String,
    pub request_id: String,
    pub namespace: String,
    pub team: String,
    pub kind: ChangeKind,
    pub state: ChangeState,
    pub requester_id: String,
    pub requester_name: String,
    pub reason: String,
    /// The request's whole plan once the change holds.
    pub plan: Plan,
    pub summary: String,
    pub quota: Vec<QuotaDelta>,
    pub created_at: String,
    /// Where a page that ends on this row goes on from.
    pub cursor: Cursor,
    pub decided_by: Option<String>,
    pub decided_by_name: Option<String>,
    pub decision_reason: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

fn columns() -> String {
    format!(
        "c.id, c.request_id, r.name, r.team, c.kind, c.state, c.requester_id, c.requester_name, \
         c.reason, c.plan, c.summary, c.quota, c.decided_by, c.decided_by_name, c.decision_reason, c.attempts, c.last_error, \
         {} AS created_at, {} AS created_us, {} AS expires_at",
        utc("c.created_at"),
        micros("c.created_at"),
        utc("c.expires_at")
    )
}

const FROM: &str = "namespace_changes c JOIN namespace_requests r ON r.id = c.request_id";

fn change_from_row(row: &PgRow) -> Result<ChangeRow, StoreError> {
    let kind: String = row.try_get("kind")?;
    let state: String = row.try_get("state")?;
    let plan: serde_json::Value = row.try_get("plan")?;
    let mut plan: Plan = serde_json::from_value(plan)
        .map_err(|e| StoreError::Corrupt(format!("change plan: {e}")))?;
    // As for requests, the expiry lives in its column only.
    plan.expires_at = row.try_get("expires_at")?;
    Ok(ChangeRow {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        namespace: row.try_get("name")?,
        team: row.try_get("team")?,
        kind: ChangeKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown change kind {kind:?}")))?,
        state: ChangeState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown change state {state:?}")))?,
        requester_id: row.try_get("requester_id")?,
        requester_name: row.try_get("requester_name")?,
        reason: row.try_get("reason")?,
        plan,
        summary: row.try_get("summary")?,
        quota: serde_json::from_value(row.try_get("quota")?)
            .map_err(|e| StoreError::Corrupt(format!("change quota: {e}")))?,
        created_at: row.try_get("created_at")?,
        cursor: Cursor {
            at_us: row.try_get("created_us")?,
            id: row.try_get("id")?,
        },
        decided_by: row.try_get("decided_by")?,
        decided_by_name: row.try_get("decided_by_name")?,
        decision_reason: row.try_get("decision_reason")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
    })
}

/// A change about to be stored.
pub struct NewChange {
    pub id: String,
    pub request_id: String,
    pub kind: ChangeKind,
    pub state: ChangeState,
    pub requester_id: String,
    pub requester_name: String,
    pub reason: String,
    pub plan: Plan,
    pub summary: String,
    pub quota: Vec<QuotaDelta>,
    /// Unix seconds; `None` for never.
    pub expires_at: Option<i64>,
    /// Set when policy approves it at once.
    pub decided_by: Option<Decider>,
    pub decision_reason: Option<String>,
}

impl Store {
    /// Stores a change with its audit event. `Conflict` when the namespace has an open change
    /// already, or is no longer ready.
    pub async fn create_namespace_change(
        &self,
        new: NewChange,
        event: NewEvent,
    ) -> Result<ChangeRow, StoreError> {
        let mut tx = self.pool().begin().await?;
        // Lock the request row: a change is only planned against a namespace that stays ready.
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM namespace_requests WHERE id = $1 FOR UPDATE")
                .bind(&new.request_id)
                .fetch_optional(&mut *tx)
                .await?;
        if state.as_deref() != Some("ready") {
            return Err(StoreError::Conflict(format!(
                "namespace {} is {}; only a ready namespace can change",
                new.plan.draft.name,
                state.as_deref().unwrap_or("gone")
            )));
        }
        let plan = serde_json::to_value(&new.plan)
            .map_err(|e| StoreError::Corrupt(format!("change plan: {e}")))?;
        let inserted = sqlx::query(
            "INSERT INTO namespace_changes \
               (id, request_id, kind, state, requester_id, requester_name, reason, plan, \
                expires_at, decided_by, decided_at, decision_reason, summary, quota, \
                decided_by_name) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, to_timestamp($9), \
                     $10, CASE WHEN $10 IS NULL THEN NULL ELSE now() END, $11, $12, $13, $14)",
        )
        .bind(&new.id)
        .bind(&new.request_id)
        .bind(new.kind.as_str())
        .bind(new.state.as_str())
        .bind(&new.requester_id)
        .bind(&new.requester_name)
        .bind(&new.reason)
        .bind(plan)
        .bind(new.expires_at.map(|s| s as f64))
        .bind(new.decided_by.as_ref().map(|d| d.id.as_str()))
        .bind(&new.decision_reason)
        .bind(&new.summary)
        .bind(
            serde_json::to_value(&new.quota)
                .map_err(|e| StoreError::Corrupt(format!("change quota: {e}")))?,
        )
        .bind(new.decided_by.as_ref().map(|d| d.name.as_str()))
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Err(StoreError::Conflict(format!(
                    "namespace {} has an open change already; wait for its decision",
                    new.plan.draft.name
                )));
            }
            Err(e) => return Err(e.into()),
        }
        let row = sqlx::query(&format!("SELECT {} FROM {FROM} WHERE c.id = $1", columns()))
            .bind(&new.id)
            .fetch_one(&mut *tx)
            .await?;
        let change = change_from_row(&row)?;
        super::audit::append(&mut tx, self.audit_key(), &event).await?;
        tx.commit().await?;
        Ok(change)
    }

    pub async fn namespace_change(&self, id: &str) -> Result<Option<ChangeRow>, StoreError> {
        let row = sqlx::query(&format!("SELECT {} FROM {FROM} WHERE c.id = $1", columns()))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(change_from_row).transpose()
    }

    /// Changes to namespaces of `teams` (every team when `None`) and those `requester` asked
    /// for, newest first.
    pub async fn namespace_changes(
        &self,
        teams: Option<&[String]>,
        requester: &str,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<Vec<ChangeRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM {FROM} \
             WHERE ($1::text[] IS NULL OR r.team = ANY($1) OR c.requester_id = $2) \
               AND ($4::bigint IS NULL OR ({}, c.id) < ($4, $5)) \
             ORDER BY created_us DESC, c.id DESC LIMIT $3",
            columns(),
            micros("c.created_at")
        ))
        .bind(teams)
        .bind(requester)
        .bind(limit)
        .bind(after.map(|c| c.at_us))
        .bind(after.map(|c| c.id.as_str()))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(change_from_row).collect()
    }

    /// Approves or denies a pending change with its audit event; `Conflict` when it is no
    /// longer pending.
    pub async fn decide_namespace_change(
        &self,
        id: &str,
        approve: bool,
        decided_by: &Decider,
        reason: &str,
        event: NewEvent,
    ) -> Result<ChangeRow, StoreError> {
        let next = if approve {
            ChangeState::Approved
        } else {
            ChangeState::Denied
        };
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE namespace_changes SET state = $2, decided_by = $3, decided_at = now(), \
               decision_reason = $4, next_attempt_at = now(), updated_at = now(), \
               decided_by_name = $5 \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(next.as_str())
        .bind(&decided_by.id)
        .bind(reason)
        .bind(&decided_by.name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Err(StoreError::Conflict(format!(
                "change {id} is no longer pending"
            )));
        }
        let row = sqlx::query(&format!("SELECT {} FROM {FROM} WHERE c.id = $1", columns()))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let change = change_from_row(&row)?;
        super::audit::append(&mut tx, self.audit_key(), &event).await?;
        tx.commit().await?;
        Ok(change)
    }

    /// Approved changes the provisioner should apply now.
    pub async fn due_namespace_changes(&self, limit: i64) -> Result<Vec<ChangeRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM {FROM} WHERE c.state = 'approved' AND c.next_attempt_at <= now() \
             ORDER BY c.next_attempt_at, c.id LIMIT $1",
            columns()
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(change_from_row).collect()
    }

    /// The end of an attempt to apply a change. `Ready` hands the change's plan and expiry to
    /// the request in the same transaction as the audit event; when the request has left
    /// `ready` meanwhile (it expired), the change fails instead.
    pub async fn finish_namespace_change(
        &self,
        change: &ChangeRow,
        outcome: ProvisionOutcome,
        event: impl FnOnce(ChangeState, Option<&str>) -> NewEvent,
    ) -> Result<ChangeState, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE namespace_changes SET attempts = attempts + 1 WHERE id = $1")
            .bind(&change.id)
            .execute(&mut *tx)
            .await?;
        let (state, error) = match outcome {
            ProvisionOutcome::Ready => {
                let plan = serde_json::to_value(&change.plan)
                    .map_err(|e| StoreError::Corrupt(format!("change plan: {e}")))?;
                let taken = sqlx::query(
                    "UPDATE namespace_requests r SET plan = $2, expires_at = c.expires_at, \
                       updated_at = now(), expiry_warned_days = CASE \
                         WHEN r.expires_at IS DISTINCT FROM c.expires_at THEN NULL \
                         ELSE r.expiry_warned_days END \
                     FROM namespace_changes c \
                     WHERE r.id = $1 AND c.id = $3 AND r.state = 'ready'",
                )
                .bind(&change.request_id)
                .bind(plan)
                .bind(&change.id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                let (state, error) = if taken {
                    (ChangeState::Applied, None)
                } else {
                    (
                        ChangeState::Failed,
                        Some("the namespace expired before the change was applied".to_owned()),
                    )
                };
                sqlx::query(
                    "UPDATE namespace_changes SET state = $2, last_error = $3, updated_at = now() \
                     WHERE id = $1",
                )
                .bind(&change.id)
                .bind(state.as_str())
                .bind(&error)
                .execute(&mut *tx)
                .await?;
                (state, error)
            }
            ProvisionOutcome::Retry {
                error,
                retry_in_secs,
            } => {
                sqlx::query(
                    "UPDATE namespace_changes SET last_error = $2, updated_at = now(), \
                       next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
                )
                .bind(&change.id)
                .bind(error)
                .bind(retry_in_secs)
                .execute(&mut *tx)
                .await?;
                // Retries are not audited; the final outcome is.
                tx.commit().await?;
                return Ok(ChangeState::Approved);
            }
            ProvisionOutcome::Failed { error } => {
                sqlx::query(
                    "UPDATE namespace_changes SET state = 'failed', last_error = $2, \
                       updated_at = now() WHERE id = $1",
                )
                .bind(&change.id)
                .bind(&error)
                .execute(&mut *tx)
                .await?;
                (ChangeState::Failed, Some(error))
            }
        };
        super::audit::append(&mut tx, self.audit_key(), &event(state, error.as_deref())).await?;
        tx.commit().await?;
        Ok(state)
    }
}
