//! The batch pipeline behind `neardup scan`, as a short orchestration of library
//! stages over memory-mapped inputs:
//!
//! 1. read: parse each record of every format [`input`] reads, check its id, normalize
//!    its lines (in parallel batches whose mapped pages are released once done);
//! 2. learn chrome keys (sharded, in parallel): from the whole corpus when it is small,
//!    keeping its normalized texts from step 1; from an evenly spread sample of a
//!    larger one, in a short pass before step 1 (`sample.rs` says how it is chosen);
//! 3. sign what is not chrome: each record is read and normalized once, in step 1 (a
//!    larger corpus) or from the kept texts (a small one);
//! 4. cluster: band rows into sorted buckets, candidate pairs, verify, link strongest
//!    first under the chaining guard, origin ([`crate::cluster::cluster_fingerprints`]).
//!
//! Documents are kept as columns ([`Docs`]). Writing results ([`write_assignments`],
//! [`write_clusters`]) and saving a data directory (`save`) live here too, so the CLI
//! stays a thin adapter.

mod docs;
#[cfg(feature = "parquet")]
mod emit;
pub mod input;
mod output;
mod sample;
#[cfg(feature = "store")]
mod save;
mod tables;

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;

use crate::chrome::{ChromeModel, DocKeys, LineProfile, ShardKeys};
use crate::cluster::{Assignment, CopyKind, SampledContainment, ShingleSets};
use crate::config::DetectorConfig;
use crate::error::{Error, Result};
use crate::fingerprint::{Fingerprinter, PreparedText};
use crate::intern::NameIndex;
use input::{Input, Location, ReadOptions, Reject, STDIN_NAME, Span, open};

pub use docs::Docs;
use docs::SignedDoc;
#[cfg(feature = "parquet")]
pub use emit::{Emitted, emit_parquet};
pub use output::{write_assignments, write_clusters};
pub use sample::ChromeSample;
#[cfg(feature = "store")]
pub use save::save;
#[cfg(feature = "parquet")]
pub use tables::assignment_batches;
pub use tables::{OutputFormat, Sink, write_assignments_to, write_clusters_to, write_rejects};

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
    /// How to read the inputs: field names, a forced format, a date format.
    pub read: ReadOptions,
    /// Report bad records and carry on instead of stopping at the first.
    pub skip_invalid: bool,
    /// Called as the scan advances (see [`Progress`]).
    pub progress: Option<std::sync::Arc<ProgressFn>>,
    /// Keep the text of each document's chrome lines for [`write_assignments`]'s
    /// explanations.
    pub explain: bool,
    /// Keep every document's signature in the report ([`Docs::lanes`]), as [`save`] and
    /// [`emit_parquet`] need. Otherwise the scan frees the signatures once its buckets
    /// are built and verifies on their low halves: a quarter less memory at its peak.
    pub keep_signatures: bool,
}

impl std::fmt::Debug for ScanOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanOptions")
            .field("read", &self.read)
            .field("skip_invalid", &self.skip_invalid)
            .field("progress", &self.progress.is_some())
            .field("explain", &self.explain)
            .field("keep_signatures", &self.keep_signatures)
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

/// The result of a scan: documents in input order with their cluster assignment.
#[derive(Debug)]
pub struct ScanReport {
    /// Valid documents in input order.
    pub docs: Docs,
    /// One assignment per document.
    pub assignments: Vec<Assignment>,
    /// Bad records skipped (only with `skip_invalid`), with where they are and why.
    pub invalid: Vec<Reject>,
    /// Notes on the inputs that are not errors (an input without records, a table
    /// without a date column).
    pub warnings: Vec<String>,
    /// Bytes of the records read (lines, CSV records, JSON elements, text; the text
    /// column of Parquet), after decompression.
    pub bytes: u64,
    /// Seconds spent reading and fingerprinting (chrome learning included).
    pub sign_seconds: f64,
    /// Lines learned as chrome over the whole corpus and left out of fingerprints.
    pub chrome_lines: u64,
    /// The chrome model learned from the corpus (none with chrome learning off).
    pub chrome: Option<ChromeModel>,
    /// Each document's shingle sketch (with `sampled_containment`), for
    /// [`ScanReport::sketch`].
    samples: ShingleSets,
    /// Wall-clock seconds of the whole scan (without writing output).
    pub seconds: f64,
}

