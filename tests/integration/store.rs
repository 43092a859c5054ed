//! The durable store end to end on real files: replay reproduces every decision, torn
//! tails are cut, corruption in the middle is refused, incompatible directories are left
//! untouched, compaction survives a crash at every step, the time window ages articles
//! out, group commit loses nothing under many threads, and a process killed with SIGKILL
//! keeps every acknowledged article.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use neardup::config::{StoreConfig, SyncMode};
use neardup::store::{CompactStep, DurableDetector, Ticket};
use neardup::{Article, CopyKind, Detector, DetectorConfig, Error, Verdict};

const DAY: i64 = 24 * 3600 * 1000;
const T0: i64 = 1_700_000_000_000;

/// A deterministic corpus: `stories` stories, each with up to three copies (chrome
/// added, a word changed, or the last third cut), interleaved.
pub(crate) struct Doc {
    pub(crate) id: String,
    pub(crate) text: String,
    pub(crate) source: String,
    pub(crate) published: Option<i64>,
}

pub(crate) fn corpus(stories: usize, seed: u64) -> Vec<Doc> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut docs = Vec::new();
    for story in 0..stories {
        let words: Vec<String> = (0..80).map(|_| format!("w{}", next() % 5000)).collect::<Vec<_>>();
        let text = words.join(" ");
        let published = Some(T0 + (story as i64) * 60_000);
        docs.push(Doc {
            id: format!("s{story}"),
            text: text.clone(),
            source: "wire".into(),
            published,
        });
        for copy in 0..(next() % 4) {
            let text = match copy {
                0 => format!("Home | News\n{text}\nShare this article"),
                1 => text.replacen(&words[10], "changed", 1),
                _ => words[..25].join(" "),
            };
            docs.push(Doc {
                id: format!("s{story}-c{copy}"),
                text,
                source: format!("outlet{copy}"),
                published: published.map(|p| p + 1000 * (copy as i64 + 1)),
            });
        }
    }
    docs
}

fn article(doc: &Doc) -> Article<'_> {
    Article { id: &doc.id, text: &doc.text, source: &doc.source, published: doc.published }
}

fn store_config(dir: &Path) -> StoreConfig {
    StoreConfig { data_dir: dir.to_owned(), ..StoreConfig::default() }
}

fn open(config: &StoreConfig) -> DurableDetector {
    DurableDetector::open(config, DetectorConfig::default()).unwrap()
}

fn ingest_all(durable: &DurableDetector, docs: &[Doc]) -> Vec<Verdict> {
    docs.iter()
        .map(|doc| {
            let ingested = durable.ingest(&article(doc), T0).unwrap();
            ingested.ticket.wait().unwrap();
            ingested.verdict
        })
        .collect()
}

/// The only log segment of a fresh directory.
fn only_segment(dir: &Path) -> PathBuf {
    let segments = segments(dir);
    assert_eq!(segments.len(), 1, "{segments:?}");
    segments.into_iter().next().unwrap()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    out.sort();
    out
}

/// Every file's bytes, to prove a refused open changed nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "LOCK"))
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect()
}

/// Byte offsets of every frame in a segment (by walking the lengths).
fn frame_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut pos = 0;
    while pos + 12 <= bytes.len() {
        offsets.push(pos);
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        pos += 12 + len;
    }
    offsets
}

/// Cluster id of every indexed article of `docs`.
fn clusters_of(detector: &Detector, docs: &[Doc]) -> BTreeMap<String, String> {
    docs.iter()
        .filter(|d| detector.contains(&d.id))
        .map(|d| {
            let verdict = detector.ingest(&article(d)).unwrap(); // a retry: stored verdict
            (d.id.clone(), verdict.cluster_id)
        })
        .collect()
}

