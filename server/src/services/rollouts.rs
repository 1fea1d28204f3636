//! Rollout views, read from the watch caches: every Deployment, StatefulSet and DaemonSet the
//! user may see, with kubectl's state and message, progress and best-practice findings.

use app::failure::Failure;
use std::collections::{BTreeMap, HashMap, HashSet};

use domain::authz::{Action, Actor, Target, decide};
use domain::findings::{self, ContainerSpec, WorkloadSpec};
use domain::identity::CurrentUser;
use domain::rollout::{
    self, BlockingPod, DaemonSetStatus, DeploymentStatus, NamespaceRollouts, PodState,
    RevisionView, RolloutPage, RolloutState, StatefulSetStatus, WorkloadKind, WorkloadView,
};
use domain::tenancy::LABEL_TEAM;
use domain::workload_detail;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{ServiceError, Services};
use crate::cluster::cache::Caches;
use crate::cluster::deployment::CachedDeployment;
use crate::cluster::pod::{CachedContainerState, CachedPod, Labels, ResourceList};
use crate::cluster::replica_set::CachedReplicaSet;
use crate::cluster::template::{CachedTemplate, TemplateContainer};

/// The namespace label that asks its workloads for Guaranteed QoS (requests equal to limits).
pub const LABEL_EXPECTED_QOS: &str = "berth.dev/expected-qos";
/// The annotation holding a Deployment's (and its ReplicaSets') revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// Which workloads a page asks for.
#[derive(Clone, Debug, Default)]
pub struct RolloutFilter {
    pub namespace: Option<String>,
    pub team: Option<String>,
    /// Only this cluster of the fleet (by name).
    pub cluster: Option<String>,
}

/// What the views know of a namespace the user may see.
struct NamespaceInfo {
    team: Option<String>,
    expects_guaranteed: bool,
    /// The viewer may act on its workloads.
    can_act: bool,
}

fn container(c: &TemplateContainer) -> ContainerSpec {
    let strings = |m: &ResourceList| m.iter().map(|(k, v)| (k.to_owned(), v.0.clone())).collect();
    ContainerSpec {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        readiness_probe: c.readiness_probe,
        liveness_probe: c.liveness_probe,
        requests: strings(&c.resources.requests),
        limits: strings(&c.resources.limits),
    }
}

fn int_or_string(v: Option<&IntOrString>) -> String {
    match v {
        Some(IntOrString::Int(n)) => n.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => "default".to_owned(),
    }
}

/// Whether a PodDisruptionBudget in the namespace selects the template's pods.
fn covered(pdbs: &[&PodDisruptionBudget], labels: &Labels) -> bool {
    pdbs.iter().any(|pdb| {
        let selector = pdb.spec.as_ref().and_then(|s| s.selector.as_ref());
        let wanted = selector.and_then(|s| s.match_labels.as_ref());
        match wanted {
            Some(wanted) if !wanted.is_empty() => wanted
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v.as_str())),
            _ => false,
        }
    })
}

/// The findings input of a pod template.
fn spec_of(
    template: &CachedTemplate,
    replicas: Option<i32>,
    pdbs: &[&PodDisruptionBudget],
    info: &NamespaceInfo,
) -> WorkloadSpec {
    WorkloadSpec {
        replicas,
        containers: template.containers.iter().map(container).collect(),
        has_pdb: covered(pdbs, &template.labels),
        spreads: template.spreads,
        expects_guaranteed: info.expects_guaranteed,
    }
}

fn images(template: &CachedTemplate) -> Vec<String> {
    template
        .containers
        .iter()
        .filter_map(|c| c.image.clone())
        .collect()
}

fn release(template: &CachedTemplate) -> Option<String> {
    template.labels.get("release").map(str::to_owned)
}

