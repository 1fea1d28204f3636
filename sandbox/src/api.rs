//! The HTTP face of the sandbox: authentication, RBAC, discovery and the resource verbs,
//! answering as the Kubernetes API server does.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::escalation;
use crate::patch;
use crate::pki::Authority;
use crate::rbac::{self, Identity, Policy};
use crate::request_info::{self, RequestInfo, ResourceRequest};
use crate::resources::{self, RESOURCES, ResourceType};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{self, EventType, Part, Propagation, Query, Store};

/// The identity the TLS layer read from the client certificate, if any.
#[derive(Clone, Debug, Default)]
pub struct PeerIdentity(pub Option<Identity>);

/// Shared by every request.
pub struct ApiState {
    pub store: Store,
    pub authority: Authority,
    pub tokens: RwLock<HashMap<String, Identity>>,
    /// host:port clients reach the server at, for discovery's serverAddressByClientCIDRs.
    pub address: String,
    pub bookmark_interval: Duration,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl crate::controllers::Cluster for ApiState {
    fn store(&self) -> &Store {
        &self.store
    }

    fn authority(&self) -> &Authority {
        &self.authority
    }
}

const MAX_WATCH: Duration = Duration::from_secs(1800);

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(status, &self.to_status())
    }
}

/// Every request enters here.
pub async fn handle(State(state): State<Arc<ApiState>>, request: Request) -> Response {
    match serve(&state, request).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn serve(state: &Arc<ApiState>, request: Request) -> Result<Response, ApiError> {
    let identity = authenticate(state, &request)?;
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = parse_query(request.uri().query().unwrap_or_default());
    let watch = query.get("watch").is_some_and(|v| v == "true" || v == "1");
    let info = request_info::resolve(method.as_str(), &path, watch);
    if !authorize(state, &identity, &info) {
        return Err(ApiError::forbidden(rbac::forbidden_message(
            &identity, &info,
        )));
    }
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 16 * 1024 * 1024)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body failed: {e}")))?;
    match info {
        RequestInfo::NonResource { path, .. } => discovery(state, &path),
        RequestInfo::Resource(res) => {
            let rt = resources::find(&res.group, &res.version, &res.resource)
                .ok_or_else(|| ApiError::not_found_path(&path))?;
            resource(state, &identity, rt, &res, &headers, &query, body).await
        }
    }
}

