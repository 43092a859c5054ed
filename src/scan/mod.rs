//! The batch pipeline behind `neardup scan`, as a short orchestration of library
//! stages over memory-mapped inputs:
//!
//! 1. read: parse each record of every format [`input`] reads, check its id, normalize
//!    its lines (in parallel batches whose mapped pages are released once done);
//! 2. learn chrome keys from the whole corpus (sharded, in parallel);
//! 3. sign what is not chrome (a second reading pass: normalizing twice costs less than
//!    keeping every normalized text, about 2 KB an article, between the passes);
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
#[cfg(feature = "store")]
mod save;
mod tables;

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
}

impl std::fmt::Debug for ScanOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanOptions")
            .field("read", &self.read)
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
    /// Seconds spent reading and fingerprinting (both passes and chrome learning).
    pub sign_seconds: f64,
    /// Lines learned as chrome over the whole corpus and left out of fingerprints.
    pub chrome_lines: u64,
    /// The chrome model learned from the corpus (none with chrome learning off).
    pub chrome: Option<ChromeModel>,
    /// Each document's shingle set (with `sampled_containment`), for
    /// [`ScanReport::sketch`].
    samples: ShingleSets,
    /// Wall-clock seconds of the whole scan (without writing output).
    pub seconds: f64,
}

impl ScanReport {
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

/// Scans `paths` with `config`: reads and signs every article (learning chrome from the
/// whole corpus first unless it is off), then clusters them.
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
    let mut run = Run {
        fingerprinter: &fingerprinter,
        options,
        inputs: &inputs,
        units: &units,
        docs: Docs::new(config.num_perm),
        samples: ShingleSets::default(),
        chrome_lines: 0,
        invalid: Vec::new(),
    };
    let learn = config.chrome.enabled;
    let (name, passes) = if learn { ("learning chrome", 2) } else { ("reading and signing", 1) };
    options.report(Progress::Pass { name, number: 1, of: passes, bytes });
    let (valid, chrome) = run.read_pass(learn)?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "read, chrome learned");
    if let Some(chrome) = &chrome {
        options.report(Progress::Pass { name: "signing", number: 2, of: 2, bytes });
        run.sign_pass(&valid, chrome)?;
    }
    let Run { docs, samples, chrome_lines, invalid, .. } = run;
    drop(valid);
    drop(units);
    let sign_seconds = started.elapsed().as_secs_f64();
    tracing::debug!(seconds = sign_seconds, "signed");
    options.report(Progress::Clustering);
    let assignments = cluster(&fingerprinter, &docs, &samples);
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

/// The state of one scan between its stages.
struct Run<'a> {
    fingerprinter: &'a Fingerprinter,
    options: &'a ScanOptions,
    inputs: &'a [Input],
    units: &'a [Unit<'a>],
    docs: Docs,
    /// Each signed document's shingle set, for sampled containment.
    samples: ShingleSets,
    chrome_lines: u64,
    invalid: Vec<Reject>,
}

