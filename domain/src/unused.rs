//! Objects nothing uses, for the idle report: ConfigMaps and Secrets that no pod template,
//! service account or Ingress refers to; claims no pod mounts; released or unclaimed volumes;
//! Jobs finished long ago; CronJobs that keep long histories; Services without endpoints.
//!
//! The naive check ("no running pod mentions it") cries wolf; these rules step around the
//! known traps: templates of workloads scaled to zero still refer; optional references are
//! references; service-account tokens, Helm release state, `kube-root-ca.crt` and anything a
//! controller owns are managed by someone else; image-pull secrets and Ingress TLS secrets
//! are used without a pod naming them; StatefulSet claims stay while their ordinal can come
//! back; ExternalName Services never have endpoints; new objects get a grace period.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Days an object must exist by default before it can be called unused (a rollout may be on
/// its way).
pub const GRACE_DAYS: f64 = 2.0;
/// Days after finishing that a Job without a TTL counts as left behind.
pub const JOB_DAYS: f64 = 7.0;
/// History limits above this keep more finished Jobs than anyone reads.
pub const MAX_HISTORY: i32 = 10;

/// What one pod template refers to (of a pod, Deployment, StatefulSet, DaemonSet, Job or
/// CronJob, at any replica count), flattened: volumes, projected volumes, `env` and `envFrom`
/// of containers and init containers, image-pull secrets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateRefs {
    pub namespace: String,
    pub config_maps: Vec<String>,
    pub secrets: Vec<String>,
    pub claims: Vec<String>,
    pub service_account: Option<String>,
}

/// A ServiceAccount's own references.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceAccountRefs {
    pub namespace: String,
    pub name: String,
    pub secrets: Vec<String>,
    pub image_pull_secrets: Vec<String>,
}

/// Everything that counts as a use, by namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uses {
    config_maps: BTreeSet<(String, String)>,
    secrets: BTreeSet<(String, String)>,
    claims: BTreeSet<(String, String)>,
}

impl Uses {
    /// Gathers the uses: templates (with the secrets of the service accounts they run as),
    /// every service account's image-pull secrets, and Ingress TLS secrets (namespace, name).
    pub fn gather(
        templates: &[TemplateRefs],
        accounts: &[ServiceAccountRefs],
        ingress_tls: &[(String, String)],
    ) -> Uses {
        let mut uses = Uses::default();
        for t in templates {
            let ns = &t.namespace;
            uses.config_maps
                .extend(t.config_maps.iter().map(|n| (ns.clone(), n.clone())));
            uses.secrets
                .extend(t.secrets.iter().map(|n| (ns.clone(), n.clone())));
            uses.claims
                .extend(t.claims.iter().map(|n| (ns.clone(), n.clone())));
            let account = t.service_account.as_deref().unwrap_or("default");
            for a in accounts
                .iter()
                .filter(|a| &a.namespace == ns && a.name == account)
            {
                uses.secrets
                    .extend(a.secrets.iter().map(|n| (ns.clone(), n.clone())));
            }
        }
        for a in accounts {
            // Pulling images for any pod of the account: used whether or not a pod runs now.
            uses.secrets.extend(
                a.image_pull_secrets
                    .iter()
                    .map(|n| (a.namespace.clone(), n.clone())),
            );
        }
        uses.secrets.extend(ingress_tls.iter().cloned());
        uses
    }

    /// Whether something refers to the ConfigMap, Secret or claim `namespace/name` of `kind`
    /// (other kinds: never).
    pub fn refers_to(&self, kind: &str, namespace: &str, name: &str) -> bool {
        let key = (namespace.to_owned(), name.to_owned());
        match kind {
            "ConfigMap" => self.config_maps.contains(&key),
            "Secret" => self.secrets.contains(&key),
            "PersistentVolumeClaim" => self.claims.contains(&key),
            _ => false,
        }
    }
}

/// A ConfigMap or Secret as the check sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigObject {
    pub secret: bool,
    pub namespace: String,
    pub name: String,
    /// A Secret's `type`.
    pub secret_type: Option<String>,
    /// Some controller owns it (ownerReferences), or an operator annotates it as its own.
    pub managed: bool,
    pub age_days: u32,
}

/// Something nothing uses, and why it says so.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unused {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub reason: String,
    /// Its monthly cost where it has one (volumes), else zero.
    pub monthly_cost: f64,
    /// The object the scan saw (filled in by the scan): a delete names both as preconditions.
    pub uid: String,
    pub resource_version: String,
}

