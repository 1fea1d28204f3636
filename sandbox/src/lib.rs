//! The local cluster for Berth's demo and tests: a real Kubernetes control plane and what it
//! lacks on a laptop or a CI machine.
//!
//! - [`control_plane`]: etcd, kube-apiserver, kube-controller-manager and kube-scheduler (built
//!   from upstream by `scripts/kube.sh`) on loopback, with a certificate authority of their own.
//! - [`node_sim`] simulates the nodes and kubelets ([`kubelet`]); [`metrics_api`] serves
//!   `metrics.k8s.io` behind the aggregator; [`loader`] applies [`scenario`]s through the API.
//! - [`local_cluster`] starts all of it in one call; `berth sandbox` and `berth demo` run on it.
//!
//! Nothing here depends on Berth's own crates.

pub mod control_plane;
pub mod kubeconfig;
pub mod kubelet;
pub mod loader;
pub mod local_cluster;
pub mod metrics;
pub mod metrics_api;
pub mod node_sim;
pub mod pki;
pub mod pod_count;
pub mod quantity;
pub mod scenario;
pub mod selectors;

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

pub use pki::PkiError;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("bootstrapping the cluster failed: {0}")]
    Bootstrap(String),
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
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
