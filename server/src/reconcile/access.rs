//! The JIT revoker: every poll it deletes the bindings of grants that are due (their time ran
//! out, or someone revoked them early), finishes grants a crash left half-made and ends
//! pending requests nobody reviewed in time. One replica acts (advisory lock); on start it
//! first works off whatever fell due while no Berth was running.
//!
//! It calls the same [`grant`] and [`revoke`] as the access service.

use std::time::Duration;

use domain::audit::NewEvent;
use serde_json::json;

use super::{ACCESS_LOCK, Leadership};
use crate::cluster::fleet::Fleet;
use crate::services::grants::{GrantError, grant, revoke};
use crate::store::Store;

/// Wake this long after a grant's due time, so the database sees it due.
const DUE_MARGIN: Duration = Duration::from_millis(5);

/// A grant still `granting` this long after its approval is finished by the revoker.
const STUCK_AFTER_SECS: i64 = 15;

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
    fleet: Fleet,
    poll: Duration,
}

impl Revoker {
    pub fn new(store: Store, fleet: Fleet, poll: Duration) -> Self {
        Revoker { store, fleet, poll }
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
            // A grant on a cluster that left the fleet (or is not connected) waits for it.
            let Some(cluster) = self.fleet.cluster_named(&row.target_cluster) else {
                report.failed += 1;
                tracing::warn!(request = %row.id, cluster = %row.target_cluster, "the grant's cluster is not in the fleet; revoking waits for it");
                continue;
            };
            match revoke(&self.store, &cluster, &row).await {
                Ok(Some(_)) => report.ended += 1,
                Ok(None) => {}
                Err(err) => {
                    report.failed += 1;
                    tracing::warn!(request = %row.id, error = %err, "revoking failed; retrying");
                }
            }
        }
        for row in self.store.stuck_grants(STUCK_AFTER_SECS).await? {
            let Some(cluster) = self.fleet.cluster_named(&row.target_cluster) else {
                report.failed += 1;
                continue;
            };
            if let Err(err) = grant(&self.store, &cluster, &row.id).await {
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
                target_cluster: String::new(),
                target_name: id.to_owned(),
                before: None,
                after: Some(json!({ "state": "expired", "why": "nobody reviewed it in time" })),
                outcome: "success".to_owned(),
            })
            .await?;
        Ok(report)
    }
}
