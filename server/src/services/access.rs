//! Just-in-time access: requests held to the admin's policy, reviews by SREs, grants to a
//! separate identity (`jit:<request>:<user>` in `berth:jit`) and their end — at expiry by the
//! revoker, early by the requester, an SRE or an admin's "revoke all". Every step, refused
//! ones included, is audited against the request.

use app::failure::Failure;
use base64::Engine;
use domain::audit::{NewEvent, Outcome};
use domain::authz::{Action, Decision, Role, Target, decide};
use domain::identity::{CurrentUser, RequestOrigin};
use domain::jit::{
    self, AccessDetail, AccessOverview, AccessView, Approval, Draft, Review, ReviewView, Rule,
    State,
};
use domain::kubeconfig::{self, ClientCertificate};
use domain::version::Precondition;
use kube::runtime::reflector::ObjectRef;
use serde_json::json;

use super::grants::{grant, revoke};
use super::kubeconfig::KubeconfigFile;
use super::{ServiceError, Services, now_unix};
use crate::store::access::{AccessFilter, AccessRow, NewAccess, NewReview};

/// How many requests a list shows.
const LIST_LIMIT: i64 = 200;

fn reviewer(user: &CurrentUser) -> bool {
    user.roles
        .iter()
        .any(|r| matches!(r, Role::Sre | Role::Admin))
}

fn admin(user: &CurrentUser) -> bool {
    user.roles.contains(&Role::Admin)
}

/// An audit event by `user` about request `id`.
fn about(
    user: &CurrentUser,
    origin: &RequestOrigin,
    id: &str,
    action: &str,
    outcome: Outcome,
) -> NewEvent {
    NewEvent::by(Some(user), origin, action, outcome).on("AccessRequest", "", id)
}

