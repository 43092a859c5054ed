//! Criterion benches for every stage of the pipeline, each with `Throughput::Bytes` over
//! the same fixture so the groups compare directly, plus the whole scan over a corpus
//! made with synd.py (skipped, with a note, when ../shared/data is absent).
//!
//! `cargo bench --bench pipeline` runs all; `cargo bench --bench pipeline -- --quick`
//! gives CI-sized figures.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use neardup::DetectorConfig;
use neardup::fingerprint::Fingerprinter;
use neardup::lsh::LshIndex;
use neardup::minhash::MinHasher;
use neardup::scan::{ScanOptions, scan};
use neardup::shingle::shingle_hashes;
use neardup::text::normalize;

const SAMPLE: &str = include_str!("../tests/fixtures/synd-sample.jsonl");

fn texts() -> Vec<String> {
    SAMPLE
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("fixture is JSONL");
            row["text"].as_str().expect("fixture rows have text").to_owned()
        })
        .collect()
}

fn stages(c: &mut Criterion) {
    let config = DetectorConfig::default();
    let texts = texts();
    let bytes: u64 = texts.iter().map(|t| t.len() as u64).sum();
    let normalized: Vec<String> = texts.iter().map(|t| normalize(t)).collect();
    let hashes: Vec<Vec<u64>> =
        normalized.iter().map(|n| shingle_hashes(n, config.shingle_size, config.seed)).collect();
    let shingles: usize = hashes.iter().map(Vec::len).sum();
    let hasher = MinHasher::new(config.num_perm, config.seed);
    let fingerprinter = Fingerprinter::new(config.clone()).unwrap();
    let signatures: Vec<Vec<u32>> =
        hashes.iter().map(|h| hasher.signature(h).lanes().to_vec()).collect();

    let mut group = c.benchmark_group("stages");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("normalize", |b| {
        b.iter(|| {
            let total: usize = texts.iter().map(|t| normalize(black_box(t)).len()).sum();
            assert!(total > 0);
        })
    });
    group.bench_function("shingle_hash", |b| {
        b.iter(|| {
            let total: usize = normalized
                .iter()
                .map(|n| shingle_hashes(black_box(n), config.shingle_size, config.seed).len())
                .sum();
            assert_eq!(total, shingles);
        })
    });
    group.bench_function("signature", |b| {
        b.iter(|| {
            for h in &hashes {
                black_box(hasher.signature(black_box(h)));
            }
        })
    });
    group.bench_function("fingerprint_end_to_end", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(fingerprinter.fingerprint(black_box(t)).unwrap());
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("lsh");
    // Many distinct signatures so buckets behave like a real index, not 60 hot ones.
    let many: Vec<Vec<u32>> = (0..20_000u32)
        .map(|i| {
            signatures[i as usize % signatures.len()]
                .iter()
                .map(|v| v.rotate_left(i % 31) ^ i)
                .collect()
        })
        .collect();
    group.throughput(Throughput::Elements(many.len() as u64));
    group.bench_function("insert_20k", |b| {
        b.iter_batched(
            || LshIndex::new(config.bands, config.rows, config.seed),
            |mut index| {
                for (slot, sig) in many.iter().enumerate() {
                    index.insert(slot as u32, sig);
                }
                index
            },
            BatchSize::LargeInput,
        )
    });
    let mut index = LshIndex::new(config.bands, config.rows, config.seed);
    for (slot, sig) in many.iter().enumerate() {
        index.insert(slot as u32, sig);
    }
    group.bench_function("query_20k", |b| {
        b.iter(|| {
            let found: usize = many.iter().map(|sig| index.candidates(sig).len()).sum();
            assert!(found >= many.len());
        })
    });
    group.finish();
}

fn whole_scan(c: &mut Criterion) {
    let Some(corpus) = bench_corpus() else { return };
    let bytes = std::fs::metadata(&corpus).unwrap().len();
    let config = DetectorConfig::default();
    let options = ScanOptions::default();
    let mut group = c.benchmark_group("scan");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("synd_corpus", |b| {
        b.iter(|| {
            let report = scan(std::slice::from_ref(&corpus), &config, &options).unwrap();
            assert!(report.clusters() > 0);
        })
    });
    group.finish();
}

/// `target/bench-corpus-<runs>.jsonl`, built once with benches/make-corpus.sh
/// (NEARDUP_BENCH_RUNS runs of synd.py, default 2, about 30 MB).
fn bench_corpus() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let runs = std::env::var("NEARDUP_BENCH_RUNS").unwrap_or_else(|_| "2".into());
    let corpus = root.join(format!("target/bench-corpus-{runs}.jsonl"));
    if corpus.is_file() {
        return Some(corpus);
    }
    let status = std::process::Command::new(root.join("benches/make-corpus.sh"))
        .arg(&runs)
        .arg(&corpus)
        .status();
    match status {
        Ok(s) if s.success() => Some(corpus),
        _ => {
            eprintln!(
                "SKIPPED scan bench: could not build {} (is ../shared/data present?)",
                corpus.display()
            );
            None
        }
    }
}

criterion_group!(benches, stages, whole_scan);
criterion_main!(benches);
