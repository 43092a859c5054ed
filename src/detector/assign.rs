//! Online assignment: the candidates of an incoming article from both LSH views, their
//! verification (with sampled containment where MinHash cannot decide), and the story
//! the article joins under the chaining guard's rule, with the article as a cluster of
//! one: the story of its best match, if the article is also related to that story's
//! origin or to enough of its earliest members; else the next match's story; else a
//! story of its own. Other stories its matches reach are then merged with that story
//! when the two pass the guard as two batch clusters would. A short newcomer is
//! verified against a longer stored article through the stored article's shingle
//! sketch, and a short stored article through its sketch in the newcomer's, as the
//! batch scan measures the shorter of a pair.

use crate::cluster::{CopyKind, MAX_SKETCH, Similarity, needs_sampling, sketch_in_sketch};
use crate::error::{Error, Result};
use crate::lsh::Slot;

use super::Detector;
use super::state::{Labelled, Probe, State};
use super::verdict::Verdict;

/// The containment bands take at most this many (newest) members of a bucket: a bucket
/// keyed by one common shingle can hold thousands of unrelated articles.
const CONTAINMENT_PER_BAND: usize = 16;

/// Documents walked per LSH bucket and band when looking for candidates. Real stories
/// have tens of copies; a bucket far larger is a flood of near-identical articles, where
/// the newest few hundred members are as good a match as any and walking them all
/// would make each lookup cost time in proportion to the flood.
const MAX_BUCKET_WALK: usize = 128;

impl State {
    /// The verdict of an indexed article, recomputed against the current index: what
    /// a retried ingest returns. `None` when `id` is not indexed; an error when it was
    /// indexed with other text.
    pub(super) fn stored_verdict(
        &self,
        detector: &Detector,
        id: &str,
        text_hash: u64,
    ) -> Result<Option<Verdict>> {
        let Some(slot) = self.slot_of(id) else { return Ok(None) };
        let entry = self.entry(slot);
        if entry.text_hash != text_hash {
            return Err(Error::DuplicateId {
                id: id.to_owned(),
                reason: "already ingested with different text".into(),
            });
        }
        let config = detector.config();
        let stored = self.stored_probe(config, slot);
        let (_, matches) = self.matches(detector, &stored, Some(slot));
        let to = Labelled { id, probe: &stored };
        Ok(Some(self.verdict(detector, &to, entry.kind, matches, Some(entry.cluster))))
    }

    /// Similarity of the article `probe` to the stored article in `slot`: the signature
    /// estimate, and where it cannot decide, the shorter one's sketch looked up in the
    /// longer one's (when the probe's sketch is known), as in a scan.
    pub(super) fn similarity_to(
        &self,
        detector: &Detector,
        probe: &Probe<'_>,
        slot: Slot,
    ) -> Similarity {
        let config = detector.config();
        let stored_size = self.entry(slot).shingle_count;
        let size = probe.shingle_count;
        let estimate = Similarity::of(&probe.lanes, size, self.lanes(config, slot), stored_size);
        let Some(sketch) = probe.sketch else { return estimate };
        if !needs_sampling(config, &estimate, size, stored_size) {
            return estimate;
        }
        let mut buffer = [0; MAX_SKETCH];
        let Some(stored) = self.sketch(slot, &mut buffer) else { return estimate };
        if stored_size > size {
            Similarity::from_containment(sketch_in_sketch(sketch, stored), size, stored_size)
        } else {
            let contained = sketch_in_sketch(stored, sketch);
            Similarity::from_containment(contained, stored_size, size).reversed()
        }
    }

    /// Verified copies of `probe` among indexed articles (except `exclude`), best
    /// first, and the kind the best one implies. Candidates come from the Jaccard bands
    /// and the containment bands (newest few per bucket).
    pub(super) fn matches(
        &self,
        detector: &Detector,
        probe: &Probe<'_>,
        exclude: Option<Slot>,
    ) -> (CopyKind, Vec<(Slot, Similarity)>) {
        let config = detector.config();
        let lanes = &probe.keys;
        let mut candidates = Vec::new();
        self.lsh.for_each_candidate_capped(lanes, MAX_BUCKET_WALK, |slot| candidates.push(slot));
        if let Some(view) = &self.containment {
            view.for_each_candidate_capped(lanes, CONTAINMENT_PER_BAND, |slot| {
                candidates.push(slot)
            });
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|&slot| Some(slot) != exclude);
        let mut found: Vec<(Slot, Similarity)> = candidates
            .into_iter()
            .filter_map(|slot| {
                let sim = self.similarity_to(detector, probe, slot);
                sim.copy_kind(config).map(|_| (slot, sim))
            })
            .collect();
        found.sort_by(|(sa, a), (sb, b)| {
            a.rank(b).then_with(|| self.order_key(*sa).cmp(&self.order_key(*sb)))
        });
        let kind =
            found.first().and_then(|(_, sim)| sim.copy_kind(config)).unwrap_or(CopyKind::NewStory);
        (kind, found)
    }

