//! From signatures to stories: the similarity of two fingerprints, the decision whether
//! one article copies another, union-find for batch clustering and the choice of each
//! cluster's origin (earliest published, then earliest seen).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::config::DetectorConfig;
use crate::fingerprint::Fingerprint;
use crate::lsh::Slot;
use crate::minhash::{MinHasher, estimate_containment, estimate_jaccard};

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
    pub fn of(a: &[u32], size_a: u32, b: &[u32], size_b: u32) -> Self {
        let jaccard = estimate_jaccard(a, b);
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

    /// The representative of `x`'s set, without shortening paths: usable from many
    /// threads at once.
    pub fn root(&self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            x = self.parent[x as usize];
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

/// What sampled containment needs of one document: its whole shingle set and the
/// shingles that gave its MinHash lanes their minima, both as the low 32 bits of the
/// shingle hash, sorted and distinct.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShingleSample {
    /// Every shingle.
    pub shingles: Box<[u32]>,
    /// The shingles behind the lane minima: a uniform random subset of `shingles`.
    pub minima: Box<[u32]>,
}

impl ShingleSample {
    /// The sample of a document with shingle set `shingles` (sorted, distinct hashes)
    /// and signature `lanes` made by `hasher`.
    pub fn new(hasher: &MinHasher, shingles: &[u64], lanes: &[u32]) -> Self {
        let sorted_low = |values: Vec<u32>| {
            let mut values = values;
            values.sort_unstable();
            values.dedup();
            values.into_boxed_slice()
        };
        ShingleSample {
            shingles: sorted_low(shingles.iter().map(|&h| h as u32).collect()),
            minima: Self::minima(hasher, lanes),
        }
    }

    /// The shingles behind the lane minima of `lanes` (made by `hasher`), sorted and
    /// distinct: all a stored signature says about its own shingles.
    pub fn minima(hasher: &MinHasher, lanes: &[u32]) -> Box<[u32]> {
        let mut minima: Vec<u32> = hasher.argmin_shingles(lanes).collect();
        minima.sort_unstable();
        minima.dedup();
        minima.into_boxed_slice()
    }

    /// Share of this document's sampled shingles found in `other`'s set: an unbiased
    /// estimate of the containment of this document in the other.
    pub fn contained_in(&self, other: &ShingleSample) -> f64 {
        sampled_containment(&self.minima, &other.shingles)
    }
}

/// Share of `minima` (a document's lane-minimum shingles, sorted) found in `shingles`
/// (another document's whole set, sorted): the containment of the first in the second.
pub fn sampled_containment(minima: &[u32], shingles: &[u32]) -> f64 {
    if minima.is_empty() {
        return 0.0;
    }
    count_common(minima, shingles) as f64 / minima.len() as f64
}

/// Elements of sorted `small` present in sorted `large` (both distinct). Both advance
/// together: `large` is skipped a block at a time, and within a block the place of the
/// next element is the count of smaller entries, a compare the compiler vectorizes,
/// instead of a search whose branches mispredict on random hashes (about 2x faster than
/// galloping on sets of 60 to 3,000 shingles).
fn count_common(small: &[u32], large: &[u32]) -> usize {
    // Wider blocks pay when the elements sought lie far apart in `large`.
    if large.len() > 6 * small.len() {
        count_common_blocks::<16>(small, large)
    } else {
        count_common_blocks::<8>(small, large)
    }
}

fn count_common_blocks<const B: usize>(small: &[u32], large: &[u32]) -> usize {
    let n = large.len();
    let (mut at, mut hits) = (0, 0);
    for &x in small {
        while at + B <= n && large[at + B - 1] < x {
            at += B;
        }
        at += large[at..n.min(at + B)].iter().filter(|&&y| y < x).count();
        if at == n {
            break;
        }
        hits += usize::from(large[at] == x);
    }
    hits
}

/// Where sampled containment looks shingles up: for a pair of documents, the share of
/// the shorter's lane-minimum shingles found in the longer's whole set.
pub trait SampledContainment: Sync {
    /// Estimated containment of document `short` in document `long`.
    fn contained_in(&self, short: Slot, long: Slot) -> f64;
}

impl SampledContainment for &[ShingleSample] {
    fn contained_in(&self, short: Slot, long: Slot) -> f64 {
        self[short as usize].contained_in(&self[long as usize])
    }
}

/// `fingerprints` as the flat arrays a [`Verifier`] reads: every signature's lanes one
/// after another, and the shingle counts.
pub fn flatten(fingerprints: &[Fingerprint]) -> (Vec<u32>, Vec<u32>) {
    let lanes = fingerprints.iter().flat_map(|f| f.signature.lanes().iter().copied()).collect();
    let sizes = fingerprints.iter().map(|f| f.shingle_count).collect();
    (lanes, sizes)
}

/// What batch verification knows about the documents: their signatures (one flat array
/// of `num_perm` lanes per document) and shingle counts and, optionally, a
/// [`SampledContainment`], which turns the noisy Jaccard-based containment estimate into
/// a sampled one.
#[derive(Clone, Copy)]
pub struct Verifier<'a> {
    config: &'a DetectorConfig,
    lanes: &'a [u32],
    sizes: &'a [u32],
    samples: Option<&'a dyn SampledContainment>,
}

