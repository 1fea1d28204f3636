//! Granting and revoking JIT access in the cluster: the bindings of an approved request made,
//! and a due grant's bindings deleted and its end recorded. The access service calls these so
//! an approval or an early revoke takes effect at once; the revoker loop calls them for what
//! fell due and for grants a crash left half-made.

use domain::audit::NewEvent;
use domain::jit::{self, Scope, State};
use serde_json::json;

use crate::cluster::Cluster;
use crate::store::access::AccessRow;
use crate::store::{Store, StoreError};

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
        target_cluster: row.target_cluster.clone(),
        target_name: row.id.clone(),
        before: None,
        after: None,
        outcome: outcome.to_owned(),
    }
}

pub(crate) fn revoker(row: &AccessRow, action: &str, outcome: &str) -> NewEvent {
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
            wait_until_honoured(cluster, &row).await;
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

/// How long a grant waits for the authorizer to honour its bindings before it is reported
/// active anyway (a role that does not allow reading pods never shows it).
const HONOURED_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// Waits until kube-apiserver's RBAC authorizer has seen the grant's bindings (it reads them
/// from a cache), so a kubeconfig used the moment the grant reads Active works at once.
async fn wait_until_honoured(cluster: &Cluster, row: &AccessRow) {
    let user = jit::subject(&row.id, &row.requester_id);
    let started = tokio::time::Instant::now();
    loop {
        match cluster
            .grant_honoured(&user, row.rule.group(), &scope_of(row))
            .await
        {
            Ok(true) => {
                let waited_ms = started.elapsed().as_millis() as u64;
                tracing::debug!(request = %row.id, waited_ms, "grant honoured");
                return;
            }
            Ok(false) if started.elapsed() < HONOURED_WITHIN => {
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            Ok(false) => {
                tracing::info!(request = %row.id, "the authorizer did not confirm the grant in time; reporting it active");
                return;
            }
            Err(err) => {
                tracing::warn!(request = %row.id, error = %err, "could not ask the authorizer about a grant");
                return;
            }
        }
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
