//! Which token scope a request needs: reads need `read` (every token has it); each write
//! names its area. A write this table does not know needs `admin`, so a new endpoint is closed
//! to narrow tokens until it is listed here.

use domain::identity::TokenScope;
use http::Method;
use leptos::server_fn::ServerFn;

/// Server functions that change something, by the area they change.
fn server_fn_writes() -> [(&'static str, TokenScope); 18] {
    use app::api::*;
    [
        (SubmitDraft::PATH, TokenScope::Namespaces),
        (DecideRequest::PATH, TokenScope::Namespaces),
        (RequestChange::PATH, TokenScope::Namespaces),
        (DecideChange::PATH, TokenScope::Namespaces),
        (ActOnWorkload::PATH, TokenScope::Namespaces),
        (ActOnIdle::PATH, TokenScope::Namespaces),
        (SetBudget::PATH, TokenScope::Namespaces),
        (RequestAccess::PATH, TokenScope::Access),
        (ReviewAccess::PATH, TokenScope::Access),
        (RevokeAccess::PATH, TokenScope::Access),
        (RevokeAllAccess::PATH, TokenScope::Access),
        (SignOffAccess::PATH, TokenScope::Access),
        (WithdrawAccess::PATH, TokenScope::Access),
        (AddCluster::PATH, TokenScope::Admin),
        (RemoveCluster::PATH, TokenScope::Admin),
        (SaveTier::PATH, TokenScope::Admin),
        (SavePrices::PATH, TokenScope::Admin),
        (SaveAccessPolicy::PATH, TokenScope::Admin),
    ]
}

/// Server functions that only read (POST, as every server function is).
fn server_fn_reads() -> [&'static str; 21] {
    use app::api::*;
    [
        CheckReadiness::PATH,
        SignInChoices::PATH,
        SearchAudit::PATH,
        MyTokens::PATH,
        DropToken::PATH,
        OnboardingOptions::PATH,
        CheckDraft::PATH,
        ListNamespaceRequests::PATH,
        QuotaOverview::PATH,
        CapacityOverview::PATH,
        ListNamespaceChanges::PATH,
        RolloutOverview::PATH,
        WorkloadDetail::PATH,
        CostReport::PATH,
        CurrentPrices::PATH,
        IdleReport::PATH,
        TeamBudgets::PATH,
        AccessOverview::PATH,
        AccessDetail::PATH,
        AccessPolicyText::PATH,
        FleetClusters::PATH,
    ]
}

/// The scope a request with `method` to `path` needs.
pub fn needed(method: &Method, path: &str) -> TokenScope {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return TokenScope::Read;
    }
    if let Some((_, scope)) = server_fn_writes().into_iter().find(|(p, _)| *p == path) {
        return scope;
    }
    if server_fn_reads().contains(&path) {
        return TokenScope::Read;
    }
    let rest: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), rest.as_slice()) {
        // Revoking a token only takes access away; signing out ends nothing a token has.
        ("DELETE", ["api", "v1", "tokens", _]) | ("POST", ["auth", "signout"]) => TokenScope::Read,
        ("POST", ["api", "v1", "namespaces", _, "kubeconfig"] | ["api", "v1", "kubeconfig"]) => {
            TokenScope::Namespaces
        }
        ("POST", ["api", "v1", "access", _, "kubeconfig"]) => TokenScope::Access,
        _ => TokenScope::Admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_writes_and_the_unknown() {
        use app::api::*;
        assert_eq!(needed(&Method::GET, "/api/v1/audit"), TokenScope::Read);
        assert_eq!(needed(&Method::POST, QuotaOverview::PATH), TokenScope::Read);
        assert_eq!(
            needed(&Method::POST, SubmitDraft::PATH),
            TokenScope::Namespaces
        );
        assert_eq!(
            needed(&Method::POST, ReviewAccess::PATH),
            TokenScope::Access
        );
        assert_eq!(needed(&Method::POST, SavePrices::PATH), TokenScope::Admin);
        assert_eq!(
            needed(&Method::POST, "/api/v1/namespaces/shop/kubeconfig"),
            TokenScope::Namespaces
        );
        assert_eq!(
            needed(&Method::DELETE, "/api/v1/tokens/x"),
            TokenScope::Read
        );
        assert_eq!(
            needed(&Method::POST, "/api/something_new"),
            TokenScope::Admin
        );
        assert_eq!(needed(&Method::PUT, "/api/v1/tokens/x"), TokenScope::Admin);
    }
}
