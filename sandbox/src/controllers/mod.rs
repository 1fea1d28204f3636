//! The controllers that make the sandbox behave like a cluster. Each is a client of the store:
//! it reacts to change events (and to its own timers), reads a consistent picture, and writes
//! through the same operations the API uses, so every change is seen by watches.

mod apps;
mod batch;
mod cluster;
mod endpoints;
pub mod events;
mod pods;
mod sets;
pub mod volumes;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use crate::pki::Authority;
use crate::resources::{self, ResourceType};
use crate::store::{Event, Store};

/// How fast simulated time runs: delays in scripts (pod readiness, job run time) are divided
/// by `speed`.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub speed: f64,
}

impl Clock {
    pub fn scaled(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64((seconds / self.speed.max(0.001)).max(0.0))
    }
}

pub use pods::{READY_AFTER, RUN_SECONDS, SCRIPT};

/// For scenario loading: the same hash, names and defaults the controllers produce.
pub fn template_hash_of(template: &Value) -> String {
    template_hash(template)
}

pub fn owner_reference_of(kind: &str, api_version: &str, owner: &Value) -> Value {
    owner_reference(kind, api_version, owner)
}

pub fn now_string() -> String {
    now()
}

pub fn random_suffix_string() -> String {
    random_suffix()
}

pub fn qos_class_of(pod: &Value) -> &'static str {
    pods::qos_class(pod)
}

/// What a controller is asked to look at.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Namespace(String),
    Quota(String),
    Deployment(String, String),
    ReplicaSet(String, String),
    StatefulSet(String, String),
    DaemonSet(String, String),
    Job(String, String),
    CronJob(String, String),
    Pod(String, String),
    /// The Endpoints of a namespace's Services.
    Endpoints(String),
    /// Pending pods may fit now (a node appeared or pods went away).
    Unscheduled,
    Csr(String),
}

/// Shared by the controllers.
pub struct Context<'a> {
    pub store: &'a Store,
    pub authority: &'a Authority,
    pub clock: Clock,
    /// Ask to be called again at a later instant.
    pub wake: &'a mut BTreeMap<Instant, BTreeSet<Target>>,
}

impl Context<'_> {
    pub fn wake_after(&mut self, delay: Duration, target: Target) {
        self.wake
            .entry(Instant::now() + delay)
            .or_default()
            .insert(target);
    }
}

pub fn rt(group: &str, plural: &str) -> &'static ResourceType {
    let version = match group {
        "autoscaling" => "v2",
        _ => "v1",
    };
    match resources::find(group, version, plural) {
        Some(rt) => rt,
        // The table is static and the names below are spelled once each; a miss is a typo.
        None => unreachable!("unknown resource {group}/{plural}"),
    }
}

