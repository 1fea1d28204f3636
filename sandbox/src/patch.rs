//! The patch types of the API: JSON merge (RFC 7386), JSON patch (RFC 6902), strategic merge
//! (lists merged by their merge keys, `$patch` directives), and the field sets server-side apply
//! keeps per manager.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// The key that identifies an element of a list field, as the Go types' `patchMergeKey` tags
/// say. Lists not named here are atomic: a patch replaces them whole.
fn merge_key(field: &str, items: &[Value]) -> Option<&'static [&'static str]> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "readinessGates" => &["name"],
        "volumeMounts" | "volumeDevices" => &["mountPath"],
        "conditions" => &["type"],
        "ownerReferences" => &["uid"],
        "hostAliases" => &["ip"],
        "topologySpreadConstraints" => &["topologyKey", "whenUnsatisfiable"],
        // Container ports and service ports share the field name; their items tell them apart.
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                &["containerPort", "protocol"]
            } else {
                &["port", "protocol"]
            }
        }
        _ => return None,
    })
}

/// Lists of scalars merged as sets rather than replaced.
fn is_set_list(field: &str) -> bool {
    matches!(field, "finalizers")
}

fn key_of(item: &Value, keys: &[&str]) -> Option<Vec<Value>> {
    // `protocol` defaults to TCP; a key field that is absent matches the default.
    let mut out = Vec::new();
    for k in keys {
        match item.get(*k) {
            Some(v) => out.push(v.clone()),
            None if *k == "protocol" => out.push(Value::String("TCP".to_owned())),
            None => return None,
        }
    }
    Some(out)
}

/// RFC 7386: objects merge, `null` deletes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| format!("invalid JSON patch: {e}"))?;
    json_patch::patch(target, &ops).map_err(|e| format!("JSON patch failed: {e}"))
}

/// Strategic merge: like a merge patch, but lists with a merge key merge element by element.
pub fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), String> {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match patch_map.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = patch_map.clone();
            replaced.remove("$patch");
            *target = Value::Object(replaced);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some(other) => return Err(format!("unknown patch directive $patch: {other}")),
        None => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return Ok(());
    };
    if let Some(Value::Array(keep)) = patch_map.get("$retainKeys") {
        let keep: BTreeSet<&str> = keep.iter().filter_map(Value::as_str).collect();
        target_map.retain(|k, _| keep.contains(k.as_str()) || patch_map.contains_key(k));
    }
    for (key, value) in patch_map {
        if key.starts_with("$setElementOrder/") || key == "$retainKeys" {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(gone)) =
                (target_map.get_mut(field), value)
            {
                list.retain(|v| !gone.contains(v));
            }
            continue;
        }
        if value.is_null() {
            target_map.remove(key);
            continue;
        }
        let existing = target_map.get_mut(key);
        match (existing, value) {
            (Some(current @ Value::Object(_)), Value::Object(_)) => {
                strategic_merge(current, value)?;
                if current.is_null() {
                    target_map.remove(key);
                }
            }
            (Some(Value::Array(current)), Value::Array(items)) => {
                merge_list(key, current, items)?;
            }
            _ => {
                let mut fresh = Value::Null;
                strategic_merge_fresh(&mut fresh, value)?;
                target_map.insert(key.clone(), fresh);
            }
        }
    }
    Ok(())
}

/// A value new to the target: directives still have to be stripped.
fn strategic_merge_fresh(target: &mut Value, value: &Value) -> Result<(), String> {
    match value {
        Value::Object(_) => {
            *target = Value::Object(Map::new());
            strategic_merge(target, value)
        }
        Value::Array(items) => {
            let cleaned: Vec<Value> = items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .cloned()
                .collect();
            *target = Value::Array(cleaned);
            Ok(())
        }
        other => {
            *target = other.clone();
            Ok(())
        }
    }
}

fn merge_list(field: &str, current: &mut Vec<Value>, items: &[Value]) -> Result<(), String> {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *current = items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .cloned()
            .collect();
        return Ok(());
    }
    if is_set_list(field) {
        for item in items {
            if !current.contains(item) {
                current.push(item.clone());
            }
        }
        return Ok(());
    }
    let Some(keys) = merge_key(field, items).or_else(|| merge_key(field, current)) else {
        *current = items.to_vec();
        return Ok(());
    };
    for item in items {
        let Some(key) = key_of(item, keys) else {
            return Err(format!(
                "an element of {field} lacks its merge key {keys:?}"
            ));
        };
        let position = current
            .iter()
            .position(|c| key_of(c, keys).as_ref() == Some(&key));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(i), true) => {
                current.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut current[i], item)?,
            (None, false) => {
                let mut fresh = Value::Null;
                strategic_merge_fresh(&mut fresh, item)?;
                current.push(fresh);
            }
        }
    }
    Ok(())
}

