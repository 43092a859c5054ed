//! Batch linking, the part of a scan after signing, as three stages over flat signature
//! arrays: bucket every signature into the sorted LSH views ([`BandViews`]); find each
//! document's candidates and verify them on their plain MinHash estimate, in parallel
//! ([`verify_candidates`]); then take the verified links strongest first under the
//! chaining guard ([`link_strongest_first`]), sampling an undecided pair only when its
//! turn comes and its documents are not yet joined. The result equals verifying every
//! candidate and clustering all links in order (a test checks it), at a fraction of the
//! sampling: in a syndicated corpus most pairs join documents already joined.

use std::borrow::Cow;
use std::collections::BinaryHeap;
use std::time::Instant;

use rayon::prelude::*;

use crate::config::DetectorConfig;
use crate::fingerprint::Fingerprint;
use crate::lsh::Slot;
use crate::minhash::{count_equal, narrow, narrow_owned};

use super::candidates::{BandViews, CandidateSet, PREFETCH_AHEAD, prefetch};
use super::guard::{Assignment, Clusterer, Link};
use super::sample::{SampledContainment, ShingleSample, needs_sampling};
use super::similarity::Similarity;
use super::verify::{Verifier, flatten};

/// Index, verify and cluster fingerprints: the part of a scan after signing. `samples`,
/// one per fingerprint, enable sampled containment; `published` (Unix milliseconds) picks
/// each cluster's origin, ties broken by position.
///
/// Candidates come from two views of the same signatures: the Jaccard bands (`bands` x
/// `rows`), where each document looks at earlier documents sharing a bucket, and the
/// containment bands (`containment_bands` one-row bands), where each document looks at
/// documents at least 1.5 times longer sharing a bucket.
pub fn cluster_fingerprints(
    config: &DetectorConfig,
    fingerprints: &[Fingerprint],
    samples: Option<&[ShingleSample]>,
    published: &[Option<i64>],
) -> Vec<Assignment> {
    let (lanes, sizes) = flatten(fingerprints);
    let samples = samples.as_ref().map(|s| s as &dyn SampledContainment);
    cluster_signatures(config, lanes.into(), &sizes, samples, published)
}

/// [`cluster_fingerprints`] over signatures stored one after another in `lanes`
/// (`num_perm` lanes each) with their shingle counts `sizes`. Lanes given up (owned)
/// are freed once the buckets are built: verification needs only their low halves
/// ([`Verifier`]).
///
/// Ties anywhere (bucket order, link order, origin) break by slot, so slots must follow
/// input order; the answer then depends on nothing but the data, not on threads.
pub(crate) fn cluster_signatures(
    config: &DetectorConfig,
    lanes: Cow<'_, [u32]>,
    sizes: &[u32],
    samples: Option<&dyn SampledContainment>,
    published: &[Option<i64>],
) -> Vec<Assignment> {
    let started = Instant::now();
    let rep_of = representatives(config, &lanes, sizes, samples);
    let width = config.num_perm;
    let wide = |slot: Slot| &lanes[slot as usize * width..][..width];
    let views = BandViews::build(config, wide, sizes, &rep_of);
    let narrowed = match lanes {
        Cow::Owned(lanes) => narrow_owned(lanes),
        Cow::Borrowed(lanes) => narrow(lanes),
    };
    let verifier = Verifier::new(config, &narrowed, sizes, samples);
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        views_bytes = views.heap_bytes(),
        "indexed"
    );
    let pairs = verify_candidates(&verifier, &views, &rep_of);
    // Linking reads only the pairs: the buckets go before it allocates the clusters.
    drop(views);
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        decided = pairs.decided.iter().map(Vec::len).sum::<usize>(),
        pending = pairs.pending.len(),
        sampled = pairs.early.len(),
        "verified candidates"
    );
    let mut assignments = link_strongest_first(&verifier, pairs, published);
    assignments
        .par_iter_mut()
        .enumerate()
        .for_each(|(doc, assignment)| assignment.fill_to_origin(&verifier, doc));
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "clustered");
    assignments
}

