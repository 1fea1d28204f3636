//! The demo's month of usage history, so cost and idle reports mean something on first start.
//! Computed from the sandbox's own usage profiles for the pods the scenario runs, exactly as
//! its metrics API would have reported them, and imported as finished hours; live sampling
//! continues from the current hour.

use domain::cost::percentile;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::cluster::pod::CachedPod;
use crate::error::Error;
use crate::reconcile::usage::Lookups;
use crate::store::Store;
use crate::store::usage::{HourRow, NodeSeen, VolumeSeen};

const HOUR: i64 = 3_600;
/// Usage points per hour: every five minutes, as a one-minute sampler would see the trend.
const POINTS: i64 = 12;

fn quantity(v: &Value, key: &str) -> f64 {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(|q| domain::quantity::parse(q).ok())
        .unwrap_or(0.0)
}

/// Imports `days` of history unless the database already holds usage; the container-hours
/// imported.
pub async fn seed(
    store: &Store,
    client: &kube::Client,
    labels: &[String],
    days: i64,
    now_unix: i64,
) -> Result<usize, Error> {
    if store.has_usage().await? {
        return Ok(0);
    }
    import(store, client, labels, days, now_unix).await
}

/// Imports the `days` before the current hour for every scheduled pod and node.
pub async fn import(
    store: &Store,
    client: &kube::Client,
    labels: &[String],
    days: i64,
    now_unix: i64,
) -> Result<usize, Error> {
    let cluster = |e: kube::Error| {
        Error::Sandbox(sandbox::SandboxError::Bootstrap(format!(
            "demo history: {e}"
        )))
    };
    let params = ListParams::default();
    let pods: Vec<Pod> = Api::<Pod>::all(client.clone())
        .list(&params)
        .await
        .map_err(cluster)?
        .items
        .into_iter()
        .filter(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_some()))
        .collect();
    let replica_sets = Api::<ReplicaSet>::all(client.clone())
        .list(&params)
        .await
        .map_err(cluster)?
        .items;
    let namespaces = Api::<Namespace>::all(client.clone())
        .list(&params)
        .await
        .map_err(cluster)?
        .items;
    let nodes = Api::<Node>::all(client.clone())
        .list(&params)
        .await
        .map_err(cluster)?
        .items;
    let lookups = Lookups::new(replica_sets.iter().map(|r| &r.metadata), namespaces.iter());
    let this_hour = now_unix.div_euclid(HOUR) * HOUR;
    let from = this_hour - days * 24 * HOUR;
    // The sandbox's usage profiles read the whole pod; the lookups read it as the cache does.
    let pod_json: Vec<Value> = pods
        .iter()
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect();
    let cached: Vec<CachedPod> = pod_json
        .iter()
        .filter_map(|p| serde_json::from_value(p.clone()).ok())
        .collect();
    let seen: Vec<_> = cached
        .iter()
        .flat_map(|p| {
            p.spec
                .iter()
                .flat_map(|s| s.containers.iter())
                .map(|c| lookups.container_seen(labels, p, &c.name))
                .collect::<Vec<_>>()
        })
        .collect();
    let ids = store.register_containers(from as f64, &seen).await?;
    let mut rows = Vec::new();
    for (pod, json) in pods.iter().zip(&pod_json) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        for hour in (from..this_hour).step_by(HOUR as usize) {
            let mut per_container: std::collections::BTreeMap<String, (Vec<f64>, Vec<f64>)> =
                Default::default();
            for point in 0..POINTS {
                let at = hour + point * HOUR / POINTS;
                for (name, cpu, memory) in sandbox::metrics::pod_usage(json, at) {
                    let entry = per_container.entry(name).or_default();
                    entry.0.push(cpu);
                    entry.1.push(memory);
                }
            }
            for (name, (cpu, memory)) in per_container {
                let Some(id) = ids.get(&(uid.clone(), name)) else {
                    continue;
                };
                let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
                let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
                rows.push(HourRow {
                    hour_unix: hour as f64,
                    container_id: *id,
                    samples: POINTS as i32,
                    cpu_avg: avg(&cpu) as f32,
                    cpu_max: max(&cpu) as f32,
                    cpu_p95: percentile(&cpu, 0.95).unwrap_or(0.0) as f32,
                    memory_avg: avg(&memory) as f32,
                    memory_max: max(&memory) as f32,
                    memory_p95: percentile(&memory, 0.95).unwrap_or(0.0) as f32,
                });
            }
        }
    }
    // Nodes: capacity and usage at the middle of each hour.
    for hour in (from..this_hour).step_by(HOUR as usize) {
        let at = hour + HOUR / 2;
        let seen: Vec<NodeSeen> = nodes
            .iter()
            .filter_map(|n| {
                let json = serde_json::to_value(n).ok()?;
                let usage = sandbox::metrics::node_metrics(&json, &pod_json, at);
                let allocatable = json.pointer("/status/allocatable").cloned()?;
                Some(NodeSeen {
                    node: n.metadata.name.clone()?,
                    labels: json
                        .pointer("/metadata/labels")
                        .cloned()
                        .unwrap_or(Value::Null),
                    cpu_capacity: quantity(&allocatable, "cpu"),
                    memory_capacity: quantity(&allocatable, "memory"),
                    gpus: quantity(&allocatable, "nvidia.com/gpu"),
                    cpu_used: quantity(&usage["usage"], "cpu"),
                    memory_used: quantity(&usage["usage"], "memory"),
                })
            })
            .collect();
        store.record_samples(at as f64, &[], &seen).await?;
    }
    // Bound claims, by requested size, every hour of the month.
    let claims = Api::<PersistentVolumeClaim>::all(client.clone())
        .list(&params)
        .await
        .map_err(cluster)?
        .items;
    let volumes: Vec<VolumeSeen> = claims
        .iter()
        .filter(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound"))
        .filter_map(|c| {
            let namespace = c.metadata.namespace.clone()?;
            let size = c
                .spec
                .as_ref()?
                .resources
                .as_ref()?
                .requests
                .as_ref()?
                .get("storage")?;
            Some(VolumeSeen {
                team: lookups.teams.get(&namespace).cloned(),
                claim: c.metadata.name.clone()?,
                bytes: domain::quantity::parse(&size.0).ok()?,
                namespace,
            })
        })
        .collect();
    if !volumes.is_empty() {
        for hour in (from..this_hour).step_by(HOUR as usize) {
            store.record_volumes(hour as f64, &volumes).await?;
        }
    }
    store
        .import_history(&rows, from as f64, this_hour as f64)
        .await?;
    Ok(rows.len())
}
