//! The routes' views, each loaded on demand in the browser.
//!
//! Every page is a lazy route: its view code (and whatever only it uses) goes into its own
//! WebAssembly chunk, which the browser fetches when the page is first shown — on a first
//! visit the server names it in a `<link rel=modulepreload>`. The main bundle keeps the
//! framework, the router, the layout and what pages share. On the server nothing changes.
//! The bundle must go through `split-wasm` (scripts/site.sh): an unsplit one cannot load.

// The `lazy_route` expansion declares the chunk loader as an `unsafe extern "C"` import.
#![allow(unsafe_code)]

use leptos::prelude::*;
use leptos_router::{LazyRoute, lazy_route};

use crate::pages::{
    access::AccessPage, access_policy::AccessPolicyPage, access_request::AccessRequestPage,
    audit::AuditPage, clusters::ClustersPage, cost::CostPage, idle::IdlePage, me::MePage,
    namespaces::NamespacesPage, onboarding::OnboardingPage, prices::PricesPage,
    rollouts::RolloutsPage, tiers::TiersPage, workload::WorkloadPage,
};

/// `lazy_page!(Route, Page)`: a route type whose lazily loaded view is `<Page/>`. The pages
/// load their own data in their bodies, so the route has none of its own.
macro_rules! lazy_page {
    ($($route:ident => $page:ident,)*) => {$(
        #[derive(Debug)]
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(this: Self) -> AnyView {
                let $route = this;
                view! { <$page /> }.into_any()
            }
        }
    )*};
}

lazy_page! {
    Onboarding => OnboardingPage,
    Namespaces => NamespacesPage,
    Rollouts => RolloutsPage,
    Workload => WorkloadPage,
    Cost => CostPage,
    Idle => IdlePage,
    Access => AccessPage,
    AccessPolicy => AccessPolicyPage,
    AccessRequest => AccessRequestPage,
    Audit => AuditPage,
    Me => MePage,
    Tiers => TiersPage,
    Prices => PricesPage,
    Clusters => ClustersPage,
}
