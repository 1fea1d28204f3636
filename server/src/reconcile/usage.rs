//! The usage sampler: every interval it reads pod and node metrics from `metrics.k8s.io` of
//! every cluster of the fleet, joins them with the pods' requests, owners and teams from that
//! cluster's watch caches, and stores one sample per container; finished hours are rolled up
//! and old raw samples pruned. One replica samples (advisory lock), so no container is counted
//! twice. Clusters are read at the same time, each within its own timeout: one that hangs
//! loses its samples for the pass, never the others'.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use domain::quantity;
use domain::tenancy::LABEL_TEAM;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use serde_json::Value;

use super::{Leadership, USAGE_LOCK};
use crate::cluster::cache::Caches;
use crate::cluster::fleet::{Fleet, Member};
use crate::cluster::pod::CachedPod;
use crate::cluster::pod_metrics::PodUsage;
use crate::config::UsageConfig;
use crate::store::usage::{ContainerSeen, NodeSeen, Rollup, Sample, VolumeSeen};
use crate::store::{Store, StoreError};

/// The extended resource GPUs are requested as.
const GPU: &str = "nvidia.com/gpu";

#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the metrics API did not answer: {0}")]
    Metrics(String),
    #[error("the cluster's objects are still loading")]
    NotReady,
    #[error("the metrics API did not answer within {0:?}")]
    Timeout(Duration),
}

/// How long one cluster's metrics may take in a pass (a list of 50,000 pods' metrics takes a
/// few seconds; a cluster that does not answer in this is skipped until the next pass).
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

/// How many clusters' metrics a pass reads at the same time.
const READS_AT_ONCE: usize = 2;

/// What one pass stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleReport {
    pub containers: usize,
    /// Containers seen for the first time.
    pub new_containers: usize,
    pub nodes: usize,
    /// Clusters sampled, and those skipped this pass (not ready, no metrics, too slow).
    pub clusters: usize,
    pub skipped: usize,
    pub rollup: Rollup,
}

/// One cluster's metrics as read in a pass.
struct Read {
    pods: Vec<PodUsage>,
    nodes: Vec<DynamicObject>,
}

/// Indexes built once per pass that meets new containers.
pub struct Lookups {
    /// (namespace, ReplicaSet) → its Deployment.
    deployments: HashMap<(String, String), String>,
    /// namespace → team.
    pub teams: HashMap<String, String>,
}

