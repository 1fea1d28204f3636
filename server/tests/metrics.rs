//! `/metrics` over real HTTP: requests counted by route template with durations, background
//! loops' runs, watch-cache sizes and audit appends, in the Prometheus text format.

mod common;

use std::time::{Duration, Instant};

use common::flows::*;

/// The value of the first sample line starting with `prefix` (name and labels).
fn value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_count_requests_loops_caches_and_audit() {
    common::run(async {
        let (_pg, app) = app().await;
        for _ in 0..3 {
            assert_eq!(app.get("/healthz").await.status(), 200);
        }
        let _signed_in = sign_in(&app, "demo:dana").await;
        let _ = app.get("/rollouts/deployment/shop/web").await;

        let deadline = Instant::now() + Duration::from_secs(20);
        let text = loop {
            let res = app.get("/metrics").await;
            assert_eq!(res.status(), 200);
            assert!(
                res.headers()["content-type"]
                    .to_str()
                    .is_ok_and(|t| t.starts_with("application/openmetrics-text"))
            );
            let text = res.text().await.expect("metrics");
            let ready = value(&text, "berth_watch_cache_objects{kind=\"nodes\"}")
                .is_some_and(|n| n > 0.0)
                && value(&text, "berth_reconciler_runs_total{loop=\"provisioner\"}")
                    .is_some_and(|n| n >= 1.0);
            if ready {
                break text;
            }
            assert!(
                Instant::now() < deadline,
                "caches or loops never showed:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(
            value(
                &text,
                "berth_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}"
            ),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                "berth_http_request_duration_seconds_count{route=\"/healthz\",method=\"GET\"}"
            ),
            Some(3.0)
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
            value(&text, "berth_audit_appends_total").is_some_and(|n| n >= 1.0),
            "sign-in is audited"
        );
        assert!(
            value(&text, "berth_watch_cache_objects{kind=\"namespaces\"}").is_some_and(|n| n > 0.0)
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
        app.stop().await;
    });
}
