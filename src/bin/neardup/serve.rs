//! `neardup serve`: runs the gRPC service until SIGINT or SIGTERM, reloading the token
//! file on SIGHUP. The server logs its one readiness line ("listening", with the address)
//! itself; readiness for scripts is a file: with `--address-file` the bound `HOST:PORT`
//! is written there once the data directory is open and the port listens, and removed
//! when the server stops, so scripts and tests that start the server on port 0 learn its
//! address without parsing stderr.

use std::ffi::OsString;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};

use crate::args::ServeArgs;
use crate::shared;
use neardup::config::{LogFormat, ServiceConfig};
use neardup::service::{Server, TokenReloader};

/// `neardup serve` from argument parsing to exit code: logging is set up from the
/// effective config, and in JSON mode a fatal error is a JSON line too.
pub(crate) fn main(args: &ServeArgs) -> ExitCode {
    let config = match args.to_config() {
        Ok(config) => config,
        Err(err) => return shared::exit_code("neardup", Err(err)),
    };
    let json = config.log_format == LogFormat::Json;
    shared::init_logging("info", json);
    match run(args, config) {
        Err(err) if json => {
            tracing::error!(error = %format!("{err:#}"), "neardup serve failed");
            ExitCode::from(2)
        }
        outcome => shared::exit_code("neardup", outcome),
    }
}

/// Runs the server with `config` (the effective config of `args`).
pub(crate) fn run(args: &ServeArgs, config: ServiceConfig) -> Result<()> {
    runtime()?.block_on(async {
        // Signal handlers go in before the server listens: a SIGTERM sent as soon as it
        // answers must stop it cleanly, not kill it by the default action.
        let shutdown = shutdown_signal();
        let reload_requests = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
        let server = Server::bind(config).await?;
        tokio::spawn(reload_on_hangup(reload_requests, server.token_reloader()));
        let _address_file = match &args.address_file {
            Some(path) => Some(AddressFile::write(path, server.local_addr())?),
            None => None,
        };
        server.run(shutdown).await?;
        Ok(())
    })
}

/// The multi-threaded runtime every networked command runs on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

/// Reloads the token file on every SIGHUP (the reloader logs the outcome).
async fn reload_on_hangup(mut requests: tokio::signal::unix::Signal, tokens: TokenReloader) {
    while requests.recv().await.is_some() {
        let _ = tokens.reload();
    }
}

/// The address file, removed when the server stops (cleanly or not).
struct AddressFile(PathBuf);

impl AddressFile {
    /// Writes `address` to `path` as `HOST:PORT` through a rename, so a reader that sees
    /// the file never sees it half written.
    fn write(path: &Path, address: SocketAddr) -> Result<AddressFile> {
        let mut temporary = OsString::from(path.as_os_str());
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        std::fs::write(&temporary, address.to_string())
            .with_context(|| format!("failed to write {}", temporary.display()))?;
        std::fs::rename(&temporary, path).with_context(|| {
            format!("failed to rename {} to {}", temporary.display(), path.display())
        })?;
        Ok(AddressFile(path.to_owned()))
    }
}

impl Drop for AddressFile {
    fn drop(&mut self) {
        // A stale file would point the next reader at a port nobody listens on.
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A future that completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are registered
/// by this call, not when the future is first polled.
fn shutdown_signal() -> impl Future<Output = ()> {
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        match (interrupt, terminate) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            (interrupt, terminate) => {
                let err = interrupt.err().or(terminate.err());
                tracing::warn!(error = ?err, "cannot listen for signals; stop with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
