//! Changes to a ready namespace, on the onboarding page: the form on its row (extend it, or
//! give it another tier's quota) and the table of changes with their review.

use std::time::Duration;

use domain::change::{ChangeDraft, ChangeKind, ChangeOutcome, ChangeState, ChangeView};
use domain::tenancy::{Lifetime, RequestView, Tier};
use leptos::prelude::*;

use crate::api::{DecideChange, RequestChange, list_namespace_changes};
use crate::components::decide::DecideButtons;

fn state_class(state: ChangeState) -> &'static str {
    match state {
        ChangeState::Applied => "badge ok",
        ChangeState::Denied | ChangeState::Failed => "badge bad",
        ChangeState::Pending => "badge wait",
        ChangeState::Approved => "badge busy",
    }
}

/// The request whose change was asked for last on this page.
#[derive(Clone, Copy, Debug)]
pub struct ChangeAsked(pub RwSignal<Option<String>>);

/// The form on a ready namespace's row. `tiers` are every tier; it offers those its
/// namespace's cluster has.
#[component]
pub fn ChangeForm(
    request: RequestView,
    tiers: Signal<Vec<Tier>>,
    action: ServerAction<RequestChange>,
) -> impl IntoView {
    let extendable = !request.extend_options.is_empty();
    let kind = RwSignal::new(
        if extendable {
            ChangeKind::Extend
        } else {
            ChangeKind::Quota
        }
        .as_str()
        .to_owned(),
    );
    let lifetime = RwSignal::new(request.extend_options.first().cloned().unwrap_or_default());
    let tier = RwSignal::new(request.tier.clone());
    let reason = RwSignal::new(String::new());
    // The action is shared by every row; a row shows only the answer to its own request.
    // Which request asked lives with the page (`ChangeAsked`): the row is drawn again when its
    // namespace changes (an extension applied at once), and the answer must survive that.
    let asked_for = use_context::<ChangeAsked>()
        .map(|c| c.0)
        .unwrap_or_else(|| RwSignal::new(None));
    let request_id = request.id.clone();
    let mine = request.id.clone();
    let asked = Signal::derive(move || asked_for.with(|a| a.as_deref() == Some(mine.as_str())));
    let form_id = format!("change-form-{}", request.id);
    let cluster = request.cluster.clone();
    let lifetimes = request.extend_options.clone();
    let answer = move || {
        asked
            .get()
            .then(|| action.value().get())
            .flatten()
            .map(|answer| match answer {
                Ok(ChangeOutcome::Submitted { id, state }) => view! {
                    <p class="notice change-result">
                        "Change " <code>{id}</code> " is " <strong>{state.as_str()}</strong> "."
                    </p>
                }
                .into_any(),
                Ok(ChangeOutcome::Invalid(errors)) => errors
                    .into_iter()
                    .map(|e| {
                        view! { <span class="field-error" data-field=e.field.clone()>{e.message}</span> }
                    })
                    .collect_view()
                    .into_any(),
                Err(err) => view! { <span class="field-error">{err.to_string()}</span> }.into_any(),
            })
    };
    view! {
        <details class="change-form">
            <summary>"Extend or change quota"</summary>
            <form
                id=form_id
                class="stacked"
                on:submit=move |ev| {
                    ev.prevent_default();
                    asked_for.set(Some(request_id.clone()));
                    action
                        .dispatch(RequestChange {
                            draft: ChangeDraft {
                                request_id: request_id.clone(),
                                kind: kind.get(),
                                lifetime: lifetime.get(),
                                tier: tier.get(),
                                reason: reason.get(),
                            },
                        });
                }
            >
                <label>
                    "Change"
                    <select
                        name="kind"
                        prop:value=move || kind.get()
                        on:change=move |ev| kind.set(event_target_value(&ev))
                    >
                        {extendable
                            .then(|| view! { <option value="extend" selected=true>"Extend its lifetime"</option> })}
                        <option value="quota" selected=!extendable>"Another tier's quota"</option>
                    </select>
                </label>
                <label class:hidden=move || kind.get() != ChangeKind::Extend.as_str()>
                    "By"
                    <select
                        name="lifetime"
                        prop:value=move || lifetime.get()
                        on:change=move |ev| lifetime.set(event_target_value(&ev))
                    >
                        {lifetimes
                            .into_iter()
                            .map(|l| {
                                let label = Lifetime::parse(&l).map(Lifetime::label).unwrap_or("?");
                                view! { <option value=l.clone()>{label}</option> }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label class:hidden=move || kind.get() != ChangeKind::Quota.as_str()>
                    "Tier"
                    <select
                        name="tier"
                        prop:value=move || tier.get()
                        on:change=move |ev| tier.set(event_target_value(&ev))
                    >
                        {move || {
                            tiers
                                .get()
                                .into_iter()
                                .filter(|t| t.spec.offered_on(&cluster))
                                .map(|t| t.name)
                                .map(|t| {
                                    let selected = t == tier.get_untracked();
                                    view! { <option value=t.clone() selected=selected>{t.clone()}</option> }
                                })
                                .collect_view()
                        }}
                    </select>
                </label>
                <label>
                    "Why"
                    <input
                        name="reason"
                        maxlength="500"
                        prop:value=move || reason.get()
                        on:input=move |ev| reason.set(event_target_value(&ev))
                    />
                </label>
                <button class="button" type="submit" disabled=move || action.pending().get()>
                    "Ask"
                </button>
                {answer}
            </form>
        </details>
    }
    // Erased: nested in the requests table's row, the full type is too deep for rustc.
    .into_any()
}

/// Changes the user may see, with approve / deny for those they may decide.
#[component]
pub fn ChangesTable(
    version: Signal<u64>,
    tick: RwSignal<u64>,
    decide: ServerAction<DecideChange>,
) -> impl IntoView {
    let changes = Resource::new(move || version.get(), |_| list_namespace_changes());
    crate::components::poll::every_while(
        Duration::from_secs(2),
        move || {
            changes
                .get()
                .and_then(Result::ok)
                .is_some_and(|list| list.iter().any(|c| c.state.is_open()))
        },
        move || tick.update(|n| *n += 1),
    );
    let rows = move || changes.get().and_then(Result::ok).unwrap_or_default();
    view! {
        <h2>"Changes"</h2>
        {move || match decide.value().get() {
            Some(Err(err)) => view! { <p class="error" id="decide-change-error">{err.to_string()}</p> }.into_any(),
            _ => ().into_any(),
        }}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || match changes.get() {
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p class="muted" id="no-changes">"No extensions or quota changes yet."</p> }.into_any()
                }
                Some(Err(err)) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                _ => ().into_any(),
            }}
            <table class="table" tabindex="0" id="changes-table" class:hidden=move || rows().is_empty()>
                <thead>
                    <tr>
                        <th>"Namespace"</th>
                        <th>"Change"</th>
                        <th>"Why"</th>
                        <th>"Asked by"</th>
                        <th>"State"</th>
                        <th>"Decision"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=rows key=|c| c.clone() let:change>
                        <ChangeRow change=change decide=decide />
                    </For>
                </tbody>
            </table>
        </Transition>
    }
}

