//! The batch pipeline behind `neardup scan`: read every input (memory-mapped) twice in
//! parallel batches, first to learn site chrome from the whole corpus and then to sign
//! what is not chrome, keeping documents as columns (flat signature lanes, an id arena);
//! index in LSH; check candidate pairs in parallel on their MinHash estimate; take links
//! strongest first with the chaining-guarded union-find, sampling the undecided ones only
//! if their documents are not joined by their turn; name each cluster's origin. Output
//! writing lives here too so the CLI stays a thin adapter.

use std::collections::{BinaryHeap, HashMap};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub mod input;

use rayon::prelude::*;
use serde::Serialize;

use crate::chrome::{ChromeModel, DocKeys, LineProfile, ShardKeys};
use crate::cluster::{
    Assignment, Clusterer, CopyKind, Link, SampledContainment, ShingleSample, Similarity, Verifier,
    needs_sampling,
};
use crate::config::DetectorConfig;
use crate::error::{Error, Result};
use crate::fingerprint::{Fingerprint, Fingerprinter, Prepared};
use crate::lsh::Slot;
use crate::lsh::SortedBands;
use crate::minhash::{count_equal, estimate_containment};
use crate::scan::input::{Fields, Format, Input, open, parse_date};

/// What a scan tells its caller while it runs, for a progress display: the library
/// draws nothing itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A pass over the input begins; it reads `bytes` in all.
    Pass {
        /// What the pass does ("learning chrome", "signing").
        name: &'static str,
        /// 1-based number of this pass.
        number: u32,
        /// Passes in the scan.
        of: u32,
        /// Input bytes the pass reads.
        bytes: u64,
    },
    /// The current pass has read this many more bytes.
    Read(u64),
    /// Reading is over; clustering (which has no byte count) begins.
    Clustering,
    /// The scan is done.
    Done,
}

/// A callback that receives a scan's [`Progress`], from any thread.
pub type ProgressFn = dyn Fn(Progress) + Send + Sync;

/// Options of one scan besides the detector config.
#[derive(Clone, Default)]
pub struct ScanOptions {
    /// JSONL field names.
    pub fields: Fields,
    /// Force a format instead of sniffing each file.
    pub format: Option<Format>,
    /// Report bad records and carry on instead of stopping at the first.
    pub skip_invalid: bool,
    /// Called as the scan advances (see [`Progress`]).
    pub progress: Option<std::sync::Arc<ProgressFn>>,
    /// Keep the text of each document's chrome lines for [`write_assignments`]'s
    /// explanations.
    pub explain: bool,
}

impl std::fmt::Debug for ScanOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanOptions")
            .field("fields", &self.fields)
            .field("format", &self.format)
            .field("skip_invalid", &self.skip_invalid)
            .field("progress", &self.progress.is_some())
            .field("explain", &self.explain)
            .finish()
    }
}

impl ScanOptions {
    fn report(&self, progress: Progress) {
        if let Some(callback) = &self.progress {
            callback(progress);
        }
    }
}

/// The indexed articles of a scan, column by column: one flat array of signature lanes,
/// ids in one byte arena, sources interned. A million articles cost little more than
/// their signatures.
#[derive(Debug, Default)]
pub struct Docs {
    num_perm: usize,
    id_bytes: String,
    id_ends: Vec<usize>,
    source_names: Vec<String>,
    sources: Vec<u32>,
    published: Vec<Option<i64>>,
    text_hashes: Vec<u64>,
    lanes: Vec<u32>,
    sizes: Vec<u32>,
    /// Per document, the normalized text of its chrome lines; empty unless explaining.
    chrome: Vec<Vec<String>>,
}

const NO_SOURCE: u32 = u32::MAX;

impl Docs {
    fn new(num_perm: usize) -> Self {
        Docs { num_perm, ..Docs::default() }
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// Article id of document `doc`.
    pub fn id(&self, doc: usize) -> &str {
        let start = if doc == 0 { 0 } else { self.id_ends[doc - 1] };
        &self.id_bytes[start..self.id_ends[doc]]
    }

    /// Its outlet, if the corpus had one.
    pub fn source(&self, doc: usize) -> Option<&str> {
        let source = self.sources[doc];
        (source != NO_SOURCE).then(|| self.source_names[source as usize].as_str())
    }

    /// Its publication time in Unix milliseconds.
    pub fn published(&self, doc: usize) -> Option<i64> {
        self.published[doc]
    }

    /// [`crate::detector::text_hash`] of its raw text: a data directory (`scan --save`)
    /// needs it to tell retries from conflicting ids.
    pub fn text_hash(&self, doc: usize) -> u64 {
        self.text_hashes[doc]
    }

    /// Its signature lanes (chrome left out).
    pub fn lanes(&self, doc: usize) -> &[u32] {
        &self.lanes[doc * self.num_perm..(doc + 1) * self.num_perm]
    }

    /// Distinct shingles its signature was computed from.
    pub fn shingle_count(&self, doc: usize) -> u32 {
        self.sizes[doc]
    }

    /// Its fingerprint, assembled.
    pub fn fingerprint(&self, doc: usize) -> Fingerprint {
        Fingerprint {
            signature: crate::minhash::Signature(self.lanes(doc).into()),
            shingle_count: self.sizes[doc],
        }
    }

    /// The normalized text of the lines left out of its fingerprint as chrome; kept only
    /// when the scan explains ([`ScanOptions::explain`]).
    pub fn chrome(&self, doc: usize) -> &[String] {
        self.chrome.get(doc).map_or(&[], Vec::as_slice)
    }

    /// Approximate heap bytes.
    pub fn heap_bytes(&self) -> usize {
        self.id_bytes.capacity()
            + self.id_ends.capacity() * 8
            + self.sources.capacity() * 4
            + self.published.capacity() * 16
            + self.text_hashes.capacity() * 8
            + self.lanes.capacity() * 4
            + self.sizes.capacity() * 4
            + self.chrome.capacity() * 24
    }
}

/// The result of a scan: documents in input order with their cluster assignment.
#[derive(Debug)]
pub struct ScanReport {
    /// Valid documents in input order.
    pub docs: Docs,
    /// One assignment per document.
    pub assignments: Vec<Assignment>,
    /// Bad records skipped (only with `skip_invalid`), as messages naming file and line.
    pub invalid: Vec<String>,
    /// Input bytes read.
    pub bytes: u64,
    /// Seconds spent reading and fingerprinting (both passes and chrome learning).
    pub sign_seconds: f64,
    /// Lines learned as chrome over the whole corpus and left out of fingerprints.
    pub chrome_lines: u64,
    /// Wall-clock seconds of the whole scan (without writing output).
    pub seconds: f64,
}

impl ScanReport {
    /// Number of valid documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True when the scan found no valid documents.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Number of clusters (singletons included).
    pub fn clusters(&self) -> usize {
        self.assignments.iter().enumerate().filter(|(doc, a)| a.origin == *doc).count()
    }

