//! A workload's pod template as the views read it: labels, each container's image, probes and
//! resources, whether replicas spread, and what it refers to. A whole `PodTemplateSpec` is
//! kilobytes in memory even for one small container (every optional field of `PodSpec` and
//! `Container` is laid out inline); Deployments are cached with this instead.

use std::collections::BTreeMap;

use domain::unused::TemplateRefs;
use k8s_openapi::api::core::v1::{
    EnvFromSource, EnvVar, LocalObjectReference, PodSpec, PodTemplateSpec, ResourceRequirements,
    Volume,
};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::pod::{CachedResources, Labels};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedTemplate {
    pub labels: Labels,
    pub containers: Vec<TemplateContainer>,
    /// Pod anti-affinity or topology spread constraints keep replicas apart.
    pub spreads: bool,
    /// The ConfigMaps, Secrets, claims and ServiceAccount its pods would use.
    pub refs: TemplateRefs,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TemplateContainer {
    pub name: String,
    pub image: Option<String>,
    pub readiness_probe: bool,
    pub liveness_probe: bool,
    pub resources: CachedResources,
}

impl CachedTemplate {
    /// The summary of a whole template (StatefulSets and DaemonSets are cached whole).
    pub fn of(namespace: &str, template: &PodTemplateSpec) -> CachedTemplate {
        let spec = template.spec.as_ref();
        CachedTemplate {
            labels: template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
                .unwrap_or_default()
                .into(),
            containers: spec
                .map(|s| {
                    s.containers
                        .iter()
                        .map(|c| TemplateContainer {
                            name: c.name.clone(),
                            image: c.image.clone(),
                            readiness_probe: c.readiness_probe.is_some(),
                            liveness_probe: c.liveness_probe.is_some(),
                            resources: resources(c.resources.clone()),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            spreads: spec.is_some_and(|p| {
                p.affinity
                    .as_ref()
                    .is_some_and(|a| a.pod_anti_affinity.is_some())
                    || p.topology_spread_constraints
                        .as_ref()
                        .is_some_and(|t| !t.is_empty())
            }),
            refs: spec
                .map(|s| super::pod::template_refs(namespace, s))
                .unwrap_or_default(),
        }
    }
}

fn resources(r: Option<ResourceRequirements>) -> CachedResources {
    let r = r.unwrap_or_default();
    CachedResources {
        requests: r.requests.into(),
        limits: r.limits.into(),
    }
}

/// A pod spec over the wire, reduced to what pods and templates are cached with; serde skips
/// the rest without keeping it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WirePodSpec {
    #[serde(default)]
    pub containers: Vec<WireContainer>,
    pub init_containers: Option<Vec<WireContainer>>,
    pub node_name: Option<String>,
    volumes: Option<Vec<Volume>>,
    image_pull_secrets: Option<Vec<LocalObjectReference>>,
    service_account_name: Option<String>,
    affinity: Option<WireAffinity>,
    topology_spread_constraints: Option<Vec<IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAffinity {
    pod_anti_affinity: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireContainer {
    pub name: String,
    image: Option<String>,
    resources: Option<ResourceRequirements>,
    env: Option<Vec<EnvVar>>,
    env_from: Option<Vec<EnvFromSource>>,
    readiness_probe: Option<IgnoredAny>,
    liveness_probe: Option<IgnoredAny>,
}

impl WireContainer {
    /// What the references need of a container, as the `Container` they are read from.
    fn refs_part(&mut self) -> k8s_openapi::api::core::v1::Container {
        k8s_openapi::api::core::v1::Container {
            name: self.name.clone(),
            env: self.env.take(),
            env_from: self.env_from.take(),
            ..Default::default()
        }
    }

    pub fn resources(&mut self) -> CachedResources {
        resources(self.resources.take())
    }

    fn into_template(mut self) -> TemplateContainer {
        TemplateContainer {
            resources: self.resources(),
            name: self.name,
            image: self.image,
            readiness_probe: self.readiness_probe.is_some(),
            liveness_probe: self.liveness_probe.is_some(),
        }
    }
}

impl WirePodSpec {
    /// What the spec refers to; takes the parts only references need.
    pub fn take_refs(&mut self, namespace: &str) -> TemplateRefs {
        let spec = PodSpec {
            containers: self
                .containers
                .iter_mut()
                .map(WireContainer::refs_part)
                .collect(),
            init_containers: self
                .init_containers
                .as_mut()
                .map(|cs| cs.iter_mut().map(WireContainer::refs_part).collect()),
            volumes: self.volumes.take(),
            image_pull_secrets: self.image_pull_secrets.take(),
            service_account_name: self.service_account_name.take(),
            ..Default::default()
        };
        super::pod::template_refs(namespace, &spec)
    }
}

/// A pod template over the wire.
#[derive(Default, Deserialize)]
pub(super) struct WireTemplate {
    metadata: Option<WireTemplateMeta>,
    spec: Option<WirePodSpec>,
}

#[derive(Deserialize)]
struct WireTemplateMeta {
    labels: Option<BTreeMap<String, String>>,
}

impl WireTemplate {
    pub fn cached(self, namespace: &str) -> CachedTemplate {
        let labels = self
            .metadata
            .and_then(|m| m.labels)
            .unwrap_or_default()
            .into();
        let Some(mut spec) = self.spec else {
            return CachedTemplate {
                labels,
                ..CachedTemplate::default()
            };
        };
        let refs = spec.take_refs(namespace);
        let spreads = spec
            .affinity
            .as_ref()
            .is_some_and(|a| a.pod_anti_affinity.is_some())
            || spec
                .topology_spread_constraints
                .as_ref()
                .is_some_and(|t| !t.is_empty());
        CachedTemplate {
            labels,
            containers: spec
                .containers
                .into_iter()
                .map(WireContainer::into_template)
                .collect(),
            spreads,
            refs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> serde_json::Value {
        serde_json::json!({
            "metadata": {"labels": {"app": "web", "release": "canary"}},
            "spec": {
                "serviceAccountName": "web",
                "volumes": [{"name": "conf", "configMap": {"name": "web-conf"}}],
                "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
                "containers": [{"name": "web", "image": "web:2",
                    "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "api-key", "key": "k"}}}],
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                    "resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "64Mi"}}},
                    {"name": "sidecar", "image": "proxy:1"}]
            }
        })
    }

    #[test]
    fn the_wire_summary_matches_that_of_the_whole_template() {
        let whole: PodTemplateSpec = serde_json::from_value(template()).expect("template");
        let wire: WireTemplate = serde_json::from_value(template()).expect("template");
        let cached = wire.cached("shop");
        assert_eq!(cached, CachedTemplate::of("shop", &whole));
        assert_eq!(cached.labels.get("release"), Some("canary"));
        assert!(cached.spreads);
        let web = &cached.containers[0];
        assert_eq!(web.image.as_deref(), Some("web:2"));
        assert!(web.readiness_probe && !web.liveness_probe);
        assert_eq!(
            web.resources.requests.get("cpu").map(|q| q.0.as_str()),
            Some("100m")
        );
        assert!(!cached.containers[1].readiness_probe);
        assert_eq!(cached.refs.config_maps, ["web-conf"]);
        assert_eq!(cached.refs.secrets, ["api-key"]);
        assert_eq!(cached.refs.service_account.as_deref(), Some("web"));
    }

    #[test]
    fn no_probe_and_no_spread_when_null_or_empty() {
        let json = serde_json::json!({"spec": {"topologySpreadConstraints": [],
            "containers": [{"name": "a", "readinessProbe": null}]}});
        let cached = serde_json::from_value::<WireTemplate>(json)
            .expect("template")
            .cached("ns");
        assert!(!cached.spreads);
        assert!(!cached.containers[0].readiness_probe);
    }
}
