//! Rollout state of Deployments, StatefulSets and DaemonSets, derived exactly as
//! `kubectl rollout status` derives it (kubectl's `polymorphichelpers/rollout_status.go`), with
//! kubectl's own message beside it.

use serde::{Deserialize, Serialize};

/// The Progressing condition's reason when a Deployment ran out of its progress deadline.
pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        }
    }

    /// The kind's resource name as kubectl and the REST paths spell it (`deployments`).
    pub fn resource(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::StatefulSet => "statefulsets",
            WorkloadKind::DaemonSet => "daemonsets",
        }
    }

    /// A kind from what kubectl accepts for it: resource name, singular, short name or kind,
    /// in any case (`deployments`, `deploy`, `Deployment`, `sts`, `ds`).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "deployments" | "deployment" | "deploy" => Ok(WorkloadKind::Deployment),
            "statefulsets" | "statefulset" | "sts" => Ok(WorkloadKind::StatefulSet),
            "daemonsets" | "daemonset" | "ds" => Ok(WorkloadKind::DaemonSet),
            _ => Err(format!(
                "{:?} is not a workload kind Berth shows: use deployments, statefulsets or daemonsets",
                crate::text::clip(text, 40)
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RolloutState {
    /// Moving towards the desired state.
    Progressing,
    Complete,
    /// The Deployment's progress deadline passed (`ProgressDeadlineExceeded`).
    Stalled,
    /// `spec.paused`: nothing rolls until it is resumed.
    Paused,
    /// kubectl cannot tell (an update strategy other than RollingUpdate).
    Unknown,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Progressing => "progressing",
            RolloutState::Complete => "complete",
            RolloutState::Stalled => "stalled",
            RolloutState::Paused => "paused",
            RolloutState::Unknown => "unknown",
        }
    }
}

/// A state with kubectl's message for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rollout {
    pub state: RolloutState,
    pub message: String,
}

fn rollout(state: RolloutState, message: String) -> Rollout {
    Rollout { state, message }
}

/// What a Deployment's rollout status reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentStatus {
    pub name: String,
    pub generation: i64,
    pub observed_generation: i64,
    /// `spec.replicas`.
    pub replicas: Option<i32>,
    pub paused: bool,
    /// `status.replicas`, `updatedReplicas`, `availableReplicas`.
    pub status_replicas: i32,
    pub updated_replicas: i32,
    pub available_replicas: i32,
    /// The reason of the `Progressing` condition, when there is one.
    pub progressing_reason: Option<String>,
}

/// `kubectl rollout status deployment/<name>`; a paused Deployment is `Paused` whatever the
/// counts say, with kubectl's message for them.
pub fn deployment(d: &DeploymentStatus) -> Rollout {
    let name = &d.name;
    let derived = if d.generation <= d.observed_generation {
        if d.progressing_reason.as_deref() == Some(PROGRESS_DEADLINE_EXCEEDED) {
            rollout(
                RolloutState::Stalled,
                format!("deployment {name:?} exceeded its progress deadline"),
            )
        } else if let Some(desired) = d.replicas.filter(|r| d.updated_replicas < *r) {
            rollout(
                RolloutState::Progressing,
                format!(
                    "Waiting for deployment {name:?} rollout to finish: {} out of {desired} new replicas have been updated...",
                    d.updated_replicas
                ),
            )
        } else if d.status_replicas > d.updated_replicas {
            rollout(
                RolloutState::Progressing,
                format!(
                    "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...",
                    d.status_replicas - d.updated_replicas
                ),
            )
        } else if d.available_replicas < d.updated_replicas {
            rollout(
                RolloutState::Progressing,
                format!(
                    "Waiting for deployment {name:?} rollout to finish: {} of {} updated replicas are available...",
                    d.available_replicas, d.updated_replicas
                ),
            )
        } else {
            rollout(
                RolloutState::Complete,
                format!("deployment {name:?} successfully rolled out"),
            )
        }
    } else {
        rollout(
            RolloutState::Progressing,
            "Waiting for deployment spec update to be observed...".to_owned(),
        )
    };
    if d.paused && derived.state != RolloutState::Stalled {
        rollout(RolloutState::Paused, derived.message)
    } else {
        derived
    }
}

