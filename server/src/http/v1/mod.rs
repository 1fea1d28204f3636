//! `/api/v1`: Berth's REST API, one route per operation the pages offer, each calling the
//! same service method as the page's server function. The OpenAPI document is built from the
//! same declarations that add the routes, so a route cannot be missing from it; the token
//! scope each route needs is read from the document too.

mod access;
mod clusters;
mod cost;
mod docs_page;
pub(super) mod extract;
mod namespaces;
mod rollouts;

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Json;
use axum::response::{Html, IntoResponse, Response};
use domain::identity::TokenScope;
use serde::{Deserialize, Serialize};
use utoipa::Modify;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;

/// An approver's answer to a request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub decision: Verdict,
    /// Why; shown to the requester and kept in the audit trail.
    #[serde(default)]
    pub reason: String,
}

#[derive(Clone, Copy, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Approve,
    Deny,
}

impl Decision {
    fn approves(&self) -> bool {
        matches!(self.decision, Verdict::Approve)
    }
}

/// A request that was stored: its id and where it stands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Submitted {
    pub id: String,
    /// `pending` (waits for a manager) or `approved` (granted at once).
    pub state: String,
}

impl Submitted {
    /// The 201 answer for a stored request.
    fn created(id: String, state: &str) -> (http::StatusCode, Json<Submitted>) {
        (
            http::StatusCode::CREATED,
            Json(Submitted {
                id,
                state: state.to_owned(),
            }),
        )
    }
}

/// What an action did, in words.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Done {
    pub message: String,
}

/// Which cluster of the fleet a request is about; none names the home cluster.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct OnCluster {
    /// The fleet's name of the cluster (the home cluster when left out).
    #[param(max_length = 253)]
    pub(super) cluster: Option<String>,
}

/// Where a list's page starts and how long it is.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct PageQuery {
    /// The `next` cursor of the page before (from the `Link` header); none for the newest.
    #[param(max_length = 512)]
    cursor: Option<String>,
    /// Rows on the page: 1 to 200, 50 if not said.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

impl PageQuery {
    pub(super) fn parts(&self) -> Result<(Option<domain::page::Cursor>, i64), ApiError> {
        let cursor = self
            .cursor
            .as_deref()
            .map(domain::page::Cursor::decode)
            .transpose()
            .map_err(ApiError::BadRequest)?;
        let limit = domain::page::limit(self.limit).map_err(ApiError::BadRequest)?;
        Ok((cursor, limit))
    }
}

/// A page of a list as a JSON array, with RFC 8288's `Link: <…>; rel="next"` when more follow
/// (the body stays a plain array, as GitHub's API does).
pub(super) fn paged<T: Serialize>(path: &str, page: domain::page::Page<T>, limit: i64) -> Response {
    let mut response = Json(page.items).into_response();
    if let Some(next) = page.next {
        let link = format!(
            "<{path}?cursor={}&limit={limit}>; rel=\"next\"",
            next.encode()
        );
        if let Ok(value) = http::HeaderValue::from_str(&link) {
            response.headers_mut().insert(http::header::LINK, value);
        }
    }
    response
}

/// The writer's `If-Match`, if sent; a malformed one is a 400 (a stale one is the service's
/// 412, judged inside the transaction that writes).
pub(super) fn if_match(
    headers: &http::HeaderMap,
) -> Result<Option<domain::version::Precondition>, ApiError> {
    let Some(value) = headers.get(http::header::IF_MATCH) else {
        return Ok(None);
    };
    domain::version::Precondition::parse(value.to_str().unwrap_or_default())
        .map(Some)
        .map_err(ApiError::BadRequest)
}

/// Declares the two ways to authenticate and the document's title.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        openapi.info.title = "Berth".to_owned();
        openapi.info.version = "1".to_owned();
        openapi.info.description = Some(
            "Self-service namespaces, quota and rollout views, cost and idle reports, and \
             just-in-time access for a shared Kubernetes cluster. Every error is a Problem \
             (RFC 9457, application/problem+json) with a stable `code`. Authenticate with an \
             API token (`Authorization: Bearer berth_…`, made on the Tokens page) whose scopes \
             cover the route's `token` scope, or with a browser session."
                .to_owned(),
        );
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// Every `/api/v1` route with its OpenAPI description.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(super::auth::me))
        .routes(routes!(super::tokens::list, super::tokens::create))
        .routes(routes!(super::tokens::revoke))
        .routes(routes!(super::audit::list))
        .routes(routes!(super::kubeconfig::download))
        .routes(routes!(super::kubeconfig::download_all))
        .routes(routes!(super::kubeconfig::download_grant))
        .routes(routes!(super::events::quota))
        .routes(routes!(super::events::rollouts))
        .merge(namespaces::routes())
        .merge(rollouts::routes())
        .merge(cost::routes())
        .merge(access::routes())
        .merge(clusters::routes())
}

/// The document, built once from the same declarations as the routes.
static DOCUMENT: LazyLock<OpenApi> = LazyLock::new(|| {
    let mut document = api().into_openapi();
    Security.modify(&mut document);
    describe_responses(&mut document);
    document
});

/// OpenAPI requires a description on every response: where a handler gives none, the status's
/// own phrase (and "A problem" for the default answer).
fn describe_responses(document: &mut OpenApi) {
    use utoipa::openapi::RefOr;
    for item in document.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            for (status, response) in operation.responses.responses.iter_mut() {
                if let RefOr::T(response) = response
                    && response.description.is_empty()
                {
                    response.description = status
                        .parse::<u16>()
                        .ok()
                        .and_then(|s| http::StatusCode::from_u16(s).ok())
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("A problem (RFC 9457)")
                        .to_owned();
                }
            }
        }
    }
}

