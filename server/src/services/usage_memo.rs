//! The idle report's two usage queries (percentiles over a week of hourly roll-ups, and each
//! workload's last days) take seconds at 50,000 pods, yet their answer only changes when the
//! roll-ups do (once an hour) or the hour moves on. Kept for the whole cluster, per process,
//! until either happens; each viewer's teams are picked out of it. A background pass
//! ([`UsageMemo::keep_warm`]) computes the new answer soon after either, so no viewer waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;

use crate::store::cost::{ContainerUsage, TeamScope, WorkloadDay};
use crate::store::{Store, StoreError};

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

/// What the answer was computed from: the roll-ups' version and the hour it was asked in.
type Key = (i64, i64);

#[derive(Clone, Debug)]
pub struct UsageAnswer {
    pub usage: Arc<Vec<ContainerUsage>>,
    pub days: Arc<Vec<WorkloadDay>>,
}

impl UsageAnswer {
    /// The rows of `teams` (every row for `All`).
    pub fn for_teams(&self, teams: TeamScope<'_>) -> (Vec<ContainerUsage>, Vec<WorkloadDay>) {
        let keep = |team: &Option<String>| match teams {
            TeamScope::All => true,
            TeamScope::Teams(t) => team.as_ref().is_some_and(|team| t.contains(team)),
        };
        (
            self.usage
                .iter()
                .filter(|u| keep(&u.team))
                .cloned()
                .collect(),
            self.days
                .iter()
                .filter(|d| keep(&d.team))
                .cloned()
                .collect(),
        )
    }
}

/// One per process. The lock is held while a stale answer is recomputed, so requests that
/// arrive meanwhile wait for that answer instead of running the same queries again.
#[derive(Clone, Debug, Default)]
pub struct UsageMemo {
    inner: Arc<Mutex<Option<(Key, UsageAnswer)>>>,
    /// How many times the queries ran: what shows a viewer was spared them.
    computed: Arc<AtomicU64>,
}

impl UsageMemo {
    /// Usage over the `history_days` and the workload days over the `recent_days` before the
    /// current hour, as of `now` (unix seconds).
    pub async fn get(
        &self,
        store: &Store,
        now: i64,
        history_days: i64,
        recent_days: i64,
    ) -> Result<UsageAnswer, StoreError> {
        let hour = now.div_euclid(HOUR) * HOUR;
        let key = (store.usage_version().await?, hour);
        let mut held = self.inner.lock().await;
        if let Some((k, answer)) = held.as_ref()
            && *k == key
        {
            return Ok(answer.clone());
        }
        let usage = store
            .container_usage(hour - history_days * DAY, TeamScope::All)
            .await?;
        let days = store
            .workload_days(hour - recent_days * DAY, TeamScope::All)
            .await?;
        let answer = UsageAnswer {
            usage: Arc::new(usage),
            days: Arc::new(days),
        };
        *held = Some((key, answer.clone()));
        self.computed.fetch_add(1, Ordering::Relaxed);
        Ok(answer)
    }

    /// How many times this memo has run the usage queries.
    pub fn computations(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }

    /// Every `every`, brings the answer up to date if the roll-ups or the hour moved (one
    /// cheap query otherwise). Runs in every replica: each keeps its own answer.
    pub async fn keep_warm(
        &self,
        store: Store,
        history_days: i64,
        recent_days: i64,
        every: Duration,
    ) {
        loop {
            let pass = self
                .get(&store, super::now_unix(), history_days, recent_days)
                .await;
            if let Err(err) = &pass {
                tracing::warn!(error = %err, "the idle report's usage was not precomputed");
            }
            crate::metrics::loop_pass("idle_usage_warm", pass.is_ok());
            tokio::time::sleep(every).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(team: Option<&str>) -> ContainerUsage {
        ContainerUsage {
            cluster: String::new(),
            namespace: "ns".to_owned(),
            owner_kind: "Deployment".to_owned(),
            owner_name: "web".to_owned(),
            container: "app".to_owned(),
            team: team.map(str::to_owned),
            hours: 24,
            stats: domain::idle::UsageStats::default(),
        }
    }

    #[test]
    fn a_viewer_gets_the_rows_of_their_teams_only() {
        let answer = UsageAnswer {
            usage: Arc::new(vec![
                usage(Some("payments")),
                usage(Some("search")),
                usage(None),
            ]),
            days: Arc::new(Vec::new()),
        };
        let teams = ["payments".to_owned()];
        let (mine, _) = answer.for_teams(TeamScope::Teams(&teams));
        assert_eq!(mine, vec![usage(Some("payments"))]);
        let (all, _) = answer.for_teams(TeamScope::All);
        assert_eq!(all.len(), 3);
    }
}