/// What a StatefulSet's rollout status reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatefulSetStatus {
    pub name: String,
    pub generation: i64,
    pub observed_generation: i64,
    pub replicas: Option<i32>,
    /// `spec.updateStrategy.type` (the API defaults it to RollingUpdate).
    pub strategy: String,
    /// Whether `spec.updateStrategy.rollingUpdate` is set, and its partition.
    pub rolling_update: bool,
    pub partition: Option<i32>,
    pub ready_replicas: i32,
    pub updated_replicas: i32,
    pub current_replicas: i32,
    pub current_revision: String,
    pub update_revision: String,
}

/// `kubectl rollout status statefulset/<name>`.
pub fn stateful_set(s: &StatefulSetStatus) -> Rollout {
    if s.strategy != "RollingUpdate" {
        return rollout(
            RolloutState::Unknown,
            "rollout status is only available for RollingUpdate strategy type".to_owned(),
        );
    }
    if s.observed_generation == 0 || s.generation > s.observed_generation {
        return rollout(
            RolloutState::Progressing,
            "Waiting for statefulset spec update to be observed...".to_owned(),
        );
    }
    if let Some(desired) = s.replicas.filter(|r| s.ready_replicas < *r) {
        return rollout(
            RolloutState::Progressing,
            format!(
                "Waiting for {} pods to be ready...",
                desired - s.ready_replicas
            ),
        );
    }
    if s.rolling_update {
        if let (Some(replicas), Some(partition)) = (s.replicas, s.partition)
            && s.updated_replicas < replicas - partition
        {
            return rollout(
                RolloutState::Progressing,
                format!(
                    "Waiting for partitioned roll out to finish: {} out of {} new pods have been updated...",
                    s.updated_replicas,
                    replicas - partition
                ),
            );
        }
        return rollout(
            RolloutState::Complete,
            format!(
                "partitioned roll out complete: {} new pods have been updated...",
                s.updated_replicas
            ),
        );
    }
    if s.update_revision != s.current_revision {
        return rollout(
            RolloutState::Progressing,
            format!(
                "waiting for statefulset rolling update to complete {} pods at revision {}...",
                s.updated_replicas, s.update_revision
            ),
        );
    }
    rollout(
        RolloutState::Complete,
        format!(
            "statefulset rolling update complete {} pods at revision {}...",
            s.current_replicas, s.current_revision
        ),
    )
}

/// What a DaemonSet's rollout status reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DaemonSetStatus {
    pub name: String,
    pub generation: i64,
    pub observed_generation: i64,
    pub strategy: String,
    pub desired_number_scheduled: i32,
    pub updated_number_scheduled: i32,
    pub number_available: i32,
}

/// `kubectl rollout status daemonset/<name>`.
pub fn daemon_set(d: &DaemonSetStatus) -> Rollout {
    let name = &d.name;
    if d.strategy != "RollingUpdate" {
        return rollout(
            RolloutState::Unknown,
            "rollout status is only available for RollingUpdate strategy type".to_owned(),
        );
    }
    if d.generation > d.observed_generation {
        return rollout(
            RolloutState::Progressing,
            "Waiting for daemon set spec update to be observed...".to_owned(),
        );
    }
    if d.updated_number_scheduled < d.desired_number_scheduled {
        return rollout(
            RolloutState::Progressing,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {} out of {} new pods have been updated...",
                d.updated_number_scheduled, d.desired_number_scheduled
            ),
        );
    }
    if d.number_available < d.desired_number_scheduled {
        return rollout(
            RolloutState::Progressing,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {} of {} updated pods are available...",
                d.number_available, d.desired_number_scheduled
            ),
        );
    }
    rollout(
        RolloutState::Complete,
        format!("daemon set {name:?} successfully rolled out"),
    )
}

/// How far a rollout has come, 0–100: updated and available replicas against the desired.
pub fn progress(desired: i32, updated: i32, available: i32) -> f64 {
    if desired <= 0 {
        return 100.0;
    }
    let done = f64::from(updated.min(desired)) + f64::from(available.min(desired));
    (done / (2.0 * f64::from(desired)) * 100.0).clamp(0.0, 100.0)
}

