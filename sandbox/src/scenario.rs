//! Scenarios: a cluster's nodes, teams, namespaces and workloads, from YAML; [`crate::loader`]
//! applies them through the API server, and the real controllers and the node simulator bring
//! them to life.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{NodeSpec, kubelet, metrics, quantity};

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("the scenario is not valid YAML: {0}")]
    Parse(String),
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("loading the scenario failed at {what}: {message}")]
    Load { what: String, message: String },
    #[error("unknown built-in scenario {0:?}; built in are `demo` and `large`")]
    Unknown(String),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub name: String,
    /// How fast scripted time runs; 1 is real time.
    #[serde(default)]
    pub clock_speed: Option<f64>,
    #[serde(default)]
    pub nodes: Vec<NodeGroup>,
    #[serde(default)]
    pub teams: Vec<Team>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeGroup {
    pub name: String,
    #[serde(default = "one")]
    pub count: u32,
    pub cpu: f64,
    /// e.g. `32Gi`.
    pub memory: String,
    #[serde(default = "default_pods")]
    pub pods: u32,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

fn default_pods() -> u32 {
    110
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    pub name: String,
    #[serde(default)]
    pub cost_centre: String,
    #[serde(default)]
    pub contact: String,
    #[serde(default)]
    pub namespaces: Vec<NamespaceSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceSpec {
    pub name: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// A ResourceQuota's `spec.hard`.
    #[serde(default)]
    pub quota: BTreeMap<String, String>,
    /// LimitRange container defaults: `default` and `defaultRequest`.
    #[serde(default)]
    pub limits: Option<LimitDefaults>,
    #[serde(default)]
    pub workloads: Vec<Workload>,
    #[serde(default)]
    pub pvcs: Vec<Pvc>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitDefaults {
    #[serde(default)]
    pub default: BTreeMap<String, String>,
    #[serde(default, rename = "defaultRequest")]
    pub default_request: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub name: String,
    #[serde(default = "deployment_kind")]
    pub kind: String,
    #[serde(default = "one")]
    pub replicas: u32,
    pub image: String,
    #[serde(default)]
    pub requests: BTreeMap<String, String>,
    #[serde(default)]
    pub limits: BTreeMap<String, String>,
    #[serde(default)]
    pub usage: Option<Usage>,
    /// `never-ready`, `crash-loop`, `fail` (jobs).
    #[serde(default)]
    pub script: Option<String>,
    /// Seconds from start to Ready.
    #[serde(default)]
    pub ready_after: Option<f64>,
    /// `stable`, `canary`, `alpha`: the seeds' release nomenclature, as a label.
    #[serde(default)]
    pub release: Option<String>,
    /// CronJob schedule.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Job and CronJob pods run this long.
    #[serde(default)]
    pub run_seconds: Option<f64>,
    /// `settled` (default: written already rolled out) or `live` (left to the controllers).
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub probes: bool,
    /// StatefulSet claim templates: claim `<template>-<set>-<ordinal>` per replica, made bound
    /// when the scenario loads (as if the set had run for a while) and by the controller later.
    #[serde(default)]
    pub claim_templates: Vec<ClaimTemplate>,
    /// Claims of the namespace (its `pvcs`) that every pod mounts.
    #[serde(default)]
    pub mounts: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimTemplate {
    pub name: String,
    pub size: String,
}

fn deployment_kind() -> String {
    "Deployment".to_owned()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    #[serde(default = "steady")]
    pub profile: String,
    #[serde(default)]
    pub cpu: Option<String>,
    #[serde(default)]
    pub memory: Option<String>,
}

fn steady() -> String {
    "steady".to_owned()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pvc {
    pub name: String,
    pub size: String,
    #[serde(default = "yes")]
    pub bound: bool,
    #[serde(default)]
    pub storage_class: Option<String>,
}

fn yes() -> bool {
    true
}

/// The built-in demo company.
pub const DEMO: &str = include_str!("../scenarios/demo.yaml");
/// The demo's second cluster.
pub const US_DEV: &str = include_str!("../scenarios/us-dev.yaml");

impl Scenario {
    pub fn from_yaml(text: &str) -> Result<Scenario, ScenarioError> {
        serde_yaml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))
    }

    /// `demo`, `large` (2,000 namespaces, 10,000 deployments, 50,000 pods) or a file path.
    pub fn named(name: &str) -> Result<Scenario, ScenarioError> {
        match name {
            "demo" => Scenario::from_yaml(DEMO),
            "us-dev" => Scenario::from_yaml(US_DEV),
            "large" => Ok(Scenario::large(2_000, 10_000, 50_000)),
            path if path.ends_with(".yaml") || path.ends_with(".yml") || path.contains('/') => {
                let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Scenario::from_yaml(&text)
            }
            other => Err(ScenarioError::Unknown(other.to_owned())),
        }
    }

    /// A parametrised big cluster for benchmarks: `namespaces` namespaces across 20 teams,
    /// `deployments` deployments spread over them, `pods` pods spread over the deployments.
    pub fn large(namespaces: usize, deployments: usize, pods: usize) -> Scenario {
        let per_node_pods = 110usize;
        let node_count = pods.div_ceil(per_node_pods - 10).max(3);
        let nodes = vec![NodeGroup {
            name: "large".to_owned(),
            count: u32::try_from(node_count).unwrap_or(u32::MAX),
            cpu: 64.0,
            memory: "256Gi".to_owned(),
            pods: u32::try_from(per_node_pods).unwrap_or(110),
            labels: BTreeMap::from([(
                "node.kubernetes.io/instance-type".to_owned(),
                "m5.16xlarge".to_owned(),
            )]),
        }];
        let teams_count = 20usize;
        let mut teams: Vec<Team> = (0..teams_count)
            .map(|t| Team {
                name: format!("team-{t:02}"),
                cost_centre: format!("CC-{:04}", 1000 + t),
                contact: format!("team-{t:02}@example.com"),
                namespaces: Vec::new(),
            })
            .collect();
        let profiles = ["steady", "diurnal", "spiky", "idle"];
        for n in 0..namespaces {
            let mut workloads = Vec::new();
            let mut d = n;
            while d < deployments {
                // Spread pods evenly: deployment d gets pods/deployments, the first few one more.
                let base = pods / deployments.max(1);
                let extra = usize::from(d < pods % deployments.max(1));
                workloads.push(Workload {
                    name: format!("svc-{d:05}"),
                    kind: deployment_kind(),
                    replicas: u32::try_from(base + extra).unwrap_or(1),
                    image: format!("registry.example.com/svc-{d:05}:1.{}.0", d % 7),
                    requests: BTreeMap::from([
                        ("cpu".to_owned(), "50m".to_owned()),
                        ("memory".to_owned(), "64Mi".to_owned()),
                    ]),
                    limits: BTreeMap::from([
                        ("cpu".to_owned(), "100m".to_owned()),
                        ("memory".to_owned(), "128Mi".to_owned()),
                    ]),
                    usage: Some(Usage {
                        profile: profiles[d % profiles.len()].to_owned(),
                        cpu: None,
                        memory: None,
                    }),
                    script: None,
                    ready_after: None,
                    release: Some("stable".to_owned()),
                    schedule: None,
                    run_seconds: None,
                    state: None,
                    probes: d % 3 != 0,
                    claim_templates: Vec::new(),
                    mounts: Vec::new(),
                });
                d += namespaces.max(1);
            }
            let team = &mut teams[n % teams_count];
            team.namespaces.push(NamespaceSpec {
                name: format!("ns-{n:04}"),
                owner: format!("owner-{n:04}@example.com"),
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
                quota: BTreeMap::new(),
                limits: None,
                workloads,
                pvcs: Vec::new(),
            });
        }
        Scenario {
            name: "large".to_owned(),
            clock_speed: None,
            nodes,
            teams,
        }
    }

    pub fn node_specs(&self) -> Vec<NodeSpec> {
        let mut out = Vec::new();
        for group in &self.nodes {
            for i in 1..=group.count {
                let name = if group.count == 1 {
                    group.name.clone()
                } else {
                    format!("{}-{i}", group.name)
                };
                out.push(NodeSpec {
                    name,
                    cpu: group.cpu,
                    memory: quantity::parse(&group.memory).unwrap_or(0.0),
                    pods: group.pods,
                    labels: group
                        .labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                });
            }
        }
        out
    }
}

/// The Namespace object of `spec`: the team's label, and team, cost centre, contact and owner
/// annotations as Berth's own namespaces carry them.
pub(crate) fn namespace_object(team: &Team, spec: &NamespaceSpec) -> Value {
    let mut labels: BTreeMap<String, String> = spec.labels.clone();
    labels.insert("berth.dev/team".to_owned(), team.name.clone());
    let mut annotations = spec.annotations.clone();
    annotations
        .entry("berth.dev/team".to_owned())
        .or_insert_with(|| team.name.clone());
    if !team.cost_centre.is_empty() {
        annotations
            .entry("berth.dev/cost-centre".to_owned())
            .or_insert_with(|| team.cost_centre.clone());
    }
    if !team.contact.is_empty() {
        annotations
            .entry("berth.dev/contact".to_owned())
            .or_insert_with(|| team.contact.clone());
    }
    if !spec.owner.is_empty() {
        annotations
            .entry("berth.dev/owner".to_owned())
            .or_insert_with(|| spec.owner.clone());
    }
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": spec.name, "labels": labels, "annotations": annotations}})
}

pub(crate) fn pod_template(workload: &Workload) -> Value {
    let mut labels = json!({"app": workload.name});
    if let Some(release) = &workload.release {
        labels["release"] = json!(release);
    }
    let mut annotations = serde_json::Map::new();
    if let Some(usage) = &workload.usage {
        annotations.insert(metrics::PROFILE.to_owned(), json!(usage.profile));
        if let Some(cpu) = &usage.cpu {
            annotations.insert(metrics::CPU_USAGE.to_owned(), json!(cpu));
        }
        if let Some(memory) = &usage.memory {
            annotations.insert(metrics::MEMORY_USAGE.to_owned(), json!(memory));
        }
    }
    if let Some(script) = &workload.script {
        annotations.insert(kubelet::SCRIPT.to_owned(), json!(script));
    }
    if let Some(seconds) = workload.ready_after {
        annotations.insert(kubelet::READY_AFTER.to_owned(), json!(seconds.to_string()));
    }
    if let Some(seconds) = workload.run_seconds {
        annotations.insert(kubelet::RUN_SECONDS.to_owned(), json!(seconds.to_string()));
    }
    let mut container = json!({"name": workload.name, "image": workload.image});
    let mounts: Vec<&String> = workload
        .claim_templates
        .iter()
        .map(|t| &t.name)
        .chain(&workload.mounts)
        .collect();
    if !mounts.is_empty() {
        container["volumeMounts"] = mounts
            .iter()
            .map(|m| json!({"name": m, "mountPath": format!("/data/{m}")}))
            .collect();
    }
    let mut resources = serde_json::Map::new();
    if !workload.requests.is_empty() {
        resources.insert("requests".into(), json!(workload.requests));
    }
    if !workload.limits.is_empty() {
        resources.insert("limits".into(), json!(workload.limits));
    }
    if !resources.is_empty() {
        container["resources"] = Value::Object(resources);
    }
    if workload.probes {
        container["readinessProbe"] =
            json!({"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10});
        container["livenessProbe"] =
            json!({"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 20});
    }
    let batch = matches!(workload.kind.as_str(), "Job" | "CronJob");
    let mut spec = json!({"containers": [container]});
    if !workload.mounts.is_empty() {
        spec["volumes"] = workload
            .mounts
            .iter()
            .map(|m| json!({"name": m, "persistentVolumeClaim": {"claimName": m}}))
            .collect();
    }
    if batch {
        spec["restartPolicy"] = json!("Never");
    }
    json!({"metadata": {"labels": labels, "annotations": annotations}, "spec": spec})
}
