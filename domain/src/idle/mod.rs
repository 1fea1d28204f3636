//! Idle resources: rightsizing recommendations computed as the Vertical Pod Autoscaler
//! computes them, abandoned workloads, empty or expiring namespaces, and stranded capacity —
//! each finding with its owner, monthly cost and a suggested action.

pub mod findings;

use serde::{Deserialize, Serialize};

use crate::cost::{HOURS_PER_MONTH, Rates};

/// VPA's safety margin on every estimate.
pub const SAFETY_MARGIN: f64 = 0.15;
/// Floors, below which no recommendation goes (the 10m CPU / 20 MiB).
pub const MIN_CPU: f64 = 0.010;
pub const MIN_MEMORY: f64 = 20.0 * 1024.0 * 1024.0;
/// How much history a recommendation wants before it is offered (VPA keeps eight days; a day
/// is the least we act on).
pub const MIN_HISTORY_DAYS: f64 = 1.0;
/// A recommendation is worth showing when it saves at least this much a month.
pub const MIN_MONTHLY_SAVING: f64 = 0.10;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A container's usage over its history: percentiles in cores and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageStats {
    /// How much history there is, in days.
    pub days: f64,
    pub cpu_p50: f64,
    pub cpu_p90: f64,
    pub cpu_p95: f64,
    pub memory_p50: f64,
    pub memory_p90: f64,
    pub memory_p95: f64,
}

/// One resource's recommendation: the target and the band around it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Band {
    pub lower: f64,
    pub target: f64,
    pub upper: f64,
}

/// What VPA would set a container's requests to.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recommendation {
    pub cpu: Band,
    pub memory: Band,
}

/// VPA's recommender: target = P90 × (1 + margin); lower bound from P50 and upper bound from
/// P95, each widened by a confidence factor that shrinks as history grows (upper ×
/// (1 + 1/days), lower × (1 + 0.001/days)^-2); all at least the floors.
pub fn recommend(s: &UsageStats) -> Recommendation {
    let days = s.days.max(1.0 / 24.0);
    let margin = 1.0 + SAFETY_MARGIN;
    let upper_confidence = 1.0 + 1.0 / days;
    let lower_confidence = (1.0 + 0.001 / days).powi(-2);
    let band = |p50: f64, p90: f64, p95: f64, floor: f64| {
        let target = (p90 * margin).max(floor);
        Band {
            lower: (p50 * margin * lower_confidence).max(floor).min(target),
            target,
            upper: (p95 * margin * upper_confidence).max(target),
        }
    };
    Recommendation {
        cpu: band(s.cpu_p50, s.cpu_p90, s.cpu_p95, MIN_CPU),
        memory: band(s.memory_p50, s.memory_p90, s.memory_p95, MIN_MEMORY),
    }
}

/// CPU rounded up to whole millicores, as a quantity.
pub fn cpu_quantity(cores: f64) -> String {
    format!("{}m", (cores * 1000.0).ceil().max(1.0) as i64)
}

/// Memory rounded up to whole MiB, as a quantity.
pub fn memory_quantity(bytes: f64) -> String {
    format!("{}Mi", (bytes / 1024.0 / 1024.0).ceil().max(1.0) as i64)
}

/// A container's requests and limits now (cores, bytes; `None` where unset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resources {
    pub cpu_request: Option<f64>,
    pub memory_request: Option<f64>,
    pub cpu_limit: Option<f64>,
    pub memory_limit: Option<f64>,
}

/// The requests and limits to set, as quantities: requests at the target; limits follow when
/// they equalled the requests (so a Guaranteed pod stays Guaranteed) or would fall below the
/// new request; otherwise they stay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourcePatch {
    pub cpu_request: String,
    pub memory_request: String,
    pub cpu_limit: Option<String>,
    pub memory_limit: Option<String>,
}

