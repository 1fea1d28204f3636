//! The clusters one Berth serves: how they are named and labelled, how an admin adds one, and
//! how each one's connection is doing, in words a page can show.

use serde::{Deserialize, Serialize};

use crate::tenancy::{FieldError, check_label};

/// Longest cluster name: it becomes a kubeconfig context and part of URLs and audit targets.
pub const MAX_NAME: usize = 40;
/// Longest display name, region or environment label.
const MAX_LABEL: usize = 80;
/// Longest server address or kubeconfig path.
const MAX_ADDRESS: usize = 512;

/// Where a cluster's entry lives: the configuration file (changed by a redeploy) or the
/// registry in Postgres (changed on the clusters page, no restart).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClusterSource {
    Config,
    Registry,
}

/// How one cluster's API server is answering, as the last probes found it (unix seconds).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterHealth {
    /// The last probe got an answer.
    pub answering: bool,
    /// When the last probe ended; `None` before the first.
    pub checked_at: Option<i64>,
    /// Since when it has not answered: what Berth holds about it is as of then.
    pub stale_since: Option<i64>,
    /// What answered (version, time), or why it did not.
    pub detail: String,
}

impl ClusterHealth {
    /// The state after a probe at `now`: an outage dates from the last answer (what Berth
    /// holds is as of then), or from now when there never was one.
    pub fn after_probe(&self, now: i64, answered: bool, detail: String) -> ClusterHealth {
        let last_answer = self.checked_at.filter(|_| self.answering);
        let stale_since = if answered {
            None
        } else {
            self.stale_since.or(last_answer).or(Some(now))
        };
        ClusterHealth {
            answering: answered,
            checked_at: Some(now),
            stale_since,
            detail,
        }
    }

    /// One phrase for a page: "answering", "not checked yet", or "not answering since
    /// 2026-12-05 11:36:08 UTC (3 min); what Berth shows of it is as of then".
    pub fn summary(&self, now: i64) -> String {
        match (self.checked_at, self.stale_since) {
            (None, _) => "not checked yet".to_owned(),
            (Some(_), None) => "answering".to_owned(),
            (Some(_), Some(since)) => format!(
                "not answering since {} UTC ({}); what Berth shows of it is as of then",
                crate::cost_report::format_time(since),
                outage_words((now - since).max(0))
            ),
        }
    }
}

fn outage_words(seconds: i64) -> String {
    if seconds < 60 {
        format!("{seconds} s")
    } else {
        crate::jit::describe_minutes(u32::try_from(seconds / 60).unwrap_or(u32::MAX))
    }
}

/// A cluster as pages and the REST API list it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterSummary {
    pub name: String,
    pub display_name: String,
    pub region: String,
    pub environment: String,
    /// The address Berth itself uses.
    pub api_server: String,
    /// The address kubeconfigs name (the API address when none is set).
    pub public_server: String,
    pub source: ClusterSource,
    /// The first cluster of the configuration: Berth's own loops that know one cluster run there.
    pub home: bool,
    pub health: ClusterHealth,
    /// The health in words as of the answer ([`ClusterHealth::summary`]).
    pub status: String,
    /// Namespaces and pods in its watch caches.
    pub namespaces: usize,
    pub pods: usize,
}

/// What an admin sends to add a cluster to the registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterDraft {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub environment: String,
    /// A kubeconfig file on Berth's machine (a mounted Secret, typically); or else
    /// `api_server` and `token_secret`.
    #[serde(default)]
    pub kubeconfig: String,
    /// A context of that file other than its current one.
    #[serde(default)]
    pub context: String,
    /// The API address users reach, when it differs from the kubeconfig's.
    #[serde(default)]
    pub public_server: String,
    /// The API address Berth uses, with a token Secret (a kubeconfig names its own).
    #[serde(default)]
    pub api_server: String,
    /// `namespace/name` of a Secret on the home cluster holding `token` and `ca.crt` for the
    /// cluster (what a ServiceAccount token Secret of it holds): credentials kept by
    /// Kubernetes, rotated by updating the Secret.
    #[serde(default)]
    pub token_secret: String,
}

