//! `Detector`: the online engine behind the service. It owns the config, the LSH index,
//! every indexed signature and the clusters, and labels each incoming article as a new
//! story or a copy of one already seen.
//!
//! Concurrency: fingerprints are computed before any lock is taken; the state lock is
//! held only to look up candidates and to insert, which takes microseconds. Site chrome
//! is learned in a [`ChromeModel`] behind its own lock: an article is signed under the
//! model as it stands, and the model counts its lines when it is stored, under the
//! state lock, so what is learned depends only on the order of stores.
//!
//! Assignment (`assign.rs`) follows the batch scan's chaining guard: a copy joins the
//! story of its best match only if it is also related to that story's origin, or to a
//! majority of its earliest members, and two stories it links merge only if they are
//! related as stories. The state tables are in `state.rs`, the answers'
//! types in `verdict.rs`.

mod assign;
mod state;
mod stories;
mod verdict;

use std::sync::RwLock;

use crate::article::{Article, text_hash};
use crate::chrome::{ChromeModel, LineProfile};
use crate::cluster::{CopyKind, Similarity, sketch_of_hashes};
use crate::config::DetectorConfig;
use crate::error::{Error, Result};
use crate::fingerprint::{Fingerprint, Fingerprinter, PreparedText};
use crate::lsh::{LshIndex, Slot};
use state::{Entry, Labelled, State, index_keys};

pub use state::StoredArticle;
pub use stories::{
    DEFAULT_STORY_PAGE, MAX_STORY_PAGE, StoryCursor, StoryPage, StoryQuery, StorySummary,
};
pub use verdict::{ClusterView, DetectorStats, Match, Member, Verdict};

/// The online near-duplicate detector. Cheap to share behind an `Arc`.
pub struct Detector {
    fingerprinter: Fingerprinter,
    state: RwLock<State>,
    chrome: RwLock<ChromeModel>,
}

/// An article after the text stage, ready to be labelled: made by
/// [`Detector::sign_article`] without the index lock (the service does it off its async
/// runtime), then given to [`Detector::ingest_signed`] or [`Detector::check_signed`].
///
/// It is signed under the chrome model as it stood then; an ingest counts its lines in
/// the model when it commits and signs again in the rare case that this changes which
/// lines are chrome, so the outcome depends only on the order of commits.
#[derive(Debug, Clone)]
pub struct SignedArticle {
    /// Signature of the lines that are not chrome.
    pub fingerprint: Fingerprint,
    /// Hash of the raw text (tells a retried ingest from a conflicting one).
    pub text_hash: u64,
    /// Its shingle set, for sampled containment against stored articles.
    /// What is kept of its shingle set ([`crate::cluster::shingle_sketch`]).
    sketch: Box<[u16]>,
    /// Lines left out as chrome (normalized text).
    pub chrome_ignored: Vec<String>,
    /// The normalized text and its line profile, kept to learn from and to sign again.
    prepared: PreparedText,
    /// The lines the model classified as chrome when it was signed.
    classified: Vec<u32>,
    /// How many documents the model had counted then (it changes with every one).
    model_documents: u64,
}

impl SignedArticle {
    /// The line profile the chrome model learns from when the article is ingested: what
    /// a durable log keeps to learn again on replay.
    pub fn profile(&self) -> &LineProfile {
        &self.prepared.profile
    }

    /// What the detector keeps of the shingle set (see [`crate::cluster::shingle_sketch`]).
    pub fn sketch(&self) -> &[u16] {
        &self.sketch
    }
}

/// What [`Detector::commit`] decided and a durable log records.
#[cfg_attr(not(feature = "store"), allow(dead_code))]
pub(crate) struct Committed {
    pub(crate) verdict: Verdict,
    /// The article as stored, when learning from it made it sign again.
    pub(crate) resigned: Option<SignedArticle>,
    /// Stories merged: (absorbed story's id, survivor's id), in order.
    pub(crate) merged: Vec<(Box<str>, Box<str>)>,
    /// The shingle sketch stored with the article (empty for a retry).
    pub(crate) sketch: Box<[u16]>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector").field("config", self.config()).finish_non_exhaustive()
    }
}

impl Detector {
    /// An empty detector. Fails when `config` does not validate.
    pub fn new(config: DetectorConfig) -> Result<Self> {
        let fingerprinter = Fingerprinter::new(config)?;
        let config = fingerprinter.config();
        let state = State {
            lsh: LshIndex::new(config.bands, config.rows, config.seed),
            containment: (config.containment_bands > 0)
                .then(|| LshIndex::new(config.containment_bands, 1, config.seed.rotate_left(32))),
            ..State::default()
        };
        let chrome = RwLock::new(ChromeModel::new(&config.chrome));
        Ok(Detector { fingerprinter, state: RwLock::new(state), chrome })
    }