pub fn patch_for(now: &Resources, rec: &Recommendation) -> ResourcePatch {
    let cpu = cpu_quantity(rec.cpu.target);
    let memory = memory_quantity(rec.memory.target);
    let cpu_value = (rec.cpu.target * 1000.0).ceil() / 1000.0;
    let memory_value = (rec.memory.target / 1024.0 / 1024.0).ceil() * 1024.0 * 1024.0;
    let follows = |limit: Option<f64>, request: Option<f64>, new: f64| match limit {
        Some(l) => request.is_some_and(|r| (r - l).abs() < 1e-9) || l < new,
        None => false,
    };
    ResourcePatch {
        cpu_limit: follows(now.cpu_limit, now.cpu_request, cpu_value).then(|| cpu.clone()),
        memory_limit: follows(now.memory_limit, now.memory_request, memory_value)
            .then(|| memory.clone()),
        cpu_request: cpu,
        memory_request: memory,
    }
}

/// VPA's history window, in days: what a recommendation reads.
pub const HISTORY_DAYS: i64 = 8;
/// Days of next to no CPU (or of zero replicas) before a workload counts as abandoned.
pub const ABANDONED_DAYS: usize = 7;

/// A month of `cpu` cores and `memory` bytes held all the time, at `rates`.
pub fn monthly_cost(cpu: f64, memory: f64, rates: &Rates) -> f64 {
    (cpu * rates.cpu_core_hour + memory / GIB * rates.memory_gib_hour) * HOURS_PER_MONTH
}

/// A month at the pace of the days seen: each day's allocation as (core-hours, byte-hours);
/// no days is nothing.
pub fn monthly_of_days(days: &[(f64, f64)], rates: &Rates) -> f64 {
    if days.is_empty() {
        return 0.0;
    }
    let cost: f64 = days
        .iter()
        .map(|(cpu, memory)| cpu * rates.cpu_core_hour + memory / GIB * rates.memory_gib_hour)
        .sum();
    cost / days.len() as f64 * HOURS_PER_MONTH / 24.0
}

/// What changing requests to the target saves a month for `replicas` pods (never negative: a
/// container asking too little is a risk, not a saving).
pub fn monthly_saving(now: &Resources, rec: &Recommendation, replicas: f64, rates: &Rates) -> f64 {
    let cpu = (now.cpu_request.unwrap_or(0.0) - rec.cpu.target).max(0.0);
    let memory = (now.memory_request.unwrap_or(0.0) - rec.memory.target).max(0.0);
    (cpu * rates.cpu_core_hour + memory / GIB * rates.memory_gib_hour)
        * HOURS_PER_MONTH
        * replicas.max(0.0)
}

/// Whether the requests sit above what VPA would allow (over the upper bound), with enough
/// history and enough money at stake to bother someone.
pub fn over_provisioned(now: &Resources, rec: &Recommendation, days: f64, saving: f64) -> bool {
    let over = now.cpu_request.is_some_and(|r| r > rec.cpu.upper)
        || now.memory_request.is_some_and(|r| r > rec.memory.upper);
    over && days >= MIN_HISTORY_DAYS && saving >= MIN_MONTHLY_SAVING
}

/// Which kind of finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FindingKind {
    /// Requests far above usage: apply the recommendation.
    OverProvisioned,
    /// Next to no CPU for days: scale to zero or delete.
    Abandoned,
    /// Scaled to zero and left so.
    ScaledToZero,
    /// A namespace past its expiry, about to expire, or without pods.
    Namespace,
    /// Node room too small for a typical pod.
    Stranded,
    /// ConfigMaps, Secrets, claims, volumes, Jobs and CronJobs nothing uses.
    Unused,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::OverProvisioned => "over-provisioned",
            FindingKind::Abandoned => "abandoned",
            FindingKind::ScaledToZero => "scaled-to-zero",
            FindingKind::Namespace => "namespace",
            FindingKind::Stranded => "stranded",
            FindingKind::Unused => "unused",
        }
    }
}

