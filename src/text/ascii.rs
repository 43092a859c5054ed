//! The ASCII fast path: the words of text [`classify`] turned into bit masks, written
//! out a mask word (64 bytes) at a time. Most news text is ASCII, and here a word costs
//! two bit pops and one copy instead of a char decode, an NFKC check and a segmenter
//! step per character; the rules are UAX #29's for ASCII, so the output is the Unicode
//! path's (property tests check it).

use super::TextOptions;
use super::fold::{fold_abbreviation_in_place, fold_of};
use super::simd::{TextScratch, classify};

thread_local! {
    /// For [`normalize_ascii`]'s stretches of a mixed line (used while the whole text's
    /// scratch is borrowed).
    static LINE_SCRATCH: std::cell::RefCell<TextScratch> =
        std::cell::RefCell::new(TextScratch::default());
}

/// The UAX #29 words of an ASCII stretch, kept letters and digits lower-cased, appended
/// to `out` one space apart. Branch-light: the byte classes come 64 at a time as bit
/// masks (SIMD compares) and each word is then one copy.
pub(super) fn normalize_ascii(
    bytes: &[u8],
    options: TextOptions,
    out: &mut String,
    starts: &mut Vec<u32>,
) {
    LINE_SCRATCH.with(|scratch| {
        let scratch = &mut *scratch.borrow_mut();
        classify(bytes, scratch);
        // SAFETY: only ASCII bytes (of `lowered` or spaces) are appended, so `out` stays
        // valid UTF-8.
        let out = unsafe { out.as_mut_vec() };
        emit_words(scratch, 0..bytes.len(), options, out, starts);
    });
}

/// Index of the first bit at or after `from` that is set in `masks` (`want` true) or
/// clear (`want` false); `masks.len() * 64` when there is none.
pub(super) fn next_bit(masks: &[u64], from: usize, want: bool) -> usize {
    let mut word = from / 64;
    if word >= masks.len() {
        return masks.len() * 64;
    }
    let flip = if want { 0 } else { u64::MAX };
    let mut bits = (masks[word] ^ flip) & (u64::MAX << (from % 64));
    loop {
        if bits != 0 {
            return word * 64 + bits.trailing_zeros() as usize;
        }
        word += 1;
        if word == masks.len() {
            return masks.len() * 64;
        }
        bits = masks[word] ^ flip;
    }
}

