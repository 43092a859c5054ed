//! The detector's state tables: every indexed article's entry and signature by slot,
//! the stories and their earliest members, and the id, story and source tables. Slots
//! and story numbers are reused after removals, so memory follows the live articles.
//! Names are kept once ([`crate::intern`]): an id lives in its entry, an outlet in the
//! source interner.
//!
//! A stored signature keeps the low 16 bits of each lane, as batch verification reads
//! them ([`crate::minhash::narrow`]), and the high 16 bits only of the lanes the one-row
//! containment bands key on: a one-row band keyed by 16 bits would put one article in
//! 65,536 in every bucket. The Jaccard bands key on the rest of their rows' low halves,
//! which still makes two unrelated articles share a band once in 2^64 (see
//! [`index_keys`]). That is 320 bytes an article instead of 512, and what a stored
//! article's keys are can still be told for its removal.

use crate::article::{Article, NO_DATE, validate_id};
use crate::cluster::{CopyKind, MAX_SKETCH, Similarity, decode_sketch, encode_sketch, origin_key};
use crate::config::DetectorConfig;
use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;
use crate::intern::{Interner, NameIndex};
use crate::lsh::{LshIndex, Slot};
use crate::minhash::narrow;

use super::verdict::{Match, Verdict};

/// An article as a durable log keeps it: what the index needs plus the decision made
/// when it was first ingested (see [`super::Detector::restore`]).
#[derive(Debug, Clone, Copy)]
pub struct StoredArticle<'a> {
    /// Article id.
    pub id: &'a str,
    /// Outlet.
    pub source: &'a str,
    /// Publication time in Unix milliseconds.
    pub published: Option<i64>,
    /// [`crate::article::text_hash`] of the original text (tells retries from conflicting re-ingests).
    pub text_hash: u64,
    /// Its MinHash signature lanes (`num_perm` of them).
    pub lanes: &'a [u32],
    /// Distinct shingles of its text.
    pub shingle_count: u32,
    /// What is kept of its shingle set ([`crate::cluster::shingle_sketch`]; empty when
    /// `sampled_containment` is off).
    pub sketch: &'a [u16],
    /// The kind it was given.
    pub kind: CopyKind,
    /// The cluster it joined (or founded).
    pub cluster_id: &'a str,
}

pub(super) struct Entry {
    /// The id's bytes, then the shingle sketch as [`crate::cluster::encode_sketch`]
    /// codes it (about 1.2 bytes a key instead of 2; nothing when none is kept): one
    /// allocation for both, as [`Entry::id`] and [`Entry::coded_sketch`] read them.
    names: Box<[u8]>,
    /// Bytes of `names` that are the id (at most [`crate::article::MAX_ID_BYTES`]).
    id_len: u16,
    /// Number in [`State::sources`]: outlets repeat across millions of articles.
    pub(super) source: u32,
    /// Publication time, [`NO_DATE`] for none (an `Option` would cost 8 bytes more per
    /// article).
    pub(super) published: i64,
    /// Insertion sequence: breaks publication-time ties by arrival.
    pub(super) seq: u64,
    pub(super) text_hash: u64,
    pub(super) shingle_count: u32,
    pub(super) kind: CopyKind,
    pub(super) cluster: u32,
}

/// The article a verdict is about: its id and what it is compared by.
pub(super) struct Labelled<'a> {
    pub(super) id: &'a str,
    pub(super) probe: &'a Probe<'a>,
}

/// An article as stored ones are compared with it.
pub(super) struct Probe<'a> {
    /// Its lanes as the LSH views key on them ([`index_keys`]).
    pub(super) keys: Vec<u32>,
    /// The low 16 bits of each lane, as stored articles keep them.
    pub(super) lanes: Vec<u16>,
    pub(super) shingle_count: u32,
    /// Its shingle sketch, when known: an incoming article's, measured against stored
    /// sketches where MinHash cannot decide.
    pub(super) sketch: Option<&'a [u16]>,
}

