//! `neardup.arrow`: the batch scan's stages over Arrow record batches, for runners that
//! split a corpus across processes (Spark's `mapInArrow`). Each function takes a record
//! batch of one stage table and returns the next, one call per partition; the decisions
//! are the library's (`neardup::cluster::stages`, the chrome model, the fingerprinter),
//! and the runner only moves rows between calls (group-bys, joins, components).
//!
//! The stage tables use only the Arrow types Spark has: unsigned values (lanes,
//! shingles, bucket keys) are stored bit for bit in signed columns of the same width.
//! Those a runner stores between jobs follow `neardup::contract` (columns, metadata,
//! versions), which [`contract`], [`check_contract`] and [`schema`] expose.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int8Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, ListArray, RecordBatch};
use arrow_pyarrow::PyArrowType;
use arrow_schema::Schema;
use neardup::chrome::{ChromeModel, KeyCount};
use neardup::cluster::stages::{
    self, BandRow, SignedDocs, VerifiedLink, View, bucket_pairs, cluster_component, kind_of,
};
use neardup::cluster::{Similarity, shingle_sketch};
use neardup::contract::{Table, band_columns};
use neardup::fingerprint::Fingerprinter;
use neardup::scan::ChromeSample;
use neardup::scan::input::{Format, Input};
use neardup::{DetectorConfig, Error};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::{ReadArgs, config, to_py};

type Batch = PyArrowType<RecordBatch>;

fn arrow_err(e: impl std::fmt::Display) -> PyErr {
    PyRuntimeError::new_err(e.to_string())
}

/// A stage table. Every column is nullable, so that runners can union tables of
/// different stages (a component's documents and links).
fn batch(columns: Vec<(&str, ArrayRef)>) -> PyResult<Batch> {
    let columns = columns.into_iter().map(|(name, array)| (name, array, true));
    RecordBatch::try_from_iter_with_nullable(columns).map(PyArrowType).map_err(arrow_err)
}

/// A column of a stage table, with an error naming the column and the type wanted.
fn column<'a>(batch: &'a RecordBatch, name: &str) -> PyResult<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| {
        to_py(Error::InvalidInput {
            field: "batch",
            reason: format!("the stage table has no column {name:?}"),
        })
    })
}

fn i64s<'a>(batch: &'a RecordBatch, name: &str) -> PyResult<&'a arrow_array::Int64Array> {
    column(batch, name)?.as_primitive_opt::<Int64Type>().ok_or_else(|| wrong(name, "int64"))
}

fn i32s<'a>(batch: &'a RecordBatch, name: &str) -> PyResult<&'a arrow_array::Int32Array> {
    column(batch, name)?.as_primitive_opt::<Int32Type>().ok_or_else(|| wrong(name, "int32"))
}

fn f64s<'a>(batch: &'a RecordBatch, name: &str) -> PyResult<&'a arrow_array::Float64Array> {
    column(batch, name)?.as_primitive_opt::<Float64Type>().ok_or_else(|| wrong(name, "double"))
}

fn lists<'a>(batch: &'a RecordBatch, name: &str) -> PyResult<&'a ListArray> {
    column(batch, name)?.as_list_opt::<i32>().ok_or_else(|| wrong(name, "list<int32>"))
}

fn wrong(name: &str, want: &str) -> PyErr {
    to_py(Error::InvalidInput {
        field: "batch",
        reason: format!("column {name:?} of the stage table must be {want}"),
    })
}

/// Row `row` of a `list<int32>` column, as the unsigned values it stores.
fn u32_list(list: &ListArray, row: usize) -> PyResult<Vec<u32>> {
    let values = list.value(row);
    let values =
        values.as_primitive_opt::<Int32Type>().ok_or_else(|| wrong("lanes", "list<int32>"))?;
    Ok(values.values().iter().map(|&v| v as u32).collect())
}

fn ordinal(value: i64) -> PyResult<u32> {
    u32::try_from(value).map_err(|_| {
        to_py(Error::InvalidInput {
            field: "ordinal",
            reason: format!(
                "{value} is outside 0..2^32: a run holds at most 4,294,967,295 articles"
            ),
        })
    })
}

