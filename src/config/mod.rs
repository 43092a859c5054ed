//! Every setting, in serializable types each validated in one place, one file per
//! consumer: `DetectorConfig`, every knob of the pipeline, in `detector.rs` (the CLI and
//! the server each build exactly one and never change it after); `StoreConfig`, the
//! durable store's settings, in `store.rs`; `ServiceConfig`, the gRPC server's own
//! settings around one `DetectorConfig` and one `StoreConfig`, in `service.rs`. All of
//! them are re-exported here, so callers name `crate::config::X` whatever file holds it.
//! Durations and sizes are written one way everywhere (`30s`, `7d`, `8MiB`; `units.rs`).

mod detector;
mod service;
mod store;
mod units;

pub use detector::{
    ChromeConfig, DEFAULT_CHROME_CAPACITY, DEFAULT_CHROME_MIN_DOCS_GLOBAL,
    DEFAULT_CHROME_MIN_DOCS_PER_SOURCE, DEFAULT_CONTAINMENT_BANDS, DEFAULT_CONTAINMENT_THRESHOLD,
    DEFAULT_JACCARD_THRESHOLD, DEFAULT_LSH_THRESHOLD, DEFAULT_MAX_MATCHES, DEFAULT_MERGE_SUPPORT,
    DEFAULT_NUM_PERM, DEFAULT_SEED, DEFAULT_SHINGLE_SIZE, DEFAULT_SUPPORT_CONTAINMENT,
    DEFAULT_SUPPORT_SAMPLE, DetectorConfig, SignatureScheme,
};
pub use service::{
    DEFAULT_HASHING_QUEUE, DEFAULT_KEPT_TEXT_BYTES, DEFAULT_LISTEN, DEFAULT_MAX_CONCURRENT_STREAMS,
    DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION, DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_REQUEST_TIMEOUT, DEFAULT_SHUTDOWN_GRACE, LimitsConfig, LogFormat,
    MAX_MAX_MESSAGE_BYTES, MIN_MAX_MESSAGE_BYTES, ServiceConfig, TlsConfig,
};
pub use store::{
    DEFAULT_BATCH_INTERVAL, DEFAULT_COMPACT_FRACTION, DEFAULT_COMPACT_MIN_DEAD, DEFAULT_DATA_DIR,
    StoreConfig, SyncMode,
};
pub use units::{format_duration, format_size, parse_duration, parse_size};
