//! The batch clustering as stages over global ordinals, for runners that split a corpus
//! across processes or machines (the Python package's `neardup.arrow`). Each stage sees
//! only part of the corpus and names documents by their ordinal (input order), and
//! together they give exactly what [`super::cluster_fingerprints`] gives the whole
//! corpus in one process:
//!
//! 0. [`collapse`]: documents with identical signatures (and shingle counts and sets)
//!    grouped, each copy linked to the first of its group, its representative (the
//!    runner brings each group into one call, partitioning by signature);
//! 1. [`band_rows`]: each representative's bucket keys in both LSH views (copies have
//!    none: a story's identical copies put one row in a bucket, not one each);
//! 2. [`bucket_pairs`]: the candidate pairs of one bucket (all of its rows, from
//!    every part), by the rules of the scan's sorted buckets;
//! 3. [`verify_pairs`]: candidate pairs verified (sampled containment included), one
//!    link per pair of documents;
//! 4. connected components of the links, the copies' links included (the runner's
//!    job: any algorithm gives the same components);
//! 5. [`cluster_component`]: the links of one component taken strongest first under
//!    the chaining guard, and each member's origin.
//!
//! It is exact because the guard only ever looks at the two clusters a link joins, both
//! inside the link's component, and every tie breaks by ordinal, which a component's
//! local numbering keeps in order. The scan itself verifies lazily and skips pairs
//! already joined; a test in `link.rs` checks that this equals verifying every candidate,
//! which is what these stages do.

use crate::config::DetectorConfig;
use crate::lsh::{Slot, band_key};

use super::candidates::{CONTAINMENT_MIN_RATIO, CONTAINMENT_PER_BAND, JACCARD_PER_BAND};
use super::guard::{Assignment, Link, cluster_links};
use super::sample::{SampledContainment, ShingleSets};
use super::similarity::{CopyKind, Similarity};
use super::verify::Verifier;

/// Which LSH view a band belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    /// The `bands` x `rows` Jaccard bands: a document pairs with the nearest earlier
    /// members of its buckets.
    Jaccard,
    /// The one-row containment bands: a document pairs with a few much longer members.
    Containment,
}

/// One document's row in one band: its bucket is (`view`, `band`, `key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BandRow {
    /// The view.
    pub view: View,
    /// The band within the view.
    pub band: u32,
    /// The bucket key ([`band_key`]).
    pub key: u64,
    /// The document's ordinal.
    pub doc: Slot,
    /// The document's shingle count.
    pub size: u32,
}

/// The rows of document `doc` (signature `lanes`, `size` shingles) in every band of both
/// views.
pub fn band_rows(config: &DetectorConfig, doc: Slot, lanes: &[u32], size: u32) -> Vec<BandRow> {
    let containment_seed = config.seed.rotate_left(32);
    let jaccard = (0..config.bands).map(|band| BandRow {
        view: View::Jaccard,
        band: band as u32,
        key: band_key(lanes, band, config.rows, config.seed),
        doc,
        size,
    });
    let containment = (0..config.containment_bands).map(|band| BandRow {
        view: View::Containment,
        band: band as u32,
        key: band_key(lanes, band, 1, containment_seed),
        doc,
        size,
    });
    jaccard.chain(containment).collect()
}

/// The candidate pairs of one bucket, given all of its rows (in any order): (the
/// document that finds the pair, the document found). In a Jaccard bucket a document
/// finds its nearest earlier members; in a containment bucket, members sorted longest
/// first, it finds the first few before it that are at least 1.5 times longer.
/// A pair may come from many buckets: [`verify_pairs`] keeps it once.
pub fn bucket_pairs(rows: &mut [BandRow]) -> Vec<(Slot, Slot)> {
    let Some(first) = rows.first() else { return Vec::new() };
    debug_assert!(
        rows.iter().all(|r| (r.view, r.band, r.key) == (first.view, first.band, first.key))
    );
    let mut pairs = Vec::new();
    match first.view {
        View::Jaccard => {
            rows.sort_unstable_by_key(|r| r.doc);
            for (i, row) in rows.iter().enumerate() {
                for other in &rows[i.saturating_sub(JACCARD_PER_BAND)..i] {
                    pairs.push((row.doc, other.doc));
                }
            }
        }
        View::Containment => {
            rows.sort_unstable_by_key(|r| (u32::MAX - r.size, r.doc));
            for (i, row) in rows.iter().enumerate() {
                let longer = f64::from(row.size) * CONTAINMENT_MIN_RATIO;
                let containers =
                    rows[..i].iter().take_while(|other| f64::from(other.size) >= longer);
                for other in containers.take(CONTAINMENT_PER_BAND) {
                    pairs.push((row.doc, other.doc));
                }
            }
        }
    }
    pairs
}

