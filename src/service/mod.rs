//! The gRPC service behind `neardup serve` (`neardup.v1.Deduplicator`), with the standard
//! health service and server reflection (v1 and v1alpha) next to it. A thin adapter:
//! each RPC (`rpc.rs`) converts the request ([`convert`]), calls the async detector
//! (`async_detector.rs`, fingerprinting on the rayon pool) that wraps the
//! [`crate::store::DurableDetector`], converts back and maps errors to statuses
//! (`status.rs`). Every accepted change is in the data directory's log before it is
//! acknowledged; a restart restores the index from there. In front of every route: TLS
//! (optional mutual TLS), bearer-token scopes (`auth.rs`) and limits on concurrency
//! (`limits.rs`, tonic's per-connection limits, the hashing queue). [`client`] is the
//! other end: how the CLI and any Rust program connect.

mod async_detector;
mod auth;
pub mod client;
pub mod convert;
mod limits;
mod rpc;
mod status;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic_health::ServingStatus;
use tracing::{info, warn};

use crate::config::{ServiceConfig, TlsConfig};
use crate::error::{Error, Result};
pub(crate) use async_detector::AsyncDetector;

/// Code generated from `proto/neardup/v1/neardup.proto` by `build.rs`.
pub mod pb {
    #![allow(clippy::all, missing_docs, unreachable_pub)] // generated code
    tonic::include_proto!("neardup.v1");

    /// The encoded descriptor set of the proto, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("neardup_descriptor");
}

type DedupServer = pb::deduplicator_server::DeduplicatorServer<rpc::DeduplicatorService>;

/// The full gRPC service name, as health checks and reflection know it.
pub const SERVICE_NAME: &str = <DedupServer as NamedService>::NAME;

/// A server bound to its address, not yet serving.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: ServiceConfig,
    engine: Arc<AsyncDetector>,
    tls: Option<ServerTlsConfig>,
    tokens: Option<auth::TokenTable>,
}

impl Server {
    /// Validates `config`, opens the data directory (restoring its index; nothing
    /// listens meanwhile) and binds the listen address.
    pub async fn bind(config: ServiceConfig) -> Result<Server> {
        config.validate()?;
        let tls = config.tls.as_ref().map(load_tls).transpose()?;
        let tokens = match &config.auth_tokens {
            Some(path) => Some(auth::TokenTable::parse(&read_text(path)?)?),
            None => None,
        };
        if config.plaintext_beyond_loopback() {
            warn!(
                address = %config.listen,
                "serving plain TCP beyond loopback: traffic (and any token) is readable on the network; use --tls-cert and --tls-key"
            );
        }
        if tokens.is_none() && !config.listen.ip().is_loopback() {
            warn!(address = %config.listen, "no --auth-tokens: any client that reaches this address may ingest and remove");
        }
        let opening = config.clone();
        let engine =
            tokio::task::spawn_blocking(move || AsyncDetector::open(&opening)).await.map_err(
                |e| Error::Internal { reason: format!("opening the data directory: {e}") },
            )??;
        let engine = Arc::new(engine);
        let serve_error = |source: std::io::Error| Error::Serve {
            address: config.listen.to_string(),
            source: source.into(),
        };
        let listener = TcpListener::bind(config.listen).await.map_err(serve_error)?;
        let local_addr = listener.local_addr().map_err(serve_error)?;
        Ok(Server { listener, local_addr, config, engine, tls, tokens })
    }

    /// The bound address (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then stops accepting connections, answers new
    /// requests with `UNAVAILABLE`, ends open streams after the articles they already sent,
    /// waits for requests in flight, syncs and closes the data directory and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        let address = self.local_addr.to_string();
        let serve_error = |source: Box<dyn std::error::Error + Send + Sync>| Error::Serve {
            address: address.clone(),
            source,
        };
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_service_status(SERVICE_NAME, ServingStatus::Serving).await;
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        // Python's grpcio-reflection client speaks only v1alpha, grpcurl v1: serve both.
        let reflection_v1 = reflection().build_v1().map_err(|e| serve_error(e.into()))?;
        let reflection_v1alpha = reflection().build_v1alpha().map_err(|e| serve_error(e.into()))?;

        let (stopping, stop_signal) = watch::channel(false);
        let mut stopped = stop_signal.clone();
        let engine = Arc::clone(&self.engine);
        let dedup = rpc::DeduplicatorService::new(self.engine, self.config.clone(), stop_signal);
        let dedup =
            DedupServer::new(dedup).max_decoding_message_size(self.config.max_message_bytes);
        let on_shutdown = async move {
            shutdown.await;
            info!("shutting down: finishing requests in flight");
            for name in ["", SERVICE_NAME] {
                health.set_service_status(name, ServingStatus::NotServing).await;
            }
            let _ = stopping.send(true);
        };
        // Small unary calls must not wait for Nagle's algorithm.
        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        info!(
            address = %self.local_addr,
            tls = self.tls.is_some(),
            mutual_tls = self.config.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
            tokens = self.tokens.as_ref().map_or(0, auth::TokenTable::len),
            "listening"
        );
        let limits = &self.config.limits;
        let mut builder = tonic::transport::Server::builder()
            .max_concurrent_streams(limits.max_concurrent_streams)
            .concurrency_limit_per_connection(limits.max_in_flight_per_connection)
            .timeout(Duration::from_millis(limits.request_timeout_ms))
            // Finds peers that vanished without closing, so their streams free their slots.
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)));
        if let Some(tls) = self.tls {
            builder = builder.tls_config(tls).map_err(|e| Error::config("tls", e.to_string()))?;
        }
        let serving = builder
            .layer(auth::AuthLayer::new(self.tokens))
            .layer(limits::InFlightLayer::new(limits.max_in_flight))
            .layer(tower::util::MapResponseLayer::new(status::fix_oversize_response))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(dedup)
            .serve_with_incoming_shutdown(incoming, on_shutdown);
        let grace = Duration::from_millis(self.config.shutdown_grace_ms);
        let grace_over = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        };
        let served = tokio::select! {
            served = serving => served.map_err(|e| serve_error(e.into())),
            () = grace_over => {
                warn!(grace_ms = grace.as_millis() as u64, "requests still in flight after the grace period; stopping anyway");
                Ok(())
            }
        };
        // Whatever ended the serving, what was logged is synced before the process exits;
        // requests still in flight after the grace period fail unacknowledged.
        let closed = tokio::task::spawn_blocking(move || engine.close())
            .await
            .map_err(|e| Error::Internal { reason: format!("closing the data directory: {e}") })?;
        served?;
        closed?;
        info!("stopped");
        Ok(())
    }
}

fn read_text(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|cause| Error::io(path, cause))
}

fn read_bytes(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|cause| Error::io(path, cause))
}

/// The server's TLS settings from PEM files.
fn load_tls(tls: &TlsConfig) -> Result<ServerTlsConfig> {
    let identity = Identity::from_pem(read_bytes(&tls.cert)?, read_bytes(&tls.key)?);
    let mut config = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &tls.client_ca {
        // tonic then requires a client certificate signed by this CA on every connection.
        config = config.client_ca_root(Certificate::from_pem(read_bytes(ca)?));
    }
    Ok(config)
}

/// Binds `config.listen` and serves until `shutdown` completes (see [`Server::run`]).
pub async fn serve(config: ServiceConfig, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
    Server::bind(config).await?.run(shutdown).await
}