    /// The story the article joins, and as what: the story of the best match it is also
    /// related to the origin of, or to a majority of the earliest members of (the batch
    /// chaining guard's rule, with the article as a cluster of one).
    pub(super) fn joined_story(
        &self,
        detector: &Detector,
        probe: &Probe<'_>,
        matches: &[(Slot, Similarity)],
    ) -> Option<(CopyKind, u32)> {
        let config = detector.config();
        let mut tried: Vec<u32> = Vec::new();
        for (slot, similarity) in matches {
            let story_ix = self.entry(*slot).cluster;
            if tried.contains(&story_ix) {
                continue;
            }
            tried.push(story_ix);
            let kind = similarity.copy_kind(config).unwrap_or(CopyKind::PartialCopy);
            if config.merge_support <= 0.0 {
                return Some((kind, story_ix));
            }
            let story = self.stories[story_ix as usize].as_ref().expect("member's story exists");
            let earliest = &story.earliest;
            let related = |member: Slot| {
                member == *slot
                    || self.similarity_to(detector, probe, member).containment_of_shorter()
                        >= config.support_containment
            };
            if related(earliest[0]) {
                return Some((kind, story_ix));
            }
            let needed = (config.merge_support * earliest.len() as f64).ceil() as usize;
            if earliest.iter().filter(|&&member| related(member)).count() >= needed {
                return Some((kind, story_ix));
            }
        }
        None
    }

    /// Similarity of two stored articles: the signature estimate, and where it cannot
    /// decide, the shorter one's sketch looked up in the longer one's.
    pub(super) fn stored_similarity(&self, detector: &Detector, a: Slot, b: Slot) -> Similarity {
        let config = detector.config();
        let (ea, eb) = (self.entry(a), self.entry(b));
        let estimate = Similarity::of(
            self.lanes(config, a),
            ea.shingle_count,
            self.lanes(config, b),
            eb.shingle_count,
        );
        if !needs_sampling(config, &estimate, ea.shingle_count, eb.shingle_count) {
            return estimate;
        }
        let (short, long, flipped) =
            if ea.shingle_count <= eb.shingle_count { (a, b, false) } else { (b, a, true) };
        let (mut short_keys, mut long_keys) = ([0; MAX_SKETCH], [0; MAX_SKETCH]);
        let (Some(short_sketch), Some(long_sketch)) =
            (self.sketch(short, &mut short_keys), self.sketch(long, &mut long_keys))
        else {
            return estimate;
        };
        let contained = sketch_in_sketch(short_sketch, long_sketch);
        let (short, long) = (self.entry(short), self.entry(long));
        let similarity =
            Similarity::from_containment(contained, short.shingle_count, long.shingle_count);
        if flipped { similarity.reversed() } else { similarity }
    }

    /// After an article joined `story`: merges into it (or it into them) every other
    /// story the article's matches reach, when the two stories pass the chaining guard
    /// as the batch scan applies it to two clusters: their origins are related, or at
    /// least `merge_support` of the pairs between their earliest members are. Of two
    /// stories, the one whose origin comes first keeps its id (ties: the one whose
    /// origin was stored first, an order a restart keeps); the other's id names it
    /// from then on. Returns the article's story after the merges.
    pub(super) fn merge_linked(
        &mut self,
        detector: &Detector,
        mut story: u32,
        matches: &[(Slot, Similarity)],
    ) -> u32 {
        let config = detector.config();
        if config.merge_support <= 0.0 {
            return story;
        }
        let mut tried: Vec<u32> = Vec::new();
        for (slot, similarity) in matches {
            let other = self.entry(*slot).cluster;
            if other == story || tried.contains(&other) || similarity.copy_kind(config).is_none() {
                continue;
            }
            tried.push(other);
            if !self.stories_related(detector, story, other) {
                continue;
            }
            let first = |ix: u32| {
                self.order_key(
                    self.origin(self.stories[ix as usize].as_ref().expect("story exists")),
                )
            };
            let (into, from) =
                if first(story) <= first(other) { (story, other) } else { (other, story) };
            self.merge_stories(config, into, from);
            story = into;
        }
        story
    }

    /// The chaining guard between two stories (see [`State::merge_linked`]).
    fn stories_related(&self, detector: &Detector, a: u32, b: u32) -> bool {
        let config = detector.config();
        let related = |x: Slot, y: Slot| {
            self.stored_similarity(detector, x, y).containment_of_shorter()
                >= config.support_containment
        };
        let (a, b) = (
            &self.stories[a as usize].as_ref().expect("story exists").earliest,
            &self.stories[b as usize].as_ref().expect("story exists").earliest,
        );
        if related(a[0], b[0]) {
            return true;
        }
        let pairs = a.len() * b.len();
        let needed = (config.merge_support * pairs as f64).ceil() as usize;
        let mut found = 0;
        for &x in a {
            for &y in b {
                found += usize::from(related(x, y));
            }
        }
        found >= needed
    }
}
