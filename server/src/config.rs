//! Typed configuration: a TOML file overlaid by `BERTH_*` environment variables, validated once
//! at start so that every problem is reported together, each on its own line with its fix.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use domain::authz::Role;
use serde::Deserialize;

pub use crate::cluster::ClusterConfig;

/// Which command is loading the configuration: they differ in what is required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Production: a database URL is required, logs are JSON.
    Serve,
    /// `berth migrate`: only the database matters.
    Migrate,
    /// `berth demo`: everything has a default, logs are readable text.
    Demo,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// Where the built site lives (`pkg/berth.js`, `pkg/berth_bg.wasm`, `pkg/berth.css`).
    pub site_root: PathBuf,
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
    /// The home cluster: Berth's own loops that know one cluster run there.
    pub cluster: ClusterConfig,
    /// Further clusters (`[[clusters]]`); admins add more on the clusters page.
    pub clusters: Vec<ClusterConfig>,
    pub auth: AuthConfig,
    pub tenancy: TenancyConfig,
    pub usage: UsageConfig,
    pub access: AccessConfig,
    pub audit: AuditConfig,
    /// History from Prometheus for the hours the sampler never saw; `None` when not set.
    pub prometheus: Option<PrometheusConfig>,
    /// Sign-in through an OpenID Connect provider, when configured.
    pub oidc: Option<OidcConfig>,
    /// Loaded for `berth demo`: demo sign-in exists.
    pub demo: bool,
}

/// The audit trail's integrity: a key held apart from the database, and where signed
/// checkpoints of the chain's head go.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// HMAC key of the chain and its checkpoints; `None`: an unkeyed chain (warned about).
    pub key: Option<domain::audit::AuditKey>,
    /// Signed checkpoints are appended here (and always logged).
    pub checkpoint_file: Option<PathBuf>,
    pub checkpoint_interval: Duration,
}

#[derive(Clone, Debug)]
pub struct OidcConfig {
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back: `<Berth URL>/auth/oidc/callback`.
    pub redirect_url: String,
    /// Scopes besides `openid`; the groups claim usually needs its own.
    pub scopes: Vec<String>,
    /// Group → role (`developer`, `manager`, `sre`; admins are listed below).
    pub roles: BTreeMap<String, Role>,
    /// Group → team.
    pub teams: BTreeMap<String, String>,
    /// Subjects or emails of the admins.
    pub admins: Vec<String>,
    /// The cluster's API server accepts this issuer's ID tokens (`--oidc-issuer-url`): namespace
    /// kubeconfigs then use the `kubectl oidc-login` exec plugin instead of a certificate.
    pub cluster_trusts_issuer: bool,
    /// The client id kubectl signs in with (the API server's `--oidc-client-id`); Berth's own
    /// by default.
    pub kubectl_client_id: String,
}

/// The usage sampler behind the cost and idle reports.
#[derive(Clone, Debug)]
pub struct UsageConfig {
    /// How often the sampler reads the metrics API.
    pub sample_interval: Duration,
    /// How long raw samples stay after their hour was rolled up.
    pub raw_retention: Duration,
    /// Pod labels kept with the usage, for grouping reports.
    pub labels: Vec<String>,
    /// Where over-budget warnings go (JSON with a Slack-compatible `text`).
    pub budget_webhook_url: Option<String>,
    /// How often budgets are checked against the forecast.
    pub budget_check: Duration,
    /// How often the cluster is scanned for objects nothing uses.
    pub unused_scan: Duration,
    /// Days an object must exist before the scan may call it unused.
    pub unused_grace_days: f64,
}

/// Where older usage history comes from.
#[derive(Clone, Debug)]
pub struct PrometheusConfig {
    pub url: String,
    /// How far back to read before the sampler's first hour.
    pub backfill_days: i64,
    /// Seconds between points read (the sampler's view of an hour).
    pub step_secs: i64,
}

/// Just-in-time access.
#[derive(Clone, Debug)]
pub struct AccessConfig {
    /// A request nobody reviewed within this long ends as expired.
    pub review_within: Duration,
    /// How often the revoker looks for grants that are due.
    pub revoke_poll: Duration,
    /// Where new requests are announced (JSON with a Slack-compatible `text`).
    pub webhook_url: Option<String>,
    /// Namespace patterns no access request may name (besides the one Berth runs in).
    pub protected_namespaces: Vec<String>,
}

/// Namespace onboarding.
#[derive(Clone, Debug)]
pub struct TenancyConfig {
    /// Name prefixes nobody may request, besides `kube-`, `berth` and `openshift-`.
    pub reserved_prefixes: Vec<String>,
    /// Whole names nobody may request, besides the built-in list of platform names
    /// (`monitoring`, `cert-manager`, …).
    pub reserved_names: Vec<String>,
    /// How often the provisioner looks for work it was not woken for (after a restart, or
    /// work another replica approved).
    pub provision_interval: Duration,
    /// Lifetime of the certificate in a namespace kubeconfig (cut to the namespace's expiry).
    pub kubeconfig_lifetime: Duration,
    /// Offer a one-minute lifetime on every tier, to watch expiry happen (the demo's default;
    /// never on in production unless asked for).
    pub test_lifetime: bool,
    /// Where expiry warnings are posted (JSON), three days and one day before.
    pub expiry_webhook_url: Option<String>,
}

#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub session_absolute: Duration,
    /// Mark the session cookie `Secure` (always, when Berth is served over https).
    pub secure_cookies: bool,
    /// Failed anonymous attempts are written to the audit trail as one line per source and
    /// window of this length.
    pub failure_window: Duration,
    /// Failures per source and window answered as such; more get 429.
    pub failure_limit: u64,
    /// API tokens work while their owner signed in within this long (roles are read then).
    pub token_roles_max_age: Duration,
    /// The longest lifetime a new API token may have.
    pub token_max_days: u64,
}

#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    /// Absent only in demo mode, which then starts its own Postgres.
    pub url: Option<String>,
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    /// Host names (optionally `name:port`) Berth answers to; empty: any. A page served under a
    /// name an attacker controls (DNS rebinding) could otherwise act with a visitor's cookies.
    pub allowed_hosts: Vec<String>,
    /// How long a shutdown waits for in-flight requests before it closes them.
    pub shutdown_grace: Duration,
}

