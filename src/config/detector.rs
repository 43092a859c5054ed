//! `DetectorConfig`: every knob of the pipeline in one serializable type, validated in
//! one place, with its defaults. A durable store keeps the config it was built with in
//! its manifest (JSON, missing fields taking the defaults here), so a field's serde name
//! or default cannot change without changing what existing stores read.

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
pub const DEFAULT_CHROME_MIN_DOCS_PER_SOURCE: u32 = 3;
/// Documents over all sources, mostly of different stories, that make a line chrome.
pub const DEFAULT_CHROME_MIN_DOCS_GLOBAL: u32 = 20;
/// Lines the chrome model tracks at most.
pub const DEFAULT_CHROME_CAPACITY: usize = 1 << 20;

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
    /// an article joins a cluster. A lone link cannot glue two stories together. 0
    /// turns the guard off, and with it the merging of stories online.
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
    /// Site-chrome learning. Serialized as `boilerplate`, the name data directories
    /// already store it under.
    #[serde(rename = "boilerplate")]
    pub chrome: ChromeConfig,
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

/// Settings of site-chrome learning; see [`crate::chrome`].
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
            min_docs_per_source: DEFAULT_CHROME_MIN_DOCS_PER_SOURCE,
            min_docs_global: DEFAULT_CHROME_MIN_DOCS_GLOBAL,
            capacity: DEFAULT_CHROME_CAPACITY,
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
            chrome: ChromeConfig::default(),
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
        let chrome = &self.chrome;
        if chrome.min_docs_per_source < 2 || chrome.min_docs_global < 2 {
            return Err(Error::config(
                "boilerplate",
                "min_docs_per_source and min_docs_global must be at least 2",
            ));
        }
        if chrome.capacity < 16 {
            return Err(Error::config("boilerplate.capacity", "must be at least 16"));
        }
        Ok(())
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
                chrome: ChromeConfig { min_docs_per_source: 1, ..Default::default() },
                ..Default::default()
            },
        ];
        for config in bad {
            assert!(matches!(config.validate(), Err(Error::InvalidConfig { .. })), "{config:?}");
        }
    }
}
