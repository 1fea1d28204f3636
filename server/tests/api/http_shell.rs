//! The portal shell over real HTTP: health, readiness, every page, 404, limits.

use crate::common;

use app::api::CheckReadiness;
use common::{TestApp, TestPostgres, test_config};
use domain::areas::Area;
use leptos::server_fn::ServerFn;
use serde_json::Value;

async fn app_with_db() -> (TestPostgres, TestApp) {
    let pg = TestPostgres::start();
    let url = pg.database("berth_test").await;
    let app = TestApp::spawn(&url, test_config()).await;
    (pg, app)
}

#[test]
fn healthz_answers_ok() {
    common::run(async {
        let (_pg, app) = app_with_db().await;
        let res = app.get("/healthz").await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["status"], "ok");
        app.stop().await;
    });
}

#[test]
fn readyz_follows_postgres_up_and_down() {
    common::run(async {
        // A server of its own: the test stops it.
        let mut pg = TestPostgres::private();
        let url = pg.database("berth_test").await;
        let app = TestApp::spawn(&url, test_config()).await;
        app.wait_ready().await;

        let res = app.get("/readyz").await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["ready"], true);
        assert_eq!(body["checks"][0]["name"], "postgres");
        let detail = body["checks"][0]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("schema version "), "{detail}");
        assert_eq!(body["checks"][1]["name"], "cluster default");
        let detail = body["checks"][1]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("Kubernetes v1."), "{detail}");
        assert_eq!(body["checks"][2]["name"], "caches default");
        assert_eq!(body["checks"][2]["ok"], true);

        pg.stop();

        let res = app.get("/readyz").await;
        assert_eq!(res.status(), 503);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["code"], "not_ready");
        assert_eq!(body["ready"], false);
        let message = body["detail"].as_str().unwrap_or_default();
        assert!(message.starts_with("postgres: "), "{message}");
        // Liveness does not depend on the database.
        assert_eq!(app.get("/healthz").await.status(), 200);
        app.stop().await;
    });
}

#[test]
fn readyz_reports_a_cluster_that_stopped_answering() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let mut app = TestApp::spawn_private(&url, test_config()).await;
        app.wait_ready().await;
        app.stop_cluster().await;
        let res = app.get("/readyz").await;
        assert_eq!(res.status(), 503);
        let body: Value = res.json().await.expect("json");
        let message = body["detail"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("cluster default: https://127.0.0.1:"),
            "{message}"
        );
        assert_eq!(body["checks"][0]["ok"], true, "postgres is still fine");
        app.stop().await;
    });
}

/// A kubeconfig for the chart's ServiceAccount (a TokenRequest token) before anything grants
/// it a right.
async fn service_account_without_role(cluster: &common::TestCluster) -> String {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
    use kube::api::{Api, PostParams};
    let admin = cluster.admin_client().await;
    let (namespace, name) = ("berth", "berth");
    let created = Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}}))
                .expect("namespace"),
        )
        .await;
    created.expect("namespace berth");
    let accounts = Api::<ServiceAccount>::namespaced(admin, namespace);
    accounts
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
                .expect("service account"),
        )
        .await
        .expect("service account berth");
    let token = accounts
        .create_token_request(name, &PostParams::default(), &TokenRequest::default())
        .await
        .expect("token request")
        .status
        .and_then(|status| status.token)
        .expect("a token");
    cluster
        .plane()
        .kubeconfig_for_token(common::BERTH_USER, &token)
}

#[test]
fn readyz_waits_until_the_watch_caches_hold_their_lists() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let cluster = common::TestCluster::private().await;
        // Berth's own identity before its ClusterRole exists: every list is refused, so no
        // cache fills, though Postgres and the cluster both answer.
        let kubeconfig = service_account_without_role(&cluster).await;
        let app = TestApp::spawn_on(&url, test_config(), &kubeconfig).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let res = app.get("/readyz").await;
        assert_eq!(res.status(), 503);
        let body: Value = res.json().await.expect("json");
        let message = body["detail"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("caches default: still listing namespaces, resourcequotas"),
            "{message}"
        );
        assert!(message.contains("pods"), "{message}");
        assert_eq!(body["checks"][0]["ok"], true, "postgres answers");
        assert_eq!(body["checks"][1]["ok"], true, "the cluster answers");

        // The chart's role arrives: the watches retry, fill, and the replica becomes ready.
        common::berth_kubeconfig(&cluster).await;
        app.wait_ready().await;
        app.stop().await;
    });
}

