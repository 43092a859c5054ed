//! The batch pipeline behind `neardup scan`: read every input (memory-mapped), parse and
//! fingerprint articles in parallel chunks, group them by LSH band, verify candidate
//! pairs, cluster with union-find and name each cluster's origin. Output writing lives
//! here too so the CLI stays a thin adapter.
//!
//! Layout, chosen for memory: documents are stored as a struct of arrays (one flat `u32`
//! signature array, ids in one string arena with `u32` offsets), so an indexed article
//! costs its signature plus a few dozen bytes. Chunks of the input are released from
//! memory as soon as they are signed, and the band index is built one band at a time.
//!
//! Clustering never verifies a pair already in one union-find set: per bucket, members
//! are kept in groups of one set, and a newcomer is compared with each other group only
//! until one member verifies. Every verified pair is either tested or already joined
//! when skipped, so the clusters are exactly the connected components of the verified
//! candidate pairs, whatever the order.

use std::collections::HashMap;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use gxhash::gxhash64;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::cluster::{Assignment, Kind, Similarity, UnionFind, origin_key};
use crate::config::DetectorConfig;
use crate::corpus::{Fields, Format, Input, open, parse_date};
use crate::detector::{StoredArticle, text_hash};
use crate::error::{Error, Result};
use crate::fingerprint::{Fingerprint, Fingerprinter};
use crate::lsh::{BandSorter, Slot};
use crate::minhash::{count_equal_bytes, estimate_containment};

/// Input bytes per unit of parallel work.
const CHUNK_BYTES: usize = 1 << 20;

/// Options of one scan besides the detector config.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// JSONL field names.
    pub fields: Fields,
    /// Force a format instead of sniffing each file.
    pub format: Option<Format>,
    /// Report bad records and carry on instead of stopping at the first.
    pub skip_invalid: bool,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// Signed documents as a struct of arrays: slot `i` is the `i`-th valid document.
#[derive(Debug, Default, Clone)]
pub struct Docs {
    num_perm: usize,
    ids: String,
    id_ends: Vec<u32>,
    /// Outlets, concatenated like the ids (empty when the corpus has none).
    sources: String,
    source_ends: Vec<u32>,
    /// [`text_hash`] of each text: a data directory (`scan --save`) needs it to tell
    /// retries from conflicting ids.
    text_hashes: Vec<u64>,
    /// Unix milliseconds, [`NO_DATE`] when unknown.
    published: Vec<i64>,
    shingle_counts: Vec<u32>,
    lanes: Vec<u32>,
}

/// Marks a document without a publication date (sorts last, like `None`).
const NO_DATE: i64 = i64::MAX;

impl Docs {
    fn new(num_perm: usize) -> Self {
        Docs { num_perm, ..Default::default() }
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.shingle_counts.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.shingle_counts.is_empty()
    }

    /// Article id of `doc`.
    pub fn id(&self, doc: usize) -> &str {
        let start = if doc == 0 { 0 } else { self.id_ends[doc - 1] as usize };
        &self.ids[start..self.id_ends[doc] as usize]
    }

    /// Outlet of `doc` (empty when unknown).
    pub fn source(&self, doc: usize) -> &str {
        let start = if doc == 0 { 0 } else { self.source_ends[doc - 1] as usize };
        &self.sources[start..self.source_ends[doc] as usize]
    }

    /// [`text_hash`] of the text of `doc`.
    pub fn text_hash(&self, doc: usize) -> u64 {
        self.text_hashes[doc]
    }

    /// Publication time of `doc` in Unix milliseconds.
    pub fn published(&self, doc: usize) -> Option<i64> {
        Some(self.published[doc]).filter(|&p| p != NO_DATE)
    }

    /// Signature lanes of `doc`.
    pub fn lanes(&self, doc: usize) -> &[u32] {
        &self.lanes[doc * self.num_perm..(doc + 1) * self.num_perm]
    }

    /// Distinct shingles of `doc`.
    pub fn shingle_count(&self, doc: usize) -> u32 {
        self.shingle_counts[doc]
    }

    /// The fingerprint of `doc` (a copy).
    pub fn fingerprint(&self, doc: usize) -> Fingerprint {
        Fingerprint {
            signature: crate::minhash::Signature(self.lanes(doc).into()),
            shingle_count: self.shingle_count(doc),
        }
    }

