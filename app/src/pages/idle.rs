//! Idle resources: what is paid for and not used, each finding with its owner, its monthly
//! cost and what to do — and, where Berth can do it, a button (confirmed, checked and audited
//! on the server, which recomputes the finding before acting).

use domain::idle::{FindingKind, IdleAction, IdleFinding, IdleReport};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{ActOnIdle, idle_report};
use crate::components::workload::confirmed;
use crate::session::signed_in_user;

use domain::cost_report::dollars as money;

#[component]
pub fn IdlePage() -> impl IntoView {
    let body = if signed_in_user().is_some() {
        view! { <Findings /> }.into_any()
    } else {
        view! { <p>"Sign in to see what your teams leave idle. " <crate::components::layout::SignInLink /></p> }
            .into_any()
    };
    view! {
        <Title text="Idle resources" />
        <section>
            <h1>"Idle resources"</h1>
            <p class="lede">
                "Over-provisioned, abandoned and left-behind resources of your teams, each with its monthly cost and a suggested action."
            </p>
            {body}
        </section>
    }
}

#[component]
fn Findings() -> impl IntoView {
    let act = ServerAction::<ActOnIdle>::new();
    let report = Resource::new(move || act.version().get(), |_| idle_report());
    view! {
        {move || match act.value().get() {
            Some(Ok(done)) => view! { <p class="notice" id="idle-result">{done}</p> }.into_any(),
            Some(Err(err)) => view! { <p class="error" id="idle-result">{err.to_string()}</p> }.into_any(),
            None => ().into_any(),
        }}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                report.get().map(|answer| match answer {
                    Ok(r) => view! { <Report r=r act=act /> }.into_any(),
                    Err(err) => view! { <p class="error" id="idle-error">{err.to_string()}</p> }.into_any(),
                })
            }}
        </Transition>
    }
}

fn title(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::OverProvisioned => "Over-provisioned containers",
        FindingKind::Abandoned => "Abandoned workloads",
        FindingKind::ScaledToZero => "Scaled to zero and left",
        FindingKind::Namespace => "Namespaces expired, expiring or empty",
        FindingKind::Stranded => "Stranded node capacity",
        FindingKind::Unused => "Objects nothing uses",
    }
}

/// The kinds in the order the page shows their sections.
const KINDS: [FindingKind; 6] = [
    FindingKind::OverProvisioned,
    FindingKind::Abandoned,
    FindingKind::ScaledToZero,
    FindingKind::Unused,
    FindingKind::Namespace,
    FindingKind::Stranded,
];

#[component]
fn Report(r: IdleReport, act: ServerAction<ActOnIdle>) -> impl IntoView {
    // The filter lives in the address, so a filtered view is a link to share.
    let params = use_query_map();
    let chosen = move |key: &str| params.read().get(key).filter(|v| !v.is_empty());
    let mut teams: Vec<String> = r.findings.iter().filter_map(|f| f.team.clone()).collect();
    teams.sort();
    teams.dedup();
    let all = r.findings.clone();
    let scanned = r.unused_scanned_at.clone();
    // With several clusters each finding names its own (the home cluster's carry no name).
    let home = r.clusters.first().cloned().unwrap_or_default();
    let fleet = (r.clusters.len() > 1).then(|| home.clone());
    let clusters = r.clusters.clone();
    let shown = move || {
        let team = chosen("team");
        let kind = chosen("kind");
        let cluster = chosen("cluster");
        all.iter()
            .filter(|f| team.is_none() || f.team == team)
            .filter(|f| {
                cluster
                    .as_deref()
                    .is_none_or(|c| f.cluster == c || (f.cluster.is_empty() && c == home))
            })
            .filter(|f| kind.as_deref().is_none_or(|k| f.kind.as_str() == k))
            .cloned()
            .collect::<Vec<IdleFinding>>()
    };
    let counts: Vec<(FindingKind, usize)> = KINDS
        .iter()
        .map(|k| (*k, r.findings.iter().filter(|f| f.kind == *k).count()))
        .filter(|(_, n)| *n > 0)
        .collect();
    let total = r.findings.len();
    let filters = view! {
        <form class="filters" id="idle-filters" method="get" action="/idle">
            <label>
                "Team "
                <select name="team" prop:value=move || chosen("team").unwrap_or_default()>
                    <option value="">"every team"</option>
                    {teams.into_iter().map(|t| view! { <option value=t.clone()>{t.clone()}</option> }).collect_view()}
                </select>
            </label>
            {(clusters.len() > 1).then(|| view! {
                <label>
                    "Cluster "
                    <select name="cluster" prop:value=move || chosen("cluster").unwrap_or_default()>
                        <option value="">"every cluster"</option>
                        {clusters.iter().map(|c| view! { <option value=c.clone()>{c.clone()}</option> }).collect_view()}
                    </select>
                </label>
            })}
            <label>
                "Finding "
                <select name="kind" prop:value=move || chosen("kind").unwrap_or_default()>
                    <option value="">{format!("every kind ({total})")}</option>
                    {counts
                        .into_iter()
                        .map(|(k, n)| view! { <option value=k.as_str()>{format!("{} ({n})", title(k))}</option> })
                        .collect_view()}
                </select>
            </label>
            <button class="button" type="submit">"Show"</button>
        </form>
    };
    let body = move || {
        let findings = shown();
        let count = findings.len();
        let saved = domain::idle::savings(&findings);
        let sections = KINDS
            .into_iter()
            .filter_map(|kind| {
                let mine: Vec<IdleFinding> = findings
                    .iter()
                    .filter(|f| f.kind == kind)
                    .cloned()
                    .collect();
                let fleet = fleet.clone();
                (!mine.is_empty())
                    .then(|| view! { <Section kind=kind findings=mine fleet=fleet act=act /> })
            })
            .collect_view();
        view! {
            <p id="idle-summary">
                <strong>{format!("{count} finding(s)")}</strong>
                {format!(" · {} a month could be saved or needs a decision", money(saved.owned))}
                {(saved.nodes > 0.0).then(|| view! {
                    <span id="idle-nodes">{format!(" · {} a month of node capacity no pod fits in, apart: only packing pods tighter and removing nodes saves it", money(saved.nodes))}</span>
                })}
            </p>
            {(saved.overlapping > 0).then(|| view! {
                <p class="muted" id="idle-overlap">
                    {format!(
                        "{} finding(s) overlap another and are counted once: a workload both abandoned and over-provisioned counts at the larger.",
                        saved.overlapping
                    )}
                </p>
            })}
            {(count == 0).then(|| view! { <p class="muted" id="idle-none">"Nothing idle found for your teams."</p> })}
            {sections}
        }
    };
    view! {
        {filters}
        <p class="muted" id="idle-scan">
            {match &scanned {
                Some(at) => format!("Objects nothing uses: as found by the scan of {at}."),
                None => "Objects nothing uses: the first scan has not finished yet; reload in a minute.".to_owned(),
            }}
        </p>
        {body}
    }
    .into_any()
}

