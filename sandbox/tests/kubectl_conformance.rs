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
