//! The usage sampler against the metrics API (the node simulator's, behind the aggregator) and
//! a real Postgres: what it records of each container, node capacity per hour, hourly roll-ups
//! and pruning.

use crate::common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::flows::admin_client;
use common::{TestApp, TestPostgres, test_config};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use serde_json::json;
use server::store::Store;
use server::store::usage::{ContainerSeen, Sample};
use sqlx::Row;

const MIB: f64 = 1024.0 * 1024.0;

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[test]
fn the_sampler_records_each_containers_usage_with_its_requests_owner_and_team() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_usage").await;
        let mut config = test_config();
        config.usage.sample_interval = Duration::from_secs(1);
        let app = TestApp::spawn(&url, config).await;
        let admin = admin_client(&app).await;
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": { "name": "payments-usage", "labels": { "berth.dev/team": "payments" } }
        }))
        .expect("namespace");
        Api::<Namespace>::all(admin.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        let web: Deployment = serde_json::from_value(json!({
            "metadata": { "name": "web" },
            "spec": {
                "replicas": 2,
                "selector": { "matchLabels": { "app": "web" } },
                "template": {
                    "metadata": {
                        "labels": { "app": "web", "release": "stable", "unrelated": "x" },
                        "annotations": {
                            "sandbox.berth.dev/usage-profile": "steady",
                            "sandbox.berth.dev/cpu-usage": "50m",
                            "sandbox.berth.dev/memory-usage": "40Mi",
                        },
                    },
                    "spec": { "containers": [{
                        "name": "app",
                        "image": "nginx:1.27",
                        "resources": {
                            "requests": { "cpu": "100m", "memory": "64Mi" },
                            "limits": { "cpu": "200m", "memory": "64Mi" },
                        },
                    }]},
                },
            },
        }))
        .expect("deployment");
        Api::<Deployment>::namespaced(admin.clone(), "payments-usage")
            .create(&PostParams::default(), &web)
            .await
            .expect("create deployment");

        // The server's own sampler (every second here) finds both pods and keeps sampling.
        let db = sqlx::PgPool::connect(&url).await.expect("database");
        let deadline = Instant::now() + common::PATIENCE;
        let rows = loop {
            let rows = sqlx::query(
                "SELECT c.id, c.pod, c.node, c.owner_kind, c.owner_name, c.team, c.labels::text, \
                   c.cpu_request, c.cpu_limit, c.memory_request, c.memory_limit, \
                   count(s.*) AS samples, min(s.cpu) AS cpu_min, max(s.cpu) AS cpu_max, \
                   avg(s.memory)::float8 AS memory_avg \
                 FROM usage_containers c LEFT JOIN usage_samples s ON s.container_id = c.id \
                 WHERE c.namespace = 'payments-usage' GROUP BY c.id ORDER BY c.pod",
            )
            .fetch_all(&db)
            .await
            .expect("query");
            let sampled = |r: &sqlx::postgres::PgRow| r.get::<i64, _>("samples") >= 3;
            if rows.len() == 2 && rows.iter().all(sampled) {
                break rows;
            }
            assert!(
                Instant::now() < deadline,
                "two containers with three samples each never appeared ({} rows)",
                rows.len()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        for row in &rows {
            assert_eq!(row.get::<String, _>("owner_kind"), "Deployment");
            assert_eq!(row.get::<String, _>("owner_name"), "web");
            assert_eq!(
                row.get::<Option<String>, _>("team").as_deref(),
                Some("payments")
            );
            let labels: serde_json::Value =
                serde_json::from_str(&row.get::<String, _>("labels")).expect("labels");
            assert_eq!(
                labels,
                json!({ "app": "web", "release": "stable" }),
                "only labels of interest"
            );
            assert!(!row.get::<String, _>("node").is_empty());
            assert!((row.get::<f64, _>("cpu_request") - 0.1).abs() < 1e-9);
            assert_eq!(row.get::<Option<f64>, _>("cpu_limit"), Some(0.2));
            assert_eq!(row.get::<f64, _>("memory_request"), 64.0 * MIB);
            assert_eq!(row.get::<Option<f64>, _>("memory_limit"), Some(64.0 * MIB));
            // The steady profile: 95–105 % of the base usage the annotations set.
            let (lo, hi) = (row.get::<f32, _>("cpu_min"), row.get::<f32, _>("cpu_max"));
            assert!(lo >= 0.047 && hi <= 0.053, "cpu {lo}..{hi}");
            let memory = row.get::<f64, _>("memory_avg") / MIB;
            assert!((37.0..=43.0).contains(&memory), "memory {memory} MiB");
        }
        // Each container is registered once, however many passes saw it.
        let registered: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM usage_containers WHERE namespace = 'payments-usage'",
        )
        .fetch_one(&db)
        .await
        .expect("count");
        assert_eq!(registered, 2);
        // Nodes: allocatable capacity and a running average of their usage, per hour.
        let nodes = sqlx::query(
            "SELECT node, cpu_capacity, memory_capacity, samples, cpu_used_avg FROM node_hourly",
        )
        .fetch_all(&db)
        .await
        .expect("nodes");
        assert!(!nodes.is_empty());
        for node in &nodes {
            assert!(node.get::<f64, _>("cpu_capacity") > 0.0);
            assert!(node.get::<f64, _>("memory_capacity") > 0.0);
            assert!(node.get::<i32, _>("samples") >= 1);
            assert!(
                node.get::<f64, _>("cpu_used_avg") > 0.0,
                "system daemons use some"
            );
        }
        db.close().await;
        app.stop().await;
    });
}