/// The verified candidate pairs of a batch, each list sorted in the order its links are
/// taken.
#[derive(Debug, Default)]
struct VerifiedPairs {
    /// Pairs the plain MinHash estimate decides are copies, by their equal lanes: tens of
    /// millions on a million-article corpus, so each is kept in 12 bytes, its equal lanes
    /// told by its group.
    decided: Vec<Vec<Decided>>,
    /// Pairs in the sampling window, placed at the strongest they could be.
    pending: Vec<Candidate>,
    /// Pairs in the sampling window that could be duplicates by Jaccard, sampled at once.
    early: Vec<Link>,
}

/// Each document's representative ([`super::collapse`]) among documents whose full
/// lanes lie one after another in `lanes`: documents compare alike when their
/// signatures, shingle counts and (sampled) shingle sketches are equal.
pub(crate) fn representatives(
    config: &DetectorConfig,
    lanes: &[u32],
    sizes: &[u32],
    samples: Option<&dyn SampledContainment>,
) -> Vec<Slot> {
    let width = config.num_perm;
    super::collapse::representatives(
        |doc| &lanes[doc as usize * width..][..width],
        sizes,
        |a, b| samples.is_none_or(|samples| samples.same_shingles(a, b)),
    )
}

/// Finds every representative's candidates and checks each pair on its plain MinHash
/// estimate, in parallel, and links each collapsed copy to its representative
/// (`rep_of`). Pairs that estimate decides are kept with their equal-lane count; pairs
/// in the sampling window are kept undecided. Documents are visited story by story, so
/// consecutive documents mostly share candidates and their lanes stay in cache.
fn verify_candidates(
    verifier: &Verifier<'_>,
    views: &BandViews<'_>,
    rep_of: &[Slot],
) -> VerifiedPairs {
    let order = views.locality_order();
    let num_perm = verifier.config().num_perm;
    let mut all = VerifiedPairs { decided: vec![Vec::new(); num_perm + 1], ..Default::default() };
    // Stretch by stretch, so that collecting in parallel never holds a second copy of
    // the whole candidate list.
    for stretch in order.chunks(STRETCH) {
        let runs: Vec<Found> = stretch
            .par_chunks(64)
            .map_init(CandidateSet::default, |scratch, run| {
                let mut found = Found::default();
                for &slot in run {
                    examine(verifier, views, slot, scratch, &mut found);
                }
                found
            })
            .collect();
        for found in runs {
            for c in found.decided {
                all.decided[usize::from(c.equal)].push(Decided { key: c.key, a: c.a, b: c.b });
            }
            all.pending.extend_from_slice(&found.pending);
            all.early.extend_from_slice(&found.early);
        }
    }
    drop(order);
    for (copy, &rep) in rep_of.iter().enumerate() {
        let copy = copy as Slot;
        if rep != copy {
            let size = verifier.size(copy);
            let identical = Similarity::of_equal(num_perm as u32, num_perm, size, size);
            let key = identical.containment_of_shorter() as f32;
            all.decided[num_perm].push(Decided { key, a: rep, b: copy });
        }
    }
    for group in &mut all.decided {
        group
            .par_sort_unstable_by(|x, y| y.key.total_cmp(&x.key).then((x.a, x.b).cmp(&(y.a, y.b))));
    }
    all.pending
        .par_sort_unstable_by(|x, y| y.key.total_cmp(&x.key).then((x.a, x.b).cmp(&(y.a, y.b))));
    all.early.par_sort_unstable_by(|x, y| early_turn(x).cmp(&early_turn(y)));
    all
}

/// What one run of [`examine`] found, before the decided pairs join their groups.
#[derive(Debug, Default)]
struct Found {
    decided: Vec<Candidate>,
    pending: Vec<Candidate>,
    early: Vec<Link>,
}

