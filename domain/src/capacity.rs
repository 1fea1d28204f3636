//! Cluster capacity: allocatable against requested per node, and **stranded** capacity — free
//! room on a node too small to hold a typical (median) pod, which the seeds keep under 10 %.

use serde::{Deserialize, Serialize};

/// What the capacity view needs to know of a node (CPU in cores, memory in bytes).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeInput {
    pub name: String,
    pub allocatable_cpu: f64,
    pub allocatable_memory: f64,
    pub allocatable_pods: f64,
    pub requested_cpu: f64,
    pub requested_memory: f64,
    pub pods: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeCapacity {
    pub name: String,
    pub allocatable_cpu: f64,
    pub allocatable_memory: f64,
    pub requested_cpu: f64,
    pub requested_memory: f64,
    pub pods: usize,
    pub allocatable_pods: f64,
    /// How many more median pods fit.
    pub fits_median_pods: u64,
    pub stranded_cpu: f64,
    pub stranded_memory: f64,
}

/// Allocatable, requested, spare and stranded capacity of some nodes (CPU in cores, memory in
/// bytes): a cluster's, or the fleet's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CapacityTotals {
    pub allocatable_cpu: f64,
    pub allocatable_memory: f64,
    pub requested_cpu: f64,
    pub requested_memory: f64,
    pub spare_cpu: f64,
    pub spare_memory: f64,
    /// What is too small for the cluster's own median pod (each cluster's pods differ).
    pub stranded_cpu: f64,
    pub stranded_memory: f64,
    /// Stranded as a share of allocatable, per resource, in percent.
    pub stranded_cpu_percent: f64,
    pub stranded_memory_percent: f64,
}

impl CapacityTotals {
    /// Totals from what is allocatable, requested and stranded (cpu, memory): spare and the
    /// shares follow.
    pub fn of(allocatable: (f64, f64), requested: (f64, f64), stranded: (f64, f64)) -> Self {
        CapacityTotals {
            allocatable_cpu: allocatable.0,
            allocatable_memory: allocatable.1,
            requested_cpu: requested.0,
            requested_memory: requested.1,
            spare_cpu: (allocatable.0 - requested.0).max(0.0),
            spare_memory: (allocatable.1 - requested.1).max(0.0),
            stranded_cpu: stranded.0,
            stranded_memory: stranded.1,
            stranded_cpu_percent: percent(stranded.0, allocatable.0),
            stranded_memory_percent: percent(stranded.1, allocatable.1),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterCapacity {
    pub nodes: Vec<NodeCapacity>,
    /// The median pod's requests (CPU cores, memory bytes).
    pub median_cpu: f64,
    pub median_memory: f64,
    #[serde(flatten)]
    pub totals: CapacityTotals,
    /// The cluster the nodes are of (the fleet's name for it).
    #[serde(default)]
    pub cluster: String,
    /// Every cluster's totals, the home cluster first, for the fleet's roll-up.
    #[serde(default)]
    pub fleet: Vec<CapacityLine>,
    /// Their sum, when there is more than one cluster.
    #[serde(default)]
    pub fleet_total: Option<CapacityLine>,
}

/// One cluster's totals in the fleet's roll-up (or the fleet's, with no cluster named).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CapacityLine {
    pub cluster: String,
    pub nodes: usize,
    #[serde(flatten)]
    pub totals: CapacityTotals,
    /// Since when (unix seconds) the cluster has not answered: its figures are as of then.
    pub stale_since: Option<i64>,
}

impl CapacityLine {
    pub fn of(cluster: &str, c: &ClusterCapacity, stale_since: Option<i64>) -> CapacityLine {
        CapacityLine {
            cluster: cluster.to_owned(),
            nodes: c.nodes.len(),
            totals: c.totals.clone(),
            stale_since,
        }
    }
}

/// The fleet's line: every cluster's summed, its shares of the summed allocatable.
pub fn roll_up(lines: &[CapacityLine]) -> CapacityLine {
    let sum = |f: fn(&CapacityTotals) -> f64| lines.iter().map(|l| f(&l.totals)).sum::<f64>();
    CapacityLine {
        cluster: String::new(),
        nodes: lines.iter().map(|l| l.nodes).sum(),
        totals: CapacityTotals::of(
            (sum(|t| t.allocatable_cpu), sum(|t| t.allocatable_memory)),
            (sum(|t| t.requested_cpu), sum(|t| t.requested_memory)),
            (sum(|t| t.stranded_cpu), sum(|t| t.stranded_memory)),
        ),
        stale_since: None,
    }
}

/// `part` of `whole` in percent (0 of nothing).
fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole * 100.0
    } else {
        0.0
    }
}

