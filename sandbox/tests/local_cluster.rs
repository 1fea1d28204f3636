//! The local cluster end to end: a real control plane (etcd, kube-apiserver, controller manager,
//! scheduler v1.37 built by `scripts/kube.sh`), the node simulator and the metrics API, driven
//! with kubectl 1.37 as a platform engineer would, and restarted from its state directory.

mod common;

use common::eventually;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use sandbox::control_plane::{ControlPlaneOptions, default_bin_dir};
use sandbox::local_cluster::{LocalCluster, LocalClusterOptions};
use sandbox::scenario::Scenario;
use serde_json::json;
use tokio::process::Command;

const SCENARIO: &str = r#"
name: small
nodes:
  - {name: node, count: 2, cpu: 8, memory: 32Gi, labels: {node.kubernetes.io/instance-type: m5.2xlarge}}
teams:
  - name: shop
    cost_centre: CC-1
    contact: shop@example.com
    namespaces:
      - name: shop-prod
        quota: {requests.cpu: "4", pods: "20"}
        workloads:
          - {name: web, replicas: 2, image: "registry.example.com/web:1.0.0", requests: {cpu: 200m, memory: 256Mi}, usage: {profile: steady, cpu: 100m, memory: 200Mi}}
          - {name: broken, replicas: 1, image: "registry.example.com/broken:1.0.0", script: crash-loop}
          - {name: nightly, kind: Job, image: "registry.example.com/batch:1.0.0", run_seconds: 1}
          - {name: db, kind: StatefulSet, replicas: 1, image: "postgres:16.2", claim_templates: [{name: data, size: 1Gi}]}
        pvcs:
          - {name: forgotten, size: 5Gi, bound: false}
"#;

struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    fn new(dir: &Path, name: &str, kubeconfig: &str) -> Kubectl {
        let path = dir.join(format!("{name}.kubeconfig"));
        std::fs::write(&path, kubeconfig).expect("write kubeconfig");
        Kubectl {
            // kubectl 1.37, which speaks protobuf as users' kubectl does (scripts/kube.sh).
            binary: default_bin_dir().join("kubectl"),
            kubeconfig: path,
            cache: dir.join(format!("{name}-cache")),
        }
    }

    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(&self.binary)
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{} could not run ({e}); `scripts/kube.sh` installs it",
                    self.binary.display()
                )
            });
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.run(args).await;
        assert!(ok, "kubectl {args:?} failed: {stderr}");
        stdout
    }
}