pub fn document() -> &'static OpenApi {
    &DOCUMENT
}

/// The REST routes, the document at `/api/v1/openapi.json`, its page at `/api/v1/docs`, and
/// a Problem for any other path under `/api/v1`.
pub fn router() -> axum::Router<AppState> {
    let (routes, _) = api().split_for_parts();
    routes
        .route("/api/v1/openapi.json", axum::routing::get(openapi_json))
        .route("/api/v1/docs", axum::routing::get(docs))
        .route("/api/v1/{*rest}", axum::routing::any(no_route))
}

async fn openapi_json() -> Response {
    Json(document()).into_response()
}

async fn docs() -> Html<String> {
    Html(docs_page::render(document()))
}

async fn no_route() -> ApiError {
    ApiError::NoRoute
}

/// The token scope each operation declares, by method and path template.
static SCOPES: LazyLock<HashMap<(String, String), TokenScope>> =
    LazyLock::new(|| scopes_of(document()));

/// Reads `security: [{token: [scope]}]` off every operation. An operation a token may not
/// call at all (making tokens) needs `admin` here; the session check refuses it before.
fn scopes_of(document: &OpenApi) -> HashMap<(String, String), TokenScope> {
    let mut table = HashMap::new();
    let Ok(value) = serde_json::to_value(&document.paths) else {
        return table;
    };
    let Some(paths) = value.as_object() else {
        return table;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, operation) in item {
            let scope = operation
                .get("security")
                .and_then(|s| s.as_array())
                .into_iter()
                .flatten()
                .filter_map(|requirement| requirement.get("token"))
                .filter_map(|scopes| scopes.get(0))
                .filter_map(|s| s.as_str())
                .find_map(TokenScope::parse)
                .unwrap_or(TokenScope::Admin);
            table.insert((method.to_ascii_uppercase(), path.clone()), scope);
        }
    }
    table
}

/// The scope a token needs for `method` on the route `matched` (a path template), when it is
/// one of the REST routes. A method the route does not take needs only `read`: the answer is
/// a 405 and nothing happens.
pub fn scope_needed(method: &http::Method, matched: &str) -> Option<TokenScope> {
    if let Some(scope) = SCOPES.get(&(method.as_str().to_owned(), matched.to_owned())) {
        return Some(*scope);
    }
    SCOPES
        .keys()
        .any(|(_, path)| path == matched)
        .then_some(TokenScope::Read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_declares_its_token_scope_or_session_only() {
        let value = serde_json::to_value(&document().paths).unwrap_or_default();
        let paths = value.as_object().cloned().unwrap_or_default();
        assert!(paths.len() > 30, "{} paths", paths.len());
        for (path, item) in paths {
            for (method, operation) in item.as_object().cloned().unwrap_or_default() {
                let security = operation["security"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                assert!(!security.is_empty(), "{method} {path} declares no security");
                let token = security.iter().find_map(|r| r.get("token"));
                for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                    assert!(
                        response["description"]
                            .as_str()
                            .is_some_and(|d| !d.is_empty()),
                        "{method} {path} {status}: no description"
                    );
                }
                if method == "get" {
                    assert_eq!(
                        token.and_then(|t| t.get(0)).and_then(|s| s.as_str()),
                        Some("read"),
                        "{method} {path}: reads need the read scope"
                    );
                }
                if let Some(scopes) = token {
                    let scope = scopes.get(0).and_then(|s| s.as_str()).unwrap_or_default();
                    assert!(
                        TokenScope::parse(scope).is_some(),
                        "{method} {path}: {scope:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn if_match_is_optional_and_a_malformed_one_is_refused() {
        let mut headers = http::HeaderMap::new();
        assert!(
            matches!(if_match(&headers), Ok(None)),
            "no If-Match: no check"
        );
        headers.insert(
            http::header::IF_MATCH,
            http::HeaderValue::from_static("\"0000\""),
        );
        assert!(matches!(if_match(&headers), Ok(Some(_))));
        for bad in ["", "abc", "\""] {
            headers.insert(
                http::header::IF_MATCH,
                http::HeaderValue::from_str(bad).expect("header"),
            );
            assert!(
                matches!(if_match(&headers), Err(ApiError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn scopes_are_read_from_the_document() {
        use http::Method;
        assert_eq!(
            scope_needed(&Method::POST, "/api/v1/namespace-requests"),
            Some(TokenScope::Namespaces)
        );
        assert_eq!(
            scope_needed(&Method::POST, "/api/v1/access/{id}/review"),
            Some(TokenScope::Access)
        );
        assert_eq!(
            scope_needed(&Method::PUT, "/api/v1/prices"),
            Some(TokenScope::Admin)
        );
        assert_eq!(
            scope_needed(&Method::GET, "/api/v1/rollouts"),
            Some(TokenScope::Read)
        );
        // Session only: a token never makes tokens.
        assert_eq!(
            scope_needed(&Method::POST, "/api/v1/tokens"),
            Some(TokenScope::Admin)
        );
        assert_eq!(scope_needed(&Method::POST, "/api/v1/nothing"), None);
        assert_eq!(
            scope_needed(&Method::PATCH, "/api/v1/prices"),
            Some(TokenScope::Read)
        );
    }
}
