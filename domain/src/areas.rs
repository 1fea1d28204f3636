//! The areas of the product, as the navigation lists them.
//!
//! One list drives the navigation bar, the routes and the tests that check every page renders,
//! so adding an area is one edit here.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Area {
    Onboarding,
    Namespaces,
    Rollouts,
    Cost,
    Idle,
    Access,
    Audit,
}

impl Area {
    /// In navigation order.
    pub const ALL: [Area; 7] = [
        Area::Onboarding,
        Area::Namespaces,
        Area::Rollouts,
        Area::Cost,
        Area::Idle,
        Area::Access,
        Area::Audit,
    ];

    /// The URL path segment, without a leading slash.
    pub fn slug(self) -> &'static str {
        match self {
            Area::Onboarding => "onboarding",
            Area::Namespaces => "namespaces",
            Area::Rollouts => "rollouts",
            Area::Cost => "cost",
            Area::Idle => "idle",
            Area::Access => "access",
            Area::Audit => "audit",
        }
    }

    pub fn path(self) -> String {
        format!("/{}", self.slug())
    }

    /// The label in the navigation and the page heading.
    pub fn title(self) -> &'static str {
        match self {
            Area::Onboarding => "Onboarding",
            Area::Namespaces => "Namespaces",
            Area::Rollouts => "Rollouts",
            Area::Cost => "Cost",
            Area::Idle => "Idle resources",
            Area::Access => "Access",
            Area::Audit => "Audit",
        }
    }

    /// One sentence on what the area is for.
    pub fn summary(self) -> &'static str {
        match self {
            Area::Onboarding => {
                "Request a namespace of your own with RBAC, quota, default limits and a network \
                 policy in place, preview its manifests, and download a kubeconfig."
            }
            Area::Namespaces => {
                "Quota used against hard limits per namespace, team and cluster, LimitRange \
                 defaults, QoS mix and stranded node capacity."
            }
            Area::Rollouts => {
                "Live rollout status of every Deployment, StatefulSet and DaemonSet you own, with \
                 revision history, actions and best-practice findings."
            }
            Area::Cost => {
                "What each team's namespaces cost over a window, allocated from requests and \
                 usage, with idle cost and efficiency."
            }
            Area::Idle => {
                "Over-provisioned, abandoned and left-behind resources, each with its monthly \
                 cost and a suggested action."
            }
            Area::Access => {
                "Ask for, approve and revoke short-lived elevated access to namespaces or the \
                 cluster."
            }
            Area::Audit => {
                "The tamper-evident trail of every change Berth makes, searchable and exportable."
            }
        }
    }

    pub fn from_slug(slug: &str) -> Option<Area> {
        Area::ALL.into_iter().find(|area| area.slug() == slug)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn slugs_are_unique_and_round_trip() {
        let slugs: HashSet<_> = Area::ALL.iter().map(|a| a.slug()).collect();
        assert_eq!(slugs.len(), Area::ALL.len());
        for area in Area::ALL {
            assert_eq!(Area::from_slug(area.slug()), Some(area));
        }
        assert_eq!(Area::from_slug("nope"), None);
    }

    #[test]
    fn slugs_are_url_safe_lowercase() {
        for area in Area::ALL {
            let slug = area.slug();
            assert!(!slug.is_empty());
            assert!(
                slug.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{slug} is not a plain path segment"
            );
            assert_eq!(area.path(), format!("/{slug}"));
        }
    }

    #[test]
    fn titles_and_summaries_are_distinct() {
        let titles: HashSet<_> = Area::ALL.iter().map(|a| a.title()).collect();
        let summaries: HashSet<_> = Area::ALL.iter().map(|a| a.summary()).collect();
        assert_eq!(titles.len(), Area::ALL.len());
        assert_eq!(summaries.len(), Area::ALL.len());
    }
}
