//! Candidate pairs from sorted buckets: the batch's two LSH views of one set of
//! signatures and the rule for which pairs each document looks at. The Jaccard view
//! (`bands` x `rows`) pairs a document with the nearest earlier members of its buckets;
//! the containment view (`containment_bands` one-row bands, members longest first)
//! pairs it with a few documents at least [`CONTAINMENT_MIN_RATIO`] times longer, which
//! is how an excerpt finds the story it was cut from. Bounding both takes keeps the
//! candidates linear in the corpus however many copies a story has.

use crate::config::DetectorConfig;
use crate::lsh::{Slot, SortedBands};

/// The Jaccard view takes at most this many of a document's nearest earlier members of
/// one bucket, as the online detector walks at most 128 per bucket. Over 28 bands that
/// is still up to 224 candidates a document; More
/// would mostly find copies already joined by the time their turn comes: on a corpus
/// whose stories have ~90 copies, 32 per bucket made about 70 candidates per document.
pub(crate) const JACCARD_PER_BAND: usize = 8;

/// The containment view pairs a document only with documents at least this many times
/// longer. Closer sizes need no second view: a pair whose shorter member is half
/// contained in the longer has Jaccard at least 0.5 / (1 + 1.5 - 0.5) = 0.25 when the sizes
/// differ by less than this, which the Jaccard bands catch with probability 0.84 and
/// more as containment rises. This is LSH Ensemble's size
/// partitioning in its simplest form, and it spares the view the many same-size copies
/// of a widely syndicated story.
pub(crate) const CONTAINMENT_MIN_RATIO: f64 = 1.5;

/// The containment view takes at most this many (longest) documents from one bucket.
/// A one-row band buckets documents by a single shingle; when that shingle is common
/// (chrome not learned, a stock phrase) the bucket holds thousands of unrelated documents,
/// and when it is a story's, any few of its longer copies are enough to link an excerpt
/// to the story. Bounding the take keeps the view linear in the corpus either way.
pub(crate) const CONTAINMENT_PER_BAND: usize = 4;

/// The LSH views of a batch: buckets of every band sorted once over the signatures of
/// the representatives (see [`super::collapse`]). Callers name documents by slot; the
/// views number representatives densely inside, in slot order, so every order by slot
/// is kept.
#[derive(Debug)]
pub(crate) struct BandViews<'s> {
    jaccard: SortedBands,
    /// `None` when `containment_bands` is 0.
    containment: Option<SortedBands>,
    sizes: &'s [u32],
    /// The representatives' slots, ascending.
    reps: Vec<Slot>,
    /// Per slot: its place in `reps`, or `NOT_BANDED` for a collapsed copy.
    place: Vec<Slot>,
}

const NOT_BANDED: Slot = Slot::MAX;

impl<'s> BandViews<'s> {
    /// Buckets the representatives' signatures (`rep_of`: each document's
    /// representative) that `lanes` returns, with the shingle counts `sizes` of every
    /// document, into both views, every band in parallel.
    pub(crate) fn build<'l>(
        config: &DetectorConfig,
        lanes: impl Fn(Slot) -> &'l [u32] + Sync + Copy,
        sizes: &'s [u32],
        rep_of: &[Slot],
    ) -> Self {
        debug_assert_eq!(rep_of.len(), sizes.len());
        let reps: Vec<Slot> =
            (0..sizes.len() as Slot).filter(|&doc| rep_of[doc as usize] == doc).collect();
        let mut place = vec![NOT_BANDED; sizes.len()];
        for (i, &rep) in reps.iter().enumerate() {
            place[rep as usize] = i as Slot;
        }
        let n = reps.len();
        let rep_lanes = |i: Slot| lanes(reps[i as usize]);
        let jaccard =
            SortedBands::build(n, config.bands, config.rows, config.seed, rep_lanes, |i| i);
        let containment = (config.containment_bands > 0).then(|| {
            let seed = config.seed.rotate_left(32);
            // Longest first.
            SortedBands::build(n, config.containment_bands, 1, seed, rep_lanes, |i| {
                u32::MAX - sizes[reps[i as usize] as usize]
            })
        });
        BandViews { jaccard, containment, sizes, reps, place }
    }

    /// Approximate heap bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        let containment = self.containment.as_ref().map_or(0, SortedBands::heap_bytes);
        self.jaccard.heap_bytes() + containment + (self.reps.capacity() + self.place.capacity()) * 4
    }

    /// Representative `slot`'s number in the views.
    fn banded(&self, slot: Slot) -> Slot {
        let place = self.place[slot as usize];
        debug_assert_ne!(place, NOT_BANDED, "slot {slot} is a collapsed copy");
        place
    }

    /// Every representative once, story by story (see [`SortedBands::locality_order`]),
    /// so that consecutive documents mostly share candidates and their lanes stay in
    /// cache.
    pub(crate) fn locality_order(&self) -> Vec<Slot> {
        let order = self.jaccard.locality_order(self.reps.len());
        order.into_iter().map(|i| self.reps[i as usize]).collect()
    }

    /// The distinct candidates of representative `slot`: earlier representatives
    /// sharing a Jaccard band, and representatives at least [`CONTAINMENT_MIN_RATIO`]
    /// times longer sharing a containment band.
    pub(crate) fn candidates_of<'c>(&self, slot: Slot, set: &'c mut CandidateSet) -> &'c [Slot] {
        set.clear();
        let at = self.banded(slot);
        for band in 0..self.jaccard.bands() {
            // The nearest earlier members only: a bucket of thousands of copies of one
            // story is linked as well through each member's nearest few, and walking it
            // whole would make clustering quadratic in the copies per story.
            let before = self.jaccard.before(at, band);
            for &other in &before[before.len().saturating_sub(JACCARD_PER_BAND)..] {
                set.insert(self.reps[other as usize]);
            }
        }
        if let Some(view) = &self.containment {
            let longer = f64::from(self.sizes[slot as usize]) * CONTAINMENT_MIN_RATIO;
            let size = |i: Slot| f64::from(self.sizes[self.reps[i as usize] as usize]);
            for band in 0..view.bands() {
                // Members come longest first: stop at the first too short.
                let bucket = view.before(at, band);
                let containers = bucket.iter().take_while(|&&other| size(other) >= longer);
                for &other in containers.take(CONTAINMENT_PER_BAND) {
                    set.insert(self.reps[other as usize]);
                }
            }
        }
        &set.found
    }

    /// Whether representative `short` finds `long` through the containment view.
    pub(crate) fn finds_by_containment(&self, short: Slot, long: Slot) -> bool {
        let Some(view) = &self.containment else { return false };
        let longer = f64::from(self.sizes[short as usize]) * CONTAINMENT_MIN_RATIO;
        let (short, long_at) = (self.banded(short), self.banded(long));
        f64::from(self.sizes[long as usize]) >= longer
            && (0..view.bands())
                .any(|band| view.is_leading(short, long_at, band, CONTAINMENT_PER_BAND))
    }
}

