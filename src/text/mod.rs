//! Text normalization and tokenization: raw article text to a canonical string of
//! tokens separated by single spaces, line by line. Shingles are then plain byte ranges
//! of that string, so no per-shingle strings are ever built; the line structure is kept
//! so that boilerplate lines can be left out (see [`crate::chrome`]).
//!
//! Rules, per line of the input:
//! - NFKC (skipped when the quick check says the line is already NFKC), then words by
//!   Unicode word boundaries (UAX #29, via `unicode-segmentation`). Only segments holding
//!   a letter or digit are words.
//! - A word keeps its letters, digits and combining marks, lower-cased (final sigma
//!   folded); punctuation inside it is dropped, so "U.S." is `us`, "bloc’s" is `blocs`,
//!   "1,140.4" is `11404` and the Hebrew acronym צה"ל is one token.
//! - Scripts written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar,
//!   Tibetan) give one token per character (with its combining marks), so shingles are
//!   character n-grams there.
//! - Optionally, agency abbreviations and their spelled-out forms fold to one token
//!   ([`WIRE_ABBREVIATIONS`]): republishers spell out "mln dlrs", and on a short wire
//!   story that alone can cost a third of the shingles.
//!
//! Pure ASCII lines take a byte-level fast path that implements the same word-boundary
//! rules and gives identical output (a property test checks it); in other lines only the
//! stretches around non-ASCII characters take the Unicode path (`normalize_mixed`,
//! property-tested against the whole-line Unicode path).

use unicode_normalization::{IsNormalized, UnicodeNormalization, char::is_combining_mark};
use unicode_segmentation::UnicodeSegmentation;

/// Switches of the text stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextOptions {
    /// Fold [`WIRE_ABBREVIATIONS`] to their short form.
    pub fold_abbreviations: bool,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions { fold_abbreviations: true }
    }
}

/// Spelled-out forms of agency (Reuters/AP style) abbreviations and the short token
/// each folds to. Both spellings map to the short form, so either side may use either.
pub const WIRE_ABBREVIATIONS: &[(&str, &str)] = &[
    ("million", "mln"),
    ("billion", "bln"),
    ("dollars", "dlrs"),
    ("dollar", "dlr"),
    ("percent", "pct"),
    ("cents", "cts"),
    ("quarter", "qtr"),
    ("year", "yr"),
    ("versus", "vs"),
    ("share", "shr"),
];

/// A normalized text: tokens separated by single spaces, and where each input line
/// that had any tokens ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalized {
    /// The tokens, single-space separated, lines joined by a space too (shingles run
    /// across line breaks, so reflowing a text does not change its shingles).
    pub text: String,
    /// Exclusive end offset in `text` of each non-empty line.
    line_ends: Vec<u32>,
    /// Start offset in `text` of every token, recorded as the tokens are written so
    /// that the shingler never searches the spaces again.
    word_starts: Vec<u32>,
    /// Per non-empty line: the raw line starts with a lower-case letter right after a
    /// non-blank line that did not end a sentence, so it most likely continues that line
    /// (hard-wrapped text) rather than standing alone.
    continues: Vec<bool>,
}

impl Normalized {
    /// Clears the text and lines, keeping allocations.
    pub fn clear(&mut self) {
        self.text.clear();
        self.line_ends.clear();
        self.word_starts.clear();
        self.continues.clear();
    }

    /// The start offset in `text` of every token, ascending: token `i` runs from
    /// `word_starts()[i]` to the space before the next start (or the end of `text`).
    pub fn word_starts(&self) -> &[u32] {
        &self.word_starts
    }

    /// The `(text, word_starts)` of the lines left after dropping the lines `skip`
    /// (indices of non-empty lines, ascending) into `out`, as if the text had had only
    /// the remaining lines.
    pub fn without_lines_into(&self, skip: &[u32], out: &mut Normalized) {
        debug_assert!(skip.is_sorted());
        out.clear();
        let mut skip = skip.iter().copied().peekable();
        let mut word = 0;
        for (ix, (start, end)) in self.line_ranges().enumerate() {
            let first = word;
            while word < self.word_starts.len() && (self.word_starts[word] as usize) < end {
                word += 1;
            }
            if skip.next_if_eq(&(ix as u32)).is_some() {
                continue;
            }
            if !out.text.is_empty() {
                out.text.push(' ');
            }
            // Every token of the line moves by the same amount.
            let shift = out.text.len() as i64 - start as i64;
            out.word_starts
                .extend(self.word_starts[first..word].iter().map(|&s| (s as i64 + shift) as u32));
            out.text.push_str(&self.text[start..end]);
            out.line_ends.push(out.text.len() as u32);
            out.continues.push(self.continues[ix]);
        }
    }

    /// For each non-empty line, whether it continues the raw line before it (starts
    /// lower-case right after a non-blank line that did not end a sentence): the tail of
    /// a hard-wrapped sentence ("said it would"), never a standalone line such as site
    /// chrome.
    pub fn continuations(&self) -> &[bool] {
        &self.continues
    }

    /// Number of non-empty lines.
    pub fn line_count(&self) -> usize {
        self.line_ends.len()
    }

    /// The byte range of every non-empty line in `text`.
    pub fn line_ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut start = 0usize;
        self.line_ends.iter().map(move |&end| {
            let range = (start, end as usize);
            start = end as usize + 1;
            range
        })
    }

    /// The text of every non-empty line.
    pub fn lines(&self) -> impl Iterator<Item = &str> + '_ {
        self.line_ranges().map(|(start, end)| &self.text[start..end])
    }
}

/// Normalizes `text` with default options into space-separated tokens. Returns an empty
/// string when the text holds no word characters.
pub fn normalize(text: &str) -> String {
    let mut out = Normalized::default();
    normalize_lines_into(text, TextOptions::default(), &mut out);
    out.text
}

/// Like [`normalize`], reusing `out`'s allocation (it is cleared first).
pub fn normalize_into(text: &str, out: &mut String) {
    let mut normalized = Normalized { text: std::mem::take(out), ..Normalized::default() };
    normalize_lines_into(text, TextOptions::default(), &mut normalized);
    *out = normalized.text;
}

