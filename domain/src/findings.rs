//! Best-practice findings per workload (the seeds' rules), each with a severity and a one-line
//! fix, and a namespace's score: 2·pass / (2·pass + warn + 2·danger) × 100.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::quantity;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Severity {
    Danger,
    Warn,
    Pass,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Danger => "danger",
            Severity::Warn => "warn",
            Severity::Pass => "pass",
        }
    }
}

/// One check on one workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    /// Stable name of the check, e.g. `image-tag`.
    pub check: String,
    pub severity: Severity,
    /// What was found (names the container where one is at fault).
    pub message: String,
    /// The one-line fix; empty when it passes.
    pub fix: String,
}

/// A container as the checks read it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub readiness_probe: bool,
    pub liveness_probe: bool,
    pub requests: BTreeMap<String, String>,
    pub limits: BTreeMap<String, String>,
}

/// A workload as the checks read it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkloadSpec {
    /// Desired replicas; `None` for a DaemonSet (one per node).
    pub replicas: Option<i32>,
    pub containers: Vec<ContainerSpec>,
    /// A PodDisruptionBudget selects its pods.
    pub has_pdb: bool,
    /// Pod anti-affinity or a topology spread constraint is set.
    pub spreads: bool,
    /// The namespace asks for Guaranteed QoS (requests equal to limits).
    pub expects_guaranteed: bool,
}

/// The tag of an image reference; `None` when it has none (a digest counts as pinned).
fn image_tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return Some("digest");
    }
    // The last path segment holds the tag; a registry port (`host:5000/x`) is not one.
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, tag)| tag)
}

fn finding(check: &str, severity: Severity, message: String, fix: &str) -> Finding {
    Finding {
        check: check.to_owned(),
        severity,
        message,
        fix: if severity == Severity::Pass {
            String::new()
        } else {
            fix.to_owned()
        },
    }
}

/// Containers failing `bad`, as one comma-separated list.
fn failing(w: &WorkloadSpec, bad: impl Fn(&ContainerSpec) -> bool) -> Vec<&str> {
    w.containers
        .iter()
        .filter(|c| bad(c))
        .map(|c| c.name.as_str())
        .collect()
}

fn same(a: Option<&String>, b: Option<&String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            matches!((quantity::parse(a), quantity::parse(b)), (Ok(x), Ok(y)) if (x - y).abs() < 1e-9)
        }
        _ => false,
    }
}

/// Every check on a workload, the failing ones first.
pub fn findings(w: &WorkloadSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    // `what` says what every container has when the check passes, `lacks` what the named
    // containers are missing when it does not.
    let check = |check: &str,
                 bad: Vec<&str>,
                 severity: Severity,
                 (what, lacks): (&str, &str),
                 fix: &str| {
        if bad.is_empty() {
            finding(
                check,
                Severity::Pass,
                format!("every container has {what}"),
                fix,
            )
        } else {
            let whose = if bad.len() == 1 {
                format!("container {}", bad.join(""))
            } else {
                format!("containers {}", bad.join(", "))
            };
            finding(check, severity, format!("{whose}: {lacks}"), fix)
        }
    };
    out.push(check(
        "image-tag",
        failing(w, |c| matches!(image_tag(&c.image), None | Some("latest"))),
        Severity::Danger,
        ("a pinned image tag", "image tag is `latest` or missing"),
        "pin a version tag (or a digest) instead of `latest` or no tag",
    ));
    out.push(check(
        "readiness-probe",
        failing(w, |c| !c.readiness_probe),
        Severity::Warn,
        ("a readiness probe", "no readiness probe"),
        "add a readinessProbe so traffic waits until the pod can serve",
    ));
    out.push(check(
        "liveness-probe",
        failing(w, |c| !c.liveness_probe),
        Severity::Warn,
        ("a liveness probe", "no liveness probe"),
        "add a livenessProbe so a hung container is restarted",
    ));
    out.push(check(
        "resources",
        failing(w, |c| {
            ["cpu", "memory"]
                .iter()
                .any(|r| !c.requests.contains_key(*r) || !c.limits.contains_key(*r))
        }),
        Severity::Danger,
        (
            "CPU and memory requests and limits",
            "CPU or memory requests or limits missing",
        ),
        "set resources.requests and resources.limits for cpu and memory",
    ));
    if w.expects_guaranteed {
        out.push(check(
            "guaranteed-qos",
            failing(w, |c| {
                ["cpu", "memory"]
                    .iter()
                    .any(|r| !same(c.requests.get(*r), c.limits.get(*r)))
            }),
            Severity::Warn,
            (
                "requests equal to limits (Guaranteed QoS)",
                "requests differ from limits (not Guaranteed QoS)",
            ),
            "set requests equal to limits: this namespace expects Guaranteed QoS",
        ));
    }
    match w.replicas {
        Some(n) if n > 1 => {
            out.push(finding(
                "disruption-budget",
                if w.has_pdb {
                    Severity::Pass
                } else {
                    Severity::Warn
                },
                if w.has_pdb {
                    "a PodDisruptionBudget covers it".to_owned()
                } else {
                    format!("{n} replicas and no PodDisruptionBudget")
                },
                "add a PodDisruptionBudget (e.g. maxUnavailable: 1) so drains keep it serving",
            ));
            out.push(finding(
                "spread",
                if w.spreads {
                    Severity::Pass
                } else {
                    Severity::Warn
                },
                if w.spreads {
                    "pods spread across nodes".to_owned()
                } else {
                    format!("{n} replicas may all land on one node")
                },
                "add pod anti-affinity or a topologySpreadConstraint across nodes",
            ));
            out.push(finding(
                "replicas",
                Severity::Pass,
                format!("{n} replicas"),
                "",
            ));
        }
        Some(n) => out.push(finding(
            "replicas",
            Severity::Warn,
            format!("{n} replica: a restart or a node drain takes it down"),
            "run at least two replicas",
        )),
        None => {}
    }
    out.sort_by_key(|f| f.severity);
    out
}

