//! Extensions and quota changes of provisioned namespaces over real HTTP, Postgres and the
//! sandbox: who may ask and decide, what is granted at once, the patch in the cluster, the
//! audit trail.

use crate::common;

use std::time::{Duration, Instant};

use app::api::{DecideChange, ListNamespaceChanges, RequestChange};
use common::TestApp;
use common::flows::*;
use domain::audit::Verdict;
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota};
use kube::api::Api;
use leptos::server_fn::ServerFn;
use reqwest::header::{COOKIE, ORIGIN};
use serde_json::{Value, json};
use server::store::Store;

fn change(request_id: &str, kind: &str, lifetime: &str, tier: &str, reason: &str) -> Value {
    json!({ "draft": {
        "request_id": request_id,
        "kind": kind,
        "lifetime": lifetime,
        "tier": tier,
        "reason": reason,
    }})
}

/// Asks for a change; the answer is the server function's body and status.
async fn ask(app: &TestApp, cookie: &str, body: Value) -> (u16, String) {
    let res = app
        .client
        .post(app.url(RequestChange::PATH))
        .header(ORIGIN, &app.base)
        .header(COOKIE, cookie)
        .json(&body)
        .send()
        .await
        .expect("request change");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

async fn ask_ok(app: &TestApp, cookie: &str, body: Value) -> Value {
    let (status, text) = ask(app, cookie, body).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).expect("json answer")
}

