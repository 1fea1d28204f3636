//! History from a real Prometheus (Debian's `prometheus` package): two days of cAdvisor and
//! kube-state-metrics series are written as OpenMetrics, turned into TSDB blocks with
//! `promtool tsdb create-blocks-from openmetrics`, served by Prometheus on loopback, read by
//! Berth's backfill and shown by its cost report. A second pass adds nothing.

use crate::common;

use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::flows::*;
use common::{TestPostgres, test_config};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use serde_json::json;
use server::reconcile::prometheus::{Backfill, Prometheus};
use server::store::Store;

const HOUR: i64 = 3_600;
const MIB: f64 = 1024.0 * 1024.0;

/// A series' labels and its value at a time.
type SeriesOf<'a> = (&'a str, Box<dyn Fn(i64) -> f64>);

/// Stops the Prometheus it holds when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Two days of one pod's series, a point a minute, ending an hour before `this_hour`.
fn openmetrics(start: i64, end: i64) -> String {
    let pod = r#"namespace="shop",pod="web-5d8f7c9b6-x2x9q""#;
    let container = format!(r#"{pod},container="web""#);
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, series: &[SeriesOf]| {
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in series {
            let sample = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            for t in (start..end).step_by(60) {
                let _ = writeln!(out, "{sample}{{{labels}}} {} {t}", value(t));
            }
        }
    };
    // 250 millicores all along: the counter grows 15 core-seconds a minute.
    family(
        "container_cpu_usage_seconds",
        "counter",
        &[(&container, Box::new(move |t| (t - start) as f64 * 0.25))],
    );
    family(
        "container_memory_working_set_bytes",
        "gauge",
        &[(&container, Box::new(|_| 200.0 * MIB))],
    );
    let cpu_request = format!(r#"{container},resource="cpu",unit="core""#);
    let memory_request = format!(r#"{container},resource="memory",unit="byte""#);
    family(
        "kube_pod_container_resource_requests",
        "gauge",
        &[
            (&cpu_request, Box::new(|_| 0.5)),
            (&memory_request, Box::new(|_| 512.0 * MIB)),
        ],
    );
    let info = format!(r#"{pod},uid="3f1c-uid",node="node-a""#);
    family("kube_pod_info", "gauge", &[(&info, Box::new(|_| 1.0))]);
    let owner = format!(r#"{pod},owner_kind="ReplicaSet",owner_name="web-5d8f7c9b6""#);
    family("kube_pod_owner", "gauge", &[(&owner, Box::new(|_| 1.0))]);
    family(
        "kube_node_status_allocatable",
        "gauge",
        &[
            (
                r#"node="node-a",resource="cpu",unit="core""#,
                Box::new(|_| 4.0),
            ),
            (
                r#"node="node-a",resource="memory",unit="byte""#,
                Box::new(|_| 16384.0 * MIB),
            ),
        ],
    );
    out.push_str("# EOF\n");
    out
}

fn start_prometheus(dir: &std::path::Path, start: i64, end: i64) -> (Running, String) {
    for tool in ["promtool", "prometheus"] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok(),
            "{tool} is missing: `make setup` installs Debian's prometheus package"
        );
    }
    let input = dir.join("history.om");
    std::fs::write(&input, openmetrics(start, end)).expect("write openmetrics");
    let data = dir.join("tsdb");
    let made = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&data)
        .output()
        .expect("promtool");
    assert!(
        made.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n").expect("config");
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=400d")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    (Running(child), format!("http://127.0.0.1:{port}"))
}

#[test]
fn history_the_sampler_never_saw_is_read_from_prometheus() {
    common::run(async {
        let now = jiff::Timestamp::now().as_second();
        let this_hour = now.div_euclid(HOUR) * HOUR;
        let (start, end) = (this_hour - 49 * HOUR, this_hour - HOUR);
        let dir = common::scratch_dir("prometheus-");
        let (_prometheus, url) = start_prometheus(dir.path(), start, end);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !client
            .get(format!("{url}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "Prometheus never became ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        let pg = TestPostgres::start();
        let db = pg.database("berth_prometheus").await;
        let app = common::TestApp::spawn(&db, test_config()).await;
        let admin = admin_client(&app).await;
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": { "name": "shop", "labels": { "berth.dev/team": "commerce" } }
        }))
        .expect("namespace");
        Api::<Namespace>::all(admin.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("namespace");
        let store = Store::connect(&db, &test_config().database)
            .await
            .expect("store");
        let dir2 = common::scratch_dir("prom-kube-");
        let path = dir2.path().join("kubeconfig");
        let kubeconfig = common::berth_kubeconfig(app.cluster()).await;
        std::fs::write(&path, kubeconfig).expect("kubeconfig");
        let cluster = server::cluster::Cluster::connect(&server::config::ClusterConfig {
            kubeconfig: Some(path),
            ..test_config().cluster
        })
        .await
        .expect("cluster");
        let caches = server::cluster::cache::Caches::start(&cluster);
        // The namespace is in the cache before its team is looked up.
        let deadline = Instant::now() + common::PATIENCE;
        while !caches
            .namespaces
            .state()
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some("shop"))
        {
            assert!(Instant::now() < deadline, "namespace never cached");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let backfill = Backfill::new(
            store.clone(),
            Prometheus::new(&url).expect("client"),
            caches.clone(),
            vec!["app".to_owned()],
            4,
            300,
        );
        let imported = backfill.pass(now).await.expect("backfill");
        // One row per hour of the two days, and the hour after: Prometheus keeps a series for
        // its 5-minute lookback past the last point, as it would for a pod that just ended.
        assert_eq!(imported, 49);

        // The container as Prometheus described it; its hours as the sampler would have.
        let (owner_kind, owner_name, team, node, cpu_request, memory_request): (
            String,
            String,
            Option<String>,
            String,
            f64,
            f64,
        ) = sqlx::query_as(
            "SELECT owner_kind, owner_name, team, node, cpu_request, memory_request \
             FROM usage_containers WHERE namespace = 'shop'",
        )
        .fetch_one(store.pool())
        .await
        .expect("container");
        assert_eq!(
            (owner_kind.as_str(), owner_name.as_str()),
            ("Deployment", "web")
        );
        assert_eq!(team.as_deref(), Some("commerce"));
        assert_eq!(node, "node-a");
        assert!((cpu_request - 0.5).abs() < 1e-9);
        assert!((memory_request - 512.0 * MIB).abs() < 1.0);
        let (hours, cpu, memory): (i64, f64, f64) = sqlx::query_as(
            "SELECT count(*), avg(cpu_avg)::float8, avg(memory_avg)::float8 FROM usage_hourly",
        )
        .fetch_one(store.pool())
        .await
        .expect("hours");
        assert_eq!(hours, 49);
        assert!((cpu - 0.25).abs() < 0.01, "{cpu} cores");
        assert!((memory - 200.0 * MIB).abs() < MIB, "{memory} bytes");
        let (alloc_core_hours,): (f64,) = sqlx::query_as("SELECT sum(cpu_alloc) FROM usage_daily")
            .fetch_one(store.pool())
            .await
            .expect("days");
        // The pod ran 48 hours; Prometheus answers for its series one 5-minute step past the
        // last scrape (its staleness look-back), and that 49th hour counts only the step it was
        // seen in, not the whole hour.
        let ran = 48.0 + 300.0 / 3600.0;
        assert!(
            (alloc_core_hours - 0.5 * ran).abs() < 0.01,
            "{ran} h × the 0.5-core request: {alloc_core_hours}"
        );
        let node_hours: i64 =
            sqlx::query_scalar("SELECT count(*) FROM node_hourly WHERE node = 'node-a'")
                .fetch_one(store.pool())
                .await
                .expect("node hours");
        assert_eq!(node_hours, 49);

        // Berth's cost report shows it: those core-hours at OpenCost's CPU price.
        let ada = sign_in(&app, "demo:ada").await;
        let csv = get_text(&app, &ada, "/api/v1/cost.csv?by=namespace&window=7d").await;
        let shop = csv
            .lines()
            .find(|l| l.starts_with("shop,"))
            .unwrap_or_else(|| panic!("no shop row in\n{csv}"));
        let cpu_cost: f64 = shop
            .split(',')
            .nth(2)
            .and_then(|v| v.parse().ok())
            .expect("cpu");
        assert!((cpu_cost - 0.5 * ran * 0.031611).abs() < 0.01, "{shop}");

        // Covered now: a second pass reads nothing and counts nothing twice.
        assert_eq!(backfill.pass(now).await.expect("again"), 0);
        let (again,): (f64,) = sqlx::query_as("SELECT sum(cpu_alloc) FROM usage_daily")
            .fetch_one(store.pool())
            .await
            .expect("days");
        assert!((again - alloc_core_hours).abs() < 1e-9);
        caches.stop();
        store.close().await;
        app.stop().await;
    });
}
