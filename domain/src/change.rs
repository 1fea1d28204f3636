//! Changes to a namespace Berth already made: a longer lifetime (extension) or another tier's
//! quota (quota change). Each becomes a new [`Plan`] for the same request, applied the same way
//! the first one was, after the same kind of approval.

use serde::{Deserialize, Serialize};

use crate::quantity;
use crate::tenancy::{self, FieldError, Lifetime, Plan, Tier, TierSpec};

/// The longest reason a requester may give for a change.
pub const MAX_CHANGE_REASON: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ChangeKind {
    /// A later expiry (or none).
    Extend,
    /// Another tier's quota and LimitRange defaults.
    Quota,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Extend => "extend",
            ChangeKind::Quota => "quota",
        }
    }

    pub fn parse(text: &str) -> Option<ChangeKind> {
        [ChangeKind::Extend, ChangeKind::Quota]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// Where a change stands: `pending → approved | denied`, then `applied | failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ChangeState {
    Pending,
    Approved,
    Denied,
    Applied,
    Failed,
}

impl ChangeState {
    pub const ALL: [ChangeState; 5] = [
        ChangeState::Pending,
        ChangeState::Approved,
        ChangeState::Denied,
        ChangeState::Applied,
        ChangeState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Pending => "pending",
            ChangeState::Approved => "approved",
            ChangeState::Denied => "denied",
            ChangeState::Applied => "applied",
            ChangeState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<ChangeState> {
        ChangeState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Still waiting for a decision or for the cluster: a namespace has one open change at most.
    pub fn is_open(self) -> bool {
        matches!(self, ChangeState::Pending | ChangeState::Approved)
    }
}

/// What a requester fills in to change a namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeDraft {
    /// The namespace request the change applies to.
    pub request_id: String,
    /// One of [`ChangeKind::as_str`].
    pub kind: String,
    /// For an extension: how much longer, one of [`Lifetime::as_str`].
    pub lifetime: String,
    /// For a quota change: the tier whose quota the namespace gets.
    pub tier: String,
    pub reason: String,
}

/// The expiry after extending by `lifetime`, in Unix seconds: counted from the current expiry,
/// or from now when that has passed; `None` for permanent.
pub fn extended_expiry(current: Option<i64>, now: i64, lifetime: Lifetime) -> Option<i64> {
    let seconds = lifetime.seconds()?;
    Some(current.unwrap_or(now).max(now) + seconds)
}

/// One ResourceQuota resource before and after a quota change.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaDelta {
    pub resource: String,
    pub before: String,
    pub after: String,
}

impl QuotaDelta {
    /// Whether the change grants more of this resource.
    pub fn grows(&self) -> bool {
        match (quantity::parse(&self.before), quantity::parse(&self.after)) {
            (Ok(before), Ok(after)) => after > before,
            // Unreadable quantities are treated as growth: a person looks at them.
            _ => true,
        }
    }
}

