//! The pricing file the cost and idle reports use: what everyone reads, what admins edit (a
//! default, overrides per cluster of the fleet and per node label such as the instance type,
//! storage). The server checks
//! every price and audits each save with before and after.

use domain::authz::Role;
use domain::cost::{Prices, RateOverride, Rates};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{SavePrices, current_prices};
use crate::failure::FailureKind;
use crate::session::signed_in_user;

#[component]
pub fn PricesPage() -> impl IntoView {
    let admin = signed_in_user().is_some_and(|u| u.roles.contains(&Role::Admin));
    let prices = Resource::new(|| (), |_| current_prices());
    let body = move || {
        prices.get().map(|answer| match answer {
            Ok(p) => view! { <Editor prices=p admin=admin /> }.into_any(),
            Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
        })
    };
    view! {
        <Title text="Prices" />
        <section>
            <h1>"Prices"</h1>
            <p class="lede">
                "What a CPU core-hour, a GiB-hour of memory, a GPU-hour and a GiB-month of storage cost; nodes of a listed cluster, or carrying a listed label, pay its rates (the first row that matches). "
                <a href="/cost">"Back to the cost report"</a>
            </p>
            {(!admin).then(|| view! { <p class="muted" id="prices-admins-only">"Only admins change prices."</p> })}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>{body}</Transition>
        </section>
    }
}

/// One row of rates as the form holds them (text until saved).
#[derive(Clone, Debug, Default)]
struct RateRow {
    cluster: String,
    label: String,
    value: String,
    cpu: String,
    memory: String,
    gpu: String,
}

fn row(cluster: &str, label: &str, value: &str, r: &Rates) -> RateRow {
    RateRow {
        cluster: cluster.to_owned(),
        label: label.to_owned(),
        value: value.to_owned(),
        cpu: r.cpu_core_hour.to_string(),
        memory: r.memory_gib_hour.to_string(),
        gpu: r.gpu_hour.to_string(),
    }
}

fn number(what: &str, text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .map_err(|_| format!("{what}: {text:?} is not a number"))
}

fn rates(r: &RateRow, what: &str) -> Result<Rates, String> {
    Ok(Rates {
        cpu_core_hour: number(&format!("{what}CPU core-hour"), &r.cpu)?,
        memory_gib_hour: number(&format!("{what}memory GiB-hour"), &r.memory)?,
        gpu_hour: number(&format!("{what}GPU-hour"), &r.gpu)?,
    })
}

