//! The audit trail in Postgres: appends chained by hash under one lock, so concurrent writers
//! cannot fork the chain; reads with filters; verification of the whole chain.

use std::time::{SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use domain::audit::{self, AuditKey, Chain, Checkpoint, Event, GENESIS, NewEvent, Verdict};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::{Store, StoreError};

/// Advisory-lock key that serialises appends (any constant, unique within Berth).
const APPEND_LOCK: i64 = 0x0b57_a0d1_7000_0001;

/// Which events to read, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub namespace: Option<String>,
    pub cluster: Option<String>,
    /// Any of these namespaces (a manager's teams); `None` means no restriction.
    pub namespaces_in: Option<Vec<String>>,
    pub outcome: Option<String>,
    pub since_micros: Option<i64>,
    pub until_micros: Option<i64>,
    /// Only events older than this sequence number: the cursor of the next page.
    pub before_seq: Option<i64>,
    pub limit: i64,
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Appends `event` inside the caller's transaction, so it commits (or rolls back) with the
/// change it records. The lock is held until that transaction ends.
pub async fn append(
    conn: &mut PgConnection,
    key: Option<&AuditKey>,
    event: &NewEvent,
) -> Result<Event, StoreError> {
    // Counted when asked for: a rolled-back transaction's event is counted too, which a rate
    // of appends tolerates.
    crate::metrics::audit_appends(1);
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(APPEND_LOCK)
        .execute(&mut *conn)
        .await?;
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_owned()),
    };
    let at_micros = now_micros();
    let hash = audit::event_hash(seq, at_micros, event, &prev_hash, key);
    sqlx::query(
        "INSERT INTO audit_events (seq, at_micros, occurred_at, actor_id, actor_display, actor_roles, \
         source, request_id, action, target_kind, target_namespace, target_name, before, after, \
         outcome, prev_hash, hash, keyed, target_cluster) \
         VALUES ($1, $2, to_timestamp($2::double precision / 1000000), $3, $4, $5, $6, $7, $8, $9, \
         $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(seq)
    .bind(at_micros)
    .bind(&event.actor_id)
    .bind(&event.actor_display)
    .bind(&event.actor_roles)
    .bind(&event.source)
    .bind(&event.request_id)
    .bind(&event.action)
    .bind(&event.target_kind)
    .bind(&event.target_namespace)
    .bind(&event.target_name)
    .bind(event.before.as_ref().map(sqlx::types::Json))
    .bind(event.after.as_ref().map(sqlx::types::Json))
    .bind(&event.outcome)
    .bind(&prev_hash)
    .bind(&hash)
    .bind(key.is_some())
    .bind(&event.target_cluster)
    .execute(&mut *conn)
    .await?;
    Ok(Event {
        seq,
        at_micros,
        body: event.clone(),
        prev_hash,
        hash,
        keyed: key.is_some(),
    })
}

type Reply = tokio::sync::oneshot::Sender<Result<Event, StoreError>>;

/// The single writer behind [`Store::record`]: takes what has queued up, appends it in order
/// in one transaction, commits, then answers every caller.
#[derive(Clone, Debug)]
pub struct Recorder {
    queue: tokio::sync::mpsc::Sender<(NewEvent, Reply)>,
}

/// Events one batch may carry.
const BATCH: usize = 256;

impl Recorder {
    pub fn start(pool: sqlx::PgPool, key: Option<Arc<AuditKey>>) -> Recorder {
        let (queue, mut incoming) = tokio::sync::mpsc::channel::<(NewEvent, Reply)>(4 * BATCH);
        tokio::spawn(async move {
            while let Some(first) = incoming.recv().await {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match incoming.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let written = write_batch(&pool, key.as_deref(), &batch).await;
                match written {
                    Ok(events) => {
                        for ((_, reply), event) in batch.into_iter().zip(events) {
                            let _ = reply.send(Ok(event));
                        }
                    }
                    Err(err) => {
                        let message = err.to_string();
                        for (_, reply) in batch {
                            let _ = reply.send(Err(StoreError::Audit(message.clone())));
                        }
                    }
                }
            }
        });
        Recorder { queue }
    }

    async fn record(&self, event: NewEvent) -> Result<Event, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue
            .send((event, reply))
            .await
            .map_err(|_| StoreError::Audit("the audit writer has stopped".to_owned()))?;
        answer.await.map_err(|_| {
            StoreError::Audit("the audit writer stopped before answering".to_owned())
        })?
    }
}

async fn write_batch(
    pool: &sqlx::PgPool,
    key: Option<&AuditKey>,
    batch: &[(NewEvent, Reply)],
) -> Result<Vec<Event>, StoreError> {
    let mut tx = pool.begin().await?;
    let mut events = Vec::with_capacity(batch.len());
    for (event, _) in batch {
        events.push(append(&mut tx, key, event).await?);
    }
    tx.commit().await?;
    Ok(events)
}

const COLUMNS: &str = "seq, at_micros, actor_id, actor_display, actor_roles, source, request_id, \
    action, target_kind, target_namespace, target_name, target_cluster, before, after, outcome, \
    prev_hash, hash, keyed";

