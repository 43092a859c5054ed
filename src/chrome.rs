//! Site chrome learning: lines that recur across many documents of
//! different stories are chrome ("Subscribe to our channel", "Leave a Comment",
//! copyright lines), and are left out of the shingles used for matching.
//!
//! The unit is a normalized line, identified by its gxhash. [`ChromeModel`] counts,
//! per `(source, line)` and per line over all sources, how many documents held it and
//! how many of those were of another story than the first one seen. "Story" is
//! approximated without any clustering by the document's longest line: copies of one
//! story share their long paragraphs, while a footer sits under a different body every
//! time. So an outlet's own chrome is learned after a few of its articles, while the
//! paragraphs of a wire story copied by fifty outlets never count as chrome.
//!
//! A line is chrome when, for the document's source or over all sources, it was seen in
//! at least `min_docs` documents (`min_docs_per_source` or `min_docs_global`) and at
//! least half of them were of another story than the first. Documents without a source
//! only feed and read the global counts.
//!
//! Memory is bounded: at `capacity` tracked lines, lines seen by the fewest documents
//! are forgotten first (lossy counting), which keeps chrome, seen again and again, while
//! one-off body lines come and go. A line met again after being forgotten is tracked
//! as if seen by as many documents as were forgotten at most (so that it outlives the
//! next round), but only the documents seen since count as evidence for the rule: a
//! body line seen once is never chrome, however much the model has forgotten. The
//! model is plain data with serde support, so the
//! service can persist it next to its index and reload it at start-up.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use gxhash::gxhash64;
use serde::{Deserialize, Serialize};

use crate::config::ChromeConfig;
use crate::text::Normalized;

/// Line and source hashes are gxhash outputs already; hashing them again would only
/// cost time.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("keys are hashed with write_u64 only")
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

type Counts = HashMap<u64, LineCount, BuildHasherDefault<IdHasher>>;

const LINE_SEED: i64 = 0x6c69_6e65; // "line"
const SOURCE_SEED: i64 = 0x736f_7572; // "sour"

/// What the model needs of one document: its source and the hash of each non-empty
/// normalized line, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineProfile {
    /// Hash of the source (outlet); 0 when the document has none.
    pub source: u64,
    /// Hash of each non-empty normalized line, in document order; 0 for a line that
    /// continues the one before (starts lower-case: hard-wrapped text), which is never
    /// chrome. Without that rule, the wrapped tail "said" of an archive's paragraphs would
    /// be learned as chrome, being common to many stories.
    pub lines: Vec<u64>,
    /// The story key: (part of) the hash of the longest line.
    pub story: u32,
}

impl LineProfile {
    /// The key of `source` in [`LineProfile::source`].
    pub fn source_key(source: &str) -> u64 {
        if source.trim().is_empty() { 0 } else { gxhash64(source.as_bytes(), SOURCE_SEED).max(1) }
    }

    /// The profile of a normalized document from `source` (empty for none).
    pub fn new(source: &str, normalized: &Normalized) -> Self {
        let source = Self::source_key(source);
        let mut lines = Vec::with_capacity(normalized.line_count());
        let mut longest = (0usize, 0u64);
        for (line, &continues) in normalized.lines().zip(normalized.continuations()) {
            let hash = gxhash64(line.as_bytes(), LINE_SEED).max(1);
            lines.push(if continues { 0 } else { hash });
            longest = longest.max((line.len(), hash));
        }
        LineProfile { source, lines, story: longest.1 as u32 }
    }
}

impl LineProfile {
    /// The distinct keys this document counts under in a [`ChromeModel`] (each line's
    /// global key and, with a source, its per-source key), sorted: what a runner that
    /// counts lines elsewhere groups by (see [`ChromeModel::from_counts`]).
    pub fn keys(&self) -> Vec<u64> {
        let mut keys: Vec<u64> = doc_keys(self).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// One key's count over a whole corpus, for [`ChromeModel::from_counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyCount {
    /// The key ([`LineProfile::keys`]).
    pub key: u64,
    /// Documents holding it.
    pub docs: u32,
    /// Of those, documents whose story key ([`LineProfile::story`]) differs from the
    /// first one's (first in input order).
    pub other_story: u32,
    /// The story key of the first document (in input order) holding it.
    pub story: u32,
}

/// Documents seen with one line (per source or overall).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct LineCount {
    /// Documents that held the line.
    docs: u32,
    /// Of those, documents whose story key differs from the first one's.
    other_story: u32,
    /// Story key of the first document seen with the line.
    story: u32,
    /// Of `docs`, documents the line may have lost by being forgotten before it was met
    /// again (the model's floor then): kept for its survival, not counted as evidence.
    #[serde(default)]
    lost: u32,
}

