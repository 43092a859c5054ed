//! Results in the format an output's name asks for: JSONL (the default, and what `-`
//! writes on standard output), CSV, TSV or Parquet, with JSONL, CSV and TSV optionally
//! through gzip or zstd; and the records `--skip-invalid` left out, as JSONL or CSV.
//! CSV has the JSONL fields as columns (a cluster's members as a JSON array); Parquet the
//! same, typed (members as a list of strings).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::ScanReport;
use super::input::{Compression, Location, Reject};
use super::output::{ClusterLine, DocLine, cluster_lines, doc_line};
use crate::cluster::CopyKind;
use crate::config::DetectorConfig;
use crate::error::{Error, Result};

/// How an output file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header.
    Csv,
    /// Tab-separated values with a header.
    Tsv,
    /// Apache Parquet (zstd-compressed columns).
    Parquet,
}

impl OutputFormat {
    /// The format `path` asks for by its extension: `.csv`, `.tsv`, `.parquet`, or else
    /// JSONL (`.jsonl`, `-`, `/dev/null`, any other name), each but Parquet optionally
    /// followed by `.gz` or `.zst`.
    pub fn of_path(path: &Path) -> Result<OutputFormat> {
        Ok(OutputFormat::with_compression(path)?.0)
    }

    fn with_compression(path: &Path) -> Result<(OutputFormat, Compression)> {
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        let (compression, stem) = Compression::of_name(&name);
        let extension =
            stem.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        let format = match extension.as_str() {
            "csv" => OutputFormat::Csv,
            "tsv" => OutputFormat::Tsv,
            "parquet" | "pq" => OutputFormat::Parquet,
            _ => OutputFormat::Jsonl,
        };
        if format == OutputFormat::Parquet && compression != Compression::None {
            return Err(Error::BadFile {
                path: path.to_owned(),
                reason: "Parquet compresses its columns itself; drop the .gz or .zst".into(),
            });
        }
        Ok((format, compression))
    }
}

/// An output file (or standard output) in the format its name asks for.
pub struct Sink {
    path: PathBuf,
    format: OutputFormat,
    writer: Writer,
}

enum Writer {
    Plain(BufWriter<Box<dyn Write + Send>>),
    Gzip(flate2::write::GzEncoder<BufWriter<Box<dyn Write + Send>>>),
    Zstd(zstd::Encoder<'static, BufWriter<Box<dyn Write + Send>>>),
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Writer::Plain(w) => w.write(buf),
            Writer::Gzip(w) => w.write(buf),
            Writer::Zstd(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Writer::Plain(w) => w.write_all(buf),
            Writer::Gzip(w) => w.write_all(buf),
            Writer::Zstd(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Writer::Plain(w) => w.flush(),
            Writer::Gzip(w) => w.flush(),
            Writer::Zstd(w) => w.flush(),
        }
    }
}

impl Sink {
    /// Creates `path` (`-` is standard output) for writing in the format of its name.
    pub fn create(path: &Path) -> Result<Sink> {
        let (format, compression) = OutputFormat::with_compression(path)?;
        let out: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::fs::File::create(path).map_err(|e| Error::io(path, e))?)
        };
        let out = BufWriter::with_capacity(1 << 20, out);
        let writer = match compression {
            Compression::None => Writer::Plain(out),
            Compression::Gzip => {
                Writer::Gzip(flate2::write::GzEncoder::new(out, flate2::Compression::default()))
            }
            Compression::Zstd => {
                Writer::Zstd(zstd::Encoder::new(out, 0).map_err(|e| Error::io(path, e))?)
            }
        };
        Ok(Sink { path: path.to_owned(), format, writer })
    }

    /// The format written.
    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// The path written (`-` for standard output).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Ends any compressed stream and flushes everything to the file.
    pub fn finish(self) -> std::io::Result<()> {
        match self.writer {
            Writer::Plain(mut w) => w.flush(),
            Writer::Gzip(w) => w.finish()?.flush(),
            Writer::Zstd(w) => w.finish()?.flush(),
        }
    }
}

