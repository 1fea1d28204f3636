//! Server functions: thin, they find the [`Backend`](crate::backend::Backend) in context and
//! call it.

use domain::health::Readiness;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
fn backend() -> Result<crate::backend::SharedBackend, ServerFnError> {
    use_context::<crate::backend::SharedBackend>()
        .ok_or_else(|| ServerFnError::new("the server has no backend configured"))
}

/// Whether Berth's dependencies answer right now.
#[server]
pub async fn check_readiness() -> Result<Readiness, ServerFnError> {
    Ok(backend()?.readiness().await)
}
