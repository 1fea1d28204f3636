//! deploy/: Helm lints the chart; its manifests (`helm template`, committed in
//! deploy/manifests/) are what Kubernetes expects of each type, follow the house rules for
//! running Berth and carry a config Berth loads; `helm install` into the real control plane
//! rolls out. That the ClusterRole covers every call
//! Berth makes is checked by every other test: they run Berth under it (`berth_kubeconfig`).

use crate::common;
use crate::common::helm;

use std::collections::HashMap;

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::Api;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Documents of a multi-document YAML file.
fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("document"))
        .filter(|d| !d.is_null())
        .collect()
}

/// The chart with everything optional switched on, as `helm template` renders it.
fn rendered_with_everything() -> Vec<Value> {
    let tag = helm::committed_tag();
    let text = helm::template(&[
        ("image.tag", &tag),
        ("ingress.enabled", "true"),
        ("ingress.tlsSecret", "berth-tls"),
    ])
    .unwrap_or_else(|e| panic!("helm template: {e}"));
    documents(&text)
}

fn committed() -> Vec<Value> {
    documents(&std::fs::read_to_string(helm::manifests_file()).expect("manifests"))
}

#[test]
fn the_committed_manifests_are_helm_templates_output() {
    let committed = std::fs::read_to_string(helm::manifests_file()).expect("manifests");
    let rendered = helm::template(&[("image.tag", &helm::committed_tag())])
        .unwrap_or_else(|e| panic!("helm template: {e}"));
    assert!(
        committed == format!("{}{rendered}", helm::MANIFESTS_HEADER),
        "deploy/manifests/berth.yaml is stale: run `make manifests`"
    );
}

#[test]
fn helm_lints_the_chart_and_the_chart_refuses_a_missing_or_latest_tag() {
    let chart = helm::chart_dir();
    let chart = chart.to_str().expect("a UTF-8 path");
    let tag = helm::committed_tag();
    let lint = helm::run(&["lint", "--strict", chart], &[("image.tag", &tag)]);
    assert!(
        lint.as_ref()
            .is_ok_and(|out| out.contains("0 chart(s) failed")),
        "{lint:?}"
    );
    let missing = helm::template(&[]).expect_err("no tag, no manifests");
    assert!(missing.contains("image.tag is required"), "{missing}");
    let latest = helm::template(&[("image.tag", "latest")]).expect_err("latest is refused");
    assert!(latest.contains("never latest"), "{latest}");
}

/// Parses as the typed object and writes back the same: no unknown or misspelt field.
fn typed<T: DeserializeOwned + serde::Serialize>(document: &Value) -> T {
    let object: T = serde_json::from_value(document.clone()).unwrap_or_else(|e| {
        panic!("{} does not parse: {e}", document["kind"]);
    });
    let back = serde_json::to_value(&object).expect("serialise");
    assert_eq!(
        &back, document,
        "{} has fields its type does not know",
        document["kind"]
    );
    object
}

fn by_kind<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    documents
        .iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the manifests"))
}

#[test]
fn every_manifest_parses_as_its_kubernetes_type() {
    let documents = rendered_with_everything();
    let mut kinds: Vec<&str> = documents
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "Ingress",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "ServiceAccount",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding"
        ]
    );
    for d in &documents {
        match d["kind"].as_str().unwrap_or_default() {
            "ClusterRole" => drop(typed::<ClusterRole>(d)),
            "ClusterRoleBinding" => drop(typed::<ClusterRoleBinding>(d)),
            "ConfigMap" => drop(typed::<ConfigMap>(d)),
            "Deployment" => drop(typed::<Deployment>(d)),
            "Ingress" => drop(typed::<Ingress>(d)),
            "NetworkPolicy" => drop(typed::<NetworkPolicy>(d)),
            "PodDisruptionBudget" => drop(typed::<PodDisruptionBudget>(d)),
            "Secret" => drop(typed::<Secret>(d)),
            "Service" => drop(typed::<Service>(d)),
            "ServiceAccount" => drop(typed::<ServiceAccount>(d)),
            "ValidatingAdmissionPolicy" => drop(typed::<ValidatingAdmissionPolicy>(d)),
            "ValidatingAdmissionPolicyBinding" => {
                drop(typed::<ValidatingAdmissionPolicyBinding>(d))
            }
            other => panic!("unexpected kind {other}"),
        }
    }
}

