//! Sampled containment: where a MinHash estimate of containment is too coarse (a short
//! excerpt inside a long story), the shorter document's shingles are looked up in what
//! is kept of the longer one's set, which measures the containment without its error
//! growing with the length ratio. What is kept of a set is its sketch
//! ([`shingle_sketch`]: 16-bit keys, Elias-Fano coded by [`encode_sketch`] where many
//! are kept), online and in a batch alike.

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

/// Hash keys sorted by [`radix_sort`].
pub(crate) trait RadixKey: Copy + Default {
    const BYTES: usize;
    /// Byte `at` of the key, least significant first.
    fn byte(self, at: usize) -> usize;
}

impl RadixKey for u16 {
    const BYTES: usize = 2;
    fn byte(self, at: usize) -> usize {
        usize::from((self >> (8 * at)) as u8)
    }
}

impl RadixKey for u32 {
    const BYTES: usize = 4;
    fn byte(self, at: usize) -> usize {
        usize::from((self >> (8 * at)) as u8)
    }
}

/// Sorts `values` by their bytes, least significant first, through `buffer` (2 passes
/// for 16-bit keys, 4 for 32-bit ones). On the 400 to 3,000 hashes of one article's
/// shingle set it takes under two thirds of the time of a comparison sort, and every
/// article pays it once.
pub(crate) fn radix_sort<T: RadixKey>(values: &mut Vec<T>, buffer: &mut Vec<T>) {
    let mut counts = [[0u32; 256]; 4];
    for &value in values.iter() {
        for (at, count) in counts[..T::BYTES].iter_mut().enumerate() {
            count[value.byte(at)] += 1;
        }
    }
    buffer.clear();
    buffer.resize(values.len(), T::default());
    for (at, count) in counts[..T::BYTES].iter_mut().enumerate() {
        let mut next = 0;
        for slot in count.iter_mut() {
            (*slot, next) = (next, next + *slot);
        }
        for &value in values.iter() {
            let slot = &mut count[value.byte(at)];
            buffer[*slot as usize] = value;
            *slot += 1;
        }
        // The pass's output becomes the next pass's input; the last one ends in `values`.
        std::mem::swap(values, buffer);
    }
}

/// Most entries a [`shingle_sketch`] keeps: 2 KiB for an article of any length.
pub const MAX_SKETCH: usize = 1024;

/// What the online detector keeps of a stored article's shingle set, so that the
/// containment of a shorter newcomer in it can be measured rather than estimated from
/// signatures: the distinct top 16 bits of the shingles' low 32 (sorted), at most
/// [`MAX_SKETCH`] of them, the smallest first. Two bytes a shingle instead of four,
/// at the cost of a false match rate of `len / 65536` that [`sketch_keys_containment`]
/// corrects for.
pub fn shingle_sketch(shingles: &[u32]) -> Box<[u16]> {
    let mut sketch: Vec<u16> = shingles.iter().map(|&s| (s >> 16) as u16).collect();
    sketch.dedup();
    sketch.truncate(MAX_SKETCH);
    sketch.into_boxed_slice()
}

/// The sketch of the shingle set `shingles` (hashes, distinct): the same keys as
/// [`shingle_sketch`] of the sorted low 32 bits, made by sorting the keys themselves,
/// 16 bits each, rather than the 32-bit values.
pub fn sketch_of_hashes(shingles: &[u64]) -> Box<[u16]> {
    let mut keys: Vec<u16> = shingles.iter().map(|&h| (h as u32 >> 16) as u16).collect();
    thread_local! {
        /// The other buffer of the sort, kept per thread.
        static BUFFER: std::cell::RefCell<Vec<u16>> = std::cell::RefCell::default();
    }
    BUFFER.with(|buffer| radix_sort(&mut keys, &mut buffer.borrow_mut()));
    keys.dedup();
    keys.truncate(MAX_SKETCH);
    keys.into_boxed_slice()
}

/// Containment of a document given by its shingles' sketch keys (ascending, repeats
/// allowed) in the document `sketch` was made from: the share of its keys inside the
/// sketch's range found in the sketch, less the expected false matches.
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
    corrected_share(found, tested, sketch.len(), top)
}

/// [`sketch_keys_containment`] of one sketch in another, both as [`shingle_sketch`]
/// makes them (distinct, ascending): the same value, found by a bitmap lookup
/// instead of a step per key.
pub fn sketch_in_sketch(short: &[u16], long: &[u16]) -> f64 {
    let top = if long.len() < MAX_SKETCH { u16::MAX } else { long[long.len() - 1] };
    let tested = short.partition_point(|&key| key <= top);
    corrected_share(count_common_keys(&short[..tested], long), tested, long.len(), top)
}

