//! Namespace onboarding over real HTTP, Postgres and the real control plane: validation, approval
//! rules, provisioning, and resuming after a crash.

use crate::common;

use std::time::{Duration, Instant};

use app::api::{CheckDraft, DecideRequest, SubmitDraft};
use common::flows::*;
use common::{TestPostgres, test_config};
use domain::audit::Verdict;
use domain::tenancy::{self, NamespaceDraft, Plan, RequestState};
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, ListParams, PostParams};
use leptos::server_fn::ServerFn;
use reqwest::header::{COOKIE, ORIGIN};
use serde_json::{Value, json};
use server::cluster::fleet::Fleet;
use server::reconcile::provision::Provisioner;
use server::store::Store;
use server::store::tenancy::NewRequest;

/// A change to a good draft that makes one field wrong.
type Change = Box<dyn Fn(&mut NamespaceDraft)>;

#[test]
fn a_small_namespace_is_granted_at_once_and_provisioned_as_previewed() {
    common::run(async {
        let (_pg, app) = app().await;
        let dana = sign_in(&app, "demo:dana").await;
        let d = draft("payments-ledger", "payments", "small");

        let check = call_json(&app, &dana, CheckDraft::PATH, json!({ "draft": d })).await;
        assert_eq!(check["errors"], json!([]), "{check}");
        assert_eq!(check["needs_approval"], false);
        let preview = check["preview"].as_str().expect("preview").to_owned();
        for kind in [
            "Namespace",
            "RoleBinding",
            "ResourceQuota",
            "LimitRange",
            "NetworkPolicy",
        ] {
            assert!(
                preview.contains(&format!("kind: {kind}\n")),
                "{kind} missing"
            );
        }

        let answer = submit(&app, &dana, &d).await;
        assert_eq!(answer["Submitted"]["state"], "Approved", "{answer}");
        wait_for_state(&app, &dana, "payments-ledger", "Ready").await;

        let client = admin_client(&app).await;
        let ns = Api::<Namespace>::all(client.clone())
            .get("payments-ledger")
            .await
            .expect("namespace");
        let labels = ns.metadata.labels.unwrap_or_default();
        assert_eq!(labels["app.kubernetes.io/managed-by"], "berth");
        assert_eq!(labels["berth.dev/team"], "payments");
        let annotations = ns.metadata.annotations.unwrap_or_default();
        assert_eq!(annotations["berth.dev/owner"], "demo:dana");
        assert_eq!(annotations["berth.dev/cost-centre"], "CC-1042");
        let expires = &annotations["berth.dev/expires-at"];
        assert!(expires.ends_with('Z') && expires.len() == 20, "{expires}");
        let request_id = labels["berth.dev/request"].clone();

        let quota = Api::<ResourceQuota>::namespaced(client.clone(), "payments-ledger")
            .get("berth-quota")
            .await
            .expect("quota");
        let hard = quota.spec.and_then(|s| s.hard).unwrap_or_default();
        assert_eq!(hard["requests.cpu"].0, "2");
        assert_eq!(hard["pods"].0, "20");
        let binding = Api::<RoleBinding>::namespaced(client.clone(), "payments-ledger")
            .get("berth-edit")
            .await
            .expect("role binding");
        assert_eq!(binding.role_ref.name, "edit");
        let subjects: Vec<String> = binding
            .subjects
            .unwrap_or_default()
            .into_iter()
            .map(|s| format!("{}:{}", s.kind, s.name))
            .collect();
        assert_eq!(subjects, ["User:demo:dana", "Group:berth:team:payments"]);
        Api::<LimitRange>::namespaced(client.clone(), "payments-ledger")
            .get("berth-defaults")
            .await
            .expect("limit range");
        Api::<NetworkPolicy>::namespaced(client.clone(), "payments-ledger")
            .get("berth-deny-other-namespaces")
            .await
            .expect("network policy");

        // A kubeconfig for the namespace: a certificate the cluster signed, RBAC as provisioned.
        let kubeconfig_path = app.url("/api/v1/namespaces/payments-ledger/kubeconfig");
        let res = app
            .client
            .post(&kubeconfig_path)
            .header(ORIGIN, &app.base)
            .header(COOKIE, &dana)
            .send()
            .await
            .expect("kubeconfig");
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-disposition"],
            "attachment; filename=\"payments-ledger.kubeconfig\""
        );
        assert_eq!(res.headers()["cache-control"], "no-store");
        let text = res.text().await.expect("kubeconfig text");
        let as_dana = common::cluster::client_for(&text).await;
        let deployment: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}
        }))
        .expect("deployment");
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(
            as_dana.clone(),
            "payments-ledger",
        )
        .create(&PostParams::default(), &deployment)
        .await
        .expect("dana deploys into her namespace");
        let foreign =
            Api::<k8s_openapi::api::core::v1::Pod>::namespaced(as_dana.clone(), "default")
                .list(&ListParams::default())
                .await
                .expect_err("not in a foreign namespace");
        assert!(
            matches!(foreign, kube::Error::Api(ref s) if s.code == 403),
            "{foreign:?}"
        );
        let greedy: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
            "metadata": {"name": "greedy"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                "resources": {"requests": {"cpu": "3"}, "limits": {"cpu": "3"}}}]}
        }))
        .expect("pod");
        let over = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(as_dana, "payments-ledger")
            .create(&PostParams::default(), &greedy)
            .await
            .expect_err("over quota");
        assert!(over.to_string().contains("exceeded quota"), "{over}");

        // Only the team (or admins) may have one, only for namespaces Berth made, only signed in.
        let sam = sign_in(&app, "demo:sam").await;
        for (cookie, path, status) in [
            (
                Some(&sam),
                "/api/v1/namespaces/payments-ledger/kubeconfig",
                403,
            ),
            (Some(&dana), "/api/v1/namespaces/default/kubeconfig", 403),
            (Some(&dana), "/api/v1/namespaces/no-such-ns/kubeconfig", 404),
            (None, "/api/v1/namespaces/payments-ledger/kubeconfig", 401),
        ] {
            let mut req = app.client.post(app.url(path)).header(ORIGIN, &app.base);
            if let Some(c) = cookie {
                req = req.header(COOKIE, c);
            }
            let res = req.send().await.expect("kubeconfig request");
            assert_eq!(res.status(), status, "{path}");
        }

        // The audit trail has the request and the provisioning, tied to the request id.
        let res = app
            .client
            .get(app.url("/api/v1/audit?namespace=payments-ledger"))
            .header(COOKIE, &sam)
            .send()
            .await
            .expect("audit");
        let events: Value = res.json().await.expect("json");
        let actions: Vec<&str> = events["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert!(actions.contains(&"namespace.request"), "{actions:?}");
        assert!(actions.contains(&"namespace.provision"), "{actions:?}");
        assert!(actions.contains(&"kubeconfig.issue"), "{actions:?}");
        assert!(
            events["events"]
                .as_array()
                .expect("events")
                .iter()
                .any(|e| e["request_id"] == request_id.as_str()),
            "no event carries {request_id}"
        );
        app.stop().await;
    });
}

