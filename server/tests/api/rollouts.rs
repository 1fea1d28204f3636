//! Rollout views over real HTTP against the real control plane: kubectl's states from live workloads,
//! who sees what, findings, and the live event stream.

use crate::common;

use std::time::{Duration, Instant};

use app::api::RolloutOverview;
use common::TestApp;
use common::flows::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, Patch, PatchParams, PostParams};
use leptos::server_fn::ServerFn;
use reqwest::header::COOKIE;
use serde_json::{Value, json};

async fn namespace(client: &kube::Client, name: &str, team: &str, qos: Option<&str>) {
    let mut labels = json!({ "berth.dev/team": team });
    if let Some(qos) = qos {
        labels["berth.dev/expected-qos"] = json!(qos);
    }
    let ns: Namespace =
        serde_json::from_value(json!({ "metadata": { "name": name, "labels": labels } }))
            .expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

fn deployment(name: &str, image: &str, replicas: i32, script: Option<&str>) -> Deployment {
    let mut annotations = json!({});
    if let Some(script) = script {
        annotations["sandbox.berth.dev/script"] = json!(script);
    }
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": 3,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name, "release": "stable" }, "annotations": annotations },
                "spec": { "containers": [{
                    "name": "app",
                    "image": image,
                    "readinessProbe": { "httpGet": { "path": "/", "port": 80 } },
                    "resources": {
                        "requests": { "cpu": "100m", "memory": "64Mi" },
                        "limits": { "cpu": "200m", "memory": "64Mi" },
                    },
                }]},
            },
        },
    }))
    .expect("deployment")
}

