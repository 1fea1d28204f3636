//! `berth demo`: everything on one machine. A private Postgres under the state directory
//! unless a database URL is given, migrations, then the portal on 127.0.0.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sandbox::SandboxError;
use sandbox::control_plane::{ControlPlane, ControlPlaneOptions};
use sandbox::local_cluster::{LocalCluster, LocalClusterOptions};
use sandbox::scenario::Scenario;

use crate::cli::DemoArgs;
use crate::cluster::Cluster;
use crate::config::{Config, Mode};
use crate::error::Error;
use crate::http;
use crate::serve::{environment, serve_with, warn_if_site_missing};
use crate::store::local_postgres::{Durability, LocalPostgres, LocalPostgresError, PgBinaries};
use crate::store::{self, Store};
use crate::telemetry;

const DATABASE: &str = "berth";

pub async fn run(args: DemoArgs) -> Result<(), Error> {
    let mut config = Config::load(Mode::Demo, args.config.as_deref(), &environment())?;
    config.listen = SocketAddr::from(([127, 0, 0, 1], args.port));
    telemetry::init(&config.log)?;

    let listener = http::bind(config.listen, "pass another --port").await?;

    let state_dir = absolute(&args.state_dir)?;
    std::fs::create_dir_all(&state_dir).map_err(|source| LocalPostgresError::Io {
        path: state_dir.clone(),
        source,
    })?;
    say(&format!("State directory: {}", state_dir.display()));
    // One demo per state directory; what a killed one left running is ended below.
    let _owner = DemoOwner::claim(&state_dir)?;

    // Kept alive until the server has drained, then stopped cleanly.
    let mut local = None;
    let url = match config.database.url.clone() {
        Some(url) => url,
        None => {
            let pg = start_local_postgres(&state_dir)?;
            store::ensure_database(&pg.url("postgres"), DATABASE).await?;
            let url = pg.url(DATABASE);
            local = Some(pg);
            url
        }
    };

    // The local cluster (a real control plane with simulated nodes) with the demo company,
    // unless a cluster was configured. Berth reaches it through a kubeconfig file, as `serve`
    // reaches any other; etcd's data lives in the state directory, so what was provisioned
    // survives a restart.
    let mut local_clusters = Vec::new();
    if config.cluster.kubeconfig.is_none() {
        say(
            "Starting two local clusters, eu-prod and us-dev (etcd, kube-apiserver, controller manager, scheduler, simulated nodes)…",
        );
        // Both at once: most of a start is waiting for the API servers.
        let (eu, us) = tokio::join!(
            start_local_cluster(&state_dir, "cluster", "demo", args.cluster_port),
            start_local_cluster(&state_dir, "cluster-us-dev", "us-dev", 0),
        );
        let (eu, us) = (eu?, us?);
        let admin = state_dir.join("sandbox.kubeconfig");
        write_private(&admin, eu.control_plane().admin_kubeconfig())?;
        let admin_us = state_dir.join("sandbox-us-dev.kubeconfig");
        write_private(&admin_us, us.control_plane().admin_kubeconfig())?;
        say(&format!(
            "Local clusters (Kubernetes {}): eu-prod at {} (kubectl: KUBECONFIG={} kubectl get pods -A), us-dev at {} (KUBECONFIG={})",
            sandbox::control_plane::KUBERNETES_VERSION,
            eu.url(),
            admin.display(),
            us.url(),
            admin_us.display()
        ));
        // The visitor's kubectl is the admin; Berth itself runs as it would when installed.
        let berth = state_dir.join("berth.kubeconfig");
        write_private(
            &berth,
            &chart_service_account_kubeconfig(eu.control_plane()).await?,
        )?;
        let berth_us = state_dir.join("berth-us-dev.kubeconfig");
        write_private(
            &berth_us,
            &chart_service_account_kubeconfig(us.control_plane()).await?,
        )?;
        config.cluster = crate::cluster::ClusterConfig {
            name: "eu-prod".to_owned(),
            display_name: "EU production".to_owned(),
            region: "eu-west-1".to_owned(),
            environment: "production".to_owned(),
            kubeconfig: Some(berth),
            ..config.cluster.clone()
        };
        config.clusters.push(crate::cluster::ClusterConfig {
            name: "us-dev".to_owned(),
            display_name: "US development".to_owned(),
            region: "us-east-1".to_owned(),
            environment: "development".to_owned(),
            kubeconfig: Some(berth_us),
            ..crate::cluster::ClusterConfig::default()
        });
        local_clusters = vec![eu, us];
    }
    let cluster = Cluster::connect(&config.cluster).await?;

    // The demo keys its audit chain as production should: a key kept beside the state, not in
    // the database, and checkpoints in a file `berth audit verify` reads.
    if config.audit.key.is_none() {
        config.audit.key = Some(demo_audit_key(&state_dir)?);
        config.audit.checkpoint_file = Some(state_dir.join("audit-checkpoints.jsonl"));
        say(&format!(
            "Audit key: {} (verify: BERTH_AUDIT_KEY_FILE={} BERTH_AUDIT_CHECKPOINT_FILE={} berth audit verify)",
            state_dir.join("audit.key").display(),
            state_dir.join("audit.key").display(),
            state_dir.join("audit-checkpoints.jsonl").display()
        ));
    }
    let store = Store::connect_keyed(&url, &config.database, config.audit.key.clone()).await?;
    store.migrate().await?;
    seed_requests(&store).await.map_err(Error::Store)?;
    if !local_clusters.is_empty() {
        say("Usage history: a first start imports 30 days…");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut others = Vec::new();
        for c in &config.clusters {
            others.push((c.name.clone(), Cluster::connect(c).await?));
        }
        let mut clusters = vec![("", cluster.client())];
        clusters.extend(others.iter().map(|(n, c)| (n.as_str(), c.client())));
        let hours =
            crate::demo_history::seed(&store, &clusters, &config.usage.labels, 30, now).await?;
        if hours > 0 {
            say(&format!(
                "Usage history: 30 days ({hours} container-hours) imported"
            ));
        }
    }
    warn_if_site_missing(&config);
    say(&format!(
        "Berth demo is running at http://{}/  (Ctrl-C to stop)",
        config.listen
    ));
    let result = serve_with(
        listener,
        store.clone(),
        cluster,
        &config,
        http::shutdown_signal(),
    )
    .await;
    store.close().await;
    for cluster in local_clusters {
        cluster.stop();
    }
    if let Some(pg) = local {
        pg.stop();
        say(&format!(
            "Postgres stopped; data kept in {}",
            args.state_dir.display()
        ));
    }
    result
}