#[component]
fn Editor(prices: Prices, admin: bool) -> impl IntoView {
    let default = RwSignal::new(row("", "", "", &prices.default));
    let storage = RwSignal::new(prices.storage_gib_month.to_string());
    let overrides = RwSignal::new(
        prices
            .overrides
            .iter()
            .map(|o| row(&o.cluster, &o.label, &o.value, &o.rates))
            .collect::<Vec<_>>(),
    );
    let local = RwSignal::new(None::<String>);
    let save = ServerAction::<SavePrices>::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let built = (|| -> Result<Prices, String> {
            let default = rates(&default.get(), "")?;
            Ok(Prices {
                default,
                overrides: overrides
                    .get()
                    .iter()
                    .map(|o| {
                        let mut out = RateOverride {
                            cluster: o.cluster.trim().to_owned(),
                            label: o.label.trim().to_owned(),
                            value: o.value.trim().to_owned(),
                            // Named first, so a bad number names its row.
                            rates: default,
                        };
                        out.rates = rates(o, &format!("{}: ", out.name()))?;
                        Ok(out)
                    })
                    .collect::<Result<_, String>>()?,
                storage_gib_month: number("storage GiB-month", &storage.get())?,
            })
        })();
        match built {
            Ok(prices) => {
                local.set(None);
                save.dispatch(SavePrices { prices });
            }
            Err(why) => local.set(Some(why)),
        }
    };
    let field = move |sig: RwSignal<RateRow>,
                      pick: fn(&RateRow) -> String,
                      set: fn(&mut RateRow, String),
                      name: &'static str| {
        view! {
            <input name=name size="10" disabled=!admin prop:value=move || pick(&sig.get())
                on:input=move |ev| sig.update(|r| set(r, event_target_value(&ev))) />
        }
    };
    view! {
        <form class="panel prices-form" id="prices-form" on:submit=submit>
            <h2>"Default rates"</h2>
            <div class="prices-row">
                <label>"CPU core-hour $" {field(default, |r| r.cpu.clone(), |r, v| r.cpu = v, "cpu")}</label>
                <label>"Memory GiB-hour $" {field(default, |r| r.memory.clone(), |r, v| r.memory = v, "memory")}</label>
                <label>"GPU-hour $" {field(default, |r| r.gpu.clone(), |r, v| r.gpu = v, "gpu")}</label>
                <label>"Storage GiB-month $"
                    <input name="storage" size="10" disabled=!admin prop:value=move || storage.get()
                        on:input=move |ev| storage.set(event_target_value(&ev)) />
                </label>
            </div>
            <h2>"Overrides by cluster and node label"</h2>
            <table class="table" tabindex="0" id="price-overrides">
                <thead><tr><th>"Cluster"</th><th>"Label"</th><th>"Value"</th><th>"CPU core-hour"</th><th>"Memory GiB-hour"</th><th>"GPU-hour"</th><th></th></tr></thead>
                <tbody>
                    {move || {
                        overrides
                            .get()
                            .into_iter()
                            .enumerate()
                            .map(|(i, o)| {
                                let cell = move |value: String, set: fn(&mut RateRow, String), name: &'static str| view! {
                                    <td><input name=name size="14" disabled=!admin prop:value=value
                                        aria-label=format!("{} of override {}", column_title(name), i + 1)
                                        on:change=move |ev| overrides.update(|all| if let Some(r) = all.get_mut(i) { set(r, event_target_value(&ev)) }) /></td>
                                };
                                view! {
                                    <tr class="override">
                                        {cell(o.cluster.clone(), |r, v| r.cluster = v, "cluster")}
                                        {cell(o.label.clone(), |r, v| r.label = v, "label")}
                                        {cell(o.value.clone(), |r, v| r.value = v, "value")}
                                        {cell(o.cpu.clone(), |r, v| r.cpu = v, "cpu")}
                                        {cell(o.memory.clone(), |r, v| r.memory = v, "memory")}
                                        {cell(o.gpu.clone(), |r, v| r.gpu = v, "gpu")}
                                        <td>{admin.then(|| view! {
                                            <button type="button" class="link-button" on:click=move |_| overrides.update(|all| { if i < all.len() { all.remove(i); } })>"Remove"</button>
                                        })}</td>
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
            {admin.then(|| view! {
                <p>
                    <button type="button" class="link-button" id="add-override" on:click=move |_| {
                        let d = default.get();
                        overrides.update(|all| all.push(RateRow { label: "node.kubernetes.io/instance-type".to_owned(), ..d }));
                    }>"Add an override"</button>
                </p>
                <button type="submit" class="button">"Save prices"</button>
            })}
            {move || local.get().map(|why| view! { <p class="error" id="prices-result">{why}</p> })}
            {move || match save.value().get() {
                Some(Ok(())) => view! { <p class="notice" id="prices-result">"Saved: reports use the new prices now."</p> }.into_any(),
                Some(Err(err)) if err.kind == FailureKind::Invalid => view! {
                    <ul class="error" id="prices-result">{err.messages().into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}</ul>
                }.into_any(),
                Some(Err(err)) => view! { <p class="error" id="prices-result">{err.to_string()}</p> }.into_any(),
                None => ().into_any(),
            }}
        </form>
    }
    .into_any()
}

/// The column an override's field sits in, for its accessible name.
fn column_title(name: &str) -> &'static str {
    match name {
        "cluster" => "Cluster",
        "label" => "Node label",
        "value" => "Label value",
        "cpu" => "CPU core-hour",
        "memory" => "Memory GiB-hour",
        _ => "GPU-hour",
    }
}
