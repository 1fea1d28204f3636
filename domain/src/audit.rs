//! The tamper-evident audit chain: each event's hash covers a canonical encoding of the event
//! and its predecessor's hash, so changing, removing or reordering any event breaks every
//! hash after it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a caller records; the store adds sequence, time and hashes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub actor_id: String,
    pub actor_display: String,
    pub actor_roles: Vec<String>,
    /// Client address as the server saw it.
    pub source: String,
    pub request_id: String,
    /// Dotted verb, e.g. `session.sign_in`, `namespace.request`.
    pub action: String,
    pub target_kind: String,
    pub target_namespace: String,
    pub target_name: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// `success`, `failure`, `denied`, or `requested` (an action's intent, before its outcome).
    pub outcome: String,
}

/// An event as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: i64,
    /// Microseconds since the Unix epoch.
    pub at_micros: i64,
    #[serde(flatten)]
    pub body: NewEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// A search of the audit trail, as the Audit page and `/api/v1/audit` take it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub namespace: Option<String>,
    pub outcome: Option<String>,
    /// Inclusive, `YYYY-MM-DD` or RFC 3339.
    pub since: Option<String>,
    /// Exclusive, `YYYY-MM-DD` or RFC 3339.
    pub until: Option<String>,
    /// The next page: events older than this sequence number.
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// One page of results, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<Event>,
    /// Pass as `before` for the next page; `None` at the end.
    pub next_before: Option<i64>,
}

/// What the Audit page gets: a page, or why it may not see one (not signed in, not allowed,
/// a bad filter), which it shows instead of failing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AuditAnswer {
    Page(AuditPage),
    Refused(String),
}

/// JSON with object keys sorted and no insignificant whitespace: the same bytes for the same
/// value whatever order a database or a library hands the keys back in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The hash of event `seq` at `at_micros` with `body`, chained to `prev_hash`.
pub fn event_hash(seq: i64, at_micros: i64, body: &NewEvent, prev_hash: &str) -> String {
    let encoded = serde_json::json!({
        "seq": seq,
        "at_micros": at_micros,
        "actor_id": body.actor_id,
        "actor_display": body.actor_display,
        "actor_roles": body.actor_roles,
        "source": body.source,
        "request_id": body.request_id,
        "action": body.action,
        "target_kind": body.target_kind,
        "target_namespace": body.target_namespace,
        "target_name": body.target_name,
        "before": body.before,
        "after": body.after,
        "outcome": body.outcome,
        "prev_hash": prev_hash,
    });
    let digest = Sha256::digest(canonical_json(&encoded).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where and why a chain is broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    pub seq: i64,
    pub reason: String,
}

/// Follows a chain, in sequence order, from `expected_prev` (GENESIS for the whole chain).
/// Returns how many events it checked, or the first that is wrong.
pub fn verify<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    expected_prev: &str,
    first_seq: i64,
) -> Result<u64, Broken> {
    let mut prev = expected_prev.to_owned();
    let mut count = 0;
    for (next_seq, event) in (first_seq..).zip(events) {
        if event.seq != next_seq {
            return Err(Broken {
                seq: event.seq,
                reason: format!(
                    "expected event {next_seq} next, found {}: events are missing or reordered",
                    event.seq
                ),
            });
        }
        if event.prev_hash != prev {
            return Err(Broken {
                seq: event.seq,
                reason: "its link to the previous event does not match that event's hash"
                    .to_owned(),
            });
        }
        let recomputed = event_hash(event.seq, event.at_micros, &event.body, &event.prev_hash);
        if recomputed != event.hash {
            return Err(Broken {
                seq: event.seq,
                reason: "its contents do not match its hash: the event was changed".to_owned(),
            });
        }
        prev = event.hash.clone();
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(action: &str) -> NewEvent {
        NewEvent {
            actor_id: "ana".into(),
            actor_display: "Ana".into(),
            actor_roles: vec!["manager".into()],
            source: "127.0.0.1".into(),
            request_id: "r-1".into(),
            action: action.into(),
            target_kind: "Namespace".into(),
            target_namespace: "payments-prod".into(),
            target_name: "payments-prod".into(),
            before: None,
            after: Some(json!({"b": 2, "a": [1, {"z": 0, "y": null}]})),
            outcome: "success".into(),
        }
    }

    fn chain(n: i64) -> Vec<Event> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let b = body(&format!("step.{seq}"));
                let hash = event_hash(seq, 1_000 + seq, &b, &prev);
                let e = Event {
                    seq,
                    at_micros: 1_000 + seq,
                    body: b,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"d": [true, null], "c": "x"}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":"x","d":[true,null]},"b":1}"#
        );
    }

    #[test]
    fn hashes_are_hex_sha256_and_depend_on_everything() {
        let b = body("x");
        let h = event_hash(1, 5, &b, GENESIS);
        assert_eq!(h.len(), 64);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(h, event_hash(2, 5, &b, GENESIS));
        assert_ne!(h, event_hash(1, 6, &b, GENESIS));
        let mut other = b.clone();
        other.outcome = "failure".into();
        assert_ne!(h, event_hash(1, 5, &other, GENESIS));
    }

    #[test]
    fn an_intact_chain_verifies() {
        let events = chain(5);
        assert_eq!(verify(&events, GENESIS, 1), Ok(5));
    }

    #[test]
    fn a_changed_event_is_named() {
        let mut events = chain(5);
        events[2].body.actor_id = "mallory".into();
        let broken = verify(&events, GENESIS, 1).expect_err("tampered");
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("changed"));
    }

    #[test]
    fn a_removed_or_relinked_event_is_named() {
        let mut events = chain(5);
        events.remove(1);
        assert_eq!(verify(&events, GENESIS, 1).expect_err("gap").seq, 3);

        let mut events = chain(3);
        // Rewrite event 2 and re-hash it: its successor's link gives it away.
        events[1].body.action = "forged".into();
        events[1].hash = event_hash(
            2,
            events[1].at_micros,
            &events[1].body,
            &events[1].prev_hash,
        );
        let broken = verify(&events, GENESIS, 1).expect_err("relinked");
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("link"));
    }
}