fn authenticate(state: &ApiState, request: &Request) -> Result<Identity, ApiError> {
    if let Some(PeerIdentity(Some(identity))) = request.extensions().get::<PeerIdentity>() {
        return Ok(identity.clone());
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(token) = token {
        let tokens = state.tokens.read().unwrap_or_else(|p| p.into_inner());
        if let Some(identity) = tokens.get(token) {
            return Ok(identity.clone());
        }
    }
    Err(ApiError::unauthorized())
}

fn policy_for(store: &Store, namespace: Option<&str>) -> Policy {
    let everything = Query::default();
    let list = |plural: &str, ns: Option<&str>| -> Vec<Value> {
        let Some(rt) = resources::find("rbac.authorization.k8s.io", "v1", plural) else {
            return Vec::new();
        };
        let query = Query {
            namespace: ns.map(str::to_owned),
            ..everything.clone()
        };
        store.list(rt, &query, None, None).items
    };
    Policy {
        cluster_roles: list("clusterroles", None),
        cluster_role_bindings: list("clusterrolebindings", None),
        roles: namespace
            .map(|ns| list("roles", Some(ns)))
            .unwrap_or_default(),
        role_bindings: namespace
            .map(|ns| list("rolebindings", Some(ns)))
            .unwrap_or_default(),
    }
}

pub fn authorize(state: &ApiState, identity: &Identity, info: &RequestInfo) -> bool {
    let namespace = match info {
        RequestInfo::Resource(r) => r.namespace.as_deref(),
        RequestInfo::NonResource { .. } => None,
    };
    rbac::allowed(&policy_for(&state.store, namespace), identity, info)
}

fn parse_query(raw: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Discovery

fn discovery(state: &ApiState, path: &str) -> Result<Response, ApiError> {
    let path = path.trim_end_matches('/');
    let body = match path {
        "/version" => json!({
            "major": "1", "minor": "31", "gitVersion": "v1.31.0-berth-sandbox",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22.0", "compiler": "gc",
            "platform": "linux/amd64",
        }),
        "/healthz" | "/livez" | "/readyz" => {
            return Ok(
                (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "ok").into_response(),
            );
        }
        "/api" => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": state.address }],
        }),
        "/apis" => json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": resources::groups().iter().map(|(g, v)| api_group(g, v)).collect::<Vec<_>>(),
        }),
        "/api/v1" => resource_list("", "v1"),
        "/openapi/v3" => openapi_root(),
        _ => {
            let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            match parts.as_slice() {
                ["openapi", "v3", "api", "v1"] => openapi_group_version("", "v1"),
                ["openapi", "v3", "apis", group, version]
                    if resources::groups().contains(&(*group, *version)) =>
                {
                    openapi_group_version(group, version)
                }
                ["apis", group] => match resources::groups().iter().find(|(g, _)| g == group) {
                    Some((g, v)) => {
                        let mut group = api_group(g, v);
                        group["kind"] = json!("APIGroup");
                        group["apiVersion"] = json!("v1");
                        group
                    }
                    None => return Err(ApiError::not_found_path(path)),
                },
                ["apis", group, version] if resources::groups().contains(&(*group, *version)) => {
                    resource_list(group, version)
                }
                _ => return Err(ApiError::not_found_path(path)),
            }
        }
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// The OpenAPI v3 index: one document per group version. kubectl reads it to learn that the
/// server validates fields itself (`fieldValidation`), so it needs no schemas of its own.
fn openapi_root() -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs = vec![("", "v1")];
    gvs.extend(resources::groups());
    for (group, version) in gvs {
        let path = if group.is_empty() {
            format!("api/{version}")
        } else {
            format!("apis/{group}/{version}")
        };
        paths.insert(
            path.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{path}?hash=sandbox") }),
        );
    }
    json!({ "paths": paths })
}

/// A group version's OpenAPI v3 document: the PATCH operation of each resource, with the
/// `fieldValidation` parameter and the patch types the sandbox accepts. Object schemas are
/// open (`x-kubernetes-preserve-unknown-fields`), so clients defer validation to the server.
fn openapi_group_version(group: &str, version: &str) -> Value {
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for rt in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version && r.stored)
    {
        let prefix = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let item = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("{prefix}/{}/{{name}}", rt.plural)
        };
        let gvk = json!({ "group": group, "version": version, "kind": rt.kind });
        paths.insert(item, json!({
            "patch": {
                "x-kubernetes-group-version-kind": gvk,
                "x-kubernetes-action": "patch",
                "parameters": [
                    { "name": "fieldValidation", "in": "query", "schema": { "type": "string", "uniqueItems": true } },
                    { "name": "fieldManager", "in": "query", "schema": { "type": "string", "uniqueItems": true } },
                    { "name": "dryRun", "in": "query", "schema": { "type": "string", "uniqueItems": true } },
                    { "name": "force", "in": "query", "schema": { "type": "boolean", "uniqueItems": true } },
                ],
                "requestBody": { "content": {
                    "application/json-patch+json": { "schema": { "type": "object" } },
                    "application/merge-patch+json": { "schema": { "type": "object" } },
                    "application/apply-patch+yaml": { "schema": { "type": "object" } },
                } },
                "responses": { "200": { "description": "OK" } },
            }
        }));
        let schema_name = format!(
            "io.berth.sandbox.{}.{}",
            if group.is_empty() { "core" } else { group },
            rt.kind
        );
        schemas.insert(
            schema_name,
            json!({
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "x-kubernetes-group-version-kind": [gvk],
            }),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes (Berth sandbox)", "version": "v1.31.0" },
        "paths": paths,
        "components": { "schemas": schemas },
    })
}

