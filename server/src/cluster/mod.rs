//! Everything that talks to Kubernetes, through kube-rs. Berth connects to the sandbox of
//! `berth demo` exactly as to a real cluster: with a kubeconfig, or in-cluster config in a pod.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use domain::health::Check;

/// `kube::Resource` for a projection the caches read off the wire in place of a built-in
/// namespaced kind (`metadata` field, the kind's group, version and plural).
macro_rules! namespaced_projection {
    ($type:ty, $kind:literal, $group:literal, $version:literal, $plural:literal) => {
        impl kube::Resource for $type {
            type DynamicType = ();
            type Scope = k8s_openapi::NamespaceResourceScope;

            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($kind)
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($group)
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($version)
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($plural)
            }
            fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &self.metadata
            }
            fn meta_mut(
                &mut self,
            ) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

pub mod apply;
pub mod cache;
pub mod csr;
pub mod deletes;
pub mod deployment;
pub mod fleet;
pub mod grants;
pub mod lists;
pub mod namespace_index;
pub mod pod;
pub mod pod_metrics;
pub mod replica_set;
pub mod template;
pub mod workloads;

/// How long a readiness probe may wait for the API server.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The name a cluster gets when the configuration names none (one-cluster installations).
pub const DEFAULT_NAME: &str = "default";

#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// How pages, URLs, audit events and kubeconfig contexts name it (a DNS label).
    pub name: String,
    pub display_name: String,
    pub region: String,
    pub environment: String,
    /// A kubeconfig file; without one, in-cluster config or the usual KUBECONFIG lookup.
    pub kubeconfig: Option<PathBuf>,
    /// A context of that kubeconfig other than its current one.
    pub context: Option<String>,
    /// The API address users reach, for the kubeconfigs Berth hands out: inside a cluster
    /// Berth's own address is the internal service, which nobody outside can reach.
    pub public_server: Option<String>,
    /// With `token_secret`, instead of a kubeconfig: the API address Berth uses.
    pub api_server: Option<String>,
    /// `namespace/name` of a Secret on the home cluster with `token` and `ca.crt` for this one.
    pub token_secret: Option<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            name: DEFAULT_NAME.to_owned(),
            display_name: String::new(),
            region: String::new(),
            environment: String::new(),
            kubeconfig: None,
            context: None,
            public_server: None,
            api_server: None,
            token_secret: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "cannot read the kubeconfig {path}: {reason}; fix BERTH_CLUSTER_KUBECONFIG or `cluster.kubeconfig`"
    )]
    Kubeconfig { path: PathBuf, reason: String },
    #[error(
        "no cluster configured: set BERTH_CLUSTER_KUBECONFIG (or `cluster.kubeconfig`), or run \
         Berth in a pod with a service account ({0})"
    )]
    NoConfig(String),
    #[error("cannot build a Kubernetes client: {0}")]
    Client(String),
    #[error("cannot use the token Secret {secret}: {reason}")]
    TokenSecret { secret: String, reason: String },
}

/// A connection to the cluster's API server.
#[derive(Clone)]
pub struct Cluster {
    /// Its name in the fleet.
    name: String,
    client: kube::Client,
    /// The API server's URL, for messages and the kubeconfigs Berth hands out.
    server: String,
    /// What kubeconfigs for users name as the server, when it differs from `server`.
    public_server: Option<String>,
    /// The CA the API server's certificate chains to (PEM), when the config names one.
    ca_pem: Option<String>,
    /// The namespace Berth's own pod runs in, when it runs in the cluster.
    own_namespace: Option<String>,
    /// The resourceVersion of the token Secret the client's credentials came from: a new one
    /// means rotated credentials.
    credentials_version: Option<String>,
}