fn options(state: &Path) -> LocalClusterOptions {
    let mut control_plane = ControlPlaneOptions::new(state);
    control_plane.durable = false;
    LocalClusterOptions {
        control_plane,
        scenario: Some(Scenario::from_yaml(SCENARIO).expect("scenario")),
        nodes: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_control_plane_with_simulated_nodes_serves_kubectl_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let cluster = LocalCluster::start(options(&state))
        .await
        .expect("local cluster");
    let loaded = cluster.loaded();
    assert!(loaded.fresh);
    assert_eq!((loaded.namespaces, loaded.workloads), (1, 4));
    let plane = cluster.control_plane();
    let client = plane.admin_client().await.expect("client");
    let admin = Kubectl::new(dir.path(), "admin", plane.admin_kubeconfig());

    // The server is the real one, at the release the binaries were built from.
    let version = admin.ok(&["version", "-o", "json"]).await;
    assert!(
        version.contains("\"gitVersion\": \"v1.37.2\""),
        "server version: {version}"
    );
    let nodes = admin.ok(&["get", "nodes", "--no-headers"]).await;
    assert_eq!(nodes.lines().count(), 2, "{nodes}");

    // The scenario's workloads run: the controllers made the pods, the scheduler bound them,
    // the simulated kubelets report them.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop-prod");
    eventually("the web pods Ready", Duration::from_secs(60), || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&ListParams::default().labels("app=web"))
                .await
                .ok()?;
            let ready = list
                .items
                .iter()
                .filter(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .count();
            (ready == 2).then_some(())
        }
    })
    .await;
    let broken = eventually("the crash-looping pod", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&ListParams::default().labels("app=broken"))
                .await
                .ok()?;
            let reason = list
                .items
                .first()?
                .status
                .as_ref()?
                .container_statuses
                .as_ref()?[0]
                .state
                .as_ref()?
                .waiting
                .as_ref()?
                .reason
                .clone()?;
            Some(reason)
        }
    })
    .await;
    assert_eq!(broken, "CrashLoopBackOff");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "shop-prod");
    eventually("the job to complete", Duration::from_secs(60), || {
        let jobs = jobs.clone();
        async move {
            let job = jobs.get("nightly").await.ok()?;
            (job.status?.succeeded? == 1).then_some(())
        }
    })
    .await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "shop-prod");
    eventually(
        "the StatefulSet's claim bound",
        Duration::from_secs(60),
        || {
            let claims = claims.clone();
            async move {
                let claim = claims.get("data-db-0").await.ok()?;
                (claim.status?.phase.as_deref() == Some("Bound")).then_some(())
            }
        },
    )
    .await;
    let forgotten = claims.get("forgotten").await.expect("claim");
    assert_eq!(
        forgotten.status.and_then(|s| s.phase).as_deref(),
        Some("Pending")
    );

    // kubectl 1.37: create, scale, roll out, undo.
    admin.ok(&["create", "namespace", "team-a"]).await;
    admin
        .ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
            "-n",
            "team-a",
        ])
        .await;
    admin
        .ok(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "team-a",
            "--timeout=60s",
        ])
        .await;
    admin
        .ok(&["scale", "deployment/web", "--replicas=3", "-n", "team-a"])
        .await;
    admin
        .ok(&[
            "set",
            "image",
            "deployment/web",
            "nginx=nginx:1.28",
            "-n",
            "team-a",
        ])
        .await;
    let status = admin
        .ok(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "team-a",
            "--timeout=90s",
        ])
        .await;
    assert!(status.contains("successfully rolled out"), "{status}");
    admin
        .ok(&["rollout", "undo", "deployment/web", "-n", "team-a"])
        .await;
    admin
        .ok(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "team-a",
            "--timeout=90s",
        ])
        .await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "team-a");
    let web = deployments.get("web").await.expect("web");
    let revision = web
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
        .cloned();
    assert_eq!(revision.as_deref(), Some("3"));
    let image = web
        .spec
        .template
        .spec
        .map(|s| s.containers[0].image.clone());
    assert_eq!(image.flatten().as_deref(), Some("nginx:1.27"));

    // A deleted pod goes, as a kubelet lets it once its containers stop.
    let team_pods: Api<Pod> = Api::namespaced(client.clone(), "team-a");
    let victim = team_pods
        .list(&ListParams::default())
        .await
        .expect("pods")
        .items[0]
        .metadata
        .name
        .clone()
        .expect("name");
    admin
        .ok(&[
            "delete",
            "pod",
            &victim,
            "-n",
            "team-a",
            "--wait=true",
            "--timeout=30s",
        ])
        .await;
    assert!(team_pods.get_opt(&victim).await.expect("get").is_none());

    // metrics.k8s.io through the aggregator.
    assert!(
        cluster.wait_metrics(Duration::from_secs(60)).await,
        "the metrics APIService never became available"
    );
    let top = eventually("kubectl top pods", Duration::from_secs(30), || async {
        let (ok, out, _) = admin
            .run(&["top", "pods", "-n", "shop-prod", "--no-headers"])
            .await;
        (ok && out.contains("web-")).then_some(out)
    })
    .await;
    assert!(top.contains('m') && top.contains("Mi"), "{top}");

    // A user with `edit` in one namespace: Kubernetes' own refusal elsewhere; `top` allowed
    // where they may view pods.
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(client.clone(), "team-a");
    bindings
        .patch(
            "alice-edit",
            &PatchParams::apply("test"),
            &Patch::Apply(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "alice-edit"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]})),
        )
        .await
        .expect("binding");
    let alice = Kubectl::new(
        dir.path(),
        "alice",
        &plane
            .kubeconfig_for_user("alice", &[], Duration::from_secs(3600))
            .expect("alice"),
    );
    alice.ok(&["get", "pods", "-n", "team-a"]).await;
    let (ok, _, refused) = alice.run(&["get", "pods", "-n", "kube-system"]).await;
    assert!(!ok);
    assert!(
        refused.contains("Forbidden")
            && refused.contains("User \"alice\" cannot list resource \"pods\""),
        "{refused}"
    );
    eventually("kubectl top as alice", Duration::from_secs(30), || async {
        let (ok, out, _) = alice.run(&["top", "pods", "-n", "team-a"]).await;
        ok.then_some(out)
    })
    .await;

    // A client certificate through the CSR API, signed by the controller manager with the
    // cluster CA, as Berth issues kubeconfigs.
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "bob");
    let csr_pem = params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem");
    let csrs: Api<CertificateSigningRequest> = Api::all(client.clone());
    use base64::Engine;
    let request = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": "bob"},
        "spec": {"request": base64::engine::general_purpose::STANDARD.encode(csr_pem), "signerName": "kubernetes.io/kube-apiserver-client",
            "expirationSeconds": 600, "usages": ["client auth"]}});
    csrs.create(
        &PostParams::default(),
        &serde_json::from_value(request).expect("csr object"),
    )
    .await
    .expect("create csr");
    admin.ok(&["certificate", "approve", "bob"]).await;
    let cert = eventually("the signed certificate", Duration::from_secs(30), || {
        let csrs = csrs.clone();
        async move { csrs.get("bob").await.ok()?.status?.certificate }
    })
    .await;
    let bob = Kubectl::new(
        dir.path(),
        "bob",
        &sandbox::kubeconfig::render(
            plane.url(),
            plane.ca_pem(),
            "bob",
            sandbox::kubeconfig::Credentials::Cert {
                cert_pem: &String::from_utf8_lossy(&cert.0),
                key_pem: &key.serialize_pem(),
            },
        ),
    );
    let whoami = bob
        .ok(&[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .await;
    assert_eq!(whoami, "bob");

    // A restart from the same state directory: what was made is still there, and the scenario
    // is not loaded over it again.
    let url = cluster.url().to_owned();
    cluster.stop();
    let again = LocalCluster::start(options(&state))
        .await
        .expect("restarted");
    assert!(!again.loaded().fresh, "the scenario was loaded twice");
    assert_eq!(again.url(), url, "the API server's port is kept");
    let client = again.control_plane().admin_client().await.expect("client");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert!(namespaces.get_opt("team-a").await.expect("get").is_some());
    let deployments: Api<Deployment> = Api::namespaced(client, "team-a");
    assert!(deployments.get_opt("web").await.expect("get").is_some());
    again.stop();
}
