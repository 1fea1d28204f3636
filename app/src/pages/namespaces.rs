//! Namespaces and their quota: bars of used against hard (coloured at 80 % and 100 %),
//! LimitRange defaults, the QoS mix and pods that run without requests or limits. Reloads when
//! the server's watch caches report a quota change (server-sent events).

use std::time::Duration;

use domain::quantity::Pressure;
use domain::quota::{NamespaceQuota, QuotaLine, Rollup, cluster_rollups, rollups};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use domain::authz::Role;
use domain::capacity::{CapacityLine, ClusterCapacity};
use domain::cost_report::format_time;
use domain::quantity::{Unit, format};

use crate::api::{capacity_overview, quota_overview};
use crate::session::signed_in_user;

#[component]
pub fn NamespacesPage() -> impl IntoView {
    let body = if let Some(user) = signed_in_user() {
        // The server decides again; this only spares others a section they may not read.
        let sees_capacity = user
            .roles
            .iter()
            .any(|r| matches!(r, Role::Sre | Role::Manager | Role::Admin));
        view! {
            {sees_capacity.then(|| view! { <Capacity /> })}
            <QuotaList />
        }
        .into_any()
    } else {
        view! { <p>"Sign in to see your namespaces. " <crate::components::layout::SignInLink /></p> }
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

/// The quota cards, with roll-ups above them. `?team=` narrows the page to one team (the team
/// page); without it the roll-ups cover every team the viewer may see (the cluster page).
#[component]
fn QuotaList() -> impl IntoView {
    let query = use_query_map();
    let team = move || query.read().get("team").filter(|t| !t.is_empty());
    let tick = RwSignal::new(0u64);
    let list = Resource::new(move || tick.get(), |_| quota_overview());
    // Quota changes arrive as they happen; pods that change no quota (the QoS mix, pods
    // without limits) are caught by a slow poll.
    crate::components::live::on_quota_change(move || tick.update(|n| *n += 1));
    crate::components::poll::every(Duration::from_secs(30), move || tick.update(|n| *n += 1));
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                list.get()
                    .map(|answer| match answer {
                        Ok(items) => {
                            let chosen = team();
                            let items: Vec<NamespaceQuota> = match &chosen {
                                Some(t) => items.into_iter().filter(|n| n.team.as_ref() == Some(t)).collect(),
                                None => items,
                            };
                            let (teams, all) = rollups(&items);
                            let clusters = cluster_rollups(&items);
                            let heading = match &chosen {
                                Some(t) => view! {
                                    <p id="team-filter">
                                        "Team " <strong>{t.clone()}</strong> " · " <a href="/namespaces">"every team"</a>
                                    </p>
                                }
                                .into_any(),
                                None => ().into_any(),
                            };
                            let cards = if items.is_empty() {
                                view! { <p class="muted">"No namespaces here yet."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="namespace-list">
                                        {items.into_iter().map(|ns| view! { <NamespaceCard ns=ns /> }).collect_view()}
                                    </div>
                                }
                                .into_any()
                            };
                            view! {
                                {heading}
                                <RollupTable teams=teams clusters=clusters all=all />
                                <h2>"Quota"</h2>
                                {cards}
                            }
                            .into_any()
                        }
                        Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
    }
}

/// The quota resources a roll-up row shows as bars.
const ROLLUP_RESOURCES: [&str; 3] = ["requests.cpu", "requests.memory", "pods"];

#[component]
fn RollupTable(teams: Vec<Rollup>, clusters: Vec<(String, Rollup)>, all: Rollup) -> impl IntoView {
    // `cluster`: a cluster's row rather than a team's.
    let row = |r: Rollup, total: bool, cluster: Option<String>| {
        let (id, label) = match (&r.team, total, cluster) {
            (_, _, Some(c)) => (
                format!("rollup-cluster-{c}"),
                view! { <span>"cluster " <strong>{c}</strong></span> }.into_any(),
            ),
            (_, true, None) => (
                "rollup-all".to_owned(),
                view! { <strong>"All shown"</strong> }.into_any(),
            ),
            (Some(t), false, None) => (
                format!("rollup-{t}"),
                view! { <a href=format!("/namespaces?team={t}")>{t.clone()}</a> }.into_any(),
            ),
            (None, false, None) => (
                "rollup-none".to_owned(),
                view! { <span class="muted">"no team"</span> }.into_any(),
            ),
        };
        let bars = ROLLUP_RESOURCES
            .iter()
            .map(|resource| {
                let line = r.quota.iter().find(|l| l.resource == *resource).cloned();
                view! { <td>{line.map(|line| view! { <QuotaBar line=line /> })}</td> }
            })
            .collect_view();
        view! {
            <tr id=id class="rollup" data-near=r.near_quota.to_string()>
                <td>{label}</td>
                <td class="count">{r.namespaces}</td>
                <td class="count near-count">{r.near_quota}</td>
                <td class="count">{r.pods}</td>
                <td class="count">{r.pods_without_limits}</td>
                {bars}
            </tr>
        }
    };
    view! {
        <h2>"Roll-up"</h2>
        <table class="table" tabindex="0" id="rollup-table">
            <thead>
                <tr>
                    <th>"Team"</th>
                    <th>"Namespaces"</th>
                    <th>"Near quota"</th>
                    <th>"Pods"</th>
                    <th>"Without limits"</th>
                    {ROLLUP_RESOURCES.iter().map(|r| view! { <th>{*r}</th> }).collect_view()}
                </tr>
            </thead>
            <tbody>
                {teams.into_iter().map(|t| row(t, false, None)).collect_view()}
                {clusters.into_iter().map(|(c, r)| row(r, false, Some(c))).collect_view()}
                {row(all, true, None)}
            </tbody>
        </table>
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
            <span class=bar_class(line.pressure) role="meter" aria-label=format!("{}: {label}", line.resource) aria-valuenow=format!("{width:.0}") aria-valuemin="0" aria-valuemax="100">
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
        // Two clusters may each have a namespace of a name (kube-system, at least).
        <article
            class="panel namespace-card"
            id=format!("ns-{}-{}", ns.cluster, ns.name)
            data-cluster=ns.cluster.clone()
            data-near=near.to_string()
        >
            <div class="panel-head">
                <h2>{ns.name.clone()}</h2>
                <span class="muted">
                    {format!("on {} · ", ns.cluster)}
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

fn cores(v: f64) -> String {
    format(v, Unit::Cores)
}

fn bytes(v: f64) -> String {
    format(v, Unit::Bytes)
}

/// Allocatable against requested per node of one cluster (`?cluster=`, the home cluster if
/// none), what is stranded, and every cluster's totals with the fleet's sum.
#[component]
fn Capacity() -> impl IntoView {
    let query = use_query_map();
    let cluster = move || query.read().get("cluster").unwrap_or_default();
    let tick = RwSignal::new(0u64);
    let answer = Resource::new(
        move || (tick.get(), cluster()),
        |(_, cluster)| capacity_overview(cluster),
    );
    crate::components::poll::every(Duration::from_secs(10), move || tick.update(|n| *n += 1));
    let render = |c: ClusterCapacity| {
        let fleet = (c.fleet.len() > 1).then(|| fleet_capacity(&c));
        let t = &c.totals;
        let warn = t.stranded_cpu_percent > 10.0 || t.stranded_memory_percent > 10.0;
        view! {
            {fleet}
            <h3 id="capacity-cluster" data-cluster=c.cluster.clone()>{format!("Nodes of {}", c.cluster)}</h3>
            <p id="capacity-summary" class=if warn { "field-error" } else { "muted" }>
                {format!(
                    "Requested {} of {} CPU and {} of {} memory; spare {} CPU, {}. Stranded (too small for the median pod of {} CPU / {}): {} CPU ({:.1} %), {} ({:.1} %){}",
                    cores(t.requested_cpu), cores(t.allocatable_cpu),
                    bytes(t.requested_memory), bytes(t.allocatable_memory),
                    cores(t.spare_cpu), bytes(t.spare_memory),
                    cores(c.median_cpu), bytes(c.median_memory),
                    cores(t.stranded_cpu), t.stranded_cpu_percent,
                    bytes(t.stranded_memory), t.stranded_memory_percent,
                    if warn { " — above the 10 % the seeds advise" } else { "" },
                )}
            </p>
            <table class="table" tabindex="0" id="capacity-table">
                <thead>
                    <tr>
                        <th>"Node"</th>
                        <th>"CPU requested / allocatable"</th>
                        <th>"Memory requested / allocatable"</th>
                        <th>"Pods"</th>
                        <th>"Median pods that fit"</th>
                        <th>"Stranded"</th>
                    </tr>
                </thead>
                <tbody>
                    {c.nodes
                        .into_iter()
                        .map(|n| view! {
                            <tr>
                                <td>{n.name.clone()}</td>
                                <td>{format!("{} / {}", cores(n.requested_cpu), cores(n.allocatable_cpu))}</td>
                                <td>{format!("{} / {}", bytes(n.requested_memory), bytes(n.allocatable_memory))}</td>
                                <td>{format!("{} / {}", n.pods, n.allocatable_pods)}</td>
                                <td>{n.fits_median_pods}</td>
                                <td>{format!("{} CPU, {}", cores(n.stranded_cpu), bytes(n.stranded_memory))}</td>
                            </tr>
                        })
                        .collect_view()}
                </tbody>
            </table>
        }
    };
    view! {
        <h2>"Cluster capacity"</h2>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                answer
                    .get()
                    .map(|a| match a {
                        Ok(c) => render(c).into_any(),
                        Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
    }
}

/// Every cluster's totals and the fleet's sum; a cluster's name opens its nodes.
fn fleet_capacity(c: &ClusterCapacity) -> impl IntoView + use<> {
    let row = |l: &CapacityLine, total: bool| {
        let t = &l.totals;
        let name = if total {
            view! { <strong>"Fleet"</strong> }.into_any()
        } else {
            let href = format!(
                "/namespaces?cluster={}",
                domain::text::query_value(&l.cluster)
            );
            view! { <a href=href>{l.cluster.clone()}</a> }.into_any()
        };
        let stale = l.stale_since.map(|t| {
            view! {
                <div class="cluster-stale">
                    {format!("not answering since {} UTC: figures as of then", format_time(t))}
                </div>
            }
        });
        view! {
            <tr
                class=if total { "capacity-total" } else { "capacity-line" }
                data-cluster=l.cluster.clone()
                data-stale=l.stale_since.is_some().to_string()
            >
                <td>{name} {stale}</td>
                <td>{l.nodes}</td>
                <td>{format!("{} / {}", cores(t.requested_cpu), cores(t.allocatable_cpu))}</td>
                <td>{format!("{} / {}", bytes(t.requested_memory), bytes(t.allocatable_memory))}</td>
                <td>{format!("{} CPU, {}", cores(t.spare_cpu), bytes(t.spare_memory))}</td>
                <td>
                    {format!(
                        "{} CPU ({:.1} %), {} ({:.1} %)",
                        cores(t.stranded_cpu), t.stranded_cpu_percent,
                        bytes(t.stranded_memory), t.stranded_memory_percent,
                    )}
                </td>
            </tr>
        }
    };
    view! {
        <table class="table" tabindex="0" id="capacity-fleet">
            <thead>
                <tr>
                    <th>"Cluster"</th>
                    <th>"Nodes"</th>
                    <th>"CPU requested / allocatable"</th>
                    <th>"Memory requested / allocatable"</th>
                    <th>"Spare"</th>
                    <th>"Stranded"</th>
                </tr>
            </thead>
            <tbody>{c.fleet.iter().map(|l| row(l, false)).collect_view()}</tbody>
            <tfoot>{c.fleet_total.as_ref().map(|l| row(l, true))}</tfoot>
        </table>
    }
}