/// The quota fields of a tier under their ResourceQuota resource names.
fn hard(spec: &TierSpec) -> [(&'static str, String); 8] {
    [
        ("requests.cpu", spec.requests_cpu.clone()),
        ("requests.memory", spec.requests_memory.clone()),
        ("limits.cpu", spec.limits_cpu.clone()),
        ("limits.memory", spec.limits_memory.clone()),
        ("requests.storage", spec.storage.clone()),
        ("persistentvolumeclaims", spec.pvcs.to_string()),
        ("pods", spec.pods.to_string()),
        ("services", spec.services.to_string()),
    ]
}

/// The ResourceQuota resources a change of tier alters, in ResourceQuota order.
pub fn quota_deltas(before: &TierSpec, after: &TierSpec) -> Vec<QuotaDelta> {
    hard(before)
        .into_iter()
        .zip(hard(after))
        .filter(|((_, b), (_, a))| b != a && !same_quantity(b, a))
        .map(|((resource, before), (_, after))| QuotaDelta {
            resource: resource.to_owned(),
            before,
            after,
        })
        .collect()
}

fn same_quantity(a: &str, b: &str) -> bool {
    matches!((quantity::parse(a), quantity::parse(b)), (Ok(x), Ok(y)) if x == y)
}

/// Whether a change must wait for a manager. An extension follows the rules of a new request
/// (the tier says so, or it becomes permanent); a quota change that grants more of anything, or
/// moves to a tier that needs approval, waits too. Shrinking is granted at once.
pub fn needs_approval(kind: ChangeKind, current: &Plan, after: &Plan) -> bool {
    match kind {
        ChangeKind::Extend => Lifetime::parse(&after.draft.lifetime)
            .is_none_or(|l| tenancy::needs_approval(&current.tier, l)),
        ChangeKind::Quota => {
            after.tier.needs_approval
                || quota_deltas(&current.tier, &after.tier)
                    .iter()
                    .any(QuotaDelta::grows)
        }
    }
}

/// The plan a change leads to, or what is wrong with it by field (`lifetime`, `tier`, `reason`).
/// `cluster` names the namespace's cluster (a tier may be offered on some only).
/// `expires_at` of the result is left to the caller, which knows the clock.
pub fn plan_change(
    draft: &ChangeDraft,
    current: &Plan,
    tiers: &[Tier],
    cluster: &str,
) -> Result<(ChangeKind, Plan), Vec<FieldError>> {
    let mut errors = Vec::new();
    let error = |field: &str, message: String| FieldError {
        field: field.to_owned(),
        message,
    };
    let reason = draft.reason.trim();
    if reason.is_empty() {
        errors.push(error("reason", "say why: the approver reads it".to_owned()));
    } else if reason.chars().count() > MAX_CHANGE_REASON {
        errors.push(error(
            "reason",
            format!("at most {MAX_CHANGE_REASON} characters"),
        ));
    } else if reason.chars().any(|c| c.is_control() && c != '\n') {
        errors.push(error(
            "reason",
            "control characters are not allowed".to_owned(),
        ));
    }
    let mut after = current.clone();
    let kind = ChangeKind::parse(&draft.kind);
    match kind {
        None => errors.push(error(
            "kind",
            format!("unknown kind of change {:?}", draft.kind),
        )),
        Some(ChangeKind::Extend) => match Lifetime::parse(&draft.lifetime) {
            None => errors.push(error(
                "lifetime",
                format!("unknown lifetime {:?}", draft.lifetime),
            )),
            Some(l) if !current.tier.lifetimes.contains(&l) => {
                let allowed: Vec<&str> = current.tier.lifetimes.iter().map(|l| l.label()).collect();
                errors.push(error(
                    "lifetime",
                    format!(
                        "tier {} allows {} only",
                        current.draft.tier,
                        allowed.join(", ")
                    ),
                ));
            }
            Some(_) if current.expires_at.is_none() => errors.push(error(
                "lifetime",
                "this namespace is permanent already".to_owned(),
            )),
            Some(l) => after.draft.lifetime = l.as_str().to_owned(),
        },
        Some(ChangeKind::Quota) => match tiers.iter().find(|t| t.name == draft.tier) {
            None => errors.push(error("tier", format!("unknown tier {:?}", draft.tier))),
            Some(tier) if tier.spec == current.tier => errors.push(error(
                "tier",
                format!("the namespace has tier {}'s quota already", tier.name),
            )),
            Some(tier) if !tier.spec.offered_on(cluster) => errors.push(error(
                "tier",
                format!("tier {} is not offered on {cluster}", tier.name),
            )),
            Some(tier) => {
                after.draft.tier = tier.name.clone();
                after.tier = tier.spec.clone();
            }
        },
    }
    match kind {
        Some(kind) if errors.is_empty() => Ok((kind, after)),
        _ => Err(errors),
    }
}

/// A change as the namespace's row shows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeView {
    pub id: String,
    pub request_id: String,
    pub namespace: String,
    /// The namespace's cluster (its fleet name): a name is unique per cluster only.
    #[serde(default)]
    pub cluster: String,
    pub team: String,
    pub kind: ChangeKind,
    pub state: ChangeState,
    pub requester: String,
    pub reason: String,
    /// What it does, in a line: "expiry 2026-12-01T… → 2026-12-08T…", "tier small → medium".
    pub summary: String,
    pub quota: Vec<QuotaDelta>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    /// Whether the viewer may approve or deny it (and it is pending).
    pub can_decide: bool,
}