#[test]
fn the_deployment_follows_the_house_rules() {
    let documents = committed();
    let deployment: Deployment = typed(by_kind(&documents, "Deployment"));
    let spec = deployment.spec;
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.expect("pod spec");
    let pod_labels = spec
        .template
        .metadata
        .and_then(|m| m.labels)
        .expect("labels");
    assert_eq!(pod.service_account_name.as_deref(), Some("berth"));
    assert_eq!(
        pod.security_context
            .as_ref()
            .and_then(|s| s.run_as_non_root),
        Some(true)
    );
    let anti = pod
        .affinity
        .and_then(|a| a.pod_anti_affinity)
        .and_then(|a| a.required_during_scheduling_ignored_during_execution)
        .expect("pod anti-affinity");
    assert_eq!(anti[0].topology_key, "kubernetes.io/hostname");
    let [container] = pod.containers.as_slice() else {
        panic!("one container");
    };
    let image = container.image.as_deref().expect("image");
    let tag = image.rsplit_once(':').map(|(_, t)| t).expect("a tag");
    let (version, sha) = tag.split_once('-').expect("<semver>-<git sha>");
    assert_eq!(
        version
            .split('.')
            .filter(|p| p.parse::<u32>().is_ok())
            .count(),
        3,
        "{tag}"
    );
    assert!(
        sha.len() >= 7 && sha.chars().all(|c| c.is_ascii_hexdigit()),
        "{tag}"
    );
    let resources = container.resources.as_ref().expect("resources");
    assert!(resources.requests.is_some());
    assert_eq!(resources.requests, resources.limits, "requests = limits");
    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    assert_eq!(
        probe_path(&container.readiness_probe).as_deref(),
        Some("/readyz")
    );
    assert_eq!(
        probe_path(&container.liveness_probe).as_deref(),
        Some("/healthz")
    );
    let security = container
        .security_context
        .as_ref()
        .expect("security context");
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));

    // The PDB, the Service and the NetworkPolicy select these pods.
    let selects = |selector: &std::collections::BTreeMap<String, String>| {
        selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v))
    };
    let pdb: PodDisruptionBudget = typed(by_kind(&documents, "PodDisruptionBudget"));
    let pdb_spec = pdb.spec.expect("pdb spec");
    assert!(selects(
        &pdb_spec
            .selector
            .and_then(|s| s.match_labels)
            .expect("pdb selector")
    ));
    let service: Service = typed(by_kind(&documents, "Service"));
    assert!(selects(
        &service
            .spec
            .and_then(|s| s.selector)
            .expect("service selector")
    ));
    let policy: NetworkPolicy = typed(by_kind(&documents, "NetworkPolicy"));
    assert!(selects(
        &policy
            .spec
            .and_then(|s| s.pod_selector)
            .and_then(|s| s.match_labels)
            .expect("selector")
    ));
}

/// The ConfigMap's berth.toml, with the Secret's database URL, is a config `berth serve` takes.
#[test]
fn the_config_map_is_a_config_berth_loads() {
    let documents = committed();
    let config_map: ConfigMap = typed(by_kind(&documents, "ConfigMap"));
    let toml = config_map
        .data
        .and_then(|d| d.get("berth.toml").cloned())
        .expect("berth.toml");
    let dir = common::scratch_dir("deploy-config-");
    let path = dir.path().join("berth.toml");
    std::fs::write(&path, toml).expect("write");
    let secret: Secret = typed(by_kind(&documents, "Secret"));
    let url = secret
        .string_data
        .and_then(|d| d.get("database-url").cloned())
        .expect("database-url");
    let env = HashMap::from([("BERTH_DATABASE_URL".to_owned(), url.clone())]);
    let config = server::config::Config::load(server::config::Mode::Serve, Some(&path), &env)
        .expect("berth.toml loads");
    assert_eq!(config.listen.port(), 8080);
    assert!(config.auth.secure_cookies);
    // The probes' port is the one Berth listens on.
    let deployment: Deployment = typed(by_kind(&documents, "Deployment"));
    let port = deployment.spec.template.spec.expect("pod").containers[0]
        .ports
        .clone()
        .expect("ports")[0]
        .container_port;
    assert_eq!(port, 8080);
}

