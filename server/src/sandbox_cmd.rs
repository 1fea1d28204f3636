//! `berth sandbox`: the sandbox cluster on its own, with an admin kubeconfig for kubectl.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use sandbox::scenario::Scenario;
use sandbox::{Sandbox, SandboxError, SandboxOptions};

use crate::cli::SandboxArgs;
use crate::config::{LogConfig, LogFormat};
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
    let sandbox = Sandbox::start(SandboxOptions {
        port: args.port,
        scenario,
        ..SandboxOptions::default()
    })
    .await?;
    let write = |source| Error::Write {
        path: args.kubeconfig.clone(),
        source,
    };
    // The kubeconfig holds the administrator's private key: readable by its owner only.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&args.kubeconfig)
        .map_err(write)?;
    file.write_all(sandbox.admin_kubeconfig().as_bytes())
        .map_err(write)?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Sandbox cluster at {}; administrator kubeconfig in {} (Ctrl-C to stop)\n  try: KUBECONFIG={} kubectl get namespaces",
        sandbox.url(),
        args.kubeconfig.display(),
        args.kubeconfig.display()
    );
    drop(out);
    http::shutdown_signal().await;
    sandbox.stop().await;
    Ok(())
}
