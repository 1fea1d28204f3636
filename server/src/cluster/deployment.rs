//! The Deployment as the watch cache keeps it: its spec without the whole pod template (a
//! [`CachedTemplate`] instead), its status, and metadata without the labels and annotations the
//! views do not read. A whole `Deployment` was about 9 KB in memory for a one-container template; at ten
//! clusters of 4,000 Deployments that was 380 MB. Field names follow `Deployment`'s.

use k8s_openapi::api::apps::v1::{DeploymentStatus, DeploymentStrategy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::pod::Labels;
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
    /// The selector's `matchLabels`: what the views find the Deployment's pods by.
    pub selector: Labels,
    pub strategy: Option<DeploymentStrategy>,
    pub template: CachedTemplate,
}

namespaced_projection!(CachedDeployment, "Deployment", "apps", "v1", "deployments");

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
            metadata.labels = None;
            let namespace = metadata.namespace.as_deref().unwrap_or_default();
            let template = d.spec.template.cached(namespace);
            CachedDeployment {
                spec: CachedDeploymentSpec {
                    replicas: d.spec.replicas,
                    paused: d.spec.paused,
                    selector: d.spec.selector.match_labels.unwrap_or_default().into(),
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
                "labels": {"app": "web"},
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
        assert_eq!(d.metadata.labels, None);
        let annotations = d.metadata.annotations.as_ref().expect("annotations");
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["deployment.kubernetes.io/revision"]
        );
        assert_eq!((d.spec.replicas, d.spec.paused), (Some(3), Some(true)));
        assert_eq!(
            Some(d.spec.selector.to_map()),
            whole.spec.selector.match_labels
        );
        assert_eq!(d.spec.strategy, whole.spec.strategy);
        assert_eq!(
            d.spec.template,
            CachedTemplate::of("shop", &whole.spec.template)
        );
        assert_eq!(d.status, whole.status);
    }
}