fn api_group(group: &str, version: &str) -> Value {
    let gv = json!({ "groupVersion": format!("{group}/{version}"), "version": version });
    json!({ "name": group, "versions": [gv.clone()], "preferredVersion": gv })
}

fn resource_list(group: &str, version: &str) -> Value {
    let mut entries = Vec::new();
    for rt in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        entries.push(json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": rt.verbs(),
            "shortNames": rt.short_names,
        }));
        let mut subresources: Vec<&str> = rt.extra_subresources.to_vec();
        if rt.status {
            subresources.insert(0, "status");
        }
        for sub in subresources {
            entries.push(json!({
                "name": format!("{}/{sub}", rt.plural),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries })
}

// ---------------------------------------------------------------------------------------------
// Resources

#[allow(clippy::too_many_arguments)]
async fn resource(
    state: &Arc<ApiState>,
    identity: &Identity,
    rt: &'static ResourceType,
    res: &ResourceRequest,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if rt.group == "metrics.k8s.io" {
        return metrics_response(state, rt, res, query);
    }
    if !rt.stored {
        return review(state, identity, rt, res, &body);
    }
    if rt.namespaced && res.namespace.is_none() && !matches!(res.verb.as_str(), "list" | "watch") {
        return Err(ApiError::not_found_path(&format!(
            "{} requires a namespace",
            rt.qualified()
        )));
    }
    let ns = if rt.namespaced {
        res.namespace.clone().unwrap_or_default()
    } else {
        String::new()
    };
    let part = match res.subresource.as_deref() {
        None => Part::Main,
        Some("status") if rt.status => Part::Status,
        Some(sub) if rt.extra_subresources.contains(&sub) => Part::Status,
        Some(sub) => {
            return Err(ApiError::not_found_path(&format!(
                "{}/{sub}",
                rt.qualified()
            )));
        }
    };
    let name = res.name.as_deref().unwrap_or_default();
    let store = &state.store;
    if matches!(res.verb.as_str(), "create" | "update" | "patch") {
        let written = parse_object(headers, &body).ok();
        let stored = res
            .name
            .as_ref()
            .and_then(|_| store.get(rt, &ns, name).ok());
        escalation::check(
            &|namespace| policy_for(store, namespace),
            identity,
            res,
            written.as_ref(),
            stored.as_ref(),
        )?;
    }
    match res.verb.as_str() {
        "get" => Ok(json_response(StatusCode::OK, &store.get(rt, &ns, name)?)),
        "list" => list(store, rt, res, query),
        "watch" => watch(state, rt, res, query),
        "create" => {
            if res.name.is_some() {
                return Err(ApiError::method_not_allowed(
                    "POST is not allowed on a named resource",
                ));
            }
            let object = parse_object(headers, &body)?;
            let object = check_identity(rt, &object, &ns, None)?;
            if is_dry_run(query) {
                return Ok(json_response(StatusCode::CREATED, &object));
            }
            Ok(json_response(
                StatusCode::CREATED,
                &store.create(rt, &ns, object)?,
            ))
        }
        "update" => {
            let object = parse_object(headers, &body)?;
            let object = check_identity(rt, &object, &ns, Some(name))?;
            if is_dry_run(query) {
                return Ok(json_response(StatusCode::OK, &object));
            }
            Ok(json_response(
                StatusCode::OK,
                &store.update(rt, &ns, name, object, part)?,
            ))
        }
        "patch" => patch_object(store, rt, &ns, name, part, headers, query, &body),
        "delete" => {
            let options = delete_options(query, &body)?;
            if is_dry_run(query) {
                return Ok(json_response(StatusCode::OK, &store.get(rt, &ns, name)?));
            }
            let deleted = store.delete(
                rt,
                &ns,
                name,
                options.propagation,
                options.uid.as_deref(),
                options.rv.as_deref(),
            )?;
            Ok(json_response(StatusCode::OK, &deleted))
        }
        "deletecollection" => {
            let options = delete_options(query, &body)?;
            let q = list_query(rt, res, query)?;
            let items = store.list(rt, &q, None, None).items;
            let mut deleted = Vec::new();
            for item in items {
                let item_ns = item
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                match store.delete(
                    rt,
                    &item_ns,
                    store::name_of(&item),
                    options.propagation,
                    None,
                    None,
                ) {
                    Ok(v) => deleted.push(v),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(json_response(
                StatusCode::OK,
                &list_body(rt, deleted, store.resource_version(), None, None),
            ))
        }
        other => Err(ApiError::method_not_allowed(format!(
            "verb {other} is not supported"
        ))),
    }
}

fn is_dry_run(query: &HashMap<String, String>) -> bool {
    query.get("dryRun").is_some_and(|v| v == "All")
}

fn parse_object(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let value: Value = if content_type.contains("yaml") {
        serde_yaml::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("the body of the request is not valid YAML: {e}"))
        })?
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("the body of the request is not valid JSON: {e}"))
        })?
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(value)
}

