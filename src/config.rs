//! `DetectorConfig`: every knob of the pipeline in one serializable type, validated in
//! one place. The CLI and the server each build exactly one and never change it after.
//! `ServiceConfig` adds the gRPC server's own settings around one `DetectorConfig`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Words per shingle.
pub const DEFAULT_SHINGLE_SIZE: usize = 5;
/// MinHash permutations (signature lanes).
pub const DEFAULT_NUM_PERM: usize = 128;
/// Seed for shingle hashing and the permutation family.
pub const DEFAULT_SEED: u64 = 0x6e65_6172_6475_7031; // "neardup1"
/// Estimated Jaccard the LSH bands are tuned to surface as candidates.
pub const DEFAULT_LSH_THRESHOLD: f64 = 0.2;
/// Estimated Jaccard at or above which a candidate is a duplicate.
pub const DEFAULT_JACCARD_THRESHOLD: f64 = 0.3;
/// Estimated containment of the shorter in the longer at or above which a candidate is a copy.
pub const DEFAULT_CONTAINMENT_THRESHOLD: f64 = 0.8;
/// Matches reported per verdict.
pub const DEFAULT_MAX_MATCHES: usize = 10;

/// All detection settings. Construct with [`Default`] and adjust, then call
/// [`DetectorConfig::validate`]; every consumer assumes a validated config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// Words (or characters, for scripts written without spaces) per shingle.
    pub shingle_size: usize,
    /// MinHash permutations; a multiple of 16 so the kernel fills whole vectors.
    pub num_perm: usize,
    /// Seed of the hash family. Signatures are only comparable under the same seed.
    pub seed: u64,
    /// Jaccard similarity the LSH banding is tuned for (candidates, not verdicts).
    pub lsh_threshold: f64,
    /// LSH bands (`b`). Derived from `lsh_threshold` by [`DetectorConfig::with_lsh_threshold`].
    pub bands: usize,
    /// Rows per band (`r`); `bands * rows <= num_perm`.
    pub rows: usize,
    /// Estimated Jaccard at or above which two articles are duplicates.
    pub jaccard_threshold: f64,
    /// Estimated containment of the shorter article in the longer at or above which the
    /// shorter is a (partial) copy.
    pub containment_threshold: f64,
    /// Most matches returned with one verdict.
    pub max_matches: usize,
    /// How signatures are computed. Signatures of different schemes are not comparable.
    pub scheme: SignatureScheme,
}

/// The signature family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureScheme {
    /// Classic MinHash: `num_perm` independent permutations, each applied to every
    /// shingle (the default; pinned by the golden-vector tests).
    #[default]
    MinHash,
    /// One-permutation hashing with optimal densification (Shrivastava, ICML 2017): each
    /// shingle hash lands in one of `num_perm` bins and only that bin's minimum is
    /// updated; empty bins borrow from a pseudo-randomly chosen filled bin. One hash per
    /// shingle instead of `num_perm`.
    OnePermutation,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        let (bands, rows) = optimal_bands(DEFAULT_LSH_THRESHOLD, DEFAULT_NUM_PERM);
        DetectorConfig {
            shingle_size: DEFAULT_SHINGLE_SIZE,
            num_perm: DEFAULT_NUM_PERM,
            seed: DEFAULT_SEED,
            lsh_threshold: DEFAULT_LSH_THRESHOLD,
            bands,
            rows,
            jaccard_threshold: DEFAULT_JACCARD_THRESHOLD,
            containment_threshold: DEFAULT_CONTAINMENT_THRESHOLD,
            max_matches: DEFAULT_MAX_MATCHES,
            scheme: SignatureScheme::default(),
        }
    }
}

impl DetectorConfig {
    /// Sets the LSH threshold and re-derives bands and rows for the current `num_perm`.
    pub fn with_lsh_threshold(mut self, threshold: f64) -> Self {
        self.lsh_threshold = threshold;
        (self.bands, self.rows) = optimal_bands(threshold, self.num_perm);
        self
    }

    /// Sets the permutation count and re-derives bands and rows.
    pub fn with_num_perm(mut self, num_perm: usize) -> Self {
        self.num_perm = num_perm;
        (self.bands, self.rows) = optimal_bands(self.lsh_threshold, num_perm);
        self
    }

