//! The server's TLS: a rustls config from the PEM files of [`TlsConfig`] (with a client
//! certificate verifier for mutual TLS), and the accept loop that runs each handshake on
//! a task of its own, bounded in time, handing finished connections to tonic. The
//! handshake is ours rather than tonic's so that a failed one is logged at warn with the
//! peer's address and counted; tonic would log it at debug without either. rustls's
//! errors name certificates and alerts, never key material.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

use crate::config::TlsConfig;
use crate::error::{Error, Result};

/// Longest a client may take to finish its handshake; a connection that stalls before
/// it would otherwise hold a task and a socket forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for tonic to take them.
const READY_CONNECTIONS: usize = 64;

/// The rustls config for the server's certificate, and (mutual TLS) the client CA.
pub(crate) fn server_config(tls: &TlsConfig) -> Result<Arc<rustls::ServerConfig>> {
    let certs = certificates("tls.cert", &tls.cert)?;
    let key = PrivateKeyDer::from_pem_slice(&read(&tls.key)?).map_err(|e| {
        Error::config("tls.key", format!("{}: no PEM private key ({e})", tls.key.display()))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config("tls", e.to_string()))?;
    let builder = match &tls.client_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates("tls.client_ca", path)? {
                roots.add(cert).map_err(|e| {
                    Error::config("tls.client_ca", format!("{}: {e}", path.display()))
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| Error::config("tls.client_ca", format!("{}: {e}", path.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        Error::config(
            "tls.key",
            format!("{} does not go with {}: {e}", tls.key.display(), tls.cert.display()),
        )
    })?;
    // gRPC needs HTTP/2; the JSON API and the page also speak HTTP/1.1.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|cause| Error::io(path, cause))
}

fn certificates(field: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |reason: String| Error::config(field, format!("{}: {reason}", path.display()));
    let certs = CertificateDer::pem_slice_iter(&read(path)?)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("bad PEM ({e})")))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

/// Accepts TCP connections on `listener` and yields them once their handshake is done.
/// Stops when the returned stream is dropped (the server stopped serving).
pub(crate) fn incoming(
    listener: TcpListener,
    acceptor: TlsAcceptor,
) -> ReceiverStream<io::Result<TlsStream<TcpStream>>> {
    let (ready, connections) = mpsc::channel(READY_CONNECTIONS);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = ready.closed() => return,
            };
            // Small unary calls must not wait for Nagle's algorithm.
            let _ = stream.set_nodelay(true);
            tokio::spawn(handshake(acceptor.clone(), stream, peer, ready.clone()));
        }
    });
    ReceiverStream::new(connections)
}

async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    ready: mpsc::Sender<io::Result<TlsStream<TcpStream>>>,
) {
    let failure = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(connection)) => {
            let _ = ready.send(Ok(connection)).await;
            return;
        }
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no handshake within {HANDSHAKE_TIMEOUT:?}"),
    };
    metrics::counter!("neardup_tls_handshake_failures_total").increment(1);
    tracing::warn!(%peer, error = failure, "TLS handshake failed");
}