#[derive(Clone, Debug)]
pub struct LogConfig {
    /// An `EnvFilter` directive such as `info,server=debug`; `RUST_LOG` overrides it.
    pub filter: String,
    pub format: LogFormat,
}

/// Every problem found, so an operator fixes them in one round.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "invalid configuration: {one}"),
            many => {
                write!(f, "invalid configuration ({} problems):", many.len())?;
                for problem in many {
                    write!(f, "\n  - {problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn one(problem: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![problem.into()],
        }
    }
}

/// The file as written: every key optional, unknown keys rejected (a typo should not pass).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    site_root: Option<PathBuf>,
    #[serde(default)]
    database: RawDatabase,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    cluster: RawCluster,
    #[serde(default)]
    clusters: Vec<RawCluster>,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    tenancy: RawTenancy,
    #[serde(default)]
    usage: RawUsage,
    #[serde(default)]
    access: RawAccess,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    prometheus: RawPrometheus,
    #[serde(default)]
    oidc: RawOidc,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrometheus {
    url: Option<String>,
    backfill_days: Option<i64>,
    step_secs: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccess {
    review_within_minutes: Option<u64>,
    revoke_poll_millis: Option<u64>,
    webhook_url: Option<String>,
    protected_namespaces: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    key_file: Option<PathBuf>,
    checkpoint_file: Option<PathBuf>,
    checkpoint_secs: Option<u64>,
    /// Only from the environment (BERTH_AUDIT_KEY): a key in a config file would sit beside
    /// everything else.
    #[serde(skip)]
    key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOidc {
    issuer_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    redirect_url: Option<String>,
    scopes: Option<Vec<String>>,
    #[serde(default)]
    roles: BTreeMap<String, String>,
    #[serde(default)]
    teams: BTreeMap<String, String>,
    #[serde(default)]
    admins: Vec<String>,
    cluster_trusts_issuer: Option<bool>,
    kubectl_client_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsage {
    sample_interval_secs: Option<u64>,
    budget_webhook_url: Option<String>,
    budget_check_secs: Option<u64>,
    unused_scan_secs: Option<u64>,
    raw_retention_hours: Option<u64>,
    labels: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenancy {
    reserved_prefixes: Option<Vec<String>>,
    reserved_names: Option<Vec<String>>,
    provision_interval_secs: Option<u64>,
    kubeconfig_hours: Option<u64>,
    test_lifetime: Option<bool>,
    expiry_webhook_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    session_idle_minutes: Option<u64>,
    session_absolute_hours: Option<u64>,
    secure_cookies: Option<bool>,
    failure_window_secs: Option<u64>,
    failure_limit: Option<u64>,
    token_roles_max_age_days: Option<u64>,
    token_max_days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: Option<String>,
    display_name: Option<String>,
    region: Option<String>,
    environment: Option<String>,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    public_server: Option<String>,
    api_server: Option<String>,
    token_secret: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Option<String>,
    max_connections: Option<u32>,
    connect_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    request_timeout_secs: Option<u64>,
    body_limit_bytes: Option<usize>,
    allowed_hosts: Option<Vec<String>>,
    shutdown_grace_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    filter: Option<String>,
    format: Option<String>,
}

/// The environment variables Berth reads, and the file key each overrides.
pub const ENV_VARIABLES: &[(&str, &str)] = &[
    ("BERTH_LISTEN", "listen"),
    ("BERTH_SITE_ROOT", "site_root"),
    ("BERTH_DATABASE_URL", "database.url"),
    ("BERTH_DATABASE_MAX_CONNECTIONS", "database.max_connections"),
    (
        "BERTH_DATABASE_CONNECT_TIMEOUT_SECS",
        "database.connect_timeout_secs",
    ),
    (
        "BERTH_HTTP_REQUEST_TIMEOUT_SECS",
        "http.request_timeout_secs",
    ),
    ("BERTH_HTTP_BODY_LIMIT_BYTES", "http.body_limit_bytes"),
    ("BERTH_HTTP_ALLOWED_HOSTS", "http.allowed_hosts"),
    ("BERTH_HTTP_SHUTDOWN_GRACE_SECS", "http.shutdown_grace_secs"),
    ("BERTH_LOG_FILTER", "log.filter"),
    ("BERTH_LOG_FORMAT", "log.format"),
    ("BERTH_CLUSTER_KUBECONFIG", "cluster.kubeconfig"),
    ("BERTH_CLUSTER_CONTEXT", "cluster.context"),
    ("BERTH_CLUSTER_NAME", "cluster.name"),
    ("BERTH_CLUSTER_PUBLIC_SERVER", "cluster.public_server"),
    (
        "BERTH_AUTH_SESSION_IDLE_MINUTES",
        "auth.session_idle_minutes",
    ),
    (
        "BERTH_AUTH_SESSION_ABSOLUTE_HOURS",
        "auth.session_absolute_hours",
    ),
    ("BERTH_AUTH_SECURE_COOKIES", "auth.secure_cookies"),
    (
        "BERTH_TENANCY_PROVISION_INTERVAL_SECS",
        "tenancy.provision_interval_secs",
    ),
    ("BERTH_TENANCY_TEST_LIFETIME", "tenancy.test_lifetime"),
    (
        "BERTH_TENANCY_EXPIRY_WEBHOOK_URL",
        "tenancy.expiry_webhook_url",
    ),
    (
        "BERTH_USAGE_SAMPLE_INTERVAL_SECS",
        "usage.sample_interval_secs",
    ),
    ("BERTH_USAGE_BUDGET_WEBHOOK_URL", "usage.budget_webhook_url"),
    ("BERTH_ACCESS_WEBHOOK_URL", "access.webhook_url"),
    ("BERTH_AUDIT_KEY", "the audit key itself (32 bytes or more)"),
    ("BERTH_AUDIT_KEY_FILE", "audit.key_file"),
    ("BERTH_AUDIT_CHECKPOINT_FILE", "audit.checkpoint_file"),
    (
        "BERTH_ACCESS_PROTECTED_NAMESPACES",
        "access.protected_namespaces",
    ),
    ("BERTH_PROMETHEUS_URL", "prometheus.url"),
    ("BERTH_OIDC_ISSUER_URL", "oidc.issuer_url"),
    ("BERTH_OIDC_CLIENT_ID", "oidc.client_id"),
    ("BERTH_OIDC_CLIENT_SECRET", "oidc.client_secret"),
    ("BERTH_OIDC_REDIRECT_URL", "oidc.redirect_url"),
    (
        "BERTH_OIDC_CLUSTER_TRUSTS_ISSUER",
        "oidc.cluster_trusts_issuer",
    ),
];

const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;

impl Config {
    /// Loads the file (if any), overlays the environment, validates.
    ///
    /// `env` is passed in rather than read here so tests can state it exactly.
    pub fn load(
        mode: Mode,
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let mut raw = match file {
            Some(path) => read_file(path)?,
            None => RawConfig::default(),
        };
        let mut problems = Vec::new();
        overlay_env(&mut raw, env, &mut problems);
        let config = validate(mode, raw, &mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError { problems })
        }
    }
}

fn read_file(path: &Path) -> Result<RawConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        ConfigError::one(format!(
            "cannot read config file {}: {err}; check the --config path",
            path.display()
        ))
    })?;
    toml::from_str(&text).map_err(|err| {
        let place = err
            .span()
            .map(|span| {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!(" at line {line}")
            })
            .unwrap_or_default();
        ConfigError::one(format!(
            "config file {} is not valid{place}: {}",
            path.display(),
            err.message().trim()
        ))
    })
}

