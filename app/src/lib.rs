//! Berth's user interface.
//!
//! Compiled twice: with `ssr` into the server, which renders every page to HTML, and with
//! `hydrate` to WebAssembly, which takes those pages over in the browser.

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod components;
pub mod pages;
pub mod session;

use domain::areas::Area;
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    ParamSegment, StaticSegment,
    components::{Route, Router, Routes},
};

use components::layout::Layout;
use pages::{
    access::AccessPage, access_policy::AccessPolicyPage, access_request::AccessRequestPage,
    audit::AuditPage, cost::CostPage, home::HomePage, idle::IdlePage, me::MePage,
    namespaces::NamespacesPage, not_found::NotFound, onboarding::OnboardingPage,
    prices::PricesPage, rollouts::RolloutsPage, signin::SignInPage, tiers::TiersPage,
    workload::WorkloadPage,
};

/// The HTML document around the app; the server renders it for every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                // No favicon yet; an empty one keeps browsers from asking for /favicon.ico.
                <link rel="icon" href="data:," />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    session::provide_signed_in();

    view! {
        <Stylesheet id="berth-css" href="/pkg/berth.css" />
        <Title formatter=|page: String| format!("{page} · Berth") />
        <Router>
            <Layout>
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=HomePage />
                    <Route path=StaticSegment(Area::Onboarding.slug()) view=OnboardingPage />
                    <Route path=StaticSegment(Area::Namespaces.slug()) view=NamespacesPage />
                    <Route path=StaticSegment(Area::Rollouts.slug()) view=RolloutsPage />
                    <Route
                        path=(
                            StaticSegment(Area::Rollouts.slug()),
                            ParamSegment("kind"),
                            ParamSegment("namespace"),
                            ParamSegment("name"),
                        )
                        view=WorkloadPage
                    />
                    <Route path=StaticSegment(Area::Cost.slug()) view=CostPage />
                    <Route path=StaticSegment(Area::Idle.slug()) view=IdlePage />
                    <Route path=StaticSegment(Area::Access.slug()) view=AccessPage />
                    <Route
                        path=(StaticSegment(Area::Access.slug()), StaticSegment("policy"))
                        view=AccessPolicyPage
                    />
                    <Route
                        path=(StaticSegment(Area::Access.slug()), ParamSegment("id"))
                        view=AccessRequestPage
                    />
                    <Route path=StaticSegment(Area::Audit.slug()) view=AuditPage />
                    <Route path=StaticSegment("signin") view=SignInPage />
                    <Route path=StaticSegment("me") view=MePage />
                    <Route path=StaticSegment("tiers") view=TiersPage />
                    <Route path=StaticSegment("prices") view=PricesPage />
                </Routes>
            </Layout>
        </Router>
    }
}

/// Entry point of the WASM bundle: takes over the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