/// Normalizes `text` line by line into `out` (cleared first).
///
/// The whole text is classified at once, 64 bytes per step, into bit masks (see
/// `classify`); an ASCII line then costs a walk over its words' bits. The ASCII line
/// breaks are cut from the same masks (a UTF-8 continuation byte is never ASCII, so each
/// piece is whole characters); only a piece holding non-ASCII bytes takes the per-line
/// path, which also cuts it at the non-ASCII breaks.
pub fn normalize_lines_into(text: &str, options: TextOptions, out: &mut Normalized) {
    out.clear();
    // Room for the whole output of an ASCII text at once (`emit_words` reserves per line,
    // and this makes those reservations free).
    out.text.reserve(text.len() + 32);
    TEXT_SCRATCH.with(|scratch| {
        let scratch = &mut *scratch.borrow_mut();
        let bytes = text.as_bytes();
        classify(bytes, scratch);
        let mut buffers = LineBuffers::default();
        // Whether the raw line before was non-blank and did not end a sentence: a line
        // after it that starts lower-case is the tail of a hard-wrapped sentence.
        let mut previous_runs_on = false;
        let mut start = 0;
        // The first non-ASCII byte at or after `start`: searched again only once passed
        // (searching from every line start walked an ASCII text's masks to its end once
        // per line).
        let mut next_high = next_bit(&scratch.high, 0, true);
        while start <= bytes.len() {
            let end = next_bit(&scratch.breaks, start, true).min(bytes.len());
            if next_high < start {
                next_high = next_bit(&scratch.high, start, true);
            }
            previous_runs_on = if next_high < end {
                let mut runs_on = previous_runs_on;
                for line in unicode_lines(&text[start..end]) {
                    runs_on = push_line(line, options, out, &mut buffers, runs_on);
                }
                runs_on
            } else {
                push_ascii_line(bytes, start..end, scratch, options, out, previous_runs_on)
            };
            start = end + 1;
        }
    });
}

/// [`push_line`] for an ASCII line of the text `scratch` classified, from its masks.
fn push_ascii_line(
    bytes: &[u8],
    line: std::ops::Range<usize>,
    scratch: &TextScratch,
    options: TextOptions,
    out: &mut Normalized,
    previous_runs_on: bool,
) -> bool {
    let raw = &bytes[line.clone()];
    // The rules of `line_flags` on bytes: an ASCII line needs no char decoding.
    let runs_on = raw.trim_ascii_end().last().is_some_and(|b| !b".!?:;\"".contains(b));
    let first_lower = raw.trim_ascii_start().first().is_some_and(u8::is_ascii_lowercase);
    push_tokens(out, first_lower && previous_runs_on, |text, starts| {
        // SAFETY: only ASCII bytes (of `scratch.lowered` and spaces) are appended.
        emit_words(scratch, line, options, unsafe { text.as_mut_vec() }, starts);
    });
    runs_on
}

/// Appends the tokens of one raw line (no line breaks inside) as a line of `out`;
/// returns whether the line runs on (non-blank, no sentence end).
fn push_line(
    line: &str,
    options: TextOptions,
    out: &mut Normalized,
    buffers: &mut LineBuffers,
    previous_runs_on: bool,
) -> bool {
    let (runs_on, first_lower) = line_flags(line);
    push_tokens(out, first_lower && previous_runs_on, |text, starts| {
        if ascii_view(line, &mut buffers.ascii) {
            normalize_ascii(&buffers.ascii, options, text, starts);
        } else {
            normalize_mixed(line, options, text, &mut buffers.nfkc, starts);
        }
    });
    runs_on
}

/// Of a raw line: whether it runs on (non-blank, no sentence end), and whether it
/// starts lower-case.
fn line_flags(line: &str) -> (bool, bool) {
    let trimmed = line.trim_end();
    let runs_on = !trimmed.is_empty()
        && !trimmed.ends_with(['.', '!', '?', ':', ';', '"', '\u{201D}', '\u{BB}']);
    let first_lower = line.trim_start().chars().next().is_some_and(char::is_lowercase);
    (runs_on, first_lower)
}

/// Appends the tokens `emit` writes (with their start offsets) as a new line of `out`,
/// after a separating space; a line with no tokens leaves `out` as it was.
fn push_tokens(
    out: &mut Normalized,
    continues: bool,
    emit: impl FnOnce(&mut String, &mut Vec<u32>),
) {
    let before = out.text.len();
    if before > 0 {
        out.text.push(' ');
    }
    let start = out.text.len();
    emit(&mut out.text, &mut out.word_starts);
    if out.text.len() == start {
        out.text.truncate(before);
    } else {
        out.line_ends.push(out.text.len() as u32);
        out.continues.push(continues);
    }
}

/// Buffers of the per-line path.
#[derive(Default)]
struct LineBuffers {
    /// A line's NFKC form.
    nfkc: String,
    /// A line's [`ascii_view`].
    ascii: Vec<u8>,
}

/// Writes into `view` an ASCII line with the same words as `line`, when every
/// non-ASCII character of `line` is a punctuation mark news text is full of: curly
/// quotes, dashes, guillemets, the ellipsis, the no-break space, the replacement
/// character. These are NFKC-stable or fold to ASCII punctuation (`…` to `...`, the
/// no-break space to a space), and for word boundaries `‘` and `’` are MidNumLet like
/// `'` while the rest never join a word, like a space. So the ASCII path on the view
/// gives what the Unicode path gives on the line (a property test checks it), at a
/// fraction of the cost; any other non-ASCII character returns false.
///
/// Byte-wise: ASCII runs are copied whole, and each of these characters is recognised by
/// its UTF-8 bytes (in valid UTF-8 a byte sequence names one character).
fn ascii_view(line: &str, view: &mut Vec<u8>) -> bool {
    view.clear();
    let mut rest = line.as_bytes();
    loop {
        let ascii = rest.iter().position(|b| !b.is_ascii()).unwrap_or(rest.len());
        view.extend_from_slice(&rest[..ascii]);
        rest = &rest[ascii..];
        let (b, len) = match rest {
            [] => return true,
            // U+2018, U+2019
            [0xE2, 0x80, 0x98 | 0x99, ..] => (b'\'', 3),
            // U+2013, U+2014, U+201C, U+201D, U+2026
            [0xE2, 0x80, 0x93 | 0x94 | 0x9C | 0x9D | 0xA6, ..] => (b' ', 3),
            // U+00A0, U+00AB, U+00BB
            [0xC2, 0xA0 | 0xAB | 0xBB, ..] => (b' ', 2),
            // U+FFFD
            [0xEF, 0xBF, 0xBD, ..] => (b' ', 3),
            _ => return false,
        };
        view.push(b);
        rest = &rest[len..];
    }
}