fn overlay_env(raw: &mut RawConfig, env: &HashMap<String, String>, problems: &mut Vec<String>) {
    // `DATABASE_URL` is the name every Postgres tool knows; the BERTH_ one wins when both exist.
    if let Some(url) = env
        .get("BERTH_DATABASE_URL")
        .or_else(|| env.get("DATABASE_URL"))
    {
        raw.database.url = Some(url.clone());
    }
    if let Some(v) = env.get("BERTH_LISTEN") {
        raw.listen = Some(v.clone());
    }
    if let Some(v) = env.get("BERTH_SITE_ROOT") {
        raw.site_root = Some(PathBuf::from(v));
    }
    if let Some(v) = env.get("BERTH_LOG_FILTER") {
        raw.log.filter = Some(v.clone());
    }
    if let Some(v) = env.get("BERTH_LOG_FORMAT") {
        raw.log.format = Some(v.clone());
    }
    if let Some(v) = env
        .get("BERTH_CLUSTER_KUBECONFIG")
        .filter(|v| !v.is_empty())
    {
        raw.cluster.kubeconfig = Some(PathBuf::from(v));
    }
    for (name, slot) in [
        ("BERTH_OIDC_ISSUER_URL", &mut raw.oidc.issuer_url),
        ("BERTH_OIDC_CLIENT_ID", &mut raw.oidc.client_id),
        ("BERTH_OIDC_CLIENT_SECRET", &mut raw.oidc.client_secret),
        ("BERTH_OIDC_REDIRECT_URL", &mut raw.oidc.redirect_url),
    ] {
        if let Some(v) = env.get(name).filter(|v| !v.is_empty()) {
            *slot = Some(v.clone());
        }
    }
    for (name, slot) in [
        ("BERTH_CLUSTER_CONTEXT", &mut raw.cluster.context),
        ("BERTH_CLUSTER_NAME", &mut raw.cluster.name),
        (
            "BERTH_CLUSTER_PUBLIC_SERVER",
            &mut raw.cluster.public_server,
        ),
    ] {
        if let Some(v) = env.get(name).filter(|v| !v.is_empty()) {
            *slot = Some(v.clone());
        }
    }
    parse_env(env, "BERTH_DATABASE_MAX_CONNECTIONS", problems, |v| {
        raw.database.max_connections = Some(v)
    });
    parse_env(env, "BERTH_DATABASE_CONNECT_TIMEOUT_SECS", problems, |v| {
        raw.database.connect_timeout_secs = Some(v)
    });
    parse_env(env, "BERTH_HTTP_REQUEST_TIMEOUT_SECS", problems, |v| {
        raw.http.request_timeout_secs = Some(v)
    });
    parse_env(env, "BERTH_HTTP_BODY_LIMIT_BYTES", problems, |v| {
        raw.http.body_limit_bytes = Some(v)
    });
    if let Some(v) = env.get("BERTH_HTTP_ALLOWED_HOSTS") {
        raw.http.allowed_hosts = Some(comma_list(v));
    }
    parse_env(env, "BERTH_HTTP_SHUTDOWN_GRACE_SECS", problems, |v| {
        raw.http.shutdown_grace_secs = Some(v)
    });
    parse_env(
        env,
        "BERTH_TENANCY_PROVISION_INTERVAL_SECS",
        problems,
        |v| raw.tenancy.provision_interval_secs = Some(v),
    );
    parse_env(env, "BERTH_USAGE_SAMPLE_INTERVAL_SECS", problems, |v| {
        raw.usage.sample_interval_secs = Some(v)
    });
    parse_env(env, "BERTH_AUTH_SESSION_IDLE_MINUTES", problems, |v| {
        raw.auth.session_idle_minutes = Some(v)
    });
    parse_env(env, "BERTH_AUTH_SESSION_ABSOLUTE_HOURS", problems, |v| {
        raw.auth.session_absolute_hours = Some(v)
    });
    if let Some(v) = env_bool(env, "BERTH_AUTH_SECURE_COOKIES", problems) {
        raw.auth.secure_cookies = Some(v);
    }
    if let Some(v) = env_bool(env, "BERTH_OIDC_CLUSTER_TRUSTS_ISSUER", problems) {
        raw.oidc.cluster_trusts_issuer = Some(v);
    }
    if let Some(v) = env_bool(env, "BERTH_TENANCY_TEST_LIFETIME", problems) {
        raw.tenancy.test_lifetime = Some(v);
    }
    if let Some(v) = env.get("BERTH_USAGE_BUDGET_WEBHOOK_URL") {
        raw.usage.budget_webhook_url = Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    }
    if let Some(v) = env.get("BERTH_PROMETHEUS_URL") {
        raw.prometheus.url = Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    }
    if let Some(v) = env.get("BERTH_ACCESS_WEBHOOK_URL") {
        raw.access.webhook_url = Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    }
    if let Some(v) = env.get("BERTH_AUDIT_KEY") {
        raw.audit.key = Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    }
    if let Some(v) = env.get("BERTH_AUDIT_KEY_FILE") {
        raw.audit.key_file = Some(PathBuf::from(v.trim())).filter(|p| !p.as_os_str().is_empty());
    }
    if let Some(v) = env.get("BERTH_AUDIT_CHECKPOINT_FILE") {
        raw.audit.checkpoint_file =
            Some(PathBuf::from(v.trim())).filter(|p| !p.as_os_str().is_empty());
    }
    if let Some(v) = env.get("BERTH_ACCESS_PROTECTED_NAMESPACES") {
        raw.access.protected_namespaces = Some(comma_list(v));
    }
    if let Some(v) = env.get("BERTH_TENANCY_EXPIRY_WEBHOOK_URL") {
        raw.tenancy.expiry_webhook_url = Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    }
    for name in env.keys() {
        let known = ENV_VARIABLES.iter().any(|(known, _)| known == name);
        // BERTH_PG_BINDIR is read by the local Postgres launcher, not by this struct.
        if name.starts_with("BERTH_") && !known && name != "BERTH_PG_BINDIR" {
            problems.push(format!(
                "unknown environment variable {name}; known ones are {}",
                ENV_VARIABLES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
}

fn parse_env<T: FromStr>(
    env: &HashMap<String, String>,
    name: &str,
    problems: &mut Vec<String>,
    set: impl FnOnce(T),
) {
    if let Some(text) = env.get(name) {
        match text.trim().parse::<T>() {
            Ok(value) => set(value),
            Err(_) => problems.push(format!("{name}={text:?} is not a whole number")),
        }
    }
}

fn validate(mode: Mode, raw: RawConfig, problems: &mut Vec<String>) -> Config {
    let default_listen = match mode {
        Mode::Demo => SocketAddr::from(([127, 0, 0, 1], 3000)),
        Mode::Serve | Mode::Migrate => SocketAddr::from(([0, 0, 0, 0], 8080)),
    };
    let listen = match raw.listen {
        None => default_listen,
        Some(text) => text.parse().unwrap_or_else(|_| {
            problems.push(format!(
                "listen = {text:?} is not an address such as 0.0.0.0:8080 (set `listen` or BERTH_LISTEN)"
            ));
            default_listen
        }),
    };

    let url = raw.database.url.filter(|u| !u.trim().is_empty());
    match &url {
        None if mode != Mode::Demo => problems.push(
            "no database URL: set BERTH_DATABASE_URL (or DATABASE_URL, or `database.url` in the \
             config file) to postgres://user:password@host:5432/berth"
                .to_owned(),
        ),
        Some(u) if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) => problems
            .push(
                "the database URL must start with postgres:// or postgresql:// \
                 (BERTH_DATABASE_URL or `database.url`)"
                    .to_owned(),
            ),
        _ => {}
    }
    let max_connections = raw.database.max_connections.unwrap_or(10);
    if max_connections == 0 {
        problems.push("database.max_connections must be at least 1".to_owned());
    }
    let connect_timeout_secs = raw.database.connect_timeout_secs.unwrap_or(5);
    if connect_timeout_secs == 0 {
        problems.push("database.connect_timeout_secs must be at least 1".to_owned());
    }

    let request_timeout_secs = raw
        .http
        .request_timeout_secs
        .unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECS);
    if request_timeout_secs == 0 {
        problems.push("http.request_timeout_secs must be at least 1".to_owned());
    }
    // Kubernetes sends SIGKILL 30 s after SIGTERM by default: finish well inside that.
    let shutdown_grace_secs = raw.http.shutdown_grace_secs.unwrap_or(10);
    if shutdown_grace_secs > 600 {
        problems.push(format!(
            "http.shutdown_grace_secs = {shutdown_grace_secs} is more than 600 (ten minutes)"
        ));
    }
    let body_limit_bytes = raw.http.body_limit_bytes.unwrap_or(DEFAULT_BODY_LIMIT);
    if body_limit_bytes < 1024 {
        problems.push(format!(
            "http.body_limit_bytes = {body_limit_bytes} is too small to carry a form; use at least 1024"
        ));
    }

    // The demo answers to loopback names only unless told otherwise; serve to the names given.
    let allowed_hosts = raw.http.allowed_hosts.unwrap_or_else(|| match mode {
        Mode::Demo => ["127.0.0.1", "localhost", "[::1]"]
            .map(str::to_owned)
            .to_vec(),
        Mode::Serve | Mode::Migrate => Vec::new(),
    });
    for host in &allowed_hosts {
        let valid = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
        if !valid {
            problems.push(format!(
                "http.allowed_hosts has {host:?}: give host names such as \"berth.example.com\" or \"berth.example.com:8443\""
            ));
        }
    }

    let filter = raw.log.filter.unwrap_or_else(|| "info".to_owned());
    if let Err(err) = tracing_subscriber::EnvFilter::try_new(&filter) {
        problems.push(format!(
            "log.filter = {filter:?} is not a valid filter ({err}); e.g. \"info,server=debug\""
        ));
    }
    let format = match raw.log.format.as_deref() {
        None => match mode {
            Mode::Demo => LogFormat::Pretty,
            Mode::Serve | Mode::Migrate => LogFormat::Json,
        },
        Some("json") => LogFormat::Json,
        Some("pretty") | Some("text") => LogFormat::Pretty,
        Some(other) => {
            problems.push(format!(
                "log.format = {other:?} is not one of \"json\", \"pretty\" (BERTH_LOG_FORMAT)"
            ));
            LogFormat::Json
        }
    };

    let home_name = raw
        .cluster
        .name
        .clone()
        .unwrap_or_else(|| crate::cluster::DEFAULT_NAME.to_owned());
    Config {
        listen,
        site_root: raw
            .site_root
            .unwrap_or_else(|| PathBuf::from("target/site")),
        database: DatabaseConfig {
            url,
            max_connections,
            connect_timeout: Duration::from_secs(connect_timeout_secs),
        },
        http: HttpConfig {
            request_timeout: Duration::from_secs(request_timeout_secs),
            body_limit_bytes,
            allowed_hosts,
            shutdown_grace: Duration::from_secs(shutdown_grace_secs.min(600)),
        },
        log: LogConfig { filter, format },
        cluster: validate_cluster("cluster", raw.cluster, true, problems),
        clusters: validate_more_clusters(raw.clusters, &home_name, problems),
        auth: validate_auth(mode, raw.auth, problems),
        tenancy: validate_tenancy(mode, raw.tenancy, problems),
        usage: validate_usage(mode, raw.usage, problems),
        access: validate_access(raw.access, problems),
        audit: validate_audit(raw.audit, problems),
        prometheus: validate_prometheus(raw.prometheus, problems),
        oidc: validate_oidc(raw.oidc, problems),
        demo: mode == Mode::Demo,
    }
}

fn validate_audit(raw: RawAudit, problems: &mut Vec<String>) -> AuditConfig {
    let text = match (&raw.key, &raw.key_file) {
        (Some(_), Some(_)) => {
            problems.push(
                "the audit key is given twice (BERTH_AUDIT_KEY and audit.key_file); keep one"
                    .to_owned(),
            );
            None
        }
        (Some(key), None) => Some(key.clone()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text.trim().to_owned()),
            Err(err) => {
                problems.push(format!(
                    "audit.key_file {}: {err}; write a key there (e.g. `openssl rand -hex 32 > {}`)",
                    path.display(),
                    path.display()
                ));
                None
            }
        },
        (None, None) => None,
    };
    let key = text.and_then(|t| match domain::audit::AuditKey::new(t.into_bytes()) {
        Ok(key) => Some(key),
        Err(why) => {
            problems.push(why);
            None
        }
    });
    if raw.checkpoint_file.is_some() && key.is_none() && problems.is_empty() {
        problems.push(
            "audit.checkpoint_file needs an audit key to sign with (audit.key_file or BERTH_AUDIT_KEY)"
                .to_owned(),
        );
    }
    let secs = raw.checkpoint_secs.unwrap_or(60);
    if !(1..=3600).contains(&secs) {
        problems.push(format!(
            "audit.checkpoint_secs must be between 1 and 3600, not {secs}"
        ));
    }
    AuditConfig {
        key,
        checkpoint_file: raw.checkpoint_file,
        checkpoint_interval: Duration::from_secs(secs.clamp(1, 3600)),
    }
}

fn validate_oidc(raw: RawOidc, problems: &mut Vec<String>) -> Option<OidcConfig> {
    let any = raw.issuer_url.is_some() || raw.client_id.is_some() || raw.redirect_url.is_some();
    if !any {
        if raw.cluster_trusts_issuer == Some(true) {
            problems.push(
                "oidc.cluster_trusts_issuer is set, but no issuer is configured ([oidc] issuer_url, \
                 client_id, redirect_url)"
                    .to_owned(),
            );
        }
        return None;
    }
    let mut required = |value: Option<String>, key: &str, env: &str| match value
        .filter(|v| v.starts_with("http://") || v.starts_with("https://") || !key.ends_with("url"))
    {
        Some(v) => v,
        None => {
            problems.push(format!(
                "oidc.{key} is missing or not a URL (set it in [oidc] or {env})"
            ));
            String::new()
        }
    };
    let issuer_url = required(raw.issuer_url, "issuer_url", "BERTH_OIDC_ISSUER_URL");
    let client_id = required(raw.client_id, "client_id", "BERTH_OIDC_CLIENT_ID");
    let redirect_url = required(raw.redirect_url, "redirect_url", "BERTH_OIDC_REDIRECT_URL");
    let mut roles = BTreeMap::new();
    for (group, role) in raw.roles {
        match Role::parse(&role) {
            Some(Role::Admin) => problems.push(format!(
                "oidc.roles maps {group:?} to admin; list admins by subject or email in oidc.admins instead"
            )),
            Some(r) => {
                roles.insert(group, r);
            }
            None => problems.push(format!(
                "oidc.roles maps {group:?} to {role:?}, which is not developer, manager or sre"
            )),
        }
    }
    Some(OidcConfig {
        issuer_url,
        client_secret: raw.client_secret.filter(|s| !s.is_empty()),
        redirect_url,
        scopes: raw
            .scopes
            .unwrap_or_else(|| {
                vec![
                    "email".to_owned(),
                    "profile".to_owned(),
                    "groups".to_owned(),
                ]
            })
            .into_iter()
            .filter(|s| s != "openid")
            .collect(),
        roles,
        teams: raw.teams,
        admins: raw.admins,
        cluster_trusts_issuer: raw.cluster_trusts_issuer.unwrap_or(false),
        kubectl_client_id: raw
            .kubectl_client_id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| client_id.clone()),
        client_id,
    })
}

