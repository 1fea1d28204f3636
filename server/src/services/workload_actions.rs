//! Acting on workloads from the rollouts page: restart, pause / resume, scale within quota, and
//! roll back to a revision, each as kubectl does it, authorised by the policy and audited
//! (the intent before the cluster is touched, then the outcome).

use app::failure::Failure;
use std::collections::BTreeMap;

use domain::audit::{NewEvent, Outcome};
use domain::authz::{Action, Decision, Target, decide};
use domain::identity::{CurrentUser, RequestOrigin};
use domain::replacement;
use domain::rollout::{self, WorkloadAction, WorkloadKind, WorkloadRef};
use domain::tenancy::LABEL_TEAM;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::runtime::reflector::ObjectRef;
use serde_json::json;

use super::{ServiceError, Services};
use crate::cluster::fleet::Member;
use crate::cluster::workloads::WorkloadTemplate;

/// The label the ReplicaSet controller adds to a template; a rolled-back template goes without.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

fn cluster_error(e: kube::Error) -> ServiceError {
    match e {
        kube::Error::Api(status) if status.code == 409 => ServiceError::Conflict(format!(
            "the workload changed meanwhile; look again and retry ({})",
            status.message
        )),
        kube::Error::Api(status) if status.code == 403 && status.message.contains("quota") => {
            ServiceError::BadInput(status.message)
        }
        other => ServiceError::Cluster(other.to_string()),
    }
}

/// A container's resources as the cluster holds them now (for the audit's "before"); an
/// unknown container is refused.
fn container_resources(
    template: &PodTemplateSpec,
    name: &str,
    container: &str,
) -> Result<serde_json::Value, ServiceError> {
    let found = template
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .find(|c| c.name == container)
        .ok_or_else(|| ServiceError::BadInput(format!("{name} has no container {container:?}")))?;
    Ok(json!({ "container": container, "resources": found.resources }))
}

/// Quantities by quota resource (`requests.cpu`, …).
type Amounts = BTreeMap<String, f64>;
/// A quota's hard and used amounts, as the API spells them.
type Quotas = (BTreeMap<String, String>, BTreeMap<String, String>);

/// One pod's requests by quota resource, from its template (LimitRange defaults fill gaps).
fn per_pod_requests(
    template: &PodTemplateSpec,
    defaults: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for c in template.spec.iter().flat_map(|p| p.containers.iter()) {
        let resources = c.resources.as_ref();
        for (kind, map) in [
            ("requests", resources.and_then(|r| r.requests.as_ref())),
            ("limits", resources.and_then(|r| r.limits.as_ref())),
        ] {
            for resource in ["cpu", "memory"] {
                let key = format!("{kind}.{resource}");
                let value = map
                    .and_then(|m| m.get(resource))
                    .and_then(|q| domain::quantity::parse(&q.0).ok())
                    .or_else(|| defaults.get(&key).copied())
                    .unwrap_or(0.0);
                *out.entry(key).or_default() += value;
            }
        }
    }
    out
}

/// The strategic merge patch of one container's resources, its quantities checked first.
fn resources_patch(
    container: &str,
    r: &domain::idle::ResourcePatch,
) -> Result<serde_json::Value, ServiceError> {
    let mut requests = serde_json::Map::new();
    let mut limits = serde_json::Map::new();
    for (limit, key, value) in [
        (false, "cpu", Some(&r.cpu_request)),
        (false, "memory", Some(&r.memory_request)),
        (true, "cpu", r.cpu_limit.as_ref()),
        (true, "memory", r.memory_limit.as_ref()),
    ] {
        let Some(value) = value else {
            continue;
        };
        let map = if limit { &mut limits } else { &mut requests };
        match domain::quantity::parse(value) {
            Ok(v) if v > 0.0 => {
                map.insert(key.to_owned(), json!(value));
            }
            Ok(_) => {
                return Err(ServiceError::BadInput(format!(
                    "{key} must be more than zero, not {value:?}"
                )));
            }
            Err(why) => return Err(ServiceError::BadInput(why)),
        }
    }
    let mut resources = json!({ "requests": requests });
    if !limits.is_empty() {
        resources["limits"] = json!(limits);
    }
    Ok(json!({ "spec": { "template": { "spec": { "containers": [
        { "name": container, "resources": resources }
    ]}}}}))
}