fn unused(kind: &str, namespace: &str, name: &str, reason: String, cost: f64) -> Unused {
    Unused {
        kind: kind.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        reason,
        monthly_cost: cost,
        uid: String::new(),
        resource_version: String::new(),
    }
}

/// Secret types Kubernetes or a tool manages for itself.
pub const MANAGED_SECRET_TYPES: [&str; 3] = [
    "kubernetes.io/service-account-token",
    "helm.sh/release.v1",
    "bootstrap.kubernetes.io/token",
];

/// ConfigMaps and Secrets that nothing uses, older than `grace_days`.
pub fn unused_config(objects: &[ConfigObject], uses: &Uses, grace_days: f64) -> Vec<Unused> {
    objects
        .iter()
        .filter(|o| !o.managed && f64::from(o.age_days) >= grace_days)
        .filter(|o| {
            if o.secret {
                !o.secret_type
                    .as_deref()
                    .is_some_and(|t| MANAGED_SECRET_TYPES.contains(&t))
                    && !uses
                        .secrets
                        .contains(&(o.namespace.clone(), o.name.clone()))
            } else {
                o.name != "kube-root-ca.crt"
                    && !uses
                        .config_maps
                        .contains(&(o.namespace.clone(), o.name.clone()))
            }
        })
        .map(|o| {
            let kind = if o.secret { "Secret" } else { "ConfigMap" };
            unused(
                kind,
                &o.namespace,
                &o.name,
                format!(
                    "no pod template, service account or Ingress refers to it ({} days old)",
                    o.age_days
                ),
                0.0,
            )
        })
        .collect()
}

/// A PersistentVolumeClaim as the check sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Claim {
    pub namespace: String,
    pub name: String,
    pub bytes: f64,
    pub age_days: u32,
}

/// A StatefulSet's claim templates and how many replicas it keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatefulClaims {
    pub namespace: String,
    pub name: String,
    pub templates: Vec<String>,
    pub replicas: u32,
}

/// Claims no template mounts. A StatefulSet's `<template>-<set>-<ordinal>` claim is in use
/// while the ordinal is below its replicas; above, it is a scale-down leftover (kept by
/// Kubernetes on purpose, so flagged with that reason).
pub fn unused_claims(
    claims: &[Claim],
    uses: &Uses,
    sets: &[StatefulClaims],
    storage_gib_month: f64,
    grace_days: f64,
) -> Vec<Unused> {
    let gib = 1024.0 * 1024.0 * 1024.0;
    claims
        .iter()
        .filter(|c| f64::from(c.age_days) >= grace_days)
        .filter(|c| !uses.claims.contains(&(c.namespace.clone(), c.name.clone())))
        .filter_map(|c| {
            let ordinal_of = |set: &StatefulClaims| {
                set.templates.iter().find_map(|t| {
                    c.name
                        .strip_prefix(&format!("{t}-{}-", set.name))
                        .and_then(|n| n.parse::<u32>().ok())
                })
            };
            let owner = sets
                .iter()
                .filter(|s| s.namespace == c.namespace)
                .find_map(|s| ordinal_of(s).map(|o| (s, o)));
            let reason = match owner {
                Some((set, ordinal)) if ordinal < set.replicas => return None,
                Some((set, ordinal)) => format!(
                    "left by scaling StatefulSet {} down to {} (ordinal {ordinal})",
                    set.name, set.replicas
                ),
                None => "no pod or workload mounts it".to_owned(),
            };
            let cost = c.bytes / gib * storage_gib_month;
            Some(unused(
                "PersistentVolumeClaim",
                &c.namespace,
                &c.name,
                reason,
                cost,
            ))
        })
        .collect()
}

/// A PersistentVolume as the check sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Volume {
    pub name: String,
    /// `Available`, `Bound`, `Released`, `Failed`.
    pub phase: String,
    pub bytes: f64,
    pub age_days: u32,
}

/// Volumes released by their claim (and kept by a Retain policy) or never claimed.
pub fn unused_volumes(volumes: &[Volume], storage_gib_month: f64, grace_days: f64) -> Vec<Unused> {
    let gib = 1024.0 * 1024.0 * 1024.0;
    volumes
        .iter()
        .filter(|v| f64::from(v.age_days) >= grace_days)
        .filter_map(|v| {
            let reason = match v.phase.as_str() {
                "Released" => "released by its claim and kept (reclaim policy Retain)",
                "Available" => "never claimed",
                "Failed" => "failed to be reclaimed",
                _ => return None,
            };
            Some(unused(
                "PersistentVolume",
                "",
                &v.name,
                reason.to_owned(),
                v.bytes / gib * storage_gib_month,
            ))
        })
        .collect()
}

