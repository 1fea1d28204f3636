//! The sandbox as a living cluster, seen through kube-rs: rollouts, jobs, scheduling, quotas,
//! limit ranges, certificate signing.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{
    Namespace, PersistentVolumeClaim, Pod, ResourceQuota, ServiceAccount,
};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Error, ResourceExt};
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};

async fn start() -> (Sandbox, Client) {
    let sandbox = Sandbox::start(SandboxOptions::default())
        .await
        .expect("sandbox");
    let client = sandbox.admin_client().await.expect("client");
    (sandbox, client)
}

async fn namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
}

/// Polls `check` until it yields a value or `seconds` pass.
async fn eventually<T, F, Fut>(seconds: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn deployment(name: &str, image: &str, annotations: Value, extra_spec: Value) -> Deployment {
    let mut spec = json!({
        "replicas": 3,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}, "annotations": annotations},
            "spec": {"containers": [{"name": "web", "image": image, "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}
        }
    });
    if let (Some(s), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        for (k, v) in extra {
            s.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).expect("deployment")
}

fn as_json<T: serde::Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

fn condition_of(object: &Value, kind: &str) -> Option<Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .cloned()
}

fn progressing(d: &Deployment) -> Option<(String, String)> {
    let c = condition_of(&as_json(d), "Progressing")?;
    Some((
        c["status"].as_str()?.to_owned(),
        c["reason"].as_str().unwrap_or_default().to_owned(),
    ))
}

#[tokio::test]
async fn a_rollout_progresses_to_complete_and_rolls_back() {
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "a");
    let fast = json!({"sandbox.berth.dev/ready-after": "0.2"});
    api.create(
        &PostParams::default(),
        &deployment("web", "nginx:1.27", fast.clone(), json!({})),
    )
    .await
    .expect("create");

    let done = |api: Api<Deployment>| async move {
        let d = api.get("web").await.ok()?;
        let s = d.status.clone()?;
        let complete =
            progressing(&d).is_some_and(|(_, reason)| reason == "NewReplicaSetAvailable");
        (complete
            && s.available_replicas == Some(3)
            && s.updated_replicas == Some(3)
            && s.observed_generation == d.metadata.generation)
            .then_some(d)
    };
    eventually(15, "first rollout", || done(api.clone())).await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "a");
    let list = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("pods");
    assert_eq!(list.items.len(), 3);
    for pod in &list.items {
        assert!(pod.labels().contains_key("pod-template-hash"));
        assert!(
            pod.spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_some(),
            "scheduled"
        );
        assert_eq!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Running")
        );
    }

    let image = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}});
    api.patch("web", &PatchParams::default(), &Patch::Strategic(&image))
        .await
        .expect("set image");
    eventually(20, "second rollout", || async {
        let d = done(api.clone()).await?;
        let image = d.spec.template.spec.as_ref()?.containers[0].image.clone()?;
        (image == "nginx:1.28" && d.status.as_ref()?.replicas == Some(3)).then_some(())
    })
    .await;

    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "a");
    let revisions = |list: &[ReplicaSet]| {
        let mut r: Vec<(String, String, i64)> = list
            .iter()
            .map(as_json)
            .map(|rs| {
                (
                    rs.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    rs.pointer("/spec/template/spec/containers/0/image")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    rs.pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(0),
                )
            })
            .collect();
        r.sort();
        r
    };
    let list = sets.list(&ListParams::default()).await.expect("rs");
    assert_eq!(
        revisions(&list.items),
        [
            ("1".into(), "nginx:1.27".into(), 0),
            ("2".into(), "nginx:1.28".into(), 3)
        ]
    );

    // Rolling back to the first template reuses its ReplicaSet as revision 3.
    let back = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}});
    api.patch("web", &PatchParams::default(), &Patch::Strategic(&back))
        .await
        .expect("rollback");
    eventually(20, "rollback", || async {
        let list = sets.list(&ListParams::default()).await.ok()?;
        let r = revisions(&list.items);
        (r == [
            ("2".into(), "nginx:1.28".into(), 0),
            ("3".into(), "nginx:1.27".into(), 3),
        ])
        .then_some(())
    })
    .await;
    eventually(20, "rollback completes", || done(api.clone())).await;
}

