//! One workload in full: its pods as `kubectl get pods` shows them, and its recent events.

use serde::{Deserialize, Serialize};

use crate::rollout::{WorkloadKind, WorkloadView};

impl WorkloadKind {
    /// The kind's name in a page address (`/rollouts/deployment/…`).
    pub fn slug(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::StatefulSet => "statefulset",
            WorkloadKind::DaemonSet => "daemonset",
        }
    }

    /// The kind a page address names, in kubectl's spellings (`deploy`, `sts`, `ds` too).
    pub fn from_slug(slug: &str) -> Option<WorkloadKind> {
        match slug.to_ascii_lowercase().as_str() {
            "deployment" | "deployments" | "deploy" => Some(WorkloadKind::Deployment),
            "statefulset" | "statefulsets" | "sts" => Some(WorkloadKind::StatefulSet),
            "daemonset" | "daemonsets" | "ds" => Some(WorkloadKind::DaemonSet),
            _ => None,
        }
    }
}

/// What a container reports about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ContainerState {
    /// No state reported yet.
    #[default]
    Unknown,
    Waiting {
        reason: String,
    },
    Running,
    Terminated {
        reason: String,
        exit_code: i32,
        signal: i32,
    },
}

/// A container's status as the pod reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerReport {
    pub state: ContainerState,
    pub ready: bool,
    pub restarts: i32,
}

/// The parts of a pod that `kubectl get pods` turns into its STATUS, READY and RESTARTS columns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodReport {
    pub phase: String,
    /// `status.reason` (e.g. `Evicted`, `NodeLost`).
    pub reason: Option<String>,
    /// How many init containers the spec has, and what they report.
    pub init_total: usize,
    pub init: Vec<ContainerReport>,
    /// How many containers the spec has, and what they report.
    pub total: usize,
    pub containers: Vec<ContainerReport>,
    /// The `Initialized` condition is true.
    pub initialized: bool,
    /// The `Ready` condition is true.
    pub ready_condition: bool,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
}

/// A pod's columns, as kubectl prints them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodColumns {
    pub status: String,
    pub ready_containers: usize,
    pub containers: usize,
    pub restarts: i32,
}

impl PodColumns {
    /// READY as kubectl prints it, e.g. `1/2`.
    pub fn ready(&self) -> String {
        format!("{}/{}", self.ready_containers, self.containers)
    }

    /// Running with every container ready, or finished well.
    pub fn healthy(&self) -> bool {
        (self.status == "Running" && self.ready_containers == self.containers)
            || self.status == "Completed"
    }
}

/// kubectl's STATUS / READY / RESTARTS of a pod (its `printPod`, without restartable init
/// containers, which Berth's workloads do not use yet).
pub fn pod_columns(pod: &PodReport) -> PodColumns {
    let mut restarts = 0;
    let mut ready = 0;
    let mut status = pod.reason.clone().unwrap_or_else(|| pod.phase.clone());
    let mut initializing = false;
    for (i, c) in pod.init.iter().enumerate() {
        restarts += c.restarts;
        match &c.state {
            ContainerState::Terminated { exit_code: 0, .. } => continue,
            ContainerState::Terminated {
                reason,
                exit_code,
                signal,
            } => {
                status = if !reason.is_empty() {
                    format!("Init:{reason}")
                } else if *signal != 0 {
                    format!("Init:Signal:{signal}")
                } else {
                    format!("Init:ExitCode:{exit_code}")
                };
            }
            ContainerState::Waiting { reason }
                if !reason.is_empty() && reason != "PodInitializing" =>
            {
                status = format!("Init:{reason}");
            }
            _ => status = format!("Init:{i}/{}", pod.init_total),
        }
        initializing = true;
        break;
    }
    if !initializing || pod.initialized {
        restarts = 0;
        let mut running = false;
        for c in pod.containers.iter().rev() {
            restarts += c.restarts;
            match &c.state {
                ContainerState::Waiting { reason } if !reason.is_empty() => {
                    status = reason.clone();
                }
                ContainerState::Terminated { reason, .. } if !reason.is_empty() => {
                    status = reason.clone();
                }
                ContainerState::Terminated {
                    exit_code, signal, ..
                } => {
                    status = if *signal != 0 {
                        format!("Signal:{signal}")
                    } else {
                        format!("ExitCode:{exit_code}")
                    };
                }
                ContainerState::Running if c.ready => {
                    running = true;
                    ready += 1;
                }
                _ => {}
            }
        }
        if status == "Completed" && running {
            status = if pod.ready_condition {
                "Running".to_owned()
            } else {
                "NotReady".to_owned()
            };
        }
    }
    let terminal = pod.phase == "Succeeded" || pod.phase == "Failed";
    if pod.deleting && pod.reason.as_deref() == Some("NodeLost") {
        status = "Unknown".to_owned();
    } else if pod.deleting && !terminal {
        status = "Terminating".to_owned();
    }
    PodColumns {
        status,
        ready_containers: ready,
        containers: pod.total,
        restarts,
    }
}