async fn overview(app: &TestApp, cookie: &str, namespace: &str) -> Vec<Value> {
    call_form(
        app,
        cookie,
        RolloutOverview::PATH,
        &[("namespace", namespace), ("team", "")],
    )
    .await["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn workload(app: &TestApp, cookie: &str, namespace: &str, name: &str) -> Option<Value> {
    overview(app, cookie, namespace)
        .await
        .into_iter()
        .flat_map(|g| g["workloads"].as_array().cloned().unwrap_or_default())
        .find(|w| w["name"] == name)
}

async fn wait_for(app: &TestApp, cookie: &str, namespace: &str, name: &str, state: &str) -> Value {
    let deadline = Instant::now() + common::PATIENCE;
    loop {
        let found = workload(app, cookie, namespace, name).await;
        if let Some(w) = found.as_ref().filter(|w| w["state"] == state) {
            return w.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became {state}: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn failing(w: &Value) -> Vec<String> {
    w["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["severity"] != "Pass")
        .filter_map(|f| f["check"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn workloads_show_kubectls_state_live_with_findings_to_those_who_may_see_them() {
    common::run(async {
        let (_pg, app) = app().await;
        let admin = admin_client(&app).await;
        namespace(&admin, "payments-states", "payments", Some("Guaranteed")).await;
        namespace(&admin, "platform-states", "platform", None).await;
        let shop = Api::<Deployment>::namespaced(admin.clone(), "payments-states");
        shop.create(
            &PostParams::default(),
            &deployment("web", "nginx:1.27", 2, None),
        )
        .await
        .expect("web");
        shop.create(
            &PostParams::default(),
            &deployment("stuck", "nginx:latest", 1, Some("never-ready")),
        )
        .await
        .expect("stuck");
        Api::<Deployment>::namespaced(admin.clone(), "platform-states")
            .create(
                &PostParams::default(),
                &deployment("ops", "busybox:1.36", 1, None),
            )
            .await
            .expect("ops");

        let dana = sign_in(&app, "demo:dana").await;
        let web = wait_for(&app, &dana, "payments-states", "web", "Complete").await;
        assert_eq!(web["message"], "deployment \"web\" successfully rolled out");
        assert_eq!(
            (web["desired"].as_i64(), web["available"].as_i64()),
            (Some(2), Some(2))
        );
        assert_eq!(web["progress"], 100.0);
        assert_eq!(web["images"], json!(["nginx:1.27"]));
        assert_eq!(web["release"], "stable");
        assert!(
            web["strategy"]
                .as_str()
                .is_some_and(|s| s.starts_with("RollingUpdate"))
        );
        assert_eq!(web["revision"], "1");
        // Requests ≠ limits where the namespace expects Guaranteed; no liveness probe; 2
        // replicas without a budget or spread.
        assert_eq!(
            failing(&web),
            [
                "liveness-probe",
                "guaranteed-qos",
                "disruption-budget",
                "spread"
            ]
        );

        let stuck = wait_for(&app, &dana, "payments-states", "stuck", "Stalled").await;
        assert_eq!(
            stuck["message"],
            "deployment \"stuck\" exceeded its progress deadline"
        );
        assert!(failing(&stuck).contains(&"image-tag".to_owned()));
        // The pod that holds it back, with its node and latest events.
        let blocking = stuck["blocking"].as_array().cloned().unwrap_or_default();
        assert_eq!(blocking.len(), 1, "{stuck}");
        assert_eq!(blocking[0]["reason"], "not ready");
        assert!(blocking[0]["node"].is_string(), "{stuck}");
        assert!(
            blocking[0]["events"]
                .as_array()
                .is_some_and(|e| !e.is_empty()),
            "{stuck}"
        );
        assert_eq!(web["blocking"], json!([]), "a complete rollout has none");
        let groups = overview(&app, &dana, "payments-states").await;
        assert_eq!(groups[0]["workloads"][0]["name"], "stuck", "trouble first");
        assert!(groups[0]["score"].as_u64().is_some_and(|s| s < 100));

        // Another team's namespace is not Dana's to see; an SRE sees it.
        assert!(overview(&app, &dana, "platform-states").await.is_empty());
        let sam = sign_in(&app, "demo:sam").await;
        wait_for(&app, &sam, "platform-states", "ops", "Complete").await;

        // A budget covering the pods passes that check.
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({
            "metadata": { "name": "web" },
            "spec": { "maxUnavailable": 1, "selector": { "matchLabels": { "app": "web" } } },
        }))
        .expect("pdb");
        Api::<PodDisruptionBudget>::namespaced(admin.clone(), "payments-states")
            .create(&PostParams::default(), &pdb)
            .await
            .expect("create pdb");
        let deadline = Instant::now() + common::PATIENCE;
        while workload(&app, &dana, "payments-states", "web")
            .await
            .is_some_and(|w| failing(&w).contains(&"disruption-budget".to_owned()))
        {
            assert!(Instant::now() < deadline, "the budget was never seen");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // A new image: the stream says so, the rollout moves and completes at revision 2.
        let mut events = app
            .client
            .get(app.url("/api/v1/events/rollouts"))
            .header(COOKIE, &dana)
            .send()
            .await
            .expect("stream");
        assert_eq!(events.status(), 200);
        shop.patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1.28"}
            ]}}}})),
        )
        .await
        .expect("set image");
        let event = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                let chunk = events.chunk().await.expect("chunk").expect("open");
                let text = String::from_utf8_lossy(&chunk).into_owned();
                if text.contains("event: rollouts") {
                    return text;
                }
            }
        })
        .await;
        assert!(event.is_ok(), "an event within 15 s");
        // The stream speaks of every workload's change (other tests' too): the one that
        // counts is web Complete with the new image, which may come a moment later.
        let deadline = Instant::now() + common::PATIENCE;
        let web = loop {
            let web = wait_for(&app, &dana, "payments-states", "web", "Complete").await;
            if web["images"] == json!(["nginx:1.28"]) || Instant::now() > deadline {
                break web;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(web["images"], json!(["nginx:1.28"]));
        assert_eq!(web["revision"], "2");
        assert!(web["revision_since"].is_string(), "{web}");
        drop(events);
        app.stop().await;
    });
}

async fn act(app: &TestApp, cookie: &str, namespace: &str, name: &str, action: Value) -> Value {
    call_json(
        app,
        cookie,
        app::api::ActOnWorkload::PATH,
        json!({ "kind": "Deployment", "namespace": namespace, "name": name, "action": action }),
    )
    .await
}

