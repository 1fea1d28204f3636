//! Berth as an operator runs it: `berth serve` in its own process against the sandbox's `large`
//! scenario (2,000 namespaces, 10,000 deployments, 50,000 pods by default). Prints the time from
//! start to `/readyz` answering 200 (caches filled), and the process's resident memory (VmRSS,
//! and its peak VmHWM) when ready and after the heaviest pages have been served. A separate
//! process, so neither the sandbox nor this harness counts. Asserts nothing; `make bench` runs it.
//!
//! `BENCH_CLUSTERS=10` serves a fleet: the sandbox registered under ten names (`[[clusters]]`),
//! so Berth keeps ten clients and ten sets of watch caches of the scenario's objects — what ten
//! clusters of that size cost Berth — while one API server does the serving (ten real ones of
//! 20,000 pods would not fit this machine beside each other).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::arg;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}

/// Stops the child however the benchmark ends.
struct Berth(Child);

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `(VmRSS, VmHWM)` of `pid` in MiB.
fn memory_of(pid: u32) -> Result<(f64, f64), String> {
    let pid = pid.to_string();
    Ok((
        common::status_mib(&pid, "VmRSS:")?,
        common::status_mib(&pid, "VmHWM:")?,
    ))
}

async fn run() -> Result<(), String> {
    let namespaces = arg("BENCH_NAMESPACES", 2_000);
    let deployments = arg("BENCH_DEPLOYMENTS", 10_000);
    let pods = arg("BENCH_PODS", 50_000);
    let clusters = arg("BENCH_CLUSTERS", 1).max(1);
    println!(
        "berth serve (own process) over the large scenario: {namespaces} namespaces, {deployments} deployments, {pods} pods; {clusters} cluster(s) of it"
    );
    let (pg, dir) = common::fast_postgres("bench-memory-pg")?;
    let sandbox = common::large_sandbox(namespaces, deployments, pods).await?;
    let config = common::bench_config(&dir, &sandbox)?;
    let url = pg.url("postgres");
    let (store, _cluster) = common::connect(&url, &config).await?;

    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        probe.local_addr().map_err(|e| e.to_string())?.port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let kubeconfig = config
        .cluster
        .kubeconfig
        .clone()
        .ok_or("the bench config names no kubeconfig")?;
    // The fleet: the same cluster again under other names, each a member of its own.
    let fleet = dir.join("fleet.toml");
    let more: String = (2..=clusters)
        .map(|i| {
            format!(
                "[[clusters]]\nname = \"fleet-{i:02}\"\nkubeconfig = \"{}\"\n\n",
                kubeconfig.display()
            )
        })
        .collect();
    std::fs::write(&fleet, more).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join("berth.log")).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("serve")
        .arg("--config")
        .arg(&fleet)
        .env("BERTH_DATABASE_URL", &url)
        .env("BERTH_LISTEN", format!("127.0.0.1:{port}"))
        .env("BERTH_CLUSTER_KUBECONFIG", &kubeconfig)
        .env("BERTH_SITE_ROOT", dir.join("no-site"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start berth: {e}"))?;
    let mut berth = Berth(child);
    let pid = berth.0.id();

    common::wait_ready(&base, || {
        berth.0.try_wait().is_ok_and(|exit| exit.is_none())
    })
    .await
    .map_err(|e| format!("{e}; see {}", dir.join("berth.log").display()))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    // Ready means one cluster serves; a fleet's every cache is filled when each check is ok.
    loop {
        let checks: serde_json::Value = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let all = checks["checks"].as_array().cloned().unwrap_or_default();
        if !all.is_empty() && all.iter().all(|c| c["ok"] == true) {
            break;
        }
        if started.elapsed() > Duration::from_secs(3_600) {
            return Err(format!("not every cache filled within an hour: {checks}"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (rss, peak) = memory_of(pid)?;
    println!(
        "ready (/readyz 200, every cluster's watch caches filled) {:.1} s after start; resident {rss:.0} MiB (peak {peak:.0} MiB)",
        started.elapsed().as_secs_f64()
    );

    // An admin's session, minted in the store as a sign-in would. `serve` has no demo sign-in
    // and admits no `demo:` identity, so the demo admin is copied under an id of its own.
    let mut admin = server::auth::demo_personas()
        .into_iter()
        .find(|p| p.id == "demo:ada")
        .ok_or("no admin persona")?;
    admin.id = "bench:ada".to_owned();
    let event = domain::audit::NewEvent::by(
        Some(&admin),
        &Default::default(),
        "session.sign_in",
        domain::audit::Outcome::Success,
    );
    let token = store
        .sign_in(&admin, Duration::from_secs(3600), &event)
        .await
        .map_err(|e| e.to_string())?;
    let cookie = format!("{}={token}", server::auth::SESSION_COOKIE);
    // Twice: the first visit of each page pays for what the process had not touched yet.
    for (pass, path) in ["first", "again"].into_iter().flat_map(|pass| {
        [
            "/namespaces",
            "/rollouts?team=team-00",
            "/rollouts",
            "/idle",
            "/cost",
            "/cost?by=cluster&window=30d",
        ]
        .map(|path| (pass, path))
    }) {
        let at = Instant::now();
        let res = client
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        let body = res.bytes().await.map_err(|e| e.to_string())?;
        let size = body.len();
        if !status.is_success() {
            return Err(format!("{path}: {status}"));
        }
        // A page that only offers to sign in would measure nothing: `serve` admits no demo
        // persona, which is how this benchmark timed sign-in pages unnoticed for a while.
        if String::from_utf8_lossy(&body).contains("id=\"sign-in-link\"") {
            return Err(format!("{path}: answered as to a signed-out visitor"));
        }
        let (rss, peak) = memory_of(pid)?;
        println!(
            "  {pass:<5} {path}: {status} {size} bytes in {:.0} ms; resident {rss:.0} MiB (peak {peak:.0} MiB)",
            at.elapsed().as_secs_f64() * 1000.0
        );
    }
    // Berth hands freed heap pages back every 30 s (`serve::TRIM_EVERY`): what it holds once
    // the pages are served and nothing else happens.
    tokio::time::sleep(Duration::from_secs(35)).await;
    let (rss, peak) = memory_of(pid)?;
    println!("  settled 35 s after the last page: resident {rss:.0} MiB (peak {peak:.0} MiB)");
    drop(berth);
    Ok(())
}
