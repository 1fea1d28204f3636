//! Structured logs through `tracing`: JSON for machines in `serve`, readable text in `demo`.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};
use crate::error::Error;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured filter.
pub fn init(log: &LogConfig) -> Result<(), Error> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directive) if !directive.trim().is_empty() => EnvFilter::try_new(&directive)
            .map_err(|err| Error::Telemetry(format!("RUST_LOG={directive:?} is invalid: {err}")))?,
        _ => EnvFilter::try_new(&log.filter)
            .map_err(|err| Error::Telemetry(format!("log.filter is invalid: {err}")))?,
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    let installed = match log.format {
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
        LogFormat::Pretty => builder.compact().with_target(false).try_init(),
    };
    installed.map_err(|err| Error::Telemetry(err.to_string()))
}
