//! What the UI needs from the server, as a trait: server functions call it and never touch
//! Postgres or the cluster themselves. The server provides the implementation as context.

use std::sync::Arc;

use crate::failure::Failure;
use domain::audit::{AuditPage, AuditQuery};
use domain::change::{ChangeDraft, ChangeOutcome, ChangeView};
use domain::health::Readiness;
use domain::identity::{CurrentUser, NewTokenView, RequestOrigin, SignInOptions, TokenView};
use domain::tenancy::{DraftCheck, NamespaceDraft, OnboardingChoices, RequestView, SubmitOutcome};

#[async_trait::async_trait]
pub trait Backend:
    ChangeBackend
    + RolloutBackend
    + WorkloadBackend
    + WorkloadDetailBackend
    + CostBackend
    + IdleBackend
    + BudgetBackend
    + AccessBackend
    + FleetBackend
{
    /// Probes every dependency Berth needs to serve.
    async fn readiness(&self) -> Readiness;

    /// How visitors may sign in here.
    async fn sign_in_options(&self) -> SignInOptions;

    /// The audit events `user` may see that match `query`.
    async fn search_audit(
        &self,
        user: &CurrentUser,
        query: AuditQuery,
    ) -> Result<AuditPage, Failure>;

    /// `user`'s API tokens, without the tokens themselves.
    async fn list_tokens(&self, user: &CurrentUser) -> Result<Vec<TokenView>, Failure>;

    /// Makes a token with `scopes` (comma-separated; read always); the answer carries the
    /// token, shown this once.
    async fn create_token(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        name: String,
        days: u64,
        scopes: String,
    ) -> Result<NewTokenView, Failure>;

    async fn revoke_token(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
    ) -> Result<(), Failure>;

    /// Teams and tiers the onboarding form offers `user`.
    async fn onboarding_choices(&self, user: &CurrentUser) -> Result<OnboardingChoices, Failure>;

    /// Field errors and the manifest preview of a draft, while it is typed.
    async fn check_namespace_draft(
        &self,
        user: &CurrentUser,
        draft: NamespaceDraft,
    ) -> Result<DraftCheck, Failure>;

    async fn submit_namespace_request(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: NamespaceDraft,
    ) -> Result<SubmitOutcome, Failure>;

    /// Creates or changes a tier (admins).
    async fn save_tier(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: domain::tiers::TierDraft,
    ) -> Result<domain::tiers::TierOutcome, Failure>;

    /// The namespace requests `user` may see, newest first.
    async fn namespace_requests(&self, user: &CurrentUser) -> Result<Vec<RequestView>, Failure>;

    /// Namespaces `user` may see with their quota use, near-quota first.
    async fn namespace_quotas(
        &self,
        user: &CurrentUser,
    ) -> Result<Vec<domain::quota::NamespaceQuota>, Failure>;

    /// Node capacity of a cluster (empty: the home cluster) and the fleet's totals, for
    /// SREs, managers and admins.
    async fn cluster_capacity(
        &self,
        user: &CurrentUser,
        cluster: String,
    ) -> Result<domain::capacity::ClusterCapacity, Failure>;

    async fn decide_namespace_request(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
        approve: bool,
        reason: String,
    ) -> Result<RequestView, Failure>;
}

/// Extensions and quota changes of provisioned namespaces.
#[async_trait::async_trait]
pub trait ChangeBackend: Send + Sync + 'static {
    async fn request_namespace_change(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: ChangeDraft,
    ) -> Result<ChangeOutcome, Failure>;

    /// The changes `user` may see, newest first.
    async fn namespace_changes(&self, user: &CurrentUser) -> Result<Vec<ChangeView>, Failure>;

    async fn decide_namespace_change(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
        approve: bool,
        reason: String,
    ) -> Result<ChangeView, Failure>;
}

/// Rollout views.
#[async_trait::async_trait]
pub trait RolloutBackend: Send + Sync + 'static {
    /// Workloads `user` may see in `namespace` / of `team` (all when `None`), by namespace,
    /// page `page` (1 when `None`) of at most [`domain::rollout::PAGE_WORKLOADS`].
    async fn rollouts(
        &self,
        user: &CurrentUser,
        namespace: Option<String>,
        team: Option<String>,
        cluster: Option<String>,
        page: Option<usize>,
    ) -> Result<domain::rollout::RolloutPage, Failure>;
}