/// One document's candidates, each kept once: a copy found in many bands is listed
/// once. An open-addressing table stamped with a generation, so that clearing it per
/// document costs nothing (sorting the few hundred found cost a tenth of clustering).
pub(crate) struct CandidateSet {
    /// `generation << 32 | slot` per used entry.
    table: Box<[u64]>,
    generation: u32,
    found: Vec<Slot>,
}

impl Default for CandidateSet {
    fn default() -> Self {
        // Above twice the most a document finds at defaults (28 x 8 + 32 x 4), so
        // probes stay short; it grows for larger configs.
        CandidateSet { table: vec![0; 1024].into_boxed_slice(), generation: 0, found: Vec::new() }
    }
}

impl CandidateSet {
    pub(crate) fn clear(&mut self) {
        self.found.clear();
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Stamps would repeat: start over from a clean table.
            self.table.fill(0);
            self.generation = 1;
        }
    }

    pub(crate) fn insert(&mut self, slot: Slot) {
        if (self.found.len() + 1) * 2 > self.table.len() {
            self.grow();
        }
        let stamp = u64::from(self.generation) << 32 | u64::from(slot);
        let mask = self.table.len() - 1;
        let mut at = Self::home(slot, mask);
        loop {
            let entry = self.table[at];
            if entry == stamp {
                return;
            }
            if entry >> 32 != u64::from(self.generation) {
                self.table[at] = stamp;
                self.found.push(slot);
                return;
            }
            at = (at + 1) & mask;
        }
    }

    fn home(slot: Slot, mask: usize) -> usize {
        (u64::from(slot).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize & mask
    }

    /// Doubles the table (a config with more bands than the default finds more).
    fn grow(&mut self) {
        self.table = vec![0; self.table.len() * 2].into_boxed_slice();
        let mask = self.table.len() - 1;
        for &slot in &self.found {
            let mut at = Self::home(slot, mask);
            while self.table[at] >> 32 == u64::from(self.generation) {
                at = (at + 1) & mask;
            }
            self.table[at] = u64::from(self.generation) << 32 | u64::from(slot);
        }
    }
}

/// Candidates whose signature is fetched ahead of its comparison.
pub(crate) const PREFETCH_AHEAD: usize = 4;

/// Asks the cache for a signature that is about to be compared.
pub(crate) fn prefetch<T>(lanes: &[T]) {
    #[cfg(target_arch = "x86_64")]
    for offset in (0..std::mem::size_of_val(lanes)).step_by(64) {
        // SAFETY: prefetching is a hint with no effect on memory, and the address is
        // inside `lanes`; SSE is part of x86-64.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                lanes.as_ptr().cast::<i8>().add(offset),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = lanes;
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The candidate set keeps each slot once, in first-found order, across many
        /// documents (generations) and past its initial table size.
        #[test]
        fn candidate_set_lists_each_slot_once(
            docs in proptest::collection::vec(proptest::collection::vec(0u32..3000, 0..1500), 1..4),
        ) {
            let mut set = CandidateSet::default();
            for found in &docs {
                set.clear();
                let mut seen = std::collections::HashSet::new();
                let expected: Vec<Slot> = found.iter().copied().filter(|s| seen.insert(*s)).collect();
                for &slot in found {
                    set.insert(slot);
                }
                proptest::prop_assert_eq!(&set.found, &expected);
            }
        }
    }

    #[test]
    fn candidate_set_survives_its_generation_wrapping() {
        let mut set = CandidateSet { generation: u32::MAX - 1, ..CandidateSet::default() };
        for round in 0..4u32 {
            set.clear();
            for slot in [7, 9, 7, round, 9] {
                set.insert(slot);
            }
            let mut expected = vec![7, 9];
            if round != 7 && round != 9 {
                expected.push(round);
            }
            assert_eq!(set.found, expected, "round {round}");
        }
    }
}
