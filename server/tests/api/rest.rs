//! The REST API (`/api/v1`) over real HTTP, Postgres and the real control plane: its OpenAPI
//! document against the router, Problem answers, token scopes, and the same operations and
//! audit events as the pages' server functions.

use crate::common;

use std::time::{Duration, Instant};

use app::api::{SubmitDraft, WorkloadDetail};
use common::TestApp;
use common::flows::*;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, PostParams};
use leptos::server_fn::ServerFn;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

/// `method path` with `token` and a JSON body; the status and the body as JSON (or text).
async fn call(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header(AUTHORIZATION, format!("Bearer {token}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let res = request.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// The prices and the version (`ETag`) they were read at.
async fn read_prices(app: &TestApp, token: &str) -> (String, Value) {
    let res = app
        .client
        .get(app.url("/api/v1/prices"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .expect("prices");
    let etag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("etag")
        .to_owned();
    (etag, res.json().await.expect("json"))
}

/// Every operation of the document is a route the router answers (no `no_route`, no 405), and
/// a path that is not in the document is answered with a Problem saying so.
#[test]
fn the_openapi_document_and_the_router_agree() {
    common::run(async {
        let (_pg, app) = app().await;
        let document: Value = app
            .get("/api/v1/openapi.json")
            .await
            .json()
            .await
            .expect("document");
        assert_eq!(document["openapi"], "3.1.0");
        let dana = api_token(&app, "demo:dana", &[]).await;
        let paths = document["paths"].as_object().cloned().unwrap_or_default();
        let mut operations = 0;
        for (path, item) in &paths {
            let concrete = path
                .replace("{kind}", "deployments")
                .replace("{namespace}", "rest-nowhere")
                .replace("{name}", "nothing")
                .replace("{id}", "00000000-0000-0000-0000-000000000000")
                .replace("{team}", "nobody");
            for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
                // The live streams stay open; that the route answers is enough.
                let method =
                    reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                let res = app
                    .client
                    .request(method.clone(), app.url(&concrete))
                    .header(AUTHORIZATION, format!("Bearer {dana}"))
                    .header(CONTENT_TYPE, "application/json")
                    .body("{}")
                    .timeout(Duration::from_secs(20))
                    .send()
                    .await
                    .expect("request");
                let status = res.status().as_u16();
                let media = res
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if media.starts_with("text/event-stream") {
                    operations += 1;
                    continue;
                }
                let body: Value = res.json().await.unwrap_or(Value::Null);
                assert_ne!(status, 405, "{method} {path}: {body}");
                assert_ne!(body["code"], "no_route", "{method} {path}");
                assert!(status < 500, "{method} {path}: {status} {body}");
                if status >= 400 {
                    assert_eq!(
                        media, "application/problem+json",
                        "{method} {path}: {status} {body}"
                    );
                    assert_eq!(body["status"], status, "{method} {path}: {body}");
                    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
                }
                operations += 1;
            }
        }
        assert!(operations >= 40, "{operations} operations");

        let (status, body) = call(
            &app,
            &dana,
            reqwest::Method::GET,
            "/api/v1/no-such-thing",
            None,
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(body["code"], "no_route", "{body}");
        assert_eq!(body["type"], "urn:berth:problem:no_route");
        let (status, body) = call(&app, &dana, reqwest::Method::PATCH, "/api/v1/me", None).await;
        assert_eq!(status, 405, "{body}");
        assert_eq!(body["code"], "method_not_allowed", "{body}");

        // The page a person reads lists the same operations.
        let page = app.get("/api/v1/docs").await.text().await.expect("page");
        assert!(page.contains("<code>POST /api/v1/namespace-requests</code>"));
        assert!(page.contains("<code>POST /api/v1/access/{id}/review</code>"));
        app.stop().await;
    });
}

/// A namespace requested over REST is stored, provisioned and audited exactly as one from the
/// onboarding page; bad input is a 422 Problem by field; a read-only token is refused.
#[test]
fn namespaces_over_rest_are_the_pages_operation() {
    common::run(async {
        let (_pg, app) = app().await;
        let narrow = api_token(&app, "demo:dana", &[]).await;
        let dana = api_token(&app, "demo:dana", &["namespaces"]).await;
        let d = draft("rest-ledger", "payments", "small");

        let (status, body) = call(
            &app,
            &narrow,
            reqwest::Method::POST,
            "/api/v1/namespace-requests",
            Some(json!(d)),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|m| m.contains("needs namespaces")),
            "{body}"
        );

        let mut bad = d.clone();
        bad.name = "Not_A_Name".to_owned();
        bad.tier = "<b>huge</b>".to_owned();
        let (status, body) = call(
            &app,
            &dana,
            reqwest::Method::POST,
            "/api/v1/namespace-requests",
            Some(json!(bad)),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["code"], "invalid");
        let fields: Vec<&str> = body["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(
            fields.contains(&"name") && fields.contains(&"tier"),
            "{body}"
        );
        let (status, body) = call(
            &app,
            &dana,
            reqwest::Method::POST,
            "/api/v1/namespace-requests",
            Some(json!({ "name": 5 })),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["code"], "bad_request");

        let (status, body) = call(
            &app,
            &dana,
            reqwest::Method::POST,
            "/api/v1/namespace-requests",
            Some(json!(d)),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["state"], "approved", "{body}");
        let (status, list) = call(
            &app,
            &dana,
            reqwest::Method::GET,
            "/api/v1/namespace-requests",
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            list.as_array()
                .into_iter()
                .flatten()
                .any(|r| r["id"] == body["id"] && r["name"] == "rest-ledger"),
            "{list}"
        );

        // The same operation through the page's server function.
        let cookie = sign_in(&app, "demo:dana").await;
        let page = call_json(
            &app,
            &cookie,
            SubmitDraft::PATH,
            json!({ "draft": draft("rest-ledger-page", "payments", "small") }),
        )
        .await;
        assert_eq!(page["Submitted"]["state"], "Approved", "{page}");
        wait_for_state(&app, &cookie, "rest-ledger", "Ready").await;

        // One audit event each, the same but for the name.
        let ada = sign_in(&app, "demo:ada").await;
        let trail: Value = serde_json::from_str(
            &get_text(
                &app,
                &ada,
                "/api/v1/audit?action=namespace.request&limit=50",
            )
            .await,
        )
        .expect("audit");
        let event = |name: &str| {
            trail["events"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["target_name"] == name)
                .cloned()
                .unwrap_or(Value::Null)
        };
        let (rest, page) = (event("rest-ledger"), event("rest-ledger-page"));
        for field in [
            "action",
            "actor_id",
            "target_kind",
            "target_namespace",
            "outcome",
        ] {
            assert!(!rest[field].is_null(), "{field}: {rest}");
            if field != "target_namespace" {
                assert_eq!(rest[field], page[field], "{field}: {rest} vs {page}");
            }
        }
        app.stop().await;
    });
}

/// A list pages on with the cursor its `Link` header names: every row once, newest first, the
/// last page without a link; a foreign cursor or a limit out of bounds is refused.
#[test]
fn namespace_requests_page_on_with_a_cursor() {
    common::run(async {
        let (_pg, app) = app().await;
        let dana = api_token(&app, "demo:dana", &["namespaces"]).await;
        let mut made = Vec::new();
        for i in 0..5 {
            let (status, body) = call(
                &app,
                &dana,
                reqwest::Method::POST,
                "/api/v1/namespace-requests",
                Some(json!(draft(&format!("rest-page-{i}"), "payments", "small"))),
            )
            .await;
            assert_eq!(status, 201, "{body}");
            made.push(body["id"].as_str().expect("id").to_owned());
        }
        let mut seen = Vec::new();
        let mut next = Some("/api/v1/namespace-requests?limit=2".to_owned());
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            assert!(pages <= 5, "the pages do not end");
            let res = app
                .client
                .get(app.url(&path))
                .header(AUTHORIZATION, format!("Bearer {dana}"))
                .send()
                .await
                .expect("page");
            assert_eq!(res.status(), 200);
            next = res
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.strip_prefix('<'))
                .and_then(|l| l.split_once(">; rel=\"next\""))
                .map(|(target, _)| target.to_owned());
            let rows: Value = res.json().await.expect("json");
            let rows = rows.as_array().expect("an array").clone();
            assert!(rows.len() <= 2, "{rows:?}");
            seen.extend(
                rows.iter()
                    .filter_map(|r| r["id"].as_str().map(str::to_owned)),
            );
        }
        made.reverse();
        assert_eq!(seen, made, "every request once, newest first");
        assert_eq!(pages, 3);

        for (path, words) in [
            ("/api/v1/namespace-requests?cursor=zz", "cursor"),
            ("/api/v1/namespace-requests?cursor=3132", "cursor"),
            ("/api/v1/namespace-requests?limit=0", "limit"),
            ("/api/v1/namespace-requests?limit=2147483648", "limit"),
            ("/api/v1/namespace-changes?limit=201", "limit"),
        ] {
            let (status, body) = call(&app, &dana, reqwest::Method::GET, path, None).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert!(
                body["detail"].as_str().is_some_and(|d| d.contains(words)),
                "{path}: {body}"
            );
        }
        app.stop().await;
    });
}

/// Access over REST end to end: a developer asks, the same developer cannot approve, an SRE
/// approves, the grant's kubeconfig works in the cluster, an early revoke ends it.
#[test]
fn access_over_rest_from_request_to_revoke() {
    common::run(async {
        let (_pg, app) = app().await;
        let client = admin_client(&app).await;
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": { "name": "rest-search", "labels": { "berth.dev/team": "search" } }
        }))
        .expect("namespace");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        let dana = api_token(&app, "demo:dana", &["access"]).await;
        let sam = api_token(&app, "demo:sam", &["access"]).await;

        let (status, asked) = call(
            &app,
            &dana,
            reqwest::Method::POST,
            "/api/v1/access",
            Some(json!({
                "namespaces": "rest-search", "role": "view", "duration": "30m",
                "reason": "incident 4711", "ticket": "OPS-4711",
            })),
        )
        .await;
        assert_eq!(status, 201, "{asked}");
        let id = asked["id"].as_str().expect("id").to_owned();

        let approve = json!({ "decision": "approve", "reason": "checked the ticket" });
        let (status, body) = call(
            &app,
            &dana,
            reqwest::Method::POST,
            &format!("/api/v1/access/{id}/review"),
            Some(approve.clone()),
        )
        .await;
        assert_eq!(status, 403, "never one's own: {body}");
        let (status, body) = call(
            &app,
            &sam,
            reqwest::Method::POST,
            &format!("/api/v1/access/{id}/review"),
            Some(json!({ "decision": "maybe" })),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = call(
            &app,
            &sam,
            reqwest::Method::POST,
            &format!("/api/v1/access/{id}/review"),
            Some(approve),
        )
        .await;
        assert_eq!(status, 200, "{body}");

        // Active once the grant is applied.
        let deadline = Instant::now() + common::PATIENCE;
        loop {
            let (_, detail) = call(
                &app,
                &dana,
                reqwest::Method::GET,
                &format!("/api/v1/access/{id}"),
                None,
            )
            .await;
            if detail["request"]["state"] == "Active" {
                break;
            }
            assert!(Instant::now() < deadline, "{detail}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let res = app
            .client
            .post(app.url(&format!("/api/v1/access/{id}/kubeconfig")))
            .header(AUTHORIZATION, format!("Bearer {dana}"))
            .send()
            .await
            .expect("kubeconfig");
        assert_eq!(res.status(), 200);
        let kubeconfig = res.text().await.expect("text");
        let granted = common::cluster::client_for(&kubeconfig).await;
        let pods = Api::<Pod>::namespaced(granted.clone(), "rest-search");
        // Active only once the API server's authorizer honours the bindings: works at once.
        let listed = pods.list(&Default::default()).await;
        assert!(listed.is_ok(), "refused right after Active: {listed:?}");

        let (status, body) = call(
            &app,
            &dana,
            reqwest::Method::POST,
            &format!("/api/v1/access/{id}/revoke"),
            Some(json!({ "comment": "done" })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let deadline = Instant::now() + common::PATIENCE;
        while pods.list(&Default::default()).await.is_ok() {
            assert!(Instant::now() < deadline, "still allowed after revoke");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        app.stop().await;
    });
}

/// Reads answer what the pages show, and admin writes race safely with `If-Match`.
#[test]
fn reads_match_the_pages_and_prices_need_the_current_version() {
    common::run(async {
        let (_pg, app) = app().await;
        let ada = api_token(&app, "demo:ada", &["admin"]).await;
        for path in [
            "/api/v1/onboarding",
            "/api/v1/namespaces",
            "/api/v1/capacity",
            "/api/v1/rollouts?page=1",
            "/api/v1/cost?window=7d&by=team",
            "/api/v1/budgets",
            "/api/v1/idle",
            "/api/v1/access",
            "/api/v1/namespace-changes",
        ] {
            let (status, body) = call(&app, &ada, reqwest::Method::GET, path, None).await;
            assert_eq!(status, 200, "{path}: {body}");
        }
        let (status, body) = call(
            &app,
            &ada,
            reqwest::Method::GET,
            "/api/v1/cost?window=fortnight",
            None,
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("unknown window")),
            "{body}"
        );
        let (status, body) = call(
            &app,
            &ada,
            reqwest::Method::GET,
            "/api/v1/workloads/pods/x/y",
            None,
        )
        .await;
        assert_eq!(status, 404, "{body}");
        let (status, body) = call(
            &app,
            &ada,
            reqwest::Method::GET,
            "/api/v1/rollouts?page=99999999999999999999",
            None,
        )
        .await;
        assert_eq!(status, 400, "{body}");
        let _ = WorkloadDetail::PATH;
        // Finding ids hold slashes: the action names its finding in the body, not the path.
        let (status, body) = call(
            &app,
            &ada,
            reqwest::Method::POST,
            "/api/v1/idle/actions",
            Some(json!({ "id": "abandoned/rest-nowhere/Deployment/ghost" })),
        )
        .await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["code"], "not_found", "{body}");

        let (etag, mut prices) = read_prices(&app, &ada).await;
        prices["storage_gib_month"] = json!(0.5);
        let put = |tag: String, body: Value| {
            app.client
                .put(app.url("/api/v1/prices"))
                .header(AUTHORIZATION, format!("Bearer {ada}"))
                .header("if-match", tag)
                .json(&body)
                .send()
        };
        let res = put(etag.clone(), prices.clone()).await.expect("put");
        assert_eq!(res.status(), 200);
        // The same version again is now stale: someone (us) changed the prices since.
        prices["storage_gib_month"] = json!(0.7);
        let res = put(etag, prices.clone()).await.expect("put");
        assert_eq!(res.status(), 412);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["code"], "precondition_failed");

        // Eight writers holding the same version at once: the version is checked inside the
        // transaction that writes, so exactly one wins and the others are told it is stale.
        let (tag, _) = read_prices(&app, &ada).await;
        let writers = (0..8).map(|i| {
            let mut mine = prices.clone();
            mine["storage_gib_month"] = json!(1.0 + f64::from(i));
            put(tag.clone(), mine)
        });
        let answers = futures::future::join_all(writers).await;
        let statuses: Vec<u16> = answers
            .iter()
            .map(|r| r.as_ref().expect("put").status().as_u16())
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 412).count(),
            7,
            "{statuses:?}"
        );
        app.stop().await;
    });
}
