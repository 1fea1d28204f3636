//! The local cluster for Berth's demo and tests.
//!
//! - [`control_plane`]: a real Kubernetes control plane (etcd, kube-apiserver,
//!   kube-controller-manager, kube-scheduler, built from upstream by `scripts/kube.sh`) on
//!   loopback; [`node_sim`] simulates the nodes and kubelets it lacks and [`metrics_api`]
//!   serves `metrics.k8s.io` behind its aggregator; [`loader`] loads scenarios through its API.
//!   `berth sandbox` and `berth demo` run on it.
//! - [`Sandbox`]: the older stand-in API server, which the integration tests still use until
//!   they move to the real control plane (issue "Real Kubernetes, part 2").
//!
//! Nothing here depends on Berth's own crates.

pub mod admission;
pub mod api;
pub mod control_plane;
pub mod controllers;
pub mod escalation;
pub mod kubeconfig;
pub mod kubelet;
pub mod loader;
pub mod local_cluster;
pub mod metrics;
pub mod metrics_api;
pub mod node_sim;
pub mod patch;
pub mod pki;
pub mod quantity;
pub mod rbac;
pub mod request_info;
pub mod resources;
pub mod scenario;
pub mod selectors;
pub mod status;
pub mod store;
pub mod validation;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use api::{ApiState, PeerIdentity};
use pki::{Authority, CertAndKey};
use rbac::Identity;
use store::Store;

pub use pki::PkiError;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the generated kubeconfig is not usable: {0}")]
    Kubeconfig(String),
    #[error("bootstrapping the cluster failed: {0}")]
    Bootstrap(String),
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
}

/// How to run the sandbox.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// How many events watches can resume across before they get 410 Gone.
    pub history_limit: usize,
    /// How often watches that allow bookmarks get one.
    pub bookmark_interval: Duration,
    /// How fast scripted time runs (pod readiness delays, job run times); 1 is real time.
    pub clock_speed: f64,
    /// Nodes to start with; `None` gives three default workers (or the scenario's nodes).
    pub nodes: Option<Vec<NodeSpec>>,
    /// Teams, namespaces and workloads to start with.
    pub scenario: Option<scenario::Scenario>,
}

/// A node of the simulated cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSpec {
    pub name: String,
    /// Cores.
    pub cpu: f64,
    /// Bytes.
    pub memory: f64,
    pub pods: u32,
    pub labels: Vec<(String, String)>,
}

impl NodeSpec {
    pub fn worker(name: &str, cpu: f64, memory_gib: f64, instance_type: &str) -> NodeSpec {
        NodeSpec {
            name: name.to_owned(),
            cpu,
            memory: memory_gib * 1024.0 * 1024.0 * 1024.0,
            pods: 110,
            labels: vec![(
                "node.kubernetes.io/instance-type".to_owned(),
                instance_type.to_owned(),
            )],
        }
    }

    /// The Node object; allocatable keeps back what the system reserves, as kubelets do.
    pub fn to_object(&self) -> serde_json::Value {
        let mut labels = serde_json::Map::new();
        labels.insert("kubernetes.io/hostname".into(), self.name.clone().into());
        labels.insert("kubernetes.io/os".into(), "linux".into());
        labels.insert("kubernetes.io/arch".into(), "amd64".into());
        for (k, v) in &self.labels {
            labels.insert(k.clone(), v.clone().into());
        }
        let reserved_cpu = (self.cpu * 0.05).min(0.2);
        let reserved_memory = (self.memory * 0.05).min(512.0 * 1024.0 * 1024.0);
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {},
            "status": {
                "capacity": {
                    "cpu": quantity::format_cpu(self.cpu),
                    "memory": quantity::format_bytes(self.memory),
                    "pods": self.pods.to_string(),
                },
                "allocatable": {
                    "cpu": quantity::format_cpu(self.cpu - reserved_cpu),
                    "memory": quantity::format_bytes((self.memory - reserved_memory).round()),
                    "pods": self.pods.to_string(),
                },
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
                "nodeInfo": {"kubeletVersion": "v1.31.0-berth-sandbox", "osImage": "Berth sandbox", "containerRuntimeVersion": "sandbox://1.0", "architecture": "amd64", "operatingSystem": "linux"},
            },
        })
    }
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            port: 0,
            history_limit: 10_000,
            bookmark_interval: Duration::from_secs(10),
            clock_speed: 1.0,
            nodes: None,
            scenario: None,
        }
    }
}