/// A `true` / `false` (or `1` / `0`) environment variable.
fn env_bool(env: &HashMap<String, String>, name: &str, problems: &mut Vec<String>) -> Option<bool> {
    match env.get(name)?.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        other => {
            problems.push(format!("{name}={other:?} is not true or false"));
            None
        }
    }
}

fn validate_usage(mode: Mode, raw: RawUsage, problems: &mut Vec<String>) -> UsageConfig {
    let interval = raw.sample_interval_secs.unwrap_or(60);
    if !(1..=3600).contains(&interval) {
        problems.push(format!(
            "usage.sample_interval_secs must be between 1 and 3600, not {interval}"
        ));
    }
    let retention = raw.raw_retention_hours.unwrap_or(6);
    if retention < 2 {
        problems.push(
            "usage.raw_retention_hours must be at least 2 (an hour is rolled up once it is over)"
                .to_owned(),
        );
    }
    let labels = raw.labels.unwrap_or_else(|| {
        ["app", "release", "app.kubernetes.io/name", "team"]
            .map(str::to_owned)
            .to_vec()
    });
    if let Some(url) = &raw.budget_webhook_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        problems.push(format!(
            "usage.budget_webhook_url: {url:?} is not an http(s) URL"
        ));
    }
    let check = raw.budget_check_secs.unwrap_or(600);
    if check == 0 {
        problems.push("usage.budget_check_secs must be at least 1".to_owned());
    }
    UsageConfig {
        sample_interval: Duration::from_secs(interval.clamp(1, 3600)),
        raw_retention: Duration::from_secs(retention.max(2) * 3600),
        labels,
        budget_webhook_url: raw.budget_webhook_url,
        budget_check: Duration::from_secs(check.max(1)),
        unused_scan: Duration::from_secs(raw.unused_scan_secs.unwrap_or(600).max(1)),
        // The demo's objects were all made at start; they stand for older ones.
        unused_grace_days: if mode == Mode::Demo {
            0.0
        } else {
            domain::unused::GRACE_DAYS
        },
    }
}

