//! A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager
//! and kube-scheduler (v1.37, built from the upstream Go modules by `scripts/kube.sh`), started
//! as child processes with a certificate authority of their own, as envtest and kind do.
//!
//! Everything lives in a state directory: the authorities and the service-account key (kept,
//! so kubeconfigs issued earlier stay valid), etcd's data (kept, so a restart finds what was
//! made before), the components' logs and their pids (so a run killed with SIGKILL is cleaned
//! up by the next start).

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::instrument::WithSubscriber;

use crate::kubeconfig::{self, Credentials};
use crate::pki::{Authority, PkiError};

/// The Kubernetes release the binaries are built from (tools/kube/go.mod).
pub const KUBERNETES_VERSION: &str = "v1.37.2";

/// The identity of the administrator's kubeconfig (group `system:masters`).
pub const ADMIN_USER: &str = "sandbox-admin";

const SERVICE_CIDR: &str = "10.96.0.0/16";

#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    #[error(
        "{name} is not built ({path} is missing): run `scripts/kube.sh` (or `make setup`), which builds the control plane from the Go module proxy"
    )]
    MissingBinary { name: &'static str, path: PathBuf },
    #[error("port {port} on 127.0.0.1 is in use: stop what holds it or pass another --port")]
    PortInUse { port: u16 },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("{component} exited ({status}) while starting; its log ({log}) ends:\n{tail}")]
    Died {
        component: &'static str,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("kube-apiserver did not report ready within {secs} s (last answer: {last}); see {log}")]
    NotReady {
        secs: u64,
        last: String,
        log: PathBuf,
    },
    #[error("the cluster's kubeconfig is not usable: {0}")]
    Kubeconfig(String),
}

/// How to start the control plane.
#[derive(Clone, Debug)]
pub struct ControlPlaneOptions {
    /// Where certificates, etcd's data, logs and pids live; reused across runs.
    pub state_dir: PathBuf,
    /// Where `etcd`, `kube-apiserver`, `kube-controller-manager`, `kube-scheduler` are.
    pub bin_dir: PathBuf,
    /// The API server's port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Whether etcd syncs its writes to disk: a demo keeps its data across a crash of the
    /// machine, tests trade that for speed.
    pub durable: bool,
    /// An audit policy (YAML) for kube-apiserver; its log is [`ControlPlane::audit_log`]. Off
    /// by default: a policy that records responses writes whatever they hold to disk.
    pub audit_policy: Option<String>,
    /// Whether the components are killed when the thread that started them ends (start it on
    /// a thread that lives as long as the process): a demo killed with SIGKILL, or a test
    /// binary's shared cluster, which no destructor stops, leaves nothing running. SIGKILL,
    /// since kube-apiserver given SIGTERM after etcd has gone waits on it for minutes.
    pub end_with_parent: bool,
}

impl ControlPlaneOptions {
    pub fn new(state_dir: impl Into<PathBuf>) -> ControlPlaneOptions {
        ControlPlaneOptions {
            state_dir: state_dir.into(),
            bin_dir: default_bin_dir(),
            port: 0,
            durable: true,
            audit_policy: None,
            end_with_parent: false,
        }
    }
}

/// `BERTH_KUBE_BIN`, or where `scripts/kube.sh` puts the binaries by default.
pub fn default_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_KUBE_BIN") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    let base = std::env::var_os("BERTH_KUBE_DIR").map_or_else(
        || home.join(format!(".cache/berth/kube-{KUBERNETES_VERSION}")),
        PathBuf::from,
    );
    base.join("bin")
}

/// The certificates the components share, under `<state>/pki`.
struct Pki {
    dir: PathBuf,
    ca: Authority,
    front_proxy: Authority,
}