    /// Documents that are copies of another (in a cluster, not its origin).
    pub fn duplicates(&self) -> usize {
        self.docs.len() - self.clusters()
    }

    /// The kind each document gets against its origin.
    pub fn kind(&self, doc: usize, config: &DetectorConfig) -> CopyKind {
        let assignment = &self.assignments[doc];
        if assignment.origin == doc {
            return CopyKind::NewStory;
        }
        // A member may be linked to the origin only through other members, so the kind
        // follows the Jaccard threshold rather than requiring a direct copy link.
        if assignment.to_origin.jaccard >= config.jaccard_threshold {
            CopyKind::Duplicate
        } else {
            CopyKind::PartialCopy
        }
    }

    /// One-line human summary.
    pub fn summary(&self) -> String {
        let mb = self.bytes as f64 / 1e6;
        let invalid = if self.invalid.is_empty() {
            String::new()
        } else {
            format!(", {} invalid skipped", self.invalid.len())
        };
        format!(
            "{} documents, {} clusters, {} duplicates, {} chrome lines ignored{invalid}; \
             {:.2} s (read+sign {:.2} s), {:.1} MB/s",
            self.docs.len(),
            self.clusters(),
            self.duplicates(),
            self.chrome_lines,
            self.seconds,
            self.sign_seconds,
            mb / self.seconds.max(1e-9),
        )
    }
}

/// Articles parsed per batch before their input pages are released.
const PARSE_BATCH: usize = 8192;

/// Page size the released ranges are aligned to (`madvise` needs aligned starts; a
/// larger power of two is safe on any page size up to it).
const RELEASE_ALIGN: usize = 1 << 16;

/// Scans `paths` with `config`.
///
/// Chrome is learned from the whole corpus before any document is signed, in two passes
/// over the memory-mapped input, each in batches (parallel within a batch) whose mapped
/// pages are released once done: the first parses, checks ids and counts each batch's
/// normalized lines into the chrome model; the second parses and normalizes again and
/// signs what is not chrome. Normalizing twice costs less than keeping every normalized
/// text (about 2 KB an article) between the passes. Without chrome learning one pass
/// does it all.
pub fn scan(
    paths: &[PathBuf],
    config: &DetectorConfig,
    options: &ScanOptions,
) -> Result<ScanReport> {
    let started = Instant::now();
    let fingerprinter = Fingerprinter::new(config.clone())?;
    let inputs: Vec<Input> = paths
        .iter()
        .map(|p| open(p, options.format))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let bytes: u64 = inputs.iter().map(|i| i.bytes.len() as u64).sum();
    let learn = config.boilerplate.enabled;
    let passes = if learn { 2 } else { 1 };
    let name = if learn { "learning chrome" } else { "reading and signing" };
    options.report(Progress::Pass { name, number: 1, of: passes, bytes });

    let units: Vec<(usize, crate::scan::input::Span<'_>)> = inputs
        .iter()
        .enumerate()
        .flat_map(|(ix, input)| input.spans().into_iter().map(move |span| (ix, span)))
        .collect();
    let sampled = config.sampled_containment;
    let mut shards: Vec<ChromeModel> = if learn {
        (0..ChromeModel::SHARDS).map(|_| ChromeModel::new(&config.boilerplate)).collect()
    } else {
        Vec::new()
    };
    let mut docs = Docs::new(config.num_perm);
    let mut unit_of: Vec<u32> = Vec::new();
    let mut chrome_lines = 0u64;
    let mut samples = ShingleSets::default();
    let mut invalid = Vec::new();
    let mut ids = IdIndex::default();
    let mut source_index: HashMap<String, u32> = HashMap::new();
    let mut pages = PageRelease::new(&inputs);
    let parse = |&(ix, span): &(usize, crate::scan::input::Span<'_>)| -> Result<Parsed> {
        let input = &inputs[ix];
        let record = input.parse(span, &options.fields)?;
        let bad = |e: Error| Error::BadRecord {
            path: input.path.clone(),
            line: span.line,
            reason: e.to_string(),
        };
        crate::detector::validate_id(&record.id).map_err(bad)?;
        let source = record.source.as_deref().unwrap_or("");
        let prepared = fingerprinter.prepare(&record.text, source).map_err(bad)?;
        Ok(Parsed {
            id: record.id.into_owned(),
            source: record.source.map(|s| s.into_owned()),
            published: record.date.as_deref().and_then(parse_date),
            text_hash: crate::detector::text_hash(&record.text),
            prepared,
        })
    };
    // Pass 1.
    for (batch_no, batch) in units.chunks(PARSE_BATCH).enumerate() {
        let parsed: Vec<Result<Parsed>> = batch.par_iter().with_min_len(64).map(parse).collect();
        let mut kept: Vec<Parsed> = Vec::with_capacity(parsed.len());
        for (offset, result) in parsed.into_iter().enumerate() {
            let unit = batch_no * PARSE_BATCH + offset;
            let (ix, span) = units[unit];
            let result = result.and_then(|doc| match ids.find(&docs, &doc.id) {
                Some(first) => {
                    let (first_ix, first_span) = units[unit_of[first] as usize];
                    Err(Error::BadRecord {
                        path: inputs[ix].path.clone(),
                        line: span.line,
                        reason: format!(
                            "duplicate id {:?}, first seen at {}:{}",
                            doc.id,
                            inputs[first_ix].path.display(),
                            first_span.line
                        ),
                    })
                }
                None => Ok(doc),
            });
            match result {
                Ok(mut doc) => {
                    ids.insert(&doc.id, docs.len());
                    docs.id_bytes.push_str(&doc.id);
                    docs.id_ends.push(docs.id_bytes.len());
                    let source = match doc.source.take() {
                        Some(name) => match source_index.get(&name) {
                            Some(&source) => source,
                            None => {
                                let source = docs.source_names.len() as u32;
                                source_index.insert(name.clone(), source);
                                docs.source_names.push(name);
                                source
                            }
                        },
                        None => NO_SOURCE,
                    };
                    docs.sources.push(source);
                    docs.published.push(doc.published);
                    docs.text_hashes.push(doc.text_hash);
                    unit_of.push(unit as u32);
                    kept.push(doc);
                }
                Err(error) if options.skip_invalid => invalid.push(error.to_string()),
                Err(error) => return Err(error),
            }
        }
        if learn {
            let profiles: Vec<&LineProfile> =
                kept.iter().map(|doc| &doc.prepared.profile).collect();
            let keys: Vec<DocKeys> =
                profiles.par_iter().with_min_len(64).map(|doc| DocKeys::new(doc)).collect();
            let keys = ShardKeys::from(keys);
            shards
                .par_iter_mut()
                .enumerate()
                .for_each(|(shard, model)| model.observe_keys_of_shard(&keys, shard));
        } else {
            let signed: Vec<SignedDoc> = kept
                .par_iter()
                .with_min_len(16)
                .map(|doc| {
                    let signed = fingerprinter.sign(&doc.prepared, None);
                    SignedDoc::new(&doc.prepared, signed, sampled, options)
                })
                .collect();
            for signed in signed {
                docs.push_signed(signed, &mut samples, &mut chrome_lines, sampled, options);
            }
        }
        options.report(Progress::Read(batch_bytes(batch)));
        pages.done_with(batch);
    }
    drop((ids, source_index));
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "read, chrome learned");

    // Pass 2: sign, leaving out the chrome of the finished model.
    if learn {
        let model = ChromeModel::from_shards(&config.boilerplate, shards);
        let mut pages = PageRelease::new(&inputs);
        options.report(Progress::Pass { name: "signing", number: 2, of: 2, bytes });
        for batch in unit_of.chunks(PARSE_BATCH) {
            let signed: Vec<SignedDoc> = batch
                .par_iter()
                .with_min_len(16)
                .map(|&unit| {
                    let (ix, span) = units[unit as usize];
                    let record = inputs[ix].parse(span, &options.fields)?;
                    let source = record.source.as_deref().unwrap_or("");
                    let prepared = fingerprinter.prepare(&record.text, source)?;
                    let signed = fingerprinter.sign(&prepared, Some(&model));
                    Ok(SignedDoc::new(&prepared, signed, sampled, options))
                })
                .collect::<Result<_>>()?;
            for signed in signed {
                docs.push_signed(signed, &mut samples, &mut chrome_lines, sampled, options);
            }
            let spans: Vec<_> = batch.iter().map(|&unit| units[unit as usize]).collect();
            options.report(Progress::Read(batch_bytes(&spans)));
            pages.done_with(&spans);
        }
    }
    drop(unit_of);
    drop(units);
    let sign_seconds = started.elapsed().as_secs_f64();
    tracing::debug!(seconds = sign_seconds, "signed");
    options.report(Progress::Clustering);

    let hasher = fingerprinter.hasher();
    let sample_source = ScanSamples { sets: &samples, lanes: &docs.lanes, hasher };
    let samples_ref = sampled.then_some(&sample_source as &dyn SampledContainment);
    let assignments =
        cluster_signatures(config, &docs.lanes, &docs.sizes, samples_ref, &docs.published);
    options.report(Progress::Done);
    Ok(ScanReport {
        chrome_lines,
        docs,
        assignments,
        invalid,
        bytes,
        sign_seconds,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Releases an input's mapped pages behind a pass that reads it in order.
struct PageRelease<'a> {
    inputs: &'a [Input],
    released: Vec<usize>,
}

impl<'a> PageRelease<'a> {
    fn new(inputs: &'a [Input]) -> Self {
        PageRelease { inputs, released: vec![0; inputs.len()] }
    }

    /// The pass is done with `spans` (in input order): release the whole pages before
    /// the last one's start.
    fn done_with(&mut self, spans: &[(usize, crate::scan::input::Span<'_>)]) {
        for &(ix, span) in spans {
            let input = &self.inputs[ix];
            let end = span.bytes.as_ptr() as usize - input.bytes.as_ptr() as usize;
            let end = end & !(RELEASE_ALIGN - 1);
            if end > self.released[ix] {
                input.release(self.released[ix]..end);
                self.released[ix] = end;
            }
        }
    }
}

impl Docs {
    /// Appends the signature of the next document (in order) and what goes with it.
    fn push_signed(
        &mut self,
        signed: SignedDoc,
        samples: &mut ShingleSets,
        chrome_lines: &mut u64,
        sampled: bool,
        options: &ScanOptions,
    ) {
        self.lanes.extend_from_slice(&signed.lanes);
        self.sizes.push(signed.shingle_count);
        *chrome_lines += u64::from(signed.chrome_count);
        if sampled {
            samples.push(&signed.shingles);
        }
        if options.explain {
            self.chrome.push(signed.chrome_text);
        }
    }
}

/// An article after the text stage, before its batch is signed.
struct Parsed {
    id: String,
    source: Option<String>,
    published: Option<i64>,
    text_hash: u64,
    prepared: Prepared,
}

/// What a scan keeps of one signing.
struct SignedDoc {
    lanes: Box<[u32]>,
    shingle_count: u32,
    /// Lines left out as chrome (none when too little would be left).
    chrome_count: u32,
    /// The low 32 bits of each shingle hash, sorted and distinct (sampled containment).
    shingles: Vec<u32>,
    /// Chrome lines' text, when explaining.
    chrome_text: Vec<String>,
}

impl SignedDoc {
    fn new(
        prepared: &Prepared,
        signed: crate::fingerprint::Signed,
        sampled: bool,
        options: &ScanOptions,
    ) -> Self {
        let chrome_text = if options.explain {
            let lines: Vec<&str> = prepared.normalized.lines().collect();
            signed.chrome_lines.iter().map(|&i| lines[i as usize].to_owned()).collect()
        } else {
            Vec::new()
        };
        let shingles = if sampled {
            let mut low: Vec<u32> = signed.shingles.iter().map(|&h| h as u32).collect();
            low.sort_unstable();
            low.dedup();
            low
        } else {
            Vec::new()
        };
        SignedDoc {
            lanes: signed.fingerprint.signature.0,
            shingle_count: signed.fingerprint.shingle_count,
            chrome_count: signed.chrome_lines.len() as u32,
            shingles,
            chrome_text,
        }
    }
}

/// Every document's shingle set (low 32 bits, sorted) in one flat array, for sampled
/// containment.
#[derive(Debug, Default)]
struct ShingleSets {
    shingles: Vec<u32>,
    ends: Vec<usize>,
}

impl ShingleSets {
    fn push(&mut self, shingles: &[u32]) {
        self.shingles.extend_from_slice(shingles);
        self.ends.push(self.shingles.len());
    }

    fn get(&self, doc: usize) -> &[u32] {
        let start = if doc == 0 { 0 } else { self.ends[doc - 1] };
        &self.shingles[start..self.ends[doc]]
    }
}

/// Sampled containment over a scan's shingle sets; the lane minima of the shorter
/// document are recovered from its signature when needed rather than stored.
struct ScanSamples<'a> {
    sets: &'a ShingleSets,
    lanes: &'a [u32],
    hasher: &'a crate::minhash::MinHasher,
}

/// Lane minima recovered from one signature, keyed by signature array and slot.
type CachedMinima = ((usize, Slot), Box<[u32]>);

thread_local! {
    /// Per thread, the lane minima last recovered: a short text is usually sampled
    /// against several longer copies in a row.
    static MINIMA: std::cell::RefCell<Vec<CachedMinima>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Minima kept per thread.
const MINIMA_CACHED: usize = 8;

impl SampledContainment for ScanSamples<'_> {
    fn contained_in(&self, short: Slot, long: Slot) -> f64 {
        let key = (self.lanes.as_ptr() as usize, short);
        let set = self.sets.get(long as usize);
        MINIMA.with(|cache| {
            let cache = &mut *cache.borrow_mut();
            if let Some((_, minima)) = cache.iter().find(|(k, _)| *k == key) {
                return crate::cluster::sampled_containment(minima, set);
            }
            let width = self.hasher.num_perm();
            let lanes = &self.lanes[short as usize * width..(short as usize + 1) * width];
            let minima = ShingleSample::minima(self.hasher, lanes);
            let contained = crate::cluster::sampled_containment(&minima, set);
            if cache.len() == MINIMA_CACHED {
                cache.remove(0);
            }
            cache.push((key, minima));
            contained
        })
    }
}

/// Ids seen so far, by hash, checked against the id arena (so no id is stored twice).
#[derive(Debug, Default)]
struct IdIndex {
    first: HashMap<u64, usize>,
    /// Ids whose hash another id took first (practically never).
    collided: HashMap<String, usize>,
}

impl IdIndex {
    fn hash(id: &str) -> u64 {
        gxhash::gxhash64(id.as_bytes(), 0x6964)
    }

    fn find(&self, docs: &Docs, id: &str) -> Option<usize> {
        match self.first.get(&Self::hash(id)) {
            Some(&doc) if docs.id(doc) == id => Some(doc),
            Some(_) => self.collided.get(id).copied(),
            None => None,
        }
    }

    fn insert(&mut self, id: &str, doc: usize) {
        match self.first.entry(Self::hash(id)) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(doc);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(id.to_owned(), doc);
            }
        }
    }
}

/// The Jaccard view takes at most this many of a document's nearest earlier members of
/// one bucket, as the online detector walks at most 128 per bucket. Over 28 bands that
/// is still up to 224 candidates a document; 32 (the bound before issue 6) made about 70
/// per document on a corpus whose stories have ~90 copies, nearly all of them copies
/// already joined by the time their turn came. synd-dev's output is the same byte for
/// byte with 8 and 32; on the 100k benchmark corpus 23 of 103,225 documents change cluster.
const JACCARD_PER_BAND: usize = 8;

/// The containment view pairs a document only with documents at least this many times
/// longer. Closer sizes need no second view: a pair whose shorter member is half
/// contained in the longer has Jaccard at least 0.5 / (1 + 1.5 - 0.5) = 0.25 when the sizes
/// differ by less than this, which the Jaccard bands catch with probability 0.84 and
/// more as containment rises. This is LSH Ensemble's size
/// partitioning in its simplest form, and it spares the view the many same-size copies
/// of a widely syndicated story.
const CONTAINMENT_MIN_RATIO: f64 = 1.5;

/// The containment view takes at most this many (longest) documents from one bucket.
/// A one-row band buckets documents by a single shingle; when that shingle is common
/// (chrome not learned, a stock phrase) the bucket holds thousands of unrelated documents,
/// and when it is a story's, any few of its longer copies are enough to link an excerpt
/// to the story. Bounding the take keeps the view linear in the corpus either way.
const CONTAINMENT_PER_BAND: usize = 4;

/// Index, verify and cluster fingerprints: the part of a scan after signing. `samples`,
/// one per fingerprint, enable sampled containment.
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
    let (lanes, sizes) = crate::cluster::flatten(fingerprints);
    let samples = samples.as_ref().map(|s| s as &dyn SampledContainment);
    cluster_signatures(config, &lanes, &sizes, samples, published)
}

/// [`cluster_fingerprints`] over signatures stored one after another in `all_lanes`
/// (`num_perm` lanes each) with their shingle counts `sizes`.
pub fn cluster_signatures(
    config: &DetectorConfig,
    all_lanes: &[u32],
    sizes: &[u32],
    samples: Option<&dyn SampledContainment>,
    published: &[Option<i64>],
) -> Vec<Assignment> {
    let started = Instant::now();
    let verifier = Verifier::new(config, all_lanes, sizes, samples);
    let n = sizes.len();
    let lanes = |slot: Slot| verifier.lanes(slot);
    let jaccard_view = SortedBands::build(n, config.bands, config.rows, config.seed, lanes, |s| s);
    let containment_view = (config.containment_bands > 0).then(|| {
        let seed = config.seed.rotate_left(32);
        // Longest first.
        SortedBands::build(n, config.containment_bands, 1, seed, lanes, |s| {
            u32::MAX - sizes[s as usize]
        })
    });
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "indexed");
    let sampled = samples.is_some();
    // Pass 1, parallel: every candidate pair found, checked on its plain MinHash estimate.
    // Pairs that estimate decides are kept with their equal-lane count; pairs in the
    // sampling window are kept undecided. Documents are visited story by story (see
    // `SortedBands::locality_order`), so consecutive documents mostly share candidates and
    // their lanes stay in cache.
    let order = jaccard_view.locality_order(n);
    // An undecided pair's link, sampled: the pair as found, or else (when both ends
    // found it) the other way round, as the scan always oriented links.
    let resolve = |c: &Candidate| -> Option<Link> {
        let link = |a: Slot, b: Slot| {
            let similarity = verifier.similarity(a, b);
            similarity.copy_kind(config).map(|_| Link { a, b, similarity })
        };
        link(c.a, c.b).or_else(|| {
            let both = c.flags & MAYBE_BOTH != 0 && finds_by_jaccard(c.b, c.a, &jaccard_view);
            if both { link(c.b, c.a) } else { None }
        })
    };
    // What one run of documents found: decided pairs, undecided pairs, links sampled now.
    #[derive(Default)]
    struct Found {
        decided: Vec<Candidate>,
        pending: Vec<Candidate>,
        sampled: Vec<Link>,
    }
    let examine = |slot: Slot, scratch: &mut CandidateSet, found: &mut Found| {
        let candidates =
            candidates_of(slot, &jaccard_view, containment_view.as_ref(), sizes, scratch);
        for (i, &other) in candidates.iter().enumerate() {
            // Candidates' signatures lie anywhere in the array: ask for the one a few
            // places ahead while this one is compared.
            if let Some(&ahead) = candidates.get(i + PREFETCH_AHEAD) {
                prefetch(lanes(ahead));
            }
            // A pair can be found from both ends: by the later (or shorter) document
            // through the Jaccard view and by the shorter through the containment view.
            // The scan keeps one link per pair, from its smaller slot when both ends find
            // it and the link verifies that way round. The smaller slot is the shorter,
            // which found the pair through the containment view; so the later document
            // leaves such a pair to it.
            if other < slot && finds_by_containment(other, slot, containment_view.as_ref(), sizes) {
                continue;
            }
            let equal = count_equal(lanes(slot), lanes(other));
            let (size_a, size_b) = (sizes[slot as usize], sizes[other as usize]);
            let plain = plain_similarity(equal, config.num_perm, size_a, size_b);
            if sampled && needs_sampling(config, &plain, size_a, size_b) {
                let whole =
                    Similarity::from_containment(1.0, size_a.min(size_b), size_a.max(size_b));
                let flags = if other > slot { PENDING | MAYBE_BOTH } else { PENDING };
                let candidate =
                    Candidate { key: whole.jaccard, a: slot, b: other, equal: 0, flags };
                // A pair whose sample could make it a duplicate by Jaccard would have its
                // turn among the duplicates, before most documents are joined: sample it
                // now, in parallel. Below, its turn comes after them, and most such pairs
                // (excerpts of a story whose copies are joined by then) are never sampled.
                if whole.jaccard >= config.jaccard_threshold {
                    found.sampled.extend(resolve(&candidate));
                } else {
                    found.pending.push(candidate);
                }
            } else if plain.copy_kind(config).is_some() {
                let key = plain.containment_of_shorter();
                found.decided.push(Candidate {
                    key,
                    a: slot,
                    b: other,
                    equal: equal as u16,
                    flags: 0,
                });
            }
        }
    };
    let (mut decided, mut pending, mut early) = (Vec::new(), Vec::new(), Vec::new());
    // Stretch by stretch, so that collecting in parallel never holds a second copy of
    // the whole candidate list.
    for stretch in order.chunks(1 << 16) {
        let runs: Vec<Found> = stretch
            .par_chunks(64)
            .map_init(CandidateSet::default, |scratch, run| {
                let mut found = Found::default();
                for &slot in run {
                    examine(slot, scratch, &mut found);
                }
                found
            })
            .collect();
        for found in runs {
            decided.extend_from_slice(&found.decided);
            pending.extend_from_slice(&found.pending);
            early.extend_from_slice(&found.sampled);
        }
    }
    drop(order);
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        decided = decided.len(),
        pending = pending.len(),
        sampled = early.len(),
        "examined candidates"
    );
    // Pass 2: take links strongest first, exactly in `link_order`. A decided pair's place
    // is known from its estimate; an undecided one is first placed at the strongest its
    // sampled similarity could be (whole containment), and sampled only when that turn
    // comes and its documents are not yet joined, then placed again at its true strength.
    let decided_turn = |c: &Candidate| Turn {
        jaccard: f64::from(c.equal) / config.num_perm as f64,
        containment: c.key,
        a: c.a,
        b: c.b,
    };
    let pending_turn =
        |c: &Candidate| Turn { jaccard: c.key, containment: f64::INFINITY, a: c.a, b: c.b };
    decided.par_sort_unstable_by(|x, y| {
        y.equal.cmp(&x.equal).then(y.key.total_cmp(&x.key)).then((x.a, x.b).cmp(&(y.a, y.b)))
    });
    pending.par_sort_unstable_by(|x, y| y.key.total_cmp(&x.key).then((x.a, x.b).cmp(&(y.a, y.b))));
    let early_turn = |l: &Link| Turn::of(l.a, l.b, &l.similarity);
    early.par_sort_unstable_by(|x, y| early_turn(x).cmp(&early_turn(y)));
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "sorted candidates");
    let mut clusterer = Clusterer::new(&verifier, published);
    let mut resolved: BinaryHeap<std::cmp::Reverse<Resolved>> = BinaryHeap::new();
    let (mut next_decided, mut next_pending, mut next_early) = (0, 0, 0);
    let mut sampled_pairs = 0usize;
    let mut sampled_ahead: Vec<Option<Option<Link>>> = Vec::new();
    let mut marked_until = 0;
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
        while next_decided < decided.len() {
            if next_decided == marked_until {
                // Links whose documents are joined already change nothing when their
                // turn comes: mark the next block's in parallel, so that the
                // sequential walk passes them by without a lookup.
                marked_until = (next_decided + SKIP_BLOCK).min(decided.len());
                let clusterer = &clusterer;
                decided[next_decided..marked_until].par_iter_mut().with_min_len(4096).for_each(
                    |c| {
                        if clusterer.joined_now(c.a, c.b) {
                            c.flags |= JOINED;
                        }
                    },
                );
            }
            let c = decided[next_decided];
            // A joined link is passed by wherever it falls: at its turn it would do nothing.
            if c.flags & JOINED == 0 {
                if other.is_some_and(|(_, t)| decided_turn(&c).cmp(&t).is_gt()) {
                    break;
                }
                if !clusterer.joined(c.a, c.b) {
                    let similarity = plain_similarity(
                        u32::from(c.equal),
                        config.num_perm,
                        sizes[c.a as usize],
                        sizes[c.b as usize],
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
                        .map(|c| (!clusterer.joined_now(c.a, c.b)).then(|| resolve(c)))
                        .collect_into_vec(&mut sampled_ahead);
                }
                let c = pending[next_pending];
                let ahead = sampled_ahead[next_pending % SKIP_BLOCK].take();
                next_pending += 1;
                if clusterer.joined(c.a, c.b) {
                    continue;
                }
                sampled_pairs += 1;
                if let Some(link) = ahead.unwrap_or_else(|| resolve(&c)) {
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
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), sampled = sampled_pairs, "linked");
    drop((decided, pending, early));
    let mut assignments = clusterer.finish();
    assignments
        .par_iter_mut()
        .enumerate()
        .for_each(|(doc, assignment)| assignment.fill_to_origin(&verifier, doc));
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "clustered");
    assignments
}

