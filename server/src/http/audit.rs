//! `GET /api/v1/audit`: the audit trail as JSON, JSON lines or CSV, filtered as the Audit page
//! filters it, with the same authorisation.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use domain::audit::{AuditQuery, Event};
use domain::identity::SignedIn;
use futures::StreamExt;
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
    /// Events about one cluster of the fleet.
    cluster: Option<String>,
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
            cluster: self.cluster.clone(),
            outcome: self.outcome.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            before: number("before", self.before.as_ref())?,
            limit: number("limit", self.limit.as_ref())?,
        })
    }
}

/// `events` as CSV rows, after the header line when `header`.
pub fn to_csv(events: &[Event], header: bool) -> String {
    let mut out = String::new();
    if header {
        out.push_str(
            "seq,time,actor,actor_name,roles,source,request_id,action,target_kind,namespace,name,outcome,before,after,hash,cluster\n",
        );
    }
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
            e.body.target_cluster.clone(),
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
    let format = match params.format.as_deref() {
        None | Some("json") => Format::Json,
        Some("jsonl") => Format::JsonLines,
        Some("csv") => Format::Csv,
        Some(other) => {
            return ApiError::BadRequest(format!(
                "format must be json, jsonl or csv, not {other:?}"
            ))
            .into_response();
        }
    };
    if format == Format::Json {
        return match state.services.search_audit(user, &query, 500).await {
            Ok(page) => axum::Json(page).into_response(),
            Err(err) => ApiError::from(err).into_response(),
        };
    }
    export(state, user.clone(), query, format).await
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    JsonLines,
    Csv,
}

/// Events fetched per round trip of an export.
const EXPORT_BATCH: i64 = 2_000;

/// Everything the filter matches (up to `limit`, when one is given), newest first, streamed a
/// batch at a time: an export of a long trail neither stops at a page nor sits in memory.
/// The first batch is fetched before the answer starts, so a refusal is still a Problem.
async fn export(
    state: AppState,
    user: domain::identity::CurrentUser,
    query: AuditQuery,
    format: Format,
) -> Response {
    let mut left = query.limit.filter(|l| *l > 0);
    let batch = |left: Option<i64>| left.map_or(EXPORT_BATCH, |l| l.min(EXPORT_BATCH));
    let first = AuditQuery {
        limit: Some(batch(left)),
        ..query.clone()
    };
    let page = match state
        .services
        .search_audit(&user, &first, EXPORT_BATCH)
        .await
    {
        Ok(page) => page,
        Err(err) => return ApiError::from(err).into_response(),
    };
    let render = move |events: &[Event], header: bool| -> String {
        match format {
            Format::Csv => to_csv(events, header),
            _ => events
                .iter()
                .map(|e| serde_json::to_string(e).unwrap_or_default() + "\n")
                .collect(),
        }
    };
    let first_chunk = render(&page.events, true);
    if let Some(l) = left.as_mut() {
        *l -= page.events.len() as i64;
    }
    let next = page
        .next_before
        .filter(|_| left.is_none_or(|l| l > 0))
        .map(|before| (before, left));
    let rest = futures::stream::unfold(next, move |next| {
        let (state, user, query) = (state.clone(), user.clone(), query.clone());
        async move {
            let (before, mut left) = next?;
            let q = AuditQuery {
                before: Some(before),
                limit: Some(batch(left)),
                ..query
            };
            match state.services.search_audit(&user, &q, EXPORT_BATCH).await {
                Ok(page) => {
                    if let Some(l) = left.as_mut() {
                        *l -= page.events.len() as i64;
                    }
                    let chunk = render(&page.events, false);
                    let next = page
                        .next_before
                        .filter(|_| left.is_none_or(|l| l > 0))
                        .map(|before| (before, left));
                    Some((Ok::<_, std::io::Error>(chunk), next))
                }
                Err(err) => {
                    // The answer has begun: cut it short, so the client sees an incomplete
                    // transfer rather than a file that looks whole.
                    tracing::warn!(error = %err, "audit export stopped");
                    Some((Err(std::io::Error::other("audit export stopped")), None))
                }
            }
        }
    });
    let body =
        futures::stream::once(async move { Ok::<_, std::io::Error>(first_chunk) }).chain(rest);
    let (content_type, file) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "audit.csv"),
        _ => ("application/x-ndjson", "audit.jsonl"),
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}
