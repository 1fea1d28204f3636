//! How fast JIT access ends. Grants are requested and approved through the services (bindings
//! in the sandbox, rows and audit in Postgres), then: (1) their end is set a few seconds out,
//! spread, and the revoker — at its configured poll — deletes the bindings; the delay between
//! due and done is what Berth records per grant. (2) Early revokes are timed end to end, and
//! the grant's own certificate is refused right after. (3) An admin's "revoke all".
//! Prints figures; asserts nothing about time.

use std::time::{Duration, Instant};

use domain::identity::RequestOrigin;
use domain::jit::Draft;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, PostParams};
use server::reconcile::access::Revoker;
use server::services::Services;

mod common;
use common::{arg, percentile};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}

fn persona(id: &str) -> Result<domain::identity::CurrentUser, String> {
    server::auth::demo_personas()
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| format!("no persona {id}"))
}

fn ms(samples: &[f64], p: f64) -> f64 {
    let mut d: Vec<Duration> = samples
        .iter()
        .map(|m| Duration::from_secs_f64(m / 1000.0))
        .collect();
    percentile(&mut d, p)
}

async fn run() -> Result<(), String> {
    let grants = arg("BENCH_GRANTS", 100);
    let early = arg("BENCH_EARLY", 20);
    let (pg, dir) = common::fast_postgres("bench-access-pg")?;
    let sandbox = common::BenchCluster::start(None).await?;
    let config = common::bench_config(&dir, &sandbox)?;
    let (store, cluster) = common::connect(&pg.url("postgres"), &config).await?;
    let admin = cluster.client().clone();
    for i in 0..10 {
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": format!("jit-{i}"), "labels": { "berth.dev/team": "search" } }
        }))
        .map_err(|e| e.to_string())?;
        Api::<Namespace>::all(admin.clone())
            .create(&PostParams::default(), &ns)
            .await
            .map_err(|e| e.to_string())?;
    }
    let services = Services::new(store.clone(), cluster.clone(), &config);
    if !services.caches().ready().await {
        return Err("the watch caches never filled".to_owned());
    }
    let dana = persona("demo:dana")?;
    let sam = persona("demo:sam")?;
    let ada = persona("demo:ada")?;
    let origin = RequestOrigin {
        source: "bench".to_owned(),
        request_id: String::new(),
    };
    let grant = |i: usize| {
        let (services, dana, sam, origin) = (&services, &dana, &sam, &origin);
        async move {
            let draft = Draft {
                namespaces: format!("jit-{}", i % 10),
                cluster: false,
                role: "edit".to_owned(),
                duration: "30m".to_owned(),
                reason: "benchmark".to_owned(),
                ticket: "OPS-1".to_owned(),
                break_glass: false,
                target_cluster: String::new(),
            };
            let asked = services
                .request_access(dana, origin, draft, None)
                .await
                .map_err(|e| e.to_string())?;
            services
                .review_access(sam, origin, &asked.id, true, "ok")
                .await
                .map_err(|e| e.to_string())?;
            Ok::<String, String>(asked.id)
        }
    };

    // (1) At expiry, by the revoker at its configured poll.
    let started = Instant::now();
    let mut ids = Vec::with_capacity(grants);
    for i in 0..grants {
        ids.push(grant(i).await?);
    }
    let took = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{grants} grants requested and approved (bindings applied) in {took:.0} ms, {:.1} ms each",
        took / grants as f64
    );
    // Due 1–5 s from now, spread, so passes meet grants at every point of the poll.
    sqlx::query(
        "UPDATE access_requests SET expires_at = now() + make_interval(secs => 1 + (random() * 4)) \
         WHERE id = ANY($1)",
    )
    .bind(&ids)
    .execute(store.pool())
    .await
    .map_err(|e| e.to_string())?;
    let poll = config.access.revoke_poll;
    let revoker = tokio::spawn(Revoker::new(store.clone(), services.fleet().clone(), poll).run());
    let deadline = Instant::now() + Duration::from_secs(60);
    let delays = loop {
        let delays: Vec<f64> = sqlx::query_scalar(
            "SELECT revoke_delay_ms FROM access_requests WHERE id = ANY($1) AND revoke_delay_ms IS NOT NULL",
        )
        .bind(&ids)
        .fetch_all(store.pool())
        .await
        .map_err(|e| e.to_string())?;
        if delays.len() == ids.len() {
            break delays;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {} grants ended",
                delays.len(),
                ids.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    revoker.abort();
    println!(
        "revoked at expiry (poll {} ms), due → bindings gone: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms over {} grants",
        poll.as_millis(),
        ms(&delays, 0.5),
        ms(&delays, 0.95),
        ms(&delays, 1.0),
        delays.len()
    );

    // (2) Early revokes, end to end, and the grant's certificate refused right after.
    let mut took = Vec::with_capacity(early);
    let mut refused_after = Vec::with_capacity(early);
    for i in 0..early {
        let id = grant(i).await?;
        let file = services
            .access_kubeconfig(&dana, &origin, &id)
            .await
            .map_err(|e| e.to_string())?;
        let as_grant = sandbox::kubeconfig::client(&file.text).await?;
        let pods = Api::<Pod>::namespaced(as_grant, &format!("jit-{}", i % 10));
        pods.list(&ListParams::default())
            .await
            .map_err(|e| format!("the grant did not work: {e}"))?;
        let started = Instant::now();
        services
            .revoke_access(&sam, &origin, &id, "bench")
            .await
            .map_err(|e| e.to_string())?;
        took.push(started.elapsed().as_secs_f64() * 1000.0);
        loop {
            match pods.list(&ListParams::default()).await {
                Err(kube::Error::Api(s)) if s.code == 403 => break,
                _ if started.elapsed() > Duration::from_secs(10) => {
                    return Err("still allowed 10 s after revoke".to_owned());
                }
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
        refused_after.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "early revoke (service call, bindings deleted, recorded): p50 {:.1} ms, max {:.1} ms; \
         grant's certificate refused after p50 {:.1} ms, max {:.1} ms ({early} grants)",
        ms(&took, 0.5),
        ms(&took, 1.0),
        ms(&refused_after, 0.5),
        ms(&refused_after, 1.0)
    );

    // (3) Revoke all.
    for i in 0..grants {
        grant(i).await?;
    }
    let started = Instant::now();
    let ended = services
        .revoke_all_access(&ada, &origin, "bench")
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "revoke all: {ended} grants in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    sandbox.stop();
    drop(pg);
    Ok(())
}
