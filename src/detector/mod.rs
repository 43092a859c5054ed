//! `Detector`: the online engine behind the service. It owns the config, the LSH index,
//! every indexed signature and the clusters, and labels each incoming article as a new
//! story or a copy of one already seen.
//!
//! Concurrency: fingerprints are computed before any lock is taken; the state lock is
//! held only to look up candidates and to insert, which takes microseconds. Site chrome
//! is learned online in a [`ChromeModel`] behind its own lock, held only to count an
//! article's lines and classify them.
//!
//! Assignment is online and follows the same rule as the batch scan's chaining guard
//! ([`crate::cluster::assign_clusters`]): a copy joins the cluster of its best match only
//! if it is also related to that cluster's origin, or to a majority of its earliest
//! members; otherwise the next match's cluster is tried, and failing all, the article
//! starts a story of its own. Two existing clusters are never merged.

use std::sync::RwLock;

use gxhash::gxhash64;
use hashbrown::HashTable;
use serde::{Deserialize, Serialize};

use crate::chrome::ChromeModel;
use crate::cluster::{
    CopyKind, ShingleSample, Similarity, needs_sampling, origin_key, sampled_containment,
};
use crate::config::{DetectorConfig, MAX_ID_BYTES, MAX_SOURCE_BYTES};
use crate::error::{Error, Result};
use crate::fingerprint::{Fingerprint, Fingerprinter, Prepared};
use crate::lsh::{LshIndex, Slot};

/// An incoming article, borrowed from the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct Article<'a> {
    /// The caller's id, unique per article.
    pub id: &'a str,
    /// Body text.
    pub text: &'a str,
    /// Outlet that published it.
    pub source: &'a str,
    /// Publication time, milliseconds since the Unix epoch.
    pub published: Option<i64>,
}

/// A stored article that resembles the one being labelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// Id of the stored article.
    pub id: String,
    /// Its outlet.
    pub source: String,
    /// Estimated Jaccard between the two.
    pub jaccard: f64,
    /// Estimated share of the labelled article contained in this one.
    pub containment: f64,
    /// Estimated share of this one contained in the labelled article.
    #[serde(default)]
    pub containment_rev: f64,
}

/// The label given to one article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The article's id.
    pub id: String,
    /// New story, duplicate or partial copy.
    pub kind: CopyKind,
    /// The story this article belongs to (named after its first indexed member).
    pub cluster_id: String,
    /// The story's earliest published member.
    pub origin_id: String,
    /// Copies found, best first.
    pub matches: Vec<Match>,
    /// Jaccard of the best match (0 for a new story).
    pub best_jaccard: f64,
    /// Containment of the shorter in the longer for the best match.
    pub best_containment: f64,
    /// Lines of the article left out of matching as site chrome (normalized text).
    #[serde(default)]
    pub chrome_ignored: Vec<String>,
}

/// A member of a cluster, with its similarity to the cluster's origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Article id.
    pub id: String,
    /// Outlet.
    pub source: String,
    /// Publication time in Unix milliseconds, if known.
    pub published: Option<i64>,
    /// Estimated Jaccard to the origin.
    pub jaccard: f64,
    /// Estimated share of this member contained in the origin.
    pub containment: f64,
}

/// A story and every indexed copy of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    /// Cluster id.
    pub cluster_id: String,
    /// Earliest published member.
    pub origin_id: String,
    /// Members in origin order (earliest first).
    pub members: Vec<Member>,
}

/// An article as a durable log keeps it: what the index needs plus the decision made
/// when it was first ingested (see [`Detector::restore`]).
#[derive(Debug, Clone, Copy)]
pub struct StoredArticle<'a> {
    /// Article id.
    pub id: &'a str,
    /// Outlet.
    pub source: &'a str,
    /// Publication time in Unix milliseconds.
    pub published: Option<i64>,
    /// [`text_hash`] of the original text (tells retries from conflicting re-ingests).
    pub text_hash: u64,
    /// Its MinHash signature lanes (`num_perm` of them).
    pub lanes: &'a [u32],
    /// Distinct shingles of its text.
    pub shingle_count: u32,
    /// The kind it was given.
    pub kind: CopyKind,
    /// The cluster it joined (or founded).
    pub cluster_id: &'a str,
}

/// Counters for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectorStats {
    /// Indexed articles.
    pub documents: usize,
    /// Stories (clusters, singletons included).
    pub clusters: usize,
    /// Approximate heap bytes of the index and signatures.
    pub heap_bytes: usize,
}

