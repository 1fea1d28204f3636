//! Pages that follow the cluster as it changes: server-sent events from the watch caches.

/// Calls `on_change` each time the server reports that what the quota views show has changed,
/// for as long as the calling component lives (browser only; the browser reconnects by itself
/// when the stream drops).
pub fn on_quota_change(on_change: impl Fn() + Clone + 'static) {
    on_event("/api/v1/events/quota", "quota", on_change);
}

/// The same for Deployments, StatefulSets and DaemonSets.
pub fn on_rollout_change(on_change: impl Fn() + Clone + 'static) {
    on_event("/api/v1/events/rollouts", "rollouts", on_change);
}

fn on_event(url: &'static str, event: &'static str, on_change: impl Fn() + Clone + 'static) {
    #[cfg(feature = "hydrate")]
    leptos::prelude::Effect::new(move |_| {
        use send_wrapper::SendWrapper;
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;

        let Ok(source) = web_sys::EventSource::new(url) else {
            return;
        };
        let changed = on_change.clone();
        let listener = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |_| changed());
        // Whatever changed between the page's render and the stream's (re)connection has no
        // event of its own: reload once each time the stream opens.
        let opened = on_change.clone();
        let on_open = Closure::<dyn Fn(web_sys::Event)>::new(move |_| opened());
        let listening = source
            .add_event_listener_with_callback(event, listener.as_ref().unchecked_ref())
            .and_then(|()| {
                source.add_event_listener_with_callback("open", on_open.as_ref().unchecked_ref())
            });
        if listening.is_err() {
            source.close();
            return;
        }
        let held = SendWrapper::new((source, listener, on_open));
        leptos::prelude::on_cleanup(move || held.0.close());
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (url, event, on_change);
}
