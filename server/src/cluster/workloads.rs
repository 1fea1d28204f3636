//! Reads and writes of single objects the services ask for by name: a namespace, a workload's
//! template, a ReplicaSet of its history, a namespace's events; and the patches and replaces
//! of workload actions. Pages read the watch caches; these are the calls that must see the
//! cluster as it is now.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Namespace, PodTemplateSpec};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};

use super::Cluster;
use domain::replacement::Replacement;
use domain::rollout::WorkloadKind;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// A workload's pod template as the cluster holds it now, with what replacing its pods takes.
pub struct WorkloadTemplate {
    /// `None` for a DaemonSet (one pod per node).
    pub replicas: Option<i32>,
    pub template: PodTemplateSpec,
    pub replacement: Replacement,
}

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

    /// A workload's replicas (1 when unset; `None` for a DaemonSet), pod template, and how
    /// it replaces its pods, as now.
    pub async fn workload_template(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
    ) -> Result<WorkloadTemplate, kube::Error> {
        let client = self.client().clone();
        Ok(match kind {
            WorkloadKind::Deployment => {
                let d = Api::<Deployment>::namespaced(client, namespace)
                    .get(name)
                    .await?;
                let replicas = d.spec.replicas.unwrap_or(1);
                let strategy = d.spec.strategy.as_ref();
                let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
                let text = |v: Option<&IntOrString>| {
                    v.map(|v| match v {
                        IntOrString::Int(n) => n.to_string(),
                        IntOrString::String(s) => s.clone(),
                    })
                };
                WorkloadTemplate {
                    replicas: Some(replicas),
                    replacement: Replacement::deployment(
                        replicas,
                        strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate"),
                        text(rolling.and_then(|r| r.max_surge.as_ref())).as_deref(),
                        text(rolling.and_then(|r| r.max_unavailable.as_ref())).as_deref(),
                    )
                    // The API server validates both bounds; one it let through and this
                    // cannot read is taken as the cautious default.
                    .unwrap_or(Replacement {
                        replicas,
                        surge: 1,
                        unavailable: 0,
                    }),
                    template: d.spec.template,
                }
            }
            WorkloadKind::StatefulSet => {
                let s = Api::<StatefulSet>::namespaced(client, namespace)
                    .get(name)
                    .await?;
                let replicas = s.spec.replicas.unwrap_or(1);
                WorkloadTemplate {
                    replicas: Some(replicas),
                    replacement: Replacement::one_at_a_time(replicas),
                    template: s.spec.template,
                }
            }
            WorkloadKind::DaemonSet => {
                let d = Api::<DaemonSet>::namespaced(client, namespace)
                    .get(name)
                    .await?;
                let scheduled = d.status.as_ref().map_or(0, |s| s.desired_number_scheduled);
                WorkloadTemplate {
                    replicas: None,
                    replacement: Replacement::one_at_a_time(scheduled),
                    template: d.spec.template,
                }
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
