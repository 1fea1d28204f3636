//! The fleet: every cluster Berth serves with its health, and for admins the registry — add a
//! cluster by its kubeconfig or a token Secret, remove one — with no restart.

use domain::authz::Role;
use domain::fleet::{ClusterDraft, ClusterSource, ClusterSummary};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{AddCluster, RemoveCluster, fleet_clusters};
use crate::failure::FailureKind;
use crate::session::signed_in_user;

#[component]
pub fn ClustersPage() -> impl IntoView {
    let admin = signed_in_user().is_some_and(|u| u.roles.contains(&Role::Admin));
    let add = ServerAction::<AddCluster>::new();
    let remove = ServerAction::<RemoveCluster>::new();
    // Reloaded after each change, and every 10 s so a cluster going down shows without a reload.
    let tick = RwSignal::new(0u64);
    crate::components::poll::every(std::time::Duration::from_secs(10), move || {
        tick.update(|n| *n += 1)
    });
    let clusters = Resource::new(
        move || (tick.get(), add.version().get(), remove.version().get()),
        |_| fleet_clusters(),
    );
    view! {
        <Title text="Clusters" />
        <section>
            <h1>"Clusters"</h1>
            <p class="lede">
                "Every cluster this Berth serves. Each has its own connection and watch caches: one that stops answering is marked here, and pages about the others go on working."
            </p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    clusters
                        .get()
                        .map(|answer| match answer {
                            Ok(all) => view! { <FleetTable clusters=all admin=admin remove=remove /> }.into_any(),
                            Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                        })
                }}
            </Transition>
            {move || match remove.value().get() {
                Some(Err(err)) => view! { <p class="error" id="cluster-removed">{err.to_string()}</p> }.into_any(),
                Some(Ok(())) => view! { <p class="notice" id="cluster-removed">"Removed: its watches have stopped."</p> }.into_any(),
                None => ().into_any(),
            }}
            {admin.then(|| view! { <AddForm add=add /> })}
        </section>
    }
}

