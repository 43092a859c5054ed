//! `neardup serve`: runs the gRPC service until SIGINT or SIGTERM. Readiness is a file,
//! not a log line: with `--address-file` the bound `HOST:PORT` is written there once the
//! data directory is open and the port listens, so scripts and tests that start the
//! server on port 0 learn its address without parsing stderr.

use std::ffi::OsString;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::args::ServeArgs;
use neardup::service::Server;

/// Runs `neardup serve`.
pub(crate) fn run(args: &ServeArgs) -> Result<()> {
    let config = args.to_config()?;
    runtime()?.block_on(async {
        let dir = config.store.data_dir.clone();
        // Signal handlers go in before the server listens: a SIGTERM sent as soon as it
        // answers must stop it cleanly, not kill it by the default action.
        let shutdown = shutdown_signal();
        let server = Server::bind(config).await?;
        let address = server.local_addr();
        if let Some(path) = &args.address_file {
            write_address_file(path, address)?;
        }
        eprintln!("neardup: listening on {address} (data in {})", dir.display());
        server.run(shutdown).await?;
        eprintln!("neardup: stopped");
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

/// Writes `address` to `path` as `HOST:PORT` through a rename, so a reader that sees the
/// file never sees it half written.
fn write_address_file(path: &Path, address: SocketAddr) -> Result<()> {
    let mut temporary = OsString::from(path.as_os_str());
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, address.to_string())
        .with_context(|| format!("failed to write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("failed to rename {} to {}", temporary.display(), path.display()))
}

/// A future that completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are registered
/// by this call, not when the future is first polled.
fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
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