#[test]
fn every_validation_rule_answers_on_its_field_and_nothing_is_stored() {
    common::run(async {
        let (_pg, app) = app().await;
        let dana = sign_in(&app, "demo:dana").await;
        let client = admin_client(&app).await;
        let mut existing = Namespace::default();
        existing.metadata.name = Some("made-by-hand".to_owned());
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &existing)
            .await
            .expect("create namespace");
        // Name checks read the watch cache: wait until it has seen the new namespace.
        let deadline = Instant::now() + common::PATIENCE;
        loop {
            let d = draft("made-by-hand", "payments", "small");
            let check = call_json(&app, &dana, CheckDraft::PATH, json!({ "draft": d })).await;
            if check.to_string().contains("taken") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the cache never saw made-by-hand"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The small tier allows short lifetimes only, for this test.
        let store = Store::connect(&app.database_url, &test_config().database)
            .await
            .expect("store");
        sqlx::query(
            "UPDATE tiers SET spec = jsonb_set(spec, '{lifetimes}', '[\"OneDay\", \"SevenDays\"]') \
             WHERE name = 'small'",
        )
        .execute(store.pool())
        .await
        .expect("edit tier");

        let long = "x".repeat(121);
        let cases: Vec<(&str, Change, &str)> = vec![
            (
                "name",
                Box::new(|d| d.name = "Bad_Name".into()),
                "lower-case",
            ),
            ("name", Box::new(|d| d.name = "a".repeat(64)), "63"),
            (
                "name",
                Box::new(|d| d.name = "kube-tools".into()),
                "reserved",
            ),
            ("name", Box::new(|d| d.name = "default".into()), "reserved"),
            ("name", Box::new(|d| d.name = "berth-x".into()), "reserved"),
            (
                "name",
                Box::new(|d| d.name = "cert-manager".into()),
                "reserved",
            ),
            (
                "name",
                Box::new(|d| d.name = "made-by-hand".into()),
                "taken",
            ),
            (
                "team",
                Box::new(|d| d.team = "platform".into()),
                "not a member",
            ),
            ("tier", Box::new(|d| d.tier = "huge".into()), "unknown tier"),
            (
                "lifetime",
                Box::new(|d| d.lifetime = "permanent".into()),
                "allows",
            ),
            (
                "lifetime",
                Box::new(|d| d.lifetime = "2d".into()),
                "unknown",
            ),
            (
                "purpose",
                Box::new(|d| d.purpose = String::new()),
                "required",
            ),
            (
                "contact",
                Box::new(move |d| d.contact = long.clone()),
                "at most 120",
            ),
        ];
        for (field, change, words) in cases {
            let mut d = draft("payments-ok", "payments", "small");
            change(&mut d);
            let answer = submit(&app, &dana, &d).await;
            let errors = answer["Invalid"]
                .as_array()
                .unwrap_or_else(|| panic!("{field}: expected field errors, got {answer}"));
            assert!(
                errors.iter().any(|e| e["field"] == field
                    && e["message"].as_str().is_some_and(|m| m.contains(words))),
                "{field} ({words}): {errors:?}"
            );
        }
        assert!(requests(&app, &dana).await.is_empty(), "nothing stored");
        let names: Vec<String> = Api::<Namespace>::all(client.clone())
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
        assert!(!names.contains(&"payments-ok".to_owned()), "{names:?}");

        // Markup in free text is refused on its field (it would travel on into annotations,
        // kubectl output, CSV and webhooks); nothing is stored.
        let mut d = draft("payments-markup", "payments", "small");
        d.purpose = "<script>alert(1)</script>".to_owned();
        let answer = submit(&app, &dana, &d).await;
        assert_eq!(answer["Invalid"][0]["field"], "purpose", "{answer}");
        assert!(
            answer["Invalid"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("markup")),
            "{answer}"
        );
        let answer = submit(&app, &dana, &draft("payments-markup", "payments", "small")).await;
        assert!(answer.get("Submitted").is_some(), "{answer}");

        // The same name twice: the second is refused on its field.
        let again = submit(&app, &dana, &draft("payments-markup", "payments", "small")).await;
        assert!(
            again["Invalid"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("taken")),
            "{again}"
        );

        // Signed out: refused, nothing stored.
        let res = app
            .client
            .post(app.url(SubmitDraft::PATH))
            .header(ORIGIN, &app.base)
            .json(&json!({ "draft": draft("payments-anon", "payments", "small") }))
            .send()
            .await
            .expect("anonymous submit");
        assert_ne!(res.status(), 200);
        assert_eq!(requests(&app, &dana).await.len(), 1);
        app.stop().await;
    });
}