#[test]
fn replay_reproduces_verdicts_and_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let config = store_config(dir.path());
    let docs = corpus(150, 1);
    let reference = Detector::new(DetectorConfig::default()).unwrap();
    let durable = open(&config);
    let verdicts = ingest_all(&durable, &docs);
    for (doc, verdict) in docs.iter().zip(&verdicts) {
        // Logging changes no decision.
        assert_eq!(&reference.ingest(&article(doc)).unwrap(), verdict);
    }
    assert!(verdicts.iter().any(|v| v.kind == CopyKind::Duplicate));
    assert!(verdicts.iter().any(|v| v.kind == CopyKind::PartialCopy));
    // Remove some founders: their clusters must live on, named as before, after replay.
    for doc in docs.iter().filter(|d| !d.id.contains('-')).step_by(7) {
        assert!(durable.remove(&doc.id).unwrap().unwrap().wait().is_ok());
        assert!(reference.remove(&doc.id));
    }
    assert!(durable.remove("never-seen").unwrap().is_none());
    durable.close().unwrap();
    drop(durable);

    let reopened = open(&config);
    assert_eq!(reopened.stats().store.recovery.truncated_bytes, 0);
    let restored = reopened.detector();
    assert_eq!(restored.stats().documents, reference.stats().documents);
    assert_eq!(restored.stats().clusters, reference.stats().clusters);
    for (doc, verdict) in docs.iter().zip(&verdicts) {
        assert_eq!(restored.contains(&doc.id), reference.contains(&doc.id), "{}", doc.id);
        if !reference.contains(&doc.id) {
            continue;
        }
        let again = reopened.ingest(&article(doc), T0).unwrap();
        assert_eq!(again.verdict.kind, verdict.kind, "{}", doc.id);
        assert_eq!(again.verdict.cluster_id, verdict.cluster_id, "{}", doc.id);
        assert_eq!(again.verdict, reference.ingest(&article(doc)).unwrap());
        let cluster = &verdict.cluster_id;
        assert_eq!(restored.cluster(cluster).unwrap(), reference.cluster(cluster).unwrap());
    }
    // New articles after a restart are decided against the restored index.
    let late = Doc { id: "late".into(), ..corpus(1, 1).remove(0) };
    let verdict = reopened.ingest(&article(&late), T0).unwrap().verdict;
    assert_eq!(verdict, reference.ingest(&article(&late)).unwrap());
}

#[test]
fn replay_on_the_syndication_corpus() {
    let Some(data) = crate::common::shared_data("replay_on_the_syndication_corpus") else {
        return;
    };
    let text = std::fs::read_to_string(data.join("synd-dev.jsonl")).unwrap();
    let docs: Vec<Doc> = text
        .lines()
        .take(2000)
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            Doc {
                id: row["id"].as_str().unwrap().to_owned(),
                text: row["text"].as_str().unwrap().to_owned(),
                source: row["source"].as_str().unwrap_or("").to_owned(),
                published: None,
            }
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig { sync: SyncMode::Never, ..store_config(dir.path()) };
    let durable = open(&config);
    let verdicts = ingest_all(&durable, &docs);
    let retries = ingest_all(&durable, &docs);
    durable.close().unwrap();
    drop(durable);
    let reopened = open(&config);
    for ((doc, verdict), retry) in docs.iter().zip(&verdicts).zip(&retries) {
        let again = reopened.ingest(&article(doc), T0).unwrap().verdict;
        // The story may have merged with another since; its first name still finds it.
        let story = reopened.detector().cluster(&verdict.cluster_id).unwrap().cluster_id;
        assert_eq!((again.kind, &again.cluster_id), (verdict.kind, &story));
        // Same index before and after the restart: the very same verdict, matches included.
        assert_eq!(&again, retry);
    }
}