impl ScanReport {
    /// An error naming [`ScanOptions::keep_signatures`] when the scan gave up its
    /// signatures, for what needs them (`what`).
    fn signatures_kept(&self, what: &str) -> Result<()> {
        if self.docs.has_signatures() {
            return Ok(());
        }
        Err(Error::config(
            "keep_signatures",
            format!("{what} needs every signature: scan with keep_signatures set"),
        ))
    }

    /// What the online detector keeps of document `doc`'s shingle set
    /// ([`crate::cluster::shingle_sketch`]); empty without `sampled_containment`.
    pub fn sketch(&self, doc: usize) -> Box<[u16]> {
        if self.samples.len() <= doc {
            return Box::default();
        }
        self.samples.get(doc).into()
    }

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

    /// Documents that are copies of another (in a cluster, not its origin): how many
    /// are duplicates and how many partial copies.
    pub fn copies(&self, config: &DetectorConfig) -> (usize, usize) {
        (0..self.docs.len()).fold((0, 0), |(dups, partial), doc| match self.kind(doc, config) {
            CopyKind::NewStory => (dups, partial),
            CopyKind::Duplicate => (dups + 1, partial),
            CopyKind::PartialCopy => (dups, partial + 1),
        })
    }

    /// The kind of document `doc`: decided, as online, by the link that put it in its
    /// cluster (the scores each output line prints beside the origin's), so a copy
    /// reached through another copy is a duplicate of that copy even when the origin
    /// was cut or extended.
    pub fn kind(&self, doc: usize, config: &DetectorConfig) -> CopyKind {
        crate::cluster::stages::kind_of(&self.assignments[doc], doc, config)
    }

