//! The provisioner: works through approved namespace requests (the outbox), applies their
//! manifests with server-side apply, checks they hold, and marks them `ready` or `failed`.
//! Applying is idempotent, so a crash anywhere means only that the next pass applies again.

use std::sync::Arc;
use std::time::Duration;

use domain::audit::NewEvent;
use domain::change::ChangeState;
use domain::tenancy::{self, LABEL_REQUEST, MANAGED_BY, Plan};
use tokio::sync::Notify;

use super::{Leadership, PROVISION_LOCK, system_event, system_event_for};
use crate::cluster::Cluster;
use crate::cluster::apply::ApplyError;
use crate::cluster::fleet::Fleet;
use crate::store::Store;
use crate::store::change::ChangeRow;
use crate::store::tenancy::{ProvisionOutcome, RequestRow};

/// Transient failures are retried this many times before a request is marked failed.
const MAX_ATTEMPTS: i32 = 8;

/// Wait before attempt `n + 1`: 2 s, 4 s, 8 s, … capped at five minutes.
pub fn backoff_secs(attempts: i32) -> f64 {
    let exp = attempts.clamp(1, 16) as u32;
    f64::from(2u32.saturating_pow(exp)).min(300.0)
}

#[derive(Clone)]
pub struct Provisioner {
    store: Store,
    fleet: Fleet,
    wake: Arc<Notify>,
    interval: Duration,
}

impl Provisioner {
    pub fn new(store: Store, fleet: Fleet, wake: Arc<Notify>, interval: Duration) -> Self {
        Provisioner {
            store,
            fleet,
            wake,
            interval,
        }
    }

