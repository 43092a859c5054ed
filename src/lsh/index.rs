//! Locality-sensitive hashing over MinHash signatures: `b` bands of `r` rows (MMDS 3.4).
//! Two signatures become candidates when all rows of at least one band agree.
//!
//! Layout: per band, a hash table from band key to the newest document in that bucket,
//! and one flat `next` array chaining older documents of the same bucket. That costs
//! about 12 bytes per document and band instead of a `Vec` per bucket, and inserting
//! never allocates per document. The table keeps 32 bits of each 64-bit band key with
//! the slot (8 bytes an entry): two buckets whose keys share those bits merge, which
//! only adds candidates that verification then rejects, about one bucket in 2^32/n.
//! The batch scan sorts its buckets instead ([`crate::lsh::SortedBands`]), since it
//! knows every document up front.

use super::{Slot, band_key};

const NONE: Slot = Slot::MAX;

/// One band's buckets: (32 bits of the band key, newest member) in one flat table with
/// linear probing, so a lookup is one cache miss where a SwissTable's separate control
/// bytes take two; at a million articles these lookups are most of a query's time, and
/// [`KeyMap::prefetch`] lets a query start all of its bands' misses at once.
struct KeyMap {
    /// `(key, head)`; an entry whose head is `NONE` is empty. Length a power of two.
    entries: Vec<(u32, Slot)>,
    len: usize,
}

impl Default for KeyMap {
    fn default() -> Self {
        KeyMap { entries: vec![(0, NONE); 8], len: 0 }
    }
}

impl KeyMap {
    /// Where `key`'s probe starts. Band keys are gxhash outputs, so their low 32 bits are
    /// uniform; the odd multiplier spreads them to the high bits the position comes from.
    fn home(&self, key: u32) -> usize {
        let bits = self.entries.len().trailing_zeros();
        (u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
    }

    fn mask(&self) -> usize {
        self.entries.len() - 1
    }

    /// The entry holding `key`, or the empty one its probe ends at.
    fn find(&self, key: u32) -> usize {
        let mut at = self.home(key);
        loop {
            let (k, head) = self.entries[at];
            if head == NONE || k == key {
                return at;
            }
            at = (at + 1) & self.mask();
        }
    }

    /// Asks the processor to start loading `key`'s entry.
    fn prefetch(&self, key: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let entry = &self.entries[self.home(key as u32)];
            // SAFETY: a prefetch is only a hint; the pointer is to a live entry.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(entry).cast()) };
        }
    }

    fn get(&self, key: u64) -> Option<Slot> {
        let head = self.entries[self.find(key as u32)].1;
        (head != NONE).then_some(head)
    }

    /// Makes `slot` the head of `key`'s bucket; returns the head it replaced.
    fn insert(&mut self, key: u64, slot: Slot) -> Option<Slot> {
        let key = key as u32;
        let at = self.find(key);
        let old = std::mem::replace(&mut self.entries[at], (key, slot)).1;
        if old != NONE {
            return Some(old);
        }
        self.len += 1;
        // At most 3/4 full, so probes stay short.
        if self.len * 4 > self.entries.len() * 3 {
            let bigger = vec![(0, NONE); self.entries.len() * 2];
            for (key, head) in std::mem::replace(&mut self.entries, bigger) {
                if head != NONE {
                    let at = self.find(key);
                    self.entries[at] = (key, head);
                }
            }
        }
        None
    }

    /// Removes `key`'s bucket, moving back the entries after it that probed past it
    /// (deletion without tombstones keeps every probe ending at its first empty entry).
    fn remove(&mut self, key: u64) {
        let mut hole = self.find(key as u32);
        if self.entries[hole].1 == NONE {
            return;
        }
        self.len -= 1;
        let mut at = hole;
        loop {
            at = (at + 1) & self.mask();
            let (key, head) = self.entries[at];
            if head == NONE {
                break;
            }
            // The entry may fill the hole unless its home lies cyclically in (hole, at].
            let home = self.home(key);
            if (at.wrapping_sub(home) & self.mask()) >= (at.wrapping_sub(hole) & self.mask()) {
                self.entries[hole] = (key, head);
                hole = at;
            }
        }
        self.entries[hole] = (0, NONE);
    }