/// The lanes `lanes` as the LSH views key on them: the first `full` (the one-row
/// containment bands' lanes) whole, the others' low 16 bits.
pub(super) fn index_keys(lanes: &[u32], full: usize) -> Vec<u32> {
    let mut keys = lanes.to_vec();
    for lane in keys.iter_mut().skip(full) {
        *lane &= 0xFFFF;
    }
    keys
}

pub(super) struct Story {
    pub(super) id: Box<str>,
    /// Ids of stories merged into this one; each still names it.
    pub(super) aliases: Vec<Box<str>>,
    pub(super) members: Members,
    /// The earliest `support_sample` members by [`State::order_key`], earliest first,
    /// kept up to date on insert and remove: the origin and the chaining guard's sample
    /// without scanning a story that may have millions of members.
    pub(super) earliest: Members,
}

/// Slots of a story, inline up to four (24 bytes either way): a story's lists cost no
/// allocation until it has five members, and a feed of mostly unique articles is mostly
/// one-member stories.
pub(super) type Members = smallvec::SmallVec<[Slot; 4]>;
const _: () = assert!(std::mem::size_of::<Members>() == 24);

#[derive(Default)]
pub(super) struct State {
    pub(super) lsh: LshIndex,
    /// One-row bands for excerpts of long stories (`containment_bands`), if on.
    pub(super) containment: Option<LshIndex>,
    /// `signatures[slot * num_perm ..][..num_perm]`: the low 16 bits of each lane; flat
    /// so lookups touch one allocation.
    pub(super) signatures: Vec<u16>,
    /// `high[slot * full ..][..full]`: the high 16 bits of the first `full` lanes, which
    /// the containment view keys on whole ([`State::full_lanes`]).
    pub(super) high: Vec<u16>,
    pub(super) entries: Vec<Option<Entry>>,
    pub(super) free_slots: Vec<Slot>,
    /// Slots by their entry's id: a 4-byte slot per article instead of a second copy
    /// of its id.
    pub(super) by_id: NameIndex,
    pub(super) stories: Vec<Option<Story>>,
    pub(super) free_stories: Vec<u32>,
    /// Story indices by the story's id.
    pub(super) story_by_id: NameIndex,
    /// Story indices by the ids of stories merged into them (rare: a plain map).
    pub(super) aliases: gxhash::HashMap<Box<str>, u32>,
    /// Merges made since the caller last took them: (absorbed story's id, survivor's
    /// id), in order, for a durable log to record.
    pub(super) merged: Vec<(Box<str>, Box<str>)>,
    /// Distinct sources, each stored once.
    pub(super) sources: Interner,
    pub(super) next_seq: u64,
}

impl Entry {
    /// The article's id.
    pub(super) fn id(&self) -> &str {
        // SAFETY: the first `id_len` bytes were copied from a `str` of that length.
        unsafe { std::str::from_utf8_unchecked(&self.names[..usize::from(self.id_len)]) }
    }

    /// Its coded [`crate::cluster::shingle_sketch`]; empty when none is kept.
    pub(super) fn coded_sketch(&self) -> &[u8] {
        &self.names[usize::from(self.id_len)..]
    }

    /// Heap bytes of its id and sketch.
    pub(super) fn names_bytes(&self) -> usize {
        self.names.len()
    }

    pub(super) fn published(&self) -> Option<i64> {
        (self.published != NO_DATE).then_some(self.published)
    }
}

/// The id table's view of the entries: the id stored in `slot`, if it is in use.
pub(super) fn entry_id(entries: &[Option<Entry>], slot: u32) -> Option<&str> {
    entries[slot as usize].as_ref().map(Entry::id)
}

/// The story table's view of the stories.
fn story_id(stories: &[Option<Story>], ix: u32) -> Option<&str> {
    stories[ix as usize].as_ref().map(|story| &*story.id)
}

impl State {
    pub(super) fn entry(&self, slot: Slot) -> &Entry {
        self.entries[slot as usize].as_ref().expect("slot from the index is live")
    }

    pub(super) fn slot_of(&self, id: &str) -> Option<Slot> {
        let entries = &self.entries;
        self.by_id.find(id, |slot| entry_id(entries, slot))
    }

    /// Removes `id` from the id table (its entry must still be in place).
    pub(super) fn unindex_id(&mut self, id: &str) -> Option<Slot> {
        let entries = &self.entries;
        self.by_id.take(id, |slot| entry_id(entries, slot))
    }

