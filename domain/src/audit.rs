//! The tamper-evident audit chain: each event's hash covers a canonical encoding of the event
//! and its predecessor's hash, so changing, removing or reordering any event breaks every
//! hash after it. With a key (held apart from the database) the hash is an HMAC: whoever can
//! write the table cannot recompute the chain. Signed checkpoints of the head, kept outside
//! the table, catch what a chain alone cannot: its newest events deleted, or the table emptied.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The secret the chain and its checkpoints are keyed with.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditKey(Vec<u8>);

impl AuditKey {
    /// Shorter keys are guessable offline from any event.
    pub const MIN_BYTES: usize = 32;

    pub fn new(bytes: Vec<u8>) -> Result<AuditKey, String> {
        if bytes.len() < Self::MIN_BYTES {
            return Err(format!(
                "the audit key has {} bytes; use at least {} (e.g. `openssl rand -hex 32`)",
                bytes.len(),
                Self::MIN_BYTES
            ));
        }
        Ok(AuditKey(bytes))
    }

    fn mac(&self, text: &str) -> String {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(text.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a caller records; the store adds sequence, time and hashes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The cluster of the fleet the target is on; empty when the event is not about one
    /// cluster's objects (or predates the fleet).
    #[serde(default)]
    pub target_cluster: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// `success`, `failure`, `denied`, or `requested` (an action's intent, before its outcome).
    pub outcome: String,
}

/// How an action ended, as the trail records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// Authorisation refused it.
    Denied,
    /// The intent, written before the cluster is touched; its outcome follows.
    Requested,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
            Outcome::Requested => "requested",
        }
    }
}

impl NewEvent {
    /// An event by `user` (an anonymous visitor when `None`) about the request from `origin`;
    /// the target and the before / after are set on it after.
    pub fn by(
        user: Option<&crate::identity::CurrentUser>,
        origin: &crate::identity::RequestOrigin,
        action: &str,
        outcome: Outcome,
    ) -> Self {
        NewEvent {
            actor_id: user.map_or_else(|| "anonymous".to_owned(), |u| u.id.clone()),
            actor_display: user.map(|u| u.display_name.clone()).unwrap_or_default(),
            actor_roles: user
                .map(crate::identity::CurrentUser::role_names)
                .unwrap_or_default(),
            source: origin.source.clone(),
            request_id: origin.request_id.clone(),
            action: action.to_owned(),
            outcome: outcome.as_str().to_owned(),
            ..NewEvent::default()
        }
    }

    /// The object the action was about.
    pub fn on(mut self, kind: &str, namespace: &str, name: &str) -> Self {
        kind.clone_into(&mut self.target_kind);
        namespace.clone_into(&mut self.target_namespace);
        name.clone_into(&mut self.target_name);
        self
    }

    pub fn set_outcome(&mut self, outcome: Outcome) {
        self.outcome = outcome.as_str().to_owned();
    }

    /// The cluster of the fleet the target is on.
    pub fn on_cluster(mut self, cluster: &str) -> Self {
        cluster.clone_into(&mut self.target_cluster);
        self
    }
}

/// An event as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub seq: i64,
    /// Microseconds since the Unix epoch.
    pub at_micros: i64,
    #[serde(flatten)]
    pub body: NewEvent,
    pub prev_hash: String,
    pub hash: String,
    /// The hash is an HMAC under the audit key.
    #[serde(default)]
    pub keyed: bool,
}

/// A search of the audit trail, as the Audit page and `/api/v1/audit` take it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub namespace: Option<String>,
    /// Events about one cluster of the fleet.
    #[serde(default)]
    pub cluster: Option<String>,
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub events: Vec<Event>,
    /// Pass as `before` for the next page; `None` at the end.
    pub next_before: Option<i64>,
}