    /// Checks every setting and their consistency. The only place config is validated.
    pub fn validate(&self) -> Result<()> {
        if !(1..=64).contains(&self.shingle_size) {
            return Err(Error::config("shingle_size", "must be between 1 and 64"));
        }
        if self.num_perm == 0 || !self.num_perm.is_multiple_of(16) || self.num_perm > 1024 {
            return Err(Error::config("num_perm", "must be a multiple of 16 between 16 and 1024"));
        }
        if self.bands == 0 || self.rows == 0 {
            return Err(Error::config("bands", "bands and rows must both be at least 1"));
        }
        if self.bands * self.rows > self.num_perm {
            return Err(Error::config(
                "bands",
                format!(
                    "bands x rows = {} x {} exceeds num_perm {}",
                    self.bands, self.rows, self.num_perm
                ),
            ));
        }
        if self.rows > 32 {
            return Err(Error::config("rows", "must be at most 32"));
        }
        for (field, value) in [
            ("lsh_threshold", self.lsh_threshold),
            ("jaccard_threshold", self.jaccard_threshold),
            ("containment_threshold", self.containment_threshold),
        ] {
            if !(value > 0.0 && value <= 1.0) {
                return Err(Error::config(field, format!("{value} is not in (0, 1]")));
            }
        }
        if self.max_matches == 0 {
            return Err(Error::config("max_matches", "must be at least 1"));
        }
        Ok(())
    }
}

/// Bands and rows minimising the equal-weighted false-positive plus false-negative
/// probability mass around `threshold` (the integral datasketch and MMDS 3.4 use).
pub fn optimal_bands(threshold: f64, num_perm: usize) -> (usize, usize) {
    fn integrate(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
        const STEPS: usize = 200;
        let step = (hi - lo) / STEPS as f64;
        (0..STEPS).map(|i| f(lo + (i as f64 + 0.5) * step)).sum::<f64>() * step
    }
    let threshold = threshold.clamp(0.0, 1.0);
    let mut best = (f64::INFINITY, 1, num_perm.max(1));
    for bands in 1..=num_perm {
        for rows in 1..=(num_perm / bands).min(32) {
            let p = |s: f64| 1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32);
            let false_pos = integrate(p, 0.0, threshold);
            let false_neg = integrate(|s| 1.0 - p(s), threshold, 1.0);
            let error = 0.5 * false_pos + 0.5 * false_neg;
            if error < best.0 {
                best = (error, bands, rows);
            }
        }
    }
    (best.1, best.2)
}

/// Address `neardup serve` listens on: loopback only unless asked otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Largest request message the server decodes (8 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 8 << 20;
/// Where the server keeps its state (reserved: state lives in memory for now).
pub const DEFAULT_DATA_DIR: &str = "./neardup-data";
/// How long a stopping server waits for requests in flight before it gives up on them.
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 30_000;
/// Smallest `max_message_bytes` accepted: below it ordinary articles would be refused.
pub const MIN_MAX_MESSAGE_BYTES: usize = 4 << 10;
/// Largest `max_message_bytes` accepted (one article, not a corpus, per message).
pub const MAX_MAX_MESSAGE_BYTES: usize = 1 << 30;

/// Longest article id accepted, in bytes. Ids are keys kept in memory (and in the log)
/// for every stored article; a client sending 100 KB ids would otherwise make the index
/// hold megabytes of keys for a few hundred articles.
pub const MAX_ID_BYTES: usize = 1024;
/// Longest `source` (outlet name) kept with an article, in bytes, for the same reason.
pub const MAX_SOURCE_BYTES: usize = 1024;

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
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 60_000;

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
    /// Default and maximum handler time in milliseconds.
    pub request_timeout_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            max_in_flight_per_connection: DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            hashing_queue: DEFAULT_HASHING_QUEUE,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
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
        if !(1..=3_600_000).contains(&self.request_timeout_ms) {
            return Err(Error::config(
                "limits.request_timeout_ms",
                "must be between 1 ms and one hour",
            ));
        }
        Ok(())
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
    pub client_ca: Option<PathBuf>,
}