fn rfc3339(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> String {
    t.0.to_string()
}

fn revision_of(rs: &CachedReplicaSet) -> Option<i64> {
    rs.revision
}

fn revision_view(revision: i64, rs: &CachedReplicaSet) -> RevisionView {
    RevisionView {
        revision,
        images: rs.images.clone(),
        change_cause: rs.change_cause.clone(),
        created_at: rs.metadata.creation_timestamp.as_ref().map(rfc3339),
        replicas: rs.replicas,
        release: rs.release.clone(),
    }
}

/// How long the overview waits for the events of stalled rollouts' pods, all of them together:
/// they are live lists, and the page (read from the caches) must not wait on a slow cluster
/// past the request's own timeout for what only explains a stall.
const EVENTS_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// How many of those lists run at once: enough to hide the round trips, few enough not to
/// crowd the API server's fair-queuing share of Berth's ServiceAccount.
const EVENT_LISTS_AT_ONCE: usize = 8;

impl Services {
    /// Workloads `user` may see (SREs and admins: every namespace; others their teams'), on
    /// every cluster of the fleet, narrowed by `filter`, grouped by namespace with trouble
    /// first. The home cluster's caches are waited for; another cluster's are read as they
    /// stand once filled (one down keeps its last lists), never waited on.
    pub async fn rollouts(
        &self,
        user: &CurrentUser,
        filter: &RolloutFilter,
    ) -> Result<Vec<NamespaceRollouts>, ServiceError> {
        self.cached().await?;
        let actor = user.actor();
        let mut out = Vec::new();
        for member in self.fleet().members() {
            if filter.cluster.as_ref().is_some_and(|c| c != member.name()) {
                continue;
            }
            if member.caches.check().ok {
                out.extend(views_on(&member.caches, member.name(), &actor, filter));
            }
        }
        Ok(rollout::by_namespace(out))
    }

    /// Fills in the latest events of the pods blocking each stalled rollout of `workloads`:
    /// called on what is about to be shown (one page, one workload), not on every stalled
    /// workload of the cluster, and a few lists at a time, all within [`EVENTS_WITHIN`].
    pub async fn add_stalled_events<'a>(
        &self,
        workloads: impl IntoIterator<Item = &'a mut WorkloadView>,
    ) {
        let by = tokio::time::Instant::now() + EVENTS_WITHIN;
        let pods: Vec<(&str, &str, &mut BlockingPod)> = workloads
            .into_iter()
            .filter(|w| w.state == RolloutState::Stalled)
            .flat_map(|w| {
                let (cluster, namespace) = (w.cluster.as_str(), w.namespace.as_str());
                w.blocking
                    .iter_mut()
                    .map(move |pod| (cluster, namespace, pod))
            })
            .collect();
        futures::stream::iter(pods)
            .for_each_concurrent(
                EVENT_LISTS_AT_ONCE,
                |(cluster, namespace, pod)| async move {
                    pod.events = self.last_events(cluster, namespace, &pod.name, by).await;
                },
            )
            .await;
    }

    /// Says why each of `workloads` that lacks pods, with none holding it back, has none: its
    /// controller's newest refusal (a quota, a missing claim). One namespaced list of events
    /// per namespace concerned, a few at a time, all within [`EVENTS_WITHIN`]; a namespace
    /// that does not answer in time leaves its workloads without a cause.
    pub async fn add_refusals<'a>(
        &self,
        workloads: impl IntoIterator<Item = &'a mut WorkloadView>,
    ) {
        let by = tokio::time::Instant::now() + EVENTS_WITHIN;
        let mut lacking: HashMap<(String, String), Vec<&mut WorkloadView>> = HashMap::new();
        for w in workloads {
            if w.state != RolloutState::Complete
                && w.blocking.is_empty()
                && workload_detail::lacks_pods(w.desired, w.ready, w.updated)
            {
                lacking
                    .entry((w.cluster.clone(), w.namespace.clone()))
                    .or_default()
                    .push(w);
            }
        }
        futures::stream::iter(lacking)
            .for_each_concurrent(
                EVENT_LISTS_AT_ONCE,
                |((cluster, namespace), views)| async move {
                    let Some(cluster) = self.fleet().cluster_named(&cluster) else {
                        return;
                    };
                    let Ok(Ok(events)) =
                        tokio::time::timeout_at(by, cluster.events(&namespace, None)).await
                    else {
                        return;
                    };
                    let rows: Vec<_> = events
                        .iter()
                        .map(super::workload_detail::event_row)
                        .collect();
                    for w in views {
                        let rows: Vec<_> = rows
                            .iter()
                            .filter(|e| workload_detail::about_workload(&e.object, w.kind, &w.name))
                            .cloned()
                            .collect();
                        w.refused =
                            workload_detail::newest_refusal(&workload_detail::recent_events(rows));
                    }
                },
            )
            .await;
    }

    /// The latest three events of a pod on `cluster` (a namespaced list, asked only for
    /// stalled rollouts), or why they are missing when the cluster has not answered by `by`.
    async fn last_events(
        &self,
        cluster: &str,
        namespace: &str,
        pod: &str,
        by: tokio::time::Instant,
    ) -> Vec<String> {
        let Some(cluster) = self.fleet().cluster_named(cluster) else {
            return vec!["events unavailable: the cluster left the fleet".to_owned()];
        };
        let Ok(listed) = tokio::time::timeout_at(by, cluster.events(namespace, Some(pod))).await
        else {
            return vec![format!(
                "events unavailable: the cluster did not answer within {} s",
                EVENTS_WITHIN.as_secs()
            )];
        };
        match listed {
            Ok(list) => {
                let mut events = list;
                events.sort_by_key(|e| {
                    e.last_timestamp
                        .as_ref()
                        .map(|t| t.0)
                        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
                });
                events
                    .iter()
                    .rev()
                    .take(3)
                    .rev()
                    .map(|e| {
                        format!(
                            "{}: {}",
                            e.reason.as_deref().unwrap_or("Event"),
                            e.message.as_deref().unwrap_or("")
                        )
                    })
                    .collect()
            }
            Err(err) => vec![format!("events unavailable: {err}")],
        }
    }
}

