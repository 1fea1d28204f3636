//! kube-rs against the sandbox: the client Berth uses must see a real API server.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Client, Error, ResourceExt};
use sandbox::{Sandbox, SandboxOptions};
use serde_json::json;

async fn start() -> (Sandbox, Client) {
    start_with(SandboxOptions::default()).await
}

async fn start_with(options: SandboxOptions) -> (Sandbox, Client) {
    let sandbox = Sandbox::start(options).await.expect("sandbox starts");
    let client = sandbox.admin_client().await.expect("admin client");
    (sandbox, client)
}

async fn namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

fn config_map(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .expect("cm")
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}
            }
        }
    }))
    .expect("deployment")
}

fn api_error(result: Result<impl std::fmt::Debug, Error>) -> Box<kube::core::Status> {
    match result {
        Err(Error::Api(status)) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn crud_round_trip() {
    let (_sandbox, client) = start().await;
    namespace(&client, "team-a").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "team-a");

    let created = api
        .create(
            &PostParams::default(),
            &config_map("settings", &[("app", "web")]),
        )
        .await
        .expect("create");
    assert!(created.uid().is_some());
    assert!(created.resource_version().is_some());
    assert!(created.creation_timestamp().is_some());
    assert_eq!(created.namespace().as_deref(), Some("team-a"));

    let fetched = api.get("settings").await.expect("get");
    assert_eq!(fetched.data, created.data);

    let again = api_error(
        api.create(&PostParams::default(), &config_map("settings", &[]))
            .await,
    );
    assert_eq!((again.code, again.reason.as_str()), (409, "AlreadyExists"));

    let mut changed = fetched.clone();
    changed.data = Some(BTreeMap::from([("k".to_owned(), "w".to_owned())]));
    let replaced = api
        .replace("settings", &PostParams::default(), &changed)
        .await
        .expect("replace");
    assert_eq!(
        replaced
            .data
            .as_ref()
            .and_then(|d| d.get("k"))
            .map(String::as_str),
        Some("w")
    );
    assert_ne!(replaced.resource_version(), fetched.resource_version());

    api.delete("settings", &DeleteParams::default())
        .await
        .expect("delete");
    let missing = api_error(api.get("settings").await);
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "configmaps \"settings\" not found");

    let no_ns: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    let err = api_error(
        no_ns
            .create(&PostParams::default(), &config_map("x", &[]))
            .await,
    );
    assert_eq!(err.code, 404);
    assert_eq!(err.message, "namespaces \"nowhere\" not found");
}

#[tokio::test]
async fn stale_updates_conflict() {
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "a");
    let first = api
        .create(&PostParams::default(), &config_map("c", &[]))
        .await
        .expect("create");
    let mut update = first.clone();
    update.data = Some(BTreeMap::from([("k".to_owned(), "1".to_owned())]));
    api.replace("c", &PostParams::default(), &update)
        .await
        .expect("first update");
    // `update` still carries the old resourceVersion.
    update.data = Some(BTreeMap::from([("k".to_owned(), "2".to_owned())]));
    let err = api_error(api.replace("c", &PostParams::default(), &update).await);
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("the object has been modified"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn status_is_a_subresource_and_generation_counts_spec_changes() {
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    // No controller in the sandbox writes PodDisruptionBudget status, so the test owns it.
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let api: Api<PodDisruptionBudget> = Api::namespaced(client, "a");
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}
    }))
    .expect("pdb");
    let created = api
        .create(&PostParams::default(), &pdb)
        .await
        .expect("create");
    assert_eq!(created.metadata.generation, Some(1));

    let status = json!({"status": {"observedGeneration": 1, "currentHealthy": 2, "desiredHealthy": 1, "disruptionsAllowed": 1, "expectedPods": 2}});
    let with_status = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
    assert_eq!(
        with_status.status.as_ref().and_then(|s| s.current_healthy),
        Some(2)
    );
    assert_eq!(with_status.metadata.generation, Some(1));

    // Status sent to the main resource is ignored; a spec change bumps generation.
    let patch = json!({"spec": {"minAvailable": 2}, "status": {"currentHealthy": 0}});
    let changed = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("spec change");
    assert_eq!(changed.metadata.generation, Some(2));
    assert_eq!(
        changed.status.as_ref().and_then(|s| s.current_healthy),
        Some(2)
    );

    // Labels only: no new generation.
    let labels = json!({"metadata": {"labels": {"team": "a"}}});
    let labelled = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&labels))
        .await
        .expect("label");
    assert_eq!(labelled.metadata.generation, Some(2));
}

