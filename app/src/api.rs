//! Server functions: thin, they find the [`Backend`](crate::backend::Backend) in context and
//! call it, with the signed-in user the session middleware put on the request. Each answers
//! its value or a [`Failure`]: the one error that crosses the wire, whose kind also sets the
//! HTTP status (`server/src/http/server_fn_status.rs`).

use domain::audit::{AuditAnswer, AuditQuery};
use domain::health::Readiness;
use domain::identity::{CurrentUser, NewTokenView, SignInOptions, TokenView};
use domain::tenancy::{DraftCheck, NamespaceDraft, OnboardingChoices, RequestView, SubmitOutcome};
use leptos::prelude::*;

pub use crate::failure::Failure;

#[cfg(feature = "ssr")]
fn backend() -> Result<crate::backend::SharedBackend, Failure> {
    use_context::<crate::backend::SharedBackend>().ok_or_else(|| {
        crate::failure::Failure::new(
            crate::failure::FailureKind::Unavailable,
            "the server has no backend configured",
        )
    })
}

#[cfg(feature = "ssr")]
fn signed_in() -> Option<CurrentUser> {
    use_context::<http::request::Parts>()
        .and_then(|parts| {
            parts
                .extensions
                .get::<domain::identity::SignedIn>()
                .cloned()
        })
        .map(|s| s.0)
}

/// The signed-in user as the page is rendered: on the server from the request, in the browser
/// read back from the page (see [`crate::session::provide_signed_in`]).
pub fn current_user() -> Option<CurrentUser> {
    #[cfg(feature = "ssr")]
    {
        signed_in()
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}

/// Whether Berth's dependencies answer right now.
#[server(output = crate::codec::JsonText)]
pub async fn check_readiness() -> Result<Readiness, Failure> {
    Ok(backend()?.readiness().await)
}

#[server(output = crate::codec::JsonText)]
pub async fn sign_in_choices() -> Result<SignInOptions, Failure> {
    Ok(backend()?.sign_in_options().await)
}

/// A page of the audit trail, as the signed-in user may see it. Refusals are answers, not
/// errors: the page shows them.
#[server(input = leptos::server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn search_audit(query: AuditQuery) -> Result<AuditAnswer, Failure> {
    let Some(user) = signed_in() else {
        return Ok(AuditAnswer::Refused(
            "sign in to see the audit trail".to_owned(),
        ));
    };
    Ok(match backend()?.search_audit(&user, query).await {
        Ok(page) => AuditAnswer::Page(page),
        Err(why) => AuditAnswer::Refused(why.message),
    })
}

#[cfg(feature = "ssr")]
fn request_origin() -> domain::identity::RequestOrigin {
    use_context::<http::request::Parts>()
        .and_then(|p| {
            p.extensions
                .get::<domain::identity::RequestOrigin>()
                .cloned()
        })
        .unwrap_or_default()
}

/// The signed-in user's API tokens.
#[server(output = crate::codec::JsonText)]
pub async fn my_tokens() -> Result<Vec<TokenView>, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.list_tokens(&user).await
}

/// Makes an API token; the answer is the only time the token is shown.
#[server(output = crate::codec::JsonText)]
pub async fn make_token(
    name: String,
    days: u64,
    /// Besides read: `namespaces`, `access`, `admin`, comma-separated.
    #[server(default)]
    scopes: String,
) -> Result<NewTokenView, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .create_token(&user, &request_origin(), name, days, scopes)
        .await
}

#[server(output = crate::codec::JsonText)]
pub async fn drop_token(id: String) -> Result<(), Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.revoke_token(&user, &request_origin(), id).await
}

/// Teams and tiers for the onboarding form.
#[server(output = crate::codec::JsonText)]
pub async fn onboarding_options() -> Result<OnboardingChoices, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.onboarding_choices(&user).await
}

/// Field errors and the preview of a draft; read-only, so the form may ask on every change.
#[server(input = leptos::server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn check_draft(draft: NamespaceDraft) -> Result<DraftCheck, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.check_namespace_draft(&user, draft).await
}

#[server(input = leptos::server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn submit_draft(draft: NamespaceDraft) -> Result<SubmitOutcome, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .submit_namespace_request(&user, &request_origin(), draft)
        .await
}

#[server(output = crate::codec::JsonText)]
pub async fn list_namespace_requests() -> Result<Vec<RequestView>, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.namespace_requests(&user).await
}

