//! Just-in-time access requests, their reviews and the policy. Every change of a request's
//! state is one transaction with its audit event, guarded by the state it expects, so two
//! replicas (or a reviewer and the revoker) never both move it.

use domain::audit::{Event, NewEvent};
use domain::jit::{Rule, State};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::tenancy::utc;
use super::{Store, StoreError};

/// A request as stored, with its reviews.
#[derive(Clone, Debug)]
pub struct AccessRow {
    pub id: String,
    pub requester_id: String,
    pub requester_name: String,
    pub requester_teams: Vec<String>,
    pub cluster: bool,
    /// The fleet cluster it is for; empty: the home one (requests from before the fleet).
    pub target_cluster: String,
    pub namespaces: Vec<String>,
    pub role: String,
    pub minutes: i32,
    pub reason: String,
    pub ticket: String,
    pub rule: Rule,
    pub break_glass: bool,
    pub extends: Option<String>,
    pub state: State,
    pub created_at: String,
    pub review_by: String,
    pub granted_at: Option<String>,
    pub expires_at: Option<String>,
    /// Unix seconds, for arithmetic.
    pub expires_at_secs: Option<i64>,
    pub revoke_due: bool,
    pub ended_at: Option<String>,
    pub ended_by: Option<String>,
    pub end_comment: Option<String>,
    pub revoke_delay_ms: Option<f64>,
    pub signed_off_by: Option<String>,
    pub signed_off_at: Option<String>,
    pub signoff_comment: Option<String>,
    pub reviews: Vec<ReviewRow>,
}

#[derive(Clone, Debug)]
pub struct ReviewRow {
    pub reviewer_id: String,
    pub reviewer_name: String,
    pub approved: bool,
    pub comment: String,
    pub at: String,
}

/// A request about to be stored.
pub struct NewAccess {
    pub id: String,
    pub requester_id: String,
    pub requester_name: String,
    pub requester_teams: Vec<String>,
    pub cluster: bool,
    pub target_cluster: String,
    pub namespaces: Vec<String>,
    pub role: String,
    pub minutes: u32,
    pub reason: String,
    pub ticket: String,
    pub rule: Rule,
    pub break_glass: bool,
    pub extends: Option<String>,
    /// How long it may wait for review.
    pub review_within_secs: i64,
}

/// What a final approval sets: the grant's time runs from now.
const GRANT_STARTS: &str =
    "state = 'granting', granted_at = now(), expires_at = now() + make_interval(mins => minutes)";

fn columns() -> String {
    format!(
        "id, requester_id, requester_name, requester_teams, cluster, target_cluster, namespaces, \
         role, minutes, \
         reason, ticket, rule, break_glass, extends, state, revoke_due_at IS NOT NULL AS revoke_due, \
         ended_by, end_comment, revoke_delay_ms, signed_off_by, signoff_comment, \
         extract(epoch FROM expires_at)::bigint AS expires_at_secs, \
         {} AS created_at, {} AS review_by, {} AS granted_at, {} AS expires_at, \
         {} AS ended_at, {} AS signed_off_at",
        utc("created_at"),
        utc("review_by"),
        utc("granted_at"),
        utc("expires_at"),
        utc("ended_at"),
        utc("signed_off_at"),
    )
}

