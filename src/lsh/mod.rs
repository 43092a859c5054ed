//! Locality-sensitive hashing over MinHash signatures: `b` bands of `r` rows (MMDS 3.4).
//! Two signatures become candidates when all rows of at least one band agree, that is
//! when they share a band key. The online service and the batch scan store buckets
//! differently ([`LshIndex`] takes inserts and removals at any time, [`SortedBands`]
//! sorts a known set once), but both key a band with [`band_key`], so a signature lands
//! in the same bucket either way.

use gxhash::gxhash64;

mod index;
#[cfg(feature = "scan")]
mod sorted;
mod tuning;

pub use index::LshIndex;
#[cfg(feature = "scan")]
pub use sorted::SortedBands;
pub use tuning::optimal_bands;

/// Dense index of a document among the signatures an index or a scan holds.
pub type Slot = u32;

/// The key of band `band` of `signature` (lanes `band * rows..(band + 1) * rows`): gxhash
/// of the rows' little-endian bytes, seeded per band so equal rows in different bands
/// never share a bucket.
pub fn band_key(signature: &[u32], band: usize, rows: usize, seed: u64) -> u64 {
    debug_assert!(rows <= 32, "a band holds at most 32 rows");
    let lanes = &signature[band * rows..(band + 1) * rows];
    let mut bytes = [0u8; 4 * 32];
    for (dst, lane) in bytes.chunks_exact_mut(4).zip(lanes) {
        dst.copy_from_slice(&lane.to_le_bytes());
    }
    gxhash64(&bytes[..4 * rows], (seed ^ band as u64) as i64)
}