/// A string column (`string`, `large_string`, or all null) as owned values.
fn text(batch: &RecordBatch, name: &str) -> PyResult<Vec<Option<String>>> {
    let array = column(batch, name)?;
    let owned = |s: Option<&str>| s.map(str::to_owned);
    if let Some(strings) = array.as_string_opt::<i32>() {
        return Ok(strings.iter().map(owned).collect());
    }
    if let Some(strings) = array.as_string_opt::<i64>() {
        return Ok(strings.iter().map(owned).collect());
    }
    if array.data_type() == &arrow_schema::DataType::Null {
        return Ok(vec![None; array.len()]);
    }
    Err(wrong(name, "string"))
}

/// The documents table of records read by the library's readers.
struct DocumentsBuilder {
    ordinal: Int64Builder,
    id: StringBuilder,
    text: StringBuilder,
    source: StringBuilder,
    published: Int64Builder,
    bytes: Int64Builder,
}

impl DocumentsBuilder {
    fn new() -> Self {
        DocumentsBuilder {
            ordinal: Int64Builder::new(),
            id: StringBuilder::new(),
            text: StringBuilder::new(),
            source: StringBuilder::new(),
            published: Int64Builder::new(),
            bytes: Int64Builder::new(),
        }
    }

    /// Appends the records of `input`, numbered from `first_ordinal` in input order as
    /// the scan numbers them (blank lines are not records), each with its input bytes
    /// as the scan measures a corpus (the record and its line end).
    fn read(&mut self, input: &Input, first_ordinal: i64) -> neardup::Result<()> {
        for (ordinal, span) in (first_ordinal..).zip(input.spans()) {
            let record = input.parse(span)?;
            neardup::article::validate_id(&record.id)
                .map_err(|e| input.error(span, e.to_string()))?;
            self.ordinal.append_value(ordinal);
            self.bytes.append_value(span.input_bytes() as i64);
            self.id.append_value(&record.id);
            self.text.append_value(&record.text);
            self.source.append_option(record.source.as_deref());
            self.published.append_option(record.published);
        }
        Ok(())
    }

    fn finish(mut self) -> PyResult<Batch> {
        batch(vec![
            ("ordinal", Arc::new(self.ordinal.finish())),
            ("id", Arc::new(self.id.finish())),
            ("text", Arc::new(self.text.finish())),
            ("source", Arc::new(self.source.finish())),
            ("published", Arc::new(self.published.finish())),
            ("bytes", Arc::new(self.bytes.finish())),
        ])
    }
}

/// Moves a record error's line or row by `offset`, so that it names the place in the
/// whole file rather than in the part read.
fn shift(error: Error, offset: usize) -> Error {
    match error {
        Error::BadRecord { path, line, reason } => {
            Error::BadRecord { path, line: line + offset, reason }
        }
        Error::BadRow { path, row, reason } => Error::BadRow { path, row: row + offset, reason },
        other => other,
    }
}

/// Stage 0, JSONL: the lines of part of a JSONL file (column `value`, blank lines
/// included, the first being line `first_line` of the file `name`) read as `neardup scan`
/// reads them, into the documents table (`ordinal`, `id`, `text`, `source`,
/// `published`, `bytes`). The part's first record (blank lines are none) gets ordinal
/// `first_ordinal`, the next one more, and so on.
#[pyfunction]
pub(crate) fn documents_from_lines(
    py: Python<'_>,
    lines: Batch,
    name: &str,
    read: ReadArgs,
    first_line: usize,
    first_ordinal: i64,
) -> PyResult<Batch> {
    let lines = lines.0;
    let values = text(&lines, "value")?;
    let options = read.options();
    let mut data = Vec::new();
    for value in &values {
        data.extend_from_slice(value.as_deref().unwrap_or("").as_bytes());
        data.push(b'\n');
    }
    let mut out = DocumentsBuilder::new();
    py.detach(|| {
        let input = Input::from_bytes(name, Format::Jsonl, data, &options.read)?;
        out.read(&input, first_ordinal)
    })
    .map_err(|e| to_py(shift(e, first_line.saturating_sub(1))))?;
    out.finish()
}

