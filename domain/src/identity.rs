//! The signed-in user, as the server, the policy and the UI see them.

use serde::{Deserialize, Serialize};

use crate::access::{Actor, Role};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// A demo persona offered on the sign-in page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persona {
    pub id: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub teams: Vec<String>,
}

/// What the sign-in page offers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOptions {
    /// Only in `berth demo`.
    pub personas: Vec<Persona>,
}
