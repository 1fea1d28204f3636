//! Pages that keep themselves current: a timer that lives exactly as long as the component.

use std::time::Duration;

use leptos::prelude::*;

/// Calls `tick` every `period` in the browser (never on the server), and stops when the
/// component that called it goes away, so no timer touches a page that is gone.
pub fn every(period: Duration, tick: impl Fn() + Clone + 'static) {
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(tick.clone(), period) {
            on_cleanup(move || handle.clear());
        }
    });
}

/// Like [`every`], but only while `active` holds. `active` is read in an effect, where a page
/// may read its resources: read in the timer, outside any effect or `<Suspense/>`, a resource
/// makes Leptos warn that server and browser may render differently.
pub fn every_while(
    period: Duration,
    active: impl Fn() -> bool + Send + Sync + 'static,
    tick: impl Fn() + Clone + 'static,
) {
    let on = RwSignal::new(false);
    Effect::new(move |_| on.set(active()));
    every(period, move || {
        if on.get_untracked() {
            tick();
        }
    });
}
