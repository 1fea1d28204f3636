//! The page of an area whose capability has not landed yet: it says what the area will hold
//! and shows no invented data.

use domain::areas::Area;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn PlannedArea(area: Area) -> impl IntoView {
    view! {
        <Title text=area.title() />
        <section>
            <h1>{area.title()}</h1>
            <p class="lede">{area.summary()}</p>
            <p class="notice">
                "This area is not built yet. Nothing here is simulated: it will show real data \
                 once its capability lands."
            </p>
        </section>
    }
}