impl LineCount {
    fn is_chrome(&self, min_docs: u32) -> bool {
        let seen = self.docs - self.lost;
        seen >= min_docs && 2 * self.other_story >= seen
    }
}

/// Learned line statistics; see the module docs for the rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChromeModel {
    config: ChromeConfig,
    counts: Counts,
    /// Lines seen by at most this many documents were forgotten at some point; a
    /// count therefore undercounts by at most this much.
    floor: u32,
    /// Documents observed.
    docs: u64,
    /// Reused key buffer.
    #[serde(skip)]
    scratch: Vec<u64>,
}

impl PartialEq for ChromeModel {
    fn eq(&self, other: &Self) -> bool {
        // The scratch buffer is not part of the model.
        (&self.config, &self.counts, self.floor, self.docs)
            == (&other.config, &other.counts, other.floor, other.docs)
    }
}

impl ChromeModel {
    /// An empty model. `config` is assumed validated (part of `DetectorConfig`).
    pub fn new(config: &ChromeConfig) -> Self {
        ChromeModel {
            config: config.clone(),
            counts: Counts::default(),
            floor: 0,
            docs: 0,
            scratch: Vec::new(),
        }
    }

    /// The settings the model was built with.
    pub fn config(&self) -> &ChromeConfig {
        &self.config
    }

    /// Documents observed so far.
    pub fn documents(&self) -> u64 {
        self.docs
    }

    /// Lines currently tracked (at most `capacity`).
    pub fn tracked_lines(&self) -> usize {
        self.counts.len()
    }

    /// Approximate heap bytes.
    pub fn heap_bytes(&self) -> usize {
        self.counts.capacity() * (std::mem::size_of::<(u64, LineCount)>() + 1)
    }

    /// Counts one document. Each distinct line counts once per document. Returns
    /// whether that may have changed which of the document's own lines are chrome (when
    /// it returns false, [`ChromeModel::is_chrome`] answers as before for every one of
    /// them), so a caller that classified the document just before need not again.
    pub fn observe(&mut self, doc: &LineProfile) -> bool {
        let mut changed = self.observe_keys(doc);
        if self.counts.len() > self.config.capacity {
            self.forget();
            changed = true;
        }
        changed
    }

    fn observe_keys(&mut self, doc: &LineProfile) -> bool {
        let mut keys = std::mem::take(&mut self.scratch);
        keys.clear();
        keys.extend(doc_keys(doc));
        keys.sort_unstable();
        keys.dedup();
        let changed = self.count_doc(&keys, doc.story);
        self.scratch = keys;
        changed
    }

    /// Counts one document's distinct keys; returns whether any key's class may have
    /// changed (under either threshold, as the key's kind is not known here).
    fn count_doc(&mut self, keys: &[u64], story: u32) -> bool {
        self.docs += 1;
        let thresholds = [self.config.min_docs_per_source, self.config.min_docs_global];
        let mut changed = false;
        for &key in keys {
            let (before, after) = self.bump(key, story);
            let class = |count: Option<LineCount>| {
                thresholds.map(|min_docs| count.is_some_and(|c| c.is_chrome(min_docs)))
            };
            changed |= class(before) != class(Some(after));
        }
        changed
    }

    /// Shards [`ChromeModel::learn_shard`] splits the key space into. Fixed, so that
    /// a sharded build gives the same model on any number of threads.
    pub const SHARDS: usize = 16;