/// The lines of `piece`, a stretch with no ASCII line break (the masks cut those), split
/// at the non-ASCII ones (U+0085, U+2028, U+2029) as `str::split(is_line_break)` would,
/// found by their UTF-8 bytes rather than by decoding every character.
fn unicode_lines(piece: &str) -> impl Iterator<Item = &str> {
    let bytes = piece.as_bytes();
    let mut start = Some(0);
    std::iter::from_fn(move || {
        let from = start?;
        let mut at = from;
        while let Some(lead) = bytes[at..].iter().position(|&b| b == 0xC2 || b == 0xE2) {
            at += lead;
            let break_len = match bytes[at..] {
                [0xC2, 0x85, ..] => 2,
                [0xE2, 0x80, 0xA8 | 0xA9, ..] => 3,
                _ => 0,
            };
            if break_len > 0 {
                start = Some(at + break_len);
                return Some(&piece[from..at]);
            }
            at += 1;
        }
        start = None;
        Some(&piece[from..])
    })
}

/// The line breaks as characters: the reference the byte-level cuts (masks for ASCII,
/// [`unicode_lines`] for the rest) are tested against.
#[cfg(test)]
fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Byte classes of the ASCII word-boundary rules (UAX #29), as bit flags.
mod class {
    /// A letter.
    pub(super) const LETTER: u8 = 1;
    /// A digit.
    pub(super) const DIGIT: u8 = 2;
    /// Inside a word between two letters: `:` (MidLetter), `.` and `'` (MidNumLet,
    /// Single_Quote).
    pub(super) const MID_LETTER: u8 = 8;
    /// Inside a word between two digits: `.` and `'` (MidNumLet), `,` and `;` (MidNum).
    pub(super) const MID_DIGIT: u8 = 16;

    pub(super) const TABLE: [u8; 256] = {
        let mut table = [0u8; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            table[b] = if c.is_ascii_alphabetic() {
                LETTER
            } else if c.is_ascii_digit() {
                DIGIT
            } else {
                match c {
                    b':' => MID_LETTER,
                    b'.' | b'\'' => MID_LETTER | MID_DIGIT,
                    b',' | b';' => MID_DIGIT,
                    _ => 0,
                }
            };
            b += 1;
        }
        table
    };
}

/// Per-thread buffers of the ASCII path: a text lower-cased and its byte classes as
/// bit masks, 64 bytes per word.
#[derive(Default)]
struct TextScratch {
    lowered: Vec<u8>,
    /// Bytes inside a word (letters, digits, `_`, and Mid* bytes the rules join).
    token: Vec<u64>,
    /// Bytes kept in the token: letters and digits.
    kept: Vec<u64>,
    /// ASCII line breaks: the bytes 0x0A to 0x0D (`\n`, `\x0B`, `\x0C`, `\r`).
    breaks: Vec<u64>,
    /// Bytes of non-ASCII characters.
    high: Vec<u64>,
}

thread_local! {
    /// For [`normalize_lines_into`]'s whole text.
    static TEXT_SCRATCH: std::cell::RefCell<TextScratch> =
        std::cell::RefCell::new(TextScratch::default());
    /// For [`normalize_ascii`]'s stretches of a mixed line (used while the whole text's
    /// scratch is borrowed).
    static LINE_SCRATCH: std::cell::RefCell<TextScratch> =
        std::cell::RefCell::new(TextScratch::default());
}

/// The byte classes of one 64-byte block (zero-padded): letters, digits, `_`, the
/// bytes that join two letters, the bytes that join two digits, ASCII line breaks,
/// non-ASCII bytes; and the block lower-cased into `lowered`. Every variant below gives
/// the masks of [`block_masks_portable`] (a test checks each the CPU has). They are
/// never inlined: inlined into `classify_with`'s loop, LLVM rebuilt their vectors byte
/// by byte (callgrind: three times the instructions of the whole classification).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline(never)]
fn block_masks_sse2(block: &[u8; 64], lowered: &mut [u8; 64]) -> [u64; 7] {
    use std::arch::x86_64::*;
    let mut masks = [0u64; 7];
    for part in 0..4 {
        // SAFETY: reads and writes 16 bytes at part * 16 < 64 of 64-byte arrays.
        let v = unsafe { _mm_loadu_si128(block.as_ptr().add(part * 16).cast()) };
        let byte = |b: u8| _mm_set1_epi8(b as i8);
        let folded = _mm_or_si128(v, byte(0x20));
        // Bytes from 0x80 are negative as i8 and fail every range test.
        let letter = _mm_and_si128(
            _mm_cmpgt_epi8(folded, byte(b'a' - 1)),
            _mm_cmplt_epi8(folded, byte(b'z' + 1)),
        );
        let digit =
            _mm_and_si128(_mm_cmpgt_epi8(v, byte(b'0' - 1)), _mm_cmplt_epi8(v, byte(b'9' + 1)));
        let eq = |b: u8| _mm_cmpeq_epi8(v, byte(b));
        let both = _mm_or_si128(eq(b'.'), eq(b'\''));
        let mid_letter = _mm_or_si128(both, eq(b':'));
        let mid_digit = _mm_or_si128(both, _mm_or_si128(eq(b','), eq(b';')));
        let lower = _mm_or_si128(v, _mm_and_si128(letter, byte(0x20)));
        unsafe { _mm_storeu_si128(lowered.as_mut_ptr().add(part * 16).cast(), lower) };
        let line_break =
            _mm_and_si128(_mm_cmpgt_epi8(v, byte(0x09)), _mm_cmplt_epi8(v, byte(0x0E)));
        // The sign bit is the non-ASCII bit.
        let classes = [letter, digit, eq(b'_'), mid_letter, mid_digit, line_break, v];
        for (mask, bits) in masks.iter_mut().zip(classes) {
            *mask |= u64::from(_mm_movemask_epi8(bits) as u16) << (part * 16);
        }
    }
    masks
}

/// [`block_masks_sse2`] 32 bytes at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline(never)]
fn block_masks_avx2(block: &[u8; 64], lowered: &mut [u8; 64]) -> [u64; 7] {
    use std::arch::x86_64::*;
    let mut masks = [0u64; 7];
    for part in 0..2 {
        // SAFETY: reads and writes 32 bytes at part * 32 < 64 of 64-byte arrays.
        let v = unsafe { _mm256_loadu_si256(block.as_ptr().add(part * 32).cast()) };
        let byte = |b: u8| _mm256_set1_epi8(b as i8);
        // `a > b` (signed); bytes from 0x80 are negative and fail every range test.
        let gt = _mm256_cmpgt_epi8;
        let folded = _mm256_or_si256(v, byte(0x20));
        let letter = _mm256_and_si256(gt(folded, byte(b'a' - 1)), gt(byte(b'z' + 1), folded));
        let digit = _mm256_and_si256(gt(v, byte(b'0' - 1)), gt(byte(b'9' + 1), v));
        let eq = |b: u8| _mm256_cmpeq_epi8(v, byte(b));
        let both = _mm256_or_si256(eq(b'.'), eq(b'\''));
        let mid_letter = _mm256_or_si256(both, eq(b':'));
        let mid_digit = _mm256_or_si256(both, _mm256_or_si256(eq(b','), eq(b';')));
        let lower = _mm256_or_si256(v, _mm256_and_si256(letter, byte(0x20)));
        unsafe { _mm256_storeu_si256(lowered.as_mut_ptr().add(part * 32).cast(), lower) };
        let line_break = _mm256_and_si256(gt(v, byte(0x09)), gt(byte(0x0E), v));
        let classes = [letter, digit, eq(b'_'), mid_letter, mid_digit, line_break, v];
        for (mask, bits) in masks.iter_mut().zip(classes) {
            *mask |= u64::from(_mm256_movemask_epi8(bits) as u32) << (part * 32);
        }
    }
    masks
}

/// [`block_masks_sse2`] in one step: AVX-512BW compares straight into bit masks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
#[inline(never)]
fn block_masks_avx512(block: &[u8; 64], lowered: &mut [u8; 64]) -> [u64; 7] {
    use std::arch::x86_64::*;
    // SAFETY: reads 64 bytes of a 64-byte array.
    let v = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
    let byte = |b: u8| _mm512_set1_epi8(b as i8);
    // `lo <= x <= lo + span`, unsigned: bytes from 0x80 fall outside every range here.
    let within = |x: __m512i, lo: u8, span: u8| {
        _mm512_cmple_epu8_mask(_mm512_sub_epi8(x, byte(lo)), byte(span))
    };
    let folded = _mm512_or_si512(v, byte(0x20));
    let letter = within(folded, b'a', 25);
    let eq = |b: u8| _mm512_cmpeq_epi8_mask(v, byte(b));
    let both = eq(b'.') | eq(b'\'');
    // SAFETY: writes 64 bytes of a 64-byte array.
    unsafe {
        _mm512_storeu_si512(lowered.as_mut_ptr().cast(), _mm512_mask_mov_epi8(v, letter, folded))
    };
    [
        letter,
        within(v, b'0', 9),
        eq(b'_'),
        both | eq(b':'),
        both | eq(b',') | eq(b';'),
        within(v, 0x0A, 3),
        _mm512_movepi8_mask(v),
    ]
}

/// The reference for the block classifiers, from the class table.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn block_masks_portable(block: &[u8; 64], lowered: &mut [u8; 64]) -> [u64; 7] {
    use class::{DIGIT, LETTER, MID_DIGIT, MID_LETTER, TABLE};
    let mut masks = [0u64; 7];
    for (i, &b) in block.iter().enumerate() {
        let c = TABLE[usize::from(b)];
        let bits = [
            c & LETTER != 0,
            c & DIGIT != 0,
            b == b'_',
            c & MID_LETTER != 0,
            c & MID_DIGIT != 0,
            (0x0A..=0x0D).contains(&b),
            !b.is_ascii(),
        ];
        for (mask, bit) in masks.iter_mut().zip(bits) {
            *mask |= u64::from(bit) << i;
        }
        lowered[i] = b.to_ascii_lowercase();
    }
    masks
}