impl std::fmt::Debug for Verifier<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("documents", &self.len()).finish_non_exhaustive()
    }
}

impl<'a> Verifier<'a> {
    /// A verifier over documents whose signatures lie one after another in `lanes`
    /// (`num_perm` each) with shingle counts `sizes`.
    pub fn new(
        config: &'a DetectorConfig,
        lanes: &'a [u32],
        sizes: &'a [u32],
        samples: Option<&'a dyn SampledContainment>,
    ) -> Self {
        debug_assert_eq!(lanes.len(), sizes.len() * config.num_perm);
        Verifier { config, lanes, sizes, samples }
    }

    /// The config verdicts are made under.
    pub fn config(&self) -> &DetectorConfig {
        self.config
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// True when there are no documents.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// The signature lanes of document `doc`.
    pub fn lanes(&self, doc: Slot) -> &'a [u32] {
        let width = self.config.num_perm;
        &self.lanes[doc as usize * width..(doc as usize + 1) * width]
    }

    /// The shingle count of document `doc`.
    pub fn size(&self, doc: Slot) -> u32 {
        self.sizes[doc as usize]
    }

    /// Similarity of document `a` to document `b`. Starts from the MinHash estimate. When
    /// samples are known and that estimate cannot tell on which side of a containment
    /// threshold (`containment_threshold`, `support_containment`) the pair falls, the
    /// containment of the shorter in the longer is re-estimated by looking the shorter's
    /// lane-minimum shingles up in the longer's set, and Jaccard is derived from it.
    pub fn similarity(&self, a: Slot, b: Slot) -> Similarity {
        let (size_a, size_b) = (self.size(a), self.size(b));
        let estimate = Similarity::of(self.lanes(a), size_a, self.lanes(b), size_b);
        let Some(samples) = self.samples else { return estimate };
        if !needs_sampling(self.config, &estimate, size_a, size_b) {
            return estimate;
        }
        let (short, long) = if size_a <= size_b { (a, b) } else { (b, a) };
        let contained = samples.contained_in(short, long);
        let refined = Similarity::from_containment(contained, self.size(short), self.size(long));
        if short == a { refined } else { refined.reversed() }
    }
}

/// Whether a MinHash estimate is too noisy to decide a pair of sizes `size_a` and
/// `size_b` under `config`: it is not a duplicate by Jaccard, and the estimated
/// containment of the shorter lies within three standard errors of a containment
/// threshold (`containment_threshold` or `support_containment`). The estimate is
/// `J (s + l) / ((1 + J) s)`, so its error is the Jaccard error
/// `sqrt(J (1 - J) / num_perm)` times `(s + l) / (s (1 + J)^2)`: large when a short text
/// sits in a long one. (A Jaccard at or above the threshold decides both questions: it
/// makes a duplicate, and the shorter's containment is then at least `2J / (1 + J)`,
/// above `support_containment` for the defaults.)
pub fn needs_sampling(
    config: &DetectorConfig,
    estimate: &Similarity,
    size_a: u32,
    size_b: u32,
) -> bool {
    if estimate.jaccard >= config.jaccard_threshold {
        return false;
    }
    let (short, long) = (f64::from(size_a.min(size_b).max(1)), f64::from(size_a.max(size_b)));
    let lanes = config.num_perm as f64;
    let jaccard = estimate.jaccard.max(1.0 / lanes);
    let jaccard_error = (jaccard * (1.0 - jaccard) / lanes).sqrt();
    let error = jaccard_error * (short + long) / (short * (1.0 + jaccard).powi(2));
    let contained = estimate.containment_of_shorter();
    [config.containment_threshold, config.support_containment]
        .iter()
        .any(|threshold| (contained - threshold).abs() < 3.0 * error)
}

