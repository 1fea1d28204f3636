//! Just-in-time access: ask for a role in namespaces (or the cluster) for a while, see where
//! one's requests stand and download a grant's kubeconfig; SREs review the queue (it refreshes
//! itself) and end grants early; admins edit the policy and can revoke everything.

use std::time::Duration;

use domain::jit::{AccessOverview, AccessView, Draft, Rule, State, describe_minutes};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{
    RequestAccess, ReviewAccess, RevokeAccess, RevokeAllAccess, SignOffAccess, WithdrawAccess,
    access_overview,
};
use crate::components::announce::Announce;
use crate::components::decide::DecideButtons;
use crate::components::download::Download;
use crate::components::poll::every;
use crate::components::workload::confirmed;
use crate::failure::Failure;
use crate::session::signed_in_user;

/// How often the page asks again, so a new request reaches reviewers without a reload.
const REFRESH: Duration = Duration::from_secs(3);

pub fn state_class(state: State) -> &'static str {
    match state {
        State::Active => "badge ok",
        State::Pending => "badge wait",
        State::Granting => "badge busy",
        State::Denied | State::Revoked => "badge bad",
        State::Expired | State::Withdrawn => "badge",
    }
}

/// "12 min left", "1 h 5 min left".
pub fn time_left(seconds: i64) -> String {
    if seconds < 60 {
        format!("{seconds} s left")
    } else {
        format!(
            "{} left",
            describe_minutes(u32::try_from(seconds / 60).unwrap_or(u32::MAX))
        )
    }
}

/// What an action on a request answered, as one line.
pub fn describe(answer: Result<AccessView, Failure>, verb: &str) -> Result<String, String> {
    match answer {
        Ok(v) => Ok(format!(
            "{verb} {}: {} ({} {} on {})",
            v.id,
            v.state.as_str(),
            v.role,
            v.duration,
            v.scope
        )),
        Err(err) => Err(err.to_string()),
    }
}

/// Writes each answer `latest` yields into `said`, so a page shows the latest of its actions.
pub fn answer_into(
    said: RwSignal<Option<Result<String, String>>>,
    latest: impl Fn() -> Option<Result<AccessView, Failure>> + 'static,
    verb: &'static str,
) {
    Effect::new(move |_| {
        if let Some(a) = latest() {
            said.set(Some(describe(a, verb)));
        }
    });
}

pub fn answer_view(said: Result<String, String>) -> AnyView {
    match said {
        Ok(text) => view! { <p class="notice" id="access-result">{text}</p> }.into_any(),
        Err(why) => view! { <p class="error" id="access-result">{why}</p> }.into_any(),
    }
}

#[component]
pub fn AccessPage() -> impl IntoView {
    let body = if signed_in_user().is_some() {
        view! { <Overview /> }.into_any()
    } else {
        view! { <p>"Sign in to ask for access. " <crate::components::layout::SignInLink /></p> }
            .into_any()
    };
    view! {
        <Title text="Access" />
        <section>
            <h1>"Access"</h1>
            <p class="lede">
                "Short-lived elevated access to namespaces or the cluster, under a separate identity: requested, reviewed by SREs, granted as bindings that Berth deletes when the time is up."
            </p>
            {body}
        </section>
    }
}

/// The request form's fields. They live with the page, not the form: the form is drawn again
/// whenever the overview refreshes (every few seconds) or an answer comes, and what was typed
/// must survive both; only a request that went through clears them.
#[derive(Clone, Copy)]
struct Fields {
    role: RwSignal<String>,
    /// Which cluster of the fleet; empty: the home one.
    target_cluster: RwSignal<String>,
    cluster: RwSignal<bool>,
    namespaces: RwSignal<String>,
    duration: RwSignal<String>,
    reason: RwSignal<String>,
    ticket: RwSignal<String>,
    break_glass: RwSignal<bool>,
}

