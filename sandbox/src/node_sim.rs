//! The node simulator: what a real control plane lacks on a laptop or a CI machine is nodes
//! with kubelets and containers. Against the real API server this registers the scenario's
//! Nodes and keeps their Leases fresh, drives every Pod the scheduler binds to them through its
//! life ([`crate::kubelet`]), removes pods marked for deletion as a kubelet does once their
//! containers stop, provisions claims of the `standard` StorageClass, and serves
//! `metrics.k8s.io` behind the aggregator ([`crate::metrics_api`]). As kwok does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::{NodeSpec, kubelet};

/// The field manager of everything the simulator writes.
pub const MANAGER: &str = "berth-node-simulator";
/// The provisioner name of the `standard` StorageClass the simulator serves.
pub const PROVISIONER: &str = "sandbox.berth.dev/hostpath";
/// How often node Leases are renewed (the node lifecycle controller allows 40 s).
const LEASE_RENEW: Duration = Duration::from_secs(10);
/// Pod status writes in flight at once.
const WORKERS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("registering node {node}: {source}")]
    Register { node: String, source: kube::Error },
    #[error("setting up {what}: {source}")]
    Setup {
        what: &'static str,
        source: kube::Error,
    },
}

/// The pods bound to simulated nodes, slimmed to what the kubelet logic and the metrics API
/// read, keyed by uid.
#[derive(Default)]
pub struct PodTable {
    pods: HashMap<String, Value>,
}

impl PodTable {
    pub fn running(&self) -> impl Iterator<Item = &Value> {
        self.pods
            .values()
            .filter(|p| p.pointer("/status/phase").and_then(Value::as_str) == Some("Running"))
    }
}

/// Shared between the watch, the workers and the metrics API.
pub struct Shared {
    pub nodes: Vec<NodeSpec>,
    pub node_objects: Vec<Value>,
    pub pods: Mutex<PodTable>,
    queue: mpsc::UnboundedSender<String>,
    queued: Mutex<HashSet<String>>,
    speed: f64,
}

impl Shared {
    fn enqueue(&self, uid: &str) {
        let fresh = self
            .queued
            .lock()
            .map(|mut q| q.insert(uid.to_owned()))
            .unwrap_or(true);
        if fresh {
            let _ = self.queue.send(uid.to_owned());
        }
    }
}

