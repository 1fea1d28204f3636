//! Where a form's answer goes: a live region screen readers announce, and the keyboard focus
//! moved to it, so a submit does not leave focus on the page's body.

use leptos::prelude::*;

/// Wraps the answer in a polite live region `id` that takes the focus whenever `answer` (an
/// action's value) is set.
#[component]
pub fn Announce<T>(
    id: &'static str,
    answer: MappedSignal<Option<T>>,
    children: ChildrenFn,
) -> impl IntoView
where
    T: Send + Sync + 'static,
{
    let region = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        if answer.with(Option::is_some)
            && let Some(el) = region.get()
        {
            // Nothing to recover: an answer that cannot take the focus is still shown.
            let _ = el.focus();
        }
    });
    view! {
        <div class="announce" id=id role="status" aria-live="polite" tabindex="-1" node_ref=region>
            {children()}
        </div>
    }
}