/// The user the admin kubeconfig authenticates as.
pub const ADMIN_USER: &str = "sandbox-admin";

/// A running sandbox; stops when [`Sandbox::stop`] is called or it is dropped.
pub struct Sandbox {
    state: Arc<ApiState>,
    addr: SocketAddr,
    admin: CertAndKey,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts the sandbox on 127.0.0.1 with the default namespaces and RBAC roles.
    pub async fn start(options: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let authority = Authority::new()?;
        let serving = authority.serving_cert()?;
        let admin = authority.client_cert(
            ADMIN_USER,
            &["system:masters"],
            Duration::from_secs(365 * 24 * 3600),
        )?;
        let addr = SocketAddr::from(([127, 0, 0, 1], options.port));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let tls = tls_config(
            authority.ca_pem(),
            &serving.cert_pem,
            &serving.key_pem,
            false,
        )
        .map_err(SandboxError::Tls)?;

        let state = Arc::new(ApiState {
            store: Store::new(options.history_limit),
            authority,
            tokens: RwLock::new(HashMap::new()),
            address: addr.to_string(),
            bookmark_interval: options.bookmark_interval,
        });
        bootstrap(&state.store)?;
        let scenario_nodes = options
            .scenario
            .as_ref()
            .map(|s| s.node_specs())
            .filter(|n| !n.is_empty());
        let nodes = options.nodes.clone().or(scenario_nodes).unwrap_or_else(|| {
            (1..=3)
                .map(|i| NodeSpec::worker(&format!("worker-{i}"), 4.0, 16.0, "m5.xlarge"))
                .collect()
        });
        let node_rt = resources::find("", "v1", "nodes")
            .ok_or_else(|| SandboxError::Bootstrap("no nodes".into()))?;
        for node in nodes {
            state
                .store
                .create(node_rt, "", node.to_object())
                .map_err(|e| SandboxError::Bootstrap(e.message))?;
        }

        let router = Router::new()
            .fallback(api::handle)
            .with_state(state.clone());
        let (shutdown, stopped) = watch::channel(false);
        let mut speed = options.clock_speed;
        if let Some(scenario) = &options.scenario {
            let report = scenario.load(&state.store)?;
            tracing::info!(
                namespaces = report.namespaces,
                workloads = report.workloads,
                pods = report.pods,
                "scenario {} loaded",
                scenario.name
            );
            speed = scenario.clock_speed.unwrap_or(speed);
        }
        let clock = controllers::Clock { speed };
        tokio::spawn(controllers::run(state.clone(), clock, stopped.clone()));
        let task = tokio::spawn(accept_loop(
            listener,
            tokio_rustls::TlsAcceptor::from(tls),
            router,
            stopped,
        ));
        Ok(Sandbox {
            state,
            addr,
            admin,
            shutdown,
            task: Some(task),
        })
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn ca_pem(&self) -> &str {
        self.state.authority.ca_pem()
    }

    /// The object store, for controllers and for scenario loading.
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub fn authority(&self) -> &Authority {
        &self.state.authority
    }

    /// Lets `token` authenticate as `user` in `groups`.
    pub fn add_token(&self, token: &str, user: &str, groups: &[&str]) {
        let mut tokens = self.state.tokens.write().unwrap_or_else(|p| p.into_inner());
        tokens.insert(
            token.to_owned(),
            Identity::new(user, groups.iter().copied()),
        );
    }

    /// A kubeconfig for the cluster administrator (group `system:masters`).
    pub fn admin_kubeconfig(&self) -> String {
        self.kubeconfig_with(ADMIN_USER, &UserAuth::Cert(&self.admin))
    }

    /// A kubeconfig authenticating with a fresh client certificate for `user` in `groups`.
    pub fn kubeconfig_for_user(
        &self,
        user: &str,
        groups: &[&str],
        lifetime: Duration,
    ) -> Result<String, SandboxError> {
        let cert = self.state.authority.client_cert(user, groups, lifetime)?;
        Ok(self.kubeconfig_with(user, &UserAuth::Cert(&cert)))
    }

    /// A kubeconfig authenticating with a bearer token.
    pub fn kubeconfig_for_token(&self, user: &str, token: &str) -> String {
        self.kubeconfig_with(user, &UserAuth::Token(token))
    }

    fn kubeconfig_with(&self, user: &str, auth: &UserAuth<'_>) -> String {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        let credentials = match auth {
            UserAuth::Cert(c) => format!(
                "    client-certificate-data: {}\n    client-key-data: {}\n",
                b64(&c.cert_pem),
                b64(&c.key_pem)
            ),
            UserAuth::Token(t) => format!("    token: {t}\n"),
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n    server: {}\n    certificate-authority-data: {}\ncontexts:\n- name: {user}@sandbox\n  context:\n    cluster: sandbox\n    user: {user}\n    namespace: default\ncurrent-context: {user}@sandbox\nusers:\n- name: {user}\n  user:\n{credentials}",
            self.url(),
            b64(self.ca_pem()),
        )
    }