/// Writes one row per document in input order, in the sink's format. `explain` adds
/// nested explanations, which only JSONL can hold.
pub fn write_assignments_to(
    report: &ScanReport,
    config: &DetectorConfig,
    explain: bool,
    sink: &mut Sink,
) -> std::io::Result<()> {
    if explain && sink.format != OutputFormat::Jsonl {
        return Err(std::io::Error::other("--explain is written as JSONL only"));
    }
    let n = report.assignments.len();
    match sink.format {
        OutputFormat::Jsonl => super::write_assignments(report, config, explain, &mut sink.writer),
        OutputFormat::Csv | OutputFormat::Tsv => {
            let mut out = csv_writer(sink);
            for doc in 0..n {
                let row = DocRow::from(doc_line(report, config, doc, false));
                out.serialize(row).map_err(std::io::Error::other)?;
            }
            out.flush()
        }
        OutputFormat::Parquet => parquet::assignments(report, config, &mut sink.writer),
    }
}

/// A document's line flattened for CSV: the link's columns are empty for an origin.
#[derive(Serialize)]
struct DocRow<'a> {
    id: &'a str,
    cluster: &'a str,
    origin: &'a str,
    kind: CopyKind,
    jaccard: f64,
    containment: f64,
    link_id: Option<&'a str>,
    link_jaccard: Option<f64>,
    link_containment: Option<f64>,
    link_containment_rev: Option<f64>,
}

impl<'a> From<DocLine<'a>> for DocRow<'a> {
    fn from(line: DocLine<'a>) -> Self {
        let link = line.link.as_ref();
        DocRow {
            id: line.id,
            cluster: line.cluster,
            origin: line.origin,
            kind: line.kind,
            jaccard: line.jaccard,
            containment: line.containment,
            link_id: link.map(|l| l.id),
            link_jaccard: link.map(|l| l.scores.jaccard),
            link_containment: link.map(|l| l.scores.containment),
            link_containment_rev: link.map(|l| l.scores.containment_rev),
        }
    }
}

/// Writes one row per cluster (largest first, then by origin's input order).
pub fn write_clusters_to(report: &ScanReport, sink: &mut Sink) -> std::io::Result<()> {
    let lines = cluster_lines(report);
    match sink.format {
        OutputFormat::Jsonl => super::write_clusters(report, &mut sink.writer),
        OutputFormat::Csv | OutputFormat::Tsv => {
            let mut out = csv_writer(sink);
            for line in &lines {
                out.serialize(ClusterRow::from(line)).map_err(std::io::Error::other)?;
            }
            out.flush()
        }
        OutputFormat::Parquet => parquet::clusters(&lines, &mut sink.writer),
    }
}

/// Writes each reject: `{"file", "line" or "row", "reason"}` per JSON line, or CSV
/// columns `file,line,row,reason` (one of `line` and `row` empty).
pub fn write_rejects(rejects: &[Reject], sink: &mut Sink) -> std::io::Result<()> {
    let rows = rejects.iter().map(|reject| {
        let (line, row) = match reject.location {
            Location::Line(line) => (Some(line), None),
            Location::Row(row) => (None, Some(row)),
        };
        RejectRow { file: reject.path.to_string_lossy(), line, row, reason: &reject.reason }
    });
    match sink.format {
        OutputFormat::Jsonl => {
            for row in rows {
                serde_json::to_writer(&mut sink.writer, &row)?;
                sink.writer.write_all(b"\n")?;
            }
            sink.writer.flush()
        }
        OutputFormat::Csv | OutputFormat::Tsv => {
            let mut out = csv_writer(sink);
            for row in rows {
                out.serialize(CsvRejectRow::from(row)).map_err(std::io::Error::other)?;
            }
            out.flush()
        }
        OutputFormat::Parquet => Err(std::io::Error::other("rejects are written as JSONL or CSV")),
    }
}

fn csv_writer(sink: &mut Sink) -> csv::Writer<&mut Writer> {
    let delimiter = if sink.format == OutputFormat::Tsv { b'\t' } else { b',' };
    csv::WriterBuilder::new().delimiter(delimiter).from_writer(&mut sink.writer)
}

