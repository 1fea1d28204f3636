//! The fleet-wide cost report over a month: `BENCH_CLUSTERS` clusters (10) of `BENCH_PODS`
//! single-container pods each (20,000), 30 days of history, read as a manager reads it. The
//! history is written straight into the tables the hourly roll-up fills (per container and day,
//! per node and day), in their shape and size; making it through the sampler would take 144
//! million container-hours this machine cannot hold beside everything else (`cost_report`
//! measures that path for one cluster). The reports run through the service, as `/cost` does.
//! Prints figures; asserts nothing.

use std::time::Instant;

use server::services::Services;

mod common;
use common::arg;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let clusters = arg("BENCH_CLUSTERS", 10).max(1);
    let pods = arg("BENCH_PODS", 20_000);
    let days = arg("BENCH_DAYS", 30);
    let rounds = arg("BENCH_ROUNDS", 5);
    // The large scenario's proportions: 25 pods a namespace, 5 a Deployment (on five
    // neighbouring nodes), 100 a node; every other node a dearer instance type with prices of
    // its own, so a Deployment's day is two price classes.
    let (namespaces, deployments, nodes) = (pods / 25, pods / 5, (pods / 100).max(1));
    println!(
        "fleet cost: {clusters} clusters × {pods} pods ({namespaces} namespaces, {deployments} Deployments, {nodes} nodes each), {days} days of history"
    );
    let (pg, dir) = common::fast_postgres("bench-fleet-cost-pg")?;
    // Services need a cluster to serve; the reports read only Postgres.
    let sandbox = common::BenchCluster::start(None).await?;
    let config = common::bench_config(&dir, &sandbox)?;
    let (store, cluster) = common::connect(&pg.url("postgres"), &config).await?;
    let db = store.pool();
    let started = Instant::now();
    // The home cluster's rows carry the empty key, the others their names.
    sqlx::query(
        "INSERT INTO usage_containers (pod_uid, container, namespace, pod, node, owner_kind, \
           owner_name, team, cpu_request, memory_request, first_seen, cluster) \
         SELECT 'uid-' || c || '-' || i, 'app', 'ns-' || c || '-' || (i % $2), 'pod-' || i, \
           'node-' || ((i + i / $3) % $4), 'Deployment', 'dep-' || (i % $3), 'team-' || lpad((i % 20)::text, 2, '0'), \
           0.25 + (i % 4) * 0.25, 268435456.0 * (1 + i % 4), now() - interval '40 days', \
           CASE WHEN c = 0 THEN '' ELSE 'fleet-' || lpad(c::text, 2, '0') END \
         FROM generate_series(0, $5 - 1) c, generate_series(0, $1 - 1) i",
    )
    .bind(pods as i32)
    .bind(namespaces as i32)
    .bind(deployments as i32)
    .bind(nodes as i32)
    .bind(clusters as i32)
    .execute(db)
    .await
    .map_err(|e| e.to_string())?;
    // A day's sums: 24 hours, max(request, usage) allocated, usage a third to all of the request.
    sqlx::query(
        "INSERT INTO usage_daily (day, container_id, hours, cpu_alloc, memory_alloc, cpu_used, \
           memory_used) \
         SELECT d::date, c.id, 24, 24 * c.cpu_request, 24 * c.memory_request, \
           24 * c.cpu_request * (0.33 + (c.id % 3) * 0.33), 24 * c.memory_request * 0.8 \
         FROM generate_series((now() AT TIME ZONE 'UTC')::date - ($1::int - 1), \
           (now() AT TIME ZONE 'UTC')::date, interval '1 day') d, usage_containers c",
    )
    .bind(days as i32)
    .execute(db)
    .await
    .map_err(|e| e.to_string())?;
    sqlx::query(
        "INSERT INTO node_daily (day, cluster, node, labels, hours, cpu_capacity, memory_capacity, \
           gpus, cpu_alloc, memory_alloc, gpu_alloc) \
         SELECT d::date, CASE WHEN c = 0 THEN '' ELSE 'fleet-' || lpad(c::text, 2, '0') END, \
           'node-' || n, jsonb_build_object('node.kubernetes.io/instance-type', \
             CASE WHEN n % 2 = 0 THEN 'm5.4xlarge' ELSE 'c5.4xlarge' END), 24, \
           24 * 16, 24 * 68719476736.0, 0, 24 * 12, 24 * 48000000000.0, 0 \
         FROM generate_series((now() AT TIME ZONE 'UTC')::date - ($1::int - 1), \
           (now() AT TIME ZONE 'UTC')::date, interval '1 day') d, \
           generate_series(0, $2 - 1) c, generate_series(0, $3 - 1) n",
    )
    .bind(days as i32)
    .bind(clusters as i32)
    .bind(nodes as i32)
    .execute(db)
    .await
    .map_err(|e| e.to_string())?;
    // As a month-old history would be: vacuumed (hint bits set, no autovacuum to come
    // during the readings) and analysed.
    sqlx::query("VACUUM ANALYZE")
        .execute(db)
        .await
        .map_err(|e| e.to_string())?;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_daily")
        .fetch_one(db)
        .await
        .map_err(|e| e.to_string())?;
    let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('usage_daily')")
        .fetch_one(db)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "history written in {:.1} s: {rows} container-days ({:.0} MiB with index)",
        started.elapsed().as_secs_f64(),
        bytes as f64 / 1_048_576.0
    );

    sqlx::query(
        "INSERT INTO prices (one, body, updated_at, updated_by) VALUES (true, $1::jsonb, now(), \
           'bench')",
    )
    .bind(
        serde_json::json!({
            "default": { "cpu_core_hour": 0.031611, "memory_gib_hour": 0.004237, "gpu_hour": 0.95 },
            "overrides": [{
                "label": "node.kubernetes.io/instance-type", "value": "c5.4xlarge",
                "rates": { "cpu_core_hour": 0.0425, "memory_gib_hour": 0.0057, "gpu_hour": 0.95 },
            }],
            "storage_gib_month": 0.04,
        })
        .to_string(),
    )
    .execute(db)
    .await
    .map_err(|e| e.to_string())?;
    let services = Services::new(store.clone(), cluster.clone(), &config);
    let manager = server::auth::demo_personas()
        .into_iter()
        .find(|p| p.id == "demo:mike")
        .ok_or("no manager persona")?;
    let views: [(&str, &[(&str, &str)]); 7] = [
        (
            "fleet, 30 d by cluster",
            &[("window", "30d"), ("by", "cluster")],
        ),
        (
            "fleet, 30 d by namespace",
            &[("window", "30d"), ("by", "namespace")],
        ),
        (
            "fleet, 30 d by workload",
            &[("window", "30d"), ("by", "workload")],
        ),
        ("fleet, 30 d by team", &[("window", "30d"), ("by", "team")]),
        (
            "fleet, 30 d by team, idle shared",
            &[("window", "30d"), ("by", "team"), ("idle", "share")],
        ),
        (
            "one cluster, 30 d by namespace",
            &[("window", "30d"), ("cluster", "fleet-02")],
        ),
        (
            "team-00 across the fleet, 30 d by namespace",
            &[("window", "30d"), ("team", "team-00")],
        ),
    ];
    // First as a report reads before the day sums per price class exist (or while they are
    // stale), from every container's day; then from those sums, once the sampler's pass has
    // summed them (timed here as it runs there).
    println!("from the container days:");
    common::cost_views(&services, &manager, &views, rounds).await?;
    let prices = store.prices().await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let written = store
        .keep_usage_groups(&prices.matchers(), &config.cluster.name)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or(0);
    let groups_bytes: i64 =
        sqlx::query_scalar("SELECT pg_total_relation_size('usage_daily_groups')")
            .fetch_one(db)
            .await
            .map_err(|e| e.to_string())?;
    println!(
        "day sums per workload and price class summed in {:.1} s: {written} rows ({:.0} MiB with index)",
        started.elapsed().as_secs_f64(),
        groups_bytes as f64 / 1_048_576.0
    );
    sqlx::query("VACUUM ANALYZE usage_daily_groups")
        .execute(db)
        .await
        .map_err(|e| e.to_string())?;
    println!("from the day sums per workload and price class:");
    common::cost_views(&services, &manager, &views, rounds).await?;
    sandbox.stop();
    drop(pg);
    Ok(())
}