    /// Heap bytes held: what the scan keeps per indexed article.
    pub fn heap_bytes(&self) -> usize {
        self.ids.capacity()
            + 4 * self.id_ends.capacity()
            + self.sources.capacity()
            + 4 * self.source_ends.capacity()
            + 8 * self.text_hashes.capacity()
            + 8 * self.published.capacity()
            + 4 * self.shingle_counts.capacity()
            + 4 * self.lanes.capacity()
    }

    fn similarity(&self, a: usize, b: usize) -> Similarity {
        Similarity::of(self.lanes(a), self.shingle_count(a), self.lanes(b), self.shingle_count(b))
    }

    fn append(&mut self, other: &Docs, doc: usize) {
        self.push_id(other.id(doc));
        self.push_source(other.source(doc), other.text_hashes[doc]);
        self.published.push(other.published[doc]);
        self.shingle_counts.push(other.shingle_counts[doc]);
        self.lanes.extend_from_slice(other.lanes(doc));
    }

    fn push_id(&mut self, id: &str) {
        self.ids.push_str(id);
        self.id_ends.push(u32::try_from(self.ids.len()).expect("ids fit in 4 GiB"));
    }

    fn push_source(&mut self, source: &str, text_hash: u64) {
        self.sources.push_str(source);
        self.source_ends.push(u32::try_from(self.sources.len()).expect("sources fit in 4 GiB"));
        self.text_hashes.push(text_hash);
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
    /// Seconds spent reading, parsing and fingerprinting.
    pub sign_seconds: f64,
    /// Wall-clock seconds of the whole scan (without writing output).
    pub seconds: f64,
}

impl ScanReport {
    /// Number of valid documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True when no document was valid.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Number of clusters (singletons included).
    pub fn clusters(&self) -> usize {
        self.assignments.iter().enumerate().filter(|(doc, a)| a.origin == *doc).count()
    }

    /// Documents that are copies of another (in a cluster, not its origin).
    pub fn duplicates(&self) -> usize {
        self.len() - self.clusters()
    }

    /// The kind each document gets against its origin.
    pub fn kind(&self, doc: usize, config: &DetectorConfig) -> Kind {
        let assignment = &self.assignments[doc];
        if assignment.origin == doc {
            return Kind::NewStory;
        }
        // A member may be linked to the origin only through other members, so the kind
        // follows the Jaccard threshold rather than requiring a direct copy link.
        if assignment.to_origin.jaccard >= config.jaccard_threshold {
            Kind::Duplicate
        } else {
            Kind::PartialCopy
        }
    }

    /// Heap bytes of the documents and assignments (excluding `invalid` messages).
    pub fn heap_bytes(&self) -> usize {
        self.docs.heap_bytes() + self.assignments.capacity() * std::mem::size_of::<Assignment>()
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
            "{} documents, {} clusters, {} duplicates{invalid}; {:.2} s (read+sign {:.2} s), {:.1} MB/s",
            self.len(),
            self.clusters(),
            self.duplicates(),
            self.seconds,
            self.sign_seconds,
            mb / self.seconds.max(1e-9),
        )
    }
}

/// What one chunk of input yields: its documents, bad records and line count.
struct ChunkOut {
    docs: Docs,
    /// Line of each document, counted from 1 at the chunk's start.
    lines: Vec<u32>,
    /// Bad records, with lines counted from the chunk's start.
    errors: Vec<Error>,
    /// Newlines in the chunk, to number the next chunk's lines.
    newlines: usize,
}

/// Where each accepted document came from, for duplicate-id messages.
struct Origins {
    /// Per document: index of its input and its line.
    at: Vec<(u32, u32)>,
    /// Id hash to first document with that hash.
    by_hash: HashMap<u64, u32>,
    /// Ids whose hash collides with a different id's (practically never used).
    overflow: HashMap<Box<str>, u32>,
}

