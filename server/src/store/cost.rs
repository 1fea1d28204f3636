//! Cost queries over the usage history, priced in SQL (node rates go in as arrays, so a month
//! of a team's containers is summed where the rows are), and the pricing file.

use std::collections::BTreeMap;

use domain::cost::{Cost, GroupBy, Prices, Rates};
use domain::cost_report::{PerClusterStep, ReportQuery, Step, StepCost, StepRow, Tally};
use sqlx::Row;

use super::{Store, StoreError};

/// Which containers a query covers: every team's, or those of some teams only.
#[derive(Clone, Copy, Debug)]
pub enum TeamScope<'a> {
    All,
    Teams(&'a [String]),
}

/// One report query: the window in unix seconds [from, to), its step, and the rates of each
/// node by (cluster key, node) (nodes not listed pay `default`). Rows keep the clusters' storage
/// keys, where the home cluster's is empty; what the queries answer names it `home`.
#[derive(Clone, Debug)]
pub struct CostQuery<'a> {
    pub from: i64,
    pub to: i64,
    pub step: Step,
    pub rates: &'a [NodeRates],
    pub default: Rates,
    pub home: &'a str,
    /// Only this cluster's rows, by its storage key (empty: the home cluster).
    pub cluster: Option<&'a str>,
    /// The rates of each price class, when the day sums per workload and class were summed
    /// with the pricing file's matchers (`Store::usage_groups_fresh`): daily steps not grouped
    /// by a label read those sums, a few rows per workload and day, rather than every
    /// container's day.
    pub classes: Option<&'a [Rates]>,
}

/// A node's rates: its cluster's storage key, its name, its rates.
pub type NodeRates = (String, String, Rates);

impl CostQuery<'_> {
    /// The fleet name of a cluster's storage key.
    fn named(&self, key: String) -> String {
        if key.is_empty() {
            self.home.to_owned()
        } else {
            key
        }
    }

    /// The fleet name of a cluster's storage key, borrowed.
    pub(super) fn named_str<'s>(&'s self, key: &'s str) -> &'s str {
        if key.is_empty() { self.home } else { key }
    }

    /// The storage key of a cluster's fleet name (the home cluster's is empty).
    pub(super) fn storage_key<'s>(&'s self, name: &'s str) -> &'s str {
        if name == self.home { "" } else { name }
    }

    /// A row's group key as the report shows it: by cluster, its fleet name.
    fn group_key(&self, by: &GroupBy, key: String) -> String {
        if *by == GroupBy::Cluster {
            self.named(key)
        } else {
            key
        }
    }
}

pub(super) const GIB: &str = "1073741824.0";
const DAY: i64 = 86_400;

/// The SQL of a group's key (fixed fragments: nothing from the request is spliced in; a label
/// key is bound as `$11`).
fn key_sql(by: &GroupBy) -> &'static str {
    match by {
        GroupBy::Cluster => "c.cluster",
        GroupBy::Namespace => "c.namespace",
        GroupBy::Team => "coalesce(c.team, '__unallocated__')",
        GroupBy::Workload => "c.namespace || '/' || c.owner_kind || '/' || c.owner_name",
        GroupBy::Label(_) => "coalesce(c.labels ->> $11::text, '__unallocated__')",
    }
}

/// Which day sums a group reads, the columns it groups them by (after day and cluster) and its
/// key; none by a label (those sums keep no pod labels). The columns are a prefix of the
/// table's key, so the sums stream off its index in order with no sort; a workload whose
/// team changed on a day is two rows with one key, which the report adds up.
pub(super) fn group_sql(by: &GroupBy) -> Option<(&'static str, &'static str, &'static str)> {
    const NAMESPACES: &str = "usage_daily_namespaces";
    match by {
        GroupBy::Cluster => Some((NAMESPACES, "", "g.cluster")),
        GroupBy::Namespace => Some((NAMESPACES, ", g.namespace", "g.namespace")),
        GroupBy::Team => Some((
            NAMESPACES,
            ", coalesce(nullif(g.team, ''), '__unallocated__')",
            "coalesce(nullif(g.team, ''), '__unallocated__')",
        )),
        GroupBy::Workload => Some((
            "usage_daily_groups",
            ", g.namespace, g.team, g.owner_kind, g.owner_name",
            "g.namespace || '/' || g.owner_kind || '/' || g.owner_name",
        )),
        GroupBy::Label(_) => None,
    }
}

