//! Rollouts: every Deployment, StatefulSet and DaemonSet the user may see, with the state
//! `kubectl rollout status` would report, a progress bar, and best-practice findings. Reloads
//! when the server's watch caches report a workload change (server-sent events).

use std::time::Duration;

use domain::findings::Severity;
use domain::rollout::{
    NamespaceRollouts, RolloutState, WorkloadAction, WorkloadKind, WorkloadView,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{ActOnWorkload, rollout_overview};
use crate::session::signed_in_user;

#[component]
pub fn RolloutsPage() -> impl IntoView {
    let body = if signed_in_user().is_some() {
        view! { <RolloutList /> }.into_any()
    } else {
        view! { <p>"Sign in to see your workloads. " <a href="/signin">"Sign in"</a></p> }
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
            )
        },
        |(_, _, namespace, team)| rollout_overview(namespace, team),
    );
    crate::components::live::on_rollout_change(move || tick.update(|n| *n += 1));
    // Pods that change no workload status (restarts, events) still show up within a minute.
    crate::components::poll::every(Duration::from_secs(60), move || tick.update(|n| *n += 1));
    view! {
        {move || {
            let scope = match (param("namespace"), param("team")) {
                (Some(ns), _) => Some(format!("namespace {ns}")),
                (None, Some(team)) => Some(format!("team {team}")),
                _ => None,
            };
            scope.map(|s| view! {
                <p id="rollout-filter">"Showing " <strong>{s}</strong> " · " <a href="/rollouts">"everything you may see"</a></p>
            })
        }}
        {move || match act.value().get() {
            Some(Ok(Ok(done))) => view! { <p class="notice" id="action-result">{done}</p> }.into_any(),
            Some(Ok(Err(why))) => view! { <p class="error" id="action-result">{why}</p> }.into_any(),
            Some(Err(err)) => view! { <p class="error" id="action-result">{err.to_string()}</p> }.into_any(),
            None => ().into_any(),
        }}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                list.get()
                    .map(|answer| match answer {
                        Ok(groups) if groups.is_empty() => {
                            view! { <p class="muted" id="no-workloads">"No workloads here yet."</p> }.into_any()
                        }
                        Ok(groups) => groups
                            .into_iter()
                            .map(|g| view! { <NamespaceSection group=g act=act /> })
                            .collect_view()
                            .into_any(),
                        Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
    }
}

fn state_class(state: RolloutState) -> &'static str {
    match state {
        RolloutState::Complete => "badge ok",
        RolloutState::Stalled => "badge bad",
        RolloutState::Progressing => "badge busy",
        RolloutState::Paused | RolloutState::Unknown => "badge wait",
    }
}

fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Danger => "finding danger",
        Severity::Warn => "finding warn",
        Severity::Pass => "finding pass",
    }
}

#[component]
fn NamespaceSection(group: NamespaceRollouts, act: ServerAction<ActOnWorkload>) -> impl IntoView {
    let team = group.team.clone();
    view! {
        <article class="panel rollout-ns" id=format!("rollouts-{}", group.namespace)>
            <div class="panel-head">
                <h2>
                    <a href=format!("/rollouts?namespace={}", group.namespace)>{group.namespace.clone()}</a>
                </h2>
                <span class="muted">
                    {team.map(|t| view! { "team " <a href=format!("/rollouts?team={t}")>{t.clone()}</a> " · " })}
                    <span class="score" data-score=group.score.to_string()>{format!("score {}", group.score)}</span>
                </span>
            </div>
            <table class="table rollouts">
                <thead>
                    <tr>
                        <th>"Workload"</th>
                        <th>"Images"</th>
                        <th>"Replicas"</th>
                        <th>"Rollout"</th>
                        <th>"Strategy"</th>
                        <th>"Findings"</th>
                    </tr>
                </thead>
                <tbody>
                    {group.workloads.into_iter().map(|w| view! { <WorkloadRow w=w act=act /> }).collect_view()}
                </tbody>
            </table>
        </article>
    }
}

