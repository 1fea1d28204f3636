//! What a hostile user sends, over real HTTP against the real router, Postgres and the real control plane:
//! bad names, over-long and unicode fields, markup and control characters, oversized bodies,
//! forged origins, foreign hosts, other teams' objects, absurd numbers. Every one must be
//! refused with a clear answer (never accepted, never a server error), and nothing may change:
//! no namespace request, access request or token is stored. The tally is printed.

use crate::common;

use app::api::{ActOnWorkload, RequestAccess, SubmitDraft};
use common::flows::*;
use common::{TestApp, TestPostgres, test_config};
use leptos::server_fn::ServerFn;
use reqwest::header::{CONTENT_TYPE, COOKIE, HOST, ORIGIN};
use serde_json::{Value, json};

/// What came back for one hostile request.
struct Outcome {
    case: String,
    status: u16,
    /// The request did what it asked (a 2xx with an `Ok` or `Submitted` answer).
    accepted: bool,
}

#[derive(Default)]
struct Tally(Vec<Outcome>);

impl Tally {
    async fn send(&mut self, case: String, request: reqwest::RequestBuilder) {
        let res = match request.send().await {
            Ok(res) => res,
            // Over the body limit the server answers 413 and closes without reading the rest;
            // a client still writing sees the connection closed. Refused, and not an error.
            Err(e) if e.is_request() && format!("{e:?}").contains("BodyWrite") => {
                eprintln!("{case}: the server closed the connection while the body was sent");
                self.0.push(Outcome {
                    case,
                    status: 413,
                    accepted: false,
                });
                return;
            }
            Err(e) => panic!("{case}: {e:?}"),
        };
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        // A refusal is a 4xx Failure (a Problem from REST); the onboarding form's field errors
        // are a 200 `{"Invalid": …}` answer the page shows beside the fields.
        let accepted = (200..300).contains(&status) && body.get("Invalid").is_none();
        if status >= 500 || accepted {
            eprintln!(
                "{status} {case}: {}",
                text.chars().take(300).collect::<String>()
            );
        }
        self.0.push(Outcome {
            case,
            status,
            accepted,
        });
    }
}

const HUGE: usize = 3 * 1024 * 1024;