#[component]
fn ChangeRow(change: ChangeView, decide: ServerAction<DecideChange>) -> impl IntoView {
    let decision = match (&change.decided_by, &change.decision_reason) {
        (Some(by), Some(why)) => format!("{by}: {why}"),
        (Some(by), None) => by.clone(),
        _ => String::new(),
    };
    let actions = change.can_decide.then(|| {
        let id = change.id.clone();
        let on_decide = Callback::new(move |(approve, reason): (bool, String)| {
            decide.dispatch(DecideChange {
                id: id.clone(),
                approve,
                reason,
            });
        });
        view! { <DecideButtons on_decide=on_decide /> }
    });
    let quota = (!change.quota.is_empty()).then(|| {
        view! {
            <ul class="quota-deltas">
                {change
                    .quota
                    .iter()
                    .map(|d| {
                        view! {
                            <li data-resource=d.resource.clone()>
                                <code>{d.resource.clone()}</code> " " {d.before.clone()} " → " {d.after.clone()}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
    });
    view! {
        <tr
            id=format!("change-{}", change.id)
            class="change-row"
            data-namespace=change.namespace.clone()
            data-cluster=change.cluster.clone()
            data-state=change.state.as_str()
        >
            <td>
                <strong>{change.namespace.clone()}</strong>
                <span class="muted">{format!(" on {}", change.cluster)}</span>
            </td>
            <td>{change.summary.clone()} {quota}</td>
            <td>{change.reason.clone()}</td>
            <td>{change.requester.clone()}</td>
            <td>
                <span class=state_class(change.state)>{change.state.as_str()}</span>
                {change.last_error.clone().map(|e| view! { <div class="field-error">{e}</div> })}
            </td>
            <td>{decision} {actions}</td>
        </tr>
    }
}
