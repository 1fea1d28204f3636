use std::process::ExitCode;

use clap::Parser;
use server::cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => server::serve::run(args).await,
        Command::Demo(args) => server::demo::run(args).await,
        Command::Migrate(args) => server::serve::migrate(args).await,
        Command::Sandbox(args) => server::sandbox_cmd::run(args).await,
        Command::Audit(args) => match args.command {
            server::cli::AuditCommand::Verify(args) => server::serve::verify_audit(args).await,
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One readable line per problem, no panic trace: this is what an operator sees.
            eprintln!("berth: {err}");
            ExitCode::FAILURE
        }
    }
}
