//! `berth serve` and `berth migrate`: production start-up.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cli::ServeArgs;
use crate::cluster::Cluster;
use crate::config::{Config, ConfigError, Mode};
use crate::error::Error;
use crate::http::{self, AppState};
use crate::reconcile::expiry::Expirer;
use crate::reconcile::provision::Provisioner;
use crate::services::Services;
use crate::store::Store;
use crate::telemetry;
use domain::audit::Verdict;

pub async fn run(args: ServeArgs) -> Result<(), Error> {
    let config = Config::load(Mode::Serve, args.config.as_deref(), &environment())?;
    telemetry::init(&config.log)?;
    let url = database_url(&config)?;
    // Bind before touching the database: a taken port is the cheapest mistake to report.
    let listener = http::bind(config.listen, "set another `listen` (BERTH_LISTEN)").await?;
    if config.audit.key.is_none() {
        tracing::warn!(
            "the audit chain is not keyed: whoever can write its table can rewrite it unnoticed; set audit.key_file (or BERTH_AUDIT_KEY) and audit.checkpoint_file"
        );
    }
    let store = Store::connect_keyed(&url, &config.database, config.audit.key.clone()).await?;
    store.migrate().await?;
    let cluster = Cluster::connect(&config.cluster).await?;
    warn_if_site_missing(&config);
    let trimmer = tokio::spawn(return_free_memory());
    tracing::info!(listen = %config.listen, "serving");
    let result = serve_with(
        listener,
        store.clone(),
        cluster,
        &config,
        http::shutdown_signal(),
    )
    .await;
    trimmer.abort();
    store.close().await;
    result
}

