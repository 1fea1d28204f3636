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

/// A session-level advisory lock on a connection of its own. The connection is detached from
/// the pool: should the holder stop (crash, abort), closing it is what frees the lock, and a
/// pooled connection going back to the pool would keep it held.
pub struct Leadership {
    conn: PgConnection,
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
            let mut conn = pooled.detach();
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut conn)
                .await?;
            if got {
                return Ok(Leadership { conn });
            }
            let _ = conn.close().await;
            tokio::time::sleep(poll.min(TAKEOVER_POLL)).await;
        }
    }

    /// Whether the lock is still ours (the connection still answers).
    pub async fn still_held(&mut self) -> bool {
        self.conn.ping().await.is_ok()
    }
}

/// An audit event Berth records itself about a namespace request; `who` names the loop.
pub fn system_event(who: &str, request: &RequestRow, action: &str, outcome: &str) -> NewEvent {
    NewEvent {
        actor_display: format!("Berth {who}"),
        request_id: request.id.clone(),
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
        target_name: namespace.to_owned(),
        before: None,
        after: None,
        outcome: outcome.to_owned(),
    }
}
