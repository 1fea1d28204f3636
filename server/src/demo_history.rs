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

const DAY: i64 = 24 * HOUR;

/// Whether the demo's history has a pod running in the hour starting `hour`, so the month is
/// not one day copied thirty times: preview namespaces (`-pr-`) were made nine days ago, dev
/// and load-test namespaces are scaled down at weekends, and a production workload of three
/// or more replicas got its last one twelve days ago (its team grew it). `replica` is the
/// pod's place among its owner's pods by name, and how many there are.
fn present(namespace: &str, replica: (usize, usize), hour: i64, now: i64) -> bool {
    // 1970-01-01 was a Thursday: day 0 is weekday 4 (Sunday 0).
    let weekday = (hour.div_euclid(DAY) + 4).rem_euclid(7);
    let weekend = weekday == 0 || weekday == 6;
    if namespace.contains("-pr-") {
        return hour >= now - 9 * DAY;
    }
    if (namespace.ends_with("-dev") || namespace.ends_with("-loadtest")) && weekend {
        return false;
    }
    let (index, count) = replica;
    if namespace.ends_with("-prod") && count >= 3 && index + 1 == count {
        return hour >= now - 12 * DAY;
    }
    true
}

/// The share of the hour starting `hour` a pod ran, given when it really ran (`None`: taken
/// to have run all along — that is the history being made up).
fn share_of_hour(run: Option<(i64, i64)>, hour: i64) -> f64 {
    match run {
        None => 1.0,
        Some((start, end)) => {
            let overlap = end.min(hour + HOUR) - start.max(hour);
            (overlap as f64 / HOUR as f64).clamp(0.0, 1.0)
        }
    }
}

/// When a pod really ran, for the pods whose past is not made up: a finished one from its
/// start to its containers' last end, and a Job's (finite work, started with the demo) from
/// its start to `now`. Long-running pods get `None`.
fn real_run(pod: &Pod, now: i64) -> Option<(i64, i64)> {
    let status = pod.status.as_ref();
    let start = status
        .and_then(|s| s.start_time.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref())
        .map(|t| t.0.as_second())
        .unwrap_or(now);
    let finished = matches!(
        status.and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    if finished {
        let end = status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
            .map(|t| t.0.as_second())
            .max()
            .unwrap_or(start);
        return Some((start, end.max(start)));
    }
    let of_job = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Job");
    of_job.then_some((start, now.max(start)))
}

/// A pod's namespace, its place among its owner's pods and when it really ran.
type PodFacts<'a> = (&'a str, (usize, usize), Option<(i64, i64)>);

/// Each pod's place among the pods of its owner (by name) and their number, by pod uid.
fn replicas(pods: &[Pod]) -> std::collections::HashMap<String, (usize, usize)> {
    let mut by_owner: std::collections::BTreeMap<(String, String), Vec<(String, String)>> =
        Default::default();
    for p in pods {
        let owner = p
            .metadata
            .owner_references
            .iter()
            .flatten()
            .next()
            .map(|o| o.name.clone())
            .unwrap_or_default();
        by_owner
            .entry((p.metadata.namespace.clone().unwrap_or_default(), owner))
            .or_default()
            .push((
                p.metadata.name.clone().unwrap_or_default(),
                p.metadata.uid.clone().unwrap_or_default(),
            ));
    }
    let mut out = std::collections::HashMap::new();
    for mut group in by_owner.into_values() {
        group.sort();
        let count = group.len();
        for (index, (_, uid)) in group.into_iter().enumerate() {
            out.insert(uid, (index, count));
        }
    }
    out
}

/// Imports `days` of history of every cluster unless the database already holds usage; the
/// container-hours imported.
pub async fn seed(
    store: &Store,
    clusters: &[(&str, &kube::Client)],
    labels: &[String],
    days: i64,
    now_unix: i64,
) -> Result<usize, Error> {
    if store.has_usage().await? {
        return Ok(0);
    }
    import(store, clusters, labels, days, now_unix).await
}

/// Imports the `days` before the current hour for every scheduled pod and node of each
/// cluster (by its storage key: empty for the home cluster). One import for all of them: the
/// day sums are made once over the hours imported.
pub async fn import(
    store: &Store,
    clusters: &[(&str, &kube::Client)],
    labels: &[String],
    days: i64,
    now_unix: i64,
) -> Result<usize, Error> {
    let this_hour = now_unix.div_euclid(HOUR) * HOUR;
    let from = this_hour - days * 24 * HOUR;
    let mut rows = Vec::new();
    for (key, client) in clusters {
        rows.extend(cluster_history(store, key, client, labels, from, now_unix).await?);
    }
    store
        .import_history(&rows, from as f64, this_hour as f64)
        .await?;
    Ok(rows.len())
}