/// Scans `paths` with `config`.
pub fn scan(
    paths: &[PathBuf],
    config: &DetectorConfig,
    options: &ScanOptions,
) -> Result<ScanReport> {
    let started = Instant::now();
    let fingerprinter = Fingerprinter::new(config.clone())?;
    let mut inputs: Vec<Input> = Vec::new();
    for path in paths {
        inputs.extend(open(path, options.format)?);
    }
    let bytes: u64 = inputs.iter().map(|i| i.bytes.len() as u64).sum();
    let bar = progress_bar(options.progress, bytes);

    let chunks: Vec<(usize, Range<usize>)> = inputs
        .iter()
        .enumerate()
        .flat_map(|(ix, input)| input.chunks(CHUNK_BYTES).into_iter().map(move |r| (ix, r)))
        .collect();
    let mut docs = Docs::new(config.num_perm);
    let mut origins = Origins { at: Vec::new(), by_hash: HashMap::new(), overflow: HashMap::new() };
    let mut invalid: Vec<(usize, usize, String)> = Vec::new();
    let mut next_line = vec![1usize; inputs.len()];
    // Batches of a few chunks per thread: both cores stay busy, and at most one batch of
    // per-chunk results is alive besides the merged arrays.
    let batch = 4 * rayon::current_num_threads();
    for group in chunks.chunks(batch) {
        let outs: Vec<ChunkOut> = group
            .par_iter()
            .map(|(ix, range)| {
                let out = sign_chunk(&inputs[*ix], range.clone(), &fingerprinter, options);
                inputs[*ix].release(range.clone());
                bar.inc(range.len() as u64);
                out
            })
            .collect();
        for ((ix, _), out) in group.iter().zip(outs) {
            let first_line = next_line[*ix];
            next_line[*ix] += out.newlines;
            let mut errors: Vec<(usize, Error)> = out
                .errors
                .into_iter()
                .map(|e| shift_line(e, first_line - 1))
                .map(|e| (line_of(&e), e))
                .collect();
            for doc in 0..out.docs.len() {
                let line = first_line - 1 + out.lines[doc] as usize;
                match origins.check(&docs, &inputs, out.docs.id(doc), *ix, line) {
                    Ok(()) => {
                        docs.append(&out.docs, doc);
                        origins.at.push((*ix as u32, line as u32));
                    }
                    Err(error) => errors.push((line, error)),
                }
            }
            errors.sort_by_key(|(line, _)| *line);
            for (line, error) in errors {
                if !options.skip_invalid {
                    return Err(error);
                }
                invalid.push((*ix, line, error.to_string()));
            }
        }
    }
    drop(origins);
    bar.finish_and_clear();
    let sign_seconds = started.elapsed().as_secs_f64();
    invalid.sort_by_key(|(ix, line, _)| (*ix, *line));

    let assignments = cluster_docs(config, &docs);
    tracing::debug!(
        documents = docs.len(),
        sign_seconds,
        cluster_seconds = started.elapsed().as_secs_f64() - sign_seconds,
        heap_bytes = docs.heap_bytes(),
        "scan done"
    );
    Ok(ScanReport {
        docs,
        assignments,
        invalid: invalid.into_iter().map(|(_, _, message)| message).collect(),
        bytes,
        sign_seconds,
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl Origins {
    /// Accepts `id` unless an earlier document has it.
    fn check(
        &mut self,
        docs: &Docs,
        inputs: &[Input],
        id: &str,
        input: usize,
        line: usize,
    ) -> Result<()> {
        let next = docs.len() as u32;
        let hash = gxhash64(id.as_bytes(), 0);
        let first = match self.by_hash.get(&hash) {
            None => {
                self.by_hash.insert(hash, next);
                return Ok(());
            }
            Some(&first) if docs.id(first as usize) == id => first,
            Some(_) => match self.overflow.get(id) {
                Some(&first) => first,
                None => {
                    self.overflow.insert(id.into(), next);
                    return Ok(());
                }
            },
        };
        let (first_input, first_line) = self.at[first as usize];
        Err(Error::BadRecord {
            path: inputs[input].path.clone(),
            line,
            reason: format!(
                "duplicate id {id:?}, first seen at {}:{first_line}",
                inputs[first_input as usize].path.display()
            ),
        })
    }
}

/// Parses and fingerprints every record of one chunk.
fn sign_chunk(
    input: &Input,
    range: Range<usize>,
    fingerprinter: &Fingerprinter,
    options: &ScanOptions,
) -> ChunkOut {
    let num_perm = fingerprinter.config().num_perm;
    let (spans, newlines) = input.spans_in(range, 1);
    let mut out = ChunkOut {
        docs: Docs::new(num_perm),
        lines: Vec::with_capacity(spans.len()),
        errors: Vec::new(),
        newlines,
    };
    let docs = &mut out.docs;
    docs.lanes.reserve(spans.len() * num_perm);
    for span in spans {
        let record = match input.parse(span, &options.fields) {
            Ok(record) => record,
            Err(error) => {
                out.errors.push(error);
                continue;
            }
        };
        if let Err(error) = crate::detector::validate_id(&record.id) {
            out.errors.push(Error::BadRecord {
                path: input.path.clone(),
                line: span.line,
                reason: error.to_string(),
            });
            continue;
        }
        let start = docs.lanes.len();
        docs.lanes.resize(start + num_perm, 0);
        match fingerprinter.fingerprint_into(&record.text, &mut docs.lanes[start..]) {
            Ok(count) => {
                docs.shingle_counts.push(count);
                docs.push_id(&record.id);
                docs.push_source(record.source.as_deref().unwrap_or(""), text_hash(&record.text));
                docs.published.push(record.date.as_deref().and_then(parse_date).unwrap_or(NO_DATE));
                out.lines.push(span.line as u32);
            }
            Err(error) => {
                docs.lanes.truncate(start);
                out.errors.push(Error::BadRecord {
                    path: input.path.clone(),
                    line: span.line,
                    reason: error.to_string(),
                });
            }
        }
    }
    out
}

fn shift_line(error: Error, by: usize) -> Error {
    match error {
        Error::BadRecord { path, line, reason } => {
            Error::BadRecord { path, line: line + by, reason }
        }
        other => other,
    }
}

fn line_of(error: &Error) -> usize {
    match error {
        Error::BadRecord { line, .. } => *line,
        _ => 0,
    }
}

/// Index, verify and cluster fingerprints: the part of a scan after signing.
pub fn cluster_fingerprints(
    config: &DetectorConfig,
    fingerprints: &[Fingerprint],
    published: &[Option<i64>],
) -> Vec<Assignment> {
    let mut docs = Docs::new(config.num_perm);
    for (fp, date) in fingerprints.iter().zip(published) {
        docs.push_id("");
        docs.push_source("", 0);
        docs.published.push(date.unwrap_or(NO_DATE));
        docs.shingle_counts.push(fp.shingle_count);
        docs.lanes.extend_from_slice(fp.signature.lanes());
    }
    cluster_docs(config, &docs)
}

/// Band by band: sort the keys of the next band on one core while the other joins the
/// buckets of the current one into the union-find.
fn cluster_docs(config: &DetectorConfig, docs: &Docs) -> Vec<Assignment> {
    let n = docs.len();
    let num_perm = config.num_perm;
    // One byte per lane: equal lanes have equal low bytes, so counting equal bytes bounds
    // the equal-lane count from above at a quarter of the memory traffic. Most candidate
    // pairs that fail verification are rejected on this alone.
    let sketches: Vec<u8> = docs.lanes.par_iter().with_min_len(1 << 16).map(|&v| v as u8).collect();
    let sketch = |doc: usize| &sketches[doc * num_perm..(doc + 1) * num_perm];
    let verify = |a: Slot, b: Slot| {
        let (a, b) = (a as usize, b as usize);
        let upper = count_equal_bytes(sketch(a), sketch(b));
        // Copy decisions only grow with Jaccard, so failing at the upper bound is final.
        let optimistic = similarity_from_jaccard(
            f64::from(upper) / num_perm as f64,
            docs.shingle_count(a),
            docs.shingle_count(b),
        );
        optimistic.copy_kind(config).is_some() && docs.similarity(a, b).copy_kind(config).is_some()
    };
    let mut sets = UnionFind::new(n);
    let mut current = BandSorter::default();
    let mut upcoming = BandSorter::default();
    let mut joiner = Joiner::default();
    if config.bands > 0 {
        current.sort_band(&docs.lanes, num_perm, 0, config.rows);
    }
    for band in 0..config.bands {
        let ((), sort_seconds) = rayon::join(
            || {
                let started = Instant::now();
                for run in current.buckets() {
                    joiner.join_bucket(run.iter().map(|&(_, slot)| slot), &mut sets, verify);
                }
                tracing::trace!(band, seconds = started.elapsed().as_secs_f64(), "joined band");
            },
            || {
                let started = Instant::now();
                if band + 1 < config.bands {
                    upcoming.sort_band(&docs.lanes, num_perm, band + 1, config.rows);
                }
                started.elapsed().as_secs_f64()
            },
        );
        tracing::trace!(band = band + 1, seconds = sort_seconds, "sorted band");
        std::mem::swap(&mut current, &mut upcoming);
    }
    drop((current, upcoming, sketches));
    assign(docs, &mut sets)
}

/// The similarity a pair of these sizes would have at this estimated Jaccard.
fn similarity_from_jaccard(jaccard: f64, size_a: u32, size_b: u32) -> Similarity {
    Similarity {
        jaccard,
        containment: estimate_containment(jaccard, size_a, size_b),
        containment_rev: estimate_containment(jaccard, size_b, size_a),
    }
}

/// Names each set by its origin (smallest [`origin_key`]) and scores every member
/// against it.
fn assign(docs: &Docs, sets: &mut UnionFind) -> Vec<Assignment> {
    let n = docs.len();
    let roots: Vec<u32> = (0..n as u32).map(|doc| sets.find(doc)).collect();
    let mut origin_of_root = vec![u32::MAX; n];
    for (doc, &root) in roots.iter().enumerate() {
        let root = root as usize;
        let current = origin_of_root[root];
        if current == u32::MAX
            || origin_key(docs.published(doc), doc)
                < origin_key(docs.published(current as usize), current as usize)
        {
            origin_of_root[root] = doc as u32;
        }
    }
    (0..n)
        .into_par_iter()
        .with_min_len(1024)
        .map(|doc| {
            let origin = origin_of_root[roots[doc] as usize] as usize;
            Assignment { origin, to_origin: docs.similarity(doc, origin) }
        })
        .collect()
}

/// Joins one bucket's members into the union-find, verifying as few pairs as an exact
/// answer allows. Reused across buckets so it allocates only when a bucket is larger
/// than any before.
#[derive(Default)]
struct Joiner {
    /// Members of the bucket so far, grouped by union-find set: all members of one
    /// group are in one set, so one verified member joins a newcomer to the whole group.
    groups: Vec<Vec<Slot>>,
    /// Emptied group vectors kept for reuse.
    spare: Vec<Vec<Slot>>,
}

impl Joiner {
    fn join_bucket(
        &mut self,
        slots: impl Iterator<Item = Slot>,
        sets: &mut UnionFind,
        verify: impl Fn(Slot, Slot) -> bool,
    ) {
        for group in self.groups.drain(..) {
            self.spare.push(group);
        }
        for slot in slots {
            let mut root = sets.find(slot);
            for group in &self.groups {
                // All members of a group are in one set; one verified member is enough.
                if sets.find(group[0]) == root {
                    continue;
                }
                if group.iter().any(|&other| verify(slot, other)) {
                    sets.union(slot, group[0]);
                    root = sets.find(slot);
                }
            }
            // Merge every group now in `slot`'s set (sets may also have merged through
            // other buckets) and add `slot` to it.
            let mut home: Option<usize> = None;
            let mut ix = 0;
            while ix < self.groups.len() {
                if sets.find(self.groups[ix][0]) != root {
                    ix += 1;
                    continue;
                }
                match home {
                    None => {
                        home = Some(ix);
                        ix += 1;
                    }
                    Some(h) => {
                        let moved = self.groups.swap_remove(ix);
                        self.groups[h].extend_from_slice(&moved);
                        self.recycle(moved);
                    }
                }
            }
            match home {
                Some(h) => self.groups[h].push(slot),
                None => {
                    let mut group = self.spare.pop().unwrap_or_default();
                    group.clear();
                    group.push(slot);
                    self.groups.push(group);
                }
            }
        }
    }

    fn recycle(&mut self, mut group: Vec<Slot>) {
        group.clear();
        self.spare.push(group);
    }
}

/// Writes the scanned articles as a new data directory `dir` that the service can open
/// (`neardup scan --save`), in input order and with the batch clusters: each article
/// joins the cluster named after its origin, as `write_assignments` reports it.
/// `ingested_at` dates undated articles for a time window. Returns the articles written.
pub fn save(
    report: &ScanReport,
    config: &DetectorConfig,
    dir: &Path,
    ingested_at: i64,
) -> Result<u64> {
    let mut writer = crate::store::BulkWriter::create(dir, config)?;
    let docs = &report.docs;
    for (ix, assignment) in report.assignments.iter().enumerate() {
        let article = StoredArticle {
            id: docs.id(ix),
            source: docs.source(ix),
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

fn progress_bar(enabled: bool, total: u64) -> ProgressBar {
    use std::io::IsTerminal;
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} signing [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

#[derive(Serialize)]
struct DocLine<'a> {
    id: &'a str,
    cluster: &'a str,
    origin: &'a str,
    kind: Kind,
    jaccard: f64,
    containment: f64,
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

/// Writes one JSON line per document, in input order. Lines are formatted in parallel
/// blocks and written in order, so the sequential part is only the write itself.
pub fn write_assignments(
    report: &ScanReport,
    config: &DetectorConfig,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let n = report.len();
    let blocks: Vec<Range<usize>> =
        (0..n).step_by(WRITE_BLOCK).map(|s| s..(s + WRITE_BLOCK).min(n)).collect();
    let format_block = |range: &Range<usize>| -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(range.len() * 128);
        for doc in range.clone() {
            let assignment = &report.assignments[doc];
            let origin = report.docs.id(assignment.origin);
            let line = DocLine {
                id: report.docs.id(doc),
                cluster: origin,
                origin,
                kind: report.kind(doc, config),
                jaccard: round4(assignment.to_origin.jaccard),
                containment: round4(assignment.to_origin.containment),
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
    use crate::cluster::links_to_earlier;
    use crate::lsh::LshIndex;

    /// The clusters of the reference algorithm (every candidate pair verified, then
    /// union-find) as sets of members, for comparison.
    fn reference(config: &DetectorConfig, fps: &[Fingerprint]) -> Vec<Vec<usize>> {
        let mut index = LshIndex::new(config.bands, config.rows, config.seed);
        for (slot, fp) in fps.iter().enumerate() {
            index.insert(slot as Slot, fp.signature.lanes());
        }
        let mut sets = UnionFind::new(fps.len());
        for slot in 0..fps.len() as Slot {
            for (other, _) in links_to_earlier(config, &index, fps, slot) {
                sets.union(slot, other);
            }
        }
        partition((0..fps.len() as u32).map(|d| sets.find(d) as usize))
    }

    fn partition(labels: impl Iterator<Item = usize>) -> Vec<Vec<usize>> {
        let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
        for (doc, label) in labels.enumerate() {
            groups.entry(label).or_default().push(doc);
        }
        let mut out: Vec<Vec<usize>> = groups.into_values().collect();
        out.sort();
        out
    }

    #[test]
    fn skipping_joined_pairs_gives_the_reference_clusters() {
        // Signatures over few values so that buckets are large and many candidate pairs
        // fail verification: the hard case for skipping.
        let config = DetectorConfig { num_perm: 64, bands: 8, rows: 2, ..Default::default() };
        let mut state = 11u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        // The 16 banded lanes come from 6 values, so unrelated documents often share a
        // bucket; the other 48 from many, so unrelated pairs fail verification.
        let lane = |ix: usize, next: &mut dyn FnMut() -> u32| {
            if ix < 16 { next() % 6 } else { next() % 100_000 }
        };
        let bases: Vec<Vec<u32>> =
            (0..40).map(|_| (0..64).map(|ix| lane(ix, &mut next)).collect()).collect();
        let fps: Vec<Fingerprint> = (0..600)
            .map(|_| {
                let base = bases[next() as usize % bases.len()].clone();
                let lanes: Vec<u32> = base
                    .iter()
                    .enumerate()
                    .map(|(ix, &v)| if next() % 5 < 2 { lane(ix, &mut next) } else { v })
                    .collect();
                // Equal sizes keep containment out of it: a pair verifies on Jaccard.
                Fingerprint {
                    signature: crate::minhash::Signature(lanes.into()),
                    shingle_count: 100,
                }
            })
            .collect();
        let assignments = cluster_fingerprints(&config, &fps, &vec![None; fps.len()]);
        let mine = partition(assignments.iter().map(|a| a.origin));
        let expected = reference(&config, &fps);
        let sizes: Vec<usize> = expected.iter().map(Vec::len).collect();
        assert!(sizes.len() > 10 && sizes.iter().filter(|&&s| s > 1).count() > 10, "{sizes:?}");
        assert_eq!(mine, expected);
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
        let assignments = cluster_fingerprints(&config, &fps, &published);
        let origins: Vec<usize> = assignments.iter().map(|a| a.origin).collect();
        assert_eq!(origins, [2, 1, 2, 2, 1]);
        assert_eq!(assignments[0].to_origin.jaccard, 1.0);
    }
}