fn from_row(row: &PgRow) -> Result<Event, sqlx::Error> {
    let before: Option<sqlx::types::Json<serde_json::Value>> = row.try_get("before")?;
    let after: Option<sqlx::types::Json<serde_json::Value>> = row.try_get("after")?;
    Ok(Event {
        seq: row.try_get("seq")?,
        at_micros: row.try_get("at_micros")?,
        body: NewEvent {
            actor_id: row.try_get("actor_id")?,
            actor_display: row.try_get("actor_display")?,
            actor_roles: row.try_get("actor_roles")?,
            source: row.try_get("source")?,
            request_id: row.try_get("request_id")?,
            action: row.try_get("action")?,
            target_kind: row.try_get("target_kind")?,
            target_namespace: row.try_get("target_namespace")?,
            target_cluster: row.try_get("target_cluster")?,
            target_name: row.try_get("target_name")?,
            before: before.map(|j| j.0),
            after: after.map(|j| j.0),
            outcome: row.try_get("outcome")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
        keyed: row.try_get("keyed")?,
    })
}

impl Store {
    /// Records an event that changes nothing else (a refused request, a failed sign-in).
    /// Returns once it is committed. Such events from concurrent requests share a transaction,
    /// so one commit (one WAL flush) carries many; events that record a state change are
    /// appended in that change's own transaction with [`append`] instead.
    pub async fn record(&self, event: &NewEvent) -> Result<Event, StoreError> {
        self.recorder.record(event.clone()).await
    }

    /// Events matching `filter`, newest first.
    pub async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<Event>, StoreError> {
        let mut query =
            sqlx::QueryBuilder::new(format!("SELECT {COLUMNS} FROM audit_events WHERE true"));
        // People search by name as well as by id. An action's full name (`access.revoke`)
        // is that action; a word or a prefix (`scale`, `access.`) any action holding it.
        // strpos, not LIKE: what was typed is matched as it is, `%` and `_` included.
        if let Some(v) = &filter.actor {
            query
                .push(" AND (actor_id = ")
                .push_bind(v.clone())
                .push(" OR strpos(lower(actor_display), lower(")
                .push_bind(v.clone())
                .push(")) > 0)");
        }
        if let Some(v) = &filter.action {
            if v.contains('.') && !v.ends_with('.') {
                query.push(" AND action = ").push_bind(v.clone());
            } else {
                query
                    .push(" AND strpos(lower(action), lower(")
                    .push_bind(v.clone())
                    .push(")) > 0");
            }
        }
        if let Some(v) = &filter.namespace {
            query.push(" AND target_namespace = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.cluster {
            query.push(" AND target_cluster = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.namespaces_in {
            query
                .push(" AND target_namespace = ANY(")
                .push_bind(v.clone())
                .push(")");
        }
        if let Some(v) = &filter.outcome {
            query.push(" AND outcome = ").push_bind(v.clone());
        }
        if let Some(v) = filter.since_micros {
            query.push(" AND at_micros >= ").push_bind(v);
        }
        if let Some(v) = filter.until_micros {
            query.push(" AND at_micros < ").push_bind(v);
        }
        if let Some(v) = filter.before_seq {
            query.push(" AND seq < ").push_bind(v);
        }
        query
            .push(" ORDER BY seq DESC LIMIT ")
            .push_bind(filter.limit.clamp(1, 10_000));
        let rows = query.build().fetch_all(self.pool()).await?;
        rows.iter()
            .map(from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// The events about one object (`target_kind`, `target_name`), oldest first.
    pub async fn events_about(&self, kind: &str, name: &str) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit_events WHERE target_kind = $1 AND target_name = $2 \
             ORDER BY seq LIMIT 1000"
        ))
        .bind(kind)
        .bind(name)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// Walks the whole chain in order, then holds it to `checkpoints` (already checked for
    /// their signature). `Ok(Ok(count))` when intact.
    pub async fn verify_audit(&self, checkpoints: &[Checkpoint]) -> Result<Verdict, StoreError> {
        const BATCH: i64 = 5_000;
        let mut chain = Chain::new(self.audit_key());
        // The hashes the checkpoints name, as the chain has them.
        let wanted: std::collections::BTreeSet<i64> = checkpoints.iter().map(|c| c.seq).collect();
        let mut seen = std::collections::BTreeMap::new();
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2"
            ))
            .bind(chain.head() + 1)
            .bind(BATCH)
            .fetch_all(self.pool())
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let event = from_row(row)?;
                if let Err(broken) = chain.check(&event) {
                    return Ok(Verdict::Broken(broken));
                }
                if wanted.contains(&event.seq) {
                    seen.insert(event.seq, event.hash);
                }
            }
        }
        for checkpoint in checkpoints {
            let hash = seen.get(&checkpoint.seq).map(String::as_str);
            if let Err(broken) = checkpoint.check(chain.head(), hash) {
                return Ok(Verdict::Broken(broken));
            }
        }
        Ok(Verdict::Intact {
            events: chain.count(),
        })
    }

    /// The newest event's sequence number and hash, if any.
    pub async fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(self.pool())
                .await?,
        )
    }
}