#[component]
fn Section(
    kind: FindingKind,
    findings: Vec<IdleFinding>,
    /// The home cluster's name when Berth serves several.
    fleet: Option<String>,
    act: ServerAction<ActOnIdle>,
) -> impl IntoView {
    view! {
        <article class="panel" id=format!("idle-{}", kind.as_str())>
            <div class="panel-head"><h2>{title(kind)}</h2></div>
            <table class="table idle-table" tabindex="0">
                <thead>
                    <tr>
                        <th>"Where"</th>
                        <th>"Owner"</th>
                        <th>"Finding"</th>
                        <th class="num">"A month"</th>
                        <th>"Action"</th>
                    </tr>
                </thead>
                <tbody>
                    {findings
                        .into_iter()
                        .map(|f| view! { <Row f=f fleet=fleet.clone() act=act /> })
                        .collect_view()}
                </tbody>
            </table>
        </article>
    }
    .into_any()
}

#[component]
fn Row(f: IdleFinding, fleet: Option<String>, act: ServerAction<ActOnIdle>) -> impl IntoView {
    let id = f.id.clone();
    let button = |label: &'static str, question: String| {
        let id = id.clone();
        view! {
            <button class="button small" data-action=label on:click=move |_| {
                if confirmed(&question) {
                    act.dispatch(ActOnIdle { id: id.clone() });
                }
            }>{label}</button>
        }
        .into_any()
    };
    let where_ = if f.workload.is_empty() {
        f.namespace.clone()
    } else if f.namespace.is_empty() {
        f.workload.clone()
    } else {
        format!("{}/{}", f.namespace, f.workload)
    };
    let action = match (&f.action, f.can_act) {
        (IdleAction::ApplyRecommendation { container, patch }, true) => button(
            "apply",
            format!(
                "Set {container} in {where_} to request {} CPU and {} memory? Its pods restart.",
                patch.cpu_request, patch.memory_request
            ),
        ),
        (IdleAction::ScaleToZero, true) => {
            button("scale-to-zero", format!("Scale {where_} to zero replicas?"))
        }
        (IdleAction::Delete, true) => {
            button("delete", format!("Delete {where_}? This cannot be undone."))
        }
        (IdleAction::Advice(text), _) => {
            view! { <span class="muted">{text.clone()}</span> }.into_any()
        }
        (_, false) => {
            view! { <span class="muted">"the owning team acts on this"</span> }.into_any()
        }
    };
    let detail = f.recommendation.map(|r| {
        view! {
            <div class="muted recommendation">
                {format!(
                    "CPU {} (band {} – {}) · memory {} (band {} – {})",
                    domain::idle::cpu_quantity(r.cpu.target),
                    domain::idle::cpu_quantity(r.cpu.lower),
                    domain::idle::cpu_quantity(r.cpu.upper),
                    domain::idle::memory_quantity(r.memory.target),
                    domain::idle::memory_quantity(r.memory.lower),
                    domain::idle::memory_quantity(r.memory.upper),
                )}
            </div>
        }
    });
    view! {
        <tr class="finding" data-id=f.id.clone() data-kind=f.kind.as_str() data-team=f.team.clone().unwrap_or_default() data-cluster=f.cluster.clone()>
            <td>
                <code>{where_.clone()}</code>
                {fleet.map(|home| {
                    let on = if f.cluster.is_empty() { home } else { f.cluster.clone() };
                    view! { <div class="muted cluster">{format!("on {on}")}</div> }
                })}
            </td>
            <td>
                {f.team.clone().unwrap_or_else(|| "—".to_owned())}
                {f.contact.clone().map(|c| view! { <div class="muted">{c}</div> })}
            </td>
            <td>{f.summary.clone()} {detail}</td>
            <td class="num">{money(f.monthly_cost)}</td>
            <td>{action}</td>
        </tr>
    }
    .into_any()
}