/// A candidate pair of [`cluster_fingerprints`]'s first pass.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// Its sort key after the equal lanes: a decided pair's containment of the shorter,
    /// an undecided pair's highest possible Jaccard.
    key: f64,
    /// The document that found the pair.
    a: Slot,
    /// The other document.
    b: Slot,
    /// Equal lanes of a decided pair.
    equal: u16,
    /// [`PENDING`], [`MAYBE_BOTH`].
    flags: u8,
}

/// The plain estimate falls in the sampling window: decided only when its turn comes.
const PENDING: u8 = 1;
/// Its documents were joined before its turn (see [`SKIP_BLOCK`]).
const JOINED: u8 = 4;
/// Decided links checked in parallel for joined documents at a time.
const SKIP_BLOCK: usize = 1 << 16;
/// Found through the containment view by the earlier document: the later one may have
/// found it too, and its orientation counts when this one fails.
const MAYBE_BOTH: u8 = 2;

/// Where a link comes in [`link_order`]: stronger first, ties by documents.
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

    /// `Less` is the earlier turn, as [`link_order`] orders links.
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

/// The plain MinHash similarity of a pair with `equal` equal lanes out of `lanes`, as
/// [`Similarity::of`] computes it.
fn plain_similarity(equal: u32, lanes: usize, size_a: u32, size_b: u32) -> Similarity {
    let jaccard = if lanes == 0 { 0.0 } else { f64::from(equal) / lanes as f64 };
    Similarity {
        jaccard,
        containment: estimate_containment(jaccard, size_a, size_b),
        containment_rev: estimate_containment(jaccard, size_b, size_a),
    }
}

