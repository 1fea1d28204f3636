//! What the unused-object scan found, per cluster of the fleet (by its storage key: the home
//! cluster's is empty), read by the idle report and narrowed as its deletes succeed.

use domain::unused::Unused;
use sqlx::Row;

use super::{Store, StoreError};

impl Store {
    /// Replaces one cluster's unused objects with what its latest scan found, in one
    /// transaction, and marks when.
    pub async fn replace_unused(&self, cluster: &str, found: &[Unused]) -> Result<(), StoreError> {
        let column = |f: fn(&Unused) -> &String| found.iter().map(f).cloned().collect::<Vec<_>>();
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM unused_objects WHERE cluster = $1")
            .bind(cluster)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO unused_objects \
             (cluster, kind, namespace, name, reason, monthly_cost, uid, resource_version) \
             SELECT $1::text, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], \
               $6::float8[], $7::text[], $8::text[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(cluster)
        .bind(column(|u| &u.kind))
        .bind(column(|u| &u.namespace))
        .bind(column(|u| &u.name))
        .bind(column(|u| &u.reason))
        .bind(found.iter().map(|u| u.monthly_cost).collect::<Vec<_>>())
        .bind(column(|u| &u.uid))
        .bind(column(|u| &u.resource_version))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO unused_scan_mark (cluster, scanned_at) VALUES ($1, now()) \
             ON CONFLICT (cluster) DO UPDATE SET scanned_at = EXCLUDED.scanned_at",
        )
        .bind(cluster)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets what was found on clusters no longer in the fleet (`keys`: those that are).
    pub async fn keep_unused_of(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for table in ["unused_objects", "unused_scan_mark"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE cluster <> ALL($1::text[])"
            ))
            .bind(keys)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// When the oldest of the clusters' last scans finished (what every cluster's findings are
    /// at least as new as), as `YYYY-MM-DD HH:MM UTC`; `None` before any scan.
    pub async fn unused_scanned_at(&self) -> Result<Option<String>, StoreError> {
        let at: Option<String> = sqlx::query_scalar(
            "SELECT to_char(min(scanned_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI \"UTC\"') \
             FROM unused_scan_mark",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(at)
    }

    /// Drops one object of a cluster from the scan's result (it was deleted).
    pub async fn forget_unused(
        &self,
        cluster: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM unused_objects \
             WHERE cluster = $1 AND kind = $2 AND namespace = $3 AND name = $4",
        )
        .bind(cluster)
        .bind(kind)
        .bind(namespace)
        .bind(name)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The uid and resourceVersion the latest scan of a cluster saw of one object it found
    /// unused.
    pub async fn unused_version(
        &self,
        cluster: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT uid, resource_version FROM unused_objects \
             WHERE cluster = $1 AND kind = $2 AND namespace = $3 AND name = $4",
        )
        .bind(cluster)
        .bind(kind)
        .bind(namespace)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        Ok(row)
    }

    /// What the latest scans found, each with its cluster's storage key.
    pub async fn unused_objects(&self) -> Result<Vec<(String, Unused)>, StoreError> {
        let rows = sqlx::query(
            "SELECT cluster, kind, namespace, name, reason, monthly_cost, uid, resource_version \
             FROM unused_objects ORDER BY monthly_cost DESC, cluster, kind, namespace, name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("cluster")?,
                    Unused {
                        kind: r.try_get("kind")?,
                        namespace: r.try_get("namespace")?,
                        name: r.try_get("name")?,
                        reason: r.try_get("reason")?,
                        monthly_cost: r.try_get("monthly_cost")?,
                        uid: r.try_get("uid")?,
                        resource_version: r.try_get("resource_version")?,
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
