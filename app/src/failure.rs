//! The one error that crosses the wire between Berth's server and its pages: what kind of
//! refusal or failure it was, in words for the person reading it, and each field that was
//! wrong. Server functions return it; the server's service errors become it (internal detail
//! stays in the server's log); the pages show its words.

use std::fmt;

use domain::tenancy::FieldError;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureKind {
    /// Not signed in, or the session ended.
    Unauthenticated,
    /// The policy refuses this to the signed-in user.
    Forbidden,
    NotFound,
    /// What was sent is wrong; the message (and `fields`) say how.
    Invalid,
    /// Someone else changed it first.
    Conflict,
    /// Berth, its database or the cluster could not do it now.
    Unavailable,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    /// Each field that was wrong, when the form has fields (`field` empty for the whole).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn sign_in() -> Self {
        Failure::new(FailureKind::Unauthenticated, "sign in first")
    }

    /// Several things wrong with what was sent, none of them one field's.
    pub fn problems(problems: Vec<String>) -> Self {
        Failure::fields(problems.into_iter().map(FieldError::whole).collect())
    }

    /// What was wrong, field by field.
    pub fn fields(fields: Vec<FieldError>) -> Self {
        let message = fields
            .iter()
            .map(|f| f.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        Failure {
            kind: FailureKind::Invalid,
            message,
            fields,
        }
    }

    /// The messages of each thing wrong, or the one message when there is no list.
    pub fn messages(&self) -> Vec<String> {
        if self.fields.is_empty() {
            vec![self.message.clone()]
        } else {
            self.fields.iter().map(|f| f.message.clone()).collect()
        }
    }
}

/// The words of a Problem Details answer (`detail`, with its fields' complaints), if `body` is
/// one.
pub fn problem_detail(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let detail = value["detail"].as_str()?.to_owned();
    Some(detail)
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl FromServerFnError for Failure {
    type Encoder = JsonEncoding;

    /// The framework's own failures: a request the server could not read is the sender's,
    /// the rest (no answer, an unreadable answer) the connection's.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(why)
            | ServerFnErrorErr::MissingArg(why)
            | ServerFnErrorErr::Deserialization(why) => Failure::new(
                FailureKind::Invalid,
                format!("the request was not understood: {why}"),
            ),
            ServerFnErrorErr::Request(why) => Failure::new(
                FailureKind::Unavailable,
                format!("Berth did not answer: {why}"),
            ),
            other => Failure::new(FailureKind::Unavailable, other.to_string()),
        }
    }
}

#[cfg(test)]
mod problem_tests {
    use super::problem_detail;

    #[test]
    fn a_problem_says_its_detail() {
        assert_eq!(
            problem_detail(
                r#"{"type":"urn:berth:problem:unavailable","status":503,"detail":"the cluster did not answer"}"#
            ),
            Some("the cluster did not answer".to_owned())
        );
        assert_eq!(problem_detail("<html>"), None);
        assert_eq!(problem_detail(r#"{"status":500}"#), None);
    }
}
