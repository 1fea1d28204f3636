//! The cost report from each line's sums over the window rather than from its every step: a
//! fleet's month by namespace is 8,000 lines but 240,000 daily sums, so the store sums each
//! line's days (and its share of idle, from each cluster's idle per unit allocated and step)
//! and reads day by day only what the chart draws and what everything shown adds up to.
//!
//! In three passes, as the store reads: [`Lines`] takes the steps of everything shown, the
//! volumes and the lines; [`Lines::rank`] orders them and names the lines the chart draws;
//! [`Ranked`] takes those lines' steps and makes the report. [`crate::cost_tally::Tally`]
//! makes the same report from every line's steps.

use std::collections::HashMap;

use crate::cost::{Cost, GroupBy};
use crate::cost_report::{
    CHART_LINES, CostReport, PerClusterStep, ReportGroup, ReportQuery, chart_lines, sort,
};
use crate::cost_tally::StepRow;

/// One line's sums over the window, borrowed from wherever they were read.
#[derive(Clone, Copy, Debug)]
pub struct LineRow<'a> {
    /// The fleet's name of the cluster.
    pub cluster: &'a str,
    pub key: &'a str,
    pub cost: Cost,
    pub used: f64,
    pub requested: f64,
    /// Its allocation (all but storage) of each step times that step's idle per unit
    /// allocated on its cluster, summed: its share of idle.
    pub idle: f64,
}

/// One line's sums so far.
struct Line {
    cost: Cost,
    used: f64,
    requested: f64,
    idle: f64,
    /// Its storage per step, when it has volumes.
    storage: Vec<f64>,
}

/// The sums of a report being read line by line.
pub struct Lines {
    query: ReportQuery,
    from: i64,
    to: i64,
    step: i64,
    steps: usize,
    /// Whether a line is one cluster's (by namespace or workload).
    per_cluster: bool,
    idle_per_unit: PerClusterStep,
    /// By (cluster, key); the cluster is empty when lines span clusters.
    lines: HashMap<(String, String), Line>,
    /// Everything shown per step, idle aside.
    shown: Vec<f64>,
    /// Idle per step: the part of each cluster's idle that belongs to what is shown.
    idle_series: Vec<f64>,
    /// Rows in the window and cluster asked for: none means no history.
    rows: usize,
}

impl Lines {
    /// `idle_per_unit`: each cluster's idle per unit allocated, per step
    /// ([`crate::cost_report::idle_per_unit`]).
    pub fn new(query: ReportQuery, from: i64, to: i64, idle_per_unit: PerClusterStep) -> Self {
        let step = query.step.seconds();
        let steps = usize::try_from((to - from) / step).unwrap_or(0);
        Self {
            per_cluster: matches!(query.group, GroupBy::Namespace | GroupBy::Workload),
            query,
            from,
            to,
            step,
            steps,
            idle_per_unit,
            lines: HashMap::new(),
            shown: vec![0.0; steps],
            idle_series: vec![0.0; steps],
            rows: 0,
        }
    }

    /// The step of a bucket of `cluster`, when it is in the window and the cluster asked for.
    fn step_of(&self, bucket: i64, cluster: &str) -> Option<usize> {
        if bucket < self.from
            || (bucket - self.from) % self.step != 0
            || self.query.cluster.as_deref().is_some_and(|c| c != cluster)
        {
            return None;
        }
        usize::try_from((bucket - self.from) / self.step)
            .ok()
            .filter(|i| *i < self.steps)
    }

    fn ratio(&self, cluster: &str, bucket: i64) -> f64 {
        self.idle_per_unit
            .get(&(cluster.to_owned(), bucket))
            .copied()
            .unwrap_or(0.0)
    }

    /// What everything shown allocated on `cluster` in a step (storage aside), of `rows`
    /// rows.
    pub fn add_step(&mut self, bucket: i64, cluster: &str, allocated: f64, rows: usize) {
        let Some(i) = self.step_of(bucket, cluster) else {
            return;
        };
        self.rows += rows;
        self.shown[i] += allocated;
        self.idle_series[i] += allocated * self.ratio(cluster, bucket);
    }

    fn line(&mut self, cluster: &str, key: &str) -> &mut Line {
        let scope = if self.per_cluster { cluster } else { "" };
        self.lines
            .entry((scope.to_owned(), key.to_owned()))
            .or_insert_with(|| Line {
                cost: Cost::default(),
                used: 0.0,
                requested: 0.0,
                idle: 0.0,
                storage: Vec::new(),
            })
    }

    /// A line's sums (a line read as several rows is added up).
    pub fn add_line(&mut self, row: LineRow<'_>) {
        if self
            .query
            .cluster
            .as_deref()
            .is_some_and(|c| c != row.cluster)
        {
            return;
        }
        let line = self.line(row.cluster, row.key);
        line.cost.add(&row.cost);
        line.used += row.used;
        line.requested += row.requested;
        line.idle += row.idle;
    }

