//! Each kind of idle finding from the facts the server gathered: whether it is one, what it
//! costs, what it says and what an owner can do. The server only fetches and hands them over.

use crate::cost::Rates;

use super::{
    ABANDONED_DAYS, FindingKind, IdleAction, IdleFinding, MIN_MONTHLY_SAVING, Resources,
    UsageStats, abandoned, cpu_quantity, memory_quantity, monthly_cost, monthly_of_days,
    monthly_saving, over_provisioned, patch_for, recommend,
};

const DAY: i64 = 86_400;
/// A namespace this close to its expiry is a finding.
const EXPIRY_WARNING: i64 = 3 * DAY;

/// Whose a finding is: the namespace's team and contact, and whether the viewer may act there.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Owner {
    pub team: Option<String>,
    pub contact: Option<String>,
    pub can_act: bool,
}

fn finding(kind: FindingKind, id: String, namespace: &str, owner: Option<&Owner>) -> IdleFinding {
    IdleFinding {
        kind,
        id,
        cluster: String::new(),
        namespace: namespace.to_owned(),
        workload: String::new(),
        team: owner.and_then(|o| o.team.clone()),
        contact: owner.and_then(|o| o.contact.clone()),
        summary: String::new(),
        monthly_cost: 0.0,
        action: IdleAction::Advice(String::new()),
        can_act: false,
        recommendation: None,
        current: None,
    }
}

/// A namespace expired and still here, about to expire, or without pods (`expires_at` and
/// `now` in unix seconds).
pub fn namespace(
    name: &str,
    pods: usize,
    expires_at: Option<i64>,
    now: i64,
    owner: &Owner,
) -> Option<IdleFinding> {
    let summary = match (pods, expires_at) {
        (_, Some(at)) if at <= now => {
            format!("expired {} day(s) ago and still here", (now - at) / DAY)
        }
        (_, Some(at)) if at - now <= EXPIRY_WARNING => format!(
            "expires in {} hour(s): extend it or move what matters",
            (at - now) / 3600
        ),
        (0, _) => "has no pods: delete it, or let it expire".to_owned(),
        _ => return None,
    };
    Some(IdleFinding {
        summary: format!("namespace {name} {summary}"),
        action: IdleAction::Advice("Extend or delete it from the onboarding page".to_owned()),
        ..finding(
            FindingKind::Namespace,
            format!("namespace/{name}"),
            name,
            Some(owner),
        )
    })
}

/// A workload container as the cluster runs it and the usage history says of it.
#[derive(Clone, Debug)]
pub struct ContainerFacts<'a> {
    pub namespace: &'a str,
    /// `deployment`, `statefulset`, `daemonset`.
    pub kind: &'a str,
    pub workload: &'a str,
    pub container: &'a str,
    pub replicas: f64,
    pub current: Resources,
    pub usage: &'a UsageStats,
}

/// A container asking far more than it uses, with what VPA's recommender would set instead.
pub fn over_provisioned_container(
    facts: &ContainerFacts<'_>,
    rates: &Rates,
    owner: &Owner,
) -> Option<IdleFinding> {
    let rec = recommend(facts.usage);
    let saving = monthly_saving(&facts.current, &rec, facts.replicas, rates);
    if !over_provisioned(&facts.current, &rec, facts.usage.days, saving) {
        return None;
    }
    let patch = patch_for(&facts.current, &rec);
    let or_none = |v: Option<f64>, show: fn(f64) -> String| v.map(show).unwrap_or("no".into());
    let ContainerFacts {
        namespace,
        kind,
        workload,
        container,
        ..
    } = facts;
    Some(IdleFinding {
        workload: format!("{kind}/{workload}"),
        summary: format!(
            "{container} asks {} CPU / {} memory per pod; over {:.1} days it used at most {} / {} (P95): {} / {} will do",
            or_none(facts.current.cpu_request, cpu_quantity),
            or_none(facts.current.memory_request, memory_quantity),
            facts.usage.days,
            cpu_quantity(facts.usage.cpu_p95),
            memory_quantity(facts.usage.memory_p95),
            patch.cpu_request,
            patch.memory_request,
        ),
        monthly_cost: saving,
        action: IdleAction::ApplyRecommendation {
            container: (*container).to_owned(),
            patch,
        },
        can_act: owner.can_act,
        recommendation: Some(rec),
        current: Some(facts.current),
        ..finding(
            FindingKind::OverProvisioned,
            format!("over-provisioned/{namespace}/{kind}/{workload}/{container}"),
            namespace,
            Some(owner),
        )
    })
}

/// One day of a workload's history: CPU used and requested (cores), and its allocation
/// (core-hours and byte-hours) that cost is priced from.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WorkloadDay {
    pub cpu: f64,
    pub cpu_request: f64,
    pub cpu_alloc: f64,
    pub memory_alloc: f64,
}

