//! The ReplicaSet as the watch cache keeps it: what a Deployment's history shows (revision,
//! change cause, images, release label, replicas) and what ties it to its Deployment and pods.
//! Real clusters keep up to ten old ReplicaSets per Deployment, each with a whole pod template
//! (one container alone is over 2 KB in memory before its strings); a rollback, which needs the
//! template, reads that one ReplicaSet from the API. Its labels and annotations are not kept as
//! maps (a `BTreeMap` node is over 500 bytes): the three values the views read are fields.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(from = "wire::ReplicaSet")]
pub struct CachedReplicaSet {
    /// Name, namespace, ids, owners and timestamps; no labels or annotations.
    pub metadata: ObjectMeta,
    /// Its Deployment revision (`deployment.kubernetes.io/revision`).
    pub revision: Option<i64>,
    /// `kubernetes.io/change-cause`.
    pub change_cause: Option<String>,
    /// Its `pod-template-hash` label, which its pods carry too.
    pub pod_template_hash: Option<String>,
    /// Its pod template's container images, in order.
    pub images: Vec<String>,
    /// Its pod template's `release` label (stable / canary / alpha).
    pub release: Option<String>,
    /// `status.replicas`: the pods it has now.
    pub replicas: i32,
}

namespaced_projection!(CachedReplicaSet, "ReplicaSet", "apps", "v1", "replicasets");

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
            let mut annotations = metadata.annotations.take().unwrap_or_default();
            let mut labels = metadata.labels.take().unwrap_or_default();
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
                revision: annotations
                    .get("deployment.kubernetes.io/revision")
                    .and_then(|r| r.parse().ok()),
                change_cause: annotations.remove("kubernetes.io/change-cause"),
                pod_template_hash: labels.remove("pod-template-hash"),
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
        assert_eq!(rs.revision, Some(3));
        assert_eq!(
            rs.change_cause.as_deref(),
            Some("kubectl set image deployment/web web=web:3")
        );
        assert_eq!(rs.metadata.annotations, None);
        assert_eq!(
            rs.metadata.owner_references.map(|o| o[0].uid.clone()),
            Some("d1".to_owned())
        );
        assert_eq!(rs.pod_template_hash.as_deref(), Some("5d4f"));
        assert_eq!(rs.metadata.labels, None);
    }
}