/// A cluster as a CSV row: the members as a JSON array.
#[derive(Serialize)]
struct ClusterRow<'a> {
    cluster: &'a str,
    size: usize,
    origin: &'a str,
    members: String,
}

impl<'a> From<&ClusterLine<'a>> for ClusterRow<'a> {
    fn from(line: &ClusterLine<'a>) -> Self {
        ClusterRow {
            cluster: line.cluster,
            size: line.size,
            origin: line.origin,
            members: serde_json::to_string(&line.members).unwrap_or_default(),
        }
    }
}

#[derive(Serialize)]
struct RejectRow<'a> {
    file: std::borrow::Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    row: Option<usize>,
    reason: &'a str,
}

/// The same, with every column present (CSV needs the same columns on every row).
#[derive(Serialize)]
struct CsvRejectRow<'a> {
    file: std::borrow::Cow<'a, str>,
    line: Option<usize>,
    row: Option<usize>,
    reason: &'a str,
}

impl<'a> From<RejectRow<'a>> for CsvRejectRow<'a> {
    fn from(row: RejectRow<'a>) -> Self {
        CsvRejectRow { file: row.file, line: row.line, row: row.row, reason: row.reason }
    }
}

#[cfg(feature = "parquet")]
mod parquet {
    //! The Parquet writers: record batches built column by column.

    use std::io::Write;
    use std::sync::Arc;

    use arrow_array::builder::{Float64Builder, ListBuilder, StringBuilder, UInt64Builder};
    use arrow_array::{ArrayRef, RecordBatch};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;

    use super::{ClusterLine, ScanReport, doc_line};
    use crate::cluster::CopyKind;
    use crate::config::DetectorConfig;

    const BATCH_ROWS: usize = 65_536;

