//! The admins' tier editor over real HTTP and Postgres: who may save, field errors, the audit
//! event, and a new request planned with the edited tier reaching the cluster.

use crate::common;

use app::api::{OnboardingOptions, SaveTier};
use common::flows::*;
use domain::tenancy::seed_tiers;
use domain::tiers::TierDraft;
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::Api;
use leptos::server_fn::ServerFn;
use reqwest::header::{COOKIE, ORIGIN};
use serde_json::{Value, json};
use server::store::Store;

async fn save(app: &common::TestApp, cookie: &str, draft: &TierDraft) -> (u16, String) {
    let res = app
        .client
        .post(app.url(SaveTier::PATH))
        .header(ORIGIN, &app.base)
        .header(COOKIE, cookie)
        .json(&json!({ "draft": draft }))
        .send()
        .await
        .expect("save tier");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

async fn save_ok(app: &common::TestApp, cookie: &str, draft: &TierDraft) -> Value {
    let (status, text) = save(app, cookie, draft).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn admins_edit_tiers_and_new_requests_are_planned_with_them() {
    common::run(async {
        let (_pg, app) = app().await;
        let small = TierDraft::of(&seed_tiers()[0]);

        let dana = sign_in(&app, "demo:dana").await;
        let (status, text) = save(&app, &dana, &small).await;
        assert_ne!(status, 200, "a developer may not: {text}");
        assert!(text.contains("admin"), "{text}");

        let ada = sign_in(&app, "demo:ada").await;
        let mut bad = small.clone();
        bad.name = "Extra Large".to_owned();
        bad.pods = "many".to_owned();
        bad.default_request_memory = "2Gi".to_owned();
        let answer = save_ok(&app, &ada, &bad).await;
        let fields: Vec<&str> = answer["Invalid"]
            .as_array()
            .expect("invalid")
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert_eq!(fields, ["name", "pods", "spec"], "{answer}");

        let mut xl = small.clone();
        xl.name = "xl".to_owned();
        xl.description = "<b>huge</b> & approved".to_owned();
        xl.requests_cpu = "64".to_owned();
        xl.limits_cpu = "128".to_owned();
        xl.needs_approval = true;
        let answer = save_ok(&app, &ada, &xl).await;
        assert_eq!(answer["Saved"], json!({"name": "xl", "created": true}));
        let options = call_form(&app, &dana, OnboardingOptions::PATH, &[]).await;
        let names: Vec<&str> = options["tiers"]
            .as_array()
            .expect("tiers")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(
            names,
            ["small", "medium", "large", "xl"],
            "new tiers go last"
        );
        // Shown escaped on the page: the text is data, never markup.
        let page = get_text(&app, &ada, "/tiers").await;
        assert!(!page.contains("<b>huge"), "never markup");

        let mut roomier = small.clone();
        roomier.pods = "25".to_owned();
        let answer = save_ok(&app, &ada, &roomier).await;
        assert_eq!(answer["Saved"]["created"], false);
        submit(&app, &dana, &draft("payments-roomy", "payments", "small")).await;
        wait_for_state(&app, &dana, "payments-roomy", "Ready").await;
        let quota = Api::<ResourceQuota>::namespaced(admin_client(&app).await, "payments-roomy")
            .get("berth-quota")
            .await
            .expect("quota");
        let pods = quota
            .spec
            .and_then(|s| s.hard)
            .and_then(|h| h.get("pods").cloned());
        assert_eq!(pods.map(|q| q.0), Some("25".to_owned()));

        let store = Store::connect(&app.database_url, &common::test_config().database)
            .await
            .expect("store");
        let saves: Vec<(String, Option<Value>, Option<Value>)> = sqlx::query_as(
            "SELECT target_name, before, after FROM audit_events WHERE action = 'tier.save' \
             ORDER BY seq",
        )
        .fetch_all(store.pool())
        .await
        .expect("audit");
        assert_eq!(saves.len(), 2, "refused and invalid saves change nothing");
        assert_eq!(saves[0].0, "xl");
        assert_eq!(saves[0].1, None);
        assert_eq!(
            saves[1].1.as_ref().map(|b| b["pods"].clone()),
            Some(json!(20))
        );
        assert_eq!(
            saves[1].2.as_ref().map(|a| a["pods"].clone()),
            Some(json!(25))
        );
        app.stop().await;
    });
}
