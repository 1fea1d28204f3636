//! The whole local cluster in one call: the real control plane, the node simulator, the
//! metrics API behind the aggregator, and a scenario loaded through the API.

use std::time::Duration;

use crate::NodeSpec;
use crate::control_plane::{ControlPlane, ControlPlaneError, ControlPlaneOptions};
use crate::loader::{self, LoadError, Loaded};
use crate::metrics_api::{MetricsApi, MetricsApiError};
use crate::node_sim::{Simulator, SimulatorError};
use crate::scenario::Scenario;

#[derive(Debug, thiserror::Error)]
pub enum LocalClusterError {
    #[error(transparent)]
    ControlPlane(#[from] ControlPlaneError),
    #[error(transparent)]
    Simulator(#[from] SimulatorError),
    #[error(transparent)]
    MetricsApi(#[from] MetricsApiError),
    #[error(transparent)]
    Load(#[from] LoadError),
}

#[derive(Clone, Debug)]
pub struct LocalClusterOptions {
    pub control_plane: ControlPlaneOptions,
    /// Loaded once per state directory (a restart keeps what was changed since).
    pub scenario: Option<Scenario>,
    /// Nodes to simulate; `None`: the scenario's, or three default workers.
    pub nodes: Option<Vec<NodeSpec>>,
}

/// A running local cluster; [`LocalCluster::stop`] (or drop) ends everything it started.
#[derive(Debug)]
pub struct LocalCluster {
    // Field order is drop order: the simulator and metrics API go before the control plane.
    metrics: MetricsApi,
    simulator: Simulator,
    plane: ControlPlane,
    loaded: Loaded,
}

impl LocalCluster {
    pub async fn start(options: LocalClusterOptions) -> Result<LocalCluster, LocalClusterError> {
        let plane = ControlPlane::start(options.control_plane).await?;
        let client = plane.admin_client().await?;
        let scenario_nodes = options
            .scenario
            .as_ref()
            .map(Scenario::node_specs)
            .filter(|n| !n.is_empty());
        let nodes = options.nodes.or(scenario_nodes).unwrap_or_else(|| {
            (1..=3)
                .map(|i| NodeSpec::worker(&format!("worker-{i}"), 4.0, 16.0, "m5.xlarge"))
                .collect()
        });
        let speed = options
            .scenario
            .as_ref()
            .and_then(|s| s.clock_speed)
            .unwrap_or(1.0);
        let simulator = Simulator::start(client.clone(), nodes, speed).await?;
        let metrics = MetricsApi::start(
            &client,
            simulator.shared(),
            plane.authority(),
            plane.front_proxy_ca_pem(),
        )
        .await?;
        let loaded = match &options.scenario {
            Some(scenario) => {
                let loaded = loader::load(&client, scenario, 16).await?;
                if loaded.fresh {
                    tracing::info!(
                        namespaces = loaded.namespaces,
                        workloads = loaded.workloads,
                        pods = loaded.pods,
                        secs = loaded.took.as_secs_f64(),
                        "scenario {} loaded",
                        scenario.name
                    );
                }
                loaded
            }
            None => Loaded::default(),
        };
        Ok(LocalCluster {
            metrics,
            simulator,
            plane,
            loaded,
        })
    }

    pub fn control_plane(&self) -> &ControlPlane {
        &self.plane
    }

    pub fn simulator(&self) -> &Simulator {
        &self.simulator
    }

    pub fn loaded(&self) -> Loaded {
        self.loaded
    }

    pub fn url(&self) -> &str {
        self.plane.url()
    }

    /// Waits until the aggregator reports metrics.k8s.io available, bounded by `limit`.
    pub async fn wait_metrics(&self, limit: Duration) -> bool {
        use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
        let Ok(client) = self.plane.admin_client().await else {
            return false;
        };
        let api: kube::Api<APIService> = kube::Api::all(client);
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            let available = api
                .get("v1beta1.metrics.k8s.io")
                .await
                .ok()
                .and_then(|s| s.status)
                .and_then(|s| s.conditions)
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c.type_ == "Available" && c.status == "True")
                });
            if available {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        false
    }

    /// Stops the simulator, then every control-plane process.
    pub fn stop(self) {
        let LocalCluster {
            metrics,
            simulator,
            plane,
            ..
        } = self;
        drop(metrics);
        drop(simulator);
        plane.stop();
    }
}