/// Keys of `small` present in `large` (both distinct 16-bit keys): `large` marked in a
/// bitmap of every key (8 KiB, in L1), each of `small`'s looked up in it. On random
/// keys a merge mispredicts a branch at nearly every step; this has none, and is about
/// 7x faster on sketches of 100 to 1,024 keys.
fn count_common_keys(small: &[u16], large: &[u16]) -> usize {
    let mut marked = [0u64; 1 << 10];
    for &key in large {
        marked[usize::from(key >> 6)] |= 1 << (key & 63);
    }
    let found: u64 =
        small.iter().map(|&key| (marked[usize::from(key >> 6)] >> (key & 63)) & 1).sum();
    found as usize
}

/// The share `found` of `tested` keys, less the false matches expected of keys drawn
/// from `0..=top` against a sketch of `len` keys.
fn corrected_share(found: usize, tested: usize, len: usize, top: u16) -> f64 {
    if tested == 0 {
        return 0.0;
    }
    let false_rate = len as f64 / (f64::from(top) + 1.0);
    let share = found as f64 / tested as f64;
    ((share - false_rate) / (1.0 - false_rate).max(f64::EPSILON)).clamp(0.0, 1.0)
}

/// Elements of sorted `small` present in sorted `large` (both distinct). Both advance
/// together: `large` is skipped a block at a time, and within a block the place of the
/// next element is the count of smaller entries, a compare the compiler vectorizes,
/// instead of a search whose branches mispredict on random hashes (about 2x faster than
/// galloping on sets of 60 to 3,000 shingles).
fn count_common<T: Copy + Ord>(small: &[T], large: &[T]) -> usize {
    // Wider blocks pay when the elements sought lie far apart in `large`.
    if large.len() > 6 * small.len() {
        count_common_blocks::<T, 16>(small, large)
    } else {
        count_common_blocks::<T, 8>(small, large)
    }
}

fn count_common_blocks<T: Copy + Ord, const B: usize>(small: &[T], large: &[T]) -> usize {
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

/// Appends `sketch` (as [`shingle_sketch`] makes it: at most [`MAX_SKETCH`] distinct
/// keys, ascending) to `out`, Elias-Fano coded, which its sorted distinct 16-bit keys
/// allow: a 2-byte key count, each key's low byte, then its high byte in unary (key `i`
/// with high byte `h` sets bit `h + i` of a bitmap of `n + 256` bits). A sketch of `n`
/// keys takes `n + (n + 255) / 8 + 2` bytes instead of `2n`: about 1.2 bytes a key for
/// the few hundred shingles of a news article, a quarter of a gigabyte less on a
/// million articles. The code is canonical, so equal sketches have equal bytes.
pub(crate) fn encode_sketch(sketch: &[u16], out: &mut Vec<u8>) {
    debug_assert!(sketch.len() <= MAX_SKETCH && sketch.is_sorted());
    let n = sketch.len();
    out.extend_from_slice(&(n as u16).to_le_bytes());
    out.extend(sketch.iter().map(|&key| key as u8));
    let highs = out.len();
    out.resize(highs + (n + 255).div_ceil(8), 0);
    for (i, &key) in sketch.iter().enumerate() {
        let bit = usize::from(key >> 8) + i;
        out[highs + bit / 8] |= 1 << (bit % 8);
    }
}

/// The sketch [`encode_sketch`] coded as `encoded`, decoded into `buffer`: one tight
/// loop over the high bitmap, a step per key.
pub(crate) fn decode_sketch<'b>(encoded: &[u8], buffer: &'b mut [u16; MAX_SKETCH]) -> &'b [u16] {
    let n = usize::from(u16::from_le_bytes([encoded[0], encoded[1]]));
    let (lows, highs) = encoded[2..].split_at(n);
    let mut taken = 0;
    for (at, chunk) in highs.chunks(8).enumerate() {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        let mut word = u64::from_le_bytes(word);
        while word != 0 {
            let bit = at * 64 + word.trailing_zeros() as usize;
            buffer[taken] = ((bit - taken) as u16) << 8 | u16::from(lows[taken]);
            taken += 1;
            word &= word - 1;
        }
    }
    &buffer[..taken]
}

#[cfg(feature = "scan")]
/// Where a batch looks up what it keeps of each document's shingle set, to measure the
/// containment of the shorter of a pair in the longer.
pub(crate) trait SampledContainment: Sync {
    /// Estimated containment of document `short` in document `long`.
    fn contained_in(&self, short: Slot, long: Slot) -> f64;

    /// Whether documents `a` and `b` keep the same shingles.
    fn same_shingles(&self, a: Slot, b: Slot) -> bool;
}

#[cfg(feature = "scan")]
impl SampledContainment for &[ShingleSample] {
    /// As a batch measures it from [`ShingleSets`]: sketch against sketch.
    fn contained_in(&self, short: Slot, long: Slot) -> f64 {
        let short = shingle_sketch(&self[short as usize].shingles);
        sketch_in_sketch(&short, &shingle_sketch(&self[long as usize].shingles))
    }

