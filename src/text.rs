//! Text normalization and tokenization: raw article text to a canonical string of
//! tokens separated by single spaces. Shingles are then plain byte ranges of that string,
//! so no per-shingle strings are ever built.
//!
//! Rules: NFKC, lower case (with final sigma folded), apostrophes of any shape removed
//! inside words ("bloc’s" -> "blocs"), every other non-word character (punctuation,
//! curly quotes, dashes, symbols, whitespace) a separator. A word character is a letter,
//! digit or combining mark (so Devanagari or Arabic vowel signs stay in their word).
//! Scripts written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar,
//! Tibetan) yield one token per character, which makes shingles character n-grams there.
//!
//! Fast path, byte-identical to normalizing the whole text with NFKC first (the
//! reference, kept in the tests and compared on arbitrary Unicode by a property test).
//! Invariant: every ASCII character is an NFKC boundary (a starter with quick-check Yes
//! that no composition has as its second character), so NFKC of a text is the
//! concatenation of NFKC over segments cut before each ASCII character. ASCII runs are
//! therefore tokenized at byte level (one table lookup per byte, no intermediate
//! `String`, no UTF-8 re-validation), and only each non-ASCII run, together
//! with the one ASCII character before it (which may compose with a following combining
//! mark, `e` + U+0301), goes through NFKC, and not even that when the segment passes the
//! NFKC quick check (curly quotes, dashes and most letters do). One state machine serves
//! both paths, so its decisions cannot drift apart.

use unicode_normalization::{
    IsNormalized, UnicodeNormalization, char::is_combining_mark, is_nfkc_quick,
};

/// Normalizes `text` into space-separated tokens. Returns an empty string when the text
/// holds no word characters.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalize_into(text, &mut out);
    out
}

/// Like [`normalize`], reusing `out`'s allocation (it is cleared first).
pub fn normalize_into(text: &str, out: &mut String) {
    // Bytes, not a `String`, while writing: pushing an ASCII byte to a `Vec` is one store,
    // where `String::push` goes through `char` encoding on every byte.
    let mut bytes_out = std::mem::take(out).into_bytes();
    bytes_out.clear();
    let mut machine = Machine { out: bytes_out, pending_space: false, after_unspaced: false };
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let Some(non_ascii) = first_non_ascii(&bytes[at..]).map(|i| at + i) else {
            machine.ascii(&bytes[at..]);
            break;
        };
        // The ASCII character before a non-ASCII run joins its NFKC segment.
        let segment_start = if non_ascii > at { non_ascii - 1 } else { non_ascii };
        machine.ascii(&bytes[at..segment_start]);
        let segment_end =
            bytes[non_ascii..].iter().position(u8::is_ascii).map_or(bytes.len(), |i| non_ascii + i);
        let segment = &text[segment_start..segment_end];
        if is_nfkc_quick(segment.chars()) == IsNormalized::Yes {
            segment.chars().for_each(|c| machine.char(c));
        } else {
            segment.nfkc().for_each(|c| machine.char(c));
        }
        at = segment_end;
    }
    let mut bytes_out = machine.out;
    if bytes_out.last() == Some(&b' ') {
        bytes_out.pop();
    }
    debug_assert!(std::str::from_utf8(&bytes_out).is_ok());
    // SAFETY: the machine only appends ASCII bytes and whole UTF-8 encodings of `char`s,
    // and the one byte removed above is an ASCII space, so the bytes are valid UTF-8.
    *out = unsafe { String::from_utf8_unchecked(bytes_out) };
}

/// Index of the first byte >= 0x80, eight bytes at a time.
fn first_non_ascii(bytes: &[u8]) -> Option<usize> {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let (words, tail) = bytes.as_chunks::<8>();
    for (ix, word) in words.iter().enumerate() {
        let high = u64::from_le_bytes(*word) & HIGH;
        if high != 0 {
            return Some(ix * 8 + high.trailing_zeros() as usize / 8);
        }
    }
    tail.iter().position(|&b| b >= 0x80).map(|i| words.len() * 8 + i)
}

/// ASCII bytes mapped to what the tokenizer writes: the lower-cased byte for word
/// characters, else [`SEPARATOR`] or [`APOSTROPHE`] (dropped without splitting the word).
/// Both codes are below `'0'`, so "is a word byte" is one comparison.
const SEPARATOR: u8 = 0;
const APOSTROPHE: u8 = 1;
const ASCII_CLASS: [u8; 256] = {
    let mut table = [SEPARATOR; 256];
    let mut byte = 0;
    while byte < 128 {
        if (byte as u8).is_ascii_alphanumeric() {
            table[byte] = (byte as u8).to_ascii_lowercase();
        }
        byte += 1;
    }
    table[b'\'' as usize] = APOSTROPHE;
    table
};

/// The tokenizer's state between characters.
struct Machine {
    out: Vec<u8>,
    /// A separator was seen since the last word character.
    pending_space: bool,
    /// The last base character written belongs to a script written without spaces.
    after_unspaced: bool,
}

impl Machine {
    /// ASCII text at byte level: one table lookup and no branch per byte. An ASCII run's
    /// output is never longer than the run plus one space, so it is written into a
    /// zeroed window that is then cut to length.
    fn ascii(&mut self, bytes: &[u8]) {
        let start = self.out.len();
        self.out.resize(start + bytes.len() + 1, 0);
        let window = &mut self.out[start..];
        let mut written = 0;
        let mut nonempty = start > 0;
        let mut pending = self.pending_space;
        let mut after_unspaced = self.after_unspaced;
        for &byte in bytes {
            let class = ASCII_CLASS[byte as usize];
            let word = class > APOSTROPHE;
            window[written] = b' ';
            written += usize::from(word & (pending | after_unspaced) & nonempty);
            window[written] = class;
            written += usize::from(word);
            nonempty |= word;
            pending = (pending | (class == SEPARATOR)) & !word;
            after_unspaced &= !word;
        }
        self.out.truncate(start + written);
        self.pending_space = pending;
        self.after_unspaced = after_unspaced;
    }