    fn kind_name(kind: CopyKind) -> &'static str {
        match kind {
            CopyKind::NewStory => "new_story",
            CopyKind::Duplicate => "duplicate",
            CopyKind::PartialCopy => "partial_copy",
        }
    }

    fn writer<W: Write + Send>(out: W, batch: &RecordBatch) -> std::io::Result<ArrowWriter<W>> {
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        ArrowWriter::try_new(out, batch.schema(), Some(properties)).map_err(std::io::Error::other)
    }

    fn write_all<W: Write + Send>(
        out: W,
        mut batches: impl Iterator<Item = std::io::Result<RecordBatch>>,
        empty: RecordBatch,
    ) -> std::io::Result<()> {
        let first = batches.next().transpose()?.unwrap_or(empty);
        let mut writer = writer(out, &first)?;
        writer.write(&first).map_err(std::io::Error::other)?;
        for batch in batches {
            writer.write(&batch?).map_err(std::io::Error::other)?;
        }
        writer.close().map_err(std::io::Error::other)?;
        Ok(())
    }

    pub(super) fn assignments<W: Write + Send>(
        report: &ScanReport,
        config: &DetectorConfig,
        out: W,
    ) -> std::io::Result<()> {
        let n = report.assignments.len();
        let empty = assignment_batch(report, config, 0..0)?;
        let batches = (0..n)
            .step_by(BATCH_ROWS)
            .map(|s| assignment_batch(report, config, s..(s + BATCH_ROWS).min(n)));
        write_all(out, batches, empty)
    }

    /// The assignment rows of a scan as Arrow record batches (at most 65,536 rows each,
    /// at least one batch), with the columns and types of the Parquet output: `id`,
    /// `cluster`, `origin`, `kind`, `jaccard`, `containment`, `link_id`, `link_jaccard`,
    /// `link_containment`, `link_containment_rev`.
    pub fn assignment_batches(
        report: &ScanReport,
        config: &DetectorConfig,
    ) -> std::io::Result<Vec<RecordBatch>> {
        let n = report.assignments.len();
        if n == 0 {
            return Ok(vec![assignment_batch(report, config, 0..0)?]);
        }
        (0..n)
            .step_by(BATCH_ROWS)
            .map(|s| assignment_batch(report, config, s..(s + BATCH_ROWS).min(n)))
            .collect()
    }

    fn assignment_batch(
        report: &ScanReport,
        config: &DetectorConfig,
        range: std::ops::Range<usize>,
    ) -> std::io::Result<RecordBatch> {
        let mut id = StringBuilder::new();
        let mut cluster = StringBuilder::new();
        let mut origin = StringBuilder::new();
        let mut kind = StringBuilder::new();
        let mut jaccard = Float64Builder::new();
        let mut containment = Float64Builder::new();
        let mut link_id = StringBuilder::new();
        let mut link_jaccard = Float64Builder::new();
        let mut link_containment = Float64Builder::new();
        let mut link_containment_rev = Float64Builder::new();
        for doc in range {
            let line = doc_line(report, config, doc, false);
            let link = line.link.as_ref();
            link_id.append_option(link.map(|l| l.id));
            link_jaccard.append_option(link.map(|l| l.scores.jaccard));
            link_containment.append_option(link.map(|l| l.scores.containment));
            link_containment_rev.append_option(link.map(|l| l.scores.containment_rev));
            id.append_value(line.id);
            cluster.append_value(line.cluster);
            origin.append_value(line.origin);
            kind.append_value(kind_name(line.kind));
            jaccard.append_value(line.jaccard);
            containment.append_value(line.containment);
        }
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(id.finish())),
            ("cluster", Arc::new(cluster.finish())),
            ("origin", Arc::new(origin.finish())),
            ("kind", Arc::new(kind.finish())),
            ("jaccard", Arc::new(jaccard.finish())),
            ("containment", Arc::new(containment.finish())),
            ("link_id", Arc::new(link_id.finish())),
            ("link_jaccard", Arc::new(link_jaccard.finish())),
            ("link_containment", Arc::new(link_containment.finish())),
            ("link_containment_rev", Arc::new(link_containment_rev.finish())),
        ];
        RecordBatch::try_from_iter(columns).map_err(std::io::Error::other)
    }

    pub(super) fn clusters<W: Write + Send>(
        lines: &[ClusterLine<'_>],
        out: W,
    ) -> std::io::Result<()> {
        let batch = |lines: &[ClusterLine<'_>]| -> std::io::Result<RecordBatch> {
            let mut cluster = StringBuilder::new();
            let mut size = UInt64Builder::new();
            let mut origin = StringBuilder::new();
            let mut members = ListBuilder::new(StringBuilder::new());
            for line in lines {
                cluster.append_value(line.cluster);
                size.append_value(line.size as u64);
                origin.append_value(line.origin);
                for member in &line.members {
                    members.values().append_value(member);
                }
                members.append(true);
            }
            let columns: Vec<(&str, ArrayRef)> = vec![
                ("cluster", Arc::new(cluster.finish())),
                ("size", Arc::new(size.finish())),
                ("origin", Arc::new(origin.finish())),
                ("members", Arc::new(members.finish())),
            ];
            RecordBatch::try_from_iter(columns).map_err(std::io::Error::other)
        };
        let empty = batch(&[])?;
        write_all(out, lines.chunks(BATCH_ROWS).map(batch), empty)
    }
}

#[cfg(feature = "parquet")]
pub use parquet::assignment_batches;

#[cfg(not(feature = "parquet"))]
mod parquet {
    //! Without the `parquet` feature, asking for Parquet output is an error.

    use super::{ClusterLine, ScanReport};
    use crate::config::DetectorConfig;

    fn off() -> std::io::Error {
        std::io::Error::other("this build writes no Parquet (feature \"parquet\" is off)")
    }

    pub(super) fn assignments(
        _: &ScanReport,
        _: &DetectorConfig,
        _: impl std::io::Write,
    ) -> std::io::Result<()> {
        Err(off())
    }

    pub(super) fn clusters(_: &[ClusterLine<'_>], _: impl std::io::Write) -> std::io::Result<()> {
        Err(off())
    }
}
