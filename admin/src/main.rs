//! `netsensor-admin`: keeps netsensor's Elasticsearch/OpenSearch indices healthy — setup,
//! status, rollover, archive, delete-by-query and watch. See docs/admin.md.
//!
//! Errors end the process with a one-line message on stderr and an exit code that tells
//! the class of failure apart ([`error::exit`]).
// Input-driven code never unwraps; tests may (clippy.toml allows it there).
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod archive;
mod cli;
mod connect;
mod dbq;
mod error;
mod inventory;
mod kibana;
mod progress;
mod report;
mod requests;
mod rollover;
mod setup;
mod size;
mod status;
mod table;
mod time;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use error::{exit, AdminError};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version print and succeed; usage errors exit with USAGE.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("netsensor-admin: error: cannot start the async runtime: {err}");
            return ExitCode::from(exit::FAILED);
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(err) => {
            let code = err
                .downcast_ref::<AdminError>()
                .map(AdminError::exit_code)
                .unwrap_or(exit::FAILED);
            eprintln!("netsensor-admin: error: {}", one_line(&format!("{err:#}")));
            ExitCode::from(code)
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        // Checks its arguments before it connects, so a refusal needs no cluster.
        Command::DeleteByQuery(args) => dbq::run(args, cli).await?,
        // Talks to Kibana (or reads a file), never to the cluster.
        Command::KibanaExport(args) => kibana::run_export(args, cli).await?,
        command => {
            let ctx = connect::connect(&cli.connection, cli.json).await?;
            match command {
                Command::Setup(args) => setup::run(&ctx, args, &cli.connection).await?,
                Command::Status(args) => status::run(&ctx, args).await?,
                Command::Rollover(args) => rollover::run(&ctx, args).await?,
                Command::Archive(args) => archive::run(&ctx, args).await?,
                Command::Watch(args) => watch::run(&ctx, args).await?,
                Command::Report(args) => report::run(&ctx, args).await?,
                Command::DeleteByQuery(_) | Command::KibanaExport(_) => {}
            }
        }
    }
    Ok(())
}

/// Logs to stderr: warnings by default, more with -v; `RUST_LOG` overrides.
fn init_logging(verbose: u8) {
    let level = match verbose {
        // The TLS stack's own error lines repeat what the one-line error message says.
        0 => "warn,rustls=off",
        1 => "info,netsensor_admin=debug",
        _ => "debug,netsensor_admin=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Error messages are one line, whatever the cluster put in them.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
