//! The client side of the service: a connection to a running server with optional TLS
//! (the system's trusted roots, or a CA of the caller's; a client certificate for mutual
//! TLS) and a bearer token sent on every call, plus what a failed call means in terms a
//! user can act on. The CLI's client commands, the load tools and any Rust program that
//! talks to `neardup serve` connect through [`connect`], so a secured server is reached
//! the same way everywhere.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::{Interceptor, interceptor::InterceptedService};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};

use super::observe::code_name;
use super::pb::deduplicator_client::DeduplicatorClient;
use crate::error::{Error, Result};

/// How long a client waits for the TCP connection (and the TLS handshake) to a server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach a server besides its address.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// PEM CA certificate to verify the server with, instead of the system's roots.
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate chain, for a server that requires one (mutual TLS).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
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

    fn has_tls_files(&self) -> bool {
        self.tls_ca.is_some() || self.tls_cert.is_some() || self.tls_key.is_some()
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

/// The URL of `server`: given as is when it has a scheme, else `host:port` with
/// `https://` when TLS files are given and `http://` otherwise.
pub fn server_url(server: &str, options: &ConnectOptions) -> Result<String> {
    let server = server.trim();
    if server.is_empty() {
        return Err(Error::config("server", "is empty; give host:port or a URL"));
    }
    let url = match server.split_once("://") {
        Some(("http" | "https", _)) => server.to_owned(),
        Some((scheme, _)) => {
            return Err(Error::config(
                "server",
                format!("{server:?}: scheme {scheme:?} is neither http nor https"),
            ));
        }
        None if options.has_tls_files() => format!("https://{server}"),
        None => format!("http://{server}"),
    };
    if url.starts_with("http://") && options.has_tls_files() {
        return Err(Error::config(
            "server",
            format!(
                "{url} is plain text, but --tls-ca, --tls-cert or --tls-key was given; use https://"
            ),
        ));
    }
    Ok(url)
}

/// Connects to `server` (`host:port` or a URL; see [`server_url`]), over TLS for an
/// `https://` URL: verified against `options.tls_ca`, or the system's trusted roots
/// without one, and with the client certificate of `options.tls_cert` if given.
pub async fn connect(server: &str, options: &ConnectOptions) -> Result<Client> {
    let bearer = Bearer::new(options.token.as_deref())?;
    let url = server_url(server, options)?;
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| Error::config("server", format!("{url:?} is not a URL: {}", causes(&e))))?
        .connect_timeout(CONNECT_TIMEOUT);
    if url.starts_with("https://") {
        endpoint = endpoint.tls_config(tls_config(options)?).map_err(|e| {
            Error::config("tls", format!("bad TLS settings for {url}: {}", causes(&e)))
        })?;
    }
    let channel = endpoint.connect().await.map_err(|e| transport_error(&url, &e))?;
    let client = DeduplicatorClient::with_interceptor(channel, bearer);
    // Verdicts are small, but a cluster can be large; the server bounds what it sends.
    Ok(client.max_decoding_message_size(usize::MAX))
}

fn tls_config(options: &ConnectOptions) -> Result<ClientTlsConfig> {
    let read = |path: &PathBuf| std::fs::read(path).map_err(|e| Error::io(path, e));
    let tls = match &options.tls_ca {
        Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?)),
        None => ClientTlsConfig::new().with_native_roots(),
    };
    match (&options.tls_cert, &options.tls_key) {
        (Some(cert), Some(key)) => Ok(tls.identity(Identity::from_pem(read(cert)?, read(key)?))),
        (None, None) => Ok(tls),
        _ => Err(Error::config("tls_cert", "--tls-cert and --tls-key go together")),
    }
}

/// What went wrong in a call, told apart the way a user fixes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No connection: refused, unresolvable, timed out, or lost.
    Unreachable,
    /// The TLS handshake failed (certificates, or TLS on one side only).
    Tls,
    /// No token, or one the server does not know.
    Unauthenticated,
    /// The token lacks the scope the call needs.
    PermissionDenied,
    /// The request itself was refused (a bad article, a conflicting id, too large).
    Rejected,
    /// The server could not take the call now (shutting down, too many requests, too
    /// slow for the deadline); the same call may succeed later.
    Busy,
    /// The server failed.
    Server,
}

