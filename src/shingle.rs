//! Shingling: a normalized token string to the deduplicated set of seeded gxhash64
//! hashes of its k-token windows. A window is a byte range of the normalized string
//! (tokens are single-space separated), so hashing needs no allocation per shingle.
//! When the normalizer's token start offsets are at hand
//! ([`crate::text::Normalized::word_starts`]), the windows are cut from them
//! ([`distinct_token_shingles_into`]) instead of searching the spaces again.

use gxhash::gxhash64;

/// Hashes every k-token window of `normalized` into `out` (cleared first), sorted and
/// deduplicated. A text with fewer than `k` tokens yields one shingle of all its tokens,
/// so short texts still get a signature; an empty text yields none.
pub fn shingle_hashes_into(normalized: &str, k: usize, seed: u64, out: &mut Vec<u64>) {
    window_hashes_into(normalized, k, seed, out);
    out.sort_unstable();
    out.dedup();
}

/// Convenience wrapper around [`shingle_hashes_into`].
pub fn shingle_hashes(normalized: &str, k: usize, seed: u64) -> Vec<u64> {
    let mut out = Vec::new();
    shingle_hashes_into(normalized, k, seed, &mut out);
    out
}

/// Scratch space for [`distinct_shingle_hashes_into`], reused across calls so the hot
/// path never allocates.
#[derive(Debug, Default, Clone)]
pub struct ShingleScratch {
    table: Vec<u64>,
}

/// The same set as [`shingle_hashes_into`] in first-seen order instead of sorted: MinHash
/// does not care about order, and deduplicating through a small open-addressing table
/// costs a fraction of sorting.
pub fn distinct_shingle_hashes_into(
    normalized: &str,
    k: usize,
    seed: u64,
    out: &mut Vec<u64>,
    scratch: &mut ShingleScratch,
) {
    window_hashes_into(normalized, k, seed, out);
    dedup_unordered(out, &mut scratch.table);
}

/// The same set as [`distinct_shingle_hashes_into`] (same order too), with the windows
/// cut from `word_starts`, the start offset of every token of `normalized` (as
/// [`crate::text::Normalized::word_starts`] records them).
pub fn distinct_token_shingles_into(
    normalized: &str,
    word_starts: &[u32],
    k: usize,
    seed: u64,
    out: &mut Vec<u64>,
    scratch: &mut ShingleScratch,
) {
    token_window_hashes_into(normalized.as_bytes(), word_starts, k, seed, out);
    dedup_unordered(out, &mut scratch.table);
}

/// [`window_hashes_into`] from the token starts: window `i` runs from the start of token
/// `i` to the space before token `i + k` (or the end of the text).
fn token_window_hashes_into(
    bytes: &[u8],
    word_starts: &[u32],
    k: usize,
    seed: u64,
    out: &mut Vec<u64>,
) {
    debug_assert!((1..=MAX_K).contains(&k));
    debug_assert!(word_starts.first().is_none_or(|&s| s == 0));
    out.clear();
    let seed = seed as i64;
    if word_starts.len() < k {
        if !bytes.is_empty() {
            out.push(gxhash64(bytes, seed));
        }
        return;
    }
    out.reserve(word_starts.len() + 1 - k);
    // `windows(k + 1)` has a next token after each window; the last window ends the text.
    out.extend(
        word_starts
            .windows(k + 1)
            .map(|window| gxhash64(&bytes[window[0] as usize..window[k] as usize - 1], seed)),
    );
    let last = word_starts[word_starts.len() - k] as usize;
    out.push(gxhash64(&bytes[last..], seed));
}

/// Every window's hash, repeats included, in text order.
fn window_hashes_into(normalized: &str, k: usize, seed: u64, out: &mut Vec<u64>) {
    debug_assert!((1..=MAX_K).contains(&k));
    out.clear();
    let bytes = normalized.as_bytes();
    let seed = seed as i64;
    // Start offsets of the last k tokens, as a ring: `starts[(count - k) % k]` is the
    // first token of the window ending at the current token.
    let mut starts = [0usize; MAX_K];
    let mut ring = 0;
    let mut count = 0usize;
    let mut token_start = 0;
    let ends = SpaceIter::new(bytes).chain((!bytes.is_empty()).then_some(bytes.len()));
    for end in ends {
        starts[ring] = token_start;
        ring = if ring + 1 == k { 0 } else { ring + 1 };
        count += 1;
        if count >= k {
            // After the increment `ring` points at the oldest of the last k starts.
            out.push(gxhash64(&bytes[starts[ring]..end], seed));
        }
        token_start = end + 1;
    }
    if out.is_empty() && !normalized.is_empty() {
        out.push(gxhash64(bytes, seed));
    }
}

/// Positions of the spaces of `bytes`, sixteen bytes at a time: tokens are a few bytes
/// long, so a per-token search call (memchr) costs more than it saves.
struct SpaceIter<'a> {
    bytes: &'a [u8],
    /// Offset of the current block in `bytes`.
    base: usize,
    /// One bit per space byte of the current block not yet returned.
    mask: u32,
}

impl<'a> SpaceIter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        let mut iter = SpaceIter { bytes, base: 0, mask: 0 };
        iter.mask = iter.load(0);
        iter
    }

    /// The space mask of the sixteen bytes at `base` (fewer at the end).
    fn load(&self, base: usize) -> u32 {
        #[cfg(target_arch = "x86_64")]
        if base + 16 <= self.bytes.len() {
            // SAFETY: SSE2 is part of x86-64; the load reads bytes[base..base + 16], in
            // bounds.
            return unsafe {
                use std::arch::x86_64::*;
                let v = _mm_loadu_si128(self.bytes.as_ptr().add(base).cast());
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8))) as u32
            };
        }
        let end = self.bytes.len().min(base + 16);
        self.bytes[base..end]
            .iter()
            .enumerate()
            .fold(0, |mask, (i, &b)| mask | u32::from(b == b' ') << i)
    }
}