pub fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The controlling owner of an object: (kind, name).
pub(crate) fn controller_of(object: &Value) -> Option<(String, String)> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| {
            r.get("controller")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
        .map(|r| {
            (
                r.get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                r.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
}

fn targets_of(event: &Event) -> Vec<Target> {
    let object = &event.object;
    let ns = meta_str(object, "namespace").to_owned();
    let name = meta_str(object, "name").to_owned();
    let mut out = Vec::new();
    let owner = controller_of(object);
    let by_owner = |out: &mut Vec<Target>| {
        if let Some((kind, owner_name)) = &owner {
            let t = match kind.as_str() {
                "Deployment" => Target::Deployment(ns.clone(), owner_name.clone()),
                "ReplicaSet" => Target::ReplicaSet(ns.clone(), owner_name.clone()),
                "StatefulSet" => Target::StatefulSet(ns.clone(), owner_name.clone()),
                "DaemonSet" => Target::DaemonSet(ns.clone(), owner_name.clone()),
                "Job" => Target::Job(ns.clone(), owner_name.clone()),
                "CronJob" => Target::CronJob(ns.clone(), owner_name.clone()),
                _ => return,
            };
            out.push(t);
        }
    };
    match event.resource.kind {
        "Namespace" => out.push(Target::Namespace(name)),
        "Deployment" => out.push(Target::Deployment(ns, name)),
        "ReplicaSet" => {
            by_owner(&mut out);
            out.push(Target::ReplicaSet(ns, name));
        }
        "StatefulSet" => out.push(Target::StatefulSet(ns, name)),
        "DaemonSet" => out.push(Target::DaemonSet(ns, name)),
        "Job" => {
            by_owner(&mut out);
            out.push(Target::Job(ns, name));
        }
        "CronJob" => out.push(Target::CronJob(ns, name)),
        "Pod" => {
            by_owner(&mut out);
            out.push(Target::Quota(ns.clone()));
            out.push(Target::Endpoints(ns.clone()));
            if event.kind == crate::store::EventType::Deleted {
                out.push(Target::Unscheduled);
            } else {
                out.push(Target::Pod(ns, name));
            }
        }
        "Node" => {
            out.push(Target::Unscheduled);
            out.extend(all_daemonsets_marker());
        }
        "Service" => {
            out.push(Target::Endpoints(ns.clone()));
            out.push(Target::Quota(ns));
        }
        "ResourceQuota" | "PersistentVolumeClaim" | "ConfigMap" | "Secret" => {
            out.push(Target::Quota(ns))
        }
        "CertificateSigningRequest" => out.push(Target::Csr(name)),
        _ => {}
    }
    out
}

/// DaemonSets are found at reconcile time; a node change marks them all via this sentinel.
fn all_daemonsets_marker() -> Vec<Target> {
    vec![Target::DaemonSet(String::new(), String::new())]
}

/// Every object a controller owns, for a full resync (at start and after missed events).
fn everything(store: &Store) -> BTreeSet<Target> {
    let mut out = BTreeSet::new();
    store.read(|tables| {
        let keys = |plural: &str| -> Vec<(String, String)> {
            tables
                .get(plural)
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default()
        };
        for (_, name) in keys("namespaces") {
            out.insert(Target::Namespace(name.clone()));
            out.insert(Target::Endpoints(name.clone()));
            out.insert(Target::Quota(name));
        }
        for (ns, name) in keys("deployments") {
            out.insert(Target::Deployment(ns, name));
        }
        for (ns, name) in keys("replicasets") {
            out.insert(Target::ReplicaSet(ns, name));
        }
        for (ns, name) in keys("statefulsets") {
            out.insert(Target::StatefulSet(ns, name));
        }
        for (ns, name) in keys("daemonsets") {
            out.insert(Target::DaemonSet(ns, name));
        }
        for (ns, name) in keys("jobs") {
            out.insert(Target::Job(ns, name));
        }
        for (ns, name) in keys("cronjobs") {
            out.insert(Target::CronJob(ns, name));
        }
        for (ns, name) in keys("pods") {
            out.insert(Target::Pod(ns, name));
        }
        for (_, name) in keys("certificatesigningrequests") {
            out.insert(Target::Csr(name));
        }
    });
    out.insert(Target::Unscheduled);
    out
}

/// Anything that owns a store and a CA: the sandbox's API state.
pub trait Cluster: Send + Sync + 'static {
    fn store(&self) -> &Store;
    fn authority(&self) -> &Authority;
}

/// Runs the controllers until `stop` fires.
pub async fn run<C: Cluster>(
    cluster: Arc<C>,
    clock: Clock,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut events = cluster.store().subscribe();
    let mut dirty = everything(cluster.store());
    let mut wake: BTreeMap<Instant, BTreeSet<Target>> = BTreeMap::new();
    // Cron schedules are checked on a steady beat rather than computed to the instant.
    let mut cron_beat = tokio::time::interval(Duration::from_secs(1));
    loop {
        // Work first, then wait: writes made here come back as events and settle next round.
        let mut passes = 0;
        while !dirty.is_empty() && passes < 8 {
            passes += 1;
            let batch = std::mem::take(&mut dirty);
            let mut ctx = Context {
                store: cluster.store(),
                authority: cluster.authority(),
                clock,
                wake: &mut wake,
            };
            for target in batch {
                tracing::trace!(?target, "reconcile");
                reconcile(&mut ctx, &target);
            }
            // Take what our own writes caused without waiting.
            loop {
                match events.try_recv() {
                    Ok(event) => dirty.extend(targets_of(&event)),
                    Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                        dirty = everything(cluster.store());
                    }
                    Err(_) => break,
                }
            }
        }
        let next_wake = wake.keys().next().copied();
        let sleep = async {
            match next_wake {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = stop.changed() => return,
            received = events.recv() => match received {
                Ok(event) => dirty.extend(targets_of(&event)),
                Err(RecvError::Lagged(_)) => dirty = everything(cluster.store()),
                Err(RecvError::Closed) => return,
            },
            () = sleep => {
                let now = Instant::now();
                let due: Vec<Instant> = wake.range(..=now).map(|(k, _)| *k).collect();
                for at in due {
                    if let Some(targets) = wake.remove(&at) {
                        dirty.extend(targets);
                    }
                }
            }
            _ = cron_beat.tick() => {
                cluster.store().read(|tables| {
                    if let Some(t) = tables.get("cronjobs") {
                        dirty.extend(t.keys().map(|(ns, name)| Target::CronJob(ns.clone(), name.clone())));
                    }
                });
            }
        }
    }
}

fn reconcile(ctx: &mut Context<'_>, target: &Target) {
    let result = match target {
        Target::Namespace(name) => cluster::namespace(ctx, name),
        Target::Quota(ns) => cluster::quota(ctx, ns),
        Target::Csr(name) => cluster::csr(ctx, name),
        Target::Deployment(ns, name) => apps::deployment(ctx, ns, name),
        Target::ReplicaSet(ns, name) => apps::replicaset(ctx, ns, name),
        Target::StatefulSet(ns, name) => sets::statefulset(ctx, ns, name),
        Target::DaemonSet(ns, name) if ns.is_empty() && name.is_empty() => {
            sets::all_daemonsets(ctx)
        }
        Target::DaemonSet(ns, name) => sets::daemonset(ctx, ns, name),
        Target::Job(ns, name) => batch::job(ctx, ns, name),
        Target::CronJob(ns, name) => batch::cronjob(ctx, ns, name),
        Target::Pod(ns, name) => pods::pod(ctx, ns, name),
        Target::Endpoints(ns) => endpoints::namespace(ctx, ns),
        Target::Unscheduled => pods::schedule_pending(ctx),
    };
    if let Err(err) = result {
        // A controller that fails retries later, as real ones requeue with backoff.
        if err.code != 404 {
            tracing::debug!(?target, error = %err.message, "controller will retry");
            ctx.wake_after(Duration::from_secs(1), target.clone());
        }
    }
}

/// FNV-1a of the canonical JSON, encoded as Kubernetes encodes pod-template hashes.
pub(crate) fn template_hash(template: &Value) -> String {
    let text = template.to_string();
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.as_bytes() {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    safe_encode(&hash.to_string())
}

/// Kubernetes' SafeEncodeString: no vowels, no look-alike characters.
pub(crate) fn safe_encode(text: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    text.bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

pub(crate) fn random_suffix() -> String {
    let raw = uuid::Uuid::new_v4();
    raw.as_bytes()[..5]
        .iter()
        .map(|b| {
            const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
            ALPHABET[usize::from(*b) % ALPHABET.len()] as char
        })
        .collect()
}

pub(crate) fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub(crate) fn parse_time(text: &str) -> Option<jiff::Timestamp> {
    text.parse().ok()
}

pub(crate) fn owner_reference(kind: &str, api_version: &str, owner: &Value) -> Value {
    serde_json::json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": meta_str(owner, "name"),
        "uid": meta_str(owner, "uid"),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

pub(crate) fn owned_by<'a>(
    objects: &'a [Value],
    owner: &Value,
) -> impl Iterator<Item = &'a Value> + 'a {
    let uid = meta_str(owner, "uid").to_owned();
    objects.iter().filter(move |o| {
        o.pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|refs| {
                // Controllers act only on what they control, as the real ones follow controllerRef.
                refs.iter().any(|r| {
                    r.get("uid").and_then(Value::as_str) == Some(uid.as_str())
                        && r.get("controller")
                            .and_then(Value::as_bool)
                            .unwrap_or(false)
                })
            })
    })
}

/// An integer field of an object, or `default` when it is absent.
pub(crate) fn int_at(object: &Value, pointer: &str, default: i64) -> i64 {
    object
        .pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

/// A boolean field of an object, or `default` when it is absent.
pub(crate) fn flag_at(object: &Value, pointer: &str, default: bool) -> bool {
    object
        .pointer(pointer)
        .and_then(Value::as_bool)
        .unwrap_or(default)
}

/// Whether a pod is Ready (its Ready condition is True).
pub(crate) fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// Not finished and not being deleted.
pub(crate) fn pod_active(pod: &Value) -> bool {
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    !matches!(phase, "Succeeded" | "Failed") && pod.pointer("/metadata/deletionTimestamp").is_none()
}