impl Fields {
    fn new() -> Self {
        Fields {
            role: RwSignal::new(String::new()),
            target_cluster: RwSignal::new(String::new()),
            cluster: RwSignal::new(false),
            namespaces: RwSignal::new(String::new()),
            duration: RwSignal::new("30m".to_owned()),
            reason: RwSignal::new(String::new()),
            ticket: RwSignal::new(String::new()),
            break_glass: RwSignal::new(false),
        }
    }
}

/// The role a form starts with: the least the policy offers (view), else the first.
fn least_role(roles: &[String]) -> String {
    ["view", "edit", "admin"]
        .iter()
        .find(|r| roles.iter().any(|x| x == *r))
        .map(|r| (*r).to_owned())
        .or_else(|| roles.first().cloned())
        .unwrap_or_default()
}

#[component]
fn Overview() -> impl IntoView {
    let ask = ServerAction::<RequestAccess>::new();
    let fields = Fields::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = ask.value().get() {
            fields.namespaces.set(String::new());
            fields.reason.set(String::new());
            fields.ticket.set(String::new());
            fields.break_glass.set(false);
        }
    });
    let review = ServerAction::<ReviewAccess>::new();
    let revoke = ServerAction::<RevokeAccess>::new();
    let revoke_all = ServerAction::<RevokeAllAccess>::new();
    let sign_off = ServerAction::<SignOffAccess>::new();
    let withdraw = ServerAction::<WithdrawAccess>::new();
    let acts = RowActions {
        review: None,
        revoke,
        sign_off,
        withdraw,
    };
    let tick = RwSignal::new(0u64);
    every(REFRESH, move || tick.update(|t| *t += 1));
    let overview = Resource::new(
        move || {
            (
                tick.get(),
                ask.version().get(),
                review.version().get(),
                revoke.version().get(),
                revoke_all.version().get(),
                sign_off.version().get(),
                withdraw.version().get(),
            )
        },
        |_| access_overview(),
    );
    // The answer to whichever action ran last.
    let said = RwSignal::new(None::<Result<String, String>>);
    answer_into(said, move || review.value().get(), "Reviewed");
    answer_into(said, move || revoke.value().get(), "Revoked");
    answer_into(said, move || sign_off.value().get(), "Signed off");
    answer_into(said, move || withdraw.value().get(), "Withdrawn");
    Effect::new(move |_| {
        if let Some(a) = revoke_all.value().get() {
            said.set(Some(match a {
                Ok(n) => Ok(format!("{n} grant(s) revoked")),
                Err(err) => Err(err.to_string()),
            }));
        }
    });
    let outcome = move || said.get().map(answer_view);
    view! {
        {outcome}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                overview
                    .get()
                    .map(|answer| match answer {
                        Ok(o) => view! { <Sections o=o ask=ask fields=fields review=review revoke_all=revoke_all acts=acts /> }.into_any(),
                        Err(err) => view! { <p class="error" id="access-error">{err.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn Sections(
    o: AccessOverview,
    ask: ServerAction<RequestAccess>,
    fields: Fields,
    review: ServerAction<ReviewAccess>,
    revoke_all: ServerAction<RevokeAllAccess>,
    acts: RowActions,
) -> impl IntoView {
    let reviewer = o.reviewer;
    let queue = o.queue.clone();
    let active = o.active.clone();
    view! {
        {o.admin.then(|| view! {
            <p class="admin-links">
                <a href="/access/policy" id="access-policy-link">"Edit the access policy"</a>
                " · "
                <button
                    class="button deny"
                    id="access-revoke-all"
                    on:click=move |_| {
                        if confirmed("End every active grant now?") {
                            revoke_all.dispatch(RevokeAllAccess { comment: "revoke all".to_owned() });
                        }
                    }
                >
                    "Revoke all grants"
                </button>
            </p>
        })}
        <RequestForm rules=o.rules.clone() clusters=o.clusters.clone() glass=o.break_glass_roles.clone() ask=ask fields=fields />
        {reviewer.then(|| view! {
            <article class="panel" id="access-queue">
                <div class="panel-head"><h2>"Waiting for review"</h2></div>
                {if queue.is_empty() {
                    view! { <p class="muted">"Nothing to review."</p> }.into_any()
                } else {
                    view! { <Table rows=queue acts=RowActions { review: Some(review), ..acts } /> }.into_any()
                }}
            </article>
            <article class="panel" id="access-active">
                <div class="panel-head"><h2>"Active grants and break-glass reviews"</h2></div>
                {if active.is_empty() {
                    view! { <p class="muted">"No one else holds elevated access."</p> }.into_any()
                } else {
                    view! { <Table rows=active acts=acts /> }.into_any()
                }}
            </article>
        })}
        <article class="panel" id="access-mine">
            <div class="panel-head"><h2>"Your requests"</h2></div>
            {if o.mine.is_empty() {
                view! { <p class="muted">"You have not asked for access yet."</p> }.into_any()
            } else {
                view! { <Table rows=o.mine acts=acts /> }.into_any()
            }}
        </article>
        <Policy rules=o.rules />
    }
}

#[component]
fn RequestForm(
    rules: Vec<Rule>,
    /// The fleet's clusters, the home one first; a choice shows only when there are several.
    clusters: Vec<String>,
    /// Roles the viewer may approve themself (break-glass); the box shows only then.
    glass: Vec<String>,
    ask: ServerAction<RequestAccess>,
    fields: Fields,
) -> impl IntoView {
    let mut roles: Vec<String> = rules.iter().map(|r| r.role.clone()).collect();
    roles.sort();
    roles.dedup();
    let glass_possible = !glass.is_empty();
    let glass_hint = format!(
        " break glass: approve it myself now (an SRE reviews it afterwards; for {})",
        glass.join(", ")
    );
    let Fields {
        role,
        target_cluster,
        cluster,
        namespaces,
        duration,
        reason,
        ticket,
        break_glass,
    } = fields;
    if role.get_untracked().is_empty() || !roles.contains(&role.get_untracked()) {
        role.set(least_role(&roles));
    }
    let answer = move || {
        ask.value().get().map(|a| match a {
            Ok(v) => view! {
                <p class="notice" id="access-request-result">
                    "Request " <a href=format!("/access/{}", v.id)>{v.id.clone()}</a>
                    {format!(" is {}.", v.state.as_str())}
                </p>
            }
            .into_any(),
            Err(err) => view! { <p class="error" id="access-request-result">{err.to_string()}</p> }
                .into_any(),
        })
    };
    view! {
        <article class="panel" id="access-request">
            <div class="panel-head"><h2>"Ask for access"</h2></div>
            <form
                class="stacked"
                id="access-form"
                on:submit=move |ev| {
                    ev.prevent_default();
                    ask.dispatch(RequestAccess {
                        draft: Draft {
                            namespaces: namespaces.get(),
                            cluster: cluster.get(),
                            target_cluster: target_cluster.get(),
                            role: role.get(),
                            duration: duration.get(),
                            reason: reason.get(),
                            ticket: ticket.get(),
                            break_glass: break_glass.get(),
                        },
                        extends: None,
                    });
                }
            >
                <label>
                    "Role"
                    <select name="role" prop:value=move || role.get() on:change=move |ev| role.set(event_target_value(&ev))>
                        {roles.into_iter().map(|r| {
                            let selected = r == role.get_untracked();
                            view! { <option value=r.clone() selected=selected>{r.clone()}</option> }
                        }).collect_view()}
                    </select>
                </label>
                {(clusters.len() > 1).then(|| view! {
                    <label>
                        "Cluster"
                        <select
                            name="target_cluster"
                            prop:value=move || target_cluster.get()
                            on:change=move |ev| target_cluster.set(event_target_value(&ev))
                        >
                            // The home cluster (first) is the empty value, as the form starts.
                            {clusters.iter().enumerate().map(|(i, c)| {
                                let value = if i == 0 { String::new() } else { c.clone() };
                                let selected = value == target_cluster.get_untracked();
                                view! { <option value=value selected=selected>{c.clone()}</option> }
                            }).collect_view()}
                        </select>
                    </label>
                })}
                <label class="inline">
                    <input
                        type="checkbox"
                        name="cluster"
                        prop:checked=move || cluster.get()
                        on:change=move |ev| cluster.set(event_target_checked(&ev))
                    />
                    " the whole cluster"
                </label>
                <label class:hidden=move || cluster.get()>
                    "Namespaces"
                    <input
                        name="namespaces"
                        placeholder="search-staging, search-prod"
                        prop:value=move || namespaces.get()
                        on:input=move |ev| namespaces.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    "For"
                    <input
                        name="duration"
                        placeholder="30m, 2h"
                        prop:value=move || duration.get()
                        on:input=move |ev| duration.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    "Reason"
                    <input
                        name="reason"
                        maxlength="500"
                        prop:value=move || reason.get()
                        on:input=move |ev| reason.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    "Ticket"
                    <input
                        name="ticket"
                        placeholder="OPS-1234"
                        maxlength="64"
                        prop:value=move || ticket.get()
                        on:input=move |ev| ticket.set(event_target_value(&ev))
                    />
                </label>
                {glass_possible.then(|| view! {
                    <label class="inline">
                        <input
                            type="checkbox"
                            name="break_glass"
                            prop:checked=move || break_glass.get()
                            on:change=move |ev| break_glass.set(event_target_checked(&ev))
                        />
                        {glass_hint}
                    </label>
                })}
                <button class="button" type="submit" disabled=move || ask.pending().get()>"Request"</button>
            </form>
            <Announce id="access-request-answer" answer=ask.value()>{answer}</Announce>
        </article>
    }
}

/// What a row's buttons do; `review` only in the reviewers' queue.
#[derive(Clone, Copy)]
struct RowActions {
    review: Option<ServerAction<ReviewAccess>>,
    revoke: ServerAction<RevokeAccess>,
    sign_off: ServerAction<SignOffAccess>,
    withdraw: ServerAction<WithdrawAccess>,
}

#[component]
fn Table(rows: Vec<AccessView>, acts: RowActions) -> impl IntoView {
    view! {
        <table class="table access-table" tabindex="0">
            <thead>
                <tr>
                    <th>"Request"</th>
                    <th>"Who"</th>
                    <th>"Role"</th>
                    <th>"Where"</th>
                    <th>"For"</th>
                    <th>"Why"</th>
                    <th>"State"</th>
                    <th>"Action"</th>
                </tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|v| view! { <Row v=v acts=acts /> }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Row(v: AccessView, acts: RowActions) -> impl IntoView {
    let RowActions {
        review,
        revoke,
        sign_off,
        withdraw,
    } = acts;
    let id = v.id.clone();
    // A break-glass grant's after-the-fact review, from the list as from its own page.
    let signoff = v.can_sign_off.then(|| {
        let id = id.clone();
        let comment = RwSignal::new(String::new());
        view! {
            <form
                class="inline-form sign-off"
                on:submit=move |ev| {
                    ev.prevent_default();
                    sign_off.dispatch(SignOffAccess { id: id.clone(), comment: comment.get() });
                }
            >
                <input
                    class="reason"
                    name="comment"
                    maxlength="500"
                    placeholder="what you checked"
                    aria-label="What you checked"
                    prop:value=move || comment.get()
                    on:input=move |ev| comment.set(event_target_value(&ev))
                />
                <button class="button approve" type="submit" data-action="sign-off">"Sign off"</button>
            </form>
        }
    });
    let state = match (v.state, v.seconds_left) {
        (State::Active, Some(left)) => format!("active · {}", time_left(left)),
        (State::Pending, _) => format!(
            "pending · {} of {} approval(s)",
            v.reviews.iter().filter(|r| r.approved).count(),
            v.approvals_needed
        ),
        (s, _) => s.as_str().to_owned(),
    };
    let glass = v.break_glass.then(|| {
        let text = if v.needs_sign_off() {
            "break-glass · review open"
        } else {
            "break-glass"
        };
        view! { <span class="badge bad glass">{text}</span> }
    });
    let decide = (v.can_review && review.is_some()).then(|| {
        let id = id.clone();
        let on_decide = Callback::new(move |(approve, comment): (bool, String)| {
            if let Some(action) = review {
                action.dispatch(ReviewAccess {
                    id: id.clone(),
                    approve,
                    comment,
                });
            }
        });
        view! { <DecideButtons on_decide=on_decide /> }
    });
    let end = v.can_revoke.then(|| {
        let id = id.clone();
        view! {
            <button
                class="button deny"
                data-action="revoke"
                on:click=move |_| {
                    if confirmed("End this grant now?") {
                        revoke.dispatch(RevokeAccess { id: id.clone(), comment: String::new() });
                    }
                }
            >
                "Revoke"
            </button>
        }
    });
    let take_back = v.can_withdraw.then(|| {
        let id = id.clone();
        view! {
            <button
                class="button"
                data-action="withdraw"
                on:click=move |_| {
                    if confirmed("Withdraw this request? Nobody will review it.") {
                        withdraw.dispatch(WithdrawAccess { id: id.clone(), comment: String::new() });
                    }
                }
            >
                "Withdraw"
            </button>
        }
    });
    let download = v.can_download.then(|| {
        view! {
            <Download action=format!("/api/v1/access/{id}/kubeconfig") label="kubeconfig" data_action="kubeconfig" />
        }
    });
    view! {
        <tr class="access-row" data-id=v.id.clone() data-state=v.state.as_str()>
            <td><a href=format!("/access/{}", v.id)><code>{v.id.clone()}</code></a> {glass}</td>
            <td>{v.requester.clone()}</td>
            <td><code>{v.role.clone()}</code></td>
            <td>{v.scope.clone()} <span class="muted access-cluster">{format!("on {}", v.target_cluster)}</span></td>
            <td>{v.duration.clone()}</td>
            <td>{v.reason.clone()} {(!v.ticket.is_empty()).then(|| view! { <span class="muted">{format!(" [{}]", v.ticket)}</span> })}</td>
            <td><span class=state_class(v.state)>{state}</span></td>
            <td class="actions">{decide}{signoff}{download}{end}{take_back}</td>
        </tr>
    }
}

#[component]
fn Policy(rules: Vec<Rule>) -> impl IntoView {
    view! {
        <article class="panel" id="access-policy">
            <div class="panel-head"><h2>"What may be requested"</h2></div>
            <table class="table" tabindex="0">
                <thead>
                    <tr>
                        <th>"Role"</th>
                        <th>"Where"</th>
                        <th>"At most"</th>
                        <th>"Approvals"</th>
                        <th>"Needs"</th>
                    </tr>
                </thead>
                <tbody>
                    {rules
                        .into_iter()
                        .map(|r| {
                            let mut needs = Vec::new();
                            if r.reason_required {
                                needs.push("reason");
                            }
                            if r.ticket_required {
                                needs.push("ticket");
                            }
                            if r.approver_outside_team {
                                needs.push("approver outside your teams");
                            }
                            if r.break_glass {
                                needs.push("break-glass allowed");
                            }
                            view! {
                                <tr>
                                    <td><code>{r.role.clone()}</code></td>
                                    <td>{if r.cluster { "the whole cluster".to_owned() } else { r.namespaces.join(", ") }}</td>
                                    <td>{describe_minutes(r.max_minutes)}</td>
                                    <td>{r.approvals}</td>
                                    <td>{needs.join(", ")}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </article>
    }
}
