//! Reads and writes of single objects the services ask for by name: a namespace, a workload's
//! template, a ReplicaSet of its history, a namespace's events; and the patches and replaces
//! of workload actions. Pages read the watch caches; these are the calls that must see the
//! cluster as it is now.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Namespace, PodTemplateSpec};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};

use super::Cluster;
use domain::rollout::WorkloadKind;

impl Cluster {
    pub async fn namespace(&self, name: &str) -> Result<Option<Namespace>, kube::Error> {
        Api::<Namespace>::all(self.client().clone())
            .get_opt(name)
            .await
    }

    /// Events of `namespace`, only those about the object `about` when given.
    pub async fn events(
        &self,
        namespace: &str,
        about: Option<&str>,
    ) -> Result<Vec<Event>, kube::Error> {
        let mut params = ListParams::default();
        if let Some(name) = about {
            params = params.fields(&format!("involvedObject.name={name}"));
        }
        Ok(Api::<Event>::namespaced(self.client().clone(), namespace)
            .list(&params)
            .await?
            .items)
    }

    pub async fn deployment(&self, namespace: &str, name: &str) -> Result<Deployment, kube::Error> {
        Api::<Deployment>::namespaced(self.client().clone(), namespace)
            .get(name)
            .await
    }

    pub async fn replica_set(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ReplicaSet>, kube::Error> {
        Api::<ReplicaSet>::namespaced(self.client().clone(), namespace)
            .get_opt(name)
            .await
    }

    /// A workload's replicas (1 when unset; `None` for a DaemonSet) and pod template, as now.
    pub async fn workload_template(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
    ) -> Result<(Option<i32>, PodTemplateSpec), kube::Error> {
        let client = self.client().clone();
        Ok(match kind {
            WorkloadKind::Deployment => {
                let d = Api::<Deployment>::namespaced(client, namespace)
                    .get(name)
                    .await?;
                (Some(d.spec.replicas.unwrap_or(1)), d.spec.template)
            }
            WorkloadKind::StatefulSet => {
                let s = Api::<StatefulSet>::namespaced(client, namespace)
                    .get(name)
                    .await?;
                (Some(s.spec.replicas.unwrap_or(1)), s.spec.template)
            }
            WorkloadKind::DaemonSet => {
                let d = Api::<DaemonSet>::namespaced(client, namespace)
                    .get(name)
                    .await?;
                (None, d.spec.template)
            }
        })
    }

    /// Replaces a Deployment as read (its resourceVersion makes a concurrent change a 409).
    pub async fn replace_deployment(
        &self,
        namespace: &str,
        deployment: &Deployment,
    ) -> Result<(), kube::Error> {
        let name = deployment.metadata.name.clone().unwrap_or_default();
        Api::<Deployment>::namespaced(self.client().clone(), namespace)
            .replace(&name, &PostParams::default(), deployment)
            .await
            .map(|_| ())
    }

    /// Patches a workload: a strategic merge where a list keyed by name must change in place
    /// (containers), else a JSON merge patch.
    pub async fn patch_workload(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
        patch: &serde_json::Value,
        strategic: bool,
    ) -> Result<(), kube::Error> {
        let params = PatchParams::default();
        let patch = if strategic {
            Patch::Strategic(patch)
        } else {
            Patch::Merge(patch)
        };
        let client = self.client().clone();
        match kind {
            WorkloadKind::Deployment => Api::<Deployment>::namespaced(client, namespace)
                .patch(name, &params, &patch)
                .await
                .map(|_| ()),
            WorkloadKind::StatefulSet => Api::<StatefulSet>::namespaced(client, namespace)
                .patch(name, &params, &patch)
                .await
                .map(|_| ()),
            WorkloadKind::DaemonSet => Api::<DaemonSet>::namespaced(client, namespace)
                .patch(name, &params, &patch)
                .await
                .map(|_| ()),
        }
    }
}
