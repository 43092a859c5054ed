//! Writing a scan's results as JSON lines: one per document (with `--explain`, why it
//! sits where it does) and one per cluster. Lines are formatted in parallel blocks and
//! written in order, so writing a million lines costs little more than the write. The
//! rows are built here for every format; [`super::tables`] writes them as CSV or Parquet.

use std::collections::HashMap;
use std::io::Write;
use std::ops::Range;

use rayon::prelude::*;
use serde::Serialize;

use crate::cluster::{CopyKind, Similarity};
use crate::config::DetectorConfig;

use super::ScanReport;

#[derive(Serialize)]
pub(super) struct DocLine<'a> {
    pub(super) id: &'a str,
    pub(super) cluster: &'a str,
    pub(super) origin: &'a str,
    pub(super) kind: CopyKind,
    /// Scores to the origin.
    pub(super) jaccard: f64,
    pub(super) containment: f64,
    /// The document that put this one in its cluster, with the scores that decided its
    /// kind (absent for an origin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) link: Option<LinkLine<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) explain: Option<Explain<'a>>,
}

/// Why a document sits where it does, beyond its link.
#[derive(Serialize)]
pub(super) struct Explain<'a> {
    /// Similarity to the cluster's origin, both ways.
    to_origin: Scores,
    /// Shingles its fingerprint was computed from (chrome left out).
    shingles: u32,
    /// Lines left out as chrome (normalized text).
    chrome_ignored: &'a [String],
}

#[derive(Serialize)]
pub(super) struct Scores {
    pub(super) jaccard: f64,
    /// Share of this document found in the other.
    pub(super) containment: f64,
    /// Share of the other document found in this one.
    pub(super) containment_rev: f64,
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
pub(super) struct LinkLine<'a> {
    pub(super) id: &'a str,
    #[serde(flatten)]
    pub(super) scores: Scores,
}

#[derive(Serialize)]
pub(super) struct ClusterLine<'a> {
    pub(super) cluster: &'a str,
    pub(super) size: usize,
    pub(super) origin: &'a str,
    pub(super) members: Vec<&'a str>,
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
            serde_json::to_writer(&mut buf, &doc_line(report, config, doc, explain))?;
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

/// Document `doc`'s line: its cluster and scores, and with `explain` why.
pub(super) fn doc_line<'a>(
    report: &'a ScanReport,
    config: &DetectorConfig,
    doc: usize,
    explain: bool,
) -> DocLine<'a> {
    let assignment = &report.assignments[doc];
    let docs = &report.docs;
    let origin = docs.id(assignment.origin);
    let explain = explain.then(|| Explain {
        to_origin: assignment.to_origin.into(),
        shingles: docs.shingle_count(doc),
        chrome_ignored: docs.chrome(doc),
    });
    DocLine {
        id: docs.id(doc),
        cluster: origin,
        origin,
        kind: report.kind(doc, config),
        jaccard: round4(assignment.to_origin.jaccard),
        containment: round4(assignment.to_origin.containment),
        link: assignment
            .link
            .filter(|_| assignment.origin != doc)
            .map(|(other, similarity)| LinkLine { id: docs.id(other), scores: similarity.into() }),
        explain,
    }
}

/// One line per cluster, largest first, then by origin's input order.
pub(super) fn cluster_lines(report: &ScanReport) -> Vec<ClusterLine<'_>> {
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    for (doc, assignment) in report.assignments.iter().enumerate() {
        members.entry(assignment.origin).or_default().push(doc);
    }
    let mut clusters: Vec<(usize, Vec<usize>)> = members.into_iter().collect();
    clusters.sort_by(|(oa, a), (ob, b)| b.len().cmp(&a.len()).then(oa.cmp(ob)));
    clusters
        .into_iter()
        .map(|(origin, docs)| {
            let origin_id = report.docs.id(origin);
            ClusterLine {
                cluster: origin_id,
                size: docs.len(),
                origin: origin_id,
                members: docs.iter().map(|&d| report.docs.id(d)).collect(),
            }
        })
        .collect()
}

/// Writes one JSON line per cluster (largest first, then by origin's input order).
pub fn write_clusters(report: &ScanReport, out: &mut dyn Write) -> std::io::Result<()> {
    for line in cluster_lines(report) {
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}
