//! The cost report's sums, taken as the store's rows arrive: a fleet's month by namespace is
//! 240,000 rows, so each is added where it belongs (no row kept, no string copied per row)
//! and the report is made from the sums once the rows are in.
//!
//! A namespace or workload is one cluster's (names are unique per cluster, not across the
//! fleet): grouped by either, `shop` on two clusters is two groups. Grouped by cluster, team
//! or label, a group spans clusters; its allocation is kept per cluster, since each cluster
//! shares out its own idle.

use std::collections::HashMap;

use crate::cost::{Cost, GroupBy};
use crate::cost_report::{
    CostReport, PerClusterStep, ReportGroup, ReportQuery, chart_series_only, idle_per_unit, sort,
};

/// One row of priced sums, borrowed from wherever it was read.
#[derive(Clone, Copy, Debug)]
pub struct StepRow<'a> {
    /// Unix seconds where the step begins.
    pub bucket: i64,
    /// The fleet's name of the cluster.
    pub cluster: &'a str,
    pub key: &'a str,
    pub cost: Cost,
    pub used: f64,
    pub requested: f64,
}

/// One group's sums so far.
struct Acc {
    cost: Cost,
    used: f64,
    requested: f64,
    /// Per cluster (by index into [`Tally::clusters`]): the total per step, and what of it
    /// takes a share of idle (all but storage).
    steps: Vec<(usize, Vec<f64>, Vec<f64>)>,
}

/// The sums of a report being read.
pub struct Tally {
    query: ReportQuery,
    from: i64,
    to: i64,
    step: i64,
    steps: usize,
    /// Lower-cased, when the view is filtered.
    filter: Option<String>,
    /// Whether a group is one cluster's (by namespace or workload).
    per_cluster: bool,
    clusters: Vec<String>,
    /// Groups by their cluster's index (always 0 when groups span clusters), then key.
    groups: Vec<HashMap<String, Acc>>,
    /// Everything the rows allocated (all but storage), per cluster index and step: what
    /// idle is shared against when the rows are everything there is.
    allocated: Vec<Vec<f64>>,
    used: f64,
    requested: f64,
    /// Rows in the window and cluster asked for, before the filter: none means no history.
    rows: usize,
}

impl Tally {
    pub fn new(query: ReportQuery, from: i64, to: i64) -> Self {
        let step = query.step.seconds();
        let steps = usize::try_from((to - from) / step).unwrap_or(0);
        Self {
            filter: query.filter.as_ref().map(|f| f.to_lowercase()),
            per_cluster: matches!(query.group, GroupBy::Namespace | GroupBy::Workload),
            query,
            from,
            to,
            step,
            steps,
            clusters: Vec::new(),
            groups: Vec::new(),
            allocated: Vec::new(),
            used: 0.0,
            requested: 0.0,
            rows: 0,
        }
    }

    fn cluster_index(&mut self, cluster: &str) -> usize {
        if let Some(i) = self.clusters.iter().position(|c| c == cluster) {
            return i;
        }
        self.clusters.push(cluster.to_owned());
        self.allocated.push(vec![0.0; self.steps]);
        self.clusters.len() - 1
    }

    /// Adds a row: outside the window, the cluster asked for or the filter, it counts for
    /// nothing.
    pub fn add(&mut self, row: StepRow<'_>) {
        if row.bucket < self.from || (row.bucket - self.from) % self.step != 0 {
            return;
        }
        let Ok(i) = usize::try_from((row.bucket - self.from) / self.step) else {
            return;
        };
        if i >= self.steps
            || self
                .query
                .cluster
                .as_deref()
                .is_some_and(|c| c != row.cluster)
        {
            return;
        }
        self.rows += 1;
        if self
            .filter
            .as_deref()
            .is_some_and(|f| !row.key.to_lowercase().contains(f))
        {
            return;
        }
        let c = self.cluster_index(row.cluster);
        let total = row.cost.total();
        // Idle is node capacity nothing was allocated: storage takes no share of it.
        let sharing = total - row.cost.storage;
        self.allocated[c][i] += sharing;
        self.used += row.used;
        self.requested += row.requested;
        let scope = if self.per_cluster { c } else { 0 };
        while self.groups.len() <= scope {
            self.groups.push(HashMap::new());
        }
        let groups = &mut self.groups[scope];
        // Looked up before inserting: a key is copied once per group, not once per row.
        if !groups.contains_key(row.key) {
            groups.insert(
                row.key.to_owned(),
                Acc {
                    cost: Cost::default(),
                    used: 0.0,
                    requested: 0.0,
                    steps: Vec::new(),
                },
            );
        }
        let Some(acc) = groups.get_mut(row.key) else {
            return;
        };
        acc.cost.add(&row.cost);
        acc.used += row.used;
        acc.requested += row.requested;
        let at = match acc.steps.iter().position(|(k, _, _)| *k == c) {
            Some(at) => at,
            None => {
                acc.steps
                    .push((c, vec![0.0; self.steps], vec![0.0; self.steps]));
                acc.steps.len() - 1
            }
        };
        let (_, series, shares) = &mut acc.steps[at];
        series[i] += total;
        shares[i] += sharing;
    }