/// The UAX #29 words of an ASCII stretch, kept letters and digits lower-cased, appended
/// to `out` one space apart. Branch-light: the byte classes come 64 at a time as bit
/// masks (SIMD compares) and each word is then one copy.
fn normalize_ascii(bytes: &[u8], options: TextOptions, out: &mut String, starts: &mut Vec<u32>) {
    LINE_SCRATCH.with(|scratch| {
        let scratch = &mut *scratch.borrow_mut();
        classify(bytes, scratch);
        // SAFETY: only ASCII bytes (of `lowered` or spaces) are appended, so `out` stays
        // valid UTF-8.
        let out = unsafe { out.as_mut_vec() };
        emit_words(scratch, 0..bytes.len(), options, out, starts);
    });
}

/// Fills `scratch` with the masks and lower-cased bytes of `bytes`, with the widest
/// block classifier the CPU has.
fn classify(bytes: &[u8], scratch: &mut TextScratch) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512bw") {
            // SAFETY: the CPU supports AVX-512BW, checked just above.
            return unsafe { classify_avx512(bytes, scratch) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { classify_avx2(bytes, scratch) };
        }
        // SAFETY: SSE2 is part of x86-64, so every x86-64 CPU has it.
        classify_with(bytes, scratch, |block, lowered| unsafe { block_masks_sse2(block, lowered) })
    }
    #[cfg(not(target_arch = "x86_64"))]
    classify_with(bytes, scratch, block_masks_portable)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
