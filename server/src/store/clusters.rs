//! The cluster registry: clusters admins added while Berth runs.

use domain::audit::NewEvent;
use domain::fleet::ClusterDraft;

use super::{Store, StoreError};

/// A registry row as selected: name, display name, region, environment, kubeconfig, context,
/// public server, API server, token Secret.
type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

/// The columns of a [`Row`], in its order.
const COLUMNS: &str = "name, display_name, region, environment, kubeconfig, context, \
                       public_server, api_server, token_secret";

fn draft_of(row: Row) -> ClusterDraft {
    let (
        name,
        display_name,
        region,
        environment,
        kubeconfig,
        context,
        public_server,
        api_server,
        token_secret,
    ) = row;
    ClusterDraft {
        name,
        display_name,
        region,
        environment,
        kubeconfig,
        context,
        public_server,
        api_server,
        token_secret,
    }
}

impl Store {
    /// Every registered cluster, by name.
    pub async fn registered_clusters(&self) -> Result<Vec<ClusterDraft>, StoreError> {
        let rows: Vec<Row> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM clusters ORDER BY name"))
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(draft_of).collect())
    }

    /// Registers `draft` with its audit event, in one transaction; a name taken meanwhile is a
    /// conflict.
    pub async fn register_cluster(
        &self,
        draft: &ClusterDraft,
        by: &str,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO clusters ({COLUMNS}, added_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (name) DO NOTHING"
        ))
        .bind(&draft.name)
        .bind(&draft.display_name)
        .bind(&draft.region)
        .bind(&draft.environment)
        .bind(&draft.kubeconfig)
        .bind(&draft.context)
        .bind(&draft.public_server)
        .bind(&draft.api_server)
        .bind(&draft.token_secret)
        .bind(by)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "a cluster named {} is already registered",
                draft.name
            )));
        }
        super::audit::append(&mut tx, self.audit_key(), event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// What Berth still holds on cluster `name`: live namespace requests and grants not yet
    /// ended. A cluster leaving the fleet would strand them (a grant nobody can revoke).
    pub async fn held_on_cluster(&self, name: &str) -> Result<(i64, i64), StoreError> {
        let namespaces: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM namespace_requests WHERE plan->'draft'->>'cluster' = $1 \
             AND state NOT IN ('denied', 'failed', 'expired')",
        )
        .bind(name)
        .fetch_one(self.pool())
        .await?;
        let grants: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM access_requests WHERE target_cluster = $1 \
             AND state IN ('pending', 'granting', 'active')",
        )
        .bind(name)
        .fetch_one(self.pool())
        .await?;
        Ok((namespaces, grants))
    }

    /// Removes `name` from the registry with its audit event; `None` when it was not there.
    pub async fn unregister_cluster(
        &self,
        name: &str,
        event: impl FnOnce(&ClusterDraft) -> NewEvent,
    ) -> Result<Option<ClusterDraft>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let row: Option<Row> = sqlx::query_as(&format!(
            "DELETE FROM clusters WHERE name = $1 RETURNING {COLUMNS}"
        ))
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(gone) = row.map(draft_of) else {
            return Ok(None);
        };
        super::audit::append(&mut tx, self.audit_key(), &event(&gone)).await?;
        tx.commit().await?;
        Ok(Some(gone))
    }
}