/// A Job as the check sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobInfo {
    pub namespace: String,
    pub name: String,
    /// Days since it completed or failed; `None` while it runs.
    pub finished_days: Option<f64>,
    pub failed: bool,
    /// A CronJob owns it (its history limits clean it up).
    pub from_cron_job: bool,
    /// `ttlSecondsAfterFinished` is set (Kubernetes deletes it).
    pub has_ttl: bool,
}

/// Jobs finished over [`JOB_DAYS`] ago that nothing will clean up.
pub fn left_behind_jobs(jobs: &[JobInfo]) -> Vec<Unused> {
    jobs.iter()
        .filter(|j| !j.from_cron_job && !j.has_ttl)
        .filter_map(|j| {
            let days = j.finished_days.filter(|d| *d >= JOB_DAYS)?;
            let how = if j.failed { "failed" } else { "completed" };
            Some(unused(
                "Job",
                &j.namespace,
                &j.name,
                format!("{how} {days:.0} days ago; set ttlSecondsAfterFinished or delete it"),
                0.0,
            ))
        })
        .collect()
}

/// CronJobs whose history limits keep more than [`MAX_HISTORY`] finished Jobs.
pub fn long_history_cron_jobs(cron_jobs: &[(String, String, i32, i32)]) -> Vec<Unused> {
    cron_jobs
        .iter()
        .filter(|(_, _, ok, failed)| *ok > MAX_HISTORY || *failed > MAX_HISTORY)
        .map(|(ns, name, ok, failed)| {
            unused(
                "CronJob",
                ns,
                name,
                format!("keeps {ok} successful and {failed} failed Jobs; the defaults are 3 and 1"),
                0.0,
            )
        })
        .collect()
}

/// A Service as the check sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceInfo {
    pub namespace: String,
    pub name: String,
    /// `ClusterIP`, `NodePort`, `LoadBalancer`, `ExternalName`.
    pub service_type: String,
    /// Ready addresses in its Endpoints (selector-less Services have hand-made ones).
    pub ready_endpoints: u32,
    pub age_days: u32,
}