/// The line a change shows in tables and the audit trail.
pub fn summary(kind: ChangeKind, current: &Plan, after: &Plan) -> String {
    match kind {
        ChangeKind::Extend => format!(
            "expiry {} → {}",
            current.expires_at.as_deref().unwrap_or("never"),
            after.expires_at.as_deref().unwrap_or("never")
        ),
        ChangeKind::Quota => format!("tier {} → {}", current.draft.tier, after.draft.tier),
    }
}

/// What a change outcome answers the form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ChangeOutcome {
    /// Field errors; nothing was stored.
    Invalid(Vec<FieldError>),
    Submitted {
        id: String,
        state: ChangeState,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::{NamespaceDraft, seed_tiers};

    fn plan(tier: &str, lifetime: &str, expires_at: Option<&str>) -> Plan {
        let tiers = seed_tiers();
        let spec = tiers
            .iter()
            .find(|t| t.name == tier)
            .map(|t| t.spec.clone())
            .expect("seeded tier");
        Plan {
            request_id: "nr-1".to_owned(),
            draft: NamespaceDraft {
                name: "shop".to_owned(),
                team: "payments".to_owned(),
                tier: tier.to_owned(),
                lifetime: lifetime.to_owned(),
                ..NamespaceDraft::default()
            },
            requester: "dev".to_owned(),
            tier: spec,
            expires_at: expires_at.map(str::to_owned),
        }
    }

    fn draft(kind: &str, lifetime: &str, tier: &str) -> ChangeDraft {
        ChangeDraft {
            request_id: "nr-1".to_owned(),
            kind: kind.to_owned(),
            lifetime: lifetime.to_owned(),
            tier: tier.to_owned(),
            reason: "load test next week".to_owned(),
        }
    }

    #[test]
    fn extension_counts_from_the_later_of_expiry_and_now() {
        let day = 86_400;
        assert_eq!(
            extended_expiry(Some(1_000), 500, Lifetime::OneDay),
            Some(1_000 + day)
        );
        // Already past: from now, so an extension never ends in the past.
        assert_eq!(
            extended_expiry(Some(100), 500, Lifetime::SevenDays),
            Some(500 + 7 * day)
        );
        assert_eq!(extended_expiry(Some(100), 500, Lifetime::Permanent), None);
    }

    #[test]
    fn extension_follows_the_tier_and_the_approval_rules() {
        let current = plan("small", "7d", Some("2026-12-01T00:00:00Z"));
        let (kind, after) =
            plan_change(&draft("extend", "7d", ""), &current, &seed_tiers(), "eu").expect("valid");
        assert_eq!(kind, ChangeKind::Extend);
        assert!(!needs_approval(kind, &current, &after));
        let (_, forever) = plan_change(
            &draft("extend", "permanent", ""),
            &current,
            &seed_tiers(),
            "eu",
        )
        .expect("ok");
        assert!(needs_approval(kind, &current, &forever), "permanent waits");
        let large = plan("large", "7d", Some("2026-12-01T00:00:00Z"));
        let (_, longer) =
            plan_change(&draft("extend", "7d", ""), &large, &seed_tiers(), "eu").expect("ok");
        assert!(
            needs_approval(kind, &large, &longer),
            "large tiers always wait"
        );
    }

    #[test]
    fn extension_refuses_what_the_tier_does_not_allow_and_permanent_namespaces() {
        let mut current = plan("small", "7d", Some("2026-12-01T00:00:00Z"));
        current.tier.lifetimes = vec![Lifetime::OneDay];
        let errors = plan_change(&draft("extend", "30d", ""), &current, &seed_tiers(), "eu")
            .expect_err("not allowed");
        assert_eq!(errors[0].field, "lifetime");
        assert!(errors[0].message.contains("1 day"), "{errors:?}");
        let forever = plan("small", "permanent", None);
        let errors = plan_change(&draft("extend", "7d", ""), &forever, &seed_tiers(), "eu")
            .expect_err("permanent");
        assert!(errors[0].message.contains("permanent already"));
        let errors = plan_change(&draft("extend", "2w", ""), &current, &seed_tiers(), "eu")
            .expect_err("unknown");
        assert!(errors[0].message.contains("unknown lifetime"));
    }

    #[test]
    fn quota_growth_waits_and_shrinking_does_not() {
        let small = plan("small", "7d", None);
        let (kind, medium) =
            plan_change(&draft("quota", "", "medium"), &small, &seed_tiers(), "eu").expect("valid");
        assert_eq!(kind, ChangeKind::Quota);
        let deltas = quota_deltas(&small.tier, &medium.tier);
        assert!(
            deltas
                .iter()
                .any(|d| d.resource == "requests.cpu" && d.grows())
        );
        assert!(needs_approval(kind, &small, &medium));
        let medium_plan = plan("medium", "7d", None);
        let (_, back) = plan_change(
            &draft("quota", "", "small"),
            &medium_plan,
            &seed_tiers(),
            "eu",
        )
        .expect("ok");
        assert!(!needs_approval(kind, &medium_plan, &back), "shrinking");
        assert_eq!(summary(kind, &medium_plan, &back), "tier medium → small");
    }

    #[test]
    fn quota_change_needs_a_known_and_different_tier_and_a_reason() {
        let small = plan("small", "7d", None);
        let errors = plan_change(&draft("quota", "", "small"), &small, &seed_tiers(), "eu")
            .expect_err("same");
        assert!(errors[0].message.contains("already"));
        let errors = plan_change(&draft("quota", "", "huge"), &small, &seed_tiers(), "eu")
            .expect_err("unknown");
        assert_eq!(errors[0].field, "tier");
        let mut quiet = draft("quota", "", "medium");
        quiet.reason = "  ".to_owned();
        let errors = plan_change(&quiet, &small, &seed_tiers(), "eu").expect_err("no reason");
        assert_eq!(errors[0].field, "reason");
        let errors =
            plan_change(&draft("grow", "", ""), &small, &seed_tiers(), "eu").expect_err("kind");
        assert_eq!(errors[0].field, "kind");
        // A tier offered on other clusters only is no tier for this namespace.
        let mut tiers = seed_tiers();
        tiers[1].spec.clusters = vec!["us".to_owned()];
        let errors =
            plan_change(&draft("quota", "", "medium"), &small, &tiers, "eu").expect_err("not here");
        assert_eq!(errors[0].field, "tier");
        assert!(errors[0].message.contains("not offered on eu"));
        assert!(plan_change(&draft("quota", "", "medium"), &small, &tiers, "us").is_ok());
    }

    #[test]
    fn equal_quantities_in_other_spellings_are_no_change() {
        let a = plan("small", "7d", None).tier;
        let mut b = a.clone();
        b.requests_cpu = format!(
            "{}m",
            quantity::parse(&a.requests_cpu).expect("cpu") * 1000.0
        );
        assert!(quota_deltas(&a, &b).is_empty());
        b.pods += 1;
        assert_eq!(quota_deltas(&a, &b)[0].resource, "pods");
    }
}