/// A running workload that used next to no CPU on each of the last days (`owner_kind` as the
/// history names it: `Deployment`, `StatefulSet`).
pub fn abandoned_workload(
    namespace: &str,
    owner_kind: &str,
    name: &str,
    replicas: f64,
    days: &[WorkloadDay],
    rates: &Rates,
    owner: &Owner,
) -> Option<IdleFinding> {
    let cpu: Vec<f64> = days.iter().map(|d| d.cpu).collect();
    let request = days.iter().map(|d| d.cpu_request).sum::<f64>() / days.len().max(1) as f64;
    if replicas <= 0.0 || !abandoned(&cpu, request, ABANDONED_DAYS) {
        return None;
    }
    let allocations: Vec<(f64, f64)> = days.iter().map(|d| (d.cpu_alloc, d.memory_alloc)).collect();
    Some(IdleFinding {
        workload: format!("{owner_kind}/{name}"),
        summary: format!(
            "{name} used under 5 % of its CPU request on each of the last {} days",
            days.len()
        ),
        monthly_cost: monthly_of_days(&allocations, rates),
        action: IdleAction::ScaleToZero,
        can_act: owner.can_act,
        ..finding(
            FindingKind::Abandoned,
            format!("abandoned/{namespace}/{owner_kind}/{name}"),
            namespace,
            Some(owner),
        )
    })
}

/// A Deployment at zero replicas that has not changed for a week (`last_change` and `now` in
/// unix seconds).
pub fn scaled_to_zero(
    namespace: &str,
    name: &str,
    replicas: f64,
    last_change: Option<i64>,
    now: i64,
    owner: &Owner,
) -> Option<IdleFinding> {
    let stale = last_change.is_some_and(|t| now - t >= ABANDONED_DAYS as i64 * DAY);
    if replicas > 0.0 || !stale {
        return None;
    }
    Some(IdleFinding {
        workload: format!("deployment/{name}"),
        summary: format!("{name} has had zero replicas for a week or more"),
        action: IdleAction::Advice(format!(
            "Delete it if nobody needs it: kubectl -n {namespace} delete deployment {name}"
        )),
        ..finding(
            FindingKind::ScaledToZero,
            format!("scaled-to-zero/{namespace}/deployment/{name}"),
            namespace,
            Some(owner),
        )
    })
}

/// An object the last scan found nothing uses; Berth deletes the kinds it can delete safely,
/// and advises on the rest. `owner` is `None` for cluster-wide objects (volumes).
pub fn unused_object(
    kind: &str,
    namespace: &str,
    name: &str,
    reason: &str,
    monthly: f64,
    owner: Option<&Owner>,
) -> IdleFinding {
    let deletable = matches!(
        kind,
        "ConfigMap" | "Secret" | "PersistentVolumeClaim" | "Job" | "CronJob"
    );
    IdleFinding {
        workload: format!("{kind}/{name}"),
        summary: format!("{kind} {name}: {reason}"),
        monthly_cost: monthly,
        action: if deletable {
            IdleAction::Delete
        } else {
            IdleAction::Advice(format!("kubectl delete {} {name}", kind.to_lowercase()))
        },
        can_act: deletable && owner.is_some_and(|o| o.can_act),
        ..finding(
            FindingKind::Unused,
            format!("unused/{kind}/{namespace}/{name}"),
            namespace,
            owner,
        )
    }
}

