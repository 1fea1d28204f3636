//! The landing page: what Berth offers, and whether it can serve right now.

use domain::areas::Area;
use domain::health::Readiness;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::CheckReadiness;

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="Home" />
        <section class="hero">
            <h1>"Berth"</h1>
            <p class="lede">
                "Self-service for a shared Kubernetes cluster: namespaces with guard rails, \
                 quota and rollout views, cost reports, short-lived elevated access, and an \
                 audit trail of every change."
            </p>
        </section>
        {crate::session::signed_in_user()
            .map(|user| view! { <crate::pages::home_persona::ForYou user=user /> })}
        <ReadinessPanel />
        <section>
            <h2>"Areas"</h2>
            <ul class="cards">
                {Area::ALL
                    .into_iter()
                    .map(|area| {
                        view! {
                            <li class="card">
                                <h3>
                                    <A href=area.path()>{area.title()}</A>
                                </h3>
                                <p>{area.summary()}</p>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}

/// Asks the server, on demand, whether Postgres (and later the cluster) answers.
#[component]
fn ReadinessPanel() -> impl IntoView {
    let check = ServerAction::<CheckReadiness>::new();
    let pending = check.pending();

    view! {
        <section class="panel" aria-live="polite">
            <div class="panel-head">
                <h2>"Readiness"</h2>
                <button
                    class="button"
                    id="check-readiness"
                    on:click=move |_| {
                        check.dispatch(CheckReadiness {});
                    }
                    disabled=move || pending.get()
                >
                    {move || if pending.get() { "Checking…" } else { "Check now" }}
                </button>
            </div>
            <div id="readiness-result">
                {move || match check.value().get() {
                    None => view! { <p class="muted">"Not checked yet."</p> }.into_any(),
                    Some(Ok(readiness)) => view! { <ReadinessList readiness /> }.into_any(),
                    Some(Err(err)) => {
                        view! { <p class="error">"Could not ask the server: " {err.to_string()}</p> }
                            .into_any()
                    }
                }}
            </div>
        </section>
    }
}

#[component]
fn ReadinessList(readiness: Readiness) -> impl IntoView {
    let summary = if readiness.ready {
        "Ready: every dependency answers."
    } else {
        "Not ready."
    };
    view! {
        <p class=if readiness.ready { "ok" } else { "error" }>{summary}</p>
        <ul class="checks">
            {readiness
                .checks
                .into_iter()
                .map(|check| {
                    view! {
                        <li class=if check.ok { "ok" } else { "error" }>
                            <strong>{check.name}</strong>
                            ": "
                            {check.detail}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}