impl ClusterDraft {
    /// Every problem at once, each naming its field; `taken` lists the names in use.
    pub fn validate(&self, taken: &[String]) -> Result<(), Vec<FieldError>> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push(FieldError {
                field: field.to_owned(),
                message,
            })
        };
        match check_label(&self.name) {
            Err(why) => problem("name", why),
            Ok(()) if self.name.len() > MAX_NAME => problem(
                "name",
                format!(
                    "at most {MAX_NAME} characters (this one has {})",
                    self.name.len()
                ),
            ),
            Ok(()) if taken.iter().any(|t| t == &self.name) => problem(
                "name",
                format!("a cluster named {} is already registered", self.name),
            ),
            Ok(()) => {}
        }
        for (field, text) in [
            ("display_name", &self.display_name),
            ("region", &self.region),
            ("environment", &self.environment),
            ("context", &self.context),
        ] {
            if text.chars().count() > MAX_LABEL {
                problem(field, format!("at most {MAX_LABEL} characters"));
            } else if text.chars().any(char::is_control) {
                problem(field, "no control characters".to_owned());
            }
        }
        if !self.token_secret.is_empty() {
            if let Err(why) = parse_secret_ref(&self.token_secret) {
                problem("token_secret", why);
            }
            if !self.kubeconfig.is_empty() {
                problem(
                    "kubeconfig",
                    "either a kubeconfig or a token Secret, not both".to_owned(),
                );
            }
            if self.api_server.is_empty() {
                problem(
                    "api_server",
                    "the cluster's API address is required with a token Secret".to_owned(),
                );
            } else if let Err(why) = check_server(&self.api_server) {
                problem("api_server", why);
            }
        } else if !self.api_server.is_empty() {
            problem(
                "api_server",
                "goes with a token Secret: a kubeconfig names its own server".to_owned(),
            );
        } else if self.kubeconfig.trim().is_empty() {
            problem(
                "kubeconfig",
                "the path of a kubeconfig file on Berth's machine (or a token Secret) is required"
                    .to_owned(),
            );
        } else if !self.kubeconfig.starts_with('/') {
            problem(
                "kubeconfig",
                "an absolute path (Berth's working directory is not yours)".to_owned(),
            );
        } else if self.kubeconfig.len() > MAX_ADDRESS
            || self.kubeconfig.chars().any(char::is_control)
        {
            problem(
                "kubeconfig",
                format!("at most {MAX_ADDRESS} characters, no control characters"),
            );
        }
        if !self.public_server.is_empty()
            && let Err(why) = check_server(&self.public_server)
        {
            problem("public_server", why);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Whether `name` could name a cluster of the fleet (a DNS label of at most 40 characters).
pub fn valid_name(name: &str) -> bool {
    check_label(name).is_ok() && name.len() <= MAX_NAME
}

/// A token Secret's `namespace/name`: a namespace (a DNS label) and a Secret's name (a DNS
/// subdomain).
pub fn parse_secret_ref(text: &str) -> Result<(&str, &str), String> {
    let shape = "namespace/name of a Secret on the home cluster, e.g. berth/us-dev-token";
    let Some((namespace, name)) = text.split_once('/') else {
        return Err(shape.to_owned());
    };
    check_label(namespace).map_err(|why| format!("the namespace: {why} ({shape})"))?;
    let subdomain = !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|part| !part.is_empty() && check_label(part).is_ok());
    if !subdomain {
        return Err(format!(
            "the name: lower-case letters, digits, '-' and '.' ({shape})"
        ));
    }
    Ok((namespace, name))
}