#[tokio::test]
async fn a_rollout_that_never_gets_ready_stalls() {
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "a");
    let broken = json!({"sandbox.berth.dev/script": "never-ready"});
    api.create(
        &PostParams::default(),
        &deployment(
            "stuck",
            "app:broken",
            broken,
            json!({"progressDeadlineSeconds": 2}),
        ),
    )
    .await
    .expect("create");
    let d = eventually(15, "ProgressDeadlineExceeded", || async {
        let d = api.get("stuck").await.ok()?;
        (progressing(&d) == Some(("False".into(), "ProgressDeadlineExceeded".into()))).then_some(d)
    })
    .await;
    let status = d.status.expect("status");
    assert_eq!(status.available_replicas.unwrap_or(0), 0);
    assert_eq!(status.updated_replicas, Some(3));
    let message = condition_of(
        &as_json(&api.get("stuck").await.expect("get")),
        "Progressing",
    )
    .and_then(|c| c["message"].as_str().map(str::to_owned))
    .unwrap_or_default();
    assert!(message.ends_with("has timed out progressing."), "{message}");
}

#[tokio::test]
async fn jobs_complete_or_fail() {
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let api: Api<Job> = Api::namespaced(client.clone(), "a");
    let job = |name: &str, script: &str| -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"backoffLimit": 1, "template": {
                "metadata": {"annotations": {"sandbox.berth.dev/run-seconds": "0.3", "sandbox.berth.dev/script": script}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "task", "image": "busybox:1.36"}]}
            }}
        }))
        .expect("job")
    };
    api.create(&PostParams::default(), &job("ok", ""))
        .await
        .expect("create");
    api.create(&PostParams::default(), &job("bad", "fail"))
        .await
        .expect("create");
    let condition = |j: &Job, kind: &str| {
        condition_of(&as_json(j), kind).is_some_and(|c| c["status"] == "True")
    };
    let ok = eventually(15, "job completes", || async {
        let j = api.get("ok").await.ok()?;
        condition(&j, "Complete").then_some(j)
    })
    .await;
    assert_eq!(ok.status.as_ref().and_then(|s| s.succeeded), Some(1));
    assert!(
        ok.status
            .as_ref()
            .and_then(|s| s.completion_time.as_ref())
            .is_some()
    );
    let bad = eventually(15, "job fails", || async {
        let j = api.get("bad").await.ok()?;
        condition(&j, "Failed").then_some(j)
    })
    .await;
    assert_eq!(
        bad.status.as_ref().and_then(|s| s.failed),
        Some(2),
        "backoffLimit 1 allows one retry"
    );
}

#[tokio::test]
async fn a_pod_too_big_for_every_node_stays_pending() {
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "a");
    let huge: Pod = serde_json::from_value(json!({"metadata": {"name": "huge"}, "spec": {"containers": [{"name": "c", "image": "i:1", "resources": {"requests": {"cpu": "64"}}}]}})).expect("pod");
    pods.create(&PostParams::default(), &huge)
        .await
        .expect("create");
    let message = eventually(10, "unschedulable", || async {
        let p = pods.get("huge").await.ok()?;
        let cond = condition_of(&as_json(&p), "PodScheduled")?;
        (cond["status"] == "False" && cond["reason"] == "Unschedulable")
            .then(|| cond["message"].as_str().unwrap_or_default().to_owned())
    })
    .await;
    assert_eq!(message, "0/3 nodes are available: 3 Insufficient cpu.");
    let p = pods.get("huge").await.expect("get");
    assert_eq!(p.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    assert!(p.spec.and_then(|s| s.node_name).is_none());
}

