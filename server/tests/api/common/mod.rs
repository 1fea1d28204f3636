//! Test harness: a fresh Postgres per test and the real router on a random loopback port.

pub mod cluster;
pub mod flows;
pub mod helm;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use server::config::{Config, Mode};
use server::store::local_postgres::{Durability, LocalPostgres, PgBinaries};
use server::store::{self, Store};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use cluster::TestCluster;

/// How long a test waits for what it waits on (a scan, a rollout, a server answering) before it
/// fails: a bound, not a timing. The shared control plane on a machine busy building can take
/// tens of seconds over what takes one when idle.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// Where test state lives: inside the target directory, which the `postgres` user can reach
/// (a root-owned 0700 /tmp directory would not do when tests run as root).
pub fn scratch_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// A scratch directory others may traverse, removed when dropped.
pub fn scratch_dir(prefix: &str) -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(scratch_root()).expect("create target tmp dir");
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(scratch_root())
        .expect("create scratch dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod scratch dir");
    dir
}

/// Runs a test on the one runtime its binary shares, as production runs every request on one
/// runtime. Leptos's streaming renderer can lose a wake-up when independent runtimes render
/// pages at once in the same process (seen as a page body that never ends when two
/// `#[tokio::test]`s ran side by side); one runtime per process never showed it.
pub fn run<F: Future>(test: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .expect("test runtime")
        })
        .block_on(test)
}

/// `initdb` once per machine (it takes seconds); each test copies the result.
fn template(binaries: &PgBinaries) -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = scratch_root().join("pg-template");
        if !dir.join("PG_VERSION").is_file() {
            let staging = scratch_root().join(format!("pg-template-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&staging);
            binaries
                .init(&staging, Durability::Fast)
                .expect("initdb for the test template");
            // Another test binary may have won the race; either copy is fine.
            if std::fs::rename(&staging, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&staging);
            }
        }
        dir
    })
}

/// A Postgres server of its own: the shared one, or a private one a test may stop.
pub struct TestPostgres {
    own: Option<LocalPostgres>,
    /// The shared server's address, when this handle is for it.
    shared: Option<&'static SharedPostgres>,
    _dir: Option<TempDir>,
}

/// The binary's one Postgres server and a migrated template every test's database copies.
pub struct SharedPostgres {
    server: LocalPostgres,
}

/// The database every test database is made from (`CREATE DATABASE … TEMPLATE`), migrated once.
const TEMPLATE_DATABASE: &str = "berth_template";

fn shared_postgres() -> &'static SharedPostgres {
    static SHARED: OnceLock<SharedPostgres> = OnceLock::new();
    SHARED.get_or_init(|| {
        // Started on a thread that lives as long as the process: the server shuts down
        // (SIGQUIT) when that thread ends, since no destructor runs on a static.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let binaries = PgBinaries::locate()
                .expect("PostgreSQL binaries")
                .ending_with_parent();
            // A fixed directory, emptied here, rather than a temporary one: no destructor runs
            // on a static, so a temporary directory would be left behind by every run.
            let dir = scratch_root().join(format!("shared-postgres-{}", binary_name()));
            let _ = std::fs::remove_dir_all(&dir);
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::create_dir_all(&dir).expect("the shared Postgres directory");
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
                    .expect("chmod the shared Postgres directory");
            }
            let _ = tx.send(start_server(&binaries, &dir));
            loop {
                std::thread::park();
            }
        });
        let server = rx.recv().expect("starting the shared Postgres");
        // The template, migrated once; no connection to it may stay open while it is copied.
        let url = server.url(TEMPLATE_DATABASE);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = url.replace(&format!("/{TEMPLATE_DATABASE}"), "/postgres");
                store::ensure_database(&admin, TEMPLATE_DATABASE)
                    .await
                    .expect("template database");
                let config = test_config().database;
                let store = Store::connect(&url, &config).await.expect("template");
                store.migrate().await.expect("migrate the template");
                store.close().await;
            });
        })
        .join()
        .expect("the template's migration");
        SharedPostgres { server }
    })
}

/// The test binary's file name, which names the state it shares between its tests.
pub fn binary_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "tests".to_owned())
}

/// A server in `dir`, copied from the `initdb` template, started from `binaries`.
fn start_server(binaries: &PgBinaries, dir: &Path) -> LocalPostgres {
    let template = template(binaries);
    let data = dir.join("data");
    let status = Command::new("cp")
        .arg("-a")
        .arg(template)
        .arg(&data)
        .status()
        .expect("run cp");
    assert!(status.success(), "copying the Postgres template failed");
    binaries
        .start(&data, &dir.join("postgres.log"), Durability::Fast)
        .expect("start Postgres")
}

impl TestPostgres {
    /// The binary's shared server: each `database` is a fresh copy of the migrated template.
    pub fn start() -> TestPostgres {
        TestPostgres {
            own: None,
            shared: Some(shared_postgres()),
            _dir: None,
        }
    }

    /// A server of the test's own, for a test that stops it.
    pub fn private() -> TestPostgres {
        let binaries = PgBinaries::locate().expect("PostgreSQL binaries");
        let dir = scratch_dir("pg-");
        let server = start_server(&binaries, dir.path());
        TestPostgres {
            own: Some(server),
            shared: None,
            _dir: Some(dir),
        }
    }

    fn server(&self) -> &LocalPostgres {
        match (&self.own, self.shared) {
            (Some(own), _) => own,
            (None, Some(shared)) => &shared.server,
            (None, None) => panic!("Postgres already stopped"),
        }
    }