/// What an owner can do about a finding from the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum IdleAction {
    /// Patch the container's requests (and limits where they follow).
    ApplyRecommendation {
        container: String,
        patch: ResourcePatch,
    },
    ScaleToZero,
    /// Delete the object (`Kind/name` in the finding's namespace).
    Delete,
    /// Nothing Berth does from here; the text says what to do.
    Advice(String),
}

/// One finding of the idle report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdleFinding {
    pub kind: FindingKind,
    /// Stable id for the page (`kind/namespace/workload/container`), after `cluster:` when
    /// the finding is not the home cluster's (see [`on_cluster`]).
    pub id: String,
    /// The fleet's name of its cluster; empty for the home cluster (as a workload's).
    #[serde(default)]
    pub cluster: String,
    pub namespace: String,
    /// `Kind/name`, or empty for namespace and node findings.
    pub workload: String,
    pub team: Option<String>,
    pub contact: Option<String>,
    /// What was found, in a sentence.
    pub summary: String,
    /// Its cost (or what acting saves) a month.
    pub monthly_cost: f64,
    pub action: IdleAction,
    /// The viewer may act on it.
    pub can_act: bool,
    /// For over-provisioned containers: the recommendation and the requests now.
    pub recommendation: Option<Recommendation>,
    pub current: Option<Resources>,
}

/// What acting on a set of findings could save a month, each cost counted once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Savings {
    /// Workloads, objects and namespaces: a workload both abandoned and over-provisioned
    /// counts at the larger of the two (scaling it away saves its rightsizing too), and a
    /// namespace found idle as a whole counts at the larger of itself and its workloads.
    pub owned: f64,
    /// Node capacity no pod can use: saved only by packing pods tighter and removing nodes,
    /// so it is not added to `owned`.
    pub nodes: f64,
    /// Findings whose cost another finding already counts.
    pub overlapping: usize,
}

/// Places `findings` made from one cluster's objects on that cluster: its name, and ids that
/// name it, so the same namespace on two clusters gives two findings. The home cluster's keep
/// their ids (and links to them) as before the fleet.
pub fn on_cluster(findings: &mut [IdleFinding], cluster: &str, home: bool) {
    if home {
        return;
    }
    for f in findings {
        f.cluster = cluster.to_owned();
        f.id = format!("{cluster}:{}", f.id);
    }
}

/// The savings of `findings`, each cost counted once (see [`Savings`]).
pub fn savings(findings: &[IdleFinding]) -> Savings {
    use std::collections::BTreeMap;
    // (cluster, namespace) → (its own finding's cost, workload → kind → cost).
    type Workloads<'a> = BTreeMap<&'a str, BTreeMap<FindingKind, (f64, usize)>>;
    let mut namespaces: BTreeMap<(&str, &str), (Option<f64>, Workloads)> = BTreeMap::new();
    let mut out = Savings::default();
    for f in findings {
        match f.kind {
            FindingKind::Stranded => out.nodes += f.monthly_cost,
            FindingKind::Namespace => {
                let entry = namespaces
                    .entry((f.cluster.as_str(), f.namespace.as_str()))
                    .or_default();
                entry.0 = Some(entry.0.unwrap_or(0.0) + f.monthly_cost);
            }
            kind => {
                let by_kind = namespaces
                    .entry((f.cluster.as_str(), f.namespace.as_str()))
                    .or_default()
                    .1
                    .entry(f.workload.as_str())
                    .or_default();
                let slot = by_kind.entry(kind).or_insert((0.0, 0));
                slot.0 += f.monthly_cost;
                slot.1 += 1;
            }
        }
    }
    for (own, workloads) in namespaces.values() {
        let mut inside = 0.0;
        let mut findings_inside = 0;
        for by_kind in workloads.values() {
            let (best, _) = by_kind
                .values()
                .fold((0.0_f64, 0), |(best, n), &(cost, count)| {
                    (best.max(cost), n + count)
                });
            let kept = by_kind
                .values()
                .filter(|(cost, _)| *cost >= best)
                .map(|(_, count)| *count)
                .next()
                .unwrap_or(0);
            let all: usize = by_kind.values().map(|(_, count)| count).sum();
            out.overlapping += all - kept;
            findings_inside += kept;
            inside += best;
        }
        match own {
            Some(whole) if *whole >= inside => {
                out.owned += whole;
                out.overlapping += findings_inside;
            }
            Some(whole) => {
                out.owned += inside;
                // A namespace's advice that costs nothing overlaps nothing.
                out.overlapping += usize::from(*whole > 0.0);
            }
            None => out.owned += inside,
        }
    }
    out
}