#[test]
fn actions_are_authorised_kept_within_quota_and_audited() {
    common::run(async {
        let (_pg, app) = app().await;
        let admin = admin_client(&app).await;
        namespace(&admin, "payments-act", "payments", None).await;
        let quota: k8s_openapi::api::core::v1::ResourceQuota = serde_json::from_value(json!({
            "metadata": { "name": "q" },
            "spec": { "hard": { "requests.cpu": "1", "pods": "50" } },
        }))
        .expect("quota");
        Api::<k8s_openapi::api::core::v1::ResourceQuota>::namespaced(admin.clone(), "payments-act")
            .create(&PostParams::default(), &quota)
            .await
            .expect("create quota");
        let api = Api::<Deployment>::namespaced(admin.clone(), "payments-act");
        api.create(
            &PostParams::default(),
            &deployment("web", "nginx:1.27", 2, None),
        )
        .await
        .expect("web");
        let dana = sign_in(&app, "demo:dana").await;
        wait_for(&app, &dana, "payments-act", "web", "Complete").await;

        // Outside the team, an SRE may look but not act.
        let sam = sign_in(&app, "demo:sam").await;
        let refused = act(&app, &sam, "payments-act", "web", json!("Restart")).await;
        assert!(
            refused["Err"]
                .as_str()
                .is_some_and(|m| m.contains("payments")),
            "{refused}"
        );
        let seen = workload(&app, &sam, "payments-act", "web")
            .await
            .expect("visible");
        assert_eq!(seen["can_act"], false);

        // Bad input changes nothing.
        let bad = act(&app, &dana, "payments-act", "Bad Name", json!("Restart")).await;
        assert!(bad["Err"].is_string(), "{bad}");
        let bad = act(
            &app,
            &dana,
            "payments-act",
            "web",
            json!({"Rollback": {"revision": 99}}),
        )
        .await;
        assert!(
            bad["Err"]
                .as_str()
                .is_some_and(|m| m.contains("no revision 99")),
            "{bad}"
        );

        // Scaling stays within quota, with the numbers when it would not.
        let over = act(
            &app,
            &dana,
            "payments-act",
            "web",
            json!({"Scale": {"replicas": 20}}),
        )
        .await;
        let message = over["Err"].as_str().unwrap_or_default();
        assert!(
            message.contains("needs 1.8 more requests.cpu") && message.contains("800m left"),
            "{over}"
        );
        let up = act(
            &app,
            &dana,
            "payments-act",
            "web",
            json!({"Scale": {"replicas": 4}}),
        )
        .await;
        assert_eq!(up, "web scales to 4", "{up}");
        let web = wait_for(&app, &dana, "payments-act", "web", "Complete").await;
        assert_eq!(web["desired"], 4);

        // Restart makes revision 2; pause holds it; rollback returns revision 1's template.
        let restarted = act(&app, &dana, "payments-act", "web", json!("Restart")).await;
        assert!(restarted.is_string(), "{restarted}");
        let deadline = Instant::now() + common::PATIENCE;
        loop {
            let w = workload(&app, &dana, "payments-act", "web")
                .await
                .unwrap_or_default();
            if w["revision"] == "2" && w["state"] == "Complete" {
                break;
            }
            assert!(Instant::now() < deadline, "never restarted: {w}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let paused = act(&app, &dana, "payments-act", "web", json!("Pause")).await;
        assert_eq!(paused, "web is paused");
        wait_for(&app, &dana, "payments-act", "web", "Paused").await;
        act(&app, &dana, "payments-act", "web", json!("Resume")).await;
        wait_for(&app, &dana, "payments-act", "web", "Complete").await;
        let back = act(
            &app,
            &dana,
            "payments-act",
            "web",
            json!({"Rollback": {"revision": 1}}),
        )
        .await;
        assert_eq!(back, "web rolls back to revision 1");
        let deadline = Instant::now() + common::PATIENCE;
        loop {
            let w = workload(&app, &dana, "payments-act", "web")
                .await
                .unwrap_or_default();
            if w["revision"] == "3" && w["state"] == "Complete" {
                break;
            }
            assert!(Instant::now() < deadline, "never rolled back: {w}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let live = api.get("web").await.expect("web");
        let annotations = live
            .spec
            .template
            .metadata
            .and_then(|m| m.annotations)
            .unwrap_or_default();
        assert!(
            !annotations.contains_key("kubectl.kubernetes.io/restartedAt"),
            "revision 1's template is back: {annotations:?}"
        );

        let store =
            server::store::Store::connect(&app.database_url, &common::test_config().database)
                .await
                .expect("store");
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT action, outcome FROM audit_events WHERE action LIKE 'workload.%' ORDER BY seq",
        )
        .fetch_all(store.pool())
        .await
        .expect("audit");
        let rows: Vec<(&str, &str)> = rows.iter().map(|(a, o)| (a.as_str(), o.as_str())).collect();
        assert_eq!(
            rows,
            [
                ("workload.restart", "denied"),
                ("workload.scale", "requested"),
                ("workload.scale", "success"),
                ("workload.restart", "requested"),
                ("workload.restart", "success"),
                ("workload.pause", "requested"),
                ("workload.pause", "success"),
                ("workload.resume", "requested"),
                ("workload.resume", "success"),
                ("workload.rollback", "requested"),
                ("workload.rollback", "success"),
            ]
        );
        app.stop().await;
    });
}

/// The detail page's server function: its answer, or the error text with the status.
async fn detail(
    app: &TestApp,
    cookie: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Value, (u16, String)> {
    let res = app
        .client
        .post(app.url(app::api::WorkloadDetail::PATH))
        .header(reqwest::header::ORIGIN, &app.base)
        .header(COOKIE, cookie)
        .form(&[("kind", kind), ("namespace", namespace), ("name", name)])
        .send()
        .await
        .expect("server function");
    let status = res.status().as_u16();
    if status == 200 {
        Ok(res.json().await.expect("json answer"))
    } else {
        Err((status, res.text().await.unwrap_or_default()))
    }
}

/// Polls the detail page until `ready` holds of it.
async fn detail_until(
    app: &TestApp,
    cookie: &str,
    name: &str,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + common::PATIENCE;
    loop {
        let answer = detail(app, cookie, "deployment", "payments-shop", name).await;
        if let Ok(d) = &answer
            && ready(d)
        {
            return d.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{name}: never {what}: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x[key].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_workload_page_lists_its_pods_revisions_and_events() {
    common::run(async {
        let (_pg, app) = app().await;
        let admin = admin_client(&app).await;
        namespace(&admin, "payments-shop", "payments", None).await;
        namespace(&admin, "platform-tools", "platform", None).await;
        let shop = Api::<Deployment>::namespaced(admin.clone(), "payments-shop");
        shop.create(
            &PostParams::default(),
            &deployment("web", "nginx:1.27", 2, None),
        )
        .await
        .expect("web");
        shop.create(
            &PostParams::default(),
            &deployment("crashy", "nginx:1.27", 1, Some("crash-loop")),
        )
        .await
        .expect("crashy");
        Api::<Deployment>::namespaced(admin.clone(), "platform-tools")
            .create(
                &PostParams::default(),
                &deployment("ops", "busybox:1.36", 1, None),
            )
            .await
            .expect("ops");
        let dana = sign_in(&app, "demo:dana").await;
        wait_for(&app, &dana, "payments-shop", "web", "Complete").await;
        shop.patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1.28"}
            ]}}}})),
        )
        .await
        .expect("set image");

        // Once revision 2 is out, both pods run it, ready, each on a node.
        let web = detail_until(&app, &dana, "web", "two ready pods at revision 2", |d| {
            let pods = d["pods"].as_array().cloned().unwrap_or_default();
            d["workload"]["state"] == "Complete"
                && pods.len() == 2
                && pods
                    .iter()
                    .all(|p| p["status"] == "Running" && p["revision"] == "2")
        })
        .await;
        for pod in web["pods"].as_array().into_iter().flatten() {
            assert_eq!(pod["ready"], "1/1", "{pod}");
            assert_eq!(pod["restarts"], 0, "{pod}");
            assert!(pod["node"].is_string(), "{pod}");
            assert!(pod["created_at"].is_string(), "{pod}");
        }
        // The history from its ReplicaSets, newest first, with release labels.
        let revisions = &web["workload"]["revisions"];
        assert_eq!(
            revisions
                .as_array()
                .map(|r| r.iter().map(|r| r["revision"].clone()).collect::<Vec<_>>()),
            Some(vec![json!(2), json!(1)])
        );
        assert_eq!(revisions[0]["images"], json!(["nginx:1.28"]));
        assert_eq!(revisions[1]["images"], json!(["nginx:1.27"]));
        assert_eq!(revisions[0]["release"], "stable");
        // Events of the Deployment, its ReplicaSets and its pods, newest first.
        let objects = strings(&web["events"], "object");
        assert!(objects.iter().any(|o| o == "Deployment/web"), "{objects:?}");
        assert!(
            objects.iter().any(|o| o.starts_with("ReplicaSet/web-")),
            "{objects:?}"
        );
        assert!(
            objects.iter().any(|o| o.starts_with("Pod/web-")),
            "{objects:?}"
        );
        assert!(
            strings(&web["events"], "reason").contains(&"ScalingReplicaSet".to_owned()),
            "{web}"
        );
        let seen = strings(&web["events"], "last_seen");
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted, "newest first");
        assert!(
            !objects.iter().any(|o| o.contains("crashy")),
            "only this workload's events"
        );

        // A crash-looping pod says so, as kubectl would, with its restarts and the kubelet's
        // back-off warning (the kubelet writes the event after the pod's status, so a busy
        // machine can show one before the other: both are waited for).
        let crashy = detail_until(
            &app,
            &dana,
            "crashy",
            "crash-looping with a back-off event",
            |d| {
                d["pods"][0]["status"] == "CrashLoopBackOff"
                    && d["pods"][0]["restarts"].as_i64().is_some_and(|r| r > 0)
                    && d["events"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|e| e["reason"] == "BackOff" && e["kind"] == "Warning")
            },
        )
        .await;
        assert_eq!(crashy["pods"][0]["healthy"], false);
        assert_eq!(crashy["pods"][0]["ready"], "0/1");

        // Another team's workload is not Dana's to open; a kind that is no workload is refused.
        let (status, why) = detail(&app, &dana, "deployment", "platform-tools", "ops")
            .await
            .expect_err("another team's");
        assert_eq!(status, 404);
        assert!(
            why.contains("no Deployment ops in namespace platform-tools"),
            "{why}"
        );
        let (_, why) = detail(&app, &dana, "cronjob", "payments-shop", "web")
            .await
            .expect_err("not a workload kind");
        assert!(why.contains("unknown workload kind"), "{why}");
        let sam = sign_in(&app, "demo:sam").await;
        assert!(
            detail(&app, &sam, "deploy", "platform-tools", "ops")
                .await
                .is_ok(),
            "an SRE sees every namespace"
        );
        app.stop().await;
    });
}