/// Approve or deny; the answer is the request as it now stands.
#[server(output = crate::codec::JsonText)]
pub async fn decide_request(
    id: String,
    approve: bool,
    reason: String,
) -> Result<RequestView, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .decide_namespace_request(&user, &request_origin(), id, approve, reason)
        .await
}

/// Namespaces the signed-in user may see, with quota bars, near-quota first.
#[server(output = crate::codec::JsonText)]
pub async fn quota_overview() -> Result<Vec<domain::quota::NamespaceQuota>, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.namespace_quotas(&user).await
}

/// Node capacity and stranded capacity of a cluster (empty: the home cluster), with the
/// fleet's totals, for SREs, managers and admins.
#[server(output = crate::codec::JsonText)]
pub async fn capacity_overview(
    #[server(default)] cluster: String,
) -> Result<domain::capacity::ClusterCapacity, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.cluster_capacity(&user, cluster).await
}

/// Ask to extend a namespace or change its quota; field errors come back in the answer.
#[server(input = leptos::server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn request_change(
    draft: domain::change::ChangeDraft,
) -> Result<domain::change::ChangeOutcome, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .request_namespace_change(&user, &request_origin(), draft)
        .await
}

#[server(output = crate::codec::JsonText)]
pub async fn list_namespace_changes() -> Result<Vec<domain::change::ChangeView>, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.namespace_changes(&user).await
}

/// Approve or deny a change; the answer is the change as it now stands.
#[server(output = crate::codec::JsonText)]
pub async fn decide_change(
    id: String,
    approve: bool,
    reason: String,
) -> Result<domain::change::ChangeView, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .decide_namespace_change(&user, &request_origin(), id, approve, reason)
        .await
}

/// Create or change a tier (admins); field errors come back in the answer.
#[server(input = leptos::server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn save_tier(
    draft: domain::tiers::TierDraft,
) -> Result<domain::tiers::TierOutcome, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.save_tier(&user, &request_origin(), draft).await
}

/// Workloads with their rollout state, by namespace; `namespace` / `team` narrow it.
#[server(output = crate::codec::JsonText)]
pub async fn rollout_overview(
    namespace: Option<String>,
    team: Option<String>,
    cluster: Option<String>,
    page: Option<usize>,
) -> Result<domain::rollout::RolloutPage, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    let clean = |v: Option<String>| v.filter(|v| !v.is_empty());
    backend()?
        .rollouts(&user, clean(namespace), clean(team), clean(cluster), page)
        .await
}

/// One workload with its pods and recent events; `kind` as in the page address
/// (`deployment`, `statefulset`, `daemonset`), `cluster` the fleet's name of its cluster
/// (empty: the home cluster).
#[server(output = crate::codec::JsonText)]
pub async fn workload_detail(
    cluster: Option<String>,
    kind: String,
    namespace: String,
    name: String,
) -> Result<domain::workload_detail::WorkloadDetail, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    let kind = domain::rollout::WorkloadKind::from_slug(&kind).ok_or_else(|| {
        Failure::new(
            crate::failure::FailureKind::NotFound,
            format!("unknown workload kind {kind:?}: deployment, statefulset or daemonset"),
        )
    })?;
    let target = domain::rollout::WorkloadRef {
        cluster: cluster.unwrap_or_default(),
        kind,
        namespace,
        name,
    };
    backend()?.workload_detail(&user, target).await
}

/// Restart, pause / resume, scale or roll back a workload; the answer says what happened or why
/// not.
#[server(input = leptos::server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn act_on_workload(
    #[server(default)] cluster: String,
    kind: domain::rollout::WorkloadKind,
    namespace: String,
    name: String,
    action: domain::rollout::WorkloadAction,
) -> Result<String, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    let target = domain::rollout::WorkloadRef {
        cluster,
        kind,
        namespace,
        name,
    };
    backend()?
        .act_on_workload(&user, &request_origin(), target, action)
        .await
}

/// The cost report of the view the URL's parameters describe (`by`, `window`, `step`, `idle`,
/// `team`, `filter`, `sort`, `order`); bad parameters are an `Invalid` failure, one message each.
#[server(input = leptos::server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn cost_report(
    params: std::collections::BTreeMap<String, String>,
) -> Result<domain::cost_report::CostReport, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.cost_report(&user, params).await
}

/// The pricing file the reports use.
#[server(output = crate::codec::JsonText)]
pub async fn current_prices() -> Result<domain::cost::Prices, Failure> {
    signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.prices().await
}

/// Saves the pricing file (admins); its problems are an `Invalid` failure.
#[server(input = leptos::server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn save_prices(prices: domain::cost::Prices) -> Result<(), Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .save_prices(&user, &request_origin(), prices)
        .await
}