#[tokio::test]
async fn quotas_track_usage_and_refuse_excess_and_limit_ranges_fill_defaults() {
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), "a");
    eventually(5, "default service account", || async {
        sa.get_opt("default").await.ok().flatten()
    })
    .await;

    let raw_client = client.clone();
    let raw = |value: Value| {
        let client = raw_client.clone();
        async move {
            let kind = value["kind"].as_str().unwrap_or_default().to_owned();
            let request =
                http::Request::post(format!("/api/v1/namespaces/a/{}s", kind.to_lowercase()))
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&value).expect("json"))
                    .expect("request");
            client.request::<Value>(request).await
        }
    };
    raw(json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"}, "defaultRequest": {"cpu": "250m", "memory": "128Mi"}}]}}))
        .await
        .expect("limitrange");
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "a");
    let quota: ResourceQuota = serde_json::from_value(json!({"metadata": {"name": "team-quota"}, "spec": {"hard": {"pods": "5", "requests.cpu": "600m", "limits.memory": "1Gi"}}})).expect("quota");
    quotas
        .create(&PostParams::default(), &quota)
        .await
        .expect("quota");

    let pods: Api<Pod> = Api::namespaced(client.clone(), "a");
    let bare = |name: &str| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}})).expect("pod")
    };
    let first = pods
        .create(&PostParams::default(), &bare("p1"))
        .await
        .expect("first pod");
    let resources = first.spec.expect("spec").containers[0]
        .resources
        .clone()
        .expect("defaults");
    assert_eq!(
        resources
            .requests
            .and_then(|r| r.get("cpu").map(|q| q.0.clone()))
            .as_deref(),
        Some("250m")
    );
    assert_eq!(
        resources
            .limits
            .and_then(|l| l.get("memory").map(|q| q.0.clone()))
            .as_deref(),
        Some("256Mi")
    );
    pods.create(&PostParams::default(), &bare("p2"))
        .await
        .expect("second pod");

    let err = match pods.create(&PostParams::default(), &bare("p3")).await {
        Err(Error::Api(status)) => status,
        other => panic!("expected refusal, got {other:?}"),
    };
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "pods \"p3\" is forbidden: exceeded quota: team-quota, requested: requests.cpu=250m, used: requests.cpu=500m, limited: requests.cpu=600m"
    );

    let used = eventually(5, "quota status", || async {
        let q = quotas.get("team-quota").await.ok()?;
        let used = q.status?.used?;
        (used.get("pods").map(|q| q.0.as_str()) == Some("2")).then_some(used)
    })
    .await;
    assert_eq!(used.get("requests.cpu").map(|q| q.0.as_str()), Some("500m"));
    assert_eq!(
        used.get("limits.memory").map(|q| q.0.as_str()),
        Some("512Mi")
    );
}

#[tokio::test]
async fn statefulsets_and_daemonsets_come_up() {
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let template = |app: &str| json!({"metadata": {"labels": {"app": app}, "annotations": {"sandbox.berth.dev/ready-after": "0.1"}}, "spec": {"containers": [{"name": "c", "image": "db:1"}]}});
    let sts: StatefulSet = serde_json::from_value(json!({"metadata": {"name": "db"}, "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": template("db"),
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}}]}})).expect("sts");
    let ds: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent")}})).expect("ds");
    let sts_api: Api<StatefulSet> = Api::namespaced(client.clone(), "a");
    let ds_api: Api<DaemonSet> = Api::namespaced(client.clone(), "a");
    sts_api
        .create(&PostParams::default(), &sts)
        .await
        .expect("sts");
    ds_api
        .create(&PostParams::default(), &ds)
        .await
        .expect("ds");
    eventually(15, "statefulset ready", || async {
        let s = sts_api.get("db").await.ok()?.status?;
        (s.ready_replicas == Some(2) && s.current_revision == s.update_revision).then_some(())
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "a");
    let mut names: Vec<String> = pods
        .list(&ListParams::default().labels("app=db"))
        .await
        .expect("pods")
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();
    names.sort();
    assert_eq!(names, ["db-0", "db-1"]);
    // Like Kubernetes' controller: claim `<template>-<set>-<ordinal>`, bound, mounted by the pod.
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "a");
    for ordinal in 0..2 {
        let claim = claims
            .get(&format!("data-db-{ordinal}"))
            .await
            .expect("claim");
        assert_eq!(claim.status.and_then(|s| s.phase).as_deref(), Some("Bound"));
        let pod = pods.get(&format!("db-{ordinal}")).await.expect("pod");
        let mounted: Vec<String> = pod
            .spec
            .and_then(|s| s.volumes)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.persistent_volume_claim.map(|c| c.claim_name))
            .collect();
        assert_eq!(mounted, [format!("data-db-{ordinal}")]);
    }
    eventually(15, "daemonset on every node", || async {
        let s = ds_api.get("agent").await.ok()?.status?;
        (s.desired_number_scheduled == 3 && s.number_ready == 3).then_some(())
    })
    .await;
}

