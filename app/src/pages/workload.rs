//! One workload: its rollout, revision history with release labels, pods as `kubectl get pods`
//! shows them, recent events and every finding. Follows the cluster like the list does.

use std::time::Duration;

use domain::workload_detail::{EventRow, PodRow, WorkloadDetail};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{ActOnWorkload, workload_detail};
use crate::components::workload::{
    ActionResult, Actions, BlockingPods, ProgressBar, Refused, severity_class, state_class,
};
use crate::session::signed_in_user;

#[component]
pub fn WorkloadPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let param = move |key: &str| params.read().get(key).unwrap_or_default();
    let title = move || format!("{} {}/{}", param("kind"), param("namespace"), param("name"));
    let body = if signed_in_user().is_some() {
        view! { <Detail /> }.into_any()
    } else {
        view! { <p>"Sign in to see your workloads. " <crate::components::layout::SignInLink /></p> }
            .into_any()
    };
    view! {
        <Title text=title />
        <section>
            <p class="muted">
                <a href="/rollouts">"Rollouts"</a> " › "
                <a href=move || {
                    let cluster = query
                        .read()
                        .get("cluster")
                        .map(|c| format!("&cluster={}", domain::text::query_value(&c)))
                        .unwrap_or_default();
                    format!("/rollouts?namespace={}{cluster}", param("namespace"))
                }>{move || param("namespace")}</a>
            </p>
            <h1 id="workload-title">{move || param("name")}</h1>
            {body}
        </section>
    }
}

#[component]
fn Detail() -> impl IntoView {
    crate::components::workload::Typed::provide();
    let params = use_params_map();
    let param = move |key: &str| params.read().get(key).unwrap_or_default();
    let query = use_query_map();
    let tick = RwSignal::new(0u64);
    let act = ServerAction::<ActOnWorkload>::new();
    let detail = Resource::new(
        move || {
            (
                tick.get(),
                act.version().get(),
                query.read().get("cluster").filter(|c| !c.is_empty()),
                param("kind"),
                param("namespace"),
                param("name"),
            )
        },
        |(_, _, cluster, kind, namespace, name)| workload_detail(cluster, kind, namespace, name),
    );
    crate::components::live::on_rollout_change(move || tick.update(|n| *n += 1));
    // Pods restart and events arrive without the workload's status changing.
    crate::components::poll::every(Duration::from_secs(10), move || tick.update(|n| *n += 1));
    view! {
        <ActionResult act=act />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                detail.get().map(|answer| match answer {
                    Ok(d) => view! { <Workload d=d act=act /> }.into_any(),
                    Err(err) => view! { <p class="error" id="workload-error">{err.to_string()}</p> }.into_any(),
                })
            }}
        </Transition>
    }
}

#[component]
fn Workload(d: WorkloadDetail, act: ServerAction<ActOnWorkload>) -> impl IntoView {
    let w = d.workload;
    let actions = w.can_act.then(|| view! { <Actions w=w.clone() act=act /> });
    let revision = match (&w.revision, &w.revision_since) {
        (Some(r), Some(since)) => format!("revision {r} since {since}"),
        (Some(r), None) => format!("revision {r}"),
        _ => "no revision recorded".to_owned(),
    };
    let blocking = view! { <BlockingPods pods=w.blocking.clone() /> };
    view! {
        <article class="panel workload-detail" id="workload" data-kind=w.kind.as_str() data-state=w.state.as_str()>
            <div class="panel-head">
                <h2>{w.kind.as_str()}</h2>
                <span class="muted">
                    {w.team.clone().map(|t| view! { "team " <a href=format!("/rollouts?team={t}")>{t.clone()}</a> " · " })}
                    {format!("score {}", w.score)}
                </span>
            </div>
            <p>
                <span class=state_class(w.state)>{w.state.as_str()}</span> " "
                <ProgressBar progress=w.progress />
            </p>
            <p class="rollout-message">{w.message.clone()}</p>
            <Refused refusal=d.refused id="workload-refused" />
            {blocking}
            <dl class="facts">
                <dt>"Replicas"</dt>
                <dd id="replicas">{format!("{} desired · {} updated · {} ready · {} available", w.desired, w.updated, w.ready, w.available)}</dd>
                <dt>"Images"</dt>
                <dd class="images">{w.images.join(", ")}</dd>
                <dt>"Strategy"</dt>
                <dd>{w.strategy.clone()}</dd>
                <dt>"Revision"</dt>
                <dd id="revision">{revision}</dd>
                <dt>"Release"</dt>
                <dd class="release">{w.release.clone().unwrap_or_else(|| "no release label".to_owned())}</dd>
            </dl>
            {actions}
        </article>
        <Pods pods=d.pods />
        {(!w.revisions.is_empty()).then(|| view! { <History w=w.clone() /> })}
        <Findings w=w.clone() />
        <Events events=d.events />
    }
    .into_any()
}