    fn same_shingles(&self, a: Slot, b: Slot) -> bool {
        self[a as usize].shingles == self[b as usize].shingles
    }
}

#[cfg(feature = "scan")]
/// Every document's [`shingle_sketch`] in one flat byte array, each coded by
/// [`encode_sketch`]: what a batch (the scan, the stages of a distributed runner) keeps
/// of each shingle set, as the online detector keeps it of each stored article.
///
/// The containment of the shorter document of a pair in the longer is measured sketch
/// against sketch ([`sketch_keys_containment`]): every shingle of the shorter that the
/// longer's sketch covers is looked up, not only the ones behind its lane minima, so
/// the estimate is at least as close as a sample of `num_perm` would make it.
#[derive(Debug, Default)]
pub(crate) struct ShingleSets {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

#[cfg(feature = "scan")]
impl ShingleSets {
    /// Adds the next document's sketch, made from its shingle set (low 32 bits,
    /// sorted and distinct).
    #[cfg(test)]
    pub(crate) fn push(&mut self, shingles: &[u32]) {
        self.push_sketch(&shingle_sketch(shingles));
    }

    /// Adds the next document's sketch as [`shingle_sketch`] made it (at most
    /// [`MAX_SKETCH`] distinct keys, ascending).
    pub(crate) fn push_sketch(&mut self, sketch: &[u16]) {
        encode_sketch(sketch, &mut self.bytes);
        self.ends.push(self.bytes.len());
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Approximate heap bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * size_of::<usize>()
    }

    fn encoded(&self, doc: usize) -> &[u8] {
        let start = if doc == 0 { 0 } else { self.ends[doc - 1] };
        &self.bytes[start..self.ends[doc]]
    }

    /// Document `doc`'s sketch.
    pub(crate) fn get(&self, doc: usize) -> Vec<u16> {
        self.decode(doc, &mut [0; MAX_SKETCH]).to_vec()
    }

    fn decode<'b>(&self, doc: usize, buffer: &'b mut [u16; MAX_SKETCH]) -> &'b [u16] {
        decode_sketch(self.encoded(doc), buffer)
    }
}

#[cfg(feature = "scan")]
impl SampledContainment for ShingleSets {
    /// [`sketch_in_sketch`] of the coded sketches.
    fn contained_in(&self, short: Slot, long: Slot) -> f64 {
        let (mut short_keys, mut long_keys) = ([0; MAX_SKETCH], [0; MAX_SKETCH]);
        let short = self.decode(short as usize, &mut short_keys);
        sketch_in_sketch(short, self.decode(long as usize, &mut long_keys))
    }