impl Lookups {
    /// From the cluster's ReplicaSets' metadata and namespaces.
    pub fn new<'a>(
        replica_sets: impl Iterator<Item = &'a ObjectMeta>,
        namespaces: impl Iterator<Item = &'a Namespace>,
    ) -> Lookups {
        let deployments = replica_sets
            .filter_map(|rs| {
                let owner = rs
                    .owner_references
                    .iter()
                    .flatten()
                    .find(|o| o.kind == "Deployment")?;
                Some((
                    (rs.namespace.clone()?, rs.name.clone()?),
                    owner.name.clone(),
                ))
            })
            .collect();
        let teams = namespaces
            .filter_map(|n| {
                Some((
                    n.metadata.name.clone()?,
                    n.metadata.labels.as_ref()?.get(LABEL_TEAM)?.clone(),
                ))
            })
            .collect();
        Lookups { deployments, teams }
    }

    fn from_caches(caches: &Caches) -> Lookups {
        let rs = caches.replica_sets.state();
        let ns = caches.namespaces.state();
        Lookups::new(
            rs.iter().map(|r| &r.metadata),
            ns.iter().map(|n| n.as_ref()),
        )
    }

    /// What a container of `pod` is, for its first registration; `labels` are the pod labels
    /// kept for grouping.
    pub fn container_seen(
        &self,
        cluster: &str,
        labels: &[String],
        pod: &CachedPod,
        container: &str,
    ) -> ContainerSeen {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let spec = pod.spec.as_ref();
        let resources = spec
            .and_then(|s| s.containers.iter().find(|c| c.name == container))
            .map(|c| &c.resources);
        let requests = |key| resources.and_then(|r| parsed(r.requests.get(key)));
        let limits = |key| resources.and_then(|r| parsed(r.limits.get(key)));
        let (owner_kind, owner_name) = self.owner(pod);
        let kept: serde_json::Map<String, Value> = labels
            .iter()
            .filter_map(|l| Some((l.clone(), Value::from(pod.labels.get(l)?))))
            .collect();
        ContainerSeen {
            cluster: cluster.to_owned(),
            pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
            container: container.to_owned(),
            pod: pod.metadata.name.clone().unwrap_or_default(),
            node: spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
            owner_kind,
            owner_name,
            team: self.teams.get(&ns).cloned(),
            namespace: ns,
            labels: Value::Object(kept),
            cpu_request: requests("cpu").unwrap_or(0.0),
            cpu_limit: limits("cpu"),
            memory_request: requests("memory").unwrap_or(0.0),
            memory_limit: limits("memory"),
            gpus: limits(GPU).or_else(|| requests(GPU)).unwrap_or(0.0),
        }
    }

    /// The workload that owns `pod`: a ReplicaSet's Deployment, else the controller itself,
    /// else the pod.
    fn owner(&self, pod: &CachedPod) -> (String, String) {
        let controller = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true));
        let Some(owner) = controller else {
            return (
                "Pod".to_owned(),
                pod.metadata.name.clone().unwrap_or_default(),
            );
        };
        if owner.kind == "ReplicaSet"
            && let Some(deployment) = self.deployments.get(&(
                pod.metadata.namespace.clone().unwrap_or_default(),
                owner.name.clone(),
            ))
        {
            return ("Deployment".to_owned(), deployment.clone());
        }
        (owner.kind.clone(), owner.name.clone())
    }

    /// The workload behind an owner reference seen elsewhere (Prometheus' `kube_pod_owner`):
    /// a ReplicaSet's Deployment — from the cluster, or for a ReplicaSet long gone, its name
    /// without the pod-template hash — else the owner itself.
    pub fn workload(&self, namespace: &str, kind: &str, name: &str) -> (String, String) {
        if kind != "ReplicaSet" {
            return (kind.to_owned(), name.to_owned());
        }
        if let Some(deployment) = self
            .deployments
            .get(&(namespace.to_owned(), name.to_owned()))
        {
            return ("Deployment".to_owned(), deployment.clone());
        }
        match name.rsplit_once('-') {
            Some((deployment, hash)) if !deployment.is_empty() && !hash.is_empty() => {
                ("Deployment".to_owned(), deployment.to_owned())
            }
            _ => (kind.to_owned(), name.to_owned()),
        }
    }
}

pub struct Sampler {
    store: Store,
    fleet: Fleet,
    config: UsageConfig,
    /// Ids of containers already registered, so a pass writes only their samples.
    known: HashMap<(String, String), i64>,
    /// Containers sampled in the last pass, over the whole fleet: what `known` is weighed
    /// against (one cluster's count would make the others' ids look long gone).
    fleet_containers: usize,
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn metrics_api(client: &kube::Client, plural: &str, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", kind);
    Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

fn usage_of(v: &Value) -> (f64, f64) {
    let q = |key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .and_then(|s| quantity::parse(s).ok())
            .unwrap_or(0.0)
    };
    (q("cpu"), q("memory"))
}

fn resource(
    m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    key: &str,
) -> Option<f64> {
    parsed(m.and_then(|m| m.get(key)))
}

fn parsed(q: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>) -> Option<f64> {
    q.and_then(|q| quantity::parse(&q.0).ok())
}

impl Sampler {
    pub fn new(store: Store, fleet: Fleet, config: UsageConfig) -> Self {
        Sampler {
            store,
            fleet,
            config,
            known: HashMap::new(),
            fleet_containers: 0,
        }
    }

    /// Runs until dropped, holding its own advisory lock.
    pub async fn run(mut self) {
        let interval = self.config.sample_interval;
        loop {
            let mut lead = match Leadership::acquire(&self.store, USAGE_LOCK, interval).await {
                Ok(lead) => lead,
                Err(err) => {
                    tracing::warn!(error = %err, "usage sampler cannot take its lock");
                    tokio::time::sleep(interval).await;
                    continue;
                }
            };
            while lead.still_held().await {
                let worked = match self.sample_once().await {
                    Ok(report) => {
                        tracing::debug!(?report, "usage sampled");
                        crate::metrics::sampler_rows(report.containers);
                        true
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "usage sample failed");
                        false
                    }
                };
                crate::metrics::loop_pass("sampler", worked);
                tokio::time::sleep(super::next_pass(worked, interval)).await;
            }
        }
    }

