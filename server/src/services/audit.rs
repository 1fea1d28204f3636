//! Reading the audit trail: who may see which events, and the search they asked for.

use domain::audit::{AuditPage, AuditQuery};
use domain::authz::{Action, Decision, Role, Target, decide};
use domain::identity::CurrentUser;

use super::{ServiceError, Services};
use crate::store::audit::AuditFilter;

const PAGE: i64 = 50;
const MAX_PAGE: i64 = 10_000;

/// Microseconds since the epoch of `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time.
fn micros(field: &str, text: &str) -> Result<i64, ServiceError> {
    let text = text.trim();
    let parsed = text
        .parse::<jiff::Timestamp>()
        .ok()
        .or_else(|| {
            text.parse::<jiff::civil::Date>()
                .ok()
                .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                .map(|z| z.timestamp())
        })
        .ok_or_else(|| {
            ServiceError::BadInput(format!(
                "{field} must be a date (YYYY-MM-DD) or an RFC 3339 time, not {text:?}"
            ))
        })?;
    Ok(parsed.as_microsecond())
}

impl Services {
    /// Namespaces that belong to any of `teams`, by their team label in the watch cache.
    async fn team_namespaces(&self, teams: &[String]) -> Result<Vec<String>, ServiceError> {
        if teams.is_empty() {
            return Ok(Vec::new());
        }
        let caches = self.cached().await?;
        Ok(caches
            .namespaces
            .state()
            .iter()
            .filter(|ns| {
                ns.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(domain::tenancy::LABEL_TEAM))
                    .is_some_and(|t| teams.contains(t))
            })
            .filter_map(|ns| ns.metadata.name.clone())
            .collect())
    }

    /// Events `user` may see that match `query`, newest first.
    pub async fn search_audit(
        &self,
        user: &CurrentUser,
        query: &AuditQuery,
        max: i64,
    ) -> Result<AuditPage, ServiceError> {
        let actor = user.actor();
        let mut filter = AuditFilter {
            actor: query.actor.clone().filter(|v| !v.is_empty()),
            action: query.action.clone().filter(|v| !v.is_empty()),
            namespace: query.namespace.clone().filter(|v| !v.is_empty()),
            cluster: query.cluster.clone().filter(|v| !v.is_empty()),
            namespaces_in: None,
            outcome: query.outcome.clone().filter(|v| !v.is_empty()),
            since_micros: query
                .since
                .as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| micros("since", v))
                .transpose()?,
            until_micros: query
                .until
                .as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| micros("until", v))
                .transpose()?,
            before_seq: query.before,
            limit: query.limit.unwrap_or(PAGE).clamp(1, max.min(MAX_PAGE)),
        };
        if let Some(outcome) = &filter.outcome
            && !matches!(
                outcome.as_str(),
                "success" | "failure" | "denied" | "requested"
            )
        {
            return Err(ServiceError::BadInput(format!(
                "outcome must be success, failure, denied or requested, not {outcome:?}"
            )));
        }
        match decide(&actor, Action::ViewAudit, &Target::everything()) {
            Decision::Allow => {}
            Decision::Deny(why) if !actor.has(Role::Manager) => {
                return Err(ServiceError::Forbidden(why));
            }
            Decision::Deny(_) => {
                // A manager sees the events of their teams' namespaces.
                let own = self.team_namespaces(&actor.teams).await?;
                if let Some(ns) = &filter.namespace
                    && !own.contains(ns)
                {
                    return Err(ServiceError::Forbidden(format!(
                        "namespace {ns} does not belong to your teams ({})",
                        actor.teams.join(", ")
                    )));
                }
                filter.namespaces_in = Some(own);
            }
        }
        let wanted = filter.limit;
        filter.limit = wanted + 1;
        let mut events = self.store().audit_events(&filter).await?;
        let next_before = if events.len() as i64 > wanted {
            events.truncate(usize::try_from(wanted).unwrap_or(0));
            events.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(AuditPage {
            events,
            next_before,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_parse() {
        assert_eq!(micros("since", "1970-01-02").ok(), Some(86_400_000_000));
        assert_eq!(
            micros("since", "1970-01-01T00:00:01Z").ok(),
            Some(1_000_000)
        );
        assert!(
            matches!(micros("until", "yesterday"), Err(ServiceError::BadInput(m)) if m.contains("until"))
        );
    }
}