    /// The part of the model learned from `docs` (in order) that holds the keys of shard
    /// `shard` of [`ChromeModel::SHARDS`], with `1 / SHARDS` of the capacity. Every
    /// key's count depends only on the documents that hold it, in order, so the shards
    /// can be learned in parallel and joined with [`ChromeModel::from_shards`].
    pub fn learn_shard(config: &ChromeConfig, docs: &[&LineProfile], shard: usize) -> Self {
        let mut model = ChromeModel::new(config);
        model.observe_shard(docs, shard);
        model
    }

    /// Counts `docs` (in order) into this model as shard `shard`: learning a shard batch
    /// after batch gives the same model as [`ChromeModel::learn_shard`] over all of
    /// them, so a scan can learn while it reads.
    pub fn observe_shard(&mut self, docs: &[&LineProfile], shard: usize) {
        self.observe_keys_of_shard(&ShardKeys::new(docs), shard);
    }

    /// [`ChromeModel::observe_shard`] over keys already split by shard: every
    /// shard's learner reads only its own part, instead of hashing all lines again.
    pub fn observe_keys_of_shard(&mut self, docs: &ShardKeys, shard: usize) {
        let capacity = self.config.capacity.div_ceil(Self::SHARDS);
        for doc in &docs.docs {
            let range = doc.ends[shard] as usize..doc.ends[shard + 1] as usize;
            self.count_doc(&doc.keys[range], doc.story);
            if self.counts.len() > capacity {
                self.forget_to(capacity);
            }
        }
    }

    /// Joins the shards made by [`ChromeModel::learn_shard`] over the same documents.
    pub fn from_shards(config: &ChromeConfig, shards: Vec<ChromeModel>) -> Self {
        let mut model = ChromeModel::new(config);
        model.docs = shards.first().map_or(0, |shard| shard.docs);
        model.counts.reserve(shards.iter().map(|shard| shard.counts.len()).sum());
        for shard in shards {
            model.floor = model.floor.max(shard.floor);
            model.counts.extend(shard.counts);
        }
        model
    }

    /// The model a batch scan learns from a corpus of `documents` documents, made from
    /// each key's count over the whole corpus (computed elsewhere, say by a group-by in
    /// Spark). Equal to the scan's model as long as the scan never had to forget a line,
    /// which holds when no shard holds more than `capacity / SHARDS` keys; past that,
    /// the counts cannot reproduce what the scan forgot, and this is an error that says
    /// how large a `capacity` would be.
    pub fn from_counts(
        config: &ChromeConfig,
        documents: u64,
        counts: impl IntoIterator<Item = KeyCount>,
    ) -> crate::Result<Self> {
        let mut model = ChromeModel::new(config);
        model.docs = documents;
        let mut per_shard = [0usize; Self::SHARDS];
        for count in counts {
            per_shard[shard_of(count.key)] += 1;
            let line = LineCount {
                docs: count.docs,
                other_story: count.other_story,
                story: count.story,
                lost: 0,
            };
            model.counts.insert(count.key, line);
        }
        let capacity = config.capacity.div_ceil(Self::SHARDS);
        let most = per_shard.iter().copied().max().unwrap_or(0);
        if most > capacity {
            return Err(crate::Error::config(
                "boilerplate.capacity",
                format!(
                    "the corpus has {} distinct line keys, up to {most} in one of the {} shards, \
                     more than capacity / {} = {capacity}: a scan would forget some, which \
                     counts made elsewhere cannot reproduce; use a capacity of at least {} \
                     (for the scan too, to compare)",
                    model.counts.len(),
                    Self::SHARDS,
                    Self::SHARDS,
                    most * Self::SHARDS
                ),
            ));
        }
        Ok(model)
    }

    /// Counts `key` once more; returns its count before (if tracked) and after.
    fn bump(&mut self, key: u64, story: u32) -> (Option<LineCount>, LineCount) {
        use std::collections::hash_map::Entry;
        match self.counts.entry(key) {
            // A line met again after being forgotten may have lost up to `floor`
            // documents: they keep it tracked, but are no evidence of chrome.
            Entry::Vacant(slot) => {
                let floor = self.floor;
                let count = LineCount { docs: floor + 1, other_story: 0, story, lost: floor };
                (None, *slot.insert(count))
            }
            Entry::Occupied(mut slot) => {
                let count = slot.get_mut();
                let before = *count;
                let same_story = story == count.story;
                count.docs = count.docs.saturating_add(1);
                count.other_story = count.other_story.saturating_add(u32::from(!same_story));
                (Some(before), *count)
            }
        }
    }

