//! The `neardup` binary: parses arguments, installs logging, runs one subcommand and
//! turns its outcome into an exit code (0 success, 2 any error, with `{err:#}` on stderr).

mod args;
mod compact;
mod eval;
mod manual;
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
    match cli.command {
        // A server says what it does without RUST_LOG, in the format its config asks for.
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::main(&args),
        command => {
            shared::init_logging("error", false);
            shared::exit_code("neardup", run(command))
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Scan(args) => scan::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Compact(args) => compact::run(&args),
        #[cfg(feature = "server")]
        Command::Config(args) => manual::print_config(&args.to_config()?),
        #[cfg(not(feature = "server"))]
        Command::Config(args) => manual::print_detector_config(&args.to_config()?),
        Command::Completions(args) => manual::completions(args.shell),
        Command::Man(args) => manual::man_page(args.command.as_deref()),
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::run(&args, args.to_config()?),
        #[cfg(feature = "server")]
        Command::Ingest(args) => remote::send(&args, remote::Mode::Ingest),
        #[cfg(feature = "server")]
        Command::Check(args) => remote::send(&args, remote::Mode::Check),
        #[cfg(feature = "server")]
        Command::Cluster(args) => remote::cluster(&args),
        #[cfg(feature = "server")]
        Command::Remove(args) => remote::remove(&args),
        #[cfg(feature = "server")]
        Command::Stats(args) => remote::stats(&args),
    }
}
