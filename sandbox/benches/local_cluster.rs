//! The local cluster at the size of a big shared cluster: a scenario (default `large`: 2,000
//! namespaces, 10,000 Deployments, 50,000 pods) loaded through the real API server, the real
//! controllers and scheduler making and binding the pods, the node simulator running them.
//! Prints how long each stage took and the resident memory of each control-plane process and
//! of this process (the simulator); asserts nothing about time. `BENCH_SCENARIO=demo` measures
//! the demo company instead; `BENCH_NAMESPACES`, `BENCH_DEPLOYMENTS`, `BENCH_PODS` scale it.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use sandbox::control_plane::ControlPlaneOptions;
use sandbox::local_cluster::{LocalCluster, LocalClusterOptions};
use sandbox::scenario::Scenario;

fn rss_mib(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn arg(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn memory(cluster: &LocalCluster, when: &str) {
    let mut total = 0.0;
    let mut parts = Vec::new();
    for (name, pid) in cluster.control_plane().pids() {
        let mib = rss_mib(&pid.to_string());
        total += mib;
        parts.push(format!("{name} {mib:.0}"));
    }
    let simulator = rss_mib("self");
    println!(
        "memory {when}: control plane {total:.0} MiB resident ({}); node simulator and loader {simulator:.0} MiB",
        parts.join(", ")
    );
}

#[tokio::main]
async fn main() {
    let scenario = match std::env::var("BENCH_SCENARIO").as_deref() {
        Ok("demo") => Scenario::named("demo").expect("the built-in demo scenario parses"),
        _ => Scenario::large(
            arg("BENCH_NAMESPACES", 2_000),
            arg("BENCH_DEPLOYMENTS", 10_000),
            arg("BENCH_PODS", 50_000),
        ),
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut control_plane = ControlPlaneOptions::new(dir.path().join("state"));
    control_plane.durable = false;
    let started = Instant::now();
    let cluster = match LocalCluster::start(LocalClusterOptions {
        control_plane,
        scenario: Some(scenario.clone()),
        nodes: None,
    })
    .await
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("the local cluster did not start: {e}");
            std::process::exit(1);
        }
    };
    let loaded = cluster.loaded();
    println!(
        "scenario {}: {} nodes, {} namespaces, {} workloads, {} pods asked for",
        scenario.name,
        scenario.node_specs().len(),
        loaded.namespaces,
        loaded.workloads,
        loaded.pods
    );
    println!(
        "start and load through the API: {:.1} s (objects applied, controllers made every pod, quotas applied)",
        started.elapsed().as_secs_f64()
    );
    let client = cluster
        .control_plane()
        .admin_client()
        .await
        .expect("admin client");
    let limit = Duration::from_secs(arg("BENCH_WAIT_SECS", 1_800) as u64);
    let mut last = 0;
    while started.elapsed() < limit {
        // Pods Running (Ready or not) or finished; an API error keeps the last count.
        if let Ok(count) = sandbox::pod_count::count_pods(&client, "status.phase!=Pending").await {
            last = count;
        }
        if last >= loaded.pods {
            break;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    println!(
        "pods started by the simulated kubelets: {last} of {} after {:.1} s",
        loaded.pods,
        started.elapsed().as_secs_f64()
    );
    memory(&cluster, "when loaded");
    let list = Instant::now();
    let all = Api::<Pod>::all(client)
        .list(&ListParams::default())
        .await
        .map(|l| l.items.len())
        .unwrap_or(0);
    println!(
        "kube-apiserver lists all {all} pods in {:.2} s (JSON, one page)",
        list.elapsed().as_secs_f64()
    );
    memory(&cluster, "after the list");
    cluster.stop();
}
