//! Loads a scenario into a real cluster through its API, as a platform team would: Namespaces,
//! LimitRanges, claims and workloads as objects (Deployments, StatefulSets, DaemonSets, Jobs,
//! CronJobs); the real controllers make the ReplicaSets and Pods, the real scheduler binds
//! them and the node simulator runs them. Quotas go in last, once the scenario's pods exist,
//! so the scenario's own workloads are not refused by them (what is over quota shows as such).
//!
//! A scenario is loaded once per cluster: a ConfigMap in `kube-system` records it, so a
//! restarted demo keeps what visitors changed.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use serde_json::{Value, json};

use crate::scenario::{NamespaceSpec, Scenario, Team, Workload, namespace_object, pod_template};

/// The field manager of the scenario's objects.
pub const MANAGER: &str = "berth-scenario";
const MARKER: &str = "berth-sandbox-scenario";

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("loading the scenario failed at {what}: {source}")]
    Api { what: String, source: kube::Error },
    #[error("the scenario has an unknown workload kind {kind:?} ({what})")]
    UnknownKind { kind: String, what: String },
}

/// What a load did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// False when the cluster already held the scenario.
    pub fresh: bool,
    pub namespaces: usize,
    pub workloads: usize,
    /// Pods the workloads ask for (Deployments and StatefulSets).
    pub pods: usize,
    pub took: Duration,
}

/// Applies `scenario` unless the cluster already holds it. `concurrency` namespaces load at
/// once (the API server's fairness limits one client, so a large scenario needs several).
pub async fn load(
    client: &kube::Client,
    scenario: &Scenario,
    concurrency: usize,
) -> Result<Loaded, LoadError> {
    let start = Instant::now();
    let markers: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let fail = |what: &str| {
        let what = what.to_owned();
        move |source| LoadError::Api { what, source }
    };
    if markers
        .get_opt(MARKER)
        .await
        .map_err(fail("the scenario marker"))?
        .is_some()
    {
        return Ok(Loaded {
            took: start.elapsed(),
            ..Loaded::default()
        });
    }
    let namespaces: Vec<(&Team, &NamespaceSpec)> = scenario
        .teams
        .iter()
        .flat_map(|t| t.namespaces.iter().map(move |n| (t, n)))
        .collect();
    let results: Vec<Result<(usize, usize), LoadError>> = futures::stream::iter(
        namespaces
            .iter()
            .map(|(team, ns)| load_namespace(client, team, ns)),
    )
    .buffer_unordered(concurrency.max(1))
    .collect()
    .await;
    let mut loaded = Loaded {
        fresh: true,
        namespaces: namespaces.len(),
        ..Loaded::default()
    };
    for r in results {
        let (workloads, pods) = r?;
        loaded.workloads += workloads;
        loaded.pods += pods;
    }
    wait_for_pods(client, loaded.pods, Duration::from_secs(120)).await;
    let quotas: Vec<_> = namespaces
        .iter()
        .filter(|(_, ns)| !ns.quota.is_empty())
        .map(|(_, ns)| {
            let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "team-quota"}, "spec": {"hard": ns.quota}});
            apply(client, "", "v1", "ResourceQuota", "resourcequotas", &ns.name, quota)
        })
        .collect();
    for r in futures::stream::iter(quotas)
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
    {
        r?;
    }
    let marker = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": MARKER},
        "data": {"scenario": scenario.name, "namespaces": loaded.namespaces.to_string()}});
    markers
        .patch(MARKER, &PatchParams::apply(MANAGER), &Patch::Apply(marker))
        .await
        .map_err(fail("the scenario marker"))?;
    loaded.took = start.elapsed();
    Ok(loaded)
}

/// Waits (bounded) until the controllers have made `expected` pods; a quota applied before
/// would refuse some of the scenario's own.
async fn wait_for_pods(client: &kube::Client, expected: usize, limit: Duration) {
    let pods: Api<Pod> = Api::all(client.clone());
    let start = Instant::now();
    while start.elapsed() < limit {
        let count = pods
            .list_metadata(&ListParams::default().labels("berth-scenario"))
            .await
            .map(|l| l.items.len())
            .unwrap_or(0);
        if count >= expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tracing::warn!(
        expected,
        "not every scenario pod was made in time; quotas go in anyway"
    );
}

async fn apply(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespace: &str,
    object: Value,
) -> Result<(), LoadError> {
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
    let api: Api<DynamicObject> = if namespace.is_empty() {
        Api::all_with(client.clone(), &resource)
    } else {
        Api::namespaced_with(client.clone(), namespace, &resource)
    };
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    api.patch(&name, &PatchParams::apply(MANAGER), &Patch::Apply(object))
        .await
        .map(|_| ())
        .map_err(|source| LoadError::Api {
            what: format!("{kind} {namespace}/{name}"),
            source,
        })
}

/// One namespace's objects, in order; (workloads, pods asked for).
async fn load_namespace(
    client: &kube::Client,
    team: &Team,
    spec: &NamespaceSpec,
) -> Result<(usize, usize), LoadError> {
    let ns = spec.name.as_str();
    apply(
        client,
        "",
        "v1",
        "Namespace",
        "namespaces",
        "",
        namespace_object(team, spec),
    )
    .await?;
    if let Some(limits) = &spec.limits {
        let lr = json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults"},
            "spec": {"limits": [{"type": "Container", "default": limits.default, "defaultRequest": limits.default_request}]}});
        apply(client, "", "v1", "LimitRange", "limitranges", ns, lr).await?;
    }
    for pvc in &spec.pvcs {
        // An unbound claim asks for a class nobody provisions, so it stays Pending.
        let class = match (&pvc.storage_class, pvc.bound) {
            (Some(class), _) => class.clone(),
            (None, true) => "standard".to_owned(),
            (None, false) => "manual".to_owned(),
        };
        let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": pvc.name},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class, "resources": {"requests": {"storage": pvc.size}}}});
        apply(
            client,
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            ns,
            claim,
        )
        .await?;
    }
    let mut pods = 0;
    for workload in &spec.workloads {
        let (group, kind, plural, object, count) =
            workload_object(workload).map_err(|kind| LoadError::UnknownKind {
                kind,
                what: format!("{ns}/{}", workload.name),
            })?;
        apply(client, group, "v1", kind, plural, ns, object).await?;
        pods += count;
    }
    Ok((spec.workloads.len(), pods))
}

