//! The top of the home page: what needs this person now, by role. A developer sees their
//! namespaces (expiring ones first); a manager the decisions waiting for them and their
//! teams' spend; an SRE the access queue and the grants in force; an admin the policy's state.

use std::collections::BTreeMap;

use domain::authz::Role;
use domain::identity::CurrentUser;
use leptos::prelude::*;

use crate::api::{access_overview, cost_report, list_namespace_changes, list_namespace_requests};

/// Rows a panel lists before it points to the full page.
const SHOWN: usize = 5;

#[component]
pub fn ForYou(user: CurrentUser) -> impl IntoView {
    let has = |r: Role| user.roles.contains(&r);
    let (manager, sre, admin) = (
        has(Role::Manager) || has(Role::Admin),
        has(Role::Sre) || has(Role::Admin),
        has(Role::Admin),
    );
    view! {
        <section class="for-you" id="for-you" aria-labelledby="for-you-title">
            <h2 id="for-you-title">{format!("For you, {}", user.display_name)}</h2>
            <div class="cards">
                <Namespaces />
                {manager.then(|| view! { <Decisions /> <Spend /> })}
                {sre.then(|| view! { <AccessQueue /> })}
                {admin.then(|| view! { <PolicyHealth /> })}
            </div>
        </section>
    }
}

#[component]
fn Panel(
    id: &'static str,
    title: &'static str,
    href: &'static str,
    children: Children,
) -> impl IntoView {
    view! {
        <article class="card panel-card" id=id>
            <h3><a href=href>{title}</a></h3>
            {children()}
        </article>
    }
}

#[component]
fn Namespaces() -> impl IntoView {
    let requests = Resource::new(|| (), |_| list_namespace_requests());
    view! {
        <Panel id="home-namespaces" title="Your namespaces" href="/onboarding">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || requests.get().map(|answer| match answer {
                    Ok(list) => {
                        let mut ready: Vec<_> = list
                            .into_iter()
                            .filter(|r| r.can_change || r.expiry_warning.is_some())
                            .collect();
                        // Expiring ones first: they need a decision.
                        ready.sort_by_key(|r| r.expiry_warning.is_none());
                        let more = ready.len().saturating_sub(SHOWN);
                        if ready.is_empty() {
                            view! { <p class="muted">"None yet: " <a href="/onboarding">"ask for one"</a> "."</p> }.into_any()
                        } else {
                            view! {
                                <ul class="plain">
                                    {ready.into_iter().take(SHOWN).map(|r| {
                                        let warn = r.expiry_warning.clone();
                                        let expiring = warn.is_some();
                                        view! {
                                            <li class:expiring=expiring>
                                                <strong>{r.name.clone()}</strong>
                                                <span class="muted">{format!(" · {} · ", r.team)}</span>
                                                {match (warn, r.expires_at.clone()) {
                                                    (Some(w), _) => view! { <span class="field-error">{w}</span> }.into_any(),
                                                    (None, Some(at)) => view! { <span class="muted">{format!("until {at}")}</span> }.into_any(),
                                                    (None, None) => view! { <span class="muted">"permanent"</span> }.into_any(),
                                                }}
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                                {(more > 0).then(|| view! { <p class="muted">{format!("and {more} more")}</p> })}
                            }.into_any()
                        }
                    }
                    Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </Panel>
    }
}

#[component]
fn Decisions() -> impl IntoView {
    let requests = Resource::new(|| (), |_| list_namespace_requests());
    let changes = Resource::new(|| (), |_| list_namespace_changes());
    view! {
        <Panel id="home-decisions" title="Waiting for your decision" href="/onboarding">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let requests = requests.get()?.ok()?;
                    let changes = changes.get()?.ok()?;
                    let mut items: Vec<String> = requests
                        .iter()
                        .filter(|r| r.can_decide)
                        .map(|r| format!("namespace {} ({}, tier {}) for {}", r.name, r.team, r.tier, r.requester))
                        .collect();
                    items.extend(
                        changes
                            .iter()
                            .filter(|c| c.can_decide)
                            .map(|c| format!("{}: {} for {}", c.namespace, c.summary, c.requester)),
                    );
                    Some(if items.is_empty() {
                        view! { <p class="muted" id="home-no-decisions">"Nothing waits for you."</p> }.into_any()
                    } else {
                        let count = items.len();
                        view! {
                            <p><strong id="home-decision-count">{count}</strong> " waiting"</p>
                            <ul class="plain">
                                {items.into_iter().take(SHOWN).map(|i| view! { <li>{i}</li> }).collect_view()}
                            </ul>
                        }
                        .into_any()
                    })
                }}
            </Suspense>
        </Panel>
    }
}

#[component]
fn Spend() -> impl IntoView {
    let report = Resource::new(
        || (),
        |_| {
            cost_report(BTreeMap::from([
                ("by".to_owned(), "team".to_owned()),
                ("window".to_owned(), "7d".to_owned()),
            ]))
        },
    );
    view! {
        <Panel id="home-spend" title="Team spend, last 7 days" href="/cost?by=team&window=7d">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || report.get().map(|answer| match answer {
                    Ok(r) => view! {
                        <p><strong>{domain::cost_report::dollars(r.total)}</strong> <span class="muted">" in all, idle included"</span></p>
                        <ul class="plain">
                            {r.groups.into_iter().take(SHOWN).map(|g| view! {
                                <li><a href=format!("/cost?by=namespace&window=7d&team={}", g.key)>{g.key.clone()}</a>
                                    <span class="muted">{format!(" · ${:.2}", g.total)}</span></li>
                            }).collect_view()}
                        </ul>
                    }
                    .into_any(),
                    Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </Panel>
    }
}

#[component]
fn AccessQueue() -> impl IntoView {
    let overview = Resource::new(|| (), |_| access_overview());
    view! {
        <Panel id="home-access" title="Access to review" href="/access">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || overview.get().map(|answer| match answer {
                    Ok(o) => {
                        let pending = o.queue.len();
                        let active = o.active.len();
                        view! {
                            <p>
                                <strong id="home-queue-count">{pending}</strong> " waiting for review · "
                                <strong id="home-active-count">{active}</strong> " grants in force"
                            </p>
                            <ul class="plain">
                                {o.queue.into_iter().take(SHOWN).map(|a| view! {
                                    <li><a href=format!("/access/{}", a.id)>{format!("{} wants {} on {}", a.requester, a.role, a.scope)}</a></li>
                                }).collect_view()}
                            </ul>
                        }
                        .into_any()
                    }
                    Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </Panel>
    }
}

#[component]
fn PolicyHealth() -> impl IntoView {
    let overview = Resource::new(|| (), |_| access_overview());
    view! {
        <Panel id="home-policy" title="Policy" href="/access/policy">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || overview.get().map(|answer| match answer {
                    Ok(o) => {
                        let longest = o.rules.iter().map(|r| r.max_minutes).max().unwrap_or(0);
                        let glass = if o.break_glass_roles.is_empty() {
                            "no role may be self-approved".to_owned()
                        } else {
                            format!("break-glass for {}", o.break_glass_roles.join(", "))
                        };
                        view! {
                            <p id="home-policy-summary">
                                {format!("{} access rules; the longest grant {} min; {glass}", o.rules.len(), longest)}
                            </p>
                            <p class="muted"><a href="/tiers">"tiers"</a> " · " <a href="/prices">"prices"</a> " · " <a href="/clusters">"clusters"</a> " · " <a href="/audit">"audit trail"</a></p>
                        }
                        .into_any()
                    }
                    Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </Panel>
    }
}
