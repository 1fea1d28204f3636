//! The portal shell over real HTTP: health, readiness, every page, 404, limits.

mod common;

use app::api::CheckReadiness;
use common::{TestApp, TestPostgres, test_config};
use domain::areas::{Area, Availability};
use leptos::server_fn::ServerFn;
use serde_json::Value;

async fn app_with_db() -> (TestPostgres, TestApp) {
    let pg = TestPostgres::start();
    let url = pg.database("berth_test").await;
    let app = TestApp::spawn(&url, test_config()).await;
    (pg, app)
}

#[tokio::test]
async fn healthz_answers_ok() {
    let (_pg, app) = app_with_db().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn readyz_follows_postgres_up_and_down() {
    let (mut pg, app) = app_with_db().await;

    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["ready"], true);
    assert_eq!(body["checks"][0]["name"], "postgres");
    let detail = body["checks"][0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("schema version "), "{detail}");
    assert_eq!(body["checks"][1]["name"], "cluster");
    let detail = body["checks"][1]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("Kubernetes v1."), "{detail}");

    pg.stop();

    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "not_ready");
    assert_eq!(body["ready"], false);
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("postgres: "), "{message}");
    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn readyz_reports_a_cluster_that_stopped_answering() {
    let (_pg, mut app) = app_with_db().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.stop_cluster().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.expect("json");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("cluster: https://127.0.0.1:"),
        "{message}"
    );
    assert_eq!(body["checks"][0]["ok"], true, "postgres is still fine");
    app.stop().await;
}

#[tokio::test]
async fn every_area_page_renders_with_its_title_and_the_navigation() {
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
}

#[tokio::test]
async fn planned_areas_say_so_instead_of_inventing_data() {
    let (_pg, app) = app_with_db().await;
    for area in Area::ALL
        .into_iter()
        .filter(|a| a.availability() == Availability::Planned)
    {
        let html = app.get(&area.path()).await.text().await.expect("body");
        assert!(html.contains(area.summary()), "{}", area.path());
        assert!(html.contains("not built yet"), "{}", area.path());
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_path_gets_the_404_page() {
    let (_pg, app) = app_with_db().await;
    let res = app.get("/no/such/page").await;
    assert_eq!(res.status(), 404);
    let html = res.text().await.expect("body");
    assert!(html.contains("Page not found"));
    assert!(html.contains("<title>Not found · Berth</title>"));
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_in_the_json_error_shape() {
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
        assert_eq!(body["error"], "payload_too_large");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("4096"),
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
}

#[tokio::test]
async fn the_readiness_server_function_reports_postgres() {
    let (_pg, app) = app_with_db().await;
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
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
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
}
