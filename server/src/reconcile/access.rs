//! The JIT revoker: every poll it deletes the bindings of grants that are due (their time ran
//! out, or someone revoked them early), finishes grants a crash left half-made and ends
//! pending requests nobody reviewed in time. One replica acts (advisory lock); on start it
//! first works off whatever fell due while no Berth was running.
//!
//! [`grant`] and [`revoke`] are also what the service calls, so a reviewer's approval and a
//! requester's early revoke take effect at once rather than at the next poll.

use std::time::Duration;

use domain::audit::NewEvent;
use domain::jit::{self, Scope, State};
use serde_json::json;

use super::{ACCESS_LOCK, Leadership};
use crate::cluster::Cluster;
use crate::store::access::AccessRow;
use crate::store::{Store, StoreError};

/// Wake this long after a grant's due time, so the database sees it due.
const DUE_MARGIN: Duration = Duration::from_millis(5);

/// A grant still `granting` this long after its approval is finished by the revoker.
const STUCK_AFTER_SECS: i64 = 15;

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the cluster did not answer: {0}")]
    Cluster(String),
}

pub fn scope_of(row: &AccessRow) -> Scope {
    if row.cluster {
        Scope::Cluster
    } else {
        Scope::Namespaces(row.namespaces.clone())
    }
}

/// An audit event about an access request.
pub fn access_event(
    actor: (&str, &str, Vec<String>),
    row: &AccessRow,
    action: &str,
    outcome: &str,
) -> NewEvent {
    NewEvent {
        actor_id: actor.0.to_owned(),
        actor_display: actor.1.to_owned(),
        actor_roles: actor.2,
        source: "reconciler".to_owned(),
        request_id: String::new(),
        action: action.to_owned(),
        target_kind: "AccessRequest".to_owned(),
        target_namespace: row.namespaces.first().cloned().unwrap_or_default(),
        target_name: row.id.clone(),
        before: None,
        after: None,
        outcome: outcome.to_owned(),
    }
}

fn revoker(row: &AccessRow, action: &str, outcome: &str) -> NewEvent {
    access_event(
        ("berth", "Berth JIT revoker", vec!["system".to_owned()]),
        row,
        action,
        outcome,
    )
}

/// Makes the bindings of an approved grant and marks it active. A refusal by the cluster
/// (namespace gone, role unknown) ends the grant as revoked, with the reason; a cluster that
/// does not answer leaves it `granting` for the revoker to finish.
pub async fn grant(store: &Store, cluster: &Cluster, id: &str) -> Result<State, GrantError> {
    let Some(row) = store.access_request(id).await? else {
        return Ok(State::Denied);
    };
    if row.state != State::Granting {
        return Ok(row.state);
    }
    let manifests = jit::manifests(
        &row.id,
        &row.requester_id,
        &scope_of(&row),
        &row.role,
        row.expires_at.as_deref().unwrap_or_default(),
    );
    match cluster.apply_grant(&manifests).await {
        Ok(()) => {
            let mut event = revoker(&row, "access.grant", "success");
            event.after = Some(json!({
                "user": jit::subject(&row.id, &row.requester_id),
                "group": row.rule.group(),
                "role": row.role,
                "scope": scope_of(&row).describe(),
                "expires_at": row.expires_at,
                "bindings": manifests.iter().map(|m| format!("{}/{}", m.namespace.as_deref().unwrap_or("-"), m.name)).collect::<Vec<_>>(),
            }));
            if store.activate_access(id, &event).await? {
                Ok(State::Active)
            } else {
                // Revoked or expired while the bindings were made: take them away again.
                let now = store.access_request(id).await?;
                if let Some(now) = now {
                    revoke(store, cluster, &now).await?;
                    Ok(now.state)
                } else {
                    Ok(State::Revoked)
                }
            }
        }
        Err(err) if !err.is_transient() => {
            let mut failed = revoker(&row, "access.grant", "failure");
            failed.after = Some(json!({ "error": err.to_string() }));
            store
                .mark_revoke_due(
                    id,
                    "Berth",
                    &format!("the cluster refused the grant: {err}"),
                    &failed,
                )
                .await?;
            if let Some(now) = store.access_request(id).await? {
                revoke(store, cluster, &now).await?;
            }
            Ok(State::Revoked)
        }
        Err(err) => Err(GrantError::Cluster(err.to_string())),
    }
}