#[component]
fn FleetTable(
    clusters: Vec<ClusterSummary>,
    admin: bool,
    remove: ServerAction<RemoveCluster>,
) -> impl IntoView {
    let rows = clusters
        .into_iter()
        .map(|c| {
            let name = c.name.clone();
            let (state, badge) = if c.health.answering {
                ("ok", "badge ok")
            } else {
                ("down", "badge bad")
            };
            let source = match (c.home, c.source) {
                (true, _) => "configuration (home)",
                (false, ClusterSource::Config) => "configuration",
                (false, ClusterSource::Registry) => "registry",
            };
            let removable = admin && c.source == ClusterSource::Registry;
            view! {
                <tr class="cluster" data-cluster=c.name.clone() data-state=state>
                    <th scope="row">
                        {domain::fleet::label(&c.name, &c.display_name)}
                        <div class="muted">{c.name.clone()}</div>
                    </th>
                    <td>{c.region}</td>
                    <td>{c.environment}</td>
                    <td class="mono">{c.public_server}</td>
                    <td class="cluster-health">
                        <span class=badge>{if c.health.answering { "answering" } else { "not answering" }}</span>
                        {(!c.health.answering).then(|| view! { <div class="cluster-stale">{c.status.clone()}</div> })}
                        <div class="muted">{c.health.detail}</div>
                    </td>
                    <td class="num">{c.namespaces}</td>
                    <td class="num">{c.pods}</td>
                    <td>{source}</td>
                    <td>
                        {removable.then(|| view! {
                            <button
                                type="button"
                                class="link-button"
                                aria-label=format!("Remove cluster {name}")
                                on:click=move |_| {
                                    remove.dispatch(RemoveCluster { name: name.clone() });
                                }
                            >
                                "Remove"
                            </button>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="table" tabindex="0" id="clusters">
            <thead>
                <tr>
                    <th>"Cluster"</th>
                    <th>"Region"</th>
                    <th>"Environment"</th>
                    <th>"API server (in kubeconfigs)"</th>
                    <th>"Health"</th>
                    <th>"Namespaces"</th>
                    <th>"Pods"</th>
                    <th>"From"</th>
                    <th aria-label="Actions"></th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

#[component]
fn AddForm(add: ServerAction<AddCluster>) -> impl IntoView {
    let draft = RwSignal::new(ClusterDraft::default());
    let errors_of = move |field: &'static str| {
        move || match add.value().get() {
            Some(Err(err)) => err
                .fields
                .into_iter()
                .filter(|e| e.field == field)
                .map(|e| view! { <span class="field-error" data-field=field>{e.message}</span> })
                .collect_view()
                .into_any(),
            _ => ().into_any(),
        }
    };
    let text = move |field: &'static str,
                     label: &'static str,
                     hint: &'static str,
                     get: fn(&ClusterDraft) -> String,
                     set: fn(&mut ClusterDraft, String)| {
        view! {
            <label>
                {label}
                <input
                    name=field
                    maxlength="512"
                    placeholder=hint
                    prop:value=move || draft.with(get)
                    on:input=move |ev| {
                        let value = event_target_value(&ev);
                        draft.update(|d| set(d, value));
                    }
                />
                {errors_of(field)}
            </label>
        }
    };
    view! {
        <form
            class="panel"
            id="cluster-add"
            on:submit=move |ev| {
                ev.prevent_default();
                add.dispatch(AddCluster { draft: draft.get() });
            }
        >
            <h2>"Add a cluster"</h2>
            <p class="muted">
                "Either a kubeconfig Berth reads from its own disk (mount it from a Secret), or the cluster's API address and a Secret on the home cluster holding its "
                <code>"token"</code>" and "<code>"ca.crt"</code>
                " (a ServiceAccount token of that cluster; updating the Secret rotates them). The credentials never enter the database. The cluster must answer before it is added."
            </p>
            <div class="tier-grid">
                {text("name", "Name", "us-dev", |d| d.name.clone(), |d, v| d.name = v)}
                {text("display_name", "Display name", "US development", |d| d.display_name.clone(), |d, v| d.display_name = v)}
                {text("region", "Region", "us-east-1", |d| d.region.clone(), |d, v| d.region = v)}
                {text("environment", "Environment", "dev", |d| d.environment.clone(), |d, v| d.environment = v)}
                {text("kubeconfig", "Kubeconfig file", "/etc/berth/clusters/us-dev", |d| d.kubeconfig.clone(), |d, v| d.kubeconfig = v)}
                {text("context", "Context (optional)", "", |d| d.context.clone(), |d, v| d.context = v)}
                {text("api_server", "Or: API address Berth uses", "https://10.0.0.7:6443", |d| d.api_server.clone(), |d, v| d.api_server = v)}
                {text("token_secret", "and token Secret (namespace/name)", "berth/us-dev-token", |d| d.token_secret.clone(), |d, v| d.token_secret = v)}
                {text("public_server", "Public API address (optional)", "https://k8s.example.com:6443", |d| d.public_server.clone(), |d, v| d.public_server = v)}
            </div>
            <button class="button" type="submit" disabled=move || add.pending().get()>
                "Add cluster"
            </button>
            {move || match add.value().get() {
                Some(Ok(added)) => view! {
                    <p class="notice" id="cluster-added">
                        {format!("Added {}: its watches are filling.", added.name)}
                    </p>
                }
                .into_any(),
                Some(Err(err)) if err.kind == FailureKind::Invalid => view! {
                    <p class="error" id="cluster-added">"Not added: see the fields above."</p>
                }
                .into_any(),
                Some(Err(err)) => view! { <p class="error" id="cluster-added">{err.to_string()}</p> }.into_any(),
                None => ().into_any(),
            }}
        </form>
    }
}