/// A pod of the workload, one row of the detail page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PodRow {
    pub name: String,
    /// kubectl's STATUS column.
    pub status: String,
    /// kubectl's READY column.
    pub ready: String,
    pub restarts: i32,
    pub node: Option<String>,
    /// RFC 3339.
    pub created_at: Option<String>,
    /// The revision the pod belongs to (Deployments: its ReplicaSet's revision).
    pub revision: Option<String>,
    /// Whether the pod counts as healthy (running and ready, or finished well).
    pub healthy: bool,
}

/// One event about the workload, its ReplicaSets or its pods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventRow {
    /// `Normal` or `Warning`.
    pub kind: String,
    pub reason: String,
    /// `Kind/name` of the object it is about.
    pub object: String,
    pub message: String,
    pub count: i32,
    /// RFC 3339.
    pub last_seen: Option<String>,
}

/// How many events the detail page shows, newest first.
pub const MAX_EVENTS: usize = 30;

/// Events newest first, at most [`MAX_EVENTS`] (an event without a time counts as oldest).
/// Repeats of one event are folded first: a controller refused by the quota writes one event
/// per pod it tried (each naming that pod), and thirty rows of the same refusal hide the rest.
pub fn recent_events(events: Vec<EventRow>) -> Vec<EventRow> {
    let mut events = fold_repeats(events);
    // RFC 3339 in UTC sorts as text.
    events.sort_by(|a, b| b.last_seen.cmp(&a.last_seen));
    events.truncate(MAX_EVENTS);
    events
}

/// A message with the generated pod name it names (`Error creating: pods "web-7d9f-x2k4q" is
/// forbidden: …`) left out, so repeats about different pods read as one.
fn repeat_key(message: &str) -> String {
    const POD: &str = "pods \"";
    if let Some(start) = message.find(POD) {
        let rest = &message[start + POD.len()..];
        if let Some(end) = rest.find('"') {
            return format!("{}{POD}{}", &message[..start], &rest[end..]);
        }
    }
    message.to_owned()
}

/// Events of one kind, reason, object and message (pod names aside) as one row: counts
/// added, the newest time and wording kept.
fn fold_repeats(events: Vec<EventRow>) -> Vec<EventRow> {
    let mut folded: Vec<EventRow> = Vec::with_capacity(events.len());
    let mut at: std::collections::HashMap<(String, String, String, String), usize> =
        std::collections::HashMap::new();
    for e in events {
        let key = (
            e.kind.clone(),
            e.reason.clone(),
            e.object.clone(),
            repeat_key(&e.message),
        );
        match at.get(&key) {
            Some(&i) => {
                let kept = &mut folded[i];
                kept.count = kept.count.saturating_add(e.count.max(1));
                if e.last_seen > kept.last_seen {
                    kept.last_seen = e.last_seen;
                    kept.message = e.message;
                }
            }
            None => {
                at.insert(key, folded.len());
                folded.push(EventRow {
                    count: e.count.max(1),
                    ..e
                });
            }
        }
    }
    folded
}