/// A running simulator; its tasks end when it is dropped.
pub struct Simulator {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    /// Wakes when the pod watch has listed everything once.
    synced: Arc<Notify>,
    synced_flag: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("nodes", &self.shared.nodes.len())
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Registers `nodes` and starts the kubelets' work. `speed` scales scripted delays.
    pub async fn start(
        client: kube::Client,
        nodes: Vec<NodeSpec>,
        speed: f64,
    ) -> Result<Simulator, SimulatorError> {
        ensure_storage_class(&client).await?;
        let node_objects: Vec<Value> = nodes.iter().map(node_object).collect();
        register_nodes(&client, &nodes).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            nodes,
            node_objects,
            pods: Mutex::new(PodTable::default()),
            queue: tx,
            queued: Mutex::new(HashSet::new()),
            speed,
        });
        let synced = Arc::new(Notify::new());
        let synced_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = vec![
            tokio::spawn(renew_leases(client.clone(), shared.clone())),
            tokio::spawn(watch_pods(
                client.clone(),
                shared.clone(),
                synced.clone(),
                synced_flag.clone(),
            )),
            tokio::spawn(provision_claims(client.clone())),
            tokio::spawn(reclaim_volumes(client.clone())),
        ];
        tasks.push(tokio::spawn(work(client, shared.clone(), rx)));
        Ok(Simulator {
            shared,
            tasks,
            synced,
            synced_flag,
        })
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Waits until the pod watch has read every existing pod once.
    pub async fn wait_synced(&self) {
        let notified = self.synced.notified();
        if self.synced_flag.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        notified.await;
    }

    pub fn stop(self) {}
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Node spec → the Node object a kubelet registers: capacity, allocatable (less what the system
/// reserves), labels, addresses.
fn node_object(spec: &NodeSpec) -> Value {
    let mut node = spec.to_object();
    node["status"]["addresses"] = json!([
        {"type": "InternalIP", "address": node_ip(&spec.name)},
        {"type": "Hostname", "address": spec.name},
    ]);
    node["status"]["nodeInfo"] = json!({
        "kubeletVersion": crate::control_plane::KUBERNETES_VERSION,
        "kubeProxyVersion": "",
        "osImage": "Berth node simulator",
        "containerRuntimeVersion": "sandbox://1.0",
        "kernelVersion": "",
        "architecture": "amd64",
        "operatingSystem": "linux",
        "machineID": "", "systemUUID": "", "bootID": "",
    });
    node
}

fn ready_conditions(now: &str) -> Value {
    let c = |kind: &str, status: &str, reason: &str, message: &str| json!({"type": kind, "status": status, "reason": reason, "message": message, "lastHeartbeatTime": now, "lastTransitionTime": now});
    json!([
        c(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available"
        ),
        c(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure"
        ),
        c(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available"
        ),
        c(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status"
        ),
    ])
}

async fn register_nodes(client: &kube::Client, nodes: &[NodeSpec]) -> Result<(), SimulatorError> {
    let api: Api<Node> = Api::all(client.clone());
    let results = futures::stream::iter(nodes.iter().map(|spec| {
        let api = api.clone();
        async move {
            let object = node_object(spec);
            let fail = |source| SimulatorError::Register {
                node: spec.name.clone(),
                source,
            };
            let meta = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": spec.name, "labels": object["metadata"]["labels"]}});
            api.patch(
                &spec.name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(meta),
            )
            .await
            .map_err(fail)?;
            let now = kubelet::rfc3339(now_ms());
            let mut status = object["status"].clone();
            status["conditions"] = ready_conditions(&now);
            api.patch_status(
                &spec.name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
            .map_err(fail)?;
            Ok::<(), SimulatorError>(())
        }
    }))
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await;
    results.into_iter().collect()
}

/// Renews each node's Lease, as kubelets do, and its Ready condition every minute.
async fn renew_leases(client: kube::Client, shared: Arc<Shared>) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let nodes: Api<Node> = Api::all(client);
    let mut tick = 0u64;
    loop {
        let now = kubelet::rfc3339(now_ms());
        let micro = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        let status_too = tick.is_multiple_of(6);
        let names: Vec<String> = shared.nodes.iter().map(|n| n.name.clone()).collect();
        futures::stream::iter(names.into_iter().map(|name| {
            let (leases, nodes, micro, now) = (leases.clone(), nodes.clone(), micro.clone(), now.clone());
            async move {
                let spec = NodeName { name };
                let spec = &spec;
                let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": spec.name},
                    "spec": {"holderIdentity": spec.name, "leaseDurationSeconds": 40, "renewTime": micro}});
                if let Err(e) = leases
                    .patch(&spec.name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(lease))
                    .await
                {
                    tracing::warn!(node = %spec.name, error = %e, "renewing the node lease failed");
                }
                if status_too {
                    let patch = json!({"status": {"conditions": ready_conditions(&now)}});
                    if let Err(e) = nodes.patch_status(&spec.name, &PatchParams::default(), &Patch::Strategic(patch)).await {
                        tracing::warn!(node = %spec.name, error = %e, "node status update failed");
                    }
                }
            }
        }))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
        tick += 1;
        tokio::time::sleep(LEASE_RENEW).await;
    }
}

/// Keeps the pod table: every pod bound to one of our nodes, slimmed; queues each change.
async fn watch_pods(
    client: kube::Client,
    shared: Arc<Shared>,
    synced: Arc<Notify>,
    synced_flag: Arc<std::sync::atomic::AtomicBool>,
) {
    let ours: HashSet<String> = shared.nodes.iter().map(|n| n.name.clone()).collect();
    let api: Api<Pod> = Api::all(client);
    let config = watcher::Config::default().fields("spec.nodeName!=");
    let mut stream = std::pin::pin!(watcher(api, config));
    let mut relisting: HashSet<String> = HashSet::new();
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = %e, "pod watch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        match event {
            watcher::Event::Init => relisting.clear(),
            watcher::Event::InitApply(pod) | watcher::Event::Apply(pod) => {
                let Some(slim) = slim(&pod, &ours) else {
                    continue;
                };
                let uid = slim
                    .pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                relisting.insert(uid.clone());
                if let Ok(mut table) = shared.pods.lock() {
                    table.pods.insert(uid.clone(), slim);
                }
                shared.enqueue(&uid);
            }
            watcher::Event::Delete(pod) => {
                if let Some(uid) = pod.metadata.uid.as_deref()
                    && let Ok(mut table) = shared.pods.lock()
                {
                    table.pods.remove(uid);
                }
            }
            watcher::Event::InitDone => {
                // Pods deleted while the watch was down are gone from the new list.
                if let Ok(mut table) = shared.pods.lock() {
                    table.pods.retain(|uid, _| relisting.contains(uid));
                }
                synced_flag.store(true, std::sync::atomic::Ordering::SeqCst);
                synced.notify_waiters();
            }
        }
    }
}

