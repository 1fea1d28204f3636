//! The cost report line by line (`domain::cost_lines`): each line's sums over the window with
//! its share of idle, everything's allocation per cluster and day, then the days of the lines
//! the chart draws. Read from the day sums per price class, each class at its rates now.

use domain::cost::{Cost, GroupBy, Rates};
use domain::cost_lines::{LineRow, Lines, Ranked};
use domain::cost_report::{PerClusterStep, StepRow};
use sqlx::Row;

use super::cost::{
    CLASS_CPU as CPU, CLASS_GPU as GPU, CLASS_MEM as MEM, CostQuery, GIB, TeamScope, bind_classes,
    bind_scope, group_sql, scope_filter, window_days as days,
};
use super::{Store, StoreError};

/// What everything shown allocated on a cluster in a day (storage aside), of how many rows.
#[derive(Clone, Debug)]
pub struct StepAllocation {
    /// The cluster's fleet name.
    pub cluster: String,
    pub bucket: i64,
    pub allocated: f64,
    pub rows: usize,
}

/// Whether a report reads line by line: by day, from the day sums per price class, by
/// namespace or workload (a line is one cluster's, and a fleet has thousands: by cluster or
/// team its few lines' steps are cheaper read whole).
pub fn by_lines(q: &CostQuery<'_>, by: &GroupBy) -> bool {
    q.step == domain::cost_report::Step::Daily
        && q.classes.is_some()
        && matches!(by, GroupBy::Namespace | GroupBy::Workload)
}

