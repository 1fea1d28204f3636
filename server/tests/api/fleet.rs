//! Many clusters in one Berth, against two real control planes: both are listed with their
//! health, `/readyz` names each, one stopping leaves Berth serving and marks it, and admins
//! add and remove clusters on the registry with no restart.

use std::sync::Arc;

use leptos::server_fn::ServerFn;
use reqwest::header::{COOKIE, ORIGIN};
use serde_json::{Value, json};

use crate::common::flows::{
    call_form, call_json, draft, namespace_kubeconfig, sign_in, submit, wait_for_state,
};
use crate::common::{self, TestApp, TestCluster, TestPostgres, test_config};
use crate::cost::close;

/// An app with `config` on the shared cluster (home, `default`) with a private second one,
/// `second`, whose kubeconfigs name `public` when given.
async fn two_clusters_with(
    url: &str,
    public: Option<&str>,
    mut config: server::config::Config,
) -> (TestApp, TestCluster, tempfile::TempDir) {
    let second = TestCluster::private().await;
    let dir = common::scratch_dir("fleet-");
    let path = dir.path().join("second.kubeconfig");
    std::fs::write(&path, second.berth_kubeconfig().await).expect("kubeconfig");
    config.clusters.push(server::cluster::ClusterConfig {
        name: "second".to_owned(),
        display_name: "Second cluster".to_owned(),
        region: "us-east-1".to_owned(),
        environment: "dev".to_owned(),
        kubeconfig: Some(path),
        public_server: public.map(str::to_owned),
        ..Default::default()
    });
    let app = TestApp::spawn_with(url, config, TestCluster::shared().await).await;
    (app, second, dir)
}

async fn two_clusters_public(
    url: &str,
    public: Option<&str>,
) -> (TestApp, TestCluster, tempfile::TempDir) {
    two_clusters_with(url, public, test_config()).await
}

pub(crate) async fn two_clusters(url: &str) -> (TestApp, TestCluster, tempfile::TempDir) {
    two_clusters_public(url, Some("https://second.example.com:6443")).await
}

async fn clusters(app: &TestApp, cookie: &str) -> Vec<Value> {
    let res = app
        .client
        .get(app.url("/api/v1/clusters"))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("clusters");
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

/// `method path` as the signed-in `cookie`, with a JSON body: the status and the answer (JSON,
/// or its text).
async fn request(
    app: &TestApp,
    cookie: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header(ORIGIN, &app.base)
        .header(COOKIE, cookie);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
    )
}

/// `GET path` as the signed-in `cookie`: the status and the answer.
async fn get(app: &TestApp, cookie: &str, path: &str) -> (u16, Value) {
    request(app, cookie, reqwest::Method::GET, path, None).await
}

fn named<'a>(all: &'a [Value], name: &str) -> &'a Value {
    all.iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no cluster {name} in {all:?}"))
}

#[test]
fn both_clusters_are_served_and_one_stopping_leaves_the_other_working() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let (app, mut second, _dir) = two_clusters(&url).await;
        app.wait_ready().await;
        let res = app.get("/readyz").await;
        let body: Value = res.json().await.expect("json");
        let names: Vec<&str> = body["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "postgres",
                "cluster default",
                "caches default",
                "cluster second",
                "caches second"
            ]
        );

        let sam = sign_in(&app, "demo:sam").await;
        let all = clusters(&app, &sam).await;
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[0]["name"], "default");
        assert_eq!(all[0]["home"], true);
        let other = named(&all, "second");
        assert_eq!(other["display_name"], "Second cluster");
        assert_eq!(other["public_server"], "https://second.example.com:6443");
        assert_eq!(other["health"]["answering"], true);
        assert_eq!(other["status"], "answering");
        // Each has its own watch caches: the private cluster's nodes are not the shared one's.
        assert!(other["namespaces"].as_u64().unwrap_or(0) >= 4, "{other}");

        // Capacity per cluster: the second's nodes by its name, each cluster's totals and
        // their sum; a core requested there moves its line alone.
        let line = |c: &Value, name: &str| {
            c["fleet"]
                .as_array()
                .and_then(|l| l.iter().find(|l| l["cluster"] == name))
                .cloned()
                .unwrap_or_else(|| panic!("no line for {name}: {c}"))
        };
        let cpu = |v: &Value, field: &str| v[field].as_f64().unwrap_or(-1.0);
        let (status, before) = get(&app, &sam, "/api/v1/capacity?cluster=second").await;
        assert_eq!(status, 200, "{before}");
        assert_eq!(before["cluster"], "second");
        let names: Vec<&Value> = before["fleet"]
            .as_array()
            .expect("fleet")
            .iter()
            .map(|l| &l["cluster"])
            .collect();
        assert_eq!(names, [&json!("default"), &json!("second")], "{before}");
        let own = line(&before, "second");
        assert_eq!(
            own["nodes"].as_u64(),
            before["nodes"].as_array().map(|n| n.len() as u64)
        );
        assert!(close(
            cpu(&own, "allocatable_cpu"),
            cpu(&before, "allocatable_cpu")
        ));
        let total = &before["fleet_total"];
        for field in [
            "allocatable_cpu",
            "requested_cpu",
            "stranded_cpu",
            "spare_memory",
        ] {
            let sum = cpu(&line(&before, "default"), field) + cpu(&own, field);
            assert!(close(cpu(total, field), sum), "{field}: {before}");
        }
        reserve_a_core(&second.admin_client().await, "capacityone", "payments").await;
        crate::common::flows::wait_scheduled(&second.admin_client().await, Some("capacityone"), 1)
            .await;
        let deadline = std::time::Instant::now() + common::PATIENCE;
        loop {
            let (status, after) = get(&app, &sam, "/api/v1/capacity?cluster=second").await;
            assert_eq!(status, 200, "{after}");
            if close(
                cpu(&after, "requested_cpu"),
                cpu(&own, "requested_cpu") + 1.0,
            ) {
                assert!(close(
                    cpu(&line(&after, "second"), "requested_cpu"),
                    cpu(&after, "requested_cpu")
                ));
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the second cluster's core never showed: {after}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        let (status, home) = get(&app, &sam, "/api/v1/capacity").await;
        assert_eq!(
            (status, &home["cluster"]),
            (200, &json!("default")),
            "{home}"
        );
        let (status, body) = get(&app, &sam, "/api/v1/capacity?cluster=nowhere").await;
        assert_eq!(status, 404, "{body}");
        let dana = sign_in(&app, "demo:dana").await;
        let (status, body) = get(&app, &dana, "/api/v1/capacity?cluster=second").await;
        assert_eq!(status, 403, "a developer sees no nodes: {body}");

        // The second control plane goes away: Berth stays ready, says which one is down and
        // since when, and pages about the home cluster still answer.
        second.stop();
        let res = app.get("/readyz").await;
        assert_eq!(res.status(), 200, "one cluster down is not Berth down");
        let body: Value = res.json().await.expect("json");
        let check = body["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == "cluster second")
            .cloned()
            .expect("the second cluster's check");
        assert_eq!(check["ok"], false, "{check}");
        let all = clusters(&app, &sam).await;
        let other = named(&all, "second");
        assert_eq!(other["health"]["answering"], false, "{other}");
        assert!(other["health"]["stale_since"].is_i64(), "{other}");
        let status = other["status"].as_str().unwrap_or_default();
        assert!(status.starts_with("not answering since 20"), "{status}");
        assert_eq!(named(&all, "default")["health"]["answering"], true);
        let metrics = app.get("/metrics").await.text().await.expect("metrics");
        for line in [
            "berth_cluster_up{cluster=\"second\"} 0",
            "berth_cluster_up{cluster=\"default\"} 1",
        ] {
            assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
        }
        assert!(
            metrics.contains("berth_watch_cache_objects{cluster=\"second\",kind=\"pods\"}"),
            "{metrics}"
        );
        let started = std::time::Instant::now();
        let capacity = app
            .client
            .get(app.url("/api/v1/capacity"))
            .header(COOKIE, &sam)
            .send()
            .await
            .expect("capacity");
        assert_eq!(capacity.status(), 200);
        let capacity: Value = capacity.json().await.expect("json");
        assert!(
            !capacity["nodes"].as_array().expect("nodes").is_empty(),
            "the home cluster's nodes are still read: {capacity}"
        );
        // The stopped one keeps its last figures, marked as of when it stopped answering.
        assert!(
            line(&capacity, "second")["stale_since"].is_i64(),
            "{capacity}"
        );
        assert_eq!(line(&capacity, "default")["stale_since"], json!(null));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the page waited on the stopped cluster"
        );
        // Rollouts span the fleet: the stopped cluster's last lists, the home cluster's live.
        let started = std::time::Instant::now();
        let rollouts = app
            .client
            .get(app.url("/api/v1/rollouts"))
            .header(COOKIE, &sam)
            .send()
            .await
            .expect("rollouts");
        assert_eq!(rollouts.status(), 200);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the rollouts waited on the stopped cluster"
        );
        let page = app
            .client
            .get(app.url("/clusters"))
            .header(COOKIE, &sam)
            .send()
            .await
            .expect("clusters page");
        let text = page.text().await.expect("page");
        assert!(
            text.contains("data-cluster=\"second\" data-state=\"down\""),
            "{text}"
        );
        app.stop().await;
    });
}