impl Run<'_> {
    fn config(&self) -> &DetectorConfig {
        self.fingerprinter.config()
    }

    /// Pass 1: parses every record, checks ids, and either counts each batch's lines into
    /// the chrome model (`learn`, returned) or signs each batch at once. Returns the
    /// units of the valid records, in order.
    fn read_pass(&mut self, learn: bool) -> Result<(Vec<u32>, Option<ChromeModel>)> {
        // `fingerprinter` is a shared reference: its config stays usable as `self` changes.
        let config = self.fingerprinter.config();
        let mut shards: Vec<ChromeModel> = if learn {
            (0..ChromeModel::SHARDS).map(|_| ChromeModel::new(&config.chrome)).collect()
        } else {
            Vec::new()
        };
        let mut valid: Vec<u32> = Vec::new();
        let mut ids = NameIndex::default();
        let mut pages = PageRelease::new(self.inputs);
        for (batch_no, batch) in self.units.chunks(PARSE_BATCH).enumerate() {
            let parsed: Vec<Result<Parsed>> =
                batch.par_iter().with_min_len(64).map(|unit| self.parse(unit)).collect();
            let mut kept: Vec<Parsed> = Vec::with_capacity(parsed.len());
            for (offset, result) in parsed.into_iter().enumerate() {
                let unit = batch_no * PARSE_BATCH + offset;
                let result = result.and_then(|doc| self.unique(doc, unit, &ids, &valid));
                match result {
                    Ok(doc) => {
                        let docs = &self.docs;
                        let slot = docs.records() as u32;
                        ids.insert(&doc.id, slot, |s| Some(docs.id(s as usize)));
                        self.docs.push_record(
                            &doc.id,
                            doc.source.as_deref(),
                            doc.published,
                            doc.text_hash,
                        );
                        valid.push(unit as u32);
                        kept.push(doc);
                    }
                    Err(error) if self.options.skip_invalid => {
                        let (ix, span) = self.units[unit];
                        self.invalid.push(self.inputs[ix].reject(span, error));
                    }
                    Err(error) => return Err(error),
                }
            }
            if learn {
                let profiles: Vec<&LineProfile> =
                    kept.iter().map(|doc| &doc.prepared.profile).collect();
                learn_chrome_keys(&mut shards, &profiles);
            } else {
                let signed: Vec<SignedDoc> = kept
                    .par_iter()
                    .with_min_len(16)
                    .map(|doc| self.sign(&doc.prepared, None))
                    .collect();
                self.push_signed(signed);
            }
            self.options.report(Progress::Read(batch_bytes(batch)));
            pages.done_with(batch);
        }
        let chrome = learn.then(|| ChromeModel::from_shards(&config.chrome, shards));
        Ok((valid, chrome))
    }

    /// Pass 2: parses and normalizes the `valid` records again and signs what `chrome`
    /// does not leave out.
    fn sign_pass(&mut self, valid: &[u32], chrome: &ChromeModel) -> Result<()> {
        let mut pages = PageRelease::new(self.inputs);
        for batch in valid.chunks(PARSE_BATCH) {
            let signed: Vec<SignedDoc> = batch
                .par_iter()
                .with_min_len(16)
                .map(|&unit| {
                    let (ix, span) = self.units[unit as usize];
                    let record = self.inputs[ix].parse(span)?;
                    let source = record.source.as_deref().unwrap_or("");
                    let prepared = self.fingerprinter.prepare(&record.text, source)?;
                    Ok(self.sign(&prepared, Some(chrome)))
                })
                .collect::<Result<_>>()?;
            self.push_signed(signed);
            let spans: Vec<Unit<'_>> =
                batch.iter().map(|&unit| self.units[unit as usize]).collect();
            self.options.report(Progress::Read(batch_bytes(&spans)));
            pages.done_with(&spans);
        }
        Ok(())
    }

    /// Parses one record and prepares its text (normalized lines and their profile).
    fn parse(&self, &(ix, span): &Unit<'_>) -> Result<Parsed> {
        let input = &self.inputs[ix];
        let record = input.parse(span)?;
        let bad = |e: Error| input.error(span, e.to_string());
        crate::article::validate_id(&record.id).map_err(bad)?;
        let source = record.source.as_deref().unwrap_or("");
        let prepared = self.fingerprinter.prepare(&record.text, source).map_err(bad)?;
        Ok(Parsed {
            id: record.id.into_owned(),
            source: record.source.map(|s| s.into_owned()),
            published: record.published,
            text_hash: crate::article::text_hash(&record.text),
            prepared,
        })
    }

    /// `doc` (record `unit`), unless its id was seen before.
    fn unique(&self, doc: Parsed, unit: usize, ids: &NameIndex, valid: &[u32]) -> Result<Parsed> {
        let docs = &self.docs;
        let Some(first) = ids.find(&doc.id, |s| Some(docs.id(s as usize))) else {
            return Ok(doc);
        };
        let (ix, span) = self.units[unit];
        let (first_ix, first_span) = self.units[valid[first as usize] as usize];
        let first = &self.inputs[first_ix];
        let at = match first.location(first_span) {
            Location::Line(line) => format!("{}:{line}", first.path.display()),
            Location::Row(row) => format!("{} row {row}", first.path.display()),
        };
        Err(self.inputs[ix].error(span, format!("duplicate id {:?}, first seen at {at}", doc.id)))
    }

    fn sign(&self, prepared: &PreparedText, chrome: Option<&ChromeModel>) -> SignedDoc {
        let signed = self.fingerprinter.sign(prepared, chrome);
        SignedDoc::new(prepared, signed, self.config().sampled_containment, self.options.explain)
    }

    /// Appends signed documents, in order.
    fn push_signed(&mut self, signed: Vec<SignedDoc>) {
        let sampled = self.config().sampled_containment;
        for doc in signed {
            self.docs.push_signed(
                doc,
                &mut self.samples,
                &mut self.chrome_lines,
                sampled,
                self.options.explain,
            );
        }
    }
}

/// Stage 4: clusters the signed documents.
fn cluster(fingerprinter: &Fingerprinter, docs: &Docs, samples: &ShingleSets) -> Vec<Assignment> {
    let config = fingerprinter.config();
    let (lanes, sizes) = docs.signatures();
    let samples = config.sampled_containment.then_some(samples as &dyn SampledContainment);
    crate::cluster::cluster_signatures(config, lanes, sizes, samples, docs.all_published())
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

/// An article after the text stage, before its batch is signed.
struct Parsed {
    id: String,
    source: Option<String>,
    published: Option<i64>,
    text_hash: u64,
    prepared: PreparedText,
}

/// Input bytes of `spans`, each with its line end.
fn batch_bytes(spans: &[Unit<'_>]) -> u64 {
    spans.iter().map(|(_, span)| span.bytes.len() as u64 + 1).sum()
}