/// (group, kind, plural, object, pods it asks for) or the unknown kind.
fn workload_object(
    workload: &Workload,
) -> Result<(&'static str, &'static str, &'static str, Value, usize), String> {
    let mut template = pod_template(workload);
    // Marks the scenario's pods, so the loader can count them before it applies quotas.
    template["metadata"]["labels"]["berth-scenario"] = json!("true");
    let labels = json!({"app": workload.name, "release": template["metadata"]["labels"].get("release").cloned().unwrap_or(Value::Null)});
    let labels: serde_json::Map<String, Value> = labels
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let selector = json!({"matchLabels": {"app": workload.name}});
    let meta = json!({"name": workload.name, "labels": labels});
    let replicas = workload.replicas as usize;
    let scripted = workload.state.as_deref() == Some("live") || workload.script.is_some();
    Ok(match workload.kind.as_str() {
        "Deployment" => {
            let mut spec =
                json!({"replicas": workload.replicas, "selector": selector, "template": template});
            if scripted {
                // Rollouts the demo shows stalling do so within minutes, not the default ten.
                spec["progressDeadlineSeconds"] = json!(120);
            }
            (
                "apps",
                "Deployment",
                "deployments",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}),
                replicas,
            )
        }
        "StatefulSet" => {
            let mut spec = json!({"replicas": workload.replicas, "serviceName": workload.name, "selector": selector,
                "template": template, "podManagementPolicy": "Parallel"});
            let claims: Vec<Value> = workload.claim_templates.iter().map(|t| json!({
                "metadata": {"name": t.name},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard", "resources": {"requests": {"storage": t.size}}},
            })).collect();
            if !claims.is_empty() {
                spec["volumeClaimTemplates"] = json!(claims);
            }
            (
                "apps",
                "StatefulSet",
                "statefulsets",
                json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": spec}),
                replicas,
            )
        }
        "DaemonSet" => (
            "apps",
            "DaemonSet",
            "daemonsets",
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta, "spec": {"selector": selector, "template": template}}),
            0,
        ),
        "Job" => (
            "batch",
            "Job",
            "jobs",
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {"backoffLimit": 2, "template": template}}),
            0,
        ),
        "CronJob" => {
            let schedule = workload
                .schedule
                .clone()
                .unwrap_or_else(|| "0 * * * *".to_owned());
            (
                "batch",
                "CronJob",
                "cronjobs",
                json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
                    "spec": {"schedule": schedule, "jobTemplate": {"spec": {"backoffLimit": 2, "template": template}}}}),
                0,
            )
        }
        other => return Err(other.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_workload_becomes_an_object_with_its_scripts_on_the_pods() {
        let demo = Scenario::named("demo").expect("demo");
        let mut pods = 0;
        for team in &demo.teams {
            for ns in &team.namespaces {
                for w in &ns.workloads {
                    let (_, kind, _, object, count) = workload_object(w).expect("known kind");
                    assert_eq!(kind, w.kind);
                    pods += count;
                    let template = if kind == "CronJob" {
                        &object["spec"]["jobTemplate"]["spec"]["template"]
                    } else {
                        &object["spec"]["template"]
                    };
                    assert_eq!(template["metadata"]["labels"]["berth-scenario"], "true");
                    if let Some(script) = &w.script {
                        assert_eq!(
                            template["metadata"]["annotations"][crate::kubelet::SCRIPT],
                            script.as_str()
                        );
                    }
                }
            }
        }
        assert!(pods > 50, "the demo asks for {pods} pods");
    }

    #[test]
    fn an_unknown_kind_is_named() {
        let demo = Scenario::named("demo").expect("demo");
        let mut w = demo.teams[0].namespaces[0].workloads[0].clone();
        w.kind = "Pod".to_owned();
        assert_eq!(workload_object(&w).err().as_deref(), Some("Pod"));
    }
}
