//! The audit trail: filter by actor, action, namespace, outcome and time; newest first;
//! paginated; exported as JSON lines or CSV with the same filter.

use domain::audit::{AuditAnswer, AuditQuery, Event};
use domain::audit_diff::FieldChange;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::search_audit;

fn query_string(q: &AuditQuery, extra: &[(&str, String)]) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: &Option<String>| {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            pairs.push((k.to_owned(), v.clone()));
        }
    };
    add("actor", &q.actor);
    add("action", &q.action);
    add("namespace", &q.namespace);
    add("cluster", &q.cluster);
    add("outcome", &q.outcome);
    add("since", &q.since);
    add("until", &q.until);
    for (k, v) in extra {
        pairs.push(((*k).to_owned(), v.clone()));
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", domain::text::query_value(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn time_of(e: &Event) -> String {
    // Seconds precision, UTC: the table is for reading; exports carry microseconds.
    let secs = e.at_micros.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a calendar date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let params = use_query_map();
    let query = move || {
        let p = params.get();
        let get = |k: &str| p.get(k).filter(|v| !v.is_empty());
        AuditQuery {
            actor: get("actor"),
            action: get("action"),
            namespace: get("namespace"),
            cluster: get("cluster"),
            outcome: get("outcome"),
            since: get("since"),
            until: get("until"),
            before: get("before").and_then(|b| b.parse().ok()),
            limit: None,
        }
    };
    let page = Resource::new(query, search_audit);
    let field = move |name: &'static str| move || params.get().get(name).unwrap_or_default();

    view! {
        <Title text="Audit" />
        <section>
            <h1>"Audit"</h1>
            <p class="lede">
                "Every change Berth makes, newest first. Each event carries the hash of the one before it; "
                <code>"berth audit verify"</code>
                " proves the chain unbroken."
            </p>
            <form class="filters" method="get" action="/audit">
                <label>"Actor" <input name="actor" prop:value=field("actor") /></label>
                <label>"Action" <input name="action" prop:value=field("action") placeholder="session.sign_in" /></label>
                <label>"Namespace" <input name="namespace" prop:value=field("namespace") /></label>
                <label>"Cluster" <input name="cluster" prop:value=field("cluster") /></label>
                <label>
                    "Outcome"
                    <select name="outcome" prop:value=field("outcome")>
                        <option value="">"any"</option>
                        <option value="success">"success"</option>
                        <option value="failure">"failure"</option>
                        <option value="denied">"denied"</option>
                        <option value="requested">"requested"</option>
                    </select>
                </label>
                <label>"Since" <input name="since" type="date" prop:value=field("since") /></label>
                <label>"Until" <input name="until" type="date" prop:value=field("until") /></label>
                <button class="button" type="submit">"Filter"</button>
            </form>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let q = query();
                    match page.await {
                        Ok(AuditAnswer::Refused(why)) => {
                            view! { <p class="error" id="audit-error">{why}</p> }.into_any()
                        }
                        Ok(AuditAnswer::Page(result)) => {
                            let csv = format!("/api/v1/audit?{}", query_string(&q, &[("format", "csv".into())]));
                            let jsonl = format!("/api/v1/audit?{}", query_string(&q, &[("format", "jsonl".into())]));
                            let next = result
                                .next_before
                                .map(|b| format!("/audit?{}", query_string(&q, &[("before", b.to_string())])));
                            let empty = result.events.is_empty();
                            view! {
                                <p class="exports">
                                    "Export this view: " <a href=csv rel="external">"CSV"</a> " · "
                                    <a href=jsonl rel="external">"JSON lines"</a>
                                </p>
                                <Show when=move || !empty fallback=|| view! { <p class="muted" id="audit-empty">"No events match."</p> }>
                                    <span></span>
                                </Show>
                                <table class="table" tabindex="0" id="audit-table">
                                    <thead>
                                        <tr>
                                            <th>"#"</th>
                                            <th>"Time (UTC)"</th>
                                            <th>"Actor"</th>
                                            <th>"Action"</th>
                                            <th>"Target"</th>
                                            <th>"Cluster"</th>
                                            <th>"Outcome"</th>
                                            <th>"Source"</th>
                                            <th>"Changes"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {result
                                            .events
                                            .into_iter()
                                            .map(|e| {
                                                let target = [e.body.target_kind.as_str(), e.body.target_namespace.as_str(), e.body.target_name.as_str()]
                                                    .into_iter()
                                                    .filter(|s| !s.is_empty())
                                                    .collect::<Vec<_>>()
                                                    .join(" / ");
                                                let actor = if e.body.actor_display.is_empty() { e.body.actor_id.clone() } else { format!("{} ({})", e.body.actor_display, e.body.actor_id) };
                                                view! {
                                                    <tr>
                                                        <td>{e.seq}</td>
                                                        <td>{time_of(&e)}</td>
                                                        <td>{actor}</td>
                                                        <td><code>{e.body.action.clone()}</code></td>
                                                        <td>{target}</td>
                                                        <td class="cluster">{e.body.target_cluster.clone()}</td>
                                                        <td class=format!("outcome-{}", e.body.outcome)>{e.body.outcome.clone()}</td>
                                                        <td>{e.body.source.clone()}</td>
                                                        <td class="changes">
                                                            <Changes before=e.body.before.clone() after=e.body.after.clone() />
                                                        </td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                                {next.map(|href| view! { <p><a href=href>"Older events →"</a></p> })}
                            }
                                .into_any()
                        }
                        Err(err) => view! { <p class="error" id="audit-error">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// How many changed fields a row shows before the rest fold away.
const SHOWN: usize = 3;

/// What an event changed, field by field: the first few in the row, the rest one click away.
#[component]
fn Changes(before: Option<serde_json::Value>, after: Option<serde_json::Value>) -> impl IntoView {
    let all = domain::audit_diff::changes(before.as_ref(), after.as_ref());
    let line = |c: FieldChange| {
        let was = c.before.unwrap_or_else(|| "—".to_owned());
        let now = c.after.unwrap_or_else(|| "—".to_owned());
        view! {
            <li>
                <code>{c.field}</code> ": " <span class="before">{was}</span> " → " <span class="after">{now}</span>
            </li>
        }
    };
    let mut shown = all;
    let rest = shown.split_off(shown.len().min(SHOWN));
    let more = (!rest.is_empty()).then(|| {
        let count = rest.len();
        view! {
            <details>
                <summary>{format!("{count} more")}</summary>
                <ul class="field-changes">{rest.into_iter().map(line).collect_view()}</ul>
            </details>
        }
    });
    view! {
        <ul class="field-changes">{shown.into_iter().map(line).collect_view()}</ul>
        {more}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_to_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
    }

    #[test]
    fn query_strings_keep_the_filter_and_escape() {
        let q = AuditQuery {
            actor: Some("demo:ana".into()),
            action: Some(String::new()),
            ..AuditQuery::default()
        };
        assert_eq!(
            query_string(&q, &[("format", "csv".into())]),
            "actor=demo%3Aana&format=csv"
        );
    }
}
