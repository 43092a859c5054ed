//! `DetectorConfig`: every knob of the pipeline in one serializable type, validated in
//! one place. The CLI and the server each build exactly one and never change it after.
//! `StoreConfig` holds the durable store's settings; `ServiceConfig` adds the gRPC
//! server's own settings around one `DetectorConfig` and one `StoreConfig`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
pub const DEFAULT_CONTAINMENT_THRESHOLD: f64 = 0.5;
/// Matches reported per verdict.
pub const DEFAULT_MAX_MATCHES: usize = 10;
/// One-row LSH bands of the containment view (0 turns it off).
pub const DEFAULT_CONTAINMENT_BANDS: usize = 32;
/// Share of sampled member pairs that must be related before two clusters merge.
pub const DEFAULT_MERGE_SUPPORT: f64 = 0.5;
/// Containment of the shorter in the longer at which two members count as related for
/// the chaining guard.
pub const DEFAULT_SUPPORT_CONTAINMENT: f64 = 0.4;
/// Members per cluster the chaining guard compares.
pub const DEFAULT_SUPPORT_SAMPLE: usize = 8;
/// Documents of one source, mostly of different stories, that make a line its chrome.
pub const DEFAULT_BOILERPLATE_MIN_DOCS_PER_SOURCE: u32 = 3;
/// Documents over all sources, mostly of different stories, that make a line chrome.
pub const DEFAULT_BOILERPLATE_MIN_DOCS_GLOBAL: u32 = 20;
/// Lines the boilerplate model tracks at most.
pub const DEFAULT_BOILERPLATE_CAPACITY: usize = 1 << 20;

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
    /// Fold agency abbreviations and their spelled-out forms ("mln"/"million", see
    /// [`crate::text::WIRE_ABBREVIATIONS`]) to one token.
    pub fold_abbreviations: bool,
    /// One-row LSH bands (over the first lanes) that surface containment candidates
    /// whose Jaccard is too low for the main bands: an excerpt of a long story. 0 = off.
    pub containment_bands: usize,
    /// Chaining guard: share of sampled cross pairs (members of one cluster against
    /// members of the other) that must be related before two clusters merge, or before
    /// an article joins a cluster. A lone link cannot glue two stories together.
    pub merge_support: f64,
    /// Containment of the shorter in the longer at which a pair counts as related for
    /// the chaining guard.
    pub support_containment: f64,
    /// Members per cluster (earliest first) the chaining guard compares.
    pub support_sample: usize,
    /// Batch scans only: keep every document's shingle set (4 bytes a shingle) while
    /// clustering, and estimate the containment of a short text in a long one by looking
    /// the short one's lane minima up in the long one's set, instead of from the Jaccard
    /// estimate (which is noisy exactly there).
    pub sampled_containment: bool,
    /// Site-chrome learning.
    pub boilerplate: ChromeConfig,
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

/// Settings of boilerplate (site chrome) learning; see [`crate::chrome`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChromeConfig {
    /// Learn chrome and leave it out of the shingles used for matching.
    pub enabled: bool,
    /// A line in this many documents of one source, mostly of different stories, is that
    /// source's chrome.
    pub min_docs_per_source: u32,
    /// A line in this many documents overall, mostly of different stories, is chrome for
    /// every source (and the only rule for documents without a source).
    pub min_docs_global: u32,
    /// Lines tracked at most; the least seen are forgotten first.
    pub capacity: usize,
}

impl Default for ChromeConfig {
    fn default() -> Self {
        ChromeConfig {
            enabled: true,
            min_docs_per_source: DEFAULT_BOILERPLATE_MIN_DOCS_PER_SOURCE,
            min_docs_global: DEFAULT_BOILERPLATE_MIN_DOCS_GLOBAL,
            capacity: DEFAULT_BOILERPLATE_CAPACITY,
        }
    }
}

impl Default for DetectorConfig {
    fn default() -> Self {
        let (bands, rows) = crate::lsh::optimal_bands(DEFAULT_LSH_THRESHOLD, DEFAULT_NUM_PERM);
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
            fold_abbreviations: true,
            containment_bands: DEFAULT_CONTAINMENT_BANDS,
            merge_support: DEFAULT_MERGE_SUPPORT,
            support_containment: DEFAULT_SUPPORT_CONTAINMENT,
            support_sample: DEFAULT_SUPPORT_SAMPLE,
            sampled_containment: true,
            boilerplate: ChromeConfig::default(),
            scheme: SignatureScheme::default(),
        }
    }
}

impl DetectorConfig {
    /// The switches of the text stage.
    pub fn text_options(&self) -> crate::text::TextOptions {
        crate::text::TextOptions { fold_abbreviations: self.fold_abbreviations }
    }