impl Pki {
    /// Loads the authorities and the service-account key from `dir`, or makes them.
    fn load_or_create(dir: &Path) -> Result<Pki, ControlPlaneError> {
        create_dir(dir)?;
        let ca = authority(dir, "ca", "berth-sandbox-ca")?;
        let front_proxy = authority(dir, "front-proxy-ca", "berth-sandbox-front-proxy-ca")?;
        let sa_key = dir.join("sa.key");
        if !sa_key.exists() {
            let key = rcgen::KeyPair::generate().map_err(PkiError::from)?;
            write_private(&dir.join("sa.pub"), &key.public_key_pem())?;
            write_private(&sa_key, &key.serialize_pem())?;
        }
        Ok(Pki {
            dir: dir.to_owned(),
            ca,
            front_proxy,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a certificate and key pair as `<name>.crt` / `<name>.key`.
    fn write_pair(
        &self,
        name: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<(), ControlPlaneError> {
        write_private(&self.path(&format!("{name}.crt")), cert_pem)?;
        write_private(&self.path(&format!("{name}.key")), key_pem)
    }
}

fn authority(dir: &Path, name: &str, common_name: &str) -> Result<Authority, ControlPlaneError> {
    let (crt, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    if crt.exists() && key.exists() {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| ControlPlaneError::Io {
                path: p.to_owned(),
                source,
            })
        };
        return Ok(Authority::from_pem(&read(&crt)?, &read(&key)?)?);
    }
    let authority = Authority::named(common_name)?;
    write_private(&crt, authority.ca_pem())?;
    write_private(&key, authority.key_pem())?;
    Ok(authority)
}

/// One running component.
struct Component {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// A running control plane; [`ControlPlane::stop`] (or drop) ends every process it started.
pub struct ControlPlane {
    /// Shared with the watchdog, which reports a component that exits while running.
    components: Arc<Mutex<Vec<Component>>>,
    watchdog: Option<tokio::task::JoinHandle<()>>,
    state_dir: PathBuf,
    url: String,
    ca_pem: String,
    admin_kubeconfig: String,
    pki: Pki,
    end_with_parent: bool,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Starts etcd, the API server, the controller manager and the scheduler, and returns
    /// once the API server's `/readyz` answers ok.
    pub async fn start(options: ControlPlaneOptions) -> Result<ControlPlane, ControlPlaneError> {
        let bins = Binaries::locate(&options.bin_dir)?;
        let state =
            std::path::absolute(&options.state_dir).map_err(|source| ControlPlaneError::Io {
                path: options.state_dir.clone(),
                source,
            })?;
        create_dir(&state)?;
        create_dir(&state.join("logs"))?;
        reap_leftovers(&state, &options.bin_dir);

        let pki = Pki::load_or_create(&state.join("pki"))?;
        // The port is kept across runs when it is still free: kubeconfigs issued earlier name it.
        let port_file = state.join("apiserver.port");
        let api_port = if options.port == 0 {
            std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse::<u16>().ok())
                .and_then(|p| ensure_free(p).ok())
                .map_or_else(free_port, Ok)?
        } else {
            ensure_free(options.port)?
        };
        write_private(&port_file, &api_port.to_string())?;
        let url = format!("https://127.0.0.1:{api_port}");
        issue_certificates(&pki)?;
        let admin = pki.ca.client_cert(
            ADMIN_USER,
            &["system:masters"],
            Duration::from_secs(365 * 24 * 3600),
        )?;
        let admin_kubeconfig = kubeconfig::render(
            &url,
            pki.ca.ca_pem(),
            ADMIN_USER,
            Credentials::Cert {
                cert_pem: &admin.cert_pem,
                key_pem: &admin.key_pem,
            },
        );
        let mut plane = ControlPlane {
            components: Arc::new(Mutex::new(Vec::new())),
            watchdog: None,
            state_dir: state.clone(),
            url,
            ca_pem: pki.ca.ca_pem().to_owned(),
            admin_kubeconfig,
            pki,
            end_with_parent: options.end_with_parent,
        };
        // On any failure below, dropping `plane` stops what was started.
        let etcd_port = free_port()?;
        let peer_port = free_port()?;
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut etcd = vec![
            "--name=sandbox".to_owned(),
            format!("--data-dir={}", state.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=sandbox={peer_url}"),
            "--log-level=warn".to_owned(),
            // The large scenario holds ~60,000 objects; the default 2 GiB quota is tight.
            "--quota-backend-bytes=8589934592".to_owned(),
        ];
        if !options.durable {
            etcd.push("--unsafe-no-fsync".to_owned());
        }
        plane.spawn("etcd", &bins.etcd, &etcd)?;

        let pki = &plane.pki;
        let p = |name: &str| pki.path(name).display().to_string();
        let mut apiserver = vec![
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".to_owned(),
            "--advertise-address=127.0.0.1".to_owned(),
            // The `kubernetes` Service's endpoints may not be loopback; nothing runs in-cluster.
            "--endpoint-reconciler-type=none".to_owned(),
            format!("--secure-port={api_port}"),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            format!("--cert-dir={}", state.join("pki").display()),
            format!("--tls-cert-file={}", p("apiserver.crt")),
            format!("--tls-private-key-file={}", p("apiserver.key")),
            format!("--client-ca-file={}", p("ca.crt")),
            "--authorization-mode=Node,RBAC".to_owned(),
            "--enable-admission-plugins=NodeRestriction".to_owned(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_owned(),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            // The aggregator: metrics.k8s.io is served by the node simulator behind it.
            format!("--requestheader-client-ca-file={}", p("front-proxy-ca.crt")),
            "--requestheader-allowed-names=front-proxy-client".to_owned(),
            "--requestheader-username-headers=X-Remote-User".to_owned(),
            "--requestheader-group-headers=X-Remote-Group".to_owned(),
            "--requestheader-extra-headers-prefix=X-Remote-Extra-".to_owned(),
            format!("--proxy-client-cert-file={}", p("front-proxy-client.crt")),
            format!("--proxy-client-key-file={}", p("front-proxy-client.key")),
            // One client (a scenario loader, Berth's tests) may write thousands of objects.
            "--max-requests-inflight=800".to_owned(),
            "--max-mutating-requests-inflight=400".to_owned(),
            "--profiling=false".to_owned(),
        ];
        if let Some(policy) = &options.audit_policy {
            let file = state.join("audit-policy.yaml");
            write_private(&file, policy)?;
            let _ = std::fs::remove_file(plane.audit_log());
            apiserver.extend([
                format!("--audit-policy-file={}", file.display()),
                format!("--audit-log-path={}", plane.audit_log().display()),
                // Each event is written as it happens, so a test reads what it just caused.
                "--audit-log-mode=blocking".to_owned(),
                "--audit-log-maxsize=0".to_owned(),
            ]);
        }
        plane.spawn("kube-apiserver", &bins.apiserver, &apiserver)?;
        plane.wait_ready(Duration::from_secs(120)).await?;

        let kcm_kubeconfig = plane.component_kubeconfig("system:kube-controller-manager")?;
        let pki = &plane.pki;
        let p = |name: &str| pki.path(name).display().to_string();
        let mut controller_manager = component_flags(&kcm_kubeconfig)?;
        controller_manager.extend([
            // Signs approved `kubernetes.io/kube-apiserver-client` CSRs with the cluster CA, so
            // the kubeconfigs Berth issues authenticate.
            format!("--cluster-signing-cert-file={}", p("ca.crt")),
            format!("--cluster-signing-key-file={}", p("ca.key")),
            format!("--root-ca-file={}", p("ca.crt")),
            format!("--service-account-private-key-file={}", p("sa.key")),
            "--use-service-account-credentials=true".to_owned(),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            "--concurrent-deployment-syncs=10".to_owned(),
            "--concurrent-replicaset-syncs=10".to_owned(),
        ]);
        plane.spawn(
            "kube-controller-manager",
            &bins.controller_manager,
            &controller_manager,
        )?;
        let scheduler_kubeconfig = plane.component_kubeconfig("system:kube-scheduler")?;
        let scheduler = component_flags(&scheduler_kubeconfig)?;
        plane.spawn("kube-scheduler", &bins.scheduler, &scheduler)?;
        plane.write_pids()?;
        // Both must have stayed up past their own start-up checks.
        tokio::time::sleep(Duration::from_millis(500)).await;
        plane.check_alive()?;
        plane.watchdog = Some(tokio::spawn(watch(plane.components.clone())));
        Ok(plane)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.url
            .trim_start_matches("https://")
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Where kube-apiserver writes audit events (JSON lines) when started with a policy.
    pub fn audit_log(&self) -> PathBuf {
        self.state_dir.join("logs").join("audit.log")
    }

    /// The cluster's certificate authority, which also signs approved client CSRs.
    pub fn authority(&self) -> &Authority {
        &self.pki.ca
    }

    /// The aggregator's CA: aggregated API servers trust client certificates it signed.
    pub fn front_proxy_ca_pem(&self) -> &str {
        self.pki.front_proxy.ca_pem()
    }

    /// A kubeconfig for the administrator (group `system:masters`).
    pub fn admin_kubeconfig(&self) -> &str {
        &self.admin_kubeconfig
    }

    /// A kubeconfig with a fresh client certificate for `user` in `groups`.
    pub fn kubeconfig_for_user(
        &self,
        user: &str,
        groups: &[&str],
        lifetime: Duration,
    ) -> Result<String, ControlPlaneError> {
        let cert = self.pki.ca.client_cert(user, groups, lifetime)?;
        Ok(kubeconfig::render(
            &self.url,
            &self.ca_pem,
            user,
            Credentials::Cert {
                cert_pem: &cert.cert_pem,
                key_pem: &cert.key_pem,
            },
        ))
    }

    /// A kubeconfig authenticating with a bearer token (a ServiceAccount's, say).
    pub fn kubeconfig_for_token(&self, user: &str, token: &str) -> String {
        kubeconfig::render(&self.url, &self.ca_pem, user, Credentials::Token(token))
    }

    pub async fn admin_client(&self) -> Result<kube::Client, ControlPlaneError> {
        kubeconfig::client(&self.admin_kubeconfig)
            .await
            .map_err(ControlPlaneError::Kubeconfig)
    }

    /// Each running component's name and pid (for memory figures).
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        lock(&self.components)
            .iter()
            .map(|c| (c.name, c.child.id()))
            .collect()
    }

    /// An error naming the first component that has exited, if any has.
    pub fn check_alive(&self) -> Result<(), ControlPlaneError> {
        exited(&mut lock(&self.components)).map_or(Ok(()), Err)
    }

    /// Stops every component, the scheduler first and etcd last, each with SIGTERM and, if it
    /// lingers past ten seconds, SIGKILL.
    pub fn stop(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.abort();
        }
        let mut components = std::mem::take(&mut *lock(&self.components));
        while let Some(mut c) = components.pop() {
            terminate(&mut c.child, Duration::from_secs(10));
        }
        let _ = std::fs::remove_file(self.state_dir.join("pids"));
    }

    fn spawn(
        &mut self,
        name: &'static str,
        binary: &Path,
        args: &[String],
    ) -> Result<(), ControlPlaneError> {
        let log = self.state_dir.join("logs").join(format!("{name}.log"));
        let file = std::fs::File::create(&log).map_err(|source| ControlPlaneError::Io {
            path: log.clone(),
            source,
        })?;
        let err = file.try_clone().map_err(|source| ControlPlaneError::Io {
            path: log.clone(),
            source,
        })?;
        let mut command = Command::new(binary);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err);
        if self.end_with_parent {
            end_with_parent(&mut command, nix::sys::signal::Signal::SIGKILL);
        }
        let child = command.spawn().map_err(|source| ControlPlaneError::Io {
            path: binary.to_owned(),
            source,
        })?;
        tracing::debug!(component = name, pid = child.id(), "started");
        lock(&self.components).push(Component { name, child, log });
        self.write_pids()
    }

    /// Records the components' pids, so a next start can end them if this process is killed.
    fn write_pids(&self) -> Result<(), ControlPlaneError> {
        let text: String = lock(&self.components)
            .iter()
            .map(|c| format!("{} {}\n", c.name, c.child.id()))
            .collect();
        write_private(&self.state_dir.join("pids"), &text)
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<(), ControlPlaneError> {
        let client = self.admin_client().await?;
        let start = Instant::now();
        let mut last = "no answer yet".to_owned();
        let addr = self.addr();
        while start.elapsed() < limit {
            self.check_alive()?;
            // Until the port accepts, the client would only log connection errors.
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            // kube-rs logs every non-2xx answer as an error: a starting server's 500s are
            // expected here, so this call's events go nowhere.
            let request = http::Request::get("/readyz").body(kube::client::Body::empty());
            match request {
                Ok(request) => match client
                    .send(request)
                    .with_subscriber(tracing::subscriber::NoSubscriber::default())
                    .await
                {
                    Ok(response) if response.status().is_success() => return Ok(()),
                    Ok(response) => last = format!("HTTP {}", response.status()),
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(ControlPlaneError::NotReady {
            secs: limit.as_secs(),
            last,
            log: self.state_dir.join("logs/kube-apiserver.log"),
        })
    }

    /// A kubeconfig file for a control-plane component, as `user` in `system:masters`.
    fn component_kubeconfig(&self, user: &str) -> Result<PathBuf, ControlPlaneError> {
        let cert = self.pki.ca.client_cert(
            user,
            &["system:masters"],
            Duration::from_secs(365 * 24 * 3600),
        )?;
        let path = self
            .state_dir
            .join(format!("{}.kubeconfig", user.trim_start_matches("system:")));
        write_private(
            &path,
            &kubeconfig::render(
                &self.url,
                &self.ca_pem,
                user,
                Credentials::Cert {
                    cert_pem: &cert.cert_pem,
                    key_pem: &cert.key_pem,
                },
            ),
        )?;
        Ok(path)
    }
}

fn lock(components: &Mutex<Vec<Component>>) -> std::sync::MutexGuard<'_, Vec<Component>> {
    components.lock().unwrap_or_else(|p| p.into_inner())
}

/// The first component that has exited, as an error naming it with the end of its log.
fn exited(components: &mut [Component]) -> Option<ControlPlaneError> {
    components.iter_mut().find_map(|c| {
        let status = c.child.try_wait().ok().flatten()?;
        Some(ControlPlaneError::Died {
            component: c.name,
            status: status.to_string(),
            tail: log_tail(&c.log),
            log: c.log.clone(),
        })
    })
}

/// Reports, once each, a component that exits while the cluster runs: requests then fail,
/// and the log says which process went and why.
async fn watch(components: Arc<Mutex<Vec<Component>>>) {
    let mut reported = std::collections::HashSet::new();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut components = lock(&components);
        for c in components.iter_mut() {
            let Ok(Some(status)) = c.child.try_wait() else {
                continue;
            };
            if reported.insert(c.name) {
                tracing::error!(
                    component = c.name,
                    %status,
                    log = %c.log.display(),
                    "a control-plane process exited; the cluster is down until Berth is restarted. Its log ends:\n{}",
                    log_tail(&c.log)
                );
            }
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// The flags the controller manager and the scheduler share: their kubeconfig (for the API
/// and for delegated authentication and authorisation of their own endpoints), a free port
/// on loopback, one instance (no leader election), and client limits high enough to create
/// and bind tens of thousands of pods.
fn component_flags(kubeconfig: &Path) -> Result<Vec<String>, ControlPlaneError> {
    let k = kubeconfig.display();
    Ok(vec![
        format!("--kubeconfig={k}"),
        format!("--authentication-kubeconfig={k}"),
        format!("--authorization-kubeconfig={k}"),
        "--bind-address=127.0.0.1".to_owned(),
        format!("--secure-port={}", free_port()?),
        "--leader-elect=false".to_owned(),
        "--kube-api-qps=400".to_owned(),
        "--kube-api-burst=800".to_owned(),
        "--profiling=false".to_owned(),
    ])
}

/// The API server's serving certificate and the aggregator's client certificate, renewed at
/// every start (the authorities they chain to are kept).
fn issue_certificates(pki: &Pki) -> Result<(), ControlPlaneError> {
    let localhost = IpAddr::from([127, 0, 0, 1]);
    let service_ip = IpAddr::from([10, 96, 0, 1]);
    let serving = pki.ca.serving_cert_for(
        "kube-apiserver",
        &[
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
        &[localhost, service_ip],
    )?;
    pki.write_pair("apiserver", &serving.cert_pem, &serving.key_pem)?;
    let proxy = pki.front_proxy.client_cert(
        "front-proxy-client",
        &[],
        Duration::from_secs(365 * 24 * 3600),
    )?;
    pki.write_pair("front-proxy-client", &proxy.cert_pem, &proxy.key_pem)
}

struct Binaries {
    etcd: PathBuf,
    apiserver: PathBuf,
    controller_manager: PathBuf,
    scheduler: PathBuf,
}

impl Binaries {
    fn locate(dir: &Path) -> Result<Binaries, ControlPlaneError> {
        let find = |name: &'static str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(ControlPlaneError::MissingBinary { name, path })
            }
        };
        Ok(Binaries {
            etcd: find("etcd")?,
            apiserver: find("kube-apiserver")?,
            controller_manager: find("kube-controller-manager")?,
            scheduler: find("kube-scheduler")?,
        })
    }
}

/// Ends components an earlier run left behind (it was killed before it could stop them):
/// only pids recorded in the state directory whose program is one of ours.
fn reap_leftovers(state: &Path, bin_dir: &Path) {
    let Ok(text) = std::fs::read_to_string(state.join("pids")) else {
        return;
    };
    for line in text.lines() {
        let Some(pid) = line
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        if !exe.is_some_and(|e| e.starts_with(bin_dir)) {
            continue;
        }
        tracing::warn!(pid, "ending a control-plane process left by an earlier run");
        let pid = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        // Not our child: wait until it is gone or a zombie its new parent has yet to reap.
        let start = Instant::now();
        while is_running(pid.as_raw()) && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = std::fs::remove_file(state.join("pids"));
}

fn is_running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The state follows the command name, which is in parentheses and may hold spaces.
            let after = stat.rsplit_once(')')?.1;
            after
                .split_whitespace()
                .next()
                .map(|s| s != "Z" && s != "X")
        })
        .unwrap_or(false)
}

/// Asks the kernel to send the child `signal` when the thread that spawned it ends (the
/// signal is set after any uid change, which would clear it).
#[allow(unsafe_code)] // `pre_exec` is unsafe; prctl is async-signal-safe, as it must be there.
pub fn end_with_parent(command: &mut Command, signal: nix::sys::signal::Signal) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and calls only prctl(2).
    unsafe {
        command
            .pre_exec(move || nix::sys::prctl::set_pdeathsig(signal).map_err(std::io::Error::from));
    }
}

fn terminate(child: &mut Child, grace: Duration) {
    let Ok(pid) = i32::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    );
    let start = Instant::now();
    while start.elapsed() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn free_port() -> Result<u16, ControlPlaneError> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|source| ControlPlaneError::Io {
        path: PathBuf::from("127.0.0.1:0"),
        source,
    })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| ControlPlaneError::Io {
            path: PathBuf::from("127.0.0.1:0"),
            source,
        })
}

fn ensure_free(port: u16) -> Result<u16, ControlPlaneError> {
    TcpListener::bind(("127.0.0.1", port))
        .map(|_| port)
        .map_err(|_| ControlPlaneError::PortInUse { port })
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn create_dir(path: &Path) -> Result<(), ControlPlaneError> {
    std::fs::create_dir_all(path).map_err(|source| ControlPlaneError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes a file only its owner can read: keys and kubeconfigs.
fn write_private(path: &Path, text: &str) -> Result<(), ControlPlaneError> {
    kubeconfig::write_private(path, text).map_err(|source| ControlPlaneError::Io {
        path: path.to_owned(),
        source,
    })
}
