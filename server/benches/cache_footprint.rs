//! Bytes the watch caches hold per object: pods, Deployments, ReplicaSets and nodes shaped as
//! the local control plane serves them (`benches/data/*.json`, taken from `berth demo`), each
//! with names and ids of its own, fed through the same reflector store and namespace index the
//! caches use. A counting allocator gives the live heap, so a projection's cost is read exactly,
//! without starting a control plane (`memory` measures the whole process on a real one).
//!
//! `cargo bench -p server --bench cache_footprint` (`BENCH_PODS`, default 20,000).

// A counting allocator implements `GlobalAlloc`, which is unsafe by signature; it only forwards.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use k8s_openapi::api::core::v1::Node;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::Event;
use server::cluster::deployment::CachedDeployment;
use server::cluster::namespace_index::NamespaceIndex;
use server::cluster::pod::CachedPod;
use server::cluster::replica_set::CachedReplicaSet;

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call forwards to the system allocator unchanged; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's layout is passed on as given.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> (isize, isize) {
    (
        LIVE_BYTES.load(Ordering::Relaxed),
        LIVE_BLOCKS.load(Ordering::Relaxed),
    )
}

fn template(name: &str) -> serde_json::Value {
    let path = format!("{}/benches/data/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `count` copies of `template` as the wire sends them, each in one of `namespaces`
/// namespaces with a name, uid and resourceVersion of its own.
fn copies(template: &serde_json::Value, count: usize, namespaces: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut object = template.clone();
            let meta = &mut object["metadata"];
            let name = format!("{}-{i:05x}", meta["name"].as_str().unwrap_or("object"));
            meta["name"] = name.into();
            meta["uid"] = format!("8f0e6a52-3c1d-4b7a-9e21-{i:012x}").into();
            meta["resourceVersion"] = format!("{}", 100_000 + i).into();
            if meta.get("namespace").is_some() {
                meta["namespace"] = format!("team-{:02}-ns-{:03}", i % 40, i % namespaces).into();
            }
            serde_json::to_vec(&object).unwrap_or_default()
        })
        .collect()
}

/// Live heap per object once `wire` is listed into a store (and a namespace index).
fn measure<K>(what: &str, wire: &[Vec<u8>], indexed: bool) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + 'static,
{
    let (before, blocks_before) = live();
    let (reader, mut writer) = reflector::store::<K>();
    let index = NamespaceIndex::default();
    let mut apply = |event: Event<K>| {
        writer.apply_watcher_event(&event);
        if indexed {
            index.apply(&event);
        }
    };
    apply(Event::Init);
    for bytes in wire {
        match serde_json::from_slice::<K>(bytes) {
            Ok(object) => apply(Event::InitApply(object)),
            Err(e) => panic!("{what}: {e}"),
        }
    }
    apply(Event::InitDone);
    let (after, blocks_after) = live();
    let n = wire.len() as f64;
    let bytes = (after - before) as f64 / n;
    let blocks = (blocks_after - blocks_before) as f64 / n;
    // glibc's malloc adds 8 bytes to each block and rounds to 16, at least 32 in all.
    let resident = bytes + blocks * 12.0;
    let wire_size = wire.iter().map(Vec::len).sum::<usize>() as f64 / n;
    println!(
        "| {what} | {} | {wire_size:.0} B | {bytes:.0} B in {blocks:.1} blocks | ~{resident:.0} B | {:.1} MiB |",
        wire.len(),
        resident * n / 1_048_576.0,
    );
    std::mem::forget(index);
    reader
}

fn main() {
    let pods: usize = std::env::var("BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let namespaces = (pods / 25).max(1);
    let workloads = (pods / 5).max(1);
    println!("| cache | objects | JSON each | live heap each | with malloc's overhead | total |");
    println!("|---|---|---|---|---|---|");
    let _pods = measure::<CachedPod>(
        "pods (CachedPod)",
        &copies(&template("pod"), pods, namespaces),
        true,
    );
    let _deployments = measure::<CachedDeployment>(
        "Deployments (CachedDeployment)",
        &copies(&template("deployment"), workloads, namespaces),
        true,
    );
    let _replica_sets = measure::<CachedReplicaSet>(
        "ReplicaSets (CachedReplicaSet)",
        &copies(&template("replicaset"), workloads, namespaces),
        true,
    );
    let _nodes = measure::<Node>(
        "nodes (whole)",
        &copies(&template("node"), (pods / 100).max(1), namespaces),
        false,
    );
}