/// One cluster's entry; `home` may leave the kubeconfig out (in-cluster credentials).
fn validate_cluster(
    at: &str,
    raw: RawCluster,
    home: bool,
    problems: &mut Vec<String>,
) -> ClusterConfig {
    let name = raw
        .name
        .unwrap_or_else(|| crate::cluster::DEFAULT_NAME.to_owned());
    let draft = domain::fleet::ClusterDraft {
        name: name.clone(),
        display_name: raw.display_name.clone().unwrap_or_default(),
        region: raw.region.clone().unwrap_or_default(),
        environment: raw.environment.clone().unwrap_or_default(),
        // Checked below: a home cluster may go without, and relative paths are fine here.
        kubeconfig: if raw.kubeconfig.is_some() || raw.token_secret.is_none() {
            "/".to_owned()
        } else {
            String::new()
        },
        context: raw.context.clone().unwrap_or_default(),
        public_server: raw.public_server.clone().unwrap_or_default(),
        api_server: raw.api_server.clone().unwrap_or_default(),
        token_secret: raw.token_secret.clone().unwrap_or_default(),
    };
    if let Err(errors) = draft.validate(&[]) {
        for e in errors {
            problems.push(format!("{at}.{}: {}", e.field, e.message));
        }
    }
    if home && raw.token_secret.is_some() {
        problems.push(format!(
            "{at}.token_secret: the home cluster holds the token Secrets of the others; it is reached with a kubeconfig or Berth's in-cluster service account"
        ));
    } else if !home && raw.kubeconfig.is_none() && raw.token_secret.is_none() {
        problems.push(format!(
            "{at} ({name}) has no kubeconfig nor token_secret: only the home cluster ([cluster]) may use Berth's in-cluster service account"
        ));
    }
    ClusterConfig {
        name,
        display_name: draft.display_name,
        region: draft.region,
        environment: draft.environment,
        kubeconfig: raw.kubeconfig,
        context: raw.context,
        public_server: raw.public_server,
        api_server: raw.api_server,
        token_secret: raw.token_secret,
    }
}

