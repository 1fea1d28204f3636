//! The Deployment and ReplicaSet controllers: rolling updates through ReplicaSets with
//! revisions, maxSurge / maxUnavailable, status and conditions as the real controllers write.

use serde_json::{Value, json};

use super::{
    Context, Target, events, flag_at, int_at, meta_str, now, owned_by, owner_reference, parse_time,
    pod_active, pod_ready, rt, template_hash,
};
use crate::status::ApiError;
use crate::store::{Part, Propagation};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";

fn replicas(object: &Value) -> i64 {
    int_at(object, "/spec/replicas", 1)
}

fn status_i64(object: &Value, field: &str) -> i64 {
    object
        .pointer(&format!("/status/{field}"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn revision(rs: &Value) -> i64 {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// An int-or-percent against `total`, rounded up (surge) or down (unavailable).
fn resolve(value: Option<&Value>, total: i64, default_percent: i64, round_up: bool) -> i64 {
    let percent = |p: f64| {
        let v = p * total as f64 / 100.0;
        if round_up {
            v.ceil() as i64
        } else {
            v.floor() as i64
        }
    };
    match value {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse::<f64>().ok()) {
            Some(p) => percent(p),
            None => s.parse().unwrap_or(0),
        },
        _ => percent(default_percent as f64),
    }
}

/// The template without the label the controller adds, and without the nulls and empty maps
/// that clients serialising Go structs add (`creationTimestamp: null`, `resources: {}`), so
/// that a template written back by `kubectl rollout undo` compares equal to its ReplicaSet's.
fn bare_template(template: &Value) -> Value {
    let mut t = normalized(template);
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
    }
    t
}

fn normalized(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalized(v)))
                .filter(|(_, v)| {
                    !v.is_null() && !v.as_object().is_some_and(serde_json::Map::is_empty)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

pub fn replicaset(ctx: &mut Context<'_>, ns: &str, name: &str) -> Result<(), ApiError> {
    let sets = rt("apps", "replicasets");
    let rs = ctx.store.get(sets, ns, name)?;
    if rs.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(());
    }
    let pods_rt = rt("", "pods");
    let all_pods = ctx.store.list_in(pods_rt, ns);
    let mut pods: Vec<Value> = owned_by(&all_pods, &rs)
        .filter(|p| pod_active(p))
        .cloned()
        .collect();
    let desired = replicas(&rs);
    let mut failure: Option<String> = None;
    let have = pods.len() as i64;
    if have < desired {
        for _ in have..desired {
            match create_pod(ctx, &rs, "ReplicaSet", "apps/v1", None) {
                Ok(pod) => pods.push(pod),
                Err(err) => {
                    events::record(
                        ctx.store,
                        &rs,
                        true,
                        "FailedCreate",
                        &format!("Error creating: {}", err.message),
                        "replicaset-controller",
                    );
                    failure = Some(err.message);
                    // Quota may free up; try again later, as the controller requeues.
                    ctx.wake_after(
                        std::time::Duration::from_secs(5),
                        Target::ReplicaSet(ns.to_owned(), name.to_owned()),
                    );
                    break;
                }
            }
        }
    } else if have > desired {
        // Unscheduled first, then not ready, then the newest: the cheapest to lose.
        pods.sort_by_key(|p| {
            let scheduled = !p
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .is_empty();
            (
                scheduled,
                pod_ready(p),
                std::cmp::Reverse(meta_str(p, "creationTimestamp").to_owned()),
            )
        });
        let excess = usize::try_from(have - desired).unwrap_or(0);
        for pod in pods.drain(..excess) {
            match ctx.store.delete(
                pods_rt,
                ns,
                meta_str(&pod, "name"),
                Propagation::Background,
                None,
                None,
            ) {
                Ok(_) | Err(ApiError { code: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let ready = pods.iter().filter(|p| pod_ready(p)).count() as i64;
    let mut status = json!({
        "replicas": pods.len(),
        "fullyLabeledReplicas": pods.len(),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": rs.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
    });
    if let Some(message) = failure {
        status["conditions"] = json!([{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": message, "lastTransitionTime": now()}]);
    }
    if rs.get("status") != Some(&status) {
        ctx.store.modify(sets, ns, name, Part::Status, |obj| {
            obj["status"] = status.clone();
            Ok(())
        })?;
    }
    Ok(())
}

/// A pod from `owner`'s template; `fixed_name` for StatefulSets, else `{owner}-{random}`.
pub(crate) fn create_pod(
    ctx: &mut Context<'_>,
    owner: &Value,
    kind: &str,
    api_version: &str,
    fixed_name: Option<(String, Value)>,
) -> Result<Value, ApiError> {
    let ns = meta_str(owner, "namespace").to_owned();
    let template = owner
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut metadata = template
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let (name, extra) = match fixed_name {
        Some((n, extra)) => (n, extra),
        None => (
            format!("{}-{}", meta_str(owner, "name"), super::random_suffix()),
            json!({}),
        ),
    };
    metadata["name"] = json!(name);
    metadata["ownerReferences"] = json!([owner_reference(kind, api_version, owner)]);
    if let Some(extra) = extra.as_object() {
        for (k, v) in extra {
            if !metadata.get("labels").is_some_and(Value::is_object) {
                metadata["labels"] = json!({});
            }
            metadata["labels"][k] = v.clone();
        }
    }
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    if spec.get("restartPolicy").is_none() {
        spec["restartPolicy"] = json!("Always");
    }
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec});
    let created = ctx.store.create(rt("", "pods"), &ns, pod)?;
    events::record(
        ctx.store,
        owner,
        false,
        "SuccessfulCreate",
        &format!("Created pod: {name}"),
        &format!("{}-controller", kind.to_ascii_lowercase()),
    );
    Ok(created)
}

fn set_replicas(
    ctx: &mut Context<'_>,
    rs: &Value,
    count: i64,
    deployment: &Value,
) -> Result<Value, ApiError> {
    let before = replicas(rs);
    if before == count {
        return Ok(rs.clone());
    }
    let ns = meta_str(rs, "namespace");
    let updated = ctx.store.modify(
        rt("apps", "replicasets"),
        ns,
        meta_str(rs, "name"),
        Part::Main,
        |obj| {
            obj["spec"]["replicas"] = json!(count);
            obj["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                json!(replicas(deployment).to_string());
            Ok(())
        },
    )?;
    let verb = if count > before { "up" } else { "down" };
    events::record(
        ctx.store,
        deployment,
        false,
        "ScalingReplicaSet",
        &format!(
            "Scaled {verb} replica set {} from {before} to {count}",
            meta_str(rs, "name")
        ),
        "deployment-controller",
    );
    Ok(updated)
}

pub fn deployment(ctx: &mut Context<'_>, ns: &str, name: &str) -> Result<(), ApiError> {
    let deployments = rt("apps", "deployments");
    let sets = rt("apps", "replicasets");
    let d = ctx.store.get(deployments, ns, name)?;
    if d.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(());
    }
    let desired = replicas(&d);
    let paused = flag_at(&d, "/spec/paused", false);
    let template = bare_template(d.pointer("/spec/template").unwrap_or(&Value::Null));
    let all = ctx.store.list_in(sets, ns);
    let mut owned: Vec<Value> = owned_by(&all, &d).cloned().collect();
    let max_revision = owned.iter().map(revision).max().unwrap_or(0);
    let mut new_rs = owned
        .iter()
        .find(|rs| rs.pointer("/spec/template").map(bare_template).as_ref() == Some(&template))
        .cloned();
    let mut created_new = false;

    if !paused {
        match &new_rs {
            None => {
                let hash = template_hash(&template);
                let mut rs_template = template.clone();
                rs_template["metadata"]["labels"][HASH_LABEL] = json!(hash);
                let mut selector = d
                    .pointer("/spec/selector")
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                selector["matchLabels"][HASH_LABEL] = json!(hash);
                let mut annotations = json!({
                    REVISION: (max_revision + 1).to_string(),
                    "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                    "deployment.kubernetes.io/max-replicas": (desired + resolve(d.pointer("/spec/strategy/rollingUpdate/maxSurge"), desired, 25, true)).to_string(),
                });
                if let Some(cause) = d
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get("kubernetes.io/change-cause"))
                {
                    annotations["kubernetes.io/change-cause"] = cause.clone();
                }
                let rs = json!({
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": format!("{name}-{hash}"),
                        "labels": rs_template["metadata"]["labels"].clone(),
                        "annotations": annotations,
                        "ownerReferences": [owner_reference("Deployment", "apps/v1", &d)],
                    },
                    "spec": {"replicas": 0, "selector": selector, "template": rs_template, "minReadySeconds": d.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0))},
                });
                let created = ctx.store.create(sets, ns, rs)?;
                owned.push(created.clone());
                new_rs = Some(created);
                created_new = true;
            }
            Some(rs) if revision(rs) < max_revision => {
                // A rollback to an older template: that ReplicaSet becomes the newest revision.
                let bumped =
                    ctx.store
                        .modify(sets, ns, meta_str(rs, "name"), Part::Main, |obj| {
                            obj["metadata"]["annotations"][REVISION] =
                                json!((max_revision + 1).to_string());
                            if let Some(cause) = d
                                .pointer("/metadata/annotations")
                                .and_then(|a| a.get("kubernetes.io/change-cause"))
                            {
                                obj["metadata"]["annotations"]["kubernetes.io/change-cause"] =
                                    cause.clone();
                            }
                            Ok(())
                        })?;
                owned.retain(|o| meta_str(o, "uid") != meta_str(&bumped, "uid"));
                owned.push(bumped.clone());
                new_rs = Some(bumped);
            }
            Some(_) => {}
        }
        if let Some(new) = new_rs.clone() {
            new_rs = Some(scale(ctx, &d, new, &mut owned)?);
        }
        cleanup(ctx, &d, &owned)?;
    }
    update_status(ctx, &d, new_rs.as_ref(), &owned, created_new)
}

/// One step of the rollout: scale the new ReplicaSet up and old ones down within the limits.
fn scale(
    ctx: &mut Context<'_>,
    d: &Value,
    mut new: Value,
    owned: &mut [Value],
) -> Result<Value, ApiError> {
    let desired = replicas(d);
    let new_uid = meta_str(&new, "uid").to_owned();
    let mut old: Vec<&mut Value> = owned
        .iter_mut()
        .filter(|rs| meta_str(rs, "uid") != new_uid)
        .collect();
    old.sort_by_key(|rs| meta_str(rs, "creationTimestamp").to_owned());
    let recreate = d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate");
    if recreate {
        let mut old_pods = 0;
        for rs in old.iter_mut() {
            old_pods += status_i64(rs, "replicas");
            if replicas(rs) > 0 {
                **rs = set_replicas(ctx, rs, 0, d)?;
            }
        }
        if old_pods == 0 {
            new = set_replicas(ctx, &new, desired, d)?;
        }
        return Ok(new);
    }
    let mut surge = resolve(
        d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
        desired,
        25,
        true,
    );
    let unavailable = resolve(
        d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
        desired,
        25,
        false,
    );
    if surge == 0 && unavailable == 0 {
        surge = 1;
    }
    let old_total: i64 = old.iter().map(|rs| replicas(rs)).sum();
    let new_count = replicas(&new);
    if new_count > desired {
        new = set_replicas(ctx, &new, desired, d)?;
    } else if new_count < desired {
        let room = desired + surge - (old_total + new_count);
        if room > 0 {
            new = set_replicas(ctx, &new, new_count + room.min(desired - new_count), d)?;
        }
    }
    // Scale old down only as far as availability allows.
    let min_available = desired - unavailable;
    let all_available: i64 = status_i64(&new, "availableReplicas")
        + old
            .iter()
            .map(|rs| status_i64(rs, "availableReplicas"))
            .sum::<i64>();
    let new_unavailable = (replicas(&new) - status_i64(&new, "availableReplicas")).max(0);
    let mut budget = all_available - min_available - new_unavailable;
    // Old pods that are not available cost no availability to remove.
    for rs in old.iter_mut() {
        let unhealthy = (replicas(rs) - status_i64(rs, "availableReplicas")).max(0);
        if unhealthy > 0 {
            let target = replicas(rs) - unhealthy;
            **rs = set_replicas(ctx, rs, target, d)?;
        }
    }
    for rs in old.iter_mut() {
        if budget <= 0 {
            break;
        }
        let cut = replicas(rs).min(budget);
        if cut > 0 {
            let target = replicas(rs) - cut;
            **rs = set_replicas(ctx, rs, target, d)?;
            budget -= cut;
        }
    }
    Ok(new)
}

/// Old ReplicaSets beyond `revisionHistoryLimit` that run nothing are deleted.
fn cleanup(ctx: &mut Context<'_>, d: &Value, owned: &[Value]) -> Result<(), ApiError> {
    let limit = int_at(d, "/spec/revisionHistoryLimit", 10);
    let mut idle: Vec<&Value> = owned
        .iter()
        .filter(|rs| replicas(rs) == 0 && status_i64(rs, "replicas") == 0)
        .collect();
    let newest = owned.iter().map(revision).max().unwrap_or(0);
    idle.retain(|rs| revision(rs) != newest);
    idle.sort_by_key(|rs| revision(rs));
    let excess = idle
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    for rs in idle.into_iter().take(excess) {
        match ctx.store.delete(
            rt("apps", "replicasets"),
            meta_str(rs, "namespace"),
            meta_str(rs, "name"),
            Propagation::Background,
            None,
            None,
        ) {
            Ok(_) | Err(ApiError { code: 404, .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn condition(
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    previous: Option<&Value>,
    touch: bool,
) -> Value {
    let stamp = now();
    let same_status = previous.is_some_and(|p| p["status"] == status);
    let transition = if same_status {
        previous
            .map(|p| p["lastTransitionTime"].clone())
            .unwrap_or(json!(stamp))
    } else {
        json!(stamp)
    };
    let unchanged = previous
        .is_some_and(|p| p["status"] == status && p["reason"] == reason && p["message"] == message);
    let update = if unchanged && !touch {
        previous
            .map(|p| p["lastUpdateTime"].clone())
            .unwrap_or(json!(stamp))
    } else {
        json!(stamp)
    };
    json!({"type": kind, "status": status, "lastUpdateTime": update, "lastTransitionTime": transition, "reason": reason, "message": message})
}

fn update_status(
    ctx: &mut Context<'_>,
    d: &Value,
    new_rs: Option<&Value>,
    owned: &[Value],
    created_new: bool,
) -> Result<(), ApiError> {
    let desired = replicas(d);
    let sum = |field: &str| owned.iter().map(|rs| status_i64(rs, field)).sum::<i64>();
    let total_spec: i64 = owned.iter().map(replicas).sum();
    let updated = new_rs.map(|rs| status_i64(rs, "replicas")).unwrap_or(0);
    let available = sum("availableReplicas");
    let counts = json!({
        "replicas": sum("replicas"),
        "updatedReplicas": updated,
        "readyReplicas": sum("readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": (total_spec.max(desired) - available).max(0),
    });
    let previous = d.get("status").cloned().unwrap_or_else(|| json!({}));
    let prev_cond = |kind: &str| {
        previous
            .get("conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
            .cloned()
    };
    let counts_changed = [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ]
    .iter()
    .any(|k| previous.get(*k) != counts.get(*k));
    let generation = int_at(d, "/metadata/generation", 1);
    let observed_before = previous
        .get("observedGeneration")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let paused = flag_at(d, "/spec/paused", false);
    let unavailable = resolve(
        d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
        desired,
        25,
        false,
    );
    let rs_name = new_rs
        .map(|rs| meta_str(rs, "name"))
        .unwrap_or_default()
        .to_owned();

    let available_cond = if available >= desired - unavailable {
        condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            prev_cond("Available").as_ref(),
            false,
        )
    } else {
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            prev_cond("Available").as_ref(),
            false,
        )
    };
    let prev_progress = prev_cond("Progressing");
    let complete = updated == desired && sum("replicas") == desired && available == desired;
    let deadline = int_at(d, "/spec/progressDeadlineSeconds", 600);
    let progress_cond = if paused {
        condition(
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused",
            prev_progress.as_ref(),
            false,
        )
    } else if complete {
        condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
            prev_progress.as_ref(),
            false,
        )
    } else if created_new {
        condition(
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            &format!("Created new replica set \"{rs_name}\""),
            prev_progress.as_ref(),
            true,
        )
    } else if counts_changed
        || generation > observed_before
        || prev_progress
            .as_ref()
            .is_some_and(|p| p["reason"] == "DeploymentPaused")
    {
        condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{rs_name}\" is progressing."),
            prev_progress.as_ref(),
            true,
        )
    } else {
        let last = prev_progress
            .as_ref()
            .and_then(|p| p["lastUpdateTime"].as_str())
            .and_then(parse_time)
            .unwrap_or_else(jiff::Timestamp::now);
        let waited =
            (jiff::Timestamp::now().as_second() - last.as_second()) as f64 * ctx.clock.speed;
        let timed_out = prev_progress
            .as_ref()
            .is_some_and(|p| p["reason"] == "ProgressDeadlineExceeded");
        if timed_out || waited > deadline as f64 {
            condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
                prev_progress.as_ref(),
                false,
            )
        } else {
            let remaining = (deadline as f64 - waited).max(0.0) + 1.0;
            ctx.wake_after(
                ctx.clock.scaled(remaining),
                Target::Deployment(
                    meta_str(d, "namespace").to_owned(),
                    meta_str(d, "name").to_owned(),
                ),
            );
            prev_progress.clone().unwrap_or_else(|| {
                condition(
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    &format!("ReplicaSet \"{rs_name}\" is progressing."),
                    None,
                    true,
                )
            })
        }
    };
    let mut status = counts;
    status["observedGeneration"] = json!(generation);
    status["conditions"] = json!([available_cond, progress_cond]);
    if previous != status {
        ctx.store.modify(
            rt("apps", "deployments"),
            meta_str(d, "namespace"),
            meta_str(d, "name"),
            Part::Status,
            |obj| {
                obj["status"] = status.clone();
                Ok(())
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_or_percent() {
        assert_eq!(resolve(None, 4, 25, true), 1);
        assert_eq!(resolve(None, 3, 25, false), 0);
        assert_eq!(resolve(Some(&json!("50%")), 3, 25, true), 2);
        assert_eq!(resolve(Some(&json!(2)), 10, 25, true), 2);
    }
}
