//! Command-line interface of the `berth` binary.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "Self-service portal for shared Kubernetes clusters"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the portal in production: configuration from --config and BERTH_* variables.
    Serve(ServeArgs),
    /// Start everything on this machine: a private Postgres unless DATABASE_URL is set.
    Demo(DemoArgs),
    /// Apply database migrations to the configured database and exit.
    Migrate(ServeArgs),
    /// Run the local cluster alone (a real control plane with simulated nodes), for kubectl.
    Sandbox(SandboxArgs),
    /// The audit trail.
    Audit(AuditArgs),
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Prove the hash chain intact (exit 0 with a count) or name the first broken event.
    Verify(ServeArgs),
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// The API server's port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 6443)]
    pub port: u16,
    /// Where to write the administrator's kubeconfig.
    #[arg(long, value_name = "FILE", default_value = "sandbox.kubeconfig")]
    pub kubeconfig: PathBuf,
    /// A scenario to start with: `demo`, `large`, or a YAML file (loaded once per state dir).
    #[arg(long, value_name = "NAME|FILE")]
    pub scenario: Option<String>,
    /// Where the cluster keeps etcd's data, its certificates and logs; reused by the next run.
    #[arg(long, value_name = "DIR", default_value = ".berth-sandbox")]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML configuration file; BERTH_* environment variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Port to serve on, on 127.0.0.1.
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// Where the demo keeps its Postgres data and logs; reused by the next `berth demo`.
    #[arg(long, value_name = "DIR", default_value = ".berth-demo")]
    pub state_dir: PathBuf,
    /// A TOML configuration file, as for `serve`; the demo needs none.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The local cluster's API server port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub cluster_port: u16,
}