impl Store {
    /// What the containers in `teams` allocated per cluster and day, priced.
    pub async fn step_allocations(
        &self,
        q: &CostQuery<'_>,
        classes: &[Rates],
        teams: TeamScope<'_>,
    ) -> Result<Vec<StepAllocation>, StoreError> {
        // Summed per class first, priced after: a few multiplications per class, not per row.
        let sql = format!(
            "SELECT bucket, cluster, sum(n)::int8 AS n, \
               sum(cpu * {CPU} + memory / {GIB} * {MEM} + gpu * {GPU}) AS allocated \
             FROM (SELECT extract(epoch FROM g.day::timestamp)::int8 AS bucket, \
                     g.cluster AS cluster, g.class AS class, count(*) AS n, \
                     sum(g.cpu_alloc) AS cpu, sum(g.memory_alloc) AS memory, \
                     sum(g.gpu_hours) AS gpu \
                   FROM usage_daily_namespaces g WHERE {days}{filter} \
                   GROUP BY g.day, g.cluster, g.class) s \
             GROUP BY bucket, cluster",
            days = days(4),
            filter = scope_filter("g", 6, teams, q),
        );
        let query = bind_classes(sqlx::query(&sql), classes)
            .bind(q.from as f64)
            .bind(q.to as f64);
        let rows = bind_scope(query, teams, q).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(StepAllocation {
                    cluster: q.named_str(r.try_get("cluster")?).to_owned(),
                    bucket: r.try_get("bucket")?,
                    allocated: r.try_get::<Option<f64>, _>("allocated")?.unwrap_or(0.0),
                    rows: usize::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Each line's sums over the window and its share of idle (its allocation of each day
    /// times its cluster's idle per unit allocated that day), added to `lines`.
    pub async fn line_sums(
        &self,
        q: &CostQuery<'_>,
        classes: &[Rates],
        by: &GroupBy,
        teams: TeamScope<'_>,
        idle_per_unit: &PerClusterStep,
        lines: &mut Lines,
    ) -> Result<(), StoreError> {
        let Some((table, columns, key)) = group_sql(by) else {
            return Ok(());
        };
        let sql = format!(
            "WITH ratio AS (SELECT cluster, (to_timestamp(b) AT TIME ZONE 'UTC')::date AS day, r \
               FROM unnest($4::text[], $5::int8[], $6::float8[]) AS x(cluster, b, r)) \
             SELECT cluster, key, sum(cpu * {CPU}) AS cpu, sum(memory / {GIB} * {MEM}) AS memory, \
               sum(gpu * {GPU}) AS gpu, \
               sum(cpu_used * {CPU} + memory_used / {GIB} * {MEM}) AS used, \
               sum(cpu_requested * {CPU} + memory_requested / {GIB} * {MEM}) AS requested, \
               sum(coalesce(cpu_idle, 0) * {CPU} + coalesce(memory_idle, 0) / {GIB} * {MEM} \
                 + coalesce(gpu_idle, 0) * {GPU}) AS idle \
             FROM (SELECT g.cluster AS cluster, {key} AS key, g.class AS class, \
                     sum(g.cpu_alloc) AS cpu, sum(g.memory_alloc) AS memory, \
                     sum(g.gpu_hours) AS gpu, sum(g.cpu_used) AS cpu_used, \
                     sum(g.memory_used) AS memory_used, sum(g.cpu_requested) AS cpu_requested, \
                     sum(g.memory_requested) AS memory_requested, \
                     sum(g.cpu_alloc * r.r) AS cpu_idle, sum(g.memory_alloc * r.r) AS memory_idle, \
                     sum(g.gpu_hours * r.r) AS gpu_idle \
                   FROM {table} g LEFT JOIN ratio r ON r.cluster = g.cluster AND r.day = g.day \
                   WHERE {days}{filter} \
                   GROUP BY g.cluster{columns}, g.class) s \
             GROUP BY cluster, key",
            days = days(7),
            filter = scope_filter("g", 9, teams, q),
        );
        let (mut clusters, mut buckets, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for ((cluster, bucket), r) in idle_per_unit {
            clusters.push(q.storage_key(cluster).to_owned());
            buckets.push(*bucket);
            ratios.push(*r);
        }
        let query = bind_classes(sqlx::query(&sql), classes)
            .bind(clusters)
            .bind(buckets)
            .bind(ratios)
            .bind(q.from as f64)
            .bind(q.to as f64);
        // A fleet's month by workload is 80,000 sums per class, hashed in about 36 MB per
        // process; at the default 4 MB Postgres sorts 2.4 million rows instead (3.8 s, not
        // 2.2 s). Only this read's, for as long as it runs.
        let mut tx = self.pool().begin().await?;
        sqlx::query("SET LOCAL work_mem = '64MB'")
            .execute(&mut *tx)
            .await?;
        let rows = bind_scope(query, teams, q).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        for row in &rows {
            let amount = |name: &str| -> Result<f64, sqlx::Error> {
                Ok(row.try_get::<Option<f64>, _>(name)?.unwrap_or(0.0))
            };
            let cluster = q.named_str(row.try_get("cluster")?);
            let key: &str = row.try_get("key")?;
            lines.add_line(LineRow {
                cluster,
                key,
                cost: Cost {
                    cpu: amount("cpu")?,
                    memory: amount("memory")?,
                    gpu: amount("gpu")?,
                    storage: 0.0,
                },
                used: amount("used")?,
                requested: amount("requested")?,
                idle: amount("idle")?,
            });
        }
        Ok(())
    }

    /// The days of the lines the chart draws, added to `ranked`: each line's day sums are
    /// found through the index by day, cluster and namespace.
    pub async fn drawn_series(
        &self,
        q: &CostQuery<'_>,
        classes: &[Rates],
        by: &GroupBy,
        teams: TeamScope<'_>,
        ranked: &mut Ranked,
    ) -> Result<(), StoreError> {
        let Some((table, columns, key)) = group_sql(by) else {
            return Ok(());
        };
        let drawn = ranked.drawn();
        if drawn.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT bucket, cluster, key, sum(cpu * {CPU}) AS cpu, \
               sum(memory / {GIB} * {MEM}) AS memory, sum(gpu * {GPU}) AS gpu \
             FROM (SELECT extract(epoch FROM g.day::timestamp)::int8 AS bucket, \
                     g.cluster AS cluster, {key} AS key, g.class AS class, \
                     sum(g.cpu_alloc) AS cpu, sum(g.memory_alloc) AS memory, \
                     sum(g.gpu_hours) AS gpu \
                   FROM unnest($4::text[], $5::text[], $6::text[]) AS t(cluster, namespace, key) \
                   CROSS JOIN generate_series((to_timestamp($7) AT TIME ZONE 'UTC')::date, \
                     (to_timestamp($8) AT TIME ZONE 'UTC')::date - 1, interval '1 day') AS d(day) \
                   JOIN {table} g ON g.day = d.day::date AND g.cluster = t.cluster \
                     AND g.namespace = t.namespace AND {key} = t.key \
                   WHERE true{filter} \
                   GROUP BY g.day, g.cluster{columns}, g.class) s \
             GROUP BY bucket, cluster, key",
            filter = scope_filter("g", 9, teams, q),
        );
        let (mut clusters, mut namespaces, mut keys) = (Vec::new(), Vec::new(), Vec::new());
        for (cluster, key) in drawn {
            clusters.push(q.storage_key(&cluster).to_owned());
            // A workload's key is `namespace/kind/name`; a namespace's is its name.
            namespaces.push(key.split('/').next().unwrap_or_default().to_owned());
            keys.push(key);
        }
        let query = bind_classes(sqlx::query(&sql), classes)
            .bind(clusters)
            .bind(namespaces)
            .bind(keys)
            .bind(q.from as f64)
            .bind(q.to as f64);
        let rows = bind_scope(query, teams, q).fetch_all(self.pool()).await?;
        for row in &rows {
            let amount = |name: &str| -> Result<f64, sqlx::Error> {
                Ok(row.try_get::<Option<f64>, _>(name)?.unwrap_or(0.0))
            };
            ranked.add_series(StepRow {
                bucket: row.try_get("bucket")?,
                cluster: q.named_str(row.try_get("cluster")?),
                key: row.try_get("key")?,
                cost: Cost {
                    cpu: amount("cpu")?,
                    memory: amount("memory")?,
                    gpu: amount("gpu")?,
                    storage: 0.0,
                },
                used: 0.0,
                requested: 0.0,
            });
        }
        Ok(())
    }
}