    fn capacity(&self) -> usize {
        self.entries.len()
    }
}

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
        let (rows, seed) = (self.rows, self.seed);
        (0..self.bands).map(move |band| band_key(signature, band, rows, seed))
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

    /// Makes room for `additional` more slots in the bucket chains (the band maps grow
    /// on demand: how many keys are new depends on how many articles are copies).
    pub fn reserve(&mut self, additional: usize) {
        self.next.reserve(additional * self.bands);
    }

    /// Inserts many slots at once, the same as calling [`LshIndex::insert`] for each in
    /// order, but band by band on up to `threads` threads (each band's map is touched by
    /// one thread only). `lanes(i)` gives the signature of `slots[i]`. Used to restore a
    /// large index quickly.
    pub fn insert_many<'s>(
        &mut self,
        slots: &[Slot],
        lanes: impl Fn(usize) -> &'s [u32] + Sync,
        threads: usize,
    ) {
        let Some(&top) = slots.iter().max() else { return };
        let bands = self.bands;
        let needed = (top as usize + 1) * bands;
        if self.next.len() < needed {
            self.next.resize(needed, NONE);
        }
        // Keys band-major, computed reading each signature once: every band's thread
        // then streams through its own array instead of striding across signatures.
        let mut keys: Vec<Vec<u64>> = (0..bands).map(|_| Vec::with_capacity(slots.len())).collect();
        for i in 0..slots.len() {
            for (band, key) in self.band_keys(lanes(i)).enumerate() {
                keys[band].push(key);
            }
        }
        // older[band][i]: what slots[i] displaced as head of its bucket in that band.
        let mut older: Vec<Vec<Slot>> = vec![Vec::new(); bands];
        let per_thread = bands.div_ceil(threads.clamp(1, bands.max(1)));
        std::thread::scope(|scope| {
            let work = self.heads.chunks_mut(per_thread).zip(older.chunks_mut(per_thread));
            for ((heads, outs), keys) in work.zip(keys.chunks(per_thread)) {
                scope.spawn(move || {
                    for ((head, out), keys) in heads.iter_mut().zip(outs).zip(keys) {
                        out.reserve_exact(slots.len());
                        for (&slot, &key) in slots.iter().zip(keys) {
                            out.push(head.insert(key, slot).unwrap_or(NONE));
                        }
                    }
                });
            }
        });
        for (i, &slot) in slots.iter().enumerate() {
            let base = slot as usize * bands;
            for (band, out) in older.iter().enumerate() {
                self.next[base + band] = out[i];
            }
        }
    }

    /// Removes `slot`, which must have been inserted with this `signature`.
    pub fn remove(&mut self, slot: Slot, signature: &[u32]) {
        let keys: Vec<u64> = self.band_keys(signature).collect();
        let bands = self.bands;
        for (band, key) in keys.into_iter().enumerate() {
            let after = self.next[slot as usize * bands + band];
            let Some(head) = self.heads[band].get(key) else { continue };
            if head == slot {
                if after == NONE {
                    self.heads[band].remove(key);
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
    pub fn for_each_candidate(&self, signature: &[u32], f: impl FnMut(Slot)) {
        self.for_each_candidate_capped(signature, usize::MAX, f);
    }

    /// Like [`LshIndex::for_each_candidate`], but at most the `per_band` newest members of
    /// each bucket.
    pub fn for_each_candidate_capped(
        &self,
        signature: &[u32],
        per_band: usize,
        mut f: impl FnMut(Slot),
    ) {
        // Every bucket head first, then the walks: the lookups are cache misses in tables
        // far larger than the cache, so all of them are started before any is awaited.
        let keys: Vec<u64> = self.band_keys(signature).collect();
        for (key, map) in keys.iter().zip(&self.heads) {
            map.prefetch(*key);
        }
        let heads: Vec<Slot> =
            keys.iter().zip(&self.heads).map(|(&key, map)| map.get(key).unwrap_or(NONE)).collect();
        for (band, head) in heads.into_iter().enumerate() {
            let mut cur = head;
            let mut taken = 0;
            while cur != NONE && taken < per_band {
                f(cur);
                taken += 1;
                cur = self.next[cur as usize * self.bands + band];
            }
        }
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
        let per_entry = std::mem::size_of::<(u32, Slot)>();
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
    fn key_map_agrees_with_a_hash_map() {
        // Few distinct keys in a growing and shrinking table, so probes collide, wrap
        // around the end and are shifted back by removals.
        let mut map = KeyMap::default();
        let mut model = std::collections::HashMap::new();
        let mut state = 99u64;
        for step in 0..20_000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let key = (state % 300) << 40 | (state % 300); // only the low 32 bits count
            if state.is_multiple_of(3) {
                map.remove(key);
                model.remove(&(key as u32));
            } else {
                assert_eq!(map.insert(key, step), model.insert(key as u32, step));
            }
            assert_eq!(map.len, model.len());
        }
        for key in 0..300u64 {
            assert_eq!(map.get(key), model.get(&(key as u32)).copied());
        }
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

    #[test]
    fn insert_many_matches_one_by_one() {
        let mut state = 7u32;
        let mut next = || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (state >> 16) % 4 // few values, so buckets hold long chains
        };
        let signatures: Vec<Vec<u32>> =
            (0..300).map(|_| (0..12).map(|_| next()).collect()).collect();
        let mut one = LshIndex::new(5, 2, 3);
        let mut many = LshIndex::new(5, 2, 3);
        let slots: Vec<Slot> = (0..300).collect();
        for &slot in &slots[..100] {
            one.insert(slot, &signatures[slot as usize]);
            many.insert(slot, &signatures[slot as usize]);
        }
        for &slot in &slots[100..] {
            one.insert(slot, &signatures[slot as usize]);
        }
        many.insert_many(&slots[100..], |i| &signatures[slots[100 + i] as usize], 2);
        for signature in &signatures {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            one.for_each_candidate(signature, |slot| a.push(slot));
            many.for_each_candidate(signature, |slot| b.push(slot));
            assert_eq!(a, b); // same candidates in the same chain order
        }
        many.remove(150, &signatures[150]);
        one.remove(150, &signatures[150]);
        assert_eq!(one.candidates(&signatures[150]), many.candidates(&signatures[150]));
    }
}
