//! Benchmarks of the durable store (a plain binary: the figures are seconds and bytes of
//! whole runs, not nanoseconds of a kernel).
//!
//! ```text
//! cargo bench --bench store -- commit [RECORDS]      group commit: always x16 vs never
//! cargo bench --bench store -- synth DIR N           write a synthetic N-article data directory
//! cargo bench --bench store -- restart DIR           open a data directory: seconds, memory
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use neardup::chrome::LineProfile;
use neardup::config::{StoreConfig, SyncMode};
use neardup::detector::StoredArticle;
use neardup::fingerprint::Fingerprint;
use neardup::minhash::Signature;
use neardup::store::{BulkWriter, DurableDetector, Store};
use neardup::{CopyKind, DetectorConfig};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    match args.first().map(String::as_str) {
        Some("commit") => commit(args.get(1).map_or(40_000, |n| n.parse().unwrap())),
        Some("synth") => synth(Path::new(&args[1]), args[2].parse().unwrap()),
        Some("restart") => restart(Path::new(&args[1])),
        _ => eprintln!("usage: cargo bench --bench store -- commit|synth DIR N|restart DIR"),
    }
}

/// Peak and current resident memory of this process, in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// xorshift64*: a fixed generator so the synthetic directory is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A synthetic signature: random lanes, or a copy of `of` with about a fifth of the lanes
/// redrawn (a near-duplicate at Jaccard ~0.8).
fn signature(rng: &mut Rng, lanes: usize, of: Option<&[u32]>) -> Signature {
    Signature(
        (0..lanes)
            .map(|i| match of {
                Some(origin) if !rng.next().is_multiple_of(5) => origin[i],
                _ => rng.next() as u32,
            })
            .collect(),
    )
}

fn synth(dir: &Path, n: usize) {
    let config = DetectorConfig::default();
    let started = Instant::now();
    let mut writer = BulkWriter::create(dir, &config).unwrap();
    let mut rng = Rng(0x5eed);
    let mut origins: Vec<(String, Signature)> = Vec::new();
    // A sketch as long as a 300-shingle article's, cut to each article's shingle count.
    let sketch: Vec<u16> = (0..300u16).map(|v| v * 200).collect();
    for i in 0..n {
        let id = format!("synthetic-{i:07}@outlet{}.example", i % 20);
        // 60% new stories, 40% copies of a recent one (as in synd-dev).
        let copy_of = (rng.next() % 10 >= 6 && !origins.is_empty()).then(|| {
            (rng.next() as usize % origins.len().min(5000)) + origins.len().saturating_sub(5000)
        });
        let (kind, cluster, sig) = match copy_of {
            Some(ix) => {
                let (cluster, origin) = &origins[ix];
                (
                    CopyKind::Duplicate,
                    cluster.clone(),
                    signature(&mut rng, config.num_perm, Some(&origin.0)),
                )
            }
            None => {
                let sig = signature(&mut rng, config.num_perm, None);
                origins.push((id.clone(), sig.clone()));
                (CopyKind::NewStory, id.clone(), sig)
            }
        };
        let fingerprint =
            Fingerprint { signature: sig, shingle_count: 100 + (rng.next() % 400) as u32 };
        let article = StoredArticle {
            id: &id,
            source: &format!("outlet{}.example", i % 20),
            published: Some(1_700_000_000_000 + i as i64 * 1000),
            text_hash: rng.next(),
            lanes: fingerprint.signature.lanes(),
            shingle_count: fingerprint.shingle_count,
            sketch: &sketch[..(fingerprint.shingle_count as usize).min(sketch.len())],
            kind,
            cluster_id: &cluster,
        };
        writer.append(&article, 1_700_000_000_000 + i as i64 * 1000).unwrap();
    }
    let written = writer.finish(None).unwrap();
    println!("synth: {written} articles in {:.1} s", started.elapsed().as_secs_f64());
}

fn restart(dir: &Path) {
    let config = StoreConfig { data_dir: dir.to_owned(), ..StoreConfig::default() };
    let started = Instant::now();
    let durable = DurableDetector::open_existing(&config).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let (peak, rss) = memory();
    let stats = durable.stats();
    let docs = stats.detector.documents.max(1) as f64;
    println!(
        "restart: {} articles in {seconds:.2} s (reading and verifying the log {:.2} s)",
        stats.detector.documents, stats.store.recovery.seconds
    );
    println!(
        "peak RSS {:.0} MiB, RSS after {:.0} MiB = {:.0} B per article; detector heap estimate {:.0} B per article",
        peak as f64 / 1048576.0,
        rss as f64 / 1048576.0,
        rss as f64 / docs,
        stats.detector.heap_bytes as f64 / docs
    );
    println!(
        "disk {:.0} MiB = {:.0} B per article",
        stats.store.disk_bytes as f64 / 1048576.0,
        stats.store.disk_bytes as f64 / docs
    );
}

fn commit(records: usize) {
    let config = DetectorConfig::default();
    let fingerprint =
        Fingerprint { signature: Signature(vec![7; config.num_perm].into()), shingle_count: 300 };
    for (sync, threads) in [
        (SyncMode::Always, 1),
        (SyncMode::Always, 16),
        (SyncMode::Batch, 16),
        (SyncMode::Never, 16),
    ] {
        let total = if sync == SyncMode::Always && threads == 1 { records / 20 } else { records };
        let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into()))
            .unwrap();
        let store_config =
            StoreConfig { data_dir: dir.path().to_owned(), sync, ..StoreConfig::default() };
        let (store, _) = Store::open(&store_config, &config).unwrap();
        let store = Arc::new(store);
        let fingerprint = Arc::new(fingerprint.clone());
        let started = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (store, fingerprint) = (Arc::clone(&store), Arc::clone(&fingerprint));
                std::thread::spawn(move || {
                    // What a 300-shingle, 20-line article's record carries besides lanes.
                    let sketch: Vec<u16> = (0..300u16).map(|v| v * 200).collect();
                    let profile = LineProfile {
                        source: 1,
                        lines: (1..=20).map(|l| l * 0x9e37_79b9_7f4a_7c15).collect(),
                        story: 7,
                    };
                    for i in (t..total).step_by(threads) {
                        let id = format!("article-{i:08}");
                        let article = StoredArticle {
                            id: &id,
                            source: "wire",
                            published: Some(i as i64),
                            text_hash: i as u64,
                            lanes: fingerprint.signature.lanes(),
                            shingle_count: fingerprint.shingle_count,
                            sketch: &sketch,
                            kind: CopyKind::NewStory,
                            cluster_id: &id,
                        };
                        store
                            .append_insert(&article, Some(&profile), i as i64)
                            .unwrap()
                            .wait()
                            .unwrap();
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let seconds = started.elapsed().as_secs_f64();
        let stats = store.stats();
        println!(
            "commit: sync={sync} writers={threads}: {total} appends in {seconds:.2} s = {:.0}/s, {} syncs ({:.1} records per sync)",
            total as f64 / seconds,
            stats.syncs,
            total as f64 / stats.syncs.max(1) as f64
        );
    }
}