    /// Drops the least-seen lines until at most 3/4 of `capacity` remain.
    fn forget(&mut self) {
        self.forget_to(self.config.capacity);
    }

    fn forget_to(&mut self, capacity: usize) {
        let target = capacity / 4 * 3;
        while self.counts.len() > target {
            self.floor += 1;
            let floor = self.floor;
            self.counts.retain(|_, count| count.docs > floor);
        }
    }

    /// A copy that keeps only the lines that are chrome under either threshold. It
    /// answers [`ChromeModel::is_chrome`] exactly as this model does (a line it lacks is
    /// not chrome here either) at a fraction of the size, so classifying the lines of a
    /// million articles hits the cache. It is not for learning on: the counts of lines
    /// that are not chrome are gone.
    pub fn classifier(&self) -> ChromeModel {
        let min_docs = self.config.min_docs_per_source.min(self.config.min_docs_global);
        let counts: Counts = self
            .counts
            .iter()
            .filter(|(_, count)| count.is_chrome(min_docs))
            .map(|(&key, &count)| (key, count))
            .collect();
        ChromeModel { counts, scratch: Vec::new(), config: self.config.clone(), ..*self }
    }

    /// Whether `line` (a line hash) is chrome for documents from `source` (a source
    /// hash as in [`LineProfile`], 0 for none).
    pub fn is_chrome(&self, source: u64, line: u64) -> bool {
        if line == 0 {
            return false;
        }
        let chrome = |key, min_docs| {
            self.counts.get(&key).is_some_and(|c: &LineCount| c.is_chrome(min_docs))
        };
        (source != 0 && chrome(source_key(source, line), self.config.min_docs_per_source))
            || chrome(global_key(line), self.config.min_docs_global)
    }

    /// For each line of `doc`, whether it is chrome.
    pub fn classify(&self, doc: &LineProfile) -> Vec<bool> {
        doc.lines.iter().map(|&line| self.is_chrome(doc.source, line)).collect()
    }
}

/// A batch of documents' model keys, computed once and split by shard.
#[derive(Debug, Default)]
pub struct ShardKeys {
    docs: Vec<DocKeys>,
}

/// One document's model keys, split by shard (see [`ShardKeys`]).
#[derive(Debug)]
pub struct DocKeys {
    /// Distinct keys, grouped by shard.
    keys: Vec<u64>,
    /// Where each shard's keys end (`ends[s]..ends[s + 1]` are shard `s`'s).
    ends: [u32; ChromeModel::SHARDS + 1],
    story: u32,
}

impl ShardKeys {
    /// The keys of `docs`, in order.
    pub fn new(docs: &[&LineProfile]) -> Self {
        docs.iter().map(|doc| DocKeys::new(doc)).collect::<Vec<_>>().into()
    }
}

/// Documents' keys in order, computed by the caller (a batch scan does it in parallel).
impl From<Vec<DocKeys>> for ShardKeys {
    fn from(docs: Vec<DocKeys>) -> Self {
        ShardKeys { docs }
    }
}

impl DocKeys {
    /// The keys of `doc`.
    pub fn new(doc: &LineProfile) -> Self {
        let mut keys: Vec<u64> = doc_keys(doc).collect();
        keys.sort_unstable_by_key(|&key| (shard_of(key), key));
        keys.dedup();
        let mut ends = [0u32; ChromeModel::SHARDS + 1];
        for shard in 0..ChromeModel::SHARDS {
            let end = keys.partition_point(|&key| shard_of(key) <= shard);
            ends[shard + 1] = end as u32;
        }
        DocKeys { keys, ends, story: doc.story }
    }
}

/// The keys a document counts under: each line's global key and, with a source, its
/// per-source key (with repeats; continuation lines have none).
fn doc_keys(doc: &LineProfile) -> impl Iterator<Item = u64> + '_ {
    doc.lines.iter().filter(|&&line| line != 0).flat_map(move |&line| {
        let per_source = (doc.source != 0).then(|| source_key(doc.source, line));
        per_source.into_iter().chain(std::iter::once(global_key(line)))
    })
}

