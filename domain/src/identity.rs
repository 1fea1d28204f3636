//! The signed-in user, as the server, the policy and the UI see them.

use serde::{Deserialize, Serialize};

use crate::authz::{Actor, Role};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CurrentUser {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub teams: Vec<String>,
}

impl CurrentUser {
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id.clone(),
            roles: self.roles.clone(),
            teams: self.teams.clone(),
        }
    }

    /// Role names as the audit trail and the UI show them; everyone is a developer.
    pub fn role_names(&self) -> Vec<String> {
        let mut names = vec![Role::Developer.as_str().to_owned()];
        names.extend(
            self.roles
                .iter()
                .filter(|r| **r != Role::Developer)
                .map(|r| r.as_str().to_owned()),
        );
        names
    }
}

/// Put in a request's extensions by the session middleware when someone is signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedIn(pub CurrentUser);

/// Where a request came from, for the audit trail: put in request extensions by the server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestOrigin {
    /// The client's address.
    pub source: String,
    pub request_id: String,
}

/// A demo persona offered on the sign-in page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Persona {
    pub id: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub teams: Vec<String>,
}

/// What the sign-in page offers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignInOptions {
    /// Only in `berth demo`.
    pub personas: Vec<Persona>,
    /// The identity provider's issuer, when OpenID Connect is configured.
    pub oidc_issuer: Option<String>,
}

/// An API token as its owner sees it in lists: never the token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked: bool,
    pub last_used_at: Option<String>,
    /// What it may do besides read.
    pub scopes: Vec<String>,
}

/// A token just made: the only time `token` leaves the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewTokenView {
    pub id: String,
    pub name: String,
    pub expires_at: String,
    pub token: String,
}

/// What an API token may do besides read; its owner's role still decides everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// Look: every read the owner may make.
    Read,
    /// Onboarding, quota changes, workload and idle-report actions, budgets.
    Namespaces,
    /// Ask for, review and revoke JIT access; a grant's kubeconfig.
    Access,
    /// Tiers, prices, the access policy — and everything above.
    Admin,
}