#[test]
fn a_large_namespace_waits_for_a_manager_of_its_team() {
    common::run(async {
        let (_pg, app) = app().await;
        let dana = sign_in(&app, "demo:dana").await;
        let answer = submit(&app, &dana, &draft("payments-big", "payments", "large")).await;
        assert_eq!(answer["Submitted"]["state"], "Pending", "{answer}");
        let id = answer["Submitted"]["id"].as_str().expect("id").to_owned();
        let listed = requests(&app, &dana).await;
        assert_eq!(
            listed[0]["can_decide"], false,
            "the requester does not decide"
        );

        let decide = |cookie: String, approve: &'static str, reason: &'static str| {
            let app = &app;
            let id = id.clone();
            async move {
                call_form(
                    app,
                    &cookie,
                    DecideRequest::PATH,
                    &[
                        ("id", id.as_str()),
                        ("approve", approve),
                        ("reason", reason),
                    ],
                )
                .await
            }
        };
        let refused = decide(dana.clone(), "true", "").await;
        assert!(
            refused["Err"]
                .as_str()
                .is_some_and(|m| m.contains("managers of team payments")),
            "{refused}"
        );
        let sam = sign_in(&app, "demo:sam").await;
        let refused = decide(sam.clone(), "true", "").await;
        assert!(
            refused["Err"].is_string(),
            "an SRE outside the team does not approve: {refused}"
        );
        assert_eq!(
            state_of(&app, &dana, "payments-big").await.as_deref(),
            Some("Pending")
        );

        let mike = sign_in(&app, "demo:mike").await;
        let no_reason = decide(mike.clone(), "false", " ").await;
        assert!(
            no_reason["Err"].as_str().is_some_and(|m| m.contains("why")),
            "{no_reason}"
        );
        assert_eq!(requests(&app, &mike).await[0]["can_decide"], true);
        let approved = decide(mike.clone(), "true", "sized for the launch").await;
        assert_eq!(approved["state"], "Approved", "{approved}");
        let twice = decide(mike.clone(), "false", "changed my mind").await;
        assert!(
            twice["Err"]
                .as_str()
                .is_some_and(|m| m.contains("no longer pending")),
            "{twice}"
        );
        wait_for_state(&app, &dana, "payments-big", "Ready").await;
        let row = requests(&app, &dana).await.remove(0);
        assert_eq!(row["decided_by"], "Mike Manager");
        assert_eq!(row["decision_reason"], "sized for the launch");

        // A denial says why, and the name is free again.
        let answer = submit(&app, &dana, &draft("payments-huge", "payments", "large")).await;
        let id2 = answer["Submitted"]["id"].as_str().expect("id").to_owned();
        let denied = call_form(
            &app,
            &mike,
            DecideRequest::PATH,
            &[
                ("id", id2.as_str()),
                ("approve", "false"),
                ("reason", "use medium"),
            ],
        )
        .await;
        assert_eq!(denied["state"], "Denied", "{denied}");
        let again = submit(&app, &dana, &draft("payments-huge", "payments", "small")).await;
        assert!(again.get("Submitted").is_some(), "{again}");
        app.stop().await;
    });
}

