//! The pod as the watch cache keeps it: only what pages, reports and scans read. A whole
//! `Pod` costs kilobytes in memory (every probe, port, mount, env value and toleration of every
//! container); at 50,000 pods the pod cache was most of Berth's memory. The projection is read
//! straight off the wire (`Api<CachedPod>` lists and watches `pods`), so the rest is never kept.
//! Field names follow `Pod`'s, so code that reads a `Pod` reads a `CachedPod` alike.

use std::borrow::Cow;
use std::collections::BTreeMap;

use domain::unused::TemplateRefs;
use k8s_openapi::api::core::v1::{ContainerState, PodCondition, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(from = "wire::Pod")]
pub struct CachedPod {
    /// Name, namespace, ids, owner and timestamps; labels live in [`CachedPod::labels`].
    pub metadata: ObjectMeta,
    pub labels: Labels,
    pub spec: Option<CachedPodSpec>,
    pub status: Option<CachedPodStatus>,
}

/// A pod's labels in one allocation, sorted by key. A `BTreeMap` node is sized for eleven
/// entries (over 500 bytes for a pod's usual four or five), which at 200,000 pods is 100 MB.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Labels(Box<[(Box<str>, Box<str>)]>);

impl Labels {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    /// The labels as a map, for code that takes one (a selector being matched).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Whether every pair of `selector` is among these labels (an empty selector matches).
    pub fn matches(&self, selector: &BTreeMap<String, String>) -> bool {
        selector
            .iter()
            .all(|(k, v)| self.get(k) == Some(v.as_str()))
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Labels {
        Labels(
            map.into_iter()
                .map(|(k, v)| (k.into_boxed_str(), v.into_boxed_str()))
                .collect(),
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedPodSpec {
    pub containers: Vec<CachedContainer>,
    pub init_containers: Option<Vec<CachedContainer>>,
    pub node_name: Option<String>,
    /// The ConfigMaps, Secrets, claims and ServiceAccount the pod uses, for the unused scan.
    pub refs: TemplateRefs,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedContainer {
    pub name: String,
    pub resources: CachedResources,
}

/// A container's requests and limits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedResources {
    pub requests: ResourceList,
    pub limits: ResourceList,
}

/// Resource names and quantities in one allocation; the common names take no allocation of
/// their own.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceList(Box<[(Cow<'static, str>, Quantity)]>);

impl ResourceList {
    pub fn get(&self, name: &str) -> Option<&Quantity> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, q)| q)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Quantity)> {
        self.0.iter().map(|(k, q)| (&**k, q))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Option<BTreeMap<String, Quantity>>> for ResourceList {
    fn from(map: Option<BTreeMap<String, Quantity>>) -> ResourceList {
        ResourceList(
            map.into_iter()
                .flatten()
                .map(|(k, q)| (known(k, &["cpu", "memory", "ephemeral-storage"]), q))
                .collect(),
        )
    }
}

/// `value` as a static string when it is one of `common`, so it costs no allocation.
fn known(value: String, common: &[&'static str]) -> Cow<'static, str> {
    match common.iter().find(|c| **c == value) {
        Some(c) => Cow::Borrowed(c),
        None => Cow::Owned(value),
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedPodStatus {
    pub phase: Option<String>,
    pub reason: Option<String>,
    pub conditions: Conditions,
    pub container_statuses: Option<Vec<CachedContainerStatus>>,
    pub init_container_statuses: Option<Vec<CachedContainerStatus>>,
}

/// The well-known condition types, by their bit in [`Conditions`].
const CONDITION_TYPES: [&str; 5] = [
    "PodScheduled",
    "Initialized",
    "ContainersReady",
    "Ready",
    "PodReadyToStartContainers",
];

/// A pod's conditions: the well-known ones that are `True` (nearly all, on a healthy cluster)
/// as bits; any other kept whole but for its timestamps, which no view reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conditions {
    true_types: u8,
    others: Vec<CachedCondition>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CachedCondition {
    pub type_: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
}

impl Conditions {
    /// Whether the condition `type_` is `True`.
    pub fn is_true(&self, type_: &str) -> bool {
        match CONDITION_TYPES.iter().position(|t| *t == type_) {
            Some(bit) if self.true_types & (1 << bit) != 0 => true,
            _ => self
                .others
                .iter()
                .any(|c| c.type_ == type_ && c.status == "True"),
        }
    }

    /// The condition `type_` when it is not `True`.
    pub fn not_true(&self, type_: &str) -> Option<&CachedCondition> {
        self.others
            .iter()
            .find(|c| c.type_ == type_ && c.status != "True")
    }
}

impl From<Option<Vec<PodCondition>>> for Conditions {
    fn from(conditions: Option<Vec<PodCondition>>) -> Conditions {
        let mut out = Conditions::default();
        for c in conditions.into_iter().flatten() {
            let bit = CONDITION_TYPES.iter().position(|t| *t == c.type_);
            match bit {
                Some(bit) if c.status == "True" => out.true_types |= 1 << bit,
                _ => out.others.push(CachedCondition {
                    type_: c.type_,
                    status: c.status,
                    reason: c.reason,
                    message: c.message,
                }),
            }
        }
        out
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedContainerStatus {
    pub name: String,
    pub ready: bool,
    pub restart_count: i32,
    pub state: CachedContainerState,
}

/// What a container is doing, with the reason the views show (no timestamps, ids or messages).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum CachedContainerState {
    Running,
    Waiting {
        reason: Option<String>,
    },
    Terminated {
        reason: Option<String>,
        exit_code: i32,
        signal: i32,
    },
    #[default]
    Unknown,
}

impl From<Option<ContainerState>> for CachedContainerState {
    fn from(state: Option<ContainerState>) -> CachedContainerState {
        let Some(state) = state else {
            return CachedContainerState::Unknown;
        };
        if let Some(w) = state.waiting {
            CachedContainerState::Waiting { reason: w.reason }
        } else if let Some(t) = state.terminated {
            CachedContainerState::Terminated {
                reason: t.reason,
                exit_code: t.exit_code,
                signal: t.signal.unwrap_or(0),
            }
        } else if state.running.is_some() {
            CachedContainerState::Running
        } else {
            CachedContainerState::Unknown
        }
    }
}

namespaced_projection!(CachedPod, "Pod", "", "v1", "pods");

/// The ConfigMaps, Secrets, claims and ServiceAccount a pod (or a workload's pod template)
/// refers to: volumes, projected sources, env and envFrom, image pull secrets.
pub fn template_refs(namespace: &str, spec: &PodSpec) -> TemplateRefs {
    let mut r = TemplateRefs {
        namespace: namespace.to_owned(),
        service_account: spec.service_account_name.clone(),
        ..TemplateRefs::default()
    };
    for v in spec.volumes.iter().flatten() {
        if let Some(cm) = &v.config_map {
            r.config_maps.push(cm.name.clone());
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            r.secrets.push(s);
        }
        if let Some(c) = &v.persistent_volume_claim {
            r.claims.push(c.claim_name.clone());
        }
        for source in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(cm) = &source.config_map {
                r.config_maps.push(cm.name.clone());
            }
            if let Some(s) = &source.secret {
                r.secrets.push(s.name.clone());
            }
        }
    }
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for e in c.env.iter().flatten() {
            let from = e.value_from.as_ref();
            if let Some(k) = from.and_then(|f| f.config_map_key_ref.as_ref()) {
                r.config_maps.push(k.name.clone());
            }
            if let Some(k) = from.and_then(|f| f.secret_key_ref.as_ref()) {
                r.secrets.push(k.name.clone());
            }
        }
        for e in c.env_from.iter().flatten() {
            if let Some(cm) = &e.config_map_ref {
                r.config_maps.push(cm.name.clone());
            }
            if let Some(s) = &e.secret_ref {
                r.secrets.push(s.name.clone());
            }
        }
    }
    for s in spec.image_pull_secrets.iter().flatten() {
        r.secrets.push(s.name.clone());
    }
    r
}

/// The pod as it comes over the wire, reduced to the fields the projection needs; serde skips
/// the rest without keeping it.
mod wire {
    use super::*;
    use crate::cluster::template::{WireContainer, WirePodSpec};

    fn cached(c: &mut WireContainer) -> CachedContainer {
        CachedContainer {
            resources: c.resources(),
            name: std::mem::take(&mut c.name),
        }
    }

    #[derive(Deserialize)]
    pub struct Pod {
        #[serde(default)]
        metadata: ObjectMeta,
        spec: Option<WirePodSpec>,
        status: Option<Status>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Status {
        phase: Option<String>,
        reason: Option<String>,
        conditions: Option<Vec<PodCondition>>,
        container_statuses: Option<Vec<ContainerStatus>>,
        init_container_statuses: Option<Vec<ContainerStatus>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ContainerStatus {
        name: String,
        #[serde(default)]
        ready: bool,
        #[serde(default)]
        restart_count: i32,
        state: Option<ContainerState>,
    }

    impl From<ContainerStatus> for CachedContainerStatus {
        fn from(c: ContainerStatus) -> CachedContainerStatus {
            CachedContainerStatus {
                name: c.name,
                ready: c.ready,
                restart_count: c.restart_count,
                state: c.state.into(),
            }
        }
    }

    fn statuses(list: Option<Vec<ContainerStatus>>) -> Option<Vec<CachedContainerStatus>> {
        list.map(|l| l.into_iter().map(Into::into).collect())
    }

    impl From<Pod> for CachedPod {
        fn from(pod: Pod) -> CachedPod {
            let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
            let spec = pod.spec.map(|mut s| CachedPodSpec {
                refs: s.take_refs(namespace),
                containers: s.containers.iter_mut().map(cached).collect(),
                init_containers: s
                    .init_containers
                    .as_mut()
                    .map(|cs| cs.iter_mut().map(cached).collect()),
                node_name: s.node_name,
            });
            // No view reads a pod's annotations (real pods carry many: scrape config, mesh
            // sidecar state, config checksums) nor when its conditions last changed.
            let mut metadata = pod.metadata;
            metadata.annotations = None;
            metadata.generate_name = None;
            let labels = metadata.labels.take().unwrap_or_default().into();
            let status = pod.status.map(|s| CachedPodStatus {
                phase: s.phase,
                reason: s.reason,
                conditions: s.conditions.into(),
                container_statuses: statuses(s.container_statuses),
                init_container_statuses: statuses(s.init_container_statuses),
            });
            CachedPod {
                metadata,
                labels,
                spec,
                status,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pod as a real API server sends it, with the bulk the cache leaves behind.
    fn real_shaped() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1",
                "labels": {"app": "web"}, "annotations": {"prometheus.io/scrape": "true"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "rs1", "controller": true}]},
            "spec": {
                "serviceAccountName": "web",
                "nodeName": "node-1",
                "imagePullSecrets": [{"name": "registry"}],
                "volumes": [
                    {"name": "conf", "configMap": {"name": "web-conf"}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}},
                    {"name": "tok", "projected": {"sources": [{"secret": {"name": "web-tls"}}]}}
                ],
                "initContainers": [{"name": "migrate", "image": "web:1",
                    "envFrom": [{"secretRef": {"name": "db"}}]}],
                "containers": [{"name": "web", "image": "web:1",
                    "command": ["/web"], "ports": [{"containerPort": 8080}],
                    "env": [{"name": "MODE", "value": "prod"},
                            {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "api-key", "key": "k"}}}],
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}}}],
                "tolerations": [{"key": "spot", "operator": "Exists"}]
            },
            "status": {
                "phase": "Running", "podIP": "10.0.0.1", "qosClass": "Burstable",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-22T10:00:00Z"},
                    {"type": "Initialized", "status": "False"},
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}],
                "containerStatuses": [{"name": "web", "image": "web:1", "imageID": "sha256:abc",
                    "containerID": "containerd://x", "ready": true, "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
            }
        })
    }

    #[test]
    fn keeps_what_views_read_and_drops_the_rest() {
        let pod: CachedPod = serde_json::from_value(real_shaped()).expect("pod");
        assert_eq!(pod.metadata.name.as_deref(), Some("web-1"));
        assert_eq!(
            pod.metadata.owner_references.as_ref().map(Vec::len),
            Some(1)
        );
        assert_eq!(pod.metadata.annotations, None);
        let spec = pod.spec.expect("spec");
        assert_eq!(spec.node_name.as_deref(), Some("node-1"));
        assert_eq!(spec.containers.len(), 1);
        assert_eq!(spec.containers[0].name, "web");
        let resources = &spec.containers[0].resources;
        assert_eq!(
            resources.requests.get("cpu").map(|q| q.0.as_str()),
            Some("100m")
        );
        assert_eq!(
            resources
                .limits
                .iter()
                .map(|(k, q)| (k, q.0.as_str()))
                .collect::<Vec<_>>(),
            [("memory", "64Mi")]
        );
        assert_eq!(spec.init_containers.as_ref().map(Vec::len), Some(1));
        assert_eq!(pod.labels.get("app"), Some("web"));
        assert_eq!(pod.metadata.labels, None);
        let status = pod.status.expect("status");
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert!(status.conditions.is_true("Ready"));
        assert!(!status.conditions.is_true("Initialized"));
        let scheduled = status
            .conditions
            .not_true("PodScheduled")
            .expect("condition");
        assert_eq!(
            (scheduled.reason.as_deref(), scheduled.message.as_deref()),
            (Some("Unschedulable"), Some("0/3 nodes are available"))
        );
        let c = &status.container_statuses.expect("statuses")[0];
        assert_eq!((c.ready, c.restart_count), (true, 3));
        assert_eq!(
            c.state,
            CachedContainerState::Waiting {
                reason: Some("CrashLoopBackOff".to_owned())
            }
        );
    }

    #[test]
    fn labels_match_selectors_like_a_map() {
        let labels = Labels::from(BTreeMap::from([
            ("app".to_owned(), "web".to_owned()),
            ("tier".to_owned(), "front".to_owned()),
            ("pod-template-hash".to_owned(), "abc".to_owned()),
        ]));
        let selector = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(labels.matches(&selector(&[("app", "web"), ("tier", "front")])));
        assert!(!labels.matches(&selector(&[("app", "web"), ("tier", "back")])));
        assert!(!labels.matches(&selector(&[("zone", "a")])));
        assert!(labels.matches(&selector(&[])));
        assert_eq!(labels.get("pod-template-hash"), Some("abc"));
        assert_eq!(labels.get("absent"), None);
    }

    #[test]
    fn references_match_those_of_the_whole_pod() {
        let whole: k8s_openapi::api::core::v1::Pod =
            serde_json::from_value(real_shaped()).expect("pod");
        let cached: CachedPod = serde_json::from_value(real_shaped()).expect("pod");
        let expected = template_refs("shop", whole.spec.as_ref().expect("spec"));
        assert_eq!(cached.spec.expect("spec").refs, expected);
        assert_eq!(expected.config_maps, ["web-conf"]);
        assert_eq!(expected.secrets, ["web-tls", "api-key", "db", "registry"]);
        assert_eq!(expected.claims, ["web-data"]);
        assert_eq!(expected.service_account.as_deref(), Some("web"));
    }
}
