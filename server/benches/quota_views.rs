//! Namespace and quota views at the size of a big shared cluster: the sandbox's `large`
//! scenario (2,000 namespaces, 10,000 deployments, 50,000 pods by default), Berth serving from
//! its watch caches, timed request by request beside the sandbox's own list of the same
//! namespaces and quotas. Prints p50 / p95; asserts nothing about time. `make bench` runs it.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, ResourceQuota};
use kube::api::{Api, ListParams};
use leptos::server_fn::ServerFn;

mod common;
use common::{arg, percentile, rss_mib, time};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let namespaces = arg("BENCH_NAMESPACES", 2_000);
    let deployments = arg("BENCH_DEPLOYMENTS", 10_000);
    let pods = arg("BENCH_PODS", 50_000);
    let rounds = arg("BENCH_ROUNDS", 30);
    println!(
        "quota views over the large scenario: {namespaces} namespaces, {deployments} deployments, {pods} pods; {rounds} rounds each"
    );

    let (pg, dir) = common::fast_postgres("bench-quota-pg")?;

    let started = Instant::now();
    let sandbox = common::large_sandbox(namespaces, deployments, pods).await?;
    println!("sandbox loaded in {:.1} s", started.elapsed().as_secs_f64());

    let config = common::bench_config(&dir, &sandbox)?;
    let (store, cluster) = common::connect(&pg.url("postgres"), &config).await?;
    let before_berth = rss_mib();
    let berth = common::serve(store, cluster, config).await?;
    let base = berth.base.clone();

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    let cookie = common::demo_session(&client, &base, "demo:sam").await?;

    // A server function called as the browser calls it, with a form body.
    let post = |path: &'static str, form: String| {
        let client = client.clone();
        let base = base.clone();
        let cookie = cookie.clone();
        move || {
            let client = client.clone();
            let url = format!("{base}{path}");
            let base = base.clone();
            let cookie = cookie.clone();
            let form = form.clone();
            async move {
                let res = client
                    .post(url)
                    .header("origin", base)
                    .header("cookie", cookie)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = res.status();
                let body = res.bytes().await.map_err(|e| e.to_string())?;
                if !status.is_success() {
                    return Err(format!(
                        "{path}: {status}: {}",
                        String::from_utf8_lossy(&body)
                    ));
                }
                Ok(body.len())
            }
        }
    };

    // The first answer waits for the watch caches to fill: that is Berth's start-up cost.
    let started = Instant::now();
    let first = post(app::api::QuotaOverview::PATH, String::new())().await?;
    println!(
        "caches filled and first quota answer after {:.1} s ({first} bytes); this process (sandbox serving included) grew {:.0} MiB; Berth alone: the memory bench",
        started.elapsed().as_secs_f64(),
        rss_mib() - before_berth
    );

    let mut rows = Vec::new();
    let (mut s, size) = time(rounds, post(app::api::QuotaOverview::PATH, String::new())).await?;
    rows.push((
        "berth: quota overview (server fn, all namespaces)",
        percentile(&mut s, 0.5),
        percentile(&mut s, 0.95),
        size,
    ));
    // A page as the browser asks for it (signed in, GET, whole body).
    let get = |path: &'static str| {
        let client = client.clone();
        let base = base.clone();
        let cookie = cookie.clone();
        move || {
            let client = client.clone();
            let url = format!("{base}{path}");
            let cookie = cookie.clone();
            async move {
                let res = client
                    .get(url)
                    .header("cookie", cookie)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let body = res.bytes().await.map_err(|e| e.to_string())?;
                Ok(body.len())
            }
        }
    };
    let (mut s, size) = time(rounds, get("/namespaces")).await?;
    rows.push((
        "berth: /namespaces page (SSR, with capacity)",
        percentile(&mut s, 0.5),
        percentile(&mut s, 0.95),
        size,
    ));
    let (mut s, size) = time(
        rounds,
        post(app::api::CapacityOverview::PATH, String::new()),
    )
    .await?;
    rows.push((
        "berth: capacity (server fn)",
        percentile(&mut s, 0.5),
        percentile(&mut s, 0.95),
        size,
    ));

    // Rollouts (#7): one team's workloads through the server function and the SSR page.
    let team_rollouts = post(
        app::api::RolloutOverview::PATH,
        "namespace=&team=team-00".to_owned(),
    );
    let workloads = {
        let answer = client
            .post(format!("{base}{}", app::api::RolloutOverview::PATH))
            .header("origin", &base)
            .header("cookie", &cookie)
            .form(&[("namespace", ""), ("team", "team-00")])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let groups: serde_json::Value = answer.json().await.map_err(|e| e.to_string())?;
        groups
            .as_array()
            .map(|g| {
                g.iter()
                    .map(|n| n["workloads"].as_array().map_or(0, Vec::len))
                    .sum::<usize>()
            })
            .unwrap_or(0)
    };
    println!("team-00 has {workloads} workloads");
    let (mut s, size) = time(rounds, team_rollouts).await?;
    rows.push((
        "berth: team rollouts (server fn, one team)",
        percentile(&mut s, 0.5),
        percentile(&mut s, 0.95),
        size,
    ));
    let admin = sandbox.admin_client().await.map_err(|e| e.to_string())?;
    // One workload's page: its pods from the cache, its events from one namespaced list.
    let some_deployment =
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(admin.clone(), "ns-0000")
            .list(&ListParams::default().limit(1))
            .await
            .map_err(|e| e.to_string())?
            .items
            .first()
            .and_then(|d| d.metadata.name.clone())
            .ok_or("ns-0000 has no deployment")?;
    let (mut s, size) = time(
        rounds,
        post(
            app::api::WorkloadDetail::PATH,
            format!("kind=deployment&namespace=ns-0000&name={some_deployment}"),
        ),
    )
    .await?;
    rows.push((
        "berth: one workload's page (server fn)",
        percentile(&mut s, 0.5),
        percentile(&mut s, 0.95),
        size,
    ));
    // Time to first byte separately from the whole page: the shell streams before the data.
    let mut first_bytes = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let mut res = client
            .get(format!("{base}/rollouts?team=team-00"))
            .header("cookie", &cookie)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let _ = res.chunk().await.map_err(|e| e.to_string())?;
        first_bytes.push(started.elapsed());
        while res.chunk().await.map_err(|e| e.to_string())?.is_some() {}
    }
    rows.push((
        "berth: /rollouts?team= page, first byte",
        percentile(&mut first_bytes, 0.5),
        percentile(&mut first_bytes, 0.95),
        0,
    ));
    let (mut s, size) = time(rounds, get("/rollouts?team=team-00")).await?;
    rows.push((
        "berth: /rollouts?team= page, whole (SSR)",
        percentile(&mut s, 0.5),
        percentile(&mut s, 0.95),
        size,
    ));

    // From a status change in the cluster to the event at a connected client (the stream sends
    // the first change at once, then at most one a second).
    let mut delays = Vec::new();
    for round in 0..rounds.min(10) {
        let mut events = client
            .get(format!("{base}/api/v1/events/rollouts"))
            .header("cookie", &cookie)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
            Api::namespaced(admin.clone(), "ns-0000");
        let list = deployments
            .list(&ListParams::default().limit(1))
            .await
            .map_err(|e| e.to_string())?;
        let Some(name) = list.items.first().and_then(|d| d.metadata.name.clone()) else {
            break;
        };
        let started = Instant::now();
        deployments
            .patch(
                &name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(serde_json::json!({
                    "metadata": { "annotations": { "bench/round": round.to_string() } }
                })),
            )
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let chunk = events
                .chunk()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the event stream ended")?;
            if String::from_utf8_lossy(&chunk).contains("event: rollouts") {
                break;
            }
        }
        delays.push(started.elapsed());
    }
    if !delays.is_empty() {
        rows.push((
            "berth: change in cluster → rollouts event at client",
            percentile(&mut delays, 0.5),
            percentile(&mut delays, 0.95),
            delays.len(),
        ));
    }

    let sandbox_list = || {
        let admin = admin.clone();
        async move {
            let ns = Api::<Namespace>::all(admin.clone())
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            let quotas = Api::<ResourceQuota>::all(admin)
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            Ok(ns.items.len() + quotas.items.len())
        }
    };
    let (mut s, size) = time(rounds, sandbox_list).await?;
    rows.push((
        "sandbox: list namespaces + resourcequotas (kube-rs)",
        percentile(&mut s, 0.5),
        percentile(&mut s, 0.95),
        size,
    ));

    println!(
        "{:<55} {:>9} {:>9} {:>12}",
        "", "p50 ms", "p95 ms", "bytes|items"
    );
    for (name, p50, p95, size) in rows {
        println!("{name:<55} {p50:>9.1} {p95:>9.1} {size:>12}");
    }
    println!("process resident memory: {:.0} MiB", rss_mib());

    berth.stop().await;
    sandbox.stop().await;
    drop(pg);
    Ok(())
}