/// One revision of a Deployment, from its ReplicaSet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevisionView {
    pub revision: i64,
    pub images: Vec<String>,
    /// `kubernetes.io/change-cause`, when someone set it.
    pub change_cause: Option<String>,
    /// When the ReplicaSet was made, RFC 3339.
    pub created_at: Option<String>,
    pub replicas: i32,
    /// The `release` label of its pod template (stable / canary / alpha).
    pub release: Option<String>,
}

/// What someone may do to a workload from the rollouts page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WorkloadAction {
    /// What `kubectl rollout restart` does: a new `restartedAt` annotation on the template.
    Restart,
    Pause,
    Resume,
    Scale {
        replicas: i32,
    },
    /// What `kubectl rollout undo --to-revision` does: that revision's template back.
    Rollback {
        revision: i64,
    },
    /// New requests (and limits) for one container, e.g. a rightsizing recommendation.
    SetResources {
        container: String,
        resources: crate::idle::ResourcePatch,
    },
}

impl WorkloadAction {
    /// The audit action name.
    pub fn audit_name(&self) -> &'static str {
        match self {
            WorkloadAction::Restart => "workload.restart",
            WorkloadAction::Pause => "workload.pause",
            WorkloadAction::Resume => "workload.resume",
            WorkloadAction::Scale { .. } => "workload.scale",
            WorkloadAction::Rollback { .. } => "workload.rollback",
            WorkloadAction::SetResources { .. } => "workload.resources",
        }
    }

    /// Whether `kind` supports it (as kubectl's rollout and scale commands do).
    pub fn applies_to(&self, kind: WorkloadKind) -> Result<(), String> {
        let ok = match self {
            WorkloadAction::Restart | WorkloadAction::SetResources { .. } => true,
            WorkloadAction::Scale { .. } => kind != WorkloadKind::DaemonSet,
            WorkloadAction::Pause | WorkloadAction::Resume | WorkloadAction::Rollback { .. } => {
                kind == WorkloadKind::Deployment
            }
        };
        if !ok {
            return Err(format!(
                "a {} cannot be {}",
                kind.as_str(),
                self.past_tense()
            ));
        }
        // Bounds hold whatever the namespace's quota says (a namespace may have none).
        match self {
            WorkloadAction::Scale { replicas } if !(0..=MAX_REPLICAS).contains(replicas) => Err(
                format!("replicas must be between 0 and {MAX_REPLICAS}, not {replicas}"),
            ),
            WorkloadAction::Rollback { revision } if *revision < 1 => Err(format!(
                "revision {revision} does not exist: revisions count from 1"
            )),
            _ => Ok(()),
        }
    }

    fn past_tense(&self) -> &'static str {
        match self {
            WorkloadAction::Restart => "restarted",
            WorkloadAction::Pause => "paused",
            WorkloadAction::Resume => "resumed",
            WorkloadAction::Scale { .. } => "scaled",
            WorkloadAction::Rollback { .. } => "rolled back here",
            WorkloadAction::SetResources { .. } => "resized",
        }
    }
}

/// The most replicas Berth scales a workload to in one step.
pub const MAX_REPLICAS: i32 = 1000;

/// Whether scaling from `current` to `wanted` replicas fits the namespace's quota. `per_pod`
/// is one pod's requests by quota resource (`requests.cpu`, `requests.memory`, …; `pods` is
/// counted here); `hard` and `used` are the quota's, as quantity strings. `Err` says which
/// resource runs out, in numbers.
pub fn scale_fits(
    name: &str,
    current: i32,
    wanted: i32,
    per_pod: &std::collections::BTreeMap<String, f64>,
    hard: &std::collections::BTreeMap<String, String>,
    used: &std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    if !(0..=MAX_REPLICAS).contains(&wanted) {
        return Err(format!("replicas must be between 0 and {MAX_REPLICAS}"));
    }
    let extra = f64::from(wanted - current);
    if extra <= 0.0 {
        return Ok(());
    }
    let mut needs = per_pod.clone();
    needs.insert("pods".to_owned(), 1.0);
    for (resource, each) in needs {
        let Some(limit) = hard
            .get(&resource)
            .and_then(|h| crate::quantity::parse(h).ok())
        else {
            continue;
        };
        let in_use = used
            .get(&resource)
            .and_then(|u| crate::quantity::parse(u).ok())
            .unwrap_or(0.0);
        let more = each * extra;
        if in_use + more > limit + 1e-9 {
            let unit = crate::quantity::Unit::of_resource(&resource);
            let show = |v: f64| crate::quantity::format(v, unit);
            return Err(format!(
                "scaling {name} to {wanted} needs {} more {resource}, but the quota has {} left ({} of {} used)",
                show(more),
                show((limit - in_use).max(0.0)),
                show(in_use),
                show(limit)
            ));
        }
    }
    Ok(())
}