/// Whether an event's object (`Kind/name`) is the workload `kind`/`name` itself or, for a
/// Deployment, one of its ReplicaSets (`<name>-<pod-template-hash>`, the hash without
/// dashes: `web-next-7d9f` is web-next's, not web's).
pub fn about_workload(object: &str, kind: WorkloadKind, name: &str) -> bool {
    let Some((object_kind, object_name)) = object.split_once('/') else {
        return false;
    };
    if object_kind == kind.as_str() {
        return object_name == name;
    }
    kind == WorkloadKind::Deployment
        && object_kind == "ReplicaSet"
        && object_name
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|hash| !hash.is_empty() && !hash.contains('-'))
}

/// Why a workload lacks pods: its controller's latest refusal to create one (the quota, a
/// missing claim, a policy), with how often it was refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refusal {
    /// `Kind/name` of the controller refused (the workload or one of its ReplicaSets).
    pub object: String,
    pub message: String,
    pub count: i32,
    /// RFC 3339.
    pub last_seen: Option<String>,
}

/// [`newest_refusal`] while the workload has fewer ready pods than it wants; a refusal a finished rollout left behind is
/// history, and the events table keeps it.
pub fn creation_refused(workload: &WorkloadView, events: &[EventRow]) -> Option<Refusal> {
    lacks_pods(workload.desired, workload.ready, workload.updated)
        .then(|| newest_refusal(events))
        .flatten()
}

/// Whether fewer pods are ready, or of the current template, than wanted.
pub fn lacks_pods(desired: i32, ready: i32, updated: i32) -> bool {
    ready < desired || updated < desired
}

/// The newest `FailedCreate` warning among `events` (folded, as [`recent_events`] leaves
/// them), whatever the workload's state.
pub fn newest_refusal(events: &[EventRow]) -> Option<Refusal> {
    events
        .iter()
        .filter(|e| e.kind == "Warning" && e.reason == "FailedCreate")
        .max_by(|a, b| a.last_seen.cmp(&b.last_seen))
        .map(|e| Refusal {
            object: e.object.clone(),
            message: e.message.clone(),
            count: e.count,
            last_seen: e.last_seen.clone(),
        })
}

/// The detail page of one workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkloadDetail {
    pub workload: WorkloadView,
    /// Pods unhealthy first, then by name.
    pub pods: Vec<PodRow>,
    pub events: Vec<EventRow>,
    /// While it lacks pods: why its controller could not make them.
    #[serde(default)]
    pub refused: Option<Refusal>,
}