/// A fleet from the chart's values: the home cluster's name and public address, and a further
/// cluster whose kubeconfig Secret is mounted where the config says.
#[test]
fn the_chart_configures_a_fleet_berth_loads() {
    let tag = helm::committed_tag();
    let text = helm::template(&[
        ("image.tag", &tag),
        ("cluster.name", "eu-prod"),
        ("cluster.publicServer", "https://k8s.eu.example.com:6443"),
        ("clusters[0].name", "us-dev"),
        ("clusters[0].region", "us-east-1"),
        ("clusters[0].kubeconfigSecret", "berth-cluster-us-dev"),
    ])
    .unwrap_or_else(|e| panic!("helm template: {e}"));
    let documents = documents(&text);
    let config_map: ConfigMap = typed(by_kind(&documents, "ConfigMap"));
    let toml = config_map
        .data
        .and_then(|d| d.get("berth.toml").cloned())
        .expect("berth.toml");
    let dir = common::scratch_dir("deploy-fleet-");
    let path = dir.path().join("berth.toml");
    std::fs::write(&path, toml).expect("write");
    let env = HashMap::from([(
        "BERTH_DATABASE_URL".to_owned(),
        "postgres://berth@db/berth".to_owned(),
    )]);
    let config = server::config::Config::load(server::config::Mode::Serve, Some(&path), &env)
        .expect("berth.toml loads");
    assert_eq!(config.cluster.name, "eu-prod");
    assert_eq!(
        config.cluster.public_server.as_deref(),
        Some("https://k8s.eu.example.com:6443")
    );
    assert_eq!(config.clusters.len(), 1);
    assert_eq!(config.clusters[0].name, "us-dev");
    assert_eq!(config.clusters[0].region, "us-east-1");
    let kubeconfig = config.clusters[0].kubeconfig.clone().expect("a kubeconfig");
    let deployment: Deployment = typed(by_kind(&documents, "Deployment"));
    let pod = deployment.spec.template.spec.expect("pod");
    let mount = pod.containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == "cluster-us-dev")
        .expect("the kubeconfig is mounted");
    assert_eq!(
        kubeconfig,
        std::path::Path::new(&mount.mount_path).join("kubeconfig")
    );
    assert_eq!(mount.read_only, Some(true));
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "cluster-us-dev")
        .expect("volume");
    assert_eq!(
        volume
            .secret
            .as_ref()
            .and_then(|s| s.secret_name.as_deref()),
        Some("berth-cluster-us-dev")
    );
    // An entry without its Secret is refused by the chart, not found out at start.
    let missing = helm::template(&[("image.tag", &tag), ("clusters[0].name", "us-dev")])
        .expect_err("no Secret, no manifests");
    assert!(missing.contains("kubeconfigSecret"), "{missing}");
}