/// Adds one row of priced sums as both cost queries answer it (bucket, cluster, key, cpu,
/// memory, gpu, used, requested, by position) to `tally`: a fleet's month by namespace is
/// 240,000 rows, so no name lookups per column and no string copied per row.
fn tally_row(
    row: &sqlx::postgres::PgRow,
    q: &CostQuery<'_>,
    by: &GroupBy,
    tally: &mut Tally,
) -> Result<(), sqlx::Error> {
    let amount = |i: usize| -> Result<f64, sqlx::Error> {
        Ok(row.try_get::<Option<f64>, _>(i)?.unwrap_or(0.0))
    };
    let cluster = q.named_str(row.try_get(1)?);
    let key: &str = row.try_get(2)?;
    tally.add(StepRow {
        bucket: row.try_get(0)?,
        cluster,
        // By cluster, the key is the cluster's storage key: its fleet name, as the row's.
        key: if *by == GroupBy::Cluster {
            cluster
        } else {
            key
        },
        cost: Cost {
            cpu: amount(3)?,
            memory: amount(4)?,
            gpu: amount(5)?,
            storage: 0.0,
        },
        used: amount(6)?,
        requested: amount(7)?,
    });
    Ok(())
}

/// Runs `query` and adds each row to `tally` as it arrives, so adding overlaps Postgres still
/// summing.
async fn tally_rows<'q>(
    pool: &sqlx::PgPool,
    query: Bound<'q>,
    q: &CostQuery<'_>,
    by: &GroupBy,
    mut tally: Tally,
) -> Result<Tally, StoreError> {
    use futures::TryStreamExt;
    let mut rows = query.fetch(pool);
    while let Some(row) = rows.try_next().await? {
        tally_row(&row, q, by, &mut tally)?;
    }
    Ok(tally)
}

/// The FROM clause and per-row sums of a step: daily rows carry their sums, hourly rows are
/// one hour each.
fn source(step: Step) -> (&'static str, &'static str, String) {
    match step {
        Step::Daily => (
            "usage_daily u JOIN usage_containers c ON c.id = u.container_id \
             WHERE u.day >= (to_timestamp($9) AT TIME ZONE 'UTC')::date \
               AND u.day < (to_timestamp($10) AT TIME ZONE 'UTC')::date",
            "extract(epoch FROM u.day::timestamp)::int8",
            format!(
                "sum(u.cpu_alloc * coalesce(r.cpu, $6)) AS cpu, \
                 sum(u.memory_alloc / {GIB} * coalesce(r.mem, $7)) AS memory, \
                 sum(c.gpus * u.hours * coalesce(r.gpu, $8)) AS gpu, \
                 sum(u.cpu_used * coalesce(r.cpu, $6) \
                   + u.memory_used / {GIB} * coalesce(r.mem, $7)) AS used, \
                 sum(u.hours * (c.cpu_request * coalesce(r.cpu, $6) \
                   + c.memory_request / {GIB} * coalesce(r.mem, $7))) AS requested"
            ),
        ),
        Step::Hourly => (
            "usage_hourly u JOIN usage_containers c ON c.id = u.container_id \
             WHERE u.hour >= to_timestamp($9) AND u.hour < to_timestamp($10)",
            "extract(epoch FROM u.hour)::int8",
            format!(
                "sum(greatest(c.cpu_request, u.cpu_avg) * u.share * coalesce(r.cpu, $6)) AS cpu, \
                 sum(greatest(c.memory_request, u.memory_avg) * u.share / {GIB} \
                   * coalesce(r.mem, $7)) AS memory, \
                 sum(c.gpus * u.share * coalesce(r.gpu, $8)) AS gpu, \
                 sum(u.share * (u.cpu_avg * coalesce(r.cpu, $6) \
                   + u.memory_avg / {GIB} * coalesce(r.mem, $7))) AS used, \
                 sum(u.share * (c.cpu_request * coalesce(r.cpu, $6) \
                   + c.memory_request / {GIB} * coalesce(r.mem, $7))) AS requested"
            ),
        ),
    }
}

