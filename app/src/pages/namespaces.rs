//! Namespaces and their quota: bars of used against hard (coloured at 80 % and 100 %),
//! LimitRange defaults, the QoS mix and pods that run without requests or limits. Refreshes
//! itself every few seconds from the server's watch caches.

use std::time::Duration;

use domain::quantity::Pressure;
use domain::quota::{NamespaceQuota, QuotaLine};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::quota_overview;
use crate::session::signed_in_user;

#[component]
pub fn NamespacesPage() -> impl IntoView {
    let body = if signed_in_user().is_some() {
        view! { <QuotaList /> }.into_any()
    } else {
        view! { <p>"Sign in to see your namespaces. " <a href="/signin">"Sign in"</a></p> }
            .into_any()
    };
    view! {
        <Title text="Namespaces" />
        <section>
            <h1>"Namespaces"</h1>
            <p class="lede">
                "Quota used against hard for every namespace you may see; the ones nearest their quota come first."
            </p>
            {body}
        </section>
    }
}

#[component]
fn QuotaList() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let list = Resource::new(move || tick.get(), |_| quota_overview());
    crate::components::poll::every(Duration::from_secs(3), move || tick.update(|n| *n += 1));
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                list.get()
                    .map(|answer| match answer {
                        Ok(items) if items.is_empty() => {
                            view! { <p class="muted">"No namespaces of your teams yet."</p> }.into_any()
                        }
                        Ok(items) => view! {
                            <div class="namespace-list">
                                {items.into_iter().map(|ns| view! { <NamespaceCard ns=ns /> }).collect_view()}
                            </div>
                        }
                        .into_any(),
                        Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
    }
}

fn bar_class(p: Pressure) -> &'static str {
    match p {
        Pressure::Normal => "bar",
        Pressure::Near => "bar near",
        Pressure::Full => "bar full",
    }
}

#[component]
fn QuotaBar(line: QuotaLine) -> impl IntoView {
    let width = line.percent.map(|p| p.clamp(0.0, 100.0)).unwrap_or(100.0);
    let label = match line.percent {
        Some(p) => format!("{} / {} ({:.0} %)", line.used, line.hard, p),
        None => format!("{} / {}", line.used, line.hard),
    };
    view! {
        <div class="quota-line" data-resource=line.resource.clone()>
            <span class="quota-name">{line.resource.clone()}</span>
            <span class=bar_class(line.pressure) role="meter" aria-valuenow=format!("{width:.0}") aria-valuemin="0" aria-valuemax="100">
                <span class="fill" style=format!("width: {width:.1}%")></span>
            </span>
            <span class="quota-figure">{label}</span>
        </div>
    }
}

#[component]
fn NamespaceCard(ns: NamespaceQuota) -> impl IntoView {
    let near = ns.fullest.is_some_and(|p| p >= 80.0);
    let defaults = ns
        .limit_defaults
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let without = (ns.pods_without_limits_count > 0).then(|| {
        view! {
            <p class="field-error">
                {format!("{} pod(s) without requests or limits: ", ns.pods_without_limits_count)}
                {ns.pods_without_limits.join(", ")}
            </p>
        }
    });
    view! {
        <article class="panel namespace-card" id=format!("ns-{}", ns.name) data-near=near.to_string()>
            <div class="panel-head">
                <h2>{ns.name.clone()}</h2>
                <span class="muted">
                    {ns.team.clone().map(|t| format!("team {t}")).unwrap_or_else(|| "no team".to_owned())}
                    {ns.expires_at.clone().map(|e| format!(" · expires {e}")).unwrap_or_default()}
                </span>
            </div>
            {ns.expiry_warning.clone().map(|w| view! { <p class="field-error expiry-warning">{w}</p> })}
            {if ns.quota.is_empty() {
                view! { <p class="muted">"No ResourceQuota: nothing caps this namespace."</p> }.into_any()
            } else {
                ns.quota.into_iter().map(|line| view! { <QuotaBar line=line /> }).collect_view().into_any()
            }}
            <p class="muted qos">
                {format!(
                    "{} pods: {} Guaranteed, {} Burstable, {} BestEffort",
                    ns.pods, ns.qos.guaranteed, ns.qos.burstable, ns.qos.best_effort
                )}
            </p>
            {(!defaults.is_empty()).then(|| view! { <p class="muted">"LimitRange " {defaults}</p> })}
            {without}
        </article>
    }
}
