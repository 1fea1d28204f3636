//! StatefulSets (ordered pods `name-0 … name-n`, partitioned rolling updates) and DaemonSets
//! (one pod per eligible node), at the level Berth's rollout views need.

use serde_json::{Value, json};

use super::apps::create_pod;
use super::{Context, int_at, meta_str, owned_by, pod_active, pod_ready, rt, template_hash};
use crate::status::ApiError;
use crate::store::{Part, Propagation};

const REVISION_LABEL: &str = "controller-revision-hash";

fn delete_pod(ctx: &mut Context<'_>, pod: &Value) -> Result<(), ApiError> {
    match ctx.store.delete(
        rt("", "pods"),
        meta_str(pod, "namespace"),
        meta_str(pod, "name"),
        Propagation::Background,
        None,
        None,
    ) {
        Ok(_) | Err(ApiError { code: 404, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

fn pod_revision(pod: &Value) -> &str {
    pod.pointer("/metadata/labels")
        .and_then(|l| l.get(REVISION_LABEL))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub fn statefulset(ctx: &mut Context<'_>, ns: &str, name: &str) -> Result<(), ApiError> {
    let sets = rt("apps", "statefulsets");
    let sts = ctx.store.get(sets, ns, name)?;
    if sts.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(());
    }
    let desired = int_at(&sts, "/spec/replicas", 1);
    let partition = int_at(&sts, "/spec/updateStrategy/rollingUpdate/partition", 0);
    let on_delete = sts
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        == Some("OnDelete");
    let update_revision = format!(
        "{name}-{}",
        template_hash(sts.pointer("/spec/template").unwrap_or(&Value::Null))
    );
    let all = ctx.store.list_in(rt("", "pods"), ns);
    let pods: Vec<Value> = owned_by(&all, &sts)
        .filter(|p| pod_active(p))
        .cloned()
        .collect();
    let ordinal = |p: &Value| {
        meta_str(p, "name")
            .rsplit('-')
            .next()
            .and_then(|o| o.parse::<i64>().ok())
            .unwrap_or(-1)
    };

    // Scale down from the highest ordinal; scale up in order, each after the previous is Ready.
    let mut pods = pods;
    pods.sort_by_key(ordinal);
    for pod in pods.iter().filter(|p| ordinal(p) >= desired) {
        delete_pod(ctx, pod)?;
    }
    pods.retain(|p| ordinal(p) < desired);
    let all_ready = pods.iter().all(pod_ready);
    if (pods.len() as i64) < desired && all_ready {
        let next = (0..desired)
            .find(|i| !pods.iter().any(|p| ordinal(p) == *i))
            .unwrap_or(0);
        let revision = if next < partition {
            sts.pointer("/status/currentRevision")
                .and_then(Value::as_str)
                .unwrap_or(&update_revision)
                .to_owned()
        } else {
            update_revision.clone()
        };
        let extra = json!({ REVISION_LABEL: revision, "statefulset.kubernetes.io/pod-name": format!("{name}-{next}") });
        let sts = super::volumes::claim_volumes(ctx.store, &sts, next)?;
        let pod = create_pod(
            ctx,
            &sts,
            "StatefulSet",
            "apps/v1",
            Some((format!("{name}-{next}"), extra)),
        )?;
        pods.push(pod);
    }
    // Rolling update: replace the highest outdated ordinal at or above the partition, once all are Ready.
    if !on_delete
        && all_ready
        && pods.len() as i64 == desired
        && let Some(outdated) = pods
            .iter()
            .rev()
            .find(|p| ordinal(p) >= partition && pod_revision(p) != update_revision)
    {
        delete_pod(ctx, outdated)?;
    }
    let updated = pods
        .iter()
        .filter(|p| pod_revision(p) == update_revision)
        .count();
    let ready = pods.iter().filter(|p| pod_ready(p)).count();
    let current_revision = if updated == pods.len() && pods.len() as i64 == desired {
        update_revision.clone()
    } else {
        sts.pointer("/status/currentRevision")
            .and_then(Value::as_str)
            .unwrap_or(&update_revision)
            .to_owned()
    };
    let status = json!({
        "observedGeneration": sts.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        "replicas": pods.len(),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "currentReplicas": pods.iter().filter(|p| pod_revision(p) == current_revision).count(),
        "updatedReplicas": updated,
        "currentRevision": current_revision,
        "updateRevision": update_revision,
        "collisionCount": 0,
    });
    if sts.get("status") != Some(&status) {
        ctx.store.modify(sets, ns, name, Part::Status, |o| {
            o["status"] = status.clone();
            Ok(())
        })?;
    }
    Ok(())
}

pub fn all_daemonsets(ctx: &mut Context<'_>) -> Result<(), ApiError> {
    let keys: Vec<(String, String)> = ctx.store.read(|t| {
        t.get("daemonsets")
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    });
    for (ns, name) in keys {
        daemonset(ctx, &ns, &name)?;
    }
    Ok(())
}

pub fn daemonset(ctx: &mut Context<'_>, ns: &str, name: &str) -> Result<(), ApiError> {
    let sets = rt("apps", "daemonsets");
    let ds = ctx.store.get(sets, ns, name)?;
    if ds.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(());
    }
    let revision = template_hash(ds.pointer("/spec/template").unwrap_or(&Value::Null));
    let selector = ds
        .pointer("/spec/template/spec/nodeSelector")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let nodes: Vec<String> = ctx
        .store
        .list_in(rt("", "nodes"), "")
        .into_iter()
        .filter(|n| {
            selector
                .iter()
                .all(|(k, v)| n.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v))
        })
        .map(|n| meta_str(&n, "name").to_owned())
        .collect();
    let all = ctx.store.list_in(rt("", "pods"), ns);
    let pods: Vec<Value> = owned_by(&all, &ds)
        .filter(|p| pod_active(p))
        .cloned()
        .collect();
    let node_of = |p: &Value| {
        p.pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    for pod in pods.iter().filter(|p| !nodes.contains(&node_of(p))) {
        delete_pod(ctx, pod)?;
    }
    let mut pods: Vec<Value> = pods
        .into_iter()
        .filter(|p| nodes.contains(&node_of(p)))
        .collect();
    for node in &nodes {
        if !pods.iter().any(|p| node_of(p) == *node) {
            let mut with_node = ds.clone();
            with_node["spec"]["template"]["spec"]["nodeName"] = json!(node);
            let pod_name = format!("{name}-{}", super::random_suffix());
            let pod = create_pod(
                ctx,
                &with_node,
                "DaemonSet",
                "apps/v1",
                Some((pod_name, json!({ REVISION_LABEL: revision }))),
            )?;
            pods.push(pod);
        }
    }
    // Rolling update, one node at a time (maxUnavailable 1).
    let everyone_ready = pods.iter().all(pod_ready);
    if everyone_ready && let Some(outdated) = pods.iter().find(|p| pod_revision(p) != revision) {
        delete_pod(ctx, outdated)?;
    }
    let ready = pods.iter().filter(|p| pod_ready(p)).count();
    let status = json!({
        "observedGeneration": ds.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        "desiredNumberScheduled": nodes.len(),
        "currentNumberScheduled": pods.len(),
        "updatedNumberScheduled": pods.iter().filter(|p| pod_revision(p) == revision).count(),
        "numberReady": ready,
        "numberAvailable": ready,
        "numberUnavailable": nodes.len().saturating_sub(ready),
        "numberMisscheduled": 0,
    });
    if ds.get("status") != Some(&status) {
        ctx.store.modify(sets, ns, name, Part::Status, |o| {
            o["status"] = status.clone();
            Ok(())
        })?;
    }
    Ok(())
}