#[test]
fn torn_tail_is_cut_and_everything_before_kept() {
    let dir = tempfile::tempdir().unwrap();
    let config = store_config(dir.path());
    let docs = corpus(20, 2);
    let durable = open(&config);
    ingest_all(&durable, &docs);
    drop(durable);
    let segment = only_segment(dir.path());
    let bytes = std::fs::read(&segment).unwrap();
    let last = *frame_offsets(&bytes).last().unwrap();
    for cut in [1, 12, bytes.len() - last - 13] {
        // A crash mid-write leaves the last record short by `cut` bytes.
        std::fs::write(&segment, &bytes[..bytes.len() - cut]).unwrap();
        let reopened = open(&config);
        let stats = reopened.stats();
        assert_eq!(stats.store.recovery.truncated_bytes, (bytes.len() - last - cut) as u64);
        assert_eq!(stats.detector.documents, docs.len() - 1, "cut {cut}");
        assert!(!reopened.detector().contains(&docs.last().unwrap().id));
        drop(reopened);
        assert_eq!(std::fs::metadata(&segment).unwrap().len(), last as u64);
    }
    // Zeros past the end (a file extended but never written) are a torn tail too, and
    // the log accepts appends after the cut.
    let mut padded = bytes[..last].to_vec();
    padded.extend([0u8; 4096]);
    std::fs::write(&segment, &padded).unwrap();
    let reopened = open(&config);
    assert_eq!(reopened.stats().store.recovery.truncated_bytes, 4096);
    ingest_all(&reopened, &docs[docs.len() - 1..]);
    drop(reopened);
    assert_eq!(open(&config).stats().detector.documents, docs.len());
}

#[test]
fn bit_flips_in_the_tail_are_cut_and_in_the_middle_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = store_config(dir.path());
    let docs = corpus(20, 3);
    let durable = open(&config);
    ingest_all(&durable, &docs);
    drop(durable);
    let segment = only_segment(dir.path());
    let bytes = std::fs::read(&segment).unwrap();
    let offsets = frame_offsets(&bytes);

    // A flip in the last record: indistinguishable from a torn write, cut away.
    let mut tail = bytes.clone();
    tail[offsets[offsets.len() - 1] + 40] ^= 0x04;
    std::fs::write(&segment, &tail).unwrap();
    assert_eq!(open(&config).stats().detector.documents, docs.len() - 1);

    // A flip in a middle record (payload, length or marker): refused, file untouched.
    for (victim, byte) in [(5, 60), (5, 5), (9, 0), (offsets.len() - 2, 30)] {
        let mut middle = bytes.clone();
        middle[offsets[victim] + byte] ^= 0x01;
        std::fs::write(&segment, &middle).unwrap();
        let before = snapshot(dir.path());
        match DurableDetector::open(&config, DetectorConfig::default()) {
            Err(Error::CorruptLog { path, offset, .. }) => {
                assert_eq!(path, segment);
                assert_eq!(offset, offsets[victim] as u64);
            }
            other => panic!("record {victim} byte {byte}: {other:?}"),
        }
        assert_eq!(snapshot(dir.path()), before, "refusing must not touch the data");
    }
}

