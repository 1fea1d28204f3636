//! The Deployment as the watch cache keeps it: its spec without the whole pod template (a
//! [`CachedTemplate`] instead), its status, and metadata without annotations the views do not
//! read. A whole `Deployment` was about 9 KB in memory for a one-container template; at ten
//! clusters of 4,000 Deployments that was 380 MB. Field names follow `Deployment`'s.

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{DeploymentStatus, DeploymentStrategy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::Deserialize;

use super::template::CachedTemplate;

/// Annotations the views read (the revision when no ReplicaSet says it).
const KEPT_ANNOTATIONS: [&str; 2] = [
    "deployment.kubernetes.io/revision",
    "kubernetes.io/change-cause",
];

#[derive(Clone, Debug, Deserialize)]
#[serde(from = "wire::Deployment")]
pub struct CachedDeployment {
    pub metadata: ObjectMeta,
    pub spec: CachedDeploymentSpec,
    pub status: Option<DeploymentStatus>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedDeploymentSpec {
    pub replicas: Option<i32>,
    pub paused: Option<bool>,
    pub selector: LabelSelector,
    pub strategy: Option<DeploymentStrategy>,
    pub template: CachedTemplate,
}

impl kube::Resource for CachedDeployment {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("Deployment")
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("apps")
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("v1")
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("deployments")
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

mod wire {
    use super::*;
    use crate::cluster::template::WireTemplate;

    #[derive(Deserialize)]
    pub struct Deployment {
        #[serde(default)]
        metadata: ObjectMeta,
        #[serde(default)]
        spec: Spec,
        status: Option<DeploymentStatus>,
    }

    #[derive(Default, Deserialize)]
    struct Spec {
        replicas: Option<i32>,
        paused: Option<bool>,
        #[serde(default)]
        selector: LabelSelector,
        strategy: Option<DeploymentStrategy>,
        #[serde(default)]
        template: WireTemplate,
    }

    impl From<Deployment> for CachedDeployment {
        fn from(d: Deployment) -> CachedDeployment {
            let mut metadata = d.metadata;
            if let Some(annotations) = metadata.annotations.as_mut() {
                annotations.retain(|k, _| KEPT_ANNOTATIONS.contains(&k.as_str()));
            }
            let namespace = metadata.namespace.as_deref().unwrap_or_default();
            let template = d.spec.template.cached(namespace);
            CachedDeployment {
                spec: CachedDeploymentSpec {
                    replicas: d.spec.replicas,
                    paused: d.spec.paused,
                    selector: d.spec.selector,
                    strategy: d.spec.strategy,
                    template,
                },
                metadata,
                status: d.status,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_spec_and_status_views_read() {
        let json = serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "d1", "generation": 4,
                "annotations": {"deployment.kubernetes.io/revision": "3",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"replicas": 3, "paused": true,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "web:3"}]}}},
            "status": {"replicas": 3, "updatedReplicas": 2, "observedGeneration": 4,
                "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}
        });
        let whole: k8s_openapi::api::apps::v1::Deployment =
            serde_json::from_value(json.clone()).expect("deployment");
        let d: CachedDeployment = serde_json::from_value(json).expect("deployment");
        assert_eq!(d.metadata.generation, Some(4));
        let annotations = d.metadata.annotations.as_ref().expect("annotations");
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["deployment.kubernetes.io/revision"]
        );
        assert_eq!((d.spec.replicas, d.spec.paused), (Some(3), Some(true)));
        assert_eq!(d.spec.selector, whole.spec.selector);
        assert_eq!(d.spec.strategy, whole.spec.strategy);
        assert_eq!(
            d.spec.template,
            CachedTemplate::of("shop", &whole.spec.template)
        );
        assert_eq!(d.status, whole.status);
    }
}
