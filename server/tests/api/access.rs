//! Just-in-time access over real HTTP against the real control plane: a request held to the policy,
//! reviewed by SREs (never the requester; two when the rule says so), granted to a separate
//! identity whose kubeconfig works where it was granted and nowhere else, and revoked — early,
//! by "revoke all", and on time by the revoker, even across a restart and with two Berth
//! processes racing.

use crate::common;

use std::time::{Duration, Instant};

use app::api::{
    AccessDetail, AccessOverview, RequestAccess, ReviewAccess, RevokeAccess, RevokeAllAccess,
    SaveAccessPolicy,
};
use common::flows::*;
use common::{TestApp, TestPostgres, test_config};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kube::api::{Api, ListParams, PostParams};
use leptos::server_fn::ServerFn;
use reqwest::header::{COOKIE, ORIGIN};
use serde_json::{Value, json};
use server::store::Store;

async fn namespace(client: &kube::Client, name: &str, team: &str) {
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "berth.dev/team": team } }
    }))
    .expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

fn draft(namespaces: &str, role: &str, duration: &str) -> Value {
    json!({
        "namespaces": namespaces, "cluster": false, "role": role, "duration": duration,
        "reason": "incident 4711: search latency", "ticket": "OPS-4711", "break_glass": false,
    })
}

async fn ask(app: &TestApp, cookie: &str, draft: Value) -> Value {
    call_json(
        app,
        cookie,
        RequestAccess::PATH,
        json!({ "draft": draft, "extends": null }),
    )
    .await
}

async fn review(app: &TestApp, cookie: &str, id: &str, approve: bool) -> Value {
    let approve = if approve { "true" } else { "false" };
    call_form(
        app,
        cookie,
        ReviewAccess::PATH,
        &[
            ("id", id),
            ("approve", approve),
            ("comment", "checked the ticket"),
        ],
    )
    .await
}

async fn detail(app: &TestApp, cookie: &str, id: &str) -> Value {
    call_form(app, cookie, AccessDetail::PATH, &[("id", id)]).await
}