    /// A fresh database on this server (migrated, on the shared one), named after `name`
    /// and unique in the run.
    pub async fn database(&self, name: &str) -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let unique = format!("{name}_{n}");
        let admin = self.server().url("postgres");
        if self.shared.is_some() {
            let pool = sqlx::PgPool::connect(&admin)
                .await
                .expect("admin connection");
            sqlx::query(&format!(
                "CREATE DATABASE \"{unique}\" TEMPLATE \"{TEMPLATE_DATABASE}\""
            ))
            .execute(&pool)
            .await
            .expect("create test database from the template");
            pool.close().await;
        } else {
            store::ensure_database(&admin, &unique)
                .await
                .expect("create test database");
        }
        self.server().url(&unique)
    }

    /// Stops a private server (as an outage would).
    pub fn stop(&mut self) {
        if let Some(server) = self.own.take() {
            server.stop();
        }
    }
}

pub const BERTH_USER: &str = server::demo::CHART_SERVICE_ACCOUNT;

/// Berth's kubeconfig for `cluster`: the chart's ServiceAccount ([`TestCluster::berth_kubeconfig`]).
pub async fn berth_kubeconfig(cluster: &TestCluster) -> String {
    cluster.berth_kubeconfig().await
}

pub fn test_config() -> Config {
    let mut config = Config::load(Mode::Demo, None, &HashMap::new()).expect("demo defaults");
    // No bundle in integration tests: pages render, nothing hydrates.
    config.site_root = scratch_root().join("no-site");
    // Failed anonymous attempts reach the audit trail a second after, not a minute.
    config.auth.failure_window = std::time::Duration::from_secs(1);
    config
}

/// The real router, migrated database and all, on a random loopback port, talking to the
/// real control plane through a kubeconfig file.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The cluster this app was started against (by `spawn` or `spawn_private`).
    pub cluster: Option<Arc<TestCluster>>,
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: TempDir,
}

impl TestApp {
    /// Against this binary's shared cluster.
    pub async fn spawn(database_url: &str, config: Config) -> TestApp {
        TestApp::spawn_with(database_url, config, TestCluster::shared().await).await
    }

    /// Against a cluster of its own: for a test that takes the cluster away, or reads figures
    /// (node costs, cluster-wide totals) other tests would move.
    pub async fn spawn_private(database_url: &str, config: Config) -> TestApp {
        let cluster = Arc::new(TestCluster::private().await);
        TestApp::spawn_with(database_url, config, cluster).await
    }

    pub async fn spawn_with(
        database_url: &str,
        config: Config,
        cluster: Arc<TestCluster>,
    ) -> TestApp {
        let kubeconfig = cluster.berth_kubeconfig().await;
        let mut app = TestApp::spawn_on(database_url, config, &kubeconfig).await;
        app.cluster = Some(cluster);
        app
    }

    /// The cluster this app talks to.
    pub fn cluster(&self) -> &TestCluster {
        self.cluster.as_ref().expect("an app started by spawn")
    }

    /// Another Berth process: against a cluster some other app (or the test) runs, given the
    /// kubeconfig Berth connects with (`berth_kubeconfig`).
    pub async fn spawn_on(
        database_url: &str,
        mut config: Config,
        kubeconfig_text: &str,
    ) -> TestApp {
        let store = Store::connect(database_url, &config.database)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        let dir = scratch_dir("app-");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_text).expect("write kubeconfig");
        config.cluster.kubeconfig = Some(kubeconfig);
        let connection = server::cluster::Cluster::connect(&config.cluster)
            .await
            .expect("cluster client");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            server::serve::serve_with(listener, store, connection, &config, shutdown)
                .await
                .expect("server ran");
        });
        TestApp {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // A hung request fails its test instead of stalling the whole run; generous,
                // because a machine busy building answers slowly (20 s was seen to fall short).
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .expect("client"),
            cluster: None,
            database_url: database_url.to_owned(),
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Takes the cluster away, as an outage would.
    pub async fn stop_cluster(&mut self) {
        let cluster = self
            .cluster
            .take()
            .expect("an app started by spawn_private");
        let mut cluster = Arc::into_inner(cluster).expect("a private cluster nothing else holds");
        cluster.stop();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// Waits (`PATIENCE` at most) until `/readyz` answers 200: the watch caches hold their first lists.
    pub async fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let res = self.get("/readyz").await;
            if res.status() == 200 {
                return;
            }
            let last = res.text().await.unwrap_or_default();
            assert!(
                std::time::Instant::now() < deadline,
                "not ready after {PATIENCE:?}: {last}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Signs in as a demo persona the way the sign-in page's form does.
    pub async fn demo_sign_in(&self, persona: &str) -> reqwest::Response {
        self.client
            .post(self.url("/auth/demo"))
            .header(reqwest::header::ORIGIN, &self.base)
            .form(&[("persona", persona)])
            .send()
            .await
            .expect("sign in")
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The `name=value` part of a response's session cookie (empty when none was set).
pub fn session_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .to_owned()
}

/// Collects what is posted to it, on a loopback port of its own.
pub async fn webhook_sink() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = got.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let kept = kept.clone();
            async move {
                if let Ok(mut all) = kept.lock() {
                    all.push(body);
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, got)
}

/// The `berth` binary, with nothing from the developer's shell (`BERTH_*`, `DATABASE_URL`,
/// `RUST_LOG`) leaking into the test.
pub fn berth_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    for (name, _) in std::env::vars() {
        if name.starts_with("BERTH_") || name == "DATABASE_URL" || name == "RUST_LOG" {
            cmd.env_remove(name);
        }
    }
    cmd
}