    fn same_shingles(&self, a: Slot, b: Slot) -> bool {
        self.encoded(a as usize) == self.encoded(b as usize)
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

    /// Both key widths sort as a comparison sort does, repeats and extremes included.
    #[test]
    fn radix_sort_sorts() {
        fn check<T: RadixKey + Ord + std::fmt::Debug>(values: Vec<T>) {
            let mut expected = values.clone();
            expected.sort_unstable();
            let mut values = values;
            radix_sort(&mut values, &mut vec![T::default(); 3]);
            assert_eq!(values, expected, "len {}", values.len());
        }
        let mut next = crate::testing::lcg(0x9E37_79B9_7F4A_7C15);
        for len in [0, 1, 2, 255, 256, 257, 1000] {
            let values: Vec<u64> = (0..len)
                .map(|i| match i % 7 {
                    0 => u64::MAX,
                    1 => 0,
                    2 => 0x01ff_01ff_01ff_01ff,
                    _ => next(),
                })
                .collect();
            check(values.iter().map(|&v| (v >> 48) as u16).collect());
            check(values.iter().map(|&v| (v >> 32) as u32).collect());
        }
    }

    #[test]
    fn sketch_of_hashes_is_the_sketch_of_their_low_bits() {
        let mut next = crate::testing::lcg(5);
        for len in [0, 1, 300, 3000] {
            let hashes: Vec<u64> = (0..len).map(|_| next()).collect();
            let mut low: Vec<u32> = hashes.iter().map(|&h| h as u32).collect();
            low.sort_unstable();
            low.dedup();
            assert_eq!(sketch_of_hashes(&hashes), shingle_sketch(&low), "len {len}");
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
        /// The bitmap lookup gives exactly the key-by-key measure, sketches full
        /// (capped at their top key) or not.
        #[test]
        fn sketch_in_sketch_equals_the_key_by_key_measure(
            short in proptest::collection::btree_set(0u16..3000, 0..1200),
            long in proptest::collection::btree_set(0u16..3000, 0..1200),
        ) {
            let short: Vec<u16> = short.into_iter().take(MAX_SKETCH).collect();
            let long: Vec<u16> = long.into_iter().take(MAX_SKETCH).collect();
            let expected = sketch_keys_containment(short.iter().copied(), &long);
            proptest::prop_assert_eq!(sketch_in_sketch(&short, &long), expected);
        }

        #[test]
        fn count_common_keys_matches_set_intersection(
            small in proptest::collection::btree_set(proptest::prelude::any::<u16>(), 0..1200),
            large in proptest::collection::btree_set(proptest::prelude::any::<u16>(), 0..1200),
        ) {
            let expected = small.intersection(&large).count();
            let small: Vec<u16> = small.into_iter().collect();
            let large: Vec<u16> = large.into_iter().collect();
            proptest::prop_assert_eq!(count_common_keys(&small, &large), expected);
        }

        /// A coded sketch decodes to its keys, alone or after others in one buffer.
        #[test]
        fn coded_sketches_decode_to_their_keys(
            keys in proptest::collection::btree_set(proptest::prelude::any::<u16>(), 0..1100),
            before in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        ) {
            let keys: Vec<u16> = keys.into_iter().take(MAX_SKETCH).collect();
            let mut coded = before.clone();
            encode_sketch(&keys, &mut coded);
            let mut buffer = [0; MAX_SKETCH];
            let decoded = decode_sketch(&coded[before.len()..], &mut buffer);
            proptest::prop_assert_eq!(decoded, &keys[..]);
        }

        /// Coded sketches give back their keys, and measure containment and equality
        /// as the plain sketches do, keys at both ends of the range included.
        #[cfg(feature = "scan")]
        #[test]
        fn coded_sketches_keep_their_keys_and_measures(
            short in proptest::collection::btree_set(proptest::prelude::any::<u16>(), 0..1100),
            long in proptest::collection::btree_set(proptest::prelude::any::<u16>(), 0..1100),
            ends in proptest::prelude::any::<bool>(),
        ) {
            let sketch = |set: std::collections::BTreeSet<u16>| {
                let mut keys: Vec<u16> = set.into_iter().collect();
                if ends {
                    keys.insert(0, 0);
                    keys.push(u16::MAX);
                    keys.dedup();
                }
                keys.truncate(MAX_SKETCH);
                keys
            };
            let (short, long) = (sketch(short), sketch(long));
            let mut sets = ShingleSets::default();
            sets.push_sketch(&short);
            sets.push_sketch(&long);
            sets.push_sketch(&short);
            proptest::prop_assert_eq!(sets.len(), 3);
            proptest::prop_assert_eq!(&sets.get(0), &short);
            proptest::prop_assert_eq!(&sets.get(1), &long);
            proptest::prop_assert_eq!(sets.contained_in(0, 1), sketch_in_sketch(&short, &long));
            proptest::prop_assert_eq!(sets.contained_in(1, 0), sketch_in_sketch(&long, &short));
            proptest::prop_assert!(sets.same_shingles(0, 2));
            proptest::prop_assert_eq!(sets.same_shingles(0, 1), short == long);
        }

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
    fn shingle_sets_keep_each_sketch() {
        let mut sets = ShingleSets::default();
        sets.push(&[1 << 16, 5 << 16 | 7, 5 << 16 | 9, 9 << 16]);
        sets.push(&[]);
        sets.push_sketch(&[2, 3]);
        assert_eq!(sets.get(0), [1, 5, 9]);
        assert_eq!(sets.get(1), [] as [u16; 0]);
        assert_eq!(sets.get(2), [2, 3]);
        assert!(sets.same_shingles(0, 0) && !sets.same_shingles(0, 2));
    }

    /// Sketch against sketch measures the containment of a random set in another within
    /// a few points of the exact share, for excerpts short and long.
    #[cfg(feature = "scan")]
    #[test]
    fn sketch_containment_tracks_the_exact_share() {
        let mut lcg = crate::testing::lcg(11);
        let mut next = || (lcg() >> 32) as u32;
        for (short_len, long_len, inside) in [(40, 400, 40), (200, 600, 120), (300, 2500, 150)] {
            let long: Vec<u32> = (0..long_len).map(|_| next()).collect();
            let mut short: Vec<u32> = long[..inside].to_vec();
            short.extend((inside..short_len).map(|_| next()));
            let sorted = |mut v: Vec<u32>| {
                v.sort_unstable();
                v.dedup();
                v
            };
            let mut sets = ShingleSets::default();
            sets.push(&sorted(short));
            sets.push(&sorted(long));
            let exact = inside as f64 / short_len as f64;
            let measured = sets.contained_in(0, 1);
            assert!(
                (measured - exact).abs() < 0.08,
                "{short_len} in {long_len}: {measured} vs {exact}"
            );
        }
    }
}