/// The score of a set of findings (a workload's, a namespace's): 100 when everything passes.
pub fn score(findings: &[Finding]) -> u32 {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count() as f64;
    let (pass, warn, danger) = (
        count(Severity::Pass),
        count(Severity::Warn),
        count(Severity::Danger),
    );
    let total = 2.0 * pass + warn + 2.0 * danger;
    if total == 0.0 {
        return 100;
    }
    (2.0 * pass / total * 100.0).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::pairs as map;

    fn good() -> WorkloadSpec {
        WorkloadSpec {
            replicas: Some(3),
            containers: vec![ContainerSpec {
                name: "app".to_owned(),
                image: "registry.example.com:5000/shop/web:1.4.2".to_owned(),
                readiness_probe: true,
                liveness_probe: true,
                requests: map(&[("cpu", "500m"), ("memory", "256Mi")]),
                limits: map(&[("cpu", "0.5"), ("memory", "256Mi")]),
            }],
            has_pdb: true,
            spreads: true,
            expects_guaranteed: true,
        }
    }

    #[test]
    fn a_well_made_workload_passes_every_check() {
        let all = findings(&good());
        assert!(all.iter().all(|f| f.severity == Severity::Pass), "{all:?}");
        assert_eq!(all.len(), 8);
        assert_eq!(score(&all), 100);
    }

    #[test]
    fn image_tags_latest_missing_and_registry_ports() {
        assert_eq!(image_tag("nginx"), None);
        assert_eq!(image_tag("nginx:latest"), Some("latest"));
        assert_eq!(image_tag("host:5000/nginx"), None, "a port is no tag");
        assert_eq!(image_tag("host:5000/nginx:1.27"), Some("1.27"));
        assert_eq!(image_tag("nginx@sha256:abc"), Some("digest"));
    }

    #[test]
    fn each_rule_names_the_container_and_its_fix() {
        let mut w = good();
        w.containers[0].image = "web:latest".to_owned();
        w.containers[0].liveness_probe = false;
        w.containers[0].limits.remove("memory");
        w.has_pdb = false;
        let all = findings(&w);
        let failing: Vec<(&str, Severity)> = all
            .iter()
            .filter(|f| f.severity != Severity::Pass)
            .map(|f| (f.check.as_str(), f.severity))
            .collect();
        assert_eq!(
            failing,
            [
                ("image-tag", Severity::Danger),
                ("resources", Severity::Danger),
                ("liveness-probe", Severity::Warn),
                ("guaranteed-qos", Severity::Warn),
                ("disruption-budget", Severity::Warn),
            ]
        );
        assert_eq!(
            all[0].message, "container app: image tag is `latest` or missing",
            "{:?}",
            all[0]
        );
        assert!(all[0].fix.contains("pin a version tag"));
        // 3 pass, 3 warn, 2 danger: 6 / (6 + 3 + 4).
        assert_eq!(score(&all), 46);
    }

    #[test]
    fn one_replica_is_a_warning_and_daemon_sets_skip_replica_rules() {
        let single = WorkloadSpec {
            replicas: Some(1),
            has_pdb: false,
            spreads: false,
            ..good()
        };
        let all = findings(&single);
        let replicas = all
            .iter()
            .find(|f| f.check == "replicas")
            .expect("replicas");
        assert_eq!(replicas.severity, Severity::Warn);
        assert!(all.iter().all(|f| f.check != "disruption-budget"));
        let daemon = WorkloadSpec {
            replicas: None,
            ..good()
        };
        assert!(findings(&daemon).iter().all(|f| f.check != "replicas"));
    }

    #[test]
    fn guaranteed_qos_is_checked_only_where_the_namespace_expects_it() {
        let mut w = good();
        w.expects_guaranteed = false;
        w.containers[0]
            .limits
            .insert("cpu".to_owned(), "2".to_owned());
        assert!(findings(&w).iter().all(|f| f.check != "guaranteed-qos"));
        w.expects_guaranteed = true;
        let qos = findings(&w)
            .into_iter()
            .find(|f| f.check == "guaranteed-qos")
            .expect("checked");
        assert_eq!(qos.severity, Severity::Warn);
    }
}