pub(super) type Bound<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// The WHERE conditions narrowing rows (alias `row`) to some teams and to one cluster, as
/// parameters from `$next` on; [`bind_scope`] binds them in the same order.
pub(super) fn scope_filter(
    row: &str,
    mut next: usize,
    teams: TeamScope<'_>,
    q: &CostQuery<'_>,
) -> String {
    let mut filter = String::new();
    if let TeamScope::Teams(_) = teams {
        filter = format!(" AND {row}.team = ANY(${next}::text[])");
        next += 1;
    }
    if q.cluster.is_some() {
        filter.push_str(&format!(" AND {row}.cluster = ${next}"));
    }
    filter
}

pub(super) fn bind_scope<'q>(
    mut query: Bound<'q>,
    teams: TeamScope<'_>,
    q: &CostQuery<'_>,
) -> Bound<'q> {
    if let TeamScope::Teams(t) = teams {
        query = query.bind(t.to_vec());
    }
    if let Some(cluster) = q.cluster {
        query = query.bind(cluster.to_owned());
    }
    query
}

fn bind_common<'q>(query: Bound<'q>, q: &CostQuery<'_>) -> Bound<'q> {
    let column = |f: fn(&NodeRates) -> f64| q.rates.iter().map(f).collect::<Vec<_>>();
    query
        .bind(q.rates.iter().map(|r| r.0.clone()).collect::<Vec<_>>())
        .bind(q.rates.iter().map(|r| r.1.clone()).collect::<Vec<_>>())
        .bind(column(|r| r.2.cpu_core_hour))
        .bind(column(|r| r.2.memory_gib_hour))
        .bind(column(|r| r.2.gpu_hour))
        .bind(q.default.cpu_core_hour)
        .bind(q.default.memory_gib_hour)
        .bind(q.default.gpu_hour)
        .bind(q.from as f64)
        .bind(q.to as f64)
}

/// The rates of a row's price class, from the class rates bound first ($1–$3) by
/// [`bind_classes`] (arrays count from 1; class 0 is the default rates).
pub(super) const CLASS_CPU: &str = "($1::float8[])[class + 1]";
pub(super) const CLASS_MEM: &str = "($2::float8[])[class + 1]";
pub(super) const CLASS_GPU: &str = "($3::float8[])[class + 1]";

/// Binds the class rates as three arrays, first ($1–$3).
pub(super) fn bind_classes<'q>(query: Bound<'q>, classes: &[Rates]) -> Bound<'q> {
    let column = |f: fn(&Rates) -> f64| classes.iter().map(f).collect::<Vec<_>>();
    query
        .bind(column(|r| r.cpu_core_hour))
        .bind(column(|r| r.memory_gib_hour))
        .bind(column(|r| r.gpu_hour))
}

/// The day sums (alias `g`) in the window, bound as parameters `$from` and `$from + 1`.
pub(super) fn window_days(from: usize) -> String {
    format!(
        "g.day >= (to_timestamp(${from}) AT TIME ZONE 'UTC')::date \
         AND g.day < (to_timestamp(${}) AT TIME ZONE 'UTC')::date",
        from + 1
    )
}

const RATES: &str = "WITH rates AS (SELECT * FROM unnest($1::text[], $2::text[], \
                     $3::float8[], $4::float8[], $5::float8[]) AS r(cluster, node, cpu, mem, gpu))";

impl Store {
    /// Priced sums per step, cluster and group of the containers in `teams`, added to
    /// `tally`.
    pub async fn step_costs(
        &self,
        q: &CostQuery<'_>,
        by: &GroupBy,
        teams: TeamScope<'_>,
        tally: Tally,
    ) -> Result<Tally, StoreError> {
        if let (Step::Daily, Some(classes), Some(group)) = (q.step, q.classes, group_sql(by)) {
            return self
                .grouped_step_costs(q, classes, group, by, teams, tally)
                .await;
        }
        let (from, bucket, sums) = source(q.step);
        // Parameters after the common ten: the label key (when grouping by one), the teams.
        let label = match by {
            GroupBy::Label(l) => Some(l.clone()),
            _ => None,
        };
        let team_filter = scope_filter("c", if label.is_some() { 12 } else { 11 }, teams, q);
        let sql = format!(
            "{RATES} SELECT {bucket} AS bucket, c.cluster AS cluster, {key} AS key, {sums} \
             FROM {from} {team_filter} \
             GROUP BY 1, 2, 3",
            key = key_sql(by),
            from = from.replace(
                "JOIN usage_containers c ON c.id = u.container_id",
                "JOIN usage_containers c ON c.id = u.container_id \
                 LEFT JOIN rates r ON r.cluster = c.cluster AND r.node = c.node",
            ),
        );
        let mut query = bind_common(sqlx::query(&sql), q);
        if let Some(label) = label {
            query = query.bind(label);
        }
        tally_rows(self.pool(), bind_scope(query, teams, q), q, by, tally).await
    }