    /// Everything the rows allocated per cluster and step (storage aside).
    pub fn allocated(&self) -> PerClusterStep {
        let mut out = PerClusterStep::new();
        for (c, per) in self.allocated.iter().enumerate() {
            for (i, v) in per.iter().enumerate() {
                out.insert(
                    (self.clusters[c].clone(), self.from + i as i64 * self.step),
                    *v,
                );
            }
        }
        out
    }

    /// The report: `node_costs` is each cluster's node cost per step, `cluster_allocated`
    /// everything allocated there per step (so a group's share of a cluster's idle is its
    /// part of all that cluster's allocation).
    pub fn finish(
        self,
        node_costs: &PerClusterStep,
        cluster_allocated: &PerClusterStep,
    ) -> CostReport {
        let buckets: Vec<i64> = (0..self.steps)
            .map(|i| self.from + i as i64 * self.step)
            .collect();
        // Idle of each step per unit allocated, per cluster: our part of it is all of it when
        // we are everything, else in proportion to our allocation.
        let ratios = idle_per_unit(node_costs, cluster_allocated);
        let idle_per_unit: Vec<Vec<f64>> = self
            .clusters
            .iter()
            .map(|cluster| {
                buckets
                    .iter()
                    .map(|bucket| {
                        ratios
                            .get(&(cluster.clone(), *bucket))
                            .copied()
                            .unwrap_or(0.0)
                    })
                    .collect()
            })
            .collect();
        let share_idle = self.query.share_idle;
        let mut idle_series = vec![0.0; self.steps];
        let mut out = Vec::new();
        for (scope, groups) in self.groups.into_iter().enumerate() {
            for (key, acc) in groups {
                let mut series = vec![0.0; self.steps];
                let mut idle = vec![0.0; self.steps];
                for (c, totals, shares) in &acc.steps {
                    for i in 0..self.steps {
                        series[i] += totals[i];
                        idle[i] += idle_per_unit[*c][i] * shares[i];
                    }
                }
                for (i, v) in idle.iter().enumerate() {
                    idle_series[i] += v;
                }
                let idle: f64 = idle
                    .iter()
                    .zip(&mut series)
                    .map(|(v, s)| {
                        if share_idle {
                            *s += v;
                        }
                        v
                    })
                    .sum();
                let shared = if share_idle { idle } else { 0.0 };
                out.push(ReportGroup {
                    total: acc.cost.total() + shared,
                    cluster: if self.per_cluster {
                        self.clusters[scope].clone()
                    } else {
                        String::new()
                    },
                    key,
                    cost: acc.cost,
                    idle: shared,
                    efficiency: (acc.requested > 0.0).then(|| acc.used / acc.requested),
                    series,
                });
            }
        }
        let allocated: f64 = out.iter().map(|g| g.cost.total()).sum();
        let idle: f64 = idle_series.iter().sum();
        sort(&mut out, self.query.sort, self.query.descending);
        let other_series = chart_series_only(&mut out, self.steps, self.query.all_series);
        CostReport {
            empty: self.rows == 0,
            query: self.query,
            from: self.from,
            to: self.to,
            buckets,
            groups: out,
            allocated,
            idle,
            idle_series,
            other_series,
            total: allocated + idle,
            efficiency: (self.requested > 0.0).then(|| self.used / self.requested),
            made_at: self.to,
            only_teams: None,
            clusters: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost_report::Step;

    const DAY: i64 = 86_400;

    /// Every cluster's step sums, by hand.
    fn steps_of(rows: &[(&str, i64, f64)]) -> PerClusterStep {
        rows.iter()
            .map(|(c, b, v)| (((*c).to_owned(), *b), *v))
            .collect()
    }

    fn row<'a>(bucket: i64, cluster: &'a str, key: &'a str, cpu: f64) -> StepRow<'a> {
        StepRow {
            bucket,
            cluster,
            key,
            cost: Cost {
                cpu,
                ..Cost::default()
            },
            used: 0.0,
            requested: 0.0,
        }
    }

    fn daily(group: GroupBy) -> ReportQuery {
        ReportQuery {
            group,
            step: Step::Daily,
            share_idle: true,
            ..ReportQuery::default()
        }
    }

    #[test]
    fn one_name_on_two_clusters_is_two_namespaces_but_one_team() {
        let rows = [
            row(0, "eu-prod", "shop", 4.0),
            row(DAY, "eu-prod", "shop", 2.0),
            row(0, "us-dev", "shop", 1.0),
        ];
        // eu-prod is full; us-dev's nodes cost 5 for the 1 allocated.
        let nodes = steps_of(&[("eu-prod", 0, 4.0), ("us-dev", 0, 5.0)]);
        let mut by_ns = Tally::new(daily(GroupBy::Namespace), 0, 2 * DAY);
        rows.iter().for_each(|r| by_ns.add(*r));
        let all = by_ns.allocated();
        let report = by_ns.finish(&nodes, &all);
        let groups: Vec<(&str, &str, f64, f64, &[f64])> = report
            .groups
            .iter()
            .map(|g| {
                (
                    g.cluster.as_str(),
                    g.key.as_str(),
                    g.cost.total(),
                    g.idle,
                    g.series.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            groups,
            [
                ("eu-prod", "shop", 6.0, 0.0, &[4.0, 2.0][..]),
                ("us-dev", "shop", 1.0, 4.0, &[5.0, 0.0][..]),
            ]
        );
        // The chart names each with its cluster.
        assert!(report.groups_on_several_clusters());
        let chart = crate::cost_report::chart(&report, 8, 100.0, 50.0);
        assert_eq!(chart.legend, ["shop (eu-prod)", "shop (us-dev)"]);
        // By team, the same rows are one group, each cluster sharing out its own idle.
        let mut by_team = Tally::new(daily(GroupBy::Team), 0, 2 * DAY);
        rows.iter().for_each(|r| by_team.add(*r));
        let all = by_team.allocated();
        let team = by_team.finish(&nodes, &all);
        assert_eq!(team.groups.len(), 1);
        assert!(!team.groups_on_several_clusters());
        let g = &team.groups[0];
        assert_eq!((g.cluster.as_str(), g.cost.total(), g.idle), ("", 7.0, 4.0));
        assert_eq!(g.series, [9.0, 2.0]);
        assert_eq!((team.allocated, team.idle, team.total), (7.0, 4.0, 11.0));
    }

    #[test]
    fn rows_outside_the_window_or_the_view_count_for_nothing() {
        let mut t = Tally::new(
            ReportQuery {
                cluster: Some("us-dev".to_owned()),
                filter: Some("SHOP".to_owned()),
                ..daily(GroupBy::Namespace)
            },
            DAY,
            3 * DAY,
        );
        for r in [
            row(0, "us-dev", "shop", 1.0),
            row(3 * DAY, "us-dev", "shop", 1.0),
            row(DAY + 1, "us-dev", "shop", 1.0),
            row(DAY, "eu-prod", "shop", 1.0),
            row(DAY, "us-dev", "ops", 1.0),
        ] {
            t.add(r);
        }
        assert!(t.allocated().values().all(|v| *v == 0.0));
        t.add(row(2 * DAY, "us-dev", "web-shop", 2.0));
        let all = t.allocated();
        let report = t.finish(&PerClusterStep::new(), &all);
        assert_eq!(report.groups.len(), 1);
        assert_eq!(report.groups[0].series, [0.0, 2.0]);
        assert!(!report.empty);
    }
}
