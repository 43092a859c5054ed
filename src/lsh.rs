//! Locality-sensitive hashing over MinHash signatures: `b` bands of `r` rows (MMDS 3.4).
//! Two signatures become candidates when all rows of at least one band agree.
//!
//! Layout: per band, a hash map from band key to the newest document in that bucket, and
//! one flat `next` array chaining older documents of the same bucket. That costs about
//! 16 bytes per document and band instead of a `Vec` per bucket, and inserting never
//! allocates per document.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use gxhash::gxhash64;

/// Dense index of a document inside an [`LshIndex`].
pub type Slot = u32;

const NONE: Slot = Slot::MAX;

/// Band keys are gxhash outputs already; hashing them again would only cost time.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("band keys are hashed with write_u64 only")
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

type KeyMap = HashMap<u64, Slot, BuildHasherDefault<KeyHasher>>;

/// Maps band keys to the documents that share them.
#[derive(Default)]
pub struct LshIndex {
    bands: usize,
    rows: usize,
    seed: u64,
    heads: Vec<KeyMap>,
    /// `next[slot * bands + band]`: the next older document in the same bucket.
    next: Vec<Slot>,
}

impl std::fmt::Debug for LshIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LshIndex").field("bands", &self.bands).field("rows", &self.rows).finish()
    }
}

impl LshIndex {
    /// An empty index for `bands` x `rows` over signatures hashed with `seed`.
    pub fn new(bands: usize, rows: usize, seed: u64) -> Self {
        LshIndex {
            bands,
            rows,
            seed,
            heads: (0..bands).map(|_| KeyMap::default()).collect(),
            next: Vec::new(),
        }
    }

    /// The key of every band of `signature`.
    pub fn band_keys<'a>(&'a self, signature: &'a [u32]) -> impl Iterator<Item = u64> + 'a {
        debug_assert!(signature.len() >= self.bands * self.rows);
        let seed = self.seed;
        signature.chunks_exact(self.rows).take(self.bands).enumerate().map(move |(band, rows)| {
            let mut bytes = [0u8; 4 * 32];
            for (dst, row) in bytes.chunks_exact_mut(4).zip(rows) {
                dst.copy_from_slice(&row.to_le_bytes());
            }
            gxhash64(&bytes[..4 * rows.len()], (seed ^ band as u64) as i64)
        })
    }

    /// Adds `slot` with `signature`. A slot is inserted at most once until removed.
    pub fn insert(&mut self, slot: Slot, signature: &[u32]) {
        let base = slot as usize * self.bands;
        if self.next.len() < base + self.bands {
            self.next.resize(base + self.bands, NONE);
        }
        let keys: Vec<u64> = self.band_keys(signature).collect();
        for (band, key) in keys.into_iter().enumerate() {
            let older = self.heads[band].insert(key, slot).unwrap_or(NONE);
            self.next[base + band] = older;
        }
    }

    /// Removes `slot`, which must have been inserted with this `signature`.
    pub fn remove(&mut self, slot: Slot, signature: &[u32]) {
        let keys: Vec<u64> = self.band_keys(signature).collect();
        let bands = self.bands;
        for (band, key) in keys.into_iter().enumerate() {
            let after = self.next[slot as usize * bands + band];
            let Some(&head) = self.heads[band].get(&key) else { continue };
            if head == slot {
                if after == NONE {
                    self.heads[band].remove(&key);
                } else {
                    self.heads[band].insert(key, after);
                }
                continue;
            }
            let mut cur = head;
            while cur != NONE {
                let link = cur as usize * bands + band;
                if self.next[link] == slot {
                    self.next[link] = after;
                    break;
                }
                cur = self.next[link];
            }
        }
    }

    /// Calls `f` for every indexed slot sharing at least one band with `signature`, once
    /// per shared band (callers deduplicate).
    pub fn for_each_candidate(&self, signature: &[u32], mut f: impl FnMut(Slot)) {
        for (band, key) in self.band_keys(signature).enumerate() {
            let mut cur = self.heads[band].get(&key).copied().unwrap_or(NONE);
            while cur != NONE {
                f(cur);
                cur = self.next[cur as usize * self.bands + band];
            }
        }
    }

    /// Like [`LshIndex::candidates`], but walks at most `per_bucket` documents of each
    /// band's bucket (the newest ones). A bucket holding thousands of near-identical
    /// documents would otherwise make every lookup cost time in proportion to them,
    /// and a stream of one-word articles quadratic in its length.
    pub fn candidates_bounded(&self, signature: &[u32], per_bucket: usize) -> Vec<Slot> {
        let mut out = Vec::new();
        for (band, key) in self.band_keys(signature).enumerate() {
            let mut cur = self.heads[band].get(&key).copied().unwrap_or(NONE);
            let mut walked = 0;
            while cur != NONE && walked < per_bucket {
                out.push(cur);
                walked += 1;
                cur = self.next[cur as usize * self.bands + band];
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Distinct candidate slots of `signature`, sorted.
    pub fn candidates(&self, signature: &[u32]) -> Vec<Slot> {
        let mut out = Vec::new();
        self.for_each_candidate(signature, |slot| out.push(slot));
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Approximate heap bytes held by the index.
    pub fn heap_bytes(&self) -> usize {
        let per_entry = std::mem::size_of::<(u64, Slot)>() + 1;
        self.heads.iter().map(|m| m.capacity() * per_entry).sum::<usize>()
            + self.next.capacity() * std::mem::size_of::<Slot>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(values: &[u32]) -> Vec<u32> {
        values.to_vec()
    }

    #[test]
    fn finds_band_matches_and_forgets_removed() {
        let mut index = LshIndex::new(2, 2, 9);
        let a = sig(&[1, 2, 3, 4]);
        let b = sig(&[1, 2, 9, 9]); // shares band 0 with a
        let c = sig(&[7, 7, 7, 7]);
        index.insert(0, &a);
        index.insert(1, &b);
        index.insert(2, &c);
        assert_eq!(index.candidates(&a), vec![0, 1]);
        assert_eq!(index.candidates(&c), vec![2]);
        index.remove(0, &a);
        assert_eq!(index.candidates(&a), vec![1]);
        index.remove(1, &b);
        assert!(index.candidates(&a).is_empty());
        index.insert(0, &a);
        assert_eq!(index.candidates(&b), vec![0]);
    }

    #[test]
    fn removal_from_middle_of_chain() {
        let mut index = LshIndex::new(1, 1, 0);
        for slot in 0..5 {
            index.insert(slot, &[42]);
        }
        index.remove(2, &[42]);
        assert_eq!(index.candidates(&[42]), vec![0, 1, 3, 4]);
        index.remove(4, &[42]);
        index.remove(0, &[42]);
        assert_eq!(index.candidates(&[42]), vec![1, 3]);
    }
}
