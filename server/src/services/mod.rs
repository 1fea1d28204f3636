//! One service per capability, wiring domain, cluster and store; together they implement the
//! UI's [`Backend`].

use app::backend::Backend;
use app::failure::Failure;
use domain::audit::{AuditPage, AuditQuery};
use domain::health::Readiness;
use domain::identity::{
    CurrentUser, NewTokenView, Persona, RequestOrigin, SignInOptions, TokenView,
};
use domain::tenancy::{DraftCheck, NamespaceDraft, OnboardingChoices, RequestView, SubmitOutcome};

pub mod access;
pub mod audit;
pub mod budget;
pub mod change;
pub mod clusters;
pub mod cost;
pub mod failures;
pub mod grants;
pub mod identity;
pub mod idle;
pub mod kubeconfig;
pub mod oidc;
pub mod quota;
pub mod rollouts;
pub mod tenancy;
pub mod usage_memo;

/// Now, in unix seconds (0 before 1970).
fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
pub mod workload_actions;
pub mod workload_detail;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::cluster::Cluster;
use crate::cluster::cache::Caches;
use crate::config::{AccessConfig, Config, TenancyConfig};
use crate::store::Store;

/// The service layer's error: what the HTTP layer turns into a status and a message.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadInput(String),
    /// What the database said stays in Berth's log: its text can carry queries, constraint
    /// names and the input that broke them.
    #[error(
        "the database could not complete this; try again, and tell the platform team if it persists"
    )]
    Store(crate::store::StoreError),
    #[error("the cluster did not answer: {0}")]
    Cluster(String),
    #[error("{0}")]
    NotFound(String),
    /// Someone else got there first.
    #[error("{0}")]
    Conflict(String),
    /// The writer read a version that is no longer current (`If-Match`).
    #[error("{0}")]
    Stale(String),
    /// Several things wrong with what was sent, by field where there is one.
    #[error("{}", .0.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<domain::tenancy::FieldError>),
}

impl ServiceError {
    /// Problems that belong to no one field.
    pub fn invalid(problems: Vec<String>) -> Self {
        ServiceError::Invalid(
            problems
                .into_iter()
                .map(domain::tenancy::FieldError::whole)
                .collect(),
        )
    }
}

/// What the pages hear: the kind and the words. The database's own words were logged where
/// the store error became a service error; the page hears that it was the database.
impl From<ServiceError> for app::failure::Failure {
    fn from(err: ServiceError) -> Self {
        use app::failure::{Failure, FailureKind};
        match err {
            ServiceError::Invalid(fields) => Failure::fields(fields),
            ServiceError::Forbidden(why) => Failure::new(FailureKind::Forbidden, why),
            ServiceError::BadInput(why) => Failure::new(FailureKind::Invalid, why),
            ServiceError::NotFound(why) => Failure::new(FailureKind::NotFound, why),
            ServiceError::Conflict(why) | ServiceError::Stale(why) => {
                Failure::new(FailureKind::Conflict, why)
            }
            other @ (ServiceError::Store(_) | ServiceError::Cluster(_)) => {
                Failure::new(FailureKind::Unavailable, other.to_string())
            }
        }
    }
}

impl From<crate::store::StoreError> for ServiceError {
    fn from(err: crate::store::StoreError) -> Self {
        match err {
            // A lost race is the user's news, in words meant for them.
            crate::store::StoreError::Conflict(why) => ServiceError::Conflict(why),
            other => {
                tracing::error!(error = %other, "database error");
                ServiceError::Store(other)
            }
        }
    }
}

/// Whose requests `user` sees: `None` for everyone's (SREs and admins), else their teams'
/// (their own come on top, by requester).
pub(crate) fn request_scope(user: &CurrentUser) -> Option<&[String]> {
    let everything = user
        .roles
        .iter()
        .any(|r| matches!(r, domain::authz::Role::Sre | domain::authz::Role::Admin));
    (!everything).then_some(user.teams.as_slice())
}

