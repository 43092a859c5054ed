//! How close two articles are and what that makes one of the other: estimated Jaccard
//! and containment both ways, and the copy kind those imply under a config. Every
//! decision of the online detector and the batch scan goes through these two types.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::config::DetectorConfig;
use crate::fingerprint::Fingerprint;
use crate::minhash::{count_equal, estimate_containment};

/// How one article relates to another it was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyKind {
    /// No earlier copy: the article starts a story.
    NewStory,
    /// Estimated Jaccard at or above the threshold.
    Duplicate,
    /// Below the Jaccard threshold, but the shorter of the two is mostly contained in
    /// the longer (an excerpt, a truncation, an added paragraph).
    PartialCopy,
}

/// Estimated similarity of article A to article B.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Similarity {
    /// Estimated Jaccard of the shingle sets.
    pub jaccard: f64,
    /// Estimated share of A's shingles found in B.
    pub containment: f64,
    /// Estimated share of B's shingles found in A.
    pub containment_rev: f64,
}

impl Similarity {
    /// Compares two fingerprints made under the same config.
    pub fn between(a: &Fingerprint, b: &Fingerprint) -> Self {
        Self::of(a.signature.lanes(), a.shingle_count, b.signature.lanes(), b.shingle_count)
    }

    /// Compares raw signature lanes with their shingle counts.
    pub fn of<T: Copy + Eq>(a: &[T], size_a: u32, b: &[T], size_b: u32) -> Self {
        debug_assert_eq!(a.len(), b.len());
        Self::of_equal(count_equal(a, b), a.len(), size_a, size_b)
    }

    /// The similarity of a pair whose signatures agree in `equal` of `lanes` lanes.
    pub fn of_equal(equal: u32, lanes: usize, size_a: u32, size_b: u32) -> Self {
        let jaccard = if lanes == 0 { 0.0 } else { f64::from(equal) / lanes as f64 };
        Similarity {
            jaccard,
            containment: estimate_containment(jaccard, size_a, size_b),
            containment_rev: estimate_containment(jaccard, size_b, size_a),
        }
    }

    /// The similarity of a pair whose shorter member (A, `size_a` shingles) is
    /// `contained` in the longer (B, `size_b`): both containments and the Jaccard follow.
    pub fn from_containment(contained: f64, size_a: u32, size_b: u32) -> Self {
        let (a, b) = (f64::from(size_a.max(1)), f64::from(size_b.max(1)));
        let shared = contained.clamp(0.0, 1.0) * a;
        let union = (a + b - shared).max(1.0);
        Similarity {
            jaccard: shared / union,
            containment: shared / a,
            containment_rev: (shared / b).min(1.0),
        }
    }

    /// The similarity of B to A.
    pub fn reversed(self) -> Self {
        Similarity { containment: self.containment_rev, containment_rev: self.containment, ..self }
    }

    /// Containment of the shorter article in the longer.
    pub fn containment_of_shorter(&self) -> f64 {
        self.containment.max(self.containment_rev)
    }

    /// Whether this pair counts as a copy under `config`, and which kind.
    pub fn copy_kind(&self, config: &DetectorConfig) -> Option<CopyKind> {
        if self.jaccard >= config.jaccard_threshold {
            Some(CopyKind::Duplicate)
        } else if self.containment_of_shorter() >= config.containment_threshold {
            Some(CopyKind::PartialCopy)
        } else {
            None
        }
    }

    /// Ranking of matches: higher Jaccard first, then higher containment.
    pub fn rank(&self, other: &Similarity) -> Ordering {
        other
            .jaccard
            .total_cmp(&self.jaccard)
            .then(other.containment_of_shorter().total_cmp(&self.containment_of_shorter()))
    }
}

/// Sort key for "which copy came first": publication time (missing sorts last), then
/// input order.
pub(crate) fn origin_key(published: Option<i64>, order: usize) -> (i64, usize) {
    (published.unwrap_or(i64::MAX), order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_kinds() {
        let config = DetectorConfig::default();
        let same = Similarity { jaccard: 0.9, containment: 0.95, containment_rev: 0.95 };
        let excerpt = Similarity { jaccard: 0.2, containment: 1.0, containment_rev: 0.2 };
        let unrelated = Similarity { jaccard: 0.05, containment: 0.1, containment_rev: 0.1 };
        assert_eq!(same.copy_kind(&config), Some(CopyKind::Duplicate));
        assert_eq!(excerpt.copy_kind(&config), Some(CopyKind::PartialCopy));
        assert_eq!(unrelated.copy_kind(&config), None);
    }

    #[test]
    fn origin_prefers_dated_then_order() {
        assert!(origin_key(Some(5), 9) < origin_key(Some(6), 0));
        assert!(origin_key(Some(5), 1) < origin_key(Some(5), 2));
        assert!(origin_key(Some(i64::MAX - 1), 9) < origin_key(None, 0));
    }
}