    /// A detector that starts from a learned chrome model (for example one persisted
    /// with the service's state). Fails when `config` does not validate.
    pub fn with_chrome_model(config: DetectorConfig, model: ChromeModel) -> Result<Self> {
        let detector = Detector::new(config)?;
        *detector.chrome.write().unwrap_or_else(|e| e.into_inner()) = model;
        Ok(detector)
    }

    /// A copy of the learned chrome model, to persist it. The model is plain data with
    /// serde support.
    pub fn chrome_model(&self) -> ChromeModel {
        self.chrome.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The active config.
    pub fn config(&self) -> &DetectorConfig {
        self.fingerprinter.config()
    }

    /// The fingerprinter, for callers that compute fingerprints ahead of time.
    pub fn fingerprinter(&self) -> &Fingerprinter {
        &self.fingerprinter
    }

    /// Labels `article` against the index without storing it (nor learning from it).
    pub fn check(&self, article: &Article<'_>) -> Result<Verdict> {
        article.validate()?;
        let signed = self.sign_article(article)?;
        self.check_signed(article, &signed)
    }

    /// [`Detector::check`] of an article signed with [`Detector::sign_article`].
    pub fn check_signed(&self, article: &Article<'_>, signed: &SignedArticle) -> Result<Verdict> {
        article.validate()?;
        self.label(
            article,
            &signed.fingerprint,
            Some(&signed.sketch),
            signed.chrome_ignored.clone(),
        )
    }

    fn label(
        &self,
        article: &Article<'_>,
        fingerprint: &Fingerprint,
        sketch: Option<&[u16]>,
        chrome_ignored: Vec<String>,
    ) -> Result<Verdict> {
        let state = self.read();
        let probe = state.probe(self.config(), fingerprint, sketch);
        let (_, matches) = state.matches(self, &probe, None);
        let (kind, story) = match state.joined_story(self, &probe, &matches) {
            Some((kind, story)) => (kind, Some(story)),
            None => (CopyKind::NewStory, None),
        };
        let to = Labelled { id: article.id, probe: &probe };
        let mut verdict = state.verdict(self, &to, kind, matches, story);
        verdict.chrome_ignored = chrome_ignored;
        Ok(verdict)
    }

    /// Labels and stores `article`, and learns site chrome from it. Idempotent on the
    /// id: the same id with the same text returns the stored verdict; with other text it
    /// is [`Error::DuplicateId`].
    pub fn ingest(&self, article: &Article<'_>) -> Result<Verdict> {
        article.validate()?;
        let signed = self.sign_article(article)?;
        self.ingest_signed(article, &signed)
    }

    /// [`Detector::ingest`] of an article signed with [`Detector::sign_article`]. The
    /// chrome model learns from the article here, when it is stored, in the order of
    /// stores (a retry learns nothing).
    pub fn ingest_signed(&self, article: &Article<'_>, signed: &SignedArticle) -> Result<Verdict> {
        self.commit(article, signed).map(|committed| committed.verdict)
    }

    /// [`Detector::ingest_signed`], also giving back what a durable log must record: the
    /// article as stored when learning from it made it sign again, and the stories it
    /// merged (absorbed story's id, survivor's id), in order.
    pub(crate) fn commit(
        &self,
        article: &Article<'_>,
        signed: &SignedArticle,
    ) -> Result<Committed> {
        article.validate()?;
        let config = self.config();
        let mut state = self.write();
        if let Some(mut verdict) = state.stored_verdict(self, article.id, signed.text_hash)? {
            verdict.chrome_ignored = signed.chrome_ignored.clone();
            let sketch = Box::default();
            return Ok(Committed { verdict, resigned: None, merged: Vec::new(), sketch });
        }
        let resigned = self.learn(signed);
        let signed = resigned.as_ref().unwrap_or(signed);
        let probe = state.probe(config, &signed.fingerprint, Some(&signed.sketch));
        let (_, matches) = state.matches(self, &probe, None);
        let (kind, story) = match state.joined_story(self, &probe, &matches) {
            Some(joined) => joined,
            None => (CopyKind::NewStory, state.new_story(article.id)),
        };
        let sketch: Box<[u16]> =
            if config.sampled_containment { signed.sketch.clone() } else { Box::default() };
        state.insert(config, article, signed.text_hash, (&probe, &sketch), kind, story);
        let story = state.merge_linked(self, story, &matches);
        let to = Labelled { id: article.id, probe: &probe };
        let mut verdict = state.verdict(self, &to, kind, matches, Some(story));
        verdict.chrome_ignored = signed.chrome_ignored.clone();
        let merged = std::mem::take(&mut state.merged);
        drop(state);
        Ok(Committed { verdict, resigned, merged, sketch })
    }

    /// Counts `signed`'s lines in the chrome model; when that changes which of its lines
    /// are chrome, the article signed again under the updated model.
    fn learn(&self, signed: &SignedArticle) -> Option<SignedArticle> {
        if !self.config().chrome.enabled {
            return None;
        }
        let mut model = self.chrome.write().unwrap_or_else(|e| e.into_inner());
        let as_signed = model.documents() == signed.model_documents;
        if !model.observe(&signed.prepared.profile) && as_signed {
            // No other article was counted since it was signed, and counting this one
            // left every one of its lines in its class.
            return None;
        }
        let classified = self.fingerprinter.chrome_lines(&signed.prepared, &model);
        let documents = model.documents();
        drop(model);
        (classified != signed.classified).then(|| {
            self.sign_prepared(signed.prepared.clone(), (classified, documents), signed.text_hash)
        })
    }

    /// Counts a stored article's lines in the chrome model without labelling anything:
    /// how a durable log replays what the model learned from articles it holds.
    pub fn observe_chrome(&self, profile: &LineProfile) {
        if self.config().chrome.enabled {
            self.chrome.write().unwrap_or_else(|e| e.into_inner()).observe(profile);
        }
    }

    /// The text stage of [`Detector::ingest`] and [`Detector::check`]: normalizes,
    /// classifies chrome under the current model and signs what is left. Takes only the
    /// chrome model's read lock.
    pub fn sign_article(&self, article: &Article<'_>) -> Result<SignedArticle> {
        let prepared: PreparedText = self.fingerprinter.prepare(article.text, article.source)?;
        let classified = if self.config().chrome.enabled {
            let model = self.chrome.read().unwrap_or_else(|e| e.into_inner());
            (self.fingerprinter.chrome_lines(&prepared, &model), model.documents())
        } else {
            (Vec::new(), 0)
        };
        Ok(self.sign_prepared(prepared, classified, text_hash(article.text)))
    }

    fn sign_prepared(
        &self,
        prepared: PreparedText,
        (classified, model_documents): (Vec<u32>, u64),
        text_hash: u64,
    ) -> SignedArticle {
        let fingerprinter = &self.fingerprinter;
        let signed = fingerprinter.sign_without(&prepared, classified.clone());
        let lines: Vec<&str> = prepared.normalized.lines().collect();
        let chrome_ignored =
            signed.chrome_lines.iter().map(|&i| lines[i as usize].to_owned()).collect();
        let sketch = sketch_of_hashes(&signed.shingles);
        SignedArticle {
            fingerprint: signed.fingerprint,
            text_hash,
            sketch,
            chrome_ignored,
            prepared,
            classified,
            model_documents,
        }
    }

    /// Removes an article; returns whether it was indexed.
    pub fn remove(&self, id: &str) -> bool {
        let config = self.config();
        let mut state = self.write();
        let Some(slot) = state.unindex_id(id) else { return false };
        let keys = state.stored_probe(config, slot).keys;
        state.lsh.remove(slot, &keys);
        if let Some(view) = &mut state.containment {
            view.remove(slot, &keys);
        }
        let entry = state.entries[slot as usize].take().expect("indexed slot has an entry");
        state.free_slots.push(slot);
        let story = state.stories[entry.cluster as usize].as_mut().expect("member's story exists");
        story.members.retain(|member| *member != slot);
        if story.earliest.contains(&slot) {
            let story = state.stories[entry.cluster as usize].as_ref().expect("story exists");
            let earliest = state.earliest_of(&story.members, config.support_sample);
            state.stories[entry.cluster as usize].as_mut().expect("story exists").earliest =
                earliest;
        }
        let story = state.stories[entry.cluster as usize].as_mut().expect("member's story exists");
        if story.members.is_empty() {
            state.drop_story(entry.cluster);
        }
        true
    }

    /// The story that `id` names, with every member: `id` is any member's id or the
    /// story's own id (which stays the story's name after its founder is removed). A
    /// member's id wins when both match, as the id of a live article is what a caller
    /// most likely holds.
    pub fn cluster(&self, id: &str) -> Result<ClusterView> {
        let config = self.config();
        let state = self.read();
        let not_found = || Error::NotFound { what: "story", id: id.to_owned() };
        let story_ix = match state.slot_of(id) {
            Some(slot) => state.entry(slot).cluster,
            None => state.story_of(id).ok_or_else(not_found)?,
        };
        let story = state.stories[story_ix as usize].as_ref().ok_or_else(not_found)?;
        let origin = state.origin(story);
        let origin_entry = state.entry(origin);
        let mut members: Vec<(Slot, Member)> = story
            .members
            .iter()
            .map(|&slot| {
                let entry = state.entry(slot);
                let sim = Similarity::of(
                    state.lanes(config, slot),
                    entry.shingle_count,
                    state.lanes(config, origin),
                    origin_entry.shingle_count,
                );
                let member = Member {
                    id: entry.id().to_string(),
                    source: state.source(entry).to_owned(),
                    published: entry.published(),
                    jaccard: sim.jaccard,
                    containment: sim.containment,
                    kind: match entry.kind {
                        _ if slot == origin => CopyKind::NewStory,
                        // It started the story before an earlier-published copy came.
                        CopyKind::NewStory => sim.copy_kind(config).unwrap_or(CopyKind::Duplicate),
                        stored => stored,
                    },
                };
                (slot, member)
            })
            .collect();
        members.sort_by_key(|(slot, _)| state.order_key(*slot));
        Ok(ClusterView {
            cluster_id: story.id.to_string(),
            origin_id: origin_entry.id().to_string(),
            members: members.into_iter().map(|(_, m)| m).collect(),
        })
    }

    /// A page of stories, newest pickup first (see [`StoryQuery`]). One pass over the
    /// stories under the read lock.
    pub fn stories(&self, query: &StoryQuery) -> Result<StoryPage> {
        stories::list(&self.read(), query)
    }

    /// Whether an article with this id is indexed.
    pub fn contains(&self, id: &str) -> bool {
        self.read().slot_of(id).is_some()
    }

    /// The indexed article published earliest, with its time (undated ones aside).
    /// Scans every entry: for monitoring, not for a hot path.
    pub fn oldest(&self) -> Option<(String, i64)> {
        let state = self.read();
        state
            .entries
            .iter()
            .flatten()
            .filter_map(|e| e.published().map(|t| (t, e.seq, e.id())))
            .min()
            .map(|(t, _, id)| (id.to_string(), t))
    }

    /// Makes room for `additional` more articles at once, so that restoring a large log
    /// does not grow (and copy) the tables step by step.
    pub fn reserve(&self, additional: usize) {
        let num_perm = self.config().num_perm;
        let mut state = self.write();
        state.signatures.reserve(additional * num_perm);
        state.entries.reserve(additional);
        let state = &mut *state;
        let entries = &state.entries;
        state.by_id.reserve(additional, |slot| state::entry_id(entries, slot));
        state.lsh.reserve(additional);
    }

    /// Puts back an article with the decision recorded when it was first ingested,
    /// without deciding again: replaying a log must give the clusters the original run
    /// gave, even though the articles it was compared with may since have been removed
    /// or expired. It joins the cluster named `stored.cluster_id`, founding it if absent
    /// (a member may be replayed before its cluster's founder, whose record may also be
    /// gone). Articles restored in log order get the same origin tie-breaks as the
    /// original run.
    pub fn restore(&self, stored: &StoredArticle<'_>) -> Result<()> {
        self.restore_many(std::slice::from_ref(stored))
    }

    /// [`Detector::restore`] for many articles in order, with the LSH index built band
    /// by band on every core: how a large log is loaded at start-up. On an error, the
    /// articles before the bad one stay restored.
    pub fn restore_many(&self, batch: &[StoredArticle<'_>]) -> Result<()> {
        let config = self.config();
        let mut state = self.write();
        let mut slots = Vec::with_capacity(batch.len());
        let mut outcome = Ok(());
        for stored in batch {
            if let Err(error) = state.restore_one(config, stored, &mut slots) {
                outcome = Err(error);
                break;
            }
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        // The restored articles are the batch's first `slots.len()`, in order.
        let full = state.full_lanes(config);
        let keys: Vec<Vec<u32>> =
            batch[..slots.len()].iter().map(|stored| index_keys(stored.lanes, full)).collect();
        let state = &mut *state;
        if slots.len() < 1024 {
            for (&slot, keys) in slots.iter().zip(&keys) {
                state.lsh.insert(slot, keys);
            }
        } else {
            state.lsh.insert_many(&slots, |i| &keys[i], threads);
        }
        if let Some(view) = &mut state.containment {
            for (&slot, keys) in slots.iter().zip(&keys) {
                view.insert(slot, keys);
            }
        }
        outcome
    }

    /// Replays a merge a durable log recorded: story `from` (by its id or one it
    /// absorbed) joins story `into`. When no restored article names `into` (its members
    /// all carry older or newer names), `from` takes the name. A merge of a story with
    /// no live member left changes nothing.
    pub fn restore_merge(&self, from: &str, into: &str) {
        let config = self.config();
        let mut state = self.write();
        let Some(from_ix) = state.story_of(from) else { return };
        match state.story_of(into) {
            Some(into_ix) if into_ix == from_ix => {}
            Some(into_ix) => state.merge_stories(config, into_ix, from_ix),
            None => state.rename_story(from_ix, into),
        }
        state.merged.clear();
    }

    /// Document and cluster counts and approximate memory.
    pub fn stats(&self) -> DetectorStats {
        let state = self.read();
        let entry_bytes = state.entries.capacity() * std::mem::size_of::<Option<Entry>>()
            + state.by_id.heap_bytes()
            + state.entries.iter().flatten().map(Entry::names_bytes).sum::<usize>()
            + state.sources.heap_bytes();
        DetectorStats {
            documents: state.by_id.len(),
            clusters: state.story_by_id.len(),
            heap_bytes: state.lsh.heap_bytes()
                + state.containment.as_ref().map_or(0, LshIndex::heap_bytes)
                + (state.signatures.capacity() + state.high.capacity()) * 2
                + entry_bytes
                + state.story_bytes()
                + self.chrome.read().unwrap_or_else(|e| e.into_inner()).heap_bytes(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way
        // readers could observe as corrupt (inserts finish before publishing the id),
        // so a poisoned lock is still usable.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::article::{MAX_ID_BYTES, MAX_SOURCE_BYTES};

    const STORY: &str = "The central bank raised its key interest rate by half a percentage point on \
        Thursday, the largest increase in two decades, and signalled that further rises were likely \
        as inflation stayed well above its target for the sixth month in a row.";
    const OTHER: &str = "Heavy rain flooded hundreds of homes in the northern valley overnight, and \
        rescue teams used boats to reach families stranded on rooftops while the river kept rising.";

    fn article<'a>(id: &'a str, text: &'a str, published: i64) -> Article<'a> {
        Article { id, text, source: "test", published: Some(published) }
    }

    #[test]
    fn long_ids_and_sources_are_refused_by_name() {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        let at_limit = "i".repeat(MAX_ID_BYTES);
        detector.ingest(&article(&at_limit, STORY, 1)).unwrap();
        let huge = "i".repeat(100 * 1024);
        for result in
            [detector.ingest(&article(&huge, OTHER, 1)), detector.check(&article(&huge, OTHER, 1))]
        {
            let err = result.unwrap_err();
            assert!(matches!(err, Error::InvalidInput { field: "id", .. }), "{err}");
            assert!(err.to_string().contains("102400 bytes"), "{err}");
        }
        let source = "s".repeat(MAX_SOURCE_BYTES + 1);
        let long_source = Article { source: &source, ..article("ok", OTHER, 1) };
        assert!(matches!(
            detector.ingest(&long_source),
            Err(Error::InvalidInput { field: "source", .. })
        ));
        assert_eq!(detector.stats().documents, 1, "nothing refused was stored");
    }

    #[test]
    fn labels_new_story_then_copy() {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        let first = detector.ingest(&article("a", STORY, 10)).unwrap();
        assert_eq!(first.kind, CopyKind::NewStory);
        let copy = format!("Home | Business\n\n{STORY}\n\nLeave a comment");
        let second = detector.ingest(&article("b", &copy, 5)).unwrap();
        assert_eq!(second.kind, CopyKind::Duplicate);
        assert_eq!(second.cluster_id, "a");
        // b was published earlier, so it is the origin although a founded the cluster.
        assert_eq!(second.origin_id, "b");
        assert_eq!(detector.ingest(&article("c", OTHER, 1)).unwrap().kind, CopyKind::NewStory);
        let cluster = detector.cluster("a").unwrap();
        assert_eq!(cluster.members.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(detector.stats().documents, 3);
        assert_eq!(detector.stats().clusters, 2);
        assert_eq!(detector.oldest(), Some(("c".to_owned(), 1)));
    }

    #[test]
    fn ingest_is_idempotent_and_rejects_conflicts() {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        let first = detector.ingest(&article("a", STORY, 1)).unwrap();
        assert_eq!(detector.ingest(&article("a", STORY, 1)).unwrap(), first);
        assert!(matches!(detector.ingest(&article("a", OTHER, 1)), Err(Error::DuplicateId { .. })));
        assert_eq!(detector.stats().documents, 1);
    }

    #[test]
    fn check_stores_nothing_and_remove_forgets() {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        detector.ingest(&article("a", STORY, 1)).unwrap();
        let checked = detector.check(&article("x", STORY, 2)).unwrap();
        assert_eq!((checked.kind, checked.cluster_id.as_str()), (CopyKind::Duplicate, "a"));
        assert_eq!(detector.stats().documents, 1);
        assert!(detector.remove("a"));
        assert!(!detector.remove("a"));
        assert_eq!(detector.check(&article("x", STORY, 2)).unwrap().kind, CopyKind::NewStory);
        assert!(matches!(detector.cluster("a"), Err(Error::NotFound { .. })));
        // The freed slot is reused cleanly.
        detector.ingest(&article("d", OTHER, 3)).unwrap();
        assert_eq!(detector.ingest(&article("e", OTHER, 4)).unwrap().cluster_id, "d");
    }

    #[test]
    fn id_story_and_source_tables_follow_removals() {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        let from = |id, source, published| Article { source, ..article(id, STORY, published) };
        detector.ingest(&from("a", "wire", 1)).unwrap();
        detector.ingest(&from("b", "paper", 2)).unwrap();
        detector.ingest(&from("c", "wire", 3)).unwrap();
        let sources = |cluster| -> Vec<(String, String)> {
            let view = detector.cluster(cluster).unwrap();
            view.members.into_iter().map(|m| (m.id, m.source)).collect()
        };
        assert_eq!(
            sources("a"),
            [
                ("a".into(), "wire".into()),
                ("b".into(), "paper".into()),
                ("c".into(), "wire".into())
            ]
        );
        // The founder goes; its story keeps its name while members remain.
        assert!(detector.remove("a"));
        assert!(!detector.contains("a") && detector.contains("b") && detector.contains("c"));
        assert_eq!(sources("a"), [("b".into(), "paper".into()), ("c".into(), "wire".into())]);
        assert!(detector.remove("b") && detector.remove("c"));
        assert!(matches!(detector.cluster("a"), Err(Error::NotFound { .. })));
        assert_eq!(detector.stats().clusters, 0);
        // Every name can be used again, in any role.
        let again = detector.ingest(&from("c", "other", 4)).unwrap();
        assert_eq!((again.kind, again.cluster_id.as_str()), (CopyKind::NewStory, "c"));
        assert_eq!(sources("c"), [("c".into(), "other".into())]);
        assert_eq!(detector.stats().documents, 1);
    }

    /// Removal recomputes a stored article's band keys from its narrowed lanes: after
    /// removals and slot reuse, both views give every live article the candidates a
    /// detector holding only the live articles gives.
    #[test]
    fn removal_unlinks_every_bucket_from_narrowed_lanes() {
        let mut next = crate::testing::lcg(11);
        let words: Vec<String> = (0..400).map(|i| format!("w{i}")).collect();
        let mut texts: Vec<String> = Vec::new();
        for _ in 0..30 {
            let base: Vec<&str> = (0..60).map(|_| &*words[(next() % 400) as usize]).collect();
            for copy in 0..3 {
                let mut text = base.clone();
                text.truncate(60 - 10 * copy);
                texts.push(text.join(" "));
            }
        }
        let ids: Vec<String> = (0..texts.len()).map(|i| format!("d{i}")).collect();
        let churned = Detector::new(DetectorConfig::default()).unwrap();
        for (i, text) in texts.iter().enumerate() {
            churned.ingest(&article(&ids[i], text, i as i64)).unwrap();
        }
        let live: Vec<usize> = (0..texts.len()).filter(|i| i % 3 != 1).collect();
        for i in (0..texts.len()).filter(|i| i % 3 == 1) {
            assert!(churned.remove(&ids[i]));
        }
        let fresh = Detector::new(DetectorConfig::default()).unwrap();
        for &i in &live {
            fresh.ingest(&article(&ids[i], &texts[i], i as i64)).unwrap();
        }
        // New articles take the freed slots in both.
        for (i, text) in texts.iter().enumerate().filter(|(i, _)| i % 3 == 1).take(12) {
            let id = format!("again{i}");
            churned.ingest(&article(&id, text, 1000)).unwrap();
            fresh.ingest(&article(&id, text, 1000)).unwrap();
        }
        let candidates = |detector: &Detector, id: &str| {
            let state = detector.read();
            let keys = state.stored_probe(detector.config(), state.slot_of(id).unwrap()).keys;
            let mut found: Vec<String> = state
                .lsh
                .candidates(&keys)
                .into_iter()
                .chain(state.containment.as_ref().unwrap().candidates(&keys))
                .map(|slot| state.entry(slot).id().to_string())
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        };
        let fresh_ids: Vec<String> = {
            let state = fresh.read();
            state.entries.iter().flatten().map(|entry| entry.id().to_string()).collect()
        };
        assert_eq!(fresh_ids.len(), live.len() + 12);
        let mut linked = 0;
        for id in &fresh_ids {
            let found = candidates(&churned, id);
            linked += usize::from(found.len() > 1);
            assert_eq!(found, candidates(&fresh, id), "{id}");
        }
        assert!(linked > 30, "the texts share buckets: {linked}");
    }

    const LONG: &str = "The finance ministry said on Monday that tax revenue rose for the third \
        quarter in a row, helped by higher fuel duties and a recovery in corporate profits. \
        Officials expect the budget deficit to narrow to two percent of output next year. \
        Opposition lawmakers said the figures hid a sharp fall in spending on schools and roads. \
        The central bank will publish its own forecasts at the end of the month. \
        Economists warned that a slowdown in exports could reverse the gains by the spring, \
        and urged the government to keep a reserve for unexpected costs.";

    #[test]
    fn excerpt_is_a_partial_copy_with_containment_both_ways() {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        detector.ingest(&article("wire", LONG, 1)).unwrap();
        let excerpt = LONG.split(". ").take(1).collect::<Vec<_>>().join(". ");
        let verdict = detector.ingest(&article("excerpt", &excerpt, 2)).unwrap();
        assert_eq!(verdict.kind, CopyKind::PartialCopy, "{verdict:?}");
        assert_eq!(verdict.cluster_id, "wire");
        let best = &verdict.matches[0];
        assert!(best.containment > 0.8 && best.containment_rev < 0.5, "{best:?}");
    }

    #[test]
    fn chrome_is_learned_online_and_reported() {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        let with_footer = |body: &str| format!("{body}\n\nLeave a Comment");
        for (n, body) in [STORY, OTHER, LONG].iter().enumerate() {
            let text = with_footer(body);
            let verdict = detector
                .ingest(&Article {
                    id: &n.to_string(),
                    text: &text,
                    source: "site",
                    published: None,
                })
                .unwrap();
            assert_eq!(verdict.kind, CopyKind::NewStory);
        }
        let text =
            with_footer("A fourth story about a bridge that reopened after two years of repairs.");
        let verdict = detector
            .ingest(&Article { id: "4", text: &text, source: "site", published: None })
            .unwrap();
        assert_eq!(verdict.chrome_ignored, ["leave a comment"]);
        // The model can be taken out and put back (for persistence).
        let model = detector.chrome_model();
        let json = serde_json::to_string(&model).unwrap();
        let restored = Detector::with_chrome_model(
            DetectorConfig::default(),
            serde_json::from_str(&json).unwrap(),
        )
        .unwrap();
        let checked = restored
            .check(&Article { id: "5", text: &text, source: "site", published: None })
            .unwrap();
        assert_eq!(checked.chrome_ignored, ["leave a comment"]);
    }

    #[test]
    fn one_quoting_member_does_not_pull_another_story_in() {
        // A story with two copies, one of which also quotes another article in full.
        let quoting = format!("{LONG}\n\n{OTHER}");
        for (merge_support, joins) in
            [(DetectorConfig::default().merge_support, false), (0.0, true)]
        {
            let config = DetectorConfig { merge_support, ..DetectorConfig::default() };
            let detector = Detector::new(config).unwrap();
            detector.ingest(&article("wire", LONG, 1)).unwrap();
            detector.ingest(&article("copy", LONG, 2)).unwrap();
            assert_eq!(
                detector.ingest(&article("quoting", &quoting, 3)).unwrap().cluster_id,
                "wire"
            );
            // The quoted article is contained in the quoting copy, and nothing else of
            // the story; the guard keeps it out.
            let verdict = detector.ingest(&article("quoted", OTHER, 4)).unwrap();
            assert!(!verdict.matches.is_empty());
            assert_eq!(
                verdict.cluster_id == "wire",
                joins,
                "merge_support {merge_support}: {verdict:?}"
            );
            let expected = if joins { CopyKind::PartialCopy } else { CopyKind::NewStory };
            assert_eq!(verdict.kind, expected);
        }
    }

    const EXTRA: &str = "Separately, the statistics office reported that retail sales fell in \
        the capital for a second month, as shoppers cut back on clothing and furniture. \
        Food prices rose faster than expected, and a survey of small businesses showed \
        confidence at its lowest level since the spring of the previous year. Analysts said \
        the weaker data would add to pressure on the government to extend its support \
        programme for households with high energy bills through the winter months.";

    #[test]
    fn an_article_that_links_two_stories_merges_them() {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        // Half of the wire story plus a paragraph of its own: too little of it is in
        // the wire story to be a copy, but the two are related.
        let sentences = |text: &str, n| text.split(". ").take(n).collect::<Vec<_>>().join(". ");
        let extra = sentences(EXTRA, 2);
        let cut = format!("{}.\n\n{extra}.", sentences(LONG, 2));
        let first = detector.ingest(&article("cut", &cut, 20)).unwrap();
        assert_eq!(first.kind, CopyKind::NewStory, "{first:?}");
        let wire = detector.ingest(&article("wire", LONG, 10)).unwrap();
        assert_eq!((wire.kind, wire.cluster_id.as_str()), (CopyKind::NewStory, "wire"), "{wire:?}");
        // The full text with the extra paragraph holds both: the two stories become one,
        // named after the story with the earlier origin; the other name still finds it.
        let full = format!("{LONG}\n\n{extra}.");
        let bridge = detector.ingest(&article("bridge", &full, 30)).unwrap();
        assert_eq!((bridge.cluster_id.as_str(), bridge.origin_id.as_str()), ("wire", "wire"));
        for id in ["cut", "wire", "bridge"] {
            let view = detector.cluster(id).unwrap();
            assert_eq!(view.cluster_id, "wire", "{id}");
            assert_eq!(view.members.len(), 3);
        }
        assert_eq!(detector.stats().clusters, 1);
        // With the chaining guard off (merge_support 0) stories are never merged: a merge
        // on any link would chain unrelated stories through one quoting article.
        let unguarded = DetectorConfig { merge_support: 0.0, ..DetectorConfig::default() };
        let detector = Detector::new(unguarded).unwrap();
        for (id, text, t) in [("cut", cut.as_str(), 20), ("wire", LONG, 10), ("bridge", &full, 30)]
        {
            detector.ingest(&article(id, text, t)).unwrap();
        }
        assert_eq!(detector.stats().clusters, 2);
        // Once every member of the merged story is gone, its names are free again.
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        for (id, text, t) in [("cut", cut.as_str(), 20), ("wire", LONG, 10), ("bridge", &full, 30)]
        {
            detector.ingest(&article(id, text, t)).unwrap();
        }
        for id in ["cut", "wire", "bridge"] {
            assert!(detector.remove(id));
        }
        assert!(matches!(detector.cluster("cut"), Err(Error::NotFound { .. })));
        let again = detector.ingest(&article("cut", OTHER, 40)).unwrap();
        assert_eq!(again.cluster_id, "cut");
    }

    #[test]
    fn replayed_merges_rebuild_the_stories() {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        let fingerprint = detector.fingerprinter().fingerprint(STORY).unwrap();
        let stored = |id, cluster_id| StoredArticle {
            id,
            source: "",
            published: None,
            text_hash: 0,
            lanes: fingerprint.signature.lanes(),
            shingle_count: fingerprint.shingle_count,
            sketch: &[],
            kind: CopyKind::NewStory,
            cluster_id,
        };
        // b's story t merged into s, then s into u; no restored article is named u's.
        detector.restore(&stored("a", "s")).unwrap();
        detector.restore(&stored("b", "t")).unwrap();
        detector.restore_merge("t", "s");
        detector.restore_merge("s", "u");
        detector.restore_merge("gone", "u");
        for id in ["a", "b", "s", "t", "u"] {
            let view = detector.cluster(id).unwrap();
            assert_eq!((view.cluster_id.as_str(), view.members.len()), ("u", 2), "{id}");
        }
        assert_eq!(detector.stats().clusters, 1);
    }

    #[test]
    fn bad_input_is_typed() {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        assert!(matches!(
            detector.ingest(&article(" ", STORY, 1)),
            Err(Error::InvalidInput { field: "id", .. })
        ));
        assert!(matches!(
            detector.check(&article("a", "  \n ", 1)),
            Err(Error::InvalidInput { field: "text", .. })
        ));
        // The one time value that stands for "undated" in the index is not a date.
        assert!(matches!(
            detector.ingest(&article("a", STORY, i64::MIN)),
            Err(Error::InvalidInput { field: "published", .. })
        ));
        assert_eq!(detector.stats().documents, 0);
        // Its neighbour is an ordinary (if absurd) date and round-trips.
        detector.ingest(&article("b", STORY, i64::MIN + 1)).unwrap();
        assert_eq!(detector.oldest(), Some(("b".into(), i64::MIN + 1)));
    }

    #[test]
    fn restore_reproduces_decisions_without_deciding_again() {
        let online = Detector::new(DetectorConfig::default()).unwrap();
        let copy = format!("Home | Business\n\n{STORY}\n\nLeave a comment");
        let texts = [("a", STORY, 10), ("b", copy.as_str(), 5), ("c", OTHER, 1)];
        let verdicts: Vec<Verdict> = texts
            .iter()
            .map(|&(id, text, t)| online.ingest(&article(id, text, t)).unwrap())
            .collect();
        // Replay only b and c, as after a's removal: b must stay in cluster "a" as a
        // duplicate, although nothing indexed would make it one now.
        let replayed = Detector::new(DetectorConfig::default()).unwrap();
        for (&(id, text, t), verdict) in texts.iter().zip(&verdicts).skip(1) {
            let fingerprint = replayed.fingerprinter().fingerprint(text).unwrap();
            replayed
                .restore(&StoredArticle {
                    id,
                    source: "test",
                    published: Some(t),
                    text_hash: text_hash(text),
                    lanes: fingerprint.signature.lanes(),
                    shingle_count: fingerprint.shingle_count,
                    sketch: &[],
                    kind: verdict.kind,
                    cluster_id: &verdict.cluster_id,
                })
                .unwrap();
        }
        online.remove("a");
        assert!(replayed.contains("b") && !replayed.contains("a"));
        assert_eq!(replayed.cluster("a").unwrap(), online.cluster("a").unwrap());
        assert_eq!(replayed.cluster("c").unwrap(), online.cluster("c").unwrap());
        // A retry gets the recorded kind; a conflicting text is still refused.
        let retry = replayed.ingest(&article("b", &copy, 5)).unwrap();
        assert_eq!((retry.kind, retry.cluster_id.as_str()), (CopyKind::Duplicate, "a"));
        assert!(matches!(replayed.ingest(&article("b", OTHER, 5)), Err(Error::DuplicateId { .. })));
        let fingerprint = replayed.fingerprinter().fingerprint(OTHER).unwrap();
        let again = StoredArticle {
            id: "c",
            source: "",
            published: None,
            text_hash: 0,
            lanes: fingerprint.signature.lanes(),
            shingle_count: fingerprint.shingle_count,
            sketch: &[],
            kind: CopyKind::NewStory,
            cluster_id: "c",
        };
        assert!(matches!(replayed.restore(&again), Err(Error::DuplicateId { .. })));
        let bad = StoredArticle { id: "z", lanes: &[0; 16], ..again };
        assert!(matches!(
            replayed.restore(&bad),
            Err(Error::InvalidInput { field: "signature", .. })
        ));
    }
}
