//! Wire-abbreviation folding: "million" and "mln" become one token, and so on for
//! [`WIRE_ABBREVIATIONS`]. Every token of every text is looked up, so the table is built
//! at compile time into 16 slots found by one multiply, and both the ASCII and the
//! Unicode path fold through it.

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

/// Replaces the token `out[start..]` by its short form when it is a spelled-out
/// agency abbreviation.
pub(super) fn fold_abbreviation(out: &mut String, start: usize) {
    // SAFETY: a fold replaces a whole ASCII token by an ASCII token, so `out` stays UTF-8.
    fold_abbreviation_bytes(unsafe { out.as_mut_vec() }, start);
}

/// Multiplier that sends each spelled-out form of [`WIRE_ABBREVIATIONS`] (its bytes as a
/// little-endian `u64`) to a slot of [`FOLD_TABLE`] of its own: found by a seeded
/// search, and checked when the table is built (a collision fails the build).
const FOLD_MUL: u64 = 0xf934_1c68_966b_aea1;

/// A spelled-out form and the short form it folds to.
#[derive(Clone, Copy)]
pub(super) struct Fold {
    /// The long form's bytes, little-endian.
    long: u64,
    /// Its length (0 marks an empty slot: no token is empty).
    len: usize,
    pub(super) short: [u8; 4],
    pub(super) short_len: usize,
}

/// Every spelled-out form in the slot [`fold_slot`] gives it: a token is looked up with
/// one multiply and one compare, with no branch that depends on the token (a filter
/// followed by a byte-string match sends a tenth of all tokens to a mispredicted slow
/// path).
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
pub(super) fn fold_of(head: u64, len: usize) -> Option<&'static Fold> {
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
pub(super) fn fold_abbreviation_in_place(token: &mut [u8]) -> usize {
    match fold_of(le_word(token), token.len()) {
        Some(fold) => {
            token[..fold.short_len].copy_from_slice(&fold.short[..fold.short_len]);
            fold.short_len
        }
        None => token.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{Normalized, TextOptions, normalize, normalize_lines_into};

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
}