fn validate_more_clusters(
    raw: Vec<RawCluster>,
    home: &str,
    problems: &mut Vec<String>,
) -> Vec<ClusterConfig> {
    let mut names = vec![home.to_owned()];
    let mut clusters = Vec::new();
    for (i, c) in raw.into_iter().enumerate() {
        let at = format!("clusters[{i}]");
        let cluster = validate_cluster(&at, c, false, problems);
        if names.contains(&cluster.name) {
            problems.push(format!(
                "{at}.name: {} names another cluster already; every cluster needs a name of its own",
                cluster.name
            ));
        }
        names.push(cluster.name.clone());
        clusters.push(cluster);
    }
    clusters
}

fn validate_prometheus(raw: RawPrometheus, problems: &mut Vec<String>) -> Option<PrometheusConfig> {
    let url = raw.url?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        problems.push(format!("prometheus.url: {url:?} is not an http(s) URL"));
    }
    let days = raw.backfill_days.unwrap_or(30);
    if !(1..=400).contains(&days) {
        problems.push(format!(
            "prometheus.backfill_days must be between 1 and 400, not {days}"
        ));
    }
    let step = raw.step_secs.unwrap_or(300);
    if !(15..=3600).contains(&step) {
        problems.push(format!(
            "prometheus.step_secs must be between 15 and 3600, not {step}"
        ));
    }
    Some(PrometheusConfig {
        url,
        backfill_days: days.clamp(1, 400),
        step_secs: step.clamp(15, 3600),
    })
}

/// `a, b,,c` → `[a, b, c]`: list settings given in one environment variable.
fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn validate_access(raw: RawAccess, problems: &mut Vec<String>) -> AccessConfig {
    let review = raw.review_within_minutes.unwrap_or(60);
    if !(1..=7 * 24 * 60).contains(&review) {
        problems.push(format!(
            "access.review_within_minutes must be between 1 and 10080 (a week), not {review}"
        ));
    }
    let poll = raw.revoke_poll_millis.unwrap_or(1000);
    if !(50..=60_000).contains(&poll) {
        problems.push(format!(
            "access.revoke_poll_millis must be between 50 and 60000, not {poll}"
        ));
    }
    if let Some(url) = &raw.webhook_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        problems.push(format!("access.webhook_url: {url:?} is not an http(s) URL"));
    }
    let protected_namespaces = raw
        .protected_namespaces
        .unwrap_or_else(|| domain::jit::DEFAULT_PROTECTED.map(str::to_owned).to_vec());
    for pattern in &protected_namespaces {
        let valid = !pattern.is_empty()
            && pattern
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '*');
        if !valid {
            problems.push(format!(
                "access.protected_namespaces: {pattern:?} is not a namespace pattern \
                 (lower-case letters, digits, '-', '*' for any run of characters)"
            ));
        }
    }
    AccessConfig {
        review_within: Duration::from_secs(review.clamp(1, 7 * 24 * 60) * 60),
        revoke_poll: Duration::from_millis(poll.clamp(50, 60_000)),
        webhook_url: raw.webhook_url,
        protected_namespaces,
    }
}