/// Namespace requests of the demo company on a fresh demo: two granted (the provisioner makes
/// them when the server starts), one a day from expiry, one large one waiting for Mike.
async fn seed_requests(store: &Store) -> Result<(), crate::store::StoreError> {
    use domain::tenancy::{Lifetime, NamespaceDraft, Plan, RequestState, seed_tiers};

    if !store
        .namespace_requests(None, "", None, 1)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    store.seed_tiers(&seed_tiers()).await?;
    seed_prices(store).await?;
    let tiers = store.tiers().await?;
    let seeds = [
        (
            "payments-sandbox",
            "payments",
            "small",
            Lifetime::SevenDays,
            "Try the new ledger",
        ),
        (
            "checkout-experiments",
            "checkout",
            "medium",
            Lifetime::ThirtyDays,
            "A/B tests of the cart",
        ),
        (
            "payments-hotfix",
            "payments",
            "small",
            Lifetime::OneDay,
            "Reproduce a refund bug",
        ),
        (
            "payments-perf",
            "payments",
            "large",
            Lifetime::SevenDays,
            "Load test before the sale",
        ),
    ];
    for (index, (name, team, tier, lifetime, purpose)) in seeds.into_iter().enumerate() {
        let Some(spec) = tiers
            .iter()
            .find(|t| t.name == tier)
            .map(|t| t.spec.clone())
        else {
            continue;
        };
        let approved = !domain::tenancy::needs_approval(&spec, lifetime);
        let plan = Plan {
            request_id: format!("nr-demo{index:05}"),
            draft: NamespaceDraft {
                name: name.to_owned(),
                team: team.to_owned(),
                purpose: purpose.to_owned(),
                contact: "dana@example.com".to_owned(),
                cost_centre: "CC-1042".to_owned(),
                tier: tier.to_owned(),
                lifetime: lifetime.as_str().to_owned(),
                network_policy: true,
                cluster: String::new(),
            },
            requester: "demo:dana".to_owned(),
            tier: spec,
            expires_at: None,
        };
        let event = domain::audit::NewEvent {
            actor_id: "demo:dana".to_owned(),
            actor_display: "Dana Developer".to_owned(),
            actor_roles: vec!["developer".to_owned()],
            source: "demo seed".to_owned(),
            request_id: plan.request_id.clone(),
            action: "namespace.request".to_owned(),
            target_kind: "Namespace".to_owned(),
            target_namespace: name.to_owned(),
            target_cluster: String::new(),
            target_name: name.to_owned(),
            before: None,
            after: None,
            outcome: "success".to_owned(),
        };
        let new = crate::store::tenancy::NewRequest {
            plan,
            requester_name: "Dana Developer".to_owned(),
            state: if approved {
                RequestState::Approved
            } else {
                RequestState::Pending
            },
            expires_in_secs: lifetime.seconds().filter(|_| approved),
            decided_by: approved.then(crate::store::tenancy::Decider::policy),
            decision_reason: approved.then(|| format!("tier {tier} needs no approval")),
        };
        store.create_namespace_request(new, event).await?;
    }
    Ok(())
}