    /// Sets the LSH threshold and re-derives bands and rows for the current `num_perm`.
    pub fn with_lsh_threshold(mut self, threshold: f64) -> Self {
        self.lsh_threshold = threshold;
        (self.bands, self.rows) = crate::lsh::optimal_bands(threshold, self.num_perm);
        self
    }

    /// Sets the permutation count and re-derives bands and rows.
    pub fn with_num_perm(mut self, num_perm: usize) -> Self {
        self.num_perm = num_perm;
        (self.bands, self.rows) = crate::lsh::optimal_bands(self.lsh_threshold, num_perm);
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
        if self.containment_bands > self.num_perm {
            return Err(Error::config("containment_bands", "must be at most num_perm"));
        }
        for (field, value) in [
            ("lsh_threshold", self.lsh_threshold),
            ("jaccard_threshold", self.jaccard_threshold),
            ("containment_threshold", self.containment_threshold),
            ("support_containment", self.support_containment),
        ] {
            if !(value > 0.0 && value <= 1.0) {
                return Err(Error::config(field, format!("{value} is not in (0, 1]")));
            }
        }
        if self.max_matches == 0 {
            return Err(Error::config("max_matches", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.merge_support) {
            return Err(Error::config(
                "merge_support",
                format!("{} is not in [0, 1]", self.merge_support),
            ));
        }
        if self.support_sample == 0 {
            return Err(Error::config("support_sample", "must be at least 1"));
        }
        let boilerplate = &self.boilerplate;
        if boilerplate.min_docs_per_source < 2 || boilerplate.min_docs_global < 2 {
            return Err(Error::config(
                "boilerplate",
                "min_docs_per_source and min_docs_global must be at least 2",
            ));
        }
        if boilerplate.capacity < 16 {
            return Err(Error::config("boilerplate.capacity", "must be at least 16"));
        }
        Ok(())
    }
}

/// Where the service keeps its state by default.
pub const DEFAULT_DATA_DIR: &str = "./neardup-data";
/// Share of dead log records (removed, expired, tombstones) that triggers a compaction.
pub const DEFAULT_COMPACT_FRACTION: f64 = 0.5;
/// Dead records below which no automatic compaction runs, however large the share:
/// rewriting a small log to save a few kilobytes is not worth the I/O.
pub const DEFAULT_COMPACT_MIN_DEAD: u64 = 10_000;
/// Background sync period of [`SyncMode::Batch`].
pub const DEFAULT_BATCH_INTERVAL: Duration = Duration::from_millis(100);

/// When an appended record is made durable (`fdatasync`) and when its append returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// An append returns only after an `fdatasync` covering its record; concurrent
    /// appends share one sync (group commit). Nothing acknowledged is lost, even on
    /// power failure.
    #[default]
    Always,
    /// An append returns once its record is written to the operating system (it
    /// survives a crash of the process) and the log is synced every batch interval in the
    /// background: a power failure loses at most that interval.
    Batch,
    /// Never sync while running (only on compaction and clean shutdown). UNSAFE: a
    /// power failure or kernel crash can lose any amount of acknowledged data; a crash
    /// of the process alone loses nothing. For benchmarks and throwaway indexes.
    Never,
}

impl std::str::FromStr for SyncMode {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "always" => Ok(SyncMode::Always),
            "batch" => Ok(SyncMode::Batch),
            "never" => Ok(SyncMode::Never),
            other => Err(Error::config("sync", format!("{other:?} is not always, batch or never"))),
        }
    }
}

impl std::fmt::Display for SyncMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SyncMode::Always => "always",
            SyncMode::Batch => "batch",
            SyncMode::Never => "never",
        })
    }
}

/// Settings of the durable store behind the service (`--data-dir`, `--sync`,
/// `--window`, compaction). Unlike [`DetectorConfig`] these may change between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The data directory: manifest and log segments.
    pub data_dir: PathBuf,
    /// Durability of each append.
    pub sync: SyncMode,
    /// Background sync period in [`SyncMode::Batch`] (humantime, e.g. `"100ms"`).
    #[serde(with = "humantime_serde_duration")]
    pub batch_interval: Duration,
    /// Keep only articles published within this span of the newest one (humantime,
    /// e.g. `"7d"`); `None` keeps everything.
    #[serde(with = "humantime_serde_option")]
    pub window: Option<Duration>,
    /// Compact automatically once this share of the log's records is dead; in (0, 1].
    pub compact_fraction: f64,
    /// ... but only once at least this many records are dead.
    pub compact_min_dead: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            sync: SyncMode::Always,
            batch_interval: DEFAULT_BATCH_INTERVAL,
            window: None,
            compact_fraction: DEFAULT_COMPACT_FRACTION,
            compact_min_dead: DEFAULT_COMPACT_MIN_DEAD,
        }
    }
}