fn classify_avx512(bytes: &[u8], scratch: &mut TextScratch) {
    classify_with(bytes, scratch, |block, lowered| block_masks_avx512(block, lowered));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn classify_avx2(bytes: &[u8], scratch: &mut TextScratch) {
    classify_with(bytes, scratch, |block, lowered| block_masks_avx2(block, lowered));
}

/// [`classify`] with the block classifier `block_masks`. A Mid* byte joins a word where
/// its two neighbours are both letters or both digits: shifted masks, with the
/// neighbours across a block edge carried in. Full blocks are classified in place; only
/// the last, partial one is copied into a zero-padded block.
#[inline(always)]
fn classify_with(
    bytes: &[u8],
    scratch: &mut TextScratch,
    block_masks: impl Fn(&[u8; 64], &mut [u8; 64]) -> [u64; 7],
) {
    let blocks = bytes.len().div_ceil(64);
    let TextScratch { lowered, token, kept, breaks, high } = scratch;
    // Whole blocks, and room for `emit_words`' fixed-size copies past the last one.
    if lowered.len() < blocks * 64 + COPY {
        lowered.resize(blocks * 64 + COPY, 0);
    }
    for masks in [&mut *token, &mut *kept, &mut *breaks, &mut *high] {
        masks.clear();
        masks.reserve(blocks);
    }
    let (full, tail) = bytes.as_chunks::<64>();
    let mut padded = [0u8; 64];
    padded[..tail.len()].copy_from_slice(tail);
    let mut carry = (0u64, 0u64);
    let mut previous = [0u64; 7];
    let (lowered_blocks, _) = lowered.as_chunks_mut::<64>();
    for (ix, lowered_block) in lowered_blocks[..blocks].iter_mut().enumerate() {
        let block = full.get(ix).unwrap_or(&padded);
        let current = block_masks(block, lowered_block);
        if ix > 0 {
            // Finish the block before this one, now that its right neighbour is known.
            let [letter, digit, underscore, mid_letter, mid_digit, line_breaks, non_ascii] =
                previous;
            let prev_letter = letter << 1 | carry.0;
            let prev_digit = digit << 1 | carry.1;
            let after_letter = letter >> 1 | current[0] << 63;
            let after_digit = digit >> 1 | current[1] << 63;
            let joins =
                (mid_letter & prev_letter & after_letter) | (mid_digit & prev_digit & after_digit);
            kept.push(letter | digit);
            token.push(letter | digit | underscore | joins);
            breaks.push(line_breaks);
            high.push(non_ascii);
            carry = (letter >> 63, digit >> 63);
        }
        previous = current;
    }
    if blocks > 0 {
        let [letter, digit, underscore, mid_letter, mid_digit, line_breaks, non_ascii] = previous;
        let joins = (mid_letter & (letter << 1 | carry.0) & (letter >> 1))
            | (mid_digit & (digit << 1 | carry.1) & (digit >> 1));
        kept.push(letter | digit);
        token.push(letter | digit | underscore | joins);
        breaks.push(line_breaks);
        high.push(non_ascii);
    }
}

/// Index of the first bit at or after `from` that is set in `masks` (`want` true) or
/// clear (`want` false); `masks.len() * 64` when there is none.
fn next_bit(masks: &[u64], from: usize, want: bool) -> usize {
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
fn emit_words(
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
const COPY: usize = 16;

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

/// A line with some non-ASCII text: only the stretches around non-ASCII characters go
/// through NFKC and the UAX #29 segmenter; the ASCII stretches between them take the
/// byte-level path. Identical output to [`normalize_unicode`] on the whole line (a
/// property test checks it), because the line is cut only at an ASCII space whose two
/// neighbours are ASCII:
/// - NFKC: every ASCII character is a starter that composes with nothing before it, and
///   the neighbours of the cut are ASCII, so NFKC of the line is the concatenation of
///   NFKC of the pieces (nothing can compose across the space);
/// - word boundaries: UAX #29 breaks on both sides of a space between two characters
///   that are neither spaces, Extend, Format nor ZWJ (rule WB999; the rules that look
///   further, WB6/7 and WB11/12, need a MidLetter/MidNum next to the break and the
///   regional-indicator rules need non-ASCII), so no word spans the cut and the segmenter
///   sees the same words on each piece;
/// - tokens are written piece by piece with the same spacing rule as within a piece.
fn normalize_mixed(
    line: &str,
    options: TextOptions,
    out: &mut String,
    scratch: &mut String,
    starts: &mut Vec<u32>,
) {
    let bytes = line.as_bytes();
    let safe_cut = |i: usize| {
        bytes[i] == b' '
            && i > 0
            && bytes[i - 1].is_ascii()
            && bytes.get(i + 1).is_some_and(u8::is_ascii)
    };
    let mut at = 0;
    while at < bytes.len() {
        let Some(non_ascii) = bytes[at..].iter().position(|b| !b.is_ascii()).map(|i| at + i) else {
            normalize_ascii(&bytes[at..], options, out, starts);
            return;
        };
        let start = (at..non_ascii).rev().find(|&i| safe_cut(i)).unwrap_or(at);
        normalize_ascii(&bytes[at..start], options, out, starts);
        let end = (non_ascii + 1..bytes.len()).find(|&i| safe_cut(i)).unwrap_or(bytes.len());
        // Cuts sit at ASCII bytes, so both ends are char boundaries.
        normalize_unicode(&line[start..end], options, out, scratch, starts);
        at = end;
    }
}

fn normalize_unicode(
    line: &str,
    options: TextOptions,
    out: &mut String,
    scratch: &mut String,
    starts: &mut Vec<u32>,
) {
    let composed: &str = if unicode_normalization::is_nfkc_quick(line.chars()) == IsNormalized::Yes
    {
        line
    } else {
        scratch.clear();
        scratch.extend(line.nfkc());
        scratch
    };
    for word in composed.unicode_words() {
        let mut token_start = None;
        for c in word.chars() {
            if is_combining_mark(c) {
                // Marks belong to the letter before; a mark with no letter is dropped.
                if token_start.is_some() {
                    out.push(c);
                }
                continue;
            }
            if is_unspaced_script(c) {
                finish_token(out, &mut token_start, options);
                start_token(out, &mut token_start, starts);
                out.extend(c.to_lowercase());
                // Marks after this letter stay with it; anything else starts a new token.
                continue;
            }
            if is_apostrophe(c) || !c.is_alphanumeric() || c == '\u{0640}' {
                // Punctuation inside a word, and the Arabic tatweel (a justification
                // stroke), are not part of the token.
                continue;
            }
            if ends_with_unspaced(out, token_start) {
                finish_token(out, &mut token_start, options);
            }
            start_token(out, &mut token_start, starts);
            if c == 'ς' {
                out.push('σ');
            } else {
                out.extend(c.to_lowercase());
            }
        }
        finish_token(out, &mut token_start, options);
    }
}

/// Opens a token unless one is open; the caller then writes at least one character.
fn start_token(out: &mut String, token_start: &mut Option<usize>, starts: &mut Vec<u32>) {
    if token_start.is_none() {
        if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
        *token_start = Some(out.len());
        starts.push(out.len() as u32);
    }
}

fn finish_token(out: &mut String, token_start: &mut Option<usize>, options: TextOptions) {
    if let Some(start) = token_start.take()
        && options.fold_abbreviations
    {
        fold_abbreviation(out, start);
    }
}

fn ends_with_unspaced(out: &str, token_start: Option<usize>) -> bool {
    // A mark after an unspaced-script letter is part of that letter's token, so look at
    // the last base character of the current token.
    token_start.is_some_and(|start| {
        out[start..].chars().rev().find(|c| !is_combining_mark(*c)).is_some_and(is_unspaced_script)
    })
}

/// Replaces the token `out[start..]` by its short form when it is a spelled-out
/// agency abbreviation.
fn fold_abbreviation(out: &mut String, start: usize) {
    // SAFETY: a fold replaces a whole ASCII token by an ASCII token, so `out` stays UTF-8.
    fold_abbreviation_bytes(unsafe { out.as_mut_vec() }, start);
}

/// Multiplier that sends each spelled-out form of [`WIRE_ABBREVIATIONS`] (its bytes as a
/// little-endian `u64`) to a slot of [`FOLD_TABLE`] of its own: found by a seeded
/// search, and checked when the table is built (a collision fails the build).
const FOLD_MUL: u64 = 0xf934_1c68_966b_aea1;

/// A spelled-out form and the short form it folds to.
#[derive(Clone, Copy)]
struct Fold {
    /// The long form's bytes, little-endian.
    long: u64,
    /// Its length (0 marks an empty slot: no token is empty).
    len: usize,
    short: [u8; 4],
    short_len: usize,
}

/// Every spelled-out form in the slot [`fold_slot`] gives it: a token is looked up with
/// one multiply and one compare, with no branch that depends on the token (the filter
/// and byte-string match this replaced sent a tenth of all tokens to a mispredicted
/// slow path).
const FOLD_TABLE: [Fold; 16] = {
    let mut table = [Fold { long: 0, len: 0, short: [0; 4], short_len: 0 }; 16];
    let mut i = 0;
    while i < WIRE_ABBREVIATIONS.len() {
        let (long, short) =
            (WIRE_ABBREVIATIONS[i].0.as_bytes(), WIRE_ABBREVIATIONS[i].1.as_bytes());
        assert!(long.len() < 8 && short.len() <= 4 && short.len() <= long.len());
        let word = le_word(long);
        let slot = fold_slot(word);
        assert!(table[slot].len == 0, "two spelled-out forms share a fold slot");
        let mut short_bytes = [0u8; 4];
        let mut b = 0;
        while b < short.len() {
            short_bytes[b] = short[b];
            b += 1;
        }
        table[slot] =
            Fold { long: word, len: long.len(), short: short_bytes, short_len: short.len() };
        i += 1;
    }
    table
};

/// The first (up to) 8 bytes of `bytes` as a little-endian `u64`, zero-filled.
const fn le_word(bytes: &[u8]) -> u64 {
    let mut word = 0u64;
    let mut i = 0;
    while i < bytes.len() && i < 8 {
        word |= (bytes[i] as u64) << (8 * i);
        i += 1;
    }
    word
}

const fn fold_slot(word: u64) -> usize {
    (word.wrapping_mul(FOLD_MUL) >> 60) as usize
}

/// The fold of a token of `len` bytes whose first 8 bytes (whatever follows a shorter
/// token) are `head`, little-endian; `None` when it is not a spelled-out form.
#[inline(always)]
fn fold_of(head: u64, len: usize) -> Option<&'static Fold> {
    let word = if len >= 8 { head } else { head & ((1u64 << (8 * len)) - 1) };
    let entry = &FOLD_TABLE[fold_slot(word)];
    (entry.long == word && entry.len == len).then_some(entry)
}

fn fold_abbreviation_bytes(out: &mut Vec<u8>, start: usize) {
    let folded = fold_abbreviation_in_place(&mut out[start..]);
    out.truncate(start + folded);
}

/// Folds `token` (a whole token) in place when it is a spelled-out agency abbreviation;
/// returns its length after folding (a short form is never longer).
fn fold_abbreviation_in_place(token: &mut [u8]) -> usize {
    match fold_of(le_word(token), token.len()) {
        Some(fold) => {
            token[..fold.short_len].copy_from_slice(&fold.short[..fold.short_len]);
            fold.short_len
        }
        None => token.len(),
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{FF07}')
}

/// Scripts whose words are not separated by spaces.
pub fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF      // Thai, Lao
        | 0x0F00..=0x0FFF    // Tibetan
        | 0x1000..=0x109F    // Myanmar
        | 0x1780..=0x17FF    // Khmer
        | 0x2E80..=0x2FDF    // CJK radicals
        | 0x3005..=0x3007    // ideographic iteration and number marks
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x31F0..=0x31FF    // Katakana extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF66..=0xFF9F    // half-width Katakana
        | 0x20000..=0x3FFFF  // CJK extensions B..
    )
}

/// Byte ranges of the tokens of a normalized string.
pub fn token_spans(normalized: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = normalized.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let end = memchr_space(&bytes[start..]).map_or(bytes.len(), |i| start + i);
        let span = (start, end);
        start = end + 1;
        Some(span)
    })
}