    /// A kube-rs client for `kubeconfig` text.
    pub async fn client_for(kubeconfig: &str) -> Result<kube::Client, SandboxError> {
        let parsed = kube::config::Kubeconfig::from_yaml(kubeconfig)
            .map_err(|e| SandboxError::Kubeconfig(e.to_string()))?;
        let config = kube::Config::from_custom_kubeconfig(
            parsed,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .map_err(|e| SandboxError::Kubeconfig(e.to_string()))?;
        kube::Client::try_from(config).map_err(|e| SandboxError::Kubeconfig(e.to_string()))
    }

    /// A kube-rs client for the cluster administrator.
    pub async fn admin_client(&self) -> Result<kube::Client, SandboxError> {
        Self::client_for(&self.admin_kubeconfig()).await
    }

    /// Stops accepting, closes open connections and watches.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

enum UserAuth<'a> {
    Cert(&'a CertAndKey),
    Token(&'a str),
}

/// A TLS server configuration with `cert_pem` / `key_pem`, verifying client certificates
/// against `client_ca_pem`; with `client_cert_required` false a client may present none (a
/// bearer token must then authenticate it).
pub(crate) fn tls_config(
    client_ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    client_cert_required: bool,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let tls = |e: &dyn std::fmt::Display| e.to_string();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(client_ca_pem.as_bytes()).map_err(|e| tls(&e))?;
    roots.add(ca).map_err(|e| tls(&e))?;
    let mut verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if !client_cert_required {
        verifier = verifier.allow_unauthenticated();
    }
    let verifier = verifier.build().map_err(|e| tls(&e))?;
    let certs = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| tls(&e))?];
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| tls(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| tls(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let peer = PeerIdentity(
                tls.get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .and_then(|cert| pki::identity_of(cert.as_ref()))
                    .map(|(user, groups)| Identity::new(user, groups)),
            );
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(peer.clone());
                router.clone().oneshot(request)
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service);
            tokio::select! {
                _ = connection => {},
                _ = stopped.changed() => {},
            }
        });
    }
}

/// What every cluster has from its first second: the system namespaces and the default RBAC.
fn bootstrap(store: &Store) -> Result<(), SandboxError> {
    let fail = |e: status::ApiError| SandboxError::Bootstrap(e.message);
    let namespaces = resources::find("", "v1", "namespaces")
        .ok_or_else(|| SandboxError::Bootstrap("no namespaces".into()))?;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        store
            .create(namespaces, "", serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .map_err(fail)?;
    }
    for object in rbac::bootstrap_objects() {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let rt = resources::by_kind(api_version, kind)
            .ok_or_else(|| SandboxError::Bootstrap(format!("unknown kind {kind}")))?;
        store.create(rt, "", object).map_err(fail)?;
    }
    Ok(())
}
