//! The cost report: what the URL asks for (checked), and the report built from priced sums per
//! time step and group — totals, idle, efficiency, a series per group for the chart, CSV.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cost::{Cost, GroupBy, UNALLOCATED};
pub use crate::cost_tally::{StepRow, Tally};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// The time window of a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Window {
    Day,
    Week,
    Month,
    /// Unix seconds, `from` inclusive, `to` exclusive.
    Custom {
        from: i64,
        to: i64,
    },
}

/// Steps of the chart and the CSV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Step {
    Hourly,
    Daily,
}

impl Step {
    pub fn seconds(self) -> i64 {
        match self {
            Step::Hourly => HOUR,
            Step::Daily => DAY,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Hourly => "hourly",
            Step::Daily => "daily",
        }
    }
}

/// The column a table is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SortBy {
    Name,
    Cost,
    Efficiency,
}

/// Everything that makes a view, as the URL carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportQuery {
    pub group: GroupBy,
    pub window: Window,
    pub step: Step,
    pub share_idle: bool,
    /// Only this team's namespaces.
    pub team: Option<String>,
    /// Only what ran on this cluster of the fleet.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Only groups whose name contains this text.
    pub filter: Option<String>,
    pub sort: SortBy,
    pub descending: bool,
    /// Every group's series per step (`series=all`); else only those of the groups the chart
    /// draws, the rest summed in [`CostReport::other_series`] (a fleet's month by namespace
    /// is 8,000 lines: their totals are one row each, their days 240,000).
    #[serde(default)]
    pub all_series: bool,
}

impl Default for ReportQuery {
    fn default() -> Self {
        ReportQuery {
            group: GroupBy::Namespace,
            window: Window::Week,
            step: Step::Daily,
            share_idle: false,
            team: None,
            cluster: None,
            filter: None,
            sort: SortBy::Cost,
            descending: true,
            all_series: false,
        }
    }
}

/// The longest window a report covers (a year: what hourly roll-ups are kept for).
pub const MAX_DAYS: i64 = 366;
/// Hourly steps are for short windows; a longer one would draw thousands of bars.
pub const MAX_HOURLY_DAYS: i64 = 14;

/// Unix seconds of midnight UTC of a `YYYY-MM-DD` date; `None` for anything else.
pub fn parse_date(text: &str) -> Option<i64> {
    // YYYY-MM-DD, as <input type=date> sends it; days since the epoch by the civil calendar.
    let mut parts = text.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days_in_month = match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if d > days_in_month {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * DAY)
}

