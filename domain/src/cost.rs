//! Prices and cost allocation: what a container-hour, a node-hour and a volume cost, how
//! allocated cost sums up a hierarchy, what is idle and how efficient a group is.
//!
//! A container-hour costs max(request, usage) of each resource times its price (OpenCost's
//! rule: what a container reserves is spent even when it idles, and what it uses beyond its
//! request is spent too). Idle is a node's cost that no container was allocated.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Hours in a month as cloud price lists count them (365 × 24 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Prices of one kind of node (or the default).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rates {
    pub cpu_core_hour: f64,
    pub memory_gib_hour: f64,
    pub gpu_hour: f64,
}

/// Prices that differ for nodes carrying `label` = `value` (e.g. an instance type), for the
/// nodes of one `cluster` of the fleet (e.g. a dearer region), or both: a cluster with no label
/// prices all its nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateOverride {
    /// Only nodes of this cluster; empty for every cluster.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub value: String,
    pub rates: Rates,
}

impl RateOverride {
    /// Whether a node of `cluster` with `labels` pays these rates.
    fn matches(&self, cluster: &str, labels: &BTreeMap<String, String>) -> bool {
        node_matches(&self.cluster, &self.label, &self.value, cluster, labels)
    }

    /// How the override is named in messages: `eu-prod: node.kubernetes.io/instance-type=m5`.
    pub fn name(&self) -> String {
        match (self.cluster.is_empty(), self.label.is_empty()) {
            (true, _) => format!("{}={}", self.label, self.value),
            (false, true) => format!("cluster {}", self.cluster),
            (false, false) => format!("{}: {}={}", self.cluster, self.label, self.value),
        }
    }
}

/// The one rule of which nodes an override prices: of its cluster (or any), carrying its label
/// (or any).
fn node_matches(
    want_cluster: &str,
    label: &str,
    value: &str,
    cluster: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    (want_cluster.is_empty() || want_cluster == cluster)
        && (label.is_empty() || labels.get(label).map(String::as_str) == Some(value))
}

/// What an override matches, without its rates: which nodes pay which rates depends on the
/// overrides' matchers in order, and on nothing else in the pricing file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    pub cluster: String,
    pub label: String,
    pub value: String,
}

/// A node's price class: 0 pays the default rates, `i + 1` the `i`-th override's (the first
/// that matches). History summed per class is re-priced by [`Prices::class_rates`] whenever
/// rates change, and stays right as long as the [`Prices::matchers`] do.
pub fn price_class(matchers: &[Matcher], cluster: &str, labels: &BTreeMap<String, String>) -> i32 {
    matchers
        .iter()
        .position(|m| node_matches(&m.cluster, &m.label, &m.value, cluster, labels))
        .map_or(0, |i| i32::try_from(i + 1).unwrap_or(i32::MAX))
}

/// The pricing file: a default, per-node-label overrides, and storage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Prices {
    pub default: Rates,
    /// The first override whose label matches a node wins.
    pub overrides: Vec<RateOverride>,
    pub storage_gib_month: f64,
}

impl Default for Prices {
    /// OpenCost's defaults for a cluster without a cloud price list.
    fn default() -> Self {
        Prices {
            default: Rates {
                cpu_core_hour: 0.031611,
                memory_gib_hour: 0.004237,
                gpu_hour: 0.95,
            },
            overrides: Vec::new(),
            storage_gib_month: 0.04,
        }
    }
}

impl Prices {
    /// The rates of a node of `cluster` with `labels`.
    pub fn rates_for(&self, cluster: &str, labels: &BTreeMap<String, String>) -> Rates {
        self.overrides
            .iter()
            .find(|o| o.matches(cluster, labels))
            .map_or(self.default, |o| o.rates)
    }

    /// The overrides' matchers, in order (see [`price_class`]).
    pub fn matchers(&self) -> Vec<Matcher> {
        self.overrides
            .iter()
            .map(|o| Matcher {
                cluster: o.cluster.clone(),
                label: o.label.clone(),
                value: o.value.clone(),
            })
            .collect()
    }

    /// The rates of each price class, by class: the default first, then each override's.
    pub fn class_rates(&self) -> Vec<Rates> {
        std::iter::once(self.default)
            .chain(self.overrides.iter().map(|o| o.rates))
            .collect()
    }