fn from_row(row: &PgRow) -> Result<AccessRow, StoreError> {
    let state: String = row.try_get("state")?;
    let rule: serde_json::Value = row.try_get("rule")?;
    Ok(AccessRow {
        id: row.try_get("id")?,
        requester_id: row.try_get("requester_id")?,
        requester_name: row.try_get("requester_name")?,
        requester_teams: row.try_get("requester_teams")?,
        cluster: row.try_get("cluster")?,
        target_cluster: row.try_get("target_cluster")?,
        namespaces: row.try_get("namespaces")?,
        role: row.try_get("role")?,
        minutes: row.try_get("minutes")?,
        reason: row.try_get("reason")?,
        ticket: row.try_get("ticket")?,
        rule: serde_json::from_value(rule)
            .map_err(|e| StoreError::Corrupt(format!("access rule: {e}")))?,
        break_glass: row.try_get("break_glass")?,
        extends: row.try_get("extends")?,
        state: State::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown access state {state:?}")))?,
        created_at: row.try_get("created_at")?,
        review_by: row.try_get("review_by")?,
        granted_at: row.try_get("granted_at")?,
        expires_at: row.try_get("expires_at")?,
        expires_at_secs: row.try_get("expires_at_secs")?,
        revoke_due: row.try_get("revoke_due")?,
        ended_at: row.try_get("ended_at")?,
        ended_by: row.try_get("ended_by")?,
        end_comment: row.try_get("end_comment")?,
        revoke_delay_ms: row.try_get("revoke_delay_ms")?,
        signed_off_by: row.try_get("signed_off_by")?,
        signed_off_at: row.try_get("signed_off_at")?,
        signoff_comment: row.try_get("signoff_comment")?,
        reviews: Vec::new(),
    })
}

/// A review about to be stored.
pub struct NewReview<'a> {
    pub id: &'a str,
    pub reviewer_id: &'a str,
    pub reviewer_name: &'a str,
    pub approved: bool,
    pub comment: &'a str,
    /// How many approvals the decision was made against.
    pub approvals_seen: usize,
    pub final_approval: bool,
}

fn review_from_row(r: &PgRow) -> Result<ReviewRow, sqlx::Error> {
    Ok(ReviewRow {
        reviewer_id: r.try_get("reviewer_id")?,
        reviewer_name: r.try_get("reviewer_name")?,
        approved: r.try_get("approved")?,
        comment: r.try_get("comment")?,
        at: r.try_get("at")?,
    })
}

/// Which requests a list shows.
pub enum AccessFilter<'a> {
    /// Those one user asked for.
    RequestedBy(&'a str),
    /// Everyone's, newest first (SREs and admins).
    All,
}

impl Store {
    /// The saved policy; `None` until an admin saves one.
    pub async fn access_policy(&self) -> Result<Option<Vec<Rule>>, StoreError> {
        let rules: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT rules FROM access_policy")
                .fetch_optional(self.pool())
                .await?;
        rules
            .map(|r| {
                serde_json::from_value(r)
                    .map_err(|e| StoreError::Corrupt(format!("access policy: {e}")))
            })
            .transpose()
    }

    /// Saves the policy with its audit event, in one transaction. `judge` sees the policy as it
    /// is (none saved yet: `None`), with the row locked, and answers the audit event or refuses.
    pub async fn save_access_policy<E: From<StoreError>>(
        &self,
        rules: &[Rule],
        by: &str,
        judge: impl FnOnce(Option<Vec<Rule>>) -> Result<NewEvent, E>,
    ) -> Result<(), E> {
        let json = serde_json::to_value(rules)
            .map_err(|e| StoreError::Corrupt(format!("access policy: {e}")))?;
        let mut tx = self.pool().begin().await.map_err(StoreError::from)?;
        // The row may not exist yet: the advisory lock stands in for it.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('berth.access_policy'))")
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let current: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT rules FROM access_policy")
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        let current = current
            .map(|r| {
                serde_json::from_value(r)
                    .map_err(|e| StoreError::Corrupt(format!("access policy: {e}")))
            })
            .transpose()?;
        let event = judge(current)?;
        sqlx::query(
            "INSERT INTO access_policy (rules, updated_by) VALUES ($1, $2) \
             ON CONFLICT (one) DO UPDATE SET rules = $1, updated_by = $2, updated_at = now()",
        )
        .bind(json)
        .bind(by)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        super::audit::append(&mut tx, self.audit_key(), &event).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    pub async fn create_access_request(
        &self,
        new: &NewAccess,
        event: &NewEvent,
    ) -> Result<AccessRow, StoreError> {
        let rule = serde_json::to_value(&new.rule)
            .map_err(|e| StoreError::Corrupt(format!("access rule: {e}")))?;
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO access_requests (id, requester_id, requester_name, requester_teams, \
               cluster, namespaces, role, minutes, reason, ticket, rule, break_glass, extends, \
               state, review_by, target_cluster) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'pending', \
               now() + make_interval(secs => $14), $15)",
        )
        .bind(&new.id)
        .bind(&new.requester_id)
        .bind(&new.requester_name)
        .bind(&new.requester_teams)
        .bind(new.cluster)
        .bind(&new.namespaces)
        .bind(&new.role)
        .bind(i32::try_from(new.minutes).unwrap_or(i32::MAX))
        .bind(&new.reason)
        .bind(&new.ticket)
        .bind(rule)
        .bind(new.break_glass)
        .bind(&new.extends)
        .bind(new.review_within_secs as f64)
        .bind(&new.target_cluster)
        .execute(&mut *tx)
        .await?;
        super::audit::append(&mut tx, self.audit_key(), event).await?;
        tx.commit().await?;
        self.access_request(&new.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a stored request vanished".to_owned()))
    }