    /// Runs until the task is dropped: takes the lock, then passes over the outbox whenever it
    /// is woken or `interval` passes.
    pub async fn run(self) {
        loop {
            let mut lead =
                match Leadership::acquire(&self.store, PROVISION_LOCK, self.interval).await {
                    Ok(lead) => lead,
                    Err(err) => {
                        tracing::warn!(error = %err, "provisioner cannot take its lock; retrying");
                        tokio::time::sleep(self.interval).await;
                        continue;
                    }
                };
            tracing::info!("provisioner holds its lock");
            while lead.still_held().await {
                let result = self.pass().await;
                if let Err(err) = &result {
                    tracing::warn!(error = %err, "provisioning pass failed");
                }
                crate::metrics::loop_pass("provisioner", result.is_ok());
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.interval) => {}
                }
            }
            tracing::warn!("provisioner lost its database connection; taking the lock again");
        }
    }

    /// One pass over every request that is due. Public so tests can drive it step by step.
    pub async fn pass(&self) -> Result<usize, crate::store::StoreError> {
        let due = self.store.due_namespace_requests(20).await?;
        let count = due.len();
        for request in due {
            self.store.start_provisioning(&request.id).await?;
            let attempts = request.attempts + 1;
            let (outcome, event) = match self.apply_all(&request.plan).await {
                Ok(()) => (
                    ProvisionOutcome::Ready,
                    Some(event(&request, None, self.fleet.home().name())),
                ),
                Err(err) if err.is_transient() && attempts < MAX_ATTEMPTS => {
                    tracing::info!(request = %request.id, error = %err, attempts, "provisioning will be retried");
                    (
                        ProvisionOutcome::Retry {
                            error: err.to_string(),
                            retry_in_secs: backoff_secs(attempts),
                        },
                        None,
                    )
                }
                Err(err) => (
                    ProvisionOutcome::Failed {
                        error: err.to_string(),
                    },
                    Some(event(
                        &request,
                        Some(err.to_string()),
                        self.fleet.home().name(),
                    )),
                ),
            };
            self.store
                .finish_provisioning(&request.id, outcome, event)
                .await?;
        }
        Ok(count + self.apply_changes().await?)
    }

    /// Approved extensions and quota changes: the namespace's whole plan is applied again with
    /// the change in it; the request takes the new plan only once it holds.
    async fn apply_changes(&self) -> Result<usize, crate::store::StoreError> {
        let due = self.store.due_namespace_changes(20).await?;
        let count = due.len();
        for change in due {
            let before = self
                .store
                .namespace_request(&change.request_id)
                .await?
                .map(|r| r.plan);
            let attempts = change.attempts + 1;
            let outcome = match self.apply_all(&change.plan).await {
                Ok(()) => ProvisionOutcome::Ready,
                Err(err) if err.is_transient() && attempts < MAX_ATTEMPTS => {
                    ProvisionOutcome::Retry {
                        error: err.to_string(),
                        retry_in_secs: backoff_secs(attempts),
                    }
                }
                Err(err) => {
                    // Put back what was in place, so a refused change leaves nothing half-done.
                    if let Some(before) = &before
                        && let Err(undo) = self.apply_all(before).await
                    {
                        tracing::warn!(change = %change.id, error = %undo, "restoring the plan before a failed change failed; the next change or provisioning applies it again");
                    }
                    ProvisionOutcome::Failed {
                        error: err.to_string(),
                    }
                }
            };
            self.store
                .finish_namespace_change(&change, outcome, |state, error| {
                    change_event(
                        &change,
                        before.as_ref(),
                        state,
                        error,
                        self.fleet.home().name(),
                    )
                })
                .await?;
        }
        Ok(count)
    }

    /// The cluster a plan goes to. One not in the fleet (being added, or unreachable at start)
    /// is waited for with the usual backoff, then the request fails saying so.
    fn cluster_for(&self, plan: &Plan) -> Result<Cluster, ApplyError> {
        self.fleet
            .cluster_named(&plan.draft.cluster)
            .ok_or_else(|| ApplyError::Transient {
                kind: "Namespace".to_owned(),
                name: plan.draft.name.clone(),
                message: format!(
                    "cluster {} is not in the fleet (removed, or not connected)",
                    plan.draft.cluster
                ),
            })
    }

    async fn apply_all(&self, plan: &Plan) -> Result<(), ApplyError> {
        let cluster = self.cluster_for(plan)?;
        let manifests = tenancy::manifests(plan);
        // Never take over a namespace someone else made: only an absent one, or one this very
        // request made on an earlier attempt, is ours to apply.
        if let Some(namespace) = manifests.first()
            && let Some(existing) = cluster.read_back(namespace).await?
        {
            let labels = &existing["metadata"]["labels"];
            let ours = labels[MANAGED_BY.0] == MANAGED_BY.1
                && labels[LABEL_REQUEST] == plan.request_id.as_str();
            if !ours {
                return Err(ApplyError::Refused {
                    kind: "Namespace".to_owned(),
                    name: plan.draft.name.clone(),
                    message: "a namespace of that name already exists and Berth did not make it \
                              for this request"
                        .to_owned(),
                });
            }
        }
        for manifest in &manifests {
            cluster.apply(manifest).await?;
        }
        // Ready means every object is there as intended, read back, not merely accepted.
        for manifest in &manifests {
            let actual = cluster.read_back(manifest).await?;
            let holds = actual
                .as_ref()
                .is_some_and(|a| tenancy::holds(&manifest.body, a));
            if !holds {
                return Err(ApplyError::Transient {
                    kind: manifest.kind.clone(),
                    name: manifest.name.clone(),
                    message: "not yet as applied when read back".to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// The audit event of a change applied (or not): the patch, as quota and expiry before / after.
fn change_event(
    change: &ChangeRow,
    before: Option<&Plan>,
    state: ChangeState,
    error: Option<&str>,
    home: &str,
) -> NewEvent {
    let outcome = if state == ChangeState::Applied {
        "success"
    } else {
        "failure"
    };
    let mut event = NewEvent {
        request_id: change.request_id.clone(),
        target_cluster: change.plan.draft.cluster_or(home).to_owned(),
        ..system_event_for(&change.namespace, "namespace.change.apply", outcome)
    };
    let mut after = before
        .map(|b| crate::services::change::change_detail(change.kind, b, &change.plan))
        .unwrap_or_default();
    after["change"] = serde_json::json!(change.id);
    after["state"] = serde_json::json!(state.as_str());
    after["error"] = serde_json::json!(error);
    event.before = Some(serde_json::json!({ "change": change.id, "state": "approved" }));
    event.after = Some(after);
    event
}

/// The audit event of a provisioning result.
fn event(request: &RequestRow, error: Option<String>, home: &str) -> NewEvent {
    let outcome = if error.is_none() {
        "success"
    } else {
        "failure"
    };
    let mut event = system_event("provisioner", request, "namespace.provision", outcome, home);
    event.before = Some(serde_json::json!({ "state": request.state.as_str() }));
    event.after = Some(serde_json::json!({
        "cluster": request.plan.draft.cluster_or(home),
        "state": if error.is_none() { "ready" } else { "failed" },
        "objects": tenancy::manifests(&request.plan)
            .iter()
            .map(|m| format!("{}/{}", m.kind, m.name))
            .collect::<Vec<_>>(),
        "error": error,
    }));
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_secs(1), 2.0);
        assert_eq!(backoff_secs(2), 4.0);
        assert_eq!(backoff_secs(5), 32.0);
        assert_eq!(backoff_secs(12), 300.0);
        assert_eq!(backoff_secs(0), 2.0);
    }
}
