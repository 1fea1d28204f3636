//! Audit appends per second with the hash chain, beside plain single-row inserts on the same
//! database in the same run. Prints its figures; asserts nothing. `make bench` runs it.

use std::time::Instant;

use domain::audit::NewEvent;
use server::config::DatabaseConfig;
use server::store::Store;
use server::store::local_postgres::{Durability, PgBinaries};

const WRITERS: usize = 8;
const PER_WRITER: usize = 500;

fn event(writer: usize, i: usize) -> NewEvent {
    NewEvent {
        actor_id: format!("writer-{writer}"),
        actor_display: format!("Writer {writer}"),
        actor_roles: vec!["developer".into()],
        source: "127.0.0.1".into(),
        request_id: format!("req-{writer}-{i}"),
        action: "namespace.request".into(),
        target_kind: "Namespace".into(),
        target_namespace: "payments-dev".into(),
        target_cluster: String::new(),
        target_name: "payments-dev".into(),
        before: None,
        after: Some(serde_json::json!({"tier": "small", "ttl": "7d", "i": i})),
        outcome: "success".into(),
    }
}

#[tokio::main]
async fn main() {
    let dir = // Cargo's scratch space for benches, inside the target directory (never the source tree).
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-pg");
    let _ = std::fs::remove_dir_all(&dir);
    let run = async {
        let binaries = PgBinaries::locate().map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let data = dir.join("data");
        binaries
            .init(&data, Durability::Durable)
            .map_err(|e| e.to_string())?;
        let pg = binaries
            .start(&data, &dir.join("postgres.log"), Durability::Durable)
            .map_err(|e| e.to_string())?;
        let url = pg.url("postgres");
        let config = DatabaseConfig {
            url: Some(url.clone()),
            max_connections: 16,
            connect_timeout: std::time::Duration::from_secs(5),
        };
        let store = Store::connect(&url, &config)
            .await
            .map_err(|e| e.to_string())?;
        store.migrate().await.map_err(|e| e.to_string())?;
        sqlx::query("CREATE TABLE plain (id bigserial PRIMARY KEY, body jsonb NOT NULL)")
            .execute(store.pool())
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "{WRITERS} concurrent writers x {PER_WRITER} appends, each in its own committed transaction (durable Postgres)"
        );

        let started = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    store
                        .record(&event(w, i))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            }));
        }
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
        let audit_rate = (WRITERS * PER_WRITER) as f64 / started.elapsed().as_secs_f64();
        println!(
            "audit appends, events recorded on their own (batched by the recorder): {audit_rate:.0} / s"
        );

        // The path of state changes: each append inside its own transaction, which holds the
        // chain's lock until it commits.
        let started = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let pool = store.pool().clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
                    server::store::audit::append(&mut tx, None, &event(w, i))
                        .await
                        .map_err(|e| e.to_string())?;
                    tx.commit().await.map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            }));
        }
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
        let in_tx_rate = (WRITERS * PER_WRITER) as f64 / started.elapsed().as_secs_f64();
        println!(
            "audit appends, each in the transaction of the change it records: {in_tx_rate:.0} / s"
        );

        let started = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let pool = store.pool().clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    sqlx::query("INSERT INTO plain (body) VALUES ($1)")
                        .bind(sqlx::types::Json(serde_json::json!({"writer": w, "i": i})))
                        .execute(&pool)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            }));
        }
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
        let plain_rate = (WRITERS * PER_WRITER) as f64 / started.elapsed().as_secs_f64();
        println!("plain single-row inserts: {plain_rate:.0} / s");
        let verified = store.verify_audit(&[]).await.map_err(|e| e.to_string())?;
        println!(
            "chain after the run ({} events): {verified:?}",
            2 * WRITERS * PER_WRITER
        );
        store.close().await;
        pg.stop();
        Ok::<(), String>(())
    };
    if let Err(e) = run.await {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
