//! `StoreConfig`: the durable store's settings (data directory, durability, time
//! window, compaction). Separate from the detector's because these may change between
//! runs of one store; durations are written as `"100ms"` or `"7d"`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
/// `--window`, compaction). Unlike [`DetectorConfig`](super::DetectorConfig) these may
/// change between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The data directory: manifest and log segments.
    pub data_dir: PathBuf,
    /// Durability of each append.
    pub sync: SyncMode,
    /// Background sync period in [`SyncMode::Batch`] (e.g. `"100ms"`).
    #[serde(with = "super::units::duration")]
    pub batch_interval: Duration,
    /// Keep only articles published within this span of the newest one (e.g. `"7d"`);
    /// `None` keeps everything.
    #[serde(
        default,
        with = "super::units::duration_option",
        skip_serializing_if = "Option::is_none"
    )]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_duration;

    #[test]
    fn store_config_validates_and_round_trips() {
        let config = StoreConfig {
            window: Some(parse_duration("window", "7d").unwrap()),
            ..Default::default()
        };
        config.validate().unwrap();
        assert_eq!(config.window_millis(), Some(7 * 24 * 3600 * 1000));
        let json = serde_json::to_string(&config).unwrap();
        assert!(json.contains("\"7d\""), "{json}");
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
}
