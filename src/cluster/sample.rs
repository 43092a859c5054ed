//! Sampled containment: where a MinHash estimate of containment is too coarse (a short
//! excerpt inside a long story), the shingles behind the shorter document's lane minima
//! are a uniform sample of its set, and the share of them found in the longer
//! document's whole set estimates the containment without its error growing with the
//! length ratio. Costs the shingle sets in memory (low 32 bits, sorted).

use crate::config::DetectorConfig;
#[cfg(feature = "scan")]
use crate::lsh::Slot;
use crate::minhash::MinHasher;

use super::similarity::Similarity;

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
pub(crate) fn sampled_containment(minima: &[u32], shingles: &[u32]) -> f64 {
    if minima.is_empty() {
        return 0.0;
    }
    count_common(minima, shingles) as f64 / minima.len() as f64
}

/// Most entries a [`shingle_sketch`] keeps: 2 KiB for an article of any length.
pub const MAX_SKETCH: usize = 1024;

/// What the online detector keeps of a stored article's shingle set, so that the
/// containment of a shorter newcomer in it can be measured rather than estimated from
/// signatures: the distinct top 16 bits of the shingles' low 32 (sorted), at most
/// [`MAX_SKETCH`] of them, the smallest first. Two bytes a shingle instead of four,
/// at the cost of a false match rate of `len / 65536` that [`sketch_containment`]
/// corrects for.
pub fn shingle_sketch(shingles: &[u32]) -> Box<[u16]> {
    let mut sketch: Vec<u16> = shingles.iter().map(|&s| (s >> 16) as u16).collect();
    sketch.dedup();
    sketch.truncate(MAX_SKETCH);
    sketch.into_boxed_slice()
}

/// Containment of a document with shingle set `shingles` (low 32 bits, sorted) in the
/// document `sketch` was made from: the share of its shingles inside the sketch's
/// range found in the sketch, less the expected false matches.
pub fn sketch_containment(shingles: &[u32], sketch: &[u16]) -> f64 {
    sketch_keys_containment(shingles.iter().map(|&shingle| (shingle >> 16) as u16), sketch)
}

