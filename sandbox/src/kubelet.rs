//! What a kubelet would report for a pod bound to a simulated node, as a pure function of the
//! pod (its spec, the scenario's script annotations, its start time) and the time now. The node
//! simulator writes the answer through `pods/status` whenever its stage changes.
//!
//! Scripts (annotations on the pod template): `sandbox.berth.dev/ready-after: "5"` (seconds to
//! Ready), `sandbox.berth.dev/script: never-ready | crash-loop | fail | image-pull-error`,
//! `sandbox.berth.dev/run-seconds` (how long a run-to-completion pod runs).

use serde_json::{Value, json};

/// Seconds until a started pod reports Ready.
pub const READY_AFTER: &str = "sandbox.berth.dev/ready-after";
/// `never-ready`, `crash-loop`, `fail` (a run-to-completion pod that fails), `image-pull-error`.
pub const SCRIPT: &str = "sandbox.berth.dev/script";
/// Seconds a run-to-completion pod runs.
pub const RUN_SECONDS: &str = "sandbox.berth.dev/run-seconds";
use crate::metrics::annotation;

/// A pod's status at one moment, the stage it is in (two statuses of one stage differ only in
/// nothing a reader cares about), and when the stage next changes by itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Lifecycle {
    pub stage: String,
    pub status: Value,
    /// Seconds from now until the stage changes on its own; `None` if it never does.
    pub recheck_in: Option<f64>,
    /// The warning a kubelet records when the pod enters this stage.
    pub warning: Option<Warning>,
}

/// A Warning event about the pod, as a kubelet words it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub reason: &'static str,
    pub message: String,
}

fn seconds(pod: &Value, key: &str, default: f64) -> f64 {
    annotation(pod, key)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .unwrap_or(default)
}

fn runs_to_completion(pod: &Value) -> bool {
    matches!(
        pod.pointer("/spec/restartPolicy").and_then(Value::as_str),
        Some("Never" | "OnFailure")
    )
}

