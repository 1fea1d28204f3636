//! Watch caches: kube-runtime reflectors that keep the objects pages read in memory, so a page
//! never lists the cluster. Each reflector re-lists and resumes on its own after errors.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    LimitRange, Namespace, Node, PersistentVolumeClaim, ResourceQuota,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Cluster;
use super::deployment::CachedDeployment;
use super::namespace_index::NamespaceIndex;
use super::pod::CachedPod;
use super::replica_set::CachedReplicaSet;

/// How long the first fill of a cache may take before pages say the data is incomplete.
const READY_WAIT: Duration = Duration::from_secs(30);

/// The objects the quota and rollout views read, kept current by watches.
#[derive(Clone)]
pub struct Caches {
    /// The cluster they mirror, by its fleet name.
    cluster: Arc<str>,
    pub namespaces: Store<Namespace>,
    pub quotas: Store<ResourceQuota>,
    pub limit_ranges: Store<LimitRange>,
    /// Pods as their slim projection: at 50,000 pods whole objects were most of the memory.
    pub pods: Store<CachedPod>,
    /// Pods by namespace, so a page about a few namespaces does not walk every pod.
    pub pods_by_namespace: NamespaceIndex,
    pub nodes: Store<Node>,
    /// Deployments as their slim projection (the pod template summarised).
    pub deployments: Store<CachedDeployment>,
    pub deployments_by_namespace: NamespaceIndex,
    /// ReplicaSets as their slim projection (a Deployment's history, no pod templates).
    pub replica_sets: Store<CachedReplicaSet>,
    pub replica_sets_by_namespace: NamespaceIndex,
    pub stateful_sets: Store<StatefulSet>,
    pub daemon_sets: Store<DaemonSet>,
    pub pdbs: Store<PodDisruptionBudget>,
    /// Claims, for storage cost by requested size.
    pub claims: Store<PersistentVolumeClaim>,
    /// Counts changes to workloads (what the rollouts page shows), like `changes`.
    rollout_changes: watch::Sender<Option<u64>>,
    /// Counts changes to namespaces, quotas and LimitRanges (what the quota bars show); `None`
    /// once the caches stop, which ends every live stream.
    changes: watch::Sender<Option<u64>>,
    tasks: Arc<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches")
            .field("cluster", &self.cluster)
            .field("namespaces", &self.namespaces.len())
            .field("pods", &self.pods.len())
            .finish_non_exhaustive()
    }
}

/// What no page reads and real clusters fill: the field managers' bookkeeping (often a third
/// of an object) and kubectl's copy of the last applied object. Dropped before caching.
fn trim<K: kube::Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// `changes`, when given, is bumped on every object the watch delivers; `index`, when given,
/// follows the same events.
fn reflect<K>(
    api: Api<K>,
    changes: Option<watch::Sender<Option<u64>>>,
    index: Option<NamespaceIndex>,
) -> (Store<K>, JoinHandle<()>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let watch = watcher(api, watcher::Config::default()).modify(trim);
    let stream = reflector::reflector(writer, watch)
        .default_backoff()
        .inspect(move |event| {
            if let (Ok(event), Some(index)) = (event, &index) {
                index.apply(event);
            }
        })
        .touched_objects();
    let task = tokio::spawn(async move {
        stream
            .for_each(|event| {
                match event {
                    Err(err) => tracing::warn!(error = %err, "watch error; the cache resumes"),
                    Ok(_) => {
                        if let Some(changes) = &changes {
                            changes.send_modify(|n| {
                                if let Some(n) = n {
                                    *n += 1;
                                }
                            });
                        }
                    }
                }
                async {}
            })
            .await;
    });
    (reader, task)
}