/// What the kubelet logic and metrics read of a pod; `None` for pods not on our nodes.
fn slim(pod: &Pod, ours: &HashSet<String>) -> Option<Value> {
    let node = pod.spec.as_ref()?.node_name.as_deref()?;
    if !ours.contains(node) {
        return None;
    }
    let full = serde_json::to_value(pod).ok()?;
    let annotations: serde_json::Map<String, Value> = full
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|a| {
            a.iter()
                .filter(|(k, _)| k.starts_with("sandbox.berth.dev/"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let containers: Vec<Value> = full
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| json!({"name": c["name"], "image": c["image"], "resources": c.get("resources").cloned().unwrap_or(Value::Null)}))
                .collect()
        })
        .unwrap_or_default();
    Some(json!({
        "metadata": {
            "name": full["metadata"]["name"],
            "namespace": full["metadata"]["namespace"],
            "uid": full["metadata"]["uid"],
            "labels": full["metadata"].get("labels").cloned().unwrap_or_else(|| json!({})),
            "annotations": annotations,
            "deletionTimestamp": full["metadata"].get("deletionTimestamp").cloned().unwrap_or(Value::Null),
        },
        "spec": {"nodeName": node, "restartPolicy": full["spec"]["restartPolicy"], "containers": containers},
        "status": full.get("status").cloned().unwrap_or(Value::Null),
    }))
}

/// The kubelets' work: takes queued pods, writes the status of each whose stage moved, deletes
/// pods marked for deletion, and queues a recheck for when a stage moves on its own.
async fn work(client: kube::Client, shared: Arc<Shared>, rx: mpsc::UnboundedReceiver<String>) {
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (client, shared, rx) = (client.clone(), shared.clone(), rx.clone());
            tokio::spawn(async move {
                loop {
                    let uid = { rx.lock().await.recv().await };
                    let Some(uid) = uid else { return };
                    if let Ok(mut q) = shared.queued.lock() {
                        q.remove(&uid);
                    }
                    let pod = shared
                        .pods
                        .lock()
                        .ok()
                        .and_then(|t| t.pods.get(&uid).cloned());
                    if let Some(pod) = pod {
                        step(&client, &shared, &uid, &pod).await;
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
}

async fn step(client: &kube::Client, shared: &Arc<Shared>, uid: &str, pod: &Value) {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        // The containers "stop" at once; the kubelet then removes the pod for good.
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(uid.to_owned()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(name, &params).await {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => tracing::warn!(pod = %name, error = %e, "deleting a terminated pod failed"),
        }
        return;
    }
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return;
    }
    let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    let lifecycle = kubelet::lifecycle(pod, &node_ip(node), &pod_ip(uid), now_ms(), shared.speed);
    if lifecycle.stage != kubelet::stage_of(pod) {
        let patch = json!({"status": lifecycle.status});
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => {
                tracing::warn!(pod = %name, error = %e, "pod status update failed; retrying");
                requeue(shared, uid, 1.0);
                return;
            }
        }
        if let Some(warning) = &lifecycle.warning {
            record_warning(client, pod, uid, node, warning).await;
        }
    }
    if let Some(secs) = lifecycle.recheck_in {
        requeue(shared, uid, secs);
    }
}

/// A Warning event about the pod from the kubelet, as `kubectl describe pod` shows them.
async fn record_warning(
    client: &kube::Client,
    pod: &Value,
    uid: &str,
    node: &str,
    warning: &kubelet::Warning,
) {
    use k8s_openapi::api::core::v1::Event;
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let now = kubelet::rfc3339(now_ms());
    let event = json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{:x}", now_ms()), "namespace": namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": name, "uid": uid},
        "reason": warning.reason, "message": warning.message, "type": "Warning",
        "source": {"component": "kubelet", "host": node},
        "reportingComponent": "kubelet", "reportingInstance": node,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1});
    let Ok(event) = serde_json::from_value::<Event>(event) else {
        return;
    };
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    if let Err(e) = events.create(&PostParams::default(), &event).await {
        tracing::debug!(pod = %name, error = %e, "recording a kubelet event failed");
    }
}