/// A pod holding a rollout back, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockingPod {
    pub name: String,
    pub node: Option<String>,
    /// e.g. `CrashLoopBackOff`, `Unschedulable: 0/3 nodes are available…`, `not ready`.
    pub reason: String,
    pub restarts: i32,
    /// Its latest events, newest last (`Reason: message`).
    pub events: Vec<String>,
}

/// What the blocker check reads of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodState {
    pub phase: String,
    pub ready: bool,
    /// Waiting reasons of its containers (`CrashLoopBackOff`, `ImagePullBackOff`, …).
    pub waiting: Vec<String>,
    /// The PodScheduled condition's message when it is `False` / `Unschedulable`.
    pub unschedulable: Option<String>,
    pub restarts: i32,
    /// Being deleted: an old pod on its way out, not a blocker.
    pub terminating: bool,
}

/// Why a pod holds a rollout back, or `None` when it does not (ready, done, going away).
pub fn blocker(pod: &PodState) -> Option<String> {
    if pod.terminating || matches!(pod.phase.as_str(), "Succeeded") {
        return None;
    }
    if let Some(why) = &pod.unschedulable {
        return Some(format!("Unschedulable: {why}"));
    }
    if let Some(reason) = pod
        .waiting
        .iter()
        .find(|r| r.as_str() != "ContainerCreating")
    {
        return Some(reason.clone());
    }
    if pod.phase == "Failed" {
        return Some("Failed".to_owned());
    }
    if !pod.ready {
        return Some(if pod.restarts > 0 {
            format!("not ready ({} restarts)", pod.restarts)
        } else {
            "not ready".to_owned()
        });
    }
    None
}

/// A workload as the rollouts page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkloadView {
    /// The fleet's name of the cluster it runs on.
    #[serde(default)]
    pub cluster: String,
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    pub team: Option<String>,
    pub state: RolloutState,
    /// kubectl's message for the state.
    pub message: String,
    pub desired: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    pub progress: f64,
    pub images: Vec<String>,
    /// e.g. `RollingUpdate (maxSurge 25%, maxUnavailable 25%)`.
    pub strategy: String,
    /// The current revision (Deployments: `deployment.kubernetes.io/revision`).
    pub revision: Option<String>,
    /// When the current revision started (its ReplicaSet's creation), RFC 3339.
    pub revision_since: Option<String>,
    /// The `release` label of the pod template (stable / canary / alpha).
    pub release: Option<String>,
    pub findings: Vec<crate::findings::Finding>,
    pub score: u32,
    /// Deployments: every revision still kept, newest first.
    pub revisions: Vec<RevisionView>,
    pub paused: bool,
    /// Whether the viewer may restart, pause, scale or roll it back.
    pub can_act: bool,
    /// While it is not complete: the pods holding it back (at most five).
    pub blocking: Vec<BlockingPod>,
    /// While it lacks pods and none holds it back: why its controller could not make them.
    #[serde(default)]
    pub refused: Option<crate::workload_detail::Refusal>,
}

impl WorkloadView {
    /// Its page: `/rollouts/<kind>/<namespace>/<name>?cluster=<cluster>`.
    pub fn href(&self) -> String {
        workload_href(&self.cluster, self.kind, &self.namespace, &self.name)
    }
}

/// Which workload an action or a page is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkloadRef {
    /// The fleet's name of its cluster; empty for the home cluster.
    #[serde(default)]
    pub cluster: String,
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
}

/// The page of a workload; the cluster is left out when empty (the home cluster's).
pub fn workload_href(cluster: &str, kind: WorkloadKind, namespace: &str, name: &str) -> String {
    let page = format!("/rollouts/{}/{namespace}/{name}", kind.slug());
    if cluster.is_empty() {
        page
    } else {
        format!("{page}?cluster={}", crate::text::query_value(cluster))
    }
}