impl Caches {
    /// The ReplicaSets of `namespace` owned by the workload with `uid`, from the namespace index.
    pub fn owned_replica_sets(
        &self,
        namespace: &str,
        uid: &str,
    ) -> Vec<std::sync::Arc<CachedReplicaSet>> {
        let mut owned = self
            .replica_sets_by_namespace
            .objects(&self.replica_sets, [namespace]);
        owned.retain(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid)
        });
        owned
    }

    /// What every pod and every workload template refers to (ConfigMaps, Secrets, claims,
    /// ServiceAccount): templates of workloads scaled to zero still count. The pod cache keeps
    /// each pod's references, worked out as it arrived.
    pub fn template_refs(&self) -> Vec<domain::unused::TemplateRefs> {
        let mut templates: Vec<domain::unused::TemplateRefs> = self
            .pods
            .state()
            .iter()
            .filter_map(|p| Some(p.spec.as_ref()?.refs.clone()))
            .collect();
        templates.extend(
            self.deployments
                .state()
                .iter()
                .map(|d| d.spec.template.refs.clone()),
        );
        let mut add = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
                       spec: Option<&k8s_openapi::api::core::v1::PodSpec>| {
            if let (Some(ns), Some(spec)) = (meta.namespace.as_deref(), spec) {
                templates.push(super::pod::template_refs(ns, spec));
            }
        };
        for s in self.stateful_sets.state() {
            add(&s.metadata, s.spec.template.spec.as_ref());
        }
        for d in self.daemon_sets.state() {
            add(&d.metadata, d.spec.template.spec.as_ref());
        }
        templates
    }

    /// Starts every watch; returns at once (see [`Caches::ready`]).
    pub fn start(cluster: &Cluster) -> Caches {
        let client = cluster.client().clone();
        let (changes, _) = watch::channel(Some(0));
        // Pods churn on big clusters; quota usage follows them through the quotas' status, so
        // the quota objects are what live pages listen to.
        let (namespaces, t1) = reflect(
            Api::<Namespace>::all(client.clone()),
            Some(changes.clone()),
            None,
        );
        let (quotas, t2) = reflect(
            Api::<ResourceQuota>::all(client.clone()),
            Some(changes.clone()),
            None,
        );
        let (limit_ranges, t3) = reflect(
            Api::<LimitRange>::all(client.clone()),
            Some(changes.clone()),
            None,
        );
        let (rollout_changes, _) = watch::channel(Some(0));
        let pods_by_namespace = NamespaceIndex::default();
        let (pods, t4) = reflect(
            Api::<CachedPod>::all(client.clone()),
            None,
            Some(pods_by_namespace.clone()),
        );
        let (nodes, t5) = reflect(Api::<Node>::all(client.clone()), None, None);
        let deployments_by_namespace = NamespaceIndex::default();
        let (deployments, t6) = reflect(
            Api::<CachedDeployment>::all(client.clone()),
            Some(rollout_changes.clone()),
            Some(deployments_by_namespace.clone()),
        );
        let replica_sets_by_namespace = NamespaceIndex::default();
        let (replica_sets, t7) = reflect(
            Api::<CachedReplicaSet>::all(client.clone()),
            None,
            Some(replica_sets_by_namespace.clone()),
        );
        let (stateful_sets, t8) = reflect(
            Api::<StatefulSet>::all(client.clone()),
            Some(rollout_changes.clone()),
            None,
        );
        let (daemon_sets, t9) = reflect(
            Api::<DaemonSet>::all(client.clone()),
            Some(rollout_changes.clone()),
            None,
        );
        let (pdbs, t10) = reflect(Api::<PodDisruptionBudget>::all(client.clone()), None, None);
        let (claims, t11) = reflect(Api::<PersistentVolumeClaim>::all(client), None, None);
        Caches {
            cluster: Arc::from(cluster.name()),
            namespaces,
            quotas,
            limit_ranges,
            pods,
            pods_by_namespace,
            nodes,
            deployments,
            deployments_by_namespace,
            replica_sets,
            replica_sets_by_namespace,
            stateful_sets,
            daemon_sets,
            pdbs,
            claims,
            rollout_changes,
            changes,
            tasks: Arc::new(vec![t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11]),
        }
    }

    /// Waits (bounded) until every cache has its first full list.
    pub async fn ready(&self) -> bool {
        self.ready_within(READY_WAIT).await
    }

    /// As [`Caches::ready`], waiting at most `wait`: a page answering a request must say
    /// "still loading" before the request's own timeout cuts it off without a word.
    pub async fn ready_within(&self, wait: Duration) -> bool {
        let all = async {
            let _ = self.namespaces.wait_until_ready().await;
            let _ = self.quotas.wait_until_ready().await;
            let _ = self.limit_ranges.wait_until_ready().await;
            let _ = self.pods.wait_until_ready().await;
            let _ = self.nodes.wait_until_ready().await;
            let _ = self.deployments.wait_until_ready().await;
            let _ = self.replica_sets.wait_until_ready().await;
            let _ = self.stateful_sets.wait_until_ready().await;
            let _ = self.daemon_sets.wait_until_ready().await;
            let _ = self.pdbs.wait_until_ready().await;
            let _ = self.claims.wait_until_ready().await;
        };
        tokio::time::timeout(wait, all).await.is_ok()
    }

    /// For `/readyz`: a replica is ready once every cache holds its first full list, so it takes
    /// no traffic it would answer with "still loading". Names the caches still filling.
    pub fn check(&self) -> domain::health::Check {
        use futures::FutureExt;
        fn filled<K: kube::Resource<DynamicType = ()> + Clone>(store: &Store<K>) -> bool {
            store.wait_until_ready().now_or_never().is_some()
        }
        let filling: Vec<&str> = [
            ("namespaces", filled(&self.namespaces)),
            ("resourcequotas", filled(&self.quotas)),
            ("limitranges", filled(&self.limit_ranges)),
            ("pods", filled(&self.pods)),
            ("nodes", filled(&self.nodes)),
            ("deployments", filled(&self.deployments)),
            ("replicasets", filled(&self.replica_sets)),
            ("statefulsets", filled(&self.stateful_sets)),
            ("daemonsets", filled(&self.daemon_sets)),
            ("poddisruptionbudgets", filled(&self.pdbs)),
            ("persistentvolumeclaims", filled(&self.claims)),
        ]
        .into_iter()
        .filter(|(_, done)| !done)
        .map(|(name, _)| name)
        .collect();
        if filling.is_empty() {
            domain::health::Check::ok(
                format!("caches {}", self.cluster),
                "every watch cache holds its first list",
            )
        } else {
            domain::health::Check::failed(
                format!("caches {}", self.cluster),
                format!("still listing {}", filling.join(", ")),
            )
        }
    }

    /// Follows changes to what the quota views show: the value moves on each change and
    /// becomes `None` when the caches stop.
    pub fn subscribe(&self) -> watch::Receiver<Option<u64>> {
        self.changes.subscribe()
    }

    /// Follows changes to Deployments, StatefulSets and DaemonSets, like [`Caches::subscribe`].
    pub fn subscribe_rollouts(&self) -> watch::Receiver<Option<u64>> {
        self.rollout_changes.subscribe()
    }

    /// How many objects each cache holds, for `/metrics`.
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("namespaces", self.namespaces.len()),
            ("resourcequotas", self.quotas.len()),
            ("limitranges", self.limit_ranges.len()),
            ("pods", self.pods.len()),
            ("nodes", self.nodes.len()),
            ("deployments", self.deployments.len()),
            ("replicasets", self.replica_sets.len()),
            ("statefulsets", self.stateful_sets.len()),
            ("daemonsets", self.daemon_sets.len()),
            ("poddisruptionbudgets", self.pdbs.len()),
            ("persistentvolumeclaims", self.claims.len()),
        ]
    }

    /// Stops the watches (when the server stops, or the cluster leaves the fleet) and ends
    /// every live stream, so a graceful shutdown is not held open by browsers listening.
    pub fn stop(&self) {
        for task in self.tasks.iter() {
            task.abort();
        }
        self.changes.send_replace(None);
        self.rollout_changes.send_replace(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn trimming_keeps_what_pages_read() {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "web-1",
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"big\": true}",
                    "kubernetes.io/change-cause": "kubectl set image"
                },
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1"}]
            },
            "spec": {"containers": [{"name": "web", "image": "web:1"}]}
        }))
        .expect("pod");
        trim(&mut pod);
        assert!(pod.metadata.managed_fields.is_none());
        let annotations = pod.metadata.annotations.expect("annotations");
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["kubernetes.io/change-cause"]
        );
        assert_eq!(
            pod.spec.expect("spec").containers[0].image.as_deref(),
            Some("web:1")
        );
    }
}
