//! Sign-in, sessions, the cross-site guard and the audit API, over real HTTP.

use crate::common;

use std::time::Duration;

use common::flows::get_text;
use common::{TestApp, TestPostgres, test_config};
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::Value;

async fn app() -> (TestPostgres, TestApp) {
    let pg = TestPostgres::start();
    let url = pg.database("berth_test").await;
    let app = TestApp::spawn(&url, test_config()).await;
    (pg, app)
}

/// Signs in as a demo persona; returns the `Cookie` header value.
async fn sign_in(app: &TestApp, persona: &str) -> String {
    let res = app.demo_sign_in(persona).await;
    assert_eq!(res.status(), 303, "sign-in redirects");
    assert_eq!(
        res.headers().get(LOCATION).and_then(|v| v.to_str().ok()),
        Some("/")
    );
    let cookie = res
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing in {cookie}"
        );
    }
    assert!(!cookie.contains("Secure"), "the demo serves plain http");
    common::session_cookie(&res)
}

async fn me(app: &TestApp, cookie: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/me"))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("me")
}

async fn audit(app: &TestApp, cookie: &str, query: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/v1/audit?{query}")))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("audit")
}

/// `POST /api/v1/tokens` from the browser session `cookie`.
async fn post_token(app: &TestApp, cookie: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/tokens"))
        .header(COOKIE, cookie)
        .header(ORIGIN, &app.base)
        .json(&body)
        .send()
        .await
        .expect("create token")
}

/// Failed anonymous attempts matching `query` summed over their summary lines, once they add
/// up to `want` (the window closes within a second or two in tests).
async fn failed_attempts(app: &TestApp, cookie: &str, query: &str, want: u64) -> u64 {
    let deadline = std::time::Instant::now() + common::PATIENCE;
    loop {
        let page: Value = audit(app, cookie, query).await.json().await.expect("json");
        let sum: u64 = page["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["after"]["attempts"].as_u64())
            .sum();
        if sum >= want || std::time::Instant::now() > deadline {
            return sum;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn demo_sign_in_sign_out_and_replay() {
    common::run(async {
        let (_pg, app) = app().await;
        assert_eq!(app.get("/api/v1/me").await.status(), 401);
        let cookie = sign_in(&app, "demo:dana").await;
        let body: Value = me(&app, &cookie).await.json().await.expect("json");
        assert_eq!(body["display_name"], "Dana Developer");
        assert_eq!(body["roles"], serde_json::json!(["developer"]));
        assert_eq!(body["teams"], serde_json::json!(["payments", "checkout"]));

        let res = app
            .client
            .post(app.url("/auth/signout"))
            .header(COOKIE, &cookie)
            .header(ORIGIN, &app.base)
            .send()
            .await
            .expect("sign out");
        assert_eq!(res.status(), 303);
        assert!(
            res.headers()
                .get(SET_COOKIE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .contains("Max-Age=0")
        );
        // The old cookie is dead on the server, not just forgotten by the browser.
        assert_eq!(me(&app, &cookie).await.status(), 401);

        let sre = sign_in(&app, "demo:sam").await;
        let page: Value = audit(&app, &sre, "actor=demo:dana")
            .await
            .json()
            .await
            .expect("json");
        let actions: Vec<&str> = page["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert_eq!(actions, ["session.sign_out", "session.sign_in"]);
        app.stop().await;
    });
}

#[test]
fn an_unknown_persona_is_refused_and_audited() {
    common::run(async {
        let (_pg, app) = app().await;
        let res = app
            .client
            .post(app.url("/auth/demo"))
            .header(ORIGIN, &app.base)
            .form(&[("persona", "demo:mallory")])
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 400);
        assert!(res.headers().get(SET_COOKIE).is_none());
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["code"], "bad_request");
        let sre = sign_in(&app, "demo:sam").await;
        assert_eq!(
            failed_attempts(&app, &sre, "action=session.sign_in&outcome=failure", 1).await,
            1
        );
        app.stop().await;
    });
}

#[test]
fn forged_cross_site_posts_are_refused_and_change_nothing() {
    common::run(async {
        let (_pg, app) = app().await;
        let cookie = sign_in(&app, "demo:mike").await;
        for origin in [Some("http://evil.example"), None] {
            let mut req = app
                .client
                .post(app.url("/auth/signout"))
                .header(COOKIE, &cookie);
            if let Some(o) = origin {
                req = req.header(ORIGIN, o);
            }
            let res = req.send().await.expect("post");
            assert_eq!(res.status(), 403, "origin {origin:?}");
            let body: Value = res.json().await.expect("json");
            assert_eq!(body["code"], "cross_site");
        }
        assert_eq!(
            me(&app, &cookie).await.status(),
            200,
            "the session survived the forged sign-out"
        );
        let sre = sign_in(&app, "demo:sam").await;
        let page: Value = audit(&app, &sre, "outcome=denied")
            .await
            .json()
            .await
            .expect("json");
        let events = page["events"].as_array().cloned().unwrap_or_default();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["action"], "request.cross_site_refused");
        assert_eq!(events[0]["actor_id"], "demo:mike");
        app.stop().await;
    });
}

#[test]
fn idle_sessions_expire() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let mut config = test_config();
        config.auth.session_idle = Duration::from_secs(1);
        let app = TestApp::spawn(&url, config).await;
        let cookie = sign_in(&app, "demo:dana").await;
        assert_eq!(me(&app, &cookie).await.status(), 200);
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        let res = me(&app, &cookie).await;
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["detail"], "sign in first");
        app.stop().await;
    });
}