    /// A line's storage in a step (volumes take no share of idle).
    pub fn add_volume(&mut self, row: StepRow<'_>) {
        let Some(i) = self.step_of(row.bucket, row.cluster) else {
            return;
        };
        self.rows += 1;
        let total = row.cost.total();
        self.shown[i] += total;
        let steps = self.steps;
        let line = self.line(row.cluster, row.key);
        line.cost.add(&row.cost);
        line.storage.resize(steps, 0.0);
        line.storage[i] += total;
    }

    /// The lines in the asked order, and which of them the chart draws.
    pub fn rank(self) -> Ranked {
        let share_idle = self.query.share_idle;
        let mut groups = Vec::with_capacity(self.lines.len());
        let mut storage = HashMap::new();
        let (mut used, mut requested) = (0.0, 0.0);
        for ((cluster, key), line) in self.lines {
            let shared = if share_idle { line.idle } else { 0.0 };
            if !line.storage.is_empty() {
                storage.insert((cluster.clone(), key.clone()), line.storage);
            }
            groups.push(ReportGroup {
                total: line.cost.total() + shared,
                cluster,
                key,
                cost: line.cost,
                idle: shared,
                efficiency: (line.requested > 0.0).then(|| line.used / line.requested),
                series: Vec::new(),
            });
            used += line.used;
            requested += line.requested;
        }
        sort(&mut groups, self.query.sort, self.query.descending);
        let drawn: HashMap<(String, String), usize> = chart_lines(&groups, CHART_LINES)
            .into_iter()
            .map(|i| {
                let g = &mut groups[i];
                g.series = storage
                    .remove(&(g.cluster.clone(), g.key.clone()))
                    .unwrap_or_else(|| vec![0.0; self.steps]);
                ((g.cluster.clone(), g.key.clone()), i)
            })
            .collect();
        Ranked {
            query: self.query,
            from: self.from,
            to: self.to,
            step: self.step,
            steps: self.steps,
            per_cluster: self.per_cluster,
            idle_per_unit: self.idle_per_unit,
            groups,
            drawn,
            shown: self.shown,
            idle_series: self.idle_series,
            rows: self.rows,
            used,
            requested,
        }
    }
}

/// The lines in order, waiting for the steps of those the chart draws.
pub struct Ranked {
    query: ReportQuery,
    from: i64,
    to: i64,
    step: i64,
    steps: usize,
    per_cluster: bool,
    idle_per_unit: PerClusterStep,
    groups: Vec<ReportGroup>,
    /// The lines the chart draws, by (cluster, key), to their place in `groups`.
    drawn: HashMap<(String, String), usize>,
    shown: Vec<f64>,
    idle_series: Vec<f64>,
    rows: usize,
    used: f64,
    requested: f64,
}

impl Ranked {
    /// The (cluster, key) of each line the chart draws; the cluster is empty when lines span
    /// clusters.
    pub fn drawn(&self) -> Vec<(String, String)> {
        self.drawn.keys().cloned().collect()
    }

    /// A step of a line the chart draws (storage aside: its volumes are in already).
    pub fn add_series(&mut self, row: StepRow<'_>) {
        if row.bucket < self.from || (row.bucket - self.from) % self.step != 0 {
            return;
        }
        let Some(i) = usize::try_from((row.bucket - self.from) / self.step)
            .ok()
            .filter(|i| *i < self.steps)
        else {
            return;
        };
        let scope = if self.per_cluster { row.cluster } else { "" };
        let Some(&at) = self.drawn.get(&(scope.to_owned(), row.key.to_owned())) else {
            return;
        };
        let total = row.cost.total();
        let idle = if self.query.share_idle {
            total
                * self
                    .idle_per_unit
                    .get(&(row.cluster.to_owned(), row.bucket))
                    .copied()
                    .unwrap_or(0.0)
        } else {
            0.0
        };
        if let Some(v) = self.groups[at].series.get_mut(i) {
            *v += total + idle;
        }
    }