/// Settings of the gRPC service (`neardup serve`), with the detector it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Largest request message decoded; bigger ones get `RESOURCE_EXHAUSTED`.
    pub max_message_bytes: usize,
    /// Directory for durable state. Not written yet: the index lives in memory and is
    /// lost at exit until durable storage lands.
    pub data_dir: PathBuf,
    /// Milliseconds a stopping server waits for requests in flight (a client that stops
    /// reading its stream would otherwise hold the shutdown forever).
    pub shutdown_grace_ms: u64,
    /// TLS; `None` serves plain TCP (meant for loopback: a warning is logged otherwise).
    pub tls: Option<TlsConfig>,
    /// File of bearer tokens (`token scope[,scope]` per line, scopes `check`, `ingest`,
    /// `admin`); `None` leaves every RPC open.
    pub auth_tokens: Option<PathBuf>,
    /// Concurrency, queue and time limits.
    pub limits: LimitsConfig,
    /// The detection settings.
    pub detector: DetectorConfig,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            listen: DEFAULT_LISTEN.parse().expect("default listen address parses"),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            shutdown_grace_ms: DEFAULT_SHUTDOWN_GRACE_MS,
            tls: None,
            auth_tokens: None,
            limits: LimitsConfig::default(),
            detector: DetectorConfig::default(),
        }
    }
}

impl ServiceConfig {
    /// Checks the server settings and the detector's. The only place they are validated.
    pub fn validate(&self) -> Result<()> {
        self.detector.validate()?;
        if !(MIN_MAX_MESSAGE_BYTES..=MAX_MAX_MESSAGE_BYTES).contains(&self.max_message_bytes) {
            return Err(Error::config(
                "max_message_bytes",
                format!(
                    "{} is not between {MIN_MAX_MESSAGE_BYTES} and {MAX_MAX_MESSAGE_BYTES}",
                    self.max_message_bytes
                ),
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(Error::config("data_dir", "must not be empty"));
        }
        if !(1..=3_600_000).contains(&self.shutdown_grace_ms) {
            return Err(Error::config("shutdown_grace_ms", "must be between 1 ms and one hour"));
        }
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

    #[test]
    fn default_is_valid_and_round_trips() {
        let config = DetectorConfig::default();
        config.validate().unwrap();
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<DetectorConfig>(&json).unwrap(), config);
    }

    #[test]
    fn bands_follow_threshold() {
        // Values of datasketch's _optimal_param for 128 permutations.
        assert_eq!(optimal_bands(0.5, 128), (25, 5));
        assert_eq!(optimal_bands(0.3, 128), (37, 3));
    }

    #[test]
    fn rejects_bad_settings() {
        let bad = [
            DetectorConfig { num_perm: 100, ..Default::default() },
            DetectorConfig { bands: 64, rows: 4, ..Default::default() },
            DetectorConfig { jaccard_threshold: 0.0, ..Default::default() },
            DetectorConfig { containment_threshold: 1.5, ..Default::default() },
            DetectorConfig { shingle_size: 0, ..Default::default() },
        ];
        for config in bad {
            assert!(matches!(config.validate(), Err(Error::InvalidConfig { .. })), "{config:?}");
        }
    }

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
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<ServiceConfig>(&json).unwrap(), config);
        let bad = [
            ServiceConfig { max_message_bytes: 100, ..Default::default() },
            ServiceConfig { max_message_bytes: 2 << 30, ..Default::default() },
            ServiceConfig { data_dir: PathBuf::new(), ..Default::default() },
            ServiceConfig { shutdown_grace_ms: 0, ..Default::default() },
            ServiceConfig {
                tls: Some(TlsConfig { cert: "c.pem".into(), key: PathBuf::new(), client_ca: None }),
                ..Default::default()
            },
            ServiceConfig { auth_tokens: Some(PathBuf::new()), ..Default::default() },
            ServiceConfig {
                limits: LimitsConfig { max_in_flight: 0, ..Default::default() },
                ..Default::default()
            },
            ServiceConfig {
                limits: LimitsConfig { hashing_queue: 0, ..Default::default() },
                ..Default::default()
            },
            ServiceConfig {
                limits: LimitsConfig { request_timeout_ms: 0, ..Default::default() },
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
