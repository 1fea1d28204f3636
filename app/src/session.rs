//! Who is signed in, known while the page renders.
//!
//! The session middleware has already resolved the user before a page is rendered, so the
//! server writes it into the page as a shared value and hydration reads it back: no resource,
//! no `Suspense`, no extra round trip. (A `Resource` whose future is ready at once could leave
//! Leptos's streaming renderer waiting for ever under parallel load; see the note in
//! `server/tests/http_shell.rs`.)

use domain::identity::CurrentUser;
use leptos::prelude::*;

/// The signed-in user, or `None`, for every component below the root.
#[derive(Clone, Debug)]
pub struct SignedInUser(pub Option<CurrentUser>);

/// Call once at the root of the app.
pub fn provide_signed_in() {
    let user = SharedValue::new(crate::api::current_user).into_inner();
    provide_context(SignedInUser(user));
}

/// The user provided at the root; `None` outside the app.
pub fn signed_in_user() -> Option<CurrentUser> {
    use_context::<SignedInUser>().and_then(|s| s.0)
}
