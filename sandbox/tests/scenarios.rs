//! The built-in scenarios load into a consistent, living cluster.

mod common;

use common::eventually;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use sandbox::control_plane::ControlPlaneOptions;
use sandbox::local_cluster::{LocalCluster, LocalClusterOptions};
use sandbox::scenario::Scenario;
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(120);

/// The demo company, loaded into the real control plane through the API: its namespaces and
/// nodes, its workloads brought up by the real controllers and the node simulator, its unbound
/// claims left pending, and metrics.k8s.io answering with the profiles' numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_company_loads_and_lives() {
    let scenario = Scenario::named("demo").expect("demo scenario parses");
    let dir = tempfile::tempdir().expect("state dir");
    let mut control_plane = ControlPlaneOptions::new(dir.path().join("state"));
    control_plane.durable = false;
    let cluster = LocalCluster::start(LocalClusterOptions {
        control_plane,
        scenario: Some(scenario),
        nodes: None,
    })
    .await
    .expect("local cluster");
    let client = cluster
        .control_plane()
        .admin_client()
        .await
        .expect("client");

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let teams: Vec<String> = namespaces
        .list(&ListParams::default().labels("berth.dev/team"))
        .await
        .expect("namespaces")
        .items
        .iter()
        .filter_map(|n| n.labels().get("berth.dev/team").cloned())
        .collect();
    assert_eq!(teams.len(), 25, "25 team namespaces");
    let mut distinct = teams.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 6, "six teams");
    let payments = namespaces.get("payments-prod").await.expect("ns");
    assert_eq!(
        payments
            .annotations()
            .get("berth.dev/cost-centre")
            .map(String::as_str),
        Some("CC-1010")
    );

    let nodes: Api<Node> = Api::all(client.clone());
    assert_eq!(
        nodes
            .list(&ListParams::default())
            .await
            .expect("nodes")
            .items
            .len(),
        7
    );

    // The controllers roll the workloads out; the simulated kubelets make the pods Ready.
    let deployments: Api<Deployment> = Api::all(client.clone());
    let api = Api::<Deployment>::namespaced(client.clone(), "payments-prod");
    eventually("payments-prod/api available", PATIENCE, || async {
        let api = api.get("api").await.ok()?;
        (api.status.as_ref().and_then(|s| s.available_replicas) == Some(4)).then_some(())
    })
    .await;
    assert!(
        deployments
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len()
            >= 50
    );

    let pvcs: Api<PersistentVolumeClaim> = Api::all(client.clone());
    let unclaimed = pvcs
        .list(&ListParams::default())
        .await
        .expect("pvcs")
        .items
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"))
        .count();
    assert!(unclaimed >= 3, "unbound claims are part of the story");

    // The crash-looping and never-ready workloads get there through the controllers.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "mobile-staging");
    eventually("bff-next pods running", PATIENCE, || async {
        let list = pods
            .list(&ListParams::default().labels("app=bff-next"))
            .await
            .ok()?;
        let running = list
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        (running == 2).then_some(())
    })
    .await;

    // metrics.k8s.io answers for running pods, with the profile's numbers.
    assert!(
        cluster.wait_metrics(PATIENCE).await,
        "metrics.k8s.io never available"
    );
    let metrics: Value = eventually("pod metrics", PATIENCE, || async {
        let request =
            http::Request::get("/apis/metrics.k8s.io/v1beta1/namespaces/payments-prod/pods")
                .body(Vec::new())
                .ok()?;
        let metrics: Value = client.request(request).await.ok()?;
        let items = metrics["items"].as_array().map_or(0, Vec::len);
        // The settled api and fraud-scorer pods.
        (items >= 6).then_some(metrics)
    })
    .await;
    assert_eq!(metrics["kind"], "PodMetricsList");
    cluster.stop();
}

#[test]
fn the_large_scenario_has_the_requested_shape() {
    let s = Scenario::large(20, 100, 500);
    let namespaces: usize = s.teams.iter().map(|t| t.namespaces.len()).sum();
    let workloads: usize = s
        .teams
        .iter()
        .flat_map(|t| &t.namespaces)
        .map(|n| n.workloads.len())
        .sum();
    let pods: u32 = s
        .teams
        .iter()
        .flat_map(|t| &t.namespaces)
        .flat_map(|n| &n.workloads)
        .map(|w| w.replicas)
        .sum();
    assert_eq!((namespaces, workloads, pods), (20, 100, 500));
    assert!(!s.node_specs().is_empty());
}

#[test]
fn a_malformed_scenario_is_refused_with_its_reason() {
    let err = Scenario::from_yaml("teams:\n  - name: x\n    namespacez: []\n")
        .expect_err("unknown field");
    assert!(err.to_string().contains("namespacez"), "{err}");
    assert!(Scenario::named("nope").is_err());
}
