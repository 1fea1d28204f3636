//! The real `kubectl` against the sandbox: what a platform engineer types must work.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

struct Kubectl {
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    fn new(dir: &Path, name: &str, kubeconfig: &str) -> Kubectl {
        let path = dir.join(format!("{name}.kubeconfig"));
        std::fs::write(&path, kubeconfig).expect("write kubeconfig");
        Kubectl {
            kubeconfig: path,
            cache: dir.join(format!("{name}-cache")),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out =
            self.command(args).output().await.unwrap_or_else(|e| {
                panic!("kubectl could not run ({e}); `make setup` installs it")
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

const MANIFESTS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: demo
data:
  level: info
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: devs
  namespace: demo
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}
"#;

async fn setup() -> (Sandbox, TempDir, Kubectl) {
    let sandbox = Sandbox::start(SandboxOptions::default())
        .await
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = Kubectl::new(dir.path(), "admin", &sandbox.admin_kubeconfig());
    (sandbox, dir, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_apply_get_label_delete() {
    let (sandbox, dir, kubectl) = setup().await;
    assert_eq!(
        kubectl.ok(&["create", "namespace", "demo"]).await.trim(),
        "namespace/demo created"
    );

    let manifests = dir.path().join("app.yaml");
    std::fs::write(&manifests, MANIFESTS).expect("write manifests");
    let file = manifests.to_string_lossy().into_owned();
    let applied = kubectl.ok(&["apply", "-f", &file]).await;
    for line in [
        "deployment.apps/web created",
        "configmap/settings created",
        "rolebinding.rbac.authorization.k8s.io/devs created",
    ] {
        assert!(applied.contains(line), "{line} not in {applied}");
    }
    // Applying again changes nothing; a changed image is patched in.
    assert!(
        kubectl
            .ok(&["apply", "-f", &file])
            .await
            .contains("deployment.apps/web unchanged")
    );
    std::fs::write(&manifests, MANIFESTS.replace("nginx:1.27", "nginx:1.28")).expect("write");
    assert!(
        kubectl
            .ok(&["apply", "-f", &file])
            .await
            .contains("deployment.apps/web configured")
    );

    let json: Value = serde_json::from_str(
        &kubectl
            .ok(&["get", "deployment", "web", "-n", "demo", "-o", "json"])
            .await,
    )
    .expect("json");
    assert_eq!(
        json["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    assert_eq!(json["metadata"]["generation"], 2);

    // What kubectl did is what kube-rs sees.
    let client = sandbox.admin_client().await.expect("client");
    let deployment = Api::<Deployment>::namespaced(client.clone(), "demo")
        .get("web")
        .await
        .expect("get");
    assert!(
        deployment
            .annotations()
            .contains_key("kubectl.kubernetes.io/last-applied-configuration")
    );

    assert_eq!(
        kubectl
            .ok(&[
                "label",
                "configmap",
                "settings",
                "-n",
                "demo",
                "team=payments"
            ])
            .await
            .trim(),
        "configmap/settings labeled"
    );
    let cm = Api::<ConfigMap>::namespaced(client, "demo")
        .get("settings")
        .await
        .expect("get");
    assert_eq!(
        cm.labels().get("team").map(String::as_str),
        Some("payments")
    );

    assert_eq!(
        kubectl
            .ok(&["delete", "configmap", "settings", "-n", "demo"])
            .await
            .trim(),
        "configmap \"settings\" deleted"
    );
    let (ok, _, stderr) = kubectl
        .run(&["get", "configmap", "settings", "-n", "demo"])
        .await;
    assert!(!ok);
    assert!(
        stderr.contains("configmaps \"settings\" not found"),
        "{stderr}"
    );

    let applied = kubectl.ok(&["apply", "--server-side", "-f", &file]).await;
    assert!(
        applied.contains("configmap/settings serverside-applied"),
        "{applied}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_prints_a_change_made_elsewhere() {
    let (sandbox, _dir, kubectl) = setup().await;
    kubectl.ok(&["create", "namespace", "demo"]).await;
    let mut watch = kubectl
        .command(&["get", "configmaps", "-n", "demo", "--watch", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kubectl get -w");
    let stdout = watch.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();

    let client = sandbox.admin_client().await.expect("client");
    let api: Api<ConfigMap> = Api::namespaced(client, "demo");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "made-elsewhere"}})).expect("cm");
    // kubectl may still be starting its watch; keep creating until it reports one.
    let mut printed = None;
    for attempt in 0..20 {
        let mut next = cm.clone();
        next.metadata.name = Some(format!("made-elsewhere-{attempt}"));
        api.create(&PostParams::default(), &next)
            .await
            .expect("create");
        if let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_millis(500), lines.next_line()).await
        {
            printed = Some(line);
            break;
        }
    }
    let line = printed.expect("kubectl get -w printed nothing");
    assert!(line.starts_with("configmap/made-elsewhere-"), "{line}");
    let _ = watch.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_can_i_for_admin_and_a_restricted_user() {
    let (sandbox, dir, admin) = setup().await;
    admin.ok(&["create", "namespace", "demo"]).await;
    let manifests = dir.path().join("app.yaml");
    std::fs::write(&manifests, MANIFESTS).expect("write");
    admin
        .ok(&["apply", "-f", &manifests.to_string_lossy()])
        .await;

    assert_eq!(
        admin.ok(&["auth", "can-i", "delete", "nodes"]).await.trim(),
        "yes"
    );

    let alice = Kubectl::new(
        dir.path(),
        "alice",
        &sandbox
            .kubeconfig_for_user("alice", &["developers"], Duration::from_secs(600))
            .expect("kubeconfig"),
    );
    assert_eq!(
        alice
            .ok(&["auth", "can-i", "create", "deployments", "-n", "demo"])
            .await
            .trim(),
        "yes"
    );
    let (ok, stdout, _) = alice
        .run(&["auth", "can-i", "create", "deployments", "-n", "default"])
        .await;
    assert!(!ok, "can-i answers no with a non-zero exit");
    assert_eq!(stdout.trim(), "no");
    let (ok, stdout, _) = alice.run(&["auth", "can-i", "get", "nodes"]).await;
    assert!(!ok);
    assert_eq!(stdout.trim(), "no");

    let (ok, _, stderr) = alice.run(&["get", "pods", "-n", "default"]).await;
    assert!(!ok);
    assert!(
        stderr.contains("pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""),
        "{stderr}"
    );
    assert!(
        alice
            .ok(&["get", "configmaps", "-n", "demo", "-o", "name"])
            .await
            .contains("configmap/settings")
    );
}

const FAST_DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations: {sandbox.berth.dev/ready-after: "0.2", sandbox.berth.dev/usage-profile: steady}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources:
          requests: {cpu: 100m, memory: 64Mi}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_status_set_image_history_and_undo() {
    let (_sandbox, dir, kubectl) = setup().await;
    kubectl.ok(&["create", "namespace", "demo"]).await;
    let file = dir.path().join("web.yaml");
    std::fs::write(&file, FAST_DEPLOYMENT).expect("write");
    kubectl.ok(&["apply", "-f", &file.to_string_lossy()]).await;

    let status = kubectl
        .ok(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "demo",
            "--timeout=30s",
        ])
        .await;
    assert!(
        status
            .trim_end()
            .ends_with("deployment \"web\" successfully rolled out"),
        "{status}"
    );

    kubectl
        .ok(&[
            "set",
            "image",
            "deployment/web",
            "web=nginx:1.28",
            "-n",
            "demo",
        ])
        .await;
    let status = kubectl
        .ok(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "demo",
            "--timeout=30s",
        ])
        .await;
    assert!(status.contains("successfully rolled out"), "{status}");

    let history = kubectl
        .ok(&["rollout", "history", "deployment/web", "-n", "demo"])
        .await;
    let revisions: Vec<&str> = history
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");

    let undo = kubectl
        .ok(&["rollout", "undo", "deployment/web", "-n", "demo"])
        .await;
    assert!(undo.contains("rolled back"), "{undo}");
    kubectl
        .ok(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "demo",
            "--timeout=30s",
        ])
        .await;
    let image = kubectl
        .ok(&[
            "get",
            "deployment",
            "web",
            "-n",
            "demo",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .await;
    assert_eq!(image, "nginx:1.27");
    let history = kubectl
        .ok(&["rollout", "history", "deployment/web", "-n", "demo"])
        .await;
    let revisions: Vec<&str> = history
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        revisions,
        ["2", "3"],
        "the old revision comes back as the newest: {history}"
    );

    let top = kubectl.ok(&["top", "pods", "-n", "demo"]).await;
    assert_eq!(top.lines().count(), 4, "a header and three pods: {top}");
    assert!(top.lines().skip(1).all(|l| l.starts_with("web-")), "{top}");
    let nodes = kubectl.ok(&["top", "nodes"]).await;
    assert!(
        nodes.contains("worker-1") && nodes.contains("CPU%"),
        "{nodes}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_rollout_fails_rollout_status() {
    let (_sandbox, dir, kubectl) = setup().await;
    kubectl.ok(&["create", "namespace", "demo"]).await;
    let stalled = FAST_DEPLOYMENT
        .replace(
            "sandbox.berth.dev/ready-after: \"0.2\"",
            "sandbox.berth.dev/script: never-ready",
        )
        .replace("replicas: 3", "replicas: 1\n  progressDeadlineSeconds: 2");
    let file = dir.path().join("stalled.yaml");
    std::fs::write(&file, stalled).expect("write");
    kubectl.ok(&["apply", "-f", &file.to_string_lossy()]).await;
    let (ok, _, stderr) = kubectl
        .run(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "demo",
            "--timeout=30s",
        ])
        .await;
    assert!(!ok);
    assert!(
        stderr.contains("deployment \"web\" exceeded its progress deadline"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_refusal_certificate_approval_and_namespace_deletion() {
    use base64::Engine;
    let (_sandbox, dir, kubectl) = setup().await;
    kubectl.ok(&["create", "namespace", "capped"]).await;
    kubectl
        .ok(&[
            "create",
            "quota",
            "small",
            "-n",
            "capped",
            "--hard=pods=1,requests.cpu=200m",
        ])
        .await;
    let pod = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: capped\nspec:\n  containers:\n  - name: c\n    image: busybox:1.36\n    resources:\n      requests: {{cpu: 150m}}\n"
        )
    };
    let first = dir.path().join("p1.yaml");
    std::fs::write(&first, pod("p1")).expect("write");
    kubectl.ok(&["apply", "-f", &first.to_string_lossy()]).await;
    let second = dir.path().join("p2.yaml");
    std::fs::write(&second, pod("p2")).expect("write");
    let (ok, _, stderr) = kubectl
        .run(&["apply", "-f", &second.to_string_lossy()])
        .await;
    assert!(!ok);
    assert!(
        stderr.contains("pods \"p2\" is forbidden: exceeded quota: small, requested: pods=1,requests.cpu=150m, used: pods=1,requests.cpu=150m, limited: pods=1,requests.cpu=200m"),
        "{stderr}"
    );

    // A CSR approved with kubectl is signed by the cluster.
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "frank");
    let request = params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem");
    let csr = format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: frank\nspec:\n  request: {}\n  signerName: kubernetes.io/kube-apiserver-client\n  expirationSeconds: 600\n  usages: [client auth]\n",
        base64::engine::general_purpose::STANDARD.encode(request)
    );
    let csr_file = dir.path().join("csr.yaml");
    std::fs::write(&csr_file, csr).expect("write");
    kubectl
        .ok(&["apply", "-f", &csr_file.to_string_lossy()])
        .await;
    assert!(
        kubectl
            .ok(&["certificate", "approve", "frank"])
            .await
            .contains("approved")
    );
    let mut signed = String::new();
    for _ in 0..50 {
        signed = kubectl
            .ok(&[
                "get",
                "csr",
                "frank",
                "-o",
                "jsonpath={.status.certificate}",
            ])
            .await;
        if !signed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pem = base64::engine::general_purpose::STANDARD
        .decode(signed.trim())
        .expect("base64");
    assert!(String::from_utf8_lossy(&pem).starts_with("-----BEGIN CERTIFICATE-----"));

    // Deleting a namespace waits until it and its contents are gone.
    let deleted = kubectl
        .ok(&["delete", "namespace", "capped", "--timeout=30s"])
        .await;
    assert_eq!(deleted.trim(), "namespace \"capped\" deleted");
    let (ok, _, stderr) = kubectl.run(&["get", "namespace", "capped"]).await;
    assert!(!ok && stderr.contains("not found"), "{stderr}");
}
