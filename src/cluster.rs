//! From signatures to stories: the similarity of two fingerprints, the decision whether
//! one article copies another, union-find for batch clustering and the choice of each
//! cluster's origin (earliest published, then earliest seen).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::config::DetectorConfig;
use crate::fingerprint::Fingerprint;
use crate::lsh::{LshIndex, Slot};
use crate::minhash::{estimate_containment, estimate_jaccard};

/// How one article relates to another it was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
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
    pub fn of(a: &[u32], size_a: u32, b: &[u32], size_b: u32) -> Self {
        let jaccard = estimate_jaccard(a, b);
        Similarity {
            jaccard,
            containment: estimate_containment(jaccard, size_a, size_b),
            containment_rev: estimate_containment(jaccard, size_b, size_a),
        }
    }

    /// Containment of the shorter article in the longer.
    pub fn containment_of_shorter(&self) -> f64 {
        self.containment.max(self.containment_rev)
    }

    /// Whether this pair counts as a copy under `config`, and which kind.
    pub fn copy_kind(&self, config: &DetectorConfig) -> Option<Kind> {
        if self.jaccard >= config.jaccard_threshold {
            Some(Kind::Duplicate)
        } else if self.containment_of_shorter() >= config.containment_threshold {
            Some(Kind::PartialCopy)
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

/// Disjoint sets with path halving and union by size.
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    /// `n` singleton sets.
    pub fn new(n: usize) -> Self {
        UnionFind { parent: (0..n as u32).collect(), size: vec![1; n] }
    }

    /// The representative of `x`'s set.
    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grandparent = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grandparent;
            x = grandparent;
        }
        x
    }

    /// Merges the sets of `a` and `b`; returns false when they were already one.
    pub fn union(&mut self, a: u32, b: u32) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (big, small) =
            if self.size[ra as usize] >= self.size[rb as usize] { (ra, rb) } else { (rb, ra) };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
        true
    }
}

/// Sort key for "which copy came first": publication time (missing sorts last), then
/// input order.
pub fn origin_key(published: Option<i64>, order: usize) -> (i64, usize) {
    (published.unwrap_or(i64::MAX), order)
}

/// Verified copy links from document `slot` to earlier-indexed documents (smaller
/// slots), so that each pair is examined once across all documents.
pub fn links_to_earlier(
    config: &DetectorConfig,
    index: &LshIndex,
    fingerprints: &[Fingerprint],
    slot: Slot,
) -> Vec<(Slot, Similarity)> {
    let me = &fingerprints[slot as usize];
    let mut candidates = Vec::new();
    index.for_each_candidate(me.signature.lanes(), |other| {
        if other < slot {
            candidates.push(other);
        }
    });
    candidates.sort_unstable();
    candidates.dedup();
    candidates
        .into_iter()
        .filter_map(|other| {
            let similarity = Similarity::between(me, &fingerprints[other as usize]);
            similarity.copy_kind(config).map(|_| (other, similarity))
        })
        .collect()
}

/// One document's place in a batch clustering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment {
    /// Index of the cluster's origin document (the cluster is named after it).
    pub origin: usize,
    /// Similarity of this document to the origin (1.0 for the origin itself).
    pub to_origin: Similarity,
}

/// Clusters `n` documents from verified links with union-find and names each cluster by
/// its origin: the member with the smallest [`origin_key`].
pub fn assign_clusters(
    fingerprints: &[Fingerprint],
    published: &[Option<i64>],
    links: impl IntoIterator<Item = (Slot, Slot)>,
) -> Vec<Assignment> {
    let n = fingerprints.len();
    debug_assert_eq!(published.len(), n);
    let mut sets = UnionFind::new(n);
    for (a, b) in links {
        sets.union(a, b);
    }
    let mut origin_of_root = vec![usize::MAX; n];
    for doc in 0..n {
        let root = sets.find(doc as u32) as usize;
        let current = origin_of_root[root];
        if current == usize::MAX
            || origin_key(published[doc], doc) < origin_key(published[current], current)
        {
            origin_of_root[root] = doc;
        }
    }
    (0..n)
        .map(|doc| {
            let origin = origin_of_root[sets.find(doc as u32) as usize];
            let to_origin = Similarity::between(&fingerprints[doc], &fingerprints[origin]);
            Assignment { origin, to_origin }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_find_merges_transitively() {
        let mut sets = UnionFind::new(5);
        assert!(sets.union(0, 1));
        assert!(sets.union(3, 4));
        assert!(!sets.union(1, 0));
        sets.union(1, 4);
        assert_eq!(sets.find(0), sets.find(3));
        assert_ne!(sets.find(2), sets.find(0));
    }

    #[test]
    fn copy_kinds() {
        let config = DetectorConfig::default();
        let same = Similarity { jaccard: 0.9, containment: 0.95, containment_rev: 0.95 };
        let excerpt = Similarity { jaccard: 0.2, containment: 1.0, containment_rev: 0.2 };
        let unrelated = Similarity { jaccard: 0.05, containment: 0.1, containment_rev: 0.1 };
        assert_eq!(same.copy_kind(&config), Some(Kind::Duplicate));
        assert_eq!(excerpt.copy_kind(&config), Some(Kind::PartialCopy));
        assert_eq!(unrelated.copy_kind(&config), None);
    }

    #[test]
    fn origin_prefers_dated_then_order() {
        assert!(origin_key(Some(5), 9) < origin_key(Some(6), 0));
        assert!(origin_key(Some(5), 1) < origin_key(Some(5), 2));
        assert!(origin_key(Some(i64::MAX - 1), 9) < origin_key(None, 0));
    }
}