fn new_id() -> String {
    format!("ar-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

impl Services {
    /// The policy in force: the admin's, else Berth's default.
    pub async fn access_policy(&self) -> Result<Vec<Rule>, ServiceError> {
        Ok(self
            .store()
            .access_policy()
            .await?
            .unwrap_or_else(jit::default_policy))
    }

    /// A request's cluster by name: requests from before the fleet name none, and were the
    /// home cluster's.
    fn access_cluster_name(&self, target: &str) -> String {
        if target.is_empty() {
            self.fleet().home().name().to_owned()
        } else {
            target.to_owned()
        }
    }

    /// The cluster a request's grant lives on; one that left the fleet cannot be acted on.
    fn access_cluster(&self, row: &AccessRow) -> Result<crate::cluster::Cluster, ServiceError> {
        self.fleet()
            .cluster_named(&row.target_cluster)
            .ok_or_else(|| {
                ServiceError::Cluster(format!(
                    "{} is on cluster {}, which is not in the fleet now",
                    row.id, row.target_cluster
                ))
            })
    }

    fn access_view(&self, user: &CurrentUser, row: &AccessRow) -> AccessView {
        let actor = user.actor();
        let own = row.requester_id == user.id;
        let approved_by: Vec<String> = row
            .reviews
            .iter()
            .filter(|r| r.approved)
            .map(|r| r.reviewer_id.clone())
            .collect();
        let can_review = check_review(row, &approved_by, &actor).is_ok();
        let left = row
            .expires_at_secs
            .map(|at| at - now_unix())
            .filter(|_| row.state == State::Active);
        AccessView {
            id: row.id.clone(),
            requester_id: row.requester_id.clone(),
            requester: row.requester_name.clone(),
            target_cluster: self.access_cluster_name(&row.target_cluster),
            scope: if row.cluster {
                "the whole cluster".to_owned()
            } else {
                row.namespaces.join(", ")
            },
            cluster: row.cluster,
            namespaces: row.namespaces.clone(),
            role: row.role.clone(),
            duration: jit::describe_minutes(u32::try_from(row.minutes).unwrap_or(0)),
            reason: row.reason.clone(),
            ticket: row.ticket.clone(),
            break_glass: row.break_glass,
            extends: row.extends.clone(),
            state: row.state,
            created_at: row.created_at.clone(),
            review_by: row.review_by.clone(),
            granted_at: row.granted_at.clone(),
            expires_at: row.expires_at.clone(),
            seconds_left: left.map(|l| l.max(0)),
            approvals_needed: row.rule.approvals,
            reviews: row
                .reviews
                .iter()
                .map(|r| ReviewView {
                    reviewer: r.reviewer_name.clone(),
                    approved: r.approved,
                    comment: r.comment.clone(),
                    at: r.at.clone(),
                })
                .collect(),
            ended_at: row.ended_at.clone(),
            ended_by: row.ended_by.clone(),
            end_comment: row.end_comment.clone(),
            revoke_delay_ms: row.revoke_delay_ms,
            signed_off_by: row.signed_off_by.clone(),
            signoff_comment: row.signoff_comment.clone(),
            can_review,
            can_revoke: matches!(row.state, State::Active | State::Granting)
                && !row.revoke_due
                && decide(
                    &actor,
                    Action::RevokeAccess,
                    &Target::requested_by(&row.requester_id),
                )
                .allowed(),
            can_download: own && row.state == State::Active,
            can_extend: own && row.state == State::Active,
            can_sign_off: row.break_glass
                && row.signed_off_by.is_none()
                && !matches!(row.state, State::Pending | State::Denied | State::Withdrawn)
                && !own
                && reviewer(user),
            can_withdraw: own && row.state == State::Pending,
        }
    }

    pub async fn access_overview(
        &self,
        user: &CurrentUser,
    ) -> Result<AccessOverview, ServiceError> {
        let rules = self.access_policy().await?;
        let mine_rows = self
            .store()
            .access_requests(AccessFilter::RequestedBy(&user.id), LIST_LIMIT)
            .await?;
        let mine = mine_rows
            .iter()
            .map(|row| self.access_view(user, row))
            .collect();
        let (mut queue, mut active) = (Vec::new(), Vec::new());
        if reviewer(user) {
            for row in self
                .store()
                .access_requests(AccessFilter::All, LIST_LIMIT)
                .await?
                .iter()
                .filter(|r| r.requester_id != user.id)
            {
                let wanted = row.state == State::Pending
                    || row.state == State::Active
                    || row.state == State::Granting
                    || (row.break_glass
                        && row.signed_off_by.is_none()
                        && row.state != State::Denied);
                if !wanted {
                    continue;
                }
                let view = self.access_view(user, row);
                if row.state == State::Pending {
                    queue.push(view);
                } else {
                    active.push(view);
                }
            }
        }
        let break_glass_roles = jit::break_glass_roles(&rules, &user.actor());
        Ok(AccessOverview {
            clusters: self
                .fleet()
                .members()
                .iter()
                .map(|m| m.name().to_owned())
                .collect(),
            break_glass_roles,
            rules,
            mine,
            queue,
            active,
            reviewer: reviewer(user),
            admin: admin(user),
        })
    }

    async fn find_access(&self, id: &str) -> Result<AccessRow, ServiceError> {
        self.store()
            .access_request(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no access request {id}")))
    }

    /// A refusal (bad input, not allowed, too late) is audited against the request; other
    /// errors pass as they are.
    async fn audited<T>(
        &self,
        result: Result<T, ServiceError>,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: &str,
        action: &str,
    ) -> Result<T, ServiceError> {
        match result {
            Err(
                err @ (ServiceError::BadInput(_)
                | ServiceError::Forbidden(_)
                | ServiceError::Conflict(_)),
            ) => Err(self.refused(user, origin, id, action, err).await),
            other => other,
        }
    }

    /// A request's page: the request and its own audit trail.
    pub async fn access_detail(
        &self,
        user: &CurrentUser,
        id: &str,
    ) -> Result<AccessDetail, ServiceError> {
        let row = self.find_access(id).await?;
        if let Decision::Deny(why) = decide(
            &user.actor(),
            Action::ViewAccessRequest,
            &Target::requested_by(&row.requester_id),
        ) {
            return Err(ServiceError::Forbidden(why));
        }
        Ok(AccessDetail {
            request: self.access_view(user, &row),
            events: self.store().access_events(id).await?,
        })
    }

    /// Records a refused attempt and returns the refusal.
    async fn refused(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: &str,
        action: &str,
        error: ServiceError,
    ) -> ServiceError {
        let mut e = about(user, origin, id, action, Outcome::Denied);
        e.after = Some(json!({ "refused": error.to_string() }));
        if let Err(err) = self.store().record(&e).await {
            tracing::warn!(error = %err, "recording a refused access attempt failed");
        }
        error
    }

    /// Files a request held to the policy; break-glass requests (where policy allows) are
    /// approved by their requester at once and flagged for review.
    pub async fn request_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: Draft,
        extends: Option<String>,
    ) -> Result<AccessView, ServiceError> {
        let attempt = extends.clone().unwrap_or_default();
        let result = self.file_request(user, origin, draft, extends).await;
        self.audited(result, user, origin, &attempt, "access.request")
            .await
    }

    async fn file_request(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: Draft,
        extends: Option<String>,
    ) -> Result<AccessView, ServiceError> {
        if let Decision::Deny(why) =
            decide(&user.actor(), Action::RequestAccess, &Target::everything())
        {
            return Err(ServiceError::Forbidden(why));
        }
        let policy = self.access_policy().await?;
        // An extension stays on its grant's cluster; otherwise the one asked for (the home
        // cluster when none is named).
        let prior =
            match &extends {
                Some(previous) => Some(self.store().access_request(previous).await?.ok_or_else(
                    || ServiceError::NotFound(format!("no access request {previous}")),
                )?),
                None => None,
            };
        let target = match &prior {
            Some(prior) => self.access_cluster_name(&prior.target_cluster),
            None => self.access_cluster_name(&draft.target_cluster),
        };
        let member = self.fleet().get(&target).ok_or_else(|| {
            ServiceError::BadInput(format!(
                "unknown cluster {target:?}: one of {}",
                self.fleet().names().join(", ")
            ))
        })?;
        let mut protected = self.access_config().protected_namespaces.clone();
        // Berth's own namespace: its ServiceAccount can bind roles, so admin there is admin
        // everywhere.
        protected.extend(member.cluster.own_namespace().map(str::to_owned));
        let actor = user.actor();
        let asker = jit::Asker {
            actor: &actor,
            protected: &protected,
        };
        let checked = jit::check(&draft, &policy, &asker)
            .map_err(|p| ServiceError::BadInput(p.join("; ")))?;
        if let jit::Scope::Namespaces(list) = &checked.scope {
            let caches = self.cached_on(&member).await?;
            let mut missing: Vec<&str> = Vec::new();
            for n in list {
                // The cache may not have seen a namespace made a moment ago: ask the cluster.
                if caches.namespaces.get(&ObjectRef::new(n)).is_none()
                    && member
                        .cluster
                        .namespace(n)
                        .await
                        .map_err(|e| ServiceError::Cluster(e.to_string()))?
                        .is_none()
                {
                    missing.push(n);
                }
            }
            if !missing.is_empty() {
                return Err(ServiceError::BadInput(format!(
                    "no namespace {} on cluster {target}",
                    missing.join(", ")
                )));
            }
        }
        if let (Some(previous), Some(prior)) = (&extends, &prior)
            && (prior.requester_id != user.id || prior.state != State::Active)
        {
            return Err(ServiceError::Conflict(format!(
                "only an active grant of your own can be extended; {previous} is {}",
                prior.state.as_str()
            )));
        }
        let id = new_id();
        let (cluster, namespaces) = match &checked.scope {
            jit::Scope::Cluster => (true, Vec::new()),
            jit::Scope::Namespaces(list) => (false, list.clone()),
        };
        let new = NewAccess {
            id: id.clone(),
            requester_id: user.id.clone(),
            requester_name: user.display_name.clone(),
            requester_teams: user.teams.clone(),
            cluster,
            target_cluster: target.clone(),
            namespaces: namespaces.clone(),
            role: checked.role.clone(),
            minutes: checked.minutes,
            reason: checked.reason.clone(),
            ticket: checked.ticket.clone(),
            rule: checked.rule.clone(),
            break_glass: checked.break_glass,
            extends: extends.clone(),
            review_within_secs: i64::try_from(self.access_config().review_within.as_secs())
                .unwrap_or(3600),
        };
        let mut e = about(
            user,
            origin,
            &id,
            if extends.is_some() {
                "access.extend"
            } else {
                "access.request"
            },
            Outcome::Success,
        );
        e.target_namespace = namespaces.first().cloned().unwrap_or_default();
        e.target_cluster.clone_from(&target);
        e.after = Some(json!({
            "cluster": target,
            "scope": checked.scope.describe(),
            "role": checked.role,
            "minutes": checked.minutes,
            "reason": checked.reason,
            "ticket": checked.ticket,
            "break_glass": checked.break_glass,
            "extends": extends,
            "approvals_needed": checked.rule.approvals,
        }));
        let row = self.store().create_access_request(&new, &e).await?;
        if checked.break_glass {
            let mut glass = about(user, origin, &id, "access.break_glass", Outcome::Success);
            glass.after =
                Some(json!({ "self_approved": true, "review": "open until an SRE signs it off" }));
            self.store().self_approve_access(&id, &glass).await?;
            if let Err(err) = grant(self.store(), &member.cluster, &id).await {
                tracing::warn!(request = %id, error = %err, "granting failed; the revoker retries");
            }
        } else {
            self.announce(&row).await;
        }
        let row = self.store().access_request(&id).await?.unwrap_or(row);
        Ok(self.access_view(user, &row))
    }

    /// Tells the review channel about a new request (Slack-compatible JSON); best effort.
    async fn announce(&self, row: &AccessRow) {
        let Some((url, client)) = self.access_webhook() else {
            return;
        };
        let text = format!(
            "{} asks for {} on {} for {} ({}): {}{}",
            row.requester_name,
            row.role,
            if row.cluster {
                "the whole cluster".to_owned()
            } else {
                row.namespaces.join(", ")
            },
            jit::describe_minutes(u32::try_from(row.minutes).unwrap_or(0)),
            row.id,
            row.reason,
            if row.ticket.is_empty() {
                String::new()
            } else {
                format!(" [{}]", row.ticket)
            },
        );
        let body = json!({
            "text": text,
            "request": row.id,
            "requester": row.requester_id,
            "role": row.role,
            "cluster": row.cluster,
            "namespaces": row.namespaces,
            "minutes": row.minutes,
            "approvals_needed": row.rule.approvals,
        });
        let sent = client
            .post(url)
            .json(&body)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        if let Err(err) = sent {
            tracing::warn!(request = %row.id, error = %err, "announcing the access request failed");
        }
    }

    /// Approves or denies; the final approval grants at once.
    pub async fn review_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: &str,
        approve: bool,
        comment: &str,
    ) -> Result<AccessView, ServiceError> {
        let action = if approve {
            "access.approve"
        } else {
            "access.deny"
        };
        let result = self.record_review(user, origin, id, approve, comment).await;
        self.audited(result, user, origin, id, action).await
    }

    async fn record_review(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: &str,
        approve: bool,
        comment: &str,
    ) -> Result<AccessView, ServiceError> {
        let denial = (!approve).then_some("say why you deny it");
        let comment = jit::check_comment(comment, denial).map_err(ServiceError::BadInput)?;
        let comment = comment.as_str();
        let row = self.find_access(id).await?;
        let approved_by: Vec<String> = row
            .reviews
            .iter()
            .filter(|r| r.approved)
            .map(|r| r.reviewer_id.clone())
            .collect();
        let outcome =
            check_review(&row, &approved_by, &user.actor()).map_err(ServiceError::Forbidden)?;
        let final_approval = approve && outcome == Approval::Final;
        let mut e = about(
            user,
            origin,
            id,
            if approve {
                "access.approve"
            } else {
                "access.deny"
            },
            Outcome::Success,
        )
        .on_cluster(&row.target_cluster);
        e.target_namespace = row.namespaces.first().cloned().unwrap_or_default();
        e.after = Some(json!({
            "comment": comment,
            "approvals": approved_by.len() + usize::from(approve),
            "approvals_needed": row.rule.approvals,
            "granted": final_approval,
        }));
        self.store()
            .review_access(
                &NewReview {
                    id,
                    reviewer_id: &user.id,
                    reviewer_name: &user.display_name,
                    approved: approve,
                    comment,
                    approvals_seen: approved_by.len(),
                    final_approval,
                },
                &e,
            )
            .await
            .map_err(|err| match err {
                crate::store::StoreError::Conflict(m) => ServiceError::Conflict(m),
                other => other.into(),
            })?;
        if final_approval
            && let Err(err) = grant(self.store(), &self.access_cluster(&row)?, id).await
        {
            tracing::warn!(request = %id, error = %err, "granting failed; the revoker retries");
        }
        let row = self.store().access_request(id).await?.unwrap_or(row);
        Ok(self.access_view(user, &row))
    }

    /// Ends an active grant now: the requester, an SRE or an admin.
    pub async fn revoke_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: &str,
        comment: &str,
    ) -> Result<AccessView, ServiceError> {
        let result = self.end_early(user, origin, id, comment).await;
        self.audited(result, user, origin, id, "access.revoke")
            .await
    }

    async fn end_early(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: &str,
        comment: &str,
    ) -> Result<AccessView, ServiceError> {
        let comment = jit::check_comment(comment, None).map_err(ServiceError::BadInput)?;
        let comment = comment.as_str();
        let row = self.find_access(id).await?;
        if let Decision::Deny(why) = decide(
            &user.actor(),
            Action::RevokeAccess,
            &Target::requested_by(&row.requester_id),
        ) {
            return Err(ServiceError::Forbidden(why));
        }
        let mut e = about(user, origin, id, "access.revoke", Outcome::Requested)
            .on_cluster(&row.target_cluster);
        e.target_namespace = row.namespaces.first().cloned().unwrap_or_default();
        e.after = Some(json!({ "comment": comment }));
        if !self
            .store()
            .mark_revoke_due(id, &user.display_name, comment, &e)
            .await?
        {
            return Err(ServiceError::Conflict(format!(
                "request {id} is {}; only an active grant can be revoked",
                row.state.as_str()
            )));
        }
        let row = self.store().access_request(id).await?.unwrap_or(row);
        revoke(self.store(), &self.access_cluster(&row)?, &row)
            .await
            .map_err(|e| ServiceError::Cluster(format!("{e}; the revoker keeps trying")))?;
        let row = self.store().access_request(id).await?.unwrap_or(row);
        Ok(self.access_view(user, &row))
    }

    /// Its requester takes back a request nobody has decided yet.
    pub async fn withdraw_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: &str,
        comment: &str,
    ) -> Result<AccessView, ServiceError> {
        let result = self.take_back(user, origin, id, comment).await;
        self.audited(result, user, origin, id, "access.withdraw")
            .await
    }

    async fn take_back(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: &str,
        comment: &str,
    ) -> Result<AccessView, ServiceError> {
        let comment = jit::check_comment(comment, None).map_err(ServiceError::BadInput)?;
        let comment = comment.as_str();
        let row = self.find_access(id).await?;
        if row.requester_id != user.id {
            return Err(ServiceError::Forbidden(format!(
                "only {} withdraws request {id}; a reviewer denies it instead",
                row.requester_name
            )));
        }
        let mut e = about(user, origin, id, "access.withdraw", Outcome::Success);
        e.target_namespace = row.namespaces.first().cloned().unwrap_or_default();
        e.after = Some(json!({ "state": "withdrawn", "comment": comment }));
        if !self
            .store()
            .withdraw_access(id, &user.id, &user.display_name, comment, &e)
            .await?
        {
            let now = self.store().access_request(id).await?.unwrap_or(row);
            return Err(ServiceError::Conflict(format!(
                "request {id} is {}; only a pending request can be withdrawn",
                now.state.as_str()
            )));
        }
        let row = self.store().access_request(id).await?.unwrap_or(row);
        Ok(self.access_view(user, &row))
    }

    /// An admin ends every active grant at once; the answer says how many.
    pub async fn revoke_all_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        comment: &str,
    ) -> Result<usize, ServiceError> {
        if !admin(user) {
            return Err(self
                .refused(
                    user,
                    origin,
                    "*",
                    "access.revoke_all",
                    ServiceError::Forbidden("only admins revoke every grant".to_owned()),
                )
                .await);
        }
        // Checked before anything is written: the trail must take it (no NUL, no markup).
        let comment = jit::check_comment(comment, None).map_err(ServiceError::BadInput)?;
        let comment = comment.as_str();
        let ids = self.store().open_grants().await?;
        let mut e = about(user, origin, "*", "access.revoke_all", Outcome::Requested);
        e.after = Some(json!({ "grants": ids, "comment": comment }));
        self.store().record(&e).await?;
        let mut ended = 0;
        for id in &ids {
            if self.end_early(user, origin, id, comment).await.is_ok() {
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// An SRE signs off a break-glass grant after the fact.
    pub async fn sign_off_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: &str,
        comment: &str,
    ) -> Result<AccessView, ServiceError> {
        let row = self.find_access(id).await?;
        let view = self.access_view(user, &row);
        if !view.can_sign_off {
            let why = if row.requester_id == user.id {
                "nobody signs off their own break-glass access".to_owned()
            } else if !reviewer(user) {
                "only SREs sign off break-glass access".to_owned()
            } else {
                format!("request {id} has no open break-glass review")
            };
            return Err(self
                .refused(
                    user,
                    origin,
                    id,
                    "access.sign_off",
                    ServiceError::Forbidden(why),
                )
                .await);
        }
        let comment = match jit::check_comment(comment, Some("say what you checked")) {
            Ok(c) => c,
            Err(why) => {
                return Err(self
                    .refused(
                        user,
                        origin,
                        id,
                        "access.sign_off",
                        ServiceError::BadInput(why),
                    )
                    .await);
            }
        };
        let comment = comment.as_str();
        let mut e = about(user, origin, id, "access.sign_off", Outcome::Success);
        e.after = Some(json!({ "comment": comment }));
        self.store()
            .sign_off_access(id, &user.display_name, comment, &e)
            .await?;
        let row = self.store().access_request(id).await?.unwrap_or(row);
        Ok(self.access_view(user, &row))
    }

    /// A kubeconfig for the grant's own identity; its certificate ends with the grant (or ten
    /// minutes from now, the API's minimum — the binding is what ends access).
    pub async fn access_kubeconfig(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: &str,
    ) -> Result<KubeconfigFile, ServiceError> {
        let row = self.find_access(id).await?;
        if row.requester_id != user.id {
            return Err(self
                .refused(
                    user,
                    origin,
                    id,
                    "access.kubeconfig",
                    ServiceError::Forbidden(
                        "only the requester downloads a grant's kubeconfig".to_owned(),
                    ),
                )
                .await);
        }
        let seconds = match (row.state, row.expires_at_secs) {
            (State::Active, Some(at)) => jit::certificate_seconds(now_unix(), at),
            _ => None,
        }
        .ok_or_else(|| {
            ServiceError::Conflict(format!(
                "request {id} is {}; no kubeconfig",
                row.state.as_str()
            ))
        })?;
        let subject = jit::subject(&row.id, &row.requester_id);
        let group = row.rule.group();
        let cluster = self.access_cluster(&row)?;
        let issued = cluster
            .issue_client_certificate(&subject, group, seconds)
            .await
            .map_err(|e| ServiceError::Cluster(e.to_string()))?;
        let mut e = about(user, origin, id, "access.kubeconfig", Outcome::Success)
            .on_cluster(cluster.name());
        e.after = Some(json!({
            "user": subject,
            "group": group,
            "certificate_signing_request": issued.csr_name,
            "valid_for_seconds": seconds,
            "cluster": cluster.name(),
        }));
        self.store().record(&e).await?;
        let namespace = row.namespaces.first().map_or("default", String::as_str);
        let b64 = base64::engine::general_purpose::STANDARD;
        let text = kubeconfig::client_certificate(
            &ClientCertificate {
                cluster_name: cluster.name(),
                server: cluster.public_server_url(),
                ca_pem: cluster.ca_pem(),
                user: &subject,
                namespace,
                cert_pem: &issued.cert_pem,
                key_pem: &issued.key_pem,
            },
            |bytes| b64.encode(bytes),
        );
        Ok(KubeconfigFile {
            file_name: format!("{id}.kubeconfig"),
            text,
        })
    }

    /// The policy as YAML, for the admin's editor.
    pub async fn access_policy_yaml(&self, user: &CurrentUser) -> Result<String, ServiceError> {
        if !admin(user) {
            return Err(ServiceError::Forbidden(
                "only admins edit the access policy".to_owned(),
            ));
        }
        policy_yaml(&self.access_policy().await?)
    }

    /// Saves the policy an admin wrote; what is wrong comes back one message per problem.
    pub async fn save_access_policy(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        text: &str,
        expected: Option<&Precondition>,
    ) -> Result<usize, ServiceError> {
        if let Decision::Deny(why) =
            decide(&user.actor(), Action::Administer, &Target::everything())
        {
            return Err(self
                .refused(
                    user,
                    origin,
                    "policy",
                    "access.policy",
                    ServiceError::Forbidden(why),
                )
                .await);
        }
        let rules: Vec<Rule> = match serde_yaml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                return Err(ServiceError::invalid(vec![format!(
                    "the policy is not a YAML list of rules: {e}"
                )]));
            }
        };
        jit::check_policy(&rules).map_err(ServiceError::invalid)?;
        self.store()
            .save_access_policy(&rules, &user.id, |before| {
                let before = before.unwrap_or_else(jit::default_policy);
                if let Some(expected) = expected
                    && !expected.holds(&policy_version(&policy_yaml(&before)?))
                {
                    return Err(ServiceError::Stale(
                        "the policy changed since you read it: read it again and reapply your \
                         change"
                            .to_owned(),
                    ));
                }
                let mut e = about(user, origin, "policy", "access.policy", Outcome::Success);
                e.target_kind = "AccessPolicy".to_owned();
                e.before = serde_json::to_value(&before).ok();
                e.after = serde_json::to_value(&rules).ok();
                Ok(e)
            })
            .await?;
        Ok(rules.len())
    }
}

