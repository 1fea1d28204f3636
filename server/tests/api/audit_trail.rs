//! The audit trail in a real Postgres: chained appends, refusal of changes, tamper detection
//! by `berth audit verify`, and one unbroken chain under concurrent writers.

use crate::common;

use std::process::Command;

use common::TestPostgres;
use domain::audit::{NewEvent, Verdict};
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
        target_cluster: String::new(),
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
        // By name, any case and any part; actions by a word or a prefix, or exactly.
        let seqs = |filter: AuditFilter| {
            let store = store.clone();
            async move {
                store
                    .audit_events(&AuditFilter {
                        limit: 50,
                        ..filter
                    })
                    .await
                    .expect("read")
                    .iter()
                    .map(|e| e.seq)
                    .collect::<Vec<_>>()
            }
        };
        let by = |actor: &str, action: &str| AuditFilter {
            actor: (!actor.is_empty()).then(|| actor.to_owned()),
            action: (!action.is_empty()).then(|| action.to_owned()),
            ..AuditFilter::default()
        };
        assert_eq!(seqs(by("An", "")).await, [3, 1], "ANA by part of her name");
        assert_eq!(seqs(by("", "namespace")).await, [2, 1]);
        assert_eq!(seqs(by("", "namespace.")).await, [2, 1]);
        assert_eq!(seqs(by("", "approve")).await, [2]);
        assert_eq!(
            seqs(by("", "namespace.req")).await,
            Vec::<i64>::new(),
            "a dotted name is exact"
        );
        assert_eq!(
            seqs(by("", "%")).await,
            Vec::<i64>::new(),
            "typed text is not a pattern"
        );
        assert_eq!(
            seqs(by("ana", "session.sign_in")).await,
            [3],
            "both at once"
        );
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
        assert_eq!(
            store.verify_audit(&[]).await.expect("verify"),
            Verdict::Intact { events: 3 }
        );
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
        assert_eq!(
            store.verify_audit(&[]).await.expect("verify"),
            Verdict::Intact { events: 1 }
        );
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
            "audit chain intact: 5 events (unkeyed: no audit key given)"
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
        assert_eq!(
            store.verify_audit(&[]).await.expect("verify"),
            Verdict::Intact { events: 400 }
        );
        let (min, max, count): (i64, i64, i64) =
            sqlx::query_as("SELECT min(seq), max(seq), count(*) FROM audit_events")
                .fetch_one(store.pool())
                .await
                .expect("query");
        assert_eq!((min, max, count), (1, 400, 400));
    });
}

const KEY: &str = "0123456789abcdef0123456789abcdef-test-key";

/// What someone with write access to the table (but not the key) can do, with the trigger
/// that refuses changes out of the way, in one transaction.
async fn as_table_owner(store: &Store, statements: &[String]) {
    let mut tx = store.pool().begin().await.expect("tx");
    sqlx::query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete")
        .execute(&mut *tx)
        .await
        .expect("disable trigger");
    for statement in statements {
        sqlx::query(statement)
            .execute(&mut *tx)
            .await
            .expect(statement);
    }
    sqlx::query("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_or_delete")
        .execute(&mut *tx)
        .await
        .expect("enable trigger");
    tx.commit().await.expect("commit");
}