/// The body's kind, apiVersion, namespace and name must agree with the URL.
fn check_identity(
    rt: &ResourceType,
    object: &Value,
    ns: &str,
    name: Option<&str>,
) -> Result<Value, ApiError> {
    let mut object = object.clone();
    if let Some(kind) = object.get("kind").and_then(Value::as_str)
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind of the object ({kind}) does not match the resource ({})",
            rt.qualified()
        )));
    }
    if let Some(api_version) = object.get("apiVersion").and_then(Value::as_str)
        && api_version != rt.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    if rt.namespaced
        && let Some(body_ns) = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
        && !body_ns.is_empty()
        && body_ns != ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if let Some(name) = name {
        let body_name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if body_name.is_empty() {
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("name".into(), json!(name));
            }
        } else if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
    }
    if !object.get("metadata").is_some_and(Value::is_object) {
        return Err(ApiError::invalid(
            rt.kind,
            rt.group,
            "",
            vec![crate::status::Cause {
                reason: "FieldValueRequired",
                message: "Required value: name or generateName is required".into(),
                field: "metadata.name".into(),
            }],
        ));
    }
    Ok(object)
}

fn list_query(
    rt: &ResourceType,
    res: &ResourceRequest,
    query: &HashMap<String, String>,
) -> Result<Query, ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let fields = FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str))
        .map_err(ApiError::bad_request)?;
    Ok(Query {
        namespace: if rt.namespaced {
            res.namespace.clone()
        } else {
            None
        },
        labels,
        fields,
    })
}

fn list_body(
    rt: &ResourceType,
    items: Vec<Value>,
    rv: u64,
    cont: Option<String>,
    remaining: Option<usize>,
) -> Value {
    let mut metadata = json!({ "resourceVersion": rv.to_string() });
    if let Some(c) = cont {
        metadata["continue"] = json!(c);
    }
    if let Some(r) = remaining {
        metadata["remainingItemCount"] = json!(r);
    }
    json!({ "kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": metadata, "items": items })
}

fn list(
    store: &Store,
    rt: &'static ResourceType,
    res: &ResourceRequest,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let q = list_query(rt, res, query)?;
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => None,
        Some(Ok(0)) => None,
        Some(Ok(l)) => Some(l),
        Some(Err(_)) => {
            return Err(ApiError::bad_request(
                "limit must be a non-negative integer",
            ));
        }
    };
    let after = match query.get("continue").filter(|c| !c.is_empty()) {
        None => None,
        Some(token) => Some(
            store::decode_continue(token)
                .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?,
        ),
    };
    let page = store.list_json(rt, &q, limit, after.as_ref());
    // The items are already JSON: the body is assembled around them, not re-serialised.
    let mut metadata = json!({ "resourceVersion": page.resource_version.to_string() });
    if let Some(c) = page.continue_token {
        metadata["continue"] = json!(c);
    }
    if let Some(r) = page.remaining {
        metadata["remainingItemCount"] = json!(r);
    }
    let size: usize = page.items.iter().map(|i| i.len() + 1).sum();
    let mut body = String::with_capacity(size + 256);
    body.push_str(&format!(
        "{{\"kind\":{},\"apiVersion\":{},\"metadata\":{},\"items\":[",
        json!(rt.list_kind()),
        json!(rt.api_version()),
        metadata
    ));
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push_str("]}");
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

