//! The expiry reconciler: deletes namespaces whose lifetime ended. The intent is recorded
//! first (`expiring`, with its audit event), then the namespace is deleted, then `expired`; a
//! crash between the steps is picked up on the next pass. Only namespaces Berth made for that
//! very request are ever deleted.

use std::time::Duration;

use domain::audit::NewEvent;
use domain::expiry::{ExpiryNotice, warning_due};
use domain::tenancy::{LABEL_REQUEST, MANAGED_BY, RequestState};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams};

use super::{EXPIRY_LOCK, Leadership, system_event};
use crate::cluster::fleet::Fleet;
use crate::store::tenancy::RequestRow;
use crate::store::{Store, StoreError};

/// After a webhook failure, warnings wait this long before the next try.
const WEBHOOK_PAUSE: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Expirer {
    store: Store,
    fleet: Fleet,
    interval: Duration,
    /// Where warnings go, and the client that posts them.
    webhook: Option<(String, reqwest::Client)>,
}

/// Why a namespace could not be deleted this pass.
#[derive(Debug, thiserror::Error)]
pub enum ExpiryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the cluster did not answer: {0}")]
    Cluster(String),
    #[error("the expiry webhook did not take the warning: {0}")]
    Webhook(String),
}

impl Expirer {
    pub fn new(store: Store, fleet: Fleet, interval: Duration, webhook: Option<String>) -> Self {
        let webhook = webhook.and_then(|url| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| tracing::warn!(error = %e, "no HTTP client for the expiry webhook"))
                .ok()
                .map(|client| (url, client))
        });
        Expirer {
            store,
            fleet,
            interval,
            webhook,
        }
    }

    /// Runs until dropped, holding its own advisory lock.
    pub async fn run(self) {
        loop {
            let mut lead = match Leadership::acquire(&self.store, EXPIRY_LOCK, self.interval).await
            {
                Ok(lead) => lead,
                Err(err) => {
                    tracing::warn!(error = %err, "expiry reconciler cannot take its lock");
                    tokio::time::sleep(self.interval).await;
                    continue;
                }
            };
            let mut warn_after = tokio::time::Instant::now();
            while lead.still_held().await {
                let result = self.pass().await;
                if let Err(err) = &result {
                    tracing::warn!(error = %err, "expiry pass failed");
                }
                crate::metrics::loop_pass("expiry", result.is_ok());
                if tokio::time::Instant::now() >= warn_after
                    && let Err(err) = self.send_warnings().await
                {
                    tracing::warn!(error = %err, "expiry warnings wait a minute");
                    warn_after = tokio::time::Instant::now() + WEBHOOK_PAUSE;
                }
                tokio::time::sleep(self.interval).await;
            }
        }
    }

    /// One pass; the number of namespaces deleted. Public so tests can drive it.
    pub async fn pass(&self) -> Result<usize, ExpiryError> {
        let mut deleted = 0;
        for request in self.store.due_expiries(50).await? {
            if request.state == RequestState::Ready {
                let intent = event(&request, "namespace.expire", self.fleet.home().name());
                if !self
                    .store
                    .advance_expiry(
                        &request.id,
                        RequestState::Ready,
                        RequestState::Expiring,
                        intent,
                    )
                    .await?
                {
                    continue;
                }
            }
            let gone = self.delete_if_ours(&request).await?;
            let done = event(&request, "namespace.delete", self.fleet.home().name());
            self.store
                .advance_expiry(
                    &request.id,
                    RequestState::Expiring,
                    RequestState::Expired,
                    done,
                )
                .await?;
            if gone {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Posts the warnings that are due (three days and one day before expiry) to the webhook,
    /// each once; the number sent. Nothing without a webhook: the UI shows warnings anyway.
    pub async fn send_warnings(&self) -> Result<usize, ExpiryError> {
        let Some((url, client)) = &self.webhook else {
            return Ok(0);
        };
        let now = jiff::Timestamp::now().as_second();
        let mut sent = 0;
        for (request, warned) in self.store.expiry_warnings_due(50).await? {
            let Some(expires_at) = request.expires_at.as_deref() else {
                continue;
            };
            let left = expires_at
                .parse::<jiff::Timestamp>()
                .map(|t| t.as_second() - now)
                .unwrap_or(0);
            let Some(days) = warning_due(left, warned) else {
                continue;
            };
            let notice = ExpiryNotice::new(
                &request.name,
                &request.team,
                &request.plan.requester,
                &request.plan.draft.contact,
                expires_at,
                days,
            );
            let answer = client
                .post(url)
                .json(&notice)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status);
            if let Err(err) = answer {
                return Err(ExpiryError::Webhook(err.to_string()));
            }
            // Sent before recorded: a crash in between sends it again (at least once).
            self.store.mark_expiry_warned(&request.id, days).await?;
            sent += 1;
        }
        Ok(sent)
    }

    /// Deletes the namespace when it carries this request's label; `false` when there was
    /// nothing of ours to delete.
    async fn delete_if_ours(&self, request: &RequestRow) -> Result<bool, ExpiryError> {
        let cluster = |e: kube::Error| ExpiryError::Cluster(e.to_string());
        let Some(target) = self.fleet.cluster_named(&request.plan.draft.cluster) else {
            return Err(ExpiryError::Cluster(format!(
                "cluster {} is not in the fleet; {} is deleted once it is back",
                request.plan.draft.cluster, request.name
            )));
        };
        let api: Api<Namespace> = Api::all(target.client().clone());
        let Some(ns) = api.get_opt(&request.name).await.map_err(cluster)? else {
            return Ok(false);
        };
        let labels = ns.metadata.labels.unwrap_or_default();
        let ours = labels.get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1)
            && labels.get(LABEL_REQUEST) == Some(&request.id);
        if !ours {
            tracing::warn!(namespace = %request.name, request = %request.id, "expired, but the namespace is not Berth's for this request; left alone");
            return Ok(false);
        }
        match api.delete(&request.name, &DeleteParams::default()).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(other) => Err(cluster(other)),
        }
    }
}

fn event(request: &RequestRow, action: &str, home: &str) -> NewEvent {
    let mut event = system_event("expiry", request, action, "success", home);
    event.before = Some(serde_json::json!({ "expires_at": request.expires_at }));
    event
}
