//! `neardup-load`: developer tools that put a `neardup serve` under load over loopback,
//! kept out of the product binary. `loadgen` measures throughput and latency; `soak`
//! runs a long mixed load, SIGKILLs the server and checks that nothing acknowledged was
//! lost. Both start the `neardup` binary built next to this one (see `harness.rs`).

mod harness;
mod loadgen;
mod soak;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use neardup::service::client::ConnectOptions;

/// Load and soak tests for `neardup serve`, over loopback only.
#[derive(Debug, Parser)]
#[command(name = "neardup-load", version)]
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
}

/// TLS and credentials for a secured `--server`.
#[derive(Debug, Clone, Default, Args)]
struct ConnectArgs {
    /// PEM CA certificate to verify the server with (use an https:// URL).
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// Bearer token to send (visible to other local users in the process list; prefer
    /// --token-file).
    #[arg(long, conflicts_with = "token_file")]
    token: Option<String>,
    /// File whose first line is the bearer token to send.
    #[arg(long)]
    token_file: Option<PathBuf>,
}

impl ConnectArgs {
    fn options(&self) -> Result<ConnectOptions> {
        let token = match (&self.token, &self.token_file) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read {}", path.display()))?;
                Some(text.lines().next().unwrap_or_default().to_owned())
            }
            (None, None) => None,
        };
        Ok(ConnectOptions { tls_ca: self.tls_ca.clone(), token })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("neardup-load: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// A report cut short by its reader (`| head`) is not a failure.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
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
    }
}
