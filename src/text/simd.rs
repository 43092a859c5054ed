//! The byte classifier: a text's bytes into bit masks (in a word, kept, line break,
//! non-ASCII), 64 bytes per step, with the widest vector unit the CPU has, chosen at run
//! time. Separate from the word writer because it is the one CPU-specific part: every
//! variant must give the masks of the portable one (a test checks each the CPU has), and
//! the rest of the text stage only ever sees the masks.

use super::ascii::COPY;

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
pub(super) struct TextScratch {
    /// The text lower-cased (ASCII letters only), padded for the word copies.
    pub(super) lowered: Vec<u8>,
    /// Bytes inside a word (letters, digits, `_`, and Mid* bytes the rules join).
    pub(super) token: Vec<u64>,
    /// Bytes kept in the token: letters and digits.
    pub(super) kept: Vec<u64>,
    /// ASCII line breaks: the bytes 0x0A to 0x0D (`\n`, `\x0B`, `\x0C`, `\r`).
    pub(super) breaks: Vec<u64>,
    /// Bytes of non-ASCII characters.
    pub(super) high: Vec<u64>,
}

/// The byte classes of one 64-byte block (zero-padded): letters, digits, `_`, the
/// bytes that join two letters, the bytes that join two digits, ASCII line breaks,
/// non-ASCII bytes; and the block lower-cased into `lowered`. Every variant below gives
/// the masks of [`block_masks_portable`] (a test checks each the CPU has). They are
/// never inlined: inlined into `classify_with`'s loop, LLVM rebuilds their vectors byte
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

/// Fills `scratch` with the masks and lower-cased bytes of `bytes`, with the widest
/// block classifier the CPU has.
pub(super) fn classify(bytes: &[u8], scratch: &mut TextScratch) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_block_masks_match_the_class_table() {
        let mut next = crate::testing::lcg(7);
        for round in 0..2000 {
            let mut block = [0u8; 64];
            for b in &mut block {
                // Half the rounds all bytes, half the ones the rules care about.
                let r = (next() >> 33) as u8;
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
}
