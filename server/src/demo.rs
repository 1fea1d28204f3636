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
        config.cluster.kubeconfig = Some(path);
        sandbox = Some(cluster);
    }
    let cluster = Cluster::connect(&config.cluster).await?;

    let store = Store::connect(&url, &config.database).await?;
    store.migrate().await?;
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

/// Prints a line for the person at the terminal. A closed stdout (the terminal went away) must
/// not turn into a panic halfway through shutting Postgres down, so write errors are ignored.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
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
