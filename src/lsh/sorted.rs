//! `SortedBands`: LSH buckets frozen for a batch scan. Where the online [`crate::lsh::LshIndex`]
//! must accept inserts and removals at any time, a scan knows every signature before
//! the first lookup, so each band's buckets are sorted once into one contiguous array
//! and every document remembers where its own bucket is. A lookup is then a slice, with
//! no hashing and no pointer chasing, which matters when one story has hundreds of
//! copies and each of them visits all the others in every band.
//!
//! Within a bucket, members are in the order of a caller-given key: slot order for the
//! Jaccard view ("earlier documents"), size order for the containment view ("longer
//! documents first"). Buckets with a single member are not stored.

use rayon::prelude::*;

use super::{Slot, band_key};

const ALONE: u32 = u32::MAX;

/// Sorted LSH buckets over a fixed set of signatures.
#[derive(Debug, Clone)]
pub struct SortedBands {
    bands: Vec<Band>,
    /// Per slot, then per band: the slot's position in that band's `members`, or
    /// `ALONE`. Slot-major, so one document's places in every band share a cache line or
    /// two: a lookup touches the document's row once instead of one array per band.
    place: Vec<u32>,
}

#[derive(Debug, Clone, Default)]
struct Band {
    /// The members of every bucket with two or more, bucket after bucket.
    members: Vec<Slot>,
    /// One bit per member, set where a bucket starts: 1 bit where a start index per
    /// member or a bucket id per document would cost 4 bytes.
    firsts: Vec<u64>,
}

impl Band {
    /// Where the bucket holding position `pos` starts.
    fn start_of(&self, pos: usize) -> usize {
        let mut word = pos / 64;
        let mut bits = self.firsts[word] & (u64::MAX >> (63 - pos % 64));
        while bits == 0 {
            // The first member of the band starts a bucket, so this ends.
            word -= 1;
            bits = self.firsts[word];
        }
        word * 64 + 63 - bits.leading_zeros() as usize
    }

    /// Where the bucket holding position `pos` ends.
    fn end_of(&self, pos: usize) -> usize {
        let next = pos + 1;
        if next >= self.members.len() {
            return self.members.len();
        }
        let mut word = next / 64;
        let mut bits = self.firsts[word] & (u64::MAX << (next % 64));
        while bits == 0 {
            word += 1;
            if word == self.firsts.len() {
                return self.members.len();
            }
            bits = self.firsts[word];
        }
        (word * 64 + bits.trailing_zeros() as usize).min(self.members.len())
    }
}

/// Bands built at once: their per-band places are copied into the slot-major table
/// group by group, so the transient copies stay a few bands large.
const BUILD_GROUP: usize = 4;