/// Stage 0, tables: rows of an Arrow table (a Parquet file's, say) with the article
/// columns `neardup scan` reads, into the documents table. Row `r` (1-based) of the
/// batch is row `first_row + r - 1` of `name` and gets ordinal `first_ordinal + r - 1`.
#[pyfunction]
pub(crate) fn documents_from_table(
    py: Python<'_>,
    rows: Batch,
    name: &str,
    read: ReadArgs,
    first_row: usize,
    first_ordinal: i64,
) -> PyResult<Batch> {
    let rows = rows.0;
    let options = read.options();
    let mut out = DocumentsBuilder::new();
    py.detach(|| {
        let input =
            Input::from_batches(name, std::slice::from_ref(&rows), &rows.schema(), &options.read)?;
        out.read(&input, first_ordinal)
    })
    .map_err(|e| to_py(shift(e, first_row.saturating_sub(1))))?;
    out.finish()
}

/// A document's text prepared, with an error naming the document.
fn prepare(
    fingerprinter: &Fingerprinter,
    id: &str,
    text: &str,
    source: &str,
) -> neardup::Result<neardup::fingerprint::PreparedText> {
    fingerprinter
        .prepare(text, source)
        .map_err(|e| Error::InvalidInput { field: "text", reason: format!("article {id:?}: {e}") })
}

struct Documents {
    ordinal: Vec<i64>,
    id: Vec<Option<String>>,
    text: Vec<Option<String>>,
    source: Vec<Option<String>>,
    published: Vec<Option<i64>>,
}

fn documents(batch: &RecordBatch) -> PyResult<Documents> {
    let published = i64s(batch, "published")?;
    Ok(Documents {
        ordinal: i64s(batch, "ordinal")?.values().to_vec(),
        id: text(batch, "id")?,
        text: text(batch, "text")?,
        source: text(batch, "source")?,
        published: published.iter().collect(),
    })
}

/// Stage 1, before: the records a scan of `records` records of `bytes` input bytes in
/// all (the documents table's row count and `bytes` sum) learns chrome from, as runs
/// `(start, end)` of ordinals (half-open, ascending): `[(0, records)]` for a corpus
/// within the small-corpus bound, evenly spread runs for a larger one.
#[pyfunction]
pub(crate) fn chrome_sample(records: usize, bytes: u64) -> Vec<(usize, usize)> {
    match ChromeSample::of(records, bytes) {
        ChromeSample::Whole => vec![(0, records)],
        ChromeSample::Runs(runs) => runs.into_iter().map(|run| (run.start, run.end)).collect(),
    }
}

/// `runs` from [`chrome_sample`] as the sample they stand for, refused unless ascending
/// and disjoint (which is what lets the sample answer by binary search).
fn sample_of(runs: Vec<(usize, usize)>) -> PyResult<ChromeSample> {
    let ordered = runs.iter().all(|&(start, end)| start <= end)
        && runs.windows(2).all(|pair| pair[0].1 <= pair[1].0);
    if !ordered {
        return Err(to_py(Error::InvalidInput {
            field: "sample",
            reason: "the runs must be ascending, disjoint (start, end) pairs, as \
                     chrome_sample returns them"
                .into(),
        }));
    }
    Ok(ChromeSample::Runs(runs.into_iter().map(|(start, end)| start..end).collect()))
}

