//! What the benchmarks share: parameters from the environment, resident memory, percentiles,
//! timing a request repeatedly.

// Each benchmark uses a part of this.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// How long Berth may take to fill its watch caches from the large cluster before a benchmark
/// gives up (the first 50,000-pod list alone takes kube-apiserver about 25 s here).
const READY_LIMIT: Duration = Duration::from_secs(600);

pub fn arg(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`) in MiB.
pub fn status_mib(pid: &str, field: &str) -> Result<f64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .ok_or_else(|| format!("{field} missing from /proc/{pid}/status"))
}

pub fn rss_mib() -> f64 {
    status_mib("self", "VmRSS:").unwrap_or(0.0)
}

/// The real control plane (with the node simulator) and, unless it is kept, its state
/// directory, removed with it.
pub struct BenchCluster {
    cluster: sandbox::local_cluster::LocalCluster,
    _dir: Option<tempfile::TempDir>,
}

impl BenchCluster {
    /// A local cluster with `scenario` loaded through the API, in a directory of its own.
    pub async fn start(
        scenario: Option<sandbox::scenario::Scenario>,
    ) -> Result<BenchCluster, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let cluster = start_cluster(dir.path().join("cluster"), scenario).await?;
        Ok(BenchCluster {
            cluster,
            _dir: Some(dir),
        })
    }

    pub fn admin_kubeconfig(&self) -> &str {
        self.cluster.control_plane().admin_kubeconfig()
    }

    pub async fn admin_client(&self) -> Result<kube::Client, String> {
        self.cluster
            .control_plane()
            .admin_client()
            .await
            .map_err(|e| e.to_string())
    }

    pub fn stop(self) {
        self.cluster.stop();
    }
}

async fn start_cluster(
    state: std::path::PathBuf,
    scenario: Option<sandbox::scenario::Scenario>,
) -> Result<sandbox::local_cluster::LocalCluster, String> {
    let mut control_plane = sandbox::control_plane::ControlPlaneOptions::new(state);
    control_plane.durable = false;
    sandbox::local_cluster::LocalCluster::start(sandbox::local_cluster::LocalClusterOptions {
        control_plane,
        scenario,
        nodes: None,
    })
    .await
    .map_err(|e| e.to_string())
}

/// The real control plane with the `large` scenario of the given size, every pod started.
///
/// Loading 50,000 pods into a real control plane takes about 25 minutes on 2 cores, so the
/// cluster's state is kept in the target directory and the next benchmark of the same size
/// restarts the control plane on it (`BENCH_FRESH_CLUSTER=1` loads it again; `BENCH_LOAD_ONLY=1`
/// loads it and exits). One benchmark at a time: two would start two control planes on one etcd
/// directory.
pub async fn large_sandbox(
    namespaces: usize,
    deployments: usize,
    pods: usize,
) -> Result<BenchCluster, String> {
    let state = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "bench-cluster-large-{namespaces}-{deployments}-{pods}"
    ));
    if std::env::var_os("BENCH_FRESH_CLUSTER").is_some() {
        let _ = std::fs::remove_dir_all(&state);
    }
    let started = Instant::now();
    let scenario = sandbox::scenario::Scenario::large(namespaces, deployments, pods);
    let cluster = start_cluster(state.clone(), Some(scenario)).await?;
    let how = if cluster.loaded().fresh {
        "scenario loaded through the API"
    } else {
        "restarted on the state an earlier benchmark loaded"
    };
    println!(
        "control plane up in {:.1} s ({how}; state in {})",
        started.elapsed().as_secs_f64(),
        state.display()
    );
    let cluster = BenchCluster {
        cluster,
        _dir: None,
    };
    wait_settled(&cluster.admin_client().await?, pods).await?;
    println!(
        "every pod scheduled and started {:.1} s after the start",
        started.elapsed().as_secs_f64()
    );
    // `make bench-cluster`: load the state once, ahead of the benchmarks that read it.
    if std::env::var_os("BENCH_LOAD_ONLY").is_some() {
        cluster.stop();
        std::process::exit(0);
    }
    Ok(cluster)
}

/// Waits until at least `pods` pods have started and none is Pending, so the controllers, the
/// scheduler and the simulated kubelets are quiet before anything is timed. "None Pending" alone
/// is not enough: on a restart the ReplicaSet controller makes the missing pods in waves, and
/// between two waves nothing is Pending. Bounded by `BENCH_WAIT_SECS` (default 3,600 s).
async fn wait_settled(client: &kube::Client, pods: usize) -> Result<(), String> {
    use sandbox::pod_count::count_pods;
    let limit = Duration::from_secs(arg("BENCH_WAIT_SECS", 3_600) as u64);
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let (pending, running) = tokio::try_join!(
            count_pods(client, "status.phase=Pending"),
            count_pods(client, "status.phase!=Pending"),
        )
        .map_err(|e| e.to_string())?;
        if pending == 0 && running >= pods {
            return Ok(());
        }
        if started.elapsed() > limit {
            return Err(format!(
                "{running} of {pods} pods started and {pending} Pending after {} s",
                limit.as_secs()
            ));
        }
        if last_report.elapsed() > Duration::from_secs(60) {
            println!(
                "  {running} of {pods} pods started, {pending} Pending after {:.0} s",
                started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

pub fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

pub async fn time<F, Fut>(rounds: usize, mut f: F) -> Result<(Vec<Duration>, usize), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize, String>>,
{
    let mut samples = Vec::with_capacity(rounds);
    let mut size = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        size = f().await?;
        let took = started.elapsed();
        // A stall is what a benchmark run is for finding: say when it happened, as it happens.
        if took > Duration::from_secs(5) {
            eprintln!(
                "slow sample: {:.1} s, ended {}",
                took.as_secs_f64(),
                jiff::Timestamp::now()
            );
        }
        samples.push(took);
    }
    Ok((samples, size))
}

/// A fresh Postgres for a benchmark, in Cargo's scratch space inside the target directory
/// (never the source tree), without fsync: figures measure Berth, not the disk. Its
/// directory, for other scratch files, comes back with it.
pub fn fast_postgres(
    name: &str,
) -> Result<
    (
        server::store::local_postgres::LocalPostgres,
        std::path::PathBuf,
    ),
    String,
> {
    use server::store::local_postgres::{Durability, PgBinaries};
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let binaries = PgBinaries::locate().map_err(|e| e.to_string())?;
    binaries
        .init(&dir.join("data"), Durability::Fast)
        .map_err(|e| e.to_string())?;
    let pg = binaries
        .start(
            &dir.join("data"),
            &dir.join("postgres.log"),
            Durability::Fast,
        )
        .map_err(|e| e.to_string())?;
    Ok((pg, dir))
}

/// Signs in as a demo persona the way the sign-in form does; the session cookie to send back.
pub async fn demo_session(
    client: &reqwest::Client,
    base: &str,
    persona: &str,
) -> Result<String, String> {
    let res = client
        .post(format!("{base}/auth/demo"))
        .header("origin", base)
        .form(&[("persona", persona)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    res.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| format!("no session cookie for {persona}"))
}

/// The demo's defaults, connected to `sandbox` through an admin kubeconfig written to `dir`;
/// no site bundle (pages render, nothing hydrates).
pub fn bench_config(
    dir: &std::path::Path,
    sandbox: &BenchCluster,
) -> Result<server::config::Config, String> {
    use server::config::{Config, Mode};
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, sandbox.admin_kubeconfig()).map_err(|e| e.to_string())?;
    let mut config = Config::load(Mode::Demo, None, &std::collections::HashMap::new())
        .map_err(|e| e.to_string())?;
    config.site_root = dir.join("no-site");
    config.cluster.kubeconfig = Some(kubeconfig);
    Ok(config)
}

/// The migrated store at `url` and the cluster `config` names.
pub async fn connect(
    url: &str,
    config: &server::config::Config,
) -> Result<(server::store::Store, server::cluster::Cluster), String> {
    let store = server::store::Store::connect(url, &config.database)
        .await
        .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let cluster = server::cluster::Cluster::connect(&config.cluster)
        .await
        .map_err(|e| e.to_string())?;
    Ok((store, cluster))
}

/// An error with every cause under it (a request's "error sending request" says nothing of why).
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Polls Berth's `/readyz` at `base` until it answers 200 (every watch cache holds its first
/// full list) and returns how long that took; fails once `alive` says the server stopped or
/// after [`READY_LIMIT`].
pub async fn wait_ready(base: &str, mut alive: impl FnMut() -> bool) -> Result<Duration, String> {
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    loop {
        let ready = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Ok(started.elapsed());
        }
        if !alive() {
            return Err("berth stopped before it was ready".to_owned());
        }
        if started.elapsed() > READY_LIMIT {
            return Err(format!(
                "berth not ready within {} s",
                READY_LIMIT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Berth serving on a loopback port until `stop`.
pub struct Running {
    pub base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), server::error::Error>>,
}

impl Running {
    /// Waits until `/readyz` answers 200 (every watch cache holds its first full list), so no
    /// timing includes the first fill; prints how long that took.
    async fn wait_ready(&self) -> Result<(), String> {
        let waited = wait_ready(&self.base, || !self.task.is_finished()).await?;
        println!(
            "berth ready (every watch cache filled) {:.1} s after it started",
            waited.as_secs_f64()
        );
        Ok(())
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

pub async fn serve(
    store: server::store::Store,
    cluster: server::cluster::Cluster,
    config: server::config::Config,
) -> Result<Running, String> {
    // Berth's own warnings (watch errors, slow calls) beside the figures; `RUST_LOG` as in `berth`.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        server::serve::serve_with(listener, store, cluster, &config, shutdown).await
    });
    let running = Running { base, stop, task };
    running.wait_ready().await?;
    Ok(running)
}

/// Watches this process's runtime from a plain thread: when no tokio worker has run a tick for
/// `after`, prints so and writes every thread's stack (gdb, once) to `dump`, since a stalled
/// runtime cannot report on itself.
pub fn watch_for_stalls(after: Duration, dump: std::path::PathBuf) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let ticks = last.clone();
    tokio::spawn(async move {
        loop {
            ticks.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    std::thread::spawn(move || {
        let mut dumped = false;
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let now = start.elapsed().as_millis() as u64;
            let stalled = Duration::from_millis(now.saturating_sub(last.load(Ordering::Relaxed)));
            if stalled > after {
                eprintln!(
                    "runtime stalled: no tick for {:.1} s at {}",
                    stalled.as_secs_f64(),
                    jiff::Timestamp::now()
                );
                if !dumped {
                    dumped = true;
                    let out = std::process::Command::new("gdb")
                        .args(["-batch", "-p", &std::process::id().to_string()])
                        .args(["-ex", "thread apply all bt"])
                        .output();
                    match out {
                        Ok(out) => {
                            let _ = std::fs::write(&dump, out.stdout);
                            eprintln!("stacks written to {}", dump.display());
                        }
                        Err(e) => eprintln!("cannot run gdb: {e}"),
                    }
                }
            }
        }
    });
}

/// Times each of `views` (a name and the report's URL parameters) `rounds` times as `user`
/// asks for it through the service, and prints p50 / p95, its groups and its total.
pub async fn cost_views(
    services: &server::services::Services,
    user: &domain::identity::CurrentUser,
    views: &[(&str, &[(&str, &str)])],
    rounds: usize,
) -> Result<(), String> {
    println!(
        "{:<45} {:>9} {:>9} {:>8}",
        "cost report (server time)", "p50 ms", "p95 ms", "groups"
    );
    for (name, params) in views {
        let params: std::collections::BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut samples: Vec<Duration> = Vec::new();
        let (mut groups, mut total) = (0, 0.0);
        for _ in 0..rounds {
            let started = Instant::now();
            let report = services
                .cost_report(user, &params)
                .await
                .map_err(|e| e.to_string())?;
            samples.push(started.elapsed());
            groups = report.groups.len();
            total = report.total;
        }
        println!(
            "{name:<45} {:>9.1} {:>9.1} {groups:>8}   (total ${total:.0})",
            percentile(&mut samples, 0.5),
            percentile(&mut samples, 0.95)
        );
    }
    Ok(())
}
