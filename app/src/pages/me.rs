//! Who you are: name, roles, teams, and sign-out.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::who_am_i;

#[component]
pub fn MePage() -> impl IntoView {
    let user = Resource::new(|| (), |_| who_am_i());
    view! {
        <Title text="You" />
        <section>
            <h1>"You"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(Some(u)) => {
                            let roles = u.role_names().join(", ");
                            let teams = u.teams.join(", ");
                            view! {
                                <dl class="facts">
                                    <dt>"Name"</dt>
                                    <dd id="me-name">{u.display_name.clone()}</dd>
                                    <dt>"Email"</dt>
                                    <dd>{u.email.clone()}</dd>
                                    <dt>"Roles"</dt>
                                    <dd id="me-roles">{roles}</dd>
                                    <dt>"Teams"</dt>
                                    <dd id="me-teams">{teams}</dd>
                                </dl>
                                <form method="post" action="/auth/signout">
                                    <button class="button" type="submit">"Sign out"</button>
                                </form>
                            }
                                .into_any()
                        }
                        Ok(None) => {
                            view! { <p>"You are not signed in. " <a href="/signin">"Sign in"</a></p> }
                                .into_any()
                        }
                        Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
