//! Berth's own metrics, served at `/metrics` in the Prometheus text format: HTTP requests by
//! route, method and status with a duration histogram; background loop runs, errors and the
//! time of their last run; watch-cache sizes and whether each cluster answers; sampler rows;
//! audit appends; JIT revocation delays. One process-wide set, so any module can count without threading a handle through.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    http_requests: Family<Labels, Counter>,
    http_duration: HistogramFamily,
    loop_runs: Family<Labels, Counter>,
    loop_errors: Family<Labels, Counter>,
    loop_last_run: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    cache_objects: Family<Labels, Gauge>,
    cluster_up: Family<Labels, Gauge>,
    sampler_rows: Counter,
    audit_appends: Counter,
    revoke_delay: Histogram,
}

/// One cluster of the fleet as `/metrics` reports it.
pub struct ClusterGauges {
    pub name: String,
    /// Its API server answered the last probe.
    pub up: bool,
    pub cache_sizes: Vec<(&'static str, usize)>,
}

fn request_buckets() -> Histogram {
    // 1 ms … about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("berth");
        let http_requests = Family::<Labels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            http_requests.clone(),
        );
        let http_duration: HistogramFamily = Family::new_with_constructor(request_buckets);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route and method",
            http_duration.clone(),
        );
        let loop_runs = Family::<Labels, Counter>::default();
        registry.register(
            "reconciler_runs",
            "Passes of each background loop",
            loop_runs.clone(),
        );
        let loop_errors = Family::<Labels, Counter>::default();
        registry.register(
            "reconciler_errors",
            "Failed passes of each background loop",
            loop_errors.clone(),
        );
        let loop_last_run = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "reconciler_last_run_timestamp_seconds",
            "When each background loop last finished a pass (its lag is now minus this)",
            loop_last_run.clone(),
        );
        let cache_objects = Family::<Labels, Gauge>::default();
        registry.register(
            "watch_cache_objects",
            "Objects held in each watch cache",
            cache_objects.clone(),
        );
        let cluster_up = Family::<Labels, Gauge>::default();
        registry.register(
            "cluster_up",
            "Whether each cluster's API server answered its last probe (1) or not (0)",
            cluster_up.clone(),
        );
        let sampler_rows = Counter::default();
        registry.register(
            "sampler_rows",
            "Usage samples written by the sampler",
            sampler_rows.clone(),
        );
        let audit_appends = Counter::default();
        registry.register(
            "audit_appends",
            "Events appended to the audit trail",
            audit_appends.clone(),
        );
        let revoke_delay = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "jit_revoke_delay_seconds",
            "Between a JIT grant falling due and its bindings being gone",
            revoke_delay.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_duration,
            loop_runs,
            loop_errors,
            loop_last_run,
            cache_objects,
            cluster_up,
            sampler_rows,
            audit_appends,
            revoke_delay,
        }
    }
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

fn metrics() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

/// One answered HTTP request.
pub fn http_request(route: &str, method: &str, status: u16, took: Duration) {
    let m = metrics();
    m.http_requests
        .get_or_create(&vec![
            ("route", route.to_owned()),
            ("method", method.to_owned()),
            ("status", status.to_string()),
        ])
        .inc();
    m.http_duration
        .get_or_create(&vec![
            ("route", route.to_owned()),
            ("method", method.to_owned()),
        ])
        .observe(took.as_secs_f64());
}

/// One pass of background loop `name`.
pub fn loop_pass(name: &'static str, worked: bool) {
    let m = metrics();
    let labels = vec![("loop", name.to_owned())];
    m.loop_runs.get_or_create(&labels).inc();
    if !worked {
        m.loop_errors.get_or_create(&labels).inc();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    m.loop_last_run.get_or_create(&labels).set(now);
}

pub fn sampler_rows(rows: usize) {
    metrics().sampler_rows.inc_by(rows as u64);
}

pub fn audit_appends(events: usize) {
    metrics().audit_appends.inc_by(events as u64);
}

pub fn revoke_delay(ms: f64) {
    metrics().revoke_delay.observe(ms.max(0.0) / 1000.0);
}

/// The text exposition, with each cluster's state and watch caches' sizes as they are now.
pub fn render(clusters: &[ClusterGauges]) -> String {
    let m = metrics();
    // A cluster that left the fleet leaves the exposition too.
    m.cache_objects.clear();
    m.cluster_up.clear();
    for cluster in clusters {
        m.cluster_up
            .get_or_create(&vec![("cluster", cluster.name.clone())])
            .set(i64::from(cluster.up));
        for (kind, size) in &cluster.cache_sizes {
            m.cache_objects
                .get_or_create(&vec![
                    ("cluster", cluster.name.clone()),
                    ("kind", (*kind).to_owned()),
                ])
                .set(i64::try_from(*size).unwrap_or(i64::MAX));
        }
    }
    let mut out = String::new();
    if encode(&mut out, &m.registry).is_err() {
        out.clear();
    }
    out
}