    /// One pass: sample every cluster, store, roll up, prune. Public so tests and benchmarks
    /// can drive it. Fails only when no cluster could be sampled; the roll-up runs either way
    /// once one was.
    pub async fn sample_once(&mut self) -> Result<SampleReport, SamplerError> {
        let at = now_unix();
        let members = self.fleet.members();
        let home = self.fleet.home().name().to_owned();
        // A few clusters read at a time, each stored as soon as it is read: a cluster's metrics
        // lists are tens of MB parsed, and ten at once were 500 MB more at every pass. A
        // hung cluster holds one slot for its timeout while the others go on in the rest.
        let mut reads = std::pin::pin!(futures::StreamExt::buffer_unordered(
            futures::stream::iter(members.iter().map(read_within_timeout)),
            READS_AT_ONCE,
        ));
        let mut report = SampleReport::default();
        let mut failure = None;
        while let Some((member, read)) = futures::StreamExt::next(&mut reads).await {
            let read = match read {
                Ok(read) => read,
                Err(err) => {
                    tracing::warn!(cluster = member.name(), error = %err, "usage sample skipped");
                    report.skipped += 1;
                    failure.get_or_insert(err);
                    continue;
                }
            };
            let key = self.fleet.storage_key(member.name());
            self.store_member(at, key, member, &read, &mut report)
                .await?;
            report.clusters += 1;
        }
        if report.clusters == 0 {
            return Err(failure.unwrap_or(SamplerError::NotReady));
        }
        self.fleet_containers = report.containers;
        report.rollup = self
            .store
            .roll_up_usage(
                at,
                self.config.raw_retention.as_secs_f64(),
                self.config.sample_interval.as_secs_f64(),
            )
            .await?;
        // The fleet's reports read day sums per price class; a pricing file that classes
        // nodes differently (or a renamed home cluster) has them summed again here, once.
        let prices = self.store.prices().await?;
        if let Some(rows) = self
            .store
            .keep_usage_groups(&prices.matchers(), &home)
            .await?
        {
            tracing::info!(
                rows,
                "usage day sums per workload and price class summed again"
            );
        }
        Ok(report)
    }

    /// Registers the new containers of one cluster and stores its samples, nodes and claims.
    async fn store_member(
        &mut self,
        at: f64,
        key: &str,
        member: &Member,
        read: &Read,
        report: &mut SampleReport,
    ) -> Result<(), SamplerError> {
        let caches = &member.caches;
        let pods: HashMap<(String, String), std::sync::Arc<CachedPod>> = caches
            .pods
            .state()
            .into_iter()
            .filter_map(|p| Some(((p.metadata.namespace.clone()?, p.metadata.name.clone()?), p)))
            .collect();
        let mut usage: Vec<((String, String), f64, f64)> = Vec::new();
        let mut fresh: Vec<ContainerSeen> = Vec::new();
        let mut lookups: Option<Lookups> = None;
        for m in &read.pods {
            let (Some(ns), Some(name)) = (m.metadata.namespace.clone(), m.metadata.name.clone())
            else {
                continue;
            };
            // A pod the cache does not hold yet is sampled next time.
            let Some(pod) = pods.get(&(ns, name)) else {
                continue;
            };
            let Some(uid) = pod.metadata.uid.clone() else {
                continue;
            };
            // Nor one the cache holds from before it was scheduled: the container is
            // registered once, and its node would stay empty.
            if pod
                .spec
                .as_ref()
                .is_none_or(|s| s.node_name.as_deref().unwrap_or_default().is_empty())
            {
                continue;
            }
            for c in &m.containers {
                let container = c.name.as_str();
                let key_of = (uid.clone(), container.to_owned());
                let (cpu, memory) = (c.cpu, c.memory);
                if !self.known.contains_key(&key_of) {
                    let lookups = lookups.get_or_insert_with(|| Lookups::from_caches(caches));
                    fresh.push(lookups.container_seen(key, &self.config.labels, pod, container));
                }
                usage.push((key_of, cpu, memory));
            }
        }
        report.new_containers += fresh.len();
        if !fresh.is_empty() {
            let ids = self.store.register_containers(at, &fresh).await?;
            // Pods come and go; forget the ones long gone rather than grow without bound.
            let fleet = self
                .fleet_containers
                .max(report.containers + usage.len())
                .max(1_000);
            if self.known.len() > 4 * fleet {
                self.known.clear();
            }
            self.known.extend(ids);
        }
        let samples: Vec<Sample> = usage
            .iter()
            .filter_map(|(k, cpu, memory)| {
                Some(Sample {
                    container_id: *self.known.get(k)?,
                    cpu: *cpu as f32,
                    memory: *memory as f32,
                })
            })
            .collect();
        let nodes = nodes(caches, &read.nodes);
        self.store.record_samples(at, key, &samples, &nodes).await?;
        self.store.record_volumes(at, key, &volumes(caches)).await?;
        report.containers += samples.len();
        report.nodes += nodes.len();
        Ok(())
    }
}

