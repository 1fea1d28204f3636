//! Extensions and quota changes of provisioned namespaces: asking, deciding, listing. Applying
//! is the provisioner's.

use app::failure::Failure;
use domain::audit::{NewEvent, Outcome};
use domain::authz::{Action, Decision, Target, decide};
use domain::change::{self, ChangeDraft, ChangeKind, ChangeOutcome, ChangeState, ChangeView};
use domain::identity::{CurrentUser, RequestOrigin};
use domain::page::{Cursor, Page};
use domain::tenancy::{FieldError, Lifetime, Plan, RequestState};

use super::{ServiceError, Services};
use crate::store::StoreError;
use crate::store::change::{ChangeRow, NewChange};
use crate::store::tenancy::Decider;

fn new_change_id() -> String {
    format!("nc-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// Who may ask for and who may decide a change of this kind.
fn actions(kind: ChangeKind) -> (Action, Action) {
    match kind {
        ChangeKind::Extend => (Action::RequestNamespace, Action::DecideNamespaceRequest),
        ChangeKind::Quota => (Action::RequestQuotaChange, Action::DecideQuotaChange),
    }
}

fn field(field: &str, message: impl Into<String>) -> ChangeOutcome {
    ChangeOutcome::Invalid(vec![FieldError {
        field: field.to_owned(),
        message: message.into(),
    }])
}

/// Unix seconds of an RFC 3339 timestamp Berth wrote.
fn seconds(at: &str) -> Option<i64> {
    at.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

fn rfc3339(seconds: i64) -> Option<String> {
    jiff::Timestamp::from_second(seconds)
        .ok()
        .map(|t| t.to_string())
}

/// What a change does to a namespace, for its audit events.
pub fn change_detail(kind: ChangeKind, before: &Plan, after: &Plan) -> serde_json::Value {
    serde_json::json!({
        "kind": kind.as_str(),
        "summary": change::summary(kind, before, after),
        "tier": { "before": before.draft.tier, "after": after.draft.tier },
        "expires_at": { "before": before.expires_at, "after": after.expires_at },
        "quota": change::quota_deltas(&before.tier, &after.tier),
    })
}

impl Services {
    /// Stores a change with its audit event, approved at once when policy allows.
    pub async fn request_namespace_change(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: ChangeDraft,
    ) -> Result<ChangeOutcome, ServiceError> {
        let Some(request) = self.store().namespace_request(&draft.request_id).await? else {
            return Err(ServiceError::NotFound(format!(
                "no namespace request {}",
                draft.request_id
            )));
        };
        let actor = user.actor();
        let target = Target::team(&request.team);
        // Whoever may not see the namespace learns nothing more about it than a 403.
        if let Decision::Deny(why) = decide(&actor, Action::ViewNamespace, &target) {
            return Err(ServiceError::Forbidden(why));
        }
        if request.state != RequestState::Ready {
            return Ok(field(
                "kind",
                format!(
                    "namespace {} is {}; only a ready namespace can change",
                    request.name,
                    request.state.as_str()
                ),
            ));
        }
        let tiers = self.store().tiers().await?;
        let cluster = request
            .plan
            .draft
            .cluster_or(self.fleet().home().name())
            .to_owned();
        let (kind, mut after) = match change::plan_change(&draft, &request.plan, &tiers, &cluster) {
            Ok(planned) => planned,
            Err(errors) => return Ok(ChangeOutcome::Invalid(errors)),
        };
        let (ask, approve) = actions(kind);
        if let Decision::Deny(why) = decide(&actor, ask, &target) {
            return Ok(field("kind", why));
        }
        if kind == ChangeKind::Extend {
            let lifetime = Lifetime::parse(&after.draft.lifetime)
                .ok_or_else(|| ServiceError::BadInput("unknown lifetime".to_owned()))?;
            let now = jiff::Timestamp::now().as_second();
            let current = request.plan.expires_at.as_deref().and_then(seconds);
            after.expires_at = change::extended_expiry(current, now, lifetime).and_then(rfc3339);
        }
        let (state, decided_by, decision_reason) =
            if !change::needs_approval(kind, &request.plan, &after) {
                (
                    ChangeState::Approved,
                    Some(Decider::policy()),
                    Some("policy grants it without approval".to_owned()),
                )
            } else if decide(&actor, approve, &target).allowed() {
                (
                    ChangeState::Approved,
                    Some(Decider::of(user)),
                    Some(format!("requested by a manager of team {}", request.team)),
                )
            } else {
                (ChangeState::Pending, None, None)
            };
        let id = new_change_id();
        let mut audit = namespace_event(
            user,
            origin,
            &cluster,
            &request.name,
            "namespace.change.request",
        );
        audit.before = Some(
            serde_json::json!({ "tier": request.plan.draft.tier, "expires_at": request.plan.expires_at }),
        );
        let mut detail = change_detail(kind, &request.plan, &after);
        detail["change"] = serde_json::json!(id);
        detail["state"] = serde_json::json!(state.as_str());
        detail["reason"] = serde_json::json!(draft.reason.trim());
        audit.after = Some(detail);
        let stored = self
            .store()
            .create_namespace_change(
                NewChange {
                    id,
                    request_id: request.id.clone(),
                    kind,
                    state,
                    requester_id: user.id.clone(),
                    requester_name: user.display_name.clone(),
                    reason: draft.reason.trim().to_owned(),
                    expires_at: after.expires_at.as_deref().and_then(seconds),
                    summary: change::summary(kind, &request.plan, &after),
                    quota: change::quota_deltas(&request.plan.tier, &after.tier),
                    plan: after,
                    decided_by,
                    decision_reason,
                },
                audit,
            )
            .await;
        match stored {
            Ok(row) => {
                if row.state == ChangeState::Approved {
                    self.wake_provisioner();
                }
                Ok(ChangeOutcome::Submitted {
                    id: row.id,
                    state: row.state,
                })
            }
            Err(StoreError::Conflict(message)) => Ok(field("kind", message)),
            Err(other) => Err(other.into()),
        }
    }

    /// Changes `user` may see: every one for SREs and admins, else their teams' and their own.
    pub async fn namespace_changes(
        &self,
        user: &CurrentUser,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<Page<ChangeView>, ServiceError> {
        let rows = self
            .store()
            .namespace_changes(super::request_scope(user), &user.id, after, limit + 1)
            .await?;
        let actor = user.actor();
        let home = self.fleet().home().name().to_owned();
        Ok(Page::of(rows, limit, |row| row.cursor.clone()).map(|row| {
            let can_decide = row.state == ChangeState::Pending
                && row.requester_id != user.id
                && decide(&actor, actions(row.kind).1, &Target::team(&row.team)).allowed();
            view(row, can_decide, &home)
        }))
    }

    /// Approves or denies a pending change. Nobody decides their own request: a manager's own
    /// request is approved when it is made.
    pub async fn decide_namespace_change(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<ChangeView, ServiceError> {
        let reason =
            domain::tenancy::decision_reason(reason, approve).map_err(ServiceError::BadInput)?;
        let reason = reason.as_str();
        let row = self
            .store()
            .namespace_change(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no namespace change {id}")))?;
        if let Decision::Deny(why) =
            decide(&user.actor(), actions(row.kind).1, &Target::team(&row.team))
        {
            return Err(ServiceError::Forbidden(why));
        }
        if row.requester_id == user.id {
            return Err(ServiceError::Forbidden(
                "you cannot decide your own change".to_owned(),
            ));
        }
        let action = if approve {
            "namespace.change.approve"
        } else {
            "namespace.change.deny"
        };
        let mut audit = namespace_event(
            user,
            origin,
            row.plan.draft.cluster_or(self.fleet().home().name()),
            &row.namespace,
            action,
        );
        audit.before = Some(serde_json::json!({ "change": row.id, "state": "pending" }));
        let mut detail = serde_json::json!({
            "kind": row.kind.as_str(),
            "summary": row.summary,
            "quota": row.quota,
        });
        detail["change"] = serde_json::json!(row.id);
        detail["state"] = serde_json::json!(if approve { "approved" } else { "denied" });
        detail["reason"] = serde_json::json!(reason);
        audit.after = Some(detail);
        let decided = self
            .store()
            .decide_namespace_change(id, approve, &Decider::of(user), reason, audit)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) => ServiceError::Conflict(m),
                other => other.into(),
            })?;
        if approve {
            self.wake_provisioner();
        }
        Ok(view(decided, false, self.fleet().home().name()))
    }
}

/// An event about a namespace on `cluster` (its fleet name; a name is unique per cluster).
fn namespace_event(
    user: &CurrentUser,
    origin: &RequestOrigin,
    cluster: &str,
    namespace: &str,
    action: &str,
) -> NewEvent {
    let mut audit = NewEvent::by(Some(user), origin, action, Outcome::Success).on_cluster(cluster);
    audit.target_kind = "Namespace".to_owned();
    audit.target_namespace = namespace.to_owned();
    audit.target_name = namespace.to_owned();
    audit
}

/// A change as pages show it; `home` names the cluster of namespaces from before the fleet.
fn view(row: ChangeRow, can_decide: bool, home: &str) -> ChangeView {
    ChangeView {
        cluster: row.plan.draft.cluster_or(home).to_owned(),
        id: row.id,
        request_id: row.request_id,
        namespace: row.namespace,
        team: row.team,
        kind: row.kind,
        state: row.state,
        requester: row.requester_name,
        reason: row.reason,
        summary: row.summary,
        quota: row.quota,
        // People by name; rows from before names were kept, by id.
        decided_by: row.decided_by_name.or(row.decided_by),
        decision_reason: row.decision_reason,
        last_error: row.last_error,
        created_at: row.created_at,
        can_decide,
    }
}

#[async_trait::async_trait]
impl app::backend::ChangeBackend for Services {
    async fn request_namespace_change(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: ChangeDraft,
    ) -> Result<ChangeOutcome, Failure> {
        Services::request_namespace_change(self, user, origin, draft)
            .await
            .map_err(Failure::from)
    }

    async fn namespace_changes(&self, user: &CurrentUser) -> Result<Vec<ChangeView>, Failure> {
        // The page shows the newest; the REST list pages on with a cursor.
        Services::namespace_changes(self, user, None, domain::page::MAX_LIMIT)
            .await
            .map(|page| page.items)
            .map_err(Failure::from)
    }

    async fn decide_namespace_change(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
        approve: bool,
        reason: String,
    ) -> Result<ChangeView, Failure> {
        Services::decide_namespace_change(self, user, origin, &id, approve, &reason)
            .await
            .map_err(Failure::from)
    }
}