/// `helm install` of the chart (everything optional on) into the real control plane, after a
/// server-side dry run that stores nothing; `kubectl rollout status` of Berth's Deployment
/// completes with both replicas on simulated nodes; the JIT guard holds grants to what ends
/// with them.
#[test]
fn helm_installs_the_chart_it_rolls_out_and_the_jit_guard_holds() {
    common::run(async {
        let cluster = common::TestCluster::private().await;
        let plane = cluster.plane();
        let client = cluster.admin_client().await;
        let dir = common::scratch_dir("deploy-helm-");
        let kubeconfig = dir.path().join("admin.kubeconfig");
        std::fs::write(&kubeconfig, plane.admin_kubeconfig()).expect("kubeconfig");
        let kubeconfig = kubeconfig.to_str().expect("a UTF-8 path");
        Api::<Namespace>::all(client.clone())
            .create(
                &Default::default(),
                &serde_json::from_value(json!({"metadata": {"name": "berth"}})).expect("ns"),
            )
            .await
            .expect("namespace berth");
        let chart = helm::chart_dir();
        let chart = chart.to_str().expect("a UTF-8 path");
        let tag = helm::committed_tag();
        let sets = [
            ("image.tag", tag.as_str()),
            ("ingress.enabled", "true"),
            ("ingress.tlsSecret", "berth-tls"),
        ];
        let install = |extra: &[&str]| {
            let mut args = vec![
                "install",
                "berth",
                chart,
                "--namespace",
                "berth",
                "--kubeconfig",
                kubeconfig,
            ];
            args.extend(extra);
            helm::run(&args, &sets)
        };
        install(&["--dry-run=server"]).unwrap_or_else(|e| panic!("dry run refused: {e}"));
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), "berth");
        assert!(
            deployments.get_opt("berth").await.expect("read").is_none(),
            "a dry run stored the Deployment"
        );
        install(&[]).unwrap_or_else(|e| panic!("helm install refused: {e}"));
        let out = helm::kubectl()
            .args([
                "rollout",
                "status",
                "deployment/berth",
                "--namespace",
                "berth",
            ])
            .arg(format!("--timeout={}s", common::PATIENCE.as_secs()))
            .args(["--kubeconfig", kubeconfig])
            .output()
            .expect("kubectl rollout status");
        assert!(
            out.status.success(),
            "rollout status: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("successfully rolled out"), "{said}");
        let status = deployments.get("berth").await.expect("deployment").status;
        assert_eq!(status.and_then(|s| s.ready_replicas), Some(2));
        jit_guard_holds(plane, &client).await;
    });
}