fn memchr_space(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unicode_path(text: &str, options: TextOptions) -> String {
        let mut out = String::new();
        normalize_unicode(text, options, &mut out, &mut String::new(), &mut Vec::new());
        out
    }

    /// The UAX #29 path line by line (`\n` only), non-empty lines joined by spaces.
    fn unicode_path_by_line(text: &str, options: TextOptions) -> String {
        let lines: Vec<String> =
            text.split('\n').map(|l| unicode_path(l, options)).filter(|l| !l.is_empty()).collect();
        lines.join(" ")
    }

    /// `text` normalized one line at a time through the per-line path.
    fn line_by_line(text: &str, options: TextOptions) -> Normalized {
        let mut out = Normalized::default();
        let mut runs_on = false;
        for line in text.split(is_line_break) {
            runs_on = push_line(line, options, &mut out, &mut LineBuffers::default(), runs_on);
        }
        out
    }

    #[test]
    fn folds_case_punctuation_and_whitespace() {
        assert_eq!(
            normalize("  Hello,   WORLD!\n\tIt's 79.41 U.S. dlrs  "),
            "hello world its 7941 us dlrs"
        );
    }

    #[test]
    fn word_boundaries_follow_uax29() {
        // Inner punctuation joins a word only between letters (".", "'", ":") or digits
        // (".", ",", ";"); hyphens and slashes always split.
        assert_eq!(
            normalize("first-quarter e.g. a.1 1,140.4 c:a 3;4 x:1"),
            "first qtr eg a 1 11404 ca 34 x 1"
        );
        assert_eq!(normalize("snake_case __init__ t.me/abc"), "snakecase init tme abc");
        assert_eq!(normalize("'quoted' ''"), "quoted");
    }

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
    fn simd_block_masks_match_the_class_table() {
        let mut state = 7u64;
        for round in 0..2000 {
            let mut block = [0u8; 64];
            for b in &mut block {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                // Half the rounds all bytes, half the ones the rules care about.
                let r = (state >> 33) as u8;
                *b = if round % 2 == 0 { r } else { b"aZ09_:.',;-x \x80\xff"[usize::from(r) % 15] };
            }
            let mut slow = [0u8; 64];
            let expected = block_masks_portable(&block, &mut slow);
            #[cfg(target_arch = "x86_64")]
            {
                let mut fast = [0u8; 64];
                // SAFETY: SSE2 is part of x86-64.
                assert_eq!(unsafe { block_masks_sse2(&block, &mut fast) }, expected);
                assert_eq!(fast, slow);
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    assert_eq!(unsafe { block_masks_avx2(&block, &mut fast) }, expected);
                    assert_eq!(fast, slow);
                }
                if std::arch::is_x86_feature_detected!("avx512bw") {
                    // SAFETY: the CPU supports AVX-512BW, checked just above.
                    assert_eq!(unsafe { block_masks_avx512(&block, &mut fast) }, expected);
                    assert_eq!(fast, slow);
                }
            }
        }
    }

    /// `ascii_view` as it was written first, char by char: the reference for the
    /// byte-wise one.
    fn ascii_view_by_chars(line: &str) -> Option<Vec<u8>> {
        line.chars()
            .map(|c| match c {
                c if c.is_ascii() => Some(c as u8),
                '\u{2018}' | '\u{2019}' => Some(b'\''),
                '\u{201C}' | '\u{201D}' | '\u{2013}' | '\u{2014}' | '\u{AB}' | '\u{BB}'
                | '\u{2026}' | '\u{A0}' | '\u{FFFD}' => Some(b' '),
                _ => None,
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn ascii_view_bytes_match_chars(
            text in "([a-z .'\"]|\u{2018}|\u{2019}|\u{201C}|\u{201D}|\u{2013}|\u{2014}|\u{2015}|\u{2020}|\u{AB}|\u{BB}|\u{A0}|\u{A1}|\u{85}|\u{2026}|\u{2028}|\u{FFFD}|\u{FFFC}|é|\u{80}){0,40}",
        ) {
            let mut view = Vec::new();
            let fast = ascii_view(&text, &mut view).then_some(view);
            proptest::prop_assert_eq!(fast, ascii_view_by_chars(&text));
        }

        #[test]
        fn unicode_lines_match_char_split(
            text in "([a-z ]|\u{85}|\u{2028}|\u{2029}|\u{2027}|\u{202A}|\u{A8}|\u{C5}|\u{2018}|é){0,40}",
        ) {
            let fast: Vec<&str> = unicode_lines(&text).collect();
            let slow: Vec<&str> = text.split(is_line_break).collect();
            proptest::prop_assert_eq!(fast, slow);
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
        fn fold_is_exactly_the_published_table(
            token in "[a-z]{1,10}|million|billion|dollars?|percent|cents|quarter|year|versus|share|[a-z]{0,3}(mln|pct|year|share|cents)[a-z]{0,2}",
            after in proptest::num::u64::ANY,
        ) {
            let expected = WIRE_ABBREVIATIONS
                .iter()
                .find(|(long, _)| *long == token)
                .map(|(_, short)| short.as_bytes());
            // Whatever follows the token in the 8 bytes `fold_of` reads does not matter.
            let mut head = after.to_le_bytes();
            let len = token.len().min(8);
            head[..len].copy_from_slice(&token.as_bytes()[..len]);
            let found = fold_of(u64::from_le_bytes(head), token.len());
            proptest::prop_assert_eq!(found.map(|f| &f.short[..f.short_len]), expected);
        }
    }

    #[test]
    fn fold_match_is_the_published_table() {
        for (long, short) in WIRE_ABBREVIATIONS {
            for token in [*long, *short] {
                let mut out = format!("x {token}").into_bytes();
                fold_abbreviation_bytes(&mut out, 2);
                assert_eq!(out, format!("x {short}").into_bytes());
            }
        }
        for other in ["millions", "year1", "cent", "shares", "mill", "dollarz"] {
            let mut out = other.as_bytes().to_vec();
            fold_abbreviation_bytes(&mut out, 0);
            assert_eq!(out, other.as_bytes());
        }
    }

    proptest::proptest! {
        #[test]
        fn mixed_line_path_matches_unicode_path_on_any_line(
            text in "([a-zA-Z0-9 _:.,;'\"\t]|[^\n\r\u{0B}\u{0C}\u{85}\u{2028}\u{2029}]|\u{0301}|\u{2019}|é|ß|ﬁ|①|ｶﾞ|가|\u{1F1FA}\u{1F1F8}| ){0,48}",
            fold in proptest::bool::ANY,
        ) {
            let options = TextOptions { fold_abbreviations: fold };
            let mut fast = String::new();
            normalize_mixed(&text, options, &mut fast, &mut String::new(), &mut Vec::new());
            proptest::prop_assert_eq!(fast, unicode_path(&text, options));
        }

        #[test]
        fn byte_wise_line_cuts_match_char_wise(
            text in "([a-z0-9 .,:;_'A]|\n|\r|\u{0B}|\u{0C}|\u{85}|\u{2028}|\u{2029}|é|\u{201D}){0,200}",
        ) {
            let mut fast = Normalized::default();
            normalize_lines_into(&text, TextOptions::default(), &mut fast);
            proptest::prop_assert_eq!(fast, line_by_line(&text, TextOptions::default()));
        }

        #[test]
        fn ascii_line_flags_match_char_rules(
            text in "([a-zA-Z .!?:;\"\t]|\n|\u{0B}){0,40}",
        ) {
            // The char-wise rules every line used to take.
            let mut expected = Vec::new();
            let mut previous_runs_on = false;
            for line in text.split(is_line_break) {
                let trimmed = line.trim_end();
                let runs_on = !trimmed.is_empty() && !trimmed.ends_with(['.', '!', '?', ':', ';', '"']);
                if !normalize(line).is_empty() {
                    let first = line.trim_start().chars().next();
                    expected.push(first.is_some_and(char::is_lowercase) && previous_runs_on);
                }
                previous_runs_on = runs_on;
            }
            let mut out = Normalized::default();
            normalize_lines_into(&text, TextOptions::default(), &mut out);
            proptest::prop_assert_eq!(out.continuations(), &expected[..]);
        }

        #[test]
        fn whole_text_path_matches_unicode_path_per_line(
            text in "[a-zA-Z0-9 _:.,;'\\-\"\n]{0,300}",
            fold in proptest::bool::ANY,
        ) {
            let options = TextOptions { fold_abbreviations: fold };
            let mut fast = Normalized::default();
            normalize_lines_into(&text, options, &mut fast);
            proptest::prop_assert_eq!(fast.text, unicode_path_by_line(&text, options));
        }

        #[test]
        fn long_words_match_unicode_path(
            // Words up to ~150 bytes, some with a dropped byte, across 64-byte mask words.
            text in "(-{0,3}[a-zA-Z]{0,70}[_.'1]?[a-z0-9]{0,70}_?[ \n]){0,8}",
            fold in proptest::bool::ANY,
        ) {
            let options = TextOptions { fold_abbreviations: fold };
            let mut fast = Normalized::default();
            normalize_lines_into(&text, options, &mut fast);
            proptest::prop_assert_eq!(fast.text, unicode_path_by_line(&text, options));
        }

        #[test]
        fn ascii_view_matches_unicode_path(
            text in "([a-zA-Z0-9 _:.,;'\"]|\u{2018}|\u{2019}|\u{201C}|\u{201D}|\u{2013}|\u{2014}|\u{AB}|\u{BB}|\u{2026}|\u{A0}|\u{FFFD}){0,60}",
            fold in proptest::bool::ANY,
        ) {
            let options = TextOptions { fold_abbreviations: fold };
            let mut view = Vec::new();
            proptest::prop_assert!(ascii_view(&text, &mut view));
            let mut fast = String::new();
            normalize_ascii(&view, options, &mut fast, &mut Vec::new());
            proptest::prop_assert_eq!(fast, unicode_path(&text, options));
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

    /// The token starts as a search for spaces finds them (independent of the writers).
    fn starts_by_spaces(text: &str) -> Vec<u32> {
        token_spans(text).map(|(start, _)| start as u32).collect()
    }

    proptest::proptest! {
        #[test]
        fn word_starts_are_where_the_tokens_start(
            text in "([a-zA-Z0-9 _:.,;'\"\t]|million|Year|\n|\r|\u{0B}|\u{85}|\u{2028}|\u{2019}|\u{201C}|\u{2014}|\u{A0}|é|ß|ﬁ|東京|カタ|ข่า|\u{0301}|①|ｶﾞ|가|_x_|U\\.S\\.){0,120}",
            fold in proptest::bool::ANY,
        ) {
            let options = TextOptions { fold_abbreviations: fold };
            let mut out = Normalized::default();
            normalize_lines_into(&text, options, &mut out);
            proptest::prop_assert_eq!(out.word_starts(), &starts_by_spaces(&out.text)[..]);
            // Every writer records them: the per-line paths too.
            let slow = line_by_line(&text, options);
            proptest::prop_assert_eq!(slow.word_starts(), &starts_by_spaces(&slow.text)[..]);
        }

        #[test]
        fn without_lines_is_the_text_of_the_other_lines(
            lines in proptest::collection::vec("[a-z ]{0,12}", 0..12),
            skip_bits in proptest::num::u16::ANY,
        ) {
            let mut full = Normalized::default();
            normalize_lines_into(&lines.join("\n"), TextOptions::default(), &mut full);
            let skip: Vec<u32> =
                (0..full.line_count() as u32).filter(|&i| skip_bits >> i & 1 != 0).collect();
            let kept: Vec<&str> = full
                .lines()
                .enumerate()
                .filter(|(ix, _)| !skip.contains(&(*ix as u32)))
                .map(|(_, line)| line)
                .collect();
            let mut expected = Normalized::default();
            normalize_lines_into(&kept.join("\n"), TextOptions::default(), &mut expected);
            let mut out = Normalized::default();
            full.without_lines_into(&skip, &mut out);
            proptest::prop_assert_eq!(&out.text, &expected.text);
            proptest::prop_assert_eq!(out.word_starts(), expected.word_starts());
            proptest::prop_assert_eq!(out.lines().collect::<Vec<_>>(), kept);
        }
    }

    #[test]
    fn folds_typographic_variants() {
        assert_eq!(
            normalize("the bloc’s “military” potential – 1997"),
            normalize("the bloc's \"military\" potential - 1997")
        );
        assert_eq!(normalize("ＦＵＬＬ　ｗｉｄｔｈ ﬁne"), "full width fine");
    }

    #[test]
    fn folds_wire_abbreviations_both_ways() {
        assert_eq!(
            normalize("32 million dollars, up 21 percent"),
            normalize("32 mln dlrs, up 21 pct")
        );
        let plain = TextOptions { fold_abbreviations: false };
        let mut out = Normalized::default();
        normalize_lines_into("32 million dollars", plain, &mut out);
        assert_eq!(out.text, "32 million dollars");
    }

    #[test]
    fn scripts() {
        assert_eq!(normalize("Путин и Макрон обсудили"), "путин и макрон обсудили");
        assert_eq!(normalize("ΟΔΥΣΣΕΥΣ"), "οδυσσευσ");
        assert_eq!(normalize("东京大学"), "东 京 大 学");
        assert_eq!(normalize("カタカナ"), "カ タ カ ナ");
        assert_eq!(normalize("ข่าวด่วน"), "ข่ า ว ด่ ว น");
        // Devanagari vowel signs are combining marks and stay inside the word.
        assert_eq!(normalize("नमस्ते दुनिया"), "नमस्ते दुनिया");
        // Hebrew gershayim inside an acronym does not split it (UAX #29 WB7b/c).
        assert_eq!(normalize("צה\"ל הודיע"), "צהל הודיע");
        // Arabic tatweel is a justification stroke, not a letter.
        assert_eq!(normalize("مـــصر"), normalize("مصر"));
        // Mixed scripts in one line.
        assert_eq!(normalize("Tokyo東京2020年"), "tokyo 東 京 2020 年");
    }

    #[test]
    fn lines_are_kept() {
        let mut out = Normalized::default();
        normalize_lines_into(
            "Home » News\r\n\n  \nBody, first line\nsecond”\n--",
            TextOptions::default(),
            &mut out,
        );
        assert_eq!(out.text, "home news body first line second");
        assert_eq!(out.lines().collect::<Vec<_>>(), ["home news", "body first line", "second"]);
        // "second”" starts lower-case right after a line that runs on: a continuation.
        assert_eq!(out.continuations(), [false, false, true]);
        normalize_lines_into(
            "Ends here.\nnext\n\nsite.example | News",
            TextOptions::default(),
            &mut out,
        );
        assert_eq!(out.continuations(), [false, false, false]);
        assert_eq!(out.line_count(), 3);
    }

    #[test]
    fn empty_and_symbols_only() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" -- !! ... "), "");
        assert_eq!(normalize("\u{0301}abc"), "abc");
        assert_eq!(normalize("\n\n"), "");
    }

    #[test]
    fn spans() {
        let spans: Vec<_> = token_spans("ab c def").collect();
        assert_eq!(spans, vec![(0, 2), (3, 4), (5, 8)]);
        assert_eq!(token_spans("").count(), 0);
    }
}