fn watch(
    state: &Arc<ApiState>,
    rt: &'static ResourceType,
    res: &ResourceRequest,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let mut q = list_query(rt, res, query)?;
    if let Some(name) = &res.name {
        // A watch on a named object is a watch on the collection with a name field selector.
        let fields = FieldSelector::parse(&format!("metadata.name={name}"))
            .map_err(ApiError::bad_request)?;
        let combined = match query.get("fieldSelector") {
            Some(existing) if !existing.is_empty() => {
                FieldSelector::parse(&format!("{existing},metadata.name={name}"))
                    .map_err(ApiError::bad_request)?
            }
            _ => fields,
        };
        q.fields = combined;
    }
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(MAX_WATCH, |s| Duration::from_secs(s).min(MAX_WATCH));
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true");
    let rv = query
        .get("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0");

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    let line = |event_type: &str, object: &Value| -> Bytes {
        let mut text = json!({ "type": event_type, "object": object }).to_string();
        text.push('\n');
        Bytes::from(text)
    };
    let (initial, start_rv, mut events): (Vec<Bytes>, u64, _) = match rv {
        None => {
            let (objects, rv, receiver) = state.store.watch_current(rt, &q);
            (
                objects.iter().map(|o| line("ADDED", o)).collect(),
                rv,
                receiver,
            )
        }
        Some(text) => {
            let rv: u64 = text
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {text:?}")))?;
            match state.store.watch_from(rt, rv) {
                Ok((backlog, receiver)) => {
                    let lines = backlog
                        .iter()
                        .filter_map(|e| filtered(e, &q).map(|(t, o)| line(t, o)))
                        .collect();
                    let last = backlog.last().map_or(rv, |e| e.rv);
                    (lines, last, receiver)
                }
                Err(gone) => {
                    // As the real server does: a 200 stream whose one event is the 410 error.
                    let body = line("ERROR", &gone.to_status());
                    return Ok((
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                        .into_response());
                }
            }
        }
    };
    let interval = state.bookmark_interval;
    let kind = rt.kind;
    let api_version = rt.api_version();
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last_rv = start_rv;
        for chunk in initial {
            if tx.send(Ok(chunk)).await.is_err() {
                return;
            }
        }
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return,
                () = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    let bookmark = json!({ "kind": kind, "apiVersion": api_version, "metadata": { "resourceVersion": last_rv.to_string() } });
                    if tx.send(Ok(line("BOOKMARK", &bookmark))).await.is_err() {
                        return;
                    }
                }
                received = events.recv() => match received {
                    Ok(event) => {
                        if event.rv <= last_rv || !std::ptr::eq(event.resource, rt) {
                            continue;
                        }
                        last_rv = event.rv;
                        if let Some((t, o)) = filtered(&event, &q)
                            && tx.send(Ok(line(t, o))).await.is_err()
                        {
                            return;
                        }
                    }
                    // Too slow a reader: end the stream; the client resumes from its last
                    // resourceVersion, or relists after a 410.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                },
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The event as a watch with `query` reports it, if at all: an object that moved out of the
/// selection is DELETED for this watch, one that moved in is ADDED.
fn filtered<'a>(event: &'a store::Event, query: &Query) -> Option<(&'static str, &'a Value)> {
    let now = query.matches(&event.object);
    let before = event.old.as_ref().is_some_and(|o| query.matches(o));
    match (event.kind, before, now) {
        (EventType::Added, _, true) => Some(("ADDED", &event.object)),
        (EventType::Deleted, _, true) => Some(("DELETED", &event.object)),
        (EventType::Modified, true, true) => Some(("MODIFIED", &event.object)),
        (EventType::Modified, false, true) => Some(("ADDED", &event.object)),
        (EventType::Modified, true, false) => Some(("DELETED", &event.object)),
        _ => None,
    }
}

struct DeleteOptions {
    propagation: Propagation,
    uid: Option<String>,
    rv: Option<String>,
}

fn delete_options(query: &HashMap<String, String>, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let policy = query
        .get("propagationPolicy")
        .cloned()
        .or_else(|| {
            body.get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .or_else(
            || match body.get("orphanDependents").and_then(Value::as_bool) {
                Some(true) => Some("Orphan".to_owned()),
                _ => None,
            },
        );
    let propagation = match policy.as_deref() {
        None | Some("Background") => Propagation::Background,
        Some("Foreground") => Propagation::Foreground,
        Some("Orphan") => Propagation::Orphan,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown propagationPolicy {other:?}"
            )));
        }
    };
    Ok(DeleteOptions {
        propagation,
        uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_owned),
        rv: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[allow(clippy::too_many_arguments)]
fn patch_object(
    store: &Store,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    part: Part,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if content_type == "application/apply-patch+yaml" {
        let manager = query
            .get("fieldManager")
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                ApiError::bad_request("PATCH with the apply patch type requires a fieldManager")
            })?;
        let force = query.get("force").is_some_and(|f| f == "true");
        let object = parse_object(headers, body)?;
        let object = check_identity(rt, &object, ns, Some(name))?;
        return apply(
            store,
            rt,
            ns,
            name,
            part,
            object,
            manager,
            force,
            is_dry_run(query),
        );
    }
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the patch is not valid JSON: {e}")))?;
    let apply_patch = |target: &mut Value| -> Result<(), ApiError> {
        match content_type.as_str() {
            "application/json-patch+json" => {
                patch::json_patch(target, &patch).map_err(ApiError::bad_request)
            }
            "application/merge-patch+json" => {
                patch::merge_patch(target, &patch);
                Ok(())
            }
            "application/strategic-merge-patch+json" => {
                patch::strategic_merge(target, &patch).map_err(ApiError::bad_request)
            }
            other => Err(ApiError::unsupported_media_type(other)),
        }
    };
    if is_dry_run(query) {
        let mut object = store.get(rt, ns, name)?;
        apply_patch(&mut object)?;
        return Ok(json_response(StatusCode::OK, &object));
    }
    let updated = store.modify(rt, ns, name, part, |current| {
        let before_rv = current.pointer("/metadata/resourceVersion").cloned();
        apply_patch(current)?;
        // A resourceVersion in the patch is a precondition, as on the real server.
        if current.pointer("/metadata/resourceVersion").cloned() != before_rv {
            return Err(ApiError::conflict(&rt.qualified(), rt.group, rt.plural, name, "the object has been modified; please apply your changes to the latest version and try again"));
        }
        Ok(())
    })?;
    Ok(json_response(StatusCode::OK, &updated))
}

