//! `ServiceConfig`: the gRPC server's own settings (address, message size, TLS, auth,
//! limits, metrics, log format) around the `DetectorConfig` and `StoreConfig` it runs,
//! and the caps on what one client may send or hold open. It is the whole of
//! `neardup.toml`: every `serve` setting has a key here, and the flags override them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{DetectorConfig, StoreConfig, format_size};
use crate::error::{Error, Result};

/// Address `neardup serve` listens on: loopback only unless asked otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Largest request message the server decodes (8 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 8 << 20;
/// How long a stopping server waits for requests in flight before it gives up on them.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Smallest `max_message_bytes` accepted: below it ordinary articles would be refused.
pub const MIN_MAX_MESSAGE_BYTES: usize = 4 << 10;
/// Largest `max_message_bytes` accepted (one article, not a corpus, per message).
pub const MAX_MAX_MESSAGE_BYTES: usize = 1 << 30;

/// HTTP/2 streams one connection may have open at once (each RPC is one stream).
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 64;
/// Requests one connection may have in its handlers at once; more wait their turn.
pub const DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION: usize = 64;
/// Requests (open streams included, until they end) in the whole server at once; more
/// are refused with `RESOURCE_EXHAUSTED`.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 512;
/// Articles waiting for or being fingerprinted at once, across all requests: the
/// bounded queue between the network and the hashing pool. When it is full, unary calls
/// wait and streams stop reading, so HTTP/2 flow control slows the senders down.
pub const DEFAULT_HASHING_QUEUE: usize = 256;
/// Upper bound on a request's time in its handler when the client sets no shorter
/// `grpc-timeout` (streams: until the response starts).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default bytes of article text kept in memory for the web page's story diffs.
pub const DEFAULT_KEPT_TEXT_BYTES: usize = 256 << 20;

/// Longest a setting's duration may be (the grace period, the request timeout).
const MAX_SPAN: Duration = Duration::from_secs(3600);

/// Limits that keep one client (buggy or hostile) from starving the others or growing
/// the server's memory. Worst-case request memory is about
/// `max_in_flight x max_message_bytes`, plus `hashing_queue` articles being hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` per connection.
    pub max_concurrent_streams: u32,
    /// Requests in handlers per connection; more are queued on that connection.
    pub max_in_flight_per_connection: usize,
    /// Requests in flight in the whole server; more get `RESOURCE_EXHAUSTED`.
    pub max_in_flight: usize,
    /// Articles queued for or in fingerprinting at once.
    pub hashing_queue: usize,
    /// Default and maximum handler time (e.g. `"60s"`).
    #[serde(with = "super::units::duration")]
    pub request_timeout: Duration,
    /// Article texts kept in memory for reading (story diffs on the web page and
    /// `CompareStory`), e.g. `"256MiB"`; the oldest ingested are dropped first, and
    /// nothing is kept across restarts. `0` keeps none.
    #[serde(with = "super::units::size")]
    pub kept_text_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            max_in_flight_per_connection: DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            hashing_queue: DEFAULT_HASHING_QUEUE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            kept_text_bytes: DEFAULT_KEPT_TEXT_BYTES,
        }
    }
}

impl LimitsConfig {
    fn validate(&self) -> Result<()> {
        let counts = [
            ("limits.max_concurrent_streams", self.max_concurrent_streams as usize),
            ("limits.max_in_flight_per_connection", self.max_in_flight_per_connection),
            ("limits.max_in_flight", self.max_in_flight),
            ("limits.hashing_queue", self.hashing_queue),
        ];
        for (field, value) in counts {
            if !(1..=1_000_000).contains(&value) {
                return Err(Error::config(field, format!("{value} is not between 1 and 1000000")));
            }
        }
        check_span("limits.request_timeout", self.request_timeout)
    }
}

/// TLS for the server: its certificate chain and key (PEM), and for mutual TLS the CA
/// that client certificates must chain to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the server.
    pub cert: PathBuf,
    /// PEM private key of the server.
    pub key: PathBuf,
    /// PEM CA bundle; when set, every client must present a certificate it signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

/// How the server writes its log lines (stderr).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `message`, `target` and the
    /// event's fields), for log collectors.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(Error::config("log_format", format!("{other:?} is not text or json"))),
        }
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

/// Settings of the gRPC service (`neardup serve`), with the store and the detector it
/// runs: the whole config file. Plain keys come first, then the tables, so that it
/// serializes to TOML as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Address of the Prometheus `/metrics` endpoint (plain HTTP); `None`: no endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// Largest request message decoded (e.g. `"8MiB"`); bigger ones get
    /// `RESOURCE_EXHAUSTED`.
    #[serde(with = "super::units::size")]
    pub max_message_bytes: usize,
    /// How long a stopping server waits for requests in flight (a client that stops
    /// reading its stream would otherwise hold the shutdown forever).
    #[serde(with = "super::units::duration")]
    pub shutdown_grace: Duration,
    /// File of bearer tokens (`token scope[,scope]` per line, scopes `check`, `ingest`,
    /// `admin`), read again on SIGHUP; `None` leaves every RPC open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_tokens: Option<PathBuf>,
    /// TLS; `None` serves plain TCP (meant for loopback: a warning is logged otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// The durable store: data directory, sync mode, time window, compaction.
    pub store: StoreConfig,
    /// Concurrency, queue and time limits.
    pub limits: LimitsConfig,
    /// The detection settings.
    pub detector: DetectorConfig,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            listen: DEFAULT_LISTEN.parse().expect("default listen address parses"),
            metrics_listen: None,
            log_format: LogFormat::Text,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            auth_tokens: None,
            tls: None,
            store: StoreConfig::default(),
            limits: LimitsConfig::default(),
            detector: DetectorConfig::default(),
        }
    }
}

