//! `metrics.k8s.io/v1beta1` as an aggregated API behind the real kube-apiserver, as
//! metrics-server serves it: HTTPS with a certificate the cluster CA signed (the APIService's
//! caBundle), answering only the aggregator (a client certificate from the front-proxy CA).
//! kube-apiserver has already authenticated and authorised the user (RBAC on
//! `pods.metrics.k8s.io` / `nodes.metrics.k8s.io`) before it proxies a request here.
//!
//! Usage comes from [`crate::metrics`]: each pod's profile at this minute, so the numbers
//! agree with the history the demo imports.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::metrics;
use crate::node_sim::{MANAGER, Shared, nodes_by_name};
use crate::pki::Authority;
use crate::selectors::LabelSelector;

/// The Service the APIService points at (ExternalName → localhost).
const SERVICE: &str = "sandbox-metrics";
const GROUP_VERSION: &str = "metrics.k8s.io/v1beta1";

#[derive(Debug, thiserror::Error)]
pub enum MetricsApiError {
    #[error("the metrics API cannot listen on 127.0.0.1: {0}")]
    Bind(std::io::Error),
    #[error("the metrics API's TLS set-up failed: {0}")]
    Tls(String),
    #[error("registering the metrics APIService: {0}")]
    Register(kube::Error),
}

/// A running metrics API; stops when dropped.
pub struct MetricsApi {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for MetricsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsApi")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for MetricsApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MetricsApi {
    /// Serves the simulator's pods on a free loopback port and registers the APIService.
    pub async fn start(
        client: &kube::Client,
        shared: Arc<Shared>,
        cluster_ca: &Authority,
        front_proxy_ca_pem: &str,
    ) -> Result<MetricsApi, MetricsApiError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(MetricsApiError::Bind)?;
        let addr = listener.local_addr().map_err(MetricsApiError::Bind)?;
        let serving = cluster_ca
            .serving_cert_for(
                SERVICE,
                &[&format!("{SERVICE}.kube-system.svc"), "localhost"],
                &[std::net::IpAddr::from([127, 0, 0, 1])],
            )
            .map_err(|e| MetricsApiError::Tls(e.to_string()))?;
        // Only the aggregator may call: its front-proxy client certificate is required.
        let tls = crate::tls_config(
            front_proxy_ca_pem,
            &serving.cert_pem,
            &serving.key_pem,
            true,
        )
        .map_err(MetricsApiError::Tls)?;
        let router = Router::new()
            .route("/apis", get(groups))
            .route("/apis/metrics.k8s.io", get(group))
            .route("/apis/metrics.k8s.io/v1beta1", get(resources))
            .route("/apis/metrics.k8s.io/v1beta1/nodes", get(node_list))
            .route("/apis/metrics.k8s.io/v1beta1/nodes/{name}", get(node_one))
            .route("/apis/metrics.k8s.io/v1beta1/pods", get(pod_list_all))
            .route(
                "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods",
                get(pod_list_in),
            )
            .route(
                "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{name}",
                get(pod_one),
            )
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(|| async { "ok" }))
            .fallback(|| async { not_found("the server could not find the requested resource") })
            .with_state(shared);
        let task = tokio::spawn(serve(
            listener,
            tokio_rustls::TlsAcceptor::from(tls),
            router,
        ));
        let api = MetricsApi { addr, task };
        register(client, addr.port(), cluster_ca.ca_pem())
            .await
            .map_err(MetricsApiError::Register)?;
        Ok(api)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// The ExternalName Service and the APIService pointing the aggregator at `port` on loopback
/// (a Service's ClusterIP leads nowhere without kube-proxy; Endpoints may not hold loopback).
async fn register(client: &kube::Client, port: u16, ca_pem: &str) -> Result<(), kube::Error> {
    use base64::Engine;
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
    let services: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE},
        "spec": {"type": "ExternalName", "externalName": "localhost", "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}});
    services
        .patch(
            SERVICE,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(service),
        )
        .await?;
    // As metrics-server installs it: whoever may view pods in a namespace may read their
    // metrics there (`kubectl top pods`), through the aggregated view / edit / admin roles.
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(client.clone());
    let reader = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "system:aggregated-metrics-reader", "labels": {
            "rbac.authorization.k8s.io/aggregate-to-view": "true",
            "rbac.authorization.k8s.io/aggregate-to-edit": "true",
            "rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
        "rules": [{"apiGroups": ["metrics.k8s.io"], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]}]});
    roles
        .patch(
            "system:aggregated-metrics-reader",
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(reader),
        )
        .await?;
    let apiservices: Api<APIService> = Api::all(client.clone());
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    let apiservice = json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io"},
        "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
            "caBundle": ca, "service": {"namespace": "kube-system", "name": SERVICE, "port": port}}});
    apiservices
        .patch(
            "v1beta1.metrics.k8s.io",
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(apiservice),
        )
        .await?;
    Ok(())
}