/// Whether `later` finds the earlier `earlier` among its nearest members of a Jaccard bucket.
fn finds_by_jaccard(later: Slot, earlier: Slot, view: &SortedBands) -> bool {
    (0..view.bands()).any(|band| view.is_near_before(later, earlier, band, JACCARD_PER_BAND))
}

/// Whether `short` finds `long` through the containment view (see [`candidates_of`]).
fn finds_by_containment(
    short: Slot,
    long: Slot,
    view: Option<&SortedBands>,
    sizes: &[u32],
) -> bool {
    let Some(view) = view else { return false };
    let longer = f64::from(sizes[short as usize]) * CONTAINMENT_MIN_RATIO;
    f64::from(sizes[long as usize]) >= longer
        && (0..view.bands()).any(|band| view.is_leading(short, long, band, CONTAINMENT_PER_BAND))
}

/// The distinct candidates of `slot`: earlier documents sharing a Jaccard band, and
/// documents at least [`CONTAINMENT_MIN_RATIO`] times longer sharing a containment band.
fn candidates_of<'s>(
    slot: Slot,
    jaccard_view: &SortedBands,
    containment_view: Option<&SortedBands>,
    sizes: &[u32],
    set: &'s mut CandidateSet,
) -> &'s [Slot] {
    set.clear();
    for band in 0..jaccard_view.bands() {
        // The nearest earlier members only: a bucket of thousands of copies of one
        // story is linked as well through each member's nearest few, and walking it
        // whole would make clustering quadratic in the copies per story.
        let before = jaccard_view.before(slot, band);
        for &other in &before[before.len().saturating_sub(JACCARD_PER_BAND)..] {
            set.insert(other);
        }
    }
    if let Some(view) = containment_view {
        let longer = f64::from(sizes[slot as usize]) * CONTAINMENT_MIN_RATIO;
        for band in 0..view.bands() {
            // Members come longest first: stop at the first too short.
            let bucket = view.before(slot, band);
            let containers =
                bucket.iter().take_while(|&&other| f64::from(sizes[other as usize]) >= longer);
            for &other in containers.take(CONTAINMENT_PER_BAND) {
                set.insert(other);
            }
        }
    }
    &set.found
}