#[test]
fn damage_in_a_sealed_segment_is_refused_even_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let config = store_config(dir.path());
    let docs = corpus(20, 12);
    let durable = open(&config);
    ingest_all(&durable, &docs[..docs.len() / 2]);
    durable.compact().unwrap(); // seals the first segment, appends go to a second one
    ingest_all(&durable, &docs[docs.len() / 2..]);
    drop(durable);
    let segments = segments(dir.path());
    assert_eq!(segments.len(), 2, "{segments:?}");
    // A sealed segment was synced before the next one began: a short end there is
    // damage, not a crash mid-write, although nothing valid follows inside the file.
    let sealed = std::fs::read(&segments[0]).unwrap();
    std::fs::write(&segments[0], &sealed[..sealed.len() - 3]).unwrap();
    let before = snapshot(dir.path());
    match DurableDetector::open(&config, DetectorConfig::default()) {
        Err(Error::CorruptLog { path, next_valid, .. }) => {
            assert_eq!(path, segments[0]);
            assert!(next_valid.contains("later segment"), "{next_valid}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn incompatible_manifest_names_the_setting_and_leaves_data_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let config = store_config(dir.path());
    let docs = corpus(10, 4);
    let durable = open(&config);
    ingest_all(&durable, &docs);
    // A second process (or a second open) cannot take the directory.
    assert!(matches!(
        DurableDetector::open(&config, DetectorConfig::default()),
        Err(Error::StoreLocked { .. })
    ));
    drop(durable);
    let before = snapshot(dir.path());
    for (changed, setting) in [
        (DetectorConfig::default().with_num_perm(64), "num_perm"),
        (DetectorConfig { shingle_size: 4, ..Default::default() }, "shingle_size"),
        (DetectorConfig { seed: 7, ..Default::default() }, "seed"),
    ] {
        let error = DurableDetector::open(&config, changed).unwrap_err();
        match &error {
            Error::IncompatibleStore { setting: named, .. } => assert_eq!(named, setting),
            other => panic!("{other:?}"),
        }
        assert!(error.to_string().contains(setting), "{error}");
        assert_eq!(snapshot(dir.path()), before);
    }
    // Thresholds only steer future decisions: a change is accepted and recorded, and
    // the stored decisions stay.
    let tuned = DetectorConfig { jaccard_threshold: 0.9, ..Default::default() };
    let reopened = DurableDetector::open(&config, tuned.clone()).unwrap();
    assert_eq!(reopened.stats().detector.documents, docs.len());
    drop(reopened);
    let manifest = neardup::store::read_manifest(dir.path()).unwrap().unwrap();
    assert_eq!(manifest.detector_config(dir.path()).unwrap(), tuned);
    // A folder that is not a data directory is never written into.
    let foreign = tempfile::tempdir().unwrap();
    std::fs::write(foreign.path().join("notes.txt"), "mine").unwrap();
    let error = DurableDetector::open(&store_config(foreign.path()), DetectorConfig::default())
        .unwrap_err();
    assert!(matches!(error, Error::IncompatibleStore { .. }), "{error}");
    assert!(!foreign.path().join("manifest.json").exists());
}

#[test]
fn compaction_drops_dead_records_and_survives_a_crash_at_every_step() {
    let docs = corpus(60, 5);
    for stop in [
        None,
        Some(CompactStep::TempWritten),
        Some(CompactStep::Renamed),
        Some(CompactStep::DirSynced),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = store_config(dir.path());
        let durable = open(&config);
        let verdicts = ingest_all(&durable, &docs);
        for doc in docs.iter().step_by(2) {
            durable.remove(&doc.id).unwrap().unwrap().wait().unwrap();
        }
        let expected = clusters_of(durable.detector(), &docs);
        let before = durable.stats().store;
        let report = durable.compact_until(stop).unwrap();
        assert_eq!(report.records_before, before.records);
        assert_eq!(report.records_after as usize, expected.len());
        // Appends go on after (or during) a compaction.
        let extra = Doc { id: "after".into(), ..corpus(1, 99).remove(0) };
        durable.ingest(&article(&extra), T0).unwrap().ticket.wait().unwrap();
        drop(durable); // a crash at `stop`: nothing more happens in this process

        let reopened = open(&config);
        let mut got = clusters_of(reopened.detector(), &docs);
        assert!(reopened.detector().contains("after"), "{stop:?}");
        assert_eq!(std::mem::take(&mut got), expected, "{stop:?}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{stop:?}: {leftovers:?}");
        for (doc, verdict) in docs.iter().zip(&verdicts).skip(1).step_by(2) {
            let again = reopened.ingest(&article(doc), T0).unwrap().verdict;
            assert_eq!((again.kind, &again.cluster_id), (verdict.kind, &verdict.cluster_id));
        }
        if stop.is_none() {
            let after = reopened.stats().store;
            assert!(after.disk_bytes < before.disk_bytes / 2 + 4096, "{after:?} vs {before:?}");
            assert_eq!(after.records as usize, expected.len() + 1);
        }
        // A second compaction after the crash finishes the job.
        reopened.compact().unwrap();
        drop(reopened);
        assert_eq!(clusters_of(open(&config).detector(), &docs), expected, "{stop:?}");
    }
}

#[test]
fn automatic_compaction_past_the_dead_fraction() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        compact_fraction: 0.3,
        compact_min_dead: 10,
        sync: SyncMode::Never,
        ..store_config(dir.path())
    };
    let docs = corpus(40, 6);
    let durable = open(&config);
    ingest_all(&durable, &docs);
    for doc in docs.iter().take(docs.len() / 2) {
        durable.remove(&doc.id).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while durable.stats().store.compactions == 0 {
        assert!(std::time::Instant::now() < deadline, "no automatic compaction");
        std::thread::sleep(Duration::from_millis(20));
    }
    let live = durable.stats().detector.documents;
    drop(durable);
    assert_eq!(open(&config).stats().detector.documents, live);
}

#[test]
fn window_ages_articles_out_of_memory_and_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        window: Some(Duration::from_secs(10 * 24 * 3600)),
        ..store_config(dir.path())
    };
    // One distinct story a day for 30 days, published in order, plus undated ones.
    let docs: Vec<Doc> = corpus(30, 7)
        .into_iter()
        .filter(|d| !d.id.contains('-'))
        .enumerate()
        .map(|(day, d)| Doc { published: Some(T0 + day as i64 * DAY), ..d })
        .collect();
    let durable = open(&config);
    for (day, doc) in docs.iter().enumerate() {
        let ingested = durable.ingest(&article(doc), T0 + day as i64 * DAY).unwrap();
        assert!(ingested.indexed);
        ingested.ticket.wait().unwrap();
    }
    // Newest is day 29: days 19..=29 are inside the 10-day window.
    let kept: Vec<bool> = docs.iter().map(|d| durable.detector().contains(&d.id)).collect();
    assert_eq!(kept, (0..30).map(|day| day >= 19).collect::<Vec<_>>());
    let stats = durable.stats();
    assert_eq!(stats.store.window_ms, Some(10 * DAY));
    assert_eq!(stats.store.newest, Some(T0 + 29 * DAY));
    assert_eq!(stats.oldest_kept, Some((docs[19].id.clone(), T0 + 19 * DAY)));
    // A late article older than the window is labelled against the index but not kept;
    // one dated in the far future cannot push the window past its arrival + 1 day.
    let old = Doc { id: "old".into(), published: Some(T0), ..corpus(1, 70).remove(0) };
    let late = durable.ingest(&article(&old), T0 + 29 * DAY).unwrap();
    assert!(!late.indexed && !durable.detector().contains("old"));
    assert_eq!(late.verdict.kind, CopyKind::NewStory);
    // An undated article counts from its arrival.
    let undated = Doc { id: "undated".into(), published: None, ..corpus(1, 73).remove(0) };
    assert!(durable.ingest(&article(&undated), T0 + 25 * DAY).unwrap().indexed);
    let typo =
        Doc { id: "typo".into(), published: Some(T0 + 5000 * DAY), ..corpus(1, 71).remove(0) };
    durable.ingest(&article(&typo), T0 + 29 * DAY).unwrap().ticket.wait().unwrap();
    assert_eq!(durable.stats().store.newest, Some(T0 + 30 * DAY));
    assert!(
        durable.detector().contains(&docs[20].id) && !durable.detector().contains(&docs[19].id)
    );
    drop(durable);

    // Replay applies the same window; compaction then drops the expired records.
    let reopened = open(&config);
    let kept_after: Vec<bool> = docs.iter().map(|d| reopened.detector().contains(&d.id)).collect();
    assert_eq!(kept_after, (0..30).map(|day| day >= 20).collect::<Vec<_>>());
    assert!(reopened.detector().contains("undated"));
    reopened.remove("typo").unwrap().unwrap().wait().unwrap();
    reopened.remove("undated").unwrap().unwrap().wait().unwrap();
    let report = reopened.compact().unwrap();
    assert_eq!(report.records_after, 10); // days 20..=29
    drop(reopened);
    // The compacted log keeps the newest time although its article is gone, so the
    // window does not move back: an article from day 19 is still too old.
    let again = open(&config);
    assert_eq!(again.stats().store.newest, Some(T0 + 30 * DAY));
    assert_eq!(again.stats().detector.documents, 10);
    assert_eq!(again.stats().store.records, 10);
    let day19 =
        Doc { id: "day19".into(), published: Some(T0 + 19 * DAY), ..corpus(1, 72).remove(0) };
    assert!(!again.ingest(&article(&day19), T0 + 31 * DAY).unwrap().indexed);
}