    /// One-line human summary.
    pub fn summary(&self, config: &DetectorConfig) -> String {
        let (duplicates, partial) = self.copies(config);
        let mb = self.bytes as f64 / 1e6;
        let invalid = if self.invalid.is_empty() {
            String::new()
        } else {
            format!(", {} invalid skipped", self.invalid.len())
        };
        format!(
            "{} documents, {} clusters, {duplicates} duplicates, {partial} partial copies, \
             {} chrome lines ignored{invalid}; {:.2} s (read+sign {:.2} s), {:.1} MB/s",
            self.docs.len(),
            self.clusters(),
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

/// One record of the input: which input, and where in it.
type Unit<'a> = (usize, Span<'a>);

/// Scans `paths` with `config`: reads and signs every article (learning chrome first,
/// from the whole corpus or a sample of a large one, unless it is off), then clusters
/// them.
pub fn scan(
    paths: &[PathBuf],
    config: &DetectorConfig,
    options: &ScanOptions,
) -> Result<ScanReport> {
    let started = Instant::now();
    if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err(Error::BadFile {
            path: STDIN_NAME.into(),
            reason: "standard input (-) is given more than once".into(),
        });
    }
    let inputs: Vec<Input> = paths
        .par_iter()
        .map(|p| open(p, &options.read))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    scan_inputs(inputs, config, options, started)
}

/// Scans inputs already opened (files by [`input::open`], or record batches in memory by
/// [`Input::from_batches`]) exactly as [`scan`] scans files.
pub fn scan_opened(
    inputs: Vec<Input>,
    config: &DetectorConfig,
    options: &ScanOptions,
) -> Result<ScanReport> {
    scan_inputs(inputs, config, options, Instant::now())
}

fn scan_inputs(
    inputs: Vec<Input>,
    config: &DetectorConfig,
    options: &ScanOptions,
    started: Instant,
) -> Result<ScanReport> {
    let fingerprinter = Fingerprinter::new(config.clone())?;
    let mut warnings: Vec<String> =
        inputs.iter().flat_map(|input| input.warnings().iter().cloned()).collect();
    let units: Vec<Unit<'_>> = inputs
        .iter()
        .enumerate()
        .flat_map(|(ix, input)| {
            let spans = input.spans();
            if spans.is_empty() {
                warnings.push(format!("{}: no records", input.path.display()));
            }
            spans.into_iter().map(move |span| (ix, span))
        })
        .collect();
    let bytes = batch_bytes(&units);
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        inputs = inputs.len(),
        records = units.len(),
        "inputs opened"
    );
    let reader = Reader { fingerprinter: &fingerprinter, options, inputs: &inputs, units: &units };
    let mut run = Run::new(reader);
    let chrome = if !config.chrome.enabled {
        let pass = Progress::Pass { name: "reading and signing", number: 1, of: 1, bytes };
        options.report(pass);
        run.read_pass(Signing::Now(None))?;
        None
    } else {
        match ChromeSample::of(units.len(), bytes) {
            ChromeSample::Whole => {
                let name = "reading, learning chrome";
                options.report(Progress::Pass { name, number: 1, of: 1, bytes });
                let Signing::Later(shards, kept) = run.read_pass(Signing::later(config))? else {
                    unreachable!("a pass that signs later returns what it kept")
                };
                let chrome = ChromeModel::from_shards(&config.chrome, shards);
                tracing::debug!(seconds = started.elapsed().as_secs_f64(), "read, chrome learned");
                run.sign_kept(kept, &chrome.classifier());
                Some(chrome)
            }
            ChromeSample::Runs(runs) => {
                let sampled: Vec<Unit<'_>> =
                    runs.iter().flat_map(|run| units[run.clone()].iter().copied()).collect();
                let name = "learning chrome from a sample";
                let sample_bytes = batch_bytes(&sampled);
                options.report(Progress::Pass { name, number: 1, of: 2, bytes: sample_bytes });
                let chrome = reader.learn_sample(&sampled);
                let classifier = chrome.classifier();
                tracing::debug!(
                    seconds = started.elapsed().as_secs_f64(),
                    sampled = sampled.len(),
                    lines = chrome.tracked_lines(),
                    chrome = classifier.tracked_lines(),
                    "chrome learned from a sample"
                );
                let name = "reading and signing";
                options.report(Progress::Pass { name, number: 2, of: 2, bytes });
                run.read_pass(Signing::Now(Some(&classifier)))?;
                Some(chrome)
            }
        }
    };
    let Run { mut docs, samples, chrome_lines, invalid, .. } = run;
    drop(units);
    let sign_seconds = started.elapsed().as_secs_f64();
    tracing::debug!(
        seconds = sign_seconds,
        docs_bytes = docs.heap_bytes(),
        sketch_bytes = samples.heap_bytes(),
        "signed"
    );
    options.report(Progress::Clustering);
    let assignments = cluster(&fingerprinter, &mut docs, &samples, options.keep_signatures);
    options.report(Progress::Done);
    Ok(ScanReport {
        chrome_lines,
        chrome,
        samples,
        docs,
        assignments,
        invalid,
        warnings,
        bytes,
        sign_seconds,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What every stage of one scan reads, shared by the threads that parse.
#[derive(Clone, Copy)]
struct Reader<'a> {
    fingerprinter: &'a Fingerprinter,
    options: &'a ScanOptions,
    inputs: &'a [Input],
    units: &'a [Unit<'a>],
}

/// The state of one scan between its stages.
struct Run<'a> {
    reader: Reader<'a>,
    docs: Docs,
    /// Each signed document's shingle sketch, for sampled containment.
    samples: ShingleSets,
    chrome_lines: u64,
    invalid: Vec<Reject>,
    /// Slot `i` of `docs` is record `valid[i]`, for naming where a duplicate id was
    /// first seen.
    valid: Vec<u32>,
    ids: NameIndex,
}

