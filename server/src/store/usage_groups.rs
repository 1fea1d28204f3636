//! Day sums per workload and price class (migration 0028) and per namespace and price class
//! (0029), which the fleet's cost reports read instead of every container's day: the roll-up
//! adds each hour to both as it adds it to the container days, and both are summed again from
//! the container days whenever the pricing file's matchers (which nodes pay which override) are
//! not those they were summed with.

use std::collections::BTreeMap;

use domain::cost::{Matcher, price_class};
use sqlx::Row;

use super::{Store, StoreError};

/// Roll-ups and a summing-again never interleave: one waits for the other's commit.
const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('berth.usage_groups'))";

/// The amounts both tables keep, in their column order.
const SUMS: &str = "cpu_alloc, memory_alloc, cpu_used, memory_used, cpu_requested, \
                    memory_requested, gpu_hours";

/// Each amount summed, in `SUMS` order.
fn summed() -> String {
    SUMS.split(", ")
        .map(|c| format!("sum({c})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An upsert's SET list adding the new amounts to a `table`'s row.
fn add_sums(table: &str) -> String {
    SUMS.split(", ")
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Nodes that pay an override: cluster keys, node names and classes, side by side; nodes not
/// listed are class 0 (the default rates), so a fleet without overrides passes nothing.
#[derive(Default)]
struct Classes {
    clusters: Vec<String>,
    nodes: Vec<String>,
    classes: Vec<i32>,
}

impl Classes {
    /// Adds the node if it pays an override; says whether it did. The home cluster's key is
    /// empty and overrides name it `home`; labels are the stored JSON object.
    fn add(
        &mut self,
        matchers: &[Matcher],
        home: &str,
        row: &sqlx::postgres::PgRow,
    ) -> Result<bool, sqlx::Error> {
        let cluster: String = row.try_get("cluster")?;
        let labels: BTreeMap<String, String> =
            serde_json::from_str(row.try_get("labels")?).unwrap_or_default();
        let name = if cluster.is_empty() { home } else { &cluster };
        let class = price_class(matchers, name, &labels);
        if class == 0 {
            return Ok(false);
        }
        self.nodes.push(row.try_get("node")?);
        self.clusters.push(cluster);
        self.classes.push(class);
        Ok(true)
    }
}

/// The matchers and home name the groups were summed with, if ever.
async fn mark(conn: &mut sqlx::PgConnection) -> Result<Option<(Vec<Matcher>, String)>, StoreError> {
    let row = sqlx::query("SELECT matchers::text AS matchers, home FROM usage_groups_mark")
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let matchers: String = row.try_get("matchers")?;
    let matchers =
        serde_json::from_str(&matchers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Some((matchers, row.try_get("home")?)))
}

/// Adds the hours [from, upto) of `usage_hourly` to both tables, each node classed by its
/// latest labels in those hours. Nothing when the groups were never summed: the first
/// summing reads every day.
pub(super) async fn roll_groups(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    from: f64,
    upto: f64,
) -> Result<(), StoreError> {
    sqlx::query(LOCK).execute(&mut **tx).await?;
    let Some((matchers, home)) = mark(tx).await? else {
        return Ok(());
    };
    let nodes = if matchers.is_empty() {
        Vec::new()
    } else {
        sqlx::query(
            "SELECT DISTINCT ON (cluster, node) cluster, node, labels::text AS labels \
             FROM node_hourly WHERE hour >= to_timestamp($1) AND hour < to_timestamp($2) \
             ORDER BY cluster, node, hour DESC",
        )
        .bind(from)
        .bind(upto)
        .fetch_all(&mut **tx)
        .await?
    };
    let mut classes = Classes::default();
    for row in &nodes {
        classes.add(&matchers, &home, row)?;
    }
    // Summed once, added to both tables.
    let sql = format!(
        "WITH hours AS ( \
           SELECT (h.hour AT TIME ZONE 'UTC')::date AS day, c.cluster, c.namespace, \
             coalesce(c.team, '') AS team, c.owner_kind, c.owner_name, \
             coalesce(k.class, 0) AS class, \
             sum(greatest(c.cpu_request, h.cpu_avg) * h.share) AS cpu_alloc, \
             sum(greatest(c.memory_request, h.memory_avg) * h.share) AS memory_alloc, \
             sum(h.cpu_avg * h.share) AS cpu_used, sum(h.memory_avg * h.share) AS memory_used, \
             sum(c.cpu_request * h.share) AS cpu_requested, \
             sum(c.memory_request * h.share) AS memory_requested, \
             sum(c.gpus * h.share) AS gpu_hours \
           FROM usage_hourly h JOIN usage_containers c ON c.id = h.container_id \
             LEFT JOIN unnest($3::text[], $4::text[], $5::int4[]) AS k(cluster, node, class) \
               ON k.cluster = c.cluster AND k.node = c.node \
           WHERE h.hour >= to_timestamp($1) AND h.hour < to_timestamp($2) \
           GROUP BY 1, 2, 3, 4, 5, 6, 7), \
         workloads AS ( \
           INSERT INTO usage_daily_groups (day, cluster, namespace, team, owner_kind, \
             owner_name, class, {SUMS}) \
           SELECT day, cluster, namespace, team, owner_kind, owner_name, class, {SUMS} \
           FROM hours \
           ON CONFLICT (day, cluster, namespace, team, owner_kind, owner_name, class) \
             DO UPDATE SET {groups}) \
         INSERT INTO usage_daily_namespaces (day, cluster, namespace, team, class, {SUMS}) \
         SELECT day, cluster, namespace, team, class, {summed} FROM hours \
         GROUP BY 1, 2, 3, 4, 5 \
         ON CONFLICT (day, cluster, namespace, team, class) DO UPDATE SET {namespaces}",
        groups = add_sums("usage_daily_groups"),
        namespaces = add_sums("usage_daily_namespaces"),
        summed = summed(),
    );
    sqlx::query(&sql)
        .bind(from)
        .bind(upto)
        .bind(classes.clusters)
        .bind(classes.nodes)
        .bind(classes.classes)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Whether the groups were summed with these matchers and this home name, so that
    /// pricing them by class prices every node as the pricing file says.
    pub async fn usage_groups_fresh(
        &self,
        matchers: &[Matcher],
        home: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool().acquire().await?;
        Ok(mark(&mut conn)
            .await?
            .is_some_and(|(m, h)| m == matchers && h == home))
    }

    /// Sums the groups again from every container day when they were summed with other
    /// matchers or another home name (or never), in one transaction: the reports read the
    /// old groups, or the container days while stale, until it commits. Each day's node is
    /// classed by its labels that day. Returns the rows written, or `None` when fresh.
    pub async fn keep_usage_groups(
        &self,
        matchers: &[Matcher],
        home: &str,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(LOCK).execute(&mut *tx).await?;
        if mark(&mut tx)
            .await?
            .is_some_and(|(m, h)| m == matchers && h == home)
        {
            return Ok(None);
        }
        let nodes = if matchers.is_empty() {
            Vec::new()
        } else {
            sqlx::query(
                "SELECT extract(epoch FROM day::timestamp)::int8 AS day, cluster, node, \
                   labels::text AS labels FROM node_daily",
            )
            .fetch_all(&mut *tx)
            .await?
        };
        // Classes per day: a node's labels (so its class) may change over the history.
        let mut days = Vec::new();
        let mut classes = Classes::default();
        for row in &nodes {
            if classes.add(matchers, home, row)? {
                days.push(row.try_get::<i64, _>("day")? as f64);
            }
        }
        sqlx::query("DELETE FROM usage_daily_groups")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM usage_daily_namespaces")
            .execute(&mut *tx)
            .await?;
        // Written in key order: a report by workload then reads them off the index in order,
        // and the roll-up's later days append in day order anyway.
        let written = sqlx::query(
            "INSERT INTO usage_daily_groups (day, cluster, namespace, team, owner_kind, \
               owner_name, class, cpu_alloc, memory_alloc, cpu_used, memory_used, \
               cpu_requested, memory_requested, gpu_hours) \
             SELECT u.day, c.cluster, c.namespace, coalesce(c.team, ''), c.owner_kind, \
               c.owner_name, coalesce(k.class, 0), sum(u.cpu_alloc), sum(u.memory_alloc), \
               sum(u.cpu_used), sum(u.memory_used), sum(u.hours * c.cpu_request), \
               sum(u.hours * c.memory_request), sum(u.hours * c.gpus) \
             FROM usage_daily u JOIN usage_containers c ON c.id = u.container_id \
               LEFT JOIN (SELECT (to_timestamp(d) AT TIME ZONE 'UTC')::date AS day, cluster, \
                   node, class \
                 FROM unnest($1::float8[], $2::text[], $3::text[], $4::int4[]) \
                   AS k(d, cluster, node, class)) k \
                 ON k.day = u.day AND k.cluster = c.cluster AND k.node = c.node \
             GROUP BY 1, 2, 3, 4, 5, 6, 7 \
             ORDER BY 1, 2, 3, 4, 5, 6, 7",
        )
        .bind(days)
        .bind(classes.clusters)
        .bind(classes.nodes)
        .bind(classes.classes)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(&format!(
            "INSERT INTO usage_daily_namespaces (day, cluster, namespace, team, class, {SUMS}) \
             SELECT day, cluster, namespace, team, class, {summed} FROM usage_daily_groups \
             GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
            summed = summed()
        ))
        .execute(&mut *tx)
        .await?;
        let matchers =
            serde_json::to_string(matchers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO usage_groups_mark (one, matchers, home, built_at) \
             VALUES (true, $1::jsonb, $2, now()) \
             ON CONFLICT (one) DO UPDATE SET matchers = excluded.matchers, home = excluded.home, \
               built_at = excluded.built_at",
        )
        .bind(matchers)
        .bind(home)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // Counted now, not at autovacuum's leisure: the reports' plans rest on how many lines
        // the sums hold (migration 0033), and they are read as soon as they are fresh.
        sqlx::query("ANALYZE usage_daily_groups, usage_daily_namespaces")
            .execute(self.pool())
            .await?;
        Ok(Some(written))
    }
}