/// The workloads on one cluster (`caches`, named `cluster`) that `actor` may see and `filter`
/// selects.
fn views_on(
    caches: &Caches,
    cluster: &str,
    actor: &Actor,
    filter: &RolloutFilter,
) -> Vec<WorkloadView> {
    let mut visible: HashMap<String, NamespaceInfo> = HashMap::new();
    for ns in caches.namespaces.state() {
        let Some(name) = ns.metadata.name.clone() else {
            continue;
        };
        if filter.namespace.as_ref().is_some_and(|n| n != &name) {
            continue;
        }
        let labels = ns.metadata.labels.clone().unwrap_or_default();
        let team = labels.get(LABEL_TEAM).cloned();
        if filter.team.is_some() && filter.team != team {
            continue;
        }
        let target = team.as_deref().map(Target::team).unwrap_or_default();
        if !decide(actor, Action::ViewNamespace, &target).allowed() {
            continue;
        }
        let expects_guaranteed = labels
            .get(LABEL_EXPECTED_QOS)
            .is_some_and(|q| q.eq_ignore_ascii_case("guaranteed"));
        let can_act = decide(actor, Action::ActOnWorkloads, &target).allowed();
        visible.insert(
            name,
            NamespaceInfo {
                team,
                expects_guaranteed,
                can_act,
            },
        );
    }
    // Only the visible namespaces' objects are taken from the caches: copying every handle
    // out of a 50,000-pod cache cost more than the view itself for one namespace, and a
    // few namespaces' objects are looked up in the caches' indexes rather than walked to.
    let shown: HashSet<&str> = visible.keys().map(String::as_str).collect();
    let seen = |meta: &ObjectMeta| {
        meta.namespace
            .as_deref()
            .is_some_and(|ns| shown.contains(ns))
    };
    let pdb_store = caches.pdbs.state_filter(|p| seen(&p.metadata));
    let mut pdbs: HashMap<&str, Vec<&PodDisruptionBudget>> = HashMap::new();
    for pdb in &pdb_store {
        if let Some(ns) = pdb.metadata.namespace.as_deref() {
            pdbs.entry(ns).or_default().push(pdb);
        }
    }
    // Each Deployment's ReplicaSets by revision: its history, and its current revision (the
    // highest) with when that began. The Deployment's own annotation says the same on a
    // real cluster, but the ReplicaSets are what the history is made of.
    let rs_store = caches
        .replica_sets_by_namespace
        .select(&caches.replica_sets, &shown);
    let mut owned: HashMap<&str, Vec<(i64, &CachedReplicaSet)>> = HashMap::new();
    for rs in &rs_store {
        let Some(revision) = revision_of(rs) else {
            continue;
        };
        for owner in rs.metadata.owner_references.iter().flatten() {
            owned
                .entry(owner.uid.as_str())
                .or_default()
                .push((revision, rs));
        }
    }
    for sets in owned.values_mut() {
        sets.sort_by_key(|s| std::cmp::Reverse(s.0));
    }
    let none: Vec<&PodDisruptionBudget> = Vec::new();
    // What a workload in `namespace` is judged with, when the viewer may see it.
    let context = |namespace: Option<&String>| {
        let namespace = namespace?;
        let info = visible.get(namespace)?;
        Some((
            info,
            pdbs.get(namespace.as_str()).unwrap_or(&none).as_slice(),
        ))
    };
    let mut out = Vec::new();
    // Each workload's pod selector, beside it, for finding the pods that block it.
    let mut selectors: Vec<BTreeMap<String, String>> = Vec::new();
    let deployments = caches
        .deployments_by_namespace
        .select(&caches.deployments, &shown);
    for d in deployments {
        if let Some((info, pdbs)) = context(d.metadata.namespace.as_ref()) {
            out.push(deployment_view(&d, info, pdbs, &owned));
            selectors.push(d.spec.selector.to_map());
        }
    }
    for s in caches.stateful_sets.state_filter(|s| seen(&s.metadata)) {
        if let Some((info, pdbs)) = context(s.metadata.namespace.as_ref()) {
            out.push(stateful_set_view(&s, info, pdbs));
            selectors.push(s.spec.selector.match_labels.clone().unwrap_or_default());
        }
    }
    for d in caches.daemon_sets.state_filter(|d| seen(&d.metadata)) {
        if let Some((info, pdbs)) = context(d.metadata.namespace.as_ref()) {
            out.push(daemon_set_view(&d, info, pdbs));
            selectors.push(d.spec.selector.match_labels.clone().unwrap_or_default());
        }
    }
    let pod_store = caches.pods_by_namespace.select(&caches.pods, &shown);
    let mut pods: HashMap<&str, Vec<&CachedPod>> = HashMap::new();
    for pod in &pod_store {
        if let Some(ns) = pod.metadata.namespace.as_deref() {
            pods.entry(ns).or_default().push(pod);
        }
    }
    for (view, selector) in out.iter_mut().zip(&selectors) {
        if view.state == RolloutState::Complete {
            continue;
        }
        let candidates = pods
            .get(view.namespace.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        view.blocking = blocking_pods(candidates, selector);
    }
    for view in &mut out {
        cluster.clone_into(&mut view.cluster);
    }
    out
}

/// Pods matching `selector` that hold a rollout back, at most five.
fn blocking_pods(pods: &[&CachedPod], selector: &BTreeMap<String, String>) -> Vec<BlockingPod> {
    if selector.is_empty() {
        return Vec::new();
    }
    pods.iter()
        .filter(|p| p.labels.matches(selector))
        .filter_map(|p| {
            let status = p.status.as_ref();
            let containers = status
                .and_then(|s| s.container_statuses.as_deref())
                .unwrap_or_default();
            let conditions = status.map(|s| &s.conditions);
            let state = PodState {
                phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
                ready: conditions.is_some_and(|c| c.is_true("Ready")),
                waiting: containers
                    .iter()
                    .filter_map(|c| match &c.state {
                        CachedContainerState::Waiting { reason } => reason.clone(),
                        _ => None,
                    })
                    .collect(),
                unschedulable: conditions
                    .and_then(|c| c.not_true("PodScheduled"))
                    .filter(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
                    .map(|c| c.message.clone().unwrap_or_default()),
                restarts: containers.iter().map(|c| c.restart_count).sum(),
                terminating: p.metadata.deletion_timestamp.is_some(),
            };
            let reason = rollout::blocker(&state)?;
            Some(BlockingPod {
                name: p.metadata.name.clone().unwrap_or_default(),
                node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
                reason,
                restarts: state.restarts,
                events: Vec::new(),
            })
        })
        .take(5)
        .collect()
}

fn deployment_view(
    d: &CachedDeployment,
    info: &NamespaceInfo,
    pdbs: &[&PodDisruptionBudget],
    owned: &HashMap<&str, Vec<(i64, &CachedReplicaSet)>>,
) -> WorkloadView {
    let spec = d.spec.clone();
    let status = d.status.clone().unwrap_or_default();
    let name = d.metadata.name.clone().unwrap_or_default();
    let derived = rollout::deployment(&DeploymentStatus {
        name: name.clone(),
        generation: d.metadata.generation.unwrap_or(0),
        observed_generation: status.observed_generation.unwrap_or(0),
        replicas: spec.replicas,
        paused: spec.paused.unwrap_or(false),
        status_replicas: status.replicas.unwrap_or(0),
        updated_replicas: status.updated_replicas.unwrap_or(0),
        available_replicas: status.available_replicas.unwrap_or(0),
        progressing_reason: status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_.as_deref() == Some("Progressing"))
            .and_then(|c| c.reason.clone()),
    });
    let desired = spec.replicas.unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let strategy = spec.strategy.as_ref();
    let strategy_text = match strategy.and_then(|s| s.type_.as_deref()) {
        Some("Recreate") => "Recreate".to_owned(),
        _ => {
            let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
            format!(
                "RollingUpdate (maxSurge {}, maxUnavailable {})",
                int_or_string(rolling.and_then(|r| r.max_surge.as_ref())),
                int_or_string(rolling.and_then(|r| r.max_unavailable.as_ref()))
            )
        }
    };
    let history = d
        .metadata
        .uid
        .as_deref()
        .and_then(|uid| owned.get(uid))
        .map(Vec::as_slice)
        .unwrap_or_default();
    let current = history.first();
    let revision = current.map(|(r, _)| r.to_string()).or_else(|| {
        d.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION).cloned())
    });
    let revision_since = current
        .and_then(|(_, rs)| rs.metadata.creation_timestamp.as_ref())
        .map(rfc3339);
    let found = findings::findings(&spec_of(&spec.template, Some(desired), pdbs, info));
    WorkloadView {
        // The cluster's name is set by `views_on`.
        cluster: String::new(),
        kind: WorkloadKind::Deployment,
        namespace: d.metadata.namespace.clone().unwrap_or_default(),
        name,
        team: info.team.clone(),
        state: derived.state,
        message: derived.message,
        desired,
        updated,
        ready: status.ready_replicas.unwrap_or(0),
        available,
        progress: rollout::progress(desired, updated, available),
        images: images(&spec.template),
        strategy: strategy_text,
        revision,
        revision_since,
        release: release(&spec.template),
        score: findings::score(&found),
        findings: found,
        revisions: history
            .iter()
            .map(|(r, rs)| revision_view(*r, rs))
            .collect(),
        paused: spec.paused.unwrap_or(false),
        can_act: info.can_act,
        blocking: Vec::new(),
        refused: None,
    }
}