/// RFC 3339 for a Unix time in milliseconds, at second precision as the kubelet writes.
pub fn rfc3339(unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// The stage a status written earlier is in, so a restarted simulator does not rewrite it.
pub fn stage_of(pod: &Value) -> String {
    let status = pod.get("status").cloned().unwrap_or(Value::Null);
    let phase = status
        .get("phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    if status.get("startTime").is_none() {
        return "new".to_owned();
    }
    let first = status.pointer("/containerStatuses/0");
    let ready = first
        .and_then(|c| c.get("ready"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let restarts = first
        .and_then(|c| c.get("restartCount"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let waiting = first
        .and_then(|c| c.pointer("/state/waiting/reason"))
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("{phase}/{ready}/{restarts}/{waiting}")
}

fn condition(kind: &str, status: bool, at: &str, reason: Option<&str>) -> Value {
    let mut c = json!({"type": kind, "status": if status { "True" } else { "False" }, "lastTransitionTime": at, "lastProbeTime": null});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    c
}

/// What the kubelet reports for `pod` on a node at `host_ip`, at `now_ms` (Unix ms).
/// `speed` scales the scripted delays (2 runs them twice as fast).
pub fn lifecycle(pod: &Value, host_ip: &str, pod_ip: &str, now_ms: i64, speed: f64) -> Lifecycle {
    let speed = if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        1.0
    };
    let started_ms = pod
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .unwrap_or(now_ms);
    let started = rfc3339(started_ms);
    let elapsed = (now_ms - started_ms).max(0) as f64 / 1000.0 * speed;
    let script = annotation(pod, SCRIPT).unwrap_or_default();
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let statuses = |ready: bool, state: &Value, restarts: i64, last: &Value| -> Value {
        containers
            .iter()
            .map(|c| {
                let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
                let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
                json!({
                    "name": name,
                    "image": image,
                    "imageID": format!("sandbox://{image}"),
                    "containerID": format!("sandbox://{uid}-{name}"),
                    "ready": ready,
                    "started": state.get("running").is_some(),
                    "restartCount": restarts,
                    "state": state,
                    "lastState": last,
                })
            })
            .collect()
    };
    let at = |secs: f64| rfc3339(started_ms + (secs / speed * 1000.0) as i64);
    let base = |phase: &str, ready: bool, ready_at: &str, reason: Option<&str>, cs: Value| {
        json!({
            "phase": phase,
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "startTime": started,
            "conditions": [
                condition("PodReadyToStartContainers", true, &started, None),
                condition("Initialized", true, &started, None),
                condition("Ready", ready, ready_at, reason),
                condition("ContainersReady", ready, ready_at, reason),
                condition("PodScheduled", true, &started, None),
            ],
            "containerStatuses": cs,
        })
    };
    let running = json!({"running": {"startedAt": started}});
    let nothing = json!({});
    let until = |secs: f64| Some(((secs - elapsed) / speed).max(0.05));

    if script == "image-pull-error" {
        let image = containers
            .first()
            .and_then(|c| c.get("image"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let waiting = json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}});
        let cs = statuses(false, &waiting, 0, &nothing);
        let mut status = base("Pending", false, &started, Some("ContainersNotReady"), cs);
        status["podIP"] = Value::Null;
        status["podIPs"] = Value::Null;
        let lifecycle = Lifecycle {
            stage: String::new(),
            status,
            recheck_in: None,
            warning: Some(Warning {
                reason: "Failed",
                message: format!("Failed to pull image \"{image}\": not found"),
            }),
        };
        return staged(lifecycle);
    }
    if runs_to_completion(pod) {
        let run = seconds(pod, RUN_SECONDS, 2.0);
        if elapsed < run {
            let cs = statuses(false, &running, 0, &nothing);
            let status = base("Running", false, &started, Some("ContainersNotReady"), cs);
            return staged(Lifecycle {
                stage: String::new(),
                status,
                recheck_in: until(run),
                warning: None,
            });
        }
        let failed = script == "fail";
        let finished = at(run);
        let terminated = json!({"terminated": {"exitCode": i32::from(failed), "reason": if failed { "Error" } else { "Completed" }, "startedAt": started, "finishedAt": finished}});
        let cs = statuses(false, &terminated, 0, &nothing);
        let phase = if failed { "Failed" } else { "Succeeded" };
        let mut status = base(phase, false, &finished, Some("PodCompleted"), cs);
        status["podIP"] = json!(pod_ip);
        return staged(Lifecycle {
            stage: String::new(),
            status,
            recheck_in: None,
            warning: None,
        });
    }
    match script {
        "crash-loop" => {
            // Restarts back off as the kubelet's do: 10 s, 20 s, 40 s … capped at 5 minutes.
            let restarts = crash_restarts(elapsed);
            let waiting = json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}});
            let last = json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": started, "finishedAt": at(next_crash_at(restarts))}});
            let cs = statuses(false, &waiting, restarts, &last);
            let status = base("Running", false, &started, Some("ContainersNotReady"), cs);
            let name = containers
                .first()
                .and_then(|c| c.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            staged(Lifecycle {
                stage: String::new(),
                status,
                recheck_in: until(next_crash_at(restarts + 1)),
                warning: (restarts > 0).then(|| Warning {
                    reason: "BackOff",
                    message: format!("Back-off restarting failed container {name}"),
                }),
            })
        }
        "never-ready" => {
            let cs = statuses(false, &running, 0, &nothing);
            let status = base("Running", false, &started, Some("ContainersNotReady"), cs);
            staged(Lifecycle {
                stage: String::new(),
                status,
                recheck_in: None,
                warning: Some(Warning {
                    reason: "Unhealthy",
                    message: "Readiness probe failed: HTTP probe failed with statuscode: 503"
                        .to_owned(),
                }),
            })
        }
        _ => {
            let ready_after = seconds(pod, READY_AFTER, 1.0);
            let ready = elapsed >= ready_after;
            let cs = statuses(ready, &running, 0, &nothing);
            let (ready_at, reason) = if ready {
                (at(ready_after), None)
            } else {
                (started.clone(), Some("ContainersNotReady"))
            };
            let status = base("Running", ready, &ready_at, reason, cs);
            staged(Lifecycle {
                stage: String::new(),
                status,
                recheck_in: if ready { None } else { until(ready_after) },
                warning: None,
            })
        }
    }
}

fn staged(mut lifecycle: Lifecycle) -> Lifecycle {
    lifecycle.stage = stage_of(&json!({"status": lifecycle.status}));
    lifecycle
}

/// Seconds after start at which restart number `restart` happens.
pub(crate) fn next_crash_at(restart: i64) -> f64 {
    let mut t = 0.0;
    let mut backoff = 10.0;
    for _ in 0..restart {
        t += backoff;
        backoff = (backoff * 2.0_f64).min(300.0);
    }
    t
}

/// Restarts a crash-looping container has had `elapsed` seconds after start.
pub(crate) fn crash_restarts(elapsed: f64) -> i64 {
    let mut n = 0;
    while next_crash_at(n + 1) <= elapsed && n < 10_000 {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_780_000_000_000;

    fn pod(annotations: Value, restart_policy: &str) -> Value {
        json!({
            "metadata": {"uid": "u1", "annotations": annotations},
            "spec": {"restartPolicy": restart_policy, "containers": [{"name": "web", "image": "web:1"}]},
        })
    }

    fn started(mut pod: Value, lifecycle: &Lifecycle) -> Value {
        pod["status"] = lifecycle.status.clone();
        pod
    }

    #[test]
    fn a_plain_pod_runs_then_becomes_ready_after_its_delay() {
        let p = pod(json!({READY_AFTER: "5"}), "Always");
        let first = lifecycle(&p, "10.0.0.2", "10.244.0.9", T0, 1.0);
        assert_eq!(first.status["phase"], "Running");
        assert_eq!(first.status["containerStatuses"][0]["ready"], false);
        assert_eq!(first.recheck_in, Some(5.0));
        let p = started(p, &first);
        let later = lifecycle(&p, "10.0.0.2", "10.244.0.9", T0 + 5_000, 1.0);
        assert_eq!(later.status["containerStatuses"][0]["ready"], true);
        assert_eq!(later.status["conditions"][2]["status"], "True");
        assert_eq!(later.recheck_in, None);
        assert_ne!(first.stage, later.stage);
        // Read back, the written status is in the stage that wrote it: nothing to rewrite.
        assert_eq!(stage_of(&started(p, &later)), later.stage);
    }

    #[test]
    fn jobs_complete_or_fail_after_their_run_time() {
        let ok = pod(json!({RUN_SECONDS: "3"}), "Never");
        let first = lifecycle(&ok, "h", "p", T0, 1.0);
        assert_eq!(first.status["phase"], "Running");
        let done = lifecycle(&started(ok, &first), "h", "p", T0 + 3_000, 1.0);
        assert_eq!(done.status["phase"], "Succeeded");
        assert_eq!(
            done.status["containerStatuses"][0]["state"]["terminated"]["exitCode"],
            0
        );
        let bad = pod(json!({RUN_SECONDS: "1", SCRIPT: "fail"}), "Never");
        let first = lifecycle(&bad, "h", "p", T0, 1.0);
        let done = lifecycle(&started(bad, &first), "h", "p", T0 + 1_000, 1.0);
        assert_eq!(done.status["phase"], "Failed");
    }

    #[test]
    fn crash_loops_back_off_and_image_pulls_fail() {
        let p = pod(json!({SCRIPT: "crash-loop"}), "Always");
        let first = lifecycle(&p, "h", "p", T0, 1.0);
        assert_eq!(first.recheck_in, Some(10.0));
        let p = started(p, &first);
        assert_eq!(first.warning, None);
        let later = lifecycle(&p, "h", "p", T0 + 31_000, 1.0);
        assert_eq!(later.status["containerStatuses"][0]["restartCount"], 2);
        assert_eq!(later.warning.map(|w| w.reason), Some("BackOff"));
        assert_eq!(
            later.status["containerStatuses"][0]["state"]["waiting"]["reason"],
            "CrashLoopBackOff"
        );
        let pull = pod(json!({SCRIPT: "image-pull-error"}), "Always");
        let status = lifecycle(&pull, "h", "p", T0, 1.0).status;
        assert_eq!(status["phase"], "Pending");
        assert_eq!(
            status["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ImagePullBackOff"
        );
    }

    #[test]
    fn scripted_time_runs_at_the_scenario_speed() {
        let p = pod(json!({READY_AFTER: "10"}), "Always");
        assert_eq!(lifecycle(&p, "h", "p", T0, 2.0).recheck_in, Some(5.0));
        // A nonsense delay falls back to the default instead of never becoming ready.
        let p = pod(json!({READY_AFTER: "-3"}), "Always");
        assert_eq!(lifecycle(&p, "h", "p", T0, 1.0).recheck_in, Some(1.0));
    }
}
