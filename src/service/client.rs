//! The client side of the service: a connection to a running server with optional TLS
//! and a bearer token sent on every call. The CLI's `ingest` and `check`, the load tools
//! and any Rust program that talks to `neardup serve` connect through [`connect`], so a
//! secured server is reached the same way everywhere.

use std::path::{Path, PathBuf};

use tonic::Status;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::{Interceptor, interceptor::InterceptedService};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::pb::deduplicator_client::DeduplicatorClient;
use crate::error::{Error, Result};

/// How to reach a server besides its URL.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// PEM CA certificate to verify the server with (the URL must be `https://`).
    pub tls_ca: Option<PathBuf>,
    /// Bearer token sent with every call.
    pub token: Option<String>,
}

impl ConnectOptions {
    /// Takes the token from the first line of the file at `path` (a token on the
    /// command line is visible to other local users in the process list).
    pub fn with_token_file(self, path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let token = text.lines().next().unwrap_or_default().to_owned();
        Ok(ConnectOptions { token: Some(token), ..self })
    }
}

/// A client of the service that sends the bearer token (if any) with every call.
pub type Client = DeduplicatorClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Debug, Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

impl Bearer {
    fn new(token: Option<&str>) -> Result<Bearer> {
        let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Bearer(None));
        };
        // The error must not echo the token.
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Error::config("token", "has characters not allowed in a header"))?;
        Ok(Bearer(Some(value)))
    }
}

/// Connects to the server at `url`, with TLS when `options.tls_ca` is set.
pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Client> {
    let bearer = Bearer::new(options.token.as_deref())?;
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| Error::config("server", format!("bad URL {url:?}: {e}")))?;
    if let Some(ca) = &options.tls_ca {
        let pem = std::fs::read(ca).map_err(|e| Error::io(ca, e))?;
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
            .map_err(|e| Error::config("tls_ca", format!("bad TLS settings for {url}: {e}")))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| Error::Connect { url: url.to_owned(), source: Box::new(e) })?;
    let client = DeduplicatorClient::with_interceptor(channel, bearer);
    // Verdicts are small, but a cluster can be large; the server bounds what it sends.
    Ok(client.max_decoding_message_size(usize::MAX))
}