fn stateful_set_view(
    s: &StatefulSet,
    info: &NamespaceInfo,
    pdbs: &[&PodDisruptionBudget],
) -> WorkloadView {
    let spec = s.spec.clone();
    let template = CachedTemplate::of(
        s.metadata.namespace.as_deref().unwrap_or_default(),
        &spec.template,
    );
    let status = s.status.clone().unwrap_or_default();
    let name = s.metadata.name.clone().unwrap_or_default();
    let strategy = spec.update_strategy.as_ref();
    let strategy_type = strategy
        .and_then(|u| u.type_.clone())
        .unwrap_or_else(|| "RollingUpdate".to_owned());
    let rolling = strategy.and_then(|u| u.rolling_update.as_ref());
    let derived = rollout::stateful_set(&StatefulSetStatus {
        name: name.clone(),
        generation: s.metadata.generation.unwrap_or(0),
        observed_generation: status.observed_generation.unwrap_or(0),
        replicas: spec.replicas,
        strategy: strategy_type.clone(),
        rolling_update: rolling.is_some(),
        partition: rolling.and_then(|r| r.partition),
        ready_replicas: status.ready_replicas.unwrap_or(0),
        updated_replicas: status.updated_replicas.unwrap_or(0),
        current_replicas: status.current_replicas.unwrap_or(0),
        current_revision: status.current_revision.clone().unwrap_or_default(),
        update_revision: status.update_revision.clone().unwrap_or_default(),
    });
    let desired = spec.replicas.unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let found = findings::findings(&spec_of(&template, Some(desired), pdbs, info));
    WorkloadView {
        // The cluster's name is set by `views_on`.
        cluster: String::new(),
        kind: WorkloadKind::StatefulSet,
        namespace: s.metadata.namespace.clone().unwrap_or_default(),
        name,
        team: info.team.clone(),
        state: derived.state,
        message: derived.message,
        desired,
        updated,
        ready: status.ready_replicas.unwrap_or(0),
        available,
        progress: rollout::progress(desired, updated, available),
        images: images(&template),
        strategy: match rolling.and_then(|r| r.partition) {
            Some(p) => format!("{strategy_type} (partition {p})"),
            None => strategy_type,
        },
        revision: status.update_revision.clone(),
        revision_since: None,
        release: release(&template),
        score: findings::score(&found),
        findings: found,
        revisions: Vec::new(),
        paused: false,
        can_act: info.can_act,
        blocking: Vec::new(),
        refused: None,
    }
}