/// A keyed chain with checkpoints outside the table: deleting its newest events, or
/// recomputing the whole chain without the key, is caught and named.
#[test]
fn a_keyed_chain_and_its_checkpoints_catch_a_deleted_tail_and_a_rewrite() {
    common::run(async {
        let pg = TestPostgres::start();
        let dir = common::scratch_dir("audit-key-");
        let key = domain::audit::AuditKey::new(KEY.as_bytes().to_vec()).expect("key");
        let mut stores = Vec::new();
        for db in ["audit_tail", "audit_rewrite"] {
            let url = pg.database(db).await;
            let config = DatabaseConfig {
                url: Some(url.clone()),
                max_connections: 5,
                connect_timeout: std::time::Duration::from_secs(5),
            };
            let store = Store::connect_keyed(&url, &config, Some(key.clone()))
                .await
                .expect("connect");
            store.migrate().await.expect("migrate");
            for i in 0..5 {
                store
                    .record(&event("ana", &format!("step.{i}"), "a"))
                    .await
                    .expect("append");
            }
            let file = dir.path().join(format!("{db}.jsonl"));
            let mut checkpointer = server::reconcile::checkpoint::Checkpointer::new(
                store.clone(),
                key.clone(),
                Some(file.clone()),
                std::time::Duration::from_secs(60),
            );
            assert!(checkpointer.once().await.expect("checkpoint"));
            assert!(
                !checkpointer.once().await.expect("checkpoint"),
                "nothing new, no new checkpoint"
            );
            stores.push((store, url, file));
        }
        let verify = |url: &str, key: Option<&str>, file: Option<&std::path::Path>| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
            command
                .args(["audit", "verify"])
                .env("BERTH_DATABASE_URL", url)
                .env_remove("DATABASE_URL")
                .env_remove("BERTH_AUDIT_KEY")
                .env_remove("BERTH_AUDIT_CHECKPOINT_FILE");
            if let Some(key) = key {
                command.env("BERTH_AUDIT_KEY", key);
            }
            if let Some(file) = file {
                command.env("BERTH_AUDIT_CHECKPOINT_FILE", file);
            }
            let out = command.output().expect("run berth");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).trim().to_owned(),
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            )
        };
        let (tail, tail_url, tail_file) = &stores[0];
        let (ok, stdout, _) = verify(tail_url, Some(KEY), Some(tail_file));
        assert!(ok, "{stdout}");
        assert!(
            stdout.starts_with("audit chain intact: 5 events (keyed); 1 checkpoints hold"),
            "{stdout}"
        );
        // A keyed chain is not verified without its key.
        let (ok, _, stderr) = verify(tail_url, None, None);
        assert!(!ok);
        assert!(stderr.contains("needs the audit key"), "{stderr}");

        // The newest two events deleted: every remaining link holds, the checkpoint does not.
        as_table_owner(tail, &["DELETE FROM audit_events WHERE seq > 3".to_owned()]).await;
        let (ok, _, stderr) = verify(tail_url, Some(KEY), Some(tail_file));
        assert!(!ok);
        assert!(
            stderr.contains("audit chain broken at event 4: events 4 to 5 are missing"),
            "{stderr}"
        );
        // An edited checkpoint file is refused as such.
        let text = std::fs::read_to_string(tail_file).expect("read");
        std::fs::write(tail_file, text.replace("\"seq\":5", "\"seq\":3")).expect("edit");
        let (ok, _, stderr) = verify(tail_url, Some(KEY), Some(tail_file));
        assert!(!ok);
        assert!(stderr.contains("not signed with the audit key"), "{stderr}");

        // The whole chain recomputed without the key (as plain SHA-256), event 2 changed.
        let (rewrite, rewrite_url, rewrite_file) = &stores[1];
        let events = rewrite
            .audit_events(&AuditFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("events");
        let mut events: Vec<_> = events.into_iter().rev().collect();
        let mut prev = domain::audit::GENESIS.to_owned();
        let mut statements = Vec::new();
        for e in &mut events {
            if e.seq == 2 {
                e.body.target_namespace = "elsewhere".into();
            }
            let hash = domain::audit::event_hash(e.seq, e.at_micros, &e.body, &prev, None);
            statements.push(format!(
                "UPDATE audit_events SET target_namespace = '{}', prev_hash = '{prev}', \
                 hash = '{hash}', keyed = false WHERE seq = {}",
                e.body.target_namespace, e.seq
            ));
            prev = hash;
        }
        as_table_owner(rewrite, &statements).await;
        let (ok, _, stderr) = verify(rewrite_url, Some(KEY), Some(rewrite_file));
        assert!(!ok);
        assert!(
            stderr.contains("audit chain broken at event 5: it differs from the checkpoint"),
            "{stderr}"
        );
        for (store, _, _) in stores {
            store.close().await;
        }
    });
}