/// A namespace's workloads with its score over all their findings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceRollouts {
    /// The fleet's name of the namespace's cluster.
    #[serde(default)]
    pub cluster: String,
    pub namespace: String,
    pub team: Option<String>,
    pub score: u32,
    pub workloads: Vec<WorkloadView>,
}

/// Groups workloads by namespace and cluster (stalled and moving ones first within each,
/// namespaces with the most trouble first), each namespace with its score.
pub fn by_namespace(workloads: Vec<WorkloadView>) -> Vec<NamespaceRollouts> {
    let mut groups: std::collections::BTreeMap<(String, String), Vec<WorkloadView>> =
        Default::default();
    for w in workloads {
        groups
            .entry((w.namespace.clone(), w.cluster.clone()))
            .or_default()
            .push(w);
    }
    let rank = |s: RolloutState| match s {
        RolloutState::Stalled => 0,
        RolloutState::Progressing => 1,
        RolloutState::Paused => 2,
        RolloutState::Unknown => 3,
        RolloutState::Complete => 4,
    };
    let mut out: Vec<NamespaceRollouts> = groups
        .into_iter()
        .map(|((namespace, cluster), mut workloads)| {
            workloads.sort_by(|a, b| {
                rank(a.state)
                    .cmp(&rank(b.state))
                    .then_with(|| a.name.cmp(&b.name))
            });
            let all: Vec<crate::findings::Finding> = workloads
                .iter()
                .flat_map(|w| w.findings.iter().cloned())
                .collect();
            NamespaceRollouts {
                team: workloads.first().and_then(|w| w.team.clone()),
                score: crate::findings::score(&all),
                cluster,
                namespace,
                workloads,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let worst =
            |n: &NamespaceRollouts| n.workloads.iter().map(|w| rank(w.state)).min().unwrap_or(5);
        worst(a)
            .cmp(&worst(b))
            .then_with(|| a.namespace.cmp(&b.namespace))
            .then_with(|| a.cluster.cmp(&b.cluster))
    });
    out
}

/// At most how many workloads one page of the rollouts view holds (whole namespaces; a namespace
/// bigger than this is a page of its own). The whole of a 10,000-workload cluster on one page
/// was 36 MB of HTML; 1,000 is a big team's worth.
pub const PAGE_WORKLOADS: usize = 1_000;

/// One page of the rollouts view, with the size of the whole answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolloutPage {
    pub groups: Vec<NamespaceRollouts>,
    /// 1-based, within `1..=pages`.
    pub page: usize,
    pub pages: usize,
    pub namespaces: usize,
    pub workloads: usize,
    /// The fleet's clusters, the home one first.
    #[serde(default)]
    pub clusters: Vec<String>,
}

/// Cuts items of the given sizes, in order, into pages of at most `budget` without splitting
/// one; answers the index range of page `page` (1-based; clamped to the pages there are) with
/// that page's number and the number of pages. No items is one empty page.
pub fn page_bounds(
    sizes: &[usize],
    page: usize,
    budget: usize,
) -> (std::ops::Range<usize>, usize, usize) {
    let mut starts = vec![0];
    let mut filled = 0;
    for (i, size) in sizes.iter().enumerate() {
        if filled > 0 && filled + size > budget {
            starts.push(i);
            filled = 0;
        }
        filled += size;
    }
    let pages = starts.len();
    let page = page.clamp(1, pages);
    let end = starts.get(page).copied().unwrap_or(sizes.len());
    (starts[page - 1]..end, page, pages)
}

