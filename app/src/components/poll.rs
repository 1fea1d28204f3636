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
