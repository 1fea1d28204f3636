//! How the sandbox holds up at the size of a big shared cluster: load the `large` scenario
//! (2,000 namespaces, 10,000 deployments, 50,000 pods), then list every pod through kube-rs.
//! Prints its figures; asserts nothing about time. Run with `make bench` (release build).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use sandbox::scenario::Scenario;
use sandbox::{Sandbox, SandboxOptions};

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
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

#[tokio::main]
async fn main() {
    let namespaces = arg("BENCH_NAMESPACES", 2_000);
    let deployments = arg("BENCH_DEPLOYMENTS", 10_000);
    let pods = arg("BENCH_PODS", 50_000);
    println!("large scenario: {namespaces} namespaces, {deployments} deployments, {pods} pods");
    let before = rss_mib();

    let started = Instant::now();
    let scenario = Scenario::large(namespaces, deployments, pods);
    let sandbox = match Sandbox::start(SandboxOptions {
        scenario: Some(scenario),
        ..SandboxOptions::default()
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sandbox did not start: {e}");
            std::process::exit(1);
        }
    };
    let load = started.elapsed();
    println!("load: {:.2} s", load.as_secs_f64());
    println!(
        "memory after load: {:.0} MiB resident (was {:.0} MiB)",
        rss_mib(),
        before
    );

    let client = match sandbox.admin_client().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("no client: {e}");
            std::process::exit(1);
        }
    };
    // Right after load the controllers make their first pass over every object; measure both
    // while they work and once they rest.
    let api: Api<Pod> = Api::all(client.clone());
    let t = Instant::now();
    match api.list(&ListParams::default()).await {
        Ok(list) => println!(
            "full list of pods during the controllers' first pass: {} pods in {:.2} s",
            list.items.len(),
            t.elapsed().as_secs_f64()
        ),
        Err(e) => println!("full list failed: {e}"),
    }
    tokio::time::sleep(Duration::from_secs(20)).await;
    let t = Instant::now();
    let raw = http::Request::get("/api/v1/pods")
        .body(Vec::new())
        .map(|r| client.request_text(r));
    if let Ok(fut) = raw {
        match fut.await {
            Ok(text) => println!(
                "full list of pods as raw JSON (server side and transfer only): {} MiB in {:.2} s",
                text.len() / (1 << 20),
                t.elapsed().as_secs_f64()
            ),
            Err(e) => println!("raw list failed: {e}"),
        }
    }
    for round in 1..=3 {
        let t = Instant::now();
        match api.list(&ListParams::default()).await {
            Ok(list) => println!(
                "full list of pods, round {round}: {} pods in {:.2} s",
                list.items.len(),
                t.elapsed().as_secs_f64()
            ),
            Err(e) => println!("full list failed: {e}"),
        }
    }
    let t = Instant::now();
    let mut params = ListParams::default().limit(500);
    let mut total = 0;
    loop {
        let Ok(page) = api.list(&params).await else {
            break;
        };
        total += page.items.len();
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    println!(
        "paged list (500 per page): {total} pods in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    // Let the controllers' first full pass finish, then read memory again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    println!("memory at rest: {:.0} MiB resident", rss_mib());
    sandbox.stop().await;
}
