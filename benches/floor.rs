//! The floor bench: how close each stage comes to the work no implementation can skip.
//!
//! The floor is reading every byte of the article text once and hashing every k-word
//! shingle once with gxhash64 (the shingle byte ranges are found beforehand, outside the
//! timing). Every other figure is printed as a ratio to the floor measured in the same
//! run: all measurements are interleaved round by round and each reports its median, so a
//! noisy, shared machine shifts them together and the ratios hold.
//!
//! ```sh
//! cargo bench --bench floor                 # synd.py corpus (2 runs, ~15k articles)
//! cargo bench --bench floor -- --quick      # the 60-article fixture, 3 rounds (CI-sized)
//! NEARDUP_BENCH_CORPUS=/path/corpus.jsonl NEARDUP_BENCH_ARTICLES=50000 cargo bench --bench floor
//! cargo bench --bench floor -- --rounds 15 signature   # only names containing "signature"
//! ```
//!
//! The stages run over the first `NEARDUP_BENCH_ARTICLES` articles (all by default); the
//! end-to-end scan reads the whole corpus file, and its articles/s is compared with the
//! signature stage's on the same machine in the same run.
//!
//! Not criterion: criterion times one function at a time, so its figures for two stages
//! come from different moments of a shared machine and their ratio is noise.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use gxhash::gxhash64;
use neardup::DetectorConfig;
use neardup::config::SignatureScheme;
use neardup::fingerprint::Fingerprinter;
use neardup::fingerprint::PreparedText;
use neardup::minhash::MinHasher;
use neardup::scan::{ScanOptions, scan};
use neardup::shingle::{
    ShingleScratch, distinct_shingle_hashes_into, distinct_token_shingles_into,
};
use neardup::text::{Normalized, normalize_into, normalize_lines_into};
use rayon::prelude::*;

const FIXTURE: &str = "tests/fixtures/synd-sample.jsonl";

struct Args {
    quick: bool,
    rounds: usize,
    filter: Option<String>,
}

fn args() -> Args {
    let mut out = Args { quick: false, rounds: 0, filter: None };
    let mut raw = std::env::args().skip(1);
    while let Some(arg) = raw.next() {
        match arg.as_str() {
            "--quick" => out.quick = true,
            "--rounds" => out.rounds = raw.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            // cargo bench passes --bench; other harness flags mean nothing here.
            flag if flag.starts_with('-') => {}
            name => out.filter = Some(name.to_owned()),
        }
    }
    if out.rounds == 0 {
        out.rounds = if out.quick { 3 } else { 9 };
    }
    out
}

/// A corpus as the benches see it: the raw texts and the file they came from.
struct Corpus {
    path: PathBuf,
    texts: Vec<String>,
}

fn corpus(quick: bool) -> Corpus {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join(FIXTURE);
    let path = if quick {
        fixture
    } else if let Ok(path) = std::env::var("NEARDUP_BENCH_CORPUS") {
        PathBuf::from(path)
    } else {
        let built = root.join("target/bench-corpus-2.jsonl");
        let ok = built.is_file()
            || std::process::Command::new(root.join("benches/make-corpus.sh"))
                .arg("2")
                .arg(&built)
                .status()
                .is_ok_and(|s| s.success());
        if ok {
            built
        } else {
            eprintln!("SKIPPED synd corpus (../shared/data absent): using the 60-article fixture");
            fixture
        }
    };
    let limit: usize = std::env::var("NEARDUP_BENCH_ARTICLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    let bytes = std::fs::read_to_string(&path).expect("bench corpus is readable UTF-8");
    let texts = bytes
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(limit)
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("corpus is JSONL");
            row["text"].as_str().expect("rows have text").to_owned()
        })
        .collect();
    Corpus { path, texts }
}

/// An article as the floor sees it: raw text, normalized text, shingle byte ranges.
type FloorItem<'a> = (&'a String, (&'a String, &'a Vec<(u32, u32)>));