struct Entry {
    id: Box<str>,
    /// Index into [`State::sources`]: outlets repeat across millions of articles.
    source: u32,
    /// Publication time, [`NO_DATE`] for none (an `Option` would cost 8 bytes more per
    /// article).
    published: i64,
    /// Insertion sequence: breaks publication-time ties by arrival.
    seq: u64,
    text_hash: u64,
    shingle_count: u32,
    kind: CopyKind,
    cluster: u32,
}

struct Story {
    id: Box<str>,
    members: Vec<Slot>,
    /// The earliest `support_sample` members by [`State::order_key`], earliest first,
    /// kept up to date on insert and remove: the origin and the chaining guard's sample
    /// without scanning a story that may have millions of members.
    earliest: Vec<Slot>,
}

/// The containment bands take at most this many (newest) members of a bucket: a bucket
/// keyed by one common shingle can hold thousands of unrelated articles.
const CONTAINMENT_PER_BAND: usize = 16;

/// Documents walked per LSH bucket and band when looking for candidates. Real stories
/// have tens of copies; a bucket far larger is a flood of near-identical articles, where
/// the newest few hundred members are as good a match as any and walking them all
/// would make each lookup cost time in proportion to the flood.
const MAX_BUCKET_WALK: usize = 128;

#[derive(Default)]
struct State {
    lsh: LshIndex,
    /// One-row bands for excerpts of long stories (`containment_bands`), if on.
    containment: Option<LshIndex>,
    /// `signatures[slot * num_perm ..][..num_perm]`; flat so lookups touch one allocation.
    signatures: Vec<u32>,
    entries: Vec<Option<Entry>>,
    free_slots: Vec<Slot>,
    /// Slots by [`name_hash`] of their id, compared through the entry's own id: a
    /// 4-byte slot per article instead of a second copy of its id.
    by_id: HashTable<Slot>,
    stories: Vec<Option<Story>>,
    free_stories: Vec<u32>,
    /// Story indices by [`name_hash`] of the story id, compared through the story's.
    story_by_id: HashTable<u32>,
    /// Distinct sources, each stored once.
    sources: Vec<Box<str>>,
    /// Indices into `sources` by [`name_hash`].
    source_index: HashTable<u32>,
    next_seq: u64,
}

/// The online near-duplicate detector. Cheap to share behind an `Arc`.
pub struct Detector {
    fingerprinter: Fingerprinter,
    state: RwLock<State>,
    chrome: RwLock<ChromeModel>,
}