async fn state(app: &TestApp, cookie: &str, id: &str) -> String {
    detail(app, cookie, id).await["request"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn kubeconfig(app: &TestApp, cookie: &str, id: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/access/{id}/kubeconfig")))
        .header(ORIGIN, &app.base)
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("kubeconfig")
}

async fn client_for(app: &TestApp, cookie: &str, id: &str) -> kube::Client {
    let res = kubeconfig(app, cookie, id).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.expect("kubeconfig text");
    assert!(text.contains(&format!("jit:{id}:demo:dana")), "{text}");
    common::cluster::client_for(&text).await
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> bool {
    matches!(r, Err(kube::Error::Api(ref s)) if s.code == 403)
}

/// Audit rows about one request: (action, outcome), oldest first.
async fn trail(app: &TestApp, cookie: &str, id: &str) -> Vec<(String, String)> {
    detail(app, cookie, id).await["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_grant_works_where_it_was_granted_and_ends_when_revoked() {
    common::run(async {
        let (_pg, app) = app().await;
        let admin = admin_client(&app).await;
        namespace(&admin, "search-jit", "search").await;
        namespace(&admin, "search-other", "search").await;
        let dana = sign_in(&app, "demo:dana").await;
        let sam = sign_in(&app, "demo:sam").await;

        // Reviewers' tools call a fixed path.
        assert_eq!(ReviewAccess::PATH, "/api/review_access");

        // Bad input: refused with a message, nothing stored, the attempt audited.
        let refusals = [
            (
                draft("search-jit", "edit", "5h"),
                "edit may be held at most 4 h here; you asked for 5 h",
            ),
            (
                draft("search-jit", "root", "30m"),
                "role \"root\" cannot be requested",
            ),
            (
                draft("search-nowhere", "edit", "30m"),
                "no namespace search-nowhere on cluster default",
            ),
            (
                json!({ "namespaces": "search-jit", "cluster": false, "role": "edit", "duration": "30m",
                        "reason": "<b>now</b>", "ticket": "OPS-1", "break_glass": false }),
                "the reason may not contain markup",
            ),
            (
                // NUL: Postgres refuses it in text; the refusal is Berth's, in words.
                json!({ "namespaces": "search-jit", "cluster": false, "role": "edit", "duration": "30m",
                        "reason": "incident\u{0}4711", "ticket": "OPS-1", "break_glass": false }),
                "the reason may not contain control characters",
            ),
            (
                json!({ "namespaces": "search-jit", "cluster": false, "role": "edit", "duration": "30m",
                        "reason": "", "ticket": "", "break_glass": false }),
                "edit needs a reason; edit needs a ticket reference",
            ),
        ];
        for (d, message) in refusals {
            let answer = ask(&app, &dana, d).await;
            let err = answer["Err"].as_str().unwrap_or_default();
            assert!(err.contains(message), "{answer}");
        }
        let overview = call_form(&app, &dana, AccessOverview::PATH, &[]).await;
        assert_eq!(
            overview["mine"].as_array().map(Vec::len),
            Some(0),
            "nothing stored"
        );

        // A request within policy waits for review.
        let answer = ask(&app, &dana, draft("search-jit", "edit", "30m")).await;
        let id = answer["id"].as_str().expect("request id").to_owned();
        assert_eq!(answer["state"], "Pending");
        assert_eq!(
            kubeconfig(&app, &dana, &id).await.status(),
            409,
            "no grant yet"
        );

        // The requester cannot approve it; a developer cannot either.
        let own = review(&app, &dana, &id, true).await;
        assert_eq!(
            own["Err"], "nobody approves their own access request",
            "{own}"
        );
        assert_eq!(state(&app, &dana, &id).await, "Pending");

        // The SRE sees it in the queue and approves: the grant is active at once.
        let queue = call_form(&app, &sam, AccessOverview::PATH, &[]).await;
        assert!(
            queue["queue"].as_array().is_some_and(|q| q
                .iter()
                .any(|r| r["id"] == id.as_str() && r["can_review"] == true)),
            "{queue}"
        );
        let approved = review(&app, &sam, &id, true).await;
        assert_eq!(approved["state"], "Active", "{approved}");
        let twice = review(&app, &sam, &id, true).await;
        assert!(
            twice["Err"]
                .as_str()
                .is_some_and(|e| e.contains("this request is active")),
            "{twice}"
        );
        let binding = Api::<RoleBinding>::namespaced(admin.clone(), "search-jit")
            .get(&format!("berth-jit-{id}"))
            .await
            .expect("binding");
        assert_eq!(binding.role_ref.name, "edit");
        let subject = &binding.subjects.unwrap_or_default()[0];
        assert_eq!(subject.name, format!("jit:{id}:demo:dana"));
        assert!(
            binding
                .metadata
                .annotations
                .unwrap_or_default()
                .contains_key("berth.dev/expires-at")
        );

        // Only Dana downloads it; the kubeconfig acts in that namespace and nowhere else.
        assert_eq!(kubeconfig(&app, &sam, &id).await.status(), 403);
        let as_grant = client_for(&app, &dana, &id).await;
        let cm: ConfigMap = serde_json::from_value(
            json!({ "metadata": { "name": "hotfix" }, "data": { "a": "1" } }),
        )
        .expect("cm");
        // kube-apiserver's RBAC authorizer reads bindings from its own watch cache, so a
        // binding that exists may take a moment to be honoured (a fresh-clone run was refused
        // once right after the get above): the first create is retried until allowed.
        let deadline = Instant::now() + common::PATIENCE;
        loop {
            match Api::<ConfigMap>::namespaced(as_grant.clone(), "search-jit")
                .create(&PostParams::default(), &cm)
                .await
            {
                Ok(_) => break,
                Err(kube::Error::Api(e)) if e.code == 403 && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("edit works in the granted namespace: {e:?}"),
            }
        }
        assert!(forbidden(
            Api::<Pod>::namespaced(as_grant.clone(), "search-other")
                .list(&ListParams::default())
                .await
        ));
        assert!(forbidden(
            Api::<Namespace>::all(as_grant.clone())
                .list(&ListParams::default())
                .await
        ));

        // Sam ends it early: the binding goes and the kubeconfig is refused.
        let revoked = call_form(
            &app,
            &sam,
            RevokeAccess::PATH,
            &[("id", &id), ("comment", "incident over")],
        )
        .await;
        assert_eq!(revoked["state"], "Revoked", "{revoked}");
        let since = Instant::now();
        loop {
            let r = Api::<Pod>::namespaced(as_grant.clone(), "search-jit")
                .list(&ListParams::default())
                .await;
            if forbidden(r) {
                break;
            }
            assert!(
                since.elapsed() < Duration::from_secs(5),
                "still allowed 5 s after revoke"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("revoke → kubectl refused after {:?}", since.elapsed());
        let delay = detail(&app, &dana, &id).await["request"]["revoke_delay_ms"].as_f64();
        assert!(delay.is_some_and(|d| d >= 0.0), "delay recorded");

        // Acting on a revoked request: refused and audited.
        let again = call_form(
            &app,
            &sam,
            RevokeAccess::PATH,
            &[("id", &id), ("comment", "")],
        )
        .await;
        assert!(
            again["Err"]
                .as_str()
                .is_some_and(|e| e.contains("only an active grant can be revoked")),
            "{again}"
        );
        assert_eq!(kubeconfig(&app, &dana, &id).await.status(), 409);

        // The request's own audit trail holds every step, refusals included.
        let steps = trail(&app, &dana, &id).await;
        let want = [
            ("access.request", "success"),
            ("access.approve", "denied"),
            ("access.approve", "success"),
            ("access.grant", "success"),
            ("access.approve", "denied"),
            ("access.kubeconfig", "denied"),
            ("access.kubeconfig", "success"),
            ("access.revoke", "requested"),
            ("access.revoke", "success"),
            ("access.revoke", "denied"),
        ];
        let got: Vec<(&str, &str)> = steps
            .iter()
            .map(|(a, o)| (a.as_str(), o.as_str()))
            .collect();
        assert_eq!(got, want);
        // The refused requests were audited too (they have no request id of their own).
        let store = Store::connect(&app.database_url, &test_config().database)
            .await
            .expect("store");
        let denied: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_events WHERE action = 'access.request' AND outcome = 'denied'",
        )
        .fetch_one(store.pool())
        .await
        .expect("count");
        assert_eq!(denied, 6);
        store.close().await;
        app.stop().await;
    });
}

#[test]
fn cluster_admin_needs_two_different_sres_and_admins_revoke_everything() {
    common::run(async {
        let (_pg, app) = app().await;
        let admin = admin_client(&app).await;
        let dana = sign_in(&app, "demo:dana").await;
        let sam = sign_in(&app, "demo:sam").await;
        let sid = sign_in(&app, "demo:sid").await;
        let ada = sign_in(&app, "demo:ada").await;

        let wide = json!({ "namespaces": "", "cluster": true, "role": "cluster-admin", "duration": "30m",
                           "reason": "restore etcd", "ticket": "OPS-9", "break_glass": false });
        let answer = ask(&app, &dana, wide).await;
        let id = answer["id"].as_str().expect("id").to_owned();
        assert_eq!(answer["approvals_needed"], 2);
        let first = review(&app, &sam, &id, true).await;
        assert_eq!(first["state"], "Pending", "{first}");
        let again = review(&app, &sam, &id, true).await;
        assert_eq!(
            again["Err"],
            "you approved this request already; it needs another SRE"
        );
        let second = review(&app, &sid, &id, true).await;
        assert_eq!(second["state"], "Active", "{second}");
        let crbs = Api::<ClusterRoleBinding>::all(admin.clone());
        let crb = crbs
            .get(&format!("berth-jit-{id}"))
            .await
            .expect("cluster binding");
        assert_eq!(crb.role_ref.name, "cluster-admin");

        // A second grant, then the admin's "revoke all" ends both.
        let namespaced = ask(
            &app,
            &dana,
            json!({ "namespaces": "default", "cluster": false, "role": "view",
            "duration": "1h", "reason": "look around", "ticket": "", "break_glass": false }),
        )
        .await;
        let other = namespaced["id"].as_str().expect("id").to_owned();
        assert_eq!(review(&app, &sid, &other, true).await["state"], "Active");
        let refused = call_form(&app, &sam, RevokeAllAccess::PATH, &[("comment", "x")]).await;
        assert_eq!(refused["Err"], "only admins revoke every grant");
        let all = call_form(
            &app,
            &ada,
            RevokeAllAccess::PATH,
            &[("comment", "rotation")],
        )
        .await;
        assert_eq!(all, 2, "{all}");
        assert_eq!(state(&app, &dana, &id).await, "Revoked");
        assert_eq!(state(&app, &dana, &other).await, "Revoked");
        assert!(matches!(
            crbs.get_opt(&format!("berth-jit-{id}")).await,
            Ok(None)
        ));

        // The policy: admins only, checked before it is saved.
        let not_admin = call_form(&app, &sam, SaveAccessPolicy::PATH, &[("text", "[]")]).await;
        assert!(
            not_admin["Err"]
                .as_str()
                .is_some_and(|e| e.contains("only admins")),
            "{not_admin}"
        );
        let bad = call_form(
            &app,
            &ada,
            SaveAccessPolicy::PATH,
            &[("text", "- role: edit\n  max_minutes: 0\n")],
        )
        .await;
        assert!(
            bad["failure"]["fields"]
                .to_string()
                .contains("name the namespaces"),
            "{bad}"
        );
        let strict = "- role: view\n  namespaces: [\"search-*\"]\n  max_minutes: 30\n";
        let saved = call_form(&app, &ada, SaveAccessPolicy::PATH, &[("text", strict)]).await;
        assert_eq!(saved, 1, "{saved}");
        let outside = ask(
            &app,
            &dana,
            json!({ "namespaces": "default", "cluster": false, "role": "view",
            "duration": "10m", "reason": "x", "ticket": "", "break_glass": false }),
        )
        .await;
        assert_eq!(
            outside["Err"],
            "view cannot be requested in default: outside the policy"
        );
        app.stop().await;
    });
}

/// Makes an active grant for Dana in `ns` and brings its end to `secs` from now (a grant of
/// a few seconds, which the policy's minute granularity does not offer).
async fn short_grant(app: &TestApp, store: &Store, ns: &str, secs: f64) -> String {
    let dana = sign_in(app, "demo:dana").await;
    let sam = sign_in(app, "demo:sam").await;
    let answer = ask(app, &dana, draft(ns, "view", "5m")).await;
    let id = answer["id"].as_str().expect("id").to_owned();
    assert_eq!(review(app, &sam, &id, true).await["state"], "Active");
    sqlx::query(
        "UPDATE access_requests SET expires_at = now() + make_interval(secs => $2) WHERE id = $1",
    )
    .bind(&id)
    .bind(secs)
    .execute(store.pool())
    .await
    .expect("shorten");
    id
}

#[test]
fn grants_end_on_time_even_when_berth_was_stopped_and_replicas_never_double_revoke() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_jit").await;
        let mut config = test_config();
        config.access.revoke_poll = Duration::from_millis(200);
        let first = TestApp::spawn(&url, config.clone()).await;
        let cluster = first.cluster.clone().expect("cluster");
        let kubeconfig = common::berth_kubeconfig(&cluster).await;
        let admin = cluster.admin_client().await;
        namespace(&admin, "search-due", "search").await;
        let store = Store::connect(&url, &config.database).await.expect("store");
        let bindings = Api::<RoleBinding>::namespaced(admin.clone(), "search-due");

        // Due while no Berth runs: revoked as soon as one starts again.
        let id = short_grant(&first, &store, "search-due", 2.0).await;
        first.stop().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            bindings
                .get_opt(&format!("berth-jit-{id}"))
                .await
                .expect("get")
                .is_some(),
            "nobody revoked it while Berth was stopped"
        );
        let second = TestApp::spawn_on(&url, config.clone(), &kubeconfig).await;
        let since = Instant::now();
        while bindings
            .get_opt(&format!("berth-jit-{id}"))
            .await
            .expect("get")
            .is_some()
        {
            assert!(
                since.elapsed() < common::PATIENCE,
                "not revoked after restart"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The binding goes first, then the row records it: wait for the row.
        let deadline = Instant::now() + common::PATIENCE;
        let (ended_as, late) = loop {
            let row: (String, Option<f64>) =
                sqlx::query_as("SELECT state, revoke_delay_ms FROM access_requests WHERE id = $1")
                    .bind(&id)
                    .fetch_one(store.pool())
                    .await
                    .expect("row");
            if let (state, Some(late)) = row {
                break (state, late);
            }
            assert!(
                Instant::now() < deadline,
                "the revocation was never recorded"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(ended_as, "expired");
        assert!(
            late >= 1000.0,
            "the delay counts the time Berth was down: {late} ms"
        );

        // Approved, then Berth died before the bindings were made: the revoker makes them.
        let dana = sign_in(&second, "demo:dana").await;
        let answer = ask(&second, &dana, draft("search-due", "view", "5m")).await;
        let stuck = answer["id"].as_str().expect("id").to_owned();
        sqlx::query(
            "UPDATE access_requests SET state = 'granting', granted_at = now() - interval '1 minute', \
               expires_at = now() + interval '4 minutes' WHERE id = $1",
        )
        .bind(&stuck)
        .execute(store.pool())
        .await
        .expect("as a crash leaves it");
        let since = Instant::now();
        while bindings
            .get_opt(&format!("berth-jit-{stuck}"))
            .await
            .expect("get")
            .is_none()
        {
            assert!(
                since.elapsed() < Duration::from_secs(30),
                "the grant was never finished"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The bindings go first, then the row records them: wait for the row.
        let since = Instant::now();
        loop {
            let now = state(&second, &dana, &stuck).await;
            if now == "Active" {
                break;
            }
            assert!(
                since.elapsed() < common::PATIENCE,
                "the finished grant stayed {now}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Two processes against one database and one cluster: each due grant ends once.
        let third = TestApp::spawn_on(&url, config.clone(), &kubeconfig).await;
        let mut ids = Vec::new();
        for _ in 0..4 {
            ids.push(short_grant(&second, &store, "search-due", 1.5).await);
        }
        // The revoker knows when to wake: the nearest end is at most 1.5 s away.
        let next = store.next_due_in().await.expect("next due");
        assert!(
            next.is_some_and(|d| d <= Duration::from_millis(1500)),
            "{next:?}"
        );
        // Two revokers' passes also race directly, lock or no lock.
        let dir = common::scratch_dir("race-");
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, &kubeconfig).expect("kubeconfig");
        let cluster_config = server::config::ClusterConfig {
            kubeconfig: Some(path),
            ..test_config().cluster
        };
        let racing = |store: Store| {
            let cluster_config = cluster_config.clone();
            async move {
                let cluster = server::cluster::Cluster::connect(&cluster_config)
                    .await
                    .expect("cluster");
                let revoker = server::reconcile::access::Revoker::new(
                    store,
                    server::cluster::fleet::Fleet::of(cluster),
                    Duration::from_millis(50),
                );
                let deadline = Instant::now() + Duration::from_secs(4);
                let mut ended = 0;
                while Instant::now() < deadline {
                    ended += revoker.pass().await.expect("pass").ended;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                ended
            }
        };
        let (a, b) = tokio::join!(racing(store.clone()), racing(store.clone()));
        let deadline = Instant::now() + common::PATIENCE;
        loop {
            let open: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM access_requests WHERE id = ANY($1) AND state <> 'expired'",
            )
            .bind(&ids)
            .fetch_one(store.pool())
            .await
            .expect("count");
            if open == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{open} grants never ended");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let per_grant: Vec<(String, i64)> = sqlx::query_as(
            "SELECT target_name, count(*) FROM audit_events \
             WHERE action = 'access.expire' AND target_name = ANY($1) GROUP BY target_name",
        )
        .bind(&ids)
        .fetch_all(store.pool())
        .await
        .expect("audit");
        assert_eq!(per_grant.len(), ids.len(), "{per_grant:?}");
        assert!(per_grant.iter().all(|(_, n)| *n == 1), "{per_grant:?}");
        assert!(a + b <= ids.len(), "the racing passes ended {a} + {b}");
        let delays = store.revoke_delays().await.expect("delays");
        eprintln!("revocation delays (ms, due → bindings gone): {delays:?}");
        for id in &ids {
            assert!(
                bindings
                    .get_opt(&format!("berth-jit-{id}"))
                    .await
                    .expect("get")
                    .is_none()
            );
        }
        store.close().await;
        third.stop().await;
        second.stop().await;
    });
}

#[test]
fn break_glass_extensions_unreviewed_requests_and_the_review_channel() {
    common::run(async {
        let (hook, heard) = common::webhook_sink().await;
        let pg = TestPostgres::start();
        let url = pg.database("berth_jit_more").await;
        let mut config = test_config();
        config.access.webhook_url = Some(hook);
        // A cluster of its own: on the shared one a request here twice took over the server's
        // 30 s request timeout (408) in whole-suite runs, never alone; not understood yet.
        let app = TestApp::spawn_private(&url, config).await;
        let admin = admin_client(&app).await;
        namespace(&admin, "search-glass", "search").await;
        let dana = sign_in(&app, "demo:dana").await;
        let sam = sign_in(&app, "demo:sam").await;
        let store = Store::connect(&url, &test_config().database)
            .await
            .expect("store");

        // A new request is announced to the review channel, Slack-style.
        let answer = ask(&app, &dana, draft("search-glass", "view", "30m")).await;
        let id = answer["id"].as_str().expect("id").to_owned();
        let deadline = Instant::now() + common::PATIENCE;
        let announced = loop {
            let got = heard.lock().map(|g| g.clone()).unwrap_or_default();
            if let Some(hit) = got.into_iter().find(|b| b["request"] == id.as_str()) {
                break hit;
            }
            assert!(Instant::now() < deadline, "never announced");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let text = announced["text"].as_str().unwrap_or_default();
        assert!(
            text.contains("Dana Developer asks for view on search-glass for 30 min"),
            "{text}"
        );

        // Nobody reviews it in time: it expires, audited, and can no longer be approved.
        sqlx::query("UPDATE access_requests SET review_by = now() WHERE id = $1")
            .bind(&id)
            .execute(store.pool())
            .await
            .expect("age it");
        let deadline = Instant::now() + common::PATIENCE;
        while state(&app, &dana, &id).await != "Expired" {
            assert!(Instant::now() < deadline, "never lapsed");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let late = review(&app, &sam, &id, true).await;
        assert!(
            late["Err"]
                .as_str()
                .is_some_and(|e| e.contains("this request is expired")),
            "{late}"
        );
        assert!(
            trail(&app, &dana, &id)
                .await
                .contains(&("access.lapse".to_owned(), "success".to_owned()))
        );

        // Break glass is for SREs and admins (the default policy): a developer who tries it in
        // another team's namespace, or anywhere, is refused and nothing is granted.
        let mut glass = draft("search-glass", "admin", "20m");
        glass["break_glass"] = json!(true);
        let refused = ask(&app, &dana, glass.clone()).await;
        assert_eq!(
            refused["Err"],
            "break-glass for admin is for sre, admin only; ask for a review instead",
            "{refused}"
        );
        // No namespace of the control plane's is ever granted, break-glass or not.
        let mut system = glass.clone();
        system["namespaces"] = json!("kube-system");
        let refused = ask(&app, &sam, system).await;
        assert!(
            refused["Err"]
                .as_str()
                .is_some_and(|e| e.contains("kube-system is protected")),
            "{refused}"
        );
        let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), "search-glass");
        assert!(
            bindings
                .list(&ListParams::default().labels("berth.dev/access-request"))
                .await
                .expect("list")
                .items
                .is_empty(),
            "a refused break-glass left a binding"
        );

        // An SRE's break glass: active at once, flagged, and open for review until another
        // SRE — not the requester — signs it off.
        let answer = ask(&app, &sam, glass).await;
        assert_eq!(answer["state"], "Active", "{answer}");
        assert_eq!(answer["break_glass"], true);
        let glass_id = answer["id"].as_str().expect("id").to_owned();
        let sid = sign_in(&app, "demo:sid").await;
        let sign = |who: String, id: String| {
            let app = &app;
            async move {
                call_form(
                    app,
                    &who,
                    app::api::SignOffAccess::PATH,
                    &[("id", &id), ("comment", "looked at the audit trail")],
                )
                .await
            }
        };
        let own = sign(sam.clone(), glass_id.clone()).await;
        assert_eq!(
            own["Err"], "nobody signs off their own break-glass access",
            "{own}"
        );
        let sids_view = call_form(&app, &sid, AccessOverview::PATH, &[]).await;
        assert!(
            sids_view["active"].as_array().is_some_and(|a| a
                .iter()
                .any(|r| r["id"] == glass_id.as_str() && r["can_sign_off"] == true)),
            "{sids_view}"
        );
        let signed = sign(sid.clone(), glass_id.clone()).await;
        assert_eq!(signed["signed_off_by"], "Sid SRE", "{signed}");
        let steps = trail(&app, &sam, &glass_id).await;
        for want in [
            "access.request",
            "access.break_glass",
            "access.grant",
            "access.sign_off",
        ] {
            assert!(
                steps.iter().any(|(a, o)| a == want && o == "success"),
                "{want}: {steps:?}"
            );
        }
        // Break glass where the policy does not allow it is refused.
        let mut no_glass = draft("search-glass", "edit", "20m");
        no_glass["break_glass"] = json!(true);
        assert_eq!(
            ask(&app, &dana, no_glass).await["Err"],
            "break-glass is not allowed for edit"
        );

        // An extension is a new request for the same grant, reviewed again.
        let first = ask(&app, &dana, draft("search-glass", "admin", "20m")).await;
        let first_id = first["id"].as_str().expect("id").to_owned();
        assert_eq!(review(&app, &sam, &first_id, true).await["state"], "Active");
        let extension = call_json(
            &app,
            &dana,
            RequestAccess::PATH,
            json!({ "draft": draft("search-glass", "admin", "30m"), "extends": first_id }),
        )
        .await;
        assert_eq!(extension["state"], "Pending", "{extension}");
        assert_eq!(extension["extends"], first_id.as_str());
        let ext_id = extension["id"].as_str().expect("id").to_owned();
        assert_eq!(review(&app, &sam, &ext_id, true).await["state"], "Active");
        // Only one's own active grant can be extended.
        let foreign = call_json(
            &app,
            &sam,
            RequestAccess::PATH,
            json!({ "draft": draft("search-glass", "view", "30m"), "extends": ext_id }),
        )
        .await;
        assert!(
            foreign["Err"]
                .as_str()
                .is_some_and(|e| e.contains("only an active grant of your own")),
            "{foreign}"
        );
        store.close().await;
        app.stop().await;
    });
}

async fn withdraw(app: &TestApp, cookie: &str, id: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/access/{id}/withdraw")))
        .header(ORIGIN, &app.base)
        .header(COOKIE, cookie)
        .json(&json!({ "comment": "" }))
        .send()
        .await
        .expect("withdraw")
}

#[test]
fn a_requester_withdraws_a_pending_request_and_nobody_else_can() {
    common::run(async {
        let (_pg, app) = app().await;
        let dana = sign_in(&app, "demo:dana").await;
        let sam = sign_in(&app, "demo:sam").await;
        let answer = ask(&app, &dana, draft("default", "view", "1h")).await;
        let id = answer["id"].as_str().expect("id").to_owned();
        assert_eq!(answer["can_withdraw"], true, "{answer}");

        // A reviewer denies; they do not withdraw someone else's request.
        let by_sam = withdraw(&app, &sam, &id).await;
        assert_eq!(by_sam.status(), 403);
        let problem: Value = by_sam.json().await.expect("problem");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("a reviewer denies it instead")),
            "{problem}"
        );
        assert_eq!(state(&app, &dana, &id).await, "Pending");

        let by_dana = withdraw(&app, &dana, &id).await;
        assert_eq!(by_dana.status(), 200);
        let view: Value = by_dana.json().await.expect("view");
        assert_eq!(view["state"], "Withdrawn", "{view}");
        assert_eq!(view["can_withdraw"], false);

        // Once withdrawn it stays so: not twice, not approved afterwards, out of the queue.
        let twice = withdraw(&app, &dana, &id).await;
        assert_eq!(twice.status(), 409);
        let late = review(&app, &sam, &id, true).await;
        assert!(late["Err"].is_string(), "{late}");
        assert_eq!(state(&app, &dana, &id).await, "Withdrawn");
        let queue = call_form(&app, &sam, AccessOverview::PATH, &[]).await;
        assert!(
            !queue["queue"]
                .as_array()
                .is_some_and(|q| q.iter().any(|r| r["id"] == id.as_str())),
            "{queue}"
        );
        let events = trail(&app, &dana, &id).await;
        assert!(
            events.contains(&("access.withdraw".to_owned(), "success".to_owned())),
            "{events:?}"
        );
        assert!(
            events.contains(&("access.withdraw".to_owned(), "denied".to_owned())),
            "{events:?}"
        );
    });
}