/// Stage 1: each document's chrome keys (`key`, `ordinal`, `story`), one row per
/// distinct key, for the documents of `sample` (runs of ordinals from [`chrome_sample`];
/// every document when `None`). Counted per key over the corpus (documents, documents
/// of another story than the first one's, the first one's story), they make the scan's
/// chrome model ([`chrome_model`]).
#[pyfunction]
#[pyo3(signature = (docs, config_json, sample=None))]
pub(crate) fn chrome_keys(
    py: Python<'_>,
    docs: Batch,
    config_json: Option<&str>,
    sample: Option<Vec<(usize, usize)>>,
) -> PyResult<Batch> {
    let fingerprinter = Fingerprinter::new(config(config_json)?).map_err(to_py)?;
    let sample = sample.map(sample_of).transpose()?.unwrap_or(ChromeSample::Whole);
    let docs = documents(&docs.0)?;
    let (mut key, mut ordinal, mut story) =
        (Int64Builder::new(), Int64Builder::new(), Int32Builder::new());
    py.detach(|| -> neardup::Result<()> {
        for i in 0..docs.ordinal.len() {
            let sampled = usize::try_from(docs.ordinal[i]).is_ok_and(|o| sample.includes(o));
            if !sampled {
                continue;
            }
            let id = docs.id[i].as_deref().unwrap_or("");
            let source = docs.source[i].as_deref().unwrap_or("");
            let prepared =
                prepare(&fingerprinter, id, docs.text[i].as_deref().unwrap_or(""), source)?;
            for k in prepared.profile.keys() {
                key.append_value(k as i64);
                ordinal.append_value(docs.ordinal[i]);
                story.append_value(prepared.profile.story as i32);
            }
        }
        Ok(())
    })
    .map_err(to_py)?;
    batch(vec![
        ("key", Arc::new(key.finish())),
        ("ordinal", Arc::new(ordinal.finish())),
        ("story", Arc::new(story.finish())),
    ])
}

/// Stage 1, joined: the chrome model learned from `documents` documents (those of the
/// sample [`chrome_keys`] kept) from their key
/// counts (`key`, `docs`, `other_story`, `story`: int64, int64, int64, int32), as JSON
/// for [`sign`]. Refused when the corpus has more distinct keys than the model's capacity
/// lets a scan count exactly.
#[pyfunction]
pub(crate) fn chrome_model(
    counts: Batch,
    documents: u64,
    config_json: Option<&str>,
) -> PyResult<Vec<u8>> {
    let config = config(config_json)?;
    let counts = counts.0;
    let (key, docs, other, story) = (
        i64s(&counts, "key")?,
        i64s(&counts, "docs")?,
        i64s(&counts, "other_story")?,
        i32s(&counts, "story")?,
    );
    let rows = (0..counts.num_rows()).map(|i| KeyCount {
        key: key.value(i) as u64,
        docs: docs.value(i) as u32,
        other_story: other.value(i) as u32,
        story: story.value(i) as u32,
    });
    let model = ChromeModel::from_counts(&config.chrome, documents, rows).map_err(to_py)?;
    serde_json::to_vec(&model).map_err(arrow_err)
}

fn list_builder() -> ListBuilder<Int32Builder> {
    ListBuilder::new(Int32Builder::new())
}

/// Stage 2: each document signed as the scan signs it, chrome lines (of `chrome`, a
/// model from [`chrome_model`]; none when `None`) left out: `ordinal`, `size` (shingle
/// count), `published`, `lanes` (the MinHash signature), `shingles` (the shingle
/// sketch, for sampled containment; empty without it), `chrome`
/// (lines left out).
#[pyfunction]
#[pyo3(signature = (docs, config_json, chrome=None))]
pub(crate) fn sign(
    py: Python<'_>,
    docs: Batch,
    config_json: Option<&str>,
    chrome: Option<&[u8]>,
) -> PyResult<Batch> {
    let config = config(config_json)?;
    let sampled = config.sampled_containment;
    let fingerprinter = Fingerprinter::new(config).map_err(to_py)?;
    let chrome: Option<ChromeModel> = chrome
        .map(|json| {
            serde_json::from_slice(json).map_err(|e| {
                to_py(Error::InvalidInput {
                    field: "chrome",
                    reason: format!("not a chrome model: {e}"),
                })
            })
        })
        .transpose()?;
    let docs = documents(&docs.0)?;
    let mut ordinal = Int64Builder::new();
    let mut size = Int32Builder::new();
    let mut published = Int64Builder::new();
    let mut lanes = list_builder();
    let mut shingles = list_builder();
    let mut chrome_lines = Int32Builder::new();
    py.detach(|| -> neardup::Result<()> {
        for i in 0..docs.ordinal.len() {
            let id = docs.id[i].as_deref().unwrap_or("");
            let source = docs.source[i].as_deref().unwrap_or("");
            let prepared =
                prepare(&fingerprinter, id, docs.text[i].as_deref().unwrap_or(""), source)?;
            let signed = fingerprinter.sign(&prepared, chrome.as_ref());
            ordinal.append_value(docs.ordinal[i]);
            size.append_value(signed.fingerprint.shingle_count as i32);
            published.append_option(docs.published[i]);
            for &lane in signed.fingerprint.signature.lanes() {
                lanes.values().append_value(lane as i32);
            }
            lanes.append(true);
            if sampled {
                let mut low: Vec<u32> = signed.shingles.iter().map(|&h| h as u32).collect();
                low.sort_unstable();
                low.dedup();
                for key in shingle_sketch(&low) {
                    shingles.values().append_value(i32::from(key));
                }
            }
            shingles.append(true);
            chrome_lines.append_value(signed.chrome_lines.len() as i32);
        }
        Ok(())
    })
    .map_err(to_py)?;
    batch(vec![
        ("ordinal", Arc::new(ordinal.finish())),
        ("size", Arc::new(size.finish())),
        ("published", Arc::new(published.finish())),
        ("lanes", Arc::new(lanes.finish())),
        ("shingles", Arc::new(shingles.finish())),
        ("chrome", Arc::new(chrome_lines.finish())),
    ])
}

