//! The `neardup` binary: parses arguments, installs logging, runs one subcommand and
//! turns its outcome into an exit code (0 success, 2 any error, with `{err:#}` on stderr).

mod args;
mod compact;
mod eval;
#[cfg(feature = "server")]
mod remote;
mod scan;
#[cfg(feature = "server")]
mod serve;
#[path = "../shared.rs"]
mod shared;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A server should say what it does without RUST_LOG; batch commands stay quiet.
    #[cfg(feature = "server")]
    let default_level = if matches!(cli.command, Command::Serve(_)) { "info" } else { "error" };
    #[cfg(not(feature = "server"))]
    let default_level = "error";
    shared::init_logging(default_level);
    shared::exit_code("neardup", run(cli))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Scan(args) => scan::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Compact(args) => compact::run(&args),
        Command::Config(args) => {
            println!("{}", serde_json::to_string_pretty(&args.to_config()?)?);
            Ok(())
        }
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::run(&args),
        #[cfg(feature = "server")]
        Command::Ingest(args) => remote::run(&args, remote::Mode::Ingest),
        #[cfg(feature = "server")]
        Command::Check(args) => remote::run(&args, remote::Mode::Check),
    }
}
