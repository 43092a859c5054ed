//! The batch pipeline behind `neardup scan`: read every input (memory-mapped), parse and
//! fingerprint all articles in parallel on every core, index them in LSH, verify
//! candidate pairs in parallel, cluster with union-find and name each cluster's origin.
//! Output writing lives here too so the CLI stays a thin adapter.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::cluster::{Assignment, Kind, assign_clusters, links_to_earlier};
use crate::config::DetectorConfig;
use crate::corpus::{Fields, Format, Input, open, parse_date};
use crate::error::{Error, Result};
use crate::fingerprint::{Fingerprint, Fingerprinter};
use crate::lsh::{LshIndex, Slot};

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

/// An indexed article of a scan.
#[derive(Debug, Clone)]
pub struct ScannedDoc {
    /// Article id.
    pub id: String,
    /// Outlet, if the corpus had one.
    pub source: Option<String>,
    /// Publication time in Unix milliseconds.
    pub published: Option<i64>,
    /// Its fingerprint.
    pub fingerprint: Fingerprint,
}

/// The result of a scan: documents in input order with their cluster assignment.
#[derive(Debug)]
pub struct ScanReport {
    /// Valid documents in input order.
    pub docs: Vec<ScannedDoc>,
    /// One assignment per document.
    pub assignments: Vec<Assignment>,
    /// Bad records skipped (only with `skip_invalid`), as messages naming file and line.
    pub invalid: Vec<String>,
    /// Input bytes read.
    pub bytes: u64,
    /// Seconds spent reading and fingerprinting.
    pub sign_seconds: f64,
    /// Wall-clock seconds of the whole scan (without writing output).
    pub seconds: f64,
}

impl ScanReport {
    /// Number of clusters (singletons included).
    pub fn clusters(&self) -> usize {
        self.assignments.iter().enumerate().filter(|(doc, a)| a.origin == *doc).count()
    }

    /// Documents that are copies of another (in a cluster, not its origin).
    pub fn duplicates(&self) -> usize {
        self.docs.len() - self.clusters()
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
            self.docs.len(),
            self.clusters(),
            self.duplicates(),
            self.seconds,
            self.sign_seconds,
            mb / self.seconds.max(1e-9),
        )
    }
}

/// Scans `paths` with `config`.
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
    let bar = progress_bar(options.progress, bytes);

    let units: Vec<(usize, crate::corpus::Span<'_>)> = inputs
        .iter()
        .enumerate()
        .flat_map(|(ix, input)| input.spans().into_iter().map(move |span| (ix, span)))
        .collect();
    let parsed: Vec<Result<ScannedDoc>> = units
        .par_iter()
        .with_min_len(64)
        .map(|&(ix, span)| {
            let input = &inputs[ix];
            let record = input.parse(span, &options.fields)?;
            crate::detector::validate_id(&record.id).map_err(|e| Error::BadRecord {
                path: input.path.clone(),
                line: span.line,
                reason: e.to_string(),
            })?;
            let fingerprint =
                fingerprinter.fingerprint(&record.text).map_err(|e| Error::BadRecord {
                    path: input.path.clone(),
                    line: span.line,
                    reason: e.to_string(),
                })?;
            bar.inc(span.bytes.len() as u64 + 1);
            Ok(ScannedDoc {
                id: record.id.into_owned(),
                source: record.source.map(|s| s.into_owned()),
                published: record.date.as_deref().and_then(parse_date),
                fingerprint,
            })
        })
        .collect();
    let sign_seconds = started.elapsed().as_secs_f64();

    let mut docs = Vec::with_capacity(parsed.len());
    let mut origins: Vec<(&Path, usize)> = Vec::with_capacity(parsed.len());
    let mut invalid = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(parsed.len());
    for (result, &(ix, span)) in parsed.into_iter().zip(&units) {
        let here = (inputs[ix].path.as_path(), span.line);
        let result = result.and_then(|doc| match seen.get(&doc.id) {
            Some(&first) => Err(Error::BadRecord {
                path: here.0.to_owned(),
                line: here.1,
                reason: format!(
                    "duplicate id {:?}, first seen at {}:{}",
                    doc.id,
                    origins[first].0.display(),
                    origins[first].1
                ),
            }),
            None => Ok(doc),
        });
        match result {
            Ok(doc) => {
                seen.insert(doc.id.clone(), docs.len());
                docs.push(doc);
                origins.push(here);
            }
            Err(error) if options.skip_invalid => invalid.push(error.to_string()),
            Err(error) => return Err(error),
        }
    }
    drop(seen);
    bar.finish_and_clear();

    let fingerprints: Vec<Fingerprint> = docs.iter().map(|d| d.fingerprint.clone()).collect();
    let published: Vec<Option<i64>> = docs.iter().map(|d| d.published).collect();
    let assignments = cluster_fingerprints(config, &fingerprints, &published);
    Ok(ScanReport {
        docs,
        assignments,
        invalid,
        bytes,
        sign_seconds,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Index, verify and cluster fingerprints: the part of a scan after signing.
pub fn cluster_fingerprints(
    config: &DetectorConfig,
    fingerprints: &[Fingerprint],
    published: &[Option<i64>],
) -> Vec<Assignment> {
    let mut index = LshIndex::new(config.bands, config.rows, config.seed);
    for (slot, fp) in fingerprints.iter().enumerate() {
        index.insert(slot as Slot, fp.signature.lanes());
    }
    let links: Vec<(Slot, Slot)> = (0..fingerprints.len() as Slot)
        .into_par_iter()
        .with_min_len(256)
        .flat_map_iter(|slot| {
            links_to_earlier(config, &index, fingerprints, slot)
                .into_iter()
                .map(move |(other, _)| (slot, other))
        })
        .collect();
    assign_clusters(fingerprints, published, links)
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

/// Writes one JSON line per document, in input order.
pub fn write_assignments(
    report: &ScanReport,
    config: &DetectorConfig,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    for (doc, assignment) in report.assignments.iter().enumerate() {
        let origin = report.docs[assignment.origin].id.as_str();
        let line = DocLine {
            id: &report.docs[doc].id,
            cluster: origin,
            origin,
            kind: report.kind(doc, config),
            jaccard: round4(assignment.to_origin.jaccard),
            containment: round4(assignment.to_origin.containment),
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
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
        let origin_id = report.docs[origin].id.as_str();
        let line = ClusterLine {
            cluster: origin_id,
            size: docs.len(),
            origin: origin_id,
            members: docs.iter().map(|&d| report.docs[d].id.as_str()).collect(),
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}
