//! Usage history: containers the sampler has seen, their raw samples, hourly roll-ups and node
//! capacity per hour. Writes go in arrays (`unnest`), one statement per kind of row, so a
//! sample of 50,000 pods is a handful of round trips.

use std::collections::HashMap;

use sqlx::Row;

use super::{Store, StoreError};

/// A container as the sampler first sees it: where it runs, what owns it, what it reserved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerSeen {
    /// The cluster's storage key (see [`Store::record_samples`]).
    pub cluster: String,
    pub pod_uid: String,
    pub container: String,
    pub namespace: String,
    pub pod: String,
    pub node: String,
    pub owner_kind: String,
    pub owner_name: String,
    pub team: Option<String>,
    /// The labels of interest, as a JSON object.
    pub labels: serde_json::Value,
    pub cpu_request: f64,
    pub cpu_limit: Option<f64>,
    pub memory_request: f64,
    pub memory_limit: Option<f64>,
    pub gpus: f64,
}

/// One container's usage at the sample's time: cores and bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub container_id: i64,
    pub cpu: f32,
    pub memory: f32,
}

/// A node at the sample's time: its allocatable capacity and what it used.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSeen {
    pub node: String,
    pub labels: serde_json::Value,
    pub cpu_capacity: f64,
    pub memory_capacity: f64,
    pub gpus: f64,
    pub cpu_used: f64,
    pub memory_used: f64,
}

/// What a roll-up did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rollup {
    /// Hourly rows written.
    pub hours: u64,
    /// Raw samples pruned.
    pub pruned: u64,
}

/// One container-hour of history, for imports (the demo's month of history).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HourRow {
    pub hour_unix: f64,
    pub container_id: i64,
    pub samples: i32,
    pub cpu_avg: f32,
    pub cpu_max: f32,
    pub cpu_p95: f32,
    pub memory_avg: f32,
    pub memory_max: f32,
    pub memory_p95: f32,
    /// The share of the hour it ran (0–1].
    pub share: f32,
}

/// Adds the hours [$1, $2) of `usage_hourly` to the day sums (each hour is added once: the
/// roll-up mark moves in the same transaction).
const DAILY_FROM_HOURLY: &str = "INSERT INTO usage_daily (day, container_id, hours, cpu_alloc, \
       memory_alloc, cpu_used, memory_used) \
     SELECT (h.hour AT TIME ZONE 'UTC')::date, h.container_id, sum(h.share), \
       sum(greatest(c.cpu_request, h.cpu_avg) * h.share), \
       sum(greatest(c.memory_request, h.memory_avg) * h.share), \
       sum(h.cpu_avg * h.share), sum(h.memory_avg * h.share) \
     FROM usage_hourly h JOIN usage_containers c ON c.id = h.container_id \
     WHERE h.hour >= to_timestamp($1) AND h.hour < to_timestamp($2) \
     GROUP BY 1, 2 \
     ON CONFLICT (day, container_id) DO UPDATE SET \
       hours = usage_daily.hours + excluded.hours, \
       cpu_alloc = usage_daily.cpu_alloc + excluded.cpu_alloc, \
       memory_alloc = usage_daily.memory_alloc + excluded.memory_alloc, \
       cpu_used = usage_daily.cpu_used + excluded.cpu_used, \
       memory_used = usage_daily.memory_used + excluded.memory_used";

/// Fills in each node's allocation for the hours [$1, $2) from its containers' roll-ups.
const NODE_ALLOC_FROM_HOURLY: &str = "UPDATE node_hourly n SET cpu_alloc = s.cpu, \
       memory_alloc = s.memory, gpu_alloc = s.gpu \
     FROM (SELECT h.hour, c.cluster, c.node, \
             sum(greatest(c.cpu_request, h.cpu_avg) * h.share) AS cpu, \
             sum(greatest(c.memory_request, h.memory_avg) * h.share) AS memory, \
             sum(c.gpus * h.share) AS gpu \
           FROM usage_hourly h JOIN usage_containers c ON c.id = h.container_id \
           WHERE h.hour >= to_timestamp($1) AND h.hour < to_timestamp($2) \
           GROUP BY 1, 2, 3) s \
     WHERE n.hour = s.hour AND n.cluster = s.cluster AND n.node = s.node";