impl<'a> Run<'a> {
    fn new(reader: Reader<'a>) -> Self {
        Run {
            reader,
            docs: Docs::with_capacity(reader.config().num_perm, reader.units.len()),
            samples: ShingleSets::default(),
            chrome_lines: 0,
            invalid: Vec::new(),
            valid: Vec::new(),
            ids: NameIndex::default(),
        }
    }

    /// The full pass: parses every record in order, checks its id, and signs it at once
    /// or (`Signing::Later`) counts its lines into the chrome model and keeps its
    /// prepared text. Returns `signing` with what it learned and kept.
    ///
    /// Each batch is parsed in parallel, then taken in order (ids checked, columns
    /// appended) on one thread while the next batch is parsed on the others.
    fn read_pass<'m>(&mut self, mut signing: Signing<'m>) -> Result<Signing<'m>> {
        let reader = self.reader;
        let sign_now = match &signing {
            Signing::Now(chrome) => Some(*chrome),
            Signing::Later(..) => None,
        };
        let mut pages = PageRelease::new(reader.inputs);
        let batches: Vec<&[Unit<'_>]> = reader.units.chunks(PARSE_BATCH).collect();
        let mut parsed = batches.first().map(|batch| reader.parse_batch(batch, sign_now));
        for (batch_no, batch) in batches.iter().enumerate() {
            let this = parsed.take().unwrap_or_default();
            let next = batches.get(batch_no + 1);
            let (taken, next) = rayon::join(
                || self.take_batch(this, batch_no * PARSE_BATCH, &mut signing),
                || next.map(|batch| reader.parse_batch(batch, sign_now)),
            );
            taken?;
            parsed = next;
            reader.options.report(Progress::Read(batch_bytes(batch)));
            pages.done_with(batch);
        }
        Ok(signing)
    }

    /// Takes one parsed batch, whose first record is unit `first`, in order: checks ids,
    /// appends the valid records to the columns and signs them (or learns from them and
    /// keeps them), and reports or returns the bad ones.
    fn take_batch(
        &mut self,
        parsed: Vec<Result<Parsed<'_>>>,
        first: usize,
        signing: &mut Signing<'_>,
    ) -> Result<()> {
        let reader = self.reader;
        let mut signed: Vec<SignedDoc> = Vec::with_capacity(parsed.len());
        let mut kept: Vec<PreparedText> = Vec::new();
        for (offset, result) in parsed.into_iter().enumerate() {
            let unit = first + offset;
            match result.and_then(|doc| self.unique(doc, unit)) {
                Ok(doc) => {
                    let docs = &self.docs;
                    let slot = docs.records() as u32;
                    self.ids.insert(&doc.id, slot, |s| Some(docs.id(s as usize)));
                    self.docs.push_record(
                        &doc.id,
                        doc.source.as_deref(),
                        doc.published,
                        doc.text_hash,
                    );
                    self.valid.push(unit as u32);
                    match doc.text {
                        Text::Signed(doc) => signed.push(doc),
                        Text::Prepared(prepared) => kept.push(prepared),
                    }
                }
                Err(error) if reader.options.skip_invalid => {
                    let (ix, span) = reader.units[unit];
                    self.invalid.push(reader.inputs[ix].reject(span, error));
                }
                Err(error) => return Err(error),
            }
        }
        self.push_signed(signed);
        if let Signing::Later(shards, all) = signing {
            let profiles: Vec<&LineProfile> =
                kept.iter().map(|prepared| &prepared.profile).collect();
            learn_chrome_keys(shards, &profiles);
            all.append(&mut kept);
        }
        Ok(())
    }

    /// Signs the prepared texts a `Signing::Later` pass kept, in order, with the model
    /// learned from them.
    fn sign_kept(&mut self, kept: Vec<PreparedText>, chrome: &ChromeModel) {
        let reader = self.reader;
        let signed: Vec<SignedDoc> = kept
            .into_par_iter()
            .with_min_len(16)
            .map(|prepared| reader.sign(&prepared, Some(chrome)))
            .collect();
        self.push_signed(signed);
    }

    /// `doc` (record `unit`), unless its id was seen before.
    fn unique<'r>(&self, doc: Parsed<'r>, unit: usize) -> Result<Parsed<'r>> {
        let docs = &self.docs;
        let Some(first) = self.ids.find(&doc.id, |s| Some(docs.id(s as usize))) else {
            return Ok(doc);
        };
        let Reader { inputs, units, .. } = self.reader;
        let (ix, span) = units[unit];
        let (first_ix, first_span) = units[self.valid[first as usize] as usize];
        let first = &inputs[first_ix];
        let at = match first.location(first_span) {
            Location::Line(line) => format!("{}:{line}", first.path.display()),
            Location::Row(row) => format!("{} row {row}", first.path.display()),
        };
        Err(inputs[ix].error(span, format!("duplicate id {:?}, first seen at {at}", doc.id)))
    }

    /// Appends signed documents, in order.
    fn push_signed(&mut self, signed: Vec<SignedDoc>) {
        let sampled = self.reader.config().sampled_containment;
        let explain = self.reader.options.explain;
        for doc in signed {
            self.docs.push_signed(doc, &mut self.samples, &mut self.chrome_lines, sampled, explain);
        }
    }
}