impl Failure {
    /// The kind of failure `status` reports.
    pub fn of(status: &Status) -> Failure {
        if tls_cause(status).is_some() || late_alert(status).is_some() {
            return Failure::Tls;
        }
        match status.code() {
            Code::Unauthenticated => Failure::Unauthenticated,
            Code::PermissionDenied => Failure::PermissionDenied,
            // tonic reports a broken connection with the transport error as the status's
            // source, whatever the code; the server's own statuses have none.
            _ if StdError::source(status).is_some() => Failure::Unreachable,
            Code::InvalidArgument
            | Code::AlreadyExists
            | Code::NotFound
            | Code::OutOfRange
            | Code::FailedPrecondition => Failure::Rejected,
            Code::ResourceExhausted if status.message().contains("max_message_bytes") => {
                Failure::Rejected
            }
            Code::Unavailable
            | Code::ResourceExhausted
            | Code::DeadlineExceeded
            | Code::Cancelled => Failure::Busy,
            _ => Failure::Server,
        }
    }
}

/// One line saying why a call to `url` failed and what to check, without repeating a
/// cause. Names no token.
pub fn describe(status: &Status, url: &str) -> String {
    let code = code_name(status.code());
    let message = status.message();
    match Failure::of(status) {
        Failure::Tls => {
            let reason = match (tls_cause(status), late_alert(status)) {
                (Some(error), _) => tls_reason(error),
                (None, Some(alert)) => format!("{} ({alert})", CLIENT_CERTIFICATE_REFUSED),
                (None, None) => status_causes(status),
            };
            format!("TLS with {url} failed: {reason}")
        }
        Failure::Unreachable => {
            format!("the connection to {url} broke: {}{}", status_causes(status), broken_hint(url))
        }
        Failure::Unauthenticated => format!(
            "not authenticated ({message}): give a token the server knows with --token-file \
             or NEARDUP_TOKEN_FILE"
        ),
        Failure::PermissionDenied => format!(
            "permission denied ({message}): the token needs that scope in the server's token file"
        ),
        Failure::Rejected => format!("{message} ({code})"),
        Failure::Busy => format!("the server could not take the call: {message} ({code})"),
        Failure::Server => format!("the server failed: {message} ({code})"),
    }
}

/// The error for a connection to `url` that could not be made.
fn transport_error(url: &str, error: &(dyn StdError + 'static)) -> Error {
    match chain(error).find_map(as_rustls) {
        Some(tls) => Error::Tls { url: url.to_owned(), reason: tls_reason(tls) },
        None => {
            let refused = chain(error)
                .filter_map(|e| e.downcast_ref::<std::io::Error>())
                .any(|e| e.kind() == std::io::ErrorKind::ConnectionRefused);
            let hint =
                if refused { "; is `neardup serve` running and listening there?" } else { "" };
            Error::Connect { url: url.to_owned(), reason: format!("{}{hint}", causes(error)) }
        }
    }
}

fn tls_cause(status: &Status) -> Option<&rustls::Error> {
    StdError::source(status).and_then(|source| chain(source).find_map(as_rustls))
}

/// A rustls error, directly or inside an I/O error (how tokio-rustls reports them).
fn as_rustls<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    error.downcast_ref::<rustls::Error>().or_else(|| {
        error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    })
}

/// A TLS alert the server sent after the handshake seemed done (TLS 1.3: a refused
/// client certificate), which reaches a call only as text: the HTTP/2 layer keeps the
/// I/O error's message, not its rustls error.
fn late_alert(status: &Status) -> Option<String> {
    let source = StdError::source(status)?;
    chain(source)
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .map(ToString::to_string)
        .find(|text| text.starts_with("received fatal alert: "))
}

const CLIENT_CERTIFICATE_REFUSED: &str = "the server refused this client's certificate (or its \
     absence); give one signed by the CA the server trusts with --tls-cert and --tls-key";

