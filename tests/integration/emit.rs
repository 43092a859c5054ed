//! `neardup scan --emit-parquet DIR` on a real corpus file: the stage tables read back
//! with the parquet crate hold one document row per valid record (ids in input order,
//! rejected records left out), band rows for every document but the identical copies,
//! and the contract's metadata; a file written under another config is refused.

use std::collections::HashMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use neardup::config::DetectorConfig;
use neardup::contract::{self, Table};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::common::{neardup, root, stdout_ok};

/// The batches and the key-value metadata of a Parquet file.
fn read(path: &Path) -> (Vec<RecordBatch>, HashMap<String, String>) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let metadata = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
        .collect();
    let batches = builder.build().unwrap().map(Result::unwrap).collect();
    (batches, metadata)
}

fn column_names(batches: &[RecordBatch]) -> Vec<String> {
    batches[0].schema().fields().iter().map(|f| f.name().clone()).collect()
}

#[test]
fn emitted_tables_hold_the_corpus_documents_and_their_band_rows() {
    // The committed sample, with a bad record and exact copies of its first articles
    // (same text, so the same signature: they get no band rows of their own).
    let sample = std::fs::read_to_string(root().join("tests/fixtures/synd-sample.jsonl")).unwrap();
    let mut lines: Vec<String> = sample.lines().map(str::to_owned).collect();
    lines.insert(3, r#"{"id": "broken", "text": 7}"#.into());
    let originals: Vec<serde_json::Value> =
        sample.lines().take(4).map(|l| serde_json::from_str(l).unwrap()).collect();
    for (i, original) in originals.iter().enumerate() {
        let mut copy = original.clone();
        copy["id"] = format!("copy-{i}").into();
        lines.push(copy.to_string());
    }
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    std::fs::write(&corpus, lines.join("\n") + "\n").unwrap();
    let emitted = dir.path().join("emitted");
    let output = neardup(&[
        "scan",
        corpus.to_str().unwrap(),
        "--skip-invalid",
        "--no-chrome",
        "--emit-parquet",
        emitted.to_str().unwrap(),
        "--out",
        dir.path().join("out.jsonl").to_str().unwrap(),
    ]);
    stdout_ok(&output);

    // The independent truth: the valid records' ids in order, and which texts repeat.
    let records: Vec<serde_json::Value> =
        lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let valid: Vec<&serde_json::Value> = records.iter().filter(|r| r["text"].is_string()).collect();
    let mut seen = std::collections::HashSet::new();
    let copies = valid.iter().filter(|r| !seen.insert(r["text"].as_str().unwrap())).count();
    assert!(copies >= 4, "{copies} repeated texts");

    let (docs, meta) = read(&emitted.join("documents.parquet"));
    let config: DetectorConfig = serde_json::from_str(&meta[contract::CONFIG_KEY]).unwrap();
    contract::check("documents.parquet", &meta, Table::Documents, &config).unwrap();
    assert!(config.sampled_containment && !config.chrome.enabled);
    let names: Vec<&str> = Table::Documents.columns().iter().map(|c| c.name).collect();
    assert_eq!(column_names(&docs), names);
    let rows: usize = docs.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, valid.len());
    let mut ids = Vec::new();
    for batch in &docs {
        let id = batch.column_by_name("id").unwrap().as_string::<i32>();
        let ordinal = batch.column_by_name("ordinal").unwrap().as_primitive::<Int64Type>();
        let lanes = batch.column_by_name("lanes").unwrap().as_list::<i32>();
        let shingles = batch.column_by_name("shingles").unwrap().as_list::<i32>();
        let size = batch.column_by_name("size").unwrap().as_primitive::<Int32Type>();
        for row in 0..batch.num_rows() {
            assert_eq!(ordinal.value(row) as usize, ids.len());
            ids.push(id.value(row).to_owned());
            assert_eq!(lanes.value(row).len(), config.num_perm);
            // Sampled containment keeps each document's shingle sketch: distinct 16-bit
            // keys, ascending, one per shingle but for the rare shared top bits, at most
            // the 1,024 smallest.
            let sketch = shingles.value(row);
            let keys = sketch.as_primitive::<Int32Type>().values();
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "row {row}: {keys:?}");
            assert!(keys.iter().all(|&key| (0..=0xFFFF).contains(&key)), "row {row}");
            let whole = (size.value(row) as usize).min(1024);
            assert!(keys.len() <= whole && keys.len() * 10 >= whole * 9, "row {row}");
        }
    }
    let expected_ids: Vec<&str> = valid.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, expected_ids);

    let (bands, meta) = read(&emitted.join("bands.parquet"));
    contract::check("bands.parquet", &meta, Table::Bands, &config).unwrap();
    let names: Vec<&str> = Table::Bands.columns().iter().map(|c| c.name).collect();
    assert_eq!(column_names(&bands), names);
    let rows: usize = bands.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, (valid.len() - copies) * (config.bands + config.containment_bands));
    let banded: std::collections::HashSet<i64> = bands
        .iter()
        .flat_map(|b| {
            let ordinal = b.column_by_name("ordinal").unwrap().as_primitive::<Int64Type>();
            ordinal.values().to_vec()
        })
        .collect();
    for i in 0..originals.len() {
        let copy = expected_ids.iter().position(|&id| id == format!("copy-{i}")).unwrap();
        assert!(!banded.contains(&(copy as i64)), "copy-{i} has band rows");
    }

    // A reader under another config refuses the file, naming the setting and both values.
    let other = DetectorConfig { shingle_size: config.shingle_size + 1, ..config.clone() };
    let error = contract::check("bands.parquet", &meta, Table::Bands, &other).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "bands.parquet: stage table written with neardup.config.shingle_size = {}, but \
             this reader expects neardup.config.shingle_size = {}",
            config.shingle_size, other.shingle_size
        )
    );
}

#[test]
fn emitting_into_a_file_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("taken");
    std::fs::write(&blocker, "").unwrap();
    let example = root().join("examples/kremlin.jsonl");
    let output = neardup(&[
        "scan",
        example.to_str().unwrap(),
        "--emit-parquet",
        blocker.to_str().unwrap(),
        "--out",
        "/dev/null",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(blocker.to_str().unwrap()), "{stderr}");
}