fn validate_tenancy(mode: Mode, raw: RawTenancy, problems: &mut Vec<String>) -> TenancyConfig {
    let reserved_prefixes = raw.reserved_prefixes.unwrap_or_default();
    for prefix in &reserved_prefixes {
        let lowercase_label = prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if prefix.is_empty() || !lowercase_label {
            problems.push(format!(
                "tenancy.reserved_prefixes: {prefix:?} is not the start of a namespace name \
                 (lower-case letters, digits, '-')"
            ));
        }
    }
    let reserved_names = raw.reserved_names.unwrap_or_default();
    for name in &reserved_names {
        if let Err(why) = domain::tenancy::check_label(name) {
            problems.push(format!(
                "tenancy.reserved_names: {name:?} is not a namespace name: {why}"
            ));
        }
    }
    let secs = raw.provision_interval_secs.unwrap_or(5);
    if secs == 0 {
        problems.push("tenancy.provision_interval_secs must be at least 1".to_owned());
    }
    let hours = raw.kubeconfig_hours.unwrap_or(7 * 24);
    if hours == 0 {
        problems.push("tenancy.kubeconfig_hours must be at least 1".to_owned());
    }
    if let Some(url) = &raw.expiry_webhook_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        problems.push(format!(
            "tenancy.expiry_webhook_url: {url:?} is not an http(s) URL"
        ));
    }
    TenancyConfig {
        reserved_prefixes,
        reserved_names,
        provision_interval: Duration::from_secs(secs.max(1)),
        kubeconfig_lifetime: Duration::from_secs(hours.max(1) * 3600),
        test_lifetime: raw.test_lifetime.unwrap_or(mode == Mode::Demo),
        expiry_webhook_url: raw.expiry_webhook_url,
    }
}