async fn serve(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor, router: Router) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    router.clone().oneshot(request.map(Body::new))
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn ok(value: Value) -> Response {
    (StatusCode::OK, axum::Json(value)).into_response()
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16()});
    (code, axum::Json(body)).into_response()
}

fn not_found(message: &str) -> Response {
    status(StatusCode::NOT_FOUND, "NotFound", message)
}

async fn groups(headers: HeaderMap) -> Response {
    // Aggregated discovery (apidiscovery.k8s.io) is not served: 406 makes the aggregator fall
    // back to the per-version documents below, as it does for older servers.
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("apidiscovery") && !accept.contains("application/json,") {
        return status(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            "aggregated discovery is not served",
        );
    }
    ok(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group_object()]}))
}

fn group_object() -> Value {
    let version = json!({"groupVersion": GROUP_VERSION, "version": "v1beta1"});
    json!({"name": "metrics.k8s.io", "versions": [version], "preferredVersion": version})
}

async fn group() -> Response {
    let mut g = group_object();
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    ok(g)
}

async fn resources() -> Response {
    let resource = |name: &str, kind: &str, namespaced: bool| json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": ["get", "list"]});
    ok(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION,
        "resources": [resource("nodes", "NodeMetrics", false), resource("pods", "PodMetrics", true)]}),
    )
}

/// The request's label selector, or why it does not parse.
fn selector(query: &BTreeMap<String, String>) -> Result<Option<LabelSelector>, String> {
    match query.get("labelSelector").filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(text) => LabelSelector::parse(text).map(Some),
    }
}

fn bad_selector(message: &str) -> Response {
    status(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn list(kind: &str, items: Vec<Value>) -> Response {
    ok(json!({"kind": kind, "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}))
}

fn node_metrics_all(shared: &Shared) -> Vec<Value> {
    let now = now();
    let Ok(table) = shared.pods.lock() else {
        return Vec::new();
    };
    // Pods grouped by node in one pass: each node scanning every pod was 500 × 50,000 lookups
    // on the large scenario, long enough, under the pod table's lock, to stall the process.
    let mut on_node: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for pod in table.running() {
        if let Some(node) = pod.pointer("/spec/nodeName").and_then(Value::as_str) {
            on_node.entry(node).or_default().push(pod);
        }
    }
    nodes_by_name(shared)
        .iter()
        .map(|(name, node)| {
            let pods = on_node.get(name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            metrics::node_metrics(node, pods.iter().copied(), now)
        })
        .collect()
}

async fn node_list(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let selector = match selector(&query) {
        Ok(s) => s,
        Err(e) => return bad_selector(&e),
    };
    let items = node_metrics_all(&shared)
        .into_iter()
        .filter(|n| selector.as_ref().is_none_or(|s| s.matches(&labels_of(n))))
        .collect();
    list("NodeMetricsList", items)
}

async fn node_one(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    node_metrics_all(&shared)
        .into_iter()
        .find(|n| n["metadata"]["name"] == name.as_str())
        .map_or_else(
            || not_found(&format!("nodemetrics.metrics.k8s.io \"{name}\" not found")),
            ok,
        )
}

fn pod_metrics_in(shared: &Shared, namespace: Option<&str>) -> Vec<Value> {
    let now = now();
    let Ok(table) = shared.pods.lock() else {
        return Vec::new();
    };
    table
        .running()
        .filter(|p| namespace.is_none_or(|ns| p["metadata"]["namespace"].as_str() == Some(ns)))
        .filter_map(|p| metrics::pod_metrics(p, now))
        .collect()
}

fn pod_list(
    shared: &Shared,
    namespace: Option<&str>,
    query: &BTreeMap<String, String>,
) -> Response {
    let selector = match selector(query) {
        Ok(s) => s,
        Err(e) => return bad_selector(&e),
    };
    let items = pod_metrics_in(shared, namespace)
        .into_iter()
        .filter(|p| selector.as_ref().is_none_or(|s| s.matches(&labels_of(p))))
        .collect();
    list("PodMetricsList", items)
}

async fn pod_list_all(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    pod_list(&shared, None, &query)
}

async fn pod_list_in(
    State(shared): State<Arc<Shared>>,
    Path(namespace): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    pod_list(&shared, Some(&namespace), &query)
}

async fn pod_one(
    State(shared): State<Arc<Shared>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    pod_metrics_in(&shared, Some(&namespace))
        .into_iter()
        .find(|p| p["metadata"]["name"] == name.as_str())
        .map_or_else(
            || not_found(&format!("podmetrics.metrics.k8s.io \"{name}\" not found")),
            ok,
        )
}

/// An object's labels.
fn labels_of(object: &Value) -> std::collections::BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}