/// An article after the text stage, ready to be labelled: made by
/// [`Detector::sign_article`] without the index lock (the service does it off its async
/// runtime), then given to [`Detector::ingest_signed`] or [`Detector::check_signed`].
#[derive(Debug, Clone)]
pub struct SignedArticle {
    /// Signature of the lines that are not chrome.
    pub fingerprint: Fingerprint,
    /// Hash of the raw text (tells a retried ingest from a conflicting one).
    pub text_hash: u64,
    /// Its shingle set, for sampled containment of shorter stored articles.
    sample: ShingleSample,
    /// Lines left out as chrome (normalized text).
    pub chrome_ignored: Vec<String>,
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
        let chrome = RwLock::new(ChromeModel::new(&config.boilerplate));
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
        validate_article(article)?;
        let signed = self.sign_article(article, false)?;
        self.check_signed(article, &signed)
    }

    /// [`Detector::check`] with the fingerprint already computed. Without the article's
    /// lines and shingle set, chrome is not left out and containment is not sampled:
    /// prefer [`Detector::sign_article`] and [`Detector::check_signed`].
    pub fn check_fingerprint(
        &self,
        article: &Article<'_>,
        fingerprint: &Fingerprint,
    ) -> Result<Verdict> {
        validate_article(article)?;
        self.label(article, fingerprint, None, Vec::new())
    }

    /// [`Detector::check`] of an article signed with [`Detector::sign_article`].
    pub fn check_signed(&self, article: &Article<'_>, signed: &SignedArticle) -> Result<Verdict> {
        validate_article(article)?;
        self.label(
            article,
            &signed.fingerprint,
            Some(&signed.sample),
            signed.chrome_ignored.clone(),
        )
    }

    fn label(
        &self,
        article: &Article<'_>,
        fingerprint: &Fingerprint,
        sample: Option<&ShingleSample>,
        chrome_ignored: Vec<String>,
    ) -> Result<Verdict> {
        let config = self.config();
        let state = self.read();
        let (_, matches) = state.matches(self, fingerprint, sample, None);
        let (kind, story) = match state.joined_story(self, fingerprint, sample, &matches) {
            Some((kind, story)) => (kind, Some(story)),
            None => (CopyKind::NewStory, None),
        };
        let mut verdict = state.verdict(config, article.id, kind, matches, story);
        verdict.chrome_ignored = chrome_ignored;
        Ok(verdict)
    }

    /// Labels and stores `article`, and learns site chrome from it. Idempotent on the
    /// id: the same id with the same text returns the stored verdict; with other text it
    /// is [`Error::DuplicateId`].
    pub fn ingest(&self, article: &Article<'_>) -> Result<Verdict> {
        validate_article(article)?;
        if let Some(mut verdict) = self.retried(article, text_hash(article.text))? {
            // Report the chrome the stored fingerprint left out, without learning twice.
            verdict.chrome_ignored = self.sign_article(article, false)?.chrome_ignored;
            return Ok(verdict);
        }
        let signed = self.sign_article(article, true)?;
        self.ingest_signed(article, &signed)
    }

    /// [`Detector::ingest`] of an article signed with [`Detector::sign_article`] (with
    /// `learn` set).
    pub fn ingest_signed(&self, article: &Article<'_>, signed: &SignedArticle) -> Result<Verdict> {
        let mut verdict =
            self.store(article, signed.text_hash, &signed.fingerprint, Some(&signed.sample))?;
        verdict.chrome_ignored = signed.chrome_ignored.clone();
        Ok(verdict)
    }

    /// The text stage of [`Detector::ingest`] and [`Detector::check`]: normalizes, counts
    /// the article's lines in the chrome model when `learn` (ingest does, check does not),
    /// classifies chrome and signs what is left. Takes only the chrome model's lock, and
    /// only to count and classify.
    pub fn sign_article(&self, article: &Article<'_>, learn: bool) -> Result<SignedArticle> {
        let fingerprinter = &self.fingerprinter;
        let prepared: Prepared = fingerprinter.prepare(article.text, article.source)?;
        let chrome_lines = if !self.config().boilerplate.enabled {
            Vec::new()
        } else if learn {
            let mut model = self.chrome.write().unwrap_or_else(|e| e.into_inner());
            model.observe(&prepared.profile);
            fingerprinter.chrome_lines(&prepared, &model)
        } else {
            let model = self.chrome.read().unwrap_or_else(|e| e.into_inner());
            fingerprinter.chrome_lines(&prepared, &model)
        };
        let lines: Vec<&str> = prepared.normalized.lines().collect();
        let signed = fingerprinter.sign_without(&prepared, chrome_lines);
        let chrome_ignored =
            signed.chrome_lines.iter().map(|&i| lines[i as usize].to_owned()).collect();
        let sample = ShingleSample::new(
            fingerprinter.hasher(),
            &signed.shingles,
            signed.fingerprint.signature.lanes(),
        );
        Ok(SignedArticle {
            fingerprint: signed.fingerprint,
            text_hash: text_hash(article.text),
            sample,
            chrome_ignored,
        })
    }

    /// The stored verdict when `article` was ingested before with the same text.
    fn retried(&self, article: &Article<'_>, text_hash: u64) -> Result<Option<Verdict>> {
        self.read().stored_verdict(self, article.id, text_hash)
    }

    /// [`Detector::ingest`] with the fingerprint and text hash already computed (bulk
    /// loads and replays compute them in parallel).
    pub fn ingest_fingerprint(
        &self,
        article: &Article<'_>,
        text_hash: u64,
        fingerprint: &Fingerprint,
    ) -> Result<Verdict> {
        self.store(article, text_hash, fingerprint, None)
    }

    fn store(
        &self,
        article: &Article<'_>,
        text_hash: u64,
        fingerprint: &Fingerprint,
        sample: Option<&ShingleSample>,
    ) -> Result<Verdict> {
        validate_article(article)?;
        let config = self.config();
        let mut state = self.write();
        if let Some(verdict) = state.stored_verdict(self, article.id, text_hash)? {
            return Ok(verdict);
        }
        let (_, matches) = state.matches(self, fingerprint, sample, None);
        let (kind, story) = match state.joined_story(self, fingerprint, sample, &matches) {
            Some(joined) => joined,
            None => (CopyKind::NewStory, state.new_story(article.id)),
        };
        state.insert(config, article, text_hash, fingerprint, kind, story);
        Ok(state.verdict(config, article.id, kind, matches, Some(story)))
    }

    /// Removes an article; returns whether it was indexed.
    pub fn remove(&self, id: &str) -> bool {
        let config = self.config();
        let mut state = self.write();
        let Some(slot) = state.unindex_id(id) else { return false };
        let lanes = state.lanes(config, slot).to_vec();
        state.lsh.remove(slot, &lanes);
        if let Some(view) = &mut state.containment {
            view.remove(slot, &lanes);
        }
        let entry = state.entries[slot as usize].take().expect("indexed slot has an entry");
        state.free_slots.push(slot);
        let story = state.stories[entry.cluster as usize].as_mut().expect("member's story exists");
        story.members.retain(|&member| member != slot);
        if story.earliest.contains(&slot) {
            let story = state.stories[entry.cluster as usize].as_ref().expect("story exists");
            let earliest = state.earliest_of(&story.members, config.support_sample);
            state.stories[entry.cluster as usize].as_mut().expect("story exists").earliest =
                earliest;
        }
        let story = state.stories[entry.cluster as usize].as_mut().expect("member's story exists");
        if story.members.is_empty() {
            let hash = name_hash(&story.id);
            let ix = entry.cluster;
            if let Ok(found) = state.story_by_id.find_entry(hash, |&other| other == ix) {
                found.remove();
            }
            state.stories[ix as usize] = None;
            state.free_stories.push(ix);
        }
        true
    }

    /// The cluster named `cluster_id` with every member.
    pub fn cluster(&self, cluster_id: &str) -> Result<ClusterView> {
        let config = self.config();
        let state = self.read();
        let not_found = || Error::NotFound { what: "cluster", id: cluster_id.to_owned() };
        let story_ix = state.story_of(cluster_id).ok_or_else(not_found)?;
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
                    id: entry.id.to_string(),
                    source: state.source(entry).to_owned(),
                    published: entry.published(),
                    jaccard: sim.jaccard,
                    containment: sim.containment,
                };
                (slot, member)
            })
            .collect();
        members.sort_by_key(|(slot, _)| state.order_key(*slot));
        Ok(ClusterView {
            cluster_id: story.id.to_string(),
            origin_id: origin_entry.id.to_string(),
            members: members.into_iter().map(|(_, m)| m).collect(),
        })
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
            .filter_map(|e| e.published().map(|t| (t, e.seq, &e.id)))
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
        state.by_id.reserve(additional, |&slot| slot_id_hash(entries, slot));
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
        let state = &mut *state;
        let (lsh, signatures) = (&mut state.lsh, &state.signatures);
        let num_perm = config.num_perm;
        let lanes = |slot: Slot| &signatures[slot as usize * num_perm..][..num_perm];
        if slots.len() < 1024 {
            for &slot in &slots {
                lsh.insert(slot, lanes(slot));
            }
        } else {
            lsh.insert_many(&slots, lanes, threads);
        }
        if let Some(view) = &mut state.containment {
            for &slot in &slots {
                view.insert(slot, lanes(slot));
            }
        }
        outcome
    }

    /// Document and cluster counts and approximate memory.
    pub fn stats(&self) -> DetectorStats {
        let state = self.read();
        let entry_bytes = state.entries.capacity() * std::mem::size_of::<Option<Entry>>()
            + state.by_id.capacity() * (std::mem::size_of::<Slot>() + 1)
            + state.entries.iter().flatten().map(|e| e.id.len()).sum::<usize>()
            + state.sources.iter().map(|s| s.len() + 16).sum::<usize>();
        DetectorStats {
            documents: state.by_id.len(),
            clusters: state.story_by_id.len(),
            heap_bytes: state.lsh.heap_bytes()
                + state.containment.as_ref().map_or(0, LshIndex::heap_bytes)
                + state.signatures.capacity() * 4
                + entry_bytes
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

/// Hash of the raw text, used to tell a retried ingest from a conflicting one.
pub fn text_hash(text: &str) -> u64 {
    gxhash64(text.as_bytes(), 0)
}

/// Checks an article id: not blank and at most [`MAX_ID_BYTES`] long. Every path that
/// stores or looks up ids (the service, the scan) applies the same rule.
pub fn validate_id(id: &str) -> Result<()> {
    if id.trim().is_empty() {
        return Err(Error::input("id", "is missing or blank"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(Error::input(
            "id",
            format!("is {} bytes, more than the limit of {MAX_ID_BYTES}", id.len()),
        ));
    }
    Ok(())
}

/// [`Entry::published`] of an undated article; [`validate_article`] refuses it as a date.
const NO_DATE: i64 = i64::MIN;

impl Entry {
    fn published(&self) -> Option<i64> {
        (self.published != NO_DATE).then_some(self.published)
    }
}

fn validate_article(article: &Article<'_>) -> Result<()> {
    validate_id(article.id)?;
    if article.published == Some(NO_DATE) {
        return Err(Error::input("published", "is out of range"));
    }
    if article.source.len() > MAX_SOURCE_BYTES {
        return Err(Error::input(
            "source",
            format!("is {} bytes, more than the limit of {MAX_SOURCE_BYTES}", article.source.len()),
        ));
    }
    Ok(())
}

fn entry_fingerprint(state: &State, config: &DetectorConfig, slot: Slot) -> Fingerprint {
    Fingerprint {
        signature: crate::minhash::Signature(state.lanes(config, slot).into()),
        shingle_count: state.entry(slot).shingle_count,
    }
}

/// The hash the id and source tables are keyed by.
fn name_hash(name: &str) -> u64 {
    gxhash64(name.as_bytes(), NAME_SEED)
}

const NAME_SEED: i64 = 0x6e61_6d65; // "name"

/// The id table's equality: whether `slot` holds the article `id`.
fn slot_holds(entries: &[Option<Entry>], slot: Slot, id: &str) -> bool {
    entries[slot as usize].as_ref().is_some_and(|e| &*e.id == id)
}

/// The id table's hash of a slot (what it rehashes by as it grows).
fn slot_id_hash(entries: &[Option<Entry>], slot: Slot) -> u64 {
    entries[slot as usize].as_ref().map_or(0, |e| name_hash(&e.id))
}

impl State {
    fn entry(&self, slot: Slot) -> &Entry {
        self.entries[slot as usize].as_ref().expect("slot from the index is live")
    }

    fn slot_of(&self, id: &str) -> Option<Slot> {
        let entries = &self.entries;
        self.by_id.find(name_hash(id), |&slot| slot_holds(entries, slot, id)).copied()
    }

    /// Removes `id` from the id table (its entry must still be in place).
    fn unindex_id(&mut self, id: &str) -> Option<Slot> {
        let entries = &self.entries;
        let found = self.by_id.find_entry(name_hash(id), |&slot| slot_holds(entries, slot, id));
        found.ok().map(|found| found.remove().0)
    }

    fn story_of(&self, id: &str) -> Option<u32> {
        let stories = &self.stories;
        let is = |&ix: &u32| stories[ix as usize].as_ref().is_some_and(|s| &*s.id == id);
        self.story_by_id.find(name_hash(id), is).copied()
    }

    /// The index of `source` in `sources`, adding it if new.
    fn intern_source(&mut self, source: &str) -> u32 {
        let sources = &self.sources;
        let hash = name_hash(source);
        if let Some(&ix) = self.source_index.find(hash, |&ix| &*sources[ix as usize] == source) {
            return ix;
        }
        let ix = self.sources.len() as u32;
        self.sources.push(source.into());
        let sources = &self.sources;
        self.source_index.insert_unique(hash, ix, |&ix| name_hash(&sources[ix as usize]));
        ix
    }

    fn source(&self, entry: &Entry) -> &str {
        &self.sources[entry.source as usize]
    }

    fn lanes(&self, config: &DetectorConfig, slot: Slot) -> &[u32] {
        let start = slot as usize * config.num_perm;
        &self.signatures[start..start + config.num_perm]
    }

    fn order_key(&self, slot: Slot) -> (i64, usize) {
        let entry = self.entry(slot);
        origin_key(entry.published(), entry.seq as usize)
    }

    /// The verdict of an indexed article, recomputed against the current index: what
    /// a retried ingest returns. `None` when `id` is not indexed; an error when it was
    /// indexed with other text.
    fn stored_verdict(
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
        let stored = entry_fingerprint(self, config, slot);
        let (_, matches) = self.matches(detector, &stored, None, Some(slot));
        Ok(Some(self.verdict(config, id, entry.kind, matches, Some(entry.cluster))))
    }

    /// The `count` earliest of `members` by [`State::order_key`], earliest first.
    fn earliest_of(&self, members: &[Slot], count: usize) -> Vec<Slot> {
        let mut keyed: Vec<((i64, usize), Slot)> =
            members.iter().map(|&member| (self.order_key(member), member)).collect();
        if keyed.len() > count {
            keyed.select_nth_unstable(count);
            keyed.truncate(count);
        }
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, member)| member).collect()
    }

    fn origin(&self, story: &Story) -> Slot {
        *story.earliest.first().expect("stories are never empty")
    }

    /// Similarity of the article (`fingerprint`, and its `sample` when known) to the
    /// stored article in `slot`. When the stored article is the shorter and the MinHash
    /// estimate cannot decide, its containment in the article is sampled, as in a scan.
    fn similarity_to(
        &self,
        detector: &Detector,
        fingerprint: &Fingerprint,
        sample: Option<&ShingleSample>,
        slot: Slot,
    ) -> Similarity {
        let config = detector.config();
        let stored_lanes = self.lanes(config, slot);
        let stored_size = self.entry(slot).shingle_count;
        let size = fingerprint.shingle_count;
        let estimate =
            Similarity::of(fingerprint.signature.lanes(), size, stored_lanes, stored_size);
        let Some(sample) = sample else { return estimate };
        if stored_size > size || !needs_sampling(config, &estimate, size, stored_size) {
            return estimate;
        }
        let minima = ShingleSample::minima(detector.fingerprinter.hasher(), stored_lanes);
        let contained = sampled_containment(&minima, &sample.shingles);
        Similarity::from_containment(contained, stored_size, size).reversed()
    }

    /// Verified copies of `fingerprint` among indexed articles (except `exclude`), best
    /// first, and the kind the best one implies. Candidates come from the Jaccard bands
    /// and the containment bands (newest few per bucket).
    fn matches(
        &self,
        detector: &Detector,
        fingerprint: &Fingerprint,
        sample: Option<&ShingleSample>,
        exclude: Option<Slot>,
    ) -> (CopyKind, Vec<(Slot, Similarity)>) {
        let config = detector.config();
        let lanes = fingerprint.signature.lanes();
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
                let sim = self.similarity_to(detector, fingerprint, sample, slot);
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

    /// Checks and inserts one restored article without indexing it; pushes its slot.
    fn restore_one(
        &mut self,
        config: &DetectorConfig,
        stored: &StoredArticle<'_>,
        slots: &mut Vec<Slot>,
    ) -> Result<()> {
        validate_id(stored.id)?;
        if stored.lanes.len() != config.num_perm {
            return Err(Error::input(
                "signature",
                format!(
                    "has {} lanes, the config has num_perm = {}",
                    stored.lanes.len(),
                    config.num_perm
                ),
            ));
        }
        if self.slot_of(stored.id).is_some() {
            return Err(Error::DuplicateId {
                id: stored.id.to_owned(),
                reason: "restored twice".into(),
            });
        }
        let story = match self.story_of(stored.cluster_id) {
            Some(story) => story,
            None => self.new_story(stored.cluster_id),
        };
        let article =
            Article { id: stored.id, text: "", source: stored.source, published: stored.published };
        let signature = (stored.lanes, stored.shingle_count);
        let (hash, kind) = (stored.text_hash, stored.kind);
        slots.push(self.insert_unindexed(config, &article, hash, signature, kind, story));
        Ok(())
    }

    /// The story the article joins, and as what: the story of the best match it is also
    /// related to the origin of, or to a majority of the earliest members of (the batch
    /// chaining guard's rule, with the article as a cluster of one).
    fn joined_story(
        &self,
        detector: &Detector,
        fingerprint: &Fingerprint,
        sample: Option<&ShingleSample>,
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
                    || self
                        .similarity_to(detector, fingerprint, sample, member)
                        .containment_of_shorter()
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

    fn new_story(&mut self, founder: &str) -> u32 {
        let story = Story { id: founder.into(), members: Vec::new(), earliest: Vec::new() };
        let ix = match self.free_stories.pop() {
            Some(ix) => {
                self.stories[ix as usize] = Some(story);
                ix
            }
            None => {
                self.stories.push(Some(story));
                (self.stories.len() - 1) as u32
            }
        };
        let stories = &self.stories;
        let hasher = |&ix: &u32| stories[ix as usize].as_ref().map_or(0, |s| name_hash(&s.id));
        self.story_by_id.insert_unique(name_hash(founder), ix, hasher);
        ix
    }

    fn insert(
        &mut self,
        config: &DetectorConfig,
        article: &Article<'_>,
        text_hash: u64,
        fingerprint: &Fingerprint,
        kind: CopyKind,
        story: u32,
    ) -> Slot {
        let signature = (fingerprint.signature.lanes(), fingerprint.shingle_count);
        let slot = self.insert_unindexed(config, article, text_hash, signature, kind, story);
        self.lsh.insert(slot, fingerprint.signature.lanes());
        if let Some(view) = &mut self.containment {
            view.insert(slot, fingerprint.signature.lanes());
        }
        slot
    }

    /// [`State::insert`] without the LSH index (bulk restores index many at once).
    fn insert_unindexed(
        &mut self,
        config: &DetectorConfig,
        article: &Article<'_>,
        text_hash: u64,
        (lanes, shingle_count): (&[u32], u32),
        kind: CopyKind,
        story: u32,
    ) -> Slot {
        let slot = self.free_slots.pop().unwrap_or(self.entries.len() as Slot);
        let start = slot as usize * config.num_perm;
        if self.signatures.len() < start + config.num_perm {
            self.signatures.resize(start + config.num_perm, 0);
            self.entries.resize_with(slot as usize + 1, || None);
        }
        self.signatures[start..start + config.num_perm].copy_from_slice(lanes);
        let source = self.intern_source(article.source);
        self.entries[slot as usize] = Some(Entry {
            id: article.id.into(),
            source,
            published: article.published.unwrap_or(NO_DATE),
            seq: self.next_seq,
            text_hash,
            shingle_count,
            kind,
            cluster: story,
        });
        self.next_seq += 1;
        let key = self.order_key(slot);
        let earliest = &self.stories[story as usize].as_ref().expect("story exists").earliest;
        let position = earliest.partition_point(|&member| self.order_key(member) < key);
        let story = self.stories[story as usize].as_mut().expect("story exists");
        story.members.push(slot);
        if position < config.support_sample {
            story.earliest.insert(position, slot);
            story.earliest.truncate(config.support_sample);
        }
        let entries = &self.entries;
        self.by_id.insert_unique(name_hash(article.id), slot, |&slot| slot_id_hash(entries, slot));
        slot
    }

    fn verdict(
        &self,
        config: &DetectorConfig,
        id: &str,
        kind: CopyKind,
        matches: Vec<(Slot, Similarity)>,
        story: Option<u32>,
    ) -> Verdict {
        let story = story.and_then(|ix| self.stories[ix as usize].as_ref());
        let (cluster_id, origin_id) = match story {
            Some(story) => (story.id.to_string(), self.entry(self.origin(story)).id.to_string()),
            None => (id.to_owned(), id.to_owned()),
        };
        let best = matches.first().map(|(_, sim)| *sim);
        Verdict {
            id: id.to_owned(),
            kind,
            cluster_id,
            origin_id,
            best_jaccard: best.map_or(0.0, |s| s.jaccard),
            best_containment: best.map_or(0.0, |s| s.containment_of_shorter()),
            chrome_ignored: Vec::new(),
            matches: matches
                .into_iter()
                .take(config.max_matches)
                .map(|(slot, sim)| {
                    let entry = self.entry(slot);
                    Match {
                        id: entry.id.to_string(),
                        source: self.source(entry).to_owned(),
                        jaccard: sim.jaccard,
                        containment: sim.containment,
                        containment_rev: sim.containment_rev,
                    }
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn check_fingerprint_equals_check() {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        detector.ingest(&article("a", STORY, 1)).unwrap();
        let copy = format!("{STORY} Reporting by the desk.");
        let probe = article("x", &copy, 2);
        let fingerprint = detector.fingerprinter().fingerprint(&copy).unwrap();
        let verdict = detector.check_fingerprint(&probe, &fingerprint).unwrap();
        assert_eq!(verdict, detector.check(&probe).unwrap());
        assert_eq!(verdict.kind, CopyKind::Duplicate);
        assert!(matches!(
            detector.check_fingerprint(&article("", &copy, 2), &fingerprint),
            Err(Error::InvalidInput { field: "id", .. })
        ));
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