/// Verifies the candidates of `slot` into `found`.
fn examine(
    verifier: &Verifier<'_>,
    views: &BandViews<'_>,
    slot: Slot,
    scratch: &mut CandidateSet,
    found: &mut Found,
) {
    let config = verifier.config();
    let candidates = views.candidates_of(slot, scratch);
    for (i, &other) in candidates.iter().enumerate() {
        // Candidates' signatures lie anywhere in the array: ask for the one a few
        // places ahead while this one is compared.
        if let Some(&ahead) = candidates.get(i + PREFETCH_AHEAD) {
            prefetch(verifier.lanes(ahead));
        }
        // A pair can be found from both ends: by the later (or shorter) document
        // through the Jaccard view and by the shorter through the containment view.
        // The scan keeps one link per pair, from its smaller slot when both ends find
        // it and the link verifies that way round. The smaller slot is the shorter,
        // which found the pair through the containment view; so the later document
        // leaves such a pair to it.
        if other < slot && views.finds_by_containment(other, slot) {
            continue;
        }
        let equal = count_equal(verifier.lanes(slot), verifier.lanes(other));
        let (size_a, size_b) = (verifier.size(slot), verifier.size(other));
        let plain = Similarity::of_equal(equal, config.num_perm, size_a, size_b);
        if verifier.is_sampled() && needs_sampling(config, &plain, size_a, size_b) {
            let whole = Similarity::from_containment(1.0, size_a.min(size_b), size_a.max(size_b));
            let candidate =
                Candidate { key: at_least(whole.jaccard), a: slot, b: other, equal: equal as u16 };
            // A pair whose sample could make it a duplicate by Jaccard would have its
            // turn among the duplicates, before most documents are joined: sample it
            // now, in parallel. Below, its turn comes after them, and most such pairs
            // (excerpts of a story whose copies are joined by then) are never sampled.
            if whole.jaccard >= config.jaccard_threshold {
                found.early.extend(resolve(verifier, &candidate));
            } else {
                found.pending.push(candidate);
            }
        } else if plain.copy_kind(config).is_some() {
            let key = plain.containment_of_shorter() as f32;
            found.decided.push(Candidate { key, a: slot, b: other, equal: equal as u16 });
        }
    }
}

/// An undecided pair's link, sampled, as the pair was found: its equal lanes were
/// counted then. Whether a pair links does not depend on which end found it (the copy
/// kind reads the Jaccard and the containment of the shorter, both symmetric), so the
/// other orientation never needs a look.
fn resolve(verifier: &Verifier<'_>, c: &Candidate) -> Option<Link> {
    let config = verifier.config();
    let (size_a, size_b) = (verifier.size(c.a), verifier.size(c.b));
    let plain = Similarity::of_equal(u32::from(c.equal), config.num_perm, size_a, size_b);
    let similarity = verifier.refine(c.a, c.b, plain);
    similarity.copy_kind(config).map(|_| Link { a: c.a, b: c.b, similarity })
}

fn early_turn(link: &Link) -> Turn {
    Turn::of(link.a, link.b, &link.similarity)
}

