use std::process::ExitCode;

use clap::Parser;
use server::cli::{Cli, Command};

fn main() -> ExitCode {
    // Installed (or linked) as `kubectl-berth`, the binary is the kubectl plugin.
    let invoked_as = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    if invoked_as.starts_with("kubectl-berth") {
        return server::plugin::main(std::env::args_os());
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("berth: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli));
    // Work still running when the command is done (a blocking render, a stuck connection)
    // gets a moment, not a veto over the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One readable line per problem, no panic trace: this is what an operator sees.
            eprintln!("berth: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), server::error::Error> {
    match cli.command {
        Command::Serve(args) => server::serve::run(args).await,
        Command::Demo(args) => server::demo::run(args).await,
        Command::Migrate(args) => server::serve::migrate(args).await,
        Command::Sandbox(args) => server::sandbox_cmd::run(args).await,
        Command::Audit(args) => match args.command {
            server::cli::AuditCommand::Verify(args) => server::serve::verify_audit(args).await,
        },
    }
}