#[tokio::test]
async fn patch_types() {
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let api: Api<Deployment> = Api::namespaced(client, "a");
    api.create(&PostParams::default(), &deployment("web"))
        .await
        .expect("create");

    let strategic = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:1.28"},
        {"name": "sidecar", "image": "envoy:1"}
    ]}}}});
    let patched = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(&strategic),
        )
        .await
        .expect("strategic");
    let containers = patched
        .spec
        .template
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let images: Vec<_> = containers
        .iter()
        .map(|c| (c.name.as_str(), c.image.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(images, [("web", "nginx:1.28"), ("sidecar", "envoy:1")]);

    let json_patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/spec/replicas", "value": 5}
    ]))
    .expect("json patch");
    let patched = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::<()>::Json(json_patch),
        )
        .await
        .expect("json");
    assert_eq!(patched.spec.replicas, Some(5));

    let stale = json!({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 1}});
    let err = api_error(
        api.patch("web", &PatchParams::default(), &Patch::Merge(&stale))
            .await,
    );
    assert_eq!(err.code, 409);
}

#[tokio::test]
async fn server_side_apply_owns_fields_per_manager() {
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "a");
    let berth = PatchParams::apply("berth");
    let desired = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"owner": "alice", "tier": "small"}},
        "data": {"a": "1"}});
    let first = api
        .patch("c", &berth, &Patch::Apply(&desired))
        .await
        .expect("apply creates");
    let second = api
        .patch("c", &berth, &Patch::Apply(&desired))
        .await
        .expect("re-apply");
    assert_eq!(
        first.resource_version(),
        second.resource_version(),
        "re-applying the same is a no-op"
    );
    assert_eq!(
        second
            .managed_fields()
            .first()
            .and_then(|m| m.manager.as_deref()),
        Some("berth")
    );

    // Dropping a field from the applied configuration removes it.
    let smaller = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"owner": "alice"}}, "data": {"a": "1"}});
    let third = api
        .patch("c", &berth, &Patch::Apply(&smaller))
        .await
        .expect("apply smaller");
    assert_eq!(third.labels().get("tier"), None);
    assert_eq!(
        third.labels().get("owner").map(String::as_str),
        Some("alice")
    );

    // Another manager setting the same field differently conflicts unless it forces.
    let rival = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}});
    let err = api_error(
        api.patch("c", &PatchParams::apply("rival"), &Patch::Apply(&rival))
            .await,
    );
    assert_eq!(err.code, 409);
    assert!(
        err.message.contains("conflict with \"berth\": .data.a"),
        "{}",
        err.message
    );
    let forced = api
        .patch(
            "c",
            &PatchParams::apply("rival").force(),
            &Patch::Apply(&rival),
        )
        .await
        .expect("force");
    assert_eq!(
        forced.data.and_then(|d| d.get("a").cloned()).as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn selectors_and_paging() {
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "a");
    for i in 0..25 {
        let track = if i % 5 == 0 { "canary" } else { "stable" };
        api.create(
            &PostParams::default(),
            &config_map(&format!("cm-{i:02}"), &[("track", track)]),
        )
        .await
        .expect("create");
    }
    let canary = api
        .list(&ListParams::default().labels("track=canary"))
        .await
        .expect("list");
    assert_eq!(canary.items.len(), 5);
    let set = api
        .list(&ListParams::default().labels("track in (canary,stable),!missing"))
        .await
        .expect("list");
    assert_eq!(set.items.len(), 25);
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=cm-07"))
        .await
        .expect("list");
    assert_eq!(
        by_name
            .items
            .iter()
            .map(|c| c.name_any())
            .collect::<Vec<_>>(),
        ["cm-07"]
    );

    let mut seen = Vec::new();
    let mut params = ListParams::default().limit(10);
    loop {
        let page = api.list(&params).await.expect("page");
        assert!(page.items.len() <= 10);
        seen.extend(page.items.iter().map(|c| c.name_any()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);

    let bad = api_error(api.list(&ListParams::default().labels("track in (x")).await);
    assert_eq!(bad.code, 400);
}

#[tokio::test]
async fn watch_resumes_and_answers_gone_when_too_old() {
    let (_sandbox, client) = start_with(SandboxOptions {
        history_limit: 50,
        ..SandboxOptions::default()
    })
    .await;
    namespace(&client, "a").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "a");
    let first = api
        .create(&PostParams::default(), &config_map("w0", &[]))
        .await
        .expect("create");
    let start_rv = first.resource_version().expect("rv");
    api.create(&PostParams::default(), &config_map("w1", &[]))
        .await
        .expect("create");
    api.delete("w0", &DeleteParams::default())
        .await
        .expect("delete");

    let mut stream = api
        .watch(&WatchParams::default().timeout(5), &start_rv)
        .await
        .expect("watch")
        .boxed();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match stream.try_next().await.expect("event") {
            Some(WatchEvent::Added(cm)) => seen.push(format!("added {}", cm.name_any())),
            Some(WatchEvent::Deleted(cm)) => seen.push(format!("deleted {}", cm.name_any())),
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    assert_eq!(seen, ["added w1", "deleted w0"]);

    // A change made while watching arrives live.
    let mut live = api
        .watch(
            &WatchParams::default().timeout(5),
            &api.list(&ListParams::default())
                .await
                .expect("list")
                .metadata
                .resource_version
                .unwrap_or_default(),
        )
        .await
        .expect("watch")
        .boxed();
    api.create(&PostParams::default(), &config_map("live", &[]))
        .await
        .expect("create");
    match tokio::time::timeout(Duration::from_secs(5), live.try_next()).await {
        Ok(Ok(Some(WatchEvent::Added(cm)))) => assert_eq!(cm.name_any(), "live"),
        other => panic!("no live event: {other:?}"),
    }

    // Push the start out of the kept history.
    for i in 0..60 {
        api.create(
            &PostParams::default(),
            &config_map(&format!("fill-{i}"), &[]),
        )
        .await
        .expect("fill");
    }
    let mut gone = api
        .watch(&WatchParams::default().timeout(5), &start_rv)
        .await
        .expect("watch")
        .boxed();
    match gone.try_next().await {
        Ok(Some(WatchEvent::Error(status))) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        Err(Error::Api(status)) => assert_eq!(status.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
}

#[tokio::test]
async fn runtime_watcher_sees_changes() {
    use kube::runtime::{WatchStreamExt, watcher};
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "a");
    let mut objects = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let writer = tokio::spawn(async move {
        for i in 0..3 {
            api.create(&PostParams::default(), &config_map(&format!("r{i}"), &[]))
                .await
                .expect("create");
        }
    });
    let mut names = Vec::new();
    while names.len() < 3 {
        let next = tokio::time::timeout(Duration::from_secs(10), objects.try_next()).await;
        match next {
            Ok(Ok(Some(cm))) => names.push(cm.name_any()),
            other => panic!("watcher stalled: {other:?}"),
        }
    }
    writer.await.expect("writer");
    names.sort();
    assert_eq!(names, ["r0", "r1", "r2"]);
}

#[tokio::test]
async fn owner_references_cascade() {
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "a");
    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), "a");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "a");
    let owner_ref = |kind: &str, api_version: &str, name: &str, uid: &str| json!([{"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": false}]);

    for (name, policy) in [("bg", None), ("orphan", Some("Orphan"))] {
        let d = deployments
            .create(&PostParams::default(), &deployment(name))
            .await
            .expect("deployment");
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": format!("{name}-rs"), "ownerReferences": owner_ref("Deployment", "apps/v1", name, &d.uid().unwrap_or_default())},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}
        })).expect("rs");
        let rs = replicasets
            .create(&PostParams::default(), &rs)
            .await
            .expect("create rs");
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": format!("{name}-pod"), "ownerReferences": owner_ref("ReplicaSet", "apps/v1", &rs.name_any(), &rs.uid().unwrap_or_default())},
            "spec": {"containers": [{"name": "c", "image": "i:1"}]}
        })).expect("pod");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("create pod");

        let params = match policy {
            Some("Orphan") => DeleteParams::orphan(),
            _ => DeleteParams::background(),
        };
        deployments.delete(name, &params).await.expect("delete");
        let rs_left = replicasets
            .get_opt(&format!("{name}-rs"))
            .await
            .expect("get rs");
        let pod_left = pods.get_opt(&format!("{name}-pod")).await.expect("get pod");
        match policy {
            Some("Orphan") => {
                let rs = rs_left.expect("orphaned rs stays");
                assert!(rs.owner_references().is_empty());
                assert!(pod_left.is_some());
            }
            _ => {
                assert!(rs_left.is_none(), "rs deleted with its owner");
                assert!(pod_left.is_none(), "pod deleted with its owner's owner");
            }
        }
    }
}