/// One document's place in a batch clustering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment {
    /// Index of the cluster's origin document (the cluster is named after it).
    pub origin: usize,
    /// Similarity of this document to the origin (1.0 for the origin itself).
    pub to_origin: Similarity,
    /// The strongest accepted link touching this document: the other document and the
    /// similarity of this one to it. `None` for a document alone in its cluster.
    pub link: Option<(usize, Similarity)>,
}

/// A verified copy link between two documents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// One document.
    pub a: Slot,
    /// The other.
    pub b: Slot,
    /// Similarity of `a` to `b`.
    pub similarity: Similarity,
}

/// The order in which [`assign_clusters`] takes links: strongest first (Jaccard, then
/// containment), ties by document.
pub fn link_order(x: &Link, y: &Link) -> Ordering {
    x.similarity.rank(&y.similarity).then(x.a.cmp(&y.a)).then(x.b.cmp(&y.b))
}

/// Clusters documents from verified links and names each cluster by its origin: the
/// member with the smallest [`origin_key`].
///
/// Links are taken strongest first ([`link_order`]). A link whose ends are already in
/// one cluster changes nothing. Otherwise the chaining guard decides: two clusters merge
/// when their origins are related, or else when at least `merge_support` of the pairs
/// between their earliest `support_sample` members are ("related": containment of the
/// shorter in the longer at least `support_containment`). Two single documents merge
/// on their link alone; a cluster of many copies does not merge with another story
/// because one member of it quotes that story.
///
/// `to_origin` is left at 1.0; [`assign_clusters`] fills it in.
pub fn cluster_links(
    verifier: &Verifier<'_>,
    published: &[Option<i64>],
    mut links: Vec<Link>,
) -> Vec<Assignment> {
    // Stable and adaptive: linear when the caller sorted already.
    links.sort_by(link_order);
    let mut clusterer = Clusterer::new(verifier, published);
    for link in links {
        clusterer.offer(link);
    }
    clusterer.finish()
}

/// [`cluster_links`] one link at a time, for callers that produce links in
/// [`link_order`] lazily: [`Clusterer::joined`] lets them skip the verification of a
/// pair whose documents are already in one cluster (taking such a link changes nothing).
#[derive(Debug)]
pub struct Clusterer<'v, 'a> {
    verifier: &'v Verifier<'a>,
    published: &'v [Option<i64>],
    sets: UnionFind,
    /// Per root of a cluster of two or more: its earliest members, at most
    /// `support_sample`, in origin order. Empty for a single document (whose sample is
    /// itself), so that a million singletons cost no allocation.
    samples: Vec<Vec<u32>>,
    link_of: Vec<Option<(usize, Similarity)>>,
    /// Per root: the merge that last changed its sample (0: never). With the root it
    /// names a sample exactly, so a refused merge can be remembered.
    changed: Vec<u32>,
    merges: u32,
    /// Cluster pairs (root and `changed` of each, in the order asked) the chaining guard
    /// refused: the guard's answer depends on the two samples only, and between two big
    /// stories that quote each other every cross link would ask again.
    refused: std::collections::HashSet<u128>,
}

impl<'v, 'a> Clusterer<'v, 'a> {
    /// Every document of `verifier` alone in its cluster.
    pub fn new(verifier: &'v Verifier<'a>, published: &'v [Option<i64>]) -> Self {
        let n = verifier.len();
        debug_assert_eq!(published.len(), n);
        Clusterer {
            verifier,
            published,
            sets: UnionFind::new(n),
            samples: vec![Vec::new(); n],
            link_of: vec![None; n],
            changed: vec![0; n],
            merges: 0,
            refused: std::collections::HashSet::new(),
        }
    }