impl SortedBands {
    /// Buckets `signatures(slot)` (for every slot below `n`) into `bands` bands of `rows`
    /// lanes each, starting at lane 0, hashed with `seed`. Members of a bucket are sorted
    /// by `order(slot)`, ascending (ties by slot). Bands are built in parallel.
    pub fn build<'a>(
        n: usize,
        bands: usize,
        rows: usize,
        seed: u64,
        signatures: impl Fn(Slot) -> &'a [u32] + Sync,
        order: impl Fn(Slot) -> u32 + Sync,
    ) -> Self {
        let mut place = vec![ALONE; n * bands];
        let mut built = Vec::with_capacity(bands);
        for group in (0..bands).collect::<Vec<_>>().chunks(BUILD_GROUP) {
            let parts: Vec<(Band, Vec<u32>)> = group
                .par_iter()
                .map(|&band| {
                    // Key, order and slot in one integer: sorting plain integers is
                    // about twice as fast as sorting tuples through a comparator.
                    let mut entries: Vec<u128> = (0..n as Slot)
                        .map(|slot| {
                            let key = band_key(signatures(slot), band, rows, seed);
                            u128::from(key) << 64 | u128::from(order(slot)) << 32 | u128::from(slot)
                        })
                        .collect();
                    entries.sort_unstable();
                    let mut members: Vec<Slot> = Vec::new();
                    let mut firsts: Vec<u64> = Vec::new();
                    let mut places = vec![ALONE; n];
                    for run in entries.chunk_by(|a, b| a >> 64 == b >> 64) {
                        if run.len() < 2 {
                            continue;
                        }
                        let start = members.len();
                        for slot in run.iter().map(|&entry| entry as Slot) {
                            places[slot as usize] = members.len() as u32;
                            members.push(slot);
                        }
                        firsts.resize(members.len().div_ceil(64), 0);
                        firsts[start / 64] |= 1 << (start % 64);
                    }
                    (Band { members, firsts }, places)
                })
                .collect();
            place.par_chunks_mut(bands).with_min_len(4096).enumerate().for_each(|(slot, row)| {
                for (&band, (_, places)) in group.iter().zip(&parts) {
                    row[band] = places[slot];
                }
            });
            built.extend(parts.into_iter().map(|(band, _)| band));
        }
        SortedBands { bands: built, place }
    }

    fn place(&self, slot: Slot, band: usize) -> u32 {
        self.place[slot as usize * self.bands.len() + band]
    }

    /// Number of bands.
    pub fn bands(&self) -> usize {
        self.bands.len()
    }

    /// The members of `slot`'s bucket in `band` that sort before it, in bucket order.
    pub fn before(&self, slot: Slot, band: usize) -> &[Slot] {
        let pos = self.place(slot, band);
        if pos == ALONE {
            return &[];
        }
        let band = &self.bands[band];
        &band.members[band.start_of(pos as usize)..pos as usize]
    }

    /// Every member of `slot`'s bucket in `band` (including `slot`), in bucket order.
    pub fn bucket(&self, slot: Slot, band: usize) -> &[Slot] {
        let pos = self.place(slot, band);
        if pos == ALONE {
            return &[];
        }
        let band = &self.bands[band];
        &band.members[band.start_of(pos as usize)..band.end_of(pos as usize)]
    }

    /// Whether `other` is among the last `nearest` members before `slot` in `slot`'s
    /// bucket of `band`: what [`SortedBands::before`] would list last, without walking it.
    pub fn is_near_before(&self, slot: Slot, other: Slot, band: usize, nearest: usize) -> bool {
        let (pos, other_pos) = (self.place(slot, band), self.place(other, band));
        // Buckets occupy disjoint stretches of `members`: an earlier position at or after
        // the start of `slot`'s bucket is in it.
        pos != ALONE
            && other_pos < pos
            && (pos - other_pos) as usize <= nearest
            && self.bands[band].start_of(pos as usize) <= other_pos as usize
    }

    /// Whether `other` is among the first `first` members of `slot`'s bucket of `band`,
    /// before `slot`.
    pub fn is_leading(&self, slot: Slot, other: Slot, band: usize, first: usize) -> bool {
        let (pos, other_pos) = (self.place(slot, band), self.place(other, band));
        if pos == ALONE || other_pos >= pos {
            return false;
        }
        let start = self.bands[band].start_of(pos as usize);
        other_pos as usize >= start && other_pos as usize - start < first
    }

    /// The first member of `slot`'s bucket in `band` (`slot` itself when alone).
    pub fn first_member(&self, slot: Slot, band: usize) -> Slot {
        let pos = self.place(slot, band);
        if pos == ALONE {
            return slot;
        }
        let band = &self.bands[band];
        band.members[band.start_of(pos as usize)]
    }

    /// Every slot below `n`, grouped by the smallest first member of its buckets (in
    /// slot order, the earliest document it shares a bucket with): copies of one story
    /// come together, so visiting documents in this order keeps what their candidates
    /// read in cache.
    pub fn locality_order(&self, n: usize) -> Vec<Slot> {
        let mut keyed: Vec<(Slot, Slot)> = (0..n as Slot)
            .into_par_iter()
            .with_min_len(4096)
            .map(|slot| {
                let first = (0..self.bands.len()).map(|band| self.first_member(slot, band)).min();
                (first.unwrap_or(slot), slot)
            })
            .collect();
        keyed.par_sort_unstable();
        keyed.into_iter().map(|(_, slot)| slot).collect()
    }

    /// Approximate heap bytes.
    pub fn heap_bytes(&self) -> usize {
        let per_band = |b: &Band| b.members.capacity() * 4 + b.firsts.capacity() * 8;
        self.bands.iter().map(per_band).sum::<usize>() + self.place.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_shared_bands() {
        let sigs: Vec<Vec<u32>> = vec![
            vec![1, 2, 3, 4],
            vec![1, 2, 9, 9],
            vec![7, 7, 3, 4],
            vec![1, 2, 3, 4],
            vec![5, 5, 5, 5],
        ];
        let table = SortedBands::build(sigs.len(), 2, 2, 9, |s| &sigs[s as usize], |s| s);
        assert_eq!(table.bucket(0, 0), [0, 1, 3]);
        assert_eq!(table.before(3, 0), [0, 1]);
        assert_eq!(table.before(0, 0), [] as [Slot; 0]);
        assert_eq!(table.bucket(2, 1), [0, 2, 3]);
        assert_eq!(table.bucket(4, 0), [] as [Slot; 0]);
        assert_eq!(table.before(4, 1), [] as [Slot; 0]);
    }

    #[test]
    fn membership_checks_agree_with_bucket_walks() {
        // Slots 0..40 in a few shared buckets per band, ordered by a size key.
        let sigs: Vec<Vec<u32>> =
            (0..40u32).map(|s| vec![s % 3, s % 2, s % 5, (s * 7) % 4]).collect();
        let sizes: Vec<u32> = (0..40u32).map(|s| (s * 37) % 23).collect();
        let by_size = SortedBands::build(
            40,
            4,
            1,
            5,
            |s| &sigs[s as usize],
            |s| u32::MAX - sizes[s as usize],
        );
        let by_slot = SortedBands::build(40, 2, 2, 5, |s| &sigs[s as usize], |s| s);
        for slot in 0..40 {
            for other in 0..40 {
                for band in 0..2 {
                    let before = by_slot.before(slot, band);
                    let near = &before[before.len().saturating_sub(3)..];
                    assert_eq!(by_slot.is_near_before(slot, other, band, 3), near.contains(&other));
                }
                for band in 0..4 {
                    let before = by_size.before(slot, band);
                    let leading = &before[..before.len().min(2)];
                    assert_eq!(by_size.is_leading(slot, other, band, 2), leading.contains(&other));
                }
            }
            let first = (0..2).map(|band| by_slot.first_member(slot, band)).min().unwrap();
            assert!(first <= slot);
        }
        let mut order = by_slot.locality_order(40);
        assert!(order.windows(2).all(|w| {
            let key = |s: Slot| (0..2).map(|b| by_slot.first_member(s, b)).min().unwrap();
            (key(w[0]), w[0]) < (key(w[1]), w[1])
        }));
        order.sort_unstable();
        assert_eq!(order, (0..40).collect::<Vec<_>>());
    }

    #[test]
    fn buckets_spanning_many_words_are_found_whole() {
        // 1000 slots: buckets of ~140 (value s % 7), pairs, and lone slots, so bucket
        // starts fall anywhere in the start bitmap, far from and near word edges.
        let value = |s: u32| {
            if s.is_multiple_of(5) {
                1000 + s / 2
            } else if s.is_multiple_of(3) {
                5000 + s
            } else {
                s % 7
            }
        };
        let sigs: Vec<Vec<u32>> = (0..1000u32).map(|s| vec![value(s)]).collect();
        let table = SortedBands::build(1000, 1, 1, 3, |s| &sigs[s as usize], |s| s);
        for slot in 0..1000u32 {
            let expected: Vec<Slot> = (0..1000u32).filter(|&o| value(o) == value(slot)).collect();
            let expected = if expected.len() < 2 { Vec::new() } else { expected };
            assert_eq!(table.bucket(slot, 0), expected.as_slice(), "slot {slot}");
            let before: Vec<Slot> = expected.iter().copied().filter(|&o| o < slot).collect();
            assert_eq!(table.before(slot, 0), before.as_slice(), "slot {slot}");
            assert_eq!(table.first_member(slot, 0), expected.first().copied().unwrap_or(slot));
        }
    }

    #[test]
    fn members_follow_the_order_key() {
        let sigs: Vec<Vec<u32>> = vec![vec![1], vec![1], vec![1]];
        let sizes = [10u32, 30, 20];
        let table =
            SortedBands::build(3, 1, 1, 0, |s| &sigs[s as usize], |s| u32::MAX - sizes[s as usize]);
        assert_eq!(table.bucket(0, 0), [1, 2, 0]);
        assert_eq!(table.before(0, 0), [1, 2]);
    }
}