#[test]
fn a_cluster_of_workloads_comes_in_pages_of_whole_namespaces() {
    common::run(async {
        let pg = common::TestPostgres::start();
        let url = pg.database("berth_test").await;
        // 30 namespaces of 35 Deployments: 1,050 workloads, more than one page holds.
        let cluster = common::TestCluster::private_with(
            Some(sandbox::scenario::Scenario::large(30, 1_050, 0)),
            |_| {},
        )
        .await;
        let kubeconfig = common::berth_kubeconfig(&cluster).await;
        let app = TestApp::spawn_on(&url, common::test_config(), &kubeconfig).await;
        // The first list of 2,000-odd objects is slow in a debug build on a busy machine;
        // the pages are what is under test.
        app.wait_ready().await;
        let sam = sign_in(&app, "demo:sam").await;
        let page = |n: &'static str| {
            let (app, sam) = (&app, &sam);
            async move {
                call_form(
                    app,
                    sam,
                    RolloutOverview::PATH,
                    &[("namespace", ""), ("team", ""), ("page", n)],
                )
                .await
            }
        };
        let first = page("1").await;
        let second = page("2").await;
        let mut seen = std::collections::BTreeSet::new();
        let mut workloads = 0;
        for (answer, number) in [(&first, 1), (&second, 2)] {
            assert_eq!(answer["page"], number);
            assert_eq!(answer["pages"], 2);
            assert_eq!(answer["workloads"], 1_050);
            assert_eq!(answer["namespaces"], 30);
            let groups = answer["groups"].as_array().cloned().unwrap_or_default();
            let on_page: usize = groups
                .iter()
                .map(|g| g["workloads"].as_array().map_or(0, Vec::len))
                .sum();
            assert!(on_page <= 1_000, "page {number} holds {on_page}");
            workloads += on_page;
            for g in &groups {
                let ns = g["namespace"].as_str().unwrap_or_default().to_owned();
                assert!(seen.insert(ns.clone()), "{ns} is on two pages");
            }
        }
        assert_eq!((seen.len(), workloads), (30, 1_050));
        // Past the end is the last page, not an error.
        assert_eq!(page("9").await["page"], 2);

        // The page itself links its neighbours.
        let html = get_text(&app, &sam, "/rollouts?page=2").await;
        assert!(
            html.contains("page 2 of 2 · 1050 workloads in 30 namespaces"),
            "{html}"
        );
        assert!(html.contains(r#"href="/rollouts?page=1""#), "a link back");
        app.stop().await;
    });
}
