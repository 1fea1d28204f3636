//! Who may do what: one pure decision, (actor, action, target) → allow or deny with a reason.
//! Every mutating endpoint and every read of team-scoped data asks it on the server.

use serde::{Deserialize, Serialize};

/// The roles of the spec's persona table. A user may hold several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    Developer,
    Manager,
    Sre,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Developer, Role::Manager, Role::Sre, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Developer => "developer",
            Role::Manager => "manager",
            Role::Sre => "sre",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// The signed-in user as policy sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    /// Stable user id (the OIDC subject, or the demo persona's id).
    pub id: String,
    pub roles: Vec<Role>,
    pub teams: Vec<String>,
}

impl Actor {
    pub fn has(&self, role: Role) -> bool {
        // Everyone who signs in is at least a developer.
        role == Role::Developer || self.roles.contains(&role)
    }

    pub fn in_team(&self, team: &str) -> bool {
        self.teams.iter().any(|t| t == team)
    }
}

/// Everything Berth lets someone do or see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Action {
    /// Ask for a namespace for a team.
    RequestNamespace,
    /// Approve or deny a namespace request of a team.
    DecideNamespaceRequest,
    /// Ask for more (or less) quota in a team's namespace.
    RequestQuotaChange,
    DecideQuotaChange,
    /// See a team's namespaces, quota usage and rollouts.
    ViewNamespace,
    /// Roll back, restart, pause, scale, delete from a report: change a team's workloads.
    ActOnWorkloads,
    /// Download a kubeconfig for a team's namespace.
    DownloadKubeconfig,
    /// Cost and idle reports of a team.
    ViewCost,
    /// Ask for elevated access.
    RequestAccess,
    /// Approve or deny someone's access request.
    DecideAccess,
    /// End an active grant early.
    RevokeAccess,
    /// See an access request.
    ViewAccessRequest,
    /// Read the audit trail of a team (or everything, with no team).
    ViewAudit,
    /// Tiers, policies and prices.
    Administer,
    /// Create and revoke one's own API tokens.
    ManageOwnTokens,
    /// Node capacity of the whole cluster: allocatable, requested, stranded.
    ViewCapacity,
    /// Set a team's monthly budget.
    SetBudget,
}

impl Action {
    pub const ALL: [Action; 17] = [
        Action::RequestNamespace,
        Action::DecideNamespaceRequest,
        Action::RequestQuotaChange,
        Action::DecideQuotaChange,
        Action::ViewNamespace,
        Action::ActOnWorkloads,
        Action::DownloadKubeconfig,
        Action::ViewCost,
        Action::RequestAccess,
        Action::DecideAccess,
        Action::RevokeAccess,
        Action::ViewAccessRequest,
        Action::ViewAudit,
        Action::Administer,
        Action::ManageOwnTokens,
        Action::ViewCapacity,
        Action::SetBudget,
    ];
}

/// What an action is about.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Target {
    /// The team that owns it; `None` for cluster-wide things.
    pub team: Option<String>,
    /// The user who asked for it, for requests and tokens.
    pub requester: Option<String>,
}

impl Target {
    pub fn team(team: &str) -> Target {
        Target {
            team: Some(team.to_owned()),
            requester: None,
        }
    }

    pub fn requested_by(user: &str) -> Target {
        Target {
            team: None,
            requester: Some(user.to_owned()),
        }
    }

