//! Namespace and quota views at the size of a big shared cluster: the `large` scenario (2,000
//! namespaces, 10,000 deployments, 50,000 pods by default) in the real control plane, Berth
//! serving from its watch caches, timed request by request beside kube-apiserver's own lists
//! of the objects each view is made of, in the same run. Prints p50 / p95 and the ratios;
//! asserts nothing about time. `make bench` runs it.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Event, LimitRange, Namespace, Node, Pod, ResourceQuota};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
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
    // A list of 50,000 pods takes kube-apiserver tens of seconds here: fewer rounds of those.
    let list_rounds = arg("BENCH_LIST_ROUNDS", 5);
    println!(
        "quota views over the large scenario: {namespaces} namespaces, {deployments} deployments, {pods} pods; {rounds} rounds of each Berth view, {list_rounds} of each kube-apiserver list"
    );

    let (pg, dir) = common::fast_postgres("bench-quota-pg")?;
    common::watch_for_stalls(Duration::from_secs(3), dir.join("stacks.txt"));

    let started = Instant::now();
    let sandbox = common::large_sandbox(namespaces, deployments, pods).await?;
    println!("cluster loaded in {:.1} s", started.elapsed().as_secs_f64());

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
                    .map_err(|e| common::with_causes(&e))?;
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
        "caches filled and first quota answer after {:.1} s ({first} bytes); this process grew {:.0} MiB; Berth alone: the memory bench",
        started.elapsed().as_secs_f64(),
        rss_mib() - before_berth
    );

    let mut rows = Vec::new();
    rows.push(row(
        "berth: quota overview (server fn, all namespaces)",
        time(rounds, post(app::api::QuotaOverview::PATH, String::new())).await?,
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
                    .map_err(|e| common::with_causes(&e))?;
                let body = res.bytes().await.map_err(|e| e.to_string())?;
                Ok(body.len())
            }
        }
    };
    rows.push(row(
        "berth: /namespaces page (SSR, with capacity)",
        time(rounds, get("/namespaces")).await?,
    ));
    rows.push(row(
        "berth: capacity (server fn)",
        time(
            rounds,
            post(app::api::CapacityOverview::PATH, String::new()),
        )
        .await?,
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
            .map_err(|e| common::with_causes(&e))?;
        let page: serde_json::Value = answer.json().await.map_err(|e| e.to_string())?;
        page["workloads"]
            .as_u64()
            .ok_or("the rollouts answer has no workload count")?
    };
    println!("team-00 has {workloads} workloads");
    rows.push(row(
        "berth: team rollouts (server fn, one team)",
        time(rounds, team_rollouts).await?,
    ));
    let admin = sandbox.admin_client().await?;
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
    rows.push(row(
        "berth: one workload's page (server fn)",
        time(
            rounds,
            post(
                app::api::WorkloadDetail::PATH,
                format!("kind=deployment&namespace=ns-0000&name={some_deployment}"),
            ),
        )
        .await?,
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
            .map_err(|e| common::with_causes(&e))?;
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
    rows.push(row(
        "berth: /rollouts?team= page, whole (SSR)",
        time(rounds, get("/rollouts?team=team-00")).await?,
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
            .map_err(|e| common::with_causes(&e))?;
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

    // kube-apiserver's own lists of the objects each view is made of, as a client without a
    // cache would fetch them (in parallel where they are independent, JSON as kube-rs speaks
    // it, one page each), beside Berth's answer.
    let quota_objects = || {
        let admin = admin.clone();
        async move {
            let (ns, quotas, limits, pods) = tokio::try_join!(
                count_all::<Namespace>(&admin),
                count_all::<ResourceQuota>(&admin),
                count_all::<LimitRange>(&admin),
                count_all::<Pod>(&admin),
            )?;
            Ok(ns + quotas + limits + pods)
        }
    };
    rows.push(row(
        "kube-apiserver: namespaces, quotas, limit ranges, pods",
        time(list_rounds, quota_objects).await?,
    ));
    let page_objects = || {
        let admin = admin.clone();
        let rest = quota_objects();
        async move {
            let (rest, nodes) = tokio::try_join!(rest, count_all::<Node>(&admin))?;
            Ok(rest + nodes)
        }
    };
    rows.push(row(
        "kube-apiserver: the same and nodes (/namespaces)",
        time(list_rounds, page_objects).await?,
    ));
    // A team's rollouts: its namespaces (by label), then in each of them the workloads,
    // ReplicaSets, pods and disruption budgets it holds, as namespaced lists (the API server's
    // watch cache answers those from its namespace index), 16 at a time.
    let team_objects = || {
        let admin = admin.clone();
        async move {
            let selector = format!("{}=team-00", domain::tenancy::LABEL_TEAM);
            let namespaces: Vec<String> = Api::<Namespace>::all(admin.clone())
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| e.to_string())?
                .items
                .into_iter()
                .filter_map(|n| n.metadata.name)
                .collect();
            let counts: Vec<Result<usize, String>> =
                futures::stream::iter(namespaces.iter().map(|ns| {
                    let admin = admin.clone();
                    async move {
                        let (d, st, ds, rs, p, b) = tokio::try_join!(
                            count_in::<Deployment>(&admin, ns),
                            count_in::<StatefulSet>(&admin, ns),
                            count_in::<DaemonSet>(&admin, ns),
                            count_in::<ReplicaSet>(&admin, ns),
                            count_in::<Pod>(&admin, ns),
                            count_in::<PodDisruptionBudget>(&admin, ns),
                        )?;
                        Ok(d + st + ds + rs + p + b)
                    }
                }))
                .buffer_unordered(16)
                .collect()
                .await;
            counts
                .into_iter()
                .try_fold(namespaces.len(), |sum, n| n.map(|n| sum + n))
        }
    };
    rows.push(row(
        "kube-apiserver: team-00's namespaces and their objects",
        time(list_rounds, team_objects).await?,
    ));
    // One Deployment's page: it, and its namespace's ReplicaSets, pods and events.
    let workload_objects = || {
        let admin = admin.clone();
        let name = some_deployment.clone();
        async move {
            let ns = "ns-0000";
            let (_, rs, pods, events) = tokio::try_join!(
                async {
                    Api::<Deployment>::namespaced(admin.clone(), "ns-0000")
                        .get(&name)
                        .await
                        .map_err(|e| e.to_string())
                },
                count_in::<ReplicaSet>(&admin, ns),
                count_in::<Pod>(&admin, ns),
                count_in::<Event>(&admin, ns),
            )?;
            Ok(1 + rs + pods + events)
        }
    };
    rows.push(row(
        "kube-apiserver: a deployment and its namespace's RS, pods, events",
        time(rounds, workload_objects).await?,
    ));

    println!(
        "{:<55} {:>9} {:>9} {:>12}",
        "", "p50 ms", "p95 ms", "bytes|items"
    );
    for (name, p50, p95, size) in &rows {
        println!("{name:<55} {p50:>9.1} {p95:>9.1} {size:>12}");
    }
    let p50 = |name: &str| rows.iter().find(|r| r.0 == name).map_or(f64::NAN, |r| r.1);
    println!(
        "kube-apiserver's own lists of the same objects over Berth's answer, p50 (above 1: Berth is faster):"
    );
    for (berth, sandbox) in [
        (
            "berth: quota overview (server fn, all namespaces)",
            "kube-apiserver: namespaces, quotas, limit ranges, pods",
        ),
        (
            "berth: /namespaces page (SSR, with capacity)",
            "kube-apiserver: the same and nodes (/namespaces)",
        ),
        (
            "berth: team rollouts (server fn, one team)",
            "kube-apiserver: team-00's namespaces and their objects",
        ),
        (
            "berth: one workload's page (server fn)",
            "kube-apiserver: a deployment and its namespace's RS, pods, events",
        ),
    ] {
        println!("  {berth:<55} {:>7.1}×", p50(sandbox) / p50(berth));
    }

    println!(
        "this process (Berth, the node simulator, the metrics API and the lists read here) resident: {:.0} MiB",
        rss_mib()
    );

    berth.stop().await;
    sandbox.stop();
    drop(pg);
    Ok(())
}

/// A row of the table: the name, p50 and p95 in ms, and the size of the last answer.
fn row(
    name: &'static str,
    (mut samples, size): (Vec<Duration>, usize),
) -> (&'static str, f64, f64, usize) {
    (
        name,
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.95),
        size,
    )
}

/// How many `K` kube-apiserver lists cluster-wide, read whole as a client without a cache would.
async fn count_all<K>(client: &kube::Client) -> Result<usize, String>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let list = Api::<K>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(list.items.len())
}

/// How many `K` kube-apiserver lists in `namespace`.
async fn count_in<K>(client: &kube::Client, namespace: &str) -> Result<usize, String>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    let list = Api::<K>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(list.items.len())
}
