//! Berth's user interface.
//!
//! Compiled twice: with `ssr` into the server, which renders every page to HTML, and with
//! `hydrate` to WebAssembly, which takes those pages over in the browser.

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod codec;
pub mod components;
pub mod failure;
pub mod pages;
mod routes;
pub mod session;

use domain::areas::Area;
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    Lazy, ParamSegment, StaticSegment,
    components::{Route, Router, Routes},
};

use components::layout::Layout;
use pages::{home::HomePage, not_found::NotFound, signin::SignInPage};

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

    // True while the router loads the next page (its code, on a first visit): the layout
    // shows it, so a click is never followed by nothing.
    let (routing, set_routing) = signal(false);
    provide_context(components::layout::Routing(routing));
    view! {
        <Stylesheet id="berth-css" href="/pkg/berth.css" />
        <Title formatter=|page: String| format!("{page} · Berth") />
        <Router set_is_routing=set_routing>
            <Layout>
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=HomePage />
                    <Route path=StaticSegment(Area::Onboarding.slug()) view={Lazy::<routes::Onboarding>::new()} />
                    <Route path=StaticSegment(Area::Namespaces.slug()) view={Lazy::<routes::Namespaces>::new()} />
                    <Route path=StaticSegment(Area::Rollouts.slug()) view={Lazy::<routes::Rollouts>::new()} />
                    <Route
                        path=(
                            StaticSegment(Area::Rollouts.slug()),
                            ParamSegment("kind"),
                            ParamSegment("namespace"),
                            ParamSegment("name"),
                        )
                        view={Lazy::<routes::Workload>::new()}
                    />
                    <Route path=StaticSegment(Area::Cost.slug()) view={Lazy::<routes::Cost>::new()} />
                    <Route path=StaticSegment(Area::Idle.slug()) view={Lazy::<routes::Idle>::new()} />
                    <Route path=StaticSegment(Area::Access.slug()) view={Lazy::<routes::Access>::new()} />
                    <Route
                        path=(StaticSegment(Area::Access.slug()), StaticSegment("policy"))
                        view={Lazy::<routes::AccessPolicy>::new()}
                    />
                    <Route
                        path=(StaticSegment(Area::Access.slug()), ParamSegment("id"))
                        view={Lazy::<routes::AccessRequest>::new()}
                    />
                    <Route path=StaticSegment(Area::Audit.slug()) view={Lazy::<routes::Audit>::new()} />
                    <Route path=StaticSegment("signin") view=SignInPage />
                    <Route path=StaticSegment("me") view={Lazy::<routes::Me>::new()} />
                    <Route path=StaticSegment("tiers") view={Lazy::<routes::Tiers>::new()} />
                    <Route path=StaticSegment("prices") view={Lazy::<routes::Prices>::new()} />
                    <Route path=StaticSegment("clusters") view={Lazy::<routes::Clusters>::new()} />
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
    // `leptos::mount::hydrate_lazy` (lazy routes: the page's chunk is loaded as hydration
    // reaches it), then the page is marked hydrated.
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = document().body() else {
            return;
        };
        let owner = leptos::mount::hydrate_from_async(body, App).await;
        owner.forget();
        components::layout::mark_hydrated();
    });
}
