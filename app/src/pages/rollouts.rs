//! Rollouts: every Deployment, StatefulSet and DaemonSet the user may see, with the state
//! `kubectl rollout status` would report, a progress bar, and best-practice findings. Reloads
//! when the server's watch caches report a workload change (server-sent events).

use std::time::Duration;

use domain::findings::Severity;
use domain::rollout::{NamespaceRollouts, WorkloadView};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{ActOnWorkload, rollout_overview};
use crate::components::workload::{
    ActionResult, Actions, BlockingPods, ProgressBar, Refused, severity_class, state_class,
};
use crate::session::signed_in_user;

#[component]
pub fn RolloutsPage() -> impl IntoView {
    crate::components::workload::Typed::provide();
    let body = if signed_in_user().is_some() {
        view! { <RolloutList /> }.into_any()
    } else {
        view! { <p>"Sign in to see your workloads. " <crate::components::layout::SignInLink /></p> }
            .into_any()
    };
    view! {
        <Title text="Rollouts" />
        <section>
            <h1>"Rollouts"</h1>
            <p class="lede">
                "Every Deployment, StatefulSet and DaemonSet you may see, as kubectl rollout status would report it, live."
            </p>
            {body}
        </section>
    }
}

#[component]
fn RolloutList() -> impl IntoView {
    let query = use_query_map();
    let param = move |key: &str| query.read().get(key).filter(|v| !v.is_empty());
    let tick = RwSignal::new(0u64);
    let act = ServerAction::<ActOnWorkload>::new();
    let list = Resource::new(
        move || {
            (
                tick.get(),
                act.version().get(),
                param("namespace"),
                param("team"),
                param("cluster"),
                param("page").and_then(|p| p.parse::<usize>().ok()),
            )
        },
        |(_, _, namespace, team, cluster, page)| rollout_overview(namespace, team, cluster, page),
    );
    crate::components::live::on_rollout_change(move || tick.update(|n| *n += 1));
    // Pods that change no workload status (restarts, events) still show up within a minute.
    crate::components::poll::every(Duration::from_secs(60), move || tick.update(|n| *n += 1));
    view! {
        {move || {
            let on = param("cluster").map(|c| format!(" on cluster {c}")).unwrap_or_default();
            let scope = match (param("namespace"), param("team")) {
                (Some(ns), _) => Some(format!("namespace {ns}{on}")),
                (None, Some(team)) => Some(format!("team {team}{on}")),
                _ => param("cluster").map(|c| format!("cluster {c}")),
            };
            scope.map(|s| view! {
                <p id="rollout-filter">"Showing " <strong>{s}</strong> " · " <a href="/rollouts">"everything you may see"</a></p>
            })
        }}
        <ActionResult act=act />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                list.get()
                    .map(|answer| match answer {
                        Ok(page) if page.groups.is_empty() => {
                            view! { <p class="muted" id="no-workloads">"No workloads here yet."</p> }.into_any()
                        }
                        Ok(page) => {
                            let filter = Filter {
                                namespace: param("namespace"),
                                team: param("team"),
                                cluster: param("cluster"),
                            };
                            let pager = || (page.pages > 1).then(|| pager(&page, &filter));
                            let (above, below) = (pager(), pager());
                            let fleet = page.clusters.len() > 1;
                            let home = page.clusters.first().cloned().unwrap_or_default();
                            view! {
                                {above}
                                {page
                                    .groups
                                    .into_iter()
                                    .map(|g| view! { <NamespaceSection group=g act=act fleet=fleet home=home.clone() /> })
                                    .collect_view()}
                                {below}
                            }
                                .into_any()
                        }
                        Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
    }
}

/// What the page's address narrows the list to.
struct Filter {
    namespace: Option<String>,
    team: Option<String>,
    cluster: Option<String>,
}

/// Where page `page` of the same view lives.
fn page_href(page: usize, filter: &Filter) -> String {
    let mut query = vec![format!("page={page}")];
    for (key, value) in [
        ("namespace", &filter.namespace),
        ("team", &filter.team),
        ("cluster", &filter.cluster),
    ] {
        if let Some(value) = value {
            query.push(format!("{key}={}", domain::text::query_value(value)));
        }
    }
    format!("/rollouts?{}", query.join("&"))
}

/// "Page 2 of 10" with the neighbours: a cluster's every workload is too much for one page.
fn pager(page: &domain::rollout::RolloutPage, filter: &Filter) -> AnyView {
    let previous = (page.page > 1).then(|| {
        view! { <a class="previous" rel="prev" href=page_href(page.page - 1, filter)>"← previous"</a> " · " }
    });
    let next = (page.page < page.pages).then(|| {
        view! { " · " <a class="next" rel="next" href=page_href(page.page + 1, filter)>"next →"</a> }
    });
    view! {
        <p class="pager">
            {previous}
            {format!(
                "page {} of {} · {} workloads in {} namespaces, trouble first",
                page.page, page.pages, page.workloads, page.namespaces,
            )}
            {next}
        </p>
    }
    .into_any()
}

/// A namespace's workloads; `fleet` when Berth serves several clusters, so each says its own.
/// Element ids name the cluster unless it is `home`: a namespace such as `kube-system` is on
/// every cluster, and its sections must not share one.
#[component]
fn NamespaceSection(
    group: NamespaceRollouts,
    act: ServerAction<ActOnWorkload>,
    fleet: bool,
    home: String,
) -> impl IntoView {
    let suffix = if group.cluster == home {
        String::new()
    } else {
        format!("--{}", group.cluster)
    };
    let team = group.team.clone();
    let cluster = domain::text::query_value(&group.cluster);
    let on = fleet.then(|| {
        let c = group.cluster.clone();
        view! { "on " <a class="cluster" href=format!("/rollouts?cluster={cluster}")>{c}</a> " · " }
    });
    view! {
        <article class="panel rollout-ns" id=format!("rollouts-{}{suffix}", group.namespace) data-cluster=group.cluster.clone()>
            <div class="panel-head">
                <h2>
                    <a href=format!("/rollouts?namespace={}&cluster={cluster}", group.namespace)>{group.namespace.clone()}</a>
                </h2>
                <span class="muted">
                    {on}
                    {team.map(|t| view! { "team " <a href=format!("/rollouts?team={t}")>{t.clone()}</a> " · " })}
                    <span class="score" data-score=group.score.to_string()>{format!("score {}", group.score)}</span>
                </span>
            </div>
            <table class="table rollouts" tabindex="0">
                <thead>
                    <tr>
                        <th>"Workload"</th>
                        <th>"Images"</th>
                        <th>"Replicas"</th>
                        <th>"Rollout"</th>
                        <th>"Strategy"</th>
                        <th>"Findings"</th>
                        <th>"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {group.workloads.into_iter().map(|w| view! { <WorkloadRow w=w act=act suffix=suffix.clone() /> }).collect_view()}
                </tbody>
            </table>
        </article>
    }
}

#[component]
fn WorkloadRow(w: WorkloadView, act: ServerAction<ActOnWorkload>, suffix: String) -> impl IntoView {
    let actions = w.can_act.then(|| view! { <Actions w=w.clone() act=act /> });
    let blocking = view! { <BlockingPods pods=w.blocking.clone() /> };
    let history = (w.revisions.len() > 1).then(|| {
        view! {
            <details class="history">
                <summary>{format!("{} revisions", w.revisions.len())}</summary>
                <ul>
                    {w.revisions
                        .iter()
                        .map(|r| view! {
                            <li data-revision=r.revision.to_string()>
                                {format!(
                                    "{}: {} · {} replicas{}{}",
                                    r.revision,
                                    r.images.join(", "),
                                    r.replicas,
                                    r.created_at.as_deref().map(|c| format!(" · {c}")).unwrap_or_default(),
                                    r.change_cause.as_deref().map(|c| format!(" · {c}")).unwrap_or_default(),
                                )}
                            </li>
                        })
                        .collect_view()}
                </ul>
            </details>
        }
    });
    let failing: Vec<_> = w
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Pass)
        .cloned()
        .collect();
    let findings = if failing.is_empty() {
        view! { <span class="muted">"all checks pass"</span> }.into_any()
    } else {
        view! {
            <details class="findings">
                <summary>{format!("{} finding(s) · score {}", failing.len(), w.score)}</summary>
                <ul>
                    {failing
                        .into_iter()
                        .map(|f| view! {
                            <li class=severity_class(f.severity) data-check=f.check.clone()>
                                <strong>{f.severity.as_str()}</strong> " " {f.message} <div class="muted">{f.fix}</div>
                            </li>
                        })
                        .collect_view()}
                </ul>
            </details>
        }
        .into_any()
    };
    let revision = match (&w.revision, &w.revision_since) {
        (Some(r), Some(since)) => format!("revision {r} since {since}"),
        (Some(r), None) => format!("revision {r}"),
        _ => String::new(),
    };
    view! {
        <tr
            class="workload"
            id=format!("wl-{}-{}{suffix}", w.namespace, w.name)
            data-kind=w.kind.as_str()
            data-state=w.state.as_str()
        >
            <td>
                <a class="workload-link" href=w.href()><strong>{w.name.clone()}</strong></a>
                <div class="muted">{w.kind.as_str()} {w.release.clone().map(|r| view! { " · " <span class="release">{r}</span> })}</div>
            </td>
            <td class="images">{w.images.join(", ")}</td>
            <td>{format!("{} desired · {} updated · {} ready · {} available", w.desired, w.updated, w.ready, w.available)}</td>
            <td>
                <span class=state_class(w.state)>{w.state.as_str()}</span>
                <ProgressBar progress=w.progress />
                <div class="rollout-message">{w.message.clone()}</div>
                <Refused refusal=w.refused.clone() />
                {blocking}
            </td>
            <td>{w.strategy.clone()} <div class="muted">{revision}</div> {history}</td>
            <td>{findings}</td>
            <td class="actions">{actions}</td>
        </tr>
    }
    .into_any()
}