#[test]
fn the_audit_api_follows_the_policy_and_exports() {
    common::run(async {
        let (_pg, app) = app().await;
        let dana = sign_in(&app, "demo:dana").await;
        let res = audit(&app, &dana, "").await;
        assert_eq!(res.status(), 403, "developers do not read the audit trail");
        let body: Value = res.json().await.expect("json");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("SREs and admins"),
            "{body}"
        );

        let ada = sign_in(&app, "demo:ada").await;
        let csv = audit(&app, &ada, "format=csv").await;
        assert_eq!(csv.status(), 200);
        assert!(
            csv.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .starts_with("text/csv")
        );
        let text = csv.text().await.expect("csv");
        let mut lines = text.lines();
        assert!(
            lines
                .next()
                .unwrap_or_default()
                .starts_with("seq,time,actor")
        );
        assert_eq!(lines.count(), 2, "dana's and ada's sign-ins");
        // A formula smuggled in as a request id (any client sets its own) is exported as
        // text, not as a live spreadsheet cell (OWASP's CSV rule).
        let formula = "=HYPERLINK(\"http://x/\",\"y\")";
        let signed_in = app
            .client
            .post(app.url("/auth/demo"))
            .header(ORIGIN, &app.base)
            .header("x-request-id", formula)
            .form(&[("persona", "demo:mike")])
            .send()
            .await
            .expect("sign-in");
        assert_eq!(signed_in.status(), 303);
        let text = audit(&app, &ada, "format=csv")
            .await
            .text()
            .await
            .expect("csv");
        assert!(text.contains("'=HYPERLINK"), "{text}");
        let live = text.lines().flat_map(|l| l.split(',')).find(|cell| {
            cell.trim_start_matches('"')
                .starts_with(['=', '+', '-', '@', '\t', '\r'])
        });
        assert_eq!(live, None, "{text}");
        let jsonl = audit(&app, &ada, "format=jsonl&actor=demo:ada")
            .await
            .text()
            .await
            .expect("jsonl");
        let first: Value =
            serde_json::from_str(jsonl.lines().next().unwrap_or_default()).expect("a JSON line");
        assert_eq!(first["action"], "session.sign_in");
        assert_eq!(audit(&app, &ada, "since=yesterday").await.status(), 400);

        // A manager sees the events of their teams' namespaces only.
        let mike = sign_in(&app, "demo:mike").await;
        let res = audit(&app, &mike, "namespace=search-prod").await;
        assert_eq!(res.status(), 403);
        let page: Value = audit(&app, &mike, "").await.json().await.expect("json");
        assert_eq!(
            page["events"].as_array().map(Vec::len),
            Some(0),
            "no payments namespaces exist in this cluster"
        );
        app.stop().await;
    });
}