impl TokenScope {
    pub const ALL: [TokenScope; 4] = [
        TokenScope::Read,
        TokenScope::Namespaces,
        TokenScope::Access,
        TokenScope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Namespaces => "namespaces",
            TokenScope::Access => "access",
            TokenScope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<TokenScope> {
        TokenScope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// `read, namespaces` → scopes (read is always in); unknown names are refused by name.
pub fn parse_scopes<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<TokenScope>, String> {
    let mut scopes = vec![TokenScope::Read];
    for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
        let scope = TokenScope::parse(name).ok_or_else(|| {
            format!("{name:?} is not a scope; the scopes are read, namespaces, access, admin")
        })?;
        scopes.push(scope);
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// Whether a token of `scopes` covers a request that needs `needed`.
pub fn scope_allows(scopes: &[TokenScope], needed: TokenScope) -> bool {
    needed == TokenScope::Read || scopes.contains(&needed) || scopes.contains(&TokenScope::Admin)
}

/// Checks a token request against the longest lifetime policy allows; the message says what to
/// fix.
pub fn validate_token_request(name: &str, days: u64, max_days: u64) -> Result<(), String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err("name must be 1 to 64 characters".to_owned());
    }
    if crate::text::has_forbidden(name, false) || name.contains(['<', '>']) {
        return Err("name may not contain control characters or markup (< or >)".to_owned());
    }
    if !(1..=max_days).contains(&days) {
        return Err(format!(
            "expires_in_days must be between 1 and {max_days}, not {days}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_requests_are_checked() {
        assert!(validate_token_request("ci", 30, 365).is_ok());
        assert!(validate_token_request("  ", 30, 365).is_err());
        assert!(validate_token_request(&"x".repeat(65), 30, 365).is_err());
        assert!(validate_token_request("ci", 0, 365).is_err());
        assert!(validate_token_request("ci", 366, 365).is_err());
        assert!(validate_token_request("ci", 91, 90).is_err_and(|e| e.contains("1 and 90")));
    }

    #[test]
    fn scopes_read_by_name_and_cover_what_they_say() {
        assert_eq!(parse_scopes([]), Ok(vec![TokenScope::Read]));
        assert_eq!(
            parse_scopes(["access", " read", ""]),
            Ok(vec![TokenScope::Read, TokenScope::Access])
        );
        assert!(parse_scopes(["root"]).is_err_and(|e| e.contains("\"root\" is not a scope")));
        let read = [TokenScope::Read];
        assert!(scope_allows(&read, TokenScope::Read));
        assert!(!scope_allows(&read, TokenScope::Namespaces));
        let access = [TokenScope::Read, TokenScope::Access];
        assert!(scope_allows(&access, TokenScope::Access));
        assert!(!scope_allows(&access, TokenScope::Admin));
        assert!(scope_allows(&[TokenScope::Admin], TokenScope::Namespaces));
        assert!(validate_token_request("<b>ci</b>", 30, 365).is_err());
        assert!(validate_token_request("c\u{0}i", 30, 365).is_err());
    }
}

/// Roles and teams from the identity provider's groups, through the configured mapping.
/// Everyone is at least a developer; `admin` is granted only to the listed subjects, or
/// emails the provider says it has verified (an unverified address is whatever the user
/// typed at the provider, so it proves nothing).
pub fn map_groups(
    groups: &[String],
    roles: &std::collections::BTreeMap<String, Role>,
    teams: &std::collections::BTreeMap<String, String>,
    admins: &[String],
    subject: &str,
    email: &str,
    email_verified: bool,
) -> (Vec<Role>, Vec<String>) {
    let mut mapped: Vec<Role> = groups
        .iter()
        .filter_map(|g| roles.get(g).copied())
        .filter(|r| *r != Role::Admin)
        .collect();
    let by_email = email_verified && !email.is_empty();
    if admins
        .iter()
        .any(|a| a == subject || (by_email && a.eq_ignore_ascii_case(email)))
    {
        mapped.push(Role::Admin);
    }
    mapped.sort();
    mapped.dedup();
    let mut mapped_teams: Vec<String> = groups
        .iter()
        .filter_map(|g| teams.get(g).cloned())
        .collect();
    mapped_teams.sort();
    mapped_teams.dedup();
    (mapped, mapped_teams)
}

#[cfg(test)]
mod mapping_tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn groups_map_to_roles_and_teams_and_admin_needs_listing() {
        let roles = BTreeMap::from([
            ("platform-sre".to_owned(), Role::Sre),
            ("eng-managers".to_owned(), Role::Manager),
            ("everyone-admins".to_owned(), Role::Admin),
        ]);
        let teams = BTreeMap::from([("team-payments".to_owned(), "payments".to_owned())]);
        let groups = vec![
            "eng-managers".to_owned(),
            "team-payments".to_owned(),
            "everyone-admins".to_owned(),
            "misc".to_owned(),
        ];
        let (r, t) = map_groups(&groups, &roles, &teams, &[], "bob", "bob@example.com", true);
        assert_eq!(
            (r, t),
            (vec![Role::Manager], vec!["payments".to_owned()]),
            "a group alone never makes an admin"
        );
        let admins = ["Alice@Example.com".to_owned(), "carol-sub".to_owned()];
        let (r, _) = map_groups(
            &[],
            &roles,
            &teams,
            &admins,
            "alice",
            "alice@example.com",
            true,
        );
        assert_eq!(r, vec![Role::Admin]);
        // The same address, unverified, is not the admin's: anyone can type it at a provider.
        let (r, _) = map_groups(
            &[],
            &roles,
            &teams,
            &admins,
            "mallory",
            "alice@example.com",
            false,
        );
        assert_eq!(r, Vec::<Role>::new());
        // A listed subject needs no e-mail at all.
        let (r, _) = map_groups(&[], &roles, &teams, &admins, "carol-sub", "", false);
        assert_eq!(r, vec![Role::Admin]);
    }
}

/// Where a sign-in may send the browser back to: a path on this site, never another host
/// (`//evil.example`, `/\evil.example`), never Berth's own sign-in or API routes.
pub fn return_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 2_000
        && !next.chars().any(|c| c.is_control() || c == '\\')
        && !["/auth/", "/api/", "/signin"]
            .iter()
            .any(|p| next.starts_with(p));
    ok.then_some(next)
}

#[cfg(test)]
mod return_tests {
    use super::return_path;
    use crate::text::query_value;

    #[test]
    fn only_this_sites_pages_are_returned_to() {
        assert_eq!(
            return_path("/cost?by=team&window=30d"),
            Some("/cost?by=team&window=30d")
        );
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "/cost\r\nSet-Cookie: x",
            "/api/v1/tokens",
            "/auth/signout",
            "/signin",
            "cost",
        ] {
            assert_eq!(return_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_query_value_survives_a_url() {
        assert_eq!(
            query_value("/cost?by=team&w=7d"),
            "%2Fcost%3Fby%3Dteam%26w%3D7d"
        );
        assert_eq!(query_value("ä"), "%C3%A4");
    }
}