/// What the Audit page gets: a page, or why it may not see one (not signed in, not allowed,
/// a bad filter), which it shows instead of failing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// The hash of event `seq` at `at_micros` with `body`, chained to `prev_hash`: an HMAC under
/// `key` when there is one, else plain SHA-256.
pub fn event_hash(
    seq: i64,
    at_micros: i64,
    body: &NewEvent,
    prev_hash: &str,
    key: Option<&AuditKey>,
) -> String {
    let mut encoded = serde_json::json!({
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
    // Only when set: events written before the field existed keep the hashes they have.
    if !body.target_cluster.is_empty() {
        encoded["target_cluster"] = serde_json::json!(body.target_cluster);
    }
    let text = canonical_json(&encoded);
    match key {
        Some(key) => key.mac(&text),
        None => hex(&Sha256::digest(text.as_bytes())),
    }
}

/// Where and why a chain is broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    pub seq: i64,
    pub reason: String,
}

/// What walking a whole chain found: every event holds, or the first that does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Intact { events: u64 },
    Broken(Broken),
}

/// Follows a chain event by event, in sequence order, from the start.
#[derive(Debug)]
pub struct Chain<'k> {
    key: Option<&'k AuditKey>,
    prev: String,
    next: i64,
    keyed_seen: bool,
    count: u64,
}

impl<'k> Chain<'k> {
    pub fn new(key: Option<&'k AuditKey>) -> Chain<'k> {
        Chain {
            key,
            prev: GENESIS.to_owned(),
            next: 1,
            keyed_seen: false,
            count: 0,
        }
    }

    /// Checks the next event; the first wrong one is named.
    pub fn check(&mut self, event: &Event) -> Result<(), Broken> {
        let broken = |reason: String| Broken {
            seq: event.seq,
            reason,
        };
        if event.seq != self.next {
            return Err(broken(format!(
                "expected event {} next, found {}: events are missing or reordered",
                self.next, event.seq
            )));
        }
        if event.prev_hash != self.prev {
            return Err(broken(
                "its link to the previous event does not match that event's hash".to_owned(),
            ));
        }
        let key = match (event.keyed, self.key) {
            (true, Some(key)) => Some(key),
            (true, None) => {
                return Err(broken(
                    "it is keyed: verifying it needs the audit key (audit.key_file or BERTH_AUDIT_KEY)"
                        .to_owned(),
                ));
            }
            // Once Berth keys the chain it never stops: an unkeyed event after a keyed one
            // was written by someone without the key.
            (false, _) if self.keyed_seen => {
                return Err(broken(
                    "it is not keyed, yet events before it are: written without the audit key"
                        .to_owned(),
                ));
            }
            (false, _) => None,
        };
        let recomputed = event_hash(
            event.seq,
            event.at_micros,
            &event.body,
            &event.prev_hash,
            key,
        );
        if recomputed != event.hash {
            return Err(broken(
                "its contents do not match its hash: the event was changed".to_owned(),
            ));
        }
        self.keyed_seen |= event.keyed;
        self.prev = event.hash.clone();
        self.next += 1;
        self.count += 1;
        Ok(())
    }

    /// Events checked so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The last event's sequence number (0 before any).
    pub fn head(&self) -> i64 {
        self.next - 1
    }
}

/// Checks `events` as a whole chain from the first event; how many, or the first wrong one.
pub fn verify<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    key: Option<&AuditKey>,
) -> Result<u64, Broken> {
    let mut chain = Chain::new(key);
    for event in events {
        chain.check(event)?;
    }
    Ok(chain.count())
}

/// The head of the chain as Berth saw it at `at`, signed with the audit key, and kept outside
/// the table (a file, the log stream).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    /// RFC 3339.
    pub at: String,
    pub mac: String,
}

impl Checkpoint {
    fn text(seq: i64, hash: &str, at: &str) -> String {
        format!("berth audit checkpoint\n{seq}\n{hash}\n{at}")
    }

    pub fn sign(seq: i64, hash: &str, at: &str, key: &AuditKey) -> Checkpoint {
        Checkpoint {
            seq,
            hash: hash.to_owned(),
            at: at.to_owned(),
            mac: key.mac(&Checkpoint::text(seq, hash, at)),
        }
    }

    pub fn signed_by(&self, key: &AuditKey) -> bool {
        key.mac(&Checkpoint::text(self.seq, &self.hash, &self.at)) == self.mac
    }

