//! Background loops. Each holds a Postgres advisory lock while it works, so that of several
//! replicas exactly one acts; the others wait and take over when its connection goes away.

use std::time::Duration;

use domain::audit::NewEvent;

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, Postgres};

use crate::store::tenancy::RequestRow;
use crate::store::{Store, StoreError};

pub mod access;
pub mod budget;
pub mod checkpoint;
pub mod expiry;
pub mod prometheus;
pub mod provision;
pub mod unused;
pub mod usage;

/// Advisory lock keys, one per loop (arbitrary, fixed, distinct from the audit append lock).
pub const PROVISION_LOCK: i64 = 0x6265_7274_6801;
pub const EXPIRY_LOCK: i64 = 0x6265_7274_6802;
pub const USAGE_LOCK: i64 = 0x6265_7274_6803;
pub const BUDGET_LOCK: i64 = 0x6265_7274_6804;
pub const UNUSED_LOCK: i64 = 0x6265_7274_6805;
pub const ACCESS_LOCK: i64 = 0x6265_7274_6806;
pub const PROMETHEUS_LOCK: i64 = 0x6265_7274_6807;

/// How often a standby replica asks for a loop's lock.
pub const TAKEOVER_POLL: Duration = Duration::from_secs(5);

/// How soon a loop tries again after a failed pass: a scan that ran before the caches were
/// full, or while the API server blinked, should not wait a whole (ten-minute) interval.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// The pause before a loop's next pass, given whether this one worked.
pub fn next_pass(worked: bool, interval: Duration) -> Duration {
    if worked {
        interval
    } else {
        interval.min(RETRY_AFTER_FAILURE)
    }
}

/// How often the holder renews its lease; a renewal that takes longer than this failed.
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// A lease not renewed for this long belongs to a holder that is gone: a standby ends its
/// backend (which frees the lock) and takes over.
pub const LEASE_TTL: Duration = Duration::from_secs(20);

/// A session-level advisory lock on a connection of its own, with a lease renewed beside it.
/// The connection is detached from the pool: should the holder stop (crash, abort), closing it
/// is what frees the lock, and a pooled connection going back to the pool would keep it held.
/// Should the holder's host vanish instead, nothing closes it: the lease going stale is what
/// lets a standby take over, within [`LEASE_TTL`] and a takeover poll.
pub struct Leadership {
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Drop for Leadership {
    fn drop(&mut self) {
        // The renewer owns the connection: ending it closes the connection and frees the lock.
        self.renewer.abort();
    }
}

impl Leadership {
    /// Waits until this process holds `key`, checking every `poll` (at most every
    /// [`TAKEOVER_POLL`], so a standby takes over soon whatever its loop's interval).
    pub async fn acquire(
        store: &Store,
        key: i64,
        poll: Duration,
    ) -> Result<Leadership, StoreError> {
        loop {
            let pooled: PoolConnection<Postgres> = store.pool().acquire().await?;
            // The pool's connections carry keepalives (`store::SESSION_SETTINGS`), so Postgres
            // notices a dead holder on its own as well.
            let mut conn = pooled.detach();
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut conn)
                .await?;
            if got {
                sqlx::query(
                    "INSERT INTO loop_leases (key, holder_pid, renewed_at) \
                     VALUES ($1, pg_backend_pid(), now()) \
                     ON CONFLICT (key) DO UPDATE SET holder_pid = EXCLUDED.holder_pid, \
                     renewed_at = EXCLUDED.renewed_at",
                )
                .bind(key)
                .execute(&mut conn)
                .await?;
                let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                let renewer = tokio::spawn(renew(conn, key, lost.clone()));
                return Ok(Leadership { lost, renewer });
            }
            end_stale_holder(&mut conn, key).await?;
            let _ = conn.close().await;
            tokio::time::sleep(poll.min(TAKEOVER_POLL)).await;
        }
    }

    /// Whether the lock is still ours: the last renewal of its lease went through in time.
    pub async fn still_held(&mut self) -> bool {
        !self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Renews the lease every [`RENEW_EVERY`] on the lock's own connection; on the first renewal
/// that fails or hangs, marks the lock lost and ends (closing the connection).
async fn renew(
    mut conn: PgConnection,
    key: i64,
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let renewed = tokio::time::timeout(
            RENEW_EVERY,
            sqlx::query(
                "UPDATE loop_leases SET renewed_at = now() \
                 WHERE key = $1 AND holder_pid = pg_backend_pid()",
            )
            .bind(key)
            .execute(&mut conn),
        )
        .await;
        let held = matches!(&renewed, Ok(Ok(done)) if done.rows_affected() == 1);
        if !held {
            lost.store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::warn!(
                key,
                "lost the lease of a background loop's lock; stopping it here"
            );
            return;
        }
    }
}

/// A lock held by a backend whose lease went stale: end that backend, which frees the lock.
async fn end_stale_holder(conn: &mut PgConnection, key: i64) -> Result<(), StoreError> {
    let ended: Option<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(l.holder_pid) FROM loop_leases l \
         WHERE l.key = $1 AND l.renewed_at < now() - make_interval(secs => $2) \
           AND EXISTS (SELECT 1 FROM pg_locks p WHERE p.locktype = 'advisory' AND p.granted \
                       AND p.pid = l.holder_pid \
                       AND ((p.classid::bigint << 32) | p.objid::bigint) = $1)",
    )
    .bind(key)
    .bind(LEASE_TTL.as_secs_f64())
    .fetch_optional(&mut *conn)
    .await?;
    if ended == Some(true) {
        tracing::warn!(
            key,
            "ended the backend of a loop leader whose lease went stale; taking over"
        );
    }
    Ok(())
}

/// An audit event Berth records itself about a namespace request; `who` names the loop. A
/// request from before the fleet names no cluster: it is `home`'s.
pub fn system_event(
    who: &str,
    request: &RequestRow,
    action: &str,
    outcome: &str,
    home: &str,
) -> NewEvent {
    NewEvent {
        actor_display: format!("Berth {who}"),
        request_id: request.id.clone(),
        target_cluster: request.plan.draft.cluster_or(home).to_owned(),
        ..system_event_for(&request.name, action, outcome)
    }
}

/// An audit event Berth records itself about a namespace, by the provisioner.
pub fn system_event_for(namespace: &str, action: &str, outcome: &str) -> NewEvent {
    NewEvent {
        actor_id: "berth".to_owned(),
        actor_display: "Berth provisioner".to_owned(),
        actor_roles: vec!["system".to_owned()],
        source: "reconciler".to_owned(),
        request_id: String::new(),
        action: action.to_owned(),
        target_kind: "Namespace".to_owned(),
        target_namespace: namespace.to_owned(),
        target_cluster: String::new(),
        target_name: namespace.to_owned(),
        before: None,
        after: None,
        outcome: outcome.to_owned(),
    }
}