#[test]
fn finished_hours_roll_up_and_rolled_up_samples_are_pruned_after_the_retention() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_rollup").await;
        let store = Store::connect(&url, &test_config().database)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        let now = now_unix();
        let this_hour = (now / 3600.0).floor() * 3600.0;
        let five_hours_ago = this_hour - 5.0 * 3600.0;
        let ids = store
            .register_containers(
                five_hours_ago,
                &[ContainerSeen {
                    pod_uid: "uid-1".to_owned(),
                    container: "app".to_owned(),
                    namespace: "shop".to_owned(),
                    pod: "web-1".to_owned(),
                    owner_kind: "Deployment".to_owned(),
                    owner_name: "web".to_owned(),
                    labels: json!({}),
                    ..ContainerSeen::default()
                }],
            )
            .await
            .expect("register");
        let id = ids[&("uid-1".to_owned(), "app".to_owned())];
        // Twenty samples a minute apart, 1..=20 cores, in each of two finished hours (the
        // first twenty minutes of one, the last twenty of the next); one in this hour.
        for (hour, first) in [(five_hours_ago, 0), (five_hours_ago + 3600.0, 40)] {
            for minute in 0..20 {
                let sample = Sample {
                    container_id: id,
                    cpu: (minute + 1) as f32,
                    memory: 1000.0,
                };
                store
                    .record_samples(hour + f64::from(first + minute) * 60.0, "", &[sample], &[])
                    .await
                    .expect("sample");
            }
        }
        let current = Sample {
            container_id: id,
            cpu: 0.5,
            memory: 10.0,
        };
        store
            .record_samples(now, "", &[current], &[])
            .await
            .expect("sample now");

        // Day sums per workload and namespace, summed (empty) before: the roll-up adds to them.
        store
            .keep_usage_groups(&[], "home")
            .await
            .expect("sum the groups");
        let first = store
            .roll_up_usage(now, 2.0 * 3600.0, 60.0)
            .await
            .expect("roll up");
        assert_eq!(first.hours, 2, "two finished hours, not this one");
        assert_eq!(first.pruned, 40, "rolled up and older than two hours");
        let hours = sqlx::query(
            "SELECT samples, cpu_avg, cpu_max, cpu_p95, memory_p95, share FROM usage_hourly \
             ORDER BY hour",
        )
        .fetch_all(store.pool())
        .await
        .expect("hourly");
        assert_eq!(hours.len(), 2);
        for h in &hours {
            assert_eq!(h.get::<i32, _>("samples"), 20);
            assert_eq!(h.get::<f32, _>("cpu_avg"), 10.5);
            assert_eq!(h.get::<f32, _>("cpu_max"), 20.0);
            // percentile_cont interpolates: 19 + 0.05 × (20 − 19).
            assert!((h.get::<f32, _>("cpu_p95") - 19.05).abs() < 1e-4);
            assert_eq!(h.get::<f32, _>("memory_p95"), 1000.0);
            // Twenty minutes of the hour: a third of it is paid for, not all of it.
            assert!((h.get::<f32, _>("share") - 1.0 / 3.0).abs() < 1e-4);
        }
        // The day's sums: two thirds of an hour run, of max(request 0, avg 10.5) cores.
        let daily =
            sqlx::query("SELECT sum(hours) AS hours, sum(cpu_alloc) AS cpu FROM usage_daily")
                .fetch_one(store.pool())
                .await
                .expect("daily");
        assert!((daily.get::<f64, _>("hours") - 2.0 / 3.0).abs() < 1e-4);
        assert!((daily.get::<f64, _>("cpu") - 7.0).abs() < 1e-4);
        for (table, key) in [
            ("usage_daily_groups", "namespace || '/' || owner_name"),
            ("usage_daily_namespaces", "namespace"),
        ] {
            let sums = sqlx::query(&format!(
                "SELECT {key} AS key, sum(cpu_alloc) AS cpu, \
                   sum(cpu_used) AS used FROM {table} GROUP BY 1"
            ))
            .fetch_all(store.pool())
            .await
            .expect("day sums");
            assert_eq!(sums.len(), 1, "{table}");
            let key: String = sums[0].get("key");
            assert!(key == "shop" || key == "shop/web", "{table}: {key}");
            assert!((sums[0].get::<f64, _>("cpu") - 7.0).abs() < 1e-4, "{table}");
            assert!(
                (sums[0].get::<f64, _>("used") - 7.0).abs() < 1e-4,
                "{table}"
            );
        }
        // Again: nothing new to roll up, nothing more to prune; this hour's sample stays.
        let again = store
            .roll_up_usage(now, 2.0 * 3600.0, 60.0)
            .await
            .expect("again");
        assert_eq!((again.hours, again.pruned), (0, 0));
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_samples")
            .fetch_one(store.pool())
            .await
            .expect("count");
        assert_eq!(left, 1);
        // Samples not rolled up are never pruned, however short the retention.
        let kept = store
            .roll_up_usage(now, 0.0, 60.0)
            .await
            .expect("zero retention");
        assert_eq!(kept.pruned, 0);
    });
}