/// One document's candidates, each kept once: a copy found in many bands is listed
/// once. An open-addressing table stamped with a generation, so that clearing it per
/// document costs nothing (sorting the few hundred found cost a tenth of clustering).
struct CandidateSet {
    /// `generation << 32 | slot` per used entry.
    table: Box<[u64]>,
    generation: u32,
    found: Vec<Slot>,
}

impl Default for CandidateSet {
    fn default() -> Self {
        // Above twice the most a document finds at defaults (28 x 8 + 32 x 4), so
        // probes stay short; it grows for larger configs.
        CandidateSet { table: vec![0; 1024].into_boxed_slice(), generation: 0, found: Vec::new() }
    }
}

impl CandidateSet {
    fn clear(&mut self) {
        self.found.clear();
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Stamps would repeat: start over from a clean table.
            self.table.fill(0);
            self.generation = 1;
        }
    }

    fn insert(&mut self, slot: Slot) {
        if (self.found.len() + 1) * 2 > self.table.len() {
            self.grow();
        }
        let stamp = u64::from(self.generation) << 32 | u64::from(slot);
        let mask = self.table.len() - 1;
        let mut at = Self::home(slot, mask);
        loop {
            let entry = self.table[at];
            if entry == stamp {
                return;
            }
            if entry >> 32 != u64::from(self.generation) {
                self.table[at] = stamp;
                self.found.push(slot);
                return;
            }
            at = (at + 1) & mask;
        }
    }

    fn home(slot: Slot, mask: usize) -> usize {
        (u64::from(slot).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize & mask
    }

    /// Doubles the table (a config with more bands than the default finds more).
    fn grow(&mut self) {
        self.table = vec![0; self.table.len() * 2].into_boxed_slice();
        let mask = self.table.len() - 1;
        for &slot in &self.found {
            let mut at = Self::home(slot, mask);
            while self.table[at] >> 32 == u64::from(self.generation) {
                at = (at + 1) & mask;
            }
            self.table[at] = u64::from(self.generation) << 32 | u64::from(slot);
        }
    }
}

