//! The ReplicaSet as the watch cache keeps it: what a Deployment's history shows (revision,
//! change cause, images, release label, replicas) and what ties it to its Deployment and pods.
//! Real clusters keep up to ten old ReplicaSets per Deployment, each with a whole pod template
//! (one container alone is over 2 KB in memory before its strings); a rollback, which needs the
//! template, reads that one ReplicaSet from the API.

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

/// Annotations the views read; the rest (real ReplicaSets copy their Deployment's) are dropped.
const KEPT_ANNOTATIONS: [&str; 2] = [
    "deployment.kubernetes.io/revision",
    "kubernetes.io/change-cause",
];

#[derive(Clone, Debug, Deserialize)]
#[serde(from = "wire::ReplicaSet")]
pub struct CachedReplicaSet {
    pub metadata: ObjectMeta,
    /// Its pod template's container images, in order.
    pub images: Vec<String>,
    /// Its pod template's `release` label (stable / canary / alpha).
    pub release: Option<String>,
    /// `status.replicas`: the pods it has now.
    pub replicas: i32,
}

impl kube::Resource for CachedReplicaSet {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("ReplicaSet")
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("apps")
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("v1")
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("replicasets")
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The ReplicaSet over the wire, reduced to what the projection needs.
mod wire {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Deserialize)]
    pub struct ReplicaSet {
        #[serde(default)]
        metadata: ObjectMeta,
        spec: Option<Spec>,
        status: Option<Status>,
    }

    #[derive(Deserialize)]
    struct Spec {
        template: Option<Template>,
    }

    #[derive(Deserialize)]
    struct Template {
        metadata: Option<TemplateMeta>,
        spec: Option<TemplateSpec>,
    }

    #[derive(Deserialize)]
    struct TemplateMeta {
        labels: Option<BTreeMap<String, String>>,
    }

    #[derive(Deserialize)]
    struct TemplateSpec {
        #[serde(default)]
        containers: Vec<Container>,
    }

    #[derive(Deserialize)]
    struct Container {
        image: Option<String>,
    }

    #[derive(Deserialize)]
    struct Status {
        #[serde(default)]
        replicas: i32,
    }

    impl From<ReplicaSet> for CachedReplicaSet {
        fn from(rs: ReplicaSet) -> CachedReplicaSet {
            let mut metadata = rs.metadata;
            if let Some(annotations) = metadata.annotations.as_mut() {
                annotations.retain(|k, _| KEPT_ANNOTATIONS.contains(&k.as_str()));
            }
            let template = rs.spec.and_then(|s| s.template);
            let release = template
                .as_ref()
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.labels.as_ref())
                .and_then(|l| l.get("release").cloned());
            let images = template
                .and_then(|t| t.spec)
                .map(|s| s.containers.into_iter().filter_map(|c| c.image).collect())
                .unwrap_or_default();
            CachedReplicaSet {
                metadata,
                images,
                release,
                replicas: rs.status.map_or(0, |s| s.replicas),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_history_and_the_ties_and_drops_the_template() {
        let rs: CachedReplicaSet = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-5d4f", "namespace": "shop", "uid": "rs1",
                "labels": {"app": "web", "pod-template-hash": "5d4f"},
                "annotations": {
                    "deployment.kubernetes.io/revision": "3",
                    "deployment.kubernetes.io/desired-replicas": "2",
                    "kubernetes.io/change-cause": "kubectl set image deployment/web web=web:3",
                    "checksum/config": "abc"
                },
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d1", "controller": true}]},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web", "release": "canary"}},
                    "spec": {"containers": [
                        {"name": "web", "image": "web:3", "readinessProbe": {"httpGet": {"path": "/", "port": 80}}},
                        {"name": "proxy", "image": "envoy:1.30"}]}}},
            "status": {"replicas": 2, "readyReplicas": 2}
        }))
        .expect("replica set");
        assert_eq!(rs.images, ["web:3", "envoy:1.30"]);
        assert_eq!(rs.release.as_deref(), Some("canary"));
        assert_eq!(rs.replicas, 2);
        let annotations = rs.metadata.annotations.expect("annotations");
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            [
                "deployment.kubernetes.io/revision",
                "kubernetes.io/change-cause"
            ]
        );
        assert_eq!(
            rs.metadata.owner_references.map(|o| o[0].uid.clone()),
            Some("d1".to_owned())
        );
        assert_eq!(
            rs.metadata
                .labels
                .and_then(|l| l.get("pod-template-hash").cloned()),
            Some("5d4f".to_owned())
        );
    }
}
