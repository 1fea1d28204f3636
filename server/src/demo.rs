//! `berth demo`: everything on one machine. A private Postgres under the state directory
//! unless a database URL is given, migrations, then the portal on 127.0.0.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sandbox::scenario::Scenario;
use sandbox::{Sandbox, SandboxError, SandboxOptions};

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

    // The sandbox cluster with the demo company, unless a real cluster was configured. Berth
    // reaches it through a kubeconfig file, as `serve` reaches a real one.
    let mut sandbox = None;
    if config.cluster.kubeconfig.is_none() {
        let cluster = Sandbox::start(SandboxOptions {
            scenario: Some(Scenario::named("demo").map_err(SandboxError::from)?),
            ..SandboxOptions::default()
        })
        .await?;
        let path = state_dir.join("sandbox.kubeconfig");
        write_private(&path, &cluster.admin_kubeconfig())?;
        say(&format!(
            "Sandbox cluster at {} (kubectl: KUBECONFIG={} kubectl get pods -A)",
            cluster.url(),
            path.display()
        ));
        // The visitor's kubectl is the admin; Berth itself runs as it would when installed.
        let berth = state_dir.join("berth.kubeconfig");
        write_private(&berth, &as_chart_service_account(&cluster).await?)?;
        config.cluster.kubeconfig = Some(berth);
        sandbox = Some(cluster);
    }
    let cluster = Cluster::connect(&config.cluster).await?;

    let store = Store::connect(&url, &config.database).await?;
    store.migrate().await?;
    seed_requests(&store).await.map_err(Error::Store)?;
    if sandbox.is_some() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let hours =
            crate::demo_history::seed(&store, cluster.client(), &config.usage.labels, 30, now)
                .await?;
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
    if let Some(cluster) = sandbox {
        cluster.stop().await;
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

    if !store.namespace_requests(None, "", 1).await?.is_empty() {
        return Ok(());
    }
    store.seed_tiers(&seed_tiers()).await?;
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
            decided_by: approved.then(|| "berth".to_owned()),
            decision_reason: approved.then(|| format!("tier {tier} needs no approval")),
        };
        store.create_namespace_request(new, event).await?;
    }
    Ok(())
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

/// Gives `cluster` the chart's ClusterRole and its binding (from `deploy/manifests`, built in)
/// and answers a kubeconfig for the chart's ServiceAccount: Berth in the demo (and in the
/// tests) holds exactly the rights an installed Berth holds, so a call the role lacks fails
/// here first.
pub async fn as_chart_service_account(cluster: &Sandbox) -> Result<String, Error> {
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
    use serde::Deserialize;
    let failed = |what: String| Error::Sandbox(SandboxError::Bootstrap(what));
    let admin = cluster.admin_client().await?;
    let manifests = include_str!("../../deploy/manifests/berth.yaml");
    for document in serde_yaml::Deserializer::from_str(manifests) {
        let value = serde_json::Value::deserialize(document)
            .map_err(|e| failed(format!("deploy/manifests: {e}")))?;
        let (kind, plural) = match value["kind"].as_str() {
            Some("ClusterRole") => ("ClusterRole", "clusterroles"),
            Some("ClusterRoleBinding") => ("ClusterRoleBinding", "clusterrolebindings"),
            _ => continue,
        };
        let gvk = GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", kind);
        let api: Api<DynamicObject> = Api::all_with(
            admin.clone(),
            &ApiResource::from_gvk_with_plural(&gvk, plural),
        );
        let object: DynamicObject = serde_json::from_value(value)
            .map_err(|e| failed(format!("deploy/manifests {kind}: {e}")))?;
        match api.create(&PostParams::default(), &object).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => return Err(failed(format!("creating the chart's {kind}: {e}"))),
        }
    }
    let token = format!("berth-{}", uuid::Uuid::new_v4());
    cluster.add_token(
        &token,
        CHART_SERVICE_ACCOUNT,
        &["system:serviceaccounts", "system:serviceaccounts:berth"],
    );
    Ok(cluster.kubeconfig_for_token(CHART_SERVICE_ACCOUNT, &token))
}

/// Writes a file only its owner can read: the kubeconfig holds the admin's private key.
fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)
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