#[test]
fn group_commit_loses_nothing_under_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let config = store_config(dir.path());
    let docs = Arc::new(corpus(400, 8));
    let durable = Arc::new(open(&config));
    let threads = 16;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let docs = Arc::clone(&docs);
            let durable = Arc::clone(&durable);
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for doc in docs.iter().skip(t).step_by(threads) {
                    let ingested = durable.ingest(&article(doc), T0).unwrap();
                    ingested.ticket.wait().unwrap();
                    acked.push((doc.id.clone(), ingested.verdict.cluster_id));
                }
                acked
            })
        })
        .collect();
    let acked: BTreeMap<String, String> =
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_eq!(acked.len(), docs.len());
    let stats = durable.stats().store;
    eprintln!("group commit: {} records, {} syncs", stats.records, stats.syncs);
    assert!(stats.syncs < stats.records, "{} syncs for {} records", stats.syncs, stats.records);
    drop(durable);
    let reopened = open(&config);
    assert_eq!(clusters_of(reopened.detector(), &docs), acked);
}

/// Polls a future on this thread (no runtime needed: the ticket wakes the waker).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut context) {
            return out;
        }
        std::thread::park();
    }
}

#[test]
fn tickets_can_be_awaited_and_batch_mode_acknowledges() {
    for sync in [SyncMode::Always, SyncMode::Batch, SyncMode::Never] {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig { sync, ..store_config(dir.path()) };
        let docs = corpus(30, 9);
        let durable = open(&config);
        let tickets: Vec<Ticket> =
            docs.iter().map(|d| durable.ingest(&article(d), T0).unwrap().ticket).collect();
        for ticket in tickets {
            block_on(async { ticket.await }).unwrap();
        }
        assert!(block_on(async { Ticket::ready().await }).is_ok());
        drop(durable);
        assert_eq!(open(&config).stats().detector.documents, docs.len(), "{sync}");
    }
}

