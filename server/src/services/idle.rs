//! The idle-resource report: rightsizing from usage history (VPA's recommender), abandoned
//! and scaled-to-zero workloads, empty or expiring namespaces, stranded node capacity — for
//! the teams the viewer may see — and acting on a finding, recomputed on the server.

use app::failure::Failure;
use domain::audit::{NewEvent, Outcome};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::cluster::pod::ResourceList;
use crate::cluster::template::CachedTemplate;
use domain::authz::{Action, Decision, Target, decide};
use domain::identity::{CurrentUser, RequestOrigin};
use domain::idle::findings::{self, Owner};
use domain::idle::{IdleAction, IdleFinding, IdleReport, Resources};
use domain::rollout::{WorkloadAction, WorkloadKind, WorkloadRef};
use domain::tenancy::{ANNOTATION_CONTACT, ANNOTATION_EXPIRES, LABEL_TEAM};

use super::cost::cost_scope;
use super::{ServiceError, Services, now_unix};
use crate::store::cost::{ContainerUsage, TeamScope, WorkloadDay};

use domain::idle::{ABANDONED_DAYS, HISTORY_DAYS};

/// The workload days the abandoned check reads.
const RECENT_DAYS: i64 = ABANDONED_DAYS as i64 + 1;
/// How often each replica checks whether the idle report's usage must be computed again.
const WARM_EVERY: Duration = Duration::from_secs(60);

/// A workload as the cache holds it: replicas and each container's resources.
struct Workload {
    replicas: f64,
    containers: HashMap<String, Resources>,
    /// When a Deployment last changed (its Progressing condition), unix seconds.
    last_change: Option<i64>,
}

fn resources(template: &CachedTemplate) -> HashMap<String, Resources> {
    let q =
        |m: &ResourceList, key: &str| m.get(key).and_then(|v| domain::quantity::parse(&v.0).ok());
    template
        .containers
        .iter()
        .map(|c| {
            let requests = &c.resources.requests;
            let limits = &c.resources.limits;
            (
                c.name.clone(),
                Resources {
                    cpu_request: q(requests, "cpu"),
                    memory_request: q(requests, "memory"),
                    cpu_limit: q(limits, "cpu"),
                    memory_limit: q(limits, "memory"),
                },
            )
        })
        .collect()
}

fn kind_of(owner_kind: &str) -> Option<WorkloadKind> {
    match owner_kind {
        "Deployment" => Some(WorkloadKind::Deployment),
        "StatefulSet" => Some(WorkloadKind::StatefulSet),
        "DaemonSet" => Some(WorkloadKind::DaemonSet),
        _ => None,
    }
}

/// One cluster's side of the idle report: its objects as cached, and its history.
struct ClusterFacts<'a> {
    caches: &'a crate::cluster::cache::Caches,
    actor: &'a domain::authz::Actor,
    now: i64,
    rates: domain::cost::Rates,
    usage: Vec<&'a ContainerUsage>,
    days: Vec<&'a WorkloadDay>,
}