impl Iterator for SpaceIter<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.base += 16;
            if self.base >= self.bytes.len() {
                return None;
            }
            self.mask = self.load(self.base);
        }
        let at = self.base + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// Largest shingle size `DetectorConfig::validate` accepts.
const MAX_K: usize = 64;

/// Removes repeats from `hashes` keeping first occurrences, using `table` (any contents)
/// as an open-addressing set. Zero marks an empty slot, so a zero hash is tracked apart.
fn dedup_unordered(hashes: &mut Vec<u64>, table: &mut Vec<u64>) {
    // At most a quarter full. Measured on the synd corpus (floor bench, shingle row):
    // two thirds full cost 1.63 floors, half 1.33, a quarter 1.12, an eighth 1.12: the
    // probe runs of a fuller table mispredict far more than zeroing a larger one costs
    // (2,048 slots, 16 KiB, for a typical article).
    let slots = (hashes.len() * 4).next_power_of_two().max(16);
    table.clear();
    table.resize(slots, 0);
    let mask = slots - 1;
    let mut seen_zero = false;
    let mut kept = 0;
    for read in 0..hashes.len() {
        let hash = hashes[read];
        let fresh = if hash == 0 {
            !std::mem::replace(&mut seen_zero, true)
        } else {
            // The hashes are gxhash outputs: their high bits are already uniform.
            let mut slot = (hash >> 40) as usize & mask;
            loop {
                let held = table[slot];
                if held == 0 {
                    table[slot] = hash;
                    break true;
                }
                if held == hash {
                    break false;
                }
                slot = (slot + 1) & mask;
            }
        };
        if fresh {
            hashes[kept] = hash;
            kept += 1;
        }
    }
    hashes.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_byte_ranges() {
        let hashes = shingle_hashes("a b c d", 2, 1);
        let mut expected: Vec<u64> =
            ["a b", "b c", "c d"].iter().map(|s| gxhash64(s.as_bytes(), 1)).collect();
        expected.sort_unstable();
        assert_eq!(hashes, expected);
    }

    #[test]
    fn short_text_gets_one_shingle_and_empty_none() {
        assert_eq!(shingle_hashes("a b", 5, 1), vec![gxhash64(b"a b", 1)]);
        assert_eq!(shingle_hashes("abc", 1, 1), vec![gxhash64(b"abc", 1)]);
        assert!(shingle_hashes("", 5, 1).is_empty());
    }

    #[test]
    fn repeats_are_counted_once() {
        assert_eq!(shingle_hashes("x y x y x y", 2, 3).len(), 2);
    }

    #[test]
    fn distinct_set_equals_sorted_set() {
        let text = "the cat sat on the mat and the cat sat on the hat while the cat sat";
        let mut scratch = ShingleScratch::default();
        for k in [1, 2, 3, 5, 64] {
            let mut distinct = Vec::new();
            distinct_shingle_hashes_into(text, k, 9, &mut distinct, &mut scratch);
            let mut sorted = distinct.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, shingle_hashes(text, k, 9), "k = {k}");
        }
    }

    fn starts_of(text: &str) -> Vec<u32> {
        crate::text::token_spans(text).map(|(start, _)| start as u32).collect()
    }

    proptest::proptest! {
        #[test]
        fn token_windows_match_space_search(
            tokens in proptest::collection::vec("[a-z0-9]{1,9}|[а-я]{1,3}|東", 0..40),
            k in 1usize..8,
        ) {
            let text = tokens.join(" ");
            let mut scratch = ShingleScratch::default();
            let (mut by_spaces, mut by_starts) = (Vec::new(), Vec::new());
            distinct_shingle_hashes_into(&text, k, 5, &mut by_spaces, &mut scratch);
            distinct_token_shingles_into(&text, &starts_of(&text), k, 5, &mut by_starts, &mut scratch);
            proptest::prop_assert_eq!(by_starts, by_spaces);
        }
    }

    #[test]
    fn token_windows_are_byte_ranges() {
        let text = "a bb c dd";
        let mut out = Vec::new();
        distinct_token_shingles_into(
            text,
            &starts_of(text),
            3,
            1,
            &mut out,
            &mut Default::default(),
        );
        let expected: Vec<u64> =
            ["a bb c", "bb c dd"].iter().map(|s| gxhash64(s.as_bytes(), 1)).collect();
        assert_eq!(out, expected);
        distinct_token_shingles_into("", &[], 3, 1, &mut out, &mut Default::default());
        assert!(out.is_empty());
        distinct_token_shingles_into("a bb", &[0, 2], 3, 1, &mut out, &mut Default::default());
        assert_eq!(out, [gxhash64(b"a bb", 1)]);
    }

    #[test]
    fn space_positions_match_naive() {
        let text = b"a bb  ccc dddd eeeee ffffff ggggggg hhhhhhhh i\xa0\xc2 j\x60!  ";
        for len in 0..=text.len() {
            let bytes = &text[..len];
            let naive: Vec<usize> = (0..len).filter(|&i| bytes[i] == b' ').collect();
            assert_eq!(SpaceIter::new(bytes).collect::<Vec<_>>(), naive, "len {len}");
        }
    }

    #[test]
    fn dedup_keeps_first_occurrences_and_zero() {
        let mut hashes = vec![5, 0, 7 << 40, 5, 0, 7 << 40, 3, (7 << 40) | 1];
        dedup_unordered(&mut hashes, &mut vec![9; 3]);
        assert_eq!(hashes, [5, 0, 7 << 40, 3, (7 << 40) | 1]);
    }
}
