//! Verification: the similarity of a candidate pair from their signatures, refined by
//! sampled containment where the MinHash estimate cannot tell on which side of a
//! threshold the pair falls. The batch scan and the chaining guard ask it; it reads
//! flat signature arrays so that a million documents cost one allocation, and only the
//! low 16 bits of each lane ([`crate::minhash::narrow`]): once the LSH buckets are
//! built from the full lanes, a batch keeps half of its signatures' memory.

use crate::config::DetectorConfig;
use crate::fingerprint::Fingerprint;
use crate::lsh::Slot;
use crate::minhash::count_equal;

use super::sample::{SampledContainment, needs_sampling};
use super::similarity::Similarity;

/// `fingerprints` as flat arrays: every signature's lanes one after another, and the
/// shingle counts.
pub(crate) fn flatten(fingerprints: &[Fingerprint]) -> (Vec<u32>, Vec<u32>) {
    let lanes = fingerprints.iter().flat_map(|f| f.signature.lanes().iter().copied()).collect();
    let sizes = fingerprints.iter().map(|f| f.shingle_count).collect();
    (lanes, sizes)
}

/// What batch verification knows about the documents: their signatures (one flat array
/// of `num_perm` narrowed lanes per document) and shingle counts and, optionally, a
/// [`SampledContainment`], which turns the noisy Jaccard-based containment estimate into
/// a sampled one.
#[derive(Clone, Copy)]
pub(crate) struct Verifier<'a> {
    config: &'a DetectorConfig,
    lanes: &'a [u16],
    sizes: &'a [u32],
    samples: Option<&'a dyn SampledContainment>,
}

impl std::fmt::Debug for Verifier<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("documents", &self.len()).finish_non_exhaustive()
    }
}

impl<'a> Verifier<'a> {
    /// A verifier over documents whose narrowed signatures lie one after another in
    /// `lanes` (`num_perm` each) with shingle counts `sizes`.
    pub(crate) fn new(
        config: &'a DetectorConfig,
        lanes: &'a [u16],
        sizes: &'a [u32],
        samples: Option<&'a dyn SampledContainment>,
    ) -> Self {
        debug_assert_eq!(lanes.len(), sizes.len() * config.num_perm);
        Verifier { config, lanes, sizes, samples }
    }

    /// The config verdicts are made under.
    pub(crate) fn config(&self) -> &DetectorConfig {
        self.config
    }

    /// Whether pairs near a containment threshold are sampled.
    pub(crate) fn is_sampled(&self) -> bool {
        self.samples.is_some()
    }

    /// Number of documents.
    pub(crate) fn len(&self) -> usize {
        self.sizes.len()
    }

    /// The narrowed signature lanes of document `doc`.
    pub(crate) fn lanes(&self, doc: Slot) -> &'a [u16] {
        let width = self.config.num_perm;
        &self.lanes[doc as usize * width..(doc as usize + 1) * width]
    }

    /// The shingle count of document `doc`.
    pub(crate) fn size(&self, doc: Slot) -> u32 {
        self.sizes[doc as usize]
    }

    /// Similarity of document `a` to document `b`. Starts from the MinHash estimate. When
    /// samples are known and that estimate cannot tell on which side of a containment
    /// threshold (`containment_threshold`, `support_containment`) the pair falls, the
    /// containment of the shorter in the longer is measured on their shingle sketches,
    /// and Jaccard is derived from it.
    pub(crate) fn similarity(&self, a: Slot, b: Slot) -> Similarity {
        let (size_a, size_b) = (self.size(a), self.size(b));
        let equal = count_equal(self.lanes(a), self.lanes(b));
        self.refine(a, b, Similarity::of_equal(equal, self.config.num_perm, size_a, size_b))
    }

    /// [`Verifier::similarity`] of a pair whose MinHash `estimate` is known.
    pub(crate) fn refine(&self, a: Slot, b: Slot, estimate: Similarity) -> Similarity {
        let (size_a, size_b) = (self.size(a), self.size(b));
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