impl ClusterFacts<'_> {
    /// The cluster's findings about namespaces and workloads the actor may see, and those
    /// namespaces' owners.
    fn findings(&self) -> (Vec<IdleFinding>, HashMap<String, Owner>) {
        let mut visible: HashMap<String, Owner> = HashMap::new();
        let mut pods_in: HashMap<String, usize> = HashMap::new();
        for pod in self.caches.pods.state() {
            if let Some(ns) = &pod.metadata.namespace {
                *pods_in.entry(ns.clone()).or_default() += 1;
            }
        }
        let mut findings = Vec::new();
        for ns in self.caches.namespaces.state() {
            let Some(name) = ns.metadata.name.clone() else {
                continue;
            };
            let team = ns
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_TEAM).cloned());
            let target = team.as_deref().map(Target::team).unwrap_or_default();
            if team.is_none() || !decide(self.actor, Action::ViewCost, &target).allowed() {
                continue;
            }
            let annotations = ns.metadata.annotations.clone().unwrap_or_default();
            let info = Owner {
                contact: annotations.get(ANNOTATION_CONTACT).cloned(),
                can_act: decide(self.actor, Action::ActOnWorkloads, &target).allowed(),
                team,
            };
            // Namespaces: empty ones, and those expired or about to.
            let expires = annotations
                .get(ANNOTATION_EXPIRES)
                .and_then(|e| e.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_second());
            let pods = pods_in.get(&name).copied().unwrap_or(0);
            findings.extend(findings::namespace(&name, pods, expires, self.now, &info));
            visible.insert(name, info);
        }

        let mut workloads: HashMap<(WorkloadKind, String, String), Workload> = HashMap::new();
        let key = |kind, ns: &Option<String>, name: &Option<String>| {
            Some((kind, ns.clone()?, name.clone()?))
        };
        for d in self.caches.deployments.state() {
            if let Some(k) = key(
                WorkloadKind::Deployment,
                &d.metadata.namespace,
                &d.metadata.name,
            )
            .filter(|k| visible.contains_key(&k.1))
            {
                let last_change = d
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .and_then(|cs| {
                        cs.iter()
                            .find(|c| c.type_.as_deref() == Some("Progressing"))
                    })
                    .and_then(|c| c.last_update_time.as_ref())
                    .map(|t| t.0.as_second());
                workloads.insert(
                    k,
                    Workload {
                        replicas: f64::from(d.spec.replicas.unwrap_or(1)),
                        containers: resources(&d.spec.template),
                        last_change,
                    },
                );
            }
        }
        for s in self.caches.stateful_sets.state() {
            if let Some(k) = key(
                WorkloadKind::StatefulSet,
                &s.metadata.namespace,
                &s.metadata.name,
            )
            .filter(|k| visible.contains_key(&k.1))
            {
                let namespace = k.1.clone();
                workloads.insert(
                    k,
                    Workload {
                        replicas: f64::from(s.spec.replicas.unwrap_or(1)),
                        containers: resources(&CachedTemplate::of(&namespace, &s.spec.template)),
                        last_change: None,
                    },
                );
            }
        }
        for d in self.caches.daemon_sets.state() {
            if let Some(k) = key(
                WorkloadKind::DaemonSet,
                &d.metadata.namespace,
                &d.metadata.name,
            )
            .filter(|k| visible.contains_key(&k.1))
            {
                let scheduled = d.status.as_ref().map_or(0, |s| s.desired_number_scheduled);
                let namespace = k.1.clone();
                workloads.insert(
                    k,
                    Workload {
                        replicas: f64::from(scheduled),
                        containers: resources(&CachedTemplate::of(&namespace, &d.spec.template)),
                        last_change: None,
                    },
                );
            }
        }

        // Over-provisioned containers: what VPA would recommend against what they ask now.
        for usage in &self.usage {
            let Some(kind) = kind_of(&usage.owner_kind) else {
                continue;
            };
            let k = (kind, usage.namespace.clone(), usage.owner_name.clone());
            let (Some(w), Some(info)) = (workloads.get(&k), visible.get(&usage.namespace)) else {
                continue;
            };
            let Some(now_resources) = w.containers.get(&usage.container) else {
                continue;
            };
            let facts = findings::ContainerFacts {
                namespace: &usage.namespace,
                kind: kind.as_str(),
                workload: &usage.owner_name,
                container: &usage.container,
                replicas: w.replicas,
                current: *now_resources,
                usage: &usage.stats,
            };
            findings.extend(findings::over_provisioned_container(
                &facts,
                &self.rates,
                info,
            ));
        }

        // Abandoned: next to no CPU on each of the last days, still running.
        let mut days: BTreeMap<(String, String, String), Vec<&WorkloadDay>> = BTreeMap::new();
        for d in &self.days {
            days.entry((
                d.namespace.clone(),
                d.owner_kind.clone(),
                d.owner_name.clone(),
            ))
            .or_default()
            .push(*d);
        }
        for ((namespace, owner_kind, owner_name), per_day) in days {
            let Some(kind) = kind_of(&owner_kind).filter(|k| *k != WorkloadKind::DaemonSet) else {
                continue;
            };
            let k = (kind, namespace.clone(), owner_name.clone());
            let (Some(w), Some(info)) = (workloads.get(&k), visible.get(&namespace)) else {
                continue;
            };
            let per_day: Vec<findings::WorkloadDay> = per_day
                .iter()
                .map(|d| findings::WorkloadDay {
                    cpu: d.cpu,
                    cpu_request: d.cpu_request,
                    cpu_alloc: d.cpu_alloc,
                    memory_alloc: d.memory_alloc,
                })
                .collect();
            findings.extend(findings::abandoned_workload(
                &namespace,
                &owner_kind,
                &owner_name,
                w.replicas,
                &per_day,
                &self.rates,
                info,
            ));
        }

        // Scaled to zero and left so for a week.
        for ((kind, namespace, name), w) in &workloads {
            let Some(info) = visible.get(namespace) else {
                continue;
            };
            if *kind == WorkloadKind::Deployment {
                findings.extend(findings::scaled_to_zero(
                    namespace,
                    name,
                    w.replicas,
                    w.last_change,
                    self.now,
                    info,
                ));
            }
        }
        (findings, visible)
    }
}

impl Services {
    /// Keeps the idle report's usage answer current in this process (see
    /// [`super::usage_memo::UsageMemo::keep_warm`]); runs until aborted.
    pub async fn keep_idle_usage_warm(&self) {
        self.usage_memo
            .keep_warm(self.store().clone(), HISTORY_DAYS, RECENT_DAYS, WARM_EVERY)
            .await;
    }