fn plan(name: &str, request_id: &str) -> Plan {
    Plan {
        request_id: request_id.to_owned(),
        draft: draft(name, "payments", "small"),
        requester: "demo:dana".to_owned(),
        tier: tenancy::seed_tiers()[0].spec.clone(),
        expires_at: None,
    }
}

fn system_event(name: &str) -> domain::audit::NewEvent {
    domain::audit::NewEvent {
        actor_id: "demo:dana".to_owned(),
        actor_display: "Dana".to_owned(),
        actor_roles: vec!["developer".to_owned()],
        source: "test".to_owned(),
        request_id: "test".to_owned(),
        action: "namespace.request".to_owned(),
        target_kind: "Namespace".to_owned(),
        target_namespace: name.to_owned(),
        target_cluster: String::new(),
        target_name: name.to_owned(),
        before: None,
        after: None,
        outcome: "success".to_owned(),
    }
}

/// Store, cluster and provisioner without the HTTP server, so the test decides when passes run.
async fn parts(
    pg: &TestPostgres,
) -> (
    Store,
    std::sync::Arc<common::TestCluster>,
    server::cluster::Cluster,
    tempfile::TempDir,
) {
    let url = pg.database("berth_test").await;
    let store = Store::connect(&url, &test_config().database)
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    let cluster = common::TestCluster::shared().await;
    let dir = common::scratch_dir("onboarding-");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, common::berth_kubeconfig(&cluster).await).expect("kubeconfig");
    let connection = server::cluster::Cluster::connect(&server::cluster::ClusterConfig {
        kubeconfig: Some(kubeconfig),
        ..Default::default()
    })
    .await
    .expect("cluster");
    (store, cluster, connection, dir)
}

