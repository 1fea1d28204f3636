//! The endpoints controller: each Service with a selector gets an Endpoints object of the
//! same name listing the matching pods — ready ones under `addresses`, the others under
//! `notReadyAddresses` — with the Service's ports, as kube-controller-manager keeps them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Context, meta_str, pod_active, pod_ready, rt};
use crate::status::ApiError;
use crate::store::{Part, Propagation};

/// Marks the Endpoints this controller manages (a selector-less Service's are the user's).
const MANAGED: &str = "endpoints.kubernetes.io/managed-by";
const MANAGER: &str = "endpoint-controller";

fn labels(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Every Service of namespace `ns`.
pub fn namespace(ctx: &mut Context<'_>, ns: &str) -> Result<(), ApiError> {
    let services = ctx.store.list_in(rt("", "services"), ns);
    let pods: Vec<Value> = ctx
        .store
        .list_in(rt("", "pods"), ns)
        .into_iter()
        .filter(pod_active)
        .collect();
    let endpoints = rt("", "endpoints");
    for service in &services {
        let name = meta_str(service, "name");
        let Some(selector) = service
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        let address = |pod: &Value| {
            let ip = pod.pointer("/status/podIP").and_then(Value::as_str)?;
            Some(json!({
                "ip": ip,
                "nodeName": pod.pointer("/spec/nodeName").cloned().unwrap_or(Value::Null),
                "targetRef": {"kind": "Pod", "namespace": ns, "name": meta_str(pod, "name"), "uid": meta_str(pod, "uid")},
            }))
        };
        let matching: Vec<&Value> = pods
            .iter()
            .filter(|p| {
                let l = labels(p);
                selector.iter().all(|(k, v)| {
                    v.as_str()
                        .is_some_and(|v| l.get(k).is_some_and(|have| have == v))
                })
            })
            .collect();
        let ready: Vec<Value> = matching
            .iter()
            .filter(|p| pod_ready(p))
            .filter_map(|p| address(p))
            .collect();
        let not_ready: Vec<Value> = matching
            .iter()
            .filter(|p| !pod_ready(p))
            .filter_map(|p| address(p))
            .collect();
        let ports: Vec<Value> = service
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .map(|p| {
                        let mut port = json!({
                            "port": p.get("targetPort").filter(|t| t.is_number()).or_else(|| p.get("port")).cloned().unwrap_or(json!(80)),
                            "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP")),
                        });
                        if let Some(n) = p.get("name") {
                            port["name"] = n.clone();
                        }
                        port
                    })
                    .collect()
            })
            .unwrap_or_default();
        let subsets = if ready.is_empty() && not_ready.is_empty() {
            json!([])
        } else {
            let mut subset = json!({"ports": ports});
            if !ready.is_empty() {
                subset["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                subset["notReadyAddresses"] = json!(not_ready);
            }
            json!([subset])
        };
        match ctx.store.get(endpoints, ns, name) {
            Ok(current) => {
                if current.get("subsets") != Some(&subsets) {
                    ctx.store.modify(endpoints, ns, name, Part::Main, |o| {
                        o["subsets"] = subsets.clone();
                        Ok(())
                    })?;
                }
            }
            Err(e) if e.code == 404 => {
                let object = json!({"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": name, "labels": {MANAGED: MANAGER}}, "subsets": subsets});
                match ctx.store.create(endpoints, ns, object) {
                    Ok(_) => {}
                    Err(e) if e.code == 409 => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    // Endpoints this controller made for a Service that is gone.
    for ep in ctx.store.list_in(endpoints, ns) {
        let name = meta_str(&ep, "name");
        let managed = labels(&ep).get(MANAGED).map(String::as_str) == Some(MANAGER);
        if managed && !services.iter().any(|s| meta_str(s, "name") == name) {
            match ctx
                .store
                .delete(endpoints, ns, name, Propagation::Background, None, None)
            {
                Ok(_) | Err(ApiError { code: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
