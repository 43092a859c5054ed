//! Identical signatures collapsed before banding. Documents whose signatures, shingle
//! counts and (with sampled containment) shingle sketches are all equal compare alike with
//! every other document, so only the first of them in input order, the
//! representative, enters the LSH buckets, and each later one is linked to it at the
//! similarity of identical signatures (Jaccard 1). A story syndicated as thousands of
//! identical copies then puts one row in each bucket instead of thousands, while the
//! clustering still sees every copy: the links from a representative to its copies are
//! among the strongest there are and join the copies to its cluster, and every other
//! link a copy would have had is one its representative has. The batch scan and the
//! distributed stages ([`super::stages::collapse`]) collapse alike, so both give one
//! answer.

use rayon::prelude::*;

use crate::lsh::Slot;

/// Each document's representative (itself for a representative): the first document
/// whose `lanes`, `sizes` entry and shingle set (`same_set`, given two documents whose
/// signatures and sizes are equal) equal its own. Groups are found by a hash of the
/// signature and checked whole, so a hash collision never joins two documents.
pub(crate) fn representatives<'l>(
    lanes: impl Fn(Slot) -> &'l [u32] + Sync,
    sizes: &[u32],
    same_set: impl Fn(Slot, Slot) -> bool + Sync,
) -> Vec<Slot> {
    let n = sizes.len();
    let mut keyed: Vec<(u64, Slot)> = (0..n as Slot)
        .into_par_iter()
        .map(|doc| (key(lanes(doc), sizes[doc as usize]), doc))
        .collect();
    keyed.par_sort_unstable();
    let mut rep_of: Vec<Slot> = (0..n as Slot).collect();
    let same = |a: Slot, b: Slot| {
        sizes[a as usize] == sizes[b as usize] && lanes(a) == lanes(b) && same_set(a, b)
    };
    let mut reps: Vec<Slot> = Vec::new();
    for run in keyed.chunk_by(|x, y| x.0 == y.0) {
        if run.len() < 2 {
            continue;
        }
        // Slots ascend within a run: the first of each group is met first.
        reps.clear();
        for &(_, doc) in run {
            match reps.iter().find(|&&rep| same(rep, doc)) {
                Some(&rep) => rep_of[doc as usize] = rep,
                None => reps.push(doc),
            }
        }
    }
    rep_of
}

/// A hash of a signature and its shingle count, to find candidates for a group.
fn key(lanes: &[u32], size: u32) -> u64 {
    lanes.iter().fold(u64::from(size) ^ 0x243F_6A88_85A3_08D3, |h, &lane| {
        (h ^ u64::from(lane)).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_equal_documents_represents_them() {
        let lanes: Vec<[u32; 4]> = vec![
            [1, 2, 3, 4],
            [5, 6, 7, 8],
            [1, 2, 3, 4],
            [1, 2, 3, 4],
            [1, 2, 3, 4],
            [5, 6, 7, 8],
        ];
        let sizes = [10, 10, 10, 11, 10, 10];
        // Document 4 has the signature and size of 0 but another shingle set.
        let sets = [0, 0, 0, 0, 1, 0];
        let rep_of = representatives(
            |doc| &lanes[doc as usize][..],
            &sizes,
            |a, b| sets[a as usize] == sets[b as usize],
        );
        assert_eq!(rep_of, [0, 1, 0, 3, 4, 1]);
    }

    #[test]
    fn each_document_is_represented_by_the_first_equal_one() {
        // Few distinct signatures and sizes over many documents, against the
        // definition checked pair by pair.
        let mut lcg = crate::testing::lcg(3);
        let mut next = || (lcg() >> 33) as u32;
        let lanes: Vec<[u32; 3]> = (0..3000).map(|_| [next() % 4, next() % 3, 7]).collect();
        let sizes: Vec<u32> = (0..lanes.len()).map(|_| 10 + next() % 2).collect();
        let rep_of = representatives(|doc| &lanes[doc as usize][..], &sizes, |_, _| true);
        for (doc, &rep) in rep_of.iter().enumerate() {
            let first = (0..=doc).find(|&d| lanes[d] == lanes[doc] && sizes[d] == sizes[doc]);
            assert_eq!(Some(rep as usize), first, "document {doc}");
        }
    }
}
