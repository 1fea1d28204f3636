//! Three Berth processes against one Postgres and one cluster behave as one: a session made on
//! one works on the others (and ends on all when it ends), every background loop's lock is
//! held by exactly one of them, and when that one stops another takes over and does the work.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::flows::*;
use common::{TestApp, TestPostgres, test_config};
use reqwest::header::{COOKIE, ORIGIN};
use server::reconcile::{
    ACCESS_LOCK, EXPIRY_LOCK, PROVISION_LOCK, TAKEOVER_POLL, UNUSED_LOCK, USAGE_LOCK,
};
use server::store::Store;

/// Advisory lock key → the backend pid holding it.
async fn holders(store: &Store) -> BTreeMap<i64, i32> {
    let rows: Vec<(i64, i32)> = sqlx::query_as(
        "SELECT (classid::int8 << 32) | objid::int8, pid FROM pg_locks \
         WHERE locktype = 'advisory' AND granted AND objsubid = 1",
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
        let mut a = TestApp::spawn(&url, config.clone()).await;
        let cluster = a.sandbox.take().expect("sandbox");
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
        cluster.stop().await;
    });
}