    /// One character of NFKC output.
    fn char(&mut self, c: char) {
        if is_apostrophe(c) {
            return;
        }
        if is_combining_mark(c) {
            // Marks belong to the preceding letter; a stray mark at a word start is dropped.
            if !self.pending_space && !self.out.is_empty() {
                self.push(c);
            }
            return;
        }
        if !c.is_alphanumeric() {
            self.pending_space = true;
            return;
        }
        let solo = is_unspaced_script(c);
        self.space_before(solo);
        if c == 'ς' {
            self.push('σ');
        } else {
            c.to_lowercase().for_each(|lower| self.push(lower));
        }
    }

    fn push(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }

    /// Writes the separator a word character at this point needs, and records whether
    /// that character is one of an unspaced script.
    fn space_before(&mut self, unspaced: bool) {
        if (self.pending_space || unspaced || self.after_unspaced) && !self.out.is_empty() {
            self.out.push(b' ');
        }
        self.pending_space = false;
        self.after_unspaced = unspaced;
    }
}

/// The definition the fast path must match: NFKC over the whole text, then the same
/// rules character by character.
#[cfg(test)]
fn normalize_reference(text: &str) -> String {
    let mut out = String::new();
    let mut pending_space = false;
    for c in text.nfkc() {
        if is_apostrophe(c) {
            continue;
        }
        if is_combining_mark(c) {
            if !pending_space && !out.is_empty() {
                out.push(c);
            }
            continue;
        }
        if !c.is_alphanumeric() {
            pending_space = true;
            continue;
        }
        let solo = is_unspaced_script(c);
        if (pending_space || solo || ends_with_unspaced(&out)) && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        if c == 'ς' {
            out.push('σ');
        } else {
            out.extend(c.to_lowercase());
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

#[cfg(test)]
fn ends_with_unspaced(out: &str) -> bool {
    // A mark after an unspaced-script letter is part of that letter's token, so look at
    // the last base character.
    out.chars().rev().find(|c| !is_combining_mark(*c)).is_some_and(is_unspaced_script)
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

    #[test]
    fn folds_case_punctuation_and_whitespace() {
        assert_eq!(
            normalize("  Hello,   WORLD!\n\tIt's 79.41 U.S. dlrs  "),
            "hello world its 79 41 u s dlrs"
        );
    }

    #[test]
    fn fast_path_matches_reference() {
        for text in [
            "The bloc's \"military\" potential -- in 1997 (NATO)!",
            "the bloc’s “military” potential – 1997",
            "cafe\u{301} cafe\u{0301}s e\u{301}\u{327} A\u{30a}ngstro\u{308}m",
            "ＦＵＬＬ　ｗｉｄｔｈ ﬁne x\u{fb01}y",
            "东a京 b大学c ข่าวด่วนd",
            "\u{301}abc 'x' \u{1100}\u{1161}\u{11a8}z",
        ] {
            assert_eq!(normalize(text), normalize_reference(text), "{text:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn fast_path_matches_reference_on_any_unicode(text in any_unicode()) {
            proptest::prop_assert_eq!(normalize(&text), normalize_reference(&text));
        }
    }

    /// Arbitrary strings weighted towards what makes NFKC and tokenizing interesting:
    /// ASCII next to combining marks, compatibility characters, Hangul jamo, unspaced
    /// scripts, apostrophes and final sigma, plus any `char` at all.
    fn any_unicode() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let interesting = prop_oneof![
            4 => proptest::char::range('\0', '\x7f'),
            2 => proptest::char::range('\u{300}', '\u{36f}'),
            1 => proptest::sample::select(vec![
                '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2013}', '\u{2014}',
                '\u{02bc}', '\u{ff07}', '\u{fb01}', '\u{ff21}', '\u{3000}', '\u{2126}',
                '\u{212b}', 'ς', 'Σ', 'İ', 'ß', '\u{1e9e}', '\u{0345}', '\u{0e48}',
            ]),
            1 => proptest::char::range('\u{1100}', '\u{11ff}'),
            1 => proptest::char::range('\u{ac00}', '\u{ac40}'),
            1 => proptest::char::range('\u{0e00}', '\u{0e7f}'),
            1 => proptest::char::range('\u{4e00}', '\u{4e40}'),
            1 => proptest::char::range('\u{ff00}', '\u{ffef}'),
            2 => any::<char>(),
        ];
        proptest::collection::vec(interesting, 0..40).prop_map(|chars| chars.into_iter().collect())
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
    fn scripts() {
        assert_eq!(normalize("Путин и Макрон обсудили"), "путин и макрон обсудили");
        assert_eq!(normalize("ΟΔΥΣΣΕΥΣ"), "οδυσσευσ");
        assert_eq!(normalize("东京大学"), "东 京 大 学");
        assert_eq!(normalize("ข่าวด่วน"), "ข่ า ว ด่ ว น");
        // Devanagari vowel signs are combining marks and stay inside the word.
        assert_eq!(normalize("नमस्ते दुनिया"), "नमस्ते दुनिया");
    }

    #[test]
    fn empty_and_symbols_only() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" -- !! ... "), "");
        assert_eq!(normalize("\u{0301}abc"), "abc");
    }

    #[test]
    fn spans() {
        let spans: Vec<_> = token_spans("ab c def").collect();
        assert_eq!(spans, vec![(0, 2), (3, 4), (5, 8)]);
        assert_eq!(token_spans("").count(), 0);
    }
}
