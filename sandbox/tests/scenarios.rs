//! The built-in scenarios load into a consistent, living cluster.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use sandbox::scenario::Scenario;
use sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

#[tokio::test]
async fn the_demo_company_loads_and_lives() {
    let scenario = Scenario::named("demo").expect("demo scenario parses");
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: Some(scenario),
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox");
    let client = sandbox.admin_client().await.expect("client");

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

    // Settled deployments are rolled out at once; scripted ones are left to the controllers.
    let deployments: Api<Deployment> = Api::all(client.clone());
    let api = Api::<Deployment>::namespaced(client.clone(), "payments-prod")
        .get("api")
        .await
        .expect("api");
    assert_eq!(
        api.status.as_ref().and_then(|s| s.available_replicas),
        Some(4)
    );
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
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = pods
            .list(&ListParams::default().labels("app=bff-next"))
            .await
            .expect("pods");
        let running = list
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        if running == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "bff-next pods never started");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // metrics.k8s.io answers for running pods, with the profile's numbers.
    let request = http::Request::get("/apis/metrics.k8s.io/v1beta1/namespaces/payments-prod/pods")
        .body(Vec::new())
        .expect("request");
    let metrics: Value = client.request(request).await.expect("pod metrics");
    let items = metrics["items"].as_array().cloned().unwrap_or_default();
    assert!(
        items.len() >= 6,
        "the settled api and fraud-scorer pods have metrics: {}",
        items.len()
    );
    assert_eq!(metrics["kind"], "PodMetricsList");
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