/// A cluster's pod and node metrics, once its caches are filled.
/// A member's metrics, or why not, within [`CLUSTER_TIMEOUT`]; with the member, for a stream.
async fn read_within_timeout(member: &Member) -> (&Member, Result<Read, SamplerError>) {
    let read = match tokio::time::timeout(CLUSTER_TIMEOUT, read_metrics(member)).await {
        Ok(read) => read,
        Err(_) => Err(SamplerError::Timeout(CLUSTER_TIMEOUT)),
    };
    (member, read)
}

async fn read_metrics(member: &Member) -> Result<Read, SamplerError> {
    if !member.caches.ready().await {
        return Err(SamplerError::NotReady);
    }
    let client = member.cluster.client();
    let pods = Api::<PodUsage>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| SamplerError::Metrics(e.to_string()))?;
    let nodes = metrics_api(client, "nodes", "NodeMetrics")
        .list(&ListParams::default())
        .await
        .map_err(|e| SamplerError::Metrics(e.to_string()))?;
    Ok(Read {
        pods: pods.items,
        nodes: nodes.items,
    })
}

/// Bound claims with their requested size (what storage is priced by) and team.
fn volumes(caches: &Caches) -> Vec<VolumeSeen> {
    let teams: HashMap<String, String> = caches
        .namespaces
        .state()
        .iter()
        .filter_map(|n| {
            Some((
                n.metadata.name.clone()?,
                n.metadata.labels.as_ref()?.get(LABEL_TEAM)?.clone(),
            ))
        })
        .collect();
    caches
        .claims
        .state()
        .iter()
        .filter(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound"))
        .filter_map(|c| {
            let namespace = c.metadata.namespace.clone()?;
            let requests = c.spec.as_ref()?.resources.as_ref()?.requests.as_ref();
            Some(VolumeSeen {
                team: teams.get(&namespace).cloned(),
                claim: c.metadata.name.clone()?,
                bytes: resource(requests, "storage")?,
                namespace,
            })
        })
        .collect()
}

/// Nodes with metrics, priced by their allocatable capacity.
fn nodes(caches: &Caches, metrics: &[DynamicObject]) -> Vec<NodeSeen> {
    let used: HashMap<&str, (f64, f64)> = metrics
        .iter()
        .filter_map(|m| Some((m.metadata.name.as_deref()?, usage_of(&m.data["usage"]))))
        .collect();
    caches
        .nodes
        .state()
        .into_iter()
        .filter_map(|n| {
            let name = n.metadata.name.clone()?;
            let allocatable = n.status.as_ref().and_then(|s| s.allocatable.as_ref());
            let (cpu_used, memory_used) = used.get(name.as_str()).copied().unwrap_or_default();
            Some(NodeSeen {
                labels: serde_json::to_value(n.metadata.labels.clone().unwrap_or_default())
                    .unwrap_or(Value::Null),
                cpu_capacity: resource(allocatable, "cpu").unwrap_or(0.0),
                memory_capacity: resource(allocatable, "memory").unwrap_or(0.0),
                gpus: resource(allocatable, GPU).unwrap_or(0.0),
                cpu_used,
                memory_used,
                node: name,
            })
        })
        .collect()
}