#[tokio::test]
async fn deleting_a_namespace_removes_its_contents() {
    let (_sandbox, client) = start().await;
    namespace(&client, "doomed").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    cms.create(&PostParams::default(), &config_map("c", &[]))
        .await
        .expect("create");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(namespaces.get_opt("doomed").await.expect("get").is_none());
    let err = api_error(cms.get("c").await);
    assert_eq!(err.code, 404);
}

#[tokio::test]
async fn invalid_names_get_422() {
    let (_sandbox, client) = start().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let bad: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "Bad_Name"}})).expect("ns");
    let err = api_error(namespaces.create(&PostParams::default(), &bad).await);
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(
        err.message
            .starts_with("Namespace \"Bad_Name\" is invalid: metadata.name: Invalid value"),
        "{}",
        err.message
    );

    namespace(&client, "a").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "a");
    let missing: Deployment = serde_json::from_value(
        json!({"metadata": {"name": "web"}, "spec": {"selector": {}, "template": {}}}),
    )
    .expect("d");
    let err = api_error(deployments.create(&PostParams::default(), &missing).await);
    assert_eq!(err.code, 422);
    assert!(
        err.message.contains("spec.template.spec.containers"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn rbac_allows_and_denies_certificate_and_token_users() {
    let (sandbox, admin) = start().await;
    namespace(&admin, "team-a").await;
    namespace(&admin, "team-b").await;
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), "team-a");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "devs-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"},
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "ci-bots"}
        ]
    }))
    .expect("binding");
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .expect("bind");

    sandbox.add_token("s3cret-token", "pipeline", &["ci-bots"]);
    let alice = Sandbox::client_for(
        &sandbox
            .kubeconfig_for_user("alice", &["developers"], Duration::from_secs(600))
            .expect("kubeconfig"),
    )
    .await
    .expect("alice");
    let bot = Sandbox::client_for(&sandbox.kubeconfig_for_token("pipeline", "s3cret-token"))
        .await
        .expect("bot");

    for (who, client) in [("alice", alice.clone()), ("pipeline", bot)] {
        let own: Api<ConfigMap> = Api::namespaced(client.clone(), "team-a");
        own.create(
            &PostParams::default(),
            &config_map(&format!("by-{who}"), &[]),
        )
        .await
        .expect("allowed in team-a");
        let foreign: Api<ConfigMap> = Api::namespaced(client.clone(), "team-b");
        let err = api_error(foreign.list(&ListParams::default()).await);
        assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
        assert_eq!(
            err.message,
            format!(
                "configmaps is forbidden: User \"{who}\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"team-b\""
            )
        );
        // edit does not include RBAC.
        let rb: Api<RoleBinding> = Api::namespaced(client, "team-a");
        assert_eq!(
            api_error(rb.create(&PostParams::default(), &binding).await).code,
            403
        );
    }

    let reviews: Api<SelfSubjectAccessReview> = Api::all(alice);
    let ask = |namespace: &str| SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(namespace.to_owned()),
                verb: Some("create".to_owned()),
                group: Some("apps".to_owned()),
                resource: Some("deployments".to_owned()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let yes = reviews
        .create(&PostParams::default(), &ask("team-a"))
        .await
        .expect("review");
    assert_eq!(yes.status.map(|s| s.allowed), Some(true));
    let no = reviews
        .create(&PostParams::default(), &ask("team-b"))
        .await
        .expect("review");
    assert_eq!(no.status.map(|s| s.allowed), Some(false));

    let stranger = Sandbox::client_for(&sandbox.kubeconfig_for_token("nobody", "wrong-token"))
        .await
        .expect("client");
    let cms: Api<ConfigMap> = Api::namespaced(stranger, "team-a");
    assert_eq!(api_error(cms.list(&ListParams::default()).await).code, 401);
}