#[test]
fn provisioning_resumes_after_a_crash_without_duplicates() {
    common::run(async {
        let pg = TestPostgres::start();
        let (store, sandbox, cluster, _dir) = parts(&pg).await;
        let p = plan("payments-resume", "nr-resume0001");
        store
            .create_namespace_request(
                NewRequest {
                    plan: p.clone(),
                    requester_name: "Dana".to_owned(),
                    state: RequestState::Approved,
                    expires_in_secs: Some(3600),
                    decided_by: Some(server::store::tenancy::Decider::policy()),
                    decision_reason: None,
                },
                system_event("payments-resume"),
            )
            .await
            .expect("request");
        // A previous run started, applied the first two objects, and died.
        store
            .start_provisioning("nr-resume0001")
            .await
            .expect("start");
        let stored = store
            .namespace_request("nr-resume0001")
            .await
            .expect("read")
            .expect("row");
        for manifest in tenancy::manifests(&stored.plan).iter().take(2) {
            cluster.apply(manifest).await.expect("partial apply");
        }

        let provisioner = Provisioner::new(
            store.clone(),
            Fleet::of(cluster.clone()),
            Default::default(),
            Duration::from_secs(60),
        );
        assert_eq!(provisioner.pass().await.expect("pass"), 1);
        let row = store
            .namespace_request("nr-resume0001")
            .await
            .expect("read")
            .expect("row");
        assert_eq!(row.state, RequestState::Ready, "{:?}", row.last_error);
        assert_eq!(row.attempts, 2);
        // Nothing is due any more, and a second pass changes nothing.
        assert_eq!(provisioner.pass().await.expect("pass"), 0);

        let client = sandbox.admin_client().await;
        let quotas = Api::<ResourceQuota>::namespaced(client.clone(), "payments-resume")
            .list(&ListParams::default())
            .await
            .expect("quotas");
        assert_eq!(quotas.items.len(), 1);
        let bindings = Api::<RoleBinding>::namespaced(client.clone(), "payments-resume")
            .list(&ListParams::default().labels("app.kubernetes.io/managed-by=berth"))
            .await
            .expect("bindings");
        assert_eq!(bindings.items.len(), 1);
        let provisioned: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_events WHERE action = 'namespace.provision' \
             AND request_id = 'nr-resume0001'",
        )
        .fetch_one(store.pool())
        .await
        .expect("count");
        assert_eq!(provisioned, 1, "one provisioning event");
        let verified = store.verify_audit(&[]).await.expect("verify");
        assert!(
            matches!(verified, Verdict::Intact { events: 2 }),
            "the chain holds the request and the provisioning: {verified:?}"
        );
    });
}

#[test]
fn a_namespace_berth_did_not_make_is_never_taken_over() {
    common::run(async {
        let pg = TestPostgres::start();
        let (store, sandbox, cluster, _dir) = parts(&pg).await;
        store
            .create_namespace_request(
                NewRequest {
                    plan: plan("someone-elses", "nr-foreign001"),
                    requester_name: "Dana".to_owned(),
                    state: RequestState::Approved,
                    expires_in_secs: None,
                    decided_by: Some(server::store::tenancy::Decider::policy()),
                    decision_reason: None,
                },
                system_event("someone-elses"),
            )
            .await
            .expect("request");
        // Someone makes the namespace by hand between the request and provisioning.
        let client = sandbox.admin_client().await;
        let mut ns = Namespace::default();
        ns.metadata.name = Some("someone-elses".to_owned());
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create");
        let provisioner = Provisioner::new(
            store.clone(),
            Fleet::of(cluster),
            Default::default(),
            Duration::from_secs(60),
        );
        provisioner.pass().await.expect("pass");
        let row = store
            .namespace_request("nr-foreign001")
            .await
            .expect("read")
            .expect("row");
        assert_eq!(row.state, RequestState::Failed);
        assert!(
            row.last_error
                .as_deref()
                .is_some_and(|e| e.contains("already exists")),
            "{:?}",
            row.last_error
        );
        let quotas = Api::<ResourceQuota>::namespaced(client, "someone-elses")
            .list(&ListParams::default())
            .await
            .expect("quotas");
        assert!(quotas.items.is_empty(), "nothing applied into it");
    });
}