/// What a TLS failure means for the person who configures the client.
fn tls_reason(error: &rustls::Error) -> String {
    use rustls::{AlertDescription, CertificateError, Error as Tls};
    let hint = match error {
        Tls::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server's certificate is not signed by a CA this client trusts; give that CA \
             with --tls-ca"
        }
        Tls::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "the server's certificate does not name the host in the URL",
        Tls::InvalidCertificate(_) => "the server's certificate was refused",
        Tls::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::HandshakeFailure,
        ) => CLIENT_CERTIFICATE_REFUSED,
        Tls::InvalidMessage(_) => "the server does not speak TLS; use an http:// URL",
        _ => "",
    };
    if hint.is_empty() { error.to_string() } else { format!("{hint} ({error})") }
}

/// The usual cause of a connection that broke before any answer: TLS on the server but
/// not in the URL, or a server that requires a client certificate this client lacks
/// (under TLS 1.3 the client learns of the refusal only when it next reads).
fn broken_hint(url: &str) -> &'static str {
    if url.starts_with("http://") {
        "; if the server uses TLS, use an https:// URL"
    } else {
        "; if the server requires client certificates (mutual TLS), give one it trusts with \
         --tls-cert and --tls-key"
    }
}

/// The message of a status and the causes of its transport error, each said once.
fn status_causes(status: &Status) -> String {
    let sources = StdError::source(status).into_iter().flat_map(chain).map(|e| e.to_string());
    said_once(std::iter::once(status.message().to_owned()).chain(sources))
}

fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

/// The causes of `error` on one line, each said once.
fn causes(error: &(dyn StdError + 'static)) -> String {
    said_once(chain(error).map(|e| e.to_string()))
}

/// Texts of a chain of causes on one line: transport layers often repeat their source's
/// text in their own, and "transport error" says nothing.
fn said_once(texts: impl Iterator<Item = String>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for text in texts {
        let text = text.trim().to_owned();
        if text.is_empty() || text == "transport error" {
            continue;
        }
        if parts.last().is_some_and(|last| last.contains(&text)) {
            continue;
        }
        if let Some(last) = parts.last_mut().filter(|last| text.contains(last.as_str())) {
            *last = text;
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_get_a_scheme() {
        let plain = ConnectOptions::default();
        let tls = ConnectOptions { tls_ca: Some("ca.pem".into()), ..Default::default() };
        assert_eq!(server_url("127.0.0.1:50051", &plain).unwrap(), "http://127.0.0.1:50051");
        assert_eq!(server_url("dedup:50051", &tls).unwrap(), "https://dedup:50051");
        assert_eq!(server_url("https://dedup:443", &plain).unwrap(), "https://dedup:443");
        let err = server_url("http://dedup:50051", &tls).unwrap_err().to_string();
        assert!(err.contains("https://"), "{err}");
        assert!(server_url("ftp://dedup", &plain).is_err());
        assert!(server_url(" ", &plain).is_err());
    }

    #[test]
    fn causes_are_said_once() {
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl std::fmt::Display for Layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl StdError for Layer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let io = Layer("Connection refused (os error 111)", None);
        let tcp = Layer("tcp connect error", Some(Box::new(io)));
        let tcp_again = Layer("tcp connect error", Some(Box::new(tcp)));
        let top = Layer("transport error", Some(Box::new(tcp_again)));
        assert_eq!(causes(&top), "tcp connect error: Connection refused (os error 111)");
    }

    #[test]
    fn failures_are_told_apart() {
        let cases = [
            (Status::unauthenticated("unknown token"), Failure::Unauthenticated),
            (
                Status::permission_denied("token lacks the \"ingest\" scope"),
                Failure::PermissionDenied,
            ),
            (Status::invalid_argument("invalid text: has no words"), Failure::Rejected),
            (Status::already_exists("duplicate id"), Failure::Rejected),
            (
                Status::resource_exhausted("request message too large; see max_message_bytes"),
                Failure::Rejected,
            ),
            (Status::resource_exhausted("server busy"), Failure::Busy),
            (Status::unavailable("server is shutting down"), Failure::Busy),
            (Status::internal("boom"), Failure::Server),
        ];
        for (status, failure) in cases {
            assert_eq!(Failure::of(&status), failure, "{status:?}");
            let line = describe(&status, "http://x:1");
            assert!(line.contains(status.message()), "{line}");
        }
    }
}