/// Where the kubelet tells a pod its namespace.
const SERVICE_ACCOUNT_NAMESPACE_FILE: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.name)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Builds the client; does not require the API server to answer yet (readiness reports it).
    pub async fn connect(config: &ClusterConfig) -> Result<Cluster, ClusterError> {
        Cluster::connect_with(config, None).await
    }

    /// Builds the client of another cluster of the fleet, whose token Secret (if it names
    /// one) the `home` cluster holds.
    pub async fn connect_member(
        config: &ClusterConfig,
        home: &Cluster,
    ) -> Result<Cluster, ClusterError> {
        Cluster::connect_with(config, Some(home)).await
    }

    async fn connect_with(
        config: &ClusterConfig,
        home: Option<&Cluster>,
    ) -> Result<Cluster, ClusterError> {
        if let Some(secret) = &config.token_secret {
            let home = home.ok_or_else(|| ClusterError::TokenSecret {
                secret: secret.clone(),
                reason: "the home cluster cannot be reached through a Secret on itself".to_owned(),
            })?;
            let (kubeconfig, version) = home.token_kubeconfig(config, secret).await?;
            let options = kube::config::KubeConfigOptions::default();
            let kube_config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| ClusterError::TokenSecret {
                    secret: secret.clone(),
                    reason: e.to_string(),
                })?;
            let mut cluster = Cluster::of(config, kube_config)?;
            cluster.credentials_version = Some(version);
            return Ok(cluster);
        }
        let options = kube::config::KubeConfigOptions {
            context: config.context.clone(),
            ..Default::default()
        };
        let kube_config = match &config.kubeconfig {
            Some(path) => {
                let fail = |reason: String| ClusterError::Kubeconfig {
                    path: path.clone(),
                    reason,
                };
                let kubeconfig =
                    kube::config::Kubeconfig::read_from(path).map_err(|e| fail(e.to_string()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| fail(e.to_string()))?
            }
            None => kube::Config::infer()
                .await
                .map_err(|e| ClusterError::NoConfig(e.to_string()))?,
        };
        Cluster::of(config, kube_config)
    }

    fn of(config: &ClusterConfig, kube_config: kube::Config) -> Result<Cluster, ClusterError> {
        // Without a trailing slash, as kubeconfigs write it.
        let server = kube_config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned();
        let ca_pem = kube_config.root_cert.as_ref().map(|certs| {
            certs
                .iter()
                .map(|der| pem::encode(&pem::Pem::new("CERTIFICATE", der.clone())))
                .collect::<String>()
        });
        let client =
            kube::Client::try_from(kube_config).map_err(|e| ClusterError::Client(e.to_string()))?;
        // Only a pod knows its namespace; a kubeconfig's default namespace says nothing about
        // where Berth runs.
        let own_namespace = std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE_FILE)
            .ok()
            .map(|text| text.trim().to_owned())
            .filter(|ns| !ns.is_empty());
        Ok(Cluster {
            name: config.name.clone(),
            client,
            public_server: config
                .public_server
                .as_ref()
                .map(|s| s.trim_end_matches('/').to_owned()),
            server,
            ca_pem,
            own_namespace,
            credentials_version: None,
        })
    }

    /// A kubeconfig for cluster `config` from the token Secret `secret` on this (the home)
    /// cluster, and the Secret's resourceVersion. Read by a list narrowed to its name: the
    /// chart grants Berth a list of Secrets (the unused scan needs it) and nothing more.
    async fn token_kubeconfig(
        &self,
        config: &ClusterConfig,
        secret: &str,
    ) -> Result<(kube::config::Kubeconfig, String), ClusterError> {
        use base64::Engine;
        let fail = |reason: String| token_secret_error(secret, reason);
        let server = config
            .api_server
            .as_deref()
            .ok_or_else(|| fail("no api_server to use it with".to_owned()))?;
        let (namespace, name) = domain::fleet::parse_secret_ref(secret).map_err(fail)?;
        let (api, by_name) = self.token_secret_lookup(secret)?;
        let listed = api.list(&by_name).await.map_err(|e| {
            fail(format!(
                "the home cluster did not give it: {}",
                first_line(&e.to_string())
            ))
        })?;
        let found = listed.items.into_iter().next().ok_or_else(|| {
            fail(format!(
                "no Secret {name} in namespace {namespace} of the home cluster"
            ))
        })?;
        let data = found.data.unwrap_or_default();
        let text = |key: &str| {
            data.get(key)
                .map(|b| String::from_utf8_lossy(&b.0).trim().to_owned())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| fail(format!("it has no {key}")))
        };
        let token = text("token")?;
        let ca = text("ca.crt")?;
        if !ca.contains("-----BEGIN CERTIFICATE-----") {
            return Err(fail("its ca.crt is not a PEM certificate".to_owned()));
        }
        let kubeconfig: kube::config::Kubeconfig = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{ "name": config.name, "cluster": {
                "server": server,
                "certificate-authority-data":
                    base64::engine::general_purpose::STANDARD.encode(ca.as_bytes()),
            }}],
            "users": [{ "name": "berth", "user": { "token": token } }],
            "contexts": [{ "name": config.name, "context": {
                "cluster": config.name, "user": "berth",
            }}],
            "current-context": config.name,
        }))
        .map_err(|e| fail(e.to_string()))?;
        Ok((
            kubeconfig,
            found.metadata.resource_version.unwrap_or_default(),
        ))
    }

    /// The token Secret's resourceVersion now, to tell whether the credentials were rotated.
    pub async fn token_secret_version(&self, secret: &str) -> Result<String, ClusterError> {
        let fail = |reason: String| token_secret_error(secret, reason);
        let (api, by_name) = self.token_secret_lookup(secret)?;
        let listed = api
            .list_metadata(&by_name)
            .await
            .map_err(|e| fail(first_line(&e.to_string())))?;
        listed
            .items
            .into_iter()
            .next()
            .and_then(|s| s.metadata.resource_version)
            .ok_or_else(|| fail("it is gone".to_owned()))
    }

    /// Where a token Secret (`namespace/name`) is read on this cluster: a list of its
    /// namespace's Secrets narrowed to its name.
    fn token_secret_lookup(
        &self,
        secret: &str,
    ) -> Result<
        (
            kube::Api<k8s_openapi::api::core::v1::Secret>,
            kube::api::ListParams,
        ),
        ClusterError,
    > {
        let (namespace, name) = domain::fleet::parse_secret_ref(secret)
            .map_err(|why| token_secret_error(secret, why))?;
        Ok((
            kube::Api::namespaced(self.client.clone(), namespace),
            kube::api::ListParams::default().fields(&format!("metadata.name={name}")),
        ))
    }

    /// The resourceVersion of the token Secret the credentials came from, if they did.
    pub fn credentials_version(&self) -> Option<&str> {
        self.credentials_version.as_deref()
    }

    pub fn server_url(&self) -> &str {
        &self.server
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address users' kubectl is given: the public one when configured.
    pub fn public_server_url(&self) -> &str {
        self.public_server.as_deref().unwrap_or(&self.server)
    }

    /// The namespace Berth's pod runs in (in-cluster only).
    pub fn own_namespace(&self) -> Option<&str> {
        self.own_namespace.as_deref()
    }

    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Whether the API server answers, and which version it runs.
    pub async fn probe(&self) -> Check {
        let check = format!("cluster {}", self.name);
        let started = Instant::now();
        match tokio::time::timeout(PROBE_TIMEOUT, self.client.apiserver_version()).await {
            Ok(Ok(version)) => Check::ok(
                check,
                format!(
                    "answered in {} ms, Kubernetes {}",
                    started.elapsed().as_millis(),
                    version.git_version
                ),
            ),
            Ok(Err(err)) => Check::failed(
                check,
                format!(
                    "{} did not answer: {}",
                    self.server,
                    first_line(&err.to_string())
                ),
            ),
            Err(_) => Check::failed(
                check,
                format!(
                    "{} gave no answer within {} s",
                    self.server,
                    PROBE_TIMEOUT.as_secs()
                ),
            ),
        }
    }
}

fn token_secret_error(secret: &str, reason: String) -> ClusterError {
    ClusterError::TokenSecret {
        secret: secret.to_owned(),
        reason,
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}