#[tokio::test]
async fn discovery_finds_the_served_resources() {
    let (_sandbox, client) = start().await;
    let discovery = kube::Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let apps = discovery.get("apps").expect("apps group");
    let kinds: Vec<String> = apps
        .recommended_resources()
        .iter()
        .map(|(ar, _)| ar.kind.clone())
        .collect();
    for kind in ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} missing in {kinds:?}"
        );
    }
    assert!(discovery.get("rbac.authorization.k8s.io").is_some());
    let version = client.apiserver_version().await.expect("version");
    assert_eq!(version.major, "1");
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "a");
    let mut cm = config_map("held", &[]);
    cm.metadata.finalizers = Some(vec!["example.com/cleanup".to_owned()]);
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create");

    api.delete("held", &DeleteParams::default())
        .await
        .expect("delete");
    let marked = api.get("held").await.expect("still there");
    assert!(marked.metadata.deletion_timestamp.is_some());

    let release = json!({"metadata": {"finalizers": null}});
    api.patch("held", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .expect("release");
    assert!(
        api.get_opt("held").await.expect("get").is_none(),
        "gone once the last finalizer is removed"
    );
}

#[tokio::test]
async fn deletecollection_honours_selectors() {
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "a");
    for (name, track) in [("a1", "canary"), ("a2", "canary"), ("a3", "stable")] {
        api.create(
            &PostParams::default(),
            &config_map(name, &[("track", track)]),
        )
        .await
        .expect("create");
    }
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("track=canary"),
    )
    .await
    .expect("deletecollection");
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(|c| c.name_any())
        .collect();
    assert_eq!(left, ["a3"]);
}