/// The idle-resource report for the signed-in user's teams (managers and admins: all).
#[server(output = crate::codec::JsonText)]
pub async fn idle_report() -> Result<domain::idle::IdleReport, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.idle_report(&user).await
}

/// Acts on an idle finding (apply a recommendation, scale to zero); the answer says what
/// happened.
#[server(output = crate::codec::JsonText)]
pub async fn act_on_idle(id: String) -> Result<String, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.act_on_idle(&user, &request_origin(), id).await
}

/// Month-to-date spend of the teams the signed-in user may see, against their budgets.
#[server(output = crate::codec::JsonText)]
pub async fn team_budgets() -> Result<Vec<domain::budget::BudgetStatus>, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.budgets(&user).await
}

/// Sets a team's monthly budget (managers of the team, admins).
#[server(output = crate::codec::JsonText)]
pub async fn set_budget(team: String, amount: String) -> Result<(), Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .set_budget(&user, &request_origin(), team, amount)
        .await
}

/// The Access page: the policy, one's own requests and (for reviewers) the queue.
#[server(output = crate::codec::JsonText)]
pub async fn access_overview() -> Result<domain::jit::AccessOverview, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.access_overview(&user).await
}

/// One access request with its audit trail.
#[server(output = crate::codec::JsonText)]
pub async fn access_detail(id: String) -> Result<domain::jit::AccessDetail, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.access_detail(&user, id).await
}

/// Files an access request (an extension when `extends` is set); the answer is the request
/// or what is wrong with it.
#[server(input = leptos::server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn request_access(
    draft: domain::jit::Draft,
    extends: Option<String>,
) -> Result<domain::jit::AccessView, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .request_access(&user, &request_origin(), draft, extends)
        .await
}

/// Approve or deny an access request. A fixed endpoint (`/api/review_access`): it is the API
/// reviewers' tools call, and tests call it as a requester to see it refused.
#[server(endpoint = "review_access", output = crate::codec::JsonText)]
pub async fn review_access(
    id: String,
    approve: bool,
    comment: String,
) -> Result<domain::jit::AccessView, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .review_access(&user, &request_origin(), id, approve, comment)
        .await
}

/// End an active grant now.
#[server(output = crate::codec::JsonText)]
pub async fn revoke_access(
    id: String,
    comment: String,
) -> Result<domain::jit::AccessView, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .revoke_access(&user, &request_origin(), id, comment)
        .await
}

/// Take back one's own pending request.
#[server(output = crate::codec::JsonText)]
pub async fn withdraw_access(
    id: String,
    comment: String,
) -> Result<domain::jit::AccessView, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .withdraw_access(&user, &request_origin(), id, comment)
        .await
}

/// Admins: end every active grant.
#[server(output = crate::codec::JsonText)]
pub async fn revoke_all_access(comment: String) -> Result<usize, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .revoke_all_access(&user, &request_origin(), comment)
        .await
}

/// SREs: sign off a break-glass grant after the fact.
#[server(output = crate::codec::JsonText)]
pub async fn sign_off_access(
    id: String,
    comment: String,
) -> Result<domain::jit::AccessView, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .sign_off_access(&user, &request_origin(), id, comment)
        .await
}

/// Admins: the access policy as YAML.
#[server(output = crate::codec::JsonText)]
pub async fn access_policy_text() -> Result<String, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.access_policy_yaml(&user).await
}

/// Admins: save the access policy; its problems are an `Invalid` failure.
#[server(output = crate::codec::JsonText)]
pub async fn save_access_policy(text: String) -> Result<usize, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .save_access_policy(&user, &request_origin(), text)
        .await
}

/// Every cluster Berth serves, with its last known health.
#[server(output = crate::codec::JsonText)]
pub async fn fleet_clusters() -> Result<Vec<domain::fleet::ClusterSummary>, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?.clusters(&user).await
}

/// Registers a cluster (admins); field errors come back in the failure.
#[server(input = leptos::server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn add_cluster(
    draft: domain::fleet::ClusterDraft,
) -> Result<domain::fleet::ClusterSummary, Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .add_cluster(&user, &request_origin(), draft)
        .await
}

/// Takes a registered cluster out of the fleet (admins).
#[server(output = crate::codec::JsonText)]
pub async fn remove_cluster(name: String) -> Result<(), Failure> {
    let user = signed_in().ok_or_else(Failure::sign_in)?;
    backend()?
        .remove_cluster(&user, &request_origin(), name)
        .await
}