fn daemon_set_view(
    d: &DaemonSet,
    info: &NamespaceInfo,
    pdbs: &[&PodDisruptionBudget],
) -> WorkloadView {
    let spec = d.spec.clone();
    let template = CachedTemplate::of(
        d.metadata.namespace.as_deref().unwrap_or_default(),
        &spec.template,
    );
    let status = d.status.clone().unwrap_or_default();
    let name = d.metadata.name.clone().unwrap_or_default();
    let strategy_type = spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.type_.clone())
        .unwrap_or_else(|| "RollingUpdate".to_owned());
    let derived = rollout::daemon_set(&DaemonSetStatus {
        name: name.clone(),
        generation: d.metadata.generation.unwrap_or(0),
        observed_generation: status.observed_generation.unwrap_or(0),
        strategy: strategy_type.clone(),
        desired_number_scheduled: status.desired_number_scheduled,
        updated_number_scheduled: status.updated_number_scheduled.unwrap_or(0),
        number_available: status.number_available.unwrap_or(0),
    });
    let desired = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let available = status.number_available.unwrap_or(0);
    let found = findings::findings(&spec_of(&template, None, pdbs, info));
    WorkloadView {
        // The cluster's name is set by `views_on`.
        cluster: String::new(),
        kind: WorkloadKind::DaemonSet,
        namespace: d.metadata.namespace.clone().unwrap_or_default(),
        name,
        team: info.team.clone(),
        state: derived.state,
        message: derived.message,
        desired,
        updated,
        ready: status.number_ready,
        available,
        progress: rollout::progress(desired, updated, available),
        images: images(&template),
        strategy: strategy_type,
        revision: None,
        revision_since: None,
        release: release(&template),
        score: findings::score(&found),
        findings: found,
        revisions: Vec::new(),
        paused: false,
        can_act: info.can_act,
        blocking: Vec::new(),
        refused: None,
    }
}