/// Stage 2b: identical signatures collapsed. `signed` holds signed documents (`ordinal`,
/// `size`, `published`, `lanes`, `shingles`), every document of a group of equal
/// signatures in the same call (partition by signature). Returns a link (`a`, `b`,
/// `jaccard`, `containment`, `containment_rev`) from each group's first document, its
/// representative, to each later one, a copy: copies get no band rows, and these links
/// join them to their representative's component as the batch scan does.
#[pyfunction]
pub(crate) fn collapse(
    py: Python<'_>,
    signed: Batch,
    config_json: Option<&str>,
) -> PyResult<Batch> {
    let config = config(config_json)?;
    let signed = signed.0;
    let mut docs = HashMap::new();
    collect_docs(&signed, "", 0..signed.num_rows(), &mut docs)?;
    let docs = signed_docs(&config, docs)?;
    let links = py.detach(|| stages::collapse(&config, &docs));
    link_batch(&links)
}

/// Stage 3: every signed document's rows in the bands of both LSH views: `view` (0
/// Jaccard, 1 containment), `band`, `key` (the bucket is the three), `ordinal`, `size`.
#[pyfunction]
pub(crate) fn band_rows(
    py: Python<'_>,
    signed: Batch,
    config_json: Option<&str>,
) -> PyResult<Batch> {
    let config = config(config_json)?;
    let signed = signed.0;
    let (ordinals, sizes, lanes) =
        (i64s(&signed, "ordinal")?, i32s(&signed, "size")?, lists(&signed, "lanes")?);
    let mut rows = Vec::new();
    for i in 0..signed.num_rows() {
        let doc_lanes = u32_list(lanes, i)?;
        if doc_lanes.len() != config.num_perm {
            return Err(wrong(
                "lanes",
                &format!("list<int32> of num_perm = {} lanes", config.num_perm),
            ));
        }
        let doc = ordinal(ordinals.value(i))?;
        let size = sizes.value(i) as u32;
        rows.extend(py.detach(|| stages::band_rows(&config, doc, &doc_lanes, size)));
    }
    band_batch(&rows)
}

fn band_batch(rows: &[BandRow]) -> PyResult<Batch> {
    let names = Table::Bands.columns().iter().map(|column| column.name);
    batch(names.zip(band_columns(rows)).collect())
}