#[test]
fn a_tier_offered_on_one_cluster_is_refused_on_the_other() {
    common::run(async {
        use app::api::{CheckDraft, SaveTier};
        use domain::tiers::TierDraft;
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let (app, _second, _dir) = two_clusters(&url).await;
        app.wait_ready().await;
        let ada = sign_in(&app, "demo:ada").await;
        let mut gpu = TierDraft::of(&domain::tenancy::seed_tiers()[0]);
        gpu.name = "second-only".to_owned();
        // A cluster not in the fleet is named, and nothing is saved.
        gpu.clusters = vec!["second".to_owned(), "nowhere".to_owned()];
        let answer =
            crate::common::flows::call_json(&app, &ada, SaveTier::PATH, json!({ "draft": gpu }))
                .await;
        assert_eq!(answer["Invalid"][0]["field"], "clusters", "{answer}");
        assert!(
            answer.to_string().contains("not in the fleet: nowhere"),
            "{answer}"
        );
        gpu.clusters = vec!["second".to_owned()];
        let answer =
            crate::common::flows::call_json(&app, &ada, SaveTier::PATH, json!({ "draft": gpu }))
                .await;
        assert_eq!(answer["Saved"]["created"], true, "{answer}");

        // Dana may have it on the second cluster, not on the home one.
        let dana = sign_in(&app, "demo:dana").await;
        let mut d = draft("payments-tiered", "payments", "second-only");
        let check =
            crate::common::flows::call_json(&app, &dana, CheckDraft::PATH, json!({ "draft": d }))
                .await;
        assert_eq!(check["errors"][0]["field"], "tier", "{check}");
        assert!(
            check["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("not offered on default"),
            "{check}"
        );
        d.cluster = "second".to_owned();
        let check =
            crate::common::flows::call_json(&app, &dana, CheckDraft::PATH, json!({ "draft": d }))
                .await;
        assert_eq!(check["errors"], json!([]), "{check}");
        app.stop().await;
    });
}

#[test]
fn a_cluster_reached_through_a_token_secret_is_served_and_follows_its_rotation() {
    common::run(async {
        use base64::Engine;
        use k8s_openapi::api::core::v1::{Namespace, Secret};
        use kube::api::{Api, Patch, PatchParams, PostParams};
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let app = TestApp::spawn(&url, test_config()).await;
        app.wait_ready().await;
        let second = TestCluster::private().await;
        // What a platform team would store: the second cluster's ServiceAccount token and CA,
        // in a Secret on the home cluster.
        let kubeconfig: Value =
            serde_yaml::from_str(&second.berth_kubeconfig().await).expect("kubeconfig yaml");
        let server = kubeconfig["clusters"][0]["cluster"]["server"]
            .as_str()
            .expect("server")
            .to_owned();
        let ca = base64::engine::general_purpose::STANDARD
            .decode(
                kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]
                    .as_str()
                    .expect("ca"),
            )
            .expect("ca base64");
        let token = kubeconfig["users"][0]["user"]["token"]
            .as_str()
            .expect("token")
            .to_owned();
        let home = crate::common::flows::admin_client(&app).await;
        let ns: Namespace =
            serde_json::from_value(json!({ "metadata": { "name": "fleet-credentials" } }))
                .expect("namespace");
        Api::<Namespace>::all(home.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        let secrets = Api::<Secret>::namespaced(home.clone(), "fleet-credentials");
        let secret = |name: &str, token: &str, ca: Option<&[u8]>| -> Secret {
            let mut data = serde_json::Map::new();
            data.insert(
                "token".to_owned(),
                json!(base64::engine::general_purpose::STANDARD.encode(token)),
            );
            if let Some(ca) = ca {
                data.insert(
                    "ca.crt".to_owned(),
                    json!(base64::engine::general_purpose::STANDARD.encode(ca)),
                );
            }
            serde_json::from_value(json!({ "metadata": { "name": name }, "data": data }))
                .expect("secret")
        };
        for made in [
            secret("second-token", &token, Some(&ca)),
            secret("no-ca", &token, None),
        ] {
            secrets
                .create(&PostParams::default(), &made)
                .await
                .expect("create secret");
        }
        let ada = sign_in(&app, "demo:ada").await;
        let add = |body: Value| {
            let (app, ada) = (&app, &ada);
            async move {
                request(
                    app,
                    ada,
                    reqwest::Method::POST,
                    "/api/v1/clusters",
                    Some(body),
                )
                .await
            }
        };

        // A Secret that is not there, or lacks the CA, is named; nothing is registered.
        for (name, says) in [
            ("fleet-credentials/nowhere", "no Secret nowhere"),
            ("fleet-credentials/no-ca", "it has no ca.crt"),
        ] {
            let (status, body) = add(json!({
                "name": "tokened", "api_server": server, "token_secret": name,
            }))
            .await;
            assert_eq!(status, 422, "{body}");
            assert!(body.to_string().contains("\"token_secret\""), "{body}");
            assert!(body.to_string().contains(says), "{says} in {body}");
        }
        let (status, body) = add(json!({
            "name": "tokened", "token_secret": "fleet-credentials/second-token",
        }))
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains("\"api_server\""), "{body}");
        assert_eq!(clusters(&app, &ada).await.len(), 1);

        // With both, the second cluster is served: its nodes, as it lists them.
        let (status, body) = add(json!({
            "name": "tokened", "display_name": "Through a token",
            "api_server": server, "token_secret": "fleet-credentials/second-token",
        }))
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["health"]["answering"], true, "{body}");
        let sam = sign_in(&app, "demo:sam").await;
        let deadline = std::time::Instant::now() + common::PATIENCE;
        loop {
            let (status, capacity) = get(&app, &sam, "/api/v1/capacity?cluster=tokened").await;
            if status == 200 {
                assert_eq!(capacity["cluster"], "tokened");
                assert!(
                    !capacity["nodes"].as_array().expect("nodes").is_empty(),
                    "{capacity}"
                );
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the tokened cluster's caches never filled: {capacity}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        let store = server::store::Store::connect(&url, &test_config().database)
            .await
            .expect("store");
        let after: Value = sqlx::query_scalar(
            "SELECT after FROM audit_events WHERE action = 'cluster.add' AND outcome = 'success'",
        )
        .fetch_one(store.pool())
        .await
        .expect("audit");
        assert_eq!(after["token_secret"], "fleet-credentials/second-token");
        assert!(
            !after.to_string().contains(&token),
            "the token stays in its Secret"
        );

        // Rotated to a token the second cluster does not take: Berth follows the Secret and
        // the cluster is marked; rotated back, it answers again.
        let rotate = |token: String| {
            let secrets = secrets.clone();
            async move {
                secrets
                    .patch(
                        "second-token",
                        &PatchParams::default(),
                        &Patch::Merge(json!({ "stringData": { "token": token } })),
                    )
                    .await
                    .expect("rotate");
            }
        };
        let answering = |wanted: bool| {
            let (app, ada) = (&app, &ada);
            async move {
                let deadline = std::time::Instant::now() + common::PATIENCE;
                loop {
                    let all = clusters(app, ada).await;
                    if named(&all, "tokened")["health"]["answering"] == wanted {
                        return;
                    }
                    assert!(
                        std::time::Instant::now() < deadline,
                        "never answering={wanted}: {all:?}"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        };
        rotate("not-a-token".to_owned()).await;
        answering(false).await;
        rotate(token.clone()).await;
        answering(true).await;
        store.close().await;
        app.stop().await;
    });
}

#[test]
fn admins_add_and_remove_clusters_without_a_restart_and_others_may_not() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let app = TestApp::spawn(&url, test_config()).await;
        app.wait_ready().await;
        let shared: Arc<TestCluster> = TestCluster::shared().await;
        let dir = common::scratch_dir("registry-");
        let path = dir.path().join("lab.kubeconfig");
        std::fs::write(&path, shared.berth_kubeconfig().await).expect("kubeconfig");
        let path = path.to_string_lossy().into_owned();
        let admin = sign_in(&app, "demo:ada").await;
        let developer = sign_in(&app, "demo:dana").await;
        let lab = json!({
            "name": "lab", "display_name": "<b>Lab</b>", "region": "eu-central-1",
            "environment": "test", "kubeconfig": path,
        });

        // A developer may not; the refusal is audited and nothing is registered.
        let (status, _) = request(
            &app,
            &developer,
            reqwest::Method::POST,
            "/api/v1/clusters",
            Some(lab.clone()),
        )
        .await;
        assert_eq!(status, 403);
        // Bad input: every field's problem at once, nothing registered.
        let (status, body) = request(
            &app,
            &admin,
            reqwest::Method::POST,
            "/api/v1/clusters",
            Some(json!({"name": "Lab_1", "kubeconfig": "relative", "public_server": "http://x"})),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        let text = body.to_string();
        for field in ["name", "kubeconfig", "public_server"] {
            assert!(text.contains(&format!("\"{field}\"")), "{field} in {text}");
        }
        // A file that is no kubeconfig is named as such.
        let (status, body) = request(
            &app,
            &admin,
            reqwest::Method::POST,
            "/api/v1/clusters",
            Some(json!({"name": "lab", "kubeconfig": "/nonexistent/lab.kubeconfig"})),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body.to_string().contains("cannot read the kubeconfig"),
            "{body}"
        );
        // The home cluster's name is taken.
        let (status, _) = request(
            &app,
            &admin,
            reqwest::Method::POST,
            "/api/v1/clusters",
            Some(json!({"name": "default", "kubeconfig": path})),
        )
        .await;
        assert_eq!(status, 422);
        assert_eq!(clusters(&app, &admin).await.len(), 1);

        let (status, body) = request(
            &app,
            &admin,
            reqwest::Method::POST,
            "/api/v1/clusters",
            Some(lab.clone()),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["source"], "registry");
        assert_eq!(body["health"]["answering"], true);
        let all = clusters(&app, &admin).await;
        assert_eq!(named(&all, "lab")["region"], "eu-central-1");
        // Markup is text: the page escapes it.
        let page = app
            .client
            .get(app.url("/clusters"))
            .header(COOKIE, &admin)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("text");
        assert!(page.contains("&lt;b&gt;Lab&lt;/b&gt;"), "{page}");
        assert!(!page.contains("<b>Lab</b>"));

        // A second replica over the same database follows the registry on start.
        let replica = TestApp::spawn(&url, test_config()).await;
        replica.wait_ready().await;
        let seen = clusters(&replica, &admin).await;
        assert_eq!(named(&seen, "lab")["source"], "registry");

        // Removing: not a configured cluster, not by a developer, then by the admin.
        let (status, body) = request(
            &app,
            &admin,
            reqwest::Method::DELETE,
            "/api/v1/clusters/default",
            None,
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert!(body.to_string().contains("configuration file"), "{body}");
        // Not while something of Berth's is open there: a grant nobody could revoke.
        let (status, asked) = request(
            &app,
            &developer,
            reqwest::Method::POST,
            "/api/v1/access",
            Some(
                json!({"namespaces": "default", "role": "view", "duration": "30m",
                "reason": "look around", "ticket": "OPS-1", "target_cluster": "lab"}),
            ),
        )
        .await;
        assert_eq!(status, 201, "{asked}");
        let (status, body) = request(
            &app,
            &admin,
            reqwest::Method::DELETE,
            "/api/v1/clusters/lab",
            None,
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body.to_string().contains("1 access grant(s) open"),
            "{body}"
        );
        let id = asked["id"].as_str().expect("id");
        let (status, body) = request(
            &app,
            &developer,
            reqwest::Method::POST,
            &format!("/api/v1/access/{id}/withdraw"),
            Some(json!({"comment": "not needed"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        for (who, status) in [(&developer, 403), (&admin, 204), (&admin, 404)] {
            let (got, body) = request(
                &app,
                who,
                reqwest::Method::DELETE,
                "/api/v1/clusters/lab",
                None,
            )
            .await;
            assert_eq!(got, status, "{body}");
        }
        assert_eq!(clusters(&app, &admin).await.len(), 1);

        let store = server::store::Store::connect(&url, &test_config().database)
            .await
            .expect("store");
        let trail: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT action, outcome, target_name FROM audit_events \
             WHERE action LIKE 'cluster.%' ORDER BY seq",
        )
        .fetch_all(store.pool())
        .await
        .expect("audit");
        let trail: Vec<(&str, &str, &str)> = trail
            .iter()
            .map(|(a, o, t)| (a.as_str(), o.as_str(), t.as_str()))
            .collect();
        assert_eq!(
            trail,
            [
                ("cluster.add", "denied", "lab"),
                ("cluster.add", "success", "lab"),
                ("cluster.remove", "denied", "lab"),
                ("cluster.remove", "success", "lab"),
            ],
            "a refused removal that changes nothing is not an audited change"
        );
        replica.stop().await;
        app.stop().await;
    });
}

#[test]
fn a_developer_onboards_on_the_second_cluster_and_uses_kubectl_there() {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::Api;
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let (app, second, dir) = two_clusters_public(&url, None).await;
        app.wait_ready().await;
        let dana = sign_in(&app, "demo:dana").await;
        let options = call_form(&app, &dana, app::api::OnboardingOptions::PATH, &[]).await;
        let offered: Vec<&str> = options["clusters"]
            .as_array()
            .expect("clusters")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(offered, ["default", "second"]);
        assert_eq!(
            options["clusters"][1]["label"],
            "Second cluster (second, dev)"
        );

        let mut elsewhere = draft("payments-fleet-x", "payments", "small");
        elsewhere.cluster = "mars-1".to_owned();
        let refused = submit(&app, &dana, &elsewhere).await;
        let text = refused.to_string();
        assert!(text.contains("unknown cluster \\\"mars-1\\\""), "{text}");

        let mut there = draft("payments-fleet", "payments", "small");
        there.cluster = "second".to_owned();
        submit(&app, &dana, &there).await;
        wait_for_state(&app, &dana, "payments-fleet", "Ready").await;
        let listed = common::flows::requests(&app, &dana).await;
        let row = listed
            .iter()
            .find(|r| r["name"] == "payments-fleet")
            .expect("the request");
        assert_eq!(row["cluster"], "second");
        // Made on the second cluster only.
        let on_second = Api::<Namespace>::all(second.admin_client().await);
        assert!(
            on_second
                .get_opt("payments-fleet")
                .await
                .expect("read")
                .is_some()
        );
        let shared = TestCluster::shared().await;
        let on_home = Api::<Namespace>::all(shared.admin_client().await);
        assert!(
            on_home
                .get_opt("payments-fleet")
                .await
                .expect("read")
                .is_none()
        );
        // The name is the second cluster's now (`a_name_is_unique_per_cluster…` makes it on
        // both).
        let taken = submit(&app, &dana, &there).await.to_string();
        assert!(
            taken.contains("payments-fleet is taken on second"),
            "{taken}"
        );

        // The kubeconfig names the second cluster: its server, a context of its name, a
        // certificate its own CA signed; kubectl 1.37 works with it there.
        let text = namespace_kubeconfig(&app, &dana, "payments-fleet").await;
        assert!(
            text.contains(&format!("server: {}", second.plane().url())),
            "{text}"
        );
        assert!(
            text.contains("current-context: payments-fleet@second"),
            "{text}"
        );
        let path = dir.path().join("dana.kubeconfig");
        std::fs::write(&path, &text).expect("write");
        let kubectl = |args: &[&str]| {
            let out = common::helm::kubectl()
                .args(args)
                .arg("--kubeconfig")
                .arg(&path)
                .output()
                .expect("kubectl");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).trim().to_owned(),
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            )
        };
        let (ok, out, err) = kubectl(&["create", "configmap", "settings", "--from-literal=a=b"]);
        assert!(ok, "{out} {err}");
        let (ok, out, _) = kubectl(&["get", "configmap", "settings", "-o", "name"]);
        assert!(ok);
        assert_eq!(out, "configmap/settings");
        let (ok, out, _) = kubectl(&["auth", "can-i", "create", "deployments"]);
        assert_eq!((ok, out.as_str()), (true, "yes"));
        let (_, out, _) = kubectl(&["auth", "can-i", "get", "pods", "-n", "kube-system"]);
        assert_eq!(out, "no");

        // A namespace on the home cluster too: both kubeconfigs merged, one context per
        // cluster, each with its own certificate, both work.
        let home_draft = draft("payments-fleet-home", "payments", "small");
        submit(&app, &dana, &home_draft).await;
        wait_for_state(&app, &dana, "payments-fleet-home", "Ready").await;
        let home_path = dir.path().join("dana-home.kubeconfig");
        let home_text = namespace_kubeconfig(&app, &dana, "payments-fleet-home").await;
        std::fs::write(&home_path, home_text).expect("write");
        let merged = format!("{}:{}", home_path.display(), path.display());
        for (context, namespace) in [
            ("payments-fleet-home@default", "payments-fleet-home"),
            ("payments-fleet@second", "payments-fleet"),
        ] {
            let out = common::helm::kubectl()
                .env("KUBECONFIG", &merged)
                .args([
                    "--context",
                    context,
                    "auth",
                    "can-i",
                    "create",
                    "configmaps",
                ])
                .args(["-n", namespace])
                .output()
                .expect("kubectl");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "yes",
                "{context}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }

        let store = server::store::Store::connect(&url, &test_config().database)
            .await
            .expect("store");
        let clusters: Vec<Value> = sqlx::query_scalar(
            "SELECT after->'cluster' FROM audit_events \
             WHERE action IN ('namespace.provision', 'kubeconfig.issue') ORDER BY seq",
        )
        .fetch_all(store.pool())
        .await
        .expect("audit");
        assert_eq!(
            clusters,
            [
                json!("second"),
                json!("second"),
                json!("default"),
                json!("default")
            ]
        );
        // One file for both: a context per namespace and cluster, the clusters once each.
        let res = app
            .client
            .post(app.url("/api/v1/kubeconfig"))
            .header(ORIGIN, &app.base)
            .header(COOKIE, &dana)
            .send()
            .await
            .expect("the combined kubeconfig");
        assert_eq!(res.status(), 200);
        let all_path = dir.path().join("dana-all.kubeconfig");
        std::fs::write(&all_path, res.text().await.expect("text")).expect("write");
        let contexts = common::helm::kubectl()
            .args(["config", "get-contexts", "-o", "name", "--kubeconfig"])
            .arg(&all_path)
            .output()
            .expect("kubectl");
        // (Other tests' namespaces of the same team on the shared cluster may be there too.)
        let names: Vec<String> = String::from_utf8_lossy(&contexts.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        for context in ["payments-fleet-home@default", "payments-fleet@second"] {
            assert!(names.iter().any(|n| n == context), "{context} in {names:?}");
            let out = common::helm::kubectl()
                .args([
                    "--context",
                    context,
                    "auth",
                    "can-i",
                    "create",
                    "configmaps",
                ])
                .arg("--kubeconfig")
                .arg(&all_path)
                .output()
                .expect("kubectl");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "yes",
                "{context}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Events carry their cluster, and the trail filters by it.
        let sam = sign_in(&app, "demo:sam").await;
        let res = app
            .client
            .get(app.url("/api/v1/audit?cluster=second&format=csv"))
            .header(COOKIE, &sam)
            .send()
            .await
            .expect("audit");
        assert_eq!(res.status(), 200);
        let csv = res.text().await.expect("csv");
        for action in [
            "namespace.request",
            "namespace.provision",
            "kubeconfig.issue",
        ] {
            assert!(csv.contains(&format!(",{action},")), "{action} in {csv}");
        }
        assert!(!csv.contains("payments-fleet-home"), "{csv}");
        assert!(csv.lines().skip(1).all(|l| l.ends_with(",second")), "{csv}");
        // Events with and without a cluster chain and verify together.
        let verdict = store.verify_audit(&[]).await.expect("verify");
        assert!(
            matches!(verdict, domain::audit::Verdict::Intact { .. }),
            "{verdict:?}"
        );
        app.stop().await;
    });
}

/// Polls until the request for `name` on `cluster` is ready: its id.
async fn ready_on(app: &TestApp, cookie: &str, name: &str, cluster: &str) -> String {
    let deadline = std::time::Instant::now() + common::PATIENCE;
    loop {
        let listed = common::flows::requests(app, cookie).await;
        let row = listed
            .iter()
            .find(|r| r["name"] == name && r["cluster"] == cluster);
        if let Some(row) = row.filter(|r| r["state"] == "Ready") {
            return row["id"].as_str().expect("id").to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} on {cluster} never became ready: {row:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[test]
fn a_name_is_unique_per_cluster_so_one_name_can_be_a_namespace_on_each() {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::Api;
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let (app, second, _dir) = two_clusters(&url).await;
        app.wait_ready().await;
        let dana = sign_in(&app, "demo:dana").await;
        let mut there = draft("shop-twice", "payments", "small");
        there.cluster = "second".to_owned();
        submit(&app, &dana, &there).await;
        let on_second = ready_on(&app, &dana, "shop-twice", "second").await;
        // The same name on the home cluster is another namespace, not a clash.
        let here = draft("shop-twice", "payments", "small");
        let check = call_json(
            &app,
            &dana,
            app::api::CheckDraft::PATH,
            json!({ "draft": here }),
        )
        .await;
        assert_eq!(check["errors"], json!([]), "{check}");
        submit(&app, &dana, &here).await;
        let on_home = ready_on(&app, &dana, "shop-twice", "default").await;
        assert_ne!(on_home, on_second);
        // A third on either cluster is refused, naming the cluster, and nothing is stored.
        for (draft, cluster) in [(&there, "second"), (&here, "default")] {
            let taken = submit(&app, &dana, draft).await.to_string();
            assert!(
                taken.contains(&format!("shop-twice is taken on {cluster}")),
                "{taken}"
            );
        }
        let rows = common::flows::requests(&app, &dana).await;
        assert_eq!(rows.iter().filter(|r| r["name"] == "shop-twice").count(), 2);
        // Each control plane holds its own, made by its own request.
        let request_of = |ns: Namespace| {
            ns.metadata
                .labels
                .and_then(|l| l.get("berth.dev/request").cloned())
        };
        let second_ns = Api::<Namespace>::all(second.admin_client().await)
            .get("shop-twice")
            .await
            .expect("on the second cluster");
        assert_eq!(request_of(second_ns), Some(on_second.clone()));
        let home_ns = Api::<Namespace>::all(TestCluster::shared().await.admin_client().await)
            .get("shop-twice")
            .await
            .expect("on the home cluster");
        assert_eq!(request_of(home_ns), Some(on_home.clone()));

        // A kubeconfig must name its cluster now; each names its own server.
        let kubeconfig = "/api/v1/namespaces/shop-twice/kubeconfig";
        let download = |query: &'static str| {
            let path = format!("{kubeconfig}{query}");
            let (app, dana) = (&app, &dana);
            async move { request(app, dana, reqwest::Method::POST, &path, None).await }
        };
        let (status, why) = download("").await;
        assert_eq!(status, 400, "{why}");
        assert!(
            why.to_string()
                .contains("shop-twice lives on default and second"),
            "{why}"
        );
        let (status, text) = download("?cluster=second").await;
        assert_eq!(status, 200, "{text}");
        let text = text.as_str().expect("yaml").to_owned();
        assert!(
            text.contains("server: https://second.example.com:6443"),
            "{text}"
        );
        assert!(
            text.contains("current-context: shop-twice@second"),
            "{text}"
        );
        let (status, text) = download("?cluster=default").await;
        assert_eq!(status, 200, "{text}");
        assert!(
            text.to_string()
                .contains("current-context: shop-twice@default"),
            "{text}"
        );
        let (status, why) = download("?cluster=mars-1").await;
        assert_eq!(status, 404, "{why}");

        // A change of the second's namespace is audited on the second cluster.
        let asked = call_json(
            &app,
            &dana,
            app::api::RequestChange::PATH,
            json!({ "draft": {
                "request_id": on_second, "kind": "extend", "lifetime": "7d",
                "tier": "", "reason": "still needed",
            }}),
        )
        .await;
        assert!(asked.to_string().contains("nc-"), "{asked}");
        let changes = call_form(&app, &dana, app::api::ListNamespaceChanges::PATH, &[]).await;
        let listed = changes
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["request_id"] == on_second.as_str())
            .cloned()
            .unwrap_or_default();
        assert_eq!(listed["cluster"], "second", "{changes}");
        let store = server::store::Store::connect(&url, &test_config().database)
            .await
            .expect("store");
        let audited: Vec<(String, String)> = sqlx::query_as(
            "SELECT action, target_cluster FROM audit_events \
             WHERE target_name = 'shop-twice' AND action LIKE 'namespace.%' ORDER BY seq",
        )
        .fetch_all(store.pool())
        .await
        .expect("audit");
        let change: Vec<&(String, String)> = audited
            .iter()
            .filter(|(a, _)| a == "namespace.change.request")
            .collect();
        assert_eq!(change.len(), 1, "{audited:?}");
        assert_eq!(change[0].1, "second");
        assert_eq!(
            audited
                .iter()
                .filter(|(a, c)| a == "namespace.provision" && c == "default")
                .count(),
            1,
            "{audited:?}"
        );
        app.stop().await;
    });
}

#[test]
fn an_sre_grants_access_on_one_cluster_and_the_other_is_never_touched() {
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    use k8s_openapi::api::rbac::v1::RoleBinding;
    use kube::api::{Api, ListParams, PostParams};
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let (app, second, _dir) = two_clusters_public(&url, None).await;
        app.wait_ready().await;
        // The same namespace on both clusters: only the second one's may open up.
        let shared = TestCluster::shared().await;
        let home_admin = shared.admin_client().await;
        let second_admin = second.admin_client().await;
        let name = "search-jit-fleet";
        for client in [&home_admin, &second_admin] {
            let ns: Namespace = serde_json::from_value(
                json!({"metadata": {"name": name, "labels": {"berth.dev/team": "search"}}}),
            )
            .expect("namespace");
            Api::<Namespace>::all(client.clone())
                .create(&PostParams::default(), &ns)
                .await
                .expect("create namespace");
        }
        let dana = sign_in(&app, "demo:dana").await;
        let sam = sign_in(&app, "demo:sam").await;
        let ask = |cluster: &str| {
            json!({"namespaces": name, "cluster": false, "role": "edit", "duration": "30m",
                "reason": "incident 4712 in the US", "ticket": "OPS-4712",
                "target_cluster": cluster})
        };
        let (status, body) = request(
            &app,
            &dana,
            reqwest::Method::POST,
            "/api/v1/access",
            Some(ask("mars-1")),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(body.to_string().contains("unknown cluster"), "{body}");

        let (status, body) = request(
            &app,
            &dana,
            reqwest::Method::POST,
            "/api/v1/access",
            Some(ask("second")),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["target_cluster"], "second");
        let id = body["id"].as_str().expect("id").to_owned();
        let (status, body) = request(
            &app,
            &sam,
            reqwest::Method::POST,
            &format!("/api/v1/access/{id}/review"),
            Some(json!({"decision": "approve", "reason": "ticket checked"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["state"], "Active", "{body}");

        // The binding is on the second cluster; the home cluster has none of this request's.
        let selector = format!("berth.dev/access-request={id}");
        let on_second = Api::<RoleBinding>::namespaced(second_admin.clone(), name)
            .list(&ListParams::default().labels(&selector))
            .await
            .expect("list");
        assert_eq!(on_second.items.len(), 1, "{selector}");
        let on_home = Api::<RoleBinding>::namespaced(home_admin.clone(), name)
            .list(&ListParams::default().labels(&selector))
            .await
            .expect("list");
        assert!(on_home.items.is_empty(), "the home cluster was touched");

        // The grant's kubeconfig reaches the second cluster and edits there only.
        let res = app
            .client
            .post(app.url(&format!("/api/v1/access/{id}/kubeconfig")))
            .header(ORIGIN, &app.base)
            .header(COOKIE, &dana)
            .send()
            .await
            .expect("kubeconfig");
        assert_eq!(res.status(), 200);
        let text = res.text().await.expect("text");
        assert!(
            text.contains(&format!("server: {}", second.plane().url())),
            "{text}"
        );
        let as_grant = common::cluster::client_for(&text).await;
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": "hotfix"}, "data": {"a": "b"}}))
                .expect("configmap");
        Api::<ConfigMap>::namespaced(as_grant, name)
            .create(&PostParams::default(), &cm)
            .await
            .expect("the grant edits on the second cluster");
        let home_cms = Api::<ConfigMap>::namespaced(home_admin.clone(), name)
            .get_opt("hotfix")
            .await
            .expect("read");
        assert!(home_cms.is_none());

        // Revoked: gone from the second cluster; the home cluster never had it.
        let (status, body) = request(
            &app,
            &sam,
            reqwest::Method::POST,
            &format!("/api/v1/access/{id}/revoke"),
            Some(json!({"comment": "incident over"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let left = Api::<RoleBinding>::namespaced(second_admin, name)
            .list(&ListParams::default().labels(&selector))
            .await
            .expect("list");
        assert!(left.items.is_empty(), "the binding outlived the revoke");
        app.stop().await;
    });
}

/// A namespace of team `team` with one pod reserving a core and a GiB, on the cluster `client`
/// reaches.
pub(crate) async fn reserve_a_core(client: &kube::Client, namespace: &str, team: &str) {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Api, PostParams};
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": { "name": namespace, "labels": { "berth.dev/team": team } }
    }))
    .expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    let web: Deployment = serde_json::from_value(json!({
        "metadata": { "name": "web" },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app": "web" } },
            "template": {
                "metadata": {
                    "labels": { "app": "web" },
                    "annotations": {
                        "sandbox.berth.dev/usage-profile": "steady",
                        "sandbox.berth.dev/cpu-usage": "100m",
                        "sandbox.berth.dev/memory-usage": "100Mi",
                    },
                },
                "spec": { "containers": [{
                    "name": "app",
                    "image": "nginx:1.27",
                    "resources": { "requests": { "cpu": "1", "memory": "1Gi" } },
                }]},
            },
        },
    }))
    .expect("deployment");
    Api::<Deployment>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &web)
        .await
        .expect("create deployment");
}

/// The report's groups: key → (cpu cost, total).
fn groups_of(report: &Value) -> std::collections::BTreeMap<String, (f64, f64)> {
    report["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap_or_default().to_owned(),
                (
                    g["cost"]["cpu"].as_f64().unwrap_or_default(),
                    g["total"].as_f64().unwrap_or_default(),
                ),
            )
        })
        .collect()
}

#[test]
fn a_managers_cost_report_shows_each_cluster_and_their_sum_at_each_clusters_prices() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let mut config = test_config();
        config.usage.sample_interval = std::time::Duration::from_secs(1);
        let (app, second, _dir) = two_clusters_with(&url, None, config.clone()).await;
        app.wait_ready().await;
        // The same team on both clusters; the same node names too (both simulators name theirs
        // alike), which the history must keep apart.
        let home_admin = crate::common::flows::admin_client(&app).await;
        reserve_a_core(&home_admin, "fleetcost-home", "fleetcost").await;
        let second_admin = second.admin_client().await;
        reserve_a_core(&second_admin, "fleetcost-second", "fleetcost").await;
        // The home cluster's namespace name on the second too: another namespace.
        reserve_a_core(&second_admin, "fleetcost-home", "fleetcost").await;

        // The server's own sampler reads both clusters; the home cluster's rows keep the empty
        // key of the history from before the fleet.
        let db = sqlx::PgPool::connect(&url).await.expect("database");
        let deadline = std::time::Instant::now() + common::PATIENCE;
        loop {
            let seen: Vec<(String, String, i64)> = sqlx::query_as(
                "SELECT c.namespace, c.cluster, count(s.*) FROM usage_containers c \
                 JOIN usage_samples s ON s.container_id = c.id \
                 WHERE c.namespace LIKE 'fleetcost-%' GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .fetch_all(&db)
            .await
            .expect("query");
            if seen.len() == 3 && seen.iter().all(|(_, _, n)| *n >= 2) {
                assert_eq!(
                    seen.iter()
                        .map(|(ns, c, _)| (ns.as_str(), c.as_str()))
                        .collect::<Vec<_>>(),
                    [
                        ("fleetcost-home", ""),
                        ("fleetcost-home", "second"),
                        ("fleetcost-second", "second")
                    ]
                );
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "both clusters' pods were never sampled: {seen:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        let nodes: Vec<(String, i64)> = sqlx::query_as(
            "SELECT cluster, count(DISTINCT node) FROM node_hourly GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(&db)
        .await
        .expect("nodes");
        assert_eq!(nodes.len(), 2, "each cluster's nodes: {nodes:?}");
        // The hour in progress, rolled up as if it had ended (the reports read finished hours).
        let store = server::store::Store::connect(&url, &config.database)
            .await
            .expect("store");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        store
            .roll_up_usage(now + 3_600.0, 86_400.0, 1.0)
            .await
            .expect("roll up");

        let mike = sign_in(&app, "demo:mike").await;
        let report = |path: &'static str| {
            let (app, mike) = (&app, &mike);
            async move {
                let (status, body) = get(app, mike, path).await;
                assert_eq!(status, 200, "{path}: {body}");
                body
            }
        };
        let fleet = report("/api/v1/cost?by=cluster&window=24h&idle=share").await;
        let by = groups_of(&fleet);
        assert_eq!(
            by.keys().collect::<Vec<_>>(),
            ["default", "second"],
            "{fleet}"
        );
        assert!(by.values().all(|(cpu, _)| *cpu > 0.0), "{by:?}");
        let sum: f64 = by.values().map(|(_, total)| total).sum();
        let total = fleet["total"].as_f64().unwrap_or_default();
        assert!((sum - total).abs() < 1e-6, "{sum} vs {total}");
        assert_eq!(fleet["clusters"], json!(["default", "second"]));
        // By namespace across the fleet, one name on two clusters is two lines, each with its
        // cluster, each of its own cluster's cost; their sum is the team's.
        let by_namespace = report("/api/v1/cost?by=namespace&window=24h&idle=share").await;
        let lines: Vec<(&str, &str, f64)> = by_namespace["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .filter(|g| {
                g["key"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("fleetcost-"))
            })
            .map(|g| {
                (
                    g["key"].as_str().unwrap_or_default(),
                    g["cluster"].as_str().unwrap_or_default(),
                    g["total"].as_f64().unwrap_or_default(),
                )
            })
            .collect();
        let mut named: Vec<(&str, &str)> = lines.iter().map(|(k, c, _)| (*k, *c)).collect();
        named.sort();
        assert_eq!(
            named,
            [
                ("fleetcost-home", "default"),
                ("fleetcost-home", "second"),
                ("fleetcost-second", "second")
            ],
            "{by_namespace}"
        );
        assert!(lines.iter().all(|(_, _, total)| *total > 0.0), "{lines:?}");
        let by_team = groups_of(&report("/api/v1/cost?by=team&window=24h&idle=share").await);
        let sum: f64 = lines.iter().map(|(_, _, total)| total).sum();
        assert!(
            (sum - by_team["fleetcost"].1).abs() < 1e-6,
            "{sum} vs {by_team:?}"
        );
        // One cluster's view: its namespaces only.
        let one = report("/api/v1/cost?by=namespace&window=24h&cluster=second").await;
        let namespaces = groups_of(&one);
        assert!(namespaces.contains_key("fleetcost-second"), "{one}");
        assert!(
            one["groups"]
                .as_array()
                .expect("groups")
                .iter()
                .all(|g| g["cluster"] == "second"),
            "{one}"
        );
        let (status, body) = get(&app, &mike, "/api/v1/cost?cluster=%3Cb%3E").await;
        assert_eq!(status, 422, "{body}");

        // The second cluster runs in a dearer region: its own rates, the home cluster's
        // unchanged.
        let ada = sign_in(&app, "demo:ada").await;
        let res = app
            .client
            .get(app.url("/api/v1/prices"))
            .header(COOKIE, &ada)
            .send()
            .await
            .expect("prices");
        let tag = res
            .headers()
            .get("etag")
            .and_then(|t| t.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut prices: Value = res.json().await.expect("json");
        let default_cpu = prices["default"]["cpu_core_hour"].as_f64().unwrap_or(0.0);
        let mut dearer = prices["default"].clone();
        dearer["cpu_core_hour"] = json!(default_cpu * 10.0);
        prices["overrides"] = json!([{ "cluster": "second", "rates": dearer }]);
        let res = app
            .client
            .put(app.url("/api/v1/prices"))
            .header(COOKIE, &ada)
            .header(ORIGIN, &app.base)
            .header("if-match", tag)
            .json(&prices)
            .send()
            .await
            .expect("save prices");
        assert_eq!(
            res.status(),
            200,
            "{}",
            res.text().await.unwrap_or_default()
        );
        let repriced = groups_of(&report("/api/v1/cost?by=cluster&window=24h&idle=share").await);
        let ratio = repriced["second"].0 / by["second"].0;
        assert!((ratio - 10.0).abs() < 1e-6, "second's CPU ×{ratio}");
        assert!(
            (repriced["default"].0 - by["default"].0).abs() < 1e-9,
            "{repriced:?} vs {by:?}"
        );
        app.stop().await;
    });
}

#[test]
fn each_clusters_unused_objects_are_found_apart_and_deleted_on_their_own_cluster() {
    common::run(async {
        use app::api::{ActOnIdle, IdleReport};
        use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
        use kube::api::{Api, PostParams};
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let mut config = test_config();
        config.usage.unused_scan = std::time::Duration::from_secs(1);
        // Objects made a moment ago count: the test cannot wait two days.
        config.usage.unused_grace_days = 0.0;
        let (app, second, _dir) = two_clusters_with(&url, None, config).await;
        app.wait_ready().await;
        // The same namespace and ConfigMap, which nothing uses, on both clusters.
        let home = crate::common::flows::admin_client(&app).await;
        let other = second.admin_client().await;
        for client in [&home, &other] {
            let ns: Namespace = serde_json::from_value(json!({
                "metadata": { "name": "fleetunused", "labels": { "berth.dev/team": "payments" } }
            }))
            .expect("namespace");
            Api::<Namespace>::all(client.clone())
                .create(&PostParams::default(), &ns)
                .await
                .expect("create namespace");
            let cm: ConfigMap = serde_json::from_value(json!({
                "metadata": { "name": "old-settings" }, "data": { "a": "1" }
            }))
            .expect("config map");
            Api::<ConfigMap>::namespaced(client.clone(), "fleetunused")
                .create(&PostParams::default(), &cm)
                .await
                .expect("create config map");
        }
        const HERE: &str = "unused/ConfigMap/fleetunused/old-settings";
        const THERE: &str = "second:unused/ConfigMap/fleetunused/old-settings";
        let dana = sign_in(&app, "demo:dana").await;
        let find = |all: &Value, id: &str| {
            all["findings"]
                .as_array()
                .and_then(|f| f.iter().find(|f| f["id"] == id).cloned())
        };
        let deadline = std::time::Instant::now() + common::PATIENCE;
        let seen = loop {
            let seen = call_form(&app, &dana, IdleReport::PATH, &[]).await;
            if find(&seen, HERE).is_some() && find(&seen, THERE).is_some() {
                break seen;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "both clusters' scans never showed: {seen:#}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        };
        let there = find(&seen, THERE).expect("second's");
        assert_eq!(there["cluster"], "second");
        assert_eq!(there["can_act"], true);
        assert_eq!(find(&seen, HERE).expect("home's")["cluster"], "");

        // Deleting the second cluster's deletes it there only.
        let done = call_form(&app, &dana, ActOnIdle::PATH, &[("id", THERE)]).await;
        assert_eq!(
            done,
            json!("ConfigMap old-settings deleted from fleetunused on second")
        );
        let get = |c: &kube::Client| {
            let api = Api::<ConfigMap>::namespaced(c.clone(), "fleetunused");
            async move { api.get_opt("old-settings").await }
        };
        assert!(matches!(get(&other).await, Ok(None)), "gone from second");
        assert!(
            matches!(get(&home).await, Ok(Some(_))),
            "the home cluster's is not touched"
        );
        let seen = call_form(&app, &dana, IdleReport::PATH, &[]).await;
        assert!(find(&seen, THERE).is_none(), "{seen:#}");
        assert!(find(&seen, HERE).is_some(), "{seen:#}");
        let store = server::store::Store::connect(&url, &test_config().database)
            .await
            .expect("store");
        let audited: Vec<(String, String)> = sqlx::query_as(
            "SELECT target_cluster, outcome FROM audit_events WHERE action = 'object.delete' \
               AND target_namespace = 'fleetunused' ORDER BY seq",
        )
        .fetch_all(store.pool())
        .await
        .expect("audit");
        assert_eq!(
            audited,
            [
                ("second".to_owned(), "requested".to_owned()),
                ("second".to_owned(), "success".to_owned())
            ]
        );
        app.stop().await;
    });
}

#[test]
fn each_clusters_history_makes_findings_about_its_own_workloads_and_acting_stays_there() {
    common::run(async {
        use app::api::{ActOnIdle, IdleReport};
        use k8s_openapi::api::apps::v1::Deployment;
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let (app, second, _dir) = two_clusters(&url).await;
        app.wait_ready().await;
        // The same namespace and Deployment on both clusters, made with kubectl as an admin
        // may; a core reserved, a tenth of it used.
        let home = crate::common::flows::admin_client(&app).await;
        let other = second.admin_client().await;
        reserve_a_core(&home, "fleetidle", "payments").await;
        reserve_a_core(&other, "fleetidle", "payments").await;
        crate::common::flows::wait_scheduled(&home, Some("fleetidle"), 1).await;
        crate::common::flows::wait_scheduled(&other, Some("fleetidle"), 1).await;
        let store = server::store::Store::connect(&url, &test_config().database)
            .await
            .expect("store");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        const FAT: &str = "over-provisioned/fleetidle/Deployment/web/app";
        const FAT_THERE: &str = "second:over-provisioned/fleetidle/Deployment/web/app";
        let dana = sign_in(&app, "demo:dana").await;
        let report = || async { call_form(&app, &dana, IdleReport::PATH, &[]).await };
        let find = |all: &Value, id: &str| {
            all["findings"]
                .as_array()
                .and_then(|f| f.iter().find(|f| f["id"] == id).cloned())
        };

        // A week of the second cluster's history makes a finding about its own workload, on
        // it; the home workload (same names) is not judged by it.
        server::demo_history::import(&store, &[("second", &other)], &[], 8, now)
            .await
            .expect("history");
        let seen = report().await;
        assert_eq!(seen["clusters"], json!(["default", "second"]), "{seen}");
        assert!(find(&seen, FAT).is_none(), "{seen:#}");
        let there = find(&seen, FAT_THERE).unwrap_or_else(|| panic!("{seen:#}"));
        assert_eq!(there["cluster"], "second");
        assert_eq!(there["can_act"], true);

        // The home cluster's own history makes the home one, apart.
        server::demo_history::import(&store, &[("", &home)], &[], 8, now)
            .await
            .expect("history");
        let seen = report().await;
        let here = find(&seen, FAT).unwrap_or_else(|| panic!("{seen:#}"));
        assert_eq!(here["cluster"], "");
        assert!(find(&seen, FAT_THERE).is_some(), "{seen:#}");

        // Applying the second cluster's recommendation changes its Deployment only.
        let done = call_form(&app, &dana, ActOnIdle::PATH, &[("id", FAT_THERE)]).await;
        assert!(done.is_string(), "{done}");
        let cpu = |d: Deployment| {
            d.spec
                .template
                .spec
                .and_then(|s| s.containers.into_iter().next())
                .and_then(|c| c.resources)
                .and_then(|r| r.requests)
                .and_then(|r| r.get("cpu").map(|q| q.0.clone()))
                .unwrap_or_default()
        };
        let deployments =
            |c: &kube::Client| kube::Api::<Deployment>::namespaced(c.clone(), "fleetidle");
        let there = deployments(&other).get("web").await.expect("second's web");
        assert_ne!(cpu(there), "1", "the second cluster's web was rightsized");
        let here = deployments(&home).get("web").await.expect("home's web");
        assert_eq!(cpu(here), "1", "the home cluster's web was not touched");
        let audited: Vec<String> = sqlx::query_scalar(
            "SELECT target_cluster FROM audit_events WHERE action LIKE 'workload.%' \
               AND target_namespace = 'fleetidle' AND outcome = 'success'",
        )
        .fetch_all(store.pool())
        .await
        .expect("audit");
        assert_eq!(audited, ["second"], "audited on the cluster it acted on");
        app.stop().await;
    });
}

#[test]
fn rollouts_span_the_fleet_and_actions_reach_the_workloads_own_cluster() {
    common::run(async {
        use k8s_openapi::api::apps::v1::Deployment;
        use kube::api::Api;
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let (app, second, _dir) = two_clusters(&url).await;
        app.wait_ready().await;
        let other = second.admin_client().await;
        let home = crate::common::flows::admin_client(&app).await;
        reserve_a_core(&other, "fleetroll", "payments").await;
        crate::common::flows::wait_scheduled(&other, Some("fleetroll"), 1).await;
        let dana = sign_in(&app, "demo:dana").await;

        // The list names the cluster of each namespace and of each workload.
        let deadline = std::time::Instant::now() + common::PATIENCE;
        let group = loop {
            let (status, page) = get(&app, &dana, "/api/v1/rollouts?namespace=fleetroll").await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["clusters"], json!(["default", "second"]));
            if let Some(g) = page["groups"].as_array().and_then(|g| g.first()).cloned() {
                break g;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the second cluster's workload never showed: {page}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        };
        assert_eq!(group["cluster"], "second", "{group}");
        assert_eq!(group["workloads"][0]["cluster"], "second", "{group}");
        let (status, only_home) = get(
            &app,
            &dana,
            "/api/v1/rollouts?namespace=fleetroll&cluster=default",
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(only_home["groups"], json!([]), "{only_home}");

        // Its page, by the cluster in the address; without it, the home cluster has none.
        let (status, detail) = get(
            &app,
            &dana,
            "/api/v1/workloads/deployments/fleetroll/web?cluster=second",
        )
        .await;
        assert_eq!(status, 200, "{detail}");
        assert_eq!(detail["pods"].as_array().map(Vec::len), Some(1), "{detail}");
        let (status, _) = get(&app, &dana, "/api/v1/workloads/deployments/fleetroll/web").await;
        assert_eq!(status, 404);
        let (status, body) = get(
            &app,
            &dana,
            "/api/v1/workloads/deployments/fleetroll/web?cluster=nowhere",
        )
        .await;
        assert_eq!(status, 404, "{body}");
        assert!(body.to_string().contains("no cluster"), "{body}");

        // Scaling acts on the second cluster's Deployment and is audited with its cluster.
        let (status, body) = request(
            &app,
            &dana,
            reqwest::Method::POST,
            "/api/v1/workloads/deployments/fleetroll/web/actions?cluster=second",
            Some(json!({ "Scale": { "replicas": 2 } })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let scaled = Api::<Deployment>::namespaced(other.clone(), "fleetroll")
            .get("web")
            .await
            .expect("the second cluster's web");
        assert_eq!(scaled.spec.replicas, Some(2));
        assert!(
            Api::<Deployment>::namespaced(home.clone(), "fleetroll")
                .get_opt("web")
                .await
                .expect("home")
                .is_none(),
            "nothing was made at home"
        );
        let db = sqlx::PgPool::connect(&url).await.expect("database");
        let audited: Vec<(String, String)> = sqlx::query_as(
            "SELECT outcome, target_cluster FROM audit_events \
             WHERE action = 'workload.scale' AND target_namespace = 'fleetroll' ORDER BY seq",
        )
        .fetch_all(&db)
        .await
        .expect("audit");
        assert_eq!(
            audited,
            [
                ("requested".to_owned(), "second".to_owned()),
                ("success".to_owned(), "second".to_owned())
            ]
        );
        app.stop().await;
    });
}
