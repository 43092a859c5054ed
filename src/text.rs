//! Text normalization and tokenization: raw article text to a canonical string of
//! tokens separated by single spaces, line by line. Shingles are then plain byte ranges
//! of that string, so no per-shingle strings are ever built; the line structure is kept
//! so that boilerplate lines can be left out (see [`crate::boilerplate`]).
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
        self.continues.clear();
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
pub fn normalize_lines_into(text: &str, options: TextOptions, out: &mut Normalized) {
    out.clear();
    out.text.reserve(text.len() + 1);
    let mut scratch = String::new();
    // Whether the raw line before was non-blank and did not end a sentence: a line
    // after it that starts lower-case is the tail of a hard-wrapped sentence.
    let mut previous_runs_on = false;
    let bytes = text.as_bytes();
    let mut start = 0;
    // The ASCII line breaks are cut byte-wise (a UTF-8 continuation byte is never
    // ASCII, so each piece is whole characters); only a piece holding non-ASCII bytes is
    // searched again for the non-ASCII breaks, so most text is never decoded to chars.
    while start <= bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| matches!(b, b'\n' | b'\r' | 0x0B | 0x0C))
            .map_or(bytes.len(), |at| start + at);
        let piece = &text[start..end];
        if piece.is_ascii() {
            previous_runs_on = push_line(piece, options, out, &mut scratch, previous_runs_on);
        } else {
            for line in piece.split(is_line_break) {
                previous_runs_on = push_line(line, options, out, &mut scratch, previous_runs_on);
            }
        }
        start = end + 1;
    }
}

