//! The Unicode path: NFKC and UAX #29 word boundaries for the lines the ASCII path
//! cannot take. It costs a char decode, a normalization check and a segmenter step per
//! character, so it is kept to what needs it: a line whose only non-ASCII characters are
//! common punctuation is mapped to ASCII ([`ascii_view`]), and in other lines only the
//! stretches around non-ASCII characters come here ([`normalize_mixed`]).

use unicode_normalization::{IsNormalized, UnicodeNormalization, char::is_combining_mark};
use unicode_segmentation::UnicodeSegmentation;

use super::TextOptions;
use super::ascii::normalize_ascii;
use super::fold::fold_abbreviation;

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
pub(super) fn ascii_view(line: &str, view: &mut Vec<u8>) -> bool {
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
pub(super) fn unicode_lines(piece: &str) -> impl Iterator<Item = &str> {
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
pub(super) fn normalize_mixed(
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

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{FF07}')
}

/// Scripts whose words are not separated by spaces.
fn is_unspaced_script(c: char) -> bool {
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

/// The whole-line Unicode path: the reference the faster paths are tested against.
#[cfg(test)]
pub(super) fn unicode_path(text: &str, options: TextOptions) -> String {
    let mut out = String::new();
    normalize_unicode(text, options, &mut out, &mut String::new(), &mut Vec::new());
    out
}

/// The UAX #29 path line by line (`\n` only), non-empty lines joined by spaces.
#[cfg(test)]
pub(super) fn unicode_path_by_line(text: &str, options: TextOptions) -> String {
    let lines: Vec<String> =
        text.split('\n').map(|l| unicode_path(l, options)).filter(|l| !l.is_empty()).collect();
    lines.join(" ")
}

/// Checks that the driver's whole-text path normalizes `text` as the Unicode path does
/// line by line.
#[cfg(test)]
pub(super) fn assert_matches_by_line(text: &str, fold: bool) {
    let options = TextOptions { fold_abbreviations: fold };
    let mut fast = super::Normalized::default();
    super::normalize_lines_into(text, options, &mut fast);
    assert_eq!(fast.text, unicode_path_by_line(text, options), "{text:?}, fold {fold}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{is_line_break, normalize};

    /// `ascii_view` char by char: the reference for the byte-wise one.
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
}
