//! Three Berth processes against one Postgres and one cluster behave as one: a session made on
//! one works on the others (and ends on all when it ends), every background loop's lock is
//! held by exactly one of them, and when that one stops another takes over and does the work.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::flows::*;
use common::{TestApp, TestPostgres, test_config};
use reqwest::header::{COOKIE, ORIGIN};
use server::reconcile::{
    ACCESS_LOCK, EXPIRY_LOCK, PROVISION_LOCK, TAKEOVER_POLL, UNUSED_LOCK, USAGE_LOCK,
};
use server::store::Store;

/// Advisory lock key → the backend pid holding it, in this test's database only: the server
/// is shared, and other tests' Berths hold the same keys in theirs.
async fn holders(store: &Store) -> BTreeMap<i64, i32> {
    let rows: Vec<(i64, i32)> = sqlx::query_as(
        "SELECT (classid::int8 << 32) | objid::int8, pid FROM pg_locks \
         WHERE locktype = 'advisory' AND granted AND objsubid = 1 \
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_all(store.pool())
    .await
    .expect("pg_locks");
    rows.into_iter().collect()
}

const LOOPS: [(&str, i64); 5] = [
    ("provisioner", PROVISION_LOCK),
    ("expiry", EXPIRY_LOCK),
    ("sampler", USAGE_LOCK),
    ("unused scan", UNUSED_LOCK),
    ("JIT revoker", ACCESS_LOCK),
];

async fn wait_all_held(store: &Store, within: Duration) -> BTreeMap<i64, i32> {
    let deadline = Instant::now() + within;
    loop {
        let held = holders(store).await;
        if LOOPS.iter().all(|(_, key)| held.contains_key(key)) {
            return held;
        }
        assert!(
            Instant::now() < deadline,
            "not every loop is held: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn three_replicas_share_sessions_and_each_loop_runs_on_one_that_hands_over() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_replicas").await;
        let config = test_config();
        let a = TestApp::spawn(&url, config.clone()).await;
        let cluster = a.cluster.clone().expect("cluster");
        let kubeconfig = common::berth_kubeconfig(&cluster).await;
        // A leads everything before the others start.
        let store = Store::connect(&url, &config.database).await.expect("store");
        let before = wait_all_held(&store, Duration::from_secs(30)).await;
        let b = TestApp::spawn_on(&url, config.clone(), &kubeconfig).await;
        let c = TestApp::spawn_on(&url, config.clone(), &kubeconfig).await;

        // A session made on A works on B and C; signing out on C ends it everywhere.
        let dana = sign_in(&a, "demo:dana").await;
        for other in [&b, &c] {
            let me = other
                .client
                .get(other.url("/api/v1/me"))
                .header(COOKIE, &dana)
                .send()
                .await
                .expect("me");
            assert_eq!(me.status(), 200);
            let body: serde_json::Value = me.json().await.expect("json");
            assert_eq!(body["id"], "demo:dana");
        }

        // Each loop's lock is held once, by the same process as before B and C came.
        let held = holders(&store).await;
        for (name, key) in LOOPS {
            assert_eq!(held.get(&key), before.get(&key), "{name} changed hands");
        }

        // A stops (its connections close, as a killed process's do): B or C take every loop
        // within the takeover poll, and the work goes on — a namespace gets provisioned.
        a.stop().await;
        let since = Instant::now();
        let after = loop {
            let held = wait_all_held(&store, Duration::from_secs(30)).await;
            if LOOPS
                .iter()
                .all(|(_, key)| held.get(key) != before.get(key))
            {
                break held;
            }
            assert!(
                since.elapsed() < Duration::from_secs(30),
                "no takeover: {held:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        eprintln!(
            "every loop taken over {:?} after the leader stopped (poll {:?}): {after:?}",
            since.elapsed(),
            TAKEOVER_POLL
        );
        let answer = submit(&b, &dana, &draft("payments-replica", "payments", "small")).await;
        assert_eq!(answer["Submitted"]["state"], "Approved", "{answer}");
        wait_for_state(&c, &dana, "payments-replica", "Ready").await;

        let out = c
            .client
            .post(c.url("/auth/signout"))
            .header(ORIGIN, &c.base)
            .header(COOKIE, &dana)
            .send()
            .await
            .expect("sign out");
        assert!(out.status().is_redirection() || out.status().is_success());
        let me = b
            .client
            .get(b.url("/api/v1/me"))
            .header(COOKIE, &dana)
            .send()
            .await
            .expect("me");
        assert_eq!(me.status(), 401, "the session ended everywhere");
        store.close().await;
        b.stop().await;
        c.stop().await;
    });
}

/// `url` with a [`black_hole_proxy`] in front of its server, and the switch that cuts it.
async fn through_black_hole(url: &str) -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let target: std::net::SocketAddr = {
        let options: sqlx::postgres::PgConnectOptions = url.parse().expect("url");
        format!("{}:{}", options.get_host(), options.get_port())
            .parse()
            .expect("address")
    };
    let (port, cut) = black_hole_proxy(target).await;
    let via_proxy = url.replacen(&format!(":{}/", target.port()), &format!(":{port}/"), 1);
    assert_ne!(via_proxy, url);
    (via_proxy, cut)
}