#[test]
fn scan_save_writes_a_directory_with_the_scan_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kremlin.jsonl");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_neardup"))
        .args(["scan", "--no-progress", "--save"])
        .arg(&data)
        .arg(&corpus)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let durable = DurableDetector::open(&store_config(&data), DetectorConfig::default()).unwrap();
    let lines = String::from_utf8(out.stdout).unwrap();
    let mut count = 0;
    for line in lines.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let (id, cluster) = (row["id"].as_str().unwrap(), row["cluster"].as_str().unwrap());
        let view = durable.detector().cluster(cluster).unwrap();
        assert!(view.members.iter().any(|m| m.id == id), "{id} not in {cluster}");
        assert_eq!(view.origin_id, row["origin"].as_str().unwrap());
        count += 1;
    }
    assert_eq!(durable.stats().detector.documents, count);
    // Saving twice into the same directory is refused rather than mixing two corpora.
    drop(durable);
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_neardup"))
        .args(["scan", "--no-progress", "--save"])
        .arg(&data)
        .arg(&corpus)
        .output()
        .unwrap();
    assert!(!again.status.success());
}

#[test]
fn compact_command_rewrites_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let config = store_config(dir.path());
    let docs = corpus(20, 10);
    let durable = open(&config);
    ingest_all(&durable, &docs);
    for doc in docs.iter().step_by(2) {
        durable.remove(&doc.id).unwrap().unwrap().wait().unwrap();
    }
    let live = durable.stats().detector.documents;
    drop(durable);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_neardup"))
        .args(["compact", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["records_after"], live);
    assert_eq!(open(&config).stats().detector.documents, live);
}

/// Environment variable that turns [`crash_child`] into the child process of
/// [`sigkill_keeps_every_acknowledged_article`].
const CRASH_CHILD_DIR: &str = "NEARDUP_CRASH_CHILD_DIR";

/// The articles the crash test streams: the syndication corpus when present (CI has
/// it), else the synthetic one.
fn crash_corpus() -> Vec<Doc> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/synd-dev.jsonl");
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .take(3000)
            .map(|line| {
                let row: serde_json::Value = serde_json::from_str(line).unwrap();
                Doc {
                    id: row["id"].as_str().unwrap().to_owned(),
                    text: row["text"].as_str().unwrap().to_owned(),
                    source: row["source"].as_str().unwrap_or("").to_owned(),
                    published: None,
                }
            })
            .collect(),
        Err(_) => {
            eprintln!("{} is absent: streaming the synthetic corpus", path.display());
            corpus(800, 11)
        }
    }
}

