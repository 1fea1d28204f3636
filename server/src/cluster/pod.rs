//! The pod as the watch cache keeps it: only what pages, reports and scans read. A whole
//! `Pod` costs kilobytes in memory (every probe, port, mount, env value and toleration of every
//! container); at 50,000 pods the pod cache was most of Berth's memory. The projection is read
//! straight off the wire (`Api<CachedPod>` lists and watches `pods`), so the rest is never kept.
//! Field names follow `Pod`'s, so code that reads a `Pod` reads a `CachedPod` alike.

use std::borrow::Cow;

use domain::unused::TemplateRefs;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, EnvFromSource, EnvVar, LocalObjectReference, PodCondition, PodSpec,
    ResourceRequirements, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(from = "wire::Pod")]
pub struct CachedPod {
    pub metadata: ObjectMeta,
    pub spec: Option<CachedPodSpec>,
    pub status: Option<CachedPodStatus>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedPodSpec {
    pub containers: Vec<CachedContainer>,
    pub init_containers: Option<Vec<CachedContainer>>,
    pub node_name: Option<String>,
    /// The ConfigMaps, Secrets, claims and ServiceAccount the pod uses, for the unused scan.
    pub refs: TemplateRefs,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct CachedContainer {
    pub name: String,
    pub resources: Option<ResourceRequirements>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedPodStatus {
    pub phase: Option<String>,
    pub reason: Option<String>,
    pub conditions: Option<Vec<PodCondition>>,
    pub container_statuses: Option<Vec<CachedContainerStatus>>,
    pub init_container_statuses: Option<Vec<CachedContainerStatus>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedContainerStatus {
    pub name: String,
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub restart_count: i32,
    pub state: Option<ContainerState>,
}

impl kube::Resource for CachedPod {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("Pod")
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("v1")
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("pods")
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

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

    #[derive(Deserialize)]
    pub struct Pod {
        #[serde(default)]
        metadata: ObjectMeta,
        spec: Option<Spec>,
        status: Option<CachedPodStatus>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Spec {
        #[serde(default)]
        containers: Vec<Container>,
        init_containers: Option<Vec<Container>>,
        node_name: Option<String>,
        volumes: Option<Vec<Volume>>,
        image_pull_secrets: Option<Vec<LocalObjectReference>>,
        service_account_name: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Container {
        name: String,
        resources: Option<ResourceRequirements>,
        env: Option<Vec<EnvVar>>,
        env_from: Option<Vec<EnvFromSource>>,
    }

    impl Container {
        /// What the references need of a container, as the `Container` the refs read.
        fn refs_part(&mut self) -> super::Container {
            super::Container {
                name: self.name.clone(),
                env: self.env.take(),
                env_from: self.env_from.take(),
                ..Default::default()
            }
        }

        fn cached(self) -> CachedContainer {
            CachedContainer {
                name: self.name,
                resources: self.resources,
            }
        }
    }

    impl From<Pod> for CachedPod {
        fn from(pod: Pod) -> CachedPod {
            let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
            let spec = pod.spec.map(|mut s| {
                let refs_spec = PodSpec {
                    containers: s.containers.iter_mut().map(Container::refs_part).collect(),
                    init_containers: s
                        .init_containers
                        .as_mut()
                        .map(|cs| cs.iter_mut().map(Container::refs_part).collect()),
                    volumes: s.volumes.take(),
                    image_pull_secrets: s.image_pull_secrets.take(),
                    service_account_name: s.service_account_name.take(),
                    ..Default::default()
                };
                CachedPodSpec {
                    refs: template_refs(namespace, &refs_spec),
                    containers: s.containers.into_iter().map(Container::cached).collect(),
                    init_containers: s
                        .init_containers
                        .map(|cs| cs.into_iter().map(Container::cached).collect()),
                    node_name: s.node_name,
                }
            });
            // No view reads a pod's annotations (real pods carry many: scrape config, mesh
            // sidecar state, config checksums) nor when its conditions last changed.
            let mut metadata = pod.metadata;
            metadata.annotations = None;
            metadata.generate_name = None;
            let mut status = pod.status;
            for c in status
                .iter_mut()
                .flat_map(|s| s.conditions.iter_mut().flatten())
            {
                c.last_probe_time = None;
                c.last_transition_time = None;
            }
            CachedPod {
                metadata,
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
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-22T10:00:00Z"}],
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
        let requests = spec.containers[0]
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .expect("requests");
        assert_eq!(requests["cpu"].0, "100m");
        assert_eq!(spec.init_containers.as_ref().map(Vec::len), Some(1));
        let status = pod.status.expect("status");
        assert_eq!(status.phase.as_deref(), Some("Running"));
        let ready = &status.conditions.as_ref().expect("conditions")[0];
        assert_eq!(
            (ready.type_.as_str(), ready.status.as_str()),
            ("Ready", "True")
        );
        assert_eq!(ready.last_transition_time, None);
        let c = &status.container_statuses.expect("statuses")[0];
        assert_eq!((c.ready, c.restart_count), (true, 3));
        let waiting = c.state.as_ref().and_then(|s| s.waiting.as_ref());
        assert_eq!(
            waiting.and_then(|w| w.reason.as_deref()),
            Some("CrashLoopBackOff")
        );
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