/// The median of `values` (0 when empty).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Capacity per node and for the cluster, given every running pod's requests.
pub fn capacity(nodes: &[NodeInput], pod_requests: &[(f64, f64)]) -> ClusterCapacity {
    let mut cpus: Vec<f64> = pod_requests.iter().map(|r| r.0).collect();
    let mut mems: Vec<f64> = pod_requests.iter().map(|r| r.1).collect();
    let median_cpu = median(&mut cpus);
    let median_memory = median(&mut mems);
    let per_node: Vec<NodeCapacity> = nodes
        .iter()
        .map(|n| {
            let free_cpu = (n.allocatable_cpu - n.requested_cpu).max(0.0);
            let free_mem = (n.allocatable_memory - n.requested_memory).max(0.0);
            let free_pods = (n.allocatable_pods - n.pods as f64).max(0.0);
            let by = |free: f64, each: f64| {
                if each > 0.0 {
                    (free / each).floor()
                } else {
                    f64::INFINITY
                }
            };
            let fits = by(free_cpu, median_cpu)
                .min(by(free_mem, median_memory))
                .min(free_pods);
            let fits = if fits.is_finite() { fits } else { 0.0 };
            NodeCapacity {
                name: n.name.clone(),
                allocatable_cpu: n.allocatable_cpu,
                allocatable_memory: n.allocatable_memory,
                requested_cpu: n.requested_cpu,
                requested_memory: n.requested_memory,
                pods: n.pods,
                allocatable_pods: n.allocatable_pods,
                fits_median_pods: fits as u64,
                stranded_cpu: free_cpu - fits * median_cpu,
                stranded_memory: free_mem - fits * median_memory,
            }
        })
        .collect();
    let sum = |f: fn(&NodeCapacity) -> f64| per_node.iter().map(f).sum::<f64>();
    ClusterCapacity {
        median_cpu,
        median_memory,
        totals: CapacityTotals::of(
            (sum(|n| n.allocatable_cpu), sum(|n| n.allocatable_memory)),
            (sum(|n| n.requested_cpu), sum(|n| n.requested_memory)),
            (sum(|n| n.stranded_cpu), sum(|n| n.stranded_memory)),
        ),
        nodes: per_node,
        cluster: String::new(),
        fleet: Vec::new(),
        fleet_total: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GI: f64 = 1024.0 * 1024.0 * 1024.0;

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), 0.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn free_room_that_fits_no_median_pod_is_stranded() {
        // Median pod: 1 CPU, 1 GiB.
        let pods = [(1.0, GI), (1.0, GI), (0.5, 2.0 * GI)];
        let nodes = [
            // 4 CPU / 16 GiB, 3 CPU / 3 GiB requested: 1 CPU, 13 GiB free → 1 pod fits,
            // 12 GiB of memory stranded (no CPU left to use it).
            NodeInput {
                name: "a".into(),
                allocatable_cpu: 4.0,
                allocatable_memory: 16.0 * GI,
                allocatable_pods: 110.0,
                requested_cpu: 3.0,
                requested_memory: 3.0 * GI,
                pods: 3,
            },
            // Empty: 4 pods fit, nothing stranded.
            NodeInput {
                name: "b".into(),
                allocatable_cpu: 4.0,
                allocatable_memory: 4.0 * GI,
                allocatable_pods: 110.0,
                ..Default::default()
            },
        ];
        let c = capacity(&nodes, &pods);
        assert_eq!((c.median_cpu, c.median_memory), (1.0, GI));
        assert_eq!(c.nodes[0].fits_median_pods, 1);
        assert!((c.nodes[0].stranded_memory - 12.0 * GI).abs() < 1.0);
        assert!(c.nodes[0].stranded_cpu.abs() < 1e-9);
        assert_eq!(c.nodes[1].fits_median_pods, 4);
        assert!(c.nodes[1].stranded_memory.abs() < 1.0);
        assert!((c.totals.spare_cpu - 5.0).abs() < 1e-9);
        assert!((c.totals.stranded_memory_percent - 60.0).abs() < 1e-6);
    }

    #[test]
    fn the_fleet_sums_its_clusters_and_takes_shares_of_the_sum() {
        let node = |cpu: f64, requested: f64| NodeInput {
            name: "n".into(),
            allocatable_cpu: cpu,
            allocatable_memory: cpu * GI,
            allocatable_pods: 110.0,
            requested_cpu: requested,
            requested_memory: requested * GI,
            pods: 1,
        };
        // Median pod 1 CPU: 0.5 CPU of a is stranded; b's median pod is 2 CPU, so 1.5 of its
        // 3.5 free CPU is.
        let a = capacity(&[node(4.0, 3.5)], &[(1.0, GI)]);
        let b = capacity(&[node(8.0, 4.5), node(2.0, 2.0)], &[(2.0, 2.0 * GI)]);
        assert!((a.totals.stranded_cpu - 0.5).abs() < 1e-9);
        assert!((b.totals.stranded_cpu - 1.5).abs() < 1e-9);
        let lines = [
            CapacityLine::of("eu", &a, None),
            CapacityLine::of("us", &b, Some(1_700_000_000)),
        ];
        assert_eq!((lines[0].nodes, lines[1].nodes), (1, 2));
        assert_eq!(lines[1].stale_since, Some(1_700_000_000));
        let fleet = roll_up(&lines);
        assert_eq!(fleet.nodes, 3);
        let t = &fleet.totals;
        assert!((t.allocatable_cpu - 14.0).abs() < 1e-9);
        assert!((t.requested_cpu - 10.0).abs() < 1e-9);
        assert!((t.spare_cpu - 4.0).abs() < 1e-9);
        assert!((t.stranded_cpu - 2.0).abs() < 1e-9);
        // 2 of 14 CPU, not the mean of 12.5 % and 15 %.
        assert!((t.stranded_cpu_percent - 200.0 / 14.0).abs() < 1e-9);
        assert_eq!(fleet.stale_since, None);
        assert_eq!(roll_up(&[]).totals.stranded_cpu_percent, 0.0);
    }

    #[test]
    fn a_full_pod_slot_count_strands_everything_left() {
        let nodes = [NodeInput {
            name: "a".into(),
            allocatable_cpu: 4.0,
            allocatable_memory: 4.0 * GI,
            allocatable_pods: 2.0,
            requested_cpu: 1.0,
            requested_memory: GI,
            pods: 2,
        }];
        let c = capacity(&nodes, &[(0.5, GI)]);
        assert_eq!(c.nodes[0].fits_median_pods, 0);
        assert!((c.nodes[0].stranded_cpu - 3.0).abs() < 1e-9);
    }
}