    /// Every problem with the prices, one message per field; empty when they are usable.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |what: &str, v: f64| {
            if !v.is_finite() || v < 0.0 {
                out.push(format!("{what} must be a price of zero or more, not {v}"));
            } else if v > 1_000.0 {
                out.push(format!("{what} of {v} is more than any cloud charges"));
            }
        };
        let mut rates = |prefix: &str, r: &Rates| {
            check(&format!("{prefix}CPU core-hour"), r.cpu_core_hour);
            check(&format!("{prefix}memory GiB-hour"), r.memory_gib_hour);
            check(&format!("{prefix}GPU-hour"), r.gpu_hour);
        };
        rates("", &self.default);
        for o in &self.overrides {
            rates(&format!("{}: ", o.name()), &o.rates);
        }
        check("storage GiB-month", self.storage_gib_month);
        for o in &self.overrides {
            let (label, value) = (o.label.trim().is_empty(), o.value.trim().is_empty());
            if o.cluster.trim().is_empty() && (label || value) {
                out.push(
                    "an override needs a node label and a value, or a cluster (or all three)"
                        .to_owned(),
                );
            } else if label != value {
                out.push(format!(
                    "the override {} needs both a node label and its value",
                    o.name()
                ));
            }
            if !o.cluster.is_empty() && !crate::fleet::valid_name(&o.cluster) {
                out.push(format!("{:?} is not a cluster name", o.cluster));
            }
        }
        out
    }
}

/// The `p` quantile (0–1) of `values` by linear interpolation, as Postgres's
/// `percentile_cont` computes it; `None` for no values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64))
}

/// Cost split by resource, in the price list's currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cost {
    pub cpu: f64,
    pub memory: f64,
    pub gpu: f64,
    pub storage: f64,
}

impl Cost {
    pub fn total(&self) -> f64 {
        self.cpu + self.memory + self.gpu + self.storage
    }

    pub fn add(&mut self, other: &Cost) {
        self.cpu += other.cpu;
        self.memory += other.memory;
        self.gpu += other.gpu;
        self.storage += other.storage;
    }

    pub fn scaled(&self, factor: f64) -> Cost {
        Cost {
            cpu: self.cpu * factor,
            memory: self.memory * factor,
            gpu: self.gpu * factor,
            storage: self.storage * factor,
        }
    }
}

/// One container over one hour: what it reserved and what it used (hourly average).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerHour {
    pub cpu_request: f64,
    pub cpu_usage: f64,
    pub memory_request_bytes: f64,
    pub memory_usage_bytes: f64,
    pub gpus: f64,
    /// The share of the hour the container ran (1 for a whole hour).
    pub hours: f64,
}

/// What a container-hour costs on a node with `rates`.
pub fn container_cost(c: &ContainerHour, rates: &Rates) -> Cost {
    let cpu = c.cpu_request.max(c.cpu_usage).max(0.0);
    let memory = c.memory_request_bytes.max(c.memory_usage_bytes).max(0.0) / GIB;
    Cost {
        cpu: cpu * rates.cpu_core_hour * c.hours,
        memory: memory * rates.memory_gib_hour * c.hours,
        gpu: c.gpus.max(0.0) * rates.gpu_hour * c.hours,
        storage: 0.0,
    }
}

/// What a node's capacity costs for `hours`.
pub fn node_cost(cpu_cores: f64, memory_bytes: f64, gpus: f64, hours: f64, rates: &Rates) -> Cost {
    Cost {
        cpu: cpu_cores.max(0.0) * rates.cpu_core_hour * hours,
        memory: memory_bytes.max(0.0) / GIB * rates.memory_gib_hour * hours,
        gpu: gpus.max(0.0) * rates.gpu_hour * hours,
        storage: 0.0,
    }
}

/// What a volume claim of `bytes` costs for `hours` (by its requested size).
pub fn volume_cost(bytes: f64, hours: f64, prices: &Prices) -> Cost {
    Cost {
        storage: bytes.max(0.0) / GIB * prices.storage_gib_month * hours / HOURS_PER_MONTH,
        ..Cost::default()
    }
}