#[tokio::test]
async fn watches_send_bookmarks_and_follow_selectors() {
    let options = SandboxOptions {
        bookmark_interval: Duration::from_millis(200),
        ..SandboxOptions::default()
    };
    let (_sandbox, client) = start_with(options).await;
    namespace(&client, "a").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "a");
    let rv = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut params = WatchParams::default().labels("track=canary").timeout(10);
    params.bookmarks = true;
    let mut stream = api.watch(&params, &rv).await.expect("watch").boxed();

    api.create(
        &PostParams::default(),
        &config_map("m", &[("track", "canary")]),
    )
    .await
    .expect("create");
    let moved = json!({"metadata": {"labels": {"track": "stable"}}});
    api.patch("m", &PatchParams::default(), &Patch::Merge(&moved))
        .await
        .expect("relabel");

    let mut seen = Vec::new();
    let mut bookmarks = 0;
    while seen.len() < 2 || bookmarks == 0 {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next()).await {
            Ok(Ok(Some(WatchEvent::Added(cm)))) => seen.push(format!("added {}", cm.name_any())),
            Ok(Ok(Some(WatchEvent::Deleted(cm)))) => {
                seen.push(format!("deleted {}", cm.name_any()))
            }
            Ok(Ok(Some(WatchEvent::Bookmark(b)))) => {
                assert!(!b.metadata.resource_version.is_empty());
                bookmarks += 1;
            }
            other => panic!("unexpected {other:?} after {seen:?}"),
        }
    }
    // Leaving the selection reads as a deletion to this watch.
    assert_eq!(seen, ["added m", "deleted m"]);
}

#[tokio::test]
async fn subject_access_review_answers_for_another_user() {
    use k8s_openapi::api::authorization::v1::{SubjectAccessReview, SubjectAccessReviewSpec};
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), "a");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "viewers"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "auditors"}]
    }))
    .expect("binding");
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .expect("bind");
    let reviews: Api<SubjectAccessReview> = Api::all(client);
    let ask = |verb: &str| SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some("dora".to_owned()),
            groups: Some(vec!["auditors".to_owned()]),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some("a".to_owned()),
                verb: Some(verb.to_owned()),
                resource: Some("pods".to_owned()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let list = reviews
        .create(&PostParams::default(), &ask("list"))
        .await
        .expect("review");
    assert_eq!(list.status.map(|s| s.allowed), Some(true));
    let delete = reviews
        .create(&PostParams::default(), &ask("delete"))
        .await
        .expect("review");
    assert_eq!(delete.status.map(|s| s.allowed), Some(false));
}

