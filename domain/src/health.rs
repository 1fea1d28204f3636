//! Readiness: the dependencies Berth needs to serve, and whether each answers.

use serde::{Deserialize, Serialize};

/// The outcome of probing one dependency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Check {
    /// What was probed, e.g. `postgres`.
    pub name: String,
    pub ok: bool,
    /// Human text: what answered, or why it did not.
    pub detail: String,
}

impl Check {
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
        }
    }

    pub fn failed(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
        }
    }
}

/// What `/readyz` answers and the home page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// True only when every check passed; no checks at all is not ready.
    pub ready: bool,
    pub checks: Vec<Check>,
}

impl Readiness {
    pub fn from_checks(checks: Vec<Check>) -> Self {
        let ready = !checks.is_empty() && checks.iter().all(|c| c.ok);
        Readiness { ready, checks }
    }

    /// Postgres must answer; of the clusters, one answering with its caches filled is enough:
    /// an outage of one cluster must not take Berth's pages about the others out of service.
    /// Every check stays in the list, so `/readyz` still names the cluster that is down.
    pub fn for_fleet(postgres: Check, clusters: Vec<[Check; 2]>) -> Self {
        let serving = clusters.iter().any(|pair| pair.iter().all(|c| c.ok));
        let ready = postgres.ok && serving;
        let mut checks = vec![postgres];
        checks.extend(clusters.into_iter().flatten());
        Readiness { ready, checks }
    }

    /// One line naming every failed dependency and why, for logs and the 503 body.
    pub fn reason(&self) -> Option<String> {
        if self.ready {
            return None;
        }
        if self.checks.is_empty() {
            return Some("no readiness checks are configured".to_owned());
        }
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        Some(failed.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_when_all_checks_pass() {
        let r = Readiness::from_checks(vec![Check::ok("postgres", "answered in 2 ms")]);
        assert!(r.ready);
        assert_eq!(r.reason(), None);
    }

    #[test]
    fn a_fleet_serves_while_one_cluster_does() {
        let pg = Check::ok("postgres", "2 ms");
        let up = || {
            [
                Check::ok("cluster a", "v1.37"),
                Check::ok("caches a", "filled"),
            ]
        };
        let down = || {
            [
                Check::failed("cluster b", "refused"),
                Check::ok("caches b", "filled"),
            ]
        };
        let r = Readiness::for_fleet(pg.clone(), vec![up(), down()]);
        assert!(r.ready);
        assert_eq!(r.checks.len(), 5);
        assert!(!r.checks[3].ok, "the outage is still reported");
        let r = Readiness::for_fleet(pg.clone(), vec![down()]);
        assert!(!r.ready);
        assert_eq!(r.reason().as_deref(), Some("cluster b: refused"));
        let r = Readiness::for_fleet(Check::failed("postgres", "gone"), vec![up()]);
        assert!(!r.ready);
        assert!(!Readiness::for_fleet(pg, vec![]).ready);
    }

    #[test]
    fn one_failure_makes_it_unready_and_is_named() {
        let r = Readiness::from_checks(vec![
            Check::ok("postgres", "answered"),
            Check::failed("cluster", "connection refused"),
        ]);
        assert!(!r.ready);
        assert_eq!(r.reason().as_deref(), Some("cluster: connection refused"));
    }

    #[test]
    fn several_failures_are_all_named() {
        let r = Readiness::from_checks(vec![
            Check::failed("postgres", "timed out"),
            Check::failed("cluster", "refused"),
        ]);
        assert_eq!(
            r.reason().as_deref(),
            Some("postgres: timed out; cluster: refused")
        );
    }

    #[test]
    fn no_checks_is_not_ready() {
        let r = Readiness::from_checks(vec![]);
        assert!(!r.ready);
        assert!(r.reason().is_some());
    }

    #[test]
    fn serialises_as_the_readyz_body() {
        let r = Readiness::from_checks(vec![Check::failed("postgres", "down")]);
        let json = serde_json::to_value(&r).expect("serialise");
        assert_eq!(json["ready"], false);
        assert_eq!(json["checks"][0]["name"], "postgres");
    }
}
