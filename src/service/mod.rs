//! The gRPC service behind `neardup serve` (`neardup.v1.Deduplicator`), with the standard
//! health service and server reflection (v1 and v1alpha) next to it. A thin adapter:
//! each RPC (`rpc.rs`) converts the request ([`convert`]), calls the async detector
//! (`async_detector.rs`, fingerprinting on the rayon pool) that wraps the
//! [`crate::store::DurableDetector`], converts back and maps errors to statuses
//! (`status.rs`). Every accepted change is in the data directory's log before it is
//! acknowledged; a restart restores the index from there. In front of every route: TLS
//! (`tls.rs`, optional mutual TLS), a log line and metrics per request (`observe.rs`),
//! bearer-token scopes (`auth.rs`, reloadable) and limits on concurrency (`limits.rs`,
//! tonic's per-connection limits, the hashing queue). On the same port, `http/` serves
//! the same RPCs as HTTP/JSON (each call transcoded into an in-process gRPC call through
//! those layers) and the web page of stories; `texts.rs` keeps the article texts the
//! page's diffs need. `prometheus.rs` serves `/metrics` on its own address. [`client`]
//! is the other end: how the CLI and any Rust program connect.

mod async_detector;
mod auth;
pub mod client;
pub mod convert;
mod http;
mod limits;
mod observe;
mod prometheus;
mod rpc;
mod status;
mod texts;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tracing::{info, warn};

use crate::config::ServiceConfig;
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
    metrics: Option<(TcpListener, SocketAddr)>,
    config: ServiceConfig,
    engine: Arc<AsyncDetector>,
    tls: Option<Arc<rustls::ServerConfig>>,
    tokens: Option<auth::TokenFile>,
}

/// Reads the token file again and puts its tokens in force (what `serve` does on
/// SIGHUP). Cheap to clone; it outlives the server's start.
#[derive(Debug, Clone)]
pub struct TokenReloader(Option<auth::TokenFile>);

impl TokenReloader {
    /// Reloads the tokens and logs the outcome. A file that no longer reads or parses
    /// leaves the tokens in force as they were. `Ok(None)`: no token file is configured.
    pub fn reload(&self) -> Result<Option<usize>> {
        let Some(tokens) = &self.0 else {
            warn!("no auth_tokens file is configured: nothing to reload");
            return Ok(None);
        };
        match tokens.reload() {
            Ok(count) => {
                info!(tokens = count, "token file reloaded");
                Ok(Some(count))
            }
            Err(error) => {
                warn!(%error, "token file not reloaded; the tokens in force stay");
                Err(error)
            }
        }
    }
}

impl Server {
    /// Validates `config`, reads the TLS files and the token file, reserves the listen
    /// addresses (so a busy port fails before anything touches the data directory),
    /// opens the data directory (restoring its index) and only then listens: until the
    /// index is back, connections are refused rather than left waiting.
    pub async fn bind(config: ServiceConfig) -> Result<Server> {
        config.validate()?;
        let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
        let tokens = config.auth_tokens.as_deref().map(auth::TokenFile::load).transpose()?;
        if config.plaintext_beyond_loopback() {
            warn!(
                address = %config.listen,
                "serving plain TCP beyond loopback: traffic (and any token) is readable on the network; use --tls-cert and --tls-key"
            );
        }
        if tokens.is_none() && !config.listen.ip().is_loopback() {
            warn!(address = %config.listen, "no --auth-tokens: any client that reaches this address may ingest and remove");
        }
        let socket = reserve(config.listen)?;
        let metrics_socket = config.metrics_listen.map(reserve).transpose()?;
        let opening = config.clone();
        let engine =
            tokio::task::spawn_blocking(move || AsyncDetector::open(&opening)).await.map_err(
                |e| Error::Internal { reason: format!("opening the data directory: {e}") },
            )??;
        let engine = Arc::new(engine);
        let (listener, local_addr) = listen(socket, config.listen)?;
        let metrics = match (metrics_socket, config.metrics_listen) {
            (Some(socket), Some(address)) => Some(listen(socket, address)?),
            _ => None,
        };
        Ok(Server { listener, local_addr, metrics, config, engine, tls, tokens })
    }

