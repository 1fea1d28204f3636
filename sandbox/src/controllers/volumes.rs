//! Claims and their volumes. The sandbox has no storage provisioner: a claim it makes is bound
//! at once to a hostPath volume of the requested size, as a default StorageClass with dynamic
//! provisioning would leave it.

use serde_json::{Value, json};

use super::{meta_str, rt};
use crate::status::ApiError;
use crate::store::Store;

/// Creates a claim, bound to a volume made for it when `bound`.
pub fn create_claim(
    store: &Store,
    ns: &str,
    name: &str,
    size: &str,
    class: &str,
    labels: &Value,
    bound: bool,
) -> Result<Value, ApiError> {
    let mut claim = json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "labels": labels},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class, "resources": {"requests": {"storage": size}}},
        "status": {"phase": "Pending"},
    });
    if bound {
        let pv_name = format!("pv-{ns}-{name}");
        claim["spec"]["volumeName"] = json!(pv_name);
        claim["status"] = json!({"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": size}});
        let pv = json!({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": class,
                     "persistentVolumeReclaimPolicy": "Delete", "claimRef": {"namespace": ns, "name": name, "kind": "PersistentVolumeClaim", "apiVersion": "v1"},
                     "hostPath": {"path": format!("/var/sandbox/{ns}/{name}")}},
            "status": {"phase": "Bound"},
        });
        store.create(rt("", "persistentvolumes"), "", pv)?;
    }
    store.create(rt("", "persistentvolumeclaims"), ns, claim)
}

/// What the StatefulSet controller does for pod `<set>-<ordinal>`: every claim template
/// becomes the claim `<template>-<set>-<ordinal>` (made when missing, kept when it exists, as
/// Kubernetes keeps claims across scale-downs) and a volume of the pod. Returns the set with
/// those volumes added to its pod template.
pub fn claim_volumes(store: &Store, set: &Value, ordinal: i64) -> Result<Value, ApiError> {
    let templates = set
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if templates.is_empty() {
        return Ok(set.clone());
    }
    let ns = meta_str(set, "namespace");
    let set_name = meta_str(set, "name");
    let labels = set
        .pointer("/spec/selector/matchLabels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut with = set.clone();
    for template in &templates {
        let template_name = meta_str(template, "name");
        let claim = format!("{template_name}-{set_name}-{ordinal}");
        if store
            .get(rt("", "persistentvolumeclaims"), ns, &claim)
            .is_err()
        {
            let size = template
                .pointer("/spec/resources/requests/storage")
                .and_then(Value::as_str)
                .unwrap_or("1Gi");
            let class = template
                .pointer("/spec/storageClassName")
                .and_then(Value::as_str)
                .unwrap_or("standard");
            create_claim(store, ns, &claim, size, class, &labels, true)?;
        }
        let volume = json!({"name": template_name, "persistentVolumeClaim": {"claimName": claim}});
        let spec = &mut with["spec"]["template"]["spec"];
        match spec.get_mut("volumes").and_then(Value::as_array_mut) {
            Some(volumes) => volumes.push(volume),
            None => spec["volumes"] = json!([volume]),
        }
    }
    Ok(with)
}
