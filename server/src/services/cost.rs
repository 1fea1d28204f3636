//! The cost report and the pricing file: which teams the viewer may see, the window, the
//! rates of each node, then the store sums and the domain builds the report.

use app::failure::Failure;
use domain::audit::{NewEvent, Outcome};
use std::collections::BTreeMap;

use domain::authz::{Action, Decision, Role, Target, decide};
use domain::cost::{Prices, Rates};
use domain::cost_lines::Lines;
use domain::cost_report::{CostReport, PerClusterStep, ReportQuery, Tally, idle_per_unit};
use domain::identity::{CurrentUser, RequestOrigin};
use domain::version::Precondition;

use super::{ServiceError, Services, now_unix};
use crate::store::cost::{CostQuery, TeamScope};

/// Whose costs `user` sees: `None` for every team (managers and admins), else their teams'.
pub(crate) fn cost_scope(user: &CurrentUser) -> Option<&[String]> {
    let everything = user
        .roles
        .iter()
        .any(|r| matches!(r, Role::Manager | Role::Admin));
    (!everything).then_some(user.teams.as_slice())
}

impl Services {
    /// The report the URL's `params` describe; bad parameters are an `Invalid` error, one message each.
    pub async fn cost_report(
        &self,
        user: &CurrentUser,
        params: &BTreeMap<String, String>,
    ) -> Result<CostReport, ServiceError> {
        let query = match ReportQuery::from_params(params) {
            Ok(q) => q,
            Err(problems) => return Err(ServiceError::invalid(problems)),
        };
        let team_only: Vec<String>;
        let scope = match (&query.team, cost_scope(user)) {
            (Some(team), _) => {
                if let Decision::Deny(why) =
                    decide(&user.actor(), Action::ViewCost, &Target::team(team))
                {
                    return Err(ServiceError::Forbidden(why));
                }
                team_only = vec![team.clone()];
                TeamScope::Teams(&team_only)
            }
            (None, None) => TeamScope::All,
            (None, Some(teams)) => TeamScope::Teams(teams),
        };
        let now = now_unix();
        let only_teams = match (&query.team, cost_scope(user)) {
            (None, Some(teams)) => Some(teams.to_vec()),
            _ => None,
        };
        let (from, to) = query.range(now);
        let prices = self.store().prices().await?;
        let home = self.fleet().home().name().to_owned();
        let matchers = prices.matchers();
        let (rates, grouped) = tokio::try_join!(
            self.store().node_rates(&prices, &home, from, to),
            self.store().usage_groups_fresh(&matchers, &home),
        )?;
        let classes = prices.class_rates();
        let cluster_key = query
            .cluster
            .as_deref()
            .map(|c| self.fleet().storage_key(c).to_owned());
        let q = CostQuery {
            from,
            to,
            step: query.step,
            rates: &rates,
            default: prices.default,
            home: &home,
            // The cluster asked for is read alone, by its storage key.
            cluster: cluster_key.as_deref(),
            classes: grouped.then_some(&classes),
        };
        // For everything, the rows are all there is; for some teams, idle is shared against
        // everything allocated on each cluster, read from the node totals.
        let everything = matches!(scope, TeamScope::All) && query.filter.is_none();
        let mut report = match q.classes {
            Some(classes)
                if crate::store::cost_lines::by_lines(&q, &query.group)
                    && readable_by_lines(&query) =>
            {
                self.cost_by_lines(
                    query,
                    &q,
                    classes,
                    scope,
                    everything,
                    prices.storage_gib_month,
                )
                .await?
            }
            _ => {
                self.cost_by_steps(query, &q, scope, everything, prices.storage_gib_month)
                    .await?
            }
        };
        report.made_at = now;
        report.only_teams = only_teams;
        report.clusters = self.fleet().names();
        Ok(report)
    }

    /// Everything allocated per cluster and step, from the node totals, when the report
    /// shows less than everything (for everything, what it reads is all there is).
    async fn allocated_unless_everything(
        &self,
        q: &CostQuery<'_>,
        everything: bool,
    ) -> Result<Option<PerClusterStep>, crate::store::StoreError> {
        if everything {
            Ok(None)
        } else {
            self.store().allocated_per_step(q).await.map(Some)
        }
    }

    /// The report from every group's steps, added up as they arrive.
    async fn cost_by_steps(
        &self,
        query: ReportQuery,
        q: &CostQuery<'_>,
        scope: TeamScope<'_>,
        everything: bool,
        storage_gib_month: f64,
    ) -> Result<CostReport, ServiceError> {
        let (from, to) = (q.from, q.to);
        // Independent reads, side by side: the small ones hide behind the large one, whose
        // rows are added up as they arrive.
        let group = query.group.clone();
        let tally = Tally::new(query, from, to);
        let (mut tally, volumes, node_costs, allocated) = tokio::try_join!(
            self.store().step_costs(q, &group, scope, tally),
            self.store()
                .volume_costs(q, &group, scope, storage_gib_month),
            self.store().node_costs(q),
            self.allocated_unless_everything(q, everything),
        )?;
        for volume in &volumes {
            tally.add(volume.as_row());
        }
        // For everything, the rows are all there is: they are what idle is shared against.
        let allocated = allocated.unwrap_or_else(|| tally.allocated());
        Ok(tally.finish(&node_costs, &allocated))
    }

