//! `berth sandbox`: the local cluster alone — a real control plane on loopback with simulated
//! nodes — and an admin kubeconfig for kubectl.

use std::io::Write;

use sandbox::SandboxError;
use sandbox::control_plane::ControlPlaneOptions;
use sandbox::local_cluster::{LocalCluster, LocalClusterOptions};
use sandbox::scenario::Scenario;

use crate::cli::SandboxArgs;
use crate::config::{LogConfig, LogFormat};
use crate::demo::write_private;
use crate::error::Error;
use crate::{http, telemetry};

pub async fn run(args: SandboxArgs) -> Result<(), Error> {
    telemetry::init(&LogConfig {
        filter: "info".to_owned(),
        format: LogFormat::Pretty,
    })?;
    let scenario = match &args.scenario {
        Some(name) => Some(Scenario::named(name).map_err(SandboxError::from)?),
        None => None,
    };
    let mut control_plane = ControlPlaneOptions::new(&args.state_dir);
    control_plane.port = args.port;
    let cluster = LocalCluster::start(LocalClusterOptions {
        control_plane,
        scenario,
        nodes: None,
    })
    .await?;
    // The kubeconfig holds the administrator's private key: readable by its owner only.
    write_private(&args.kubeconfig, cluster.control_plane().admin_kubeconfig())?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Local cluster (Kubernetes {}) at {}; administrator kubeconfig in {}; state in {} (Ctrl-C to stop)\n  try: KUBECONFIG={} kubectl get nodes",
        sandbox::control_plane::KUBERNETES_VERSION,
        cluster.url(),
        args.kubeconfig.display(),
        args.state_dir.display(),
        args.kubeconfig.display()
    );
    drop(out);
    http::shutdown_signal().await;
    cluster.stop();
    Ok(())
}
