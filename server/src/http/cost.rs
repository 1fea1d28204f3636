//! `GET /api/v1/cost.csv`: the cost report's table as CSV, for exactly the view the same
//! query string shows on the page.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use domain::identity::SignedIn;
use http::header;

use super::AppState;
use super::error::ApiError;

pub async fn csv(
    State(state): State<AppState>,
    params: Result<Query<BTreeMap<String, String>>, QueryRejection>,
    request: Request,
) -> Response {
    let Some(SignedIn(user)) = request.extensions().get::<SignedIn>() else {
        return ApiError::Unauthenticated.into_response();
    };
    let params = match params {
        Ok(Query(p)) => p,
        Err(rejection) => return ApiError::BadRequest(rejection.body_text()).into_response(),
    };
    match state.services.cost_report(user, &params).await {
        Ok(Ok(report)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"berth-cost.csv\"",
                ),
            ],
            domain::cost_report::csv(&report),
        )
            .into_response(),
        Ok(Err(problems)) => ApiError::BadRequest(problems.join("; ")).into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}