/// Services that route to nothing. ExternalName Services have no endpoints by design.
pub fn services_without_endpoints(services: &[ServiceInfo], grace_days: f64) -> Vec<Unused> {
    services
        .iter()
        .filter(|s| s.service_type != "ExternalName")
        .filter(|s| s.ready_endpoints == 0 && f64::from(s.age_days) >= grace_days)
        .map(|s| {
            let cost_note = if s.service_type == "LoadBalancer" {
                " (a load balancer is billed while it waits)"
            } else {
                ""
            };
            unused(
                "Service",
                &s.namespace,
                &s.name,
                format!("no ready endpoints{cost_note}"),
                0.0,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(secret: bool, name: &str) -> ConfigObject {
        ConfigObject {
            secret,
            namespace: "shop".to_owned(),
            name: name.to_owned(),
            secret_type: secret.then(|| "Opaque".to_owned()),
            managed: false,
            age_days: 30,
        }
    }

    fn names(found: &[Unused]) -> Vec<&str> {
        found.iter().map(|u| u.name.as_str()).collect()
    }

    #[test]
    fn config_maps_and_secrets_count_every_kind_of_reference() {
        let templates = [
            // A Deployment scaled to zero still refers: its template is what counts.
            TemplateRefs {
                namespace: "shop".to_owned(),
                config_maps: vec!["web-config".to_owned(), "optional-flags".to_owned()],
                secrets: vec!["db-password".to_owned()],
                claims: vec![],
                service_account: Some("web".to_owned()),
            },
        ];
        let accounts = [ServiceAccountRefs {
            namespace: "shop".to_owned(),
            name: "web".to_owned(),
            secrets: vec!["web-token-legacy".to_owned()],
            image_pull_secrets: vec!["registry".to_owned()],
        }];
        let tls = [("shop".to_owned(), "shop-tls".to_owned())];
        let uses = Uses::gather(&templates, &accounts, &tls);
        let mut sa_token = config(true, "default-token-x");
        sa_token.secret_type = Some("kubernetes.io/service-account-token".to_owned());
        let mut helm = config(true, "sh.helm.release.v1.shop.v3");
        helm.secret_type = Some("helm.sh/release.v1".to_owned());
        let mut owned = config(true, "operator-state");
        owned.managed = true;
        let mut fresh = config(false, "coming-soon");
        fresh.age_days = 1;
        let other_namespace = ConfigObject {
            namespace: "ops".to_owned(),
            ..config(false, "web-config")
        };
        let objects = [
            config(false, "web-config"),
            config(false, "optional-flags"),
            config(false, "kube-root-ca.crt"),
            config(false, "old-settings"),
            config(true, "db-password"),
            config(true, "web-token-legacy"),
            config(true, "registry"),
            config(true, "shop-tls"),
            config(true, "forgotten"),
            sa_token,
            helm,
            owned,
            fresh,
            other_namespace,
        ];
        let found = unused_config(&objects, &uses, GRACE_DAYS);
        assert_eq!(names(&found), ["old-settings", "forgotten", "web-config"]);
        assert_eq!(found[2].namespace, "ops", "a reference is per namespace");
        assert_eq!(found[1].kind, "Secret");
    }

    #[test]
    fn stateful_set_claims_stay_while_their_ordinal_can_return() {
        let uses = Uses::gather(
            &[TemplateRefs {
                namespace: "db".to_owned(),
                claims: vec!["scratch".to_owned()],
                ..TemplateRefs::default()
            }],
            &[],
            &[],
        );
        let set = StatefulClaims {
            namespace: "db".to_owned(),
            name: "pg".to_owned(),
            templates: vec!["data".to_owned()],
            replicas: 2,
        };
        let claim = |name: &str| Claim {
            namespace: "db".to_owned(),
            name: name.to_owned(),
            bytes: 10.0 * 1024.0 * 1024.0 * 1024.0,
            age_days: 10,
        };
        let claims = [
            claim("data-pg-0"),
            claim("data-pg-1"),
            claim("data-pg-2"),
            claim("scratch"),
            claim("orphan"),
        ];
        let found = unused_claims(&claims, &uses, &[set], 0.04, GRACE_DAYS);
        assert_eq!(names(&found), ["data-pg-2", "orphan"]);
        assert!(found[0].reason.contains("scaling StatefulSet pg down to 2"));
        assert!((found[1].monthly_cost - 0.4).abs() < 1e-9);
    }

    #[test]
    fn released_and_unclaimed_volumes_are_found() {
        let v = |name: &str, phase: &str| Volume {
            name: name.to_owned(),
            phase: phase.to_owned(),
            bytes: 1024.0 * 1024.0 * 1024.0,
            age_days: 5,
        };
        let found = unused_volumes(
            &[v("a", "Bound"), v("b", "Released"), v("c", "Available")],
            0.04,
            GRACE_DAYS,
        );
        assert_eq!(names(&found), ["b", "c"]);
    }

    #[test]
    fn only_jobs_nobody_cleans_up_are_left_behind() {
        let job = |name: &str, days: Option<f64>| JobInfo {
            namespace: "shop".to_owned(),
            name: name.to_owned(),
            finished_days: days,
            ..JobInfo::default()
        };
        let jobs = [
            job("old", Some(30.0)),
            job("recent", Some(2.0)),
            job("running", None),
            JobInfo {
                from_cron_job: true,
                ..job("nightly-123", Some(30.0))
            },
            JobInfo {
                has_ttl: true,
                ..job("self-cleaning", Some(30.0))
            },
            JobInfo {
                failed: true,
                ..job("broken", Some(9.0))
            },
        ];
        let found = left_behind_jobs(&jobs);
        assert_eq!(names(&found), ["old", "broken"]);
        assert!(found[1].reason.starts_with("failed 9 days ago"));
        let cron = long_history_cron_jobs(&[
            ("shop".to_owned(), "nightly".to_owned(), 3, 1),
            ("shop".to_owned(), "hoarder".to_owned(), 100, 1),
        ]);
        assert_eq!(names(&cron), ["hoarder"]);
    }

    #[test]
    fn external_names_never_lack_endpoints() {
        let s = |name: &str, kind: &str, ready: u32| ServiceInfo {
            namespace: "shop".to_owned(),
            name: name.to_owned(),
            service_type: kind.to_owned(),
            ready_endpoints: ready,
            age_days: 10,
        };
        let found = services_without_endpoints(
            &[
                s("web", "ClusterIP", 3),
                s("dead", "ClusterIP", 0),
                s("lb", "LoadBalancer", 0),
                s("partner", "ExternalName", 0),
            ],
            GRACE_DAYS,
        );
        assert_eq!(names(&found), ["dead", "lb"]);
        assert!(found[1].reason.contains("billed"));
    }
}
