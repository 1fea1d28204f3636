//! The admins' tier editor: every tier as a form (quota, LimitRange defaults, approval,
//! lifetimes), and one for a new tier. The server checks each field and audits each save.

use domain::authz::Role;
use domain::tenancy::Lifetime;
use domain::tiers::{COUNT_FIELDS, QUANTITY_FIELDS, TierDraft, TierOutcome};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{SaveTier, onboarding_options};
use crate::session::signed_in_user;

#[component]
pub fn TiersPage() -> impl IntoView {
    // The server refuses anyone else; this spares them a form they cannot use.
    let admin = signed_in_user().is_some_and(|u| u.roles.contains(&Role::Admin));
    let body = if admin {
        view! { <Editors /> }.into_any()
    } else {
        view! { <p class="muted" id="tiers-admins-only">"Only admins edit tiers."</p> }.into_any()
    };
    view! {
        <Title text="Tiers" />
        <section>
            <h1>"Tiers"</h1>
            <p class="lede">
                "The quota templates developers pick from. A change applies to namespaces asked for from now on; existing ones keep theirs until someone asks for a quota change."
            </p>
            {body}
        </section>
    }
}

#[component]
fn Editors() -> impl IntoView {
    // Bumped when a new tier is created, so it joins the list above.
    let reload = RwSignal::new(0u64);
    let tiers = Resource::new(move || reload.get(), |_| onboarding_options());
    let blank = TierDraft {
        lifetimes: vec!["1d".to_owned(), "7d".to_owned(), "30d".to_owned()],
        ..TierDraft::default()
    };
    // The fleet's clusters, by name and label, a tier may be limited to: read once, apart from
    // the tiers, so the editors a reload replaces have nothing left to follow.
    let fleet = Resource::new(|| (), |_| onboarding_options());
    let clusters = Signal::derive(move || {
        fleet
            .get()
            .and_then(Result::ok)
            .map(|c| {
                c.clusters
                    .into_iter()
                    .map(|c| (c.name, c.label))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                tiers
                    .get()
                    .map(|answer| match answer {
                        Ok(choices) => choices
                            .tiers
                            .iter()
                            .map(|t| view! { <TierEditor draft=TierDraft::of(t) existing=true reload=None clusters=clusters /> })
                            .collect_view()
                            .into_any(),
                        Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
        <h2>"New tier"</h2>
        <TierEditor draft=blank existing=false reload=Some(reload) clusters=clusters />
    }
}

#[component]
fn TierEditor(
    draft: TierDraft,
    existing: bool,
    reload: Option<RwSignal<u64>>,
    clusters: Signal<Vec<(String, String)>>,
) -> impl IntoView {
    let save = ServerAction::<SaveTier>::new();
    if let Some(reload) = reload {
        Effect::new(move |_| {
            if let Some(Ok(TierOutcome::Saved { created: true, .. })) = save.value().get() {
                reload.update(|n| *n += 1);
            }
        });
    }
    let form_id = if existing {
        format!("tier-{}", draft.name)
    } else {
        "tier-new".to_owned()
    };
    let title = if existing {
        draft.name.clone()
    } else {
        String::new()
    };
    let draft = RwSignal::new(draft);
    let answer = move || save.value().get();
    let errors_of = move |field: &'static str| {
        move || match answer() {
            Some(Ok(TierOutcome::Invalid(errors))) => errors
                .into_iter()
                .filter(|e| e.field == field)
                .map(|e| view! { <span class="field-error" data-field=field>{e.message}</span> })
                .collect_view()
                .into_any(),
            _ => ().into_any(),
        }
    };
    let text = move |field: &'static str, label: &'static str, readonly: bool| {
        view! {
            <label>
                {label}
                <input
                    name=field
                    readonly=readonly
                    maxlength="200"
                    prop:value=move || draft.with(|d| d.text(field))
                    on:input=move |ev| {
                        let value = event_target_value(&ev);
                        draft.update(|d| {
                            if let Some(slot) = d.text_mut(field) {
                                *slot = value;
                            }
                        });
                    }
                />
                {errors_of(field)}
            </label>
        }
    };
    let lifetimes = Lifetime::ALL
        .into_iter()
        .map(|l| {
            tick_box(
                draft,
                "lifetimes",
                l.as_str().to_owned(),
                l.label().to_owned(),
            )
        })
        .collect_view();
    // With a fleet, which clusters offer it (none ticked: every one).
    let offered_on = move || {
        let all = clusters.get();
        (all.len() > 1).then(|| {
            let boxes = all
                .into_iter()
                .map(|(name, label)| tick_box(draft, "clusters", name, label))
                .collect_view();
            view! {
                <fieldset>
                    <legend>"Offered on (none ticked: every cluster)"</legend>
                    {boxes}
                    {errors_of("clusters")}
                </fieldset>
            }
        })
    };
    view! {
        <form
            id=form_id
            class="panel tier-editor"
            on:submit=move |ev| {
                ev.prevent_default();
                save.dispatch(SaveTier { draft: draft.get() });
            }
        >
            {existing.then(|| view! { <h2>{title.clone()}</h2> })}
            <div class="tier-grid">
                {text("name", "Name", existing)}
                {text("description", "Description", false)}
                {QUANTITY_FIELDS.iter().map(|(f, l)| text(f, l, false)).collect_view()}
                {COUNT_FIELDS.iter().map(|(f, l)| text(f, l, false)).collect_view()}
            </div>
            <fieldset>
                <legend>"Lifetimes"</legend>
                {lifetimes}
                {errors_of("lifetimes")}
            </fieldset>
            // Within a transition: the new tier's form stands outside the one above, and the
            // clusters come with the same answer; rendered before it is in, the server and the
            // browser would disagree.
            <Transition fallback=|| ()>{offered_on}</Transition>
            <label class="check">
                <input
                    type="checkbox"
                    name="needs_approval"
                    prop:checked=move || draft.with(|d| d.needs_approval)
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        draft.update(|d| d.needs_approval = on);
                    }
                />
                "A manager approves requests for this tier"
            </label>
            {errors_of("spec")}
            <button class="button" type="submit" disabled=move || save.pending().get()>
                {if existing { "Save" } else { "Create tier" }}
            </button>
            {move || match answer() {
                Some(Ok(TierOutcome::Saved { name, created })) => view! {
                    <p class="notice tier-saved">
                        {format!("Tier {name} {}.", if created { "created" } else { "saved" })}
                    </p>
                }
                .into_any(),
                Some(Err(err)) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                _ => ().into_any(),
            }}
        </form>
    }
    .into_any()
}

/// A box ticking `value` in or out of the draft's list `field` (`lifetimes`, `clusters`).
fn tick_box(
    draft: RwSignal<TierDraft>,
    field: &'static str,
    value: String,
    label: String,
) -> impl IntoView {
    let (shown, kept) = (value.clone(), value.clone());
    view! {
        <label class="check">
            <input
                type="checkbox"
                name=field
                value=shown
                prop:checked=move || draft.with(|d| d.ticked(field).contains(&kept))
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    draft.update(|d| {
                        if let Some(list) = d.ticked_mut(field) {
                            list.retain(|x| x != &value);
                            if on {
                                list.push(value.clone());
                            }
                        }
                    });
                }
            />
            {label}
        </label>
    }
}