/// One timed measurement: a name, what it is compared with, and the closure.
struct Measure<'a> {
    name: &'static str,
    /// Index of the measurement this one's ratio is taken against (a floor).
    base: usize,
    /// Articles processed per call (the scan reads the whole file).
    articles: usize,
    bytes: usize,
    run: Box<dyn FnMut() + 'a>,
    times: Vec<f64>,
}

fn main() {
    let args = args();
    let corpus = corpus(args.quick);
    let config = DetectorConfig::default();
    let oph_config = DetectorConfig { scheme: SignatureScheme::OnePermutation, ..config.clone() };
    let k = config.shingle_size;
    let seed = config.seed;
    let texts = &corpus.texts;
    let text_bytes: usize = texts.iter().map(String::len).sum();

    // Everything the floor may take as given: normalized text and its shingle ranges.
    let normalized: Vec<String> = texts
        .iter()
        .map(|t| {
            let mut out = String::new();
            normalize_into(t, &mut out);
            out
        })
        .collect();
    // The same texts with their token starts, for the shingle row; made after the
    // floor's strings so those stay as compact in memory as they always were (the floor
    // streams them, and interleaving these allocations slowed it by ~15%).
    let prepared: Vec<Normalized> = texts
        .iter()
        .map(|t| {
            let mut out = Normalized::default();
            normalize_lines_into(t, config.text_options(), &mut out);
            out
        })
        .collect();
    let windows: Vec<Vec<(u32, u32)>> = normalized.iter().map(|n| window_ranges(n, k)).collect();
    let shingles: usize = windows.iter().map(Vec::len).sum();
    let mut scratch = ShingleScratch::default();
    let hash_sets: Vec<Vec<u64>> = normalized
        .iter()
        .map(|n| {
            let mut out = Vec::new();
            distinct_shingle_hashes_into(n, k, seed, &mut out, &mut scratch);
            out
        })
        .collect();
    let distinct: usize = hash_sets.iter().map(Vec::len).sum();
    let minhash = MinHasher::new(config.num_perm, seed);
    let oph = MinHasher::with_scheme(config.num_perm, seed, SignatureScheme::OnePermutation);
    let fingerprinter = Fingerprinter::new(config.clone()).expect("default config is valid");
    let oph_fingerprinter = Fingerprinter::new(oph_config).expect("oph config is valid");
    let file_bytes = std::fs::metadata(&corpus.path).map(|m| m.len() as usize).unwrap_or(0);
    let file_articles = count_articles(&corpus.path);
    let threads = rayon::current_num_threads();

    let floor_one = |(text, (norm, wins)): FloorItem<'_>| -> u64 {
        read_all(text.as_bytes()) ^ hash_windows(norm.as_bytes(), wins, seed)
    };
    let pairs = || texts.iter().zip(normalized.iter().zip(windows.iter()));
    let n = texts.len();
    let mut measures: Vec<Measure<'_>> = vec![
        Measure {
            name: "floor: read text + gxhash each shingle (1 thread)",
            base: 0,
            articles: n,
            bytes: text_bytes,
            run: Box::new(|| {
                let acc = pairs().map(floor_one).fold(0, |a, b| a ^ b);
                black_box(acc);
            }),
            times: Vec::new(),
        },
        Measure {
            name: "normalize",
            base: 0,
            articles: n,
            bytes: text_bytes,
            run: Box::new(|| {
                // As the pipeline does: one reused `Normalized` (text and line bounds).
                let mut out = Normalized::default();
                let total: usize = texts
                    .iter()
                    .map(|t| {
                        normalize_lines_into(black_box(t), config.text_options(), &mut out);
                        out.text.len()
                    })
                    .sum();
                assert!(total > 0);
            }),
            times: Vec::new(),
        },
        Measure {
            name: "shingle + gxhash + dedup",
            base: 0,
            articles: n,
            bytes: text_bytes,
            run: Box::new({
                let mut out = Vec::new();
                let mut scratch = ShingleScratch::default();
                let prepared = &prepared;
                move || {
                    // From the token starts the normalizer records, as the pipeline does.
                    let total: usize = prepared
                        .iter()
                        .map(|n| {
                            distinct_token_shingles_into(
                                black_box(&n.text),
                                n.word_starts(),
                                k,
                                seed,
                                &mut out,
                                &mut scratch,
                            );
                            out.len()
                        })
                        .sum();
                    assert_eq!(total, distinct);
                }
            }),
            times: Vec::new(),
        },
        Measure {
            name: "minhash 128 perms (from hash sets)",
            base: 0,
            articles: n,
            bytes: text_bytes,
            run: Box::new(|| sign_sets(&minhash, &hash_sets)),
            times: Vec::new(),
        },
        Measure {
            name: "one-permutation 128 bins (from hash sets)",
            base: 0,
            articles: n,
            bytes: text_bytes,
            run: Box::new(|| sign_sets(&oph, &hash_sets)),
            times: Vec::new(),
        },
        Measure {
            name: "signature stage, minhash (text -> signature)",
            base: 0,
            articles: n,
            bytes: text_bytes,
            run: Box::new(|| sign_all(&fingerprinter, texts)),
            times: Vec::new(),
        },
        Measure {
            name: "signature stage, one-permutation",
            base: 0,
            articles: n,
            bytes: text_bytes,
            run: Box::new(|| sign_all(&oph_fingerprinter, texts)),
            times: Vec::new(),
        },
        Measure {
            name: "signature stage, prepare + sign (the scan's path)",
            base: 0,
            articles: n,
            bytes: text_bytes,
            run: Box::new(|| prepare_sign_all(&fingerprinter, texts)),
            times: Vec::new(),
        },
        Measure {
            name: "floor, all cores",
            base: 8,
            articles: n,
            bytes: text_bytes,
            run: Box::new(|| {
                let acc = texts
                    .par_iter()
                    .zip(normalized.par_iter().zip(windows.par_iter()))
                    .with_min_len(64)
                    .map(floor_one)
                    .reduce(|| 0, |a, b| a ^ b);
                black_box(acc);
            }),
            times: Vec::new(),
        },
        Measure {
            name: "signature stage, minhash, all cores",
            base: 8,
            articles: n,
            bytes: text_bytes,
            run: Box::new(|| sign_all_par(&fingerprinter, texts)),
            times: Vec::new(),
        },
        Measure {
            name: "signature stage, one-permutation, all cores",
            base: 8,
            articles: n,
            bytes: text_bytes,
            run: Box::new(|| sign_all_par(&oph_fingerprinter, texts)),
            times: Vec::new(),
        },
        Measure {
            name: "scan end to end (whole JSONL file -> clusters), all cores",
            base: 8,
            articles: file_articles,
            bytes: file_bytes,
            run: Box::new(|| {
                let report =
                    scan(std::slice::from_ref(&corpus.path), &config, &ScanOptions::default())
                        .expect("bench corpus scans");
                assert_eq!(report.len(), file_articles);
            }),
            times: Vec::new(),
        },
    ];
    let keep: Vec<bool> = measures
        .iter()
        .enumerate()
        .map(|(ix, m)| {
            ix == 0 || ix == 8 || args.filter.as_deref().is_none_or(|f| m.name.contains(f))
        })
        .collect();

    println!(
        "corpus {}: {} articles, {:.1} MB of text ({:.1} MB file), {} shingles ({} distinct), {} threads, {} rounds",
        corpus.path.display(),
        n,
        text_bytes as f64 / 1e6,
        file_bytes as f64 / 1e6,
        shingles,
        distinct,
        threads,
        args.rounds
    );
    for _ in 0..args.rounds {
        for (measure, keep) in measures.iter_mut().zip(&keep) {
            if !keep {
                continue;
            }
            let started = Instant::now();
            (measure.run)();
            measure.times.push(started.elapsed().as_secs_f64());
        }
    }
    let medians: Vec<f64> = measures.iter().map(|m| median(&m.times)).collect();
    let per_article: Vec<f64> =
        measures.iter().zip(&medians).map(|(m, s)| s / m.articles as f64).collect();
    println!(
        "{:<54} {:>11} {:>9} {:>10} {:>8}",
        "measurement (median of rounds)", "ns/article", "MB/s", "articles/s", "x floor"
    );
    for (ix, measure) in measures.iter().enumerate() {
        if !keep[ix] {
            continue;
        }
        let seconds = medians[ix];
        println!(
            "{:<54} {:>11.0} {:>9.1} {:>10.0} {:>8.2}",
            measure.name,
            seconds * 1e9 / measure.articles as f64,
            measure.bytes as f64 / 1e6 / seconds,
            measure.articles as f64 / seconds,
            per_article[ix] / per_article[measure.base],
        );
    }
    if keep[11] && keep[9] {
        println!(
            "scan articles/s / signature stage articles/s (minhash, all cores): {:.2}",
            per_article[9] / per_article[11]
        );
    }
}