    /// The report: the lines not drawn are the rest of everything shown, step by step.
    pub fn finish(self) -> CostReport {
        let share_idle = self.query.share_idle;
        let mut other_series: Vec<f64> = self
            .shown
            .iter()
            .zip(&self.idle_series)
            .map(|(s, i)| if share_idle { s + i } else { *s })
            .collect();
        for at in self.drawn.values() {
            for (o, v) in other_series.iter_mut().zip(&self.groups[*at].series) {
                *o -= v;
            }
        }
        // What is left is sums less sums: rounding must not read as a negative cost.
        for o in &mut other_series {
            if *o < 1e-9 {
                *o = 0.0;
            }
        }
        let allocated: f64 = self.groups.iter().map(|g| g.cost.total()).sum();
        let idle: f64 = self.idle_series.iter().sum();
        CostReport {
            empty: self.rows == 0,
            buckets: (0..self.steps)
                .map(|i| self.from + i as i64 * self.step)
                .collect(),
            query: self.query,
            from: self.from,
            to: self.to,
            groups: self.groups,
            allocated,
            idle,
            idle_series: self.idle_series,
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
    use crate::cost_report::{Step, idle_per_unit};
    use crate::cost_tally::Tally;

    const DAY: i64 = 86_400;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * a.abs().max(1.0)
    }

    /// Rows of twelve namespaces on two clusters over three days, one name on both.
    fn rows() -> Vec<(i64, String, String, f64)> {
        let mut out = Vec::new();
        for day in 0..3 {
            for n in 0..12 {
                let cluster = if n % 3 == 0 { "us-dev" } else { "eu-prod" };
                out.push((
                    day * DAY,
                    cluster.to_owned(),
                    format!("ns-{n}"),
                    (n + day + 1) as f64,
                ));
            }
            out.push((day * DAY, "us-dev".to_owned(), "ns-1".to_owned(), 0.5));
        }
        out
    }

    fn step_row<'a>(bucket: i64, cluster: &'a str, key: &'a str, cpu: f64) -> StepRow<'a> {
        StepRow {
            bucket,
            cluster,
            key,
            cost: Cost {
                cpu,
                ..Cost::default()
            },
            used: cpu / 2.0,
            requested: cpu,
        }
    }

    /// The report line by line, summing as the store does: each line's days and its share
    /// of idle, everything's steps, then the drawn lines' steps.
    fn by_lines(query: ReportQuery, nodes: &PerClusterStep, volume: StepRow<'_>) -> CostReport {
        let rows = rows();
        let mut allocated = PerClusterStep::new();
        for (b, c, _, v) in &rows {
            *allocated.entry((c.clone(), *b)).or_default() += v;
        }
        let ratios = idle_per_unit(nodes, &allocated);
        let mut lines = Lines::new(query, 0, 3 * DAY, ratios.clone());
        for ((c, b), v) in &allocated {
            lines.add_step(*b, c, *v, 6);
        }
        lines.add_volume(volume);
        let mut sums: HashMap<(String, String), (f64, f64)> = HashMap::new();
        for (b, c, k, v) in &rows {
            let s = sums.entry((c.clone(), k.clone())).or_default();
            s.0 += v;
            s.1 += v * ratios.get(&(c.clone(), *b)).copied().unwrap_or(0.0);
        }
        for ((c, k), (cpu, idle)) in &sums {
            let row = step_row(0, c, k, *cpu);
            lines.add_line(LineRow {
                cluster: c,
                key: k,
                cost: row.cost,
                used: row.used,
                requested: row.requested,
                idle: *idle,
            });
        }
        let mut ranked = lines.rank();
        let drawn = ranked.drawn();
        assert_eq!(drawn.len(), CHART_LINES);
        for (b, c, k, v) in &rows {
            let scope = if matches!(ranked.query.group, GroupBy::Namespace) {
                c.as_str()
            } else {
                ""
            };
            if drawn.contains(&(scope.to_owned(), k.clone())) {
                ranked.add_series(step_row(*b, c, k, *v));
            }
        }
        ranked.finish()
    }

    fn by_tally(query: ReportQuery, nodes: &PerClusterStep, volume: StepRow<'_>) -> CostReport {
        let rows = rows();
        let mut tally = Tally::new(query, 0, 3 * DAY);
        for (b, c, k, v) in &rows {
            tally.add(step_row(*b, c, k, *v));
        }
        // Volumes take no share of idle: what is shared against is the usage rows'.
        let allocated = tally.allocated();
        tally.add(volume);
        tally.finish(nodes, &allocated)
    }

    #[test]
    fn lines_summed_over_the_window_make_the_report_their_steps_make() {
        let nodes: PerClusterStep = [
            ("eu-prod", 0, 100.0),
            ("eu-prod", DAY, 40.0),
            ("us-dev", 0, 50.0),
        ]
        .iter()
        .map(|(c, b, v)| (((*c).to_owned(), *b), *v))
        .collect();
        let volume = StepRow {
            cost: Cost {
                storage: 3.0,
                ..Cost::default()
            },
            used: 0.0,
            requested: 0.0,
            ..step_row(DAY, "eu-prod", "ns-11", 0.0)
        };
        for share_idle in [false, true] {
            let query = ReportQuery {
                group: GroupBy::Namespace,
                step: Step::Daily,
                share_idle,
                ..ReportQuery::default()
            };
            let lines = by_lines(query.clone(), &nodes, volume);
            let tally = by_tally(query, &nodes, volume);
            assert_eq!(lines.groups.len(), 13, "ns-1 is a line on each cluster");
            let names = |r: &CostReport| -> Vec<(String, String)> {
                r.groups
                    .iter()
                    .map(|g| (g.cluster.clone(), g.key.clone()))
                    .collect()
            };
            assert_eq!(names(&lines), names(&tally));
            for (l, t) in lines.groups.iter().zip(&tally.groups) {
                assert!(
                    close(l.total, t.total),
                    "{} {} vs {}",
                    l.key,
                    l.total,
                    t.total
                );
                assert!(close(l.idle, t.idle));
                assert_eq!(l.cost.storage, t.cost.storage);
                assert_eq!(l.series.len(), t.series.len(), "{}", l.key);
                for (a, b) in l.series.iter().zip(&t.series) {
                    assert!(close(*a, *b), "{}: {:?} vs {:?}", l.key, l.series, t.series);
                }
            }
            assert_eq!(
                lines.groups.iter().filter(|g| !g.series.is_empty()).count(),
                CHART_LINES
            );
            for (a, b) in lines.other_series.iter().zip(&tally.other_series) {
                assert!(
                    close(*a, *b),
                    "{:?} vs {:?}",
                    lines.other_series,
                    tally.other_series
                );
            }
            assert!(lines.other_series.iter().any(|v| *v > 0.0));
            for (a, b) in lines.idle_series.iter().zip(&tally.idle_series) {
                assert!(close(*a, *b));
            }
            assert!(close(lines.total, tally.total));
            assert!(close(lines.idle, tally.idle));
            assert!(lines.idle > 0.0);
            assert_eq!(lines.efficiency, tally.efficiency);
            assert!(!lines.empty);
            // Every step adds up: the drawn lines, the others, and idle when apart.
            for i in 0..3 {
                let drawn: f64 = lines.groups.iter().filter_map(|g| g.series.get(i)).sum();
                let idle = if share_idle {
                    0.0
                } else {
                    lines.idle_series[i]
                };
                let day: f64 = rows()
                    .iter()
                    .filter(|r| r.0 == i as i64 * DAY)
                    .map(|r| r.3)
                    .sum::<f64>()
                    + if i == 1 { 3.0 } else { 0.0 };
                let shared = if share_idle {
                    lines.idle_series[i]
                } else {
                    0.0
                };
                assert!(close(
                    drawn + lines.other_series[i] + idle,
                    day + shared + idle
                ));
            }
        }
    }

    #[test]
    fn by_team_a_line_spans_clusters_and_one_cluster_asked_for_keeps_its_own() {
        let nodes = PerClusterStep::new();
        let team = ReportQuery {
            group: GroupBy::Team,
            step: Step::Daily,
            ..ReportQuery::default()
        };
        // One team on two clusters is one line.
        let mut lines = Lines::new(team, 0, DAY, nodes);
        for (cluster, cpu) in [("eu-prod", 2.0), ("us-dev", 1.0)] {
            let row = step_row(0, cluster, "payments", cpu);
            lines.add_line(LineRow {
                cluster,
                key: "payments",
                cost: row.cost,
                used: 0.0,
                requested: 0.0,
                idle: 0.0,
            });
            lines.add_step(0, cluster, cpu, 1);
        }
        let mut ranked = lines.rank();
        assert_eq!(ranked.drawn(), vec![(String::new(), "payments".to_owned())]);
        ranked.add_series(step_row(0, "eu-prod", "payments", 2.0));
        ranked.add_series(step_row(0, "us-dev", "payments", 1.0));
        // Outside the window: nothing.
        ranked.add_series(step_row(DAY, "us-dev", "payments", 7.0));
        let report = ranked.finish();
        assert_eq!(report.groups.len(), 1);
        assert_eq!(report.groups[0].cluster, "");
        assert_eq!(report.groups[0].series, [3.0]);
        assert_eq!(report.other_series, [0.0]);
        assert_eq!(report.total, 3.0);

        let one = ReportQuery {
            group: GroupBy::Namespace,
            cluster: Some("us-dev".to_owned()),
            ..ReportQuery::default()
        };
        let mut lines = Lines::new(one, 0, DAY, PerClusterStep::new());
        for cluster in ["eu-prod", "us-dev"] {
            lines.add_line(LineRow {
                cluster,
                key: "shop",
                cost: Cost {
                    cpu: 1.0,
                    ..Cost::default()
                },
                used: 0.0,
                requested: 0.0,
                idle: 0.0,
            });
        }
        let report = lines.rank().finish();
        assert_eq!(report.groups.len(), 1);
        assert_eq!(report.groups[0].cluster, "us-dev");
        assert!(report.empty, "no step rows were read");
    }
}