/// Candidates whose signature is fetched ahead of its comparison.
const PREFETCH_AHEAD: usize = 4;

/// Asks the cache for a signature that is about to be compared.
fn prefetch(lanes: &[u32]) {
    #[cfg(target_arch = "x86_64")]
    for line in lanes.chunks(16) {
        // SAFETY: prefetching is a hint with no effect on memory; SSE is part of x86-64.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = lanes;
}

/// Writes the scanned articles and their batch clusters as a data directory that
/// `neardup serve --data-dir` opens; returns the number of articles written.
pub fn save(
    report: &ScanReport,
    config: &DetectorConfig,
    dir: &Path,
    ingested_at: i64,
) -> Result<u64> {
    let mut writer = crate::store::BulkWriter::create(dir, config)?;
    for (ix, assignment) in report.assignments.iter().enumerate() {
        let docs = &report.docs;
        let article = crate::detector::StoredArticle {
            id: docs.id(ix),
            source: docs.source(ix).unwrap_or(""),
            published: docs.published(ix),
            text_hash: docs.text_hash(ix),
            lanes: docs.lanes(ix),
            shingle_count: docs.shingle_count(ix),
            kind: report.kind(ix, config),
            cluster_id: docs.id(assignment.origin),
        };
        writer.append(&article, ingested_at)?;
    }
    writer.finish()
}

/// Input bytes of `spans`, each with its line end.
fn batch_bytes(spans: &[(usize, crate::scan::input::Span<'_>)]) -> u64 {
    spans.iter().map(|(_, span)| span.bytes.len() as u64 + 1).sum()
}

#[derive(Serialize)]
struct DocLine<'a> {
    id: &'a str,
    cluster: &'a str,
    origin: &'a str,
    kind: CopyKind,
    jaccard: f64,
    containment: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    explain: Option<Explain<'a>>,
}

/// Why a document sits where it does.
#[derive(Serialize)]
struct Explain<'a> {
    /// Similarity to the cluster's origin.
    to_origin: Scores,
    /// The strongest accepted link that put it in its cluster.
    link: Option<LinkLine<'a>>,
    /// Shingles its fingerprint was computed from (chrome left out).
    shingles: u32,
    /// Lines left out as chrome (normalized text).
    chrome_ignored: &'a [String],
}

#[derive(Serialize)]
struct Scores {
    jaccard: f64,
    /// Share of this document found in the other.
    containment: f64,
    /// Share of the other document found in this one.
    containment_rev: f64,
}

impl From<Similarity> for Scores {
    fn from(s: Similarity) -> Self {
        Scores {
            jaccard: round4(s.jaccard),
            containment: round4(s.containment),
            containment_rev: round4(s.containment_rev),
        }
    }
}

#[derive(Serialize)]
struct LinkLine<'a> {
    id: &'a str,
    #[serde(flatten)]
    scores: Scores,
}