#[test]
fn expired_namespaces_are_deleted_and_audited_but_only_berths_own() {
    common::run(async {
        let pg = TestPostgres::start();
        let (store, sandbox, cluster, _dir) = parts(&pg).await;
        for (name, id) in [
            ("payments-brief", "nr-brief00001"),
            ("payments-kept", "nr-kept000001"),
        ] {
            store
                .create_namespace_request(
                    NewRequest {
                        plan: plan(name, id),
                        requester_name: "Dana".to_owned(),
                        state: RequestState::Approved,
                        expires_in_secs: Some(1),
                        decided_by: Some(server::store::tenancy::Decider::policy()),
                        decision_reason: None,
                    },
                    system_event(name),
                )
                .await
                .expect("request");
        }
        let provisioner = Provisioner::new(
            store.clone(),
            Fleet::of(cluster.clone()),
            Default::default(),
            Duration::from_secs(60),
        );
        assert_eq!(provisioner.pass().await.expect("provision"), 2);
        // Someone re-labels one namespace as theirs: Berth must leave it alone.
        let client = sandbox.admin_client().await;
        let namespaces = Api::<Namespace>::all(client.clone());
        namespaces
            .patch(
                "payments-kept",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(
                    json!({"metadata": {"labels": {"berth.dev/request": "someone-else"}}}),
                ),
            )
            .await
            .expect("relabel");
        tokio::time::sleep(Duration::from_millis(1500)).await;

        let expirer = server::reconcile::expiry::Expirer::new(
            store.clone(),
            Fleet::of(cluster.clone()),
            Duration::from_secs(60),
            None,
        );
        assert_eq!(expirer.pass().await.expect("expire"), 1);
        assert_eq!(
            expirer.pass().await.expect("again"),
            0,
            "nothing left to do"
        );
        for id in ["nr-brief00001", "nr-kept000001"] {
            let row = store
                .namespace_request(id)
                .await
                .expect("read")
                .expect("row");
            assert_eq!(row.state, RequestState::Expired, "{id}");
        }
        let brief = namespaces.get_opt("payments-brief").await.expect("get");
        assert!(
            brief.is_none_or(|ns| ns.metadata.deletion_timestamp.is_some()),
            "the expired namespace is being deleted"
        );
        let kept = namespaces.get("payments-kept").await.expect("kept");
        assert!(
            kept.metadata.deletion_timestamp.is_none(),
            "not Berth's: left alone"
        );
        let events: Vec<(String, String)> = sqlx::query_as(
            "SELECT action, target_cluster FROM audit_events WHERE actor_id = 'berth' \
             AND action LIKE 'namespace.%' AND request_id = 'nr-brief00001' ORDER BY seq",
        )
        .fetch_all(store.pool())
        .await
        .expect("audit");
        let actions: Vec<&str> = events.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            actions,
            [
                "namespace.provision",
                "namespace.expire",
                "namespace.delete"
            ]
        );
        // The request names no cluster (as before the fleet): its events name the home one.
        assert!(
            events.iter().all(|(_, cluster)| cluster == "default"),
            "{events:?}"
        );
    });
}