    /// True when `a` and `b` are in one cluster already.
    pub fn joined(&mut self, a: Slot, b: Slot) -> bool {
        self.sets.find(a) == self.sets.find(b)
    }

    /// [`Clusterer::joined`] through a shared reference (no path shortening), so that
    /// many threads can check links ahead of their turn.
    pub fn joined_now(&self, a: Slot, b: Slot) -> bool {
        self.sets.root(a) == self.sets.root(b)
    }

    fn sample(&self, root: u32) -> &[u32] {
        let sample = &self.samples[root as usize];
        if sample.is_empty() {
            // A singleton's root is the document itself.
            std::slice::from_ref(&self.sets.parent[root as usize])
        } else {
            sample
        }
    }

    /// Takes the next link; links must come in [`link_order`].
    pub fn offer(&mut self, link: Link) {
        let config = self.verifier.config;
        let (ra, rb) = (self.sets.find(link.a), self.sets.find(link.b));
        if ra == rb {
            return;
        }
        let (sa, sb) = (self.sample(ra), self.sample(rb));
        let guarded = config.merge_support > 0.0 && (sa.len() > 1 || sb.len() > 1);
        if guarded {
            let name = |root: u32| u128::from(root) << 32 | u128::from(self.changed[root as usize]);
            let pair = name(ra) << 64 | name(rb);
            if self.refused.contains(&pair) {
                return;
            }
            if !supported(self.verifier, sa, sb) {
                self.refused.insert(pair);
                return;
            }
        }
        let published = self.published;
        let key = |doc: u32| origin_key(published[doc as usize], doc as usize);
        // Both samples are in origin order: merge them, keeping the earliest.
        let keep = config.support_sample.min(sa.len() + sb.len());
        let mut merged: Vec<u32> = Vec::with_capacity(keep);
        let (mut i, mut j) = (0, 0);
        while merged.len() < keep {
            let take_left = j == sb.len() || (i < sa.len() && key(sa[i]) < key(sb[j]));
            if take_left {
                merged.push(sa[i]);
                i += 1;
            } else {
                merged.push(sb[j]);
                j += 1;
            }
        }
        self.sets.union(ra, rb);
        let root = self.sets.find(ra) as usize;
        self.samples[ra as usize] = Vec::new();
        self.samples[rb as usize] = Vec::new();
        self.samples[root] = merged;
        self.merges += 1;
        self.changed[root] = self.merges;
        self.link_of[link.a as usize].get_or_insert((link.b as usize, link.similarity));
        self.link_of[link.b as usize].get_or_insert((link.a as usize, link.similarity.reversed()));
    }

    /// Each document's cluster origin and strongest accepted link; `to_origin` is left
    /// at 1.0 for [`Assignment::fill_to_origin`].
    pub fn finish(mut self) -> Vec<Assignment> {
        let n = self.verifier.len();
        (0..n)
            .map(|doc| {
                let root = self.sets.find(doc as u32);
                let origin = self.sample(root)[0] as usize;
                Assignment { origin, to_origin: IDENTICAL, link: self.link_of[doc] }
            })
            .collect()
    }
}

const IDENTICAL: Similarity = Similarity { jaccard: 1.0, containment: 1.0, containment_rev: 1.0 };

impl Assignment {
    /// Sets `to_origin` for document `doc`.
    pub fn fill_to_origin(&mut self, verifier: &Verifier<'_>, doc: usize) {
        self.to_origin = if self.origin == doc {
            IDENTICAL
        } else {
            verifier.similarity(doc as u32, self.origin as u32)
        };
    }
}

/// [`cluster_links`] and each document's similarity to its origin.
pub fn assign_clusters(
    verifier: &Verifier<'_>,
    published: &[Option<i64>],
    links: Vec<Link>,
) -> Vec<Assignment> {
    let mut assignments = cluster_links(verifier, published, links);
    for (doc, assignment) in assignments.iter_mut().enumerate() {
        assignment.fill_to_origin(verifier, doc);
    }
    assignments
}