/// Adds the node hours [$1, $2) to the node day sums.
const NODE_DAILY_FROM_HOURLY: &str = "INSERT INTO node_daily (day, cluster, node, labels, \
       hours, cpu_capacity, memory_capacity, gpus, cpu_alloc, memory_alloc, gpu_alloc) \
     SELECT (hour AT TIME ZONE 'UTC')::date, cluster, node, \
       (array_agg(labels ORDER BY hour DESC))[1], count(*), sum(cpu_capacity), \
       sum(memory_capacity), sum(gpus), sum(cpu_alloc), sum(memory_alloc), sum(gpu_alloc) \
     FROM node_hourly WHERE hour >= to_timestamp($1) AND hour < to_timestamp($2) \
     GROUP BY 1, 2, 3 \
     ON CONFLICT (day, cluster, node) DO UPDATE SET labels = excluded.labels, \
       hours = node_daily.hours + excluded.hours, \
       cpu_capacity = node_daily.cpu_capacity + excluded.cpu_capacity, \
       memory_capacity = node_daily.memory_capacity + excluded.memory_capacity, \
       gpus = node_daily.gpus + excluded.gpus, \
       cpu_alloc = node_daily.cpu_alloc + excluded.cpu_alloc, \
       memory_alloc = node_daily.memory_alloc + excluded.memory_alloc, \
       gpu_alloc = node_daily.gpu_alloc + excluded.gpu_alloc";

/// Adds the claim hours [$1, $2) to the claim day sums.
const VOLUME_DAILY_FROM_HOURLY: &str = "INSERT INTO volume_daily (day, cluster, namespace, \
       claim, team, byte_hours) \
     SELECT (hour AT TIME ZONE 'UTC')::date, cluster, namespace, claim, max(team), sum(bytes) \
     FROM volume_hourly WHERE hour >= to_timestamp($1) AND hour < to_timestamp($2) \
     GROUP BY 1, 2, 3, 4 \
     ON CONFLICT (day, cluster, namespace, claim) DO UPDATE SET team = excluded.team, \
       byte_hours = volume_daily.byte_hours + excluded.byte_hours";

/// A bound claim at the sample's time.
#[derive(Clone, Debug, PartialEq)]
pub struct VolumeSeen {
    pub namespace: String,
    pub claim: String,
    pub team: Option<String>,
    pub bytes: f64,
}

/// Everything that follows once hours [from, upto) are in `usage_hourly`: the container day
/// sums, each node's allocation per hour, the node day sums, the claim day sums, the day sums
/// per workload and price class. Each hour passes here once (the roll-up mark moves in the
/// same transaction).
async fn roll_days(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    from: f64,
    upto: f64,
) -> Result<(), StoreError> {
    for sql in [
        DAILY_FROM_HOURLY,
        NODE_ALLOC_FROM_HOURLY,
        NODE_DAILY_FROM_HOURLY,
        VOLUME_DAILY_FROM_HOURLY,
    ] {
        sqlx::query(sql)
            .bind(from)
            .bind(upto)
            .execute(&mut **tx)
            .await?;
    }
    super::usage_groups::roll_groups(tx, from, upto).await
}

