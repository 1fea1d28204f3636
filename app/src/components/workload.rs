//! Pieces both rollout pages show: the state badge, the progress bar, findings' colours and the
//! confirmed actions on a workload.

use std::collections::HashMap;

use domain::findings::Severity;
use domain::rollout::{RolloutState, WorkloadAction, WorkloadKind, WorkloadView};
use leptos::prelude::*;

use crate::api::ActOnWorkload;

pub fn state_class(state: RolloutState) -> &'static str {
    match state {
        RolloutState::Complete => "badge ok",
        RolloutState::Stalled => "badge bad",
        RolloutState::Progressing => "badge busy",
        RolloutState::Paused | RolloutState::Unknown => "badge wait",
    }
}

pub fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Danger => "finding danger",
        Severity::Warn => "finding warn",
        Severity::Pass => "finding pass",
    }
}

/// A rollout's progress, 0–100, as a bar screen readers can read.
#[component]
pub fn ProgressBar(progress: f64) -> impl IntoView {
    let width = progress.clamp(0.0, 100.0);
    view! {
        <span class="bar" role="progressbar" aria-label="Rollout progress" aria-valuenow=format!("{width:.0}") aria-valuemin="0" aria-valuemax="100">
            <span class="fill" style=format!("width: {width:.1}%")></span>
        </span>
    }
}

/// The pods holding a rollout back, with their node and, when known, their latest events.
#[component]
pub fn BlockingPods(pods: Vec<domain::rollout::BlockingPod>) -> impl IntoView {
    (!pods.is_empty()).then(|| {
        view! {
            <ul class="blocking">
                {pods
                    .into_iter()
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
    })
}

/// Why a workload lacks pods: its controller's newest refusal, with how often.
#[component]
pub fn Refused(
    refusal: Option<domain::workload_detail::Refusal>,
    #[prop(optional)] id: Option<&'static str>,
) -> impl IntoView {
    refusal.map(|r| {
        let times = if r.count == 1 {
            "once".to_owned()
        } else {
            format!("{} times", r.count)
        };
        let last = r
            .last_seen
            .map(|t| format!(", last at {t}"))
            .unwrap_or_default();
        view! {
            <div class="error refused" id=id role="status">
                <strong>"New pods are refused"</strong>
                {format!(" ({times}{last}; {}): ", r.object)}
                {r.message}
            </div>
        }
    })
}

/// What the last action answered, or nothing yet.
#[component]
pub fn ActionResult(act: ServerAction<ActOnWorkload>) -> impl IntoView {
    move || match act.value().get() {
        Some(Ok(done)) => view! { <p class="notice" id="action-result">{done}</p> }.into_any(),
        Some(Err(err)) => {
            view! { <p class="error" id="action-result">{err.to_string()}</p> }.into_any()
        }
        None => ().into_any(),
    }
}

/// Asks the browser to confirm, so no click changes a workload by accident.
pub fn confirmed(question: &str) -> bool {
    window().confirm_with_message(question).unwrap_or(false)
}

/// What was typed into the workloads' fields (replicas, a revision), kept by the page: its
/// rows are drawn again on every refresh (live events, a 10-second poll), and a field that
/// held its own value lost what a slow hand had typed before the click.
#[derive(Clone, Copy)]
pub struct Typed(RwSignal<HashMap<String, String>>);

impl Typed {
    pub fn provide() {
        provide_context(Typed(RwSignal::new(HashMap::new())));
    }

    /// The field `key`: what was typed, else `shown` (the cluster's value).
    fn field(self, key: String, shown: String) -> (Signal<String>, impl Fn(String) + Copy) {
        let read = key.clone();
        let value = Signal::derive(move || {
            self.0
                .with(|m| m.get(&read).cloned())
                .unwrap_or_else(|| shown.clone())
        });
        let key = StoredValue::new(key);
        let set = move |v: String| {
            self.0.update(|m| {
                m.insert(key.get_value(), v);
            });
        };
        (value, set)
    }

    /// Forgets what was typed into `key`: once acted on, the field shows the cluster again.
    fn forget(self, key: &str) {
        self.0.update(|m| {
            m.remove(key);
        });
    }
}

/// Restart, pause / resume, scale and roll back, each confirmed first.
#[component]
pub fn Actions(w: WorkloadView, act: ServerAction<ActOnWorkload>) -> impl IntoView {
    let kind = w.kind;
    let cluster = w.cluster.clone();
    let namespace = w.namespace.clone();
    let name = w.name.clone();
    let run = move |action: WorkloadAction, question: String| {
        if confirmed(&question) {
            act.dispatch(ActOnWorkload {
                cluster: cluster.clone(),
                kind,
                namespace: namespace.clone(),
                name: name.clone(),
                action,
            });
        }
    };
    let typed = use_context::<Typed>().unwrap_or_else(|| Typed(RwSignal::new(HashMap::new())));
    let key = format!("{}/{}/{}", kind.as_str(), w.namespace, w.name);
    let (replicas_key, target_key) = (format!("{key}/replicas"), format!("{key}/revision"));
    let (replicas, set_replicas) = typed.field(replicas_key.clone(), w.desired.to_string());
    let older: Vec<i64> = w.revisions.iter().skip(1).map(|r| r.revision).collect();
    let (target, set_target) = typed.field(
        target_key.clone(),
        older.first().map(|r| r.to_string()).unwrap_or_default(),
    );
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
                        <input type="number" min="0" max="1000" name="replicas" aria-label=format!("Replicas of {label}") prop:value=move || replicas.get()
                            on:input=move |ev| set_replicas(event_target_value(&ev)) />
                        <button class="link-button" data-action="scale" on:click=move |_| {
                            match replicas.get().trim().parse::<i32>() {
                                Ok(n) => {
                                    scale(WorkloadAction::Scale { replicas: n }, format!("Scale {label} to {n}?"));
                                    typed.forget(&replicas_key);
                                }
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
                        <select name="revision" aria-label=format!("Revision to roll {label} back to") prop:value=move || target.get() on:change=move |ev| set_target(event_target_value(&ev))>
                            {older.iter().map(|r| view! { <option value=r.to_string()>{format!("revision {r}")}</option> }).collect_view()}
                        </select>
                        <button class="link-button" data-action="rollback" on:click=move |_| {
                            if let Ok(revision) = target.get().parse::<i64>() {
                                rollback(WorkloadAction::Rollback { revision }, format!("Roll {label} back to revision {revision}?"));
                                typed.forget(&target_key);
                            }
                        }>"Roll back"</button>
                    </span>
                }
            })}
        </div>
    }
    .into_any()
}
