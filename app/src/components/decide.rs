//! Approve / deny with a reason: the same controls wherever someone reviews a request.

use leptos::prelude::*;

/// A reason field and the two buttons; `on_decide` gets (approve, reason).
#[component]
pub fn DecideButtons(on_decide: Callback<(bool, String)>) -> impl IntoView {
    let reason = RwSignal::new(String::new());
    view! {
        <div class="decide">
            <input
                class="reason"
                placeholder="reason"
                maxlength="500"
                prop:value=move || reason.get()
                on:input=move |ev| reason.set(event_target_value(&ev))
            />
            <button class="button approve" on:click=move |_| on_decide.run((true, reason.get()))>
                "Approve"
            </button>
            <button class="button deny" on:click=move |_| on_decide.run((false, reason.get()))>
                "Deny"
            </button>
        </div>
    }
}