/// A node's cost that nothing was allocated, per resource, never below zero (containers
/// using more than the node's capacity, which metrics can report, leave no idle).
pub fn idle(node: &Cost, allocated: &Cost) -> Cost {
    Cost {
        cpu: (node.cpu - allocated.cpu).max(0.0),
        memory: (node.memory - allocated.memory).max(0.0),
        gpu: (node.gpu - allocated.gpu).max(0.0),
        storage: 0.0,
    }
}

/// Usage against requests, priced, so a group's efficiency weighs its cost drivers as
/// Kubecost does: (cpu efficiency × cpu cost + memory efficiency × memory cost) / (cpu cost +
/// memory cost).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Efficiency {
    pub cpu_usage_cost: f64,
    pub cpu_request_cost: f64,
    pub memory_usage_cost: f64,
    pub memory_request_cost: f64,
}

impl Efficiency {
    pub fn of(c: &ContainerHour, rates: &Rates) -> Efficiency {
        let priced = |cores: f64, bytes: f64| {
            (
                cores.max(0.0) * rates.cpu_core_hour * c.hours,
                bytes.max(0.0) / GIB * rates.memory_gib_hour * c.hours,
            )
        };
        let (cpu_usage_cost, memory_usage_cost) = priced(c.cpu_usage, c.memory_usage_bytes);
        let (cpu_request_cost, memory_request_cost) = priced(c.cpu_request, c.memory_request_bytes);
        Efficiency {
            cpu_usage_cost,
            cpu_request_cost,
            memory_usage_cost,
            memory_request_cost,
        }
    }

    pub fn add(&mut self, other: &Efficiency) {
        self.cpu_usage_cost += other.cpu_usage_cost;
        self.cpu_request_cost += other.cpu_request_cost;
        self.memory_usage_cost += other.memory_usage_cost;
        self.memory_request_cost += other.memory_request_cost;
    }

    /// Usage / request of the CPU; `None` without requests.
    pub fn cpu(&self) -> Option<f64> {
        (self.cpu_request_cost > 0.0).then(|| self.cpu_usage_cost / self.cpu_request_cost)
    }

    pub fn memory(&self) -> Option<f64> {
        (self.memory_request_cost > 0.0).then(|| self.memory_usage_cost / self.memory_request_cost)
    }

    /// The cost-weighted whole; `None` when nothing was requested.
    pub fn total(&self) -> Option<f64> {
        let requested = self.cpu_request_cost + self.memory_request_cost;
        (requested > 0.0).then(|| (self.cpu_usage_cost + self.memory_usage_cost) / requested)
    }
}

/// One allocated container-hour (or volume-hour) with the labels it can be grouped by.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Allocation {
    /// The fleet's name of the cluster it ran on.
    #[serde(default)]
    pub cluster: String,
    pub namespace: String,
    pub team: Option<String>,
    /// `Kind/name` of the owning workload, or the pod for a bare pod.
    pub workload: String,
    pub labels: BTreeMap<String, String>,
    pub cost: Cost,
    pub efficiency: Efficiency,
}

/// What a report groups by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum GroupBy {
    Cluster,
    Namespace,
    Team,
    Workload,
    Label(String),
}

/// The group a row without the grouping key lands in (a namespace without a team, a pod
/// without the label).
pub const UNALLOCATED: &str = "__unallocated__";

impl GroupBy {
    pub fn key(&self, a: &Allocation) -> String {
        match self {
            GroupBy::Cluster => a.cluster.clone(),
            GroupBy::Namespace => a.namespace.clone(),
            GroupBy::Team => a.team.clone().unwrap_or_else(|| UNALLOCATED.to_owned()),
            GroupBy::Workload => format!("{}/{}", a.namespace, a.workload),
            GroupBy::Label(l) => a
                .labels
                .get(l)
                .cloned()
                .unwrap_or_else(|| UNALLOCATED.to_owned()),
        }
    }
}

/// A group's sums.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupCost {
    pub key: String,
    pub cost: Cost,
    /// Its share of idle, when idle is shared; zero otherwise.
    pub idle: Cost,
    pub efficiency: Efficiency,
}

impl GroupCost {
    pub fn total(&self) -> f64 {
        self.cost.total() + self.idle.total()
    }
}