    /// The idle report for `user`: their teams' findings (managers and admins: every team's).
    pub async fn idle_report(&self, user: &CurrentUser) -> Result<IdleReport, ServiceError> {
        let scope = cost_scope(user);
        let teams = match scope {
            None => TeamScope::All,
            Some(t) => TeamScope::Teams(t),
        };
        let now = now_unix();
        let prices = self.store().prices().await?;
        let home = self.fleet().home().name().to_owned();
        // The home cluster's caches are waited for; another's are read as they stand once
        // filled (one down keeps its last lists), never waited on.
        self.cached().await?;
        let actor = user.actor();
        // Nodes (stranded capacity) and cluster-wide volumes are for those who may see them.
        let sees_cluster = decide(&actor, Action::ViewCapacity, &Target::default()).allowed();
        let (usage_rows, day_rows) = self
            .usage_memo
            .get(self.store(), now, HISTORY_DAYS, RECENT_DAYS)
            .await?
            .for_teams(teams);
        // What the last scans found nothing uses, by cluster key.
        let mut unused: HashMap<String, Vec<domain::unused::Unused>> = HashMap::new();
        for (key, u) in self.store().unused_objects().await? {
            unused.entry(key).or_default().push(u);
        }
        let mut findings = Vec::new();
        let mut clusters = Vec::new();
        for member in self.fleet().members() {
            if !member.caches.check().ok {
                continue;
            }
            let is_home = member.name() == home;
            // History is keyed by the cluster's storage key: a workload is matched to its own
            // cluster's usage only.
            let key = self.fleet().storage_key(member.name());
            let facts = ClusterFacts {
                caches: &member.caches,
                actor: &actor,
                now,
                // Per-cluster prices: an override naming the cluster alone prices its findings.
                rates: prices.rates_for(member.name(), &BTreeMap::new()),
                usage: usage_rows.iter().filter(|u| u.cluster == key).collect(),
                days: day_rows.iter().filter(|d| d.cluster == key).collect(),
            };
            let (mut found, seen) = facts.findings();
            // Stranded capacity, for those who may see the nodes: by the cluster's own
            // median pod, at its rates.
            if sees_cluster {
                for node in super::quota::capacity_of(&member.caches).nodes {
                    found.extend(findings::stranded_node(
                        &node.name,
                        node.stranded_cpu,
                        node.stranded_memory,
                        &facts.rates,
                    ));
                }
            }
            // What nothing uses: namespaced objects for their teams, volumes (cluster-wide)
            // for those who may see the nodes.
            for u in unused.remove(key).into_iter().flatten() {
                let info = seen.get(&u.namespace);
                if info.is_none() && !(u.namespace.is_empty() && sees_cluster) {
                    continue;
                }
                found.push(findings::unused_object(
                    &u.kind,
                    &u.namespace,
                    &u.name,
                    &u.reason,
                    u.monthly_cost,
                    info,
                ));
            }
            domain::idle::on_cluster(&mut found, member.name(), is_home);
            findings.extend(found);
            if is_home {
                clusters.insert(0, member.name().to_owned());
            } else {
                clusters.push(member.name().to_owned());
            }
        }
        let scanned = self.store().unused_scanned_at().await?;
        let mut report = domain::idle::report(findings, scanned);
        report.clusters = clusters;
        Ok(report)
    }

    /// Acts on finding `id` as the report computes it now for `user` (never on what a page
    /// sent): applies a recommendation or scales to zero, through the audited workload actions.
    pub async fn act_on_idle(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: &str,
    ) -> Result<String, ServiceError> {
        let report = self.idle_report(user).await?;
        let finding = report
            .findings
            .into_iter()
            .find(|f| f.id == id)
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "no finding {id:?} for you now: it may be resolved already"
                ))
            })?;
        // Each path checks the policy itself and audits a refusal.
        let action = match &finding.action {
            IdleAction::Delete => return self.delete_unused(user, origin, &finding).await,
            IdleAction::Advice(what) => return Err(ServiceError::BadInput(what.clone())),
            IdleAction::ApplyRecommendation { container, patch } => WorkloadAction::SetResources {
                container: container.clone(),
                resources: patch.clone(),
            },
            IdleAction::ScaleToZero => WorkloadAction::Scale { replicas: 0 },
        };
        let (kind, name) = finding
            .workload
            .split_once('/')
            .and_then(|(k, n)| Some((kind_of(k)?, n.to_owned())))
            .ok_or_else(|| {
                ServiceError::BadInput(format!("nothing to apply for {}", finding.summary))
            })?;
        // On the finding's own cluster (empty: the home cluster).
        let target = WorkloadRef {
            cluster: finding.cluster.clone(),
            kind,
            namespace: finding.namespace.clone(),
            name,
        };
        self.act_on_workload(user, origin, &target, action).await
    }
}

