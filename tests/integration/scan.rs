//! `scan` reads every record once. A small corpus is learned from whole, batch by batch,
//! and its kept normalized texts are signed after: the result must be the one of learning
//! chrome from the whole corpus with every text in memory and signing after, computed
//! here from the library's parts. A corpus past the small-corpus bound learns chrome from
//! a sample first: built here from the fixture's articles spread among many filler
//! records, it must still leave out the fixture's chrome, cluster its copies as the
//! fixture's labels say, and report bad records exactly where they are.

use std::path::Path;

use neardup::DetectorConfig;
use neardup::chrome::{ChromeModel, LineProfile};
use neardup::cluster::ShingleSample;
use neardup::cluster::cluster_fingerprints;
use neardup::fingerprint::{Fingerprint, Fingerprinter};
use neardup::scan::input::parse_date;
use neardup::scan::{ScanOptions, scan};

use crate::common;

/// Learn chrome from every document, then sign each, then cluster.
fn learn_first(path: &Path, config: &DetectorConfig) -> (Vec<String>, Vec<usize>, u64) {
    let fingerprinter = Fingerprinter::new(config.clone()).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let mut ids = Vec::new();
    let mut published = Vec::new();
    let mut prepared = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let field = |name: &str| row.get(name).and_then(|v| v.as_str());
        ids.push(field("id").unwrap().to_owned());
        published.push(field("date").and_then(parse_date));
        prepared.push(
            fingerprinter.prepare(field("text").unwrap(), field("source").unwrap_or("")).unwrap(),
        );
    }
    let profiles: Vec<&LineProfile> = prepared.iter().map(|p| &p.profile).collect();
    let shards = (0..ChromeModel::SHARDS)
        .map(|shard| ChromeModel::learn_shard(&config.chrome, &profiles, shard))
        .collect();
    let model = ChromeModel::from_shards(&config.chrome, shards);
    let mut fingerprints: Vec<Fingerprint> = Vec::new();
    let mut samples = Vec::new();
    let mut chrome = 0u64;
    for doc in &prepared {
        let signed = fingerprinter.sign(doc, Some(&model));
        chrome += signed.chrome_lines.len() as u64;
        samples.push(ShingleSample::new(
            fingerprinter.hasher(),
            &signed.shingles,
            signed.fingerprint.signature.lanes(),
        ));
        fingerprints.push(signed.fingerprint);
    }
    let assignments = cluster_fingerprints(config, &fingerprints, Some(&samples), &published);
    (ids, assignments.iter().map(|a| a.origin).collect(), chrome)
}

fn check(path: &Path) {
    let config = DetectorConfig::default();
    let report = scan(&[path.to_path_buf()], &config, &ScanOptions::default()).unwrap();
    let (ids, origins, chrome) = learn_first(path, &config);
    assert_eq!(report.docs.len(), ids.len());
    assert!(chrome > 0, "the corpus has chrome to learn");
    assert_eq!(report.chrome_lines, chrome);
    for (doc, id) in ids.iter().enumerate() {
        assert_eq!(report.docs.id(doc), id);
        assert_eq!(report.assignments[doc].origin, origins[doc], "{id}");
    }
}

#[test]
fn one_pass_equals_learning_chrome_first_on_the_fixture() {
    check(&common::root().join("tests/fixtures/synd-sample.jsonl"));
}

#[test]
fn one_pass_equals_learning_chrome_first_on_synd_dev() {
    let Some(data) = common::shared_data("one_pass_equals_learning_chrome_first_on_synd_dev")
    else {
        return;
    };
    check(&data.join("synd-dev.jsonl"));
}

/// Records in the large corpus: past the 65,536 a scan learns from whole.
const LARGE: usize = 66_000;

/// Copies of each fixture article in the large corpus.
const REPLICAS: usize = 8;

/// The fixture's articles as JSON rows.
fn fixture_rows() -> Vec<serde_json::Value> {
    let path = common::root().join("tests/fixtures/synd-sample.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// A filler article: eight tokens made from `n`, so no two fillers share a shingle and
/// none is chrome.
fn filler(n: usize) -> String {
    let mut state = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let words: Vec<String> = (0..8)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            format!("w{:x}", state as u32)
        })
        .collect();
    serde_json::json!({"id": format!("filler-{n}"), "text": words.join(" ")}).to_string()
}