#[component]
fn Pods(pods: Vec<PodRow>) -> impl IntoView {
    let count = pods.len();
    view! {
        <article class="panel" id="pods">
            <div class="panel-head">
                <h2>"Pods"</h2>
                <span class="muted">{format!("{count} pod(s)")}</span>
            </div>
            <table class="table" tabindex="0">
                <thead>
                    <tr>
                        <th>"Name"</th>
                        <th>"Status"</th>
                        <th>"Ready"</th>
                        <th>"Restarts"</th>
                        <th>"Node"</th>
                        <th>"Revision"</th>
                        <th>"Created"</th>
                    </tr>
                </thead>
                <tbody>
                    {pods
                        .into_iter()
                        .map(|p| view! {
                            <tr class="pod" class:unhealthy=!p.healthy data-pod=p.name.clone() data-status=p.status.clone()>
                                <td><code>{p.name.clone()}</code></td>
                                <td class="pod-status">{p.status.clone()}</td>
                                <td>{p.ready}</td>
                                <td class="restarts">{p.restarts}</td>
                                <td class="node">{p.node.unwrap_or_else(|| "not scheduled".to_owned())}</td>
                                <td>{p.revision.unwrap_or_default()}</td>
                                <td class="muted">{p.created_at.unwrap_or_default()}</td>
                            </tr>
                        })
                        .collect_view()}
                </tbody>
            </table>
            {(count == 0).then(|| view! { <p class="muted">"No pods."</p> })}
        </article>
    }
    .into_any()
}

#[component]
fn History(w: domain::rollout::WorkloadView) -> impl IntoView {
    let current = w.revision.clone();
    view! {
        <article class="panel" id="history">
            <div class="panel-head"><h2>"Revision history"</h2></div>
            <table class="table" tabindex="0">
                <thead>
                    <tr>
                        <th>"Revision"</th>
                        <th>"Images"</th>
                        <th>"Release"</th>
                        <th>"Change cause"</th>
                        <th>"Created"</th>
                        <th>"Replicas"</th>
                    </tr>
                </thead>
                <tbody>
                    {w.revisions
                        .into_iter()
                        .map(|r| {
                            let is_current = current.as_deref() == Some(r.revision.to_string().as_str());
                            view! {
                                <tr class="revision" class:current=is_current data-revision=r.revision.to_string()>
                                    <td>{r.revision} {is_current.then_some(" (current)")}</td>
                                    <td class="images">{r.images.join(", ")}</td>
                                    <td class="release">{r.release.unwrap_or_default()}</td>
                                    <td>{r.change_cause.unwrap_or_default()}</td>
                                    <td class="muted">{r.created_at.unwrap_or_default()}</td>
                                    <td>{r.replicas}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </article>
    }
    .into_any()
}

#[component]
fn Findings(w: domain::rollout::WorkloadView) -> impl IntoView {
    view! {
        <article class="panel" id="findings">
            <div class="panel-head">
                <h2>"Findings"</h2>
                <span class="muted score">{format!("score {}", w.score)}</span>
            </div>
            <ul class="findings-list">
                {w.findings
                    .into_iter()
                    .map(|f| view! {
                        <li class=severity_class(f.severity) data-check=f.check.clone()>
                            <strong>{f.severity.as_str()}</strong> " " {f.message}
                            {(!f.fix.is_empty()).then(|| view! { <div class="muted">{f.fix}</div> })}
                        </li>
                    })
                    .collect_view()}
            </ul>
        </article>
    }
    .into_any()
}

#[component]
fn Events(events: Vec<EventRow>) -> impl IntoView {
    let empty = events.is_empty();
    view! {
        <article class="panel" id="events">
            <div class="panel-head"><h2>"Recent events"</h2></div>
            <table class="table" tabindex="0">
                <thead>
                    <tr>
                        <th>"Last seen"</th>
                        <th>"Type"</th>
                        <th>"Reason"</th>
                        <th>"Object"</th>
                        <th>"Message"</th>
                        <th>"Count"</th>
                    </tr>
                </thead>
                <tbody>
                    {events
                        .into_iter()
                        .map(|e| view! {
                            <tr class="event" class:warning=e.kind == "Warning" data-reason=e.reason.clone()>
                                <td class="muted">{e.last_seen.unwrap_or_default()}</td>
                                <td>{e.kind.clone()}</td>
                                <td>{e.reason.clone()}</td>
                                <td><code>{e.object}</code></td>
                                <td>{e.message}</td>
                                <td>{e.count}</td>
                            </tr>
                        })
                        .collect_view()}
                </tbody>
            </table>
            {empty.then(|| view! { <p class="muted">"No recent events."</p> })}
        </article>
    }
    .into_any()
}
