//! The frame around every page: brand, navigation to every area, content.

use domain::areas::Area;
use leptos::prelude::*;
use leptos_router::components::A;

use crate::session::signed_in_user;

/// The signed-in user with a sign-out button, or a sign-in link.
#[component]
fn UserChip() -> impl IntoView {
    let chip = match signed_in_user() {
        Some(u) => {
            let name = u.display_name.clone();
            let roles = u.role_names().join(", ");
            view! {
                <A href="/me" attr:id="user-name">{name}</A>
                <span class="muted">" · " {roles}</span>
                <form method="post" action="/auth/signout" class="inline">
                    <button class="link-button" type="submit">"Sign out"</button>
                </form>
            }
            .into_any()
        }
        None => view! { <SignInLink id="sign-in-link" /> }.into_any(),
    };
    view! { <div class="user-chip">{chip}</div> }
}

/// Whether the router is on its way to another page.
#[derive(Clone, Copy, Debug)]
pub struct Routing(pub ReadSignal<bool>);

/// A link to the sign-in page that comes back here afterwards: a shared link opened signed
/// out keeps its view (its path and query) through the sign-in.
#[component]
pub fn SignInLink(#[prop(optional)] id: Option<&'static str>) -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let href = move || {
        let path = location.pathname.get();
        let search = location.search.get();
        let here = if search.is_empty() {
            path
        } else {
            format!("{path}?{}", search.trim_start_matches('?'))
        };
        match domain::identity::return_path(&here) {
            Some(next) if next != "/" => {
                format!("/signin?next={}", domain::text::query_value(next))
            }
            _ => "/signin".to_owned(),
        }
    };
    view! { <a href=href id=id>"Sign in"</a> }
}

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let routing = use_context::<Routing>().map(|r| r.0);
    let loading = move || routing.is_some_and(|r| r.get());
    let main_ref = NodeRef::<leptos::html::Main>::new();
    // `data-hydrated` turns "true" once the whole page, the route's lazily loaded view
    // included, has hydrated (see `mark_hydrated`); browser tests wait for it before they act.
    view! {
        <div class="app" data-hydrated="false" aria-busy=move || loading().to_string()>
            // The router takes over in-page links too, and would only scroll: the focus
            // must move with the reader.
            <a class="skip-link" href="#main" on:click=move |ev| {
                ev.prevent_default();
                if let Some(main) = main_ref.get() {
                    let _ = main.focus();
                }
            }>"Skip to content"</a>
            <div
                class="route-progress"
                id="route-progress"
                role="progressbar"
                aria-label="Loading the page"
                class:active=loading
            ></div>
            <header class="topbar">
                <A href="/" attr:class="brand">
                    <span class="brand-mark" aria-hidden="true">"⚓"</span>
                    " Berth"
                </A>
                <nav aria-label="Main">
                    <ul class="nav">
                        {Area::ALL
                            .into_iter()
                            .map(|area| {
                                view! {
                                    <li>
                                        <A href=area.path()>{area.title()}</A>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                </nav>
                <UserChip />
            </header>
            // The skip link's target: focusable by script and link, not in the tab order.
            <main class="content" id="main" tabindex="-1" node_ref=main_ref>{children()}</main>
            <footer class="footer">
                "Berth " {env!("CARGO_PKG_VERSION")} " · self-service for shared Kubernetes clusters"
            </footer>
        </div>
    }
}

/// Marks the page hydrated. Called when hydration has finished: an effect in the layout
/// would run as soon as the layout itself had hydrated, before the route's chunk arrived.
#[cfg(feature = "hydrate")]
pub fn mark_hydrated() {
    let app = document().query_selector(".app").ok().flatten();
    if let Some(app) = app {
        // Nothing to recover: a page that cannot be marked still works.
        let _ = app.set_attribute("data-hydrated", "true");
    }
}
