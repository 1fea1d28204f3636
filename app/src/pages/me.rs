//! Who you are: name, roles, teams, and sign-out.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::session::signed_in_user;

#[component]
pub fn MePage() -> impl IntoView {
    let body = match signed_in_user() {
        Some(u) => {
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
                <TokensPanel />
            }
            .into_any()
        }
        None => {
            view! { <p>"You are not signed in. " <crate::components::layout::SignInLink /></p> }
                .into_any()
        }
    };
    view! {
        <Title text="You" />
        <section>
            <h1>"You"</h1>
            {body}
        </section>
    }
}

/// Personal API tokens: make one (shown once), see them, revoke them.
#[component]
pub fn TokensPanel() -> impl IntoView {
    use crate::api::{DropToken, MakeToken, my_tokens};
    use leptos::form::ActionForm;

    let make = ServerAction::<MakeToken>::new();
    let drop = ServerAction::<DropToken>::new();
    let tokens = Resource::new(
        move || (make.version().get(), drop.version().get()),
        |_| my_tokens(),
    );
    view! {
        <section class="panel" id="tokens">
            <h2>"API tokens"</h2>
            <p class="muted">
                "For scripts and CI: send " <code>"Authorization: Bearer <token>"</code>
                ". A token acts as you, within its scopes (read, plus any of namespaces, access, admin), is shown once, and can be revoked at any time."
            </p>
            <ActionForm action=make attr:class="filters">
                <label>"Name" <input name="name" required maxlength="64" placeholder="ci pipeline" /></label>
                <label>"Expires in (days)" <input name="days" type="number" min="1" max="365" value="90" /></label>
                <label>
                    "Scopes besides read"
                    <input name="scopes" maxlength="64" placeholder="namespaces, access, admin" />
                </label>
                <button class="button" type="submit">"Make a token"</button>
            </ActionForm>
            {move || match make.value().get() {
                Some(Ok(made)) => view! {
                    <p class="notice" id="new-token">
                        "Copy it now, it will not be shown again: " <code id="new-token-value">{made.token}</code>
                    </p>
                }.into_any(),
                Some(Err(err)) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                None => ().into_any(),
            }}
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No tokens yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="table" tabindex="0" id="token-table">
                                <thead><tr><th>"Name"</th><th>"Scopes"</th><th>"Made"</th><th>"Expires"</th><th>"Last used"</th><th></th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|t| {
                                        let id = t.id.clone();
                                        view! {
                                            <tr>
                                                <td>{t.name.clone()}</td>
                                                <td>{t.scopes.join(", ")}</td>
                                                <td>{t.created_at.clone()}</td>
                                                <td>{t.expires_at.clone()}</td>
                                                <td>{t.last_used_at.clone().unwrap_or_else(|| "never".to_owned())}</td>
                                                <td>
                                                    {if t.revoked {
                                                        view! { <span class="muted">"revoked"</span> }.into_any()
                                                    } else {
                                                        view! {
                                                            <button class="link-button" on:click=move |_| { drop.dispatch(DropToken { id: id.clone() }); }>
                                                                "Revoke"
                                                            </button>
                                                        }.into_any()
                                                    }}
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(err) => view! { <p class="error">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
