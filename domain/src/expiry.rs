//! Expiry warnings sent out of Berth (to a webhook): when each is due, and what it says.

use serde::{Deserialize, Serialize};

const DAY: i64 = 86_400;

/// The warning due for a namespace `seconds_left` from its expiry, given the last one sent
/// (`warned`: 3 or 1 days out): 3 days out, then 1 day out, each once; none once it expired.
pub fn warning_due(seconds_left: i64, warned: Option<i32>) -> Option<i32> {
    let level = match seconds_left {
        s if s <= 0 => return None,
        s if s <= DAY => 1,
        s if s <= 3 * DAY => 3,
        _ => return None,
    };
    match warned {
        Some(sent) if sent <= level => None,
        _ => Some(level),
    }
}

/// The JSON body posted to the expiry webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExpiryNotice {
    pub namespace: String,
    pub team: String,
    pub owner: String,
    pub contact: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
    /// 3 or 1.
    pub days_before: i32,
    pub text: String,
}

impl ExpiryNotice {
    pub fn new(
        namespace: &str,
        team: &str,
        owner: &str,
        contact: &str,
        expires_at: &str,
        days_before: i32,
    ) -> ExpiryNotice {
        let when = if days_before == 1 {
            "within a day".to_owned()
        } else {
            format!("within {days_before} days")
        };
        ExpiryNotice {
            namespace: namespace.to_owned(),
            team: team.to_owned(),
            owner: owner.to_owned(),
            contact: contact.to_owned(),
            expires_at: expires_at.to_owned(),
            days_before,
            text: format!(
                "Namespace {namespace} (team {team}) expires {when}, at {expires_at}. \
                 Extend it in Berth or save what you need: Berth deletes it then."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_days_out_then_one_day_out_each_once() {
        assert_eq!(warning_due(5 * DAY, None), None);
        assert_eq!(warning_due(3 * DAY, None), Some(3));
        assert_eq!(warning_due(2 * DAY, Some(3)), None, "sent already");
        assert_eq!(warning_due(DAY, Some(3)), Some(1));
        assert_eq!(warning_due(DAY / 2, Some(1)), None);
        // Made with less than a day to live: only the one-day warning.
        assert_eq!(warning_due(3600, None), Some(1));
        assert_eq!(warning_due(0, None), None, "expired: the reconciler acts");
    }

    #[test]
    fn the_notice_names_namespace_team_and_time() {
        let n = ExpiryNotice::new(
            "shop",
            "payments",
            "demo:dana",
            "d@x",
            "2026-12-01T00:00:00Z",
            1,
        );
        assert!(n.text.contains("shop (team payments) expires within a day"));
        assert!(n.text.contains("2026-12-01T00:00:00Z"));
    }
}
