//! `scan` learns chrome batch by batch in a first reading pass and normalizes every text
//! again to sign it in a second (no normalized text is kept between the passes).
//! Its result must be the one of learning chrome from the whole corpus with every text in
//! memory and signing after, computed here from the library's parts.

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
fn two_passes_equal_learning_chrome_first_on_the_fixture() {
    check(&common::root().join("tests/fixtures/synd-sample.jsonl"));
}

#[test]
fn two_passes_equal_learning_chrome_first_on_synd_dev() {
    let Some(data) = common::shared_data("two_passes_equal_learning_chrome_first_on_synd_dev")
    else {
        return;
    };
    check(&data.join("synd-dev.jsonl"));
}
