//! The idle-resource report over real HTTP: VPA-style recommendations from a week of history,
//! applied to the workload in the cluster (and then no longer found), abandoned workloads
//! scaled to zero, and who may see and act on what.

use crate::common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use app::api::{ActOnIdle, IdleReport};
use common::TestApp;
use common::flows::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use leptos::server_fn::ServerFn;
use serde_json::{Value, json};
use server::store::Store;

async fn namespace(client: &kube::Client, name: &str, team: &str) {
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "berth.dev/team": team },
                      "annotations": { "berth.dev/contact": format!("{team}@example.com") } }
    }))
    .expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

async fn deployment(
    client: &kube::Client,
    ns: &str,
    name: &str,
    cpu: &str,
    memory: &str,
    usage: Value,
) {
    let d: Deployment = serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name }, "annotations": usage },
                "spec": { "containers": [{
                    "name": "app",
                    "image": "nginx:1.27",
                    "resources": {
                        "requests": { "cpu": cpu, "memory": memory },
                        "limits": { "cpu": cpu, "memory": memory },
                    },
                }]},
            },
        },
    }))
    .expect("deployment");
    Api::<Deployment>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
}

async fn report(app: &TestApp, cookie: &str) -> Vec<Value> {
    call_form(app, cookie, IdleReport::PATH, &[]).await["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn act(app: &TestApp, cookie: &str, id: &str) -> Value {
    call_form(app, cookie, ActOnIdle::PATH, &[("id", id)]).await
}

fn find<'a>(findings: &'a [Value], id: &str) -> Option<&'a Value> {
    findings.iter().find(|f| f["id"] == id)
}

const FAT: &str = "over-provisioned/payments-idle/Deployment/fat/app";
const SLEEPY: &str = "abandoned/payments-idle/Deployment/sleepy";