/// Server-side apply: the manager's fields are set, fields it owned before and no longer
/// sends are removed, and fields another manager owns with another value are conflicts.
#[allow(clippy::too_many_arguments)]
fn apply(
    store: &Store,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    part: Part,
    mut object: Value,
    manager: &str,
    force: bool,
    dry_run: bool,
) -> Result<Response, ApiError> {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    let applied = applied_fields(&object);
    let entry = |paths: &BTreeSet<patch::FieldPath>| {
        json!({
            "manager": manager,
            "operation": "Apply",
            "apiVersion": rt.api_version(),
            "time": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "fieldsType": "FieldsV1",
            "fieldsV1": patch::to_fields_v1(paths),
        })
    };
    match store.get(rt, ns, name) {
        Err(e) if e.code == 404 => {
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("managedFields".into(), json!([entry(&applied)]));
            }
            if dry_run {
                return Ok(json_response(StatusCode::CREATED, &object));
            }
            let created = store.create(rt, ns, object)?;
            return Ok(json_response(StatusCode::CREATED, &created));
        }
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    let change = |current: &mut Value| -> Result<(), ApiError> {
        let mut managers: Vec<Value> = current
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mine = managers
            .iter()
            .find(|m| m["manager"] == manager && m["operation"] == "Apply")
            .map(|m| patch::from_fields_v1(&m["fieldsV1"]))
            .unwrap_or_default();
        // Conflicts with other appliers.
        let mut conflicts = Vec::new();
        for m in managers
            .iter_mut()
            .filter(|m| m["manager"] != manager && m["operation"] == "Apply")
        {
            let mut theirs = patch::from_fields_v1(&m["fieldsV1"]);
            let contested: Vec<patch::FieldPath> = theirs
                .iter()
                .filter(|p| {
                    applied.contains(*p)
                        && patch::get_path(current, p) != patch::get_path(&object, p)
                })
                .cloned()
                .collect();
            if contested.is_empty() {
                continue;
            }
            if force {
                for p in &contested {
                    theirs.remove(p);
                }
                m["fieldsV1"] = patch::to_fields_v1(&theirs);
            } else {
                let who = m["manager"].as_str().unwrap_or_default().to_owned();
                conflicts.extend(
                    contested
                        .iter()
                        .map(|p| (who.clone(), patch::display_path(p))),
                );
            }
        }
        if !conflicts.is_empty() {
            let list = conflicts
                .iter()
                .map(|(who, path)| format!("conflict with \"{who}\": {path}"))
                .collect::<Vec<_>>();
            let message = if list.len() == 1 {
                format!("Apply failed with 1 conflict: {}", list[0])
            } else {
                format!(
                    "Apply failed with {} conflicts: {}",
                    list.len(),
                    list.join("\n")
                )
            };
            return Err(ApiError {
                code: 409,
                reason: "Conflict",
                message,
                details: None,
            });
        }
        // Fields this manager set before and dropped now go, unless someone else owns them.
        let others: BTreeSet<patch::FieldPath> = managers
            .iter()
            .filter(|m| m["manager"] != manager)
            .flat_map(|m| patch::from_fields_v1(&m["fieldsV1"]))
            .collect();
        patch::strategic_merge(current, &object).map_err(ApiError::bad_request)?;
        for dropped in mine.difference(&applied) {
            if !others.contains(dropped) {
                patch::remove_path(current, dropped);
            }
        }
        managers.retain(|m| !(m["manager"] == manager && m["operation"] == "Apply"));
        managers.push(entry(&applied));
        if let Some(meta) = current.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("managedFields".into(), Value::Array(managers));
        }
        Ok(())
    };
    if dry_run {
        let mut current = store.get(rt, ns, name)?;
        change(&mut current)?;
        return Ok(json_response(StatusCode::OK, &current));
    }
    let updated = store.modify(rt, ns, name, part, change)?;
    Ok(json_response(StatusCode::OK, &updated))
}

