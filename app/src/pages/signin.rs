//! Sign-in: the demo personas in `berth demo`; the identity provider otherwise.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::sign_in_choices;

#[component]
pub fn SignInPage() -> impl IntoView {
    let options = Resource::new(|| (), |_| sign_in_choices());
    // Where to go back to once signed in (the page that sent the reader here).
    let query = leptos_router::hooks::use_query_map();
    let next = move || {
        query
            .read()
            .get("next")
            .filter(|n| domain::identity::return_path(n).is_some())
            .unwrap_or_default()
    };
    view! {
        <Title text="Sign in" />
        <section>
            <h1>"Sign in"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match options.await {
                        Ok(opts) => {
                            let nothing = opts.personas.is_empty() && opts.oidc_issuer.is_none();
                            view! {
                                {opts.oidc_issuer.map(|issuer| view! {
                                    <p>
                                        <a
                                            class="button"
                                            id="oidc-sign-in"
                                            href=move || match next() {
                                                n if n.is_empty() => "/auth/oidc/login".to_owned(),
                                                n => format!("/auth/oidc/login?next={}", domain::text::query_value(&n)),
                                            }
                                            rel="external"
                                        >
                                            "Sign in with your identity provider"
                                        </a>
                                        <span class="muted">" (" {issuer} ")"</span>
                                    </p>
                                })}
                                {(!opts.personas.is_empty()).then(|| view! {
                                    <p class="lede">
                                        "This is the demo: choose who to be. Each persona has the roles and teams shown."
                                    </p>
                                    <ul class="cards personas">
                                        {opts
                                            .personas
                                            .into_iter()
                                            .map(|p| {
                                                let label = format!("Sign in as {}", p.display_name);
                                                view! {
                                                    <li class="card">
                                                        <h3>{p.display_name.clone()}</h3>
                                                        <p>{p.roles.join(", ")} " · teams: " {p.teams.join(", ")}</p>
                                                        <form method="post" action="/auth/demo">
                                                            <input type="hidden" name="persona" value=p.id.clone() />
                                                            <input type="hidden" name="next" value=next />
                                                            <button class="button" type="submit">{label}</button>
                                                        </form>
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
                                })}
                                {nothing.then(|| view! {
                                    <p class="notice">"No way to sign in is configured: set up [oidc] in Berth's configuration."</p>
                                })}
                            }
                                .into_any()
                        }
                        Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