#[test]
fn the_quota_view_shows_a_teams_namespaces_and_its_bars_follow_usage() {
    common::run(async {
        let (_pg, app) = app().await;
        let dana = sign_in(&app, "demo:dana").await;
        submit(&app, &dana, &draft("payments-quota", "payments", "small")).await;
        wait_for_state(&app, &dana, "payments-quota", "Ready").await;
        let overview = |cookie: String| {
            let app = &app;
            async move {
                call_form(app, &cookie, app::api::QuotaOverview::PATH, &[])
                    .await
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            }
        };
        let cpu_of = |list: &[Value]| {
            list.iter()
                .find(|n| n["name"] == "payments-quota")
                .and_then(|n| {
                    n["quota"]
                        .as_array()?
                        .iter()
                        .find(|l| l["resource"] == "requests.cpu")
                        .cloned()
                })
        };
        let list = overview(dana.clone()).await;
        let names: Vec<&str> = list.iter().filter_map(|n| n["name"].as_str()).collect();
        assert!(names.contains(&"payments-quota"), "{names:?}");
        assert!(
            !names.contains(&"kube-system"),
            "no team, not Dana's: {names:?}"
        );
        let line = cpu_of(&list).expect("requests.cpu line");
        assert_eq!(line["hard"], "2");

        // A pod asking for 1.7 of the 2 CPUs moves the bar past 80 %.
        let client = admin_client(&app).await;
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
            "metadata": {"name": "big"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                "resources": {"requests": {"cpu": "1700m", "memory": "1Gi"}, "limits": {"cpu": "1700m", "memory": "1Gi"}}}]}
        }))
        .expect("pod");
        Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client, "payments-quota")
            .create(&PostParams::default(), &pod)
            .await
            .expect("create pod");
        let deadline = Instant::now() + common::PATIENCE;
        loop {
            let list = overview(dana.clone()).await;
            let line = cpu_of(&list).expect("line");
            if line["pressure"] == "Near" {
                assert_eq!(line["used"], "1.7");
                assert_eq!(list[0]["name"], "payments-quota", "nearest quota first");
                assert_eq!(list[0]["qos"]["guaranteed"], 1);
                break;
            }
            assert!(Instant::now() < deadline, "the bar never moved: {line}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // SREs see every namespace, team or not.
        let sam = sign_in(&app, "demo:sam").await;
        let all = overview(sam.clone()).await;
        assert!(all.iter().any(|n| n["name"] == "kube-system"));

        // Capacity: SREs see every node with the big pod's request on one of them.
        let capacity = call_form(&app, &sam, app::api::CapacityOverview::PATH, &[]).await;
        let nodes = capacity["nodes"].as_array().cloned().unwrap_or_default();
        assert_eq!(nodes.len(), 3, "{capacity}");
        let requested: f64 = nodes
            .iter()
            .filter_map(|n| n["requested_cpu"].as_f64())
            .sum();
        assert!(requested >= 1.7, "{capacity}");
        let allocatable: f64 = nodes
            .iter()
            .filter_map(|n| n["allocatable_cpu"].as_f64())
            .sum();
        assert!(allocatable > requested, "{capacity}");
        let total = capacity["allocatable_cpu"].as_f64().unwrap_or(0.0);
        assert!((total - allocatable).abs() < 1e-6, "{capacity}");
        let refused = call_form(&app, &dana, app::api::CapacityOverview::PATH, &[]).await;
        assert!(
            refused["Err"]
                .as_str()
                .is_some_and(|m| m.contains("SREs, managers and admins")),
            "{refused}"
        );
        app.stop().await;
    });
}

