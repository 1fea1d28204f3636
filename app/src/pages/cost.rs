//! The cost report: spend by cluster, namespace, team, workload or label over a window, as a stacked
//! chart (SVG, readable without JavaScript) and a table; idle apart or shared; CSV of exactly
//! the table. The URL is the view: the controls are a plain GET form.

use std::collections::BTreeMap;

use domain::cost::GroupBy;
use domain::cost_report::{self, CostReport, ReportQuery, SortBy, Step, Window};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{SetBudget, cost_report, team_budgets};
use crate::failure::FailureKind;
use crate::session::signed_in_user;

/// Colours of the chart's series, then idle's grey.
const PALETTE: [&str; 9] = [
    "#0b6bcb", "#e07b00", "#2e9d5b", "#b8407a", "#7a5cc7", "#c4a000", "#2aa3a3", "#d2453a",
    "#8a8f98",
];
const IDLE_COLOUR: &str = "#c9ced6";

use domain::cost_report::dollars as money;

fn percent(v: Option<f64>) -> String {
    v.map(|e| format!("{:.0}%", e * 100.0))
        .unwrap_or_else(|| "—".to_owned())
}

#[component]
pub fn CostPage() -> impl IntoView {
    let body = if signed_in_user().is_some() {
        view! { <Report /> }.into_any()
    } else {
        view! { <p>"Sign in to see what your namespaces cost. " <crate::components::layout::SignInLink /></p> }
            .into_any()
    };
    view! {
        <Title text="Cost" />
        <section>
            <h1>"Cost"</h1>
            <p class="lede">
                "What each cluster, namespace, team, workload or label costs: max(request, usage) × price per container-hour; idle is node capacity nothing was allocated."
            </p>
            {body}
        </section>
    }
}

#[component]
fn Report() -> impl IntoView {
    let query = use_query_map();
    // Every parameter goes to the server, which refuses one it does not know: a link with a
    // misspelt one shows why instead of a different view.
    let params = move || {
        let q = query.read();
        q.clone()
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v))
            .collect::<BTreeMap<String, String>>()
    };
    let report = Resource::new(params, cost_report);
    view! {
        <Budgets />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                report.get().map(|answer| match answer {
                    Ok(r) => view! { <Controls q=r.query.clone() clusters=r.clusters.clone() /> <Shown r=r /> }.into_any(),
                    Err(err) if err.kind == FailureKind::Invalid => view! {
                        <Controls q=ReportQuery::default() clusters=Vec::new() />
                        <ul class="error" id="cost-problems">
                            {err.messages().into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}
                        </ul>
                    }
                    .into_any(),
                    Err(err) => view! { <p class="error" id="cost-error">{err.to_string()}</p> }.into_any(),
                })
            }}
        </Transition>
    }
}

