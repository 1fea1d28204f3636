//! Cost at the size of a big shared cluster: the usage sampler over the sandbox's `large`
//! scenario (50,000 pods by default), its write rate and the database it grows per day, then
//! the 30-day cost report of one team and of the whole cluster over a month of history.
//!
//! The month is generated in SQL rather than sampled for 30 days: the last 24 hours as hourly
//! roll-ups (rolled into the day sums by the same code as live), the 28 days before as day
//! sums, which is what a 30-day report reads. Prints figures; asserts nothing about time.

use std::time::{Duration, Instant};

use server::cluster::fleet::Fleet;
use server::reconcile::usage::Sampler;
use server::services::Services;
use server::store::Store;

mod common;
use common::{arg, percentile};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}

async fn size_of(store: &Store, table: &str) -> Result<i64, String> {
    sqlx::query_scalar("SELECT pg_total_relation_size($1::regclass)")
        .bind(table)
        .fetch_one(store.pool())
        .await
        .map_err(|e| e.to_string())
}

async fn exec(store: &Store, sql: &str) -> Result<u64, String> {
    sqlx::query(sql)
        .execute(store.pool())
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| e.to_string())
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / 1024.0 / 1024.0)
}

async fn run() -> Result<(), String> {
    let namespaces = arg("BENCH_NAMESPACES", 2_000);
    let deployments = arg("BENCH_DEPLOYMENTS", 10_000);
    let pods = arg("BENCH_PODS", 50_000);
    let passes = arg("BENCH_PASSES", 4);
    let rounds = arg("BENCH_ROUNDS", 20);
    println!(
        "cost over the large scenario: {namespaces} namespaces, {deployments} deployments, {pods} pods"
    );

    let (pg, dir) = common::fast_postgres("bench-cost-pg")?;
    let sandbox = common::large_sandbox(namespaces, deployments, pods).await?;
    let config = common::bench_config(&dir, &sandbox)?;
    let (store, cluster) = common::connect(&pg.url("postgres"), &config).await?;
    let fleet = Fleet::of(cluster.clone());
    let caches = fleet.home().caches.clone();
    if !caches.ready().await {
        return Err("the watch caches never filled".to_owned());
    }

    // The metrics API alone (the sandbox's, standing in for metrics-server), for scale.
    for (plural, kind) in [("pods", "PodMetrics"), ("nodes", "NodeMetrics")] {
        let gvk = kube::core::GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", kind);
        let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(
            cluster.client().clone(),
            &kube::api::ApiResource::from_gvk_with_plural(&gvk, plural),
        );
        let started = Instant::now();
        let items = api
            .list(&kube::api::ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        println!(
            "metrics.k8s.io list of {plural}: {items} items in {:.0} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }

    // The sampler: the first pass registers every container, the next ones only write samples.
    let mut sampler = Sampler::new(store.clone(), fleet.clone(), config.usage.clone());
    let mut steady = Vec::new();
    let mut containers = 0;
    for pass in 0..passes {
        let started = Instant::now();
        let report = sampler.sample_once().await.map_err(|e| e.to_string())?;
        let took = started.elapsed();
        containers = report.containers;
        println!(
            "sampler pass {pass}: {} containers ({} new), {} nodes in {:.0} ms",
            report.containers,
            report.new_containers,
            report.nodes,
            took.as_secs_f64() * 1000.0
        );
        if pass > 0 {
            steady.push(took);
        }
    }
    let samples_bytes = size_of(&store, "usage_samples").await? as f64;
    let per_sample = samples_bytes / (containers.max(1) * passes) as f64;
    let per_minute = containers as f64;
    if !steady.is_empty() {
        let p50 = percentile(&mut steady, 0.5);
        println!(
            "sampler write rate: {:.0} samples/s ({containers} samples per pass, p50 pass {p50:.0} ms, one pass a minute)",
            containers as f64 / (p50 / 1000.0)
        );
    }
    println!(
        "raw samples: {per_sample:.0} bytes each with index → {} per day at one a minute (kept {} h)",
        mib(per_sample * per_minute * 1440.0),
        config.usage.raw_retention.as_secs() / 3600
    );

    // A month of history. Nodes first (capacity for every hour of the month), then 24 hourly
    // roll-ups per container, rolled into day sums and node allocation by the live code, then
    // 28 days of day sums before them with their node totals.
    let started = Instant::now();
    exec(
        &store,
        "INSERT INTO node_hourly (hour, node, labels, cpu_capacity, memory_capacity, gpus, samples, \
           cpu_used_avg, memory_used_avg) \
         SELECT h, n.node, n.labels, n.cpu_capacity, n.memory_capacity, n.gpus, 60, \
           n.cpu_used_avg, n.memory_used_avg \
         FROM (SELECT DISTINCT ON (node) * FROM node_hourly ORDER BY node, hour DESC) n \
         CROSS JOIN generate_series(date_trunc('hour', now()) - interval '30 days', \
           date_trunc('hour', now()) - interval '1 hour', interval '1 hour') h \
         ON CONFLICT (hour, node) DO NOTHING",
    )
    .await?;
    let hourly = exec(
        &store,
        "INSERT INTO usage_hourly (hour, container_id, samples, cpu_avg, cpu_max, cpu_p95, \
           memory_avg, memory_max, memory_p95) \
         SELECT h, c.id, 60, u.cpu, u.cpu * 1.5, u.cpu * 1.3, u.mem, u.mem * 1.2, u.mem * 1.1 \
         FROM usage_containers c \
         CROSS JOIN generate_series(date_trunc('hour', now()) - interval '24 hours', \
           date_trunc('hour', now()) - interval '1 hour', interval '1 hour') h \
         CROSS JOIN LATERAL (SELECT (greatest(c.cpu_request, 0.01) * (0.1 + random() * 0.8))::real AS cpu, \
           (greatest(c.memory_request, 16777216) * (0.3 + random() * 0.6))::real AS mem) u",
    )
    .await?;
    let hourly_bytes = size_of(&store, "usage_hourly").await? as f64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let this_hour = now.div_euclid(3600) * 3600;
    let rolled = Instant::now();
    store
        .import_history(&[], (this_hour - 24 * 3600) as f64, this_hour as f64)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "rolling 24 hours of {containers} containers into day and node sums: {:.1} s",
        rolled.elapsed().as_secs_f64()
    );
    let daily_day = size_of(&store, "usage_daily").await? as f64;
    let daily = exec(
        &store,
        "INSERT INTO usage_daily (day, container_id, hours, cpu_alloc, memory_alloc, cpu_used, \
           memory_used) \
         SELECT d::date, c.id, 24, 24 * greatest(c.cpu_request, u.cpu), \
           24 * greatest(c.memory_request, u.mem), 24 * u.cpu, 24 * u.mem \
         FROM usage_containers c \
         CROSS JOIN generate_series(current_date - 30, current_date - 2, interval '1 day') d \
         CROSS JOIN LATERAL (SELECT greatest(c.cpu_request, 0.01) * (0.1 + random() * 0.8) AS cpu, \
           greatest(c.memory_request, 16777216) * (0.3 + random() * 0.6) AS mem) u \
         ON CONFLICT (day, container_id) DO NOTHING",
    )
    .await?;
    exec(
        &store,
        "INSERT INTO node_daily (day, node, labels, hours, cpu_capacity, memory_capacity, gpus, \
           cpu_alloc, memory_alloc, gpu_alloc) \
         SELECT n.day, n.node, n.labels, n.hours, n.cpu, n.memory, n.gpus, \
           coalesce(a.cpu, 0), coalesce(a.memory, 0), 0 \
         FROM (SELECT (hour AT TIME ZONE 'UTC')::date AS day, node, (array_agg(labels))[1] AS labels, \
                 count(*) AS hours, sum(cpu_capacity) AS cpu, sum(memory_capacity) AS memory, \
                 sum(gpus) AS gpus \
               FROM node_hourly GROUP BY 1, 2) n \
         LEFT JOIN (SELECT u.day, c.node, sum(u.cpu_alloc) AS cpu, sum(u.memory_alloc) AS memory \
               FROM usage_daily u JOIN usage_containers c ON c.id = u.container_id \
               GROUP BY 1, 2) a ON a.day = n.day AND a.node = n.node \
         ON CONFLICT (day, node) DO NOTHING",
    )
    .await?;
    exec(&store, "VACUUM ANALYZE usage_daily").await?;
    exec(&store, "VACUUM ANALYZE usage_hourly").await?;
    exec(&store, "VACUUM ANALYZE node_hourly").await?;
    exec(&store, "VACUUM ANALYZE node_daily").await?;
    exec(&store, "VACUUM ANALYZE usage_containers").await?;
    println!(
        "history generated in {:.1} s: {hourly} hourly rows (1 day), {daily} day sums (28 days)",
        started.elapsed().as_secs_f64()
    );
    println!(
        "database per day of history: hourly roll-ups {}, day sums {} (50,000 pods: {:.1} bytes per pod-hour)",
        mib(hourly_bytes),
        mib(daily_day),
        (hourly_bytes + daily_day) / (containers.max(1) as f64 * 24.0)
    );
    println!(
        "database now: samples {}, hourly {}, daily {}, node hours {}, node days {}",
        mib(size_of(&store, "usage_samples").await? as f64),
        mib(size_of(&store, "usage_hourly").await? as f64),
        mib(size_of(&store, "usage_daily").await? as f64),
        mib(size_of(&store, "node_hourly").await? as f64),
        mib(size_of(&store, "node_daily").await? as f64),
    );

    // The reports, as the server computes them for a manager.
    let services = Services::new(store.clone(), cluster.clone(), &config);
    let manager = server::auth::demo_personas()
        .into_iter()
        .find(|p| p.id == "demo:mike")
        .ok_or("no manager persona")?;
    let views: [(&str, &[(&str, &str)]); 5] = [
        (
            "team-00, 30 d by namespace",
            &[("team", "team-00"), ("window", "30d")],
        ),
        (
            "team-00, 30 d by workload",
            &[("team", "team-00"), ("window", "30d"), ("by", "workload")],
        ),
        (
            "team-00, 30 d, idle shared",
            &[("team", "team-00"), ("window", "30d"), ("idle", "share")],
        ),
        (
            "team-00, 24 h hourly by namespace",
            &[("team", "team-00"), ("window", "24h")],
        ),
        (
            "whole cluster, 30 d by team",
            &[("window", "30d"), ("by", "team")],
        ),
    ];
    common::cost_views(&services, &manager, &views, rounds).await?;

    // The idle report over the same month and cluster: rightsizing from a week of hourly
    // roll-ups, abandoned workloads, empty namespaces, stranded capacity. The first one after
    // the roll-ups move runs the usage queries; the rest reuse that answer until they move.
    let admin = server::auth::demo_personas()
        .into_iter()
        .find(|p| p.id == "demo:ada")
        .ok_or("no persona")?;
    let started = Instant::now();
    services
        .idle_report(&admin)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{:<45} {:>9.1}",
        "idle report, first after the roll-ups moved",
        started.elapsed().as_secs_f64() * 1000.0
    );
    for persona in ["demo:mike", "demo:ada"] {
        let user = server::auth::demo_personas()
            .into_iter()
            .find(|p| p.id == persona)
            .ok_or("no persona")?;
        let mut samples: Vec<Duration> = Vec::new();
        let mut findings = 0;
        for _ in 0..rounds {
            let started = Instant::now();
            let report = services
                .idle_report(&user)
                .await
                .map_err(|e| e.to_string())?;
            samples.push(started.elapsed());
            findings = report.findings.len();
        }
        println!(
            "{:<45} {:>9.1} {:>9.1} {findings:>8}",
            format!("idle report for {persona} (findings)"),
            percentile(&mut samples, 0.5),
            percentile(&mut samples, 0.95)
        );
    }
    caches.stop();
    sandbox.stop();
    drop(pg);
    Ok(())
}
