//! Shown for any path no route matches; answered with HTTP 404.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }

    view! {
        <Title text="Not found" />
        <section>
            <h1>"Page not found"</h1>
            <p>"Nothing lives at this address. " <A href="/">"Back to the start"</A> "."</p>
        </section>
    }
}