/// Takes links strongest first, exactly in the guard's order, and returns each
/// document's cluster. A decided pair's place is known from its estimate; an undecided
/// one is first placed at the strongest its sampled similarity could be (whole
/// containment), and sampled only when that turn comes and its documents are not yet
/// joined, then placed again at its true strength.
fn link_strongest_first(
    verifier: &Verifier<'_>,
    pairs: VerifiedPairs,
    published: &[Option<i64>],
) -> Vec<Assignment> {
    let config = verifier.config();
    let VerifiedPairs { mut decided, pending, early } = pairs;
    let decided_turn = |equal: usize, c: &Decided| Turn {
        jaccard: equal as f64 / config.num_perm as f64,
        containment: f64::from(c.key),
        a: c.a,
        b: c.b,
    };
    let pending_turn = |c: &Candidate| Turn {
        jaccard: f64::from(c.key),
        containment: f64::INFINITY,
        a: c.a,
        b: c.b,
    };
    let mut clusterer = Clusterer::new(verifier, published);
    let mut resolved: BinaryHeap<std::cmp::Reverse<Resolved>> = BinaryHeap::new();
    // The decided pairs are walked group by group, most equal lanes first; `equal` is
    // the group walked, `next_decided` the place in it.
    let (mut equal, mut next_decided, mut next_pending, mut next_early) = (decided.len(), 0, 0, 0);
    let mut sampled_pairs = 0usize;
    let mut sampled_ahead: Vec<Option<Option<Link>>> = Vec::new();
    let (mut marked_from, mut marked_until) = (0, 0);
    let mut joined_ahead: Vec<bool> = Vec::new();
    loop {
        // The earliest head of the three small streams; they change only when one of
        // them is taken, so the long run of decided links between takes is walked
        // without looking at them again. On a tie the decided link goes first, then
        // the streams in this order.
        let other = [
            pending.get(next_pending).map(pending_turn),
            resolved.peek().map(|r| r.0.turn),
            early.get(next_early).map(early_turn),
        ]
        .into_iter()
        .enumerate()
        .filter_map(|(i, t)| t.map(|t| (i, t)))
        .min_by(|x, y| x.1.cmp(&y.1));
        loop {
            if equal > 0 && next_decided == decided[equal - 1].len() {
                // A group walked is freed: the clusters grow as the pairs go.
                decided[equal - 1] = Vec::new();
                (equal, next_decided, marked_from, marked_until) = (equal - 1, 0, 0, 0);
                continue;
            }
            if equal == 0 {
                break;
            }
            let group = &decided[equal - 1];
            if next_decided == marked_until {
                // Links whose documents are joined already change nothing when their
                // turn comes: mark the next block's in parallel, so that the
                // sequential walk passes them by without a lookup.
                (marked_from, marked_until) =
                    (next_decided, (next_decided + SKIP_BLOCK).min(group.len()));
                let clusterer = &clusterer;
                group[marked_from..marked_until]
                    .par_iter()
                    .with_min_len(4096)
                    .map(|c| clusterer.joined_now(c.a, c.b))
                    .collect_into_vec(&mut joined_ahead);
            }
            let c = group[next_decided];
            // A joined link is passed by wherever it falls: at its turn it would do nothing.
            if !joined_ahead[next_decided - marked_from] {
                if other.is_some_and(|(_, t)| decided_turn(equal - 1, &c).cmp(&t).is_gt()) {
                    break;
                }
                if !clusterer.joined(c.a, c.b) {
                    let similarity = Similarity::of_equal(
                        (equal - 1) as u32,
                        config.num_perm,
                        verifier.size(c.a),
                        verifier.size(c.b),
                    );
                    clusterer.offer(Link { a: c.a, b: c.b, similarity });
                }
            }
            next_decided += 1;
        }
        let Some((stream, _)) = other else { break };
        match stream {
            0 => {
                if next_pending % SKIP_BLOCK == 0 {
                    // Sample ahead, in parallel, the next block's pairs whose documents are
                    // not joined yet. Joined documents never part, so a pair open at its turn
                    // was open here; and nearly every pair open here is still open at its
                    // turn (on the 1M corpus, 757 of 1.47M sampled pairs are wasted).
                    let block = next_pending..(next_pending + SKIP_BLOCK).min(pending.len());
                    let clusterer = &clusterer;
                    pending[block]
                        .par_iter()
                        .with_min_len(64)
                        .map(|c| (!clusterer.joined_now(c.a, c.b)).then(|| resolve(verifier, c)))
                        .collect_into_vec(&mut sampled_ahead);
                }
                let c = pending[next_pending];
                let ahead = sampled_ahead[next_pending % SKIP_BLOCK].take();
                next_pending += 1;
                if clusterer.joined(c.a, c.b) {
                    continue;
                }
                sampled_pairs += 1;
                if let Some(link) = ahead.unwrap_or_else(|| resolve(verifier, &c)) {
                    let turn = Turn::of(link.a, link.b, &link.similarity);
                    resolved.push(std::cmp::Reverse(Resolved { turn, link }));
                }
            }
            1 => {
                let std::cmp::Reverse(Resolved { link, .. }) = resolved.pop().expect("peeked");
                clusterer.offer(link);
            }
            _ => {
                clusterer.offer(early[next_early]);
                next_early += 1;
            }
        }
    }
    tracing::debug!(sampled = sampled_pairs, "linked");
    drop((decided, pending, early));
    clusterer.finish()
}

/// The least `f32` not below `x`: an undecided pair placed at this bound still comes no
/// later than the strongest it could be.
fn at_least(x: f64) -> f32 {
    let near = x as f32;
    if f64::from(near) < x { near.next_up() } else { near }
}

/// A decided pair as [`verify_candidates`] keeps it, its equal lanes told by its group.
#[derive(Debug, Clone, Copy)]
struct Decided {
    /// Its containment of the shorter, the order within its group.
    key: f32,
    /// The document that found the pair.
    a: Slot,
    /// The other document.
    b: Slot,
}

/// A candidate pair as [`examine`] finds it, in 16 bytes: the keys are `f32`, as the
/// lists hold millions of pairs on a million-article corpus.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// Its sort key after the equal lanes: a decided pair's containment of the shorter,
    /// an undecided pair's highest possible Jaccard.
    key: f32,
    /// The document that found the pair.
    a: Slot,
    /// The other document.
    b: Slot,
    /// Equal lanes.
    equal: u16,
}