    /// The story named `id`, by its own id or one it absorbed.
    pub(super) fn story_of(&self, id: &str) -> Option<u32> {
        let stories = &self.stories;
        self.story_by_id
            .find(id, |ix| story_id(stories, ix))
            .or_else(|| self.aliases.get(id).copied())
    }

    /// Moves every member of story `from` into story `into`; `from`'s id (and those it
    /// absorbed) name `into` from now on.
    pub(super) fn merge_stories(&mut self, config: &DetectorConfig, into: u32, from: u32) {
        let gone = self.stories[from as usize].take().expect("merged story exists");
        self.story_by_id.remove(&gone.id, from);
        self.free_stories.push(from);
        for &member in &gone.members {
            self.entries[member as usize].as_mut().expect("member is live").cluster = into;
        }
        let target = self.stories[into as usize].as_ref().expect("merge target exists");
        let mut earliest = target.earliest.clone();
        earliest.extend_from_slice(&gone.earliest);
        let earliest = self.earliest_of(&earliest, config.support_sample);
        for alias in gone.aliases.iter().chain(std::iter::once(&gone.id)) {
            self.aliases.insert(alias.clone(), into);
        }
        let target = self.stories[into as usize].as_mut().expect("merge target exists");
        target.members.extend_from_slice(&gone.members);
        target.earliest = earliest;
        target.aliases.extend(gone.aliases);
        self.merged.push((gone.id.clone(), target.id.clone()));
        target.aliases.push(gone.id);
    }

    /// Story `ix` takes the name `name` (a merge replayed into a story none of whose
    /// restored members carries its name); its old id names it still.
    pub(super) fn rename_story(&mut self, ix: u32, name: &str) {
        let story = self.stories[ix as usize].as_mut().expect("renamed story exists");
        let old = std::mem::replace(&mut story.id, name.into());
        story.aliases.push(old.clone());
        let stories = &self.stories;
        self.story_by_id.remove(&old, ix);
        self.story_by_id.insert(name, ix, |ix| story_id(stories, ix));
        self.aliases.insert(old, ix);
    }

    /// Forgets story `ix`, which has no members left, with the names it absorbed.
    pub(super) fn drop_story(&mut self, ix: u32) {
        let story = self.stories[ix as usize].take().expect("dropped story exists");
        self.story_by_id.remove(&story.id, ix);
        for alias in &story.aliases {
            self.aliases.remove(alias);
        }
        self.free_stories.push(ix);
    }

    /// The index of `source` in `sources`, adding it if new.
    pub(super) fn intern_source(&mut self, source: &str) -> u32 {
        self.sources.intern(source)
    }

    pub(super) fn source(&self, entry: &Entry) -> &str {
        self.sources.get(entry.source)
    }

