//! One workload in full: the rollout view, its pods as `kubectl get pods` shows them (with the
//! revision each belongs to) and the recent events of the workload, its ReplicaSets and pods.

use app::failure::Failure;
use std::collections::{BTreeMap, HashMap, HashSet};

use domain::identity::CurrentUser;
use domain::rollout::{WorkloadKind, WorkloadRef};
use domain::workload_detail::{
    self, ContainerReport, ContainerState, EventRow, PodReport, PodRow, WorkloadDetail,
};
use k8s_openapi::api::core::v1::Event;
use kube::runtime::reflector::ObjectRef;

use super::rollouts::RolloutFilter;
use super::{ServiceError, Services};
use crate::cluster::cache::Caches;
use crate::cluster::pod::{CachedContainerState, CachedContainerStatus, CachedPod};

/// The label tying a Deployment's pod to its ReplicaSet.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The label tying a StatefulSet's or DaemonSet's pod to its ControllerRevision.
const CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";

/// What the cache holds of the workload: its pod selector, and the names of the ReplicaSets it
/// owns with their pod-template hash and revision.
struct Owned {
    selector: BTreeMap<String, String>,
    replica_sets: Vec<(String, Option<String>, Option<String>)>,
}

fn container(c: &CachedContainerStatus) -> ContainerReport {
    let state = match &c.state {
        CachedContainerState::Waiting { reason } => ContainerState::Waiting {
            reason: reason.clone().unwrap_or_default(),
        },
        CachedContainerState::Terminated {
            reason,
            exit_code,
            signal,
        } => ContainerState::Terminated {
            reason: reason.clone().unwrap_or_default(),
            exit_code: *exit_code,
            signal: *signal,
        },
        CachedContainerState::Running => ContainerState::Running,
        CachedContainerState::Unknown => ContainerState::Unknown,
    };
    ContainerReport {
        state,
        ready: c.ready,
        restarts: c.restart_count,
    }
}

fn report(pod: &CachedPod) -> PodReport {
    let status = pod.status.as_ref();
    let spec = pod.spec.as_ref();
    let condition = |kind: &str| status.is_some_and(|s| s.conditions.is_true(kind));
    let reports = |list: Option<&Vec<CachedContainerStatus>>| {
        list.map(|l| l.iter().map(container).collect())
            .unwrap_or_default()
    };
    PodReport {
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
        reason: status.and_then(|s| s.reason.clone()),
        init_total: spec
            .and_then(|s| s.init_containers.as_ref())
            .map_or(0, Vec::len),
        init: reports(status.and_then(|s| s.init_container_statuses.as_ref())),
        total: spec.map_or(0, |s| s.containers.len()),
        containers: reports(status.and_then(|s| s.container_statuses.as_ref())),
        initialized: condition("Initialized"),
        ready_condition: condition("Ready"),
        deleting: pod.metadata.deletion_timestamp.is_some(),
    }
}

pub(super) fn event_row(e: &Event) -> EventRow {
    let involved = &e.involved_object;
    EventRow {
        kind: e.type_.clone().unwrap_or_else(|| "Normal".to_owned()),
        reason: e.reason.clone().unwrap_or_default(),
        object: format!(
            "{}/{}",
            involved.kind.as_deref().unwrap_or("Object"),
            involved.name.as_deref().unwrap_or("")
        ),
        message: e.message.clone().unwrap_or_default(),
        count: e.count.unwrap_or(1),
        last_seen: e
            .last_timestamp
            .as_ref()
            .or(e.first_timestamp.as_ref())
            .or(e.metadata.creation_timestamp.as_ref())
            .map(|t| t.0.to_string()),
    }
}