fn count_articles(path: &Path) -> usize {
    let bytes = std::fs::read(path).expect("bench corpus is readable");
    bytes.split(|&b| b == b'\n').filter(|l| !l.trim_ascii().is_empty()).count()
}

/// Byte ranges of every k-token window of a normalized string (as the shingler hashes).
fn window_ranges(normalized: &str, k: usize) -> Vec<(u32, u32)> {
    let bytes = normalized.as_bytes();
    let mut starts = Vec::new();
    let mut out = Vec::new();
    let mut start = 0;
    for (ix, &b) in bytes.iter().chain(std::iter::once(&b' ')).enumerate() {
        if b == b' ' && ix > start {
            starts.push(start);
            if starts.len() >= k {
                out.push((starts[starts.len() - k] as u32, ix as u32));
            }
            start = ix + 1;
        }
    }
    if out.is_empty() && !bytes.is_empty() {
        out.push((0, bytes.len() as u32));
    }
    out
}

/// Touches every byte, eight at a time (what reading the text once costs).
fn read_all(bytes: &[u8]) -> u64 {
    let mut acc = 0u64;
    let chunks = bytes.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        acc ^= u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    }
    tail.iter().fold(acc, |a, &b| a.rotate_left(8) ^ u64::from(b))
}

fn hash_windows(bytes: &[u8], windows: &[(u32, u32)], seed: u64) -> u64 {
    windows
        .iter()
        .fold(0, |acc, &(s, e)| acc ^ gxhash64(&bytes[s as usize..e as usize], seed as i64))
}