async fn changes(app: &TestApp, cookie: &str) -> Vec<Value> {
    call_form(app, cookie, ListNamespaceChanges::PATH, &[])
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn decide(app: &TestApp, cookie: &str, id: &str, approve: bool, reason: &str) -> Value {
    let approve = approve.to_string();
    call_form(
        app,
        cookie,
        DecideChange::PATH,
        &[
            ("id", id),
            ("approve", approve.as_str()),
            ("reason", reason),
        ],
    )
    .await
}

async fn wait_for_change(app: &TestApp, cookie: &str, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + common::PATIENCE;
    loop {
        let found = changes(app, cookie)
            .await
            .into_iter()
            .find(|c| c["id"] == id);
        if found.as_ref().is_some_and(|c| c["state"] == want) {
            return found.unwrap_or_default();
        }
        assert!(
            Instant::now() < deadline,
            "change {id} never became {want}: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn request_row(app: &TestApp, cookie: &str, name: &str) -> Value {
    requests(app, cookie)
        .await
        .into_iter()
        .find(|r| r["name"] == name)
        .unwrap_or_default()
}

fn seconds(at: &Value) -> i64 {
    at.as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_second())
        .unwrap_or_else(|| panic!("not a timestamp: {at}"))
}

async fn quota_hard(app: &TestApp, ns: &str, resource: &str) -> String {
    let quota = Api::<ResourceQuota>::namespaced(admin_client(app).await, ns)
        .get("berth-quota")
        .await
        .expect("quota");
    quota
        .spec
        .and_then(|s| s.hard)
        .and_then(|h| h.get(resource).map(|q| q.0.clone()))
        .unwrap_or_default()
}

#[test]
fn extensions_and_quota_changes_follow_approval_rules_and_reach_the_cluster() {
    common::run(async {
        let (_pg, app) = app().await;
        let dana = sign_in(&app, "demo:dana").await;
        let answer = submit(&app, &dana, &draft("payments-grow", "payments", "small")).await;
        let id = answer["Submitted"]["id"].as_str().expect("id").to_owned();
        wait_for_state(&app, &dana, "payments-grow", "Ready").await;
        let row = request_row(&app, &dana, "payments-grow").await;
        assert_eq!(row["can_change"], true);
        assert!(
            row["extend_options"]
                .as_array()
                .is_some_and(|o| o.contains(&json!("7d")))
        );
        let expires_before = seconds(&row["expires_at"]);

        // Bad input: a field error each, nothing stored.
        for (body, field) in [
            (change(&id, "extend", "2w", "", "more time"), "lifetime"),
            (change(&id, "quota", "", "huge", "more room"), "tier"),
            (change(&id, "quota", "", "small", "same"), "tier"),
            (change(&id, "quota", "", "medium", "   "), "reason"),
            (change(&id, "shrink", "", "", "why not"), "kind"),
        ] {
            let answer = ask_ok(&app, &dana, body).await;
            let errors = answer["Invalid"].as_array().expect("invalid");
            assert!(errors.iter().any(|e| e["field"] == field), "{answer}");
        }
        assert!(changes(&app, &dana).await.is_empty());
        // An SRE sees every namespace but, outside the team, may not ask to change it.
        let sam = sign_in(&app, "demo:sam").await;
        let refused = ask_ok(&app, &sam, change(&id, "extend", "7d", "", "x")).await;
        assert!(
            refused["Invalid"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("payments")),
            "{refused}"
        );

        // A small tier's extension needs nobody: granted, applied, expiry moved by 7 days.
        let answer = ask_ok(
            &app,
            &dana,
            change(&id, "extend", "7d", "", "demo next week"),
        )
        .await;
        assert_eq!(answer["Submitted"]["state"], "Approved", "{answer}");
        let extension = answer["Submitted"]["id"].as_str().expect("id").to_owned();
        wait_for_change(&app, &dana, &extension, "Applied").await;
        let row = request_row(&app, &dana, "payments-grow").await;
        assert_eq!(seconds(&row["expires_at"]) - expires_before, 7 * 86_400);
        let ns = Api::<Namespace>::all(admin_client(&app).await)
            .get("payments-grow")
            .await
            .expect("namespace");
        let annotation = ns
            .metadata
            .annotations
            .and_then(|a| a.get("berth.dev/expires-at").cloned())
            .unwrap_or_default();
        assert_eq!(json!(annotation), row["expires_at"], "annotation follows");

        // More quota waits for a manager of the team; one open change at a time.
        let answer = ask_ok(&app, &dana, change(&id, "quota", "", "medium", "load test")).await;
        assert_eq!(answer["Submitted"]["state"], "Pending", "{answer}");
        let growth = answer["Submitted"]["id"].as_str().expect("id").to_owned();
        let again = ask_ok(&app, &dana, change(&id, "extend", "1d", "", "and longer")).await;
        assert!(again.to_string().contains("open change"), "{again}");
        let listed = changes(&app, &dana).await;
        let pending = listed.iter().find(|c| c["id"] == growth).expect("listed");
        assert_eq!(pending["summary"], "tier small → medium");
        assert!(
            pending["quota"]
                .as_array()
                .is_some_and(|q| q
                    .contains(&json!({"resource": "requests.cpu", "before": "2", "after": "8"}))),
            "{pending}"
        );
        assert_eq!(pending["can_decide"], false);
        let refused = decide(&app, &dana, &growth, true, "").await;
        assert!(
            refused["Err"].is_string(),
            "a developer does not approve: {refused}"
        );
        let refused = decide(&app, &sam, &growth, true, "").await;
        assert!(
            refused["Err"].is_string(),
            "an SRE outside the team does not: {refused}"
        );
        let mike = sign_in(&app, "demo:mike").await;
        let no_reason = decide(&app, &mike, &growth, false, " ").await;
        assert!(no_reason["Err"].as_str().is_some_and(|m| m.contains("why")));
        assert_eq!(quota_hard(&app, "payments-grow", "requests.cpu").await, "2");
        let mikes = changes(&app, &mike).await;
        assert_eq!(
            mikes.iter().find(|c| c["id"] == growth).expect("seen")["can_decide"],
            true
        );
        let approved = decide(&app, &mike, &growth, true, "launch week").await;
        assert_eq!(approved["state"], "Approved", "{approved}");
        let twice = decide(&app, &mike, &growth, false, "no").await;
        assert!(
            twice["Err"]
                .as_str()
                .is_some_and(|m| m.contains("no longer pending"))
        );
        wait_for_change(&app, &dana, &growth, "Applied").await;
        assert_eq!(quota_hard(&app, "payments-grow", "requests.cpu").await, "8");
        assert_eq!(
            request_row(&app, &dana, "payments-grow").await["tier"],
            "medium"
        );

        // Giving quota back is granted at once.
        let answer = ask_ok(
            &app,
            &dana,
            change(&id, "quota", "", "small", "done testing"),
        )
        .await;
        assert_eq!(answer["Submitted"]["state"], "Approved", "{answer}");
        let shrink = answer["Submitted"]["id"].as_str().expect("id").to_owned();
        wait_for_change(&app, &dana, &shrink, "Applied").await;
        assert_eq!(quota_hard(&app, "payments-grow", "pods").await, "20");

        // A namespace still waiting for approval cannot change yet.
        let answer = submit(&app, &dana, &draft("payments-later", "payments", "large")).await;
        let later = answer["Submitted"]["id"].as_str().expect("id").to_owned();
        let early = ask_ok(&app, &dana, change(&later, "quota", "", "small", "smaller")).await;
        assert!(
            early.to_string().contains("only a ready namespace"),
            "{early}"
        );

        // The audit trail holds each step, the applied patch with its quota before and after.
        let store = Store::connect(&app.database_url, &common::test_config().database)
            .await
            .expect("store");
        let rows: Vec<(String, String, Value, String)> = sqlx::query_as(
            "SELECT action, outcome, after, target_cluster FROM audit_events \
             WHERE action LIKE 'namespace.change.%' ORDER BY seq",
        )
        .fetch_all(store.pool())
        .await
        .expect("audit");
        // The requests name no cluster: every step, the provisioner's too, names the home one.
        assert!(
            rows.iter().all(|r| r.3 == "default"),
            "{:?}",
            rows.iter().map(|r| (&r.0, &r.3)).collect::<Vec<_>>()
        );
        let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(
            actions,
            [
                "namespace.change.request",
                "namespace.change.apply",
                "namespace.change.request",
                "namespace.change.approve",
                "namespace.change.apply",
                "namespace.change.request",
                "namespace.change.apply",
            ]
        );
        let applied = &rows[4].2;
        assert_eq!(rows[4].1, "success");
        assert_eq!(
            applied["tier"],
            json!({"before": "small", "after": "medium"})
        );
        assert!(
            applied["quota"].as_array().is_some_and(|q| q
                .iter()
                .any(|d| d["resource"] == "pods" && d["after"] == "60")),
            "{applied}"
        );
        let verified = store.verify_audit(&[]).await.expect("verify");
        assert!(
            matches!(verified, Verdict::Intact { .. }),
            "the chain holds: {verified:?}"
        );
        app.stop().await;
    });
}

#[test]
fn a_manager_asking_for_their_own_team_is_granted_and_cannot_review_themselves() {
    common::run(async {
        let (_pg, app) = app().await;
        let mike = sign_in(&app, "demo:mike").await;
        let answer = submit(&app, &mike, &draft("payments-mgr", "payments", "small")).await;
        let id = answer["Submitted"]["id"].as_str().expect("id").to_owned();
        wait_for_state(&app, &mike, "payments-mgr", "Ready").await;
        let answer = ask_ok(
            &app,
            &mike,
            change(&id, "extend", "permanent", "", "keeps running"),
        )
        .await;
        assert_eq!(answer["Submitted"]["state"], "Approved", "{answer}");
        let forever = answer["Submitted"]["id"].as_str().expect("id").to_owned();
        let listed = wait_for_change(&app, &mike, &forever, "Applied").await;
        assert_eq!(listed["decided_by"], "Mike Manager");
        let row = request_row(&app, &mike, "payments-mgr").await;
        assert_eq!(row["expires_at"], Value::Null, "permanent now");
        assert_eq!(row["extend_options"], json!([]));
        let again = ask_ok(&app, &mike, change(&id, "extend", "7d", "", "more")).await;
        assert!(again.to_string().contains("permanent already"), "{again}");
        app.stop().await;
    });
}
