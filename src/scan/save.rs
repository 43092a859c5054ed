//! `neardup scan --save`: a scan's documents and clusters written as a data directory
//! that `neardup serve --data-dir` opens, so a server can start from an archive instead
//! of ingesting it article by article.

use std::path::Path;

use crate::config::DetectorConfig;
use crate::error::Result;

use super::ScanReport;

/// Writes the scanned articles and their batch clusters as a data directory that
/// `neardup serve --data-dir` opens, with the chrome model the scan learned; returns the
/// number of articles written. Each story keeps the scan's name for it (its origin's
/// id), and the server goes on recognising the chrome the scan did.
pub fn save(
    report: &ScanReport,
    config: &DetectorConfig,
    dir: &Path,
    ingested_at: i64,
) -> Result<u64> {
    report.signatures_kept("saving a data directory")?;
    let mut writer = crate::store::BulkWriter::create(dir, config)?;
    for (ix, assignment) in report.assignments.iter().enumerate() {
        let docs = &report.docs;
        let sketch = report.sketch(ix);
        let article = crate::detector::StoredArticle {
            id: docs.id(ix),
            source: docs.source(ix).unwrap_or(""),
            published: docs.published(ix),
            text_hash: docs.text_hash(ix),
            lanes: docs.lanes(ix),
            shingle_count: docs.shingle_count(ix),
            sketch: &sketch,
            kind: report.kind(ix, config),
            cluster_id: docs.id(assignment.origin),
        };
        writer.append(&article, ingested_at)?;
    }
    writer.finish(report.chrome.as_ref())
}
