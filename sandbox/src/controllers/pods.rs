//! The scheduler and the kubelet: pods are bound to nodes by requests against allocatable,
//! then run, become Ready after their scripted delay, crash-loop, or run to completion.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{
    Context, Target, events, flag_at, int_at, meta_str, now, parse_time, pod_active, pod_ready, rt,
};
use crate::admission::pod_resources;
use crate::kubelet::{crash_restarts, next_crash_at};
use crate::quantity;
use crate::status::ApiError;
use crate::store::Part;

/// Seconds until a started pod reports Ready.
pub const READY_AFTER: &str = "sandbox.berth.dev/ready-after";
/// `never-ready`, `crash-loop`, `fail` (a run-to-completion pod that fails).
pub const SCRIPT: &str = "sandbox.berth.dev/script";
/// Seconds a run-to-completion pod runs.
pub const RUN_SECONDS: &str = "sandbox.berth.dev/run-seconds";

fn annotation<'a>(pod: &'a Value, key: &str) -> Option<&'a str> {
    pod.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

fn seconds(pod: &Value, key: &str, default: f64) -> f64 {
    annotation(pod, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runs_to_completion(pod: &Value) -> bool {
    matches!(
        pod.pointer("/spec/restartPolicy").and_then(Value::as_str),
        Some("Never" | "OnFailure")
    )
}

pub fn qos_class(pod: &Value) -> &'static str {
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in &containers {
        let requests = c.pointer("/resources/requests").and_then(Value::as_object);
        let limits = c.pointer("/resources/limits").and_then(Value::as_object);
        if requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for resource in ["cpu", "memory"] {
            let limit = limits.and_then(|l| l.get(resource)).and_then(quantity::of);
            let request = requests
                .and_then(|r| r.get(resource))
                .and_then(quantity::of)
                .or(limit);
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    if guaranteed {
        "Guaranteed"
    } else if any {
        "Burstable"
    } else {
        "BestEffort"
    }
}

fn condition(kind: &str, status: bool, reason: Option<&str>, message: Option<&str>) -> Value {
    let mut c = json!({"type": kind, "status": if status { "True" } else { "False" }, "lastTransitionTime": now(), "lastProbeTime": null});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// Free allocatable per node (cpu cores, memory bytes, pods) after the active pods on it.
fn node_room(ctx: &Context<'_>) -> BTreeMap<String, (f64, f64, f64, Value)> {
    ctx.store.read(|tables| {
        let mut room: BTreeMap<String, (f64, f64, f64, Value)> = BTreeMap::new();
        for node in tables.get("nodes").into_iter().flat_map(|t| t.values()) {
            let unschedulable = flag_at(node, "/spec/unschedulable", false);
            if unschedulable {
                continue;
            }
            let alloc = |r: &str| {
                node.pointer(&format!("/status/allocatable/{r}"))
                    .or_else(|| node.pointer(&format!("/status/capacity/{r}")))
                    .and_then(quantity::of)
                    .unwrap_or(0.0)
            };
            room.insert(
                meta_str(node, "name").to_owned(),
                (alloc("cpu"), alloc("memory"), alloc("pods"), node.clone()),
            );
        }
        for pod in tables.get("pods").into_iter().flat_map(|t| t.values()) {
            let node = pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if node.is_empty() || !pod_active(pod) {
                continue;
            }
            if let Some(r) = room.get_mut(node) {
                let (requests, _) = pod_resources(pod);
                r.0 -= requests.get("cpu").copied().unwrap_or(0.0);
                r.1 -= requests.get("memory").copied().unwrap_or(0.0);
                r.2 -= 1.0;
            }
        }
        room
    })
}

fn selector_matches(pod: &Value, node: &Value) -> bool {
    let Some(selector) = pod.pointer("/spec/nodeSelector").and_then(Value::as_object) else {
        return true;
    };
    selector
        .iter()
        .all(|(k, v)| node.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v))
}

/// Binds every pending pod that fits somewhere now.
pub fn schedule_pending(ctx: &mut Context<'_>) -> Result<(), ApiError> {
    let pending: Vec<Value> = ctx.store.read(|tables| {
        tables
            .get("pods")
            .into_iter()
            .flat_map(|t| t.values())
            .filter(|p| {
                pod_active(p)
                    && p.pointer("/spec/nodeName")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .is_empty()
            })
            .cloned()
            .collect()
    });
    if pending.is_empty() {
        return Ok(());
    }
    let mut room = node_room(ctx);
    for pod in pending {
        bind(ctx, &pod, &mut room)?;
    }
    Ok(())
}

fn bind(
    ctx: &mut Context<'_>,
    pod: &Value,
    room: &mut BTreeMap<String, (f64, f64, f64, Value)>,
) -> Result<(), ApiError> {
    let (requests, _) = pod_resources(pod);
    let cpu = requests.get("cpu").copied().unwrap_or(0.0);
    let memory = requests.get("memory").copied().unwrap_or(0.0);
    let mut short_cpu = 0;
    let mut short_memory = 0;
    let mut short_pods = 0;
    let mut mismatched = 0;
    // Least allocated first: the node with the most free CPU wins, as the default scorer prefers.
    let mut best: Option<(String, f64)> = None;
    for (name, (free_cpu, free_mem, free_pods, node)) in room.iter() {
        if !selector_matches(pod, node) {
            mismatched += 1;
            continue;
        }
        let fits_cpu = *free_cpu + 1e-9 >= cpu;
        let fits_mem = *free_mem + 1e-9 >= memory;
        let fits_pods = *free_pods >= 1.0;
        short_cpu += usize::from(!fits_cpu);
        short_memory += usize::from(!fits_mem);
        short_pods += usize::from(!fits_pods);
        // Most free CPU wins; free pod slots break ties so identical nodes share the load.
        let score = *free_cpu + *free_pods * 0.001;
        if fits_cpu && fits_mem && fits_pods && best.as_ref().is_none_or(|(_, s)| score > *s) {
            best = Some((name.clone(), score));
        }
    }
    let pods = rt("", "pods");
    let ns = meta_str(pod, "namespace").to_owned();
    let name = meta_str(pod, "name").to_owned();
    match best {
        Some((node, _)) => {
            if let Some(r) = room.get_mut(&node) {
                r.0 -= cpu;
                r.1 -= memory;
                r.2 -= 1.0;
            }
            let updated = ctx.store.modify(pods, &ns, &name, Part::Whole, |p| {
                p["spec"]["nodeName"] = json!(node);
                if !p.get("status").is_some_and(Value::is_object) {
                    p["status"] = json!({});
                }
                p["status"]["phase"] = json!("Pending");
                p["status"]["conditions"] = json!([condition("PodScheduled", true, None, None)]);
                Ok(())
            })?;
            events::record(
                ctx.store,
                &updated,
                false,
                "Scheduled",
                &format!("Successfully assigned {ns}/{name} to {node}"),
                "default-scheduler",
            );
            ctx.wake_after(std::time::Duration::ZERO, Target::Pod(ns, name));
        }
        None => {
            let total = room.len();
            let mut reasons = Vec::new();
            if short_cpu > 0 {
                reasons.push(format!("{short_cpu} Insufficient cpu"));
            }
            if short_memory > 0 {
                reasons.push(format!("{short_memory} Insufficient memory"));
            }
            if short_pods > 0 {
                reasons.push(format!("{short_pods} Too many pods"));
            }
            if mismatched > 0 {
                reasons.push(format!(
                    "{mismatched} node(s) didn't match Pod's node affinity/selector"
                ));
            }
            let message = if total == 0 {
                "no nodes available to schedule pods".to_owned()
            } else {
                format!("0/{total} nodes are available: {}.", reasons.join(", "))
            };
            let already = pod
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "PodScheduled" && c["message"] == message.as_str())
                });
            if !already {
                let updated = ctx.store.modify(pods, &ns, &name, Part::Status, |p| {
                    p["status"] = json!({
                        "phase": "Pending",
                        "qosClass": qos_class(p),
                        "conditions": [condition("PodScheduled", false, Some("Unschedulable"), Some(&message))],
                    });
                    Ok(())
                })?;
                events::record(
                    ctx.store,
                    &updated,
                    true,
                    "FailedScheduling",
                    &message,
                    "default-scheduler",
                );
            }
        }
    }
    Ok(())
}