impl Services {
    /// Deletes an object the scan found unused, audited: the intent, then the outcome.
    async fn delete_unused(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        finding: &IdleFinding,
    ) -> Result<String, ServiceError> {
        use k8s_openapi::api::batch::v1::{CronJob, Job};
        use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret};
        use kube::api::DeleteParams;

        let (kind, name) = finding
            .workload
            .split_once('/')
            .ok_or_else(|| ServiceError::BadInput("nothing to delete".to_owned()))?;
        let ns = finding.namespace.as_str();
        // On the finding's own cluster (empty: the home cluster), whose rows carry its key.
        let member = self.member(&finding.cluster)?;
        let key = finding.cluster.as_str();
        let mut audit = NewEvent::by(Some(user), origin, "object.delete", Outcome::Requested)
            .on_cluster(member.name());
        audit.target_kind = kind.to_owned();
        audit.target_namespace = ns.to_owned();
        audit.target_name = name.to_owned();
        audit.before = Some(serde_json::json!({ "reason": finding.summary }));
        let target = finding
            .team
            .as_deref()
            .map(Target::team)
            .unwrap_or_default();
        if let Decision::Deny(why) = decide(&user.actor(), Action::ActOnWorkloads, &target) {
            audit.set_outcome(Outcome::Denied);
            self.store().record(&audit).await?;
            return Err(ServiceError::Forbidden(why));
        }
        // The scan may be minutes old: delete only the very object it saw (uid and
        // resourceVersion as preconditions), and only if nothing refers to it now.
        let (uid, version) = self
            .store()
            .unused_version(key, kind, ns, name)
            .await?
            .filter(|(uid, version)| !uid.is_empty() && !version.is_empty())
            .ok_or_else(|| {
                ServiceError::Conflict(format!(
                    "{kind} {name} is not on the latest scan's list any more; nothing deleted"
                ))
            })?;
        let caches = self.cached_on(&member).await?;
        let uses = domain::unused::Uses::gather(&caches.template_refs(), &[], &[]);
        if uses.refers_to(kind, ns, name) {
            audit.set_outcome(Outcome::Failure);
            audit.after = Some(serde_json::json!({ "refused": "in use now" }));
            self.store().record(&audit).await?;
            self.store().forget_unused(key, kind, ns, name).await?;
            return Err(ServiceError::Conflict(format!(
                "{kind} {name} is in use now (a pod or workload refers to it); nothing deleted"
            )));
        }
        audit.before = Some(serde_json::json!({
            "reason": finding.summary, "uid": uid, "resource_version": version,
        }));
        self.store().record(&audit).await?;
        let params = DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                uid: Some(uid),
                resource_version: Some(version),
            }),
            ..DeleteParams::background()
        };
        let cluster = &member.cluster;
        let deleted = match kind {
            "ConfigMap" => {
                cluster
                    .delete_namespaced::<ConfigMap>(ns, name, &params)
                    .await
            }
            "Secret" => cluster.delete_namespaced::<Secret>(ns, name, &params).await,
            "PersistentVolumeClaim" => {
                cluster
                    .delete_namespaced::<PersistentVolumeClaim>(ns, name, &params)
                    .await
            }
            "Job" => cluster.delete_namespaced::<Job>(ns, name, &params).await,
            "CronJob" => {
                cluster
                    .delete_namespaced::<CronJob>(ns, name, &params)
                    .await
            }
            other => {
                return Err(ServiceError::BadInput(format!(
                    "Berth does not delete a {other}"
                )));
            }
        };
        audit.set_outcome(if deleted.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        });
        self.store().record(&audit).await?;
        if let Err(kube::Error::Api(status)) = &deleted
            && status.code == 409
        {
            // Replaced or changed since the scan: not the object the report showed.
            self.store().forget_unused(key, kind, ns, name).await?;
            return Err(ServiceError::Conflict(format!(
                "{kind} {name} changed since the scan (or was replaced); nothing deleted — the next scan looks at it again"
            )));
        }
        deleted.map_err(|e| ServiceError::Cluster(e.to_string()))?;
        self.store().forget_unused(key, kind, ns, name).await?;
        Ok(if key.is_empty() {
            format!("{kind} {name} deleted from {ns}")
        } else {
            format!("{kind} {name} deleted from {ns} on {key}")
        })
    }
}

#[async_trait::async_trait]
impl app::backend::IdleBackend for Services {
    async fn idle_report(&self, user: &CurrentUser) -> Result<IdleReport, Failure> {
        Services::idle_report(self, user)
            .await
            .map_err(Failure::from)
    }

    async fn act_on_idle(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: String,
    ) -> Result<String, Failure> {
        Services::act_on_idle(self, user, origin, &id)
            .await
            .map_err(Failure::from)
    }
}