fn validate_auth(mode: Mode, raw: RawAuth, problems: &mut Vec<String>) -> AuthConfig {
    let idle = raw.session_idle_minutes.unwrap_or(8 * 60);
    let absolute = raw.session_absolute_hours.unwrap_or(24);
    if idle == 0 {
        problems.push("auth.session_idle_minutes must be at least 1".to_owned());
    }
    if absolute == 0 {
        problems.push("auth.session_absolute_hours must be at least 1".to_owned());
    }
    let window = raw.failure_window_secs.unwrap_or(60);
    if !(1..=3600).contains(&window) {
        problems.push(format!(
            "auth.failure_window_secs must be between 1 and 3600, not {window}"
        ));
    }
    let limit = raw.failure_limit.unwrap_or(20);
    if limit == 0 {
        problems.push("auth.failure_limit must be at least 1".to_owned());
    }
    let roles_days = raw.token_roles_max_age_days.unwrap_or(30);
    if !(1..=365).contains(&roles_days) {
        problems.push(format!(
            "auth.token_roles_max_age_days must be between 1 and 365, not {roles_days}"
        ));
    }
    let token_days = raw.token_max_days.unwrap_or(90);
    if !(1..=365).contains(&token_days) {
        problems.push(format!(
            "auth.token_max_days must be between 1 and 365, not {token_days}"
        ));
    }
    AuthConfig {
        token_roles_max_age: Duration::from_secs(roles_days.clamp(1, 365) * 86_400),
        token_max_days: token_days.clamp(1, 365),
        session_idle: Duration::from_secs(idle * 60),
        session_absolute: Duration::from_secs(absolute * 3600),
        // The demo runs on plain http on loopback; production sits behind https.
        secure_cookies: raw.secure_cookies.unwrap_or(mode != Mode::Demo),
        failure_window: Duration::from_secs(window.clamp(1, 3600)),
        failure_limit: limit.max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    #[test]
    fn serve_without_database_url_names_the_variable() {
        let err = Config::load(Mode::Serve, None, &env(&[])).expect_err("must fail");
        assert_eq!(err.problems.len(), 1);
        assert!(err.problems[0].contains("BERTH_DATABASE_URL"), "{err}");
    }

    #[test]
    fn tenancy_extras_default_by_mode_and_are_checked() {
        let demo = Config::load(Mode::Demo, None, &env(&[])).expect("defaults");
        assert!(demo.tenancy.test_lifetime, "the demo shows expiry happen");
        assert_eq!(demo.tenancy.expiry_webhook_url, None);
        let serve = Config::load(
            Mode::Serve,
            None,
            &env(&[
                ("BERTH_DATABASE_URL", "postgres://a@h/db"),
                (
                    "BERTH_TENANCY_EXPIRY_WEBHOOK_URL",
                    "https://hooks.example.com/x",
                ),
            ]),
        )
        .expect("valid");
        assert!(
            !serve.tenancy.test_lifetime,
            "never in production unless asked"
        );
        assert_eq!(
            serve.tenancy.expiry_webhook_url.as_deref(),
            Some("https://hooks.example.com/x")
        );
        let err = Config::load(
            Mode::Serve,
            None,
            &env(&[
                ("BERTH_DATABASE_URL", "postgres://a@h/db"),
                ("BERTH_TENANCY_EXPIRY_WEBHOOK_URL", "hooks.example.com"),
                ("BERTH_TENANCY_TEST_LIFETIME", "yes"),
                ("BERTH_OIDC_CLUSTER_TRUSTS_ISSUER", "true"),
            ]),
        )
        .expect_err("three problems");
        let text = err.to_string();
        for needle in [
            "expiry_webhook_url",
            "BERTH_TENANCY_TEST_LIFETIME=\"yes\"",
            "no issuer is configured",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
    }

    #[test]
    fn clusters_are_named_labelled_and_checked_together() {
        let f = file(
            "[cluster]\nname = \"eu-prod\"\ndisplay_name = \"EU production\"\n\
             public_server = \"https://k8s.eu.example.com:6443\"\n\
             [[clusters]]\nname = \"us-dev\"\nkubeconfig = \"/etc/berth/us-dev\"\n",
        );
        let config = Config::load(Mode::Demo, Some(f.path()), &env(&[])).expect("valid");
        assert_eq!(config.cluster.name, "eu-prod");
        assert_eq!(
            config.cluster.public_server.as_deref(),
            Some("https://k8s.eu.example.com:6443")
        );
        assert_eq!(config.clusters.len(), 1);
        assert_eq!(config.clusters[0].name, "us-dev");
        // Or through a token Secret the home cluster holds, with the address to use it on.
        let f = file(
            "[[clusters]]\nname = \"us-dev\"\napi_server = \"https://10.0.0.7:6443\"\n\
             token_secret = \"berth/us-dev-token\"\n",
        );
        let config = Config::load(Mode::Demo, Some(f.path()), &env(&[])).expect("valid");
        assert_eq!(
            config.clusters[0].token_secret.as_deref(),
            Some("berth/us-dev-token")
        );
        assert_eq!(config.clusters[0].kubeconfig, None);
        // Unnamed, the one cluster is `default`; the environment names it too.
        let plain = Config::load(Mode::Demo, None, &env(&[])).expect("defaults");
        assert_eq!(plain.cluster.name, "default");
        let named = Config::load(Mode::Demo, None, &env(&[("BERTH_CLUSTER_NAME", "eu-prod")]))
            .expect("named");
        assert_eq!(named.cluster.name, "eu-prod");

        let f = file(
            "[cluster]\nname = \"eu-prod\"\npublic_server = \"http://inside:6443\"\n\
             [[clusters]]\nname = \"eu-prod\"\nkubeconfig = \"/k\"\n\
             [[clusters]]\nname = \"US\"\n\
             [[clusters]]\nname = \"both\"\nkubeconfig = \"/k\"\ntoken_secret = \"berth/t\"\n\
             api_server = \"https://k:6443\"\n\
             [[clusters]]\nname = \"addressless\"\ntoken_secret = \"berth/t\"\n",
        );
        let err = Config::load(Mode::Demo, Some(f.path()), &env(&[])).expect_err("invalid");
        let text = err.to_string();
        for needle in [
            "cluster.public_server: must start with https://",
            "clusters[0].name: eu-prod names another cluster already",
            "clusters[1].name: only lower-case letters",
            "clusters[1] (US) has no kubeconfig",
            "clusters[2].kubeconfig: either a kubeconfig or a token Secret, not both",
            "clusters[3].api_server: the cluster's API address is required with a token Secret",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }

    #[test]
    fn demo_needs_nothing() {
        let config = Config::load(Mode::Demo, None, &env(&[])).expect("defaults");
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 3000)));
        assert_eq!(config.database.url, None);
        assert_eq!(config.log.format, LogFormat::Pretty);
    }

    #[test]
    fn environment_overrides_the_file() {
        let f = file("listen = \"127.0.0.1:9000\"\n[database]\nurl = \"postgres://a@h/db\"\n");
        let config = Config::load(
            Mode::Serve,
            Some(f.path()),
            &env(&[
                ("BERTH_LISTEN", "127.0.0.1:9100"),
                ("BERTH_HTTP_BODY_LIMIT_BYTES", "4096"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.listen.port(), 9100);
        assert_eq!(config.http.body_limit_bytes, 4096);
        assert_eq!(config.database.url.as_deref(), Some("postgres://a@h/db"));
        assert_eq!(config.log.format, LogFormat::Json);
    }

    #[test]
    fn berth_database_url_wins_over_database_url() {
        let config = Config::load(
            Mode::Serve,
            None,
            &env(&[
                ("DATABASE_URL", "postgres://generic/db"),
                ("BERTH_DATABASE_URL", "postgres://berth/db"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.database.url.as_deref(), Some("postgres://berth/db"));
    }

    #[test]
    fn malformed_file_is_one_line_with_its_line_number() {
        let f = file("listen = \"127.0.0.1:9000\"\n[database\nurl = 1\n");
        let err = Config::load(Mode::Serve, Some(f.path()), &env(&[])).expect_err("must fail");
        let text = err.to_string();
        assert!(!text.contains('\n'), "one line: {text}");
        assert!(text.contains("line 2"), "{text}");
    }

    #[test]
    fn unknown_key_is_rejected() {
        let f = file("[database]\nurl = \"postgres://h/db\"\npasword = \"x\"\n");
        let err = Config::load(Mode::Serve, Some(f.path()), &env(&[])).expect_err("must fail");
        assert!(err.to_string().contains("pasword"), "{err}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Config::load(
            Mode::Serve,
            Some(Path::new("/nonexistent/berth.toml")),
            &env(&[]),
        )
        .expect_err("must fail");
        assert!(err.to_string().contains("/nonexistent/berth.toml"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Config::load(
            Mode::Serve,
            None,
            &env(&[
                ("BERTH_LISTEN", "nowhere"),
                ("BERTH_DATABASE_URL", "mysql://h/db"),
                ("BERTH_HTTP_REQUEST_TIMEOUT_SECS", "soon"),
                ("BERTH_LOG_FORMAT", "xml"),
                ("BERTH_LOG_FILTER", "info,=[bad"),
                ("BERTH_COLOUR", "blue"),
            ]),
        )
        .expect_err("must fail");
        assert_eq!(err.problems.len(), 6, "{err}");
        for needle in [
            "BERTH_LISTEN",
            "postgres://",
            "BERTH_HTTP_REQUEST_TIMEOUT_SECS",
            "BERTH_LOG_FORMAT",
            "log.filter",
            "BERTH_COLOUR",
        ] {
            assert!(
                err.to_string().contains(needle),
                "{needle} missing in {err}"
            );
        }
    }

    #[test]
    fn oidc_needs_its_urls_and_known_roles() {
        let f = file(
            "[database]\nurl = \"postgres://h/db\"\n[oidc]\nissuer_url = \"https://login.example.com\"\nclient_id = \"berth\"\nredirect_url = \"https://berth.example.com/auth/oidc/callback\"\n[oidc.roles]\nsres = \"sre\"\n[oidc.teams]\nteam-payments = \"payments\"\n",
        );
        let config = Config::load(Mode::Serve, Some(f.path()), &env(&[])).expect("valid");
        let oidc = config.oidc.expect("oidc");
        assert_eq!(oidc.roles.get("sres"), Some(&Role::Sre));
        assert_eq!(
            oidc.teams.get("team-payments").map(String::as_str),
            Some("payments")
        );

        let f = file(
            "[database]\nurl = \"postgres://h/db\"\n[oidc]\nclient_id = \"berth\"\n[oidc.roles]\nops = \"root\"\nboss = \"admin\"\n",
        );
        let err = Config::load(Mode::Serve, Some(f.path()), &env(&[])).expect_err("invalid");
        let text = err.to_string();
        for needle in ["issuer_url", "redirect_url", "\"root\"", "oidc.admins"] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
    }

    #[test]
    fn zero_and_tiny_limits_are_refused() {
        let err = Config::load(
            Mode::Demo,
            None,
            &env(&[
                ("BERTH_HTTP_BODY_LIMIT_BYTES", "10"),
                ("BERTH_DATABASE_MAX_CONNECTIONS", "0"),
            ]),
        )
        .expect_err("must fail");
        assert_eq!(err.problems.len(), 2, "{err}");
    }
}