/// One step of a field path as managedFields spell it: `f:name`, `k:{"name":"web"}`, `v:"x"`.
pub type FieldPath = Vec<String>;

/// The leaf fields `value` sets, as server-side apply tracks ownership.
pub fn field_set(value: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    walk_fields(value, "", &mut Vec::new(), &mut out);
    out
}

fn walk_fields(value: &Value, field: &str, path: &mut Vec<String>, out: &mut BTreeSet<FieldPath>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                path.push(format!("f:{k}"));
                walk_fields(v, k, path, out);
                path.pop();
            }
        }
        Value::Array(items) if is_set_list(field) => {
            for item in items {
                path.push(format!("v:{item}"));
                out.insert(path.clone());
                path.pop();
            }
        }
        Value::Array(items) => match merge_key(field, items) {
            Some(keys) if !items.is_empty() => {
                for item in items {
                    let Some(key) = key_of(item, keys) else {
                        out.insert(path.clone());
                        continue;
                    };
                    let key_obj: Map<String, Value> = keys
                        .iter()
                        .zip(key)
                        .map(|(k, v)| ((*k).to_owned(), v))
                        .collect();
                    path.push(format!("k:{}", Value::Object(key_obj)));
                    walk_fields(item, "", path, out);
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone());
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
}

/// managedFields' `fieldsV1` tree of a set of paths.
pub fn to_fields_v1(paths: &BTreeSet<FieldPath>) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut node = &mut root;
        for step in path {
            let entry = node
                .entry(step.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(next) = entry else { break };
            node = next;
        }
    }
    Value::Object(root)
}

/// The paths of a `fieldsV1` tree (its leaves).
pub fn from_fields_v1(tree: &Value) -> BTreeSet<FieldPath> {
    fn walk(node: &Value, path: &mut Vec<String>, out: &mut BTreeSet<FieldPath>) {
        match node {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    if k == "." {
                        continue;
                    }
                    path.push(k.clone());
                    walk(v, path, out);
                    path.pop();
                }
            }
            _ => {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(tree, &mut Vec::new(), &mut out);
    out
}

/// Reads the value at `path`, if present.
pub fn get_path<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let Some((step, rest)) = path.split_first() else {
        return Some(value);
    };
    let next = if let Some(k) = step.strip_prefix("f:") {
        value.get(k)?
    } else if let Some(key) = step.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        value.as_array()?.iter().find(|item| {
            key.iter().all(|(k, v)| {
                item.get(k) == Some(v) || (k == "protocol" && item.get(k).is_none() && v == "TCP")
            })
        })?
    } else if let Some(v) = step.strip_prefix("v:") {
        let v: Value = serde_json::from_str(v).ok()?;
        value.as_array()?.iter().find(|item| **item == v)?
    } else {
        return None;
    };
    get_path(next, rest)
}

/// Removes the field at `path`; list elements go when their path ends at them. Maps and lists
/// left empty go too, except top-level fields such as `metadata`.
pub fn remove_path(value: &mut Value, path: &[String]) {
    remove_at(value, path, 0);
}

fn remove_at(value: &mut Value, path: &[String], depth: usize) {
    let Some((step, rest)) = path.split_first() else {
        return;
    };
    if let Some(k) = step.strip_prefix("f:") {
        let Some(map) = value.as_object_mut() else {
            return;
        };
        if rest.is_empty() {
            map.remove(k);
        } else if let Some(child) = map.get_mut(k) {
            remove_at(child, rest, depth + 1);
            let emptied = child.as_object().is_some_and(Map::is_empty)
                || child.as_array().is_some_and(Vec::is_empty);
            if emptied && depth > 0 {
                map.remove(k);
            }
        }
        return;
    }
    let Some(items) = value.as_array_mut() else {
        return;
    };
    let position = if let Some(key) = step.strip_prefix("k:") {
        let Ok(key) = serde_json::from_str::<Map<String, Value>>(key) else {
            return;
        };
        items
            .iter()
            .position(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)))
    } else if let Some(v) = step.strip_prefix("v:") {
        let Ok(v) = serde_json::from_str::<Value>(v) else {
            return;
        };
        items.iter().position(|item| *item == v)
    } else {
        None
    };
    let Some(i) = position else { return };
    if rest.is_empty() {
        items.remove(i);
    } else {
        remove_at(&mut items[i], rest, depth + 1);
    }
}

