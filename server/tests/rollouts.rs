//! Rollout views over real HTTP against the sandbox: kubectl's states from live workloads,
//! who sees what, findings, and the live event stream.

mod common;

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
    .await
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
    let deadline = Instant::now() + Duration::from_secs(30);
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
        namespace(&admin, "payments-shop", "payments", Some("Guaranteed")).await;
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
            &deployment("stuck", "nginx:latest", 1, Some("never-ready")),
        )
        .await
        .expect("stuck");
        Api::<Deployment>::namespaced(admin.clone(), "platform-tools")
            .create(
                &PostParams::default(),
                &deployment("ops", "busybox:1.36", 1, None),
            )
            .await
            .expect("ops");

        let dana = sign_in(&app, "demo:dana").await;
        let web = wait_for(&app, &dana, "payments-shop", "web", "Complete").await;
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

        let stuck = wait_for(&app, &dana, "payments-shop", "stuck", "Stalled").await;
        assert_eq!(
            stuck["message"],
            "deployment \"stuck\" exceeded its progress deadline"
        );
        assert!(failing(&stuck).contains(&"image-tag".to_owned()));
        let groups = overview(&app, &dana, "payments-shop").await;
        assert_eq!(groups[0]["workloads"][0]["name"], "stuck", "trouble first");
        assert!(groups[0]["score"].as_u64().is_some_and(|s| s < 100));

        // Another team's namespace is not Dana's to see; an SRE sees it.
        assert!(overview(&app, &dana, "platform-tools").await.is_empty());
        let sam = sign_in(&app, "demo:sam").await;
        wait_for(&app, &sam, "platform-tools", "ops", "Complete").await;

        // A budget covering the pods passes that check.
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({
            "metadata": { "name": "web" },
            "spec": { "maxUnavailable": 1, "selector": { "matchLabels": { "app": "web" } } },
        }))
        .expect("pdb");
        Api::<PodDisruptionBudget>::namespaced(admin.clone(), "payments-shop")
            .create(&PostParams::default(), &pdb)
            .await
            .expect("create pdb");
        let deadline = Instant::now() + Duration::from_secs(15);
        while workload(&app, &dana, "payments-shop", "web")
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
        let web = wait_for(&app, &dana, "payments-shop", "web", "Complete").await;
        assert_eq!(web["images"], json!(["nginx:1.28"]));
        assert_eq!(web["revision"], "2");
        assert!(web["revision_since"].is_string(), "{web}");
        drop(events);
        app.stop().await;
    });
}