    /// [`Store::step_costs`] by day from the day sums per price class (of namespaces, or of
    /// workloads by workload), each class at its rates now (`classes[class]`).
    async fn grouped_step_costs(
        &self,
        q: &CostQuery<'_>,
        classes: &[Rates],
        (table, columns, key): (&'static str, &'static str, &'static str),
        by: &GroupBy,
        teams: TeamScope<'_>,
        tally: Tally,
    ) -> Result<Tally, StoreError> {
        let filter = scope_filter("g", 6, teams, q);
        let (cpu, mem, gpu) = (CLASS_CPU, CLASS_MEM, CLASS_GPU);
        let days = window_days(4);
        let sql = if matches!(by, GroupBy::Cluster | GroupBy::Team) {
            // Few groups: summed per class first and priced after, a few multiplications per
            // group and day rather than per row (a third faster). Many groups (namespaces,
            // workloads) make too many sums per class to hash, so those are priced per row.
            format!(
                "SELECT bucket, cluster, key, sum(cpu * {cpu}) AS cpu, \
                   sum(memory / {GIB} * {mem}) AS memory, sum(gpu * {gpu}) AS gpu, \
                   sum(cpu_used * {cpu} + memory_used / {GIB} * {mem}) AS used, \
                   sum(cpu_requested * {cpu} + memory_requested / {GIB} * {mem}) AS requested \
                 FROM (SELECT extract(epoch FROM g.day::timestamp)::int8 AS bucket, \
                         g.cluster AS cluster, {key} AS key, g.class AS class, \
                         sum(g.cpu_alloc) AS cpu, sum(g.memory_alloc) AS memory, \
                         sum(g.gpu_hours) AS gpu, sum(g.cpu_used) AS cpu_used, \
                         sum(g.memory_used) AS memory_used, \
                         sum(g.cpu_requested) AS cpu_requested, \
                         sum(g.memory_requested) AS memory_requested \
                       FROM {table} g WHERE {days}{filter} \
                       GROUP BY g.day, g.cluster{columns}, g.class) s \
                 GROUP BY bucket, cluster, key"
            )
        } else {
            format!(
                "SELECT extract(epoch FROM g.day::timestamp)::int8 AS bucket, g.cluster AS cluster, \
                   {key} AS key, sum(g.cpu_alloc * {cpu}) AS cpu, \
                   sum(g.memory_alloc / {GIB} * {mem}) AS memory, sum(g.gpu_hours * {gpu}) AS gpu, \
                   sum(g.cpu_used * {cpu} + g.memory_used / {GIB} * {mem}) AS used, \
                   sum(g.cpu_requested * {cpu} + g.memory_requested / {GIB} * {mem}) AS requested \
                 FROM {table} g WHERE {days}{filter} \
                 GROUP BY g.day, g.cluster{columns}"
            )
        };
        let query = bind_classes(sqlx::query(&sql), classes)
            .bind(q.from as f64)
            .bind(q.to as f64);
        tally_rows(self.pool(), bind_scope(query, teams, q), q, by, tally).await
    }

    /// Storage cost per step, cluster and group: bound claims by requested size at the storage
    /// price. Claims belong to their namespace and team; by workload they are their own line
    /// (`namespace/PersistentVolumeClaim/name`); no pod label applies to them.
    pub async fn volume_costs(
        &self,
        q: &CostQuery<'_>,
        by: &GroupBy,
        teams: TeamScope<'_>,
        storage_gib_month: f64,
    ) -> Result<Vec<StepCost>, StoreError> {
        let key = match by {
            GroupBy::Cluster => "v.cluster",
            GroupBy::Namespace => "v.namespace",
            GroupBy::Team => "coalesce(v.team, '__unallocated__')",
            GroupBy::Workload => "v.namespace || '/PersistentVolumeClaim/' || v.claim",
            GroupBy::Label(_) => "'__unallocated__'",
        };
        let (bucket, from, amount) = match q.step {
            Step::Daily => (
                "extract(epoch FROM v.day::timestamp)::int8",
                "volume_daily v WHERE v.day >= (to_timestamp($1) AT TIME ZONE 'UTC')::date \
                   AND v.day < (to_timestamp($2) AT TIME ZONE 'UTC')::date",
                "v.byte_hours",
            ),
            Step::Hourly => (
                "extract(epoch FROM v.hour)::int8",
                "volume_hourly v WHERE v.hour >= to_timestamp($1) AND v.hour < to_timestamp($2)",
                "v.bytes",
            ),
        };
        let filter = scope_filter("v", 4, teams, q);
        let sql = format!(
            "SELECT {bucket} AS bucket, v.cluster AS cluster, {key} AS key, \
               sum({amount}) / {GIB} * $3 / {HOURS} AS storage \
             FROM {from}{filter} GROUP BY 1, 2, 3",
            HOURS = domain::cost::HOURS_PER_MONTH,
        );
        let query = sqlx::query(&sql)
            .bind(q.from as f64)
            .bind(q.to as f64)
            .bind(storage_gib_month);
        let rows = bind_scope(query, teams, q).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(StepCost {
                    bucket: r.try_get("bucket")?,
                    cluster: q.named(r.try_get("cluster")?),
                    key: q.group_key(by, r.try_get("key")?),
                    cost: Cost {
                        storage: r.try_get::<Option<f64>, _>("storage")?.unwrap_or(0.0),
                        ..Cost::default()
                    },
                    used: 0.0,
                    requested: 0.0,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Everything allocated per cluster and step, over all teams (what idle is shared
    /// against), from the node totals the roll-up keeps.
    pub async fn allocated_per_step(
        &self,
        q: &CostQuery<'_>,
    ) -> Result<PerClusterStep, StoreError> {
        self.node_sums(q, "cpu_alloc", "memory_alloc", "gpu_alloc")
            .await
    }

    /// What the nodes' capacity cost per cluster and step, over hours already rolled up (the
    /// hour in progress has no container usage yet, so it would read as idle).
    pub async fn node_costs(&self, q: &CostQuery<'_>) -> Result<PerClusterStep, StoreError> {
        self.node_sums(q, "cpu_capacity", "memory_capacity", "gpus")
            .await
    }

    /// Σ over nodes of (cpu × rate + memory / GiB × rate + gpu × rate) per cluster and step,
    /// of the given resource-hour columns (fixed names, never from a request).
    async fn node_sums(
        &self,
        q: &CostQuery<'_>,
        cpu: &'static str,
        memory: &'static str,
        gpu: &'static str,
    ) -> Result<PerClusterStep, StoreError> {
        let (bucket, from) = match q.step {
            Step::Daily => (
                "extract(epoch FROM n.day::timestamp)::int8",
                "node_daily n LEFT JOIN rates r ON r.cluster = n.cluster AND r.node = n.node \
                 WHERE n.day >= (to_timestamp($9) AT TIME ZONE 'UTC')::date \
                   AND n.day < (to_timestamp($10) AT TIME ZONE 'UTC')::date",
            ),
            Step::Hourly => (
                "extract(epoch FROM n.hour)::int8",
                "node_hourly n LEFT JOIN rates r ON r.cluster = n.cluster AND r.node = n.node \
                 WHERE n.hour >= to_timestamp($9) AND n.hour < to_timestamp($10) \
                   AND n.hour < coalesce((SELECT rolled_upto FROM usage_rollup_mark), '-infinity')",
            ),
        };
        let only = if q.cluster.is_some() {
            " AND n.cluster = $11"
        } else {
            ""
        };
        let sql = format!(
            "{RATES} SELECT {bucket} AS bucket, n.cluster AS cluster, \
               sum(n.{cpu} * coalesce(r.cpu, $6) + n.{memory} / {GIB} * coalesce(r.mem, $7) \
                 + n.{gpu} * coalesce(r.gpu, $8)) AS total \
             FROM {from}{only} GROUP BY 1, 2"
        );
        let mut query = bind_common(sqlx::query(&sql), q);
        if let Some(cluster) = q.cluster {
            query = query.bind(cluster.to_owned());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    (q.named(r.try_get("cluster")?), r.try_get("bucket")?),
                    r.try_get("total")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The rates of every node seen in [from, to), by the pricing file: each node by its
    /// cluster (named `home` where its key is empty) and latest labels.
    pub async fn node_rates(
        &self,
        prices: &Prices,
        home: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<NodeRates>, StoreError> {
        // The day sums carry each node's latest labels (the window's last day too, when it
        // ends within it, as an hourly one does); the hours not rolled up yet add the nodes
        // seen only since. Each node's last day is found first and only its row read: sorting
        // every day's labels of a fleet's month took four times as long.
        let rows = sqlx::query(
            "SELECT DISTINCT ON (cluster, node) cluster, node, labels::text AS labels FROM ( \
               SELECT n.cluster, n.node, n.labels, n.day::timestamp AT TIME ZONE 'UTC' AS at \
               FROM node_daily n JOIN ( \
                 SELECT cluster, node, max(day) AS day FROM node_daily \
                 WHERE day >= (to_timestamp($1) AT TIME ZONE 'UTC')::date \
                   AND day <= ((to_timestamp($2) - interval '1 second') AT TIME ZONE 'UTC')::date \
                 GROUP BY cluster, node) last USING (cluster, node, day) \
               UNION ALL \
               SELECT cluster, node, labels, hour FROM node_hourly \
               WHERE hour >= greatest(to_timestamp($1), \
                 coalesce((SELECT rolled_upto FROM usage_rollup_mark), '-infinity')) \
                 AND hour < to_timestamp($2)) n \
             ORDER BY cluster, node, at DESC",
        )
        .bind(from as f64)
        .bind(to as f64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let labels: String = r.try_get("labels")?;
                let labels: BTreeMap<String, String> =
                    serde_json::from_str(&labels).unwrap_or_default();
                let key: String = r.try_get("cluster")?;
                let name = if key.is_empty() { home } else { key.as_str() };
                let rates = prices.rates_for(name, &labels);
                Ok((key, r.try_get("node")?, rates))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The pricing file; OpenCost's defaults until an admin saves one.
    pub async fn prices(&self) -> Result<Prices, StoreError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body::text FROM prices")
            .fetch_optional(self.pool())
            .await?;
        match body {
            Some(b) => serde_json::from_str(&b).map_err(|e| StoreError::Corrupt(e.to_string())),
            None => Ok(Prices::default()),
        }
    }

    /// Saves the pricing file with its audit event, in one transaction. `judge` sees the prices
    /// as they are, with the row locked, and answers the audit event or refuses: a version check
    /// and the event's "before" cannot race another writer.
    pub async fn save_prices<E: From<StoreError>>(
        &self,
        prices: &Prices,
        by: &str,
        judge: impl FnOnce(&Prices) -> Result<domain::audit::NewEvent, E>,
    ) -> Result<(), E> {
        let body = serde_json::to_string(prices).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.pool().begin().await.map_err(StoreError::from)?;
        // The row may not exist yet: the advisory lock stands in for it.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('berth.prices'))")
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let current: Option<String> = sqlx::query_scalar("SELECT body::text FROM prices")
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let current = match current {
            Some(b) => serde_json::from_str(&b).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            None => Prices::default(),
        };
        let event = judge(&current)?;
        sqlx::query(
            "INSERT INTO prices (one, body, updated_at, updated_by) VALUES (true, $1::jsonb, now(), $2) \
             ON CONFLICT (one) DO UPDATE SET body = excluded.body, updated_at = now(), \
               updated_by = excluded.updated_by",
        )
        .bind(body)
        .bind(by)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        super::audit::append(&mut tx, self.audit_key(), &event).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

/// A workload container's usage percentiles over the history asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerUsage {
    /// The cluster's storage key (empty: the home cluster).
    pub cluster: String,
    pub namespace: String,
    pub owner_kind: String,
    pub owner_name: String,
    pub container: String,
    pub team: Option<String>,
    /// Distinct hours of history.
    pub hours: i64,
    pub stats: domain::idle::UsageStats,
}

/// A workload's usage on one day: average CPU per container against its average request, and
/// what it was allocated (core-hours, byte-hours).
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadDay {
    /// The cluster's storage key (empty: the home cluster).
    pub cluster: String,
    pub namespace: String,
    pub owner_kind: String,
    pub owner_name: String,
    pub team: Option<String>,
    pub day: i64,
    pub cpu: f64,
    pub cpu_request: f64,
    pub cpu_alloc: f64,
    pub memory_alloc: f64,
}

impl Store {
    /// Usage percentiles of every workload container since `since` (what VPA would read).
    /// CPU: the median of hourly averages, P90 / P95 of hourly 95th percentiles; memory: the
    /// median of hourly averages, P90 / P95 of hourly peaks (VPA sizes memory for peaks).
    pub async fn container_usage(
        &self,
        since: i64,
        teams: TeamScope<'_>,
    ) -> Result<Vec<ContainerUsage>, StoreError> {
        let filter = match teams {
            TeamScope::All => "",
            TeamScope::Teams(_) => " AND c.team = ANY($2::text[])",
        };
        let sql = format!(
            "SELECT c.cluster, c.namespace, c.owner_kind, c.owner_name, c.container, \
               max(c.team) AS team, \
               count(DISTINCT h.hour) AS hours, \
               percentile_cont(0.5) WITHIN GROUP (ORDER BY h.cpu_avg) AS cpu_p50, \
               percentile_cont(0.9) WITHIN GROUP (ORDER BY h.cpu_p95) AS cpu_p90, \
               percentile_cont(0.95) WITHIN GROUP (ORDER BY h.cpu_p95) AS cpu_p95, \
               percentile_cont(0.5) WITHIN GROUP (ORDER BY h.memory_avg) AS memory_p50, \
               percentile_cont(0.9) WITHIN GROUP (ORDER BY h.memory_max) AS memory_p90, \
               percentile_cont(0.95) WITHIN GROUP (ORDER BY h.memory_max) AS memory_p95 \
             FROM usage_hourly h JOIN usage_containers c ON c.id = h.container_id \
             WHERE h.hour >= to_timestamp($1) \
               AND c.owner_kind IN ('Deployment', 'StatefulSet', 'DaemonSet'){filter} \
             GROUP BY 1, 2, 3, 4, 5"
        );
        let mut query = sqlx::query(&sql).bind(since as f64);
        if let TeamScope::Teams(t) = teams {
            query = query.bind(t.to_vec());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                let hours: i64 = r.try_get("hours")?;
                Ok(ContainerUsage {
                    cluster: r.try_get("cluster")?,
                    namespace: r.try_get("namespace")?,
                    owner_kind: r.try_get("owner_kind")?,
                    owner_name: r.try_get("owner_name")?,
                    container: r.try_get("container")?,
                    team: r.try_get("team")?,
                    hours,
                    stats: domain::idle::UsageStats {
                        days: hours as f64 / 24.0,
                        cpu_p50: r.try_get("cpu_p50")?,
                        cpu_p90: r.try_get("cpu_p90")?,
                        cpu_p95: r.try_get("cpu_p95")?,
                        memory_p50: r.try_get("memory_p50")?,
                        memory_p90: r.try_get("memory_p90")?,
                        memory_p95: r.try_get("memory_p95")?,
                    },
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Each workload's usage per day over the finished days since `since`.
    pub async fn workload_days(
        &self,
        since: i64,
        teams: TeamScope<'_>,
    ) -> Result<Vec<WorkloadDay>, StoreError> {
        let filter = match teams {
            TeamScope::All => "",
            TeamScope::Teams(_) => " AND c.team = ANY($2::text[])",
        };
        let sql = format!(
            "SELECT c.cluster, c.namespace, c.owner_kind, c.owner_name, max(c.team) AS team, \
               extract(epoch FROM u.day::timestamp)::int8 AS day, \
               sum(u.cpu_used) / nullif(sum(u.hours), 0) AS cpu, \
               sum(c.cpu_request * u.hours) / nullif(sum(u.hours), 0) AS cpu_request, \
               sum(u.cpu_alloc) AS cpu_alloc, sum(u.memory_alloc) AS memory_alloc \
             FROM usage_daily u JOIN usage_containers c ON c.id = u.container_id \
             WHERE u.day >= (to_timestamp($1) AT TIME ZONE 'UTC')::date \
               AND u.day < (now() AT TIME ZONE 'UTC')::date{filter} \
             GROUP BY 1, 2, 3, 4, 6"
        );
        let mut query = sqlx::query(&sql).bind(since as f64);
        if let TeamScope::Teams(t) = teams {
            query = query.bind(t.to_vec());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(WorkloadDay {
                    cluster: r.try_get("cluster")?,
                    namespace: r.try_get("namespace")?,
                    owner_kind: r.try_get("owner_kind")?,
                    owner_name: r.try_get("owner_name")?,
                    team: r.try_get("team")?,
                    day: r.try_get("day")?,
                    cpu: r.try_get::<Option<f64>, _>("cpu")?.unwrap_or(0.0),
                    cpu_request: r.try_get::<Option<f64>, _>("cpu_request")?.unwrap_or(0.0),
                    cpu_alloc: r.try_get("cpu_alloc")?,
                    memory_alloc: r.try_get("memory_alloc")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

/// A team's budget as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetRow {
    pub team: String,
    pub monthly: f64,
    /// The first day of the month already warned about, `YYYY-MM-DD`.
    pub warned_month: Option<String>,
}

impl Store {
    pub async fn budgets(&self) -> Result<Vec<BudgetRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT team, monthly, warned_month::text AS warned FROM team_budgets ORDER BY team",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BudgetRow {
                    team: r.try_get("team")?,
                    monthly: r.try_get("monthly")?,
                    warned_month: r.try_get("warned")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Sets a team's budget with its audit event, in one transaction; a new amount re-arms the
    /// month's warning.
    pub async fn save_budget(
        &self,
        team: &str,
        monthly: f64,
        by: &str,
        event: domain::audit::NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO team_budgets (team, monthly, updated_by) VALUES ($1, $2, $3) \
             ON CONFLICT (team) DO UPDATE SET monthly = excluded.monthly, warned_month = NULL, \
               updated_at = now(), updated_by = excluded.updated_by",
        )
        .bind(team)
        .bind(monthly)
        .bind(by)
        .execute(&mut *tx)
        .await?;
        super::audit::append(&mut tx, self.audit_key(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that `team` was warned for the month starting `month` (`YYYY-MM-DD`).
    pub async fn mark_budget_warned(&self, team: &str, month: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE team_budgets SET warned_month = $2::date WHERE team = $1")
            .bind(team)
            .bind(month)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// What each team was allocated in [from, to) (days), priced: month-to-date spend, over
    /// every cluster (`home` names the home cluster for its prices).
    pub async fn team_spend(
        &self,
        prices: &Prices,
        home: &str,
        from: i64,
        to: i64,
        teams: TeamScope<'_>,
    ) -> Result<BTreeMap<String, f64>, StoreError> {
        let rates = self.node_rates(prices, home, from, to).await?;
        let classes = prices.class_rates();
        let grouped = self.usage_groups_fresh(&prices.matchers(), home).await?;
        let q = CostQuery {
            from,
            to,
            step: Step::Daily,
            rates: &rates,
            default: prices.default,
            home,
            cluster: None,
            classes: grouped.then_some(&classes),
        };
        // Whole days around [from, to): the sums are per day.
        let tally = Tally::new(
            ReportQuery {
                group: GroupBy::Team,
                step: Step::Daily,
                ..ReportQuery::default()
            },
            from - from.rem_euclid(DAY),
            to + (DAY - to.rem_euclid(DAY)) % DAY,
        );
        let mut tally = self.step_costs(&q, &GroupBy::Team, teams, tally).await?;
        let volumes = self
            .volume_costs(&q, &GroupBy::Team, teams, prices.storage_gib_month)
            .await?;
        for volume in &volumes {
            tally.add(volume.as_row());
        }
        let report = tally.finish(&PerClusterStep::new(), &PerClusterStep::new());
        Ok(report
            .groups
            .into_iter()
            .map(|g| (g.key, g.cost.total()))
            .collect())
    }

    /// Teams that have any usage recorded.
    pub async fn teams_with_usage(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT team FROM usage_containers WHERE team IS NOT NULL ORDER BY team",
        )
        .fetch_all(self.pool())
        .await?)
    }
}