/// An API server address users' kubectl can be given: `https://host[:port]`, nothing else.
pub fn check_server(address: &str) -> Result<(), String> {
    let Some(rest) = address.strip_prefix("https://") else {
        return Err("must start with https:// (an API server speaks TLS)".to_owned());
    };
    let host = rest.trim_end_matches('/');
    if host.is_empty() || address.len() > MAX_ADDRESS {
        return Err("a host (and port) after https://".to_owned());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if !host.chars().all(allowed) {
        return Err("only a host and port: no path, query, user or spaces".to_owned());
    }
    Ok(())
}

/// How a cluster is named on pages: its display name, else its name.
pub fn label(name: &str, display_name: &str) -> String {
    if display_name.trim().is_empty() {
        name.to_owned()
    } else {
        display_name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> ClusterDraft {
        ClusterDraft {
            name: "us-dev".to_owned(),
            display_name: "US development".to_owned(),
            region: "us-east-1".to_owned(),
            environment: "dev".to_owned(),
            kubeconfig: "/etc/berth/clusters/us-dev.kubeconfig".to_owned(),
            context: String::new(),
            public_server: "https://us-dev.k8s.example.com:6443".to_owned(),
            ..ClusterDraft::default()
        }
    }

    fn fields(draft: &ClusterDraft, taken: &[String]) -> Vec<String> {
        draft
            .validate(taken)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_whole_draft_is_accepted() {
        assert_eq!(draft().validate(&["eu-prod".to_owned()]), Ok(()));
    }

    #[test]
    fn names_must_be_labels_short_and_free() {
        let mut d = draft();
        d.name = "US_Dev".to_owned();
        assert_eq!(fields(&d, &[]), ["name"]);
        d.name = "a".repeat(41);
        assert_eq!(fields(&d, &[]), ["name"]);
        d.name = "eu-prod".to_owned();
        assert_eq!(fields(&d, &["eu-prod".to_owned()]), ["name"]);
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let d = ClusterDraft {
            name: String::new(),
            display_name: "x".repeat(81),
            region: "eu\u{7}".to_owned(),
            environment: String::new(),
            kubeconfig: "relative/path".to_owned(),
            context: String::new(),
            public_server: "http://plain".to_owned(),
            ..ClusterDraft::default()
        };
        assert_eq!(
            fields(&d, &[]),
            [
                "name",
                "display_name",
                "region",
                "kubeconfig",
                "public_server"
            ]
        );
    }

    #[test]
    fn a_token_secret_goes_with_an_api_server_and_without_a_kubeconfig() {
        let mut d = draft();
        d.kubeconfig.clear();
        d.token_secret = "berth/us-dev-token".to_owned();
        d.api_server = "https://10.0.0.7:6443".to_owned();
        assert_eq!(d.validate(&[]), Ok(()));
        d.kubeconfig = "/etc/berth/us-dev".to_owned();
        assert_eq!(fields(&d, &[]), ["kubeconfig"]);
        d.kubeconfig.clear();
        d.api_server.clear();
        assert_eq!(fields(&d, &[]), ["api_server"]);
        d.api_server = "http://10.0.0.7".to_owned();
        assert_eq!(fields(&d, &[]), ["api_server"]);
        d.api_server = "https://10.0.0.7".to_owned();
        for bad in [
            "token",
            "Berth/x",
            "berth/",
            "/x",
            "berth/a..b",
            "berth/x/y",
            "berth/<b>",
        ] {
            d.token_secret = bad.to_owned();
            assert_eq!(fields(&d, &[]), ["token_secret"], "{bad}");
        }
        // An API address alone means nothing: a kubeconfig names its own server.
        let mut k = draft();
        k.api_server = "https://10.0.0.7".to_owned();
        assert_eq!(fields(&k, &[]), ["api_server"]);
        assert_eq!(
            parse_secret_ref("berth/us-dev.token"),
            Ok(("berth", "us-dev.token"))
        );
    }

    #[test]
    fn public_servers_are_bare_https_hosts() {
        assert_eq!(check_server("https://10.0.0.1:6443"), Ok(()));
        assert_eq!(check_server("https://[::1]:6443/"), Ok(()));
        assert!(check_server("http://k8s:6443").is_err());
        assert!(check_server("https://").is_err());
        assert!(check_server("https://k8s/path?x=1").is_err());
        assert!(check_server("https://user@k8s").is_err());
    }

    #[test]
    fn an_outage_keeps_its_first_moment_and_ends_with_an_answer() {
        let fresh = ClusterHealth::default();
        assert_eq!(fresh.summary(100), "not checked yet");
        let up = fresh.after_probe(100, true, "Kubernetes v1.37.2".to_owned());
        assert_eq!(up.summary(100), "answering");
        let down = up.after_probe(110, false, "refused".to_owned());
        let still = down.after_probe(300, false, "refused".to_owned());
        assert_eq!(still.stale_since, Some(100), "as of the last answer");
        assert_eq!(
            still.summary(290),
            "not answering since 1970-01-01 00:01:40 UTC (3 min); what Berth shows of it is as of then"
        );
        let never = ClusterHealth::default().after_probe(50, false, "refused".to_owned());
        assert_eq!(never.stale_since, Some(50));
        let back = still.after_probe(320, true, "ok".to_owned());
        assert_eq!(back.stale_since, None);
        assert!(back.answering);
    }

    #[test]
    fn a_cluster_is_shown_by_its_display_name_when_it_has_one() {
        assert_eq!(label("us-dev", ""), "us-dev");
        assert_eq!(label("us-dev", "US development"), "US development");
    }
}