/// Restart, pause / resume, scale and roll back workloads.
#[async_trait::async_trait]
pub trait WorkloadBackend: Send + Sync + 'static {
    /// Does `action`; the answer says what happened, or why not.
    async fn act_on_workload(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        target: domain::rollout::WorkloadRef,
        action: domain::rollout::WorkloadAction,
    ) -> Result<String, Failure>;
}

/// One workload in full: pods and events beside its rollout view.
#[async_trait::async_trait]
pub trait WorkloadDetailBackend: Send + Sync + 'static {
    async fn workload_detail(
        &self,
        user: &CurrentUser,
        target: domain::rollout::WorkloadRef,
    ) -> Result<domain::workload_detail::WorkloadDetail, Failure>;
}

/// Cost reports and the pricing file.
#[async_trait::async_trait]
pub trait CostBackend: Send + Sync + 'static {
    /// The report the URL's parameters describe; what is wrong with them comes back by field.
    async fn cost_report(
        &self,
        user: &CurrentUser,
        params: std::collections::BTreeMap<String, String>,
    ) -> Result<domain::cost_report::CostReport, Failure>;

    async fn prices(&self) -> Result<domain::cost::Prices, Failure>;

    /// Admins only; what is wrong comes back as an `Invalid` failure.
    async fn save_prices(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        prices: domain::cost::Prices,
    ) -> Result<(), Failure>;
}

/// The idle-resource report and acting on its findings.
#[async_trait::async_trait]
pub trait IdleBackend: Send + Sync + 'static {
    async fn idle_report(&self, user: &CurrentUser) -> Result<domain::idle::IdleReport, Failure>;

    /// Acts on finding `id` as the server computes it now; the answer says what happened.
    async fn act_on_idle(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
    ) -> Result<String, Failure>;
}

/// Team budgets.
#[async_trait::async_trait]
pub trait BudgetBackend: Send + Sync + 'static {
    async fn budgets(
        &self,
        user: &CurrentUser,
    ) -> Result<Vec<domain::budget::BudgetStatus>, Failure>;

    /// Managers of the team and admins.
    async fn set_budget(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        team: String,
        amount: String,
    ) -> Result<(), Failure>;
}

/// How the backend travels through Leptos context.
pub type SharedBackend = Arc<dyn Backend>;

/// The clusters Berth serves and the registry admins change.
#[async_trait::async_trait]
pub trait FleetBackend: Send + Sync + 'static {
    /// Every cluster with its last known health (anyone signed in).
    async fn clusters(
        &self,
        user: &CurrentUser,
    ) -> Result<Vec<domain::fleet::ClusterSummary>, Failure>;

    /// Registers a cluster (admins); what is wrong comes back by field.
    async fn add_cluster(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: domain::fleet::ClusterDraft,
    ) -> Result<domain::fleet::ClusterSummary, Failure>;

    /// Takes a registered cluster out of the fleet (admins).
    async fn remove_cluster(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        name: String,
    ) -> Result<(), Failure>;
}

/// Just-in-time access: requests, reviews, grants and their end.
#[async_trait::async_trait]
pub trait AccessBackend: Send + Sync + 'static {
    async fn access_overview(
        &self,
        user: &CurrentUser,
    ) -> Result<domain::jit::AccessOverview, Failure>;

    async fn access_detail(
        &self,
        user: &CurrentUser,
        id: String,
    ) -> Result<domain::jit::AccessDetail, Failure>;

    /// Files a request (an extension when `extends` names an active grant); what is wrong
    /// comes back as the error.
    async fn request_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: domain::jit::Draft,
        extends: Option<String>,
    ) -> Result<domain::jit::AccessView, Failure>;

    async fn review_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
        approve: bool,
        comment: String,
    ) -> Result<domain::jit::AccessView, Failure>;

    async fn revoke_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
        comment: String,
    ) -> Result<domain::jit::AccessView, Failure>;

    /// Its requester takes back a pending request.
    async fn withdraw_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
        comment: String,
    ) -> Result<domain::jit::AccessView, Failure>;

    /// Admins: ends every active grant; how many it ended.
    async fn revoke_all_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        comment: String,
    ) -> Result<usize, Failure>;

    async fn sign_off_access(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
        comment: String,
    ) -> Result<domain::jit::AccessView, Failure>;

    /// Admins: the policy as YAML.
    async fn access_policy_yaml(&self, user: &CurrentUser) -> Result<String, Failure>;

    /// Admins: saves the policy; its problems come back as an `Invalid` failure.
    async fn save_access_policy(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        text: String,
    ) -> Result<usize, Failure>;
}
