//! The text side of the pipeline: normalize (line by line), leave out chrome lines,
//! shingle, MinHash. A `Fingerprinter` is immutable and `Sync`, so any number of threads
//! can use it at once.
//!
//! Two steps, so that batch and online callers can learn chrome between them:
//! [`Fingerprinter::prepare`] normalizes and profiles the lines (what a
//! [`ChromeModel`] learns from), and [`Fingerprinter::sign`] shingles what is not
//! chrome and computes the signature. [`Fingerprinter::fingerprint`] does both with no
//! chrome model.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use crate::chrome::{ChromeModel, LineProfile};
use crate::config::DetectorConfig;
use crate::error::{Error, Result};
use crate::minhash::{MinHasher, Signature};
use crate::shingle::{ShingleScratch, distinct_token_shingles_into};
use crate::text::{Normalized, normalize_lines_into};

/// What the index keeps of an article's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// MinHash signature of the shingle set.
    pub signature: Signature,
    /// Distinct shingles in the set (needed to turn Jaccard into containment).
    pub shingle_count: u32,
}

/// One article after the text stage: its normalized lines and their profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreparedText {
    /// Normalized text with line boundaries.
    pub normalized: Normalized,
    /// Source and line hashes, what chrome is learned from.
    pub profile: LineProfile,
}

/// The outcome of [`Fingerprinter::sign`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedText {
    /// Signature and shingle count of the lines that are not chrome.
    pub fingerprint: Fingerprint,
    /// Indices of the lines (non-empty normalized lines, in order) left out as chrome.
    pub chrome_lines: Vec<u32>,
    /// The shingle set the signature was computed from: distinct hashes, in the order
    /// their windows first occur in the text (not sorted).
    pub shingles: Vec<u64>,
}

/// Turns text into fingerprints under one validated config.
#[derive(Debug, Clone)]
pub struct Fingerprinter {
    config: DetectorConfig,
    hasher: MinHasher,
}

/// Scratch space of [`Fingerprinter::fingerprint_into`], reused per thread.
#[derive(Default)]
struct Scratch {
    prepared: PreparedText,
    hashes: Vec<u64>,
    shingles: ShingleScratch,
}

/// Scratch space of [`Fingerprinter::sign_without`], reused per thread.
#[derive(Default)]
struct SignScratch {
    /// The text without its chrome lines.
    body: Normalized,
    shingles: ShingleScratch,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
    static PREPARED: RefCell<PreparedText> = RefCell::new(PreparedText::default());
    static SIGN_SCRATCH: RefCell<SignScratch> = RefCell::new(SignScratch::default());
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

    /// The permutation family.
    pub fn hasher(&self) -> &MinHasher {
        &self.hasher
    }

    /// The fingerprint of `text` with every line kept. A text with no word characters is
    /// an [`Error::InvalidInput`] on field `text`.
    pub fn fingerprint(&self, text: &str) -> Result<Fingerprint> {
        PREPARED.with(|prepared| {
            let prepared = &mut *prepared.borrow_mut();
            self.prepare_into(text, "", prepared)?;
            Ok(self.sign(prepared, None).fingerprint)
        })
    }