/// Appends the tokens of one raw line (no line breaks inside) as a line of `out`;
/// returns whether the line runs on (non-blank, no sentence end).
fn push_line(
    line: &str,
    options: TextOptions,
    out: &mut Normalized,
    scratch: &mut String,
    previous_runs_on: bool,
) -> bool {
    let trimmed = line.trim_end();
    let runs_on = !trimmed.is_empty()
        && !trimmed.ends_with(['.', '!', '?', ':', ';', '"', '\u{201D}', '\u{BB}']);
    let before = out.text.len();
    if before > 0 {
        out.text.push(' ');
    }
    let start = out.text.len();
    if line.is_ascii() {
        normalize_ascii(line.as_bytes(), options, &mut out.text);
    } else {
        normalize_mixed(line, options, &mut out.text, scratch);
    }
    if out.text.len() == start {
        out.text.truncate(before);
    } else {
        out.line_ends.push(out.text.len() as u32);
        let first = line.trim_start().chars().next();
        out.continues.push(first.is_some_and(char::is_lowercase) && previous_runs_on);
    }
    runs_on
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Byte classes of the ASCII word-boundary rules (UAX #29), as bit flags.
mod class {
    /// A letter.
    pub(super) const LETTER: u8 = 1;
    /// A digit.
    pub(super) const DIGIT: u8 = 2;
    /// Part of a word: letters, digits and `_` (ExtendNumLet, which joins letters and
    /// digits but is not itself kept).
    pub(super) const WORD: u8 = 4;
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
                LETTER | WORD
            } else if c.is_ascii_digit() {
                DIGIT | WORD
            } else {
                match c {
                    b'_' => WORD,
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

fn normalize_ascii(bytes: &[u8], options: TextOptions, out: &mut String) {
    use class::{DIGIT, LETTER, MID_DIGIT, MID_LETTER, TABLE, WORD};
    let class = |b: u8| TABLE[usize::from(b)];
    // SAFETY: only ASCII bytes are appended below, so `out` stays valid UTF-8.
    let target = unsafe { out.as_mut_vec() };
    // Worked on as a local so its length and capacity stay in registers: behind a
    // reference they are reloaded after every byte written.
    let mut local = std::mem::take(target);
    let out = &mut local;
    out.reserve(bytes.len() + 1);
    let mut i = 0;
    while i < bytes.len() {
        if class(bytes[i]) & WORD == 0 {
            i += 1;
            continue;
        }
        let token_start = out.len();
        if out.last().is_some_and(|&b| b != b' ') {
            out.push(b' ');
        }
        let kept_start = out.len();
        // One word: runs of word bytes, joined by a Mid* byte where the rules say "no
        // break" (between two letters or two digits). Only letters and digits are kept.
        let mut end = i;
        loop {
            while let Some(&b) = bytes.get(end)
                && class(b) & WORD != 0
            {
                if b != b'_' {
                    out.push(b.to_ascii_lowercase());
                }
                end += 1;
            }
            let (Some(&here), Some(&after)) = (bytes.get(end), bytes.get(end + 1)) else {
                break;
            };
            let joins = class(bytes[end - 1]) & class(after) & (LETTER | DIGIT);
            let joins = (joins & LETTER != 0 && class(here) & MID_LETTER != 0)
                || (joins & DIGIT != 0 && class(here) & MID_DIGIT != 0);
            if !joins {
                break;
            }
            end += 1;
        }
        if out.len() == kept_start {
            out.truncate(token_start);
        } else if options.fold_abbreviations {
            fold_abbreviation_bytes(out, kept_start);
        }
        i = end;
    }
    *target = local;
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
fn normalize_mixed(line: &str, options: TextOptions, out: &mut String, scratch: &mut String) {
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
            normalize_ascii(&bytes[at..], options, out);
            return;
        };
        let start = (at..non_ascii).rev().find(|&i| safe_cut(i)).unwrap_or(at);
        normalize_ascii(&bytes[at..start], options, out);
        let end = (non_ascii + 1..bytes.len()).find(|&i| safe_cut(i)).unwrap_or(bytes.len());
        // Cuts sit at ASCII bytes, so both ends are char boundaries.
        normalize_unicode(&line[start..end], options, out, scratch);
        at = end;
    }
}

fn normalize_unicode(line: &str, options: TextOptions, out: &mut String, scratch: &mut String) {
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
                start_token(out, &mut token_start);
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
            start_token(out, &mut token_start);
            if c == 'ς' {
                out.push('σ');
            } else {
                out.extend(c.to_lowercase());
            }
        }
        finish_token(out, &mut token_start, options);
    }
}

fn start_token(out: &mut String, token_start: &mut Option<usize>) {
    if token_start.is_none() {
        if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
        *token_start = Some(out.len());
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

fn fold_abbreviation_bytes(out: &mut Vec<u8>, start: usize) {
    let token = &out[start..];
    // Most tokens fail on length or first letter, before any comparison.
    if !(4..=7).contains(&token.len())
        || !matches!(token[0], b'm' | b'b' | b'd' | b'p' | b'c' | b'q' | b'y' | b'v' | b's')
    {
        return;
    }
    if let Some((_, short)) = WIRE_ABBREVIATIONS.iter().find(|(long, _)| long.as_bytes() == token) {
        out.truncate(start);
        out.extend_from_slice(short.as_bytes());
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
        normalize_unicode(text, options, &mut out, &mut String::new());
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
                normalize_ascii(ascii.as_bytes(), options, &mut fast);
                assert_eq!(fast, unicode_path(ascii, options), "{ascii:?}");
            }
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
            normalize_mixed(&text, options, &mut fast, &mut String::new());
            proptest::prop_assert_eq!(fast, unicode_path(&text, options));
        }

        #[test]
        fn byte_wise_line_cuts_match_char_wise(
            text in "([a-z .A]|\n|\r|\u{0B}|\u{0C}|\u{85}|\u{2028}|\u{2029}|é|\u{201D}){0,40}",
        ) {
            let mut fast = Normalized::default();
            normalize_lines_into(&text, TextOptions::default(), &mut fast);
            let mut slow = Normalized::default();
            let mut runs_on = false;
            for line in text.split(is_line_break) {
                runs_on = push_line(line, TextOptions::default(), &mut slow, &mut String::new(), runs_on);
            }
            proptest::prop_assert_eq!(fast, slow);
        }

        #[test]
        fn ascii_fast_path_matches_unicode_path_on_any_ascii(
            text in "[a-zA-Z0-9 _:.,;'\\-\"!?()\t]{0,64}",
            fold in proptest::bool::ANY,
        ) {
            let options = TextOptions { fold_abbreviations: fold };
            let mut fast = String::new();
            normalize_ascii(text.as_bytes(), options, &mut fast);
            proptest::prop_assert_eq!(fast, unicode_path(&text, options));
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