/// Sums `rows` by `by`, most expensive first. With `share_idle`, `idle` is spread over the
/// groups in proportion to their cost (so the groups add up to allocated + idle); otherwise it
/// stays out (and the report shows it as a line of its own).
pub fn group(rows: &[Allocation], by: &GroupBy, idle: &Cost, share_idle: bool) -> Vec<GroupCost> {
    let mut groups: BTreeMap<String, GroupCost> = BTreeMap::new();
    for row in rows {
        let key = by.key(row);
        let g = groups.entry(key.clone()).or_insert_with(|| GroupCost {
            key,
            ..GroupCost::default()
        });
        g.cost.add(&row.cost);
        g.efficiency.add(&row.efficiency);
    }
    let mut out: Vec<GroupCost> = groups.into_values().collect();
    if share_idle {
        let allocated: f64 = out.iter().map(|g| g.cost.total()).sum();
        if allocated > 0.0 {
            for g in &mut out {
                g.idle = idle.scaled(g.cost.total() / allocated);
            }
        }
    }
    out.sort_by(|a, b| {
        b.total()
            .total_cmp(&a.total())
            .then_with(|| a.key.cmp(&b.key))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rates() -> Rates {
        Prices::default().default
    }

    #[test]
    fn a_container_pays_for_the_larger_of_request_and_usage() {
        let idle_big_request = ContainerHour {
            cpu_request: 2.0,
            cpu_usage: 0.1,
            memory_request_bytes: 4.0 * GIB,
            memory_usage_bytes: 1.0 * GIB,
            gpus: 0.0,
            hours: 1.0,
        };
        let c = container_cost(&idle_big_request, &rates());
        assert!((c.cpu - 2.0 * 0.031611).abs() < 1e-12);
        assert!((c.memory - 4.0 * 0.004237).abs() < 1e-12);
        let bursting = ContainerHour {
            cpu_request: 0.1,
            cpu_usage: 0.5,
            ..idle_big_request
        };
        assert!((container_cost(&bursting, &rates()).cpu - 0.5 * 0.031611).abs() < 1e-12);
        let half_hour = ContainerHour {
            hours: 0.5,
            ..idle_big_request
        };
        assert!((container_cost(&half_hour, &rates()).total() - c.total() / 2.0).abs() < 1e-12);
    }

    #[test]
    fn percentiles_interpolate_as_postgres_does() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        assert!((percentile(&values, 0.95).unwrap_or_default() - 19.05).abs() < 1e-9);
        assert_eq!(percentile(&values, 0.0), Some(1.0));
        assert_eq!(percentile(&values, 1.0), Some(20.0));
        assert_eq!(percentile(&[3.0], 0.9), Some(3.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn volumes_cost_by_requested_size_per_month() {
        let month = volume_cost(10.0 * GIB, HOURS_PER_MONTH, &Prices::default());
        assert!((month.storage - 0.4).abs() < 1e-9);
    }

    #[test]
    fn node_labels_pick_their_rates() {
        let mut prices = Prices::default();
        let gpu_node = Rates {
            cpu_core_hour: 0.05,
            memory_gib_hour: 0.01,
            gpu_hour: 2.5,
        };
        prices.overrides.push(RateOverride {
            cluster: String::new(),
            label: "node.kubernetes.io/instance-type".to_owned(),
            value: "g5.xlarge".to_owned(),
            rates: gpu_node,
        });
        let labels: BTreeMap<String, String> = [(
            "node.kubernetes.io/instance-type".to_owned(),
            "g5.xlarge".to_owned(),
        )]
        .into_iter()
        .collect();
        assert_eq!(prices.rates_for("eu-prod", &labels), gpu_node);
        assert_eq!(
            prices.rates_for("eu-prod", &BTreeMap::new()),
            prices.default
        );
        // A dearer region: every node of us-dev, but the GPU nodes' own rates come first.
        let us_dev = Rates {
            cpu_core_hour: 0.04,
            ..prices.default
        };
        prices.overrides.push(RateOverride {
            cluster: "us-dev".to_owned(),
            label: String::new(),
            value: String::new(),
            rates: us_dev,
        });
        assert_eq!(prices.rates_for("us-dev", &BTreeMap::new()), us_dev);
        assert_eq!(prices.rates_for("us-dev", &labels), gpu_node);
        assert_eq!(
            prices.rates_for("eu-prod", &BTreeMap::new()),
            prices.default
        );
        assert!(prices.problems().is_empty(), "{:?}", prices.problems());
        prices.overrides[1].label = "zone".to_owned();
        assert_eq!(
            prices.problems(),
            ["the override us-dev: zone= needs both a node label and its value"]
        );
        prices.overrides[1].cluster = String::new();
        prices.overrides[1].value = "a".to_owned();
        prices.overrides[1].label = String::new();
        assert_eq!(prices.problems().len(), 1, "{:?}", prices.problems());
    }

    #[test]
    fn bad_prices_are_named() {
        let mut prices = Prices::default();
        assert!(prices.problems().is_empty());
        prices.default.cpu_core_hour = -1.0;
        prices.storage_gib_month = f64::NAN;
        let problems = prices.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("CPU core-hour"), "{problems:?}");
    }

    #[test]
    fn efficiency_weighs_cpu_and_memory_by_cost() {
        let c = ContainerHour {
            cpu_request: 1.0,
            cpu_usage: 0.5,
            memory_request_bytes: 1.0 * GIB,
            memory_usage_bytes: 1.0 * GIB,
            gpus: 0.0,
            hours: 1.0,
        };
        let e = Efficiency::of(&c, &rates());
        assert_eq!(e.cpu(), Some(0.5));
        assert_eq!(e.memory(), Some(1.0));
        let weighted = (0.5 * 0.031611 + 1.0 * 0.004237) / (0.031611 + 0.004237);
        assert!((e.total().unwrap_or_default() - weighted).abs() < 1e-12);
        assert_eq!(Efficiency::default().total(), None, "nothing requested");
    }

    #[test]
    fn idle_is_what_the_node_costs_beyond_its_allocations() {
        let node = node_cost(4.0, 16.0 * GIB, 0.0, 1.0, &rates());
        let allocated = Cost {
            cpu: node.cpu / 4.0,
            memory: node.memory * 2.0,
            ..Cost::default()
        };
        let i = idle(&node, &allocated);
        assert!((i.cpu - node.cpu * 0.75).abs() < 1e-12);
        assert_eq!(i.memory, 0.0, "over-committed memory leaves no idle");
    }

    #[test]
    fn rows_without_the_key_are_grouped_as_unallocated() {
        let row = Allocation {
            namespace: "shop".to_owned(),
            workload: "Deployment/web".to_owned(),
            cost: Cost {
                cpu: 1.0,
                ..Cost::default()
            },
            ..Allocation::default()
        };
        let groups = group(&[row], &GroupBy::Team, &Cost::default(), false);
        assert_eq!(groups[0].key, UNALLOCATED);
        assert_eq!(GroupBy::Workload.key(&Allocation::default()), "/");
    }

    fn arb_cost() -> impl Strategy<Value = Cost> {
        (0.0..50.0f64, 0.0..50.0f64, 0.0..5.0f64, 0.0..5.0f64).prop_map(
            |(cpu, memory, gpu, storage)| Cost {
                cpu,
                memory,
                gpu,
                storage,
            },
        )
    }

    fn arb_rows() -> impl Strategy<Value = Vec<Allocation>> {
        proptest::collection::vec((0..6usize, 0..4usize, arb_cost()), 0..40).prop_map(|rows| {
            rows.into_iter()
                .map(|(ns, w, cost)| Allocation {
                    cluster: format!("c{}", ns % 2),
                    namespace: format!("ns-{ns}"),
                    // A namespace belongs to one team (or none), as in a cluster.
                    team: (ns % 3 > 0).then(|| format!("team-{}", ns % 3)),
                    workload: format!("Deployment/w{w}"),
                    labels: (w % 2 == 0)
                        .then(|| ("app".to_owned(), format!("a{w}")))
                        .into_iter()
                        .collect(),
                    cost,
                    efficiency: Efficiency::default(),
                })
                .collect()
        })
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
    }

    fn arb_prices() -> impl Strategy<Value = Prices> {
        let matcher = (0..3usize, 0..3usize, 0..3usize, 0.0..1.0f64);
        proptest::collection::vec(matcher, 0..5).prop_map(|overrides| Prices {
            overrides: overrides
                .into_iter()
                .map(|(c, l, v, cpu)| RateOverride {
                    cluster: ["", "eu", "us"][c].to_owned(),
                    label: ["", "type", "zone"][l].to_owned(),
                    value: ["a", "b", ""][v].to_owned(),
                    rates: Rates {
                        cpu_core_hour: cpu,
                        ..rates()
                    },
                })
                .collect(),
            ..Prices::default()
        })
    }

    proptest! {
        /// Pricing by class (history summed per class, rates looked up later) is pricing by
        /// node, whatever the overrides.
        #[test]
        fn a_nodes_class_pays_its_rates(prices in arb_prices(), c in 0..3usize, t in 0..3usize, z in 0..3usize) {
            let cluster = ["home", "eu", "us"][c];
            let labels: BTreeMap<String, String> = [("type", t), ("zone", z)]
                .into_iter()
                .filter(|(_, v)| *v < 2)
                .map(|(k, v)| (k.to_owned(), ["a", "b"][v].to_owned()))
                .collect();
            let class = price_class(&prices.matchers(), cluster, &labels);
            let by_class = prices.class_rates()[usize::try_from(class).unwrap_or(usize::MAX)];
            prop_assert_eq!(by_class, prices.rates_for(cluster, &labels));
        }

        #[test]
        fn every_grouping_sums_to_the_total(rows in arb_rows(), idle_cost in arb_cost(), share in any::<bool>()) {
            let total: f64 = rows.iter().map(|r| r.cost.total()).sum();
            let shared = if share && total > 0.0 { idle_cost.total() } else { 0.0 };
            for by in [GroupBy::Cluster, GroupBy::Namespace, GroupBy::Team, GroupBy::Workload, GroupBy::Label("app".to_owned())] {
                let groups = group(&rows, &by, &idle_cost, share);
                let sum: f64 = groups.iter().map(GroupCost::total).sum();
                prop_assert!(close(sum, total + shared), "{by:?}: {sum} vs {total} + {shared}");
                prop_assert!(groups.windows(2).all(|w| w[0].total() >= w[1].total()));
            }
        }

        #[test]
        fn idle_is_never_negative(node in arb_cost(), allocated in arb_cost()) {
            let i = idle(&node, &allocated);
            prop_assert!(i.cpu >= 0.0 && i.memory >= 0.0 && i.gpu >= 0.0);
            prop_assert!(i.total() <= node.total() + 1e-12);
        }

        #[test]
        fn namespaces_add_up_to_teams(rows in arb_rows()) {
            let by_ns = group(&rows, &GroupBy::Namespace, &Cost::default(), false);
            let by_team = group(&rows, &GroupBy::Team, &Cost::default(), false);
            let team_of: BTreeMap<&str, String> =
                rows.iter().map(|r| (r.namespace.as_str(), GroupBy::Team.key(r))).collect();
            for team in &by_team {
                let namespaces: f64 = by_ns
                    .iter()
                    .filter(|n| team_of.get(n.key.as_str()) == Some(&team.key))
                    .map(GroupCost::total)
                    .sum();
                prop_assert!(close(team.total(), namespaces), "{}: {} vs {namespaces}", team.key, team.total());
            }
        }

        #[test]
        fn a_container_never_costs_less_than_its_request(
            cpu_request in 0.0..8.0f64, cpu_usage in 0.0..8.0f64,
            mem_request in 0.0..64.0f64, mem_usage in 0.0..64.0f64,
        ) {
            let c = ContainerHour {
                cpu_request, cpu_usage,
                memory_request_bytes: mem_request * GIB, memory_usage_bytes: mem_usage * GIB,
                gpus: 0.0, hours: 1.0,
            };
            let r = rates();
            let cost = container_cost(&c, &r);
            prop_assert!(cost.cpu + 1e-12 >= cpu_request * r.cpu_core_hour);
            prop_assert!(cost.cpu + 1e-12 >= cpu_usage * r.cpu_core_hour);
            prop_assert!(cost.memory + 1e-12 >= mem_request * r.memory_gib_hour);
        }
    }
}