/// A webhook receiver on loopback: what it was sent, and its address. `/fail` answers 500.
async fn webhook() -> (
    std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    String,
    tokio::task::JoinHandle<()>,
) {
    use axum::routing::post;
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = received.clone();
    let router = axum::Router::new()
        .route(
            "/hook",
            post(move |axum::Json(body): axum::Json<Value>| {
                let sink = sink.clone();
                async move {
                    if let Ok(mut all) = sink.lock() {
                        all.push(body);
                    }
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        )
        .route(
            "/fail",
            post(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (received, base, task)
}

#[test]
fn expiry_warnings_reach_the_webhook_three_days_and_one_day_before_once_each() {
    common::run(async {
        let pg = TestPostgres::start();
        let (store, _sandbox, cluster, _dir) = parts(&pg).await;
        let (received, base, hook) = webhook().await;
        for (name, id) in [
            ("payments-soon", "nr-soon000001"),
            ("payments-later", "nr-later00001"),
        ] {
            store
                .create_namespace_request(
                    NewRequest {
                        plan: plan(name, id),
                        requester_name: "Dana".to_owned(),
                        state: RequestState::Ready,
                        expires_in_secs: Some(if name == "payments-soon" {
                            2 * 86_400 + 3_600
                        } else {
                            10 * 86_400
                        }),
                        decided_by: Some(server::store::tenancy::Decider::policy()),
                        decision_reason: None,
                    },
                    system_event(name),
                )
                .await
                .expect("request");
        }
        let expirer = |path: &str| {
            server::reconcile::expiry::Expirer::new(
                store.clone(),
                Fleet::of(cluster.clone()),
                Duration::from_secs(60),
                Some(format!("{base}{path}")),
            )
        };
        // A webhook that fails records nothing: the warning goes out on a later pass.
        assert!(expirer("/fail").send_warnings().await.is_err());
        let good = expirer("/hook");
        assert_eq!(good.send_warnings().await.expect("send"), 1);
        assert_eq!(good.send_warnings().await.expect("again"), 0, "once");
        sqlx::query(
            "UPDATE namespace_requests SET expires_at = now() + interval '12 hours' \
             WHERE id = 'nr-soon000001'",
        )
        .execute(store.pool())
        .await
        .expect("move expiry");
        assert_eq!(good.send_warnings().await.expect("one day"), 1);
        assert_eq!(good.send_warnings().await.expect("again"), 0, "once");
        let sent = received.lock().map(|v| v.clone()).unwrap_or_default();
        let days: Vec<(&str, i64)> = sent
            .iter()
            .map(|n| {
                (
                    n["namespace"].as_str().unwrap_or(""),
                    n["days_before"].as_i64().unwrap_or(0),
                )
            })
            .collect();
        assert_eq!(days, [("payments-soon", 3), ("payments-soon", 1)]);
        assert_eq!(sent[1]["team"], "payments");
        assert!(
            sent[1]["text"]
                .as_str()
                .is_some_and(|t| t.contains("within a day")),
            "{sent:?}"
        );
        hook.abort();
    });
}

#[test]
fn where_the_cluster_trusts_the_identity_provider_the_kubeconfig_signs_in_with_it() {
    common::run(async {
        let pg = TestPostgres::start();
        let url = pg.database("berth_test").await;
        let mut config = test_config();
        config.oidc = Some(server::config::OidcConfig {
            // Never asked: the kubeconfig only names it.
            issuer_url: "https://login.example.com".to_owned(),
            client_id: "berth".to_owned(),
            client_secret: Some("never-handed-out".to_owned()),
            redirect_url: "https://berth.example.com/auth/oidc/callback".to_owned(),
            scopes: vec!["groups".to_owned()],
            roles: Default::default(),
            teams: Default::default(),
            admins: Vec::new(),
            cluster_trusts_issuer: true,
            kubectl_client_id: "kubectl".to_owned(),
        });
        // Berth inside the cluster knows it by an internal address; users get the public one.
        config.cluster.name = "eu-prod".to_owned();
        config.cluster.public_server = Some("https://k8s.example.com:6443".to_owned());
        // A cluster of its own: that no certificate was asked for is read cluster-wide.
        let app = common::TestApp::spawn_private(&url, config).await;
        let dana = sign_in(&app, "demo:dana").await;
        submit(&app, &dana, &draft("payments-oidc", "payments", "small")).await;
        wait_for_state(&app, &dana, "payments-oidc", "Ready").await;
        let text = namespace_kubeconfig(&app, &dana, "payments-oidc").await;
        for needle in [
            "- oidc-login",
            "--oidc-issuer-url=https://login.example.com",
            "--oidc-client-id=kubectl",
            "namespace: payments-oidc",
            "certificate-authority-data:",
            "server: https://k8s.example.com:6443",
            "current-context: payments-oidc@eu-prod",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        for secret in ["client-key-data", "never-handed-out"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let store = Store::connect(&url, &test_config().database)
            .await
            .expect("store");
        let issued: Vec<Value> =
            sqlx::query_scalar("SELECT after FROM audit_events WHERE action = 'kubeconfig.issue'")
                .fetch_all(store.pool())
                .await
                .expect("audit");
        assert_eq!(
            issued,
            [
                json!({"kind": "oidc-exec", "issuer": "https://login.example.com", "cluster": "eu-prod"})
            ]
        );
        // No certificate was asked for.
        let csrs = Api::<k8s_openapi::api::certificates::v1::CertificateSigningRequest>::all(
            admin_client(&app).await,
        )
        .list(&ListParams::default())
        .await
        .expect("csrs");
        assert!(csrs.items.is_empty());
        app.stop().await;
    });
}