/// The view's controls: a GET form, so every view has its own address. `clusters` are the
/// fleet's, offered when there is more than one.
#[component]
fn Controls(q: ReportQuery, clusters: Vec<String>) -> impl IntoView {
    let (by, label) = match &q.group {
        GroupBy::Cluster => ("cluster", String::new()),
        GroupBy::Namespace => ("namespace", String::new()),
        GroupBy::Team => ("team", String::new()),
        GroupBy::Workload => ("workload", String::new()),
        GroupBy::Label(l) => ("label", l.clone()),
    };
    let (window, from, to) = match q.window {
        Window::Day => ("24h", String::new(), String::new()),
        Window::Week => ("7d", String::new(), String::new()),
        Window::Month => ("30d", String::new(), String::new()),
        Window::Custom { from, to } => (
            "custom",
            cost_report::format_date(from),
            cost_report::format_date(to - 86_400),
        ),
    };
    let option = |value: &'static str, text: &'static str, chosen: &str| {
        view! { <option value=value selected=value == chosen>{text}</option> }
    };
    let teams = signed_in_user().map(|u| u.teams).unwrap_or_default();
    let chosen = q.cluster.clone().unwrap_or_default();
    let cluster_select = (clusters.len() > 1 || !chosen.is_empty()).then(|| {
        view! {
            <label>"Cluster "
                <select name="cluster" id="cost-cluster">
                    <option value="" selected=chosen.is_empty()>"every cluster"</option>
                    {clusters
                        .into_iter()
                        .map(|c| {
                            let selected = c == chosen;
                            let text = c.clone();
                            view! { <option value=c selected=selected>{text}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
        }
    });
    view! {
        <form class="panel cost-controls" id="cost-form" method="get" action="/cost">
            <label>"Group by "
                <select name="by">
                    {option("cluster", "cluster", by)}
                    {option("namespace", "namespace", by)}
                    {option("team", "team", by)}
                    {option("workload", "workload", by)}
                    {option("label", "label", by)}
                </select>
            </label>
            <label>"Label " <input name="label" value=label placeholder="app" size="12" /></label>
            <label>"Window "
                <select name="window">
                    {option("24h", "today", window)}
                    {option("7d", "7 days", window)}
                    {option("30d", "30 days", window)}
                    {option("custom", "custom", window)}
                </select>
            </label>
            <label>"From " <input type="date" name="from" value=from /></label>
            <label>"To " <input type="date" name="to" value=to /></label>
            <label>"Steps "
                <select name="step">
                    {option("daily", "daily", q.step.as_str())}
                    {option("hourly", "hourly", q.step.as_str())}
                </select>
            </label>
            <label>"Idle "
                <select name="idle">
                    {option("separate", "apart", if q.share_idle { "share" } else { "separate" })}
                    {option("share", "shared by cost", if q.share_idle { "share" } else { "separate" })}
                </select>
            </label>
            <label>"Team "
                <input name="team" list="cost-teams" value=q.team.clone().unwrap_or_default() size="12" />
                <datalist id="cost-teams">
                    {teams.into_iter().map(|t| view! { <option value=t.clone()></option> }).collect_view()}
                </datalist>
            </label>
            {cluster_select}
            <label>"Filter " <input name="filter" value=q.filter.clone().unwrap_or_default() size="12" /></label>
            <input type="hidden" name="sort" value=match q.sort { SortBy::Name => "name", SortBy::Cost => "cost", SortBy::Efficiency => "efficiency" } />
            <input type="hidden" name="order" value=if q.descending { "desc" } else { "asc" } />
            <button type="submit" class="button">"Show"</button>
        </form>
    }
    .into_any()
}

#[component]
fn Shown(r: CostReport) -> impl IntoView {
    let qs = r.query.query_string();
    let when = r.window_text();
    let only = r.only_teams.clone().map(|teams| {
        view! {
            <p class="notice" id="cost-only-teams">
                {format!(
                    "You see your own teams only ({}): a manager opening this link sees every team, so their totals are larger.",
                    teams.join(", ")
                )}
            </p>
        }
    });
    let empty = r.empty.then(|| {
        view! {
            <p class="muted" id="cost-empty">
                "No usage history in this window yet: Berth samples usage every minute and rolls it up hourly."
            </p>
        }
    });
    view! {
        <div class="cost-summary" id="cost-summary">
            <div><span class="muted">"Total"</span> <strong id="cost-total">{money(r.total)}</strong></div>
            <div><span class="muted">"Allocated"</span> <strong id="cost-allocated">{money(r.allocated)}</strong></div>
            <div><span class="muted">"Idle"</span> <strong id="cost-idle">{money(r.idle)}</strong></div>
            <div><span class="muted">"Efficiency"</span> <strong id="cost-efficiency">{percent(r.efficiency)}</strong></div>
        </div>
        {only}
        <p class="muted" id="cost-window">
            {when} " · "
            <a id="cost-permalink" href=format!("/cost?{qs}")>"link to this view"</a> " · "
            <a id="cost-csv" href=format!("/api/v1/cost.csv?{qs}") download=r.query.file_name()>"CSV"</a> " · "
            <a href="/prices">"prices"</a>
        </p>
        {empty}
        <Chart r=r.clone() />
        <Table r=r />
    }
    .into_any()
}

#[component]
fn Chart(r: CostReport) -> impl IntoView {
    let c = cost_report::chart(&r, cost_report::CHART_LINES, 800.0, 220.0);
    let idle_index = (!r.query.share_idle).then(|| c.legend.len() - 1);
    let colour = move |i: usize| {
        if Some(i) == idle_index {
            IDLE_COLOUR
        } else {
            PALETTE[i % PALETTE.len()]
        }
    };
    let hovered = RwSignal::new(None::<String>);
    let top = money(c.max);
    view! {
        <figure class="panel cost-chart" id="cost-chart">
            <svg viewBox="0 -10 800 252" role="img" aria-label="Cost per step, stacked by group">
                <text x="0" y="0" class="axis">{top}</text>
                <line x1="0" y1="220" x2="800" y2="220" class="axis-line" />
                <g class="time-axis">
                    {c.ticks
                        .into_iter()
                        .map(|t| view! { <text x=format!("{:.1}", t.x) y="238" class="axis tick" text-anchor="middle">{t.label}</text> })
                        .collect_view()}
                </g>
                {c.segments
                    .into_iter()
                    .map(|s| {
                        let tip = s.tooltip.clone();
                        view! {
                            <rect
                                x=format!("{:.2}", s.x)
                                y=format!("{:.2}", s.y)
                                width=format!("{:.2}", s.width)
                                height=format!("{:.2}", s.height)
                                fill=colour(s.series)
                                data-series=s.series.to_string()
                                on:mouseenter=move |_| hovered.set(Some(tip.clone()))
                                on:mouseleave=move |_| hovered.set(None)
                            >
                                <title>{s.tooltip}</title>
                            </rect>
                        }
                    })
                    .collect_view()}
            </svg>
            <figcaption>
                <span id="chart-tooltip" class="muted">{move || hovered.get().unwrap_or_default()}</span>
                <ul class="legend">
                    {c.legend
                        .into_iter()
                        .enumerate()
                        .map(|(i, name)| view! {
                            <li><span class="swatch" style=format!("background: {}", colour(i))></span>{name}</li>
                        })
                        .collect_view()}
                </ul>
            </figcaption>
        </figure>
    }
    .into_any()
}

/// A column header that sorts by `by`, flipping the order when it already does.
fn sort_link(q: &ReportQuery, by: SortBy, text: &'static str) -> impl IntoView + use<> {
    let mut next = q.clone();
    next.descending = if q.sort == by {
        !q.descending
    } else {
        by != SortBy::Name
    };
    next.sort = by;
    let mark = if q.sort == by {
        if q.descending { " ↓" } else { " ↑" }
    } else {
        ""
    };
    view! { <a class="sort" data-sort=text href=format!("/cost?{}", next.query_string())>{text}{mark}</a> }
}

#[component]
fn Table(r: CostReport) -> impl IntoView {
    let q = r.query.clone();
    let shared = q.share_idle;
    let group_name = match &q.group {
        GroupBy::Cluster => "Cluster".to_owned(),
        GroupBy::Namespace => "Namespace".to_owned(),
        GroupBy::Team => "Team".to_owned(),
        GroupBy::Workload => "Workload".to_owned(),
        GroupBy::Label(l) => format!("Label {l}"),
    };
    let hourly = q.step == Step::Hourly;
    let apart = r.groups_on_several_clusters();
    view! {
        <table class="table cost-table" tabindex="0" id="cost-table" data-hourly=hourly.to_string()>
            <thead>
                <tr>
                    <th>{sort_link(&q, SortBy::Name, "name")} <span class="muted">{format!(" ({group_name})")}</span></th>
                    <th class="num">"CPU"</th>
                    <th class="num">"Memory"</th>
                    <th class="num">"GPU"</th>
                    <th class="num">"Storage"</th>
                    <th class="num">"Idle share"</th>
                    <th class="num">{sort_link(&q, SortBy::Cost, "total")}</th>
                    <th class="num">{sort_link(&q, SortBy::Efficiency, "efficiency")}</th>
                </tr>
            </thead>
            <tbody>
                {r.groups
                    .iter()
                    .map(|g| view! {
                        <tr class="cost-row" data-key=g.key.clone() data-cluster=g.cluster.clone()>
                            <td>
                                {match q.drill_down(&g.key, &g.cluster) {
                                    Some(href) => view! { <a class="drill" href=href>{cost_report::label(&g.key).to_owned()}</a> }.into_any(),
                                    None => cost_report::label(&g.key).to_owned().into_any(),
                                }}
                                // One name may be a namespace on each cluster: say whose.
                                {apart.then(|| view! { <span class="muted group-cluster">{format!(" on {}", g.cluster)}</span> })}
                            </td>
                            <td class="num">{money(g.cost.cpu)}</td>
                            <td class="num">{money(g.cost.memory)}</td>
                            <td class="num">{money(g.cost.gpu)}</td>
                            <td class="num">{money(g.cost.storage)}</td>
                            <td class="num">{money(g.idle)}</td>
                            <td class="num total">{money(g.total)}</td>
                            <td class="num">{percent(g.efficiency)}</td>
                        </tr>
                    })
                    .collect_view()}
                {(!shared).then(|| view! {
                    <tr class="idle-row">
                        <td>"(idle)"</td><td></td><td></td><td></td><td></td>
                        <td class="num">{money(r.idle)}</td>
                        <td class="num total">{money(r.idle)}</td>
                        <td></td>
                    </tr>
                })}
            </tbody>
            <tfoot>
                <tr>
                    <th>"Total"</th><th></th><th></th><th></th><th></th><th></th>
                    <th class="num">{money(r.total)}</th>
                    <th class="num">{percent(r.efficiency)}</th>
                </tr>
            </tfoot>
        </table>
    }
    .into_any()
}

/// Each visible team's month so far against its budget, with a forecast; managers of a team
/// (and admins) set the budget here.
#[component]
fn Budgets() -> impl IntoView {
    let save = ServerAction::<SetBudget>::new();
    let budgets = Resource::new(move || save.version().get(), |_| team_budgets());
    view! {
        <Transition fallback=|| ()>
            {move || {
                budgets.get().map(|answer| match answer {
                    Ok(list) if list.is_empty() => ().into_any(),
                    Ok(list) => view! {
                        <article class="panel" id="budgets">
                            <div class="panel-head"><h2>"Budgets this month"</h2></div>
                            <table class="table" tabindex="0">
                                <thead>
                                    <tr>
                                        <th>"Team"</th>
                                        <th class="num">"Budget"</th>
                                        <th class="num">"Spent so far"</th>
                                        <th class="num">"Forecast"</th>
                                        <th>"Status"</th>
                                        <th></th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list.into_iter().map(|b| {
                                        let amount = RwSignal::new(b.budget.map(|v| format!("{v:.2}")).unwrap_or_default());
                                        let team = b.team.clone();
                                        let status = match (b.budget, b.over) {
                                            (None, _) => view! { <span class="muted">"no budget"</span> }.into_any(),
                                            (Some(_), true) => view! { <span class="badge bad">"forecast over budget"</span> }.into_any(),
                                            (Some(_), false) => view! { <span class="badge ok">"on track"</span> }.into_any(),
                                        };
                                        view! {
                                            <tr class="budget" data-team=b.team.clone() data-over=b.over.to_string()>
                                                <td>{b.team.clone()}</td>
                                                <td class="num">{b.budget.map(money).unwrap_or_else(|| "—".to_owned())}</td>
                                                <td class="num">{money(b.spent)}</td>
                                                <td class="num">{money(b.forecast)}</td>
                                                <td>{status}</td>
                                                <td>{b.can_set.then(|| view! {
                                                    <form class="budget-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                                                        ev.prevent_default();
                                                        save.dispatch(SetBudget { team: team.clone(), amount: amount.get() });
                                                    }>
                                                        <input name="amount" size="8" placeholder="monthly $" prop:value=move || amount.get()
                                                            on:input=move |ev| amount.set(event_target_value(&ev)) />
                                                        <button type="submit" class="link-button">"Set"</button>
                                                    </form>
                                                })}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            {move || match save.value().get() {
                                Some(Ok(())) => view! { <p class="notice" id="budget-result">"Budget saved."</p> }.into_any(),
                                Some(Err(err)) => view! { <p class="error" id="budget-result">{err.to_string()}</p> }.into_any(),
                                None => ().into_any(),
                            }}
                        </article>
                    }
                    .into_any(),
                    Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                })
            }}
        </Transition>
    }
}