/// How often freed heap memory is handed back to the system.
pub const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Hands the pages glibc's malloc holds free back to the system, every [`TRIM_EVERY`]. Filling
/// the watch caches parses every cluster's lists page by page, and a big page renders
/// megabytes; glibc keeps what those freed between the objects that stay, so the process
/// looked hundreds of MiB bigger than what it holds.
async fn return_free_memory() {
    let mut tick = tokio::time::interval(TRIM_EVERY);
    loop {
        tick.tick().await;
        let started = std::time::Instant::now();
        let _ = tokio::task::spawn_blocking(trim_heap).await;
        tracing::debug!(
            took_ms = started.elapsed().as_millis(),
            "freed heap handed back"
        );
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim_heap() {
    // SAFETY: malloc_trim only reads and releases the allocator's own free lists; 0 keeps no
    // padding. It takes the arenas' locks, so it is safe beside other threads allocating.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

pub async fn migrate(args: ServeArgs) -> Result<(), Error> {
    let config = Config::load(Mode::Migrate, args.config.as_deref(), &environment())?;
    telemetry::init(&config.log)?;
    let store = Store::connect(&database_url(&config)?, &config.database).await?;
    store.migrate().await?;
    store.close().await;
    tracing::info!("migrations applied");
    Ok(())
}

/// `berth audit verify`: walks the chain; a broken chain is an error naming the event.
pub async fn verify_audit(args: ServeArgs) -> Result<(), Error> {
    let config = Config::load(Mode::Migrate, args.config.as_deref(), &environment())?;
    let checkpoints = match (&config.audit.checkpoint_file, &config.audit.key) {
        (Some(path), Some(key)) => crate::reconcile::checkpoint::read_checkpoints(path, key)?,
        _ => Vec::new(),
    };
    let store = Store::connect_keyed(
        &database_url(&config)?,
        &config.database,
        config.audit.key.clone(),
    )
    .await?;
    let outcome = store.verify_audit(&checkpoints).await;
    store.close().await;
    match outcome? {
        Verdict::Intact { events: count } => {
            let keyed = if config.audit.key.is_some() {
                "keyed"
            } else {
                "unkeyed: no audit key given"
            };
            match checkpoints.last() {
                Some(last) => println!(
                    "audit chain intact: {count} events ({keyed}); {} checkpoints hold, the latest at event {} ({})",
                    checkpoints.len(),
                    last.seq,
                    last.at
                ),
                None => println!("audit chain intact: {count} events ({keyed})"),
            }
            Ok(())
        }
        Verdict::Broken(broken) => Err(Error::AuditBroken {
            seq: broken.seq,
            reason: broken.reason,
        }),
    }
}

/// The router on `listener`, until `shutdown` resolves. Shared by serve, demo and the tests.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    store: Store,
    cluster: Cluster,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    store
        .seed_tiers(&domain::tenancy::seed_tiers())
        .await
        .map_err(Error::Store)?;
    let services = Arc::new(Services::new(store.clone(), cluster.clone(), config));
    let caches = services.caches().clone();
    let fleet = services.fleet().clone();
    for more in &config.clusters {
        let member = crate::cluster::fleet::Member::start(
            Cluster::connect_member(more, &cluster).await?,
            crate::cluster::fleet::Profile::of(more, domain::fleet::ClusterSource::Config),
        );
        fleet.add(member);
    }
    // Registered clusters are not worth refusing to start over: one that cannot be connected
    // is shown as such on the clusters page.
    if let Err(err) = services.follow_registry().await {
        tracing::warn!(error = %err, "the cluster registry could not be read");
    }
    let health = tokio::spawn(fleet.clone().watch_health());
    let registry = tokio::spawn({
        let services = services.clone();
        async move { services.keep_following_registry().await }
    });
    // Background loops live as long as the server; each takes its advisory lock first.
    let provisioner = tokio::spawn(
        Provisioner::new(
            store,
            fleet.clone(),
            services.provision_signal(),
            config.tenancy.provision_interval,
        )
        .run(),
    );
    let expirer = tokio::spawn(
        Expirer::new(
            services.store().clone(),
            fleet.clone(),
            config.tenancy.provision_interval,
            config.tenancy.expiry_webhook_url.clone(),
        )
        .run(),
    );
    let sampler = tokio::spawn(
        crate::reconcile::usage::Sampler::new(
            services.store().clone(),
            fleet.clone(),
            config.usage.clone(),
        )
        .run(),
    );
    let unused = tokio::spawn(
        crate::reconcile::unused::UnusedScan::new(
            services.store().clone(),
            fleet.clone(),
            config.usage.unused_scan,
            config.usage.unused_grace_days,
        )
        .run(),
    );
    let revoker = tokio::spawn(
        crate::reconcile::access::Revoker::new(
            services.store().clone(),
            fleet.clone(),
            config.access.revoke_poll,
        )
        .run(),
    );
    let backfill = match &config.prometheus {
        Some(p) => match crate::reconcile::prometheus::Prometheus::new(&p.url) {
            Ok(prometheus) => Some(tokio::spawn(
                crate::reconcile::prometheus::Backfill::new(
                    services.store().clone(),
                    prometheus,
                    caches.clone(),
                    config.usage.labels.clone(),
                    p.backfill_days,
                    p.step_secs,
                )
                .run(),
            )),
            Err(err) => {
                tracing::warn!(error = %err, "no Prometheus client; history is not backfilled");
                None
            }
        },
        None => None,
    };
    let budgets = config.usage.budget_webhook_url.clone().and_then(|url| {
        crate::reconcile::budget::BudgetWatch::new(
            services.store().clone(),
            fleet.home().name().to_owned(),
            url,
            config.usage.budget_check,
        )
        .map(|watch| tokio::spawn(watch.run()))
    });
    // Not behind a lock: every replica keeps its own idle-report answer fresh.
    let idle_warm = tokio::spawn({
        let services = services.clone();
        async move { services.keep_idle_usage_warm().await }
    });
    let checkpoints = config.audit.key.clone().map(|key| {
        tokio::spawn(
            crate::reconcile::checkpoint::Checkpointer::new(
                services.store().clone(),
                key,
                config.audit.checkpoint_file.clone(),
                config.audit.checkpoint_interval,
            )
            .run(),
        )
    });
    // Per replica, like the idle answer: each counts the failures it answered.
    let failures = tokio::spawn({
        let services = services.clone();
        async move { services.run_failure_flusher().await }
    });
    let last_flush = services.clone();
    let state = AppState {
        leptos_options: http::leptos_options(config),
        services,
        auth: config.auth.clone(),
        oidc: config.oidc.clone().map(Arc::new),
        demo: config.demo,
        streams: Default::default(),
    };
    // Live streams end when shutdown begins; the server then waits only for ordinary requests.
    let streams = fleet.clone();
    let shutdown = async move {
        shutdown.await;
        streams.stop();
    };
    let served = http::serve(
        listener,
        http::router(state, &config.http),
        shutdown,
        config.http.shutdown_grace,
    )
    .await;
    health.abort();
    registry.abort();
    provisioner.abort();
    expirer.abort();
    sampler.abort();
    unused.abort();
    revoker.abort();
    idle_warm.abort();
    failures.abort();
    if let Err(err) = last_flush.flush_failures().await {
        tracing::warn!(error = %err, "the last window's failed attempts were not written");
    }
    if let Some(checkpoints) = checkpoints {
        checkpoints.abort();
    }
    // The head as it is at the end, so the next verify sees everything this run wrote.
    if let Some(key) = config.audit.key.clone() {
        let mut last = crate::reconcile::checkpoint::Checkpointer::new(
            last_flush.store().clone(),
            key,
            config.audit.checkpoint_file.clone(),
            config.audit.checkpoint_interval,
        );
        if let Err(err) = last.once().await {
            tracing::warn!(error = %err, "the final audit checkpoint was not written");
        }
    }
    if let Some(backfill) = backfill {
        backfill.abort();
    }
    if let Some(budgets) = budgets {
        budgets.abort();
    }
    fleet.stop();
    served
}

pub fn environment() -> HashMap<String, String> {
    std::env::vars().collect()
}

fn database_url(config: &Config) -> Result<String, ConfigError> {
    config.database.url.clone().ok_or_else(|| ConfigError {
        problems: vec!["no database URL: set BERTH_DATABASE_URL".to_owned()],
    })
}

/// Pages still render without the WASM bundle, but nothing on them reacts; say so early.
pub fn warn_if_site_missing(config: &Config) {
    let js = config.site_root.join("pkg").join("berth.js");
    if !js.is_file() {
        tracing::warn!(
            path = %js.display(),
            "the browser bundle is missing, so pages will not be interactive; build it with `make site`"
        );
    }
}
