//! Who is signed in: users, server-side sessions, the demo personas.

use domain::authz::Role;
pub use domain::identity::CurrentUser;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "berth_session";

/// The people a visitor can be in `berth demo`: a developer in two teams, a manager, two SREs
/// and an admin. This list exists only for the demo's sign-in; `serve` has no route to it.
pub fn demo_personas() -> Vec<CurrentUser> {
    let user = |id: &str, name: &str, roles: &[Role], teams: &[&str]| CurrentUser {
        id: format!("demo:{id}"),
        email: format!("{id}@example.com"),
        display_name: name.to_owned(),
        roles: roles.to_vec(),
        teams: teams.iter().map(|t| (*t).to_owned()).collect(),
    };
    vec![
        user(
            "dana",
            "Dana Developer",
            &[Role::Developer],
            &["payments", "checkout"],
        ),
        user("mike", "Mike Manager", &[Role::Manager], &["payments"]),
        user("sam", "Sam SRE", &[Role::Sre], &["platform"]),
        // A second SRE, so two-approval access requests can be tried.
        user("sid", "Sid SRE", &[Role::Sre], &["platform"]),
        user("ada", "Ada Admin", &[Role::Admin], &["platform"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personas_cover_every_role_and_the_developer_has_two_teams() {
        let personas = demo_personas();
        for role in [Role::Manager, Role::Sre, Role::Admin] {
            assert!(personas.iter().any(|p| p.roles.contains(&role)), "{role:?}");
        }
        let dev = personas.iter().find(|p| p.id == "demo:dana").expect("dana");
        assert_eq!(dev.teams.len(), 2);
        assert_eq!(dev.role_names(), ["developer"]);
    }
}
