//! core/v1 Events, as controllers and the kubelet write them; repeats bump `count`.

use serde_json::{Value, json};

use super::{meta_str, now, rt};
use crate::store::{Part, Store};

/// Records `reason` / `message` about `involved` (which must be namespaced).
pub fn record(
    store: &Store,
    involved: &Value,
    warning: bool,
    reason: &str,
    message: &str,
    component: &str,
) {
    let ns = meta_str(involved, "namespace");
    if ns.is_empty() {
        return;
    }
    let events = rt("", "events");
    let mut fnv: u32 = 0x811c_9dc5;
    for b in format!("{reason}/{message}").bytes() {
        fnv ^= u32::from(b);
        fnv = fnv.wrapping_mul(0x0100_0193);
    }
    let name = format!("{}.{fnv:08x}", meta_str(involved, "name"));
    let stamp = now();
    let bumped = store.modify(events, ns, &name, Part::Whole, |event| {
        let count = event.get("count").and_then(Value::as_i64).unwrap_or(1);
        event["count"] = json!(count + 1);
        event["lastTimestamp"] = json!(stamp);
        Ok(())
    });
    if bumped.is_ok() {
        return;
    }
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": { "name": name, "namespace": ns },
        "involvedObject": {
            "apiVersion": involved.get("apiVersion").cloned().unwrap_or(Value::Null),
            "kind": involved.get("kind").cloned().unwrap_or(Value::Null),
            "name": meta_str(involved, "name"),
            "namespace": ns,
            "uid": meta_str(involved, "uid"),
            "resourceVersion": meta_str(involved, "resourceVersion"),
        },
        "reason": reason,
        "message": message,
        "type": if warning { "Warning" } else { "Normal" },
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": { "component": component },
        "reportingComponent": component,
    });
    // Events are best effort, as in a real cluster (a terminating namespace refuses them).
    let _ = store.create(events, ns, event);
}
