//! The real control plane (etcd, kube-apiserver, controller manager, scheduler, node simulator)
//! the tests run Berth against, as the chart's ServiceAccount with a TokenRequest token.
//!
//! One per test binary, shared, as envtest suites share theirs: starting one costs seconds.
//! Tests keep out of each other's way with names of their own (namespaces, teams, users).
//! A test that takes the cluster away, or needs figures no other test may move (node costs),
//! starts a private one.

use std::sync::Arc;

use sandbox::control_plane::{ControlPlane, ControlPlaneOptions};
use sandbox::local_cluster::{LocalCluster, LocalClusterOptions};
use sandbox::scenario::Scenario;
use tokio::sync::OnceCell;

use super::{scratch_dir, scratch_root};

pub struct TestCluster {
    cluster: Option<LocalCluster>,
    _dir: Option<tempfile::TempDir>,
}

impl TestCluster {
    /// This binary's shared cluster, started on first use and ended when the process exits.
    pub async fn shared() -> Arc<TestCluster> {
        static SHARED: OnceCell<Arc<TestCluster>> = OnceCell::const_new();
        SHARED
            .get_or_init(|| async {
                // Started on a thread of its own that lives as long as the process, with the
                // simulator's tasks on its runtime: the components are killed when that thread
                // ends, since no destructor runs on a static.
                let (tx, rx) = tokio::sync::oneshot::channel();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("the shared cluster's runtime");
                    runtime.block_on(async {
                        let dir =
                            scratch_root().join(format!("shared-cluster-{}", super::binary_name()));
                        // What an earlier run of this binary left; its processes ended with it.
                        let _ = std::fs::remove_dir_all(&dir);
                        let mut options = ControlPlaneOptions::new(dir);
                        options.durable = false;
                        options.end_with_parent = true;
                        let _ = tx.send(TestCluster::start(options, None, None).await);
                        std::future::pending::<()>().await;
                    });
                });
                Arc::new(rx.await.expect("starting the shared cluster"))
            })
            .await
            .clone()
    }

    /// A cluster of the test's own, stopped when dropped.
    pub async fn private() -> TestCluster {
        TestCluster::private_with(None, |_| {}).await
    }

    /// A private cluster with `scenario` loaded and `options` changed by `adjust` (an audit
    /// policy, say).
    pub async fn private_with(
        scenario: Option<Scenario>,
        adjust: impl FnOnce(&mut ControlPlaneOptions),
    ) -> TestCluster {
        let dir = scratch_dir("cluster-");
        let mut options = ControlPlaneOptions::new(dir.path().join("state"));
        options.durable = false;
        adjust(&mut options);
        TestCluster::start(options, scenario, Some(dir)).await
    }

    async fn start(
        options: ControlPlaneOptions,
        scenario: Option<Scenario>,
        dir: Option<tempfile::TempDir>,
    ) -> TestCluster {
        let cluster = LocalCluster::start(LocalClusterOptions {
            control_plane: options,
            scenario,
            nodes: None,
        })
        .await
        .expect("the local cluster");
        TestCluster {
            cluster: Some(cluster),
            _dir: dir,
        }
    }

    pub fn local(&self) -> &LocalCluster {
        self.cluster.as_ref().expect("cluster already stopped")
    }

    pub fn plane(&self) -> &ControlPlane {
        self.local().control_plane()
    }

    pub async fn admin_client(&self) -> kube::Client {
        self.plane().admin_client().await.expect("admin client")
    }

    /// Berth's identity: the chart's ServiceAccount, allowed exactly what the chart's
    /// ClusterRole grants (installed from deploy/manifests), with a TokenRequest token. Every
    /// test that runs Berth this way checks that role against the calls the code makes.
    pub async fn berth_kubeconfig(&self) -> String {
        server::demo::chart_service_account_kubeconfig(self.plane())
            .await
            .expect("the chart's role and ServiceAccount")
    }

    /// Takes the cluster away, as an outage would (a private cluster's test only).
    pub fn stop(&mut self) {
        if let Some(cluster) = self.cluster.take() {
            cluster.stop();
        }
    }
}

/// A client for a kubeconfig's text, as `kubectl` would use it.
pub async fn client_for(kubeconfig: &str) -> kube::Client {
    sandbox::kubeconfig::client(kubeconfig)
        .await
        .expect("a client from the kubeconfig")
}
