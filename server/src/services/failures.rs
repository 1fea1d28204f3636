//! Failed anonymous attempts: tallied in memory per window (`domain::failures`) and written to
//! the audit trail as one summary per source when the window ends, by [`Services::run_failure_flusher`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::audit::NewEvent;
use domain::failures::{Attempt, Tally, Verdict};
use serde_json::json;

use super::{ServiceError, Services};
use crate::config::AuthConfig;

/// Distinct sources summarised apart per window; the rest share one line.
const MAX_SOURCES: usize = 100;

/// Shared by every clone of the services.
#[derive(Clone, Debug)]
pub struct Failures {
    tally: Arc<Mutex<Tally>>,
    window: Duration,
}

impl Failures {
    pub fn new(config: &AuthConfig) -> Failures {
        Failures {
            tally: Arc::new(Mutex::new(Tally::new(config.failure_limit, MAX_SOURCES))),
            window: config.failure_window,
        }
    }
}

impl Services {
    /// Counts a failed anonymous attempt described by `event` (actor, source, action, target
    /// kind; `after.reason` kept as its detail). `Limited`: answer "too many attempts".
    pub fn note_failure(&self, event: &NewEvent) -> Verdict {
        let attempt = Attempt {
            action: event.action.clone(),
            target_kind: event.target_kind.clone(),
            source: event.source.clone(),
        };
        let detail = event
            .after
            .as_ref()
            .and_then(|a| a["reason"].as_str())
            .map(str::to_owned);
        match self.failures.tally.lock() {
            Ok(mut tally) => tally.note(attempt, detail),
            // A panic elsewhere while holding the lock: count nothing, refuse as usual.
            Err(_) => Verdict::Counted,
        }
    }

    /// Writes the window's summaries to the audit trail; returns how many lines.
    pub async fn flush_failures(&self) -> Result<usize, ServiceError> {
        let lines = match self.failures.tally.lock() {
            Ok(mut tally) => tally.drain(),
            Err(_) => Vec::new(),
        };
        let window = self.failures.window.as_secs();
        let total = lines.len();
        let mut pending = lines.into_iter();
        while let Some(line) = pending.next() {
            let event = NewEvent {
                actor_id: "anonymous".to_owned(),
                actor_display: String::new(),
                actor_roles: Vec::new(),
                source: line.attempt.source.clone(),
                request_id: String::new(),
                action: line.attempt.action.clone(),
                target_kind: line.attempt.target_kind.clone(),
                target_namespace: String::new(),
                target_cluster: String::new(),
                target_name: String::new(),
                before: None,
                after: Some(json!({
                    "attempts": line.count,
                    "refused_as_too_many": line.limited,
                    "window_secs": window,
                    "last_reason": line.last_detail,
                })),
                outcome: "failure".to_owned(),
            };
            if let Err(err) = self.store().record(&event).await {
                // Nothing counted is dropped: the unwritten lines wait for the next window.
                let mut rest = vec![line];
                rest.extend(pending);
                if let Ok(mut tally) = self.failures.tally.lock() {
                    tally.restore(rest);
                }
                return Err(err.into());
            }
        }
        Ok(total)
    }

    /// Flushes the tally once per window for as long as the server runs.
    pub async fn run_failure_flusher(&self) {
        let mut tick = tokio::time::interval(self.failures.window);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = self.flush_failures().await {
                tracing::warn!(error = %err, "failed attempts not written to the audit trail; kept for the next window");
            }
        }
    }
}