impl<'a> Reader<'a> {
    fn config(&self) -> &DetectorConfig {
        self.fingerprinter.config()
    }

    /// The sample pass: learns chrome from the `sampled` records (in input order). A
    /// record that cannot be read is left out here; the full pass reports it.
    fn learn_sample(&self, sampled: &[Unit<'_>]) -> ChromeModel {
        let config = self.config();
        let mut shards: Vec<ChromeModel> =
            (0..ChromeModel::SHARDS).map(|_| ChromeModel::new(&config.chrome)).collect();
        let mut pages = PageRelease::new(self.inputs);
        for batch in sampled.chunks(PARSE_BATCH) {
            let profiles: Vec<Option<LineProfile>> =
                batch.par_iter().with_min_len(64).map(|unit| self.profile(unit)).collect();
            let profiles: Vec<&LineProfile> = profiles.iter().flatten().collect();
            learn_chrome_keys(&mut shards, &profiles);
            self.options.report(Progress::Read(batch_bytes(batch)));
            pages.done_with(batch);
        }
        ChromeModel::from_shards(&config.chrome, shards)
    }

    /// The line profile of one record, if it is a valid article.
    fn profile(&self, &(ix, span): &Unit<'_>) -> Option<LineProfile> {
        let record = self.inputs[ix].parse(span).ok()?;
        crate::article::validate_id(&record.id).ok()?;
        let source = record.source.as_deref().unwrap_or("");
        Some(self.fingerprinter.prepare(&record.text, source).ok()?.profile)
    }

    /// Parses the records of `batch` in parallel (see [`Reader::parse`]).
    fn parse_batch(
        &self,
        batch: &[Unit<'a>],
        sign_now: Option<Option<&ChromeModel>>,
    ) -> Vec<Result<Parsed<'a>>> {
        batch.par_iter().with_min_len(16).map(|unit| self.parse(unit, sign_now)).collect()
    }

    /// Parses one record and prepares its text (normalized lines and their profile),
    /// then signs it at once with `sign_now`'s model (if any) or keeps the prepared text.
    fn parse(
        &self,
        &(ix, span): &Unit<'a>,
        sign_now: Option<Option<&ChromeModel>>,
    ) -> Result<Parsed<'a>> {
        let input: &'a Input = &self.inputs[ix];
        let record = input.parse(span)?;
        let bad = |e: Error| input.error(span, e.to_string());
        crate::article::validate_id(&record.id).map_err(bad)?;
        let source = record.source.as_deref().unwrap_or("");
        let text = match sign_now {
            // Signed at once, the prepared text is scratch: reusing one per thread spares
            // the allocator a handful of buffers an article.
            Some(chrome) => PREPARED.with(|prepared| {
                let prepared = &mut *prepared.borrow_mut();
                self.fingerprinter.prepare_into(&record.text, source, prepared).map_err(bad)?;
                Ok(Text::Signed(self.sign(prepared, chrome)))
            })?,
            None => Text::Prepared(self.fingerprinter.prepare(&record.text, source).map_err(bad)?),
        };
        Ok(Parsed {
            text_hash: crate::article::text_hash(&record.text),
            id: record.id,
            source: record.source,
            published: record.published,
            text,
        })
    }

