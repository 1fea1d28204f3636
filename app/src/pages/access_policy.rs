//! The access policy, for admins: the rules as YAML, checked on the server (one message per
//! problem) and audited with before and after on save.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{SaveAccessPolicy, access_policy_text};
use crate::failure::FailureKind;

#[component]
pub fn AccessPolicyPage() -> impl IntoView {
    let save = ServerAction::<SaveAccessPolicy>::new();
    let text = Resource::new(move || save.version().get(), |_| access_policy_text());
    let answer = move || {
        save.value().get().map(|a| match a {
            Ok(n) => {
                view! { <p class="notice" id="policy-result">{format!("Saved: {n} rule(s).")}</p> }
                    .into_any()
            }
            Err(err) if err.kind == FailureKind::Invalid => view! {
                <ul class="error" id="policy-result">
                    {err.messages().into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}
                </ul>
            }
            .into_any(),
            Err(err) => {
                view! { <p class="error" id="policy-result">{err.to_string()}</p> }.into_any()
            }
        })
    };
    view! {
        <Title text="Access policy" />
        <section>
            <p><a href="/access">"← Access"</a></p>
            <h1>"Access policy"</h1>
            <p class="lede">
                "One rule per role and scope: "<code>"role"</code>" (a ClusterRole), "<code>"cluster"</code>" or "
                <code>"namespaces"</code>" (patterns, * for any run of characters), "<code>"max_minutes"</code>", "
                <code>"approvals"</code>" (distinct SREs), "<code>"approver_outside_team"</code>", "
                <code>"reason_required"</code>", "<code>"ticket_required"</code>", "<code>"break_glass"</code>", "
                <code>"break_glass_roles"</code>" (who may use it; default sre, admin), "<code>"escalation"</code>
                " (the grant may write RBAC and mint ServiceAccount tokens; needs two approvals). A request is held to the first rule that covers it; requests already made keep their rule."
            </p>
            {answer}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    text.get().map(|a| match a {
                        Ok(yaml) => view! {
                            <ActionForm action=save attr:id="policy-form">
                                <label for="policy-text">"The policy, as YAML: a list of rules"</label>
                                <textarea name="text" rows="30" cols="90" id="policy-text" style="width: 100%">{yaml}</textarea>
                                <p><button class="button" type="submit">"Save the policy"</button></p>
                            </ActionForm>
                        }
                        .into_any(),
                        Err(err) => view! { <p class="error" id="policy-error">{err.to_string()}</p> }.into_any(),
                    })
                }}
            </Transition>
        </section>
    }
}