/// [`sketch_containment`] of a document given by its sketch keys (ascending, repeats
/// allowed): another sketch, when both documents are stored.
pub fn sketch_keys_containment(keys: impl IntoIterator<Item = u16>, sketch: &[u16]) -> f64 {
    let top = if sketch.len() < MAX_SKETCH { u16::MAX } else { sketch[sketch.len() - 1] };
    let (mut tested, mut found, mut at) = (0usize, 0usize, 0usize);
    let mut last = None;
    for key in keys {
        if key > top {
            break;
        }
        if last == Some(key) {
            continue;
        }
        last = Some(key);
        tested += 1;
        while at < sketch.len() && sketch[at] < key {
            at += 1;
        }
        found += usize::from(at < sketch.len() && sketch[at] == key);
    }
    if tested == 0 {
        return 0.0;
    }
    let false_rate = sketch.len() as f64 / (f64::from(top) + 1.0);
    let share = found as f64 / tested as f64;
    ((share - false_rate) / (1.0 - false_rate).max(f64::EPSILON)).clamp(0.0, 1.0)
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

#[cfg(feature = "scan")]
/// Where sampled containment looks shingles up: for a pair of documents, the share of
/// the shorter's lane-minimum shingles found in the longer's whole set.
pub(crate) trait SampledContainment: Sync {
    /// Estimated containment of document `short` in document `long`.
    fn contained_in(&self, short: Slot, long: Slot) -> f64;

    /// Whether documents `a` and `b` have the same shingle set.
    fn same_shingles(&self, a: Slot, b: Slot) -> bool;
}

#[cfg(feature = "scan")]
impl SampledContainment for &[ShingleSample] {
    fn contained_in(&self, short: Slot, long: Slot) -> f64 {
        self[short as usize].contained_in(&self[long as usize])
    }

    fn same_shingles(&self, a: Slot, b: Slot) -> bool {
        self[a as usize].shingles == self[b as usize].shingles
    }
}

#[cfg(feature = "scan")]
/// Every document's shingle set (low 32 bits, sorted) in one flat array, for sampled
/// containment.
#[derive(Debug, Default)]
pub(crate) struct ShingleSets {
    shingles: Vec<u32>,
    ends: Vec<usize>,
}

#[cfg(feature = "scan")]
impl ShingleSets {
    pub(crate) fn push(&mut self, shingles: &[u32]) {
        self.shingles.extend_from_slice(shingles);
        self.ends.push(self.shingles.len());
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn get(&self, doc: usize) -> &[u32] {
        let start = if doc == 0 { 0 } else { self.ends[doc - 1] };
        &self.shingles[start..self.ends[doc]]
    }
}

#[cfg(feature = "scan")]
/// Sampled containment over [`ShingleSets`]; the lane minima of the shorter
/// document are recovered from its signature when needed rather than stored.
pub(crate) struct ScanSamples<'a> {
    sets: &'a ShingleSets,
    lanes: &'a [u32],
    hasher: &'a crate::minhash::MinHasher,
    /// Names this source in the per-thread cache: an address would not do, since a
    /// later scan in the same process may get the same allocation for its lanes.
    run: u64,
}

#[cfg(feature = "scan")]
impl<'a> ScanSamples<'a> {
    pub(crate) fn new(
        sets: &'a ShingleSets,
        lanes: &'a [u32],
        hasher: &'a crate::minhash::MinHasher,
    ) -> Self {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ScanSamples { sets, lanes, hasher, run }
    }
}

#[cfg(feature = "scan")]
/// Lane minima recovered from one signature, keyed by source and slot.
type CachedMinima = ((u64, Slot), Box<[u32]>);

#[cfg(feature = "scan")]
thread_local! {
    /// Per thread, the lane minima last recovered: a short text is usually sampled
    /// against several longer copies in a row.
    static MINIMA: std::cell::RefCell<Vec<CachedMinima>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(feature = "scan")]
/// Minima kept per thread.
const MINIMA_CACHED: usize = 8;

#[cfg(feature = "scan")]
impl SampledContainment for ScanSamples<'_> {
    fn contained_in(&self, short: Slot, long: Slot) -> f64 {
        let key = (self.run, short);
        let set = self.sets.get(long as usize);
        MINIMA.with(|cache| {
            let cache = &mut *cache.borrow_mut();
            if let Some((_, minima)) = cache.iter().find(|(k, _)| *k == key) {
                return sampled_containment(minima, set);
            }
            let width = self.hasher.num_perm();
            let lanes = &self.lanes[short as usize * width..(short as usize + 1) * width];
            let minima = ShingleSample::minima(self.hasher, lanes);
            let contained = sampled_containment(&minima, set);
            if cache.len() == MINIMA_CACHED {
                cache.remove(0);
            }
            cache.push((key, minima));
            contained
        })
    }

    fn same_shingles(&self, a: Slot, b: Slot) -> bool {
        self.sets.get(a as usize) == self.sets.get(b as usize)
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
pub(crate) fn needs_sampling(
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Two scans one after the other whose signatures lie at the same address (as a
    /// second scan in one process may get the first one's freed allocation) each get
    /// their own documents' minima, not the other's from the per-thread cache.
    #[cfg(feature = "scan")]
    #[cfg(feature = "scan")]
    #[test]
    fn a_later_scan_at_the_same_address_gets_its_own_minima() {
        let hasher = MinHasher::new(128, 1);
        let set = |seed: u64| -> Vec<u64> {
            let mut set: Vec<u64> = (0..300u64)
                .map(|i| (i + seed * 1000).wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .collect();
            set.sort_unstable();
            set
        };
        let low = |set: &[u64]| -> Vec<u32> {
            let mut low: Vec<u32> = set.iter().map(|&h| h as u32).collect();
            low.sort_unstable();
            low
        };
        let mut lanes = vec![0u32; 256];
        for round in 0..2u64 {
            let (short, long) = (set(1 + 2 * round), set(2 + 2 * round));
            let mut long_with_short = long.clone();
            long_with_short.extend_from_slice(&short[..150]);
            long_with_short.sort_unstable();
            hasher.signature_into(&short, &mut lanes[..128]);
            hasher.signature_into(&long_with_short, &mut lanes[128..]);
            let mut sets = ShingleSets::default();
            sets.push(&low(&short));
            sets.push(&low(&long_with_short));
            let source = ScanSamples::new(&sets, &lanes, &hasher);
            let expected = ShingleSample::new(&hasher, &short, &lanes[..128])
                .contained_in(&ShingleSample::new(&hasher, &long_with_short, &lanes[128..]));
            assert_eq!(source.contained_in(0, 1), expected, "round {round}");
        }
    }

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

    #[cfg(feature = "scan")]
    #[test]
    fn shingle_sets_are_found_again() {
        let mut sets = ShingleSets::default();
        sets.push(&[1, 5, 9]);
        sets.push(&[]);
        sets.push(&[2, 3]);
        assert_eq!(sets.get(0), [1, 5, 9]);
        assert_eq!(sets.get(1), [] as [u32; 0]);
        assert_eq!(sets.get(2), [2, 3]);
    }
}
