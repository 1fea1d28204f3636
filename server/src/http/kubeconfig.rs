//! Kubeconfig downloads. `POST /api/v1/namespaces/{namespace}/kubeconfig`: for a namespace
//! Berth made; `POST /api/v1/kubeconfig`: one for all of them the caller's teams have, a context
//! each, on every cluster; `POST /api/v1/access/{id}/kubeconfig`: for an active JIT grant's own
//! identity.
//! POST because every call issues a new certificate (and the cross-site guard applies); the
//! browser's button is a form aimed at it.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use domain::identity::SignedIn;

use super::AppState;
use super::auth::RequestOrigin;
use super::error::{ApiError, Problem};

/// A kubeconfig for a namespace Berth made (a new short-lived certificate, or OIDC).
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/kubeconfig", tag = "namespaces",
    params(("namespace" = String, Path), super::v1::OnCluster),
    responses((status = 200, description = "A kubeconfig (YAML)", body = serde_json::Value, content_type = "application/yaml"),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["namespaces"]), ("session" = [])))]
pub async fn download(
    State(state): State<AppState>,
    user: Option<Extension<SignedIn>>,
    Extension(origin): Extension<RequestOrigin>,
    Path(namespace): Path<String>,
    super::v1::extract::Params(on): super::v1::extract::Params<super::v1::OnCluster>,
) -> Response {
    let Some(Extension(SignedIn(user))) = user else {
        return ApiError::Unauthenticated.into_response();
    };
    match state
        .services
        .namespace_kubeconfig(&user, &origin, on.cluster.as_deref(), &namespace)
        .await
    {
        Ok(file) => attachment(file),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// One kubeconfig for every namespace Berth made for the caller's teams, on every cluster of
/// the fleet: a context `<namespace>@<cluster>` each, with its own new certificate.
#[utoipa::path(post, path = "/api/v1/kubeconfig", tag = "namespaces",
    responses((status = 200, description = "A kubeconfig (YAML)", body = serde_json::Value, content_type = "application/yaml"),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["namespaces"]), ("session" = [])))]
pub async fn download_all(
    State(state): State<AppState>,
    user: Option<Extension<SignedIn>>,
    Extension(origin): Extension<RequestOrigin>,
) -> Response {
    let Some(Extension(SignedIn(user))) = user else {
        return ApiError::Unauthenticated.into_response();
    };
    match state
        .services
        .all_namespaces_kubeconfig(&user, &origin)
        .await
    {
        Ok(file) => attachment(file),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// The kubeconfig of an active access grant, for its own identity.
#[utoipa::path(post, path = "/api/v1/access/{id}/kubeconfig", tag = "access",
    params(("id" = String, Path)),
    responses((status = 200, description = "A kubeconfig (YAML)", body = serde_json::Value, content_type = "application/yaml"),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["access"]), ("session" = [])))]
pub async fn download_grant(
    State(state): State<AppState>,
    user: Option<Extension<SignedIn>>,
    Extension(origin): Extension<RequestOrigin>,
    Path(id): Path<String>,
) -> Response {
    let Some(Extension(SignedIn(user))) = user else {
        return ApiError::Unauthenticated.into_response();
    };
    match state.services.access_kubeconfig(&user, &origin, &id).await {
        Ok(file) => attachment(file),
        Err(err) => ApiError::from(err).into_response(),
    }
}

fn attachment(file: crate::services::kubeconfig::KubeconfigFile) -> Response {
    (
        [
            (CONTENT_TYPE, "application/yaml".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", file.file_name),
            ),
            // It holds a private key: no cache may keep it.
            (CACHE_CONTROL, "no-store".to_owned()),
        ],
        file.text,
    )
        .into_response()
}