/// The fields an applied configuration sets, less the identity fields every object carries.
fn applied_fields(object: &Value) -> BTreeSet<patch::FieldPath> {
    patch::field_set(object)
        .into_iter()
        .filter(|p| {
            let first = p.first().map(String::as_str);
            let second = p.get(1).map(String::as_str);
            !(matches!(first, Some("f:apiVersion") | Some("f:kind"))
                || (first == Some("f:metadata")
                    && matches!(second, Some("f:name") | Some("f:namespace"))))
        })
        .collect()
}

/// PodMetrics and NodeMetrics, computed now from the pods' usage profiles.
fn metrics_response(
    state: &ApiState,
    rt: &'static ResourceType,
    res: &ResourceRequest,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    if !matches!(res.verb.as_str(), "get" | "list") {
        return Err(ApiError::method_not_allowed(format!(
            "{} only supports get and list",
            rt.qualified()
        )));
    }
    let now = jiff::Timestamp::now().as_second();
    let pods_rt = resources::find("", "v1", "pods").ok_or_else(|| ApiError::internal("no pods"))?;
    let labels = LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let items: Vec<Value> = if rt.kind == "PodMetrics" {
        let pods = match &res.namespace {
            Some(ns) => state.store.list_in(pods_rt, ns),
            None => {
                state
                    .store
                    .list(pods_rt, &Query::default(), None, None)
                    .items
            }
        };
        pods.iter()
            .filter(|p| labels.matches(&store::labels_of(p)))
            .filter(|p| res.name.as_ref().is_none_or(|n| store::name_of(p) == n))
            .filter_map(|p| crate::metrics::pod_metrics(p, now))
            .collect()
    } else {
        let nodes_rt =
            resources::find("", "v1", "nodes").ok_or_else(|| ApiError::internal("no nodes"))?;
        let pods = state
            .store
            .list(pods_rt, &Query::default(), None, None)
            .items;
        // Each node's pods, found once: at 50,000 pods and 500 nodes a scan per node would
        // be most of the answer's time.
        let mut by_node: std::collections::HashMap<&str, Vec<&Value>> =
            std::collections::HashMap::new();
        for pod in &pods {
            if let Some(node) = pod.pointer("/spec/nodeName").and_then(Value::as_str) {
                by_node.entry(node).or_default().push(pod);
            }
        }
        state
            .store
            .list_in(nodes_rt, "")
            .iter()
            .filter(|n| labels.matches(&store::labels_of(n)))
            .filter(|n| {
                res.name
                    .as_ref()
                    .is_none_or(|name| store::name_of(n) == name)
            })
            .map(|n| {
                let on_node = by_node
                    .get(store::name_of(n))
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                crate::metrics::node_metrics(n, on_node.iter().copied(), now)
            })
            .collect()
    };
    match &res.name {
        Some(name) => match items.into_iter().next() {
            Some(item) => Ok(json_response(StatusCode::OK, &item)),
            None => Err(ApiError::not_found(
                &rt.qualified(),
                rt.group,
                rt.plural,
                name,
            )),
        },
        None => Ok(json_response(
            StatusCode::OK,
            &json!({
                "kind": rt.list_kind(),
                "apiVersion": rt.api_version(),
                "metadata": {},
                "items": items,
            }),
        )),
    }
}