fn requeue(shared: &Arc<Shared>, uid: &str, secs: f64) {
    let (shared, uid) = (shared.clone(), uid.to_owned());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs_f64(secs.clamp(0.05, 3600.0))).await;
        shared.enqueue(&uid);
    });
}

/// The `standard` StorageClass (the default), whose claims the simulator provisions at once.
async fn ensure_storage_class(client: &kube::Client) -> Result<(), SimulatorError> {
    use k8s_openapi::api::storage::v1::StorageClass;
    let api: Api<StorageClass> = Api::all(client.clone());
    let class = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"});
    api.patch(
        "standard",
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(class),
    )
    .await
    .map_err(|source| SimulatorError::Setup {
        what: "the standard StorageClass",
        source,
    })?;
    Ok(())
}

/// A volume for every pending claim of the `standard` class, bound to it by the real
/// persistent-volume controller.
async fn provision_claims(client: kube::Client) {
    let claims: Api<PersistentVolumeClaim> = Api::all(client.clone());
    let volumes: Api<PersistentVolume> = Api::all(client);
    let mut stream = std::pin::pin!(watcher(claims, watcher::Config::default()));
    while let Some(event) = stream.next().await {
        let claim = match event {
            Ok(watcher::Event::Apply(c) | watcher::Event::InitApply(c)) => c,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "claim watch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let Some(spec) = claim.spec.as_ref() else {
            continue;
        };
        if spec.storage_class_name.as_deref() != Some("standard")
            || spec.volume_name.is_some()
            || claim.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let (Some(uid), Some(name), Some(namespace)) = (
            claim.metadata.uid.as_deref(),
            claim.metadata.name.as_deref(),
            claim.metadata.namespace.as_deref(),
        ) else {
            continue;
        };
        let size = spec
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .map_or_else(|| "1Gi".to_owned(), |q| q.0.clone());
        let modes = spec
            .access_modes
            .clone()
            .unwrap_or_else(|| vec!["ReadWriteOnce".to_owned()]);
        let pv_name = format!("pvc-{uid}");
        let pv = json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
            "spec": {"capacity": {"storage": size}, "accessModes": modes, "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": "standard", "hostPath": {"path": format!("/var/lib/sandbox/{pv_name}")},
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace, "name": name, "uid": uid}}});
        let Ok(pv) = serde_json::from_value::<PersistentVolume>(pv) else {
            continue;
        };
        match volumes.create(&PostParams::default(), &pv).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => tracing::warn!(claim = %name, error = %e, "provisioning a volume failed"),
        }
    }
}

/// Deletes released volumes this provisioner made, as their Delete reclaim policy says.
async fn reclaim_volumes(client: kube::Client) {
    let volumes: Api<PersistentVolume> = Api::all(client);
    let mut stream = std::pin::pin!(watcher(volumes.clone(), watcher::Config::default()));
    while let Some(event) = stream.next().await {
        let pv = match event {
            Ok(watcher::Event::Apply(v) | watcher::Event::InitApply(v)) => v,
            Ok(_) => continue,
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let ours = pv
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("pv.kubernetes.io/provisioned-by"))
            .is_some_and(|p| p == PROVISIONER);
        let released = pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Released");
        let delete = pv
            .spec
            .as_ref()
            .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
            == Some("Delete");
        if ours
            && released
            && delete
            && let Some(name) = pv.metadata.name.as_deref()
        {
            let _ = volumes.delete(name, &DeleteParams::default()).await;
        }
    }
}

struct NodeName {
    name: String,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A stable address per node name in 10.0.0.0/16.
pub fn node_ip(node: &str) -> String {
    let h = fnv(node);
    format!("10.0.{}.{}", (h >> 8) % 250, h % 250 + 2)
}

/// A stable pod address per uid in 10.244.0.0/16.
fn pod_ip(uid: &str) -> String {
    let h = fnv(uid);
    format!("10.244.{}.{}", (h >> 8) % 250, h % 250 + 2)
}

fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The node objects as the metrics API reports them, keyed by name.
pub fn nodes_by_name(shared: &Shared) -> BTreeMap<String, &Value> {
    shared
        .node_objects
        .iter()
        .filter_map(|n| Some((n["metadata"]["name"].as_str()?.to_owned(), n)))
        .collect()
}
