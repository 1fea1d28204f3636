//! Everything that talks to Postgres.

pub mod access;
pub mod audit;
pub mod change;
pub mod clusters;
pub mod cost;
pub mod cost_lines;
pub mod identity;
pub mod local_postgres;
pub mod tenancy;
pub mod unused;
pub mod usage;
pub mod usage_groups;

use std::time::{Duration, Instant};

use domain::health::Check;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::config::DatabaseConfig;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// How long a readiness probe may wait for Postgres before calling it down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Settings every connection starts with, so that a replica which vanishes mid-way holds
/// nobody up. Keepalives let Postgres notice a dead peer in about half a minute rather than
/// the operating system's two hours. A transaction left idle for 20 s is ended: Berth's
/// transactions send their statements back to back and wait on nothing outside the database,
/// so one that idles belongs to a replica whose packets no longer arrive, and the locks it
/// holds (the audit chain's among them) would otherwise stop every other replica.
const SESSION_SETTINGS: [(&str, &str); 4] = [
    ("tcp_keepalives_idle", "10"),
    ("tcp_keepalives_interval", "5"),
    ("tcp_keepalives_count", "3"),
    ("idle_in_transaction_session_timeout", "20s"),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database URL is not valid: {0}")]
    BadUrl(String),
    #[error(
        "cannot reach the database at {target}: {reason}; start Postgres there or point \
         BERTH_DATABASE_URL at one that answers"
    )]
    Unreachable { target: String, reason: String },
    #[error("applying database migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("recording the audit event failed: {0}")]
    Audit(String),
    /// Someone else changed it first; the message says what.
    #[error("{0}")]
    Conflict(String),
    /// A stored value Berth cannot read back.
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
}

/// The connection pool and the queries on it.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    /// Events recorded on their own go through one writer that commits them in batches.
    recorder: audit::Recorder,
    /// Keys the audit chain, when configured.
    audit_key: Option<std::sync::Arc<domain::audit::AuditKey>>,
}

impl Store {
    /// Connects eagerly, so an unreachable database is reported at start rather than on the
    /// first request.
    pub async fn connect(url: &str, config: &DatabaseConfig) -> Result<Store, StoreError> {
        Store::connect_keyed(url, config, None).await
    }

    /// As [`Store::connect`], appending audit events keyed with `audit_key`.
    pub async fn connect_keyed(
        url: &str,
        config: &DatabaseConfig,
        audit_key: Option<domain::audit::AuditKey>,
    ) -> Result<Store, StoreError> {
        let options: PgConnectOptions = url
            .parse::<PgConnectOptions>()
            .map_err(|err: sqlx::Error| StoreError::BadUrl(err.to_string()))?
            .options(SESSION_SETTINGS);
        let target = describe(&options);
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.connect_timeout)
            .connect_with(options)
            .await
            .map_err(|err| StoreError::Unreachable {
                target,
                reason: first_line(&err.to_string()),
            })?;
        let audit_key = audit_key.map(std::sync::Arc::new);
        let recorder = audit::Recorder::start(pool.clone(), audit_key.clone());
        Ok(Store {
            pool,
            recorder,
            audit_key,
        })
    }

    /// The key audit events are appended with, if any.
    pub fn audit_key(&self) -> Option<&domain::audit::AuditKey> {
        self.audit_key.as_deref()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Whether Postgres answers, with the schema version it holds.
    pub async fn probe(&self) -> Check {
        let started = Instant::now();
        let query = sqlx::query_scalar::<_, Option<i64>>(
            "SELECT max(version) FROM _sqlx_migrations WHERE success",
        )
        .fetch_one(&self.pool);
        match tokio::time::timeout(PROBE_TIMEOUT, query).await {
            Ok(Ok(version)) => Check::ok(
                "postgres",
                format!(
                    "answered in {} ms, schema version {}",
                    started.elapsed().as_millis(),
                    version.unwrap_or(0)
                ),
            ),
            Ok(Err(err)) => Check::failed("postgres", first_line(&err.to_string())),
            Err(_) => Check::failed(
                "postgres",
                format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
            ),
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates `name` on the server behind `admin_url` unless it exists.
pub async fn ensure_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    use sqlx::Connection;
    let options: PgConnectOptions = admin_url
        .parse()
        .map_err(|err: sqlx::Error| StoreError::BadUrl(err.to_string()))?;
    let target = describe(&options);
    let mut conn = sqlx::PgConnection::connect_with(&options)
        .await
        .map_err(|err| StoreError::Unreachable {
            target,
            reason: first_line(&err.to_string()),
        })?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        // Identifiers cannot be bound as parameters; quote it as Postgres does.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        sqlx::query(&format!("CREATE DATABASE {quoted}"))
            .execute(&mut conn)
            .await?;
    }
    conn.close().await?;
    Ok(())
}

/// host:port/database, never the password.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("(default)")
    )
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}
