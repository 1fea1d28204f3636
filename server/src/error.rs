//! The top-level error of the `berth` commands: each variant reads as one line that names the
//! problem and the fix.

use std::net::SocketAddr;

use crate::config::ConfigError;
use crate::store::StoreError;
use crate::store::local_postgres::LocalPostgresError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    LocalPostgres(#[from] LocalPostgresError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("{addr} is already in use: stop the process holding it or {hint}")]
    AddressInUse {
        addr: SocketAddr,
        hint: &'static str,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server stopped with an error: {0}")]
    Serve(std::io::Error),
    #[error("the sandbox cluster failed: {0}")]
    Sandbox(#[from] sandbox::SandboxError),
    #[error("the local cluster failed: {0}")]
    LocalCluster(#[from] sandbox::local_cluster::LocalClusterError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another `berth demo` (pid {pid}) is using {state_dir}: stop it or pass another --state-dir"
    )]
    DemoRunning {
        state_dir: std::path::PathBuf,
        pid: u32,
    },
    #[error("audit chain broken at event {seq}: {reason}")]
    AuditBroken { seq: i64, reason: String },
    #[error(transparent)]
    Checkpoints(#[from] crate::reconcile::checkpoint::CheckpointError),
    #[error("cannot set up logging: {0}")]
    Telemetry(String),
}