/// The report: findings by monthly cost, largest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdleReport {
    pub findings: Vec<IdleFinding>,
    /// [`Savings::owned`] of every finding: what acting could save, nothing counted twice.
    pub monthly_total: f64,
    #[serde(default)]
    pub savings: Savings,
    /// When the unused-object scan last finished (`None`: not yet since the database began),
    /// so an empty section is not mistaken for a clean cluster.
    pub unused_scanned_at: Option<String>,
    /// The fleet's clusters whose objects were read, the home cluster first (a page names each
    /// finding's cluster when there are several).
    #[serde(default)]
    pub clusters: Vec<String>,
}

pub fn report(mut findings: Vec<IdleFinding>, unused_scanned_at: Option<String>) -> IdleReport {
    findings.sort_by(|a, b| {
        b.monthly_cost
            .total_cmp(&a.monthly_cost)
            .then_with(|| a.id.cmp(&b.id))
    });
    let savings = savings(&findings);
    IdleReport {
        monthly_total: savings.owned,
        savings,
        findings,
        unused_scanned_at,
        clusters: Vec::new(),
    }
}

/// A workload is abandoned when, over at least `days` of history, it used less than 5 % of its
/// CPU request (or under 5 millicores without one) on every day.
pub fn abandoned(daily_cpu_cores: &[f64], cpu_request: f64, days: usize) -> bool {
    if days == 0 || daily_cpu_cores.len() < days {
        return false;
    }
    let threshold = if cpu_request > 0.0 {
        cpu_request * 0.05
    } else {
        0.005
    };
    daily_cpu_cores.iter().all(|c| *c < threshold)
}

#[cfg(test)]
mod tests {
    #[test]
    fn monthly_figures_from_a_steady_allocation_agree() {
        let rates = Rates {
            cpu_core_hour: 0.03,
            memory_gib_hour: 0.004,
            gpu_hour: 0.0,
        };
        // Two cores and 4 GiB held all day, every day for three days.
        let day = (2.0 * 24.0, 4.0 * GIB * 24.0);
        let by_days = monthly_of_days(&[day, day, day], &rates);
        let steady = monthly_cost(2.0, 4.0 * GIB, &rates);
        assert!((by_days - steady).abs() < 1e-9, "{by_days} vs {steady}");
        assert!((steady - (0.06 + 0.016) * HOURS_PER_MONTH).abs() < 1e-9);
        assert_eq!(monthly_of_days(&[], &rates), 0.0);
    }

    use super::*;
    use crate::cost::Prices;

    const MIB: f64 = 1024.0 * 1024.0;

    fn stats(days: f64) -> UsageStats {
        UsageStats {
            days,
            cpu_p50: 0.05,
            cpu_p90: 0.08,
            cpu_p95: 0.1,
            memory_p50: 100.0 * MIB,
            memory_p90: 120.0 * MIB,
            memory_p95: 130.0 * MIB,
        }
    }