/// Deletes a due grant's bindings, then records it ended (once, whichever replica gets there
/// first) with the delay between due and done. Returns that delay when this call ended it.
pub async fn revoke(
    store: &Store,
    cluster: &Cluster,
    row: &AccessRow,
) -> Result<Option<f64>, GrantError> {
    cluster
        .remove_grant(&row.id, &scope_of(row))
        .await
        .map_err(GrantError::Cluster)?;
    let ended = store
        .finish_revocation(&row.id, |state, delay| {
            let action = if state == State::Revoked {
                "access.revoke"
            } else {
                "access.expire"
            };
            let mut event = revoker(row, action, "success");
            event.after = Some(json!({
                "state": state.as_str(),
                "bindings_deleted": jit::binding_name(&row.id),
                "delay_ms": delay,
            }));
            event
        })
        .await?;
    if let Some((state, delay)) = ended {
        crate::metrics::revoke_delay(delay);
        tracing::info!(request = %row.id, state = state.as_str(), delay_ms = delay, "access grant ended");
    }
    Ok(ended.map(|(_, delay)| delay))
}

/// What one pass of the revoker did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Grants it ended (those another replica ended first are not counted).
    pub ended: usize,
    /// Grants it could not end or finish; they are retried after a poll.
    pub failed: usize,
}

pub struct Revoker {
    store: Store,
    cluster: Cluster,
    poll: Duration,
}

impl Revoker {
    pub fn new(store: Store, cluster: Cluster, poll: Duration) -> Self {
        Revoker {
            store,
            cluster,
            poll,
        }
    }

    /// Runs until dropped, holding its own advisory lock.
    pub async fn run(self) {
        loop {
            let mut lead = match Leadership::acquire(&self.store, ACCESS_LOCK, self.poll).await {
                Ok(lead) => lead,
                Err(err) => {
                    tracing::warn!(error = %err, "JIT revoker cannot take its lock");
                    tokio::time::sleep(self.poll).await;
                    continue;
                }
            };
            tracing::info!("JIT revoker holds its lock");
            while lead.still_held().await {
                let failed = match self.pass().await {
                    Ok(report) => report.failed > 0,
                    Err(err) => {
                        tracing::warn!(error = %err, "JIT revoker pass failed");
                        true
                    }
                };
                crate::metrics::loop_pass("jit_revoker", !failed);
                // Wake when the next grant falls due, if that is before the next poll; the
                // poll still bounds the wait for grants other replicas make meanwhile.
                // After a failure, a whole poll (the cluster may be down); otherwise until the
                // next grant is due, at once if one fell due during the pass.
                let next = match self.store.next_due_in().await {
                    _ if failed => self.poll,
                    Ok(Some(due)) => (due + DUE_MARGIN).min(self.poll),
                    Ok(None) => self.poll,
                    Err(err) => {
                        tracing::warn!(error = %err, "JIT revoker cannot tell when the next grant is due");
                        self.poll
                    }
                };
                tokio::time::sleep(next).await;
            }
        }
    }

    /// One pass: what it ended and what failed. Public so tests can drive it.
    pub async fn pass(&self) -> Result<PassReport, GrantError> {
        let mut report = PassReport::default();
        for row in self.store.due_revocations().await? {
            match revoke(&self.store, &self.cluster, &row).await {
                Ok(Some(_)) => report.ended += 1,
                Ok(None) => {}
                Err(err) => {
                    report.failed += 1;
                    tracing::warn!(request = %row.id, error = %err, "revoking failed; retrying");
                }
            }
        }
        for row in self.store.stuck_grants(STUCK_AFTER_SECS).await? {
            if let Err(err) = grant(&self.store, &self.cluster, &row.id).await {
                report.failed += 1;
                tracing::warn!(request = %row.id, error = %err, "finishing a grant failed; retrying");
            }
        }
        self.store
            .lapse_unreviewed(|id| NewEvent {
                actor_id: "berth".to_owned(),
                actor_display: "Berth JIT revoker".to_owned(),
                actor_roles: vec!["system".to_owned()],
                source: "reconciler".to_owned(),
                request_id: String::new(),
                action: "access.lapse".to_owned(),
                target_kind: "AccessRequest".to_owned(),
                target_namespace: String::new(),
                target_name: id.to_owned(),
                before: None,
                after: Some(json!({ "state": "expired", "why": "nobody reviewed it in time" })),
                outcome: "success".to_owned(),
            })
            .await?;
        Ok(report)
    }
}