    /// The shingle sketch kept of the article in `slot`, decoded into `buffer`; `None`
    /// when none is kept.
    pub(super) fn sketch<'b>(
        &self,
        slot: Slot,
        buffer: &'b mut [u16; MAX_SKETCH],
    ) -> Option<&'b [u16]> {
        let coded = self.entry(slot).coded_sketch();
        (!coded.is_empty()).then(|| decode_sketch(coded, buffer))
    }

    /// The low 16 bits of the lanes of the article in `slot`.
    pub(super) fn lanes(&self, config: &DetectorConfig, slot: Slot) -> &[u16] {
        let start = slot as usize * config.num_perm;
        &self.signatures[start..start + config.num_perm]
    }

    /// How many leading lanes the LSH views key on whole: the containment view's.
    pub(super) fn full_lanes(&self, config: &DetectorConfig) -> usize {
        if self.containment.is_some() { config.containment_bands } else { 0 }
    }

    /// An article with signature `fingerprint` (and its shingle `sketch`, when known)
    /// as stored articles are compared with it.
    pub(super) fn probe<'a>(
        &self,
        config: &DetectorConfig,
        fingerprint: &Fingerprint,
        sketch: Option<&'a [u16]>,
    ) -> Probe<'a> {
        let lanes = fingerprint.signature.lanes();
        Probe {
            keys: index_keys(lanes, self.full_lanes(config)),
            lanes: narrow(lanes),
            shingle_count: fingerprint.shingle_count,
            sketch,
        }
    }

    /// The stored article in `slot` as other stored articles are compared with it.
    pub(super) fn stored_probe(&self, config: &DetectorConfig, slot: Slot) -> Probe<'static> {
        let lanes = self.lanes(config, slot);
        let full = self.full_lanes(config);
        let high = &self.high[slot as usize * full..][..full];
        let mut keys: Vec<u32> = lanes.iter().map(|&low| u32::from(low)).collect();
        for (key, &high) in keys.iter_mut().zip(high) {
            *key |= u32::from(high) << 16;
        }
        Probe {
            keys,
            lanes: lanes.to_vec(),
            shingle_count: self.entry(slot).shingle_count,
            sketch: None,
        }
    }

    pub(super) fn order_key(&self, slot: Slot) -> (i64, usize) {
        let entry = self.entry(slot);
        origin_key(entry.published(), entry.seq as usize)
    }

    /// The `count` earliest of `members` by [`State::order_key`], earliest first.
    pub(super) fn earliest_of(&self, members: &[Slot], count: usize) -> Members {
        let mut keyed: Vec<((i64, usize), Slot)> =
            members.iter().map(|&member| (self.order_key(member), member)).collect();
        if keyed.len() > count {
            keyed.select_nth_unstable(count);
            keyed.truncate(count);
        }
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, member)| member).collect()
    }

    /// Approximate heap bytes of the stories and their tables.
    pub(super) fn story_bytes(&self) -> usize {
        let spilled = |list: &Members| if list.spilled() { list.capacity() * 4 } else { 0 };
        let stories = self.stories.iter().flatten().map(|story| {
            story.id.len()
                + story.aliases.iter().map(|alias| alias.len() + 16).sum::<usize>()
                + spilled(&story.members)
                + spilled(&story.earliest)
        });
        self.stories.capacity() * std::mem::size_of::<Option<Story>>()
            + stories.sum::<usize>()
            + self.story_by_id.heap_bytes()
    }

    pub(super) fn origin(&self, story: &Story) -> Slot {
        *story.earliest.first().expect("stories are never empty")
    }

    /// Checks and inserts one restored article without indexing it; pushes its slot.
    pub(super) fn restore_one(
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
            None => self.found_story(stored.cluster_id.into()),
        };
        let article =
            Article { id: stored.id, text: "", source: stored.source, published: stored.published };
        let signature = (stored.lanes, stored.shingle_count, stored.sketch);
        let (hash, kind) = (stored.text_hash, stored.kind);
        slots.push(self.insert_unindexed(config, &article, hash, signature, kind, story));
        Ok(())
    }

    /// A new story named after its founding article. Should a story of that name
    /// exist (its founder was removed and the id used again), the new one is named
    /// `founder#2` (or `#3`, ...), so that one name never stands for two stories.
    pub(super) fn new_story(&mut self, founder: &str) -> u32 {
        let mut name: Box<str> = founder.into();
        let mut n = 2;
        while self.story_of(&name).is_some() {
            name = format!("{founder}#{n}").into();
            n += 1;
        }
        self.found_story(name)
    }

    /// A new story named exactly `name` (a restored one keeps the name it had).
    pub(super) fn found_story(&mut self, name: Box<str>) -> u32 {
        let story = Story {
            id: name,
            aliases: Vec::new(),
            members: Members::new(),
            earliest: Members::new(),
        };
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
        let name = story_id(stories, ix).expect("just stored");
        self.story_by_id.insert(name, ix, |ix| story_id(stories, ix));
        ix
    }

    pub(super) fn insert(
        &mut self,
        config: &DetectorConfig,
        article: &Article<'_>,
        text_hash: u64,
        (probe, sketch): (&Probe<'_>, &[u16]),
        kind: CopyKind,
        story: u32,
    ) -> Slot {
        let signature = (&probe.keys[..], probe.shingle_count, sketch);
        let slot = self.insert_unindexed(config, article, text_hash, signature, kind, story);
        self.lsh.insert(slot, &probe.keys);
        if let Some(view) = &mut self.containment {
            view.insert(slot, &probe.keys);
        }
        slot
    }

    /// [`State::insert`] without the LSH index (bulk restores index many at once).
    /// Of `lanes`, the low halves are kept, and the high halves of the first
    /// [`State::full_lanes`].
    pub(super) fn insert_unindexed(
        &mut self,
        config: &DetectorConfig,
        article: &Article<'_>,
        text_hash: u64,
        (lanes, shingle_count, sketch): (&[u32], u32, &[u16]),
        kind: CopyKind,
        story: u32,
    ) -> Slot {
        let slot = self.free_slots.pop().unwrap_or(self.entries.len() as Slot);
        let (start, full) = (slot as usize * config.num_perm, self.full_lanes(config));
        if self.signatures.len() < start + config.num_perm {
            self.signatures.resize(start + config.num_perm, 0);
            self.high.resize((slot as usize + 1) * full, 0);
            self.entries.resize_with(slot as usize + 1, || None);
        }
        for (low, &lane) in self.signatures[start..start + config.num_perm].iter_mut().zip(lanes) {
            *low = lane as u16;
        }
        for (high, &lane) in self.high[slot as usize * full..][..full].iter_mut().zip(lanes) {
            *high = (lane >> 16) as u16;
        }
        let source = self.intern_source(article.source);
        let mut names = Vec::with_capacity(article.id.len() + 2 + sketch.len() * 5 / 4 + 32);
        names.extend_from_slice(article.id.as_bytes());
        if !sketch.is_empty() {
            encode_sketch(sketch, &mut names);
        }
        self.entries[slot as usize] = Some(Entry {
            names: names.into_boxed_slice(),
            id_len: u16::try_from(article.id.len()).expect("ids are validated short"),
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
        self.by_id.insert(article.id, slot, |slot| entry_id(entries, slot));
        slot
    }

    /// The verdict on `to`, labelled `kind` in `story` (none for a check that found
    /// no story) with `matches` best first. Names the match that put it in the story
    /// (the best one there) and scores it against the story's origin.
    pub(super) fn verdict(
        &self,
        detector: &super::Detector,
        to: &Labelled<'_>,
        kind: CopyKind,
        matches: Vec<(Slot, Similarity)>,
        story: Option<u32>,
    ) -> Verdict {
        let config = detector.config();
        let story_ix = story;
        let story = story.and_then(|ix| self.stories[ix as usize].as_ref());
        let (cluster_id, origin_id, to_origin) = match story {
            Some(story) => {
                let origin = self.origin(story);
                let origin_entry = self.entry(origin);
                let to_origin = (origin_entry.id() != to.id)
                    .then(|| self.similarity_to(detector, to.probe, origin));
                (story.id.to_string(), origin_entry.id().to_string(), to_origin)
            }
            None => (to.id.to_owned(), to.id.to_owned(), None),
        };
        let to_match = |(slot, sim): &(Slot, Similarity)| {
            let entry = self.entry(*slot);
            Match {
                id: entry.id().to_string(),
                source: self.source(entry).to_owned(),
                jaccard: sim.jaccard,
                containment: sim.containment,
                containment_rev: sim.containment_rev,
            }
        };
        let link = match kind {
            CopyKind::NewStory => None,
            _ => matches.iter().find(|(slot, _)| Some(self.entry(*slot).cluster) == story_ix),
        };
        let best = matches.first().map(|(_, sim)| *sim);
        let to_origin = to_origin.unwrap_or(Similarity {
            jaccard: 1.0,
            containment: 1.0,
            containment_rev: 1.0,
        });
        Verdict {
            id: to.id.to_owned(),
            kind,
            cluster_id,
            origin_id,
            link: link.map(to_match),
            origin_jaccard: to_origin.jaccard,
            origin_containment: to_origin.containment,
            best_jaccard: best.map_or(0.0, |s| s.jaccard),
            best_containment: best.map_or(0.0, |s| s.containment_of_shorter()),
            chrome_ignored: Vec::new(),
            matches: matches.iter().take(config.max_matches).map(to_match).collect(),
        }
    }
}