/// Stage 4: the candidate pairs (`a` finds `b`) of whole buckets: `rows` holds every row
/// of each of its buckets (a partition of the band rows by bucket), in any order.
#[pyfunction]
pub(crate) fn candidate_pairs(py: Python<'_>, rows: Batch) -> PyResult<Batch> {
    let rows = rows.0;
    let view = column(&rows, "view")?
        .as_primitive_opt::<Int8Type>()
        .ok_or_else(|| wrong("view", "int8"))?;
    let (band, key, ordinals, size) =
        (i32s(&rows, "band")?, i64s(&rows, "key")?, i64s(&rows, "ordinal")?, i32s(&rows, "size")?);
    let mut all = Vec::with_capacity(rows.num_rows());
    for i in 0..rows.num_rows() {
        all.push(BandRow {
            view: if view.value(i) == 0 { View::Jaccard } else { View::Containment },
            band: band.value(i) as u32,
            key: key.value(i) as u64,
            doc: ordinal(ordinals.value(i))?,
            size: size.value(i) as u32,
        });
    }
    let pairs = py.detach(|| {
        all.sort_unstable_by_key(|r| (r.view, r.band, r.key));
        let mut pairs = Vec::new();
        for bucket in all.chunk_by_mut(|x, y| (x.view, x.band, x.key) == (y.view, y.band, y.key)) {
            pairs.extend(bucket_pairs(bucket));
        }
        pairs.sort_unstable();
        pairs.dedup();
        pairs
    });
    let (mut a, mut b) = (Int64Builder::new(), Int64Builder::new());
    for (x, y) in pairs {
        a.append_value(i64::from(x));
        b.append_value(i64::from(y));
    }
    batch(vec![("a", Arc::new(a.finish())), ("b", Arc::new(b.finish()))])
}

/// One document's signed columns: lanes, size, publication time, shingles.
type DocColumns = (Vec<u32>, u32, Option<i64>, Vec<u32>);

/// Documents from the `{prefix}ordinal`, `{prefix}lanes`, ... columns of some rows,
/// each kept once.
fn collect_docs(
    batch: &RecordBatch,
    prefix: &str,
    rows: impl Iterator<Item = usize>,
    into: &mut HashMap<u32, DocColumns>,
) -> PyResult<()> {
    let col = |name: &str| format!("{prefix}{name}");
    let ordinals = i64s(batch, &col("ordinal"))?;
    let sizes = i32s(batch, &col("size"))?;
    let published = i64s(batch, &col("published"))?;
    let lanes = lists(batch, &col("lanes"))?;
    let shingles = lists(batch, &col("shingles"))?;
    for i in rows {
        if ordinals.is_null(i) {
            continue;
        }
        let doc = ordinal(ordinals.value(i))?;
        if into.contains_key(&doc) {
            continue;
        }
        let entry = (
            u32_list(lanes, i)?,
            sizes.value(i) as u32,
            published.is_valid(i).then(|| published.value(i)),
            u32_list(shingles, i)?,
        );
        into.insert(doc, entry);
    }
    Ok(())
}

fn signed_docs(config: &DetectorConfig, docs: HashMap<u32, DocColumns>) -> PyResult<SignedDocs> {
    let mut docs: Vec<_> = docs.into_iter().collect();
    docs.sort_unstable_by_key(|(doc, _)| *doc);
    let mut out = SignedDocs::new(config);
    for (doc, (lanes, size, published, shingles)) in docs {
        if lanes.len() != config.num_perm {
            return Err(wrong(
                "lanes",
                &format!("list<int32> of num_perm = {} lanes", config.num_perm),
            ));
        }
        let Some(sketch) = stages::sketch_keys(&shingles) else {
            return Err(wrong(
                "shingles",
                "list<int32> of shingle sketch keys (0 to 65535, ascending, at most 1024)",
            ));
        };
        out.push(doc, &lanes, size, published, &sketch);
    }
    Ok(out)
}

fn link_batch(links: &[VerifiedLink]) -> PyResult<Batch> {
    let (mut a, mut b) = (Int64Builder::new(), Int64Builder::new());
    let (mut j, mut c, mut r) =
        (Float64Builder::new(), Float64Builder::new(), Float64Builder::new());
    for link in links {
        a.append_value(i64::from(link.a));
        b.append_value(i64::from(link.b));
        j.append_value(link.similarity.jaccard);
        c.append_value(link.similarity.containment);
        r.append_value(link.similarity.containment_rev);
    }
    batch(vec![
        ("a", Arc::new(a.finish())),
        ("b", Arc::new(b.finish())),
        ("jaccard", Arc::new(j.finish())),
        ("containment", Arc::new(c.finish())),
        ("containment_rev", Arc::new(r.finish())),
    ])
}