    #[test]
    fn the_target_is_p90_plus_the_margin_and_bounds_narrow_with_history() {
        let week = recommend(&stats(8.0));
        assert!((week.cpu.target - 0.08 * 1.15).abs() < 1e-12);
        assert!((week.memory.target - 120.0 * MIB * 1.15).abs() < 1e-3);
        assert!((week.cpu.upper - 0.1 * 1.15 * (1.0 + 1.0 / 8.0)).abs() < 1e-12);
        let day = recommend(&stats(1.0));
        assert!(
            day.cpu.upper > week.cpu.upper,
            "short history widens the band"
        );
        assert!(day.cpu.lower <= week.cpu.lower);
        for r in [week, day] {
            assert!(r.cpu.lower <= r.cpu.target && r.cpu.target <= r.cpu.upper);
            assert!(r.memory.lower <= r.memory.target && r.memory.target <= r.memory.upper);
        }
    }

    #[test]
    fn recommendations_never_go_below_the_floors() {
        let tiny = recommend(&UsageStats {
            days: 8.0,
            ..UsageStats::default()
        });
        assert_eq!(tiny.cpu.target, MIN_CPU);
        assert_eq!(tiny.memory.target, MIN_MEMORY);
        assert_eq!(tiny.cpu.lower, MIN_CPU);
        assert_eq!(cpu_quantity(tiny.cpu.target), "10m");
        assert_eq!(memory_quantity(tiny.memory.target), "20Mi");
    }

    #[test]
    fn limits_follow_requests_only_where_they_must() {
        let rec = recommend(&stats(8.0));
        let guaranteed = Resources {
            cpu_request: Some(2.0),
            memory_request: Some(4096.0 * MIB),
            cpu_limit: Some(2.0),
            memory_limit: Some(4096.0 * MIB),
        };
        let p = patch_for(&guaranteed, &rec);
        assert_eq!(p.cpu_request, "92m");
        assert_eq!(p.memory_request, "138Mi");
        assert_eq!(p.cpu_limit.as_deref(), Some("92m"), "stays Guaranteed");
        assert_eq!(p.memory_limit.as_deref(), Some("138Mi"));
        let burstable = Resources {
            cpu_limit: Some(4.0),
            memory_limit: Some(8192.0 * MIB),
            ..guaranteed
        };
        let p = patch_for(&burstable, &rec);
        assert_eq!((p.cpu_limit, p.memory_limit), (None, None), "limits stay");
        let tight_limit = Resources {
            cpu_limit: Some(0.05),
            cpu_request: Some(0.04),
            ..burstable
        };
        assert_eq!(
            patch_for(&tight_limit, &rec).cpu_limit.as_deref(),
            Some("92m"),
            "a limit never ends below the request"
        );
    }

    #[test]
    fn savings_count_only_what_comes_down() {
        let rec = recommend(&stats(8.0));
        let rates = Prices::default().default;
        let now = Resources {
            cpu_request: Some(1.092),
            memory_request: Some(0.0),
            ..Resources::default()
        };
        let saving = monthly_saving(&now, &rec, 2.0, &rates);
        assert!((saving - 1.0 * rates.cpu_core_hour * HOURS_PER_MONTH * 2.0).abs() < 1e-9);
        assert!(over_provisioned(&now, &rec, 8.0, saving));
        assert!(
            !over_provisioned(&now, &rec, 0.5, saving),
            "too little history"
        );
        let right = Resources {
            cpu_request: Some(rec.cpu.target),
            memory_request: Some(rec.memory.target),
            ..Resources::default()
        };
        let none = monthly_saving(&right, &rec, 2.0, &rates);
        assert_eq!(none, 0.0);
        assert!(!over_provisioned(&right, &rec, 8.0, none));
    }

    #[test]
    fn abandoned_needs_every_day_quiet() {
        assert!(abandoned(&[0.001; 7], 0.5, 7));
        assert!(!abandoned(&[0.001; 6], 0.5, 7), "not enough days");
        let mut busy_once = [0.001; 7];
        busy_once[3] = 0.2;
        assert!(!abandoned(&busy_once, 0.5, 7));
        assert!(abandoned(&[0.004; 7], 0.0, 7), "no request: under 5m");
        assert!(!abandoned(&[0.006; 7], 0.0, 7));
    }