/// A TCP proxy to Postgres that can go silent: once cut, it forwards nothing and closes
/// nothing, as when the leader's host vanishes from the network (no FIN, no RST). Postgres
/// sees live connections; only the leader's stale lease tells a standby to take over.
async fn black_hole_proxy(
    target: std::net::SocketAddr,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cut = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let flag = cut.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            for (mut from, mut to, cut) in [
                (
                    Box::new(cr) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                    Box::new(sw) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
                    flag.clone(),
                ),
                (Box::new(sr) as _, Box::new(cw) as _, flag.clone()),
            ] {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match from.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if cut.load(Ordering::SeqCst) {
                            // Silent for ever, sockets held open.
                            std::future::pending::<()>().await;
                        }
                        if to.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }
    });
    (port, cut)
}

/// The leader's host vanishes (its traffic to Postgres black-holed, nothing closed): within
/// the lease's lifetime a standby ends the stale leader's backend, takes its locks and does
/// its work.
#[test]
fn a_leader_cut_off_from_the_database_is_replaced_within_the_lease() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_cut_leader").await;
        let config = test_config();
        let cluster = common::TestCluster::shared().await;
        let kubeconfig = common::berth_kubeconfig(&cluster).await;
        let store = Store::connect(&url, &config.database).await.expect("store");
        let (via_proxy, cut) = through_black_hole(&url).await;
        let a = TestApp::spawn_on(&via_proxy, config.clone(), &kubeconfig).await;
        let before = wait_all_held(&store, Duration::from_secs(30)).await;
        let b = TestApp::spawn_on(&url, config.clone(), &kubeconfig).await;

        cut.store(true, std::sync::atomic::Ordering::SeqCst);
        let since = Instant::now();
        let deadline = server::reconcile::LEASE_TTL + TAKEOVER_POLL + Duration::from_secs(30);
        let after = loop {
            let held = holders(&store).await;
            if LOOPS.iter().all(|(_, key)| {
                held.get(key)
                    .is_some_and(|pid| Some(pid) != before.get(key))
            }) {
                break held;
            }
            assert!(since.elapsed() < deadline, "no takeover: {held:?}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        eprintln!(
            "every loop taken over {:?} after the leader was cut off (lease {:?}): {after:?}",
            since.elapsed(),
            server::reconcile::LEASE_TTL
        );
        // The work goes on, on B.
        let dana = sign_in(&b, "demo:dana").await;
        let answer = submit(&b, &dana, &draft("payments-cut", "payments", "small")).await;
        assert_eq!(answer["Submitted"]["state"], "Approved", "{answer}");
        wait_for_state(&b, &dana, "payments-cut", "Ready").await;
        // A cannot finish anything through a silent proxy: dropped, not stopped.
        drop(a);
        store.close().await;
        b.stop().await;
    });
}

/// A replica cut off in the middle of a transaction (an audit append: the chain's lock taken,
/// nothing committed, its packets no longer arriving) holds the others up only until Postgres
/// ends the idle transaction; then their events are appended and its own is gone.
#[test]
fn a_replica_cut_off_inside_a_transaction_does_not_hold_up_the_audit_chain() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_cut_append").await;
        let config = test_config();
        let (via_proxy, cut) = through_black_hole(&url).await;
        let vanishing = Store::connect(&via_proxy, &config.database)
            .await
            .expect("store through the proxy");
        let mut tx = vanishing.pool().begin().await.expect("begin");
        let lost = server::reconcile::system_event_for("cut-off", "test.cut_off", "success");
        server::store::audit::append(&mut tx, None, &lost)
            .await
            .expect("append inside the transaction");
        cut.store(true, std::sync::atomic::Ordering::SeqCst);

        let store = Store::connect(&url, &config.database).await.expect("store");
        let since = Instant::now();
        let kept = server::reconcile::system_event_for("standby", "test.after_cut", "success");
        let appended = tokio::time::timeout(common::PATIENCE, store.record(&kept))
            .await
            .expect("the audit chain stayed locked by the cut-off transaction")
            .expect("append");
        eprintln!(
            "appended {:?} after a replica was cut off holding the chain's lock",
            since.elapsed()
        );
        assert_eq!(appended.body.action, "test.after_cut");
        let cut_off_events: i64 =
            sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'test.cut_off'")
                .fetch_one(store.pool())
                .await
                .expect("count");
        assert_eq!(
            cut_off_events, 0,
            "the cut-off transaction was ended, not committed"
        );
        // The cut-off side cannot finish anything through a silent proxy: dropped, not closed.
        drop(tx);
        drop(vanishing);
        store.close().await;
    });
}