#[test]
fn serve_mode_has_no_demo_sign_in() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let mut config = test_config();
        config.demo = false;
        let app = TestApp::spawn(&url, config).await;
        let res = app
            .client
            .post(app.url("/auth/demo"))
            .header(ORIGIN, &app.base)
            .form(&[("persona", "demo:ada")])
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 404);
        assert!(res.headers().get(SET_COOKIE).is_none());
        app.stop().await;
    });
}

#[test]
fn api_tokens_are_shown_once_work_as_bearer_and_die_when_revoked() {
    common::run(async {
        let (_pg, app) = app().await;
        let cookie = sign_in(&app, "demo:sam").await;
        let create = |body: Value| {
            app.client
                .post(app.url("/api/v1/tokens"))
                .header(COOKIE, &cookie)
                .header(ORIGIN, &app.base)
                .json(&body)
                .send()
        };
        for (bad, why) in [
            (serde_json::json!({"name": ""}), "name"),
            (
                serde_json::json!({"name": "ci", "expires_in_days": 999}),
                "expires_in_days",
            ),
            (serde_json::json!({"nom": "ci"}), "JSON"),
        ] {
            let res = create(bad).await.expect("post");
            assert_eq!(res.status(), 400);
            let body: Value = res.json().await.expect("json");
            assert!(
                body["detail"].as_str().unwrap_or_default().contains(why),
                "{body}"
            );
        }
        let res = create(serde_json::json!({"name": "ci pipeline", "expires_in_days": 30}))
            .await
            .expect("post");
        assert_eq!(res.status(), 201);
        let made: Value = res.json().await.expect("json");
        let token = made["token"].as_str().unwrap_or_default().to_owned();
        let id = made["id"].as_str().unwrap_or_default().to_owned();
        assert!(token.starts_with("berth_") && token.len() > 40, "{token}");

        // The listing never shows the token again.
        let list = get_text(&app, &cookie, "/api/v1/tokens").await;
        assert!(
            list.contains("ci pipeline") && !list.contains(&token),
            "{list}"
        );

        // A script with the token acts as its owner, without cookies or an Origin.
        let bearer = |t: &str| app.client.get(app.url("/api/v1/me")).bearer_auth(t).send();
        let me: Value = bearer(&token)
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        assert_eq!(me["id"], "demo:sam");
        let audit = app
            .client
            .get(app.url("/api/v1/audit?action=token.create"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("audit");
        assert_eq!(audit.status(), 200);

        let res = app
            .client
            .delete(app.url(&format!("/api/v1/tokens/{id}")))
            .header(COOKIE, &cookie)
            .header(ORIGIN, &app.base)
            .send()
            .await
            .expect("revoke");
        assert_eq!(res.status(), 204);
        let res = bearer(&token).await.expect("me");
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["code"], "bad_token");
        assert_eq!(bearer("berth_made_up").await.expect("me").status(), 401);

        // Creation, revocation and the refused tokens are all on the record (the refusals as
        // the window's summary, within a second or two).
        let deadline = std::time::Instant::now() + common::PATIENCE;
        let actions = loop {
            let res = app
                .client
                .get(app.url("/api/v1/audit?limit=10"))
                .header(COOKIE, &cookie)
                .send()
                .await
                .expect("audit");
            let status = res.status();
            let text = res.text().await.expect("body");
            let page: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {e}: {text}"));
            let actions: Vec<(String, String)> = page["events"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    (
                        e["action"].as_str().unwrap_or_default().to_owned(),
                        e["outcome"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let summarised = actions
                .iter()
                .any(|(a, o)| a == "token.authenticate" && o == "failure");
            if summarised || std::time::Instant::now() > deadline {
                break actions;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        for expected in [
            ("token.create", "success"),
            ("token.revoke", "success"),
            ("token.authenticate", "failure"),
        ] {
            assert!(
                actions
                    .iter()
                    .any(|(a, o)| a == expected.0 && o == expected.1),
                "{expected:?} not in {actions:?}"
            );
        }
        app.stop().await;
    });
}

#[test]
fn bad_audit_queries_get_clear_messages() {
    common::run(async {
        let (_pg, app) = app().await;
        let ada = sign_in(&app, "demo:ada").await;
        for (query, needle) in [
            ("limit=ten", "limit"),
            ("outcome=maybe", "outcome"),
            ("colour=red", "colour"),
            ("format=xml", "format"),
        ] {
            let res = audit(&app, &ada, query).await;
            assert_eq!(res.status(), 400, "{query}");
            let body: Value = res.json().await.expect("json");
            assert!(
                body["detail"].as_str().unwrap_or_default().contains(needle),
                "{query}: {body}"
            );
        }
        app.stop().await;
    });
}

/// A provider that answers discovery (no keys) and refuses every code: enough for a sign-in to
/// start, and for a callback to get as far as the code exchange.
async fn refusing_provider() -> String {
    use axum::routing::{get, post};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let issuer = base.clone();
    let router = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || {
                let issuer = issuer.clone();
                async move {
                    axum::Json(serde_json::json!({
                        "issuer": issuer,
                        "authorization_endpoint": format!("{issuer}/authorize"),
                        "token_endpoint": format!("{issuer}/token"),
                        "jwks_uri": format!("{issuer}/jwks"),
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }))
                }
            }),
        )
        .route(
            "/jwks",
            get(|| async { axum::Json(serde_json::json!({"keys": []})) }),
        )
        .route(
            "/token",
            post(|| async {
                (
                    http::StatusCode::BAD_REQUEST,
                    axum::Json(serde_json::json!({"error": "invalid_grant"})),
                )
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

#[test]
fn oidc_callbacks_are_bound_to_the_browser_and_forged_or_replayed_states_refused() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let provider = refusing_provider().await;
        let mut config = test_config();
        config.oidc = Some(server::config::OidcConfig {
            issuer_url: provider.clone(),
            client_id: "berth".to_owned(),
            client_secret: None,
            redirect_url: "http://127.0.0.1:9/auth/oidc/callback".to_owned(),
            scopes: vec!["email".to_owned(), "groups".to_owned()],
            roles: Default::default(),
            teams: Default::default(),
            admins: Vec::new(),
            cluster_trusts_issuer: false,
            kubectl_client_id: "berth".to_owned(),
        });
        let app = TestApp::spawn(&url, config).await;
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let callback = |query: String, cookie: Option<String>| {
            let mut request = browser.get(app.url(&format!("/auth/oidc/callback?{query}")));
            if let Some(cookie) = cookie {
                request = request.header(COOKIE, cookie);
            }
            request.send()
        };
        let message = |res: reqwest::Response| async move {
            let status = res.status().as_u16();
            let body: Value = res.json().await.expect("json");
            (
                status,
                body["detail"].as_str().unwrap_or_default().to_owned(),
            )
        };

        // The attacker starts a sign-in: off to the provider, with the state in a cookie.
        let started = browser
            .get(app.url("/auth/oidc/login"))
            .send()
            .await
            .expect("login");
        assert_eq!(started.status(), 303);
        let location = started
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            location.starts_with(&format!("{provider}/authorize?")),
            "{location}"
        );
        let state = location
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("state="))
            .expect("state in the URL")
            .to_owned();
        let set = started
            .headers()
            .get(SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            set.starts_with(&format!("berth_oidc_state={state};")) && set.contains("HttpOnly"),
            "{set}"
        );
        let attackers_cookie = format!("berth_oidc_state={state}");

        // The attacker's callback URL, opened in the victim's browser: refused, no session.
        let res = callback(format!("code=attackers&state={state}"), None)
            .await
            .expect("callback");
        assert!(res.headers().get(SET_COOKIE).is_none());
        assert_eq!(
            message(res).await,
            (
                400,
                "sign-in failed: this sign-in was started in another browser (or over ten minutes ago); start again"
                    .to_owned()
            )
        );
        // In the browser that started it, the same state is still good for one exchange (which
        // this provider refuses), and never again.
        let (status, text) = message(
            callback(
                format!("code=attackers&state={state}"),
                Some(attackers_cookie.clone()),
            )
            .await
            .expect("callback"),
        )
        .await;
        assert_eq!(status, 401, "{text}");
        let replayed = message(
            callback(
                format!("code=again&state={state}"),
                Some(attackers_cookie.clone()),
            )
            .await
            .expect("callback"),
        )
        .await;
        assert_eq!(
            replayed,
            (
                400,
                "sign-in failed: unknown, expired or already used state".to_owned()
            )
        );
        // A made-up state, even with a cookie to match, names nothing.
        let forged = message(
            callback(
                "code=stolen&state=forged".to_owned(),
                Some("berth_oidc_state=forged".to_owned()),
            )
            .await
            .expect("callback"),
        )
        .await;
        assert_eq!(
            forged,
            (
                400,
                "sign-in failed: unknown, expired or already used state".to_owned()
            )
        );
        let res = app
            .get("/auth/oidc/callback?error=access_denied&error_description=nope")
            .await;
        assert_eq!(res.status(), 401);
        assert!(res.headers().get(SET_COOKIE).is_none());

        let sre = sign_in(&app, "demo:sam").await;
        assert_eq!(
            failed_attempts(&app, &sre, "action=session.sign_in&outcome=failure", 5).await,
            5
        );
        app.stop().await;
    });
}

#[test]
fn without_oidc_configured_its_routes_say_so() {
    common::run(async {
        let (_pg, app) = app().await;
        let res = app.get("/auth/oidc/login").await;
        assert_eq!(res.status(), 404);
        let body: Value = res.json().await.expect("json");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("not configured")
        );
        app.stop().await;
    });
}

#[test]
fn demo_identities_authenticate_nobody_in_serve() {
    common::run(async {
        let (_pg, demo) = app().await;
        let cookie = sign_in(&demo, "demo:sam").await;
        let made: Value = post_token(
            &demo,
            &cookie,
            serde_json::json!({"name": "ci", "expires_in_days": 30}),
        )
        .await
        .json()
        .await
        .expect("json");
        let token = made["token"].as_str().unwrap_or_default().to_owned();
        assert!(token.starts_with("berth_"), "{made}");
        // In the demo both work.
        assert_eq!(me(&demo, &cookie).await.status(), 200);
        let bearer = |app: &TestApp| {
            app.client
                .get(app.url("/api/v1/me"))
                .bearer_auth(&token)
                .send()
        };
        assert_eq!(bearer(&demo).await.expect("me").status(), 200);

        // `serve` on the same database: the demo's session and token are nobody's.
        let kubeconfig = common::berth_kubeconfig(demo.cluster()).await;
        let mut config = test_config();
        config.demo = false;
        let serve = TestApp::spawn_on(&demo.database_url, config, &kubeconfig).await;
        assert_eq!(me(&serve, &cookie).await.status(), 401);
        assert_eq!(bearer(&serve).await.expect("me").status(), 401);
        serve.stop().await;
        demo.stop().await;
    });
}

/// Anyone can send a bad token: 200 of them are one line of the permanent audit trail (written
/// when the window ends, here at shutdown), and past the limit the answer is 429.
#[test]
fn anonymous_failures_are_summarised_and_limited() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_failures").await;
        let mut config = test_config();
        config.auth.failure_window = Duration::from_secs(600);
        config.auth.failure_limit = 20;
        let app = TestApp::spawn(&url, config).await;
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        let count = |pool: sqlx::PgPool| async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM audit_events WHERE action = 'token.authenticate'",
            )
            .fetch_one(&pool)
            .await
            .expect("count")
        };
        let mut answers = std::collections::BTreeMap::<u16, u32>::new();
        for i in 0..200 {
            let res = app
                .client
                .get(app.url("/api/v1/me"))
                .bearer_auth(format!("berth_forged_{i}"))
                .send()
                .await
                .expect("me");
            *answers.entry(res.status().as_u16()).or_default() += 1;
        }
        assert_eq!(
            answers,
            std::collections::BTreeMap::from([(401, 20), (429, 180)])
        );
        let limited: Value = app
            .client
            .get(app.url("/api/v1/me"))
            .bearer_auth("berth_forged")
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        assert_eq!(limited["code"], "too_many_attempts", "{limited}");
        // Nothing written per request while the window is open.
        assert_eq!(count(pool.clone()).await, 0);
        app.stop().await;
        let rows: Vec<(String, Value)> = sqlx::query_as(
            "SELECT source, after FROM audit_events WHERE action = 'token.authenticate'",
        )
        .fetch_all(&pool)
        .await
        .expect("rows");
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].0, "127.0.0.1");
        assert_eq!(rows[0].1["attempts"], 201);
        assert_eq!(rows[0].1["refused_as_too_many"], 181);
        pool.close().await;
    });
}