    pub fn everything() -> Target {
        Target::default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Decision {
    Allow,
    Deny(String),
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// The policy. Admins may do everything except approve their own access requests.
pub fn decide(actor: &Actor, action: Action, target: &Target) -> Decision {
    let own_team = target.team.as_deref().is_some_and(|t| actor.in_team(t));
    let own_request = target.requester.as_deref() == Some(actor.id.as_str());
    let admin = actor.has(Role::Admin);
    let manager = actor.has(Role::Manager);
    let sre = actor.has(Role::Sre);
    let team_name = target.team.as_deref().unwrap_or("(none)");
    let deny = |why: String| Decision::Deny(why);
    let allow_if = |ok: bool, why: String| if ok { Decision::Allow } else { deny(why) };
    match action {
        Action::RequestNamespace | Action::RequestQuotaChange | Action::DownloadKubeconfig => {
            allow_if(
                own_team || admin,
                format!("you are not a member of team {team_name}"),
            )
        }
        Action::ActOnWorkloads => allow_if(
            own_team || admin,
            format!("only members of team {team_name} (or admins) may change its workloads"),
        ),
        Action::SetBudget => allow_if(
            (manager && own_team) || admin,
            format!("only managers of team {team_name} (or admins) set its budget"),
        ),
        Action::DecideNamespaceRequest | Action::DecideQuotaChange => allow_if(
            (manager && own_team) || admin,
            format!("only managers of team {team_name} (or admins) may decide its requests"),
        ),
        Action::ViewNamespace => allow_if(
            own_team || sre || admin,
            format!("team {team_name}'s namespaces are visible to its members, SREs and admins"),
        ),
        Action::ViewCost => allow_if(
            own_team || manager || admin,
            format!("team {team_name}'s costs are visible to its members, managers and admins"),
        ),
        Action::RequestAccess | Action::ManageOwnTokens => Decision::Allow,
        Action::DecideAccess => {
            if own_request {
                deny("nobody approves their own access request".to_owned())
            } else {
                allow_if(sre || admin, "only SREs decide access requests".to_owned())
            }
        }
        Action::RevokeAccess => allow_if(
            own_request || sre || admin,
            "only the requester or an SRE may revoke this grant".to_owned(),
        ),
        Action::ViewAccessRequest => allow_if(
            own_request || sre || admin,
            "access requests are visible to their requester, SREs and admins".to_owned(),
        ),
        Action::ViewAudit => allow_if(
            sre || admin || (manager && own_team),
            match &target.team {
                Some(t) => {
                    format!("team {t}'s audit trail is visible to its managers, SREs and admins")
                }
                None => "the full audit trail is visible to SREs and admins".to_owned(),
            },
        ),
        Action::ViewCapacity => allow_if(
            sre || manager || admin,
            "cluster capacity is visible to SREs, managers and admins".to_owned(),
        ),
        Action::Administer => allow_if(
            admin,
            "only admins edit tiers, policies and prices".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role) -> Actor {
        Actor {
            id: format!("{}-user", role.as_str()),
            roles: vec![role],
            teams: vec!["payments".to_owned()],
        }
    }

    /// Expected outcome per role for a target of the actor's own team and of a foreign team.
    /// Columns: developer, manager, sre, admin; `(own, foreign)`.
    #[rustfmt::skip]
    const TEAM_MATRIX: [(Action, [(bool, bool); 4]); 10] = [
        (Action::RequestNamespace,       [(true, false), (true, false), (true, false), (true, true)]),
        (Action::RequestQuotaChange,     [(true, false), (true, false), (true, false), (true, true)]),
        (Action::DownloadKubeconfig,     [(true, false), (true, false), (true, false), (true, true)]),
        (Action::ActOnWorkloads,         [(true, false), (true, false), (true, false), (true, true)]),
        (Action::DecideNamespaceRequest, [(false, false), (true, false), (false, false), (true, true)]),
        (Action::DecideQuotaChange,      [(false, false), (true, false), (false, false), (true, true)]),
        (Action::ViewNamespace,          [(true, false), (true, false), (true, true), (true, true)]),
        (Action::ViewCost,               [(true, false), (true, true), (true, false), (true, true)]),
        (Action::ViewAudit,              [(false, false), (true, false), (true, true), (true, true)]),
        (Action::SetBudget,              [(false, false), (true, false), (false, false), (true, true)]),
    ];

    /// Columns as above; `(own request, someone else's request)`.
    #[rustfmt::skip]
    const REQUEST_MATRIX: [(Action, [(bool, bool); 4]); 7] = [
        (Action::ViewCapacity,      [(false, false), (true, true), (true, true), (true, true)]),
        (Action::RequestAccess,     [(true, true), (true, true), (true, true), (true, true)]),
        (Action::DecideAccess,      [(false, false), (false, false), (false, true), (false, true)]),
        (Action::RevokeAccess,      [(true, false), (true, false), (true, true), (true, true)]),
        (Action::ViewAccessRequest, [(true, false), (true, false), (true, true), (true, true)]),
        (Action::ManageOwnTokens,   [(true, true), (true, true), (true, true), (true, true)]),
        (Action::Administer,        [(false, false), (false, false), (false, false), (true, true)]),
    ];

    #[test]
    fn every_action_is_in_a_matrix() {
        for action in Action::ALL {
            let listed = TEAM_MATRIX.iter().any(|(a, _)| *a == action)
                || REQUEST_MATRIX.iter().any(|(a, _)| *a == action);
            assert!(listed, "{action:?} has no row");
        }
    }

    #[test]
    fn team_scoped_actions_by_role_and_team() {
        for (action, row) in TEAM_MATRIX {
            for (role, (own, foreign)) in Role::ALL.into_iter().zip(row) {
                let a = actor(role);
                let got_own = decide(&a, action, &Target::team("payments")).allowed();
                let got_foreign = decide(&a, action, &Target::team("search")).allowed();
                assert_eq!(
                    (got_own, got_foreign),
                    (own, foreign),
                    "{action:?} as {role:?}"
                );
            }
        }
    }

    #[test]
    fn request_scoped_actions_by_role_and_requester() {
        for (action, row) in REQUEST_MATRIX {
            for (role, (own, other)) in Role::ALL.into_iter().zip(row) {
                let a = actor(role);
                let got_own = decide(&a, action, &Target::requested_by(&a.id)).allowed();
                let got_other = decide(&a, action, &Target::requested_by("someone-else")).allowed();
                assert_eq!((got_own, got_other), (own, other), "{action:?} as {role:?}");
            }
        }
    }

    #[test]
    fn denials_say_why() {
        let dev = actor(Role::Developer);
        match decide(&dev, Action::ViewCost, &Target::team("search")) {
            Decision::Deny(why) => assert!(why.contains("search"), "{why}"),
            Decision::Allow => panic!("a developer sees only their team's costs"),
        }
        let sre = actor(Role::Sre);
        assert_eq!(
            decide(&sre, Action::DecideAccess, &Target::requested_by(&sre.id)),
            Decision::Deny("nobody approves their own access request".to_owned())
        );
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
