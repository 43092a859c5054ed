//! `neardup scan --emit-parquet DIR`: a scan's signed documents and band rows written
//! as the stage tables of [`crate::contract`] (`documents.parquet`, `bands.parquet`),
//! so that a corpus signed on one machine is joined elsewhere (`neardup-spark
//! --emitted DIR`) into the assignments this scan gives. Ordinals are the scan's
//! document numbers (input order, rejected records left out); band rows are those of
//! representatives only, identical copies collapsed as the scan collapses them.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Int32Builder, Int64Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;

use super::ScanReport;
use crate::cluster::SampledContainment;
use crate::cluster::stages::{BandRow, band_rows};
use crate::config::DetectorConfig;
use crate::contract::{self, Table};
use crate::error::{Error, Result};
use crate::lsh::Slot;

/// Documents per record batch (and per band-row batch's documents).
const BATCH_DOCS: usize = 16_384;

/// What [`emit_parquet`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Emitted {
    /// Rows of `documents.parquet`: every document.
    pub documents: usize,
    /// Documents with band rows: all but identical copies.
    pub representatives: usize,
    /// Rows of `bands.parquet`.
    pub band_rows: usize,
}

/// Writes `dir/documents.parquet` and `dir/bands.parquet` (creating `dir`) for the
/// documents of `report`, scanned under `config`, with the contract's metadata.
pub fn emit_parquet(report: &ScanReport, config: &DetectorConfig, dir: &Path) -> Result<Emitted> {
    report.signatures_kept("writing stage tables")?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let docs = &report.docs;
    let n = docs.len();
    let (lanes, sizes) = docs.signatures();
    let sets = config.sampled_containment.then_some(&report.samples as &dyn SampledContainment);
    let rep_of = crate::cluster::representatives(config, lanes, sizes, sets);
    let starts: Vec<usize> = (0..n).step_by(BATCH_DOCS).collect();

    let path = dir.join("documents.parquet");
    write(
        &path,
        Table::Documents,
        config,
        starts.iter().map(|&start| {
            let end = (start + BATCH_DOCS).min(n);
            document_batch(report, config, start..end)
        }),
    )?;

    let path = dir.join("bands.parquet");
    let mut band_count = 0;
    write(
        &path,
        Table::Bands,
        config,
        starts.iter().map(|&start| {
            let end = (start + BATCH_DOCS).min(n);
            let rows: Vec<BandRow> = (start..end)
                .into_par_iter()
                .filter(|&doc| rep_of[doc] as usize == doc)
                .flat_map_iter(|doc| band_rows(config, doc as Slot, docs.lanes(doc), sizes[doc]))
                .collect();
            band_count += rows.len();
            band_batch(config, &rows)
        }),
    )?;
    let representatives = rep_of.iter().enumerate().filter(|&(doc, &rep)| rep as usize == doc);
    Ok(Emitted { documents: n, representatives: representatives.count(), band_rows: band_count })
}

/// Writes `batches` to `path`, the contract's metadata in the footer (an empty table
/// still gets its schema).
fn write(
    path: &Path,
    table: Table,
    config: &DetectorConfig,
    batches: impl Iterator<Item = Result<RecordBatch>>,
) -> Result<()> {
    let schema = Arc::new(table.schema(config));
    let mut metadata: Vec<KeyValue> =
        schema.metadata().iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())).collect();
    metadata.sort_by(|a, b| a.key.cmp(&b.key));
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(metadata))
        .build();
    let failed = |e: parquet::errors::ParquetError| Error::io(path, std::io::Error::other(e));
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties)).map_err(failed)?;
    for batch in batches {
        writer.write(&batch?).map_err(failed)?;
    }
    writer.close().map_err(failed)?;
    Ok(())
}

fn batch(table: Table, config: &DetectorConfig, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    RecordBatch::try_new(Arc::new(table.schema(config)), columns)
        .map_err(|e| Error::Internal { reason: format!("{} table: {e}", table.name()) })
}

fn document_batch(
    report: &ScanReport,
    config: &DetectorConfig,
    docs: std::ops::Range<usize>,
) -> Result<RecordBatch> {
    let d = &report.docs;
    let rows = docs.len();
    let mut ordinal = Int64Builder::with_capacity(rows);
    let mut id = StringBuilder::new();
    let mut source = StringBuilder::new();
    let mut published = Int64Builder::with_capacity(rows);
    let mut size = Int32Builder::with_capacity(rows);
    let mut lanes = ListBuilder::new(Int32Builder::with_capacity(rows * config.num_perm));
    let mut shingles = ListBuilder::new(Int32Builder::new());
    for doc in docs {
        ordinal.append_value(doc as i64);
        id.append_value(d.id(doc));
        source.append_option(d.source(doc));
        published.append_option(d.published(doc));
        size.append_value(d.shingle_count(doc) as i32);
        for &lane in d.lanes(doc) {
            lanes.values().append_value(lane as i32);
        }
        lanes.append(true);
        if config.sampled_containment {
            for key in report.samples.get(doc) {
                shingles.values().append_value(i32::from(key));
            }
        }
        shingles.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ordinal.finish()),
        Arc::new(id.finish()),
        Arc::new(source.finish()),
        Arc::new(published.finish()),
        Arc::new(size.finish()),
        Arc::new(lanes.finish()),
        Arc::new(shingles.finish()),
    ];
    batch(Table::Documents, config, columns)
}

fn band_batch(config: &DetectorConfig, rows: &[BandRow]) -> Result<RecordBatch> {
    batch(Table::Bands, config, contract::band_columns(rows))
}
