//! One access request: what was asked and why, its reviews, the grant's time left, what the
//! viewer may do now (review, revoke, download the kubeconfig, extend, sign off) and its own
//! audit trail.

use std::time::Duration;

use domain::jit::{AccessDetail, Draft, State};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::access::{answer_into, answer_view, state_class, time_left};
use crate::api::{RequestAccess, ReviewAccess, RevokeAccess, SignOffAccess, access_detail};
use crate::components::decide::DecideButtons;
use crate::components::download::Download;
use crate::components::poll::every;
use crate::components::workload::confirmed;

#[component]
pub fn AccessRequestPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let review = ServerAction::<ReviewAccess>::new();
    let revoke = ServerAction::<RevokeAccess>::new();
    let extend = ServerAction::<RequestAccess>::new();
    let sign_off = ServerAction::<SignOffAccess>::new();
    let tick = RwSignal::new(0u64);
    every(Duration::from_secs(5), move || tick.update(|t| *t += 1));
    let detail = Resource::new(
        move || {
            (
                id(),
                tick.get(),
                review.version().get(),
                revoke.version().get(),
                sign_off.version().get(),
            )
        },
        |(id, ..)| access_detail(id),
    );
    // The answer to whichever action ran last.
    let said = RwSignal::new(None::<Result<String, String>>);
    answer_into(said, move || review.value().get(), "Reviewed");
    answer_into(said, move || revoke.value().get(), "Revoked");
    answer_into(said, move || sign_off.value().get(), "Signed off");
    answer_into(said, move || extend.value().get(), "Extension filed:");
    let result = move || said.get().map(answer_view);
    view! {
        <Title text="Access request" />
        <section>
            <p><a href="/access">"← Access"</a></p>
            {result}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    detail
                        .get()
                        .map(|answer| match answer {
                            Ok(d) => view! { <Detail d=d review=review revoke=revoke extend=extend sign_off=sign_off /> }.into_any(),
                            Err(err) => view! { <p class="error" id="access-error">{err.to_string()}</p> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn Detail(
    d: AccessDetail,
    review: ServerAction<ReviewAccess>,
    revoke: ServerAction<RevokeAccess>,
    extend: ServerAction<RequestAccess>,
    sign_off: ServerAction<SignOffAccess>,
) -> impl IntoView {
    let v = d.request;
    let id = v.id.clone();
    let state = match (v.state, v.seconds_left) {
        (State::Active, Some(left)) => format!("active · {}", time_left(left)),
        (s, _) => s.as_str().to_owned(),
    };
    let fact =
        |label: &'static str, value: String| view! { <tr><th>{label}</th><td>{value}</td></tr> };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".to_owned());
    let decide = v.can_review.then(|| {
        let id = id.clone();
        let on_decide = Callback::new(move |(approve, comment): (bool, String)| {
            review.dispatch(ReviewAccess { id: id.clone(), approve, comment });
        });
        view! { <div id="access-review"><h2>"Review"</h2><DecideButtons on_decide=on_decide /></div> }
    });
    let end = v.can_revoke.then(|| {
        let id = id.clone();
        view! {
            <button
                class="button deny"
                id="access-revoke"
                on:click=move |_| {
                    if confirmed("End this grant now?") {
                        revoke.dispatch(RevokeAccess { id: id.clone(), comment: String::new() });
                    }
                }
            >
                "Revoke now"
            </button>
        }
    });
    let download = v.can_download.then(|| view! {
        <Download action=format!("/api/v1/access/{id}/kubeconfig") label="Download kubeconfig" id="access-kubeconfig" />
    });
    let more = v.can_extend.then(|| {
        let base = v.clone();
        let duration = RwSignal::new("30m".to_owned());
        let reason = RwSignal::new(String::new());
        view! {
            <form
                class="stacked"
                id="access-extend"
                on:submit=move |ev| {
                    ev.prevent_default();
                    extend.dispatch(RequestAccess {
                        draft: Draft {
                            namespaces: base.namespaces.join(","),
                            cluster: base.cluster,
                            target_cluster: base.target_cluster.clone(),
                            role: base.role.clone(),
                            duration: duration.get(),
                            reason: reason.get(),
                            ticket: base.ticket.clone(),
                            break_glass: false,
                        },
                        extends: Some(base.id.clone()),
                    });
                }
            >
                <h2>"Extend"</h2>
                <label>"For another" <input name="duration" prop:value=move || duration.get() on:input=move |ev| duration.set(event_target_value(&ev)) /></label>
                <label>"Why" <input name="reason" maxlength="500" prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev)) /></label>
                <button class="button" type="submit">"Ask to extend"</button>
            </form>
        }
    });
    let signoff = v.can_sign_off.then(|| {
        let id = id.clone();
        let comment = RwSignal::new(String::new());
        view! {
            <form
                class="stacked"
                id="access-sign-off"
                on:submit=move |ev| {
                    ev.prevent_default();
                    sign_off.dispatch(SignOffAccess { id: id.clone(), comment: comment.get() });
                }
            >
                <h2>"Break-glass review"</h2>
                <label>"What you checked" <input name="comment" maxlength="500" prop:value=move || comment.get() on:input=move |ev| comment.set(event_target_value(&ev)) /></label>
                <button class="button approve" type="submit">"Sign off"</button>
            </form>
        }
    });
    view! {
        <h1>"Access request " <code>{v.id.clone()}</code></h1>
        <p>
            <span class=state_class(v.state) id="access-state" data-state=v.state.as_str()>{state}</span>
            {v.break_glass.then(|| view! { <span class="badge bad glass">{if v.needs_sign_off() { " break-glass · review open" } else { " break-glass · signed off" }}</span> })}
        </p>
        <table class="table access-facts" tabindex="0" id="access-facts">
            <tbody>
            {fact("Requested by", v.requester.clone())}
            {fact("Role", v.role.clone())}
            {fact("Where", v.scope.clone())}
            {fact("Cluster", v.target_cluster.clone())}
            {fact("For", v.duration.clone())}
            {fact("Reason", v.reason.clone())}
            {fact("Ticket", if v.ticket.is_empty() { "—".to_owned() } else { v.ticket.clone() })}
            {fact("Identity", format!("jit:{}:{} (group berth:jit)", v.id, v.requester_id))}
            {fact("Asked", v.created_at.clone())}
            {fact("Review by", v.review_by.clone())}
            {fact("Granted", opt(&v.granted_at))}
            {fact("Ends", opt(&v.expires_at))}
            {fact("Ended", match (&v.ended_at, &v.ended_by) { (Some(at), Some(by)) => format!("{at} by {by}"), (Some(at), None) => at.clone(), _ => "—".to_owned() })}
            {fact("Comment", opt(&v.end_comment))}
            {fact("Bindings removed", v.revoke_delay_ms.map_or("—".to_owned(), removed_after))}
            {fact("Extends", opt(&v.extends))}
            {fact("Signed off", match (&v.signed_off_by, &v.signoff_comment) { (Some(by), Some(c)) => format!("{by}: {c}"), _ => "—".to_owned() })}
            </tbody>
        </table>
        <h2>"Reviews"</h2>
        {if v.reviews.is_empty() {
            view! { <p class="muted">{format!("None yet; it needs {} approval(s).", v.approvals_needed)}</p> }.into_any()
        } else {
            view! {
                <ul id="access-reviews">
                    {v.reviews.iter().map(|r| view! {
                        <li>{format!("{} {} at {}{}", r.reviewer, if r.approved { "approved" } else { "denied" }, r.at, if r.comment.is_empty() { String::new() } else { format!(": {}", r.comment) })}</li>
                    }).collect_view()}
                </ul>
            }.into_any()
        }}
        {decide}
        <p class="actions">{download}{end}</p>
        {more}
        {signoff}
        <h2>"Audit trail"</h2>
        <table class="table" tabindex="0" id="access-audit">
            <thead><tr><th>"#"</th><th>"Who"</th><th>"Action"</th><th>"Outcome"</th><th>"Details"</th></tr></thead>
            <tbody>
                {d.events.into_iter().map(|e| view! {
                    <tr class="audit-row" data-action=e.body.action.clone()>
                        <td>{e.seq}</td>
                        <td>{e.body.actor_display.clone()}</td>
                        <td><code>{e.body.action.clone()}</code></td>
                        <td>{e.body.outcome.clone()}</td>
                        <td><code class="small">{e.body.after.map(|a| a.to_string()).unwrap_or_default()}</code></td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// How long after its end was due (at expiry, or when revoked) the grant's bindings were gone.
fn removed_after(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms after the grant was due to end")
    } else {
        format!("{:.1} s after the grant was due to end", ms / 1000.0)
    }
}
