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
//! Pure ASCII input takes a byte-level fast path with identical output.

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// Normalizes `text` into space-separated tokens. Returns an empty string when the text
/// holds no word characters.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalize_into(text, &mut out);
    out
}

/// Like [`normalize`], reusing `out`'s allocation (it is cleared first).
pub fn normalize_into(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        normalize_ascii(text.as_bytes(), out);
    } else {
        normalize_unicode(text, out);
    }
    if out.ends_with(' ') {
        out.pop();
    }
}

fn normalize_ascii(bytes: &[u8], out: &mut String) {
    // SAFETY-free: we only push ASCII bytes through `push`, one char at a time.
    let mut pending_space = false;
    for &b in bytes {
        if b.is_ascii_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(b.to_ascii_lowercase() as char);
        } else if b != b'\'' {
            pending_space = true;
        }
    }
}

fn normalize_unicode(text: &str, out: &mut String) {
    let mut pending_space = false;
    for c in text.nfkc() {
        if is_apostrophe(c) {
            continue;
        }
        if is_combining_mark(c) {
            // Marks belong to the preceding letter; a stray mark at a word start is dropped.
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
        if (pending_space || solo || ends_with_unspaced(out)) && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        if c == 'ς' {
            out.push('σ');
        } else {
            out.extend(c.to_lowercase());
        }
    }
}

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
    fn ascii_fast_path_matches_unicode_path() {
        let ascii = "The bloc's \"military\" potential -- in 1997 (NATO)!";
        let mut slow = String::new();
        normalize_unicode(ascii, &mut slow);
        assert_eq!(slow.trim_end(), normalize(ascii));
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