/// SelfSubjectAccessReview and SubjectAccessReview, answered by the same evaluator.
fn review(
    state: &ApiState,
    identity: &Identity,
    rt: &ResourceType,
    res: &ResourceRequest,
    body: &[u8],
) -> Result<Response, ApiError> {
    if res.verb != "create" {
        return Err(ApiError::method_not_allowed(format!(
            "{} only supports create",
            rt.qualified()
        )));
    }
    let mut object: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request is not valid JSON: {e}"))
    })?;
    let subject = if rt.kind == "SubjectAccessReview" {
        let user = object
            .pointer("/spec/user")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let groups: Vec<String> = object
            .pointer("/spec/groups")
            .and_then(Value::as_array)
            .map(|g| {
                g.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if user.is_empty() && groups.is_empty() {
            return Err(ApiError::invalid(
                rt.kind,
                rt.group,
                "",
                vec![crate::status::Cause {
                    reason: "FieldValueRequired",
                    message: "Required value: at least one of user or group must be specified"
                        .into(),
                    field: "spec.user".into(),
                }],
            ));
        }
        Identity::new(user, groups)
    } else {
        identity.clone()
    };
    let info = if let Some(attrs) = object.pointer("/spec/resourceAttributes") {
        let s = |k: &str| {
            attrs
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let opt = |k: &str| {
            attrs
                .get(k)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        RequestInfo::Resource(ResourceRequest {
            verb: s("verb"),
            group: s("group"),
            version: s("version"),
            resource: s("resource"),
            subresource: opt("subresource"),
            namespace: opt("namespace"),
            name: opt("name"),
        })
    } else if let Some(attrs) = object.pointer("/spec/nonResourceAttributes") {
        RequestInfo::NonResource {
            path: attrs
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            verb: attrs
                .get("verb")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }
    } else {
        return Err(ApiError::invalid(rt.kind, rt.group, "", vec![crate::status::Cause {
            reason: "FieldValueRequired",
            message: "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified".into(),
            field: "spec.resourceAttributes".into(),
        }]));
    };
    let allowed = authorize(state, &subject, &info);
    object["status"] = if allowed {
        json!({ "allowed": true, "reason": "allowed by RBAC" })
    } else {
        json!({ "allowed": false })
    };
    object["apiVersion"] = json!(rt.api_version());
    object["kind"] = json!(rt.kind);
    Ok(json_response(StatusCode::CREATED, &object))
}
