//! The fleet: which clusters Berth serves, how each is doing, and the registry admins change
//! while Berth runs.

use domain::audit::{NewEvent, Outcome};
use domain::authz::{Action, Decision, Target, decide};
use domain::fleet::{ClusterDraft, ClusterSource, ClusterSummary};
use domain::identity::{CurrentUser, RequestOrigin};

use app::failure::Failure;

use super::{ServiceError, Services};
use crate::cluster::Cluster;
use crate::cluster::fleet::{self, Fleet};

impl Services {
    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// Every cluster with its last known health; anyone signed in may read it (onboarding
    /// offers the names), nothing in it is secret.
    pub fn clusters(&self) -> Vec<ClusterSummary> {
        self.fleet.summaries()
    }

    /// Registers a cluster and starts its watches: admins only, the kubeconfig must be readable
    /// and its API server must answer, so a typo is caught here rather than found later.
    pub async fn add_cluster(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: ClusterDraft,
    ) -> Result<ClusterSummary, ServiceError> {
        self.administer(user, origin, "cluster.add", &draft.name)
            .await?;
        let mut taken = self.fleet.names();
        taken.extend(
            self.store()
                .registered_clusters()
                .await?
                .into_iter()
                .map(|c| c.name),
        );
        draft.validate(&taken).map_err(ServiceError::Invalid)?;
        // A problem is the field's that leads to it: the Secret, or the file.
        let source = if draft.token_secret.is_empty() {
            "kubeconfig"
        } else {
            "token_secret"
        };
        let member = fleet::connect_registered(&draft, &self.fleet.home().cluster)
            .await
            .map_err(|(_, err)| field(source, err.to_string()))?;
        let answer = member.probe().await;
        if !answer.ok {
            member.caches.stop();
            return Err(field(
                if draft.token_secret.is_empty() {
                    "kubeconfig"
                } else {
                    "api_server"
                },
                format!("the cluster did not answer: {}", answer.detail),
            ));
        }
        let mut event = NewEvent::by(Some(user), origin, "cluster.add", Outcome::Success)
            .on("Cluster", "", &draft.name)
            .on_cluster(&draft.name);
        event.after = Some(registry_view(&draft));
        if let Err(err) = self
            .store()
            .register_cluster(&draft, &user.id, &event)
            .await
        {
            member.caches.stop();
            return Err(err.into());
        }
        let summary = member.summary(false);
        self.fleet.add(member);
        tracing::info!(cluster = %draft.name, "cluster added to the fleet");
        Ok(summary)
    }

    /// Takes a registered cluster out of the fleet; clusters of the configuration file leave
    /// with a change of that file.
    pub async fn remove_cluster(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        name: &str,
    ) -> Result<(), ServiceError> {
        self.administer(user, origin, "cluster.remove", name)
            .await?;
        let from_config = self
            .fleet
            .get(name)
            .is_some_and(|m| m.profile.source == ClusterSource::Config);
        if from_config {
            return Err(ServiceError::Conflict(format!(
                "{name} comes from Berth's configuration file; remove it there and redeploy"
            )));
        }
        let (namespaces, grants) = self.store().held_on_cluster(name).await?;
        if namespaces > 0 || grants > 0 {
            return Err(ServiceError::Conflict(format!(
                "{name} still has {namespaces} namespace(s) Berth made or asked for and {grants} \
                 access grant(s) open; let them end (or delete them) first: once it leaves the \
                 fleet, Berth could neither expire nor revoke them"
            )));
        }
        let removed = self
            .store()
            .unregister_cluster(name, |gone| {
                let mut event =
                    NewEvent::by(Some(user), origin, "cluster.remove", Outcome::Success)
                        .on("Cluster", "", name)
                        .on_cluster(name);
                event.before = Some(registry_view(gone));
                event
            })
            .await?;
        if removed.is_none() {
            return Err(ServiceError::NotFound(format!(
                "no registered cluster named {name}"
            )));
        }
        self.fleet.remove(name);
        tracing::info!(cluster = %name, "cluster removed from the fleet");
        Ok(())
    }

