//! Team budgets: month-to-date spend against each team's monthly budget with a forecast, for
//! the teams the viewer may see; managers of a team (and admins) set its budget.

use app::failure::Failure;
use domain::audit::{NewEvent, Outcome};
use std::collections::BTreeSet;

use domain::authz::{Action, Decision, Target, decide};
use domain::budget::{self, BudgetStatus};
use domain::identity::{CurrentUser, RequestOrigin};

use super::cost::cost_scope;
use super::{ServiceError, Services, now_unix};
use crate::store::cost::TeamScope;

const DAY: i64 = 86_400;

impl Services {
    /// Each visible team's month so far against its budget.
    pub async fn budgets(&self, user: &CurrentUser) -> Result<Vec<BudgetStatus>, ServiceError> {
        let now = now_unix();
        let (_, start, days) = budget::month_of(now);
        let stored = self.store().budgets().await?;
        let teams: BTreeSet<String> = match cost_scope(user) {
            Some(own) => own.iter().cloned().collect(),
            None => self
                .store()
                .teams_with_usage()
                .await?
                .into_iter()
                .chain(stored.iter().map(|b| b.team.clone()))
                .collect(),
        };
        let list: Vec<String> = teams.iter().cloned().collect();
        let prices = self.store().prices().await?;
        let end_of_today = now.div_euclid(DAY) * DAY + DAY;
        let spend = self
            .store()
            .team_spend(
                &prices,
                self.fleet().home().name(),
                start,
                end_of_today,
                TeamScope::Teams(&list),
            )
            .await?;
        let elapsed = (now - start) as f64 / DAY as f64;
        let actor = user.actor();
        Ok(teams
            .iter()
            .map(|team| {
                let budget = stored.iter().find(|b| &b.team == team).map(|b| b.monthly);
                let spent = spend.get(team).copied().unwrap_or(0.0);
                let mut s = budget::status(team, budget, spent, elapsed, days as f64);
                s.can_set = decide(&actor, Action::SetBudget, &Target::team(team)).allowed();
                s
            })
            .collect())
    }

    /// Sets `team`'s monthly budget from what was typed; managers of the team and admins.
    pub async fn set_budget(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        team: &str,
        amount: &str,
    ) -> Result<(), ServiceError> {
        let team = team.trim();
        if team.is_empty() || team.len() > 63 {
            return Err(ServiceError::BadInput(
                "name a team (at most 63 characters)".to_owned(),
            ));
        }
        let mut audit = NewEvent::by(Some(user), origin, "budget.save", Outcome::Success);
        audit.target_kind = "Budget".to_owned();
        audit.target_name = team.to_owned();
        if let Decision::Deny(why) = decide(&user.actor(), Action::SetBudget, &Target::team(team)) {
            audit.set_outcome(Outcome::Denied);
            self.store().record(&audit).await?;
            return Err(ServiceError::Forbidden(why));
        }
        let monthly = match budget::parse_budget(amount) {
            Ok(v) => v,
            Err(why) => return Err(ServiceError::BadInput(why)),
        };
        let before = self
            .store()
            .budgets()
            .await?
            .into_iter()
            .find(|b| b.team == team)
            .map(|b| b.monthly);
        audit.before = before.map(|b| serde_json::json!({ "monthly": b }));
        audit.after = Some(serde_json::json!({ "monthly": monthly }));
        self.store()
            .save_budget(team, monthly, &user.id, audit)
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl app::backend::BudgetBackend for Services {
    async fn budgets(&self, user: &CurrentUser) -> Result<Vec<BudgetStatus>, Failure> {
        Services::budgets(self, user).await.map_err(Failure::from)
    }

    async fn set_budget(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        team: String,
        amount: String,
    ) -> Result<(), Failure> {
        Services::set_budget(self, user, origin, &team, &amount)
            .await
            .map_err(Failure::from)
    }
}