/// A grant of `admin` (as Berth's grant binds it) does what admin does in its namespace, except
/// what would outlive the grant; a grant whose rule allows escalation is not held back.
async fn jit_guard_holds(plane: &sandbox::control_plane::ControlPlane, admin: &kube::Client) {
    let ns = "guarded";
    Api::<Namespace>::all(admin.clone())
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).expect("ns"),
        )
        .await
        .expect("namespace");
    Api::<ServiceAccount>::namespaced(admin.clone(), ns)
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": "ci"}})).expect("sa"),
        )
        .await
        .expect("service account");
    let grant_to = |user: &str| -> RoleBinding {
        serde_json::from_value(json!({
            "metadata": {"name": format!("berth-jit-{}", user.replace(':', "-")), "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }))
        .expect("binding")
    };
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), ns);
    let guarded_user = "jit:ar-guarded:dana";
    let escalating_user = "jit:ar-escalating:erin";
    for user in [guarded_user, escalating_user] {
        bindings
            .create(&Default::default(), &grant_to(user))
            .await
            .expect("grant binding");
    }
    let as_user = |user: &'static str, group: &'static str| async move {
        let text = plane
            .kubeconfig_for_user(user, &[group], std::time::Duration::from_secs(600))
            .expect("kubeconfig");
        sandbox::kubeconfig::client(&text).await.expect("client")
    };
    let guarded = as_user(guarded_user, domain::jit::JIT_GROUP).await;
    let escalating = as_user(escalating_user, domain::jit::JIT_ESCALATION_GROUP).await;

    // RBAC propagates to the authorizer's cache within a moment.
    let configmaps: Api<ConfigMap> = Api::namespaced(guarded.clone(), ns);
    let deadline = std::time::Instant::now() + common::PATIENCE;
    loop {
        let made = configmaps
            .create(
                &Default::default(),
                &serde_json::from_value(json!({"metadata": {"name": "ordinary-work"}}))
                    .expect("cm"),
            )
            .await;
        match made {
            Ok(_) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                eprintln!("waiting for the grant to take: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => panic!("a grant of admin cannot make a ConfigMap: {e}"),
        }
    }
    let refused = |result: Result<(), kube::Error>, what: &str| match result {
        Err(kube::Error::Api(status)) => {
            assert!(
                status.message.contains("cannot write RBAC"),
                "{what}: refused for another reason: {}",
                status.message
            );
        }
        Err(other) => panic!("{what}: {other}"),
        Ok(()) => panic!("{what}: a guarded grant was allowed it"),
    };
    let backdoor: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "backdoor", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dana"}],
    }))
    .expect("binding");
    // kube-apiserver loads a new admission policy through an informer: it holds a moment after
    // it was applied. Until then the binding gets through; it is taken away and tried again.
    let guarded_bindings = Api::<RoleBinding>::namespaced(guarded.clone(), ns);
    let deadline = std::time::Instant::now() + common::PATIENCE;
    loop {
        match guarded_bindings
            .create(&Default::default(), &backdoor)
            .await
        {
            Ok(_) if std::time::Instant::now() < deadline => {
                eprintln!("the guard is not in force yet");
                bindings
                    .delete("backdoor", &Default::default())
                    .await
                    .expect("take the binding away");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            result => {
                refused(result.map(drop), "a RoleBinding to the user's own identity");
                break;
            }
        }
    }
    let token_request: TokenRequest = serde_json::from_value(json!({
        "spec": {"audiences": [], "expirationSeconds": 31_536_000}
    }))
    .expect("token request");
    refused(
        Api::<ServiceAccount>::namespaced(guarded.clone(), ns)
            .create_subresource::<TokenRequest, TokenRequest>(
                "token",
                "ci",
                &Default::default(),
                &token_request,
            )
            .await
            .map(drop),
        "a year-long ServiceAccount token",
    );
    let token_secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "legacy-token", "annotations": {"kubernetes.io/service-account.name": "ci"}},
        "type": "kubernetes.io/service-account-token",
    }))
    .expect("secret");
    refused(
        Api::<Secret>::namespaced(guarded.clone(), ns)
            .create(&Default::default(), &token_secret)
            .await
            .map(drop),
        "a legacy ServiceAccount token Secret",
    );
    let opaque: Secret = serde_json::from_value(json!({
        "metadata": {"name": "app-password"},
        "stringData": {"password": "hunter2"},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(guarded, ns)
        .create(&Default::default(), &opaque)
        .await
        .expect("an ordinary Secret is the grant's to make");
    Api::<RoleBinding>::namespaced(escalating, ns)
        .create(&Default::default(), &backdoor)
        .await
        .expect("a grant whose rule allows escalation may bind roles");
}

fn dockerfile_stages() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/Dockerfile");
    let text = std::fs::read_to_string(path).expect("deploy/Dockerfile");
    let mut stages: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        if line.starts_with("FROM ") {
            stages.push(String::new());
        }
        if let Some(stage) = stages.last_mut() {
            stage.push_str(line);
            stage.push('\n');
        }
    }
    stages
}

/// No Docker on this machine to build it; what can be checked without one is checked.
#[test]
fn the_image_builds_server_and_site_then_runs_distroless_as_non_root() {
    let stages = dockerfile_stages();
    assert_eq!(stages.len(), 2, "a build stage and a run stage");
    let (build, run) = (&stages[0], &stages[1]);
    assert!(build.contains("scripts/site.sh"), "the WASM site is built");
    assert!(build.contains("cargo build --locked --release -p server --bin berth"));
    assert!(build.contains("wasm-bindgen-cli --version 0.2.130"));
    assert!(run.starts_with("FROM gcr.io/distroless/"), "{run}");
    assert!(run.contains("USER 65532:65532"));
    assert!(
        !run.contains("RUN "),
        "nothing runs in the final image's build"
    );
    // The chart runs the image as that same user.
    let chart = std::fs::read_to_string(helm::chart_dir().join("templates/deployment.yaml"))
        .expect("deployment template");
    assert!(chart.contains("runAsUser: 65532"));
    assert!(run.contains("BERTH_SITE_ROOT=/app/site"));
}