impl StoreConfig {
    /// Checks every setting. The only place store settings are validated.
    pub fn validate(&self) -> Result<()> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(Error::config("data_dir", "must not be empty"));
        }
        if !(self.compact_fraction > 0.0 && self.compact_fraction <= 1.0) {
            return Err(Error::config(
                "compact_fraction",
                format!("{} is not in (0, 1]", self.compact_fraction),
            ));
        }
        if self.batch_interval.is_zero() {
            return Err(Error::config("batch_interval", "must be longer than zero"));
        }
        match self.window {
            Some(window) if window_millis(window).is_none() => {
                Err(Error::config("window", "must be at least 1 ms and at most 100 years"))
            }
            _ => Ok(()),
        }
    }

    /// The window in milliseconds, if one is set.
    pub fn window_millis(&self) -> Option<i64> {
        self.window.and_then(window_millis)
    }
}

fn window_millis(window: Duration) -> Option<i64> {
    const MAX: u128 = 100 * 366 * 24 * 3600 * 1000;
    let ms = window.as_millis();
    (1..=MAX).contains(&ms).then_some(ms as i64)
}

/// Parses a duration such as `7d`, `36h` or `90min` (humantime syntax).
pub fn parse_duration(field: &'static str, text: &str) -> Result<Duration> {
    humantime::parse_duration(text.trim())
        .map_err(|e| Error::config(field, format!("{text:?}: {e}")))
}

mod humantime_serde_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

mod humantime_serde_option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&humantime::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| humantime::parse_duration(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Address `neardup serve` listens on: loopback only unless asked otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Largest request message the server decodes (8 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 8 << 20;
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
    /// The durable store: data directory, sync mode, time window, compaction.
    pub store: StoreConfig,
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
            store: StoreConfig::default(),
            shutdown_grace_ms: DEFAULT_SHUTDOWN_GRACE_MS,
            tls: None,
            auth_tokens: None,
            limits: LimitsConfig::default(),
            detector: DetectorConfig::default(),
        }
    }
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
                    "{} is not between {MIN_MAX_MESSAGE_BYTES} and {MAX_MAX_MESSAGE_BYTES}",
                    self.max_message_bytes
                ),
            ));
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
    fn rejects_bad_settings() {
        let bad = [
            DetectorConfig { num_perm: 100, ..Default::default() },
            DetectorConfig { bands: 64, rows: 4, ..Default::default() },
            DetectorConfig { jaccard_threshold: 0.0, ..Default::default() },
            DetectorConfig { containment_threshold: 1.5, ..Default::default() },
            DetectorConfig { shingle_size: 0, ..Default::default() },
            DetectorConfig { merge_support: 1.5, ..Default::default() },
            DetectorConfig { containment_bands: 129, ..Default::default() },
            DetectorConfig { support_containment: 0.0, ..Default::default() },
            DetectorConfig {
                boilerplate: ChromeConfig { min_docs_per_source: 1, ..Default::default() },
                ..Default::default()
            },
        ];
        for config in bad {
            assert!(matches!(config.validate(), Err(Error::InvalidConfig { .. })), "{config:?}");
        }
    }

    #[test]
    fn store_config_validates_and_round_trips() {
        let config = StoreConfig {
            window: Some(parse_duration("window", "7d").unwrap()),
            ..Default::default()
        };
        config.validate().unwrap();
        assert_eq!(config.window_millis(), Some(7 * 24 * 3600 * 1000));
        let json = serde_json::to_string(&config).unwrap();
        assert!(json.contains("\"7days\""), "{json}");
        assert_eq!(serde_json::from_str::<StoreConfig>(&json).unwrap(), config);
        let bad = [
            StoreConfig { compact_fraction: 0.0, ..Default::default() },
            StoreConfig { compact_fraction: 1.5, ..Default::default() },
            StoreConfig { window: Some(Duration::from_micros(10)), ..Default::default() },
            StoreConfig { data_dir: PathBuf::new(), ..Default::default() },
            StoreConfig { batch_interval: Duration::ZERO, ..Default::default() },
        ];
        for config in bad {
            assert!(matches!(config.validate(), Err(Error::InvalidConfig { .. })), "{config:?}");
        }
        assert!(parse_duration("window", "7 parsecs").is_err());
        assert_eq!("batch".parse::<SyncMode>().unwrap(), SyncMode::Batch);
        assert!("sometimes".parse::<SyncMode>().is_err());
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