/// Appends the words that start in `range` of the text `scratch` classified (a word
/// never crosses a line break, so a line's words end in it too), and their start
/// offsets in `out` to `word_starts`.
///
/// Mask word by mask word: the edges of the token runs (a token byte after a non-token
/// byte, or the reverse) alternate start, end, start, ..., so each word is two bit pops;
/// a word running into the next mask word keeps its start open. Written through raw
/// cursors into room reserved once per call: a word and the space before it never take
/// more bytes than the word and the byte before it took in the input, so the room holds
/// them all with no capacity check per word.
pub(super) fn emit_words(
    scratch: &TextScratch,
    range: std::ops::Range<usize>,
    options: TextOptions,
    out: &mut Vec<u8>,
    word_starts: &mut Vec<u32>,
) {
    if range.is_empty() {
        return;
    }
    let TextScratch { lowered, token, kept, .. } = scratch;
    // The 16-byte copies of short words read up to 15 bytes past a word's end.
    assert!(range.end + COPY <= lowered.len(), "classify pads `lowered` by COPY bytes");
    // The words and the spaces between them fit in `range.len()` bytes (words in the
    // input are at least one byte apart); one leading space and one copy's overrun more.
    out.reserve(range.len() + 1 + COPY);
    // At most one word per two bytes.
    word_starts.reserve(range.len().div_ceil(2));
    let mut cursor = Cursor {
        lowered,
        kept,
        text: out.as_mut_ptr(),
        len: out.len(),
        #[cfg(debug_assertions)]
        room: out.capacity(),
        space: out.last().is_some_and(|&b| b != b' '),
        starts: word_starts.as_mut_ptr(),
        count: word_starts.len(),
        fold: options.fold_abbreviations,
    };
    let (first, last) = (range.start / 64, (range.end - 1) / 64);
    let in_range = |w: usize| {
        let low = if w == first { u64::MAX << (range.start % 64) } else { u64::MAX };
        let high = if w == last { u64::MAX >> (63 - (range.end - 1) % 64) } else { u64::MAX };
        token[w] & low & high
    };
    let mut open = None;
    let mut before = 0u64; // the top bit of the previous mask word's tokens
    // Token bytes that are not kept (`_`, joining punctuation) of the mask word before
    // this one and of this one: a word with none is copied whole.
    let mut dropped = (0u64, 0u64);
    for (w, kept_word) in (first..=last).zip(&kept[first..=last]) {
        let current = in_range(w);
        dropped = (dropped.1, current & !kept_word);
        let mut edges = current ^ (current << 1 | before);
        let pop = |edges: &mut u64| {
            let at = w * 64 + edges.trailing_zeros() as usize;
            *edges &= *edges - 1;
            at
        };
        // A word left open by the mask word before ends at this one's first edge (if
        // it has none, the word runs through it).
        if let Some(start) = open.take() {
            if edges == 0 {
                open = Some(start);
            } else {
                // SAFETY: the word lies in `range`; see `Cursor::word`.
                unsafe { cursor.word(start, pop(&mut edges), w, dropped) };
            }
        }
        // Then edges come in pairs, start and end, but for a last word left open.
        while edges != 0 {
            let start = pop(&mut edges);
            if edges == 0 {
                open = Some(start);
                break;
            }
            // SAFETY: as above.
            unsafe { cursor.word(start, pop(&mut edges), w, dropped) };
        }
        before = current >> 63;
    }
    if let Some(start) = open {
        // A word that runs to the end of the last mask word.
        // SAFETY: as above.
        unsafe { cursor.word(start, range.end, last, dropped) };
    }
    // SAFETY: `cursor` wrote every byte and start up to its lengths, within the room
    // reserved above.
    unsafe {
        out.set_len(cursor.len);
        word_starts.set_len(cursor.count);
    }
}

/// Bytes a short word's copy moves at once (its tail past the word is overwritten by
/// the next space or left in the spare capacity).
pub(super) const COPY: usize = 16;

/// [`emit_words`]' write positions in the spare capacity of the text and the starts.
struct Cursor<'a> {
    lowered: &'a [u8],
    kept: &'a [u64],
    text: *mut u8,
    /// Bytes of `text` written.
    len: usize,
    /// The text's capacity, to check the room argument in debug builds.
    #[cfg(debug_assertions)]
    room: usize,
    /// Whether the next word needs a space before it.
    space: bool,
    starts: *mut u32,
    /// Starts written.
    count: usize,
    fold: bool,
}

