//! `GET /api/v1/audit`: the audit trail as JSON, JSON lines or CSV, filtered as the Audit page
//! filters it, with the same authorisation.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use domain::audit::{AuditQuery, Event};
use domain::identity::SignedIn;
use http::header;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;

/// The query string, every value as text: numbers are parsed here with a clear message
/// (serde's flattening would refuse "10" as a number).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Params {
    actor: Option<String>,
    action: Option<String>,
    namespace: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<String>,
    limit: Option<String>,
    /// `json` (default), `jsonl` or `csv`.
    format: Option<String>,
}

fn number(field: &str, value: Option<&String>) -> Result<Option<i64>, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::BadRequest(format!("{field} must be a whole number, not {v:?}"))
            })
        })
        .transpose()
}

impl Params {
    fn query(&self) -> Result<AuditQuery, ApiError> {
        Ok(AuditQuery {
            actor: self.actor.clone(),
            action: self.action.clone(),
            namespace: self.namespace.clone(),
            outcome: self.outcome.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            before: number("before", self.before.as_ref())?,
            limit: number("limit", self.limit.as_ref())?,
        })
    }
}

pub fn to_csv(events: &[Event]) -> String {
    let mut out = String::from(
        "seq,time,actor,actor_name,roles,source,request_id,action,target_kind,namespace,name,outcome,before,after,hash\n",
    );
    for e in events {
        let time = jiff::Timestamp::from_microsecond(e.at_micros)
            .map(|t| t.to_string())
            .unwrap_or_default();
        let json =
            |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
        let fields = [
            e.seq.to_string(),
            time,
            e.body.actor_id.clone(),
            e.body.actor_display.clone(),
            e.body.actor_roles.join(" "),
            e.body.source.clone(),
            e.body.request_id.clone(),
            e.body.action.clone(),
            e.body.target_kind.clone(),
            e.body.target_namespace.clone(),
            e.body.target_name.clone(),
            e.body.outcome.clone(),
            json(&e.body.before),
            json(&e.body.after),
            e.hash.clone(),
        ];
        out.push_str(
            &fields
                .iter()
                .map(|f| domain::csv::field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

/// The audit trail, filtered as the Audit page filters it (SREs, admins; others their own),
/// newest first, a page at a time (`before` the last `seq` seen).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(Params),
    responses((status = 200, description = "As `format` asks: JSON, JSON lines or CSV", content(
            (domain::audit::AuditPage = "application/json"),
            (String = "application/x-ndjson"),
            (String = "text/csv"))),
        (status = "default", body = super::error::Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<Params>, QueryRejection>,
    request: Request,
) -> Response {
    let Some(SignedIn(user)) = request.extensions().get::<SignedIn>() else {
        return ApiError::Unauthenticated.into_response();
    };
    let params = match params {
        Ok(Query(p)) => p,
        Err(rejection) => return ApiError::BadRequest(rejection.body_text()).into_response(),
    };
    let query = match params.query() {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let export = matches!(params.format.as_deref(), Some("csv") | Some("jsonl"));
    let max = if export { 10_000 } else { 500 };
    let page = match state.services.search_audit(user, &query, max).await {
        Ok(page) => page,
        Err(err) => return ApiError::from(err).into_response(),
    };
    match params.format.as_deref() {
        None | Some("json") => axum::Json(page).into_response(),
        Some("jsonl") => {
            let body: String = page
                .events
                .iter()
                .map(|e| serde_json::to_string(e).unwrap_or_default() + "\n")
                .collect();
            (
                [
                    (header::CONTENT_TYPE, "application/x-ndjson"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"audit.jsonl\"",
                    ),
                ],
                body,
            )
                .into_response()
        }
        Some("csv") => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit.csv\"",
                ),
            ],
            to_csv(&page.events),
        )
            .into_response(),
        Some(other) => {
            ApiError::BadRequest(format!("format must be json, jsonl or csv, not {other:?}"))
                .into_response()
        }
    }
}