fn source_key(source: u64, line: u64) -> u64 {
    // Mixing by multiplication keeps (source, line) keys apart from the global ones.
    line ^ source.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

fn global_key(line: u64) -> u64 {
    line
}

fn shard_of(key: u64) -> usize {
    (key >> 32) as usize % ChromeModel::SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{TextOptions, normalize_lines_into};

    #[test]
    fn counts_made_elsewhere_give_the_sharded_model() {
        let config =
            ChromeConfig { min_docs_per_source: 2, min_docs_global: 3, ..ChromeConfig::default() };
        let docs: Vec<LineProfile> = (0..60)
            .map(|i| {
                let text = format!(
                    "Home > News\nStory {} paragraph that is the longest line of all {}\nShare this\n{}",
                    i % 7,
                    i % 5,
                    if i % 2 == 0 { "Subscribe now" } else { "Read more" }
                );
                profile(["a.com", "b.com", ""][i % 3], &text)
            })
            .collect();
        let refs: Vec<&LineProfile> = docs.iter().collect();
        let shards =
            (0..ChromeModel::SHARDS).map(|s| ChromeModel::learn_shard(&config, &refs, s)).collect();
        let learned = ChromeModel::from_shards(&config, shards);
        let mut counts: HashMap<u64, KeyCount> = HashMap::new();
        for doc in &docs {
            for key in doc.keys() {
                let count = counts.entry(key).or_insert(KeyCount {
                    key,
                    docs: 0,
                    other_story: 0,
                    story: doc.story,
                });
                count.docs += 1;
                count.other_story += u32::from(doc.story != count.story);
            }
        }
        let counted =
            ChromeModel::from_counts(&config, docs.len() as u64, counts.values().copied()).unwrap();
        assert_eq!(counted, learned);
        let small = ChromeConfig { capacity: 16, ..config };
        let error = ChromeModel::from_counts(&small, 60, counts.values().copied()).unwrap_err();
        assert!(error.to_string().contains("boilerplate.capacity"), "{error}");
    }

    fn profile(source: &str, text: &str) -> LineProfile {
        let mut normalized = Normalized::default();
        normalize_lines_into(text, TextOptions::default(), &mut normalized);
        LineProfile::new(source, &normalized)
    }

    fn story(n: usize) -> String {
        format!(
            "Body paragraph number {n} about one thing.\nA second and longer paragraph of story {n} with details."
        )
    }

    fn chrome_of(model: &ChromeModel, doc: &LineProfile) -> Vec<bool> {
        model.classify(doc)
    }

    #[test]
    fn observe_says_when_a_documents_own_lines_change_class() {
        // Small thresholds and capacity, so lines cross into and out of chrome (copies of
        // one story hold them back) and the model forgets.
        let config = ChromeConfig {
            min_docs_per_source: 2,
            min_docs_global: 3,
            capacity: 40,
            ..ChromeConfig::default()
        };
        let mut model = ChromeModel::new(&config);
        let (mut changes, mut quiet) = (0, 0);
        for i in 0..400usize {
            let text = format!(
                "Story {} is the longest line of the whole page here\nShare {}\n{}",
                i % 11,
                i % 4,
                ["Subscribe now", "Read more", "Tip us"][i % 3]
            );
            let doc = profile(["a.com", "b.com", ""][i % 3], &text);
            let before = model.classify(&doc);
            let said = model.observe(&doc);
            if model.classify(&doc) != before {
                assert!(said, "document {i} changed class unannounced");
                changes += 1;
            } else if !said {
                quiet += 1;
            }
        }
        assert!(changes > 0 && quiet > 0, "{changes} changes, {quiet} quiet");
    }

    #[test]
    fn a_line_seen_once_is_not_chrome_however_much_was_forgotten() {
        // A small capacity fills with one-off body lines until the model has forgotten
        // several rounds; an outlet's footer must still need its own sightings.
        let config = ChromeConfig { capacity: 64, ..ChromeConfig::default() };
        let mut model = ChromeModel::new(&config);
        for n in 0..400 {
            model.observe(&profile("site-a", &story(n)));
        }
        assert!(model.floor >= config.min_docs_per_source, "floor {}", model.floor);
        let first = profile("site-b", &format!("{}\nA line never seen before", story(1000)));
        model.observe(&first);
        assert!(model.classify(&first).iter().all(|&chrome| !chrome), "{first:?}");
        // Seen under enough other stories since, it is chrome again.
        for n in 1001..1001 + config.min_docs_per_source as usize {
            model.observe(&profile("site-b", &format!("{}\nA line never seen before", story(n))));
        }
        let next = profile("site-b", &format!("{}\nA line never seen before", story(2000)));
        assert_eq!(chrome_of(&model, &next), [false, false, true]);
    }

    #[test]
    fn learns_an_outlets_footer_after_a_few_stories() {
        let config = ChromeConfig::default();
        let mut model = ChromeModel::new(&config);
        for n in 0..config.min_docs_per_source as usize {
            model.observe(&profile("site-a", &format!("{}\nLeave a Comment", story(n))));
        }
        let next = profile("site-a", &format!("{}\nLeave a Comment", story(99)));
        assert_eq!(chrome_of(&model, &next), [false, false, true]);
        // Another outlet has not shown this footer often enough for its own count, and
        // the global threshold is higher.
        let elsewhere = profile("site-b", &format!("{}\nLeave a Comment", story(99)));
        assert_eq!(chrome_of(&model, &elsewhere), [false, false, false]);
    }

    #[test]
    fn copies_of_one_story_are_not_chrome() {
        // One story republished by many outlets, and twice by the same outlet: its
        // paragraphs recur, but always with the same long lines, so they stay content.
        let config = ChromeConfig::default();
        let mut model = ChromeModel::new(&config);
        for outlet in 0..(2 * config.min_docs_global) {
            model.observe(&profile(&format!("outlet-{outlet}"), &story(1)));
            model.observe(&profile("same-outlet", &format!("UPDATE {outlet}\n{}", story(1))));
        }
        assert_eq!(chrome_of(&model, &profile("outlet-x", &story(1))), [false, false]);
        assert_eq!(chrome_of(&model, &profile("same-outlet", &story(1))), [false, false]);
    }

    #[test]
    fn wrapped_line_tails_are_never_chrome() {
        let config = ChromeConfig::default();
        let mut model = ChromeModel::new(&config);
        let wrapped = |n: usize| {
            format!("Story {n} opened with a long line that the company\nsaid\nABOUT IT.")
        };
        for n in 0..2 * config.min_docs_global as usize {
            model.observe(&profile("", &wrapped(n)));
        }
        // "ABOUT IT." stands alone (upper case) and recurs: chrome; "said" continues.
        assert_eq!(model.classify(&profile("", &wrapped(999))), [false, false, true]);
    }

    #[test]
    fn sourceless_documents_use_the_global_count() {
        let config = ChromeConfig::default();
        let mut model = ChromeModel::new(&config);
        for n in 0..config.min_docs_global as usize - 1 {
            model.observe(&profile("", &format!("{}\nAdvertisement", story(n))));
        }
        let doc = profile("", &format!("{}\nAdvertisement", story(1000)));
        assert_eq!(chrome_of(&model, &doc), [false, false, false]);
        model.observe(&doc);
        assert_eq!(chrome_of(&model, &doc), [false, false, true]);
    }

    #[test]
    fn memory_is_bounded_and_chrome_survives() {
        let config = ChromeConfig { capacity: 64, ..ChromeConfig::default() };
        let mut model = ChromeModel::new(&config);
        for n in 0..500 {
            model.observe(&profile("site", &format!("{}\nShare this: Facebook Twitter", story(n))));
            assert!(model.tracked_lines() <= config.capacity);
        }
        let doc = profile("site", &format!("{}\nShare this: Facebook Twitter", story(7)));
        assert_eq!(chrome_of(&model, &doc), [false, false, true]);
    }

    #[test]
    fn sharded_learning_equals_sequential() {
        let config = ChromeConfig::default();
        let docs: Vec<LineProfile> = (0..40)
            .map(|n| {
                profile(
                    &format!("site-{}", n % 3),
                    &format!("{}\nLeave a Comment\nAdvertisement", story(n % 25)),
                )
            })
            .collect();
        let mut sequential = ChromeModel::new(&config);
        for doc in &docs {
            sequential.observe(doc);
        }
        let refs: Vec<&LineProfile> = docs.iter().collect();
        let shards = (0..ChromeModel::SHARDS)
            .map(|shard| ChromeModel::learn_shard(&config, &refs, shard))
            .collect();
        assert_eq!(ChromeModel::from_shards(&config, shards), sequential);
    }

    #[test]
    fn shards_learned_batch_by_batch_equal_shards_learned_at_once() {
        // A small capacity, so shards forget between batches too.
        let config = ChromeConfig { capacity: 64, ..ChromeConfig::default() };
        let docs: Vec<LineProfile> = (0..120)
            .map(|n| {
                let footer = if n % 4 == 0 { "Leave a Comment" } else { "Share this" };
                profile(&format!("site-{}", n % 5), &format!("{}\n{footer}", story(n % 30)))
            })
            .collect();
        let refs: Vec<&LineProfile> = docs.iter().collect();
        let whole: Vec<ChromeModel> = (0..ChromeModel::SHARDS)
            .map(|shard| ChromeModel::learn_shard(&config, &refs, shard))
            .collect();
        let mut batched: Vec<ChromeModel> =
            (0..ChromeModel::SHARDS).map(|_| ChromeModel::new(&config)).collect();
        for batch in refs.chunks(7) {
            for (shard, model) in batched.iter_mut().enumerate() {
                model.observe_shard(batch, shard);
            }
        }
        assert_eq!(batched, whole);
        let joined = ChromeModel::from_shards(&config, batched);
        let chrome = docs
            .iter()
            .flat_map(|doc| doc.lines.iter().map(|&line| joined.is_chrome(doc.source, line)))
            .filter(|&chrome| chrome)
            .count();
        assert!(chrome > 0, "some lines are chrome");
    }

    #[test]
    fn the_classifier_answers_as_the_model() {
        // Small thresholds, so lines lie on both sides of each; and a capacity so small
        // that the model forgets (after which every line met counts as chrome).
        for capacity in [4096, 48] {
            let config = ChromeConfig {
                min_docs_per_source: 2,
                min_docs_global: 4,
                capacity,
                ..ChromeConfig::default()
            };
            let mut model = ChromeModel::new(&config);
            let docs: Vec<LineProfile> = (0..300usize)
                .map(|i| {
                    let text = format!(
                        "Story {} is the longest line of the whole page here\nShare {}\n{}\nLine {}",
                        i % 13,
                        i % 5,
                        ["Subscribe now", "Read more", "Tip us"][i % 3],
                        i % 17
                    );
                    profile(["a.com", "b.com", "c.com", ""][i % 4], &text)
                })
                .collect();
            for doc in &docs {
                model.observe(doc);
            }
            let classifier = model.classifier();
            let mut chrome = 0;
            for doc in &docs {
                for source in [doc.source, 0, LineProfile::source_key("a.com")] {
                    for &line in &doc.lines {
                        let expected = model.is_chrome(source, line);
                        assert_eq!(classifier.is_chrome(source, line), expected);
                        chrome += usize::from(expected);
                    }
                }
            }
            assert!(chrome > 0);
            if capacity > 48 {
                assert!(classifier.tracked_lines() < model.tracked_lines());
            }
        }
    }

    #[test]
    fn round_trips_through_serde() {
        let mut model = ChromeModel::new(&ChromeConfig::default());
        for n in 0..5 {
            model.observe(&profile("site", &format!("{}\nLeave a Comment", story(n))));
        }
        let json = serde_json::to_string(&model).unwrap();
        let back: ChromeModel = serde_json::from_str(&json).unwrap();
        assert_eq!(back, model);
        let doc = profile("site", &format!("{}\nLeave a Comment", story(9)));
        assert_eq!(back.classify(&doc), model.classify(&doc));
    }
}
