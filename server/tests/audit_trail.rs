//! The audit trail in a real Postgres: chained appends, refusal of changes, tamper detection
//! by `berth audit verify`, and one unbroken chain under concurrent writers.

mod common;

use std::process::Command;

use common::TestPostgres;
use domain::audit::NewEvent;
use server::config::DatabaseConfig;
use server::store::Store;
use server::store::audit::AuditFilter;

fn event(actor: &str, action: &str, namespace: &str) -> NewEvent {
    NewEvent {
        actor_id: actor.into(),
        actor_display: actor.to_uppercase(),
        actor_roles: vec!["developer".into()],
        source: "127.0.0.1".into(),
        request_id: format!("req-{action}"),
        action: action.into(),
        target_kind: "Namespace".into(),
        target_namespace: namespace.into(),
        target_name: namespace.into(),
        before: None,
        after: Some(serde_json::json!({"tier": "small", "ttl": "7d"})),
        outcome: "success".into(),
    }
}

async fn store(pg: &TestPostgres, db: &str) -> (Store, String) {
    let url = pg.database(db).await;
    let config = DatabaseConfig {
        url: Some(url.clone()),
        max_connections: 20,
        connect_timeout: std::time::Duration::from_secs(5),
    };
    let store = Store::connect(&url, &config).await.expect("connect");
    store.migrate().await.expect("migrate");
    (store, url)
}

#[test]
fn appends_chain_and_filters_read_newest_first() {
    common::run(async {
        let pg = TestPostgres::start();
        let (store, _) = store(&pg, "audit_a").await;
        let first = store
            .record(&event("ana", "namespace.request", "payments-dev"))
            .await
            .expect("append");
        let second = store
            .record(&event("bo", "namespace.approve", "payments-dev"))
            .await
            .expect("append");
        store
            .record(&event("ana", "session.sign_in", ""))
            .await
            .expect("append");
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(second.prev_hash, first.hash);

        let ana = store
            .audit_events(&AuditFilter {
                actor: Some("ana".into()),
                limit: 50,
                ..AuditFilter::default()
            })
            .await
            .expect("read");
        assert_eq!(ana.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 1]);
        assert_eq!(
            ana[1].body.after,
            Some(serde_json::json!({"tier": "small", "ttl": "7d"}))
        );
        let page = store
            .audit_events(&AuditFilter {
                before_seq: Some(3),
                limit: 1,
                ..AuditFilter::default()
            })
            .await
            .expect("page");
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [2]);
        assert_eq!(store.verify_audit().await.expect("verify"), Ok(3));
    });
}

#[test]
fn updates_and_deletes_are_refused() {
    common::run(async {
        let pg = TestPostgres::start();
        let (store, _) = store(&pg, "audit_b").await;
        store
            .record(&event("ana", "namespace.request", "a"))
            .await
            .expect("append");
        for statement in [
            "UPDATE audit_events SET actor_id = 'mallory'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
        ] {
            let err = sqlx::query(statement)
                .execute(store.pool())
                .await
                .expect_err(statement);
            assert!(
                err.to_string().contains("append-only"),
                "{statement}: {err}"
            );
        }
        assert_eq!(store.verify_audit().await.expect("verify"), Ok(1));
    });
}

#[test]
fn verify_names_the_first_tampered_event() {
    common::run(async {
        let pg = TestPostgres::start();
        let (store, url) = store(&pg, "audit_c").await;
        for i in 0..5 {
            store
                .record(&event("ana", &format!("step.{i}"), "a"))
                .await
                .expect("append");
        }
        let verify = || {
            Command::new(env!("CARGO_BIN_EXE_berth"))
                .args(["audit", "verify"])
                .env("BERTH_DATABASE_URL", &url)
                .env_remove("DATABASE_URL")
                .output()
                .expect("run berth")
        };
        let ok = verify();
        assert!(ok.status.success());
        assert_eq!(
            String::from_utf8_lossy(&ok.stdout).trim(),
            "audit chain intact: 5 events"
        );

        // What a table owner could do behind the application's back.
        let mut tx = store.pool().begin().await.expect("tx");
        for statement in [
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete",
            "UPDATE audit_events SET target_namespace = 'elsewhere' WHERE seq = 3",
            "ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_or_delete",
        ] {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .expect(statement);
        }
        tx.commit().await.expect("commit");

        let broken = verify();
        assert!(!broken.status.success());
        let stderr = String::from_utf8_lossy(&broken.stderr);
        assert!(stderr.contains("audit chain broken at event 3"), "{stderr}");
        assert!(stderr.contains("changed"), "{stderr}");
    });
}

#[test]
fn sixteen_concurrent_writers_leave_one_unbroken_chain() {
    common::run(async {
        let pg = TestPostgres::start();
        let (store, _) = store(&pg, "audit_d").await;
        let mut writers = Vec::new();
        for w in 0..16 {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..25 {
                    store
                        .record(&event(&format!("writer-{w}"), &format!("write.{i}"), "a"))
                        .await
                        .expect("append");
                }
            }));
        }
        for writer in writers {
            writer.await.expect("writer");
        }
        assert_eq!(store.verify_audit().await.expect("verify"), Ok(400));
        let (min, max, count): (i64, i64, i64) =
            sqlx::query_as("SELECT min(seq), max(seq), count(*) FROM audit_events")
                .fetch_one(store.pool())
                .await
                .expect("query");
        assert_eq!((min, max, count), (1, 400, 400));
    });
}
