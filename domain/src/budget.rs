//! Team budgets: spend this month against the monthly budget, and where the month is heading
//! at the pace so far.

use serde::{Deserialize, Serialize};

/// A team's month so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BudgetStatus {
    pub team: String,
    /// The monthly budget; `None` when the team has none.
    pub budget: Option<f64>,
    /// Spend from the first of the month until now.
    pub spent: f64,
    /// Spend by the end of the month at this month's pace.
    pub forecast: f64,
    /// The forecast exceeds the budget.
    pub over: bool,
    /// Whether the viewer may change the budget.
    pub can_set: bool,
}

/// Linear forecast: what was spent in `elapsed_days` of a month of `month_days`, at the same
/// pace for the rest. Early in a month (under a day of data) the spend so far is all we know.
pub fn forecast(spent: f64, elapsed_days: f64, month_days: f64) -> f64 {
    if elapsed_days < 1.0 {
        return spent;
    }
    spent / elapsed_days.min(month_days) * month_days
}

pub fn status(
    team: &str,
    budget: Option<f64>,
    spent: f64,
    elapsed: f64,
    month: f64,
) -> BudgetStatus {
    let forecast = forecast(spent, elapsed, month);
    BudgetStatus {
        team: team.to_owned(),
        budget,
        spent,
        forecast,
        over: budget.is_some_and(|b| forecast > b),
        can_set: false,
    }
}

/// A budget as typed: a non-negative amount of at most a billion.
pub fn parse_budget(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .trim_start_matches('$')
        .replace(',', "")
        .parse()
        .map_err(|_| format!("{text:?} is not an amount (e.g. 2500 or 2500.50)"))?;
    if !value.is_finite() || value < 0.0 {
        return Err("a budget is zero or more".to_owned());
    }
    if value > 1e9 {
        return Err("a budget above a billion is not a budget".to_owned());
    }
    Ok(value)
}

/// The month holding `now` (unix seconds): its first day (`YYYY-MM-01`), its start, and how
/// many days it has.
pub fn month_of(now: i64) -> (String, i64, i64) {
    let today = crate::cost_report::format_date(now);
    let year: i64 = today[..4].parse().unwrap_or(1970);
    let month: i64 = today[5..7].parse().unwrap_or(1);
    let first = format!("{year:04}-{month:02}-01");
    let start = crate::cost_report::parse_date(&first).unwrap_or(now);
    (first, start, days_in_month(year, month))
}

/// Days in the month of a civil date (year, month 1–12).
pub fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forecast_keeps_the_pace_of_the_month_so_far() {
        assert_eq!(forecast(100.0, 10.0, 30.0), 300.0);
        assert_eq!(
            forecast(50.0, 0.5, 30.0),
            50.0,
            "under a day: no extrapolation"
        );
        assert_eq!(forecast(310.0, 31.0, 31.0), 310.0, "the month is over");
        let s = status("payments", Some(250.0), 100.0, 10.0, 30.0);
        assert!(s.over);
        assert!(
            !status("payments", None, 100.0, 10.0, 30.0).over,
            "no budget, no warning"
        );
        assert!(
            !status("payments", Some(300.0), 100.0, 10.0, 30.0).over,
            "exactly on budget"
        );
    }

    #[test]
    fn budgets_are_plain_amounts() {
        assert_eq!(parse_budget("2500"), Ok(2500.0));
        assert_eq!(parse_budget(" $2,500.50 "), Ok(2500.5));
        assert!(parse_budget("-1").is_err());
        assert!(parse_budget("lots").is_err());
        assert!(parse_budget("1e12").is_err());
        assert!(parse_budget("NaN").is_err());
    }

    #[test]
    fn the_month_of_a_moment() {
        let now = crate::cost_report::parse_date("2026-11-22").unwrap_or_default() + 3600;
        let (first, start, days) = month_of(now);
        assert_eq!(first, "2026-11-01");
        assert_eq!(crate::cost_report::format_date(start), "2026-11-01");
        assert_eq!(days, 30);
    }

    #[test]
    fn months_have_their_days() {
        assert_eq!(days_in_month(2026, 11), 30);
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2026, 12), 31);
    }
}