/// Stage 5: candidate pairs verified. Each row is a pair `a`, `b` with both documents'
/// signed columns (`a_ordinal`, `a_size`, `a_published`, `a_lanes`, `a_shingles`, and
/// the same for `b_`); both ways of a pair must be in the same batch. Returns one link
/// per pair of documents that are copies: `a`, `b`, `jaccard`, `containment` (of `a`
/// in `b`), `containment_rev`.
#[pyfunction]
pub(crate) fn verify_pairs(
    py: Python<'_>,
    pairs: Batch,
    config_json: Option<&str>,
) -> PyResult<Batch> {
    let config = config(config_json)?;
    let pairs = pairs.0;
    let mut docs = HashMap::new();
    collect_docs(&pairs, "a_", 0..pairs.num_rows(), &mut docs)?;
    collect_docs(&pairs, "b_", 0..pairs.num_rows(), &mut docs)?;
    let (a, b) = (i64s(&pairs, "a")?, i64s(&pairs, "b")?);
    let list: Vec<(u32, u32)> = (0..pairs.num_rows())
        .map(|i| Ok((ordinal(a.value(i))?, ordinal(b.value(i))?)))
        .collect::<PyResult<_>>()?;
    let docs = signed_docs(&config, docs)?;
    let links = py.detach(|| stages::verify_pairs(&config, &docs, &list)).map_err(to_py)?;
    link_batch(&links)
}