#[test]
fn every_area_page_renders_with_its_title_and_the_navigation() {
    common::run(async {
        let (_pg, app) = app_with_db().await;
        let mut pages: Vec<(String, &str)> = vec![("/".to_owned(), "Home")];
        pages.extend(Area::ALL.iter().map(|a| (a.path(), a.title())));
        for (path, title) in pages {
            let res = app.get(&path).await;
            assert_eq!(res.status(), 200, "{path}");
            let html = res.text().await.expect("body");
            assert!(
                html.contains(&format!("<title>{title} · Berth</title>")),
                "{path} lacks its title"
            );
            for area in Area::ALL {
                assert!(
                    html.contains(&format!("href=\"{}\"", area.path())),
                    "{path} lacks a link to {}",
                    area.path()
                );
            }
            // The page loads the hydration bundle.
            assert!(
                html.contains("/pkg/berth.js"),
                "{path} has no hydration script"
            );
        }
        app.stop().await;
    });
}

#[test]
fn every_area_has_its_page() {
    common::run(async {
        let (_pg, app) = app_with_db().await;
        for area in Area::ALL {
            let res = app.get(&area.path()).await;
            assert_eq!(res.status(), 200, "{}", area.path());
            let html = res.text().await.expect("body");
            assert!(
                html.contains(&format!("<h1>{}</h1>", area.title())),
                "{}",
                area.path()
            );
            assert!(!html.contains("not built yet"), "{}", area.path());
        }
        app.stop().await;
    });
}

#[test]
fn unknown_path_gets_the_404_page() {
    common::run(async {
        let (_pg, app) = app_with_db().await;
        let res = app.get("/no/such/page").await;
        assert_eq!(res.status(), 404);
        let html = res.text().await.expect("body");
        assert!(html.contains("Page not found"));
        assert!(html.contains("<title>Not found · Berth</title>"));
        app.stop().await;
    });
}

#[test]
fn a_body_over_the_limit_gets_413_in_the_json_error_shape() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let mut config = test_config();
        config.http.body_limit_bytes = 4096;
        let app = TestApp::spawn(&url, config).await;

        for path in ["/", CheckReadiness::PATH] {
            let res = app
                .client
                .post(app.url(path))
                .header("origin", &app.base)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(vec![b'a'; 10_000])
                .send()
                .await
                .expect("request");
            assert_eq!(res.status(), 413, "{path}");
            let body: Value = res.json().await.expect("json");
            assert_eq!(body["code"], "payload_too_large");
            assert!(
                body["detail"].as_str().unwrap_or_default().contains("4096"),
                "{body}"
            );
        }
        // Under the limit the server function answers.
        let res = app
            .client
            .post(app.url(CheckReadiness::PATH))
            .header("origin", &app.base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200);
        app.stop().await;
    });
}

#[test]
fn the_readiness_server_function_reports_postgres() {
    common::run(async {
        let (_pg, app) = app_with_db().await;
        app.wait_ready().await;
        let res = app
            .client
            .post(app.url(CheckReadiness::PATH))
            .header("origin", &app.base)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body("")
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["ready"], true);
        assert_eq!(body["checks"][0]["name"], "postgres");
        app.stop().await;
    });
}

#[test]
fn every_response_carries_a_request_id() {
    common::run(async {
        let (_pg, app) = app_with_db().await;
        let res = app.get("/healthz").await;
        let id = res
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(id.len(), 36, "a UUID, got {id:?}");
        // A caller's own id is kept, so traces join across services.
        let res = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", "caller-123")
            .send()
            .await
            .expect("request");
        assert_eq!(
            res.headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok()),
            Some("caller-123")
        );
        app.stop().await;
    });
}

/// Many pages rendered at once on several threads all finish. Leptos's out-of-order streaming
/// could lose a wake-up when renders ran in parallel and leave a response open for ever; the
/// server renders on one thread to rule that out (see `http::render`).
#[test]
fn pages_rendered_in_parallel_all_finish() {
    common::run(async {
        let (_pg, app) = app_with_db().await;
        let paths: Vec<String> = Area::ALL.iter().map(|a| a.path()).collect();
        let mut clients = Vec::new();
        for worker in 0..6 {
            let client = app.client.clone();
            let base = app.base.clone();
            let paths = paths.clone();
            clients.push(tokio::spawn(async move {
                for round in 0..25 {
                    let path = &paths[(worker + round) % paths.len()];
                    let res = client
                        .get(format!("{base}{path}"))
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("{path}: {e}"));
                    let html = res
                        .text()
                        .await
                        .unwrap_or_else(|e| panic!("{path}: body never finished: {e}"));
                    assert!(html.contains("</html>"), "{path} ends early");
                }
            }));
        }
        for client in clients {
            client.await.expect("client task");
        }
        app.stop().await;
    });
}

