//! Helpers shared by the unit tests.

/// A deterministic stream of pseudo-random 64-bit values (Knuth's MMIX linear
/// congruential generator from `seed`): each call steps the state and returns it. The
/// low bits are weak, so callers take the high ones.
pub(crate) fn lcg(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        state
    }
}