impl Services {
    /// Does `action` to the workload `target`, as `user`. The answer says what happened, in a
    /// line.
    pub async fn act_on_workload(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        target: &WorkloadRef,
        action: WorkloadAction,
    ) -> Result<String, ServiceError> {
        let (kind, namespace, name) =
            (target.kind, target.namespace.as_str(), target.name.as_str());
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 253
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        };
        if !valid(namespace) || !valid(name) {
            return Err(ServiceError::BadInput(format!(
                "{namespace:?}/{name:?} is not a workload's name"
            )));
        }
        action.applies_to(kind).map_err(ServiceError::BadInput)?;
        let member = self.member(&target.cluster)?;
        let caches = self.cached_on(&member).await?;
        let team = caches
            .namespaces
            .get(&ObjectRef::new(namespace))
            .ok_or_else(|| ServiceError::NotFound(format!("no namespace {namespace}")))?
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_TEAM).cloned());
        let owner = team.as_deref().map(Target::team).unwrap_or_default();
        let mut audit = NewEvent::by(Some(user), origin, action.audit_name(), Outcome::Requested)
            .on_cluster(member.name());
        audit.target_kind = kind.as_str().to_owned();
        audit.target_namespace = namespace.to_owned();
        audit.target_name = name.to_owned();
        audit.after = Some(json!({ "action": action }));
        if let Decision::Deny(why) = decide(&user.actor(), Action::ActOnWorkloads, &owner) {
            audit.set_outcome(Outcome::Denied);
            self.store().record(&audit).await?;
            return Err(ServiceError::Forbidden(why));
        }
        let (patch, done) = match (&action, kind) {
            (WorkloadAction::Restart, _) => (
                json!({ "spec": { "template": { "metadata": { "annotations": {
                    RESTARTED_AT: jiff::Timestamp::now().to_string(),
                }}}}}),
                format!("{name} restarts: new pods replace the old ones"),
            ),
            (WorkloadAction::Pause, _) => (
                json!({ "spec": { "paused": true } }),
                format!("{name} is paused"),
            ),
            (WorkloadAction::Resume, _) => (
                json!({ "spec": { "paused": false } }),
                format!("{name} is resumed"),
            ),
            (WorkloadAction::Scale { replicas }, _) => {
                let current = self
                    .check_scale(&member, kind, namespace, name, *replicas)
                    .await?;
                audit.before = Some(json!({ "replicas": current }));
                audit.after = Some(json!({ "replicas": replicas }));
                (
                    json!({ "spec": { "replicas": replicas } }),
                    format!("{name} scales to {replicas}"),
                )
            }
            (
                WorkloadAction::SetResources {
                    container,
                    resources,
                },
                _,
            ) => {
                let patch = resources_patch(container, resources)?;
                let now = member
                    .cluster
                    .workload_template(kind, namespace, name)
                    .await
                    .map_err(cluster_error)?;
                audit.before = Some(container_resources(&now.template, name, container)?);
                self.check_template_change(&member, namespace, name, &now, container, resources)
                    .await?;
                (
                    patch,
                    format!(
                        "{name}: {container} now requests {} CPU and {} memory",
                        resources.cpu_request, resources.memory_request
                    ),
                )
            }
            (WorkloadAction::Rollback { revision }, _) => {
                let before = self
                    .rollback_template(&member, namespace, name, *revision)
                    .await?;
                // Recorded before the cluster is touched; the template replaces the current one
                // only if nobody changed the Deployment since it was read.
                audit.before = Some(json!({ "revision": before.0 }));
                self.store().record(&audit).await?;
                let mut deployment = before.1;
                deployment.spec.template = before.2;
                let outcome = member
                    .cluster
                    .replace_deployment(namespace, &deployment)
                    .await
                    .map_err(cluster_error);
                return self
                    .outcome(audit, outcome.map(|_| ()))
                    .await
                    .map(|()| format!("{name} rolls back to revision {revision}"));
            }
        };
        self.store().record(&audit).await?;
        // Containers are a list keyed by name: only a strategic merge changes one in place.
        let strategic = matches!(action, WorkloadAction::SetResources { .. });
        let patched = member
            .cluster
            .patch_workload(kind, namespace, name, &patch, strategic)
            .await;
        self.outcome(audit, patched.map_err(cluster_error))
            .await
            .map(|()| done)
    }

    /// Records how an action the trail already holds ended, and passes the result on.
    async fn outcome(
        &self,
        mut audit: NewEvent,
        result: Result<(), ServiceError>,
    ) -> Result<(), ServiceError> {
        audit.set_outcome(if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        });
        if let Err(err) = &result {
            audit.after = Some(json!({ "error": err.to_string(), "request": audit.after }));
        }
        self.store().record(&audit).await?;
        result
    }

    /// Refuses a scale-up the namespace's quota could not hold, with the numbers; the
    /// replicas it has now otherwise.
    async fn check_scale(
        &self,
        member: &Member,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> Result<i32, ServiceError> {
        let now = member
            .cluster
            .workload_template(kind, namespace, name)
            .await
            .map_err(cluster_error)?;
        let current = now.replicas.unwrap_or(1);
        let (defaults, quotas) = self.quota_facts(member, namespace).await?;
        let per_pod = per_pod_requests(&now.template, &defaults);
        for (hard, used) in &quotas {
            rollout::scale_fits(name, current, replicas, &per_pod, hard, used)
                .map_err(ServiceError::BadInput)?;
        }
        Ok(current)
    }

    /// Refuses new resources for a container whose rollout the namespace's quota would stop
    /// (a surge pod with no room, or more requests than are left), before anything changes.
    async fn check_template_change(
        &self,
        member: &Member,
        namespace: &str,
        name: &str,
        now: &WorkloadTemplate,
        container: &str,
        resources: &domain::idle::ResourcePatch,
    ) -> Result<(), ServiceError> {
        let (defaults, quotas) = self.quota_facts(member, namespace).await?;
        let old = per_pod_requests(&now.template, &defaults);
        let mut changed = now.template.clone();
        for c in changed
            .spec
            .iter_mut()
            .flat_map(|p| p.containers.iter_mut())
        {
            if c.name != container {
                continue;
            }
            let r = c.resources.get_or_insert_with(Default::default);
            for (limit, key, value) in [
                (false, "cpu", Some(&resources.cpu_request)),
                (false, "memory", Some(&resources.memory_request)),
                (true, "cpu", resources.cpu_limit.as_ref()),
                (true, "memory", resources.memory_limit.as_ref()),
            ] {
                let into = if limit {
                    &mut r.limits
                } else {
                    &mut r.requests
                };
                if let Some(value) = value {
                    into.get_or_insert_with(BTreeMap::new)
                        .insert(key.to_owned(), Quantity(value.clone()));
                }
            }
        }
        let new = per_pod_requests(&changed, &defaults);
        for (hard, used) in &quotas {
            replacement::template_change_fits(name, now.replacement, &old, &new, hard, used)
                .map_err(ServiceError::BadInput)?;
        }
        Ok(())
    }

    /// The namespace's LimitRange defaults (`requests.cpu`, `limits.memory`, …) and each of
    /// its quotas' hard and used amounts, from the watch caches.
    async fn quota_facts(
        &self,
        member: &Member,
        namespace: &str,
    ) -> Result<(Amounts, Vec<Quotas>), ServiceError> {
        let caches = self.cached_on(member).await?;
        let mut defaults = BTreeMap::new();
        for lr in caches.limit_ranges.state() {
            if lr.metadata.namespace.as_deref() != Some(namespace) {
                continue;
            }
            for item in lr.spec.iter().flat_map(|s| s.limits.iter()) {
                for (kind, map) in [
                    ("requests", item.default_request.as_ref()),
                    ("limits", item.default.as_ref()),
                ] {
                    for (resource, q) in map.into_iter().flatten() {
                        if let Ok(v) = domain::quantity::parse(&q.0) {
                            defaults.insert(format!("{kind}.{resource}"), v);
                        }
                    }
                }
            }
        }
        let strings = |m: Option<&BTreeMap<String, Quantity>>| -> BTreeMap<String, String> {
            m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
                .unwrap_or_default()
        };
        let quotas = caches
            .quotas
            .state()
            .iter()
            .filter(|q| q.metadata.namespace.as_deref() == Some(namespace))
            .map(|q| {
                let status = q.status.as_ref();
                (
                    strings(status.and_then(|s| s.hard.as_ref())),
                    strings(status.and_then(|s| s.used.as_ref())),
                )
            })
            .collect();
        Ok((defaults, quotas))
    }

    /// The Deployment as read now, its current revision, and the template of `revision`.
    async fn rollback_template(
        &self,
        member: &Member,
        namespace: &str,
        name: &str,
        revision: i64,
    ) -> Result<(i64, Deployment, PodTemplateSpec), ServiceError> {
        let deployment = member
            .cluster
            .deployment(namespace, name)
            .await
            .map_err(cluster_error)?;
        let uid = deployment.metadata.uid.clone().unwrap_or_default();
        let caches = self.cached_on(member).await?;
        // Revisions from the cache; the chosen one's template from the API (the cache keeps none).
        let mut kept: Vec<(i64, String)> = caches
            .owned_replica_sets(namespace, &uid)
            .iter()
            .filter_map(|rs| Some((rs.revision?, rs.metadata.name.clone()?)))
            .collect();
        kept.sort_by_key(|k| std::cmp::Reverse(k.0));
        let current = kept.first().map(|(r, _)| *r).unwrap_or(0);
        if revision == current {
            return Err(ServiceError::BadInput(format!(
                "{name} is at revision {revision} already"
            )));
        }
        let no_such = || ServiceError::BadInput(format!("{name} keeps no revision {revision}"));
        let Some((_, replica_set)) = kept.into_iter().find(|(r, _)| *r == revision) else {
            return Err(no_such());
        };
        let Some(mut template) = member
            .cluster
            .replica_set(namespace, &replica_set)
            .await
            .map_err(cluster_error)?
            .and_then(|rs| rs.spec.template)
        else {
            // Deleted since the cache saw it (history trimmed meanwhile).
            return Err(no_such());
        };
        if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(POD_TEMPLATE_HASH);
        }
        Ok((current, deployment, template))
    }
}

#[async_trait::async_trait]
impl app::backend::WorkloadBackend for Services {
    async fn act_on_workload(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        target: WorkloadRef,
        action: WorkloadAction,
    ) -> Result<String, Failure> {
        Services::act_on_workload(self, user, origin, &target, action)
            .await
            .map_err(Failure::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pods_requests_come_from_its_containers_and_the_defaults_fill_gaps() {
        let template: PodTemplateSpec = serde_json::from_value(json!({
            "spec": { "containers": [
                { "name": "a", "resources": { "requests": { "cpu": "250m" }, "limits": { "cpu": "1", "memory": "1Gi" } } },
                { "name": "b" },
            ]}
        }))
        .expect("template");
        let defaults: BTreeMap<String, f64> = [
            ("requests.cpu".to_owned(), 0.1),
            ("requests.memory".to_owned(), 128.0 * 1024.0 * 1024.0),
        ]
        .into_iter()
        .collect();
        let per_pod = per_pod_requests(&template, &defaults);
        assert!((per_pod["requests.cpu"] - 0.35).abs() < 1e-9);
        assert_eq!(per_pod["requests.memory"], 2.0 * 128.0 * 1024.0 * 1024.0);
        assert_eq!(per_pod["limits.cpu"], 1.0);
    }
}