impl Services {
    /// The workload `target` as `user` may see it, with its pods and events.
    pub async fn workload_detail(
        &self,
        user: &CurrentUser,
        target: &WorkloadRef,
    ) -> Result<WorkloadDetail, ServiceError> {
        let (kind, namespace, name) =
            (target.kind, target.namespace.as_str(), target.name.as_str());
        let member = self.member(&target.cluster)?;
        self.cached_on(&member).await?;
        let missing = || {
            ServiceError::NotFound(format!(
                "no {} {name} in namespace {namespace} that you may see",
                kind.as_str()
            ))
        };
        let filter = RolloutFilter {
            namespace: Some(namespace.to_owned()),
            team: None,
            cluster: Some(member.name().to_owned()),
        };
        // The same view as the list, so the two pages never disagree, and the same visibility.
        let mut workload = self
            .rollouts(user, &filter)
            .await?
            .into_iter()
            .flat_map(|g| g.workloads)
            .find(|w| w.kind == kind && w.name == name)
            .ok_or_else(missing)?;
        // The namespace's events are the page's one call to the cluster: asked now (the user may
        // see the workload), answered while the caches are read.
        let cluster = member.cluster.clone();
        let events_of = namespace.to_owned();
        let listed = tokio::spawn(async move { cluster.events(&events_of, None).await });
        let caches = &member.caches;
        let owned = owned(caches, kind, namespace, name).ok_or_else(missing)?;
        let revision_of_hash: HashMap<&str, &str> = owned
            .replica_sets
            .iter()
            .filter_map(|(_, hash, revision)| Some((hash.as_deref()?, revision.as_deref()?)))
            .collect();
        let mut pods: Vec<PodRow> = Vec::new();
        let in_namespace = caches
            .pods_by_namespace
            .objects(&caches.pods, [namespace])
            .into_iter()
            .filter(|p| !owned.selector.is_empty() && p.labels.matches(&owned.selector));
        for pod in in_namespace {
            let columns = workload_detail::pod_columns(&report(&pod));
            let revision = match kind {
                WorkloadKind::Deployment => pod
                    .labels
                    .get(POD_TEMPLATE_HASH)
                    .and_then(|h| revision_of_hash.get(h))
                    .map(|r| (*r).to_owned()),
                _ => pod.labels.get(CONTROLLER_REVISION_HASH).map(str::to_owned),
            };
            pods.push(PodRow {
                name: pod.metadata.name.clone().unwrap_or_default(),
                healthy: columns.healthy(),
                ready: columns.ready(),
                status: columns.status,
                restarts: columns.restarts,
                node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                created_at: pod
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0.to_string()),
                revision,
            });
        }
        workload_detail::sort_pods(&mut pods);
        let mut about: HashSet<(String, String)> = HashSet::new();
        about.insert((kind.as_str().to_owned(), name.to_owned()));
        for (rs, _, _) in &owned.replica_sets {
            about.insert(("ReplicaSet".to_owned(), rs.clone()));
        }
        for pod in &pods {
            about.insert(("Pod".to_owned(), pod.name.clone()));
        }
        let (listed, ()) = tokio::join!(listed, self.add_stalled_events([&mut workload]));
        let listed = listed
            .map_err(|e| ServiceError::Cluster(e.to_string()))?
            .map_err(|e| ServiceError::Cluster(e.to_string()))?;
        let events = events_about(&listed, &about);
        let refused = workload_detail::creation_refused(&workload, &events);
        Ok(WorkloadDetail {
            workload,
            pods,
            events,
            refused,
        })
    }
}

/// The selector and ReplicaSets of a workload, from its cluster's watch caches.
fn owned(caches: &Caches, kind: WorkloadKind, namespace: &str, name: &str) -> Option<Owned> {
    let found = match kind {
        WorkloadKind::Deployment => caches
            .deployments
            .get(&ObjectRef::new(name).within(namespace))
            .map(|d| (Some(d.spec.selector.to_map()), d.metadata.uid.clone())),
        WorkloadKind::StatefulSet => caches
            .stateful_sets
            .get(&ObjectRef::new(name).within(namespace))
            .map(|s| (s.spec.selector.match_labels.clone(), None)),
        WorkloadKind::DaemonSet => caches
            .daemon_sets
            .get(&ObjectRef::new(name).within(namespace))
            .map(|d| (d.spec.selector.match_labels.clone(), None)),
    };
    let (selector, uid) = found?;
    let replica_sets = match uid {
        Some(uid) => caches
            .owned_replica_sets(namespace, &uid)
            .into_iter()
            .map(|rs| {
                (
                    rs.metadata.name.clone().unwrap_or_default(),
                    rs.pod_template_hash.clone(),
                    rs.revision.map(|r| r.to_string()),
                )
            })
            .collect(),
        None => Vec::new(),
    };
    Some(Owned {
        selector: selector.unwrap_or_default(),
        replica_sets,
    })
}

/// The recent ones of a namespace's `events` that are about any of `about` (kind, name).
fn events_about(events: &[Event], about: &HashSet<(String, String)>) -> Vec<EventRow> {
    let rows = events
        .iter()
        .filter(|e| {
            let o = &e.involved_object;
            about.contains(&(
                o.kind.clone().unwrap_or_default(),
                o.name.clone().unwrap_or_default(),
            ))
        })
        .map(event_row)
        .collect();
    workload_detail::recent_events(rows)
}

#[async_trait::async_trait]
impl app::backend::WorkloadDetailBackend for Services {
    async fn workload_detail(
        &self,
        user: &CurrentUser,
        target: WorkloadRef,
    ) -> Result<WorkloadDetail, Failure> {
        Services::workload_detail(self, user, &target)
            .await
            .map_err(Failure::from)
    }
}
