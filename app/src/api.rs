//! Server functions: thin, they find the [`Backend`](crate::backend::Backend) in context and
//! call it, with the signed-in user the session middleware put on the request.

use domain::audit::{AuditAnswer, AuditQuery};
use domain::health::Readiness;
use domain::identity::{CurrentUser, SignInOptions};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
fn backend() -> Result<crate::backend::SharedBackend, ServerFnError> {
    use_context::<crate::backend::SharedBackend>()
        .ok_or_else(|| ServerFnError::new("the server has no backend configured"))
}

#[cfg(feature = "ssr")]
fn signed_in() -> Option<CurrentUser> {
    use_context::<http::request::Parts>()
        .and_then(|parts| {
            parts
                .extensions
                .get::<domain::identity::SignedIn>()
                .cloned()
        })
        .map(|s| s.0)
}

/// Whether Berth's dependencies answer right now.
#[server]
pub async fn check_readiness() -> Result<Readiness, ServerFnError> {
    Ok(backend()?.readiness().await)
}

/// Who is signed in, if anyone.
#[server]
pub async fn who_am_i() -> Result<Option<CurrentUser>, ServerFnError> {
    Ok(signed_in())
}

#[server]
pub async fn sign_in_choices() -> Result<SignInOptions, ServerFnError> {
    Ok(backend()?.sign_in_options().await)
}

/// A page of the audit trail, as the signed-in user may see it. Refusals are answers, not
/// errors: the page shows them.
#[server(input = leptos::server_fn::codec::Json)]
pub async fn search_audit(query: AuditQuery) -> Result<AuditAnswer, ServerFnError> {
    let Some(user) = signed_in() else {
        return Ok(AuditAnswer::Refused(
            "sign in to see the audit trail".to_owned(),
        ));
    };
    Ok(match backend()?.search_audit(&user, query).await {
        Ok(page) => AuditAnswer::Page(page),
        Err(why) => AuditAnswer::Refused(why),
    })
}
