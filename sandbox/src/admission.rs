//! Admission, as the API server's plug-ins do it on create: LimitRange fills in default
//! requests and limits, then ResourceQuota refuses what would exceed a quota.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::quantity;
use crate::resources::{self, ResourceType};
use crate::status::ApiError;
use crate::store::Key;

pub type Tables = HashMap<&'static str, BTreeMap<Key, Value>>;

/// The objects of one resource type in one namespace.
pub fn in_namespace<'a>(
    tables: &'a Tables,
    plural: &str,
    ns: &str,
) -> impl Iterator<Item = &'a Value> + 'a {
    let start = (ns.to_owned(), String::new());
    let ns = ns.to_owned();
    tables
        .get(plural)
        .into_iter()
        .flat_map(move |t| t.range(start.clone()..))
        .take_while(move |((n, _), _)| *n == ns)
        .map(|(_, v)| v)
}

/// Runs the admission plug-ins for a new object in `ns`; may change it (defaults).
pub fn admit(
    tables: &Tables,
    rt: &ResourceType,
    ns: &str,
    object: &mut Value,
) -> Result<(), ApiError> {
    if rt.kind == "Pod" {
        apply_limit_ranges(tables, ns, object);
    }
    check_quotas(tables, rt, ns, object)
}

fn apply_limit_ranges(tables: &Tables, ns: &str, pod: &mut Value) {
    let mut defaults: BTreeMap<String, Value> = BTreeMap::new();
    let mut default_requests: BTreeMap<String, Value> = BTreeMap::new();
    for lr in in_namespace(tables, "limitranges", ns) {
        for limit in lr
            .pointer("/spec/limits")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if limit.get("type").and_then(Value::as_str) != Some("Container") {
                continue;
            }
            for (field, into) in [
                ("default", &mut defaults),
                ("defaultRequest", &mut default_requests),
            ] {
                if let Some(map) = limit.get(field).and_then(Value::as_object) {
                    for (k, v) in map {
                        into.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
        }
    }
    if defaults.is_empty() && default_requests.is_empty() {
        return;
    }
    let mut set_requests = Vec::new();
    let mut set_limits = Vec::new();
    let Some(containers) = pod
        .pointer_mut("/spec/containers")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for container in containers {
        let name = container
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !container.get("resources").is_some_and(Value::is_object) {
            container["resources"] = json!({});
        }
        let resources = &mut container["resources"];
        for key in ["limits", "requests"] {
            if !resources.get(key).is_some_and(Value::is_object) {
                resources[key] = json!({});
            }
        }
        let mut added_limits = Vec::new();
        for (resource, value) in &defaults {
            if resources["limits"].get(resource).is_none() {
                resources["limits"][resource] = value.clone();
                added_limits.push(resource.clone());
            }
        }
        let mut added_requests = Vec::new();
        let resource_names: Vec<String> = default_requests
            .keys()
            .chain(defaults.keys())
            .cloned()
            .collect();
        for resource in resource_names {
            if resources["requests"].get(&resource).is_some() {
                continue;
            }
            // A request defaults to defaultRequest, else to the container's limit.
            let value = default_requests
                .get(&resource)
                .cloned()
                .or_else(|| resources["limits"].get(&resource).cloned());
            if let Some(value) = value {
                resources["requests"][&resource] = value;
                added_requests.push(resource);
            }
        }
        if !added_requests.is_empty() {
            set_requests.push(format!(
                "{} request for container {name}",
                added_requests.join(", ")
            ));
        }
        if !added_limits.is_empty() {
            set_limits.push(format!(
                "{} limit for container {name}",
                added_limits.join(", ")
            ));
        }
    }
    let notes: Vec<String> = set_requests.into_iter().chain(set_limits).collect();
    if !notes.is_empty() {
        let meta = &mut pod["metadata"];
        if !meta.get("annotations").is_some_and(Value::is_object) {
            meta["annotations"] = json!({});
        }
        meta["annotations"]["kubernetes.io/limit-ranger"] =
            json!(format!("LimitRanger plugin set: {}", notes.join("; ")));
    }
}

/// What an object counts against quotas.
pub fn usage_of(rt: &ResourceType, object: &Value) -> BTreeMap<String, f64> {
    let mut usage = BTreeMap::new();
    let count_key = if rt.group.is_empty() {
        format!("count/{}", rt.plural)
    } else {
        format!("count/{}.{}", rt.plural, rt.group)
    };
    usage.insert(count_key, 1.0);
    match rt.kind {
        "Pod" => {
            let phase = object
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if matches!(phase, "Succeeded" | "Failed")
                || object.pointer("/metadata/deletionTimestamp").is_some()
            {
                return BTreeMap::new();
            }
            usage.insert("pods".into(), 1.0);
            let (requests, limits) = pod_resources(object);
            for (resource, value) in requests {
                usage.insert(format!("requests.{resource}"), value);
                if matches!(resource.as_str(), "cpu" | "memory" | "ephemeral-storage") {
                    usage.insert(resource, value);
                }
            }
            for (resource, value) in limits {
                usage.insert(format!("limits.{resource}"), value);
            }
        }
        "PersistentVolumeClaim" => {
            usage.insert("persistentvolumeclaims".into(), 1.0);
            if let Some(size) = object
                .pointer("/spec/resources/requests/storage")
                .and_then(quantity::of)
            {
                usage.insert("requests.storage".into(), size);
            }
        }
        "Service" => {
            usage.insert("services".into(), 1.0);
            match object.pointer("/spec/type").and_then(Value::as_str) {
                Some("LoadBalancer") => {
                    usage.insert("services.loadbalancers".into(), 1.0);
                }
                Some("NodePort") => {
                    usage.insert("services.nodeports".into(), 1.0);
                }
                _ => {}
            }
        }
        "ConfigMap" => {
            usage.insert("configmaps".into(), 1.0);
        }
        "Secret" => {
            usage.insert("secrets".into(), 1.0);
        }
        "ResourceQuota" => {
            usage.insert("resourcequotas".into(), 1.0);
        }
        _ => {}
    }
    usage
}

/// Summed container requests and limits of a pod, in cores and bytes.
pub fn pod_resources(pod: &Value) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
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

/// Current use of every quota-tracked resource in `ns`.
pub fn namespace_usage(tables: &Tables, ns: &str) -> BTreeMap<String, f64> {
    let mut total = BTreeMap::new();
    for rt in resources::RESOURCES
        .iter()
        .filter(|r| r.namespaced && r.stored)
    {
        for object in in_namespace(tables, rt.plural, ns) {
            for (k, v) in usage_of(rt, object) {
                *total.entry(k).or_insert(0.0) += v;
            }
        }
    }
    total
}

fn check_quotas(
    tables: &Tables,
    rt: &ResourceType,
    ns: &str,
    object: &Value,
) -> Result<(), ApiError> {
    let quotas: Vec<&Value> = in_namespace(tables, "resourcequotas", ns).collect();
    if quotas.is_empty() {
        return Ok(());
    }
    let requested = usage_of(rt, object);
    if requested.is_empty() {
        return Ok(());
    }
    let used = namespace_usage(tables, ns);
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let forbidden = |detail: String| {
        ApiError::forbidden(format!(
            "{} \"{name}\" is forbidden: {detail}",
            rt.qualified()
        ))
    };
    for quota in quotas {
        let quota_name = quota
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(hard) = quota.pointer("/spec/hard").and_then(Value::as_object) else {
            continue;
        };
        // Compute quotas need every container to say what it asks for.
        if rt.kind == "Pod" {
            let missing: Vec<&str> = [
                "requests.cpu",
                "requests.memory",
                "limits.cpu",
                "limits.memory",
                "cpu",
                "memory",
            ]
            .into_iter()
            .filter(|r| hard.contains_key(*r) && !every_container_sets(object, r))
            .collect();
            if !missing.is_empty() {
                return Err(forbidden(format!(
                    "failed quota: {quota_name}: must specify {}",
                    missing.join(",")
                )));
            }
        }
        let mut exceeded = Vec::new();
        for (resource, limit) in hard {
            let Some(asked) = requested.get(resource).copied().filter(|a| *a > 0.0) else {
                continue;
            };
            let Some(limit) = quantity::of(limit) else {
                continue;
            };
            let in_use = used.get(resource).copied().unwrap_or(0.0);
            if in_use + asked > limit + 1e-9 {
                exceeded.push((resource.clone(), asked, in_use, limit));
            }
        }
        if !exceeded.is_empty() {
            let list = |pick: fn(&(String, f64, f64, f64)) -> f64| {
                exceeded
                    .iter()
                    .map(|e| format!("{}={}", e.0, quantity::format(&e.0, pick(e))))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            return Err(forbidden(format!(
                "exceeded quota: {quota_name}, requested: {}, used: {}, limited: {}",
                list(|e| e.1),
                list(|e| e.2),
                list(|e| e.3)
            )));
        }
    }
    Ok(())
}

fn every_container_sets(pod: &Value, quota_resource: &str) -> bool {
    let (field, resource) = match quota_resource.split_once('.') {
        Some((f, r)) => (f, r),
        None => ("requests", quota_resource),
    };
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().all(|c| {
                c.pointer(&format!("/resources/{field}/{resource}"))
                    .is_some()
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables_with(objects: &[(&'static str, Value)]) -> Tables {
        let mut tables = Tables::new();
        for (plural, object) in objects {
            let ns = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            tables
                .entry(*plural)
                .or_default()
                .insert((ns, name), object.clone());
        }
        tables
    }

    fn pod(name: &str, cpu: Option<&str>) -> Value {
        let resources = match cpu {
            Some(c) => {
                json!({"requests": {"cpu": c, "memory": "64Mi"}, "limits": {"cpu": c, "memory": "64Mi"}})
            }
            None => json!({}),
        };
        json!({"metadata": {"name": name, "namespace": "a"}, "spec": {"containers": [{"name": "web", "resources": resources}]}})
    }

    fn pods() -> &'static ResourceType {
        resources::find("", "v1", "pods").expect("pods")
    }

    #[test]
    fn limit_range_fills_requests_and_limits() {
        let lr = json!({"metadata": {"name": "defaults", "namespace": "a"}, "spec": {"limits": [
            {"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"}, "defaultRequest": {"cpu": "100m"}}
        ]}});
        let tables = tables_with(&[("limitranges", lr)]);
        let mut p = pod("p", None);
        admit(&tables, pods(), "a", &mut p).expect("admitted");
        let res = &p["spec"]["containers"][0]["resources"];
        assert_eq!(res["limits"], json!({"cpu": "500m", "memory": "256Mi"}));
        assert_eq!(res["requests"], json!({"cpu": "100m", "memory": "256Mi"}));
        assert!(
            p["metadata"]["annotations"]["kubernetes.io/limit-ranger"]
                .as_str()
                .unwrap_or_default()
                .contains("container web")
        );
    }

    #[test]
    fn quota_refuses_what_would_exceed_it() {
        let quota = json!({"metadata": {"name": "compute", "namespace": "a"}, "spec": {"hard": {"requests.cpu": "1", "pods": "5"}}});
        let existing = pod("running", Some("600m"));
        let tables = tables_with(&[("resourcequotas", quota), ("pods", existing)]);
        let mut small = pod("small", Some("400m"));
        assert!(admit(&tables, pods(), "a", &mut small).is_ok());
        let mut big = pod("big", Some("500m"));
        let err = admit(&tables, pods(), "a", &mut big).expect_err("over quota");
        assert_eq!(err.code, 403);
        assert_eq!(
            err.message,
            "pods \"big\" is forbidden: exceeded quota: compute, requested: requests.cpu=500m, used: requests.cpu=600m, limited: requests.cpu=1"
        );
        let mut bare = pod("bare", None);
        let err = admit(&tables, pods(), "a", &mut bare).expect_err("must specify");
        assert_eq!(
            err.message,
            "pods \"bare\" is forbidden: failed quota: compute: must specify requests.cpu"
        );
    }

    #[test]
    fn finished_pods_count_for_nothing() {
        let mut done = pod("done", Some("1"));
        done["status"] = json!({"phase": "Succeeded"});
        assert!(usage_of(pods(), &done).is_empty());
        let usage = usage_of(pods(), &pod("p", Some("250m")));
        assert_eq!(usage.get("requests.cpu"), Some(&0.25));
        assert_eq!(usage.get("pods"), Some(&1.0));
    }
}