/// A token cannot make tokens (through either door), and an admin can revoke anyone's token
/// while other users cannot touch it.
#[test]
fn tokens_make_no_tokens_and_admins_revoke_any() {
    use leptos::server_fn::ServerFn;
    common::run(async {
        let (_pg, app) = app().await;
        let sam = sign_in(&app, "demo:sam").await;
        let made: Value = post_token(
            &app,
            &sam,
            serde_json::json!({"name": "ci", "expires_in_days": 30}),
        )
        .await
        .json()
        .await
        .expect("json");
        let token = made["token"].as_str().expect("token").to_owned();
        let id = made["id"].as_str().expect("id").to_owned();

        let minted = app
            .client
            .post(app.url("/api/v1/tokens"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "forever"}))
            .send()
            .await
            .expect("mint");
        assert_eq!(minted.status(), 403);
        let body: Value = minted.json().await.expect("json");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|m| m.contains("cannot make API tokens")),
            "{body}"
        );
        let minted = app
            .client
            .post(app.url(app::api::MakeToken::PATH))
            .bearer_auth(&token)
            .form(&[("name", "forever"), ("days", "365")])
            .send()
            .await
            .expect("mint");
        assert_eq!(minted.status(), 403, "the page's door too");

        // The token reads (its default scope) but changes nothing outside its scopes.
        let grant = |token: String| {
            app.client
                .post(app.url(app::api::RevokeAllAccess::PATH))
                .bearer_auth(token)
                .form(&[("comment", "all of them")])
                .send()
        };
        assert_eq!(made["scopes"], serde_json::json!(["read"]), "{made}");
        let narrow = grant(token.clone()).await.expect("revoke all");
        assert_eq!(narrow.status(), 403);
        let body: Value = narrow.json().await.expect("json");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|m| m.contains("scopes (read)") && m.contains("needs access")),
            "{body}"
        );
        let wide: Value = post_token(
            &app,
            &sam,
            serde_json::json!({"name": "oncall", "scopes": ["access"]}),
        )
        .await
        .json()
        .await
        .expect("json");
        assert_eq!(
            wide["scopes"],
            serde_json::json!(["read", "access"]),
            "{wide}"
        );
        let wide_token = wide["token"].as_str().expect("token").to_owned();
        // Sam (SRE) may not revoke everything (admins do), but the scope lets the request in.
        let answered: Value = grant(wide_token)
            .await
            .expect("revoke all")
            .json()
            .await
            .expect("json");
        assert!(
            answered["message"]
                .as_str()
                .is_some_and(|e| e.contains("only admins")),
            "{answered}"
        );
        let bad = post_token(
            &app,
            &sam,
            serde_json::json!({"name": "x", "scopes": ["root"]}),
        )
        .await;
        assert_eq!(bad.status(), 400);

        // Roles are read at sign-in: a token whose owner has not signed in for 30 days stops
        // until they do.
        let pool = sqlx::PgPool::connect(&app.database_url)
            .await
            .expect("connect");
        sqlx::query(
            "UPDATE users SET last_seen_at = now() - interval '40 days' WHERE id = 'demo:sam'",
        )
        .execute(&pool)
        .await
        .expect("age the sign-in");
        pool.close().await;
        let stale = app
            .client
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("me");
        assert_eq!(stale.status(), 401);
        let body: Value = stale.json().await.expect("json");
        assert_eq!(body["code"], "stale_roles", "{body}");
        sign_in(&app, "demo:sam").await;

        // Dana cannot revoke Sam's token; Ada (admin) can.
        let revoke = |cookie: String| {
            app.client
                .delete(app.url(&format!("/api/v1/tokens/{id}")))
                .header(COOKIE, cookie)
                .header(ORIGIN, &app.base)
                .send()
        };
        let dana = sign_in(&app, "demo:dana").await;
        assert_eq!(revoke(dana).await.expect("revoke").status(), 404);
        let me = |t: String| app.client.get(app.url("/api/v1/me")).bearer_auth(t).send();
        assert_eq!(me(token.clone()).await.expect("me").status(), 200);
        let ada = sign_in(&app, "demo:ada").await;
        assert_eq!(revoke(ada).await.expect("revoke").status(), 204);
        assert_eq!(me(token).await.expect("me").status(), 401);
        app.stop().await;
    });
}