/// The bundle's files keep their names from build to build, so a browser must ask again
/// before reusing one (a 304 when it is unchanged), never reuse it on heuristic freshness.
#[test]
fn static_files_are_revalidated_before_each_use() {
    common::run(async {
        let site = common::scratch_dir("berth-site-");
        let pkg = site.path().join("pkg");
        std::fs::create_dir_all(&pkg).expect("pkg dir");
        std::fs::write(pkg.join("chunk_1.wasm"), b"\0asm\x01\0\0\0").expect("a chunk");
        // The release build's precompressed copy (any bytes do: it is sent as it is).
        std::fs::write(pkg.join("chunk_1.wasm.br"), b"brotli bytes").expect("its copy");
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let mut config = test_config();
        config.site_root = site.path().to_path_buf();
        let app = TestApp::spawn(&url, config).await;

        let first = app.get("/pkg/chunk_1.wasm").await;
        assert_eq!(first.status(), 200);
        assert_eq!(
            first
                .headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-cache")
        );
        let modified = first
            .headers()
            .get("last-modified")
            .cloned()
            .expect("a Last-Modified to revalidate against");
        let again = app
            .client
            .get(app.url("/pkg/chunk_1.wasm"))
            .header("if-modified-since", modified)
            .send()
            .await
            .expect("revalidation");
        assert_eq!(again.status(), 304, "unchanged: not sent again");
        let compressed = app
            .client
            .get(app.url("/pkg/chunk_1.wasm"))
            .header("accept-encoding", "br")
            .send()
            .await
            .expect("brotli");
        assert_eq!(
            compressed
                .headers()
                .get("content-encoding")
                .and_then(|v| v.to_str().ok()),
            Some("br")
        );
        assert_eq!(
            compressed.bytes().await.expect("body").as_ref(),
            b"brotli bytes"
        );

        // Pages are not the bundle: this layer leaves their headers alone.
        let page = app.get("/healthz").await;
        assert_eq!(page.status(), 200);
        assert!(page.headers().get("cache-control").is_none());
        app.stop().await;
    });
}

#[test]
fn pages_files_and_errors_carry_the_security_headers() {
    common::run(async {
        let (_pg, app) = app_with_db().await;
        for path in ["/", "/signin", "/no-such-page", "/api/v1/me", "/healthz"] {
            let res = app.get(path).await;
            let header = |name: &str| {
                res.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
            assert_eq!(header("x-frame-options"), "DENY", "{path}");
            assert_eq!(header("referrer-policy"), "same-origin", "{path}");
            assert!(
                header("content-security-policy").contains("frame-ancestors 'none'"),
                "{path}"
            );
        }
        app.stop().await;
    });
}

#[test]
fn a_foreign_host_is_refused_even_with_a_matching_origin() {
    common::run(async {
        let (_pg, app) = app_with_db().await;
        // DNS rebinding: a page on evil.example.com, its name pointed at Berth, posts to
        // itself: Host and Origin agree, so the same-origin check alone would pass it.
        let res = app
            .client
            .post(app.url("/auth/demo"))
            .header("host", "evil.example.com:80")
            .header("origin", "http://evil.example.com:80")
            .form(&[("persona", "demo:ada")])
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 421);
        assert!(res.headers().get("set-cookie").is_none(), "no session");
        let body: serde_json::Value = res.json().await.expect("json");
        assert_eq!(body["code"], "unknown_host");
        let page = app
            .client
            .get(app.url("/"))
            .header("host", "evil.example.com")
            .send()
            .await
            .expect("request");
        assert_eq!(page.status(), 421);
        // Probes reach a pod by its address: health answers any host.
        let health = app
            .client
            .get(app.url("/healthz"))
            .header("host", "10.0.0.7:8080")
            .send()
            .await
            .expect("request");
        assert_eq!(health.status(), 200);
        // The names the demo is served under work as before.
        assert_eq!(app.get("/").await.status(), 200);
        let local = app
            .client
            .get(app.url("/signin"))
            .header("host", "localhost")
            .send()
            .await
            .expect("request");
        assert_eq!(local.status(), 200);
        app.stop().await;
    });
}