/// `.spec.replicas`, `.spec.template.spec.containers[name="web"].image`: how conflicts name paths.
pub fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for step in path {
        if let Some(k) = step.strip_prefix("f:") {
            out.push('.');
            out.push_str(k);
        } else if let Some(k) = step.strip_prefix("k:") {
            out.push('[');
            out.push_str(k);
            out.push(']');
        } else if let Some(v) = step.strip_prefix("v:") {
            out.push('[');
            out.push_str(v);
            out.push(']');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_deletes_with_null() {
        let mut v = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        merge_patch(
            &mut v,
            &json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
        );
        assert_eq!(v, json!({"metadata": {"labels": {"b": "2", "c": "3"}}}));
    }

    #[test]
    fn json_patch_applies_operations() {
        let mut v = json!({"spec": {"replicas": 1}});
        json_patch(
            &mut v,
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]),
        )
        .expect("patch");
        assert_eq!(v["spec"]["replicas"], 3);
        assert!(
            json_patch(
                &mut v,
                &json!([{"op": "test", "path": "/spec/replicas", "value": 9}])
            )
            .is_err()
        );
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut v = json!({"spec": {"containers": [
            {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "side:1"}
        ]}});
        strategic_merge(
            &mut v,
            &json!({"spec": {"containers": [
                {"name": "web", "image": "web:2", "env": [{"name": "B", "value": "2"}]},
                {"name": "sidecar", "$patch": "delete"}
            ]}}),
        )
        .expect("patch");
        assert_eq!(
            v,
            json!({"spec": {"containers": [
                {"name": "web", "image": "web:2", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
            ]}})
        );
    }

    #[test]
    fn strategic_merge_replaces_atomic_lists_and_unions_finalizers() {
        let mut v = json!({"metadata": {"finalizers": ["a"]}, "spec": {"args": ["x", "y"]}});
        strategic_merge(
            &mut v,
            &json!({"metadata": {"finalizers": ["b"]}, "spec": {"args": ["z"]}}),
        )
        .expect("patch");
        assert_eq!(
            v,
            json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"args": ["z"]}})
        );
        strategic_merge(&mut v, &json!({"$deleteFromPrimitiveList/finalizers": ["a"], "metadata": {"$patch": "replace", "finalizers": ["c"]}})).expect("patch");
        assert_eq!(v["metadata"], json!({"finalizers": ["c"]}));
    }

    #[test]
    fn field_sets_round_trip_through_fields_v1() {
        let obj = json!({"metadata": {"labels": {"app": "web"}, "finalizers": ["x"]},
                         "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "i"}]}}}});
        let set = field_set(&obj);
        assert!(set.contains(&vec!["f:spec".to_owned(), "f:replicas".to_owned()]));
        assert!(set.contains(&vec![
            "f:spec".into(),
            "f:template".into(),
            "f:spec".into(),
            "f:containers".into(),
            r#"k:{"name":"web"}"#.into(),
            "f:image".into()
        ]));
        assert_eq!(from_fields_v1(&to_fields_v1(&set)), set);
        for path in &set {
            assert!(get_path(&obj, path).is_some(), "{}", display_path(path));
        }
    }

    #[test]
    fn remove_path_drops_fields_and_list_elements() {
        let mut obj = json!({"metadata": {"labels": {"app": "web", "x": "1"}},
                             "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        remove_path(
            &mut obj,
            &["f:metadata".into(), "f:labels".into(), "f:x".into()],
        );
        remove_path(
            &mut obj,
            &[
                "f:spec".into(),
                "f:containers".into(),
                r#"k:{"name":"b"}"#.into(),
            ],
        );
        assert_eq!(
            obj,
            json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a"}]}})
        );
        remove_path(
            &mut obj,
            &["f:metadata".into(), "f:labels".into(), "f:app".into()],
        );
        assert_eq!(obj["metadata"], json!({}));
    }
}
