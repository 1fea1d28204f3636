//! Onboarding: ask for a namespace (with live checks and the manifest preview), and follow
//! requests through review and provisioning.

use std::time::Duration;

use domain::tenancy::{
    DraftCheck, FieldError, Lifetime, NamespaceDraft, RequestState, RequestView, SubmitOutcome,
    Tier,
};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{
    DecideChange, DecideRequest, RequestChange, SubmitDraft, check_draft, list_namespace_requests,
    onboarding_options,
};
use crate::components::announce::Announce;
use crate::components::decide::DecideButtons;
use crate::components::download::Download;
use crate::pages::namespace_changes::{ChangeForm, ChangesTable};
use crate::session::signed_in_user;

#[component]
pub fn OnboardingPage() -> impl IntoView {
    // Shared: a submitted request shows up in the table at once.
    let submit = ServerAction::<SubmitDraft>::new();
    let decide = ServerAction::<DecideRequest>::new();
    let change = ServerAction::<RequestChange>::new();
    provide_context(crate::pages::namespace_changes::ChangeAsked(RwSignal::new(
        None,
    )));
    let decide_change = ServerAction::<DecideChange>::new();
    // Bumped by the tables' timers while anything moves; with every action's version it is
    // what both tables reload on, so a change applied shows on its namespace's row too.
    let tick = RwSignal::new(0u64);
    let version = Signal::derive(move || {
        tick.get()
            + submit.version().get() as u64
            + decide.version().get() as u64
            + change.version().get() as u64
            + decide_change.version().get() as u64
    });
    let body = match signed_in_user() {
        Some(user) => view! {
            {user
                .roles
                .contains(&domain::authz::Role::Admin)
                .then(|| view! { <p><a href="/tiers" id="edit-tiers">"Edit tiers"</a></p> })}
            <RequestForm
                default_team=user.teams.first().cloned().unwrap_or_default()
                contact=user.email.clone()
                submit=submit
            />
            <RequestsTable version=version tick=tick decide=decide change=change />
            <ChangesTable version=version tick=tick decide=decide_change />
        }
        .into_any(),
        None => view! {
            <p>"Sign in to ask for a namespace. " <crate::components::layout::SignInLink /></p>
        }
        .into_any(),
    };
    view! {
        <Title text="Onboarding" />
        <section>
            <h1>"Onboarding"</h1>
            <p class="lede">
                "Ask for a namespace of your own: RBAC, quota, default limits and a network policy come with it."
            </p>
            {body}
        </section>
    }
}

/// The messages of one field, shown once the form has been touched.
fn field_errors(check: Option<DraftCheck>, field: &'static str) -> Vec<FieldError> {
    check
        .map(|c| c.errors.into_iter().filter(|e| e.field == field).collect())
        .unwrap_or_default()
}

