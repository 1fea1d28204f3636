//! Budget warnings: when a team's month is forecast to end over its budget, one JSON message
//! (Slack-compatible `text`) goes to the configured webhook — once per team and month, at
//! least once (sent, then recorded). One replica watches (advisory lock).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use domain::budget;
use serde_json::json;

use super::{BUDGET_LOCK, Leadership};
use crate::store::cost::TeamScope;
use crate::store::{Store, StoreError};

const DAY: i64 = 86_400;

#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the budget webhook did not take the warning: {0}")]
    Webhook(String),
}

pub struct BudgetWatch {
    store: Store,
    /// The home cluster's name, for its prices.
    home: String,
    url: String,
    client: reqwest::Client,
    interval: Duration,
}

impl BudgetWatch {
    pub fn new(store: Store, home: String, url: String, interval: Duration) -> Option<BudgetWatch> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| tracing::warn!(error = %e, "no HTTP client for the budget webhook"))
            .ok()?;
        Some(BudgetWatch {
            store,
            home,
            url,
            client,
            interval,
        })
    }

    /// Runs until dropped, holding its own advisory lock.
    pub async fn run(self) {
        loop {
            let mut lead = match Leadership::acquire(&self.store, BUDGET_LOCK, self.interval).await
            {
                Ok(lead) => lead,
                Err(err) => {
                    tracing::warn!(error = %err, "budget watch cannot take its lock");
                    tokio::time::sleep(self.interval).await;
                    continue;
                }
            };
            while lead.still_held().await {
                let result = self.pass().await;
                if let Err(err) = &result {
                    tracing::warn!(error = %err, "budget check failed");
                }
                crate::metrics::loop_pass("budget_watch", result.is_ok());
                tokio::time::sleep(super::next_pass(result.is_ok(), self.interval)).await;
            }
        }
    }

    /// One check; the number of warnings sent. Public so tests can drive it.
    pub async fn pass(&self) -> Result<usize, BudgetError> {
        let budgets = self.store.budgets().await?;
        if budgets.is_empty() {
            return Ok(0);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let (first, start, days) = budget::month_of(now);
        let prices = self.store.prices().await?;
        let teams: Vec<String> = budgets.iter().map(|b| b.team.clone()).collect();
        let spend = self
            .store
            .team_spend(
                &prices,
                &self.home,
                start,
                now.div_euclid(DAY) * DAY + DAY,
                TeamScope::Teams(&teams),
            )
            .await?;
        let elapsed = (now - start) as f64 / DAY as f64;
        let mut sent = 0;
        for b in budgets {
            if b.warned_month.as_deref() == Some(first.as_str()) {
                continue;
            }
            let spent = spend.get(&b.team).copied().unwrap_or(0.0);
            let s = budget::status(&b.team, Some(b.monthly), spent, elapsed, days as f64);
            if !s.over {
                continue;
            }
            let body = json!({
                "text": format!(
                    "Team {} is forecast to spend ${:.2} this month, over its budget of ${:.2} (${:.2} so far).",
                    s.team, s.forecast, b.monthly, s.spent
                ),
                "team": s.team,
                "month": &first[..7],
                "budget": b.monthly,
                "spent": s.spent,
                "forecast": s.forecast,
            });
            let res = self
                .client
                .post(&self.url)
                .json(&body)
                .send()
                .await
                .map_err(|e| BudgetError::Webhook(e.to_string()))?;
            if !res.status().is_success() {
                return Err(BudgetError::Webhook(format!("answered {}", res.status())));
            }
            self.store.mark_budget_warned(&b.team, &first).await?;
            sent += 1;
        }
        Ok(sent)
    }
}