/// The demo company's price list: AWS on-demand prices in eu-west-1 for its three instance
/// types, split into a core-hour and a GiB-hour (m5.2xlarge $0.428 an hour for 8 cores and
/// 32 GiB, m5.4xlarge $0.856 for 16 and 64, r5.2xlarge $0.564 for 8 and 64: memory-optimised,
/// so its GiB is cheaper). Saved as an admin would, audited.
async fn seed_prices(store: &Store) -> Result<(), crate::store::StoreError> {
    use domain::cost::{Prices, RateOverride, Rates};
    const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
    let m5 = Rates {
        cpu_core_hour: 0.034826,
        memory_gib_hour: 0.004668,
        gpu_hour: 0.95,
    };
    let r5 = Rates {
        memory_gib_hour: 0.004459,
        ..m5
    };
    // us-dev runs in a cheaper region (and on smaller nodes): its own rates come first.
    let us_east = Rates {
        cpu_core_hour: 0.024,
        memory_gib_hour: 0.0032,
        gpu_hour: 0.95,
    };
    let prices = Prices {
        overrides: [
            ("us-dev", "m5.xlarge", us_east),
            ("", "m5.2xlarge", m5),
            ("", "m5.4xlarge", m5),
            ("", "r5.2xlarge", r5),
        ]
        .into_iter()
        .map(|(cluster, value, rates)| RateOverride {
            cluster: cluster.to_owned(),
            label: INSTANCE_TYPE.to_owned(),
            value: value.to_owned(),
            rates,
        })
        .collect(),
        ..Prices::default()
    };
    store
        .save_prices(&prices, "demo:ada", |before| {
            Ok::<_, crate::store::StoreError>(domain::audit::NewEvent {
                actor_id: "demo:ada".to_owned(),
                actor_display: "Ada Admin".to_owned(),
                actor_roles: vec!["admin".to_owned()],
                source: "demo seed".to_owned(),
                request_id: "demo-prices".to_owned(),
                action: "prices.save".to_owned(),
                target_kind: "Prices".to_owned(),
                target_namespace: String::new(),
                target_cluster: String::new(),
                target_name: String::new(),
                before: serde_json::to_value(before).ok(),
                after: serde_json::to_value(&prices).ok(),
                outcome: "success".to_owned(),
            })
        })
        .await
}

/// Prints a line for the person at the terminal. A closed stdout (the terminal went away) must
/// not turn into a panic halfway through shutting Postgres down, so write errors are ignored.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The ServiceAccount the Helm chart installs Berth as.
pub const CHART_SERVICE_ACCOUNT: &str = "system:serviceaccount:berth:berth";

/// The state directory's audit key, made (32 random bytes, hex, owner-only) on first use.
fn demo_audit_key(state_dir: &Path) -> Result<domain::audit::AuditKey, Error> {
    let path = state_dir.join("audit.key");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(_) => {
            let key: String = (0..2)
                .map(|_| uuid::Uuid::new_v4().simple().to_string())
                .collect();
            write_private(&path, &key)?;
            key
        }
    };
    domain::audit::AuditKey::new(text.trim().as_bytes().to_vec()).map_err(|why| {
        Error::Config(crate::config::ConfigError {
            problems: vec![format!("{}: {why}", path.display())],
        })
    })
}

/// One local cluster under `state_dir/dir` with `scenario`; the components end with the demo
/// even when it is killed (etcd syncs, so nothing is lost).
async fn start_local_cluster(
    state_dir: &Path,
    dir: &str,
    scenario: &str,
    port: u16,
) -> Result<LocalCluster, Error> {
    let mut control_plane = ControlPlaneOptions::new(state_dir.join(dir));
    control_plane.port = port;
    control_plane.end_with_parent = true;
    Ok(LocalCluster::start(LocalClusterOptions {
        control_plane,
        scenario: Some(Scenario::named(scenario).map_err(SandboxError::from)?),
        nodes: None,
    })
    .await?)
}