#[async_trait::async_trait]
impl app::backend::RolloutBackend for Services {
    async fn rollouts(
        &self,
        user: &CurrentUser,
        namespace: Option<String>,
        team: Option<String>,
        cluster: Option<String>,
        page: Option<usize>,
    ) -> Result<RolloutPage, Failure> {
        let filter = RolloutFilter {
            namespace,
            team,
            cluster,
        };
        self.rollout_page(user, &filter, page.unwrap_or(1))
            .await
            .map_err(Failure::from)
    }
}

impl Services {
    /// Page `page` (from 1) of the workloads `filter` selects, the stalled ones with their
    /// pods' events.
    pub async fn rollout_page(
        &self,
        user: &CurrentUser,
        filter: &RolloutFilter,
        page: usize,
    ) -> Result<RolloutPage, ServiceError> {
        let groups = self.rollouts(user, filter).await?;
        let mut page = rollout::paginate(groups, page, rollout::PAGE_WORKLOADS);
        page.clusters = self.fleet().names();
        self.add_stalled_events(page.groups.iter_mut().flat_map(|g| g.workloads.iter_mut()))
            .await;
        self.add_refusals(page.groups.iter_mut().flat_map(|g| g.workloads.iter_mut()))
            .await;
        Ok(page)
    }
}