    #[test]
    fn the_report_puts_the_costliest_first() {
        let a = found(FindingKind::Abandoned, "shop", "Deployment/a", 1.0);
        let b = found(FindingKind::Abandoned, "shop", "Deployment/b", 5.0);
        let r = report(vec![a, b], None);
        assert_eq!(r.findings[0].workload, "Deployment/b");
        assert_eq!(r.monthly_total, 6.0);
    }

    fn found(kind: FindingKind, namespace: &str, workload: &str, cost: f64) -> IdleFinding {
        IdleFinding {
            kind,
            id: format!("{}/{namespace}/{workload}", kind.as_str()),
            cluster: String::new(),
            namespace: namespace.to_owned(),
            workload: workload.to_owned(),
            team: None,
            contact: None,
            summary: String::new(),
            monthly_cost: cost,
            action: IdleAction::ScaleToZero,
            can_act: false,
            recommendation: None,
            current: None,
        }
    }

    #[test]
    fn savings_count_each_cost_once() {
        use FindingKind::*;
        let findings = vec![
            // The demo's locust: abandoned and over-provisioned; scaling it away saves more.
            found(Abandoned, "loadtest", "Deployment/locust", 104.68),
            found(OverProvisioned, "loadtest", "Deployment/locust", 96.79),
            // Two over-provisioned containers of one workload add up.
            found(OverProvisioned, "prod", "Deployment/api", 10.0),
            found(OverProvisioned, "prod", "Deployment/api", 5.0),
            found(Abandoned, "prod", "Deployment/api", 12.0),
            found(Unused, "prod", "PersistentVolumeClaim/old", 4.0),
            // Node capacity is apart from what owners can act on.
            found(Stranded, "", "", 140.54),
        ];
        let s = savings(&findings);
        assert!((s.owned - (104.68 + 15.0 + 4.0)).abs() < 1e-9, "{s:?}");
        assert!((s.nodes - 140.54).abs() < 1e-9);
        assert_eq!(
            s.overlapping, 2,
            "locust's rightsizing and api's abandonment"
        );
    }

    #[test]
    fn the_same_namespace_on_two_clusters_is_two_findings() {
        let home = vec![found(
            FindingKind::Abandoned,
            "shop",
            "Deployment/web",
            10.0,
        )];
        let mut other = home.clone();
        on_cluster(&mut other, "us-dev", false);
        let mut kept = home.clone();
        on_cluster(&mut kept, "eu-prod", true);
        assert_eq!(kept, home, "the home cluster's ids stay");
        assert_eq!(other[0].cluster, "us-dev");
        assert_eq!(other[0].id, "us-dev:abandoned/shop/Deployment/web");
        let both = report(home.into_iter().chain(other).collect(), None);
        assert_eq!(both.findings.len(), 2);
        assert!(
            (both.savings.owned - 20.0).abs() < 1e-9,
            "{:?}",
            both.savings
        );
        assert_eq!(both.savings.overlapping, 0);
    }

    #[test]
    fn a_namespace_found_as_a_whole_counts_at_the_larger() {
        use FindingKind::*;
        let expired = vec![
            found(Namespace, "pr-1", "", 50.0),
            found(Abandoned, "pr-1", "Deployment/web", 30.0),
            found(OverProvisioned, "pr-1", "Deployment/web", 10.0),
        ];
        let s = savings(&expired);
        assert!((s.owned - 50.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.overlapping, 2);
        let free = vec![
            found(Namespace, "pr-2", "", 0.0),
            found(Abandoned, "pr-2", "Deployment/web", 30.0),
        ];
        let s = savings(&free);
        assert!((s.owned - 30.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.overlapping, 0);
    }
}
