//! The text side of the pipeline in one call: normalize, shingle, MinHash. A
//! `Fingerprinter` is immutable and `Sync`, so any number of threads can use it at once;
//! each thread reuses its own scratch buffers, so a fingerprint costs one allocation.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use crate::config::DetectorConfig;
use crate::error::{Error, Result};
use crate::minhash::{MinHasher, Signature};
use crate::shingle::{ShingleScratch, distinct_shingle_hashes_into};
use crate::text::normalize_into;

/// What the index keeps of an article's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// MinHash signature of the shingle set.
    pub signature: Signature,
    /// Distinct shingles in the set (needed to turn Jaccard into containment).
    pub shingle_count: u32,
}

/// Turns text into fingerprints under one validated config.
#[derive(Debug, Clone)]
pub struct Fingerprinter {
    config: DetectorConfig,
    hasher: MinHasher,
}

#[derive(Default)]
struct Scratch {
    normalized: String,
    hashes: Vec<u64>,
    shingles: ShingleScratch,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Fingerprinter {
    /// Validates `config` and prepares the permutation family.
    pub fn new(config: DetectorConfig) -> Result<Self> {
        config.validate()?;
        let hasher = MinHasher::with_scheme(config.num_perm, config.seed, config.scheme);
        Ok(Fingerprinter { config, hasher })
    }

    /// The config this fingerprinter was built with.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// The fingerprint of `text`. A text with no word characters is an
    /// [`Error::InvalidInput`] on field `text`.
    pub fn fingerprint(&self, text: &str) -> Result<Fingerprint> {
        let mut lanes = vec![0u32; self.config.num_perm];
        let shingle_count = self.fingerprint_into(text, &mut lanes)?;
        Ok(Fingerprint { signature: Signature(lanes.into()), shingle_count })
    }

    /// Writes the signature of `text` into `lanes` (length `num_perm`) and returns its
    /// distinct shingle count: the allocation-free form batch callers use to fill one
    /// flat signature array.
    pub fn fingerprint_into(&self, text: &str, lanes: &mut [u32]) -> Result<u32> {
        SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            normalize_into(text, &mut scratch.normalized);
            if scratch.normalized.is_empty() {
                return Err(Error::input("text", "has no words"));
            }
            distinct_shingle_hashes_into(
                &scratch.normalized,
                self.config.shingle_size,
                self.config.seed,
                &mut scratch.hashes,
                &mut scratch.shingles,
            );
            self.hasher.signature_into(&scratch.hashes, lanes);
            Ok(u32::try_from(scratch.hashes.len()).unwrap_or(u32::MAX))
        })
    }

    /// The fingerprint of an already built, deduplicated shingle-hash set.
    pub fn fingerprint_hashes(&self, hashes: &[u64]) -> Fingerprint {
        let shingle_count = u32::try_from(hashes.len()).unwrap_or(u32::MAX);
        Fingerprint { signature: self.hasher.signature(hashes), shingle_count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "On Friday, January 28, Russian President Vladimir Putin discussed with \
        French President Emmanuel Macron negotiations on security guarantees.";

    #[test]
    fn golden_signature() {
        // Pins normalization, shingling, gxhash 3 and the permutation family together:
        // if this changes, stored signatures from earlier builds are no longer comparable.
        let fp = Fingerprinter::new(DetectorConfig::default()).unwrap().fingerprint(TEXT).unwrap();
        assert_eq!(fp.shingle_count, 14);
        assert_eq!(&fp.signature.lanes()[..8], GOLDEN);
    }

    const GOLDEN: &[u32] =
        &[1062896931, 736449315, 426077540, 116282088, 70036894, 753624818, 139685884, 197258851];

    #[test]
    fn empty_text_is_rejected() {
        let fingerprinter = Fingerprinter::new(DetectorConfig::default()).unwrap();
        assert!(matches!(
            fingerprinter.fingerprint(" \n--\t"),
            Err(Error::InvalidInput { field: "text", .. })
        ));
    }

    #[test]
    fn formatting_does_not_matter() {
        let fingerprinter = Fingerprinter::new(DetectorConfig::default()).unwrap();
        let plain = fingerprinter.fingerprint(TEXT).unwrap();
        let shouted = fingerprinter.fingerprint(&TEXT.to_uppercase().replace(' ', "\n  ")).unwrap();
        assert_eq!(plain, shouted);
    }
}