/// Stage 6: whole connected components clustered. `rows` holds, for each component
/// (`component`), one row per document (`ordinal`, `size`, `published`, `lanes`,
/// `shingles`; `a` null) and one row per link (`a`, `b`, `jaccard`, `containment`,
/// `containment_rev`; `ordinal` null). Returns each document's assignment: `ordinal`,
/// `origin`, `kind`, `jaccard` and `containment` (to the origin), `link` and its
/// `link_jaccard`, `link_containment`, `link_containment_rev` (null for an origin), the
/// scores rounded as `neardup scan` writes them.
#[pyfunction]
pub(crate) fn cluster_components(
    py: Python<'_>,
    rows: Batch,
    config_json: Option<&str>,
) -> PyResult<Batch> {
    let config = config(config_json)?;
    let rows = rows.0;
    let component = i64s(&rows, "component")?;
    let ordinals = i64s(&rows, "ordinal")?;
    let (a, b) = (i64s(&rows, "a")?, i64s(&rows, "b")?);
    let (j, c, r) =
        (f64s(&rows, "jaccard")?, f64s(&rows, "containment")?, f64s(&rows, "containment_rev")?);
    let mut by_component: HashMap<i64, (Vec<usize>, Vec<VerifiedLink>)> = HashMap::new();
    for i in 0..rows.num_rows() {
        let entry = by_component.entry(component.value(i)).or_default();
        if ordinals.is_valid(i) {
            entry.0.push(i);
        } else {
            entry.1.push(VerifiedLink {
                a: ordinal(a.value(i))?,
                b: ordinal(b.value(i))?,
                similarity: Similarity {
                    jaccard: j.value(i),
                    containment: c.value(i),
                    containment_rev: r.value(i),
                },
            });
        }
    }
    let mut components: Vec<_> = by_component.into_iter().collect();
    components.sort_unstable_by_key(|(id, _)| *id);
    let mut out = AssignmentBuilder::default();
    for (_, (doc_rows, links)) in components {
        let mut docs = HashMap::new();
        collect_docs(&rows, "", doc_rows.into_iter(), &mut docs)?;
        let docs = signed_docs(&config, docs)?;
        let assigned = py.detach(|| cluster_component(&config, &docs, &links)).map_err(to_py)?;
        for (doc, assignment) in assigned {
            out.push(&config, doc, &assignment);
        }
    }
    out.finish()
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

#[derive(Default)]
struct AssignmentBuilder {
    ordinal: Int64Builder,
    origin: Int64Builder,
    kind: StringBuilder,
    jaccard: Float64Builder,
    containment: Float64Builder,
    link: Int64Builder,
    link_jaccard: Float64Builder,
    link_containment: Float64Builder,
    link_containment_rev: Float64Builder,
}

impl AssignmentBuilder {
    fn push(&mut self, config: &DetectorConfig, doc: u32, a: &neardup::cluster::Assignment) {
        let doc = doc as usize;
        self.ordinal.append_value(doc as i64);
        self.origin.append_value(a.origin as i64);
        self.kind.append_value(match kind_of(a, doc, config) {
            neardup::CopyKind::NewStory => "new_story",
            neardup::CopyKind::Duplicate => "duplicate",
            neardup::CopyKind::PartialCopy => "partial_copy",
        });
        self.jaccard.append_value(round4(a.to_origin.jaccard));
        self.containment.append_value(round4(a.to_origin.containment));
        let link = a.link.filter(|_| a.origin != doc);
        self.link.append_option(link.map(|(other, _)| other as i64));
        self.link_jaccard.append_option(link.map(|(_, s)| round4(s.jaccard)));
        self.link_containment.append_option(link.map(|(_, s)| round4(s.containment)));
        self.link_containment_rev.append_option(link.map(|(_, s)| round4(s.containment_rev)));
    }

    fn finish(mut self) -> PyResult<Batch> {
        batch(vec![
            ("ordinal", Arc::new(self.ordinal.finish())),
            ("origin", Arc::new(self.origin.finish())),
            ("kind", Arc::new(self.kind.finish())),
            ("jaccard", Arc::new(self.jaccard.finish())),
            ("containment", Arc::new(self.containment.finish())),
            ("link", Arc::new(self.link.finish())),
            ("link_jaccard", Arc::new(self.link_jaccard.finish())),
            ("link_containment", Arc::new(self.link_containment.finish())),
            ("link_containment_rev", Arc::new(self.link_containment_rev.finish())),
        ])
    }
}

fn table(name: &str) -> PyResult<Table> {
    Table::from_name(name).map_err(to_py)
}

/// The key-value metadata of a `table` file written under `config_json` (the contract of
/// `neardup::contract`): the table's name, the format version, the hash scheme and the
/// config.
#[pyfunction]
#[pyo3(signature = (config_json, table="documents"))]
pub(crate) fn contract(
    config_json: Option<&str>,
    table: &str,
) -> PyResult<HashMap<String, String>> {
    Ok(neardup::contract::metadata(self::table(table)?, &config(config_json)?))
}

/// Refuses `metadata` (of the file `file`) unless it says the file holds `table` written
/// under this build's format and hash scheme and under `config_json`: raises
/// `ContractMismatch` naming the key, the value expected and the value found.
#[pyfunction]
pub(crate) fn check_contract(
    file: &str,
    metadata: HashMap<String, String>,
    table: &str,
    config_json: Option<&str>,
) -> PyResult<()> {
    let config = config(config_json)?;
    neardup::contract::check(file, &metadata, self::table(table)?, &config).map_err(to_py)
}

/// The Arrow schema of `table`'s files under `config_json`, metadata included.
#[pyfunction]
pub(crate) fn schema(table: &str, config_json: Option<&str>) -> PyResult<PyArrowType<Schema>> {
    Ok(PyArrowType(self::table(table)?.schema(&config(config_json)?)))
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(documents_from_lines, module)?)?;
    module.add_function(wrap_pyfunction!(documents_from_table, module)?)?;
    module.add_function(wrap_pyfunction!(chrome_sample, module)?)?;
    module.add_function(wrap_pyfunction!(chrome_keys, module)?)?;
    module.add_function(wrap_pyfunction!(chrome_model, module)?)?;
    module.add_function(wrap_pyfunction!(sign, module)?)?;
    module.add_function(wrap_pyfunction!(collapse, module)?)?;
    module.add_function(wrap_pyfunction!(band_rows, module)?)?;
    module.add_function(wrap_pyfunction!(candidate_pairs, module)?)?;
    module.add_function(wrap_pyfunction!(verify_pairs, module)?)?;
    module.add_function(wrap_pyfunction!(cluster_components, module)?)?;
    module.add_function(wrap_pyfunction!(contract, module)?)?;
    module.add_function(wrap_pyfunction!(check_contract, module)?)?;
    module.add_function(wrap_pyfunction!(schema, module)?)?;
    Ok(())
}