/// Writes the large corpus into `dir`: `REPLICAS` copies of each fixture article (ids
/// `r{copy}-{id}`) spread evenly among fillers, with `lines` replacing the records at
/// those 0-based positions. Returns its path and, per record, the fixture article it
/// copies (if any).
fn large_corpus(dir: &Path, lines: &[(usize, String)]) -> (std::path::PathBuf, Vec<Option<usize>>) {
    let rows = fixture_rows();
    let spacing = LARGE / (rows.len() * REPLICAS);
    let mut text = String::new();
    let mut copies = Vec::with_capacity(LARGE);
    let mut next = 0;
    for record in 0..LARGE {
        if let Some((_, line)) = lines.iter().find(|(at, _)| *at == record) {
            text.push_str(line);
            copies.push(None);
        } else if record % spacing == spacing / 2 && next < rows.len() * REPLICAS {
            let (copy, article) = (next / rows.len(), next % rows.len());
            let mut row = rows[article].clone();
            row["id"] = format!("r{copy}-{}", row["id"].as_str().unwrap()).into();
            text.push_str(&row.to_string());
            copies.push(Some(article));
            next += 1;
        } else {
            text.push_str(&filler(record));
            copies.push(None);
        }
        text.push('\n');
    }
    assert_eq!(next, rows.len() * REPLICAS);
    let path = dir.join("large.jsonl");
    std::fs::write(&path, text).unwrap();
    (path, copies)
}

#[test]
fn a_large_corpus_learned_from_a_sample_keeps_chrome_out_and_copies_together() {
    let dir = tempfile::tempdir().unwrap();
    let (path, copies) = large_corpus(dir.path(), &[]);
    let config = DetectorConfig::default();
    let options = ScanOptions { explain: true, ..ScanOptions::default() };
    let report = scan(std::slice::from_ref(&path), &config, &options).unwrap();
    assert_eq!(report.docs.len(), LARGE);

    // The fixture scanned alone (learned from whole) is the truth for its chrome: every
    // line it leaves out of an article is left out of each copy of it here too.
    let fixture = common::root().join("tests/fixtures/synd-sample.jsonl");
    let alone = scan(&[fixture], &config, &options).unwrap();
    assert!(alone.chrome_lines > 0);
    let rows = fixture_rows();
    let mut clusters = std::collections::HashMap::new();
    for (doc, copy) in copies.iter().enumerate() {
        let Some(article) = *copy else {
            assert_eq!(report.assignments[doc].origin, doc, "{} is alone", report.docs.id(doc));
            continue;
        };
        let kept: Vec<&String> = alone
            .docs
            .chrome(article)
            .iter()
            .filter(|line| !report.docs.chrome(doc).contains(line))
            .collect();
        assert!(kept.is_empty(), "{}: chrome {kept:?} kept", report.docs.id(doc));
        // Copies are together exactly as the fixture's story labels say.
        let story = rows[article]["cluster"].as_str().unwrap();
        let origin = report.assignments[doc].origin;
        assert_eq!(*clusters.entry(story).or_insert(origin), origin, "{}", report.docs.id(doc));
    }
    let distinct: std::collections::HashSet<usize> = clusters.values().copied().collect();
    assert_eq!(distinct.len(), clusters.len(), "no two stories merged");
}

#[test]
fn bad_records_in_and_out_of_the_sample_are_reported_where_they_are() {
    // The first record always starts the sample's first run; the spread runs leave
    // gaps as long as themselves, so the last record lies outside the sample.
    let dir = tempfile::tempdir().unwrap();
    let middle = LARGE / 2 + 37;
    let bad = [
        (0, "{\"id\": \"broken\", \"text\": ".to_owned()),
        (middle, "{\"id\": \"numeric\", \"text\": 5}".to_owned()),
        (LARGE - 1, filler(10)),
    ];
    let (path, _) = large_corpus(dir.path(), &bad);
    let config = DetectorConfig::default();
    let shown = path.display();

    let error = scan(std::slice::from_ref(&path), &config, &ScanOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(message.starts_with(&format!("{shown}:1: malformed JSON")), "{message}");

    let skip = ScanOptions { skip_invalid: true, ..ScanOptions::default() };
    let report = scan(std::slice::from_ref(&path), &config, &skip).unwrap();
    assert_eq!(report.docs.len(), LARGE - 3);
    let rejects: Vec<String> = report.invalid.iter().map(ToString::to_string).collect();
    assert_eq!(rejects.len(), 3, "{rejects:?}");
    assert!(rejects[0].starts_with(&format!("{shown}:1: malformed JSON")), "{rejects:?}");
    assert_eq!(
        rejects[1],
        format!("{shown}:{}: field \"text\" is a number, not a string", middle + 1)
    );
    assert_eq!(
        rejects[2],
        format!("{shown}:{LARGE}: duplicate id \"filler-10\", first seen at {shown}:11")
    );

    // Without the first bad record, the scan stops at the one in the middle.
    let (path, _) = large_corpus(dir.path(), &bad[1..]);
    let error = scan(std::slice::from_ref(&path), &config, &ScanOptions::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{shown}:{}: field \"text\" is a number, not a string", middle + 1)
    );
}