/// Page `page` of `groups` (in their order, trouble first), at most `budget` workloads a page.
pub fn paginate(groups: Vec<NamespaceRollouts>, page: usize, budget: usize) -> RolloutPage {
    let sizes: Vec<usize> = groups.iter().map(|g| g.workloads.len()).collect();
    let (range, page, pages) = page_bounds(&sizes, page, budget);
    RolloutPage {
        namespaces: groups.len(),
        workloads: sizes.iter().sum(),
        groups: groups
            .into_iter()
            .skip(range.start)
            .take(range.len())
            .collect(),
        page,
        pages,
        clusters: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn workload_kinds_parse_as_kubectl_spells_them() {
        for (text, kind) in [
            ("deployments", WorkloadKind::Deployment),
            ("Deployment", WorkloadKind::Deployment),
            ("deploy", WorkloadKind::Deployment),
            ("STS", WorkloadKind::StatefulSet),
            ("daemonsets", WorkloadKind::DaemonSet),
        ] {
            assert_eq!(WorkloadKind::parse(text), Ok(kind), "{text}");
            assert_eq!(WorkloadKind::parse(kind.resource()), Ok(kind));
        }
        let refused = WorkloadKind::parse("<b>pods</b>").expect_err("not a kind");
        assert!(
            refused.contains("deployments, statefulsets or daemonsets"),
            "{refused}"
        );
    }

    use super::*;
    use std::collections::BTreeMap;

    fn web() -> DeploymentStatus {
        DeploymentStatus {
            name: "web".to_owned(),
            generation: 3,
            observed_generation: 3,
            replicas: Some(3),
            status_replicas: 3,
            updated_replicas: 3,
            available_replicas: 3,
            progressing_reason: Some("NewReplicaSetAvailable".to_owned()),
            ..DeploymentStatus::default()
        }
    }

    #[test]
    fn deployment_branches_follow_kubectl_in_order() {
        let done = deployment(&web());
        assert_eq!(done.state, RolloutState::Complete);
        assert_eq!(done.message, "deployment \"web\" successfully rolled out");

        let unobserved = DeploymentStatus {
            generation: 4,
            ..web()
        };
        assert_eq!(
            deployment(&unobserved).message,
            "Waiting for deployment spec update to be observed..."
        );

        let stalled = DeploymentStatus {
            progressing_reason: Some(PROGRESS_DEADLINE_EXCEEDED.to_owned()),
            updated_replicas: 1,
            ..web()
        };
        let s = deployment(&stalled);
        assert_eq!(s.state, RolloutState::Stalled);
        assert_eq!(
            s.message,
            "deployment \"web\" exceeded its progress deadline"
        );

        let updating = DeploymentStatus {
            updated_replicas: 1,
            status_replicas: 4,
            ..web()
        };
        assert_eq!(
            deployment(&updating).message,
            "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated..."
        );

        let terminating = DeploymentStatus {
            status_replicas: 5,
            ..web()
        };
        assert_eq!(
            deployment(&terminating).message,
            "Waiting for deployment \"web\" rollout to finish: 2 old replicas are pending termination..."
        );

        let unavailable = DeploymentStatus {
            available_replicas: 2,
            ..web()
        };
        let u = deployment(&unavailable);
        assert_eq!(u.state, RolloutState::Progressing);
        assert_eq!(
            u.message,
            "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available..."
        );
    }

    #[test]
    fn a_paused_deployment_is_paused_unless_stalled() {
        let paused = DeploymentStatus {
            paused: true,
            updated_replicas: 1,
            ..web()
        };
        let p = deployment(&paused);
        assert_eq!(p.state, RolloutState::Paused);
        assert!(p.message.contains("1 out of 3"), "{}", p.message);
        let stalled = DeploymentStatus {
            progressing_reason: Some(PROGRESS_DEADLINE_EXCEEDED.to_owned()),
            ..paused
        };
        assert_eq!(deployment(&stalled).state, RolloutState::Stalled);
    }

    fn db() -> StatefulSetStatus {
        StatefulSetStatus {
            name: "db".to_owned(),
            generation: 2,
            observed_generation: 2,
            replicas: Some(3),
            strategy: "RollingUpdate".to_owned(),
            rolling_update: false,
            partition: None,
            ready_replicas: 3,
            updated_replicas: 3,
            current_replicas: 3,
            current_revision: "db-7c9".to_owned(),
            update_revision: "db-7c9".to_owned(),
        }
    }

    #[test]
    fn stateful_set_branches_follow_kubectl() {
        let done = stateful_set(&db());
        assert_eq!(done.state, RolloutState::Complete);
        assert_eq!(
            done.message,
            "statefulset rolling update complete 3 pods at revision db-7c9..."
        );
        let on_delete = StatefulSetStatus {
            strategy: "OnDelete".to_owned(),
            ..db()
        };
        assert_eq!(stateful_set(&on_delete).state, RolloutState::Unknown);
        let never_observed = StatefulSetStatus {
            observed_generation: 0,
            ..db()
        };
        assert_eq!(
            stateful_set(&never_observed).message,
            "Waiting for statefulset spec update to be observed..."
        );
        let not_ready = StatefulSetStatus {
            ready_replicas: 1,
            ..db()
        };
        assert_eq!(
            stateful_set(&not_ready).message,
            "Waiting for 2 pods to be ready..."
        );
        let rolling = StatefulSetStatus {
            update_revision: "db-8d1".to_owned(),
            updated_replicas: 1,
            ..db()
        };
        assert_eq!(
            stateful_set(&rolling).message,
            "waiting for statefulset rolling update to complete 1 pods at revision db-8d1..."
        );
        let partitioned = StatefulSetStatus {
            rolling_update: true,
            partition: Some(1),
            updated_replicas: 1,
            ..db()
        };
        assert_eq!(
            stateful_set(&partitioned).message,
            "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated..."
        );
        let partition_done = StatefulSetStatus {
            updated_replicas: 2,
            ..partitioned
        };
        let p = stateful_set(&partition_done);
        assert_eq!(p.state, RolloutState::Complete);
        assert_eq!(
            p.message,
            "partitioned roll out complete: 2 new pods have been updated..."
        );
    }

    #[test]
    fn daemon_set_branches_follow_kubectl() {
        let agent = DaemonSetStatus {
            name: "agent".to_owned(),
            generation: 5,
            observed_generation: 5,
            strategy: "RollingUpdate".to_owned(),
            desired_number_scheduled: 3,
            updated_number_scheduled: 3,
            number_available: 3,
        };
        assert_eq!(
            daemon_set(&agent).message,
            "daemon set \"agent\" successfully rolled out"
        );
        let updating = DaemonSetStatus {
            updated_number_scheduled: 1,
            ..agent.clone()
        };
        assert_eq!(
            daemon_set(&updating).message,
            "Waiting for daemon set \"agent\" rollout to finish: 1 out of 3 new pods have been updated..."
        );
        let unavailable = DaemonSetStatus {
            number_available: 2,
            ..agent.clone()
        };
        assert_eq!(
            daemon_set(&unavailable).message,
            "Waiting for daemon set \"agent\" rollout to finish: 2 of 3 updated pods are available..."
        );
        let unobserved = DaemonSetStatus {
            generation: 6,
            ..agent.clone()
        };
        assert_eq!(daemon_set(&unobserved).state, RolloutState::Progressing);
        let on_delete = DaemonSetStatus {
            strategy: "OnDelete".to_owned(),
            ..agent
        };
        assert_eq!(daemon_set(&on_delete).state, RolloutState::Unknown);
    }

    #[test]
    fn scaling_is_refused_when_the_quota_would_run_out() {
        let map = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let per_pod: std::collections::BTreeMap<String, f64> =
            [("requests.cpu".to_owned(), 0.5)].into_iter().collect();
        let hard = map(&[("requests.cpu", "2"), ("pods", "10")]);
        let used = map(&[("requests.cpu", "1"), ("pods", "2")]);
        assert_eq!(scale_fits("web", 2, 4, &per_pod, &hard, &used), Ok(()));
        let refused = scale_fits("web", 2, 5, &per_pod, &hard, &used).expect_err("over");
        assert_eq!(
            refused,
            "scaling web to 5 needs 1.5 more requests.cpu, but the quota has 1 left (1 of 2 used)"
        );
        assert_eq!(
            scale_fits("web", 2, 0, &per_pod, &hard, &used),
            Ok(()),
            "down"
        );
        assert!(scale_fits("web", 2, -1, &per_pod, &hard, &used).is_err());
        let pods = scale_fits("web", 2, 13, &BTreeMap::new(), &hard, &map(&[])).expect_err("pods");
        assert!(pods.contains("more pods"), "{pods}");
    }

    #[test]
    fn actions_apply_to_the_kinds_kubectl_allows() {
        assert!(
            WorkloadAction::Restart
                .applies_to(WorkloadKind::DaemonSet)
                .is_ok()
        );
        assert!(
            WorkloadAction::Scale { replicas: 2 }
                .applies_to(WorkloadKind::DaemonSet)
                .is_err()
        );
        assert!(
            WorkloadAction::Rollback { revision: 1 }
                .applies_to(WorkloadKind::StatefulSet)
                .is_err()
        );
        assert!(
            WorkloadAction::Pause
                .applies_to(WorkloadKind::Deployment)
                .is_ok()
        );
    }

    #[test]
    fn numbers_are_bounded_whatever_the_quota() {
        let deployment = WorkloadKind::Deployment;
        for replicas in [-1, MAX_REPLICAS + 1, i32::MAX] {
            let refused = WorkloadAction::Scale { replicas }
                .applies_to(deployment)
                .expect_err("out of bounds");
            assert!(refused.contains("between 0 and 1000"), "{refused}");
        }
        for replicas in [0, 3, MAX_REPLICAS] {
            assert!(
                WorkloadAction::Scale { replicas }
                    .applies_to(deployment)
                    .is_ok()
            );
        }
        assert!(
            WorkloadAction::Rollback { revision: -5 }
                .applies_to(deployment)
                .is_err()
        );
    }

    #[test]
    fn blockers_name_the_reason_a_person_acts_on() {
        let ready = PodState {
            phase: "Running".to_owned(),
            ready: true,
            ..PodState::default()
        };
        assert_eq!(blocker(&ready), None);
        let crashing = PodState {
            ready: false,
            waiting: vec!["CrashLoopBackOff".to_owned()],
            restarts: 4,
            ..ready.clone()
        };
        assert_eq!(blocker(&crashing).as_deref(), Some("CrashLoopBackOff"));
        let pending = PodState {
            phase: "Pending".to_owned(),
            ready: false,
            unschedulable: Some("0/3 nodes are available: 3 Insufficient cpu.".to_owned()),
            ..PodState::default()
        };
        assert_eq!(
            blocker(&pending).as_deref(),
            Some("Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.")
        );
        let unready = PodState {
            ready: false,
            ..ready.clone()
        };
        assert_eq!(blocker(&unready).as_deref(), Some("not ready"));
        let leaving = PodState {
            terminating: true,
            ..unready
        };
        assert_eq!(blocker(&leaving), None);
    }

    #[test]
    fn progress_counts_updated_and_available_halves() {
        assert_eq!(progress(4, 4, 4), 100.0);
        assert_eq!(progress(4, 2, 0), 25.0);
        assert_eq!(progress(4, 4, 2), 75.0);
        assert_eq!(progress(0, 0, 0), 100.0, "scaled to zero is done");
        assert_eq!(progress(2, 5, 5), 100.0, "surge does not overshoot");
    }

    #[test]
    fn pages_hold_whole_namespaces_up_to_the_budget() {
        let sizes = [400, 400, 400, 1_500, 10];
        assert_eq!(page_bounds(&sizes, 1, 1_000), (0..2, 1, 4));
        assert_eq!(page_bounds(&sizes, 2, 1_000), (2..3, 2, 4));
        // Bigger than a page: a page of its own, never split.
        assert_eq!(page_bounds(&sizes, 3, 1_000), (3..4, 3, 4));
        assert_eq!(page_bounds(&sizes, 4, 1_000), (4..5, 4, 4));
        // Out of range is the nearest page, not an error page.
        assert_eq!(page_bounds(&sizes, 0, 1_000), (0..2, 1, 4));
        assert_eq!(page_bounds(&sizes, 99, 1_000), (4..5, 4, 4));
        assert_eq!(page_bounds(&[], 3, 1_000), (0..0, 1, 1));
        assert_eq!(page_bounds(&[1_000, 1], 1, 1_000), (0..1, 1, 2));
    }

    #[test]
    fn a_workloads_page_names_its_cluster_unless_it_is_the_home_one() {
        assert_eq!(
            workload_href("", WorkloadKind::Deployment, "shop", "web"),
            "/rollouts/deployment/shop/web"
        );
        assert_eq!(
            workload_href("us-dev", WorkloadKind::StatefulSet, "shop", "db"),
            "/rollouts/statefulset/shop/db?cluster=us-dev"
        );
    }

    #[test]
    fn a_page_counts_the_whole_answer() {
        let group = |name: &str| NamespaceRollouts {
            cluster: String::new(),
            namespace: name.to_owned(),
            team: None,
            score: 100,
            workloads: Vec::new(),
        };
        let page = paginate(vec![group("a"), group("b")], 1, 1_000);
        assert_eq!((page.page, page.pages, page.namespaces), (1, 1, 2));
        assert_eq!(page.groups.len(), 2);
    }
}
