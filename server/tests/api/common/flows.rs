//! The onboarding flow as the browser drives it: sign in, call server functions, wait for the
//! provisioner. Shared by the onboarding and namespace-change tests.

use std::time::{Duration, Instant};

use app::api::{ListNamespaceRequests, SubmitDraft};
use domain::tenancy::NamespaceDraft;
use leptos::server_fn::ServerFn;
use reqwest::header::{COOKIE, ORIGIN};
use serde_json::{Value, json};

use super::{TestApp, TestPostgres, test_config};

pub async fn app() -> (TestPostgres, TestApp) {
    let pg = TestPostgres::start();
    let url = pg.database("berth_test").await;
    let app = TestApp::spawn(&url, test_config()).await;
    (pg, app)
}

pub async fn sign_in(app: &TestApp, persona: &str) -> String {
    let res = app.demo_sign_in(persona).await;
    assert_eq!(res.status(), 303);
    let cookie = super::session_cookie(&res);
    assert!(!cookie.is_empty(), "no session cookie");
    cookie
}

pub fn draft(name: &str, team: &str, tier: &str) -> NamespaceDraft {
    NamespaceDraft {
        name: name.to_owned(),
        team: team.to_owned(),
        purpose: "Try the new ledger".to_owned(),
        contact: "dana@example.com".to_owned(),
        cost_centre: "CC-1042".to_owned(),
        tier: tier.to_owned(),
        lifetime: "7d".to_owned(),
        network_policy: true,
        cluster: String::new(),
    }
}

/// A server function's answer: its value, or — refused or failed — `{"Err": message,
/// "failure": the Failure}` so a test reads what the page would show.
async fn outcome(path: &str, res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.expect("json answer");
    if status == 200 {
        return body;
    }
    assert!(
        body["kind"].is_string() && body["message"].is_string(),
        "{path}: {status} without a Failure: {body}"
    );
    json!({ "Err": body["message"].clone(), "failure": body })
}

/// Calls a JSON-input server function as the browser does.
pub async fn call_json(app: &TestApp, cookie: &str, path: &str, body: Value) -> Value {
    let res = app
        .client
        .post(app.url(path))
        .header(ORIGIN, &app.base)
        .header(COOKIE, cookie)
        .json(&body)
        .send()
        .await
        .expect("server function");
    outcome(path, res).await
}

pub async fn call_form(app: &TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> Value {
    let res = app
        .client
        .post(app.url(path))
        .header(ORIGIN, &app.base)
        .header(COOKIE, cookie)
        .form(form)
        .send()
        .await
        .expect("server function");
    outcome(path, res).await
}

/// The body of `GET path` as the signed-in `cookie` sees it (a page, a CSV, a JSON list).
pub async fn get_text(app: &TestApp, cookie: &str, path: &str) -> String {
    app.client
        .get(app.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body")
}

pub async fn submit(app: &TestApp, cookie: &str, d: &NamespaceDraft) -> Value {
    call_json(app, cookie, SubmitDraft::PATH, json!({ "draft": d })).await
}

pub async fn requests(app: &TestApp, cookie: &str) -> Vec<Value> {
    let list = call_form(app, cookie, ListNamespaceRequests::PATH, &[]).await;
    list.as_array().cloned().unwrap_or_default()
}

pub async fn state_of(app: &TestApp, cookie: &str, name: &str) -> Option<String> {
    requests(app, cookie)
        .await
        .into_iter()
        .find(|r| r["name"] == name)
        .and_then(|r| r["state"].as_str().map(str::to_owned))
}

/// Polls the requests table until `name` reaches `want` (the provisioner runs in the
/// background, as in production).
pub async fn wait_for_state(app: &TestApp, cookie: &str, name: &str, want: &str) {
    let deadline = Instant::now() + super::PATIENCE;
    loop {
        let state = state_of(app, cookie, name).await;
        if state.as_deref() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} stayed {state:?}, never {want}: {:?}",
            requests(app, cookie).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The kubeconfig of `namespace` as its download button gets it (200 asserted).
pub async fn namespace_kubeconfig(app: &TestApp, cookie: &str, namespace: &str) -> String {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/namespaces/{namespace}/kubeconfig")))
        .header(ORIGIN, &app.base)
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("kubeconfig");
    assert_eq!(res.status(), 200);
    res.text().await.expect("kubeconfig text")
}

pub async fn admin_client(app: &TestApp) -> kube::Client {
    app.cluster().admin_client().await
}

/// Waits until at least `count` pods (in `namespace`, or anywhere) are bound to a node.
pub async fn wait_scheduled(client: &kube::Client, namespace: Option<&str>, count: usize) {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, ListParams};
    let api: Api<Pod> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let deadline = Instant::now() + super::PATIENCE;
    loop {
        let pods = api.list(&ListParams::default()).await.expect("pods");
        let scheduled = pods
            .items
            .iter()
            .filter(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_some()))
            .count();
        if scheduled >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{count} pods never scheduled ({scheduled} were)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An API token of `persona`'s with `scopes` besides read, made from a signed-in session.
pub async fn api_token(app: &TestApp, persona: &str, scopes: &[&str]) -> String {
    let cookie = sign_in(app, persona).await;
    let res = app
        .client
        .post(app.url("/api/v1/tokens"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &app.base)
        .json(&json!({ "name": "test", "expires_in_days": 1, "scopes": scopes }))
        .send()
        .await
        .expect("make token");
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.expect("json");
    body["token"].as_str().expect("token").to_owned()
}