/// Room on a node too small for a typical pod, when it costs enough to mention.
pub fn stranded_node(node: &str, cpu: f64, memory: f64, rates: &Rates) -> Option<IdleFinding> {
    let monthly = monthly_cost(cpu, memory, rates);
    if monthly < MIN_MONTHLY_SAVING {
        return None;
    }
    Some(IdleFinding {
        workload: format!("Node/{node}"),
        summary: format!(
            "node {node} has {} CPU / {} memory free that no typical pod fits",
            cpu_quantity(cpu),
            memory_quantity(memory)
        ),
        monthly_cost: monthly,
        action: IdleAction::Advice(
            "Pack pods tighter (requests that fit the nodes) or use node types sized to the pods"
                .to_owned(),
        ),
        ..finding(FindingKind::Stranded, format!("stranded/{node}"), "", None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    fn owner(can_act: bool) -> Owner {
        Owner {
            team: Some("payments".into()),
            contact: Some("p@example.com".into()),
            can_act,
        }
    }

    fn rates() -> Rates {
        Rates {
            cpu_core_hour: 0.04,
            memory_gib_hour: 0.005,
            gpu_hour: 0.0,
        }
    }

    #[test]
    fn namespaces_are_findings_when_expired_expiring_or_empty() {
        let o = owner(true);
        let expired = namespace("old", 3, Some(NOW - 2 * DAY), NOW, &o).expect("expired");
        assert_eq!(
            expired.summary,
            "namespace old expired 2 day(s) ago and still here"
        );
        assert_eq!(expired.id, "namespace/old");
        assert_eq!(expired.team.as_deref(), Some("payments"));
        assert!(
            !expired.can_act,
            "namespaces are extended or deleted elsewhere"
        );
        let soon = namespace("soon", 3, Some(NOW + 5 * 3600), NOW, &o).expect("expiring");
        assert!(
            soon.summary.contains("expires in 5 hour(s)"),
            "{}",
            soon.summary
        );
        let empty = namespace("empty", 0, None, NOW, &o).expect("empty");
        assert!(empty.summary.contains("has no pods"), "{}", empty.summary);
        assert_eq!(namespace("busy", 2, Some(NOW + 10 * DAY), NOW, &o), None);
        assert_eq!(namespace("busy", 2, None, NOW, &o), None);
    }

    #[test]
    fn an_over_provisioned_container_gets_a_patch_and_its_saving() {
        let usage = UsageStats {
            days: 7.0,
            cpu_p50: 0.05,
            cpu_p90: 0.08,
            cpu_p95: 0.1,
            memory_p50: 0.2 * GIB,
            memory_p90: 0.25 * GIB,
            memory_p95: 0.3 * GIB,
        };
        let facts = ContainerFacts {
            namespace: "pay",
            kind: "deployment",
            workload: "api",
            container: "app",
            replicas: 3.0,
            current: Resources {
                cpu_request: Some(2.0),
                memory_request: Some(4.0 * GIB),
                ..Resources::default()
            },
            usage: &usage,
        };
        let f = over_provisioned_container(&facts, &rates(), &owner(true)).expect("finding");
        assert_eq!(f.id, "over-provisioned/pay/deployment/api/app");
        assert_eq!(f.workload, "deployment/api");
        assert!(f.monthly_cost > 100.0, "{}", f.monthly_cost);
        assert!(f.summary.starts_with("app asks 2000m CPU"), "{}", f.summary);
        assert!(f.can_act);
        assert!(matches!(f.action, IdleAction::ApplyRecommendation { .. }));
        // Asking about what it uses is no finding.
        let fitting = ContainerFacts {
            current: Resources {
                cpu_request: Some(0.12),
                memory_request: Some(0.35 * GIB),
                ..Resources::default()
            },
            ..facts
        };
        assert_eq!(
            over_provisioned_container(&fitting, &rates(), &owner(true)),
            None
        );
    }

    #[test]
    fn a_workload_idle_every_day_is_abandoned_unless_already_at_zero() {
        let idle_day = WorkloadDay {
            cpu: 0.001,
            cpu_request: 1.0,
            cpu_alloc: 24.0,
            memory_alloc: 24.0 * GIB,
        };
        let days = vec![idle_day; ABANDONED_DAYS];
        let f = abandoned_workload(
            "pay",
            "Deployment",
            "ghost",
            1.0,
            &days,
            &rates(),
            &owner(false),
        )
        .expect("abandoned");
        assert_eq!(f.id, "abandoned/pay/Deployment/ghost");
        assert_eq!(f.action, IdleAction::ScaleToZero);
        assert!(!f.can_act);
        assert!(f.monthly_cost > 0.0);
        assert_eq!(
            abandoned_workload(
                "pay",
                "Deployment",
                "ghost",
                0.0,
                &days,
                &rates(),
                &owner(true)
            ),
            None
        );
        let busy = vec![
            WorkloadDay {
                cpu: 0.5,
                ..idle_day
            };
            ABANDONED_DAYS
        ];
        assert_eq!(
            abandoned_workload(
                "pay",
                "Deployment",
                "busy",
                1.0,
                &busy,
                &rates(),
                &owner(true)
            ),
            None
        );
    }

    #[test]
    fn zero_replicas_for_a_week_is_a_finding() {
        let o = owner(true);
        let week = ABANDONED_DAYS as i64 * DAY;
        assert!(scaled_to_zero("pay", "old", 0.0, Some(NOW - week), NOW, &o).is_some());
        assert_eq!(
            scaled_to_zero("pay", "new", 0.0, Some(NOW - DAY), NOW, &o),
            None
        );
        assert_eq!(
            scaled_to_zero("pay", "up", 2.0, Some(NOW - week), NOW, &o),
            None
        );
        assert_eq!(scaled_to_zero("pay", "unknown", 0.0, None, NOW, &o), None);
    }

    #[test]
    fn only_safe_kinds_of_unused_objects_are_deleted_from_the_report() {
        let o = owner(true);
        let cm = unused_object(
            "ConfigMap",
            "pay",
            "old",
            "mounted by no pod",
            0.0,
            Some(&o),
        );
        assert_eq!(cm.action, IdleAction::Delete);
        assert!(cm.can_act);
        let svc = unused_object("Service", "pay", "old", "no endpoints", 0.0, Some(&o));
        assert_eq!(
            svc.action,
            IdleAction::Advice("kubectl delete service old".into())
        );
        assert!(!svc.can_act);
        let pv = unused_object("PersistentVolume", "", "pv-1", "released", 4.0, None);
        assert!(!pv.can_act && pv.team.is_none());
    }

    #[test]
    fn stranded_room_worth_less_than_a_dime_is_not_mentioned() {
        assert_eq!(stranded_node("n1", 0.0, 0.0, &rates()), None);
        let f = stranded_node("n1", 1.5, 2.0 * GIB, &rates()).expect("stranded");
        assert_eq!(f.id, "stranded/n1");
        assert!(f.summary.contains("1500m CPU"), "{}", f.summary);
    }
}