/// Installs the chart's ClusterRole and binding, its Namespace and ServiceAccount into the
/// local cluster and answers a kubeconfig with a token for that ServiceAccount from the
/// TokenRequest API: Berth in the demo holds exactly the rights an installed Berth holds.
pub async fn chart_service_account_kubeconfig(plane: &ControlPlane) -> Result<String, Error> {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    use kube::api::{
        Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
    };
    use serde::Deserialize;
    let failed = |what: String| Error::Sandbox(SandboxError::Bootstrap(what));
    let admin = plane
        .admin_client()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let apply = PatchParams::apply("berth-demo").force();
    let manifests = include_str!("../../deploy/manifests/berth.yaml");
    let mut objects = vec![(
        "Namespace",
        "namespaces",
        "",
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "berth"}}),
    )];
    for document in serde_yaml::Deserializer::from_str(manifests) {
        let value = serde_json::Value::deserialize(document)
            .map_err(|e| failed(format!("deploy/manifests: {e}")))?;
        match value["kind"].as_str() {
            Some("ClusterRole") => objects.push((
                "ClusterRole",
                "clusterroles",
                "rbac.authorization.k8s.io",
                value,
            )),
            Some("ClusterRoleBinding") => objects.push((
                "ClusterRoleBinding",
                "clusterrolebindings",
                "rbac.authorization.k8s.io",
                value,
            )),
            Some("ServiceAccount") => {
                objects.push(("ServiceAccount", "serviceaccounts", "", value))
            }
            // The guard that keeps JIT grants from outliving themselves.
            Some("ValidatingAdmissionPolicy") => objects.push((
                "ValidatingAdmissionPolicy",
                "validatingadmissionpolicies",
                "admissionregistration.k8s.io",
                value,
            )),
            Some("ValidatingAdmissionPolicyBinding") => objects.push((
                "ValidatingAdmissionPolicyBinding",
                "validatingadmissionpolicybindings",
                "admissionregistration.k8s.io",
                value,
            )),
            _ => {}
        }
    }
    for (kind, plural, group, value) in objects {
        let gvk = GroupVersionKind::gvk(group, "v1", kind);
        let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
        let api: Api<DynamicObject> = match value["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(admin.clone(), ns, &resource),
            None => Api::all_with(admin.clone(), &resource),
        };
        let name = value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        api.patch(&name, &apply, &Patch::Apply(value))
            .await
            .map_err(|e| failed(format!("installing the chart's {kind}: {e}")))?;
    }
    let (namespace, name) = CHART_SERVICE_ACCOUNT
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
        .unwrap_or(("berth", "berth"));
    let accounts: Api<ServiceAccount> = Api::namespaced(admin, namespace);
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            // A week: a demo runs for hours or days; each start asks for a new one.
            expiration_seconds: Some(7 * 24 * 3600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let token = accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .map_err(|e| failed(format!("a token for the chart's ServiceAccount: {e}")))?
        .status
        .and_then(|s| s.token)
        .ok_or_else(|| failed("the TokenRequest answered no token".to_owned()))?;
    Ok(plane.kubeconfig_for_token(CHART_SERVICE_ACCOUNT, &token))
}

/// Writes a file only its owner can read: the kubeconfig holds the admin's private key.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    sandbox::kubeconfig::write_private(path, text).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

/// The state directory's owner: `berth-demo.pid` names the `berth demo` using it, so a second
/// one is refused while the first lives, and servers a killed one left behind are recognised
/// as orphans by the next start. Removed when the demo ends.
struct DemoOwner {
    path: PathBuf,
}

impl DemoOwner {
    fn claim(state_dir: &Path) -> Result<DemoOwner, Error> {
        let path = state_dir.join("berth-demo.pid");
        let earlier = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok());
        if let Some(pid) = earlier
            && pid != std::process::id()
            && is_berth(pid)
        {
            return Err(Error::DemoRunning {
                state_dir: state_dir.to_owned(),
                pid,
            });
        }
        if earlier.is_some() {
            // The last demo here ended without cleaning up: its Postgres may still run.
            if crate::store::local_postgres::stop_orphan(&state_dir.join("postgres")) {
                say("Stopped the Postgres a killed demo left running");
            }
        }
        std::fs::write(&path, std::process::id().to_string()).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        Ok(DemoOwner { path })
    }
}

impl Drop for DemoOwner {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `pid` is a live `berth` process (a recycled pid of something else is not).
fn is_berth(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .and_then(|c| {
            c.split(|b| *b == 0)
                .next()
                .map(|arg0| String::from_utf8_lossy(arg0).ends_with("berth"))
        })
        .unwrap_or(false)
}

fn start_local_postgres(state_dir: &Path) -> Result<LocalPostgres, LocalPostgresError> {
    let binaries = PgBinaries::locate()?;
    let data_dir = state_dir.join("postgres");
    if binaries.init(&data_dir, Durability::Durable)? {
        tracing::info!(data_dir = %data_dir.display(), "created a new Postgres cluster");
    }
    let pg = binaries.start(
        &data_dir,
        &state_dir.join("postgres.log"),
        Durability::Durable,
    )?;
    tracing::info!(port = pg.port(), "Postgres is up");
    Ok(pg)
}

fn absolute(path: &Path) -> Result<PathBuf, LocalPostgresError> {
    std::path::absolute(path).map_err(|source| LocalPostgresError::Io {
        path: path.to_owned(),
        source,
    })
}