    /// The report from each group's sums over the window (a fleet's month by namespace is
    /// 8,000 lines but 240,000 daily sums): first what each cluster and day allocated, so
    /// each line's share of idle is summed with it; then the days of the lines the chart
    /// draws.
    async fn cost_by_lines(
        &self,
        query: ReportQuery,
        q: &CostQuery<'_>,
        classes: &[Rates],
        scope: TeamScope<'_>,
        everything: bool,
        storage_gib_month: f64,
    ) -> Result<CostReport, ServiceError> {
        let group = query.group.clone();
        let (steps, volumes, node_costs, allocated) = tokio::try_join!(
            self.store().step_allocations(q, classes, scope),
            self.store()
                .volume_costs(q, &group, scope, storage_gib_month),
            self.store().node_costs(q),
            self.allocated_unless_everything(q, everything),
        )?;
        // For everything, what is shown is all there is: it is what idle is shared against.
        let allocated = allocated.unwrap_or_else(|| {
            steps
                .iter()
                .map(|s| ((s.cluster.clone(), s.bucket), s.allocated))
                .collect()
        });
        let ratios = idle_per_unit(&node_costs, &allocated);
        let mut lines = Lines::new(query, q.from, q.to, ratios.clone());
        for s in &steps {
            lines.add_step(s.bucket, &s.cluster, s.allocated, s.rows);
        }
        for volume in &volumes {
            lines.add_volume(volume.as_row());
        }
        self.store()
            .line_sums(q, classes, &group, scope, &ratios, &mut lines)
            .await?;
        let mut ranked = lines.rank();
        self.store()
            .drawn_series(q, classes, &group, scope, &mut ranked)
            .await?;
        Ok(ranked.finish())
    }

    /// The pricing file (everyone may read what prices the reports use).
    pub async fn prices(&self) -> Result<Prices, ServiceError> {
        Ok(self.store().prices().await?)
    }

    /// Saves the pricing file; admins only, checked field by field, audited with before and
    /// after. With `expected`, only over the version the writer read (checked inside the
    /// transaction that writes).
    pub async fn save_prices(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        prices: Prices,
        expected: Option<&Precondition>,
    ) -> Result<(), ServiceError> {
        if let Decision::Deny(why) = decide(&user.actor(), Action::Administer, &Target::default()) {
            let mut denied = NewEvent::by(Some(user), origin, "prices.save", Outcome::Denied);
            denied.target_kind = "Prices".to_owned();
            self.store().record(&denied).await?;
            return Err(ServiceError::Forbidden(why));
        }
        let problems = prices.problems();
        if !problems.is_empty() {
            return Err(ServiceError::invalid(problems));
        }
        self.store()
            .save_prices(&prices, &user.id, |before| {
                if let Some(expected) = expected
                    && !expected.holds(&prices_version(before))
                {
                    return Err(ServiceError::Stale(
                        "the prices changed since you read them: read them again and reapply \
                         your change"
                            .to_owned(),
                    ));
                }
                let mut audit = NewEvent::by(Some(user), origin, "prices.save", Outcome::Success);
                audit.target_kind = "Prices".to_owned();
                audit.target_name = "prices".to_owned();
                audit.before = serde_json::to_value(before).ok();
                audit.after = serde_json::to_value(&prices).ok();
                Ok(audit)
            })
            .await
    }
}

/// Whether a view can be read line by line: its lines are summed in Postgres, so a filter on
/// their names (matched in Rust, as the steps' report matches it) or every line's series
/// need the steps.
fn readable_by_lines(query: &ReportQuery) -> bool {
    query.filter.is_none() && !query.all_series
}

/// The version of the prices a reader is given (`ETag`) and a writer names (`If-Match`).
pub fn prices_version(prices: &Prices) -> String {
    domain::version::tag(&serde_json::to_vec(prices).unwrap_or_default())
}

#[async_trait::async_trait]
impl app::backend::CostBackend for Services {
    async fn cost_report(
        &self,
        user: &CurrentUser,
        params: BTreeMap<String, String>,
    ) -> Result<CostReport, Failure> {
        Services::cost_report(self, user, &params)
            .await
            .map_err(Failure::from)
    }

    async fn prices(&self) -> Result<Prices, Failure> {
        Services::prices(self).await.map_err(Failure::from)
    }

    async fn save_prices(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        prices: Prices,
    ) -> Result<(), Failure> {
        Services::save_prices(self, user, origin, prices, None)
            .await
            .map_err(Failure::from)
    }
}