/// The kubelet's part for one pod.
pub fn pod(ctx: &mut Context<'_>, ns: &str, name: &str) -> Result<(), ApiError> {
    let pods = rt("", "pods");
    let pod = ctx.store.get(pods, ns, name)?;
    if !pod_active(&pod) {
        return Ok(());
    }
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if node.is_empty() {
        // Binding happens in one batch per pass: computing free room is a scan of all pods.
        ctx.wake_after(std::time::Duration::ZERO, Target::Unscheduled);
        return Ok(());
    }
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    let script = annotation(&pod, SCRIPT).unwrap_or_default().to_owned();
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let container_status = |ready: bool, state: Value, restarts: i64| -> Vec<Value> {
        containers
            .iter()
            .map(|c| {
                json!({
                    "name": c.get("name").cloned().unwrap_or(Value::Null),
                    "image": c.get("image").cloned().unwrap_or(Value::Null),
                    "imageID": format!("sandbox://{}", c.get("image").and_then(Value::as_str).unwrap_or_default()),
                    "containerID": format!("sandbox://{}-{}", meta_str(&pod, "uid"), c.get("name").and_then(Value::as_str).unwrap_or_default()),
                    "ready": ready,
                    "started": ready,
                    "restartCount": restarts,
                    "state": state,
                })
            })
            .collect()
    };
    if phase == "Pending" {
        let started = now();
        let ip = pod_ip(&pod);
        let updated = ctx.store.modify(pods, ns, name, Part::Status, |p| {
            p["status"] = json!({
                "phase": "Running",
                "hostIP": node_ip(&node),
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "startTime": started,
                "qosClass": qos_class(p),
                "conditions": [
                    condition("PodReadyToStartContainers", true, None, None),
                    condition("Initialized", true, None, None),
                    condition("Ready", false, Some("ContainersNotReady"), Some("containers with unready status")),
                    condition("ContainersReady", false, Some("ContainersNotReady"), Some("containers with unready status")),
                    condition("PodScheduled", true, None, None),
                ],
                "containerStatuses": container_status(false, json!({"running": {"startedAt": started}}), 0),
            });
            Ok(())
        })?;
        events::record(
            ctx.store,
            &updated,
            false,
            "Started",
            "Started container",
            "kubelet",
        );
        let delay = if runs_to_completion(&pod) {
            seconds(&pod, RUN_SECONDS, 2.0)
        } else if script == "crash-loop" {
            5.0
        } else {
            seconds(&pod, READY_AFTER, 1.0)
        };
        ctx.wake_after(
            ctx.clock.scaled(delay),
            Target::Pod(ns.to_owned(), name.to_owned()),
        );
        return Ok(());
    }
    if phase != "Running" {
        return Ok(());
    }
    let started = pod
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .and_then(parse_time)
        .unwrap_or_else(jiff::Timestamp::now);
    let elapsed =
        (jiff::Timestamp::now().as_millisecond() - started.as_millisecond()) as f64 / 1000.0;
    let elapsed_sim = elapsed * ctx.clock.speed;

    if runs_to_completion(&pod) {
        let run = seconds(&pod, RUN_SECONDS, 2.0);
        if elapsed_sim + 0.5 < run {
            ctx.wake_after(
                ctx.clock.scaled(run - elapsed_sim),
                Target::Pod(ns.to_owned(), name.to_owned()),
            );
            return Ok(());
        }
        let failed = script == "fail";
        let finished = now();
        let exit_code = i32::from(failed);
        let state = json!({"terminated": {"exitCode": exit_code, "reason": if failed { "Error" } else { "Completed" }, "startedAt": pod.pointer("/status/startTime").cloned().unwrap_or(Value::Null), "finishedAt": finished}});
        ctx.store.modify(pods, ns, name, Part::Status, |p| {
            p["status"]["phase"] = json!(if failed { "Failed" } else { "Succeeded" });
            p["status"]["conditions"] = json!([
                condition("Initialized", true, None, None),
                condition("Ready", false, Some("PodCompleted"), None),
                condition("ContainersReady", false, Some("PodCompleted"), None),
                condition("PodScheduled", true, None, None),
            ]);
            p["status"]["containerStatuses"] = json!(container_status(false, state.clone(), 0));
            Ok(())
        })?;
        return Ok(());
    }

    match script.as_str() {
        "crash-loop" => {
            // Restarts back off as the kubelet's do: 10 s, 20 s, 40 s … capped at 5 min.
            let restarts = crash_restarts(elapsed_sim);
            let current = int_at(&pod, "/status/containerStatuses/0/restartCount", 0);
            if restarts != current {
                let updated = ctx.store.modify(pods, ns, name, Part::Status, |p| {
                    let state = json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}});
                    p["status"]["containerStatuses"] = json!(container_status(false, state, restarts));
                    Ok(())
                })?;
                events::record(
                    ctx.store,
                    &updated,
                    true,
                    "BackOff",
                    "Back-off restarting failed container",
                    "kubelet",
                );
            }
            let next = next_crash_at(restarts + 1);
            ctx.wake_after(
                ctx.clock.scaled((next - elapsed_sim).max(1.0)),
                Target::Pod(ns.to_owned(), name.to_owned()),
            );
        }
        "never-ready" => {
            if !pod_ready(&pod) && elapsed_sim >= seconds(&pod, READY_AFTER, 1.0) {
                events::record(
                    ctx.store,
                    &pod,
                    true,
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503",
                    "kubelet",
                );
            }
        }
        _ => {
            if pod_ready(&pod) {
                return Ok(());
            }
            let ready_after = seconds(&pod, READY_AFTER, 1.0);
            if elapsed_sim + 0.05 < ready_after {
                ctx.wake_after(
                    ctx.clock.scaled(ready_after - elapsed_sim),
                    Target::Pod(ns.to_owned(), name.to_owned()),
                );
                return Ok(());
            }
            let started_at = pod
                .pointer("/status/startTime")
                .cloned()
                .unwrap_or(Value::Null);
            ctx.store.modify(pods, ns, name, Part::Status, |p| {
                p["status"]["conditions"] = json!([
                    condition("PodReadyToStartContainers", true, None, None),
                    condition("Initialized", true, None, None),
                    condition("Ready", true, None, None),
                    condition("ContainersReady", true, None, None),
                    condition("PodScheduled", true, None, None),
                ]);
                p["status"]["containerStatuses"] = json!(container_status(
                    true,
                    json!({"running": {"startedAt": started_at}}),
                    0
                ));
                Ok(())
            })?;
        }
    }
    Ok(())
}

fn pod_ip(pod: &Value) -> String {
    let uid = meta_str(pod, "uid").as_bytes().to_vec();
    let a = uid.first().copied().unwrap_or(1);
    let b = uid.get(1).copied().unwrap_or(1);
    format!("10.244.{}.{}", a % 250, b % 250 + 2)
}

fn node_ip(node: &str) -> String {
    let sum: u32 = node.bytes().map(u32::from).sum();
    format!("10.0.0.{}", sum % 250 + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_classes() {
        let pod = |res: Value| json!({"spec": {"containers": [{"name": "c", "resources": res}]}});
        assert_eq!(qos_class(&pod(json!({}))), "BestEffort");
        assert_eq!(
            qos_class(&pod(json!({"requests": {"cpu": "100m"}}))),
            "Burstable"
        );
        assert_eq!(
            qos_class(&pod(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&pod(
                json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}})
            )),
            "Burstable"
        );
    }

    #[test]
    fn crash_loop_backs_off() {
        assert_eq!(crash_restarts(5.0), 0);
        assert_eq!(crash_restarts(10.0), 1);
        assert_eq!(crash_restarts(29.0), 1);
        assert_eq!(crash_restarts(30.0), 2);
    }
}
