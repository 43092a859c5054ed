//! Shingling: a normalized token string to the deduplicated, sorted set of seeded
//! gxhash64 hashes of its k-token windows. A window is a byte range of the normalized
//! string (tokens are single-space separated), so hashing needs no allocation per shingle.

use gxhash::gxhash64;

use crate::text::token_spans;

/// Hashes every k-token window of `normalized` into `out` (cleared first), sorted and
/// deduplicated. A text with fewer than `k` tokens yields one shingle of all its tokens,
/// so short texts still get a signature; an empty text yields none.
pub fn shingle_hashes_into(normalized: &str, k: usize, seed: u64, out: &mut Vec<u64>) {
    debug_assert!(k >= 1);
    out.clear();
    let bytes = normalized.as_bytes();
    let seed = seed as i64;
    let mut starts = std::collections::VecDeque::with_capacity(k);
    for (start, end) in token_spans(normalized) {
        if starts.len() == k {
            starts.pop_front();
        }
        starts.push_back(start);
        if starts.len() == k {
            out.push(gxhash64(&bytes[starts[0]..end], seed));
        }
    }
    if out.is_empty() && !normalized.is_empty() {
        out.push(gxhash64(bytes, seed));
    }
    out.sort_unstable();
    out.dedup();
}

/// Convenience wrapper around [`shingle_hashes_into`].
pub fn shingle_hashes(normalized: &str, k: usize, seed: u64) -> Vec<u64> {
    let mut out = Vec::new();
    shingle_hashes_into(normalized, k, seed, &mut out);
    out
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
        assert!(shingle_hashes("", 5, 1).is_empty());
    }

    #[test]
    fn repeats_are_counted_once() {
        assert_eq!(shingle_hashes("x y x y x y", 2, 3).len(), 2);
    }
}