fn check_span(field: &'static str, span: Duration) -> Result<()> {
    if span < Duration::from_millis(1) || span > MAX_SPAN {
        return Err(Error::config(field, "must be between 1ms and 1h"));
    }
    Ok(())
}

impl ServiceConfig {
    /// Checks the server settings, the detector's and the store's. The only place they
    /// are validated.
    pub fn validate(&self) -> Result<()> {
        self.detector.validate()?;
        self.store.validate()?;
        if !(MIN_MAX_MESSAGE_BYTES..=MAX_MAX_MESSAGE_BYTES).contains(&self.max_message_bytes) {
            return Err(Error::config(
                "max_message_bytes",
                format!(
                    "{} is not between {} and {}",
                    format_size(self.max_message_bytes as u64),
                    format_size(MIN_MAX_MESSAGE_BYTES as u64),
                    format_size(MAX_MAX_MESSAGE_BYTES as u64),
                ),
            ));
        }
        check_span("shutdown_grace", self.shutdown_grace)?;
        if let Some(tls) = &self.tls {
            for (field, path) in [("tls.cert", &tls.cert), ("tls.key", &tls.key)] {
                if path.as_os_str().is_empty() {
                    return Err(Error::config(field, "must not be empty"));
                }
            }
            if tls.client_ca.as_ref().is_some_and(|ca| ca.as_os_str().is_empty()) {
                return Err(Error::config("tls.client_ca", "must not be empty"));
            }
        }
        if self.metrics_listen.is_some_and(|m| m == self.listen && m.port() != 0) {
            return Err(Error::config("metrics_listen", "must differ from listen"));
        }
        if self.auth_tokens.as_ref().is_some_and(|path| path.as_os_str().is_empty()) {
            return Err(Error::config("auth_tokens", "must not be empty"));
        }
        self.limits.validate()
    }

    /// True when the server would accept plain-text connections from other machines.
    pub fn plaintext_beyond_loopback(&self) -> bool {
        self.tls.is_none() && !self.listen.ip().is_loopback()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_DATA_DIR;

    #[test]
    fn service_defaults_and_limits() {
        let config = ServiceConfig::default();
        config.validate().unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:50051");
        assert_eq!(config.max_message_bytes, 8 * 1024 * 1024);
        assert!(!config.plaintext_beyond_loopback());
        let exposed = ServiceConfig { listen: "0.0.0.0:50051".parse().unwrap(), ..config.clone() };
        assert!(exposed.plaintext_beyond_loopback());
        let tls = TlsConfig { cert: "c.pem".into(), key: "k.pem".into(), client_ca: None };
        assert!(!ServiceConfig { tls: Some(tls), ..exposed }.plaintext_beyond_loopback());
        assert_eq!(config.store.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<ServiceConfig>(&json).unwrap(), config);
        let bad = [
            ServiceConfig { max_message_bytes: 100, ..Default::default() },
            ServiceConfig { max_message_bytes: 2 << 30, ..Default::default() },
            ServiceConfig {
                store: StoreConfig { data_dir: PathBuf::new(), ..Default::default() },
                ..Default::default()
            },
            ServiceConfig { shutdown_grace: Duration::ZERO, ..Default::default() },
            ServiceConfig { shutdown_grace: Duration::from_secs(7200), ..Default::default() },
            ServiceConfig {
                tls: Some(TlsConfig { cert: "c.pem".into(), key: PathBuf::new(), client_ca: None }),
                ..Default::default()
            },
            ServiceConfig { auth_tokens: Some(PathBuf::new()), ..Default::default() },
            ServiceConfig { metrics_listen: Some(config.listen), ..Default::default() },
            ServiceConfig {
                limits: LimitsConfig { max_in_flight: 0, ..Default::default() },
                ..Default::default()
            },
            ServiceConfig {
                limits: LimitsConfig { hashing_queue: 0, ..Default::default() },
                ..Default::default()
            },
            ServiceConfig {
                limits: LimitsConfig { request_timeout: Duration::ZERO, ..Default::default() },
                ..Default::default()
            },
            ServiceConfig {
                detector: DetectorConfig { max_matches: 0, ..Default::default() },
                ..Default::default()
            },
        ];
        for config in bad {
            assert!(matches!(config.validate(), Err(Error::InvalidConfig { .. })), "{config:?}");
        }
    }
}