/// Signed documents by ordinal: what verification and clustering read.
#[derive(Debug)]
pub struct SignedDocs {
    ordinals: Vec<Slot>,
    lanes: Vec<u32>,
    sizes: Vec<u32>,
    published: Vec<Option<i64>>,
    /// With sampled containment: each document's shingle sketch.
    samples: Option<ShingleSets>,
}

impl SignedDocs {
    /// No documents yet, to be verified under `config`: with
    /// `config.sampled_containment`, documents come with their shingle sketches.
    pub fn new(config: &DetectorConfig) -> Self {
        let samples = config.sampled_containment.then(ShingleSets::default);
        SignedDocs {
            ordinals: Vec::new(),
            lanes: Vec::new(),
            sizes: Vec::new(),
            published: Vec::new(),
            samples,
        }
    }

    /// Adds a document: its ordinal (larger than any added before), signature, shingle
    /// count, publication time, and (when sampled) its shingle sketch
    /// ([`super::shingle_sketch`]; a stage table's column gives it through
    /// [`sketch_keys`]).
    pub fn push(
        &mut self,
        ordinal: Slot,
        lanes: &[u32],
        size: u32,
        published: Option<i64>,
        sketch: &[u16],
    ) {
        debug_assert!(self.ordinals.last().is_none_or(|&last| last < ordinal));
        self.ordinals.push(ordinal);
        self.lanes.extend_from_slice(lanes);
        self.sizes.push(size);
        self.published.push(published);
        if let Some(samples) = &mut self.samples {
            debug_assert!(sketch.windows(2).all(|w| w[0] < w[1]), "not a sketch: {sketch:?}");
            samples.push_sketch(sketch);
        }
    }

    /// Documents held.
    pub fn len(&self) -> usize {
        self.ordinals.len()
    }

    /// True when no document is held.
    pub fn is_empty(&self) -> bool {
        self.ordinals.is_empty()
    }

    fn local(&self, ordinal: Slot) -> Option<Slot> {
        self.ordinals.binary_search(&ordinal).ok().map(|i| i as Slot)
    }

    fn samples(&self) -> Option<&dyn SampledContainment> {
        self.samples.as_ref().map(|s| s as &dyn SampledContainment)
    }

    /// Runs `f` with a verifier over these documents (local slots).
    fn with_verifier<T>(&self, config: &DetectorConfig, f: impl FnOnce(&Verifier<'_>) -> T) -> T {
        let narrowed = crate::minhash::narrow(&self.lanes);
        f(&Verifier::new(config, &narrowed, &self.sizes, self.samples()))
    }
}

/// The sketch a stage table's `shingles` column holds for one document, as
/// [`super::shingle_sketch`] keys, or `None` when it is not one (a key above 65,535, or
/// keys not strictly ascending): what a reader checks before [`SignedDocs::push`].
pub fn sketch_keys(column: &[u32]) -> Option<Vec<u16>> {
    let ascending = column.windows(2).all(|w| w[0] < w[1]);
    let keys: Option<Vec<u16>> = column.iter().map(|&key| u16::try_from(key).ok()).collect();
    keys.filter(|keys| ascending && keys.len() <= super::MAX_SKETCH)
}

/// Stage 0: each document of `docs` that is a copy of an earlier one there (equal
/// signature, shingle count and, when sampled, shingle sketch), linked to the first of
/// them, its representative: `a` the representative, `b` the copy, at the similarity
/// of identical signatures. Copies get no band rows; these links take their place, as in
/// the batch scan. `docs` must hold every document of a group (partition by signature).
pub fn collapse(config: &DetectorConfig, docs: &SignedDocs) -> Vec<VerifiedLink> {
    let rep_of = super::link::representatives(config, &docs.lanes, &docs.sizes, docs.samples());
    docs.with_verifier(config, |verifier| {
        rep_of
            .iter()
            .enumerate()
            .filter(|&(copy, &rep)| rep as usize != copy)
            .map(|(copy, &rep)| VerifiedLink {
                a: docs.ordinals[rep as usize],
                b: docs.ordinals[copy],
                similarity: verifier.similarity(rep, copy as Slot),
            })
            .collect()
    })
}

/// A verified copy link between two documents, by ordinal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerifiedLink {
    /// The document whose similarity is given.
    pub a: Slot,
    /// The other document.
    pub b: Slot,
    /// Similarity of `a` to `b`.
    pub similarity: Similarity,
}