    /// Makes the fleet follow the registry: another replica may have added or removed a
    /// cluster. Clusters of the configuration file are left alone.
    pub async fn follow_registry(&self) -> Result<(), ServiceError> {
        let rows = self.store().registered_clusters().await?;
        let configured: Vec<String> = self
            .fleet
            .members()
            .iter()
            .filter(|m| m.profile.source == ClusterSource::Config)
            .map(|m| m.name().to_owned())
            .collect();
        for row in &rows {
            if configured.contains(&row.name) {
                continue;
            }
            // One that could not be connected is tried again: its file may be mounted now.
            if self.fleet.get(&row.name).is_some() {
                continue;
            }
            match fleet::connect_registered(row, &self.fleet.home().cluster).await {
                Ok(member) => self.fleet.add(member),
                Err((unreachable, err)) => {
                    tracing::warn!(cluster = %row.name, error = %err, "a registered cluster cannot be connected");
                    self.fleet.add_unreachable(&row.name, unreachable);
                }
            }
        }
        for member in self.fleet.members() {
            let registered = rows.iter().any(|r| r.name == member.name());
            if member.profile.source == ClusterSource::Registry && !registered {
                self.fleet.remove(member.name());
            }
        }
        for name in self.fleet.unreachable().into_keys() {
            if !rows.iter().any(|r| r.name == name) {
                self.fleet.remove(&name);
            }
        }
        self.follow_rotated_credentials().await;
        Ok(())
    }

    /// Connects again every member whose token Secret changed since its client was built
    /// (rotated credentials), with the same settings; its watches start over. A Secret that
    /// cannot be read leaves the member as it is (its probe says whether it still answers).
    async fn follow_rotated_credentials(&self) {
        let home = self.fleet.home().cluster.clone();
        for member in self.fleet.members() {
            let (Some(secret), Some(used)) = (
                member.profile.config.token_secret.as_deref(),
                member.cluster.credentials_version(),
            ) else {
                continue;
            };
            match home.token_secret_version(secret).await {
                Ok(now) if now == used => {}
                Ok(_) => match Cluster::connect_member(&member.profile.config, &home).await {
                    Ok(cluster) => {
                        tracing::info!(
                            cluster = member.name(),
                            "token Secret rotated: connected again"
                        );
                        self.fleet
                            .add(fleet::Member::start(cluster, member.profile.clone()));
                    }
                    Err(err) => {
                        tracing::warn!(cluster = member.name(), error = %err, "rotated token Secret unusable; keeping the last client");
                    }
                },
                Err(err) => {
                    tracing::warn!(cluster = member.name(), error = %err, "token Secret unreadable");
                }
            }
        }
    }

    /// Follows the registry every few seconds until aborted.
    pub async fn keep_following_registry(&self) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(15));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = self.follow_registry().await {
                tracing::warn!(error = %err, "the cluster registry could not be read");
            }
        }
    }

    /// Admins only; a refusal is audited.
    async fn administer(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        action: &str,
        name: &str,
    ) -> Result<(), ServiceError> {
        if let Decision::Deny(why) = decide(&user.actor(), Action::Administer, &Target::default()) {
            let denied = NewEvent::by(Some(user), origin, action, Outcome::Denied)
                .on("Cluster", "", name)
                .on_cluster(name);
            self.store().record(&denied).await?;
            return Err(ServiceError::Forbidden(why));
        }
        Ok(())
    }
}

fn field(name: &str, message: String) -> ServiceError {
    ServiceError::Invalid(vec![domain::tenancy::FieldError {
        field: name.to_owned(),
        message,
    }])
}

/// What the audit trail keeps of an entry: everything but nothing secret (the kubeconfig is a
/// path, its contents stay on disk; the token Secret is named, its token stays in it).
fn registry_view(draft: &ClusterDraft) -> serde_json::Value {
    serde_json::json!({
        "display_name": draft.display_name,
        "region": draft.region,
        "environment": draft.environment,
        "kubeconfig": draft.kubeconfig,
        "context": draft.context,
        "public_server": draft.public_server,
        "api_server": draft.api_server,
        "token_secret": draft.token_secret,
    })
}

#[async_trait::async_trait]
impl app::backend::FleetBackend for Services {
    async fn clusters(&self, _user: &CurrentUser) -> Result<Vec<ClusterSummary>, Failure> {
        Ok(Services::clusters(self))
    }

    async fn add_cluster(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: ClusterDraft,
    ) -> Result<ClusterSummary, Failure> {
        Services::add_cluster(self, user, origin, draft)
            .await
            .map_err(Failure::from)
    }

    async fn remove_cluster(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        name: String,
    ) -> Result<(), Failure> {
        Services::remove_cluster(self, user, origin, &name)
            .await
            .map_err(Failure::from)
    }
}