/// `YYYY-MM-DD` of a unix time (UTC).
pub fn format_date(unix: i64) -> String {
    let z = unix.div_euclid(DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:00` of a unix time (UTC).
pub fn format_hour(unix: i64) -> String {
    format!(
        "{} {:02}:00",
        format_date(unix),
        unix.rem_euclid(DAY) / HOUR
    )
}

/// `YYYY-MM-DD HH:MM:SS` of a unix time (UTC).
pub fn format_time(unix: i64) -> String {
    let second = unix.rem_euclid(DAY);
    format!(
        "{} {:02}:{:02}:{:02}",
        format_date(unix),
        second / HOUR,
        second % HOUR / 60,
        second % 60
    )
}

/// Every parameter a view has.
pub const PARAMS: [&str; 13] = [
    "by", "label", "window", "from", "to", "step", "idle", "team", "cluster", "filter", "sort",
    "order", "series",
];

impl ReportQuery {
    /// Reads the URL's parameters; unknown names and values are refused with a message naming
    /// them (a misspelt one would otherwise show another view than the one asked for).
    pub fn from_params(params: &BTreeMap<String, String>) -> Result<ReportQuery, Vec<String>> {
        let mut problems = Vec::new();
        for key in params.keys().filter(|k| !PARAMS.contains(&k.as_str())) {
            let shown: String = key.chars().take(40).collect();
            problems.push(format!(
                "unknown parameter {shown:?}: a view takes {}",
                PARAMS.join(", ")
            ));
        }
        let get = |k: &str| {
            params
                .get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut q = ReportQuery::default();
        if let Some(by) = get("by") {
            q.group = match by.as_str() {
                "cluster" => GroupBy::Cluster,
                "namespace" => GroupBy::Namespace,
                "team" => GroupBy::Team,
                "workload" => GroupBy::Workload,
                "label" => match get("label") {
                    Some(l) if valid_label(&l) => GroupBy::Label(l),
                    Some(l) => {
                        problems.push(format!("{l:?} is not a label key"));
                        GroupBy::Namespace
                    }
                    None => {
                        problems.push("grouping by label needs a label key".to_owned());
                        GroupBy::Namespace
                    }
                },
                other => {
                    problems.push(format!(
                        "cannot group by {other:?}: cluster, namespace, team, workload or label"
                    ));
                    GroupBy::Namespace
                }
            };
        }
        if let Some(w) = get("window") {
            q.window = match w.as_str() {
                "24h" => Window::Day,
                "7d" => Window::Week,
                "30d" => Window::Month,
                "custom" => {
                    let from = get("from").and_then(|f| parse_date(&f));
                    let to = get("to").and_then(|t| parse_date(&t));
                    match (from, to) {
                        (Some(from), Some(to)) if to >= from => {
                            let to = to + DAY;
                            if to - from > MAX_DAYS * DAY {
                                problems
                                    .push(format!("a window may cover at most {MAX_DAYS} days"));
                            }
                            Window::Custom { from, to }
                        }
                        (Some(_), Some(_)) => {
                            problems.push("the window ends before it starts".to_owned());
                            Window::Week
                        }
                        _ => {
                            problems.push(
                                "a custom window needs from and to dates (YYYY-MM-DD)".to_owned(),
                            );
                            Window::Week
                        }
                    }
                }
                other => {
                    problems.push(format!("unknown window {other:?}: 24h, 7d, 30d or custom"));
                    Window::Week
                }
            };
        }
        if let Some(s) = get("step") {
            q.step = match s.as_str() {
                "hourly" => Step::Hourly,
                "daily" => Step::Daily,
                other => {
                    problems.push(format!("unknown step {other:?}: hourly or daily"));
                    Step::Daily
                }
            };
        } else if q.window == Window::Day {
            q.step = Step::Hourly;
        }
        q.share_idle = matches!(get("idle").as_deref(), Some("share"));
        if let Some(i) = get("idle").filter(|i| i != "share" && i != "separate") {
            problems.push(format!(
                "idle is shown \"separate\" or \"share\"d, not {i:?}"
            ));
        }
        q.team = get("team");
        q.cluster = get("cluster");
        if let Some(c) = q.cluster.as_ref().filter(|c| !crate::fleet::valid_name(c)) {
            let shown: String = c.chars().take(40).collect();
            problems.push(format!("{shown:?} is not a cluster name"));
        }
        q.filter = get("filter");
        if q.filter.as_ref().is_some_and(|f| f.chars().count() > 100) {
            problems.push("the filter may be at most 100 characters".to_owned());
        }
        if let Some(s) = get("sort") {
            q.sort = match s.as_str() {
                "name" => SortBy::Name,
                "cost" => SortBy::Cost,
                "efficiency" => SortBy::Efficiency,
                other => {
                    problems.push(format!(
                        "cannot sort by {other:?}: name, cost or efficiency"
                    ));
                    SortBy::Cost
                }
            };
        }
        q.all_series = get("series").as_deref() == Some("all");
        if let Some(s) = get("series").filter(|s| s != "all" && s != "chart") {
            problems.push(format!(
                "series are \"all\" the groups' or the \"chart\"'s, not {s:?}"
            ));
        }
        q.descending = get("order").as_deref() != Some("asc");
        if let Some(o) = get("order").filter(|o| o != "asc" && o != "desc") {
            problems.push(format!("order is asc or desc, not {o:?}"));
        }
        if q.step == Step::Hourly
            && let Some(days) = q.days()
            && days > MAX_HOURLY_DAYS
        {
            problems.push(format!(
                "hourly steps are for windows up to {MAX_HOURLY_DAYS} days; use daily"
            ));
        }
        if problems.is_empty() {
            Ok(q)
        } else {
            Err(problems)
        }
    }

    fn days(&self) -> Option<i64> {
        match self.window {
            Window::Day => Some(1),
            Window::Week => Some(7),
            Window::Month => Some(30),
            Window::Custom { from, to } => Some((to - from) / DAY),
        }
    }

    /// The CSV export's file name, from what the view shows: two exports never share a name
    /// (`berth-cost-7d-by-team.csv`, `berth-cost-2026-11-01-to-2026-11-30-by-namespace-payments.csv`).
    pub fn file_name(&self) -> String {
        let window = match self.window {
            Window::Day => "24h".to_owned(),
            Window::Week => "7d".to_owned(),
            Window::Month => "30d".to_owned(),
            Window::Custom { from, to } => {
                format!("{}-to-{}", format_date(from), format_date(to - DAY))
            }
        };
        let group = match &self.group {
            GroupBy::Cluster => "cluster".to_owned(),
            GroupBy::Namespace => "namespace".to_owned(),
            GroupBy::Team => "team".to_owned(),
            GroupBy::Workload => "workload".to_owned(),
            GroupBy::Label(l) => format!("label-{l}"),
        };
        let mut name = format!("berth-cost-{window}-by-{group}");
        for part in [&self.cluster, &self.team, &self.filter]
            .into_iter()
            .flatten()
        {
            name.push('-');
            name.push_str(part);
        }
        // Only what every file system and a Content-Disposition header take as it is.
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .take(120)
            .collect();
        format!("{safe}.csv")
    }

    /// The parameters that reproduce this view (for links, sharing and the CSV export).
    pub fn to_params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        match &self.group {
            GroupBy::Cluster => out.push(("by", "cluster".to_owned())),
            GroupBy::Namespace => out.push(("by", "namespace".to_owned())),
            GroupBy::Team => out.push(("by", "team".to_owned())),
            GroupBy::Workload => out.push(("by", "workload".to_owned())),
            GroupBy::Label(l) => {
                out.push(("by", "label".to_owned()));
                out.push(("label", l.clone()));
            }
        }
        match self.window {
            Window::Day => out.push(("window", "24h".to_owned())),
            Window::Week => out.push(("window", "7d".to_owned())),
            Window::Month => out.push(("window", "30d".to_owned())),
            Window::Custom { from, to } => {
                out.push(("window", "custom".to_owned()));
                out.push(("from", format_date(from)));
                out.push(("to", format_date(to - DAY)));
            }
        }
        out.push(("step", self.step.as_str().to_owned()));
        out.push((
            "idle",
            if self.share_idle { "share" } else { "separate" }.to_owned(),
        ));
        if let Some(t) = &self.team {
            out.push(("team", t.clone()));
        }
        if let Some(c) = &self.cluster {
            out.push(("cluster", c.clone()));
        }
        if let Some(f) = &self.filter {
            out.push(("filter", f.clone()));
        }
        out.push((
            "sort",
            match self.sort {
                SortBy::Name => "name",
                SortBy::Cost => "cost",
                SortBy::Efficiency => "efficiency",
            }
            .to_owned(),
        ));
        out.push((
            "order",
            if self.descending { "desc" } else { "asc" }.to_owned(),
        ));
        if self.all_series {
            out.push(("series", "all".to_owned()));
        }
        out
    }

    /// The URL query string of [`Self::to_params`], escaped.
    pub fn query_string(&self) -> String {
        self.to_params()
            .into_iter()
            .map(|(k, v)| format!("{k}={}", crate::text::query_value(&v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Where a row of this view leads, one level down: a team to its namespaces, a namespace
    /// to its workloads (same window and steps), a workload to its page; a namespace's and a
    /// workload's on the row's own `cluster`. `None` for a row with nothing below it (a
    /// label's value, a claim, the unallocated rest).
    pub fn drill_down(&self, key: &str, cluster: &str) -> Option<String> {
        if key == UNALLOCATED {
            return None;
        }
        let below = |group: GroupBy, team: Option<String>, filter: Option<String>| {
            let next = ReportQuery {
                group,
                team,
                filter,
                cluster: self.cluster.clone(),
                sort: SortBy::Cost,
                descending: true,
                ..self.clone()
            };
            format!("/cost?{}", next.query_string())
        };
        match &self.group {
            GroupBy::Cluster => Some(format!(
                "/cost?{}",
                ReportQuery {
                    group: GroupBy::Team,
                    cluster: Some(key.to_owned()),
                    sort: SortBy::Cost,
                    descending: true,
                    ..self.clone()
                }
                .query_string()
            )),
            GroupBy::Team => Some(below(GroupBy::Namespace, Some(key.to_owned()), None)),
            // A namespace's workloads on its own cluster (the name may be another's elsewhere).
            GroupBy::Namespace => Some(format!(
                "/cost?{}",
                ReportQuery {
                    group: GroupBy::Workload,
                    filter: Some(format!("{key}/")),
                    cluster: (!cluster.is_empty())
                        .then(|| cluster.to_owned())
                        .or_else(|| self.cluster.clone()),
                    sort: SortBy::Cost,
                    descending: true,
                    ..self.clone()
                }
                .query_string()
            )),
            GroupBy::Workload => {
                let mut parts = key.splitn(3, '/');
                let (namespace, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
                let kind = crate::rollout::WorkloadKind::from_slug(kind)?;
                let on = if cluster.is_empty() {
                    String::new()
                } else {
                    format!("?cluster={cluster}")
                };
                Some(format!("/rollouts/{}/{namespace}/{name}{on}", kind.slug()))
            }
            GroupBy::Label(_) => None,
        }
    }

    /// The window as unix seconds [from, to), steps aligned. "24h", "7d" and "30d" are
    /// whole UTC days ending with today, today so far: the same hours whatever the step (the
    /// hourly view ends with the hour that holds `now`, the daily one with today), so the two
    /// views of a window add up to the same total.
    pub fn range(&self, now: i64) -> (i64, i64) {
        let step = self.step.seconds();
        match self.window {
            Window::Custom { from, to } => (from.div_euclid(step) * step, to),
            _ => {
                let days = self.days().unwrap_or(7);
                let today_ends = now.div_euclid(DAY) * DAY + DAY;
                let to = match self.step {
                    Step::Daily => today_ends,
                    Step::Hourly => now.div_euclid(HOUR) * HOUR + HOUR,
                };
                (today_ends - days * DAY, to)
            }
        }
    }
}

fn valid_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 253
        && l.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

/// Priced sums of one group in one step, as the store computes them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepCost {
    /// Unix seconds where the step begins.
    pub bucket: i64,
    /// The fleet's name of the cluster the sums are of.
    #[serde(default)]
    pub cluster: String,
    pub key: String,
    pub cost: Cost,
    /// Priced usage and requests, for efficiency.
    pub used: f64,
    pub requested: f64,
}

impl StepCost {
    pub fn as_row(&self) -> StepRow<'_> {
        StepRow {
            bucket: self.bucket,
            cluster: &self.cluster,
            key: &self.key,
            cost: self.cost,
            used: self.used,
            requested: self.requested,
        }
    }
}

/// One group's line of the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportGroup {
    pub key: String,
    /// The cluster of a namespace or workload (names are unique per cluster, so one name on
    /// two clusters is two lines); empty for groups spanning clusters (cluster, team, label).
    #[serde(default)]
    pub cluster: String,
    pub cost: Cost,
    /// Its share of idle when idle is shared.
    pub idle: f64,
    pub total: f64,
    pub efficiency: Option<f64>,
    /// Total per step, aligned with [`CostReport::buckets`]; empty for a group the chart
    /// does not draw unless every series was asked for (its steps are in
    /// [`CostReport::other_series`]).
    pub series: Vec<f64>,
}

/// What the report page and the CSV show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CostReport {
    pub query: ReportQuery,
    pub from: i64,
    pub to: i64,
    pub buckets: Vec<i64>,
    pub groups: Vec<ReportGroup>,
    /// Allocated cost of the groups shown.
    pub allocated: f64,
    /// Idle cost belonging to what is shown (all of it for the cluster, a share for a team).
    pub idle: f64,
    /// Idle per step.
    pub idle_series: Vec<f64>,
    /// Per step, the groups whose series are left out: with the groups' series, everything
    /// shown (and idle's share of it when shared).
    #[serde(default)]
    pub other_series: Vec<f64>,
    /// allocated + idle.
    pub total: f64,
    pub efficiency: Option<f64>,
    /// No usage history covers the window.
    pub empty: bool,
    /// When the report was made (unix seconds): the window's last day holds what was known
    /// of it then.
    #[serde(default)]
    pub made_at: i64,
    /// The teams the viewer may see, when that is fewer than all (a link made by a manager
    /// shows a developer only their own teams' part).
    #[serde(default)]
    pub only_teams: Option<Vec<String>>,
    /// The fleet's clusters, the home one first (what the view may be narrowed to).
    #[serde(default)]
    pub clusters: Vec<String>,
}

impl ReportGroup {
    /// How the group reads; with its cluster when one name may be on several.
    pub fn name(&self, with_cluster: bool) -> String {
        if with_cluster && !self.cluster.is_empty() {
            format!("{} ({})", label(&self.key), self.cluster)
        } else {
            label(&self.key).to_owned()
        }
    }
}

impl CostReport {
    /// Whether the groups are namespaces or workloads of more than one cluster (so a name
    /// needs its cluster beside it).
    pub fn groups_on_several_clusters(&self) -> bool {
        let mut clusters = self.groups.iter().map(|g| g.cluster.as_str());
        clusters
            .next()
            .is_some_and(|first| !first.is_empty() && clusters.any(|c| c != first))
    }

    /// The window in words: its bounds in UTC and how much of its last day there is yet.
    pub fn window_text(&self) -> String {
        let step = self.query.step.as_str();
        if let Window::Custom { .. } = self.query.window {
            return format!(
                "{} – {} (UTC), {step} steps",
                format_date(self.from),
                format_date(self.to - 1)
            );
        }
        let days = self.query.days().unwrap_or(7);
        let today = self.made_at.div_euclid(DAY) * DAY;
        let hours = (self.made_at - today) / HOUR;
        let whole = if days == 1 {
            "today".to_owned()
        } else {
            format!("{days} days: the {} before today and today", days - 1)
        };
        format!(
            "{} 00:00 – {} UTC, {whole} so far ({hours} of 24 hours), {step} steps",
            format_date(self.from),
            format_hour(today + hours * HOUR),
        )
    }

    /// Whether a step is cut short by now: the current day (or hour) so far.
    pub fn partial(&self, bucket: i64) -> bool {
        bucket + self.query.step.seconds() > self.made_at
    }
}

/// A sum per cluster and step (unix seconds where it begins).
pub type PerClusterStep = BTreeMap<(String, i64), f64>;

/// Builds the report from owned rows (the store streams its rows into a [`Tally`] instead):
/// `rows` are the groups' priced sums per cluster and step (already narrowed to the teams the
/// viewer may see), `node_costs` each cluster's node cost per step and `cluster_allocated`
/// everything allocated there per step. A cluster in the query keeps that cluster's rows only.
pub fn build(
    query: ReportQuery,
    from: i64,
    to: i64,
    rows: &[StepCost],
    node_costs: &PerClusterStep,
    cluster_allocated: &PerClusterStep,
) -> CostReport {
    let mut tally = Tally::new(query, from, to);
    for row in rows {
        tally.add(row.as_row());
    }
    tally.finish(node_costs, cluster_allocated)
}

/// Groups in the asked order; ties by key, then cluster.
pub(crate) fn sort(groups: &mut [ReportGroup], by: SortBy, descending: bool) {
    groups.sort_by(|a, b| {
        let order = match by {
            SortBy::Name => a.key.cmp(&b.key),
            SortBy::Cost => a.total.total_cmp(&b.total),
            SortBy::Efficiency => a
                .efficiency
                .unwrap_or(-1.0)
                .total_cmp(&b.efficiency.unwrap_or(-1.0)),
        };
        let order = if descending { order.reverse() } else { order };
        order
            .then_with(|| a.key.cmp(&b.key))
            .then_with(|| a.cluster.cmp(&b.cluster))
    });
}

/// How a group's key reads (the unallocated bucket has a name people understand).
pub fn label(key: &str) -> &str {
    if key == UNALLOCATED {
        "(unallocated)"
    } else {
        key
    }
}

/// The table exactly as shown: one row per group in the shown order, then idle (when separate)
/// and the total.
pub fn csv(report: &CostReport) -> String {
    let mut out = String::from("group,cluster,cpu,memory,gpu,storage,idle,total,efficiency\n");
    let money = |v: f64| format!("{v:.2}");
    for g in &report.groups {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            crate::csv::field(label(&g.key)),
            crate::csv::field(&g.cluster),
            money(g.cost.cpu),
            money(g.cost.memory),
            money(g.cost.gpu),
            money(g.cost.storage),
            money(g.idle),
            money(g.total),
            g.efficiency
                .map(|e| format!("{:.0}%", e * 100.0))
                .unwrap_or_default(),
        ));
    }
    if !report.query.share_idle {
        out.push_str(&format!(
            "(idle),,,,,,{},{},\n",
            money(report.idle),
            money(report.idle)
        ));
    }
    out.push_str(&format!(
        "(total),,,,,,,{},{}\n",
        money(report.total),
        report
            .efficiency
            .map(|e| format!("{:.0}%", e * 100.0))
            .unwrap_or_default()
    ));
    out
}

/// A bar segment of the stacked chart, in chart units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Segment {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// Index into the legend (its colour).
    pub series: usize,
    pub tooltip: String,
}

/// A label under the chart's time axis, at `x` (the middle of its step's bar).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tick {
    pub x: f64,
    pub label: String,
}

/// At most this many time labels: more would overlap on a phone.
const MAX_TICKS: usize = 7;

/// A step's name for people: `2026-11-22` or `2026-11-22 05:00`, marked while it is not over.
fn step_name(report: &CostReport, bucket: i64) -> String {
    let when = match report.query.step {
        Step::Daily => format_date(bucket),
        Step::Hourly => format_hour(bucket),
    };
    if report.partial(bucket) {
        format!("{when} (so far)")
    } else {
        when
    }
}

/// The stacked chart: the largest `top` groups, the rest as "other", idle on top when it is
/// shown separately.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub legend: Vec<String>,
    pub segments: Vec<Segment>,
    /// The highest stack, for the axis label.
    pub max: f64,
    /// The time axis: evenly spaced steps, first and last among them.
    #[serde(default)]
    pub ticks: Vec<Tick>,
}

/// How many groups the chart draws apart (the rest are "other").
pub const CHART_LINES: usize = 8;

/// Which groups the chart draws apart: the `n` largest by total, ties in the report's order.
pub fn chart_lines(groups: &[ReportGroup], n: usize) -> Vec<usize> {
    let mut by_total: Vec<usize> = (0..groups.len()).collect();
    by_total.sort_by(|a, b| groups[*b].total.total_cmp(&groups[*a].total));
    by_total.truncate(n);
    by_total
}

/// Keeps the series of the groups the chart draws (all of them when `all`) and returns the
/// others' summed per step.
pub(crate) fn chart_series_only(groups: &mut [ReportGroup], steps: usize, all: bool) -> Vec<f64> {
    let mut other = vec![0.0; steps];
    if all {
        return other;
    }
    let drawn = chart_lines(groups, CHART_LINES);
    for (i, g) in groups.iter_mut().enumerate() {
        if drawn.contains(&i) {
            continue;
        }
        for (o, v) in other.iter_mut().zip(&g.series) {
            *o += v;
        }
        g.series = Vec::new();
    }
    other
}

/// Each cluster's idle per unit allocated, per step: its nodes' cost less everything
/// allocated there, over that allocation (nothing when nothing was allocated).
pub fn idle_per_unit(
    node_costs: &PerClusterStep,
    cluster_allocated: &PerClusterStep,
) -> PerClusterStep {
    cluster_allocated
        .iter()
        .filter(|(_, all)| **all > 0.0)
        .filter_map(|(at, all)| {
            let node = node_costs.get(at)?;
            Some((at.clone(), (node - all).max(0.0) / all))
        })
        .collect()
}

pub fn chart(report: &CostReport, top: usize, width: f64, height: f64) -> Chart {
    let n = report.buckets.len();
    let drawn = chart_lines(&report.groups, top);
    let apart = report.groups_on_several_clusters();
    let mut legend: Vec<String> = drawn
        .iter()
        .map(|i| report.groups[*i].name(apart))
        .collect();
    let mut series: Vec<Vec<f64>> = drawn
        .iter()
        .map(|i| {
            let mut s = report.groups[*i].series.clone();
            s.resize(n, 0.0);
            s
        })
        .collect();
    if report.groups.len() > drawn.len() {
        // What the report summed already, and any series it kept beyond those drawn here.
        let mut other = report.other_series.clone();
        other.resize(n, 0.0);
        for (i, g) in report.groups.iter().enumerate() {
            if drawn.contains(&i) {
                continue;
            }
            for (o, v) in other.iter_mut().zip(&g.series) {
                *o += v;
            }
        }
        legend.push("other".to_owned());
        series.push(other);
    }
    if !report.query.share_idle {
        legend.push("idle".to_owned());
        series.push(report.idle_series.clone());
    }
    let stacks: Vec<f64> = (0..n).map(|i| series.iter().map(|s| s[i]).sum()).collect();
    let max = stacks.iter().copied().fold(0.0, f64::max);
    let slot = if n > 0 { width / n as f64 } else { width };
    let mut segments = Vec::new();
    if max > 0.0 {
        for i in 0..n {
            let mut y = height;
            for (s, values) in series.iter().enumerate() {
                let h = values[i] / max * height;
                if h <= 0.0 {
                    continue;
                }
                y -= h;
                let when = step_name(report, report.buckets[i]);
                segments.push(Segment {
                    x: i as f64 * slot + slot * 0.1,
                    y,
                    width: slot * 0.8,
                    height: h,
                    series: s,
                    tooltip: format!("{} · {when}: {}", legend[s], dollars(values[i])),
                });
            }
        }
    }
    let every = n.div_ceil(MAX_TICKS).max(1);
    let mut at: Vec<usize> = (0..n).step_by(every).collect();
    if let Some(&last) = at.last()
        && last + 1 != n
    {
        // The last step is always named; a label too close before it gives way.
        if (n - 1 - last) * 2 < every && at.len() > 1 {
            at.pop();
        }
        at.push(n - 1);
    }
    let ticks = at
        .into_iter()
        .map(|i| {
            let bucket = report.buckets[i];
            let label = match report.query.step {
                Step::Daily => format_date(bucket)[5..].to_owned(),
                Step::Hourly if bucket.rem_euclid(DAY) == 0 => format_date(bucket)[5..].to_owned(),
                Step::Hourly => format_hour(bucket)[11..].to_owned(),
            };
            Tick {
                x: i as f64 * slot + slot / 2.0,
                label,
            }
        })
        .collect();
    Chart {
        width,
        height,
        legend,
        segments,
        max,
        ticks,
    }
}

/// Money for people: `$1234.56` (dollars, cents, no separators), the report's one format.
pub fn dollars(v: f64) -> String {
    format!("${v:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::pairs as params;

    #[test]
    fn dates_round_trip_through_the_civil_calendar() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-11-22"), Some(1_795_305_600));
        assert_eq!(format_date(1_795_305_600), "2026-11-22");
        assert_eq!(format_hour(1_795_305_600 + 5 * HOUR), "2026-11-22 05:00");
        assert_eq!(
            parse_date("2024-02-29").map(format_date).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(parse_date("2026-02-29"), None);
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn each_export_is_named_after_its_view() {
        let q =
            ReportQuery::from_params(&params(&[("by", "team"), ("window", "30d")])).expect("query");
        assert_eq!(q.file_name(), "berth-cost-30d-by-team.csv");
        let q = ReportQuery::from_params(&params(&[
            ("by", "label"),
            ("label", "app.kubernetes.io/name"),
            ("window", "custom"),
            ("from", "2026-11-01"),
            ("to", "2026-11-30"),
            ("team", "payments"),
            ("filter", "a\"b/c"),
        ]))
        .expect("query");
        assert_eq!(
            q.file_name(),
            "berth-cost-2026-11-01-to-2026-11-30-by-label-app.kubernetes.io_name-payments-a_b_c.csv"
        );
    }

    #[test]
    fn an_unknown_parameter_is_refused_by_name() {
        let problems =
            ReportQuery::from_params(&params(&[("group", "team")])).expect_err("refused");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("unknown parameter \"group\""),
            "{problems:?}"
        );
        assert!(ReportQuery::from_params(&params(&[("by", "team")])).is_ok());
    }

    #[test]
    fn a_view_survives_its_own_url() {
        let q = ReportQuery {
            group: GroupBy::Label("app.kubernetes.io/name".to_owned()),
            window: Window::Custom {
                from: parse_date("2026-11-01").unwrap_or_default(),
                to: parse_date("2026-11-08").unwrap_or_default(),
            },
            step: Step::Daily,
            share_idle: true,
            team: Some("payments".to_owned()),
            cluster: Some("us-dev".to_owned()),
            filter: Some("web & co".to_owned()),
            sort: SortBy::Efficiency,
            descending: false,
            all_series: true,
        };
        let back: BTreeMap<String, String> = q
            .to_params()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(ReportQuery::from_params(&back), Ok(q.clone()));
        assert!(
            q.query_string().contains("filter=web%20%26%20co"),
            "{}",
            q.query_string()
        );
    }

    #[test]
    fn bad_parameters_are_named() {
        let problems = ReportQuery::from_params(&params(&[
            ("by", "colour"),
            ("window", "90d"),
            ("sort", "size"),
        ]))
        .expect_err("three problems");
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("colour"));
        let hourly_month =
            ReportQuery::from_params(&params(&[("window", "30d"), ("step", "hourly")]));
        assert!(hourly_month.is_err());
        let backwards = ReportQuery::from_params(&params(&[
            ("window", "custom"),
            ("from", "2026-11-08"),
            ("to", "2026-11-01"),
        ]));
        assert_eq!(
            backwards,
            Err(vec!["the window ends before it starts".to_owned()])
        );
        let label = ReportQuery::from_params(&params(&[("by", "label"), ("label", "a b")]));
        assert!(label.is_err());
        // A day defaults to hourly steps.
        let day = ReportQuery::from_params(&params(&[("window", "24h")])).expect("day");
        assert_eq!(day.step, Step::Hourly);
    }

    #[test]
    fn a_window_is_whole_days_to_today_whatever_the_step() {
        let q = ReportQuery::default();
        let now = parse_date("2026-11-22").unwrap_or_default() + 10 * HOUR + 39 * 60;
        let (from, to) = q.range(now);
        assert_eq!(format_date(to), "2026-11-23");
        assert_eq!(format_date(from), "2026-11-16");
        assert_eq!((to - from) / DAY, 7);
        // Hourly: the same first hour, to the end of the current hour (no future hours).
        let hourly = ReportQuery {
            step: Step::Hourly,
            ..ReportQuery::default()
        };
        let (h_from, h_to) = hourly.range(now);
        assert_eq!(h_from, from);
        assert_eq!(format_hour(h_to), "2026-11-22 11:00");
        let day = ReportQuery::from_params(&params(&[("window", "24h")])).expect("day");
        let (d_from, _) = day.range(now);
        assert_eq!(format_hour(d_from), "2026-11-22 00:00");
    }

    #[test]
    fn the_window_says_how_much_of_today_there_is() {
        let q = ReportQuery::default();
        let now = parse_date("2026-11-22").unwrap_or_default() + 9 * HOUR + 39 * 60;
        let (from, to) = q.range(now);
        let mut r = build(q, from, to, &[], &BTreeMap::new(), &BTreeMap::new());
        r.made_at = now;
        assert_eq!(
            r.window_text(),
            "2026-11-16 00:00 – 2026-11-22 09:00 UTC, 7 days: the 6 before today and today so far (9 of 24 hours), daily steps"
        );
        assert!(r.partial(parse_date("2026-11-22").unwrap_or_default()));
        assert!(!r.partial(parse_date("2026-11-21").unwrap_or_default()));
    }

    fn row(bucket: i64, key: &str, cpu: f64, used: f64, requested: f64) -> StepCost {
        StepCost {
            bucket,
            cluster: "eu-prod".to_owned(),
            key: key.to_owned(),
            cost: Cost {
                cpu,
                ..Cost::default()
            },
            used,
            requested,
        }
    }

    /// Sums per step of the cluster `row` puts its rows on.
    fn per_step(steps: &[(i64, f64)]) -> PerClusterStep {
        steps
            .iter()
            .map(|(b, v)| (("eu-prod".to_owned(), *b), *v))
            .collect()
    }

    #[test]
    fn each_cluster_shares_its_own_idle_and_a_cluster_narrows_the_view() {
        let on = |cluster: &str, key: &str, cpu: f64| StepCost {
            cluster: cluster.to_owned(),
            ..row(0, key, cpu, 0.0, 0.0)
        };
        // The same team on two clusters; us-dev's nodes are mostly idle, eu-prod's are full.
        let rows = [on("eu-prod", "shop", 4.0), on("us-dev", "shop", 1.0)];
        let at = |c: &str, v: f64| ((c.to_owned(), 0), v);
        let nodes: PerClusterStep = [at("eu-prod", 4.0), at("us-dev", 5.0)].into();
        let allocated: PerClusterStep = [at("eu-prod", 4.0), at("us-dev", 1.0)].into();
        let q = ReportQuery {
            group: GroupBy::Cluster,
            share_idle: true,
            ..ReportQuery::default()
        };
        // Grouped by cluster, the store keys each row by its cluster.
        let by_cluster = rows.clone().map(|r| StepCost {
            key: r.cluster.clone(),
            ..r
        });
        let fleet = build(q.clone(), 0, DAY, &by_cluster, &nodes, &allocated);
        let by: BTreeMap<&str, (f64, f64)> = fleet
            .groups
            .iter()
            .map(|g| (g.key.as_str(), (g.cost.total(), g.idle)))
            .collect();
        assert_eq!(
            by["eu-prod"],
            (4.0, 0.0),
            "a full cluster has no idle to share"
        );
        assert_eq!(by["us-dev"], (1.0, 4.0));
        assert_eq!((fleet.allocated, fleet.idle, fleet.total), (5.0, 4.0, 9.0));
        let one = build(
            ReportQuery {
                cluster: Some("us-dev".to_owned()),
                group: GroupBy::Team,
                ..q.clone()
            },
            0,
            DAY,
            &rows,
            &nodes,
            &allocated,
        );
        assert_eq!(one.groups.len(), 1);
        assert_eq!((one.allocated, one.idle, one.total), (1.0, 4.0, 5.0));
        let none = build(
            ReportQuery {
                cluster: Some("ap-test".to_owned()),
                ..q.clone()
            },
            0,
            DAY,
            &rows,
            &nodes,
            &allocated,
        );
        assert!(none.empty && none.groups.is_empty());
        // A cluster's row leads to its teams on that cluster.
        let link = q.drill_down("us-dev", "").unwrap_or_default();
        assert!(
            link.contains("by=team") && link.contains("cluster=us-dev"),
            "{link}"
        );
        let below = ReportQuery::from_params(&params(&[("by", "team"), ("cluster", "us-dev")]));
        assert_eq!(below.map(|b| b.cluster), Ok(Some("us-dev".to_owned())));
        assert!(ReportQuery::from_params(&params(&[("cluster", "<b>x</b>")])).is_err());
    }

    #[test]
    fn a_report_sums_groups_idle_and_efficiency() {
        let q = ReportQuery::default();
        let (from, to) = (0, 2 * DAY);
        let rows = [
            row(0, "shop", 3.0, 1.0, 2.0),
            row(DAY, "shop", 1.0, 1.0, 2.0),
            row(0, "ops", 1.0, 2.0, 2.0),
        ];
        let nodes = per_step(&[(0, 10.0), (DAY, 2.0)]);
        let allocated = per_step(&[(0, 4.0), (DAY, 1.0)]);
        let r = build(q.clone(), from, to, &rows, &nodes, &allocated);
        assert_eq!(r.buckets, [0, DAY]);
        assert_eq!(r.groups[0].key, "shop");
        assert_eq!(r.groups[0].series, [3.0, 1.0]);
        assert_eq!(r.allocated, 5.0);
        assert_eq!(r.idle, 6.0 + 1.0);
        assert_eq!(r.total, 12.0);
        assert_eq!(r.groups[0].efficiency, Some(0.5));
        assert_eq!(r.efficiency, Some(4.0 / 6.0));
        // Shared: each group carries idle in proportion to its cost, and the sum holds.
        let shared = build(
            ReportQuery {
                share_idle: true,
                ..q.clone()
            },
            from,
            to,
            &rows,
            &nodes,
            &allocated,
        );
        let sum: f64 = shared.groups.iter().map(|g| g.total).sum();
        assert!((sum - shared.total).abs() < 1e-9);
        assert!((shared.groups[0].idle - (6.0 * 3.0 / 4.0 + 1.0)).abs() < 1e-9);
        // A team that is half the cluster's allocation gets half its idle.
        let team = build(
            q.clone(),
            from,
            to,
            &rows[..1],
            &nodes,
            &per_step(&[(0, 6.0)]),
        );
        assert!((team.idle - 4.0 * 3.0 / 6.0).abs() < 1e-9);
        // The filter narrows groups and totals alike.
        let filtered = build(
            ReportQuery {
                filter: Some("OPS".to_owned()),
                ..q
            },
            from,
            to,
            &rows,
            &nodes,
            &allocated,
        );
        assert_eq!(filtered.groups.len(), 1);
        assert_eq!(filtered.allocated, 1.0);
    }

    #[test]
    fn csv_rows_match_the_table_and_defuse_formulas() {
        let rows = [
            row(0, "=cmd()", 1.0, 0.0, 0.0),
            row(0, "a,b", 2.0, 1.0, 2.0),
        ];
        let r = build(
            ReportQuery::default(),
            0,
            DAY,
            &rows,
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        let text = csv(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "group,cluster,cpu,memory,gpu,storage,idle,total,efficiency"
        );
        assert_eq!(
            lines[1],
            "\"a,b\",eu-prod,2.00,0.00,0.00,0.00,0.00,2.00,50%"
        );
        assert_eq!(lines[2], "'=cmd(),eu-prod,1.00,0.00,0.00,0.00,0.00,1.00,");
        assert_eq!(lines.len(), 5, "groups, idle, total");
    }

    #[test]
    fn the_chart_stacks_the_top_groups_and_the_rest() {
        let rows: Vec<StepCost> = (0..5)
            .map(|i| row(0, &format!("g{i}"), f64::from(i + 1), 0.0, 0.0))
            .collect();
        let r = build(
            ReportQuery::default(),
            0,
            DAY,
            &rows,
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        let c = chart(&r, 2, 100.0, 50.0);
        assert_eq!(c.legend, ["g4", "g3", "other", "idle"]);
        assert_eq!(c.max, 15.0);
        let tallest: f64 = c.segments.iter().map(|s| s.height).sum();
        assert!((tallest - 50.0).abs() < 1e-9, "the stack fills the height");
        assert!(c.segments[0].tooltip.starts_with("g4 · 1970-01-01: $5.00"));
        assert_eq!(c.ticks.len(), 1);
        assert_eq!(c.ticks[0].label, "01-01");
    }

    #[test]
    fn rows_lead_one_level_down() {
        let by_team =
            ReportQuery::from_params(&params(&[("by", "team"), ("window", "30d")])).expect("q");
        let to_namespaces = by_team
            .drill_down("payments", "")
            .expect("a team has namespaces");
        assert!(to_namespaces.starts_with("/cost?"), "{to_namespaces}");
        assert!(to_namespaces.contains("by=namespace"), "{to_namespaces}");
        assert!(to_namespaces.contains("team=payments"), "{to_namespaces}");
        assert!(to_namespaces.contains("window=30d"), "{to_namespaces}");
        assert_eq!(by_team.drill_down(UNALLOCATED, ""), None);
        let by_namespace = ReportQuery::default();
        let to_workloads = by_namespace
            .drill_down("payments-prod", "us-dev")
            .expect("workloads");
        assert!(to_workloads.contains("by=workload"), "{to_workloads}");
        assert!(
            to_workloads.contains("filter=payments-prod%2F"),
            "{to_workloads}"
        );
        // On the namespace's own cluster: the name may be another namespace elsewhere.
        assert!(to_workloads.contains("cluster=us-dev"), "{to_workloads}");
        let by_workload = ReportQuery::from_params(&params(&[("by", "workload")])).expect("q");
        assert_eq!(
            by_workload
                .drill_down("payments-prod/StatefulSet/ledger", "eu-prod")
                .as_deref(),
            Some("/rollouts/statefulset/payments-prod/ledger?cluster=eu-prod")
        );
        assert_eq!(
            by_workload.drill_down("payments-prod/PersistentVolumeClaim/data", "eu-prod"),
            None
        );
    }

    #[test]
    fn the_time_axis_has_a_few_labels_first_and_last_among_them() {
        let q = ReportQuery {
            window: Window::Month,
            ..ReportQuery::default()
        };
        let r = build(q, 0, 30 * DAY, &[], &BTreeMap::new(), &BTreeMap::new());
        let c = chart(&r, 8, 300.0, 100.0);
        let labels: Vec<&str> = c.ticks.iter().map(|t| t.label.as_str()).collect();
        assert!(labels.len() <= MAX_TICKS + 1, "{labels:?}");
        assert_eq!(labels.first(), Some(&"01-01"));
        assert_eq!(labels.last(), Some(&"01-30"));
        assert!(
            c.ticks
                .windows(2)
                .all(|w| w[1].x - w[0].x >= 300.0 / 30.0 * 2.0),
            "{labels:?}"
        );
        let hourly = ReportQuery {
            step: Step::Hourly,
            window: Window::Day,
            ..ReportQuery::default()
        };
        let r = build(
            hourly,
            DAY,
            DAY + 10 * HOUR,
            &[],
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        let c = chart(&r, 8, 300.0, 100.0);
        let labels: Vec<&str> = c.ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels.first(), Some(&"01-02"), "midnight shows the date");
        assert!(labels.contains(&"02:00"), "{labels:?}");
    }
}
