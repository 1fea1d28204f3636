//! `/metrics` over real HTTP: requests counted by route template with durations, background
//! loops' runs, watch-cache sizes and audit appends, in the Prometheus text format.

use crate::common;

use std::time::{Duration, Instant};

/// The value of the first sample line starting with `prefix` (name and labels).
fn value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A `berth serve` process of its own: the metrics are the process's, and every other test
/// runs its Berth inside this binary.
struct Served {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(database_url: &str) -> Served {
    let dir = common::scratch_dir("metrics-");
    let kubeconfig = dir.path().join("kubeconfig");
    let log = dir.path().join("berth.log");
    let text = common::TestCluster::shared().await.berth_kubeconfig().await;
    std::fs::write(&kubeconfig, text).expect("kubeconfig");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    // Failed sign-ins reach the audit trail a second after, not a minute.
    let config = dir.path().join("berth.toml");
    std::fs::write(&config, "[auth]\nfailure_window_secs = 1\n").expect("config");
    let child = common::berth_command()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env("BERTH_DATABASE_URL", database_url)
        .env("BERTH_LISTEN", format!("127.0.0.1:{port}"))
        .env("BERTH_CLUSTER_KUBECONFIG", &kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn berth serve");
    let mut served = Served {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let deadline = Instant::now() + common::PATIENCE;
    while !reqwest::get(format!("{}/healthz", served.base))
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        let exited = served.child.try_wait().ok().flatten();
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "berth serve never answered ({exited:?}): {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    served
}

#[test]
fn metrics_count_requests_loops_caches_and_audit() {
    common::run(async {
        let pg = common::TestPostgres::start();
        let url = pg.database("berth_metrics").await;
        let berth = serve(&url).await;
        let client = reqwest::Client::new();
        let get = |path: &str| client.get(format!("{}{path}", berth.base)).send();
        // Three more after the one that found it up.
        for _ in 0..3 {
            assert_eq!(get("/healthz").await.expect("healthz").status(), 200);
        }
        let _ = get("/rollouts/deployment/shop/web").await.expect("page");
        // A token nobody issued: refused, and audited once the failure window closes.
        let refused = client
            .get(format!("{}/api/v1/me", berth.base))
            .bearer_auth("berth_forged")
            .send()
            .await
            .expect("me");
        assert_eq!(refused.status(), 401);

        let deadline = Instant::now() + common::PATIENCE;
        let text = loop {
            let res = get("/metrics").await.expect("metrics");
            assert_eq!(res.status(), 200);
            assert!(
                res.headers()["content-type"]
                    .to_str()
                    .is_ok_and(|t| t.starts_with("application/openmetrics-text"))
            );
            let text = res.text().await.expect("metrics");
            let ready = value(
                &text,
                "berth_watch_cache_objects{cluster=\"default\",kind=\"nodes\"}",
            )
            .is_some_and(|n| n > 0.0)
                && value(&text, "berth_cluster_up{cluster=\"default\"}") == Some(1.0)
                && value(&text, "berth_reconciler_runs_total{loop=\"provisioner\"}")
                    .is_some_and(|n| n >= 1.0)
                && value(&text, "berth_audit_appends_total").is_some_and(|n| n >= 1.0);
            if ready {
                break text;
            }
            assert!(
                Instant::now() < deadline,
                "caches, loops or the audit trail never showed:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(
            value(
                &text,
                "berth_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}"
            ),
            Some(4.0),
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                "berth_http_request_duration_seconds_count{route=\"/healthz\",method=\"GET\"}"
            ),
            Some(4.0)
        );
        assert!(
            text.contains(
                "berth_http_request_duration_seconds_bucket{le=\"0.001\",route=\"/healthz\",method=\"GET\"}"
            ),
            "{text}"
        );
        // A page with parameters is counted under its template, not its address.
        assert!(
            !text.contains("route=\"/rollouts/deployment/shop/web\""),
            "{text}"
        );
        assert!(text.contains("route=\"/rollouts/"), "{text}");
        assert!(
            value(
                &text,
                "berth_watch_cache_objects{cluster=\"default\",kind=\"namespaces\"}"
            )
            .is_some_and(|n| n > 0.0)
        );
        assert!(
            value(
                &text,
                "berth_reconciler_last_run_timestamp_seconds{loop=\"provisioner\"}"
            )
            .is_some_and(|t| t > 1.7e9)
        );
        assert!(text.trim_end().ends_with("# EOF"));
        if std::env::var_os("SHOW_METRICS").is_some() {
            eprintln!("{text}");
        }
        drop(berth);
    });
}