/// Everything the HTTP layer and the server functions call.
#[derive(Clone, Debug)]
pub struct Services {
    store: Store,
    /// `berth demo`: demo personas may sign in.
    demo: bool,
    /// The identity provider's issuer, when configured.
    oidc_issuer: Option<String>,
    /// Issuer and client id for exec-plugin kubeconfigs, when the cluster trusts the issuer.
    kubectl_oidc: Option<(String, String)>,
    tenancy: TenancyConfig,
    access: AccessConfig,
    /// Where new access requests are announced.
    access_webhook: Option<(String, reqwest::Client)>,
    /// Wakes the provisioner when a request is approved.
    provision: Arc<Notify>,
    /// Every cluster, each with its client and the watch caches pages read instead of
    /// listing it; the home one is what `cluster()` and `caches()` answer.
    fleet: crate::cluster::fleet::Fleet,
    /// The idle report's usage answers, until the roll-ups move on.
    usage_memo: usage_memo::UsageMemo,
    /// Failed anonymous attempts of the current window (per replica).
    failures: failures::Failures,
    /// Sessions' and tokens' lifetimes.
    auth: crate::config::AuthConfig,
    /// How long a page waits for the watch caches' first fill before saying they are loading.
    cache_wait: std::time::Duration,
}

impl Services {
    pub fn new(store: Store, cluster: Cluster, config: &Config) -> Self {
        use crate::cluster::fleet::{Fleet, Member, Profile};
        let home = Member::start(
            cluster,
            Profile::of(&config.cluster, domain::fleet::ClusterSource::Config),
        );
        Services {
            store,
            demo: config.demo,
            oidc_issuer: config.oidc.as_ref().map(|o| o.issuer_url.clone()),
            kubectl_oidc: config
                .oidc
                .as_ref()
                .filter(|o| o.cluster_trusts_issuer)
                .map(|o| (o.issuer_url.clone(), o.kubectl_client_id.clone())),
            tenancy: config.tenancy.clone(),
            access: config.access.clone(),
            access_webhook: config.access.webhook_url.clone().and_then(|url| {
                reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(10))
                    .build()
                    .ok()
                    .map(|client| (url, client))
            }),
            provision: Arc::new(Notify::new()),
            fleet: Fleet::new(home),
            usage_memo: usage_memo::UsageMemo::default(),
            failures: failures::Failures::new(&config.auth),
            auth: config.auth.clone(),
            // Two thirds of the request timeout: the rest is for the page itself (at the whole
            // timeout, a page over a cluster still loading answered 408 with no words).
            cache_wait: config.http.request_timeout * 2 / 3,
        }
    }

    pub fn caches(&self) -> &Caches {
        &self.fleet.home().caches
    }

    /// The watch caches once they hold their first full list; pages read nothing else.
    async fn cached(&self) -> Result<&Caches, ServiceError> {
        let caches = self.caches();
        if caches.ready_within(self.cache_wait).await {
            Ok(caches)
        } else {
            Err(ServiceError::Cluster(
                "the cluster's objects are still loading; try again shortly".to_owned(),
            ))
        }
    }

    /// Another member's watch caches once they hold their first list (within the same wait as
    /// the home cluster's); one still loading, or down since start, is said so.
    async fn cached_on<'a>(
        &self,
        member: &'a crate::cluster::fleet::Member,
    ) -> Result<&'a Caches, ServiceError> {
        if member.caches.ready_within(self.cache_wait).await {
            Ok(&member.caches)
        } else {
            Err(ServiceError::Cluster(format!(
                "cluster {}'s objects are still loading (or it does not answer); try again shortly",
                member.name()
            )))
        }
    }

    /// The member of the fleet named `cluster` (empty: the home cluster), or why there is none.
    fn member(&self, cluster: &str) -> Result<crate::cluster::fleet::Member, ServiceError> {
        if cluster.is_empty() {
            return Ok(self.fleet.home().clone());
        }
        self.fleet.get(cluster).ok_or_else(|| {
            let shown: String = cluster.chars().take(40).collect();
            ServiceError::NotFound(format!("no cluster {shown:?} in the fleet"))
        })
    }

    /// Issuer and client id kubectl signs in with, when namespace kubeconfigs use OIDC.
    pub fn kubectl_oidc(&self) -> Option<(&str, &str)> {
        self.kubectl_oidc
            .as_ref()
            .map(|(issuer, client)| (issuer.as_str(), client.as_str()))
    }

    pub fn access_config(&self) -> &AccessConfig {
        &self.access
    }

    fn access_webhook(&self) -> Option<(&str, &reqwest::Client)> {
        self.access_webhook
            .as_ref()
            .map(|(url, client)| (url.as_str(), client))
    }

    pub fn tenancy(&self) -> &TenancyConfig {
        &self.tenancy
    }

    /// What the provisioner waits on besides its interval.
    pub fn provision_signal(&self) -> Arc<Notify> {
        self.provision.clone()
    }

    fn wake_provisioner(&self) {
        self.provision.notify_one();
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn cluster(&self) -> &Cluster {
        &self.fleet.home().cluster
    }

    /// Postgres and every cluster, probed at the same time; ready while Postgres and one
    /// cluster serve.
    pub async fn readiness(&self) -> Readiness {
        let (postgres, clusters) = tokio::join!(self.store.probe(), self.fleet.probe_all());
        let clusters = clusters
            .into_iter()
            .map(|(member, check)| [check, member.caches.check()])
            .collect();
        Readiness::for_fleet(postgres, clusters)
    }
}

