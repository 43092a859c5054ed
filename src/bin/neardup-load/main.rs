//! `neardup-load`: developer tools that put a `neardup serve` under load over loopback,
//! kept out of the product binary. `loadgen` measures throughput and latency; `soak`
//! runs a long mixed load, SIGKILLs the server and checks that nothing acknowledged was
//! lost; `accuracy` streams a labelled corpus and scores what the server answered. Both start the `neardup` binary built next to this one (see `harness.rs`).

mod accuracy;
mod harness;
mod http;
mod loadgen;
#[path = "../shared.rs"]
mod shared;
mod soak;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// Load and soak tests for `neardup serve`, over loopback only.
#[derive(Debug, Parser)]
#[command(name = "neardup-load", version = env!("NEARDUP_VERSION"))]
struct Cli {
    /// The `neardup` binary to start as the server [default: `neardup` next to this
    /// executable].
    #[arg(long, global = true, value_name = "PATH")]
    neardup: Option<PathBuf>,
    /// What to run.
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure a server: streamed ingest throughput, then Check latency under concurrent
    /// clients. Starts its own `neardup serve` unless --server is given.
    Loadgen(loadgen::LoadgenArgs),
    /// Start `neardup serve` on a data directory, run many clients mixing streamed
    /// ingest, check and remove for a set time, sample the server's memory, then SIGKILL
    /// it, restart it and check every acknowledged article is still there. Exits 2 on
    /// any error or loss.
    Soak(soak::SoakArgs),
    /// Stream a labelled corpus through a fresh `neardup serve` in publication order
    /// (optionally with late arrivals) and score its verdicts and stories.
    Accuracy(accuracy::AccuracyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    shared::init_logging("error", false);
    shared::exit_code("neardup-load", run(cli))
}

fn run(cli: Cli) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let neardup = cli.neardup.as_deref();
    match cli.command {
        Command::Loadgen(args) => runtime.block_on(loadgen::run(&args, neardup)),
        Command::Soak(args) => runtime.block_on(soak::run(&args, neardup)),
        Command::Accuracy(args) => runtime.block_on(accuracy::run(&args, neardup)),
    }
}