    /// Writes the signature of `text` (every line kept, as [`Fingerprinter::fingerprint`])
    /// into `lanes` (length `num_perm`) and returns its distinct shingle count: the
    /// allocation-free form batch callers use to fill one flat signature array.
    pub fn fingerprint_into(&self, text: &str, lanes: &mut [u32]) -> Result<u32> {
        SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            normalize_lines_into(
                text,
                self.config.text_options(),
                &mut scratch.prepared.normalized,
            );
            if scratch.prepared.normalized.text.is_empty() {
                return Err(Error::input("text", "has no words"));
            }
            let normalized = &scratch.prepared.normalized;
            distinct_token_shingles_into(
                &normalized.text,
                normalized.word_starts(),
                self.config.shingle_size,
                self.config.seed,
                &mut scratch.hashes,
                &mut scratch.shingles,
            );
            self.hasher.signature_into(&scratch.hashes, lanes);
            Ok(u32::try_from(scratch.hashes.len()).unwrap_or(u32::MAX))
        })
    }

    /// Normalizes `text` from `source` and profiles its lines.
    pub fn prepare(&self, text: &str, source: &str) -> Result<PreparedText> {
        let mut prepared = PreparedText::default();
        self.prepare_into(text, source, &mut prepared)?;
        Ok(prepared)
    }

    /// Like [`Fingerprinter::prepare`], reusing `out`'s allocations.
    pub fn prepare_into(&self, text: &str, source: &str, out: &mut PreparedText) -> Result<()> {
        normalize_lines_into(text, self.config.text_options(), &mut out.normalized);
        if out.normalized.text.is_empty() {
            return Err(Error::input("text", "has no words"));
        }
        out.profile = if self.config.chrome.enabled {
            LineProfile::new(source, &out.normalized)
        } else {
            LineProfile::default()
        };
        Ok(())
    }

    /// Shingles and signs `prepared`, leaving out the lines `chrome` classifies as chrome.
    /// When the lines left would hold fewer than `shingle_size` tokens, nothing is left
    /// out: a page that is all chrome by our counts is still somebody's article.
    pub fn sign(&self, prepared: &PreparedText, chrome: Option<&ChromeModel>) -> SignedText {
        let chrome_lines = match chrome {
            Some(model) => self.chrome_lines(prepared, model),
            None => Vec::new(),
        };
        self.sign_without(prepared, chrome_lines)
    }

    /// The lines of `prepared` that `model` classifies as chrome (none when chrome
    /// learning is off).
    pub fn chrome_lines(&self, prepared: &PreparedText, model: &ChromeModel) -> Vec<u32> {
        if !self.config.chrome.enabled {
            return Vec::new();
        }
        let profile = &prepared.profile;
        (0..profile.lines.len() as u32)
            .filter(|&i| model.is_chrome(profile.source, profile.lines[i as usize]))
            .collect()
    }

    /// Shingles and signs `prepared` without the lines `chrome_lines` (indices, ascending),
    /// under the same rule as [`Fingerprinter::sign`].
    pub fn sign_without(&self, prepared: &PreparedText, chrome_lines: Vec<u32>) -> SignedText {
        debug_assert!(chrome_lines.is_sorted());
        let k = self.config.shingle_size;
        let seed = self.config.seed;
        SIGN_SCRATCH.with(|scratch| {
            let SignScratch { body, shingles: table } = &mut *scratch.borrow_mut();
            let mut shingles = Vec::new();
            let mut shingle = |text: &Normalized| {
                let starts = text.word_starts();
                distinct_token_shingles_into(&text.text, starts, k, seed, &mut shingles, table);
            };
            let normalized = &prepared.normalized;
            if chrome_lines.is_empty() {
                shingle(normalized);
                return self.signed(shingles, chrome_lines);
            }
            normalized.without_lines_into(&chrome_lines, body);
            if body.word_starts().len() < k {
                shingle(normalized);
                self.signed(shingles, Vec::new())
            } else {
                shingle(body);
                self.signed(shingles, chrome_lines)
            }
        })
    }

    fn signed(&self, shingles: Vec<u64>, chrome_lines: Vec<u32>) -> SignedText {
        SignedText { fingerprint: self.fingerprint_hashes(&shingles), chrome_lines, shingles }
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
    use crate::config::ChromeConfig;

    const TEXT: &str = "On Friday, January 28, Russian President Vladimir Putin discussed with \
        French President Emmanuel Macron negotiations on security guarantees.";

    #[test]
    fn golden_signature() {
        // Pins normalization, shingling, gxhash 3 and the permutation family together:
        // if this changes, stored signatures from earlier builds are no longer comparable.
        // A change here must bump the data directories' hash-scheme version.
        let fp = Fingerprinter::new(DetectorConfig::default()).unwrap().fingerprint(TEXT).unwrap();
        assert_eq!(fp.shingle_count, 14);
        assert_eq!(&fp.signature.lanes()[..8], GOLDEN);
    }

    const GOLDEN: &[u32] =
        &[1062896931, 736449315, 426077540, 116282088, 70036894, 753624818, 139685884, 197258851];

    #[test]
    fn every_path_signs_the_shingle_set_of_the_normalized_text() {
        // The independent truth: the normalized string shingled by searching its spaces
        // and sorted (`shingle_hashes`), then signed; against the token-start paths of
        // `fingerprint_into`, `prepare` + `sign`, and `sign_without` (chrome left out).
        use crate::shingle::shingle_hashes;
        use crate::text::normalize;
        let fingerprinter = Fingerprinter::new(DetectorConfig::default()).unwrap();
        let (k, seed) = (fingerprinter.config().shingle_size, fingerprinter.config().seed);
        let texts = [
            TEXT.to_owned(),
            format!(
                "Home » News\n{TEXT}\nShares rose 3.5 percent, to 1,140.4 mln dlrs.\n“Quote” — end"
            ),
            "Путин и Макрон обсудили\n東京大学 2020年\nU.S. snake_case a.b".to_owned(),
            "one two".to_owned(),
        ];
        for text in &texts {
            let expected_set = shingle_hashes(&normalize(text), k, seed);
            let expected = fingerprinter.fingerprint_hashes(&expected_set);
            let mut lanes = vec![0u32; fingerprinter.config().num_perm];
            let count = fingerprinter.fingerprint_into(text, &mut lanes).unwrap();
            assert_eq!((&lanes[..], count), (expected.signature.lanes(), expected.shingle_count));
            let prepared = fingerprinter.prepare(text, "site").unwrap();
            let signed = fingerprinter.sign(&prepared, None);
            assert_eq!(signed.fingerprint, expected);
            let mut set = signed.shingles.clone();
            set.sort_unstable();
            assert_eq!(set, expected_set, "{text:?}");
            // Leaving out line 0: the set of the other lines joined.
            let rest: Vec<&str> = prepared.normalized.lines().skip(1).collect();
            let rest_set = shingle_hashes(&rest.join(" "), k, seed);
            let without = fingerprinter.sign_without(&prepared, vec![0]);
            if rest.join(" ").split(' ').count() >= k {
                let mut set = without.shingles.clone();
                set.sort_unstable();
                assert_eq!(set, rest_set, "{text:?}");
                assert_eq!(without.fingerprint, fingerprinter.fingerprint_hashes(&rest_set));
            } else {
                assert_eq!(without.fingerprint, expected, "too little left: nothing left out");
            }
        }
    }

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

    #[test]
    fn chrome_lines_are_left_out() {
        let fingerprinter = Fingerprinter::new(DetectorConfig::default()).unwrap();
        let mut model = ChromeModel::new(&ChromeConfig::default());
        for n in 0..5 {
            let other = format!("Story {n} has its own body text, long enough to be content.");
            let prepared =
                fingerprinter.prepare(&format!("{other}\nLeave a Comment"), "site").unwrap();
            model.observe(&prepared.profile);
        }
        let page = fingerprinter.prepare(&format!("{TEXT}\nLeave a Comment"), "site").unwrap();
        let signed = fingerprinter.sign(&page, Some(&model));
        assert_eq!(signed.chrome_lines, [1]);
        assert_eq!(signed.fingerprint, fingerprinter.fingerprint(TEXT).unwrap());
        // Unlearned, the footer counts.
        assert_ne!(fingerprinter.sign(&page, None).fingerprint, signed.fingerprint);
        // A page that would be left with almost nothing keeps its lines.
        let bare = fingerprinter.prepare("Leave a Comment", "site").unwrap();
        assert!(fingerprinter.sign(&bare, Some(&model)).chrome_lines.is_empty());
    }
}
