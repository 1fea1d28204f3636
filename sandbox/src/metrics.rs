//! `metrics.k8s.io`: pod and node usage computed from each workload's usage profile, as
//! metrics-server would report it. Pure functions of the pod and the time, so history for
//! reports can be generated with the same numbers.

use serde_json::{Value, json};

use crate::quantity;

/// `steady`, `diurnal`, `spiky` or `idle`.
pub const PROFILE: &str = "sandbox.berth.dev/usage-profile";
/// Base CPU usage per container (a quantity); defaults to half the CPU request.
pub const CPU_USAGE: &str = "sandbox.berth.dev/cpu-usage";
/// Base memory usage per container; defaults to 60 % of the memory request.
pub const MEMORY_USAGE: &str = "sandbox.berth.dev/memory-usage";

/// What a node's system daemons use besides pods.
const SYSTEM_CPU: f64 = 0.1;
const SYSTEM_MEMORY: f64 = 512.0 * 1024.0 * 1024.0;

/// A pod's annotation `key`, if it is a string.
pub(crate) fn annotation<'a>(pod: &'a Value, key: &str) -> Option<&'a str> {
    pod.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// A deterministic number in [0, 1) from a seed and the minute.
fn noise(seed: &str, minute: i64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes().chain(minute.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The multiplier a profile applies to the base usage at `unix_seconds`.
pub fn profile_factor(profile: &str, seed: &str, unix_seconds: i64) -> f64 {
    let minute = unix_seconds.div_euclid(60);
    let n = noise(seed, minute);
    match profile {
        "idle" => 0.02 + 0.02 * n,
        "diurnal" => {
            // Busy in the working day (peak 14:00 UTC), quiet at night, half as busy at
            // weekends (1970-01-01 was a Thursday).
            let hour = (unix_seconds.rem_euclid(86_400)) as f64 / 3600.0;
            let wave = (1.0 + ((hour - 8.0) / 24.0 * std::f64::consts::TAU).sin()) / 2.0;
            let weekday = (unix_seconds.div_euclid(86_400) + 4).rem_euclid(7);
            let week = if weekday == 0 || weekday == 6 {
                0.5
            } else {
                1.0
            };
            0.25 + 1.1 * wave * week + 0.1 * (n - 0.5)
        }
        "spiky" => {
            if n > 0.93 {
                2.5 + n
            } else {
                0.5 + 0.2 * n
            }
        }
        _ => 0.95 + 0.1 * n,
    }
}

/// Usage of each container of `pod` at `unix_seconds`: (name, cores, bytes).
pub fn pod_usage(pod: &Value, unix_seconds: i64) -> Vec<(String, f64, f64)> {
    let profile = annotation(pod, PROFILE).unwrap_or("steady");
    let seed = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let count = containers.len().max(1) as f64;
    let (requests, _) = pod_resources(pod);
    let base_cpu = annotation(pod, CPU_USAGE)
        .and_then(quantity::parse)
        .unwrap_or_else(|| requests.get("cpu").map_or(0.01, |r| r / 2.0) / count);
    let base_memory = annotation(pod, MEMORY_USAGE)
        .and_then(quantity::parse)
        .unwrap_or_else(|| {
            requests
                .get("memory")
                .map_or(32.0 * 1024.0 * 1024.0, |r| r * 0.6)
                / count
        });
    let cpu_factor = profile_factor(profile, seed, unix_seconds);
    // Memory moves less than CPU: it follows the profile at a third of the swing.
    let memory_factor =
        1.0 + (profile_factor(profile, &format!("{seed}/mem"), unix_seconds) - 1.0) / 3.0;
    containers
        .iter()
        .map(|c| {
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            (
                name,
                (base_cpu * cpu_factor).max(0.0005),
                (base_memory * memory_factor).max(1024.0 * 1024.0),
            )
        })
        .collect()
}

fn is_running(pod: &Value) -> bool {
    pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
}

fn nano(cores: f64) -> String {
    format!("{}n", (cores * 1e9).round() as i64)
}

fn kibi(bytes: f64) -> String {
    format!("{}Ki", (bytes / 1024.0).round() as i64)
}

fn timestamp(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// A PodMetrics object, or `None` for a pod that is not running.
pub fn pod_metrics(pod: &Value, unix_seconds: i64) -> Option<Value> {
    if !is_running(pod) {
        return None;
    }
    let containers: Vec<Value> = pod_usage(pod, unix_seconds)
        .into_iter()
        .map(|(name, cpu, memory)| json!({"name": name, "usage": {"cpu": nano(cpu), "memory": kibi(memory)}}))
        .collect();
    Some(json!({
        "kind": "PodMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {
            "name": pod.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
            "namespace": pod.pointer("/metadata/namespace").cloned().unwrap_or(Value::Null),
            "labels": pod.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
            "creationTimestamp": timestamp(unix_seconds),
        },
        "timestamp": timestamp(unix_seconds),
        "window": "30s",
        "containers": containers,
    }))
}

/// A NodeMetrics object: the running pods bound to it (of `pods`) plus the system's share.
pub fn node_metrics<'a>(
    node: &Value,
    pods: impl IntoIterator<Item = &'a Value>,
    unix_seconds: i64,
) -> Value {
    let name = node
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (mut cpu, mut memory) = (SYSTEM_CPU, SYSTEM_MEMORY);
    for pod in pods.into_iter().filter(|p| {
        is_running(p) && p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(name)
    }) {
        for (_, c, m) in pod_usage(pod, unix_seconds) {
            cpu += c;
            memory += m;
        }
    }
    json!({
        "kind": "NodeMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {
            "name": name,
            "labels": node.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
            "creationTimestamp": timestamp(unix_seconds),
        },
        "timestamp": timestamp(unix_seconds),
        "window": "30s",
        "usage": {"cpu": nano(cpu), "memory": kibi(memory)},
    })
}