    pub async fn access_request(&self, id: &str) -> Result<Option<AccessRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM access_requests WHERE id = $1",
            columns()
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut request = from_row(&row)?;
        let reviews = sqlx::query(&format!(
            "SELECT reviewer_id, reviewer_name, approved, comment, {} AS at \
             FROM access_reviews WHERE request_id = $1 ORDER BY at",
            utc("at")
        ))
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        request.reviews = reviews
            .iter()
            .map(review_from_row)
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(Some(request))
    }

    /// Requests newest first (open ones before ended ones), with their reviews.
    pub async fn access_requests(
        &self,
        filter: AccessFilter<'_>,
        limit: i64,
    ) -> Result<Vec<AccessRow>, StoreError> {
        let (clause, who) = match filter {
            AccessFilter::RequestedBy(user) => ("requester_id = $1", Some(user)),
            AccessFilter::All => ("$1::text IS NULL", None),
        };
        let rows = sqlx::query(&format!(
            "SELECT {} FROM access_requests WHERE {clause} \
             ORDER BY state IN ('pending', 'granting', 'active') DESC, access_requests.created_at DESC, id \
             LIMIT $2",
            columns()
        ))
        .bind(who)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut requests: Vec<AccessRow> = rows.iter().map(from_row).collect::<Result<_, _>>()?;
        // Every listed request's reviews in one query.
        let ids: Vec<String> = requests.iter().map(|r| r.id.clone()).collect();
        let reviews = sqlx::query(&format!(
            "SELECT request_id, reviewer_id, reviewer_name, approved, comment, {} AS at \
             FROM access_reviews WHERE request_id = ANY($1) ORDER BY at",
            utc("at")
        ))
        .bind(&ids)
        .fetch_all(self.pool())
        .await?;
        let mut by_request: std::collections::HashMap<String, Vec<ReviewRow>> =
            std::collections::HashMap::new();
        for r in &reviews {
            by_request
                .entry(r.try_get("request_id")?)
                .or_default()
                .push(review_from_row(r)?);
        }
        for request in &mut requests {
            request.reviews = by_request.remove(&request.id).unwrap_or_default();
        }
        Ok(requests)
    }

    /// Records a review. If the request moved since the reviewer's decision was made
    /// (`approvals_seen`), nothing is written (`Conflict`). A final approval moves the request
    /// to `granting`; a denial to `denied`.
    pub async fn review_access(
        &self,
        r: &NewReview<'_>,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let (id, approved, comment) = (r.id, r.approved, r.comment);
        let (approvals_seen, final_approval) = (r.approvals_seen, r.final_approval);
        let reviewer = (r.reviewer_id, r.reviewer_name);
        let mut tx = self.pool().begin().await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM access_requests WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let approvals: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM access_reviews WHERE request_id = $1 AND approved",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if state.as_deref() != Some("pending") || approvals != approvals_seen as i64 {
            return Err(StoreError::Conflict(format!(
                "request {id} changed while you reviewed it ({}); reload it",
                state.as_deref().unwrap_or("gone")
            )));
        }
        let inserted = sqlx::query(
            "INSERT INTO access_reviews (request_id, reviewer_id, reviewer_name, approved, comment) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(reviewer.0)
        .bind(reviewer.1)
        .bind(approved)
        .bind(comment)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Err(StoreError::Conflict(
                    "you reviewed this request already".to_owned(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        if !approved {
            sqlx::query(
                "UPDATE access_requests SET state = 'denied', ended_at = now(), ended_by = $2, \
                 end_comment = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(reviewer.1)
            .bind(comment)
            .execute(&mut *tx)
            .await?;
        } else if final_approval {
            sqlx::query(&format!(
                "UPDATE access_requests SET {GRANT_STARTS} WHERE id = $1"
            ))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        super::audit::append(&mut tx, self.audit_key(), event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A break-glass request approved by its own requester: straight to `granting`, flagged.
    pub async fn self_approve_access(&self, id: &str, event: &NewEvent) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE access_requests SET {GRANT_STARTS} \
             WHERE id = $1 AND state = 'pending' AND break_glass"
        );
        let approve = sqlx::query(&sql).bind(id);
        if !self.guarded_change(approve, event).await? {
            return Err(StoreError::Conflict(format!(
                "request {id} is no longer pending"
            )));
        }
        Ok(())
    }

    /// The bindings exist. `false` when it was no longer `granting` (another replica finished
    /// it, or it was revoked meanwhile).
    pub async fn activate_access(&self, id: &str, event: &NewEvent) -> Result<bool, StoreError> {
        let activate = sqlx::query(
            "UPDATE access_requests SET state = 'active' \
             WHERE id = $1 AND state = 'granting' AND revoke_due_at IS NULL AND expires_at > now()",
        )
        .bind(id);
        self.guarded_change(activate, event).await
    }

    /// Marks an active grant for revocation now (the revoker and the caller both act on it).
    /// `false` when it is not active.
    pub async fn mark_revoke_due(
        &self,
        id: &str,
        by: &str,
        comment: &str,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        let mark = sqlx::query(
            "UPDATE access_requests SET revoke_due_at = coalesce(revoke_due_at, now()), \
               ended_by = coalesce(ended_by, $2), end_comment = coalesce(end_comment, $3) \
             WHERE id = $1 AND state IN ('active', 'granting')",
        )
        .bind(id)
        .bind(by)
        .bind(comment);
        self.guarded_change(mark, event).await
    }

    /// Ids of every grant that is active or being granted (for "revoke all").
    pub async fn open_grants(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM access_requests WHERE state IN ('active', 'granting') ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Grants whose bindings must go now: active and past their end or marked for revocation;
    /// also grants marked while still being granted.
    pub async fn due_revocations(&self) -> Result<Vec<AccessRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM access_requests \
             WHERE state IN ('active', 'granting') \
               AND (expires_at <= now() OR revoke_due_at <= now()) \
             ORDER BY coalesce(revoke_due_at, expires_at)",
            columns()
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// How long until the next open grant falls due (zero or less when one is due now).
    pub async fn next_due_in(&self) -> Result<Option<std::time::Duration>, StoreError> {
        let ms: Option<f64> = sqlx::query_scalar(
            "SELECT (extract(epoch FROM min(least(expires_at, coalesce(revoke_due_at, expires_at))) - now()) * 1000)::float8 \
             FROM access_requests WHERE state IN ('active', 'granting')",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(ms.map(|ms| std::time::Duration::from_secs_f64(ms.max(0.0) / 1000.0)))
    }

    /// Grants approved but not yet made (a crash between approval and bindings), older than
    /// `secs`, so the revoker finishes them.
    pub async fn stuck_grants(&self, secs: i64) -> Result<Vec<AccessRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM access_requests \
             WHERE state = 'granting' AND revoke_due_at IS NULL AND expires_at > now() \
               AND granted_at < now() - make_interval(secs => $1)",
            columns()
        ))
        .bind(secs as f64)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The bindings are gone: the grant ends as `expired` (its time ran out) or `revoked`
    /// (ended early), with the delay between due and done. `None` when another replica ended
    /// it first — no second audit event.
    pub async fn finish_revocation(
        &self,
        id: &str,
        event: impl FnOnce(State, f64) -> NewEvent,
    ) -> Result<Option<(State, f64)>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let row: Option<(bool, f64)> = sqlx::query_as(
            "UPDATE access_requests SET \
               state = CASE WHEN revoke_due_at < expires_at THEN 'revoked' ELSE 'expired' END, \
               ended_at = now(), \
               revoke_delay_ms = greatest(0, extract(epoch FROM now() - \
                   least(coalesce(revoke_due_at, expires_at), expires_at)) * 1000) \
             WHERE id = $1 AND state IN ('active', 'granting') \
             RETURNING state = 'revoked', revoke_delay_ms",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((revoked, delay)) = row else {
            return Ok(None);
        };
        let state = if revoked {
            State::Revoked
        } else {
            State::Expired
        };
        super::audit::append(&mut tx, self.audit_key(), &event(state, delay)).await?;
        tx.commit().await?;
        Ok(Some((state, delay)))
    }

    /// Pending requests nobody reviewed in time end as `expired`, each with its audit event.
    pub async fn lapse_unreviewed(
        &self,
        event: impl Fn(&str) -> NewEvent,
    ) -> Result<Vec<String>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM access_requests WHERE state = 'pending' AND review_by <= now()",
        )
        .fetch_all(self.pool())
        .await?;
        let mut lapsed = Vec::new();
        for id in ids {
            let mut tx = self.pool().begin().await?;
            let done = sqlx::query(
                "UPDATE access_requests SET state = 'expired', ended_at = now(), \
                   end_comment = 'nobody reviewed it in time' \
                 WHERE id = $1 AND state = 'pending' AND review_by <= now()",
            )
            .bind(&id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 1 {
                super::audit::append(&mut tx, self.audit_key(), &event(&id)).await?;
                tx.commit().await?;
                lapsed.push(id);
            }
        }
        Ok(lapsed)
    }

    /// An SRE signs off a break-glass grant after the fact.
    pub async fn sign_off_access(
        &self,
        id: &str,
        by: &str,
        comment: &str,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let sign = sqlx::query(
            "UPDATE access_requests SET signed_off_by = $2, signed_off_at = now(), signoff_comment = $3 \
             WHERE id = $1 AND break_glass AND signed_off_by IS NULL AND state <> 'pending'",
        )
        .bind(id)
        .bind(by)
        .bind(comment);
        if !self.guarded_change(sign, event).await? {
            return Err(StoreError::Conflict(format!(
                "request {id} has no open break-glass review"
            )));
        }
        Ok(())
    }

    /// Takes back a request nobody decided yet, as its requester; `false` when it is not
    /// (or no longer) pending or not theirs.
    pub async fn withdraw_access(
        &self,
        id: &str,
        requester_id: &str,
        by: &str,
        comment: &str,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        let withdraw = sqlx::query(
            "UPDATE access_requests SET state = 'withdrawn', ended_at = now(), ended_by = $3, \
               end_comment = $4 \
             WHERE id = $1 AND requester_id = $2 AND state = 'pending'",
        )
        .bind(id)
        .bind(requester_id)
        .bind(by)
        .bind(comment);
        self.guarded_change(withdraw, event).await
    }

    /// Runs a state change its WHERE clause guards and, when it changed the row, appends its
    /// audit event in the same transaction. Whether it changed.
    async fn guarded_change(
        &self,
        change: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        if change.execute(&mut *tx).await?.rows_affected() != 1 {
            return Ok(false);
        }
        super::audit::append(&mut tx, self.audit_key(), event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Revocation delays (ms) of every grant ended so far, for the figures.
    pub async fn revoke_delays(&self) -> Result<Vec<f64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT revoke_delay_ms FROM access_requests WHERE revoke_delay_ms IS NOT NULL \
             ORDER BY revoke_delay_ms",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// The audit events about one access request, oldest first.
    pub async fn access_events(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        self.events_about("AccessRequest", id).await
    }
}