#[derive(Serialize)]
struct ClusterLine<'a> {
    cluster: &'a str,
    size: usize,
    origin: &'a str,
    members: Vec<&'a str>,
}

/// Documents formatted per parallel task when writing.
const WRITE_BLOCK: usize = 8192;

/// Writes one JSON line per document, in input order; with `explain`, each line also
/// says why (see `neardup scan --explain`). Lines are formatted in parallel blocks and
/// written in order, so the sequential part is only the write itself.
pub fn write_assignments(
    report: &ScanReport,
    config: &DetectorConfig,
    explain: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let n = report.assignments.len();
    let blocks: Vec<Range<usize>> =
        (0..n).step_by(WRITE_BLOCK).map(|s| s..(s + WRITE_BLOCK).min(n)).collect();
    let format_block = |range: &Range<usize>| -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(range.len() * 128);
        for doc in range.clone() {
            let assignment = &report.assignments[doc];
            let docs = &report.docs;
            let origin = docs.id(assignment.origin);
            let explain = explain.then(|| Explain {
                to_origin: assignment.to_origin.into(),
                link: assignment.link.map(|(other, similarity)| LinkLine {
                    id: docs.id(other),
                    scores: similarity.into(),
                }),
                shingles: docs.shingle_count(doc),
                chrome_ignored: docs.chrome(doc),
            });
            let line = DocLine {
                id: docs.id(doc),
                cluster: origin,
                origin,
                kind: report.kind(doc, config),
                jaccard: round4(assignment.to_origin.jaccard),
                containment: round4(assignment.to_origin.containment),
                explain,
            };
            serde_json::to_writer(&mut buf, &line)?;
            buf.push(b'\n');
        }
        Ok(buf)
    };
    for group in blocks.chunks(4 * rayon::current_num_threads()) {
        let formatted: Vec<std::io::Result<Vec<u8>>> = group.par_iter().map(format_block).collect();
        for block in formatted {
            out.write_all(&block?)?;
        }
    }
    out.flush()
}