/// The policy as the YAML an admin reads and writes.
fn policy_yaml(rules: &[Rule]) -> Result<String, ServiceError> {
    let value = serde_json::to_value(rules).map_err(|e| ServiceError::BadInput(e.to_string()))?;
    Ok(domain::yaml::to_yaml(&value))
}

/// The version of the policy's YAML a reader is given (`ETag`) and a writer names (`If-Match`).
pub fn policy_version(yaml: &str) -> String {
    domain::version::tag(yaml.as_bytes())
}

fn check_review(
    row: &AccessRow,
    approved_by: &[String],
    actor: &domain::authz::Actor,
) -> Result<Approval, String> {
    jit::check_review(
        &Review {
            requester: &row.requester_id,
            requester_teams: &row.requester_teams,
            state: row.state,
            rule: &row.rule,
            approved_by,
        },
        actor,
    )
}

#[async_trait::async_trait]
impl app::backend::AccessBackend for Services {
    async fn access_overview(&self, user: &CurrentUser) -> Result<AccessOverview, Failure> {
        Services::access_overview(self, user)
            .await
            .map_err(Failure::from)
    }

    async fn access_detail(&self, user: &CurrentUser, id: String) -> Result<AccessDetail, Failure> {
        Services::access_detail(self, user, &id)
            .await
            .map_err(Failure::from)
    }