#[test]
fn hostile_input_is_refused_clearly_and_changes_nothing() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_hostile").await;
        let app = TestApp::spawn(&url, test_config()).await;
        // A namespace of Dana's team with a Deployment, so the bounds are what refuses.
        let admin = admin_client(&app).await;
        let ns: k8s_openapi::api::core::v1::Namespace = serde_json::from_value(json!({
            "metadata": { "name": "payments-x", "labels": { "berth.dev/team": "payments" } }
        }))
        .expect("namespace");
        kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(admin.clone())
            .create(&Default::default(), &ns)
            .await
            .expect("namespace");
        let web: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
            "metadata": { "name": "web" },
            "spec": {
                "replicas": 1,
                "selector": { "matchLabels": { "app": "web" } },
                "template": {
                    "metadata": { "labels": { "app": "web" } },
                    "spec": { "containers": [{ "name": "app", "image": "nginx:1.27" }] },
                },
            },
        }))
        .expect("deployment");
        kube::Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(admin, "payments-x")
            .create(&Default::default(), &web)
            .await
            .expect("deployment");
        let dana = sign_in(&app, "demo:dana").await;
        let mut tally = Tally::default();
        let post = |path: &str, cookie: &str| {
            app.client
                .post(app.url(path))
                .header(ORIGIN, &app.base)
                .header(COOKIE, cookie)
        };

        // Namespace names and fields.
        let long = "a".repeat(64);
        let names = [
            "",
            "UPPER",
            "under_score",
            "-lead",
            "trail-",
            long.as_str(),
            "kube-system",
            "default",
            "monitoring",
            "berth-admin",
            "päyments",
            "pay\u{200b}ments",
            "<script>",
            "a/b",
            "a\u{0}b",
            "payments-prod\n",
        ];
        for name in names {
            let d = draft(name, "payments", "small");
            tally
                .send(
                    format!("namespace name {name:?}"),
                    post(SubmitDraft::PATH, &dana).json(&json!({ "draft": d })),
                )
                .await;
        }
        let mut fields = Vec::new();
        for (field, value) in [
            ("purpose", "x".repeat(10_000)),
            ("purpose", "<img src=x onerror=alert(1)>".to_owned()),
            ("contact", "a@b.c\u{7}".to_owned()),
            ("cost_centre", "\u{202e}evil".to_owned()),
            ("team", "search".to_owned()),
            ("team", "nonexistent".to_owned()),
            ("tier", "platinum".to_owned()),
            ("lifetime", "forever".to_owned()),
            ("lifetime", "2147483648d".to_owned()),
        ] {
            // A name of its own each: one accepted draft must not hide the next as "taken".
            let mut d = serde_json::to_value(draft(
                &format!("payments-hostile-{}", fields.len()),
                "payments",
                "small",
            ))
            .expect("draft");
            d[field] = json!(value);
            let shown: String = value.chars().take(40).collect();
            fields.push((format!("namespace {field} {shown:?}"), d));
        }
        for (case, d) in fields {
            tally
                .send(
                    case,
                    post(SubmitDraft::PATH, &dana).json(&json!({ "draft": d })),
                )
                .await;
        }
        // Not JSON, the wrong shape, and a body over the limit.
        tally
            .send(
                "namespace draft not JSON".to_owned(),
                post(SubmitDraft::PATH, &dana)
                    .header(CONTENT_TYPE, "application/json")
                    .body("{\"draft\": "),
            )
            .await;
        tally
            .send(
                "namespace draft of the wrong shape".to_owned(),
                post(SubmitDraft::PATH, &dana).json(&json!({ "draft": [1, 2, 3] })),
            )
            .await;
        tally
            .send(
                "a 3 MiB body".to_owned(),
                post(SubmitDraft::PATH, &dana)
                    .header(CONTENT_TYPE, "application/json")
                    .body(format!("{{\"draft\": \"{}\"}}", "x".repeat(HUGE))),
            )
            .await;

        // Access requests.
        let access = |namespaces: &str, role: &str, duration: &str, reason: &str, glass: bool| {
            json!({ "draft": {
                "namespaces": namespaces, "cluster": false, "role": role, "duration": duration,
                "reason": reason, "ticket": "OPS-1", "break_glass": glass,
            }, "extends": null })
        };
        for (case, body) in [
            (
                "access to kube-system",
                access("kube-system", "view", "5m", "look", false),
            ),
            (
                "break-glass admin as a developer",
                access("payments-x", "admin", "5m", "now", true),
            ),
            (
                "access role cluster-admin in a namespace",
                access("payments-x", "cluster-admin", "5m", "x", false),
            ),
            (
                "access for 2^31 minutes",
                access("payments-x", "view", "2147483648", "x", false),
            ),
            (
                "access for 10^30 hours",
                access(
                    "payments-x",
                    "view",
                    "1000000000000000000000000000000h",
                    "x",
                    false,
                ),
            ),
            (
                "access reason with markup",
                access("payments-x", "view", "5m", "<b>x</b>", false),
            ),
            (
                "access reason with NUL",
                access("payments-x", "view", "5m", "a\u{0}b", false),
            ),
            (
                "access reason 100k long",
                access("payments-x", "view", "5m", &"r".repeat(100_000), false),
            ),
            (
                "access to 500 namespaces",
                access(&vec!["ns"; 500].join(","), "view", "5m", "x", false),
            ),
            (
                "access to a bad namespace name",
                access("Pay_ments", "view", "5m", "x", false),
            ),
            (
                "access extending someone else's grant",
                json!({ "draft": access("payments-x", "view", "5m", "x", false)["draft"], "extends": "ar-000000" }),
            ),
        ] {
            tally
                .send(
                    case.to_owned(),
                    post(RequestAccess::PATH, &dana).json(&body),
                )
                .await;
        }

        // Workloads: another team's, absurd replica counts, made-up names.
        let act = |ns: &str, name: &str, action: Value| json!({ "kind": "Deployment", "namespace": ns, "name": name, "action": action });
        for (case, body) in [
            (
                "scale another team's Deployment",
                act("search-prod", "api", json!({ "Scale": { "replicas": 1 } })),
            ),
            (
                "scale to 2^31-1",
                act(
                    "payments-x",
                    "web",
                    json!({ "Scale": { "replicas": 2147483647 } }),
                ),
            ),
            (
                "scale to -1",
                act("payments-x", "web", json!({ "Scale": { "replicas": -1 } })),
            ),
            (
                "roll back to revision -5",
                act(
                    "payments-x",
                    "web",
                    json!({ "Rollback": { "revision": -5 } }),
                ),
            ),
            (
                "act on a namespace named ../..",
                act("../..", "web", json!("Restart")),
            ),
            (
                "act on a Deployment named <script>",
                act("payments-x", "<script>", json!("Restart")),
            ),
        ] {
            tally
                .send(
                    case.to_owned(),
                    post(ActOnWorkload::PATH, &dana).json(&body),
                )
                .await;
        }

        // API tokens.
        for (case, body) in [
            ("token with an empty name", json!({ "name": "" })),
            (
                "token for 10^6 days",
                json!({ "name": "ci", "expires_in_days": 1_000_000 }),
            ),
            (
                "token with a markup name",
                json!({ "name": "<script>alert(1)</script>" }),
            ),
            ("token with a NUL name", json!({ "name": "a\u{0}b" })),
        ] {
            tally
                .send(case.to_owned(), post("/api/v1/tokens", &dana).json(&body))
                .await;
        }

        // Forged origins, foreign hosts, no session.
        let good =
            serde_json::to_value(draft("payments-forged", "payments", "small")).expect("draft");
        tally
            .send(
                "a form posted from another site".to_owned(),
                app.client
                    .post(app.url(SubmitDraft::PATH))
                    .header(ORIGIN, "https://evil.example")
                    .header(COOKIE, &dana)
                    .json(&json!({ "draft": good })),
            )
            .await;
        tally
            .send(
                "a foreign Host with a matching Origin (DNS rebinding)".to_owned(),
                app.client
                    .post(app.url(SubmitDraft::PATH))
                    .header(HOST, "evil.example")
                    .header(ORIGIN, "http://evil.example")
                    .header(COOKIE, &dana)
                    .json(&json!({ "draft": good })),
            )
            .await;
        tally
            .send(
                "no session".to_owned(),
                app.client
                    .post(app.url(SubmitDraft::PATH))
                    .header(ORIGIN, &app.base)
                    .json(&json!({ "draft": good })),
            )
            .await;
        tally
            .send(
                "a forged session cookie".to_owned(),
                post(SubmitDraft::PATH, "berth_session=forged").json(&json!({ "draft": good })),
            )
            .await;

        let accepted: Vec<&Outcome> = tally.0.iter().filter(|o| o.accepted).collect();
        let errors: Vec<&Outcome> = tally.0.iter().filter(|o| o.status >= 500).collect();
        eprintln!(
            "hostile inputs: {} sent, {} accepted, {} server errors",
            tally.0.len(),
            accepted.len(),
            errors.len()
        );
        for o in &tally.0 {
            eprintln!("  {:>3} {}", o.status, o.case);
        }
        assert!(
            accepted.is_empty(),
            "accepted: {:?}",
            accepted.iter().map(|o| &o.case).collect::<Vec<_>>()
        );
        assert!(
            errors.is_empty(),
            "server errors: {:?}",
            errors
                .iter()
                .map(|o| format!("{} {}", o.status, o.case))
                .collect::<Vec<_>>()
        );

        // Nothing changed.
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        for table in ["namespace_requests", "access_requests", "api_tokens"] {
            let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .expect(table);
            assert_eq!(rows, 0, "{table} gained rows");
        }
        pool.close().await;
        app.stop().await;
    });
}