/// Writes one JSON line per cluster (largest first, then by origin's input order).
pub fn write_clusters(report: &ScanReport, out: &mut dyn Write) -> std::io::Result<()> {
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    for (doc, assignment) in report.assignments.iter().enumerate() {
        members.entry(assignment.origin).or_default().push(doc);
    }
    let mut clusters: Vec<(usize, Vec<usize>)> = members.into_iter().collect();
    clusters.sort_by(|(oa, a), (ob, b)| b.len().cmp(&a.len()).then(oa.cmp(ob)));
    for (origin, docs) in clusters {
        let origin_id = report.docs.id(origin);
        let line = ClusterLine {
            cluster: origin_id,
            size: docs.len(),
            origin: origin_id,
            members: docs.iter().map(|&d| report.docs.id(d)).collect(),
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minhash::MinHasher;

    proptest::proptest! {
        /// The candidate set keeps each slot once, in first-found order, across many
        /// documents (generations) and past its initial table size.
        #[test]
        fn candidate_set_lists_each_slot_once(
            docs in proptest::collection::vec(proptest::collection::vec(0u32..3000, 0..1500), 1..4),
        ) {
            let mut set = CandidateSet::default();
            for found in &docs {
                set.clear();
                let mut seen = std::collections::HashSet::new();
                let expected: Vec<Slot> = found.iter().copied().filter(|s| seen.insert(*s)).collect();
                for &slot in found {
                    set.insert(slot);
                }
                proptest::prop_assert_eq!(&set.found, &expected);
            }
        }
    }

    /// Documents cut from a few stories at many sizes, with noise: pairs of every
    /// containment, many close to the thresholds where sampling decides.
    fn corpus(config: &DetectorConfig) -> (Vec<Fingerprint>, Vec<ShingleSample>) {
        let hasher = MinHasher::new(config.num_perm, config.seed);
        let mut state = 7u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 11
        };
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

    /// The clustering as the scan did it before links were taken lazily: every candidate
    /// verified (sampling included), one link per pair (the smaller slot's orientation
    /// when both verify), all sorted, then [`crate::cluster::cluster_links`].
    fn eager(
        config: &DetectorConfig,
        fingerprints: &[Fingerprint],
        samples: Option<&[ShingleSample]>,
        published: &[Option<i64>],
    ) -> Vec<Assignment> {
        let (lanes, sizes) = crate::cluster::flatten(fingerprints);
        let slice = samples.unwrap_or_default();
        let source = samples.is_some().then_some(&slice as &dyn SampledContainment);
        let verifier = Verifier::new(config, &lanes, &sizes, source);
        let n = sizes.len();
        let view_lanes = |slot: Slot| verifier.lanes(slot);
        let jaccard_view =
            SortedBands::build(n, config.bands, config.rows, config.seed, view_lanes, |s| s);
        let seed = config.seed.rotate_left(32);
        let containment_view =
            SortedBands::build(n, config.containment_bands, 1, seed, view_lanes, |s| {
                u32::MAX - sizes[s as usize]
            });
        let mut links = Vec::new();
        let mut set = CandidateSet::default();
        for slot in 0..n as Slot {
            let containers = Some(&containment_view);
            for &other in candidates_of(slot, &jaccard_view, containers, &sizes, &mut set) {
                let similarity = verifier.similarity(slot, other);
                if similarity.copy_kind(config).is_some() {
                    links.push(Link { a: slot, b: other, similarity });
                }
            }
        }
        links.sort_by_key(|l| (l.a.min(l.b), l.a.max(l.b), l.a));
        links.dedup_by_key(|l| (l.a.min(l.b), l.a.max(l.b)));
        let mut assignments = crate::cluster::cluster_links(&verifier, published, links);
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
    fn candidate_set_survives_its_generation_wrapping() {
        let mut set = CandidateSet { generation: u32::MAX - 1, ..CandidateSet::default() };
        for round in 0..4u32 {
            set.clear();
            for slot in [7, 9, 7, round, 9] {
                set.insert(slot);
            }
            let mut expected = vec![7, 9];
            if round != 7 && round != 9 {
                expected.push(round);
            }
            assert_eq!(set.found, expected, "round {round}");
        }
    }

    #[test]
    fn id_index_tells_duplicates_from_hash_collisions() {
        let mut docs = Docs::new(16);
        let mut index = IdIndex::default();
        for (doc, id) in ["a", "b"].into_iter().enumerate() {
            assert_eq!(index.find(&docs, id), None);
            index.insert(id, doc);
            docs.id_bytes.push_str(id);
            docs.id_ends.push(docs.id_bytes.len());
        }
        assert_eq!(index.find(&docs, "b"), Some(1));
        // "c" as if its hash were taken by "a": not a duplicate, and found after insert.
        index.first.insert(IdIndex::hash("c"), 0);
        assert_eq!(index.find(&docs, "c"), None);
        index.insert("c", 2);
        docs.id_bytes.push('c');
        docs.id_ends.push(docs.id_bytes.len());
        assert_eq!(index.find(&docs, "c"), Some(2));
        assert_eq!(index.find(&docs, "a"), Some(0));
        assert_eq!((docs.id(0), docs.id(1), docs.id(2)), ("a", "b", "c"));
    }

    #[test]
    fn shingle_sets_are_found_again() {
        let mut sets = ShingleSets::default();
        sets.push(&[1, 5, 9]);
        sets.push(&[]);
        sets.push(&[2, 3]);
        assert_eq!(sets.get(0), [1, 5, 9]);
        assert_eq!(sets.get(1), [] as [u32; 0]);
        assert_eq!(sets.get(2), [2, 3]);
    }

    #[test]
    fn scan_samples_match_stored_samples() {
        let config = DetectorConfig::default();
        let hasher = MinHasher::new(config.num_perm, config.seed);
        let (fingerprints, samples) = corpus(&config);
        let mut sets = ShingleSets::default();
        for sample in &samples {
            sets.push(&sample.shingles);
        }
        let (lanes, _) = crate::cluster::flatten(&fingerprints);
        let source = ScanSamples { sets: &sets, lanes: &lanes, hasher: &hasher };
        for (a, b) in [(0, 1), (3, 7), (10, 2), (5, 5)] {
            assert_eq!(
                source.contained_in(a, b),
                samples[a as usize].contained_in(&samples[b as usize])
            );
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
}