    async fn request_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: Draft,
        extends: Option<String>,
    ) -> Result<AccessView, Failure> {
        Services::request_access(self, user, origin, draft, extends)
            .await
            .map_err(Failure::from)
    }

    async fn review_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
        approve: bool,
        comment: String,
    ) -> Result<AccessView, Failure> {
        Services::review_access(self, user, origin, &id, approve, &comment)
            .await
            .map_err(Failure::from)
    }

    async fn revoke_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
        comment: String,
    ) -> Result<AccessView, Failure> {
        Services::revoke_access(self, user, origin, &id, &comment)
            .await
            .map_err(Failure::from)
    }

    async fn withdraw_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
        comment: String,
    ) -> Result<AccessView, Failure> {
        Services::withdraw_access(self, user, origin, &id, &comment)
            .await
            .map_err(Failure::from)
    }

    async fn revoke_all_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        comment: String,
    ) -> Result<usize, Failure> {
        Services::revoke_all_access(self, user, origin, &comment)
            .await
            .map_err(Failure::from)
    }

    async fn sign_off_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
        comment: String,
    ) -> Result<AccessView, Failure> {
        Services::sign_off_access(self, user, origin, &id, &comment)
            .await
            .map_err(Failure::from)
    }

    async fn access_policy_yaml(&self, user: &CurrentUser) -> Result<String, Failure> {
        Services::access_policy_yaml(self, user)
            .await
            .map_err(Failure::from)
    }

    async fn save_access_policy(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        text: String,
    ) -> Result<usize, Failure> {
        Services::save_access_policy(self, user, origin, &text, None)
            .await
            .map_err(Failure::from)
    }
}