/// One cluster's hours [from, the current hour): its containers registered, its nodes' and
/// claims' hours recorded, its container-hours returned for the import.
async fn cluster_history(
    store: &Store,
    key: &str,
    client: &kube::Client,
    labels: &[String],
    from: i64,
    now_unix: i64,
) -> Result<Vec<HourRow>, Error> {
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
                .map(|c| lookups.container_seen(key, labels, p, &c.name))
                .collect::<Vec<_>>()
        })
        .collect();
    let ids = store.register_containers(from as f64, &seen).await?;
    // Per pod, read once: its namespace, its place among its owner's pods, when it really ran.
    let places = replicas(&pods);
    let facts: Vec<PodFacts> = pods
        .iter()
        .map(|p| {
            let uid = p.metadata.uid.as_deref().unwrap_or_default();
            (
                p.metadata.namespace.as_deref().unwrap_or_default(),
                places.get(uid).copied().unwrap_or((0, 1)),
                real_run(p, now_unix),
            )
        })
        .collect();
    // The share of the hour starting `hour` pod `i` ran in the month being made (0: not at all).
    let share_in = |i: usize, hour: i64| {
        let (namespace, place, run) = facts[i];
        if present(namespace, place, hour, this_hour) {
            share_of_hour(run, hour)
        } else {
            0.0
        }
    };
    let mut rows = Vec::new();
    for (i, (pod, json)) in pods.iter().zip(&pod_json).enumerate() {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        for hour in (from..this_hour).step_by(HOUR as usize) {
            let share = share_in(i, hour);
            if share <= 0.0 {
                continue;
            }
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
                    share: share as f32,
                });
            }
        }
    }
    // Nodes: capacity and usage at the middle of each hour.
    for hour in (from..this_hour).step_by(HOUR as usize) {
        let at = hour + HOUR / 2;
        let running: Vec<Value> = pod_json
            .iter()
            .enumerate()
            .filter(|(i, _)| share_in(*i, hour) > 0.0)
            .map(|(_, json)| json.clone())
            .collect();
        let seen: Vec<NodeSeen> = nodes
            .iter()
            .filter_map(|n| {
                let json = serde_json::to_value(n).ok()?;
                let usage = sandbox::metrics::node_metrics(&json, &running, at);
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
        store.record_samples(at as f64, key, &[], &seen).await?;
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
            store.record_volumes(hour as f64, key, &volumes).await?;
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_that_really_ran_pays_the_part_of_an_hour_it_ran() {
        let hour = 1_795_219_200;
        assert_eq!(share_of_hour(None, hour), 1.0);
        // Twenty-one minutes from 10:39 to 11:00, then nothing.
        let run = Some((hour + 39 * 60, hour + HOUR));
        assert!((share_of_hour(run, hour) - 21.0 / 60.0).abs() < 1e-9);
        assert_eq!(share_of_hour(run, hour + HOUR), 0.0);
        assert_eq!(share_of_hour(run, hour - HOUR), 0.0);
        // Three seconds.
        let job = Some((hour + 10, hour + 13));
        assert!((share_of_hour(job, hour) - 3.0 / 3600.0).abs() < 1e-9);
    }

    #[test]
    fn jobs_and_finished_pods_keep_their_real_run_and_others_run_all_along() {
        let now = 1_795_219_200;
        let pod =
            |json: serde_json::Value| -> Pod { serde_json::from_value(json).unwrap_or_default() };
        let web = pod(serde_json::json!({
            "metadata": { "name": "web-1", "creationTimestamp": "2026-11-21T00:00:00Z" },
            "status": { "phase": "Running", "startTime": "2026-11-21T00:00:00Z" },
        }));
        assert_eq!(real_run(&web, now), None);
        let running_job = pod(serde_json::json!({
            "metadata": { "name": "migrate-x", "ownerReferences": [
                { "apiVersion": "batch/v1", "kind": "Job", "name": "migrate", "uid": "u" }] },
            "status": { "phase": "Running", "startTime": "2026-11-20T23:59:00Z" },
        }));
        assert_eq!(real_run(&running_job, now), Some((now - 60, now)));
        let done = pod(serde_json::json!({
            "metadata": { "name": "once" },
            "status": { "phase": "Succeeded", "startTime": "2026-11-20T23:00:00Z",
                "containerStatuses": [{ "name": "c", "image": "i", "imageID": "", "ready": false,
                    "restartCount": 0, "state": { "terminated": { "exitCode": 0,
                        "finishedAt": "2026-11-20T23:00:03Z" } } }] },
        }));
        assert_eq!(real_run(&done, now), Some((now - 3600, now - 3597)));
    }

    #[test]
    fn the_demo_month_has_weekends_newcomers_and_growth() {
        // 2026-11-21 was a Saturday; "now" is a Friday noon.
        let saturday = 1_795_219_200 + 10 * HOUR;
        let now = saturday + 6 * DAY + 2 * HOUR;
        assert!(!present("checkout-dev", (0, 1), saturday, now));
        assert!(present("checkout-dev", (0, 1), saturday + 2 * DAY, now));
        assert!(
            present("checkout-prod", (0, 1), saturday, now),
            "prod runs at weekends"
        );
        assert!(!present("payments-pr-2207", (0, 1), now - 10 * DAY, now));
        assert!(present("payments-pr-2207", (0, 1), now - 8 * DAY, now));
        assert!(!present("checkout-prod", (5, 6), now - 13 * DAY, now));
        assert!(present("checkout-prod", (4, 6), now - 13 * DAY, now));
        assert!(present("checkout-prod", (5, 6), now - 11 * DAY, now));
    }
}