/// Documents whose candidates are verified in parallel before they join the lists: the
/// stretch's pairs are held twice for a moment, so it stays a small share of the lists
/// (on a corpus of copies, ~20 pairs a document).
const STRETCH: usize = 1 << 14;
/// Decided links checked in parallel for joined documents at a time.
const SKIP_BLOCK: usize = 1 << 16;

/// Where a link comes in the order the guard takes links: stronger first, ties by
/// documents.
#[derive(Debug, Clone, Copy)]
struct Turn {
    jaccard: f64,
    containment: f64,
    a: Slot,
    b: Slot,
}

impl Turn {
    fn of(a: Slot, b: Slot, similarity: &Similarity) -> Self {
        Turn { jaccard: similarity.jaccard, containment: similarity.containment_of_shorter(), a, b }
    }

    /// `Less` is the earlier turn.
    fn cmp(&self, other: &Turn) -> std::cmp::Ordering {
        other
            .jaccard
            .total_cmp(&self.jaccard)
            .then(other.containment.total_cmp(&self.containment))
            .then(self.a.cmp(&other.a))
            .then(self.b.cmp(&other.b))
    }
}

/// A sampled link waiting for its turn.
#[derive(Debug, Clone, Copy)]
struct Resolved {
    turn: Turn,
    link: Link,
}