/// Child process: ingests the crash corpus with 4 threads under `--sync always` and
/// prints `ACK id cluster` once each article's ticket resolved. Does nothing unless
/// started by the crash test.
#[test]
#[ignore = "child process of sigkill_keeps_every_acknowledged_article"]
fn crash_child() {
    use std::io::Write;
    let Ok(dir) = std::env::var(CRASH_CHILD_DIR) else { return };
    let docs = Arc::new(crash_corpus());
    let durable = Arc::new(open(&store_config(Path::new(&dir))));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (docs, durable) = (Arc::clone(&docs), Arc::clone(&durable));
            std::thread::spawn(move || {
                for doc in docs.iter().skip(t).step_by(4) {
                    let ingested = durable.ingest(&article(doc), T0).unwrap();
                    ingested.ticket.wait().unwrap();
                    let line = format!("ACK {} {}\n", doc.id, ingested.verdict.cluster_id);
                    std::io::stdout().lock().write_all(line.as_bytes()).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

/// Starts a process that streams articles into `dir` and prints `ACK id cluster` for
/// each acknowledged one; the crash test SIGKILLs it. `crash.rs` does the same to the
/// `neardup serve` binary over gRPC.
fn spawn_ingester(dir: &Path) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["store::crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD_DIR, dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills an ingester with SIGKILL after `kill_after` acknowledgements and returns every
/// acknowledgement it printed (including those still in the pipe).
fn run_and_kill(mut child: std::process::Child, kill_after: usize) -> Vec<(String, String)> {
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut killed = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("ACK ") {
            let (id, cluster) = rest.split_once(' ').unwrap();
            acked.push((id.to_owned(), cluster.to_owned()));
        }
        if acked.len() >= kill_after && !killed {
            child.kill().unwrap(); // SIGKILL on Unix
            killed = true;
        }
    }
    child.wait().unwrap();
    acked
}

#[test]
fn sigkill_keeps_every_acknowledged_article() {
    let dir = tempfile::tempdir().unwrap();
    let docs = crash_corpus();
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    // Several kill points on the same directory: each restart recovers, then goes on.
    for kill_after in [25, 300, 7, 900] {
        for (id, cluster) in run_and_kill(spawn_ingester(dir.path()), kill_after) {
            acked.entry(id).or_insert(cluster);
        }
        let reopened = open(&store_config(dir.path()));
        for (id, cluster) in &acked {
            let doc = docs.iter().find(|d| &d.id == id).unwrap();
            assert!(
                reopened.detector().contains(id),
                "acknowledged {id} lost (kill after {kill_after})"
            );
            // The story it was acknowledged in (merged since, perhaps) still holds it.
            let story = reopened.detector().cluster(cluster).unwrap();
            assert!(story.members.iter().any(|m| &m.id == id), "{id} left story {cluster}");
            let retry = reopened.ingest(&article(doc), T0).unwrap().verdict;
            assert_eq!(retry.cluster_id, story.cluster_id, "{id}");
        }
        // Unacknowledged articles are fully there (restorable, answering retries) or absent.
        for doc in docs.iter().filter(|d| reopened.detector().contains(&d.id)) {
            reopened.ingest(&article(doc), T0).unwrap();
        }
        eprintln!(
            "kill after {kill_after}: {} acknowledged so far, {} indexed, {} bytes cut",
            acked.len(),
            reopened.stats().detector.documents,
            reopened.stats().store.recovery.truncated_bytes
        );
    }
    assert!(acked.len() >= 900, "{} acknowledged", acked.len());
}

#[test]
fn a_directory_of_an_older_log_format_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let config = store_config(dir.path());
    let durable = open(&config);
    ingest_all(&durable, &corpus(3, 1));
    durable.close().unwrap();
    drop(durable);
    let path = dir.path().join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest["format_version"] = 1.into();
    std::fs::write(&path, manifest.to_string()).unwrap();
    let error = DurableDetector::open(&config, DetectorConfig::default()).unwrap_err();
    assert!(
        matches!(&error, Error::IncompatibleStore { setting, .. } if setting == "format_version")
    );
    let message = error.to_string();
    assert!(message.contains("format_version = 1") && message.contains("scan --save"), "{message}");
}