#[component]
fn RequestForm(
    default_team: String,
    contact: String,
    submit: ServerAction<SubmitDraft>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let team = RwSignal::new(default_team);
    let purpose = RwSignal::new(String::new());
    let contact = RwSignal::new(contact);
    let cost_centre = RwSignal::new(String::new());
    let tier = RwSignal::new("small".to_owned());
    let lifetime = RwSignal::new(Lifetime::SevenDays.as_str().to_owned());
    let network_policy = RwSignal::new(true);
    // Empty: the home cluster (listed first).
    let cluster = RwSignal::new(String::new());
    let touched = RwSignal::new(false);
    // A field's complaints show once it has been used, or once the form was sent: "required"
    // under fields nobody reached yet only scolds.
    let used = RwSignal::new(std::collections::BTreeSet::<&'static str>::new());
    let sent = RwSignal::new(false);
    // The name sent last, for the answer; a request that went through clears the form.
    let requested = StoredValue::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(SubmitOutcome::Submitted { .. })) = submit.value().get() {
            name.set(String::new());
            purpose.set(String::new());
            cost_centre.set(String::new());
            used.set(Default::default());
            sent.set(false);
            touched.set(false);
        }
    });
    let use_field = move |field: &'static str| {
        touched.set(true);
        used.update(|u| {
            u.insert(field);
        });
    };

    let draft = move || NamespaceDraft {
        name: name.get(),
        team: team.get(),
        purpose: purpose.get(),
        contact: contact.get(),
        cost_centre: cost_centre.get(),
        tier: tier.get(),
        lifetime: lifetime.get(),
        network_policy: network_policy.get(),
        cluster: cluster.get(),
    };
    let choices = Resource::new(|| (), |_| onboarding_options());
    // Checked as the user types, in the browser only (the server has nothing typed to check;
    // a resource read outside <Suspense/> would differ between the two renders). The answer
    // to the latest draft wins, whatever order the answers come back in.
    let checked = RwSignal::new(None::<DraftCheck>);
    let asked = StoredValue::new(0u64);
    Effect::new(move |_| {
        let draft = draft();
        if !touched.get() {
            return;
        }
        let n = asked.get_value() + 1;
        asked.set_value(n);
        leptos::task::spawn_local(async move {
            if let Ok(answer) = check_draft(draft).await
                && asked.get_value() == n
            {
                checked.set(Some(answer));
            }
        });
    });

    // The latest answer, or nothing before the first keystroke.
    let current = move || touched.get().then(|| checked.get()).flatten();
    let errors_of = move |field: &'static str| {
        move || {
            if !sent.get() && !used.with(|u| u.contains(field)) {
                return Vec::new().collect_view();
            }
            field_errors(current(), field)
                .into_iter()
                .map(|e| view! { <span class="field-error" data-field=field>{e.message}</span> })
                .collect_view()
        }
    };
    let text_input =
        move |label: &'static str, field: &'static str, signal: RwSignal<String>, max: usize| {
            view! {
                <label>
                    {label}
                    <input
                        name=field
                        maxlength=max.to_string()
                        prop:value=move || signal.get()
                        on:input=move |ev| {
                            use_field(field);
                            signal.set(event_target_value(&ev));
                        }
                    />
                    {errors_of(field)}
                </label>
            }
        };
    // Options may come from the server (teams, tiers): the select renders them when they
    // arrive and keeps the chosen value.
    let select_input =
        move |label: &'static str,
              field: &'static str,
              signal: RwSignal<String>,
              options: Box<dyn Fn() -> Vec<(String, String)> + Send + Sync>| {
            view! {
                <label>
                    {label}
                    <select
                        name=field
                        prop:value=move || signal.get()
                        on:change=move |ev| {
                            use_field(field);
                            signal.set(event_target_value(&ev));
                        }
                    >
                        <Transition fallback=|| ()>
                            {move || {
                                options()
                                    .into_iter()
                                    .map(|(value, text)| {
                                        let selected = value == signal.get_untracked();
                                        view! { <option value=value selected=selected>{text}</option> }
                                    })
                                    .collect_view()
                            }}
                        </Transition>
                    </select>
                    {errors_of(field)}
                </label>
            }
        };

    view! {
        <h2>"Ask for a namespace"</h2>
        <form
            id="namespace-form"
            class="stacked"
            on:submit=move |ev| {
                ev.prevent_default();
                touched.set(true);
                sent.set(true);
                requested.set_value(name.get_untracked());
                submit.dispatch(SubmitDraft { draft: draft() });
            }
        >
            // One cluster needs no choice; a fleet offers each, the home one first.
            <Transition fallback=|| ()>
                {move || {
                    let clusters = choices.get().and_then(Result::ok).map(|c| c.clusters).unwrap_or_default();
                    (clusters.len() > 1).then(|| select_input("Cluster", "cluster", cluster, Box::new(move || {
                        // The home cluster (first) is the empty value, as the form starts.
                        clusters
                            .iter()
                            .enumerate()
                            .map(|(i, c)| (if i == 0 { String::new() } else { c.name.clone() }, c.label.clone()))
                            .collect()
                    })))
                }}
            </Transition>
            // Longer than a name may be, so a long one is refused in words, not cut silently.
            {text_input("Name", "name", name, 100)}
            {select_input("Team", "team", team, Box::new(move || {
                choices
                    .get()
                    .and_then(Result::ok)
                    .map(|c| c.teams.into_iter().map(|t| (t.clone(), t)).collect())
                    .unwrap_or_default()
            }))}
            <label>
                "Purpose"
                <textarea
                    name="purpose"
                    maxlength="500"
                    prop:value=move || purpose.get()
                    on:input=move |ev| {
                        use_field("purpose");
                        purpose.set(event_target_value(&ev));
                    }
                ></textarea>
                {errors_of("purpose")}
            </label>
            {text_input("Contact", "contact", contact, 120)}
            {text_input("Cost centre", "cost_centre", cost_centre, 120)}
            {select_input("Tier", "tier", tier, Box::new(move || {
                choices
                    .get()
                    .and_then(Result::ok)
                    .map(|c| {
                        // The tiers offered on the chosen cluster (empty: the home one, first).
                        let on = match cluster.get() {
                            chosen if chosen.is_empty() => {
                                c.clusters.first().map(|h| h.name.clone()).unwrap_or_default()
                            }
                            chosen => chosen,
                        };
                        c.tiers
                            .into_iter()
                            .filter(|t| c.clusters.len() < 2 || t.spec.offered_on(&on))
                            .map(|t| {
                                let text = format!("{} — {}", t.name, t.description);
                                (t.name, text)
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }))}
            {select_input("Lifetime", "lifetime", lifetime, Box::new(move || {
                choices
                    .get()
                    .and_then(Result::ok)
                    .map(|c| {
                        c.lifetimes
                            .into_iter()
                            .map(|l| (l.as_str().to_owned(), l.label().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default()
            }))}
            <label class="check">
                <input
                    type="checkbox"
                    name="network_policy"
                    prop:checked=move || network_policy.get()
                    on:change=move |ev| {
                        touched.set(true);
                        network_policy.set(event_target_checked(&ev));
                    }
                />
                "Deny ingress from other namespaces"
            </label>
            <p class="muted" id="approval-note">
                {move || match current() {
                    Some(c) if c.needs_approval => "A manager of the team approves this request before it is provisioned.",
                    Some(c) if c.preview.is_some() => "Granted at once: no approval needed.",
                    _ => "",
                }}
            </p>
            <button class="button" type="submit" id="submit-request" disabled=move || submit.pending().get()>
                "Request namespace"
            </button>
            <Announce id="submit-answer" answer=submit.value()>
            {move || match submit.value().get() {
                Some(Ok(SubmitOutcome::Submitted { id, state })) => {
                    let what = if state == RequestState::Pending {
                        "pending: a manager of the team decides; the table below follows it"
                    } else {
                        "approved at once; the table below follows it until the namespace is ready"
                    };
                    view! {
                        <p class="notice" id="submit-result">
                            "Request " <code>{id}</code> " for " <strong>{requested.get_value()}</strong> ": " {what} "."
                        </p>
                    }
                    .into_any()
                }
                Some(Ok(SubmitOutcome::Invalid(errors))) => view! {
                    <ul class="error" id="submit-errors">
                        {errors
                            .into_iter()
                            .map(|e| view! { <li>{format!("{}: {}", label_of(&e.field), e.message)}</li> })
                            .collect_view()}
                    </ul>
                }
                .into_any(),
                Some(Err(err)) => view! { <p class="error" id="submit-errors">{err.to_string()}</p> }.into_any(),
                None => ().into_any(),
            }}
            </Announce>
        </form>
        <h3>"Preview"</h3>
        <p class="muted">"Exactly what Berth will apply, in this order, with server-side apply."</p>
        <pre class="preview" id="manifest-preview">
            {move || {
                current()
                    .and_then(|c| c.preview)
                    .unwrap_or_else(|| "Fill in the form to see the manifests.".to_owned())
            }}
        </pre>
    }
}

/// When a namespace goes: its date once granted; before that, what its lifetime will give it.
fn expires_text(request: &RequestView) -> String {
    match (&request.expires_at, Lifetime::parse(&request.lifetime)) {
        (Some(at), _) => at.clone(),
        (None, Some(Lifetime::Permanent)) => "never".to_owned(),
        (None, Some(l)) if !request.state.is_final() => {
            format!("{} after it is ready", l.label().to_lowercase())
        }
        (None, _) => "—".to_owned(),
    }
}

/// The form's label of a field the server names.
fn label_of(field: &str) -> &str {
    match field {
        "name" => "Name",
        "cluster" => "Cluster",
        "team" => "Team",
        "purpose" => "Purpose",
        "contact" => "Contact",
        "cost_centre" => "Cost centre",
        "tier" => "Tier",
        "lifetime" => "Lifetime",
        "" => "Request",
        other => other,
    }
}

fn state_class(state: RequestState) -> &'static str {
    match state {
        RequestState::Ready => "badge ok",
        RequestState::Denied | RequestState::Failed => "badge bad",
        RequestState::Pending | RequestState::Expired => "badge wait",
        RequestState::Approved | RequestState::Provisioning | RequestState::Expiring => {
            "badge busy"
        }
    }
}

/// Requests the user may see; refreshed every two seconds while any of them is moving. Rows are
/// keyed by their content, so a reload re-renders only the rows that changed (and keeps what
/// someone is typing into the others).
#[component]
fn RequestsTable(
    version: Signal<u64>,
    tick: RwSignal<u64>,
    decide: ServerAction<DecideRequest>,
    change: ServerAction<RequestChange>,
) -> impl IntoView {
    let requests = Resource::new(move || version.get(), |_| list_namespace_requests());
    let choices = Resource::new(|| (), |_| onboarding_options());
    let tiers = Signal::derive(move || {
        choices
            .get()
            .and_then(Result::ok)
            .map(|c| c.tiers)
            .unwrap_or_default()
    });
    // The server renders once; the page then keeps itself current while anything moves.
    crate::components::poll::every_while(
        Duration::from_secs(2),
        move || {
            requests
                .get()
                .and_then(Result::ok)
                // Nearing expiry counts as moving: the reconciler will act on it.
                .is_some_and(|list| {
                    list.iter()
                        .any(|r| !r.state.is_final() || r.expiry_warning.is_some())
                })
        },
        move || tick.update(|n| *n += 1),
    );
    let rows = move || requests.get().and_then(Result::ok).unwrap_or_default();
    // What the combined kubeconfig holds: namespaces of the viewer's own teams.
    let teams = crate::session::signed_in_user()
        .map(|u| u.teams)
        .unwrap_or_default();
    view! {
        <h2>"Requests"</h2>
        {move || match decide.value().get() {
            Some(Err(err)) => view! { <p class="error" id="decide-error">{err.to_string()}</p> }.into_any(),
            _ => ().into_any(),
        }}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || match requests.get() {
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p class="muted" id="no-requests">"No requests yet."</p> }.into_any()
                }
                Some(Err(err)) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                _ => ().into_any(),
            }}
            <table class="table" tabindex="0" id="requests-table" class:hidden=move || rows().is_empty()>
                <thead>
                    <tr>
                        <th>"Namespace"</th>
                        <th>"Cluster"</th>
                        <th>"Team"</th>
                        <th>"Tier"</th>
                        <th>"Lifetime"</th>
                        <th>"Requested by"</th>
                        <th>"State"</th>
                        <th>"Expires"</th>
                        <th>"Decision"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=rows key=|r| r.clone() let:request>
                        <RequestRow request=request decide=decide change=change tiers=tiers />
                    </For>
                </tbody>
            </table>
            // Several namespaces (on one cluster or many): one file, a context each. (A div: a
            // form inside a paragraph closes it as the page is parsed, and hydration fails.)
            {move || {
                let mine = rows().iter().filter(|r| r.can_download && teams.contains(&r.team)).count();
                (mine > 1).then(|| view! {
                    <div id="download-all">
                        <Download
                            action="/api/v1/kubeconfig".to_owned()
                            label="Download one kubeconfig for all your namespaces"
                            class="link-button download"
                        />
                    </div>
                })
            }}
        </Transition>
    }
}

#[component]
fn RequestRow(
    request: RequestView,
    decide: ServerAction<DecideRequest>,
    change: ServerAction<RequestChange>,
    tiers: Signal<Vec<Tier>>,
) -> impl IntoView {
    let id = request.id.clone();
    // By request: one name may be a namespace on each cluster, and again after it expired.
    let row_id = format!("request-{id}");
    let decision = match (&request.decided_by, &request.decision_reason) {
        (Some(by), Some(why)) => format!("{by}: {why}"),
        (Some(by), None) => by.clone(),
        _ => String::new(),
    };
    let error = request.last_error.clone();
    let actions = request.can_decide.then(|| {
        let id = id.clone();
        let on_decide = Callback::new(move |(approve, reason): (bool, String)| {
            decide.dispatch(DecideRequest {
                id: id.clone(),
                approve,
                reason,
            });
        });
        view! { <DecideButtons on_decide=on_decide /> }
    });
    let download = request.can_download.then(|| {
        view! {
            <Download
                // The cluster too: a name is unique per cluster, not across the fleet.
                action=format!(
                    "/api/v1/namespaces/{}/kubeconfig?cluster={}",
                    request.name, request.cluster
                )
                label="Download kubeconfig"
                class="link-button download"
            />
        }
    });
    let change_form = request
        .can_change
        .then(|| view! { <ChangeForm request=request.clone() tiers=tiers action=change /> });
    view! {
        <tr
            id=row_id
            data-namespace=request.name.clone()
            data-cluster=request.cluster.clone()
            data-state=request.state.as_str()
        >
            <td>
                <strong>{request.name.clone()}</strong>
                {download}
                {change_form}
                <details>
                    <summary>"manifests"</summary>
                    <pre class="preview">{request.preview.clone()}</pre>
                </details>
            </td>
            <td class="cluster">{request.cluster.clone()}</td>
            <td>{request.team.clone()}</td>
            <td class="tier">{request.tier.clone()}</td>
            <td>{Lifetime::parse(&request.lifetime).map(Lifetime::label).unwrap_or("?")}</td>
            <td>{request.requester.clone()}</td>
            <td>
                <span class=state_class(request.state)>{request.state.as_str()}</span>
                {error.map(|e| view! { <div class="field-error">{e}</div> })}
            </td>
            <td class="expires">
                {expires_text(&request)}
                {request.expiry_warning.clone().map(|w| view! { <div class="field-error expiry-warning">{w}</div> })}
            </td>
            <td>{decision} {actions}</td>
        </tr>
    }
    .into_any()
}