impl PartialEq for Resolved {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Resolved {}

impl PartialOrd for Resolved {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Resolved {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.turn.cmp(&other.turn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minhash::MinHasher;

    /// Documents cut from a few stories at many sizes, with noise: pairs of every
    /// containment, many close to the thresholds where sampling decides.
    fn corpus(config: &DetectorConfig) -> (Vec<Fingerprint>, Vec<ShingleSample>) {
        let hasher = MinHasher::new(config.num_perm, config.seed);
        let mut lcg = crate::testing::lcg(7);
        let mut next = || lcg() >> 11;
        let stories: Vec<Vec<u64>> = (0..4)
            .map(|_| (0..600).map(|_| next().wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect())
            .collect();
        let mut fingerprints = Vec::new();
        let mut samples = Vec::new();
        for _ in 0..160 {
            let story = &stories[next() as usize % stories.len()];
            let len = 20 + next() as usize % 500;
            let start = next() as usize % (story.len() - len + 1);
            let mut shingles: Vec<u64> = story[start..start + len].to_vec();
            let noise = next() as usize % (len / 2 + 1);
            shingles.extend((0..noise).map(|_| next().wrapping_mul(0xD6E8_FEB8_6659_FD93)));
            shingles.sort_unstable();
            shingles.dedup();
            let signature = hasher.signature(&shingles);
            samples.push(ShingleSample::new(&hasher, &shingles, signature.lanes()));
            fingerprints.push(Fingerprint { signature, shingle_count: shingles.len() as u32 });
        }
        (fingerprints, samples)
    }

    /// The clustering without lazy links: every candidate
    /// verified (sampling included), one link per pair (the smaller slot's orientation
    /// when both verify), all sorted, then [`super::super::guard::cluster_links`].
    fn eager(
        config: &DetectorConfig,
        fingerprints: &[Fingerprint],
        samples: Option<&[ShingleSample]>,
        published: &[Option<i64>],
    ) -> Vec<Assignment> {
        let (lanes, sizes) = flatten(fingerprints);
        let slice = samples.unwrap_or_default();
        let source = samples.is_some().then_some(&slice as &dyn SampledContainment);
        let rep_of = representatives(config, &lanes, &sizes, source);
        let width = config.num_perm;
        let views = BandViews::build(
            config,
            |slot| &lanes[slot as usize * width..][..width],
            &sizes,
            &rep_of,
        );
        let narrowed = narrow(&lanes);
        let verifier = Verifier::new(config, &narrowed, &sizes, source);
        let mut links = Vec::new();
        for (copy, &rep) in rep_of.iter().enumerate() {
            if rep as usize != copy {
                let similarity = verifier.similarity(rep, copy as Slot);
                links.push(Link { a: rep, b: copy as Slot, similarity });
            }
        }
        let mut set = CandidateSet::default();
        for slot in (0..sizes.len() as Slot).filter(|&slot| rep_of[slot as usize] == slot) {
            for &other in views.candidates_of(slot, &mut set) {
                let similarity = verifier.similarity(slot, other);
                if similarity.copy_kind(config).is_some() {
                    links.push(Link { a: slot, b: other, similarity });
                }
            }
        }
        links.sort_by_key(|l| (l.a.min(l.b), l.a.max(l.b), l.a));
        links.dedup_by_key(|l| (l.a.min(l.b), l.a.max(l.b)));
        let mut assignments = super::super::guard::cluster_links(&verifier, published, links);
        for (doc, assignment) in assignments.iter_mut().enumerate() {
            assignment.fill_to_origin(&verifier, doc);
        }
        assignments
    }

    #[test]
    fn lazy_linking_equals_verifying_every_candidate() {
        // Small bands and a low bucket cap make big buckets, many pairs found from both
        // ends and many in the sampling window: every path of the lazy order is taken.
        for (bands, rows) in [(28, 2), (16, 4)] {
            let config = DetectorConfig { bands, rows, ..DetectorConfig::default() };
            let (fingerprints, samples) = corpus(&config);
            let published: Vec<Option<i64>> = (0..fingerprints.len())
                .map(|i| (i % 3 != 0).then_some((i as i64 * 7) % 50))
                .collect();
            for sampled in [true, false] {
                let samples = sampled.then_some(samples.as_slice());
                let lazy = cluster_fingerprints(&config, &fingerprints, samples, &published);
                let expected = eager(&config, &fingerprints, samples, &published);
                assert_eq!(lazy, expected, "bands {bands} x {rows}, sampled {sampled}");
                let clustered = lazy.iter().filter(|a| a.link.is_some()).count();
                assert!(clustered > 40, "{clustered} documents linked");
            }
        }
    }

    #[test]
    fn origin_is_earliest_dated_then_first() {
        let config = DetectorConfig::default();
        let fp = |v: u32| Fingerprint {
            signature: crate::minhash::Signature(vec![v; config.num_perm].into()),
            shingle_count: 50,
        };
        let fps = vec![fp(1), fp(2), fp(1), fp(1), fp(2)];
        let published = vec![Some(10), None, Some(5), Some(5), None];
        let assignments = cluster_fingerprints(&config, &fps, None, &published);
        let origins: Vec<usize> = assignments.iter().map(|a| a.origin).collect();
        assert_eq!(origins, [2, 1, 2, 2, 1]);
        assert_eq!(assignments[0].to_origin.jaccard, 1.0);
    }

    #[test]
    fn identical_copies_join_the_first_one_and_link_to_it() {
        // Copies of one story interleaved with near copies (one lane changed) that fill
        // every bucket between them: each identical copy still links to the first.
        let config = DetectorConfig::default();
        let story: Vec<u32> = (0..config.num_perm as u32).map(|i| i * 7919 + 13).collect();
        let mut fps = Vec::new();
        for i in 0..200u32 {
            let mut lanes = story.clone();
            if i % 5 != 0 {
                lanes[(i as usize * 31) % config.num_perm] ^= i + 1;
            }
            let signature = crate::minhash::Signature(lanes.into());
            fps.push(Fingerprint { signature, shingle_count: 400 });
        }
        let published = vec![None; fps.len()];
        let assignments = cluster_fingerprints(&config, &fps, None, &published);
        for (doc, assignment) in assignments.iter().enumerate() {
            assert_eq!(assignment.origin, 0, "document {doc}");
            if doc % 5 == 0 && doc > 0 {
                assert_eq!(assignment.link.map(|(other, _)| other), Some(0), "document {doc}");
                assert_eq!(assignment.to_origin.jaccard, 1.0);
            }
        }
    }

    #[test]
    fn scan_sets_measure_as_the_sample_slice_does() {
        let config = DetectorConfig::default();
        let (_, samples) = corpus(&config);
        let mut sets = super::super::sample::ShingleSets::default();
        for sample in &samples {
            sets.push(&sample.shingles);
        }
        let slice = samples.as_slice();
        for (a, b) in [(0, 1), (3, 7), (10, 2), (5, 5)] {
            assert_eq!(sets.contained_in(a, b), slice.contained_in(a, b));
        }
    }
}