/// Someone allowed to write bindings still cannot hand out what they do not hold: binding a
/// role takes `bind` on it (or every permission in it), approving a CSR `approve` on its signer.
#[tokio::test]
async fn bindings_and_approvals_cannot_escalate() {
    let (sandbox, admin) = start().await;
    namespace(&admin, "team-a").await;
    let apply = |value: serde_json::Value| {
        let admin = admin.clone();
        async move {
            let api: Api<kube::api::DynamicObject> = Api::all_with(
                admin,
                &kube::api::ApiResource::from_gvk_with_plural(
                    &kube::api::GroupVersionKind::gvk(
                        "rbac.authorization.k8s.io",
                        "v1",
                        "ClusterRole",
                    ),
                    "clusterroles",
                ),
            );
            let object: kube::api::DynamicObject = serde_json::from_value(value).expect("object");
            api.create(&PostParams::default(), &object)
                .await
                .expect("role")
        }
    };
    // A binder: may write role bindings and bind `view` by name, nothing else.
    apply(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "binder"},
        "rules": [
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create", "patch"]},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["view"]},
            {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests", "certificatesigningrequests/approval"], "verbs": ["get", "update", "patch"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
        ]
    }))
    .await;
    let crb: Api<kube::api::DynamicObject> = Api::all_with(
        admin.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk(
                "rbac.authorization.k8s.io",
                "v1",
                "ClusterRoleBinding",
            ),
            "clusterrolebindings",
        ),
    );
    let binder_binding: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "binder"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "binder"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "binder"}]
    }))
    .expect("binding");
    crb.create(&PostParams::default(), &binder_binding)
        .await
        .expect("bind binder");
    sandbox.add_token("binder-token", "binder", &[]);
    let binder = Sandbox::client_for(&sandbox.kubeconfig_for_token("binder", "binder-token"))
        .await
        .expect("binder client");
    let bindings: Api<RoleBinding> = Api::namespaced(binder.clone(), "team-a");
    let binding = |name: &str, role: &str| -> RoleBinding {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "team-a"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "someone"}]
        }))
        .expect("binding")
    };
    // `bind` on view: allowed although the binder cannot read pods.
    bindings
        .create(&PostParams::default(), &binding("viewers", "view"))
        .await
        .expect("bind view");
    // edit: neither `bind` nor its permissions held.
    let err = api_error(
        bindings
            .create(&PostParams::default(), &binding("editors", "edit"))
            .await,
    );
    assert_eq!(err.code, 403);
    assert!(
        err.message
            .contains("is attempting to grant RBAC permissions not currently held"),
        "{}",
        err.message
    );
    // A role whose every permission the binder holds may be bound without `bind`.
    apply(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "read-configmaps"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
    }))
    .await;
    bindings
        .create(
            &PostParams::default(),
            &binding("cm-readers", "read-configmaps"),
        )
        .await
        .expect("bind what is held");
    // Server-side apply is checked the same way.
    let refused = bindings
        .patch(
            "admins",
            &PatchParams::apply("binder"),
            &Patch::Apply(binding("admins", "admin")),
        )
        .await;
    assert_eq!(api_error(refused).code, 403);

    // CSR approval needs `approve` on the signer.
    use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
    let csrs: Api<CertificateSigningRequest> = Api::all(admin.clone());
    let csr: CertificateSigningRequest = serde_json::from_value(json!({
        "metadata": {"name": "someone"},
        "spec": {
            "request": "",
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"]
        }
    }))
    .expect("csr");
    csrs.create(&PostParams::default(), &csr)
        .await
        .expect("csr");
    let approval = json!({"status": {"conditions": [{
        "type": "Approved", "status": "True", "reason": "Test", "message": "test",
        "lastUpdateTime": "2026-01-01T00:00:00Z"
    }]}});
    let by_binder: Api<CertificateSigningRequest> = Api::all(binder.clone());
    let err = api_error(
        by_binder
            .patch_approval("someone", &PatchParams::default(), &Patch::Merge(&approval))
            .await,
    );
    assert_eq!(err.code, 403);
    assert!(err.message.contains("signerName"), "{}", err.message);
    apply(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "approver"},
        "rules": [{"apiGroups": ["certificates.k8s.io"], "resources": ["signers"], "verbs": ["approve"],
                   "resourceNames": ["kubernetes.io/kube-apiserver-client"]}]
    }))
    .await;
    let approver_binding: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "approver"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "approver"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "binder"}]
    }))
    .expect("binding");
    crb.create(&PostParams::default(), &approver_binding)
        .await
        .expect("bind approver");
    by_binder
        .patch_approval("someone", &PatchParams::default(), &Patch::Merge(&approval))
        .await
        .expect("approve with approve on the signer");
    sandbox.stop().await;
}