/// An export holds everything the filter matches, past any page: streamed in batches, the
/// CSV with one header; an explicit limit still caps it.
#[test]
fn an_audit_export_holds_every_matching_event() {
    common::run(async {
        let (_pg, app) = app().await;
        let store = server::store::Store::connect(&app.database_url, &test_config().database)
            .await
            .expect("store");
        const MANY: usize = 4_321;
        for i in 0..MANY {
            let mut e = domain::audit::NewEvent::by(
                None,
                &Default::default(),
                "workload.scale",
                domain::audit::Outcome::Success,
            );
            e.target_name = format!("web-{i}");
            store.record(&e).await.expect("record");
        }
        let sre = sign_in(&app, "demo:sam").await;
        let total: usize = serde_json::from_str::<Value>(
            &audit(&app, &sre, "limit=1")
                .await
                .text()
                .await
                .expect("page"),
        )
        .ok()
        .and_then(|p| p["events"].as_array().map(Vec::len))
        .expect("a page");
        assert_eq!(total, 1);

        let jsonl = audit(&app, &sre, "format=jsonl").await;
        assert_eq!(jsonl.status(), 200);
        let lines = jsonl.text().await.expect("body");
        let events: Vec<Value> = lines
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert!(events.len() > MANY, "{} lines", events.len());
        let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] > w[1]),
            "newest first, no repeats"
        );
        assert_eq!(*seqs.last().expect("one"), 1, "down to the first event");

        let csv = audit(&app, &sre, "format=csv&action=workload.scale").await;
        let text = csv.text().await.expect("body");
        assert_eq!(
            text.lines().count(),
            MANY + 1,
            "every scale, under one header"
        );
        assert_eq!(text.matches("seq,time,actor").count(), 1);

        let capped = audit(&app, &sre, "format=jsonl&limit=2500").await;
        assert_eq!(capped.text().await.expect("body").lines().count(), 2500);
        app.stop().await;
    });
}

/// A sign-in goes back to the page that sent the reader, when that is a page of this site;
/// anywhere else (another host, Berth's own API) is home.
#[test]
fn a_sign_in_returns_to_the_page_it_came_from_and_nowhere_else() {
    common::run(async {
        let (_pg, app) = app().await;
        for (next, to) in [
            ("/cost?by=team&window=30d", "/cost?by=team&window=30d"),
            ("//evil.example/", "/"),
            ("https://evil.example/", "/"),
            ("/\\evil.example", "/"),
            ("/api/v1/tokens", "/"),
            ("", "/"),
        ] {
            let res = app
                .client
                .post(app.url("/auth/demo"))
                .header(ORIGIN, &app.base)
                .form(&[("persona", "demo:mike"), ("next", next)])
                .send()
                .await
                .expect("sign in");
            assert_eq!(res.status(), 303, "{next:?}");
            assert_eq!(
                res.headers().get(LOCATION).and_then(|v| v.to_str().ok()),
                Some(to),
                "{next:?}"
            );
        }
        app.stop().await;
    });
}