/// The chaining guard's test (`left` and `right` are cluster samples, origin first): are
/// the origins related, or else at least `merge_support` of the pairs between `left` and
/// `right`? Stops as soon as the answer is known.
fn supported(verifier: &Verifier<'_>, left: &[u32], right: &[u32]) -> bool {
    let config = verifier.config;
    let related = |x: u32, y: u32| {
        verifier.similarity(x, y).containment_of_shorter() >= config.support_containment
    };
    if related(left[0], right[0]) {
        return true;
    }
    let pairs = left.len() * right.len();
    let needed = (config.merge_support * pairs as f64).ceil() as usize;
    // The origin pair was the first one tried, and failed.
    let (mut hits, mut misses) = (0, 1);
    for (i, &x) in left.iter().enumerate() {
        for (j, &y) in right.iter().enumerate() {
            if i == 0 && j == 0 {
                continue;
            }
            if related(x, y) {
                hits += 1;
            } else {
                misses += 1;
            }
            if hits >= needed {
                return true;
            }
            if pairs - misses < needed {
                return false;
            }
        }
    }
    hits >= needed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_common_counts_the_intersection() {
        let large: Vec<u32> = (0..1000).map(|i| i * 3).collect();
        for small in [
            vec![],
            vec![0],
            vec![2999],
            vec![3000],
            vec![1, 3, 4, 6, 2997, 2999],
            (0..500).collect(),
        ] {
            let expected = small.iter().filter(|x| large.binary_search(x).is_ok()).count();
            assert_eq!(count_common(&small, &large), expected, "{small:?}");
        }
        assert_eq!(count_common(&[5], &[]), 0);
    }

    proptest::proptest! {
        #[test]
        fn count_common_matches_set_intersection(
            small in proptest::collection::btree_set(0u32..5000, 0..200),
            large in proptest::collection::btree_set(0u32..5000, 0..3000),
        ) {
            let expected = small.intersection(&large).count();
            let small: Vec<u32> = small.into_iter().collect();
            let large: Vec<u32> = large.into_iter().collect();
            proptest::prop_assert_eq!(count_common(&small, &large), expected);
        }
    }

    #[test]
    fn chaining_guard_keeps_a_quoted_story_out() {
        use crate::fingerprint::Fingerprinter;
        let story = "The finance ministry said on Monday that tax revenue rose for the third quarter \
            in a row, helped by higher fuel duties and a recovery in corporate profits, and officials \
            expect the budget deficit to narrow to two percent of output next year.";
        let quoted = "Heavy rain flooded hundreds of homes in the northern valley overnight, and rescue \
            teams used boats to reach families stranded on rooftops while the river kept rising.";
        let quoting = format!("{story}\n{quoted}");
        let texts = [story, story, quoting.as_str(), quoted];
        for (merge_support, glued) in
            [(DetectorConfig::default().merge_support, false), (0.0, true)]
        {
            let config = DetectorConfig { merge_support, ..DetectorConfig::default() };
            let fingerprinter = Fingerprinter::new(config.clone()).unwrap();
            let prints: Vec<Fingerprint> =
                texts.iter().map(|t| fingerprinter.fingerprint(t).unwrap()).collect();
            let (lanes, sizes) = flatten(&prints);
            let verifier = Verifier::new(&config, &lanes, &sizes, None);
            let mut links = Vec::new();
            for a in 0..4u32 {
                for b in 0..a {
                    let similarity = verifier.similarity(a, b);
                    if similarity.copy_kind(&config).is_some() {
                        links.push(Link { a, b, similarity });
                    }
                }
            }
            // The quoted article's only link is to the quoting copy.
            assert_eq!(links.iter().filter(|l| l.a == 3).count(), 1, "{links:?}");
            let published = [Some(1), Some(2), Some(3), Some(4)];
            let assignments = assign_clusters(&verifier, &published, links);
            assert_eq!(assignments[1].origin, 0);
            assert_eq!(assignments[2].origin, 0);
            assert_eq!(assignments[3].origin == 0, glued, "merge_support {merge_support}");
        }
    }

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