    /// The bound address (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound address of the `/metrics` endpoint, when the config has one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, address)| *address)
    }

    /// A handle that reloads the token file while the server runs.
    pub fn token_reloader(&self) -> TokenReloader {
        TokenReloader(self.tokens.clone())
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

        let metrics_enabled = self.metrics.is_some();
        if metrics_enabled {
            // Before the first request: the endpoint's task may start later than that,
            // and what is counted before the recorder exists is lost.
            prometheus::recorder();
        }
        let metrics_url = self.metrics_addr().map(|address| format!("http://{address}/metrics"));
        let metrics_endpoint = self.metrics.map(|(listener, _)| {
            tokio::spawn(prometheus::serve(listener, Arc::clone(&self.engine)))
        });
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
        info!(
            address = %self.local_addr,
            data_dir = %self.config.store.data_dir.display(),
            metrics = metrics_url,
            tls = self.tls.is_some(),
            mutual_tls = self.config.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
            tokens = self.tokens.as_ref().map_or(0, auth::TokenFile::len),
            "listening"
        );
        let limits = &self.config.limits;
        let grpc = tonic::service::Routes::new(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(dedup)
            .prepare();
        // The layers wrap the gRPC routes, and so every HTTP API call too, which runs
        // through them as an in-process gRPC call.
        let grpc = tower::ServiceBuilder::new()
            .layer(observe::ObserveLayer::new(metrics_enabled, limits.request_timeout))
            .layer(auth::AuthLayer::new(self.tokens))
            .layer(limits::InFlightLayer::new(limits.max_in_flight))
            .layer(tower::util::MapResponseLayer::new(status::fix_oversize_response))
            .service(grpc);
        let routes = http::router(
            tower::util::BoxCloneSyncService::new(grpc),
            self.config.max_message_bytes,
        );
        let router = tonic::transport::Server::builder()
            // HTTP/1.1 for the JSON API and the page; gRPC stays on HTTP/2.
            .accept_http1(true)
            .max_concurrent_streams(limits.max_concurrent_streams)
            .concurrency_limit_per_connection(limits.max_in_flight_per_connection)
            .timeout(limits.request_timeout)
            // Finds peers that vanished without closing, so their streams free their slots.
            .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)))
            .add_routes(tonic::service::Routes::from(routes));
        let serving: Pin<
            Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send + '_>,
        > = match self.tls {
            Some(config) => Box::pin(router.serve_with_incoming_shutdown(
                tls::incoming(self.listener, tokio_rustls::TlsAcceptor::from(config)),
                on_shutdown,
            )),
            None => {
                // Small unary calls must not wait for Nagle's algorithm.
                let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
                Box::pin(router.serve_with_incoming_shutdown(incoming, on_shutdown))
            }
        };
        let grace = self.config.shutdown_grace;
        let grace_over = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        };
        let served = tokio::select! {
            served = serving => served.map_err(|e| serve_error(e.into())),
            () = grace_over => {
                let grace = crate::config::format_duration(grace);
                warn!(%grace, "requests still in flight after the grace period; stopping anyway");
                Ok(())
            }
        };
        if let Some(endpoint) = metrics_endpoint {
            endpoint.abort();
        }
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

/// Binds a socket to `address` without listening yet: the port is taken (a busy one
/// fails here) but connections are refused until [`listen`].
fn reserve(address: SocketAddr) -> Result<TcpSocket> {
    let failed = |source: std::io::Error| Error::Serve {
        address: address.to_string(),
        source: source.into(),
    };
    let socket = if address.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }
        .map_err(failed)?;
    // As std's TcpListener does: a restart must not wait for old connections' TIME_WAIT.
    socket.set_reuseaddr(true).map_err(failed)?;
    socket.bind(address).map_err(failed)?;
    Ok(socket)
}

fn listen(socket: TcpSocket, address: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let failed = |source: std::io::Error| Error::Serve {
        address: address.to_string(),
        source: source.into(),
    };
    let listener = socket.listen(1024).map_err(failed)?;
    let local = listener.local_addr().map_err(failed)?;
    Ok((listener, local))
}

/// Binds `config.listen` and serves until `shutdown` completes (see [`Server::run`]).
pub async fn serve(config: ServiceConfig, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
    Server::bind(config).await?.run(shutdown).await
}