#[test]
fn recommendations_apply_to_the_workload_and_the_finding_goes_away() {
    common::run(async {
        let (_pg, app) = app().await;
        let admin = admin_client(&app).await;
        namespace(&admin, "payments-idle", "payments").await;
        namespace(&admin, "platform-idle", "platform").await;
        let steady = json!({
            "sandbox.berth.dev/usage-profile": "steady",
            "sandbox.berth.dev/cpu-usage": "100m",
            "sandbox.berth.dev/memory-usage": "200Mi",
        });
        deployment(&admin, "payments-idle", "fat", "1", "1Gi", steady.clone()).await;
        deployment(
            &admin,
            "payments-idle",
            "sleepy",
            "500m",
            "256Mi",
            json!({ "sandbox.berth.dev/usage-profile": "idle" }),
        )
        .await;
        deployment(&admin, "platform-idle", "fat", "1", "1Gi", steady).await;
        wait_scheduled(&admin, None, 6).await;
        let store = Store::connect(&app.database_url, &common::test_config().database)
            .await
            .expect("store");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        // Before any history there is nothing to judge; the server keeps that answer until
        // the usage roll-ups move on, which the import below does.
        let dana = sign_in(&app, "demo:dana").await;
        let before = report(&app, &dana).await;
        assert!(find(&before, FAT).is_none(), "{before:#?}");
        assert!(find(&before, SLEEPY).is_none(), "{before:#?}");
        server::demo_history::import(&store, &[("", &admin)], &[], 8, now)
            .await
            .expect("history");

        // Dana sees her team's findings, not platform's.
        let findings = report(&app, &dana).await;
        let fat = find(&findings, FAT).unwrap_or_else(|| panic!("{findings:#?}"));
        assert!(find(&findings, SLEEPY).is_some(), "{findings:#?}");
        assert!(
            !findings.iter().any(|f| f["namespace"] == "platform-idle"),
            "another team's"
        );
        assert_eq!(fat["team"], "payments");
        assert_eq!(fat["contact"], "payments@example.com");
        assert_eq!(fat["can_act"], true);
        // VPA: P90 × 1.15 of ~100m is ~115–125m; memory ~200 MiB × 1.15 with its swing.
        let patch = &fat["action"]["ApplyRecommendation"]["patch"];
        let millicores: f64 = patch["cpu_request"]
            .as_str()
            .and_then(|c| c.trim_end_matches('m').parse().ok())
            .unwrap_or(0.0);
        assert!((110.0..=130.0).contains(&millicores), "{patch}");
        assert_eq!(patch["cpu_limit"], patch["cpu_request"], "stays Guaranteed");
        let saving = fat["monthly_cost"].as_f64().unwrap_or(0.0);
        let expected = (1.0 - millicores / 1000.0) * 0.031611 * 730.0 * 2.0;
        assert!(saving > expected, "{saving} ≥ CPU part {expected}");

        // Apply it: the Deployment's template changes in the cluster, audited, and the finding
        // is gone.
        let applied = act(&app, &dana, FAT).await;
        assert!(
            applied
                .as_str()
                .is_some_and(|m| m.contains("fat: app now requests")),
            "{applied}"
        );
        let fat_now = Api::<Deployment>::namespaced(admin.clone(), "payments-idle")
            .get("fat")
            .await
            .expect("fat");
        let resources = fat_now
            .spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.containers[0].resources.clone());
        let requests = resources
            .as_ref()
            .and_then(|r| r.requests.clone())
            .unwrap_or_default();
        let limits = resources.and_then(|r| r.limits).unwrap_or_default();
        assert_eq!(
            Some(requests["cpu"].0.as_str()),
            patch["cpu_request"].as_str()
        );
        assert_eq!(
            Some(requests["memory"].0.as_str()),
            patch["memory_request"].as_str()
        );
        assert_eq!(
            Some(limits["cpu"].0.as_str()),
            patch["cpu_request"].as_str()
        );
        let deadline = Instant::now() + common::PATIENCE;
        while find(&report(&app, &dana).await, FAT).is_some() {
            assert!(
                Instant::now() < deadline,
                "the finding stayed after its fix"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let again = act(&app, &dana, FAT).await;
        assert!(
            again["Err"]
                .as_str()
                .is_some_and(|m| m.contains("resolved already")),
            "{again}"
        );
        let audit: Vec<(String, String)> = sqlx::query_as(
            "SELECT outcome, coalesce(before::text, '') FROM audit_events \
             WHERE action = 'workload.resources' AND target_name = 'fat' ORDER BY seq",
        )
        .fetch_all(store.pool())
        .await
        .expect("audit");
        assert_eq!(audit.len(), 2, "{audit:?}");
        assert_eq!(audit[0].0, "requested");
        assert!(
            audit[0].1.contains(r#""requests": {"cpu": "1""#),
            "before: {}",
            audit[0].1
        );
        assert_eq!(audit[1].0, "success");

        // Sam (platform) never sees payments' findings, so cannot act on them.
        let sam = sign_in(&app, "demo:sam").await;
        let refused = act(&app, &sam, SLEEPY).await;
        assert!(
            refused["Err"]
                .as_str()
                .is_some_and(|m| m.contains("no finding")),
            "{refused}"
        );
        // The abandoned one scales to zero.
        let scaled = act(&app, &dana, SLEEPY).await;
        assert!(
            scaled.as_str().is_some_and(|m| m.contains("scales to 0")),
            "{scaled}"
        );
        let sleepy = Api::<Deployment>::namespaced(admin.clone(), "payments-idle")
            .get("sleepy")
            .await
            .expect("sleepy");
        assert_eq!(sleepy.spec.replicas, Some(0));
        store.close().await;
        app.stop().await;
    });
}

#[test]
fn the_scan_finds_what_nothing_uses_and_owners_delete_it() {
    use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, ServiceAccount};

    common::run(async {
        let pg = common::TestPostgres::start();
        let url = pg.database("berth_unused").await;
        let mut config = common::test_config();
        config.usage.unused_scan = Duration::from_secs(1);
        // Objects made a moment ago count: the test cannot wait two days.
        config.usage.unused_grace_days = 0.0;
        let app = TestApp::spawn(&url, config).await;
        let admin = admin_client(&app).await;
        namespace(&admin, "payments-unused", "payments").await;
        let ns = "payments-unused";
        let create = |kind: &str, body: Value| {
            let admin = admin.clone();
            let kind = kind.to_owned();
            async move {
                let params = PostParams::default();
                match kind.as_str() {
                    "cm" => Api::<ConfigMap>::namespaced(admin, ns)
                        .create(&params, &serde_json::from_value(body).expect("cm"))
                        .await
                        .map(|_| ()),
                    "secret" => Api::<Secret>::namespaced(admin, ns)
                        .create(&params, &serde_json::from_value(body).expect("secret"))
                        .await
                        .map(|_| ()),
                    "sa" => Api::<ServiceAccount>::namespaced(admin, ns)
                        .create(&params, &serde_json::from_value(body).expect("sa"))
                        .await
                        .map(|_| ()),
                    _ => Api::<PersistentVolumeClaim>::namespaced(admin, ns)
                        .create(&params, &serde_json::from_value(body).expect("pvc"))
                        .await
                        .map(|_| ()),
                }
                .expect("create");
            }
        };
        create(
            "cm",
            json!({ "metadata": { "name": "settings" }, "data": { "a": "1" } }),
        )
        .await;
        create(
            "cm",
            json!({ "metadata": { "name": "old-settings" }, "data": { "a": "1" } }),
        )
        .await;
        create(
            "secret",
            json!({ "metadata": { "name": "forgotten" }, "stringData": { "k": "v" } }),
        )
        .await;
        create(
            "secret",
            json!({ "metadata": { "name": "registry" }, "stringData": { "k": "v" } }),
        )
        .await;
        create("sa", json!({ "metadata": { "name": "builder" }, "imagePullSecrets": [{ "name": "registry" }] })).await;
        create("pvc", json!({ "metadata": { "name": "orphan" }, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "5Gi" } } } })).await;
        // A Deployment scaled to zero still refers to what its template names.
        let d: Deployment = serde_json::from_value(json!({
            "metadata": { "name": "paused-web" },
            "spec": {
                "replicas": 0,
                "selector": { "matchLabels": { "app": "paused-web" } },
                "template": {
                    "metadata": { "labels": { "app": "paused-web" } },
                    "spec": { "containers": [{
                        "name": "app", "image": "nginx:1.27",
                        "envFrom": [{ "configMapRef": { "name": "settings" } }],
                    }]},
                },
            },
        }))
        .expect("deployment");
        Api::<Deployment>::namespaced(admin.clone(), ns)
            .create(&PostParams::default(), &d)
            .await
            .expect("deployment");

        // A StatefulSet's claims: `data-db-0` is its one replica's (made by the controller and
        // mounted); `data-db-1` was left behind when it was scaled down from two.
        create("pvc", json!({ "metadata": { "name": "data-db-1" }, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "5Gi" } } } })).await;
        let db: k8s_openapi::api::apps::v1::StatefulSet = serde_json::from_value(json!({
            "metadata": { "name": "db" },
            "spec": {
                "replicas": 1, "serviceName": "db",
                "selector": { "matchLabels": { "app": "db" } },
                "template": {
                    "metadata": { "labels": { "app": "db" } },
                    "spec": { "containers": [{ "name": "db", "image": "postgres:16.2" }] },
                },
                "volumeClaimTemplates": [{ "metadata": { "name": "data" }, "spec": {
                    "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "5Gi" } } } }],
            },
        }))
        .expect("statefulset");
        Api::<k8s_openapi::api::apps::v1::StatefulSet>::namespaced(admin.clone(), ns)
            .create(&PostParams::default(), &db)
            .await
            .expect("statefulset");

        // Services: one in front of a running pod, one in front of the Deployment at zero,
        // one naming a host outside (no endpoints by design).
        deployment(&admin, ns, "live", "10m", "16Mi", json!({})).await;
        let services = Api::<k8s_openapi::api::core::v1::Service>::namespaced(admin.clone(), ns);
        for body in [
            json!({ "metadata": { "name": "live" }, "spec": { "selector": { "app": "live" }, "ports": [{ "port": 80 }] } }),
            json!({ "metadata": { "name": "paused-web" }, "spec": { "selector": { "app": "paused-web" }, "ports": [{ "port": 80 }] } }),
            json!({ "metadata": { "name": "partner" }, "spec": { "type": "ExternalName", "externalName": "api.partner.example" } }),
        ] {
            services
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(body).expect("service"),
                )
                .await
                .expect("service");
        }

        let dana = sign_in(&app, "demo:dana").await;
        let want = [
            "unused/ConfigMap/payments-unused/old-settings",
            "unused/Secret/payments-unused/forgotten",
            "unused/PersistentVolumeClaim/payments-unused/orphan",
            "unused/PersistentVolumeClaim/payments-unused/data-db-1",
            "unused/Service/payments-unused/paused-web",
        ];
        let deadline = Instant::now() + common::PATIENCE;
        let findings = loop {
            let findings = report(&app, &dana).await;
            // Once the live pod is ready its Service has an endpoint and drops out.
            if want.iter().all(|id| find(&findings, id).is_some())
                && find(&findings, "unused/Service/payments-unused/live").is_none()
            {
                break findings;
            }
            assert!(
                Instant::now() < deadline,
                "the scan never found them: {findings:#?}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        let left = find(&findings, want[3]).expect("data-db-1");
        assert!(
            left["summary"]
                .as_str()
                .is_some_and(|s| s.contains("left by scaling StatefulSet db down to 1")),
            "{left}"
        );
        let dead = find(&findings, want[4]).expect("paused-web service");
        assert!(
            dead["summary"]
                .as_str()
                .is_some_and(|s| s.contains("no ready endpoints")),
            "{dead}"
        );
        assert_eq!(dead["can_act"], false, "Services are advice only");
        for kept in [
            "settings",
            "registry",
            "builder",
            "default",
            "data-db-0",
            "partner",
        ] {
            assert!(
                !findings.iter().any(|f| f["kind"] == "Unused"
                    && f["workload"]
                        .as_str()
                        .is_some_and(|w| w.ends_with(&format!("/{kept}")))),
                "{kept} is in use: {findings:#?}"
            );
        }
        let orphan = find(&findings, want[2]).expect("orphan");
        assert!(
            (orphan["monthly_cost"].as_f64().unwrap_or(0.0) - 0.2).abs() < 1e-9,
            "5 GiB at $0.04"
        );
        assert_eq!(orphan["can_act"], true);

        // Dana deletes the stale ConfigMap from the report: gone from the cluster and the
        // report, audited.
        let done = act(&app, &dana, want[0]).await;
        assert_eq!(
            done, "ConfigMap old-settings deleted from payments-unused",
            "{done}"
        );
        let gone = Api::<ConfigMap>::namespaced(admin.clone(), ns)
            .get_opt("old-settings")
            .await;
        assert!(matches!(gone, Ok(None)), "{gone:?}");
        assert!(find(&report(&app, &dana).await, want[0]).is_none());
        let store = Store::connect(&url, &common::test_config().database)
            .await
            .expect("store");
        let audit: Vec<(String,)> = sqlx::query_as(
            "SELECT outcome FROM audit_events WHERE action = 'object.delete' ORDER BY seq",
        )
        .fetch_all(store.pool())
        .await
        .expect("audit");
        assert_eq!(audit, [("requested".to_owned(),), ("success".to_owned(),)]);
        // And the orphaned claim and the forgotten Secret: each kind Berth deletes, deleted
        // under the chart's ClusterRole.
        for (id, message) in [
            (
                want[2],
                "PersistentVolumeClaim orphan deleted from payments-unused",
            ),
            (want[1], "Secret forgotten deleted from payments-unused"),
        ] {
            let done = act(&app, &dana, id).await;
            assert_eq!(done, message, "{done}");
        }
        // Deleted: gone once kube-controller-manager lifts its pvc-protection finalizer, which
        // under load takes a moment after the delete returns.
        let deadline = Instant::now() + common::PATIENCE;
        loop {
            let claim = Api::<PersistentVolumeClaim>::namespaced(admin.clone(), ns)
                .get_opt("orphan")
                .await;
            match claim {
                Ok(None) => break,
                Ok(Some(c)) if c.metadata.deletion_timestamp.is_some() => {
                    assert!(
                        Instant::now() < deadline,
                        "the claim was never removed: {c:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => panic!("{other:?}"),
            }
        }
        let secret = Api::<Secret>::namespaced(admin.clone(), ns)
            .get_opt("forgotten")
            .await;
        assert!(matches!(secret, Ok(None)), "{secret:?}");
        // Sam (platform) sees none of it and cannot delete it.
        let sam = sign_in(&app, "demo:sam").await;
        let refused = act(&app, &sam, want[1]).await;
        assert!(
            refused["Err"]
                .as_str()
                .is_some_and(|m| m.contains("no finding")),
            "{refused}"
        );
        store.close().await;
        app.stop().await;
    });
}

/// The report's usage answer is computed again in the background once the roll-ups move, so
/// the next viewer is not the one who waits for it.
#[test]
fn the_usage_answer_is_renewed_in_the_background_when_the_roll_ups_move() {
    common::run(async {
        let pg = common::TestPostgres::start();
        let url = pg.database("idle_warm").await;
        let store = Store::connect(&url, &common::test_config().database)
            .await
            .expect("store");
        store.migrate().await.expect("migrate");
        let memo = server::services::usage_memo::UsageMemo::default();
        let warm = tokio::spawn({
            let (memo, store) = (memo.clone(), store.clone());
            async move { memo.keep_warm(store, 8, 8, Duration::from_millis(50)).await }
        });
        let computed = |n: u64| {
            let memo = memo.clone();
            async move {
                let deadline = Instant::now() + common::PATIENCE;
                while memo.computations() < n {
                    assert!(Instant::now() < deadline, "not computed {n} times");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        // The first answer at start, and nothing more while nothing moves. (Were the hour to
        // turn during this half second, a second computation would be right too.)
        computed(1).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let quiet = memo.computations();
        assert!(quiet == 1 || hour_turned_lately(), "computed {quiet} times");

        // The roll-ups move: renewed with no viewer asking.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        store
            .import_history(&[], now - 7_200.0, now - 3_600.0)
            .await
            .expect("import");
        computed(quiet + 1).await;
        // The viewer who comes next gets it as it is.
        let before = memo.computations();
        memo.get(&store, now as i64, 8, 8).await.expect("answer");
        assert!(memo.computations() == before || hour_turned_lately());
        warm.abort();
    });
}

fn hour_turned_lately() -> bool {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .is_ok_and(|d| d.as_secs() % 3_600 < 5)
}

/// The scan is minutes old when an owner acts on it: a delete names the uid and
/// resourceVersion the scan saw, so an object replaced or changed since is not deleted, and one
/// a pod or workload has started to use meanwhile is refused too.
#[test]
fn a_delete_from_the_report_touches_only_the_object_the_scan_saw() {
    use k8s_openapi::api::core::v1::ConfigMap;

    common::run(async {
        let pg = common::TestPostgres::start();
        let url = pg.database("berth_unused_preconditions").await;
        let cluster = common::TestCluster::shared().await;
        let admin = cluster.admin_client().await;
        let ns = "payments-stale";
        namespace(&admin, ns, "payments").await;
        let config_maps = Api::<ConfigMap>::namespaced(admin.clone(), ns);
        let make = |name: &'static str, value: &'static str| {
            let config_maps = config_maps.clone();
            async move {
                config_maps
                    .create(
                        &PostParams::default(),
                        &serde_json::from_value(
                            json!({ "metadata": { "name": name }, "data": { "v": value } }),
                        )
                        .expect("cm"),
                    )
                    .await
                    .expect("create");
            }
        };
        for name in ["replaced", "edited", "adopted", "stale"] {
            make(name, "1").await;
        }
        // One scan, at start; none again while the test runs.
        let mut config = common::test_config();
        config.usage.unused_scan = Duration::from_secs(3600);
        config.usage.unused_grace_days = 0.0;
        let kubeconfig = common::berth_kubeconfig(&cluster).await;
        let app = TestApp::spawn_on(&url, config, &kubeconfig).await;
        let dana = sign_in(&app, "demo:dana").await;
        let id = |name: &str| format!("unused/ConfigMap/{ns}/{name}");
        let deadline = Instant::now() + common::PATIENCE;
        while find(&report(&app, &dana).await, &id("stale")).is_none() {
            assert!(Instant::now() < deadline, "the first scan never came");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // Replaced under the same name, and edited: the report's object is gone or changed.
        config_maps
            .delete("replaced", &Default::default())
            .await
            .expect("delete");
        make("replaced", "2").await;
        config_maps
            .patch(
                "edited",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(json!({ "data": { "v": "2" } })),
            )
            .await
            .expect("edit");
        // Taken into use by a Deployment since the scan.
        let adopter: Deployment = serde_json::from_value(json!({
            "metadata": { "name": "adopter" },
            "spec": {
                "replicas": 0,
                "selector": { "matchLabels": { "app": "adopter" } },
                "template": {
                    "metadata": { "labels": { "app": "adopter" } },
                    "spec": { "containers": [{
                        "name": "app", "image": "nginx:1.27",
                        "envFrom": [{ "configMapRef": { "name": "adopted" } }],
                    }]},
                },
            },
        }))
        .expect("deployment");
        Api::<Deployment>::namespaced(admin.clone(), ns)
            .create(&PostParams::default(), &adopter)
            .await
            .expect("deployment");
        // Acted on once Berth's watch has seen it (its rollout list shows it).
        let deadline = Instant::now() + common::PATIENCE;
        loop {
            let groups = call_form(
                &app,
                &dana,
                app::api::RolloutOverview::PATH,
                &[("namespace", ns), ("team", "")],
            )
            .await;
            if groups.to_string().contains("\"adopter\"") {
                break;
            }
            assert!(Instant::now() < deadline, "Berth never saw the Deployment");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for (name, why) in [
            ("replaced", "changed since the scan"),
            ("edited", "changed since the scan"),
            ("adopted", "is in use now"),
        ] {
            let answer = act(&app, &dana, &id(name)).await;
            assert!(
                answer["Err"].as_str().is_some_and(|e| e.contains(why)),
                "{name}: {answer}"
            );
            let kept = config_maps.get_opt(name).await.expect("get");
            assert!(kept.is_some(), "{name} was deleted");
        }
        // The one nobody touched goes.
        let done = act(&app, &dana, &id("stale")).await;
        assert_eq!(done, format!("ConfigMap stale deleted from {ns}"), "{done}");
        assert!(config_maps.get_opt("stale").await.expect("get").is_none());
        app.stop().await;
    });
}

/// What kube-apiserver records: every answer about a Secret, in full, and nothing else.
const SECRETS_AUDIT_POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: RequestResponse
    resources:
      - group: ""
        resources: ["secrets"]
  - level: None
"#;

/// The scan needs a Secret's name, owner and age, never its contents, and neither does deleting
/// it from the report. On the real control plane, with kube-apiserver's audit log recording
/// each answer about Secrets, Berth (as the chart's ServiceAccount) is seen to list and delete
/// them and no answer it got holds the data; the administrator's plain list, beside it, shows
/// that the log would have caught it.
#[test]
fn the_unused_scan_and_its_deletes_never_fetch_secret_data() {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::ListParams;
    use sandbox::control_plane::ADMIN_USER;

    common::run(async {
        let cluster = common::TestCluster::private_with(None, |options| {
            options.audit_policy = Some(SECRETS_AUDIT_POLICY.to_owned());
        })
        .await;
        let plane = cluster.plane();
        let admin = cluster.admin_client().await;
        let kubeconfig = cluster.berth_kubeconfig().await;
        let pg = common::TestPostgres::start();
        let url = pg.database("berth_secret_data").await;
        let mut config = common::test_config();
        config.usage.unused_scan = Duration::from_secs(1);
        config.usage.unused_grace_days = 0.0;
        let app = TestApp::spawn_on(&url, config, &kubeconfig).await;
        app.wait_ready().await;

        let ns = "payments-vault";
        namespace(&admin, ns, "payments").await;
        let secrets = Api::<Secret>::namespaced(admin.clone(), ns);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let canary = format!("hunter2-{nanos}");
        for name in ["forgotten", "control"] {
            let secret: Secret = serde_json::from_value(json!({
                "metadata": { "name": name }, "stringData": { "password": canary }
            }))
            .expect("secret");
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .expect("create secret");
        }
        // As the data appears in an answer: base64, under `data`.
        let encoded = serde_json::to_value(ByteString(canary.clone().into_bytes()))
            .expect("encode")
            .as_str()
            .expect("base64 text")
            .to_owned();

        let dana = sign_in(&app, "demo:dana").await;
        let id = format!("unused/Secret/{ns}/forgotten");
        let deadline = Instant::now() + common::PATIENCE;
        while find(&report(&app, &dana).await, &id).is_none() {
            assert!(Instant::now() < deadline, "the scan never found the Secret");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let done = act(&app, &dana, &id).await;
        assert_eq!(
            done,
            format!("Secret forgotten deleted from {ns}"),
            "{done}"
        );
        // The control: the administrator's plain list, whose answer holds the data.
        let listed = secrets
            .list(&ListParams::default())
            .await
            .expect("the administrator lists them");
        assert!(
            listed
                .items
                .iter()
                .any(|s| s.metadata.name.as_deref() == Some("control"))
        );

        // The log is written as each answer completes, a moment after the client has it.
        let deadline = Instant::now() + common::PATIENCE;
        let (berth, control) = loop {
            let text = std::fs::read_to_string(plane.audit_log()).unwrap_or_default();
            let events: Vec<Value> = text
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect();
            let berth: Vec<Value> = events
                .iter()
                .filter(|e| e["user"]["username"] == server::demo::CHART_SERVICE_ACCOUNT)
                .cloned()
                .collect();
            let control = events.iter().find(|e| {
                e["user"]["username"] == ADMIN_USER
                    && e["verb"] == "list"
                    && e["objectRef"]["namespace"] == ns
            });
            let berth_deleted = berth
                .iter()
                .any(|e| e["verb"] == "delete" && e["objectRef"]["name"] == "forgotten");
            if let (true, Some(control)) = (berth_deleted, control) {
                break (berth, control.clone());
            }
            assert!(
                Instant::now() < deadline,
                "the audit log never showed Berth's delete and the administrator's list"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(
            control.to_string().contains(&encoded),
            "the log records an answer's data: {control}"
        );
        assert!(
            berth.iter().any(|e| e["verb"] == "list"),
            "Berth's scan lists Secrets: {berth:#?}"
        );
        for event in &berth {
            let text = event.to_string();
            assert!(
                !text.contains(&encoded) && !text.contains(&canary),
                "an answer to Berth held the Secret's data: {text}"
            );
            // A watch's stream is not in the log, so Berth must not watch Secrets at all.
            let verb = event["verb"].as_str().unwrap_or_default();
            assert!(
                ["list", "delete"].contains(&verb),
                "Berth made a {verb} on Secrets"
            );
            // A delete is answered with a Status, or (asked for metadata) the metadata alone.
            let allowed: &[&str] = if verb == "list" {
                &["PartialObjectMetadataList"]
            } else {
                &["Status", "PartialObjectMetadata"]
            };
            if event["responseStatus"]["code"] == 200 {
                let kind = event["responseObject"]["kind"].as_str().unwrap_or_default();
                assert!(allowed.contains(&kind), "{text}");
            }
        }
        app.stop().await;
    });
}