#[component]
fn WorkloadRow(w: WorkloadView, act: ServerAction<ActOnWorkload>) -> impl IntoView {
    let actions = w.can_act.then(|| view! { <Actions w=w.clone() act=act /> });
    let blocking = (!w.blocking.is_empty()).then(|| {
        view! {
            <ul class="blocking">
                {w.blocking
                    .iter()
                    .map(|p| view! {
                        <li class="blocking-pod" data-pod=p.name.clone()>
                            <code>{p.name.clone()}</code>
                            {p.node.clone().map(|n| format!(" on {n}"))}
                            ": " <strong>{p.reason.clone()}</strong>
                            {p.events.iter().map(|e| view! { <div class="muted event">{e.clone()}</div> }).collect_view()}
                        </li>
                    })
                    .collect_view()}
            </ul>
        }
    });
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
    let width = w.progress.clamp(0.0, 100.0);
    let revision = match (&w.revision, &w.revision_since) {
        (Some(r), Some(since)) => format!("revision {r} since {since}"),
        (Some(r), None) => format!("revision {r}"),
        _ => String::new(),
    };
    view! {
        <tr
            class="workload"
            id=format!("wl-{}-{}", w.namespace, w.name)
            data-kind=w.kind.as_str()
            data-state=w.state.as_str()
        >
            <td>
                <strong>{w.name.clone()}</strong>
                <div class="muted">{w.kind.as_str()} {w.release.clone().map(|r| view! { " · " <span class="release">{r}</span> })}</div>
            </td>
            <td class="images">{w.images.join(", ")}</td>
            <td>{format!("{} desired · {} updated · {} ready · {} available", w.desired, w.updated, w.ready, w.available)}</td>
            <td>
                <span class=state_class(w.state)>{w.state.as_str()}</span>
                <span class="bar" role="progressbar" aria-valuenow=format!("{width:.0}") aria-valuemin="0" aria-valuemax="100">
                    <span class="fill" style=format!("width: {width:.1}%")></span>
                </span>
                <div class="rollout-message">{w.message.clone()}</div>
                {blocking}
            </td>
            <td>{w.strategy.clone()} <div class="muted">{revision}</div> {history}</td>
            <td>{findings} {actions}</td>
        </tr>
    }
    .into_any()
}

/// Asks the browser to confirm, so no click changes a workload by accident.
fn confirmed(question: &str) -> bool {
    window().confirm_with_message(question).unwrap_or(false)
}

/// Restart, pause / resume, scale and roll back, each confirmed first.
#[component]
fn Actions(w: WorkloadView, act: ServerAction<ActOnWorkload>) -> impl IntoView {
    let kind = w.kind;
    let namespace = w.namespace.clone();
    let name = w.name.clone();
    let run = move |action: WorkloadAction, question: String| {
        if confirmed(&question) {
            act.dispatch(ActOnWorkload {
                kind,
                namespace: namespace.clone(),
                name: name.clone(),
                action,
            });
        }
    };
    let replicas = RwSignal::new(w.desired.to_string());
    let older: Vec<i64> = w.revisions.iter().skip(1).map(|r| r.revision).collect();
    let target = RwSignal::new(older.first().map(|r| r.to_string()).unwrap_or_default());
    let deployment = kind == WorkloadKind::Deployment;
    let label = w.name.clone();
    let (restart, pause, scale, rollback) = (run.clone(), run.clone(), run.clone(), run);
    let paused = w.paused;
    view! {
        <div class="workload-actions">
            <button class="link-button" data-action="restart" on:click={
                let label = label.clone();
                move |_| restart(WorkloadAction::Restart, format!("Restart {label}? New pods replace the running ones."))
            }>"Restart"</button>
            {deployment.then(|| {
                let label = label.clone();
                view! {
                    <button class="link-button" data-action="pause" on:click=move |_| {
                        let action = if paused { WorkloadAction::Resume } else { WorkloadAction::Pause };
                        let verb = if paused { "Resume" } else { "Pause" };
                        pause(action, format!("{verb} the rollout of {label}?"));
                    }>{if paused { "Resume" } else { "Pause" }}</button>
                }
            })}
            {(kind != WorkloadKind::DaemonSet).then(|| {
                let label = label.clone();
                view! {
                    <span class="scale">
                        <input type="number" min="0" max="1000" name="replicas" prop:value=move || replicas.get()
                            on:input=move |ev| replicas.set(event_target_value(&ev)) />
                        <button class="link-button" data-action="scale" on:click=move |_| {
                            match replicas.get().trim().parse::<i32>() {
                                Ok(n) => scale(WorkloadAction::Scale { replicas: n }, format!("Scale {label} to {n}?")),
                                Err(_) => { let _ = window().alert_with_message("replicas must be a whole number"); }
                            }
                        }>"Scale"</button>
                    </span>
                }
            })}
            {(deployment && !older.is_empty()).then(|| {
                let label = label.clone();
                view! {
                    <span class="rollback">
                        <select name="revision" prop:value=move || target.get() on:change=move |ev| target.set(event_target_value(&ev))>
                            {older.iter().map(|r| view! { <option value=r.to_string()>{format!("revision {r}")}</option> }).collect_view()}
                        </select>
                        <button class="link-button" data-action="rollback" on:click=move |_| {
                            if let Ok(revision) = target.get().parse::<i64>() {
                                rollback(WorkloadAction::Rollback { revision }, format!("Roll {label} back to revision {revision}?"));
                            }
                        }>"Roll back"</button>
                    </span>
                }
            })}
        </div>
    }
    .into_any()
}