    fn sign(&self, prepared: &PreparedText, chrome: Option<&ChromeModel>) -> SignedDoc {
        let signed = self.fingerprinter.sign(prepared, chrome);
        SignedDoc::new(prepared, signed, self.config().sampled_containment, self.options.explain)
    }
}

/// Stage 4: clusters the signed documents, giving up their signatures unless `keep`.
fn cluster(
    fingerprinter: &Fingerprinter,
    docs: &mut Docs,
    samples: &ShingleSets,
    keep: bool,
) -> Vec<Assignment> {
    let config = fingerprinter.config();
    let samples = config.sampled_containment.then_some(samples as &dyn SampledContainment);
    let lanes =
        if keep { Cow::Borrowed(docs.signatures().0) } else { Cow::Owned(docs.take_lanes()) };
    let (sizes, published) = (docs.signatures().1, docs.all_published());
    crate::cluster::cluster_signatures(config, lanes, sizes, samples, published)
}

/// Stage 2 for one batch of documents (in order): their line keys hashed in parallel and
/// split by shard, then each shard of the model counts its own keys.
fn learn_chrome_keys(shards: &mut [ChromeModel], profiles: &[&LineProfile]) {
    let keys: Vec<DocKeys> =
        profiles.par_iter().with_min_len(64).map(|doc| DocKeys::new(doc)).collect();
    let keys = ShardKeys::from(keys);
    shards
        .par_iter_mut()
        .enumerate()
        .for_each(|(shard, model)| model.observe_keys_of_shard(&keys, shard));
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
    fn done_with(&mut self, spans: &[Unit<'_>]) {
        for &(ix, span) in spans {
            let input = &self.inputs[ix];
            let Some(end) = input.mapped_offset(span.bytes) else { continue };
            let end = end & !(RELEASE_ALIGN - 1);
            if end > self.released[ix] {
                input.release(self.released[ix]..end);
                self.released[ix] = end;
            }
        }
    }
}

/// What the full pass does with each valid record's prepared text.
enum Signing<'m> {
    /// Sign it at once, leaving out what this model calls chrome (if any).
    Now(Option<&'m ChromeModel>),
    /// Count its lines into these chrome model shards and keep it (all kept texts, in
    /// order), to sign once the model is complete.
    Later(Vec<ChromeModel>, Vec<PreparedText>),
}

impl Signing<'_> {
    fn later(config: &DetectorConfig) -> Self {
        let shards = (0..ChromeModel::SHARDS).map(|_| ChromeModel::new(&config.chrome)).collect();
        Signing::Later(shards, Vec::new())
    }
}

/// An article after the text stage.
struct Parsed<'a> {
    /// Borrowed from the input where JSON escapes allow, as the record's fields are.
    id: Cow<'a, str>,
    source: Option<Cow<'a, str>>,
    published: Option<i64>,
    text_hash: u64,
    text: Text,
}

/// An article's text after the text stage: signed, or prepared to be signed later.
enum Text {
    Signed(SignedDoc),
    Prepared(PreparedText),
}

thread_local! {
    /// The prepared text of the article a thread is signing.
    static PREPARED: std::cell::RefCell<PreparedText> = std::cell::RefCell::default();
}

/// Input bytes of `spans`, each with its line end.
fn batch_bytes(spans: &[Unit<'_>]) -> u64 {
    spans.iter().map(|(_, span)| span.input_bytes()).sum()
}