    /// Against the chain as it is: `head` its last event, `hash_at_seq` the hash of this
    /// checkpoint's event if the chain has it.
    pub fn check(&self, head: i64, hash_at_seq: Option<&str>) -> Result<(), Broken> {
        if self.seq > head {
            return Err(Broken {
                seq: head + 1,
                reason: format!(
                    "events {} to {} are missing: a checkpoint signed at {} saw event {}",
                    head + 1,
                    self.seq,
                    self.at,
                    self.seq
                ),
            });
        }
        match hash_at_seq {
            Some(hash) if hash == self.hash => Ok(()),
            _ => Err(Broken {
                seq: self.seq,
                reason: format!(
                    "it differs from the checkpoint signed at {}: the chain was rewritten",
                    self.at
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_event_names_its_actor_or_the_anonymous_visitor() {
        let origin = crate::identity::RequestOrigin {
            source: "10.0.0.7".to_owned(),
            request_id: "req-1".to_owned(),
        };
        let anonymous = NewEvent::by(None, &origin, "session.sign_in", Outcome::Failure);
        assert_eq!(anonymous.actor_id, "anonymous");
        assert_eq!(anonymous.outcome, "failure");
        assert_eq!(anonymous.source, "10.0.0.7");
        let user = crate::identity::CurrentUser {
            id: "u1".to_owned(),
            display_name: "Una".to_owned(),
            email: String::new(),
            roles: vec![crate::authz::Role::Sre],
            teams: Vec::new(),
        };
        let mut e = NewEvent::by(Some(&user), &origin, "access.review", Outcome::Requested).on(
            "AccessRequest",
            "",
            "ar-1",
        );
        e.set_outcome(Outcome::Denied);
        assert_eq!(
            (
                e.actor_id.as_str(),
                e.actor_display.as_str(),
                e.actor_roles.as_slice()
            ),
            (
                "u1",
                "Una",
                ["developer".to_owned(), "sre".to_owned()].as_slice()
            )
        );
        assert_eq!(
            (e.target_kind.as_str(), e.target_name.as_str()),
            ("AccessRequest", "ar-1")
        );
        assert_eq!(
            (e.outcome.as_str(), e.request_id.as_str()),
            ("denied", "req-1")
        );
    }

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
            target_cluster: String::new(),
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
                let hash = event_hash(seq, 1_000 + seq, &b, &prev, None);
                let e = Event {
                    seq,
                    at_micros: 1_000 + seq,
                    body: b,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                    keyed: false,
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
        let h = event_hash(1, 5, &b, GENESIS, None);
        assert_eq!(h.len(), 64);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(h, event_hash(2, 5, &b, GENESIS, None));
        assert_ne!(h, event_hash(1, 6, &b, GENESIS, None));
        let mut other = b.clone();
        other.outcome = "failure".into();
        assert_ne!(h, event_hash(1, 5, &other, GENESIS, None));
    }

    #[test]
    fn the_cluster_is_hashed_only_when_set() {
        let b = body("x");
        let before_the_fleet = event_hash(1, 5, &b, GENESIS, None);
        let mut on = b.clone();
        on.target_cluster = "us-dev".to_owned();
        assert_ne!(event_hash(1, 5, &on, GENESIS, None), before_the_fleet);
        // The hash an event had before the field existed, spelled out: it still holds.
        let old = serde_json::json!({
            "seq": 1, "at_micros": 5, "actor_id": b.actor_id, "actor_display": b.actor_display,
            "actor_roles": b.actor_roles, "source": b.source, "request_id": b.request_id,
            "action": b.action, "target_kind": b.target_kind,
            "target_namespace": b.target_namespace, "target_name": b.target_name,
            "before": b.before, "after": b.after, "outcome": b.outcome, "prev_hash": GENESIS,
        });
        assert_eq!(
            before_the_fleet,
            hex(&Sha256::digest(canonical_json(&old).as_bytes()))
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        let events = chain(5);
        assert_eq!(verify(&events, None), Ok(5));
    }

    #[test]
    fn a_changed_event_is_named() {
        let mut events = chain(5);
        events[2].body.actor_id = "mallory".into();
        let broken = verify(&events, None).expect_err("tampered");
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("changed"));
    }

    #[test]
    fn a_removed_or_relinked_event_is_named() {
        let mut events = chain(5);
        events.remove(1);
        assert_eq!(verify(&events, None).expect_err("gap").seq, 3);

        let mut events = chain(3);
        // Rewrite event 2 and re-hash it: its successor's link gives it away.
        events[1].body.action = "forged".into();
        events[1].hash = event_hash(
            2,
            events[1].at_micros,
            &events[1].body,
            &events[1].prev_hash,
            None,
        );
        let broken = verify(&events, None).expect_err("relinked");
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("link"));
    }

    fn key(byte: u8) -> AuditKey {
        AuditKey::new(vec![byte; 32]).expect("key")
    }

    fn keyed_chain(n: i64, k: &AuditKey) -> Vec<Event> {
        let mut events = chain(n);
        let mut prev = GENESIS.to_owned();
        for e in &mut events {
            e.prev_hash = prev.clone();
            e.hash = event_hash(e.seq, e.at_micros, &e.body, &prev, Some(k));
            e.keyed = true;
            prev = e.hash.clone();
        }
        events
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(AuditKey::new(vec![1; 31]).is_err());
        assert_eq!(format!("{:?}", key(7)), "AuditKey(..)");
    }

    #[test]
    fn a_keyed_chain_cannot_be_recomputed_without_the_key() {
        let k = key(1);
        let events = keyed_chain(4, &k);
        assert_eq!(verify(&events, Some(&k)), Ok(4));
        // Without the key, or with another, nothing keyed verifies.
        assert!(verify(&events, None).is_err());
        assert_eq!(
            verify(&events, Some(&key(2))).expect_err("wrong key").seq,
            1
        );
        // A forger who rewrites event 3 and recomputes the rest unkeyed is caught at 3.
        let mut forged = events.clone();
        forged[2].body.action = "forged".into();
        let mut prev = forged[1].hash.clone();
        for e in &mut forged[2..] {
            e.prev_hash = prev.clone();
            e.hash = event_hash(e.seq, e.at_micros, &e.body, &prev, None);
            e.keyed = false;
            prev = e.hash.clone();
        }
        let broken = verify(&forged, Some(&k)).expect_err("forged");
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("not keyed"), "{broken:?}");
        // An old unkeyed prefix followed by keyed events (a key added later) is fine.
        let mut mixed = chain(2);
        let mut prev = mixed[1].hash.clone();
        for mut e in keyed_chain(4, &k).into_iter().skip(2) {
            e.prev_hash = prev.clone();
            e.hash = event_hash(e.seq, e.at_micros, &e.body, &prev, Some(&k));
            prev = e.hash.clone();
            mixed.push(e);
        }
        assert_eq!(verify(&mixed, Some(&k)), Ok(4));
    }

    #[test]
    fn checkpoints_catch_a_deleted_tail_and_a_rewritten_chain() {
        let k = key(1);
        let events = keyed_chain(5, &k);
        let at = "2026-12-04T10:00:00Z";
        let cp = Checkpoint::sign(5, &events[4].hash, at, &k);
        assert!(cp.signed_by(&k));
        assert!(!cp.signed_by(&key(2)));
        let mut moved = cp.clone();
        moved.seq = 4;
        assert!(!moved.signed_by(&k), "a checkpoint's fields are signed");
        assert_eq!(cp.check(5, Some(&events[4].hash)), Ok(()));
        // The last two events deleted: the chain alone is intact, the checkpoint is not.
        assert_eq!(verify(&events[..3], Some(&k)), Ok(3));
        let broken = cp.check(3, None).expect_err("tail deleted");
        assert_eq!(broken.seq, 4);
        assert!(
            broken.reason.contains("events 4 to 5 are missing"),
            "{broken:?}"
        );
        let broken = cp.check(5, Some("rewritten")).expect_err("rewritten");
        assert_eq!(broken.seq, 5);
        assert!(broken.reason.contains("rewritten"));
    }
}