fn sign_sets(hasher: &MinHasher, sets: &[Vec<u64>]) {
    let mut lanes = vec![0u32; hasher.num_perm()];
    for set in sets {
        hasher.signature_into(black_box(set), &mut lanes);
        black_box(&lanes);
    }
}

fn sign_all(fingerprinter: &Fingerprinter, texts: &[String]) {
    let mut lanes = vec![0u32; fingerprinter.config().num_perm];
    for text in texts {
        fingerprinter.fingerprint_into(black_box(text), &mut lanes).expect("texts have words");
        black_box(&lanes);
    }
}

/// As the scan signs: [`Fingerprinter::prepare_into`] (normalize, profile the lines)
/// then [`Fingerprinter::sign`] with no chrome model.
fn prepare_sign_all(fingerprinter: &Fingerprinter, texts: &[String]) {
    let mut prepared = PreparedText::default();
    for text in texts {
        fingerprinter.prepare_into(black_box(text), "", &mut prepared).expect("texts have words");
        black_box(fingerprinter.sign(&prepared, None));
    }
}

fn sign_all_par(fingerprinter: &Fingerprinter, texts: &[String]) {
    let num_perm = fingerprinter.config().num_perm;
    texts.par_chunks(64).for_each_init(
        || vec![0u32; num_perm],
        |lanes, chunk| {
            for text in chunk {
                fingerprinter.fingerprint_into(black_box(text), lanes).expect("texts have words");
                black_box(&lanes);
            }
        },
    );
}

fn median(times: &[f64]) -> f64 {
    if times.is_empty() {
        return f64::NAN;
    }
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}