/// Orders pods for reading: the ones that need attention first, then by name.
pub fn sort_pods(pods: &mut [PodRow]) {
    pods.sort_by(|a, b| a.healthy.cmp(&b.healthy).then_with(|| a.name.cmp(&b.name)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(ready: bool, restarts: i32) -> ContainerReport {
        ContainerReport {
            state: ContainerState::Running,
            ready,
            restarts,
        }
    }

    fn pod(containers: Vec<ContainerReport>) -> PodReport {
        PodReport {
            phase: "Running".to_owned(),
            total: containers.len(),
            containers,
            initialized: true,
            ready_condition: true,
            ..PodReport::default()
        }
    }

    #[test]
    fn a_ready_pod_is_running_with_every_container_ready() {
        let c = pod_columns(&pod(vec![running(true, 0), running(true, 2)]));
        assert_eq!(c.status, "Running");
        assert_eq!(c.ready(), "2/2");
        assert_eq!(c.restarts, 2);
        assert!(c.healthy());
    }

    #[test]
    fn a_waiting_container_names_the_status() {
        let crash = ContainerReport {
            state: ContainerState::Waiting {
                reason: "CrashLoopBackOff".to_owned(),
            },
            ready: false,
            restarts: 5,
        };
        let c = pod_columns(&pod(vec![running(true, 0), crash]));
        assert_eq!(c.status, "CrashLoopBackOff");
        assert_eq!(c.ready(), "1/2");
        assert_eq!(c.restarts, 5);
        assert!(!c.healthy());
    }

    #[test]
    fn terminated_containers_show_reason_signal_or_exit_code() {
        let term = |reason: &str, exit_code, signal| ContainerReport {
            state: ContainerState::Terminated {
                reason: reason.to_owned(),
                exit_code,
                signal,
            },
            ready: false,
            restarts: 0,
        };
        assert_eq!(pod_columns(&pod(vec![term("Error", 1, 0)])).status, "Error");
        assert_eq!(pod_columns(&pod(vec![term("", 0, 9)])).status, "Signal:9");
        assert_eq!(
            pod_columns(&pod(vec![term("", 137, 0)])).status,
            "ExitCode:137"
        );
        // A finished sidecar beside a running container: kubectl says Running, or NotReady.
        let mut done_beside_running = pod(vec![term("Completed", 0, 0), running(true, 0)]);
        assert_eq!(pod_columns(&done_beside_running).status, "Running");
        done_beside_running.ready_condition = false;
        assert_eq!(pod_columns(&done_beside_running).status, "NotReady");
    }

    #[test]
    fn init_containers_report_their_progress_or_failure() {
        let mut p = pod(vec![ContainerReport {
            state: ContainerState::Waiting {
                reason: "PodInitializing".to_owned(),
            },
            ..ContainerReport::default()
        }]);
        p.phase = "Pending".to_owned();
        p.initialized = false;
        p.init_total = 2;
        p.init = vec![
            ContainerReport {
                state: ContainerState::Terminated {
                    reason: "Completed".to_owned(),
                    exit_code: 0,
                    signal: 0,
                },
                ..ContainerReport::default()
            },
            running(false, 0),
        ];
        assert_eq!(pod_columns(&p).status, "Init:1/2");
        p.init[1] = ContainerReport {
            state: ContainerState::Waiting {
                reason: "CrashLoopBackOff".to_owned(),
            },
            ready: false,
            restarts: 3,
        };
        let c = pod_columns(&p);
        assert_eq!(c.status, "Init:CrashLoopBackOff");
        assert_eq!(c.restarts, 3);
        p.init[1].state = ContainerState::Terminated {
            reason: String::new(),
            exit_code: 2,
            signal: 0,
        };
        assert_eq!(pod_columns(&p).status, "Init:ExitCode:2");
    }

    #[test]
    fn pending_pods_keep_their_phase_and_deleted_ones_terminate() {
        let mut p = PodReport {
            phase: "Pending".to_owned(),
            total: 1,
            ..PodReport::default()
        };
        assert_eq!(pod_columns(&p).status, "Pending");
        assert_eq!(pod_columns(&p).ready(), "0/1");
        assert!(!pod_columns(&p).healthy());
        p.deleting = true;
        assert_eq!(pod_columns(&p).status, "Terminating");
        p.reason = Some("NodeLost".to_owned());
        assert_eq!(pod_columns(&p).status, "Unknown");
        let evicted = PodReport {
            phase: "Failed".to_owned(),
            reason: Some("Evicted".to_owned()),
            deleting: true,
            total: 1,
            ..PodReport::default()
        };
        assert_eq!(
            pod_columns(&evicted).status,
            "Evicted",
            "terminal pods stay"
        );
    }

    #[test]
    fn events_come_newest_first_and_are_capped() {
        let event = |n: usize| EventRow {
            kind: "Normal".to_owned(),
            reason: "Pulled".to_owned(),
            object: format!("Pod/p{n}"),
            message: String::new(),
            count: 1,
            last_seen: Some(format!("2026-11-22T10:{:02}:00Z", n % 60)),
        };
        let mut events: Vec<EventRow> = (0..45).map(event).collect();
        events.push(EventRow {
            last_seen: None,
            ..event(99)
        });
        let recent = recent_events(events);
        assert_eq!(recent.len(), MAX_EVENTS);
        assert_eq!(recent[0].last_seen.as_deref(), Some("2026-11-22T10:44:00Z"));
        assert!(recent.iter().all(|e| e.last_seen.is_some()));
    }

    fn refused(object: &str, pod: &str, at: &str, used: &str) -> EventRow {
        EventRow {
            kind: "Warning".to_owned(),
            reason: "FailedCreate".to_owned(),
            object: object.to_owned(),
            message: format!(
                "Error creating: pods \"{pod}\" is forbidden: exceeded quota: team-quota, requested: requests.cpu=150m, used: requests.cpu={used}, limited: requests.cpu=6"
            ),
            count: 1,
            last_seen: Some(at.to_owned()),
        }
    }

    #[test]
    fn repeats_of_a_refusal_fold_into_one_row_with_their_count() {
        let mut events: Vec<EventRow> = (0..30)
            .map(|n| {
                refused(
                    "ReplicaSet/fraud-scorer-7d9f",
                    &format!("fraud-scorer-7d9f-{n:05}"),
                    &format!("2026-11-22T10:{n:02}:00Z"),
                    "9",
                )
            })
            .collect();
        // A different quota reading is a different refusal; another object too.
        events.push(refused(
            "ReplicaSet/fraud-scorer-7d9f",
            "x",
            "2026-11-22T09:00:00Z",
            "8",
        ));
        events.push(refused(
            "ReplicaSet/api-1",
            "api-1-a",
            "2026-11-22T09:00:00Z",
            "9",
        ));
        let recent = recent_events(events);
        assert_eq!(recent.len(), 3);
        assert_eq!(recent[0].count, 30);
        assert_eq!(recent[0].last_seen.as_deref(), Some("2026-11-22T10:29:00Z"));
        assert!(
            recent[0].message.contains("fraud-scorer-7d9f-00029"),
            "the newest wording"
        );
    }

    #[test]
    fn events_belong_to_the_workload_or_its_own_replica_sets() {
        use WorkloadKind::*;
        assert!(about_workload("Deployment/web", Deployment, "web"));
        assert!(about_workload("ReplicaSet/web-7d9f8c", Deployment, "web"));
        assert!(!about_workload(
            "ReplicaSet/web-next-7d9f8c",
            Deployment,
            "web"
        ));
        assert!(about_workload(
            "ReplicaSet/web-next-7d9f8c",
            Deployment,
            "web-next"
        ));
        assert!(!about_workload("ReplicaSet/web-", Deployment, "web"));
        assert!(about_workload("StatefulSet/ledger", StatefulSet, "ledger"));
        assert!(!about_workload(
            "ReplicaSet/ledger-abc",
            StatefulSet,
            "ledger"
        ));
        assert!(!about_workload("Pod/web-7d9f8c-x2k4q", Deployment, "web"));
        assert!(!about_workload("nonsense", Deployment, "web"));
    }

    #[test]
    fn a_refusal_is_the_cause_only_while_pods_are_missing() {
        let events = recent_events(vec![
            refused(
                "StatefulSet/ledger",
                "ledger-0",
                "2026-11-22T10:00:00Z",
                "9",
            ),
            refused(
                "StatefulSet/ledger",
                "ledger-0",
                "2026-11-22T10:05:00Z",
                "9",
            ),
        ]);
        assert!(lacks_pods(2, 0, 0));
        assert!(lacks_pods(2, 2, 1), "a rollout half done");
        assert!(!lacks_pods(2, 2, 2));
        let cause = newest_refusal(&events).expect("refused");
        assert_eq!(cause.count, 2);
        assert!(cause.message.contains("exceeded quota"));
        assert_eq!(newest_refusal(&recent_events(Vec::new())), None);
    }

    #[test]
    fn unhealthy_pods_come_first() {
        let row = |name: &str, healthy| PodRow {
            name: name.to_owned(),
            status: String::new(),
            ready: String::new(),
            restarts: 0,
            node: None,
            created_at: None,
            revision: None,
            healthy,
        };
        let mut pods = vec![row("a", true), row("c", false), row("b", false)];
        sort_pods(&mut pods);
        let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "a"]);
    }

    #[test]
    fn kinds_round_trip_through_their_slugs() {
        for kind in [
            WorkloadKind::Deployment,
            WorkloadKind::StatefulSet,
            WorkloadKind::DaemonSet,
        ] {
            assert_eq!(WorkloadKind::from_slug(kind.slug()), Some(kind));
        }
        assert_eq!(
            WorkloadKind::from_slug("sts"),
            Some(WorkloadKind::StatefulSet)
        );
        assert_eq!(WorkloadKind::from_slug("cronjob"), None);
    }
}