/// Verifies candidate pairs (from [`bucket_pairs`]; repeats are fine) and returns one
/// link per pair of documents that are copies: when both documents found each other and
/// both ways verify, the way from the smaller ordinal. Both ways of a pair must be in
/// one call, and `docs` must hold every document named. A pair naming a document not in
/// `docs` is an error naming it.
pub fn verify_pairs(
    config: &DetectorConfig,
    docs: &SignedDocs,
    pairs: &[(Slot, Slot)],
) -> crate::Result<Vec<VerifiedLink>> {
    let mut local = Vec::with_capacity(pairs.len());
    for &(a, b) in pairs {
        let find = |doc: Slot| {
            docs.local(doc).ok_or_else(|| {
                crate::Error::input("pairs", format!("document {doc} is not among the documents"))
            })
        };
        if a != b {
            local.push((find(a)?, find(b)?));
        }
    }
    local.sort_unstable_by_key(|&(a, b)| (a.min(b), a.max(b), a));
    local.dedup();
    let mut links: Vec<VerifiedLink> = docs.with_verifier(config, |verifier| {
        local
            .iter()
            .filter_map(|&(a, b)| {
                let similarity = verifier.similarity(a, b);
                similarity.copy_kind(config).map(|_| VerifiedLink {
                    a: docs.ordinals[a as usize],
                    b: docs.ordinals[b as usize],
                    similarity,
                })
            })
            .collect()
    });
    links.dedup_by_key(|l| (l.a.min(l.b), l.a.max(l.b)));
    Ok(links)
}

/// Clusters one connected component of the verified links: `docs` holds its documents
/// (all of them, and no others), `links` every link between them. Returns each
/// document's ordinal and assignment, in ordinal order, with ordinals (not positions)
/// in `origin` and `link`: what the whole-corpus scan assigns these documents.
pub fn cluster_component(
    config: &DetectorConfig,
    docs: &SignedDocs,
    links: &[VerifiedLink],
) -> crate::Result<Vec<(Slot, Assignment)>> {
    let mut local = Vec::with_capacity(links.len());
    for link in links {
        let find = |doc: Slot| {
            docs.local(doc).ok_or_else(|| {
                crate::Error::input("links", format!("document {doc} is not in the component"))
            })
        };
        local.push(Link { a: find(link.a)?, b: find(link.b)?, similarity: link.similarity });
    }
    let assignments = docs.with_verifier(config, |verifier| {
        let mut assignments = cluster_links(verifier, &docs.published, local);
        for (doc, assignment) in assignments.iter_mut().enumerate() {
            assignment.fill_to_origin(verifier, doc);
        }
        assignments
    });
    let global = |local: usize| docs.ordinals[local] as usize;
    Ok(assignments
        .into_iter()
        .enumerate()
        .map(|(doc, a)| {
            let assignment = Assignment {
                origin: global(a.origin),
                to_origin: a.to_origin,
                link: a.link.map(|(other, similarity)| (global(other), similarity)),
            };
            (docs.ordinals[doc], assignment)
        })
        .collect())
}

