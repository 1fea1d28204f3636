//! Load: N signed-in clients (200 by default) on loopback for a fixed time (60 s), each with its
//! own session, looping over a mix of pages, API calls and a server function against Berth
//! over the sandbox's demo company. Prints requests, throughput, errors and p50 / p99 overall
//! and per route; asserts nothing. Client and server share this machine's cores.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leptos::server_fn::ServerFn;
use sandbox::scenario::Scenario;
use tokio::sync::Mutex;

mod common;
use common::{arg, percentile, rss_mib};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}

/// What a client asks for, in turn. `None` body: GET.
const MIX: &[(&str, Option<&str>)] = &[
    ("/", None),
    ("/namespaces", None),
    ("/rollouts", None),
    ("/api/v1/me", None),
    ("/access", None),
    ("/api/v1/audit?limit=50", None),
    ("/idle", None),
    ("/cost", None),
    ("/audit", None),
    ("/api/v1/cost.csv?by=team&window=7d", None),
    (app::api::QuotaOverview::PATH, Some("")),
    ("/healthz", None),
];

const PERSONAS: [&str; 5] = ["demo:dana", "demo:mike", "demo:sam", "demo:sid", "demo:ada"];

#[derive(Default)]
struct Tally {
    samples: BTreeMap<&'static str, Vec<Duration>>,
    errors: BTreeMap<String, usize>,
}

async fn run() -> Result<(), String> {
    let clients = arg("BENCH_CLIENTS", 200);
    let seconds = arg("BENCH_SECONDS", 60) as u64;
    let (pg, dir) = common::fast_postgres("bench-load-pg")?;
    let sandbox =
        common::BenchCluster::start(Some(Scenario::named("demo").map_err(|e| e.to_string())?))
            .await?;
    let mut config = common::bench_config(&dir, &sandbox)?;
    // One connection per client at most; Postgres' own default allows 100.
    config.database.max_connections = 40;
    let (store, cluster) = common::connect(&pg.url("postgres"), &config).await?;
    let berth = common::serve(store, cluster, config).await?;
    let base = berth.base.clone();

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(clients)
        .build()
        .map_err(|e| e.to_string())?;
    let mut cookies = Vec::with_capacity(clients);
    for i in 0..clients {
        let cookie = common::demo_session(&client, &base, PERSONAS[i % PERSONAS.len()]).await?;
        cookies.push(cookie);
    }
    // Warm: the watch caches fill before the clock starts.
    client
        .post(format!("{base}{}", app::api::QuotaOverview::PATH))
        .header("origin", &base)
        .header("cookie", &cookies[0])
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{clients} signed-in clients, {seconds} s, a mix of {} requests; berth over the demo company",
        MIX.len()
    );

    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = Vec::with_capacity(clients);
    for (i, cookie) in cookies.into_iter().enumerate() {
        let (client, base, tally) = (client.clone(), base.clone(), tally.clone());
        let persona = PERSONAS[i % PERSONAS.len()];
        tasks.push(tokio::spawn(async move {
            let mut mine = Tally::default();
            let mut step = i;
            while Instant::now() < until {
                let (path, form) = MIX[step % MIX.len()];
                step += 1;
                // Developers may not read the audit API (policy): their mix skips it, so every
                // request is one its client may make and any error is Berth's.
                if persona == "demo:dana" && path.starts_with("/api/v1/audit") {
                    continue;
                }
                let request = match form {
                    None => client.get(format!("{base}{path}")),
                    Some(body) => client
                        .post(format!("{base}{path}"))
                        .header("origin", &base)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body),
                };
                let t = Instant::now();
                let outcome = match request.header("cookie", &cookie).send().await {
                    Ok(res) => {
                        let status = res.status();
                        match res.bytes().await {
                            Ok(_) if status.is_success() => Ok(()),
                            Ok(_) => Err(format!("{path}: {status}")),
                            Err(e) => Err(format!("{path}: body: {e}")),
                        }
                    }
                    Err(e) => Err(format!("{path}: {e}")),
                };
                let took = t.elapsed();
                match outcome {
                    Ok(()) => mine.samples.entry(path).or_default().push(took),
                    Err(e) => *mine.errors.entry(e).or_default() += 1,
                }
            }
            let mut all = tally.lock().await;
            for (path, samples) in mine.samples {
                all.samples.entry(path).or_default().extend(samples);
            }
            for (e, n) in mine.errors {
                *all.errors.entry(e).or_default() += n;
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let tally = tally.lock().await;
    let ok: usize = tally.samples.values().map(Vec::len).sum();
    let errors: usize = tally.errors.values().sum();
    let mut all: Vec<Duration> = tally.samples.values().flatten().copied().collect();
    println!(
        "{} requests in {elapsed:.1} s: {:.0} req/s; errors {errors} ({:.3} %); p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ok + errors,
        (ok + errors) as f64 / elapsed,
        errors as f64 * 100.0 / (ok + errors).max(1) as f64,
        percentile(&mut all, 0.50),
        percentile(&mut all, 0.99),
        percentile(&mut all, 1.0),
    );
    println!(
        "{:<44} {:>8} {:>9} {:>9}",
        "route", "count", "p50 ms", "p99 ms"
    );
    for (path, samples) in &tally.samples {
        let mut s = samples.clone();
        println!(
            "{path:<44} {:>8} {:>9.1} {:>9.1}",
            s.len(),
            percentile(&mut s, 0.50),
            percentile(&mut s, 0.99)
        );
    }
    for (e, n) in tally.errors.iter().take(10) {
        println!("error ×{n}: {e}");
    }
    println!(
        "process resident memory (sandbox + berth + clients): {:.0} MiB",
        rss_mib()
    );
    berth.stop().await;
    sandbox.stop();
    drop(pg);
    Ok(())
}
