//! Cost: the report as JSON (the CSV beside it), the pricing file, team budgets, and the
//! idle-resource report with the actions on its findings.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use domain::budget::BudgetStatus;
use domain::cost::Prices;
use domain::cost_report::CostReport;
use domain::idle::IdleReport;
use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Done;
use super::extract::{Body, Caller, Params};
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cost_report))
        .routes(routes!(cost_csv))
        .routes(routes!(current_prices, save_prices))
        .routes(routes!(team_budgets))
        .routes(routes!(set_budget))
        .routes(routes!(idle_report))
        .routes(routes!(act_on_idle))
}

/// The report's parameters, exactly as the Cost page's URL carries them.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read as a map; this struct only documents the names.
struct ReportParams {
    /// `24h`, `7d` (default), `30d`, or `custom` with `from` and `to`.
    window: Option<String>,
    /// Rows by `namespace` (default), `cluster`, `team`, `workload` or `label` (with `label`).
    by: Option<String>,
    /// The label key rows are grouped by, with `by=label`.
    label: Option<String>,
    /// Only this team.
    team: Option<String>,
    /// `hourly` or `daily` (the chart's steps).
    step: Option<String>,
    /// `separate` (default) or `share`: idle cost shared out over the rows.
    idle: Option<String>,
    /// Only rows whose name holds this text (at most 100 characters).
    filter: Option<String>,
    /// With `window=custom`: the first day, `YYYY-MM-DD`.
    from: Option<String>,
    /// With `window=custom`: the last day, `YYYY-MM-DD`.
    to: Option<String>,
    /// `chart` (default): each step of the 8 rows the chart draws, the others' summed in
    /// `other_series`; `all`: every row's steps (slower over a fleet's month).
    series: Option<String>,
}

async fn report(
    state: &AppState,
    caller: &Caller,
    params: &BTreeMap<String, String>,
) -> Result<CostReport, ApiError> {
    state
        .services
        .cost_report(&caller.user, params)
        .await
        .map_err(ApiError::from)
}

/// Cost by namespace, team or label over a window, with idle cost and efficiency.
#[utoipa::path(get, path = "/api/v1/cost", tag = "cost",
    params(ReportParams),
    responses((status = 200, body = CostReport),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn cost_report(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<BTreeMap<String, String>>,
) -> Result<Json<CostReport>, ApiError> {
    Ok(Json(report(&state, &caller, &params).await?))
}

/// The same report's table as CSV, for the view the same query string shows on the page.
#[utoipa::path(get, path = "/api/v1/cost.csv", tag = "cost",
    params(ReportParams),
    responses((status = 200, body = String, content_type = "text/csv"),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn cost_csv(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let report = report(&state, &caller, &params).await?;
    let disposition = format!("attachment; filename=\"{}\"", report.query.file_name());
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        domain::cost_report::csv(&report),
    )
        .into_response())
}

/// The prices the reports use; its `ETag` goes back as `If-Match` when saving.
#[utoipa::path(get, path = "/api/v1/prices", tag = "cost",
    responses((status = 200, body = Prices, headers(("ETag" = String, description = "The version, for If-Match"))),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn current_prices(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Response, ApiError> {
    let prices = state.services.prices().await?;
    Ok((
        [(header::ETAG, crate::services::cost::prices_version(&prices))],
        Json(prices),
    )
        .into_response())
}

/// Replaces the pricing file (admins). With `If-Match`, only if nobody changed it since.
#[utoipa::path(put, path = "/api/v1/prices", tag = "cost",
    params(("If-Match" = Option<String>, Header, description = "The ETag the prices were read with")),
    request_body = Prices,
    responses((status = 200, body = Prices, headers(("ETag" = String))),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["admin"]), ("session" = [])))]
async fn save_prices(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(prices): Body<Prices>,
) -> Result<Response, ApiError> {
    let expected = super::if_match(&headers)?;
    state
        .services
        .save_prices(
            &caller.user,
            &caller.origin,
            prices.clone(),
            expected.as_ref(),
        )
        .await?;
    Ok((
        [(header::ETAG, crate::services::cost::prices_version(&prices))],
        Json(prices),
    )
        .into_response())
}

/// Every team's monthly budget, spend so far and forecast.
#[utoipa::path(get, path = "/api/v1/budgets", tag = "cost",
    responses((status = 200, body = Vec<BudgetStatus>),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn team_budgets(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<BudgetStatus>>, ApiError> {
    Ok(Json(state.services.budgets(&caller.user).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BudgetAmount {
    /// Dollars a month, e.g. `"2500"` or `"2,500.50"`; empty removes the budget.
    amount: String,
}

/// Sets a team's monthly budget (its managers, admins).
#[utoipa::path(put, path = "/api/v1/budgets/{team}", tag = "cost",
    params(("team" = String, Path)),
    request_body = BudgetAmount,
    responses((status = 204, description = "Saved"),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["namespaces"]), ("session" = [])))]
async fn set_budget(
    State(state): State<AppState>,
    caller: Caller,
    Path(team): Path<String>,
    Body(body): Body<BudgetAmount>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .set_budget(&caller.user, &caller.origin, &team, &body.amount)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Idle findings with their monthly cost and suggested action.
#[utoipa::path(get, path = "/api/v1/idle", tag = "idle",
    responses((status = 200, body = IdleReport),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
async fn idle_report(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<IdleReport>, ApiError> {
    Ok(Json(state.services.idle_report(&caller.user).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct FindingRef {
    /// The finding's `id` from the report (it holds slashes: `abandoned/<namespace>/<kind>/<name>`).
    id: String,
}

/// Takes a finding's suggested action, as the server computes the finding now.
#[utoipa::path(post, path = "/api/v1/idle/actions", tag = "idle",
    request_body = FindingRef,
    responses((status = 200, body = Done),
        (status = "default", body = Problem, content_type = "application/problem+json")),
    security(("token" = ["namespaces"]), ("session" = [])))]
async fn act_on_idle(
    State(state): State<AppState>,
    caller: Caller,
    Body(finding): Body<FindingRef>,
) -> Result<Json<Done>, ApiError> {
    let message = state
        .services
        .act_on_idle(&caller.user, &caller.origin, &finding.id)
        .await?;
    Ok(Json(Done { message }))
}