#[tokio::test]
async fn approved_csrs_are_signed_and_the_certificate_logs_in_until_it_expires() {
    use base64::Engine;
    let (sandbox, client) = start().await;
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "erin");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "developers");
    let csr_pem = params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem");
    let b64 = base64::engine::general_purpose::STANDARD;
    let csr: CertificateSigningRequest = serde_json::from_value(json!({
        "metadata": {"name": "erin"},
        "spec": {"request": b64.encode(csr_pem), "signerName": "kubernetes.io/kube-apiserver-client", "expirationSeconds": 3, "usages": ["client auth"]}
    }))
    .expect("csr");
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let created = api
        .create(&PostParams::default(), &csr)
        .await
        .expect("create csr");
    assert!(
        created.status.and_then(|s| s.certificate).is_none(),
        "not signed before approval"
    );

    let mut approval = api.get("erin").await.expect("get");
    approval.status = Some(serde_json::from_value(json!({"conditions": [{"type": "Approved", "status": "True", "reason": "Test", "message": "approved by the test"}]})).expect("status"));
    api.replace_subresource("approval", "erin", &PostParams::default(), &approval)
        .await
        .expect("approve");

    let cert = eventually(10, "signed certificate", || async {
        let c = api.get("erin").await.ok()?;
        c.status?.certificate.map(|b| b.0)
    })
    .await;
    let cert_pem = String::from_utf8(cert).expect("pem");
    let kubeconfig = sandbox.admin_kubeconfig();
    let ca_line = kubeconfig
        .lines()
        .find(|l| l.contains("certificate-authority-data"))
        .expect("ca")
        .trim()
        .to_owned();
    let user_config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: s\n  cluster:\n    server: {}\n    {ca_line}\ncontexts:\n- name: erin\n  context: {{cluster: s, user: erin}}\ncurrent-context: erin\nusers:\n- name: erin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        sandbox.url(),
        b64.encode(cert_pem),
        b64.encode(key.serialize_pem())
    );
    let erin = Sandbox::client_for(&user_config).await.expect("client");
    let reviews: Api<k8s_openapi::api::authorization::v1::SelfSubjectAccessReview> = Api::all(erin);
    let review: k8s_openapi::api::authorization::v1::SelfSubjectAccessReview =
        serde_json::from_value(
            json!({"spec": {"nonResourceAttributes": {"path": "/version", "verb": "get"}}}),
        )
        .expect("review");
    let answer = reviews
        .create(&PostParams::default(), &review)
        .await
        .expect("signed certificate authenticates");
    assert_eq!(answer.status.map(|s| s.allowed), Some(true));

    tokio::time::sleep(Duration::from_secs(4)).await;
    let expired = Sandbox::client_for(&user_config).await.expect("client");
    let reviews: Api<k8s_openapi::api::authorization::v1::SelfSubjectAccessReview> =
        Api::all(expired);
    assert!(
        reviews
            .create(&PostParams::default(), &review)
            .await
            .is_err(),
        "an expired certificate is refused"
    );
}

#[tokio::test]
async fn a_cronjob_spawns_a_job_when_its_schedule_comes_round() {
    use k8s_openapi::api::batch::v1::CronJob;
    let (_sandbox, client) = start().await;
    namespace(&client, "a").await;
    let api: Api<CronJob> = Api::namespaced(client.clone(), "a");
    let cj: CronJob = serde_json::from_value(json!({
        "metadata": {"name": "tick"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {
            "metadata": {"annotations": {"sandbox.berth.dev/run-seconds": "0.2"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "t", "image": "busybox:1.36"}]}
        }}}}
    }))
    .expect("cronjob");
    api.create(&PostParams::default(), &cj)
        .await
        .expect("create");
    // Pretend the last run was two minutes ago, so a scheduled minute has passed since.
    let earlier = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_secs(120))
        .expect("time");
    let status =
        json!({"status": {"lastScheduleTime": earlier.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}});
    api.patch_status("tick", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "a");
    let job = eventually(10, "a job from the cronjob", || async {
        jobs.list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|j| j.name_any().starts_with("tick-"))
    })
    .await;
    assert_eq!(
        job.owner_references().first().map(|o| o.kind.as_str()),
        Some("CronJob")
    );
    eventually(10, "the spawned job completes", || async {
        let j = jobs.get(&job.name_any()).await.ok()?;
        (j.status?.succeeded == Some(1)).then_some(())
    })
    .await;
}