/// The kind of document `doc` under `assignment`: decided, as online, by the link that
/// put it in its cluster, so a copy reached through another copy is a duplicate of that
/// copy even when the origin was cut or extended. `neardup scan` prints this.
pub fn kind_of(assignment: &Assignment, doc: usize, config: &DetectorConfig) -> CopyKind {
    if assignment.origin == doc {
        return CopyKind::NewStory;
    }
    let decided_by = assignment.link.map_or(assignment.to_origin, |(_, link)| link);
    if decided_by.jaccard >= config.jaccard_threshold {
        CopyKind::Duplicate
    } else {
        CopyKind::PartialCopy
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::cluster::cluster_signatures;
    use crate::cluster::sample::ShingleSets;
    use crate::cluster::verify::flatten;
    use crate::fingerprint::Fingerprint;
    use crate::minhash::MinHasher;

    /// Documents cut from a few stories at many sizes, with noise, and a flood of
    /// identical copies: pairs of every containment, big buckets.
    fn corpus(config: &DetectorConfig) -> (Vec<Fingerprint>, Vec<Vec<u64>>) {
        let hasher = MinHasher::new(config.num_perm, config.seed);
        let mut lcg = crate::testing::lcg(11);
        let mut next = || lcg() >> 11;
        let stories: Vec<Vec<u64>> = (0..6)
            .map(|_| (0..500).map(|_| next().wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect())
            .collect();
        let mut fingerprints = Vec::new();
        let mut sets = Vec::new();
        for i in 0..240 {
            let story = &stories[next() as usize % stories.len()];
            let mut shingles: Vec<u64> = if i % 7 == 0 {
                story.clone()
            } else {
                let len = 20 + next() as usize % 450;
                let start = next() as usize % (story.len() - len + 1);
                let mut cut = story[start..start + len].to_vec();
                let noise = next() as usize % (len / 2 + 1);
                cut.extend((0..noise).map(|_| next().wrapping_mul(0xD6E8_FEB8_6659_FD93)));
                cut
            };
            shingles.sort_unstable();
            shingles.dedup();
            let signature = hasher.signature(&shingles);
            fingerprints.push(Fingerprint { signature, shingle_count: shingles.len() as u32 });
            sets.push(shingles);
        }
        (fingerprints, sets)
    }

    /// A shingle set's sketch as a stage table's `shingles` column holds it.
    fn sketch(set: &[u64]) -> Box<[u16]> {
        let mut low: Vec<u32> = set.iter().map(|&h| h as u32).collect();
        low.sort_unstable();
        low.dedup();
        crate::cluster::shingle_sketch(&low)
    }

    /// Runs the stages over `parts` of the corpus as a distributed runner would: band rows
    /// per part, buckets gathered from every part, pairs verified by pair, components,
    /// each component clustered alone.
    fn staged(
        config: &DetectorConfig,
        fingerprints: &[Fingerprint],
        sets: &[Vec<u64>],
        published: &[Option<i64>],
        parts: usize,
    ) -> Vec<Assignment> {
        let n = fingerprints.len();
        let doc = |i: usize| {
            (fingerprints[i].signature.lanes(), fingerprints[i].shingle_count, sketch(&sets[i]))
        };
        let signed = |members: &[Slot]| {
            let mut docs = SignedDocs::new(config);
            for &m in members {
                let (lanes, size, shingles) = doc(m as usize);
                docs.push(m, lanes, size, published[m as usize], &shingles);
            }
            docs
        };
        // 0. Identical signatures collapsed, group by group.
        let mut groups: HashMap<&[u32], Vec<Slot>> = HashMap::new();
        for i in 0..n {
            groups.entry(doc(i).0).or_default().push(i as Slot);
        }
        let mut links = Vec::new();
        for members in groups.values() {
            links.extend(collapse(config, &signed(members)));
        }
        let copies: Vec<Slot> = links.iter().map(|l| l.b).collect();
        assert!(copies.len() > 20, "{} copies collapsed", copies.len());
        // 1. Band rows of the representatives, part by part.
        let mut buckets: HashMap<(View, u32, u64), Vec<BandRow>> = HashMap::new();
        for part in (0..n).collect::<Vec<_>>().chunks(n.div_ceil(parts)) {
            for &i in part.iter().filter(|&&i| !copies.contains(&(i as Slot))) {
                let (lanes, size, _) = doc(i);
                for row in band_rows(config, i as Slot, lanes, size) {
                    buckets.entry((row.view, row.band, row.key)).or_default().push(row);
                }
            }
        }
        // 2. Pairs, bucket by bucket (rows in any order).
        let mut pairs: Vec<(Slot, Slot)> = Vec::new();
        for rows in buckets.values_mut() {
            rows.reverse();
            pairs.extend(bucket_pairs(rows));
        }
        // 3. Verified, grouped by pair of documents into calls over their documents.
        let mut by_pair: HashMap<(Slot, Slot), Vec<(Slot, Slot)>> = HashMap::new();
        for (a, b) in pairs {
            by_pair.entry((a.min(b), a.max(b))).or_default().push((a, b));
        }
        for ((x, y), pairs) in by_pair {
            links.extend(verify_pairs(config, &signed(&[x, y]), &pairs).unwrap());
        }
        // 4. Components.
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        for link in &links {
            let (a, b) = (root(&mut parent, link.a as usize), root(&mut parent, link.b as usize));
            parent[a.max(b)] = a.min(b);
        }
        let mut components: HashMap<usize, Vec<Slot>> = HashMap::new();
        for i in 0..n {
            components.entry(root(&mut parent, i)).or_default().push(i as Slot);
        }
        // 5. Each component alone.
        let mut out: Vec<Option<Assignment>> = vec![None; n];
        for (_, members) in components {
            let member_links: Vec<VerifiedLink> =
                links.iter().filter(|l| members.binary_search(&l.a).is_ok()).copied().collect();
            for (ordinal, assignment) in
                cluster_component(config, &signed(&members), &member_links).unwrap()
            {
                out[ordinal as usize] = Some(assignment);
            }
        }
        out.into_iter().map(Option::unwrap).collect()
    }

    #[test]
    fn stages_over_parts_equal_the_whole_corpus_clustering() {
        for (bands, rows) in [(28, 2), (16, 4)] {
            let config = DetectorConfig { bands, rows, ..DetectorConfig::default() };
            let (fingerprints, sets) = corpus(&config);
            // The scan's own path: each shingle set's low 32 bits, sketched as it is kept.
            let mut samples = ShingleSets::default();
            for set in &sets {
                let mut low: Vec<u32> = set.iter().map(|&h| h as u32).collect();
                low.sort_unstable();
                low.dedup();
                samples.push(&low);
            }
            let (lanes, sizes) = flatten(&fingerprints);
            let published: Vec<Option<i64>> = (0..fingerprints.len())
                .map(|i| (i % 3 != 0).then_some((i as i64 * 7) % 50))
                .collect();
            let whole =
                cluster_signatures(&config, lanes.into(), &sizes, Some(&samples), &published);
            let linked = whole.iter().filter(|a| a.link.is_some()).count();
            assert!(linked > 60, "{linked} documents linked");
            for parts in [1, 7] {
                let got = staged(&config, &fingerprints, &sets, &published, parts);
                assert_eq!(got, whole, "bands {bands} x {rows}, {parts} parts");
            }
        }
    }

    #[test]
    fn band_rows_of_a_slice_are_the_whole_corpus_rows_of_its_documents() {
        let config = DetectorConfig::default();
        let (fingerprints, _) = corpus(&config);
        let f = &fingerprints[17];
        let rows = band_rows(&config, 17, f.signature.lanes(), f.shingle_count);
        assert_eq!(rows.len(), config.bands + config.containment_bands);
        for row in &rows {
            let (rows_per_band, seed) = match row.view {
                View::Jaccard => (config.rows, config.seed),
                View::Containment => (1, config.seed.rotate_left(32)),
            };
            let key = band_key(f.signature.lanes(), row.band as usize, rows_per_band, seed);
            assert_eq!((row.key, row.doc, row.size), (key, 17, f.shingle_count));
        }
    }

    #[test]
    fn a_pair_naming_a_missing_document_is_refused() {
        let config = DetectorConfig::default();
        let docs = SignedDocs::new(&config);
        let error = verify_pairs(&config, &docs, &[(1, 2)]).unwrap_err();
        assert!(error.to_string().contains("document 1 is not among the documents"));
    }
}