impl Cursor<'_> {
    /// Writes the token `start..end` of the classified text (which ends in mask word
    /// `w`; `dropped` holds the dropped-byte masks of mask words `w - 1` and `w`): its
    /// letters and digits, lower-cased, after a space unless the output is empty or ends
    /// with one, then its start. A token with nothing kept writes nothing.
    ///
    /// # Safety
    /// `start < end`, `end + COPY <= lowered.len()`, and the text and starts have room
    /// for this word as [`emit_words`] reserves it.
    #[inline(always)]
    unsafe fn word(&mut self, start: usize, end: usize, w: usize, dropped: (u64, u64)) {
        let len = end - start;
        // Whether the word has no dropped byte. It lies in mask words `w - 1` and `w`
        // (its end edge is in `w`, so its last byte is in `w` or ends `w - 1`); a longer
        // one is not tested and goes byte-wise.
        let last = end - 1;
        let through_last = u64::MAX >> (63 - last % 64);
        let from_start = |d: u64| d >> (start % 64) == 0;
        let clean = if last / 64 == w {
            if start >= w * 64 {
                from_start(dropped.1 & through_last)
            } else {
                start + 64 >= w * 64 && dropped.1 & through_last == 0 && from_start(dropped.0)
            }
        } else {
            start + 64 >= w * 64 && from_start(dropped.0)
        };
        #[cfg(debug_assertions)]
        debug_assert!(self.len + 1 + len.max(COPY) <= self.room);
        // SAFETY: reads of `lowered` end by `end + COPY`, writes stay in the room the
        // caller guarantees.
        unsafe {
            *self.text.add(self.len) = b' ';
            let kept_start = self.len + usize::from(self.space);
            let from = self.lowered.as_ptr().add(start);
            let to = self.text.add(kept_start);
            if clean {
                if len <= COPY {
                    // A fixed-size move, two instructions (a `copy_nonoverlapping` here
                    // is merged with the one below into a `memcpy` call per word).
                    let bytes = from.cast::<[u8; COPY]>().read_unaligned();
                    to.cast::<[u8; COPY]>().write_unaligned(bytes);
                } else {
                    std::ptr::copy_nonoverlapping(from, to, len);
                }
                self.len = kept_start + len;
                self.starts.add(self.count).write(kept_start as u32);
                self.count += 1;
                self.space = true;
                // The word's first 8 bytes are `lowered`'s (with what follows a shorter
                // one; `from + COPY` is in bounds).
                if self.fold
                    && let Some(fold) = fold_of(from.cast::<u64>().read_unaligned().to_le(), len)
                {
                    to.cast::<[u8; 4]>().write_unaligned(fold.short);
                    self.len = kept_start + fold.short_len;
                }
                return;
            }
            // Inner punctuation or `_`: keep the letters and digits only.
            let mut at = kept_start;
            for i in start..end {
                *self.text.add(at) = self.lowered[i];
                at += (self.kept[i / 64] >> (i % 64) & 1) as usize;
            }
            if at == kept_start {
                return;
            }
            self.len = at;
            self.starts.add(self.count).write(kept_start as u32);
            self.count += 1;
            self.space = true;
            if self.fold {
                // The token's bytes were just written.
                let token = std::slice::from_raw_parts_mut(to, self.len - kept_start);
                self.len = kept_start + fold_abbreviation_in_place(token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize;
    use crate::text::unicode::{assert_matches_by_line, unicode_path};

    #[test]
    fn ascii_fast_path_matches_unicode_path() {
        for ascii in [
            "The bloc's \"military\" potential -- in 1997 (NATO)!",
            "U.S. 79.41 dlrs, 1,140.4 bln; a:b a: :b 3;4 ;5 x.y. _a_ a_1 1_a .5 5. 'x' it''s",
            "MILLION million Million versus Share shares",
        ] {
            for fold in [false, true] {
                let options = TextOptions { fold_abbreviations: fold };
                let mut fast = String::new();
                normalize_ascii(ascii.as_bytes(), options, &mut fast, &mut Vec::new());
                assert_eq!(fast, unicode_path(ascii, options), "{ascii:?}");
            }
        }
    }

    #[test]
    fn words_across_mask_words() {
        let long = "Ab".repeat(100);
        for pad in 0..70 {
            let text =
                format!("{}{long} x_y a.b 1,2 {long}.\n{}z", " ".repeat(pad), "q ".repeat(pad));
            let lower = long.to_lowercase();
            let expected = format!("{lower} xy ab 12 {lower} {}z", "q ".repeat(pad));
            assert_eq!(normalize(&text), expected, "pad {pad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn long_words_match_unicode_path(
            // Words up to ~150 bytes, some with a dropped byte, across 64-byte mask words.
            text in "(-{0,3}[a-zA-Z]{0,70}[_.'1]?[a-z0-9]{0,70}_?[ \n]){0,8}",
            fold in proptest::bool::ANY,
        ) {
            assert_matches_by_line(&text, fold);
        }

        #[test]
        fn ascii_fast_path_matches_unicode_path_on_any_ascii(
            text in "[a-zA-Z0-9 _:.,;'\\-\"!?()\t]{0,64}",
            fold in proptest::bool::ANY,
        ) {
            let options = TextOptions { fold_abbreviations: fold };
            let mut fast = String::new();
            normalize_ascii(text.as_bytes(), options, &mut fast, &mut Vec::new());
            proptest::prop_assert_eq!(fast, unicode_path(&text, options));
        }
    }
}