/// Summed container requests and limits of a pod, in cores and bytes.
pub fn pod_resources(
    pod: &Value,
) -> (
    std::collections::BTreeMap<String, f64>,
    std::collections::BTreeMap<String, f64>,
) {
    let mut requests = std::collections::BTreeMap::new();
    let mut limits = std::collections::BTreeMap::new();
    for container in pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for (field, into) in [("requests", &mut requests), ("limits", &mut limits)] {
            if let Some(map) = container
                .pointer(&format!("/resources/{field}"))
                .and_then(Value::as_object)
            {
                for (k, v) in map {
                    *into.entry(k.clone()).or_insert(0.0) += quantity::of(v).unwrap_or(0.0);
                }
            }
        }
    }
    (requests, limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(profile: &str) -> Value {
        json!({
            "metadata": {"name": "p", "namespace": "a", "uid": "u-1", "annotations": {PROFILE: profile}},
            "spec": {"containers": [{"name": "web", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]},
            "status": {"phase": "Running"}
        })
    }

    #[test]
    fn usage_follows_the_profile() {
        let noon = 1_763_769_600 + 14 * 3600; // 14:00 UTC on a day
        let night = noon - 12 * 3600;
        let cpu = |p: &str, t: i64| pod_usage(&pod(p), t)[0].1;
        assert!(
            (cpu("steady", noon) - 0.5).abs() < 0.05,
            "half the request, give or take noise"
        );
        assert!(cpu("idle", noon) < 0.03);
        assert!(cpu("diurnal", noon) > 2.0 * cpu("diurnal", night));
        // The same pod at the same minute always reads the same.
        assert_eq!(cpu("spiky", noon), cpu("spiky", noon + 30));
    }

    #[test]
    fn only_running_pods_have_metrics_and_nodes_sum_them() {
        let mut pending = pod("steady");
        pending["status"]["phase"] = json!("Pending");
        assert!(pod_metrics(&pending, 0).is_none());
        let m = pod_metrics(&pod("steady"), 0).expect("metrics");
        assert!(
            m["containers"][0]["usage"]["cpu"]
                .as_str()
                .unwrap_or_default()
                .ends_with('n')
        );

        let mut bound = pod("steady");
        bound["spec"]["nodeName"] = json!("n1");
        let node = json!({"metadata": {"name": "n1"}});
        let usage = node_metrics(&node, &[bound], 0);
        let cores =
            quantity::parse(usage["usage"]["cpu"].as_str().unwrap_or_default()).unwrap_or(0.0);
        assert!(cores > 0.5 && cores < 0.7, "{cores}");
    }
}