impl Store {
    /// Whether any usage was ever recorded (a fresh database has none).
    pub async fn has_usage(&self) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM usage_containers)")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Moves on every write to the roll-ups (0 before the first).
    pub async fn usage_version(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM usage_rollup_mark")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// The first hour any usage was rolled up for (unix seconds), if any.
    pub async fn first_usage_hour(&self) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT extract(epoch FROM min(hour))::int8 FROM usage_hourly")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Imports finished hours [from, upto) of history in one transaction: the hourly rows,
    /// their daily sums, and the roll-up mark (so live sampling continues where it ends).
    pub async fn import_history(
        &self,
        rows: &[HourRow],
        from_unix: f64,
        upto_unix: f64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for chunk in rows.chunks(20_000) {
            sqlx::query(
                "INSERT INTO usage_hourly (hour, container_id, samples, cpu_avg, cpu_max, cpu_p95, \
                   memory_avg, memory_max, memory_p95, share) \
                 SELECT to_timestamp(u.hour), u.id, u.samples, u.ca, u.cm, u.cp, u.ma, u.mm, u.mp, \
                   least(1, greatest(u.share, 0.0001)) \
                 FROM unnest($1::float8[], $2::int8[], $3::int4[], $4::float4[], $5::float4[], \
                   $6::float4[], $7::float4[], $8::float4[], $9::float4[], $10::float4[]) \
                   AS u(hour, id, samples, ca, cm, cp, ma, mm, mp, share) \
                 ON CONFLICT (hour, container_id) DO NOTHING",
            )
            .bind(chunk.iter().map(|r| r.hour_unix).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.container_id).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.samples).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.cpu_avg).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.cpu_max).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.cpu_p95).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.memory_avg).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.memory_max).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.memory_p95).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.share).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        roll_days(&mut tx, from_unix, upto_unix).await?;
        sqlx::query(
            "INSERT INTO usage_rollup_mark (one, rolled_upto, version) \
             VALUES (true, to_timestamp($1), 1) \
             ON CONFLICT (one) DO UPDATE \
               SET rolled_upto = greatest(usage_rollup_mark.rolled_upto, excluded.rolled_upto), \
                 version = usage_rollup_mark.version + 1",
        )
        .bind(upto_unix)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ids of `containers` (pod uid, container name), registering those not seen before.
    pub async fn register_containers(
        &self,
        at_unix: f64,
        containers: &[ContainerSeen],
    ) -> Result<HashMap<(String, String), i64>, StoreError> {
        let mut ids = HashMap::with_capacity(containers.len());
        for chunk in containers.chunks(5_000) {
            let col = |f: fn(&ContainerSeen) -> String| chunk.iter().map(f).collect::<Vec<_>>();
            let rows = sqlx::query(
                "INSERT INTO usage_containers (pod_uid, container, namespace, pod, node, \
                   owner_kind, owner_name, team, labels, cpu_request, cpu_limit, memory_request, \
                   memory_limit, gpus, first_seen, cluster) \
                 SELECT u.pod_uid, u.container, u.namespace, u.pod, u.node, u.owner_kind, \
                   u.owner_name, u.team, u.labels::jsonb, u.cpu_request, u.cpu_limit, \
                   u.memory_request, u.memory_limit, u.gpus, to_timestamp($15), u.cluster \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                   $6::text[], $7::text[], $8::text[], $9::text[], $10::float8[], $11::float8[], \
                   $12::float8[], $13::float8[], $14::float8[], $16::text[]) \
                   AS u(pod_uid, container, namespace, pod, node, owner_kind, owner_name, team, \
                   labels, cpu_request, cpu_limit, memory_request, memory_limit, gpus, cluster) \
                 ON CONFLICT (pod_uid, container) DO UPDATE SET node = excluded.node \
                 RETURNING id, pod_uid, container",
            )
            .bind(col(|c| c.pod_uid.clone()))
            .bind(col(|c| c.container.clone()))
            .bind(col(|c| c.namespace.clone()))
            .bind(col(|c| c.pod.clone()))
            .bind(col(|c| c.node.clone()))
            .bind(col(|c| c.owner_kind.clone()))
            .bind(col(|c| c.owner_name.clone()))
            .bind(chunk.iter().map(|c| c.team.clone()).collect::<Vec<_>>())
            .bind(col(|c| c.labels.to_string()))
            .bind(chunk.iter().map(|c| c.cpu_request).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.cpu_limit).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.memory_request).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.memory_limit).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.gpus).collect::<Vec<_>>())
            .bind(at_unix)
            .bind(col(|c| c.cluster.clone()))
            .fetch_all(self.pool())
            .await?;
            for row in rows {
                ids.insert(
                    (row.try_get("pod_uid")?, row.try_get("container")?),
                    row.try_get("id")?,
                );
            }
        }
        Ok(ids)
    }

    /// Stores one sample of every container and of the nodes of `cluster`, all at `at_unix`.
    /// A cluster's storage key is its fleet name, except the home cluster's, which is empty:
    /// the history from before the fleet was the home cluster's, and it follows a rename.
    pub async fn record_samples(
        &self,
        at_unix: f64,
        cluster: &str,
        samples: &[Sample],
        nodes: &[NodeSeen],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for chunk in samples.chunks(20_000) {
            sqlx::query(
                "INSERT INTO usage_samples (container_id, sampled_at, cpu, memory) \
                 SELECT u.id, to_timestamp($4), u.cpu, u.memory \
                 FROM unnest($1::int8[], $2::float4[], $3::float4[]) AS u(id, cpu, memory)",
            )
            .bind(chunk.iter().map(|s| s.container_id).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.cpu).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.memory).collect::<Vec<_>>())
            .bind(at_unix)
            .execute(&mut *tx)
            .await?;
        }
        if !nodes.is_empty() {
            // A running average over the hour's samples: capacity as last seen.
            sqlx::query(
                "INSERT INTO node_hourly (hour, cluster, node, labels, cpu_capacity, \
                   memory_capacity, gpus, samples, cpu_used_avg, memory_used_avg) \
                 SELECT date_trunc('hour', to_timestamp($8)), $9, n.node, n.labels::jsonb, \
                   n.cpu, n.memory, n.gpus, 1, n.cpu_used, n.memory_used \
                 FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::float8[], \
                   $6::float8[], $7::float8[]) AS n(node, labels, cpu, memory, gpus, cpu_used, \
                   memory_used) \
                 ON CONFLICT (hour, cluster, node) DO UPDATE SET labels = excluded.labels, \
                   cpu_capacity = excluded.cpu_capacity, \
                   memory_capacity = excluded.memory_capacity, gpus = excluded.gpus, \
                   samples = node_hourly.samples + 1, \
                   cpu_used_avg = (node_hourly.cpu_used_avg * node_hourly.samples \
                     + excluded.cpu_used_avg) / (node_hourly.samples + 1), \
                   memory_used_avg = (node_hourly.memory_used_avg * node_hourly.samples \
                     + excluded.memory_used_avg) / (node_hourly.samples + 1)",
            )
            .bind(nodes.iter().map(|n| n.node.clone()).collect::<Vec<_>>())
            .bind(
                nodes
                    .iter()
                    .map(|n| n.labels.to_string())
                    .collect::<Vec<_>>(),
            )
            .bind(nodes.iter().map(|n| n.cpu_capacity).collect::<Vec<_>>())
            .bind(nodes.iter().map(|n| n.memory_capacity).collect::<Vec<_>>())
            .bind(nodes.iter().map(|n| n.gpus).collect::<Vec<_>>())
            .bind(nodes.iter().map(|n| n.cpu_used).collect::<Vec<_>>())
            .bind(nodes.iter().map(|n| n.memory_used).collect::<Vec<_>>())
            .bind(at_unix)
            .bind(cluster)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records the bound claims of `cluster` (its storage key) in the hour holding `at_unix`
    /// (once per claim and hour).
    pub async fn record_volumes(
        &self,
        at_unix: f64,
        cluster: &str,
        volumes: &[VolumeSeen],
    ) -> Result<(), StoreError> {
        for chunk in volumes.chunks(20_000) {
            sqlx::query(
                "INSERT INTO volume_hourly (hour, cluster, namespace, claim, team, bytes) \
                 SELECT date_trunc('hour', to_timestamp($5)), $6, v.ns, v.claim, v.team, \
                   v.bytes \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[]) \
                   AS v(ns, claim, team, bytes) \
                 ON CONFLICT (hour, cluster, namespace, claim) DO UPDATE \
                   SET bytes = excluded.bytes",
            )
            .bind(
                chunk
                    .iter()
                    .map(|v| v.namespace.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(chunk.iter().map(|v| v.claim.clone()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|v| v.team.clone()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|v| v.bytes).collect::<Vec<_>>())
            .bind(at_unix)
            .bind(cluster)
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }

    /// Rolls every finished hour not yet rolled up into `usage_hourly` (average, maximum and
    /// 95th percentile, and the share of the hour each container ran: first to last sample
    /// plus one `interval_secs`), then prunes raw samples that are rolled up and older than
    /// `retention_secs`. One transaction: the mark moves with the rows it covers.
    pub async fn roll_up_usage(
        &self,
        now_unix: f64,
        retention_secs: f64,
        interval_secs: f64,
    ) -> Result<Rollup, StoreError> {
        let mut tx = self.pool().begin().await?;
        let from: Option<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM coalesce( \
               (SELECT rolled_upto FROM usage_rollup_mark), \
               (SELECT date_trunc('hour', min(sampled_at)) FROM usage_samples)))::float8",
        )
        .fetch_one(&mut *tx)
        .await?;
        let upto: f64 = sqlx::query_scalar(
            "SELECT extract(epoch FROM date_trunc('hour', to_timestamp($1)))::float8",
        )
        .bind(now_unix)
        .fetch_one(&mut *tx)
        .await?;
        let mut done = Rollup::default();
        if let Some(from) = from.filter(|from| *from < upto) {
            done.hours = sqlx::query(
                "INSERT INTO usage_hourly (hour, container_id, samples, cpu_avg, cpu_max, cpu_p95, \
                   memory_avg, memory_max, memory_p95, share) \
                 SELECT date_trunc('hour', sampled_at), container_id, count(*), avg(cpu), \
                   max(cpu), percentile_cont(0.95) WITHIN GROUP (ORDER BY cpu), avg(memory), \
                   max(memory), percentile_cont(0.95) WITHIN GROUP (ORDER BY memory), \
                   least(1.0, (extract(epoch FROM max(sampled_at) - min(sampled_at)) + $3) \
                     / 3600.0) \
                 FROM usage_samples \
                 WHERE sampled_at >= to_timestamp($1) AND sampled_at < to_timestamp($2) \
                 GROUP BY 1, 2 \
                 ON CONFLICT (hour, container_id) DO UPDATE SET samples = excluded.samples, \
                   cpu_avg = excluded.cpu_avg, cpu_max = excluded.cpu_max, \
                   cpu_p95 = excluded.cpu_p95, memory_avg = excluded.memory_avg, \
                   memory_max = excluded.memory_max, memory_p95 = excluded.memory_p95, \
                   share = excluded.share",
            )
            .bind(from)
            .bind(upto)
            .bind(interval_secs.clamp(1.0, 3600.0))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // The day's sums grow by exactly the hours just rolled up (each hour rolls once:
            // the mark moves in this transaction).
            roll_days(&mut tx, from, upto).await?;
            sqlx::query(
                "INSERT INTO usage_rollup_mark (one, rolled_upto, version) \
                 VALUES (true, to_timestamp($1), 1) \
                 ON CONFLICT (one) DO UPDATE SET rolled_upto = excluded.rolled_upto, \
                   version = usage_rollup_mark.version + 1",
            )
            .bind(upto)
            .execute(&mut *tx)
            .await?;
        }
        // Only samples already rolled up go, however old.
        done.pruned = sqlx::query(
            "DELETE FROM usage_samples WHERE sampled_at < to_timestamp($1) \
               AND sampled_at < (SELECT rolled_upto FROM usage_rollup_mark)",
        )
        .bind(now_unix - retention_secs)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done)
    }
}