#[async_trait::async_trait]
impl Backend for Services {
    async fn readiness(&self) -> Readiness {
        Services::readiness(self).await
    }

    async fn sign_in_options(&self) -> SignInOptions {
        let personas = if self.demo {
            crate::auth::demo_personas()
                .into_iter()
                .map(|p| Persona {
                    roles: p.role_names(),
                    id: p.id,
                    display_name: p.display_name,
                    teams: p.teams,
                })
                .collect()
        } else {
            Vec::new()
        };
        SignInOptions {
            personas,
            oidc_issuer: self.oidc_issuer.clone(),
        }
    }

    async fn search_audit(
        &self,
        user: &CurrentUser,
        query: AuditQuery,
    ) -> Result<AuditPage, Failure> {
        Services::search_audit(self, user, &query, 500)
            .await
            .map_err(Failure::from)
    }

    async fn list_tokens(&self, user: &CurrentUser) -> Result<Vec<TokenView>, Failure> {
        let tokens = Services::list_tokens(self, user)
            .await
            .map_err(Failure::from)?;
        Ok(tokens
            .into_iter()
            .map(|t| TokenView {
                id: t.id,
                name: t.name,
                created_at: t.created_at,
                expires_at: t.expires_at,
                revoked: t.revoked,
                last_used_at: t.last_used_at,
                scopes: t.scopes,
            })
            .collect())
    }

    async fn create_token(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        name: String,
        days: u64,
        scopes: String,
    ) -> Result<NewTokenView, Failure> {
        let (info, token) =
            Services::create_token(self, user, origin, &name, days, scopes.split(','))
                .await
                .map_err(Failure::from)?;
        Ok(NewTokenView {
            id: info.id,
            name: info.name,
            expires_at: info.expires_at,
            token,
        })
    }

    async fn revoke_token(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
    ) -> Result<(), Failure> {
        Services::revoke_token(self, user, origin, &id)
            .await
            .map_err(Failure::from)
    }

    async fn onboarding_choices(&self, user: &CurrentUser) -> Result<OnboardingChoices, Failure> {
        Services::onboarding_choices(self, user)
            .await
            .map_err(Failure::from)
    }

    async fn check_namespace_draft(
        &self,
        user: &CurrentUser,
        draft: NamespaceDraft,
    ) -> Result<DraftCheck, Failure> {
        self.check_draft(user, &draft).await.map_err(Failure::from)
    }

    async fn submit_namespace_request(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: NamespaceDraft,
    ) -> Result<SubmitOutcome, Failure> {
        Services::submit_namespace_request(self, user, origin, draft)
            .await
            .map_err(Failure::from)
    }

    async fn save_tier(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: domain::tiers::TierDraft,
    ) -> Result<domain::tiers::TierOutcome, Failure> {
        Services::save_tier(self, user, origin, &draft)
            .await
            .map_err(Failure::from)
    }

    async fn namespace_requests(&self, user: &CurrentUser) -> Result<Vec<RequestView>, Failure> {
        // The page shows the newest; the REST list pages on with a cursor.
        Services::namespace_requests(self, user, None, domain::page::MAX_LIMIT)
            .await
            .map(|page| page.items)
            .map_err(Failure::from)
    }

    async fn decide_namespace_request(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
        approve: bool,
        reason: String,
    ) -> Result<RequestView, Failure> {
        Services::decide_namespace_request(self, user, origin, &id, approve, &reason)
            .await
            .map_err(Failure::from)
    }

    async fn namespace_quotas(
        &self,
        user: &CurrentUser,
    ) -> Result<Vec<domain::quota::NamespaceQuota>, Failure> {
        Services::namespace_quotas(self, user)
            .await
            .map_err(Failure::from)
    }

    async fn cluster_capacity(
        &self,
        user: &CurrentUser,
        cluster: String,
    ) -> Result<domain::capacity::ClusterCapacity, Failure> {
        Services::cluster_capacity(self, user, &cluster)
            .await
            .map_err(Failure::from)
    }
}
