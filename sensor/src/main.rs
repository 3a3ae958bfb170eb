//! The `netsensor` binary: parse arguments, run, map the result to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = netsensor::cli::Cli::parse_args();
    match netsensor::app::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("netsensor: {err:#}");
            ExitCode::FAILURE
        }
    }
}
