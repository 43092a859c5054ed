//! Durable state for the service: a data directory holding a manifest (the detector
//! config, hash scheme and format that wrote it) and an append-only log of checksummed
//! records in numbered segment files.
//!
//! * Appends go through group commit ([`Ticket`]): concurrent appenders share one
//!   `fdatasync`; under [`SyncMode::Always`] a ticket resolves only once its record is
//!   on disk.
//! * Opening replays the log (memory-mapped, checksums verified in parallel): a torn
//!   tail from a crash is cut with a warning, damage followed by valid records is
//!   refused ([`Error::CorruptLog`]).
//! * Removes are tombstones; [`Store::compact`] rewrites the sealed segments without
//!   dead or expired records, crash-safely (temp file, fsync, rename, fsync directory).
//! * [`DurableDetector`] puts a [`Detector`] and a store together:
//!   that is what the service calls.
//!
//! Layout of a data directory:
//!
//! ```text
//! manifest.json              format version, gxhash major version, DetectorConfig
//! LOCK                       held (flock) by the process serving the directory
//! 00000000000000000001.log   segments: a header record, then inserts and tombstones
//! 00000000000000000002.log   the highest-numbered segment is the one appended to
//! ```
//!
//! The blocking calls (`open`, `append_*`, `compact`) do file I/O and are meant for a
//! blocking thread (`tokio::task::spawn_blocking` in the service); a [`Ticket`] can be
//! awaited from async code without blocking the runtime.

mod checkpoint;
mod compact;
mod durable;
mod log;
mod manifest;
mod recover;
mod writer;

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;

use crate::chrome::{ChromeModel, LineProfile};
use crate::config::{DetectorConfig, StoreConfig, SyncMode};
use crate::detector::{Detector, StoredArticle};
use crate::error::{Error, Result};

pub use compact::{CompactReport, CompactStep};
pub use durable::{DurableDetector, DurableStats, Ingested};
pub use log::{MAX_FIELD_BYTES, MAX_FUTURE_MS, time_key};
pub use manifest::{
    FORMAT_VERSION, HASH, HASH_MAJOR_VERSION, MANIFEST_FILE, Manifest, read_manifest,
};
pub use writer::Ticket;

use log::{InsertRecord, Lanes, Record, SegmentHeader};
/// The log reader on arbitrary bytes, for the `log_decode` fuzz target in `fuzz/` (not a
/// stable API). Decodes `bytes` as one record payload directly (random bytes would never
/// pass a checksum), and as a segment: frames, checksums, payloads and the search for
/// the next valid frame after damage. A payload that decodes must frame and decode
/// again. Returns how many records decoded.
#[doc(hidden)]
pub fn fuzz_read_log(bytes: &[u8]) -> usize {
    let mut decoded = 0;
    if let Ok(record) = log::decode(bytes) {
        decoded += 1;
        let mut framed = Vec::new();
        log::frame(&mut framed, &record);
        let (frames, damage) = log::split_frames(&framed);
        assert!(damage.is_none() && frames.len() == 1, "a framed record splits back");
        assert!(log::checksum_ok(&framed, &frames[0]), "a framed record checks");
        assert!(log::decode(&framed[frames[0].payload.clone()]).is_ok(), "and decodes");
    }
    let (frames, damage) = log::split_frames(bytes);
    for frame in &frames {
        if log::checksum_ok(bytes, frame) && log::decode(&bytes[frame.payload.clone()]).is_ok() {
            decoded += 1;
        }
    }
    if let Some(damage) = damage {
        let _ = log::next_valid_frame(bytes, damage.offset);
    }
    decoded
}

use manifest::{sync_dir, write_manifest};
use recover::{Replayed, Scanned, segment_name};
use writer::{Active, Writer, lock};

const LOCK_FILE: &str = "LOCK";

/// What opening a data directory found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecoveryReport {
    /// Segment files replayed.
    pub segments: usize,
    /// Insert and remove records read.
    pub records: u64,
    /// Articles live after replay (inserted, not removed, inside the window).
    pub live: usize,
    /// Bytes of a torn tail cut from the log.
    pub truncated_bytes: u64,
    /// Seconds spent reading and verifying the log (not restoring a detector).
    pub seconds: f64,
}

/// Counters of an open store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreStats {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The sync mode.
    pub sync: SyncMode,
    /// The time window in milliseconds, if any.
    pub window_ms: Option<i64>,
    /// Newest article time ever accepted (Unix ms).
    pub newest: Option<i64>,
    /// Segment files.
    pub segments: usize,
    /// Bytes of all segment files.
    pub disk_bytes: u64,
    /// Insert and remove records in the log.
    pub records: u64,
    /// Of those, records a compaction would drop (removed or expired inserts, tombstones).
    pub dead_records: u64,
    /// Compactions finished since opening.
    pub compactions: u64,
    /// Log syncs since opening; with group commit, fewer than the records appended.
    pub syncs: u64,
    /// What opening found.
    pub recovery: RecoveryReport,
}

/// An open data directory: the log writer plus the bookkeeping compaction needs.
/// Cheap to clone (shared handle); the log is synced and closed when the last clone drops.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.inner.dir).finish_non_exhaustive()
    }
}

struct Inner {
    dir: PathBuf,
    /// Whether the detector learns chrome, so compaction must keep what the chrome
    /// checkpoint does not cover.
    learns_chrome: bool,
    config: StoreConfig,
    num_perm: usize,
    writer: Writer,
    /// Segment numbers, ascending; the last one is appended to.
    segments: Mutex<Vec<u64>>,
    watermark: Mutex<Option<i64>>,
    records: AtomicU64,
    dead: AtomicU64,
    compactions: AtomicU64,
    compaction: Mutex<()>,
    recovery: RecoveryReport,
    _lock: File,
}

/// The live articles found when opening, ready to be restored into a detector.
pub struct Recovered {
    scanned: Scanned,
    replayed: Replayed,
}

impl std::fmt::Debug for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recovered").field("live", &self.replayed.live.len()).finish()
    }
}

impl Recovered {
    /// Number of live articles.
    pub fn len(&self) -> usize {
        self.replayed.live.len()
    }

    /// True when nothing is live.
    pub fn is_empty(&self) -> bool {
        self.replayed.live.is_empty()
    }

    /// Restores every live article into `detector` in log order, with its recorded
    /// decision (log order fixes origin tie-breaks). Records are decoded in parallel and
    /// their lanes borrowed straight from the mapped log; the LSH index is built band by
    /// band on every core.
    pub(crate) fn restore_into(&self, detector: &Detector) -> Result<()> {
        const CHUNK: usize = 1 << 16;
        detector.reserve(self.len());
        for chunk in self.replayed.live.chunks(CHUNK) {
            // Lanes come as bytes only from a misaligned or big-endian read: decode those.
            // Each record with its lanes (when they had to be decoded) and its sketch.
            type Decoded<'a> = (InsertRecord<'a>, Option<Box<[u32]>>, Box<[u16]>);
            let decoded: Vec<Decoded<'_>> = chunk
                .par_iter()
                .with_min_len(1024)
                .map(|live| {
                    let insert = recover::insert_at(&self.scanned, live.segment, &live.payload);
                    let owned = match insert.lanes {
                        Lanes::Words(_) => None,
                        Lanes::Bytes(_) => {
                            let mut lanes = vec![0; insert.lanes.len()].into_boxed_slice();
                            insert.lanes.copy_to(&mut lanes);
                            Some(lanes)
                        }
                    };
                    let sketch = insert.sketch();
                    (insert, owned, sketch)
                })
                .collect();
            let batch: Vec<StoredArticle<'_>> = decoded
                .iter()
                .map(|(insert, owned, sketch)| StoredArticle {
                    id: insert.id,
                    source: insert.source,
                    published: insert.published,
                    text_hash: insert.text_hash,
                    lanes: match (insert.lanes, owned) {
                        (Lanes::Words(words), _) => words,
                        (Lanes::Bytes(_), Some(owned)) => owned,
                        (Lanes::Bytes(_), None) => unreachable!("byte lanes were decoded above"),
                    },
                    shingle_count: insert.shingle_count,
                    sketch,
                    kind: insert.kind,
                    cluster_id: insert.cluster_id,
                })
                .collect();
            if let Err(error) = detector.restore_many(&batch) {
                // Name the record: the first of the batch not restored.
                let at = batch.iter().position(|a| !detector.contains(a.id)).unwrap_or(0);
                return Err(self.bad_record(&chunk[at], error.to_string()));
            }
        }
        // Each live article joined the story its record names; the merges since then
        // bring those stories together as they were.
        for merge in &self.replayed.merges {
            let (from, into) = recover::merge_at(&self.scanned, merge);
            detector.restore_merge(from, into);
        }
        Ok(())
    }

    fn bad_record(&self, live: &recover::LiveRef, reason: String) -> Error {
        Error::BadLogRecord {
            path: self.scanned.segments[live.segment].path.clone(),
            offset: (live.payload.start - log::FRAME_HEADER) as u64,
            reason,
        }
    }

    /// Calls `each` on the line profile of every insert record (live or not) in the
    /// segments numbered above `covers_through`, in log order: what the chrome model
    /// learned after its checkpoint.
    pub(crate) fn for_each_profile_after(
        &self,
        covers_through: u64,
        mut each: impl FnMut(&LineProfile),
    ) {
        for (segment, payload) in &self.replayed.inserts {
            if self.scanned.segments[*segment].number <= covers_through {
                continue;
            }
            let insert = recover::insert_at(&self.scanned, *segment, payload);
            if !insert.profile_lines.is_empty() {
                each(&insert.profile());
            }
        }
    }

    /// Calls `each(id, time_key)` for every live article, in log order.
    pub(crate) fn for_each_live(&self, mut each: impl FnMut(&str, i64)) {
        for live in &self.replayed.live {
            each(recover::insert_at(&self.scanned, live.segment, &live.payload).id, live.time_key);
        }
    }
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::StoreLocked { path: dir.to_owned() }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(path, e)),
    }
}

/// Creates `dir` if needed, locks it and checks or writes its manifest. A directory
/// without a manifest must be empty: the store never writes into a stranger's folder.
fn prepare_dir(dir: &Path, detector: &DetectorConfig) -> Result<File> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        // The new directory's own entry must survive a power failure too.
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        sync_dir(parent)?;
    }
    let lock = lock_dir(dir)?;
    let current = Manifest::new(detector);
    match read_manifest(dir)? {
        Some(stored) => {
            let changed = stored.check(dir, &current)?;
            if !changed.is_empty() {
                tracing::info!(settings = ?changed, "detector settings changed since the data was written; recording the new values");
                write_manifest(dir, &current)?;
            }
        }
        None => {
            let foreign = std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .filter_map(|e| e.ok())
                .find(|e| e.file_name() != LOCK_FILE);
            if let Some(entry) = foreign {
                return Err(Error::IncompatibleStore {
                    path: dir.to_owned(),
                    setting: MANIFEST_FILE.into(),
                    stored: format!("(missing, but the directory holds {:?})", entry.file_name()),
                    current: "a manifest or an empty directory".into(),
                });
            }
            write_manifest(dir, &current)?;
        }
    }
    Ok(lock)
}

fn header_frame(number: u64, covers_from: u64, watermark: Option<i64>) -> Vec<u8> {
    let mut buf = Vec::new();
    let header = SegmentHeader { format_version: FORMAT_VERSION, number, covers_from, watermark };
    log::frame(&mut buf, &Record::Header(header));
    buf
}

/// Creates segment `number` holding just its header, durably.
fn create_segment(dir: &Path, number: u64, watermark: Option<i64>) -> Result<Active> {
    let path = dir.join(segment_name(number));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let header = header_frame(number, number, watermark);
    file.write_all(&header).and_then(|()| file.sync_data()).map_err(|e| Error::io(&path, e))?;
    sync_dir(dir)?;
    Ok(Active { file, number, len: header.len() as u64 })
}

/// Checks an article's fields and signature width and builds its log record: the one
/// path by which both the live store and bulk loads write inserts.
/// `scratch` holds the encoded sketch and profile the record borrows.
fn insert_record<'a>(
    article: &StoredArticle<'a>,
    profile: Option<&LineProfile>,
    ingested_at: i64,
    num_perm: usize,
    scratch: &'a mut (Vec<u8>, Vec<u8>),
) -> Result<InsertRecord<'a>> {
    check_field("id", article.id)?;
    check_field("source", article.source)?;
    check_field("cluster_id", article.cluster_id)?;
    if article.lanes.len() != num_perm {
        return Err(Error::input(
            "signature",
            format!("has {} lanes, the store has num_perm = {num_perm}", article.lanes.len()),
        ));
    }
    let (sketch, lines) = scratch;
    sketch.clear();
    sketch.extend(article.sketch.iter().flat_map(|v| v.to_le_bytes()));
    lines.clear();
    if let Some(profile) = profile {
        lines.extend(profile.lines.iter().flat_map(|v| v.to_le_bytes()));
    }
    Ok(InsertRecord {
        id: article.id,
        source: article.source,
        cluster_id: article.cluster_id,
        kind: article.kind,
        published: article.published,
        ingested_at,
        text_hash: article.text_hash,
        shingle_count: article.shingle_count,
        lanes: Lanes::Words(article.lanes),
        sketch,
        profile_story: profile.map_or(0, |p| p.story),
        profile_lines: lines,
    })
}

pub(crate) fn check_field(field: &'static str, text: &str) -> Result<()> {
    if text.len() > MAX_FIELD_BYTES {
        return Err(Error::input(
            field,
            format!("is {} bytes, the most is {MAX_FIELD_BYTES}", text.len()),
        ));
    }
    Ok(())
}

impl Store {
    /// Opens (or creates) the data directory of `config` for `detector`: locks it,
    /// checks the manifest, cleans up after an interrupted compaction, verifies and
    /// replays the log. The returned [`Recovered`] holds the live articles to restore.
    pub fn open(config: &StoreConfig, detector: &DetectorConfig) -> Result<(Store, Recovered)> {
        config.validate()?;
        detector.validate()?;
        let started = Instant::now();
        let dir = config.data_dir.clone();
        let lock = prepare_dir(&dir, detector)?;
        let segments = recover::open_segments(&dir)?;
        let scanned = recover::verify(segments, true)?;
        let replayed =
            recover::replay(&scanned, 0..scanned.segments.len(), config.window_millis())?;
        let recovery = RecoveryReport {
            segments: scanned.segments.len(),
            records: replayed.records,
            live: replayed.live.len(),
            truncated_bytes: scanned.truncated,
            seconds: started.elapsed().as_secs_f64(),
        };
        let active = match scanned.segments.last() {
            Some(last) if last.header.is_some() && !last.bytes().is_empty() => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .open(&last.path)
                    .map_err(|e| Error::io(&last.path, e))?;
                let len = file.seek(SeekFrom::End(0)).map_err(|e| Error::io(&last.path, e))?;
                Active { file, number: last.number, len }
            }
            Some(last) => create_segment(&dir, last.number, replayed.watermark)?,
            None => create_segment(&dir, 1, replayed.watermark)?,
        };
        let mut numbers: Vec<u64> = scanned.segments.iter().map(|s| s.number).collect();
        if numbers.last() != Some(&active.number) {
            numbers.push(active.number);
        }
        let dead = replayed.records - replayed.live.len() as u64;
        tracing::info!(
            dir = %dir.display(),
            records = replayed.records,
            live = replayed.live.len(),
            seconds = recovery.seconds,
            "opened data directory"
        );
        let inner = Inner {
            learns_chrome: detector.chrome.enabled,
            writer: Writer::start(active, config.sync, config.batch_interval),
            dir,
            config: config.clone(),
            num_perm: detector.num_perm,
            segments: Mutex::new(numbers),
            watermark: Mutex::new(replayed.watermark),
            records: AtomicU64::new(replayed.records),
            dead: AtomicU64::new(dead),
            compactions: AtomicU64::new(0),
            compaction: Mutex::new(()),
            recovery,
            _lock: lock,
        };
        Ok((Store { inner: Arc::new(inner) }, Recovered { scanned, replayed }))
    }

    /// The store's settings.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Appends an insert record with its decision and the line `profile` the chrome
    /// model learned from (none when it learned nothing). Returns once the record is
    /// queued; the [`Ticket`] resolves when it is durable.
    pub fn append_insert(
        &self,
        article: &StoredArticle<'_>,
        profile: Option<&LineProfile>,
        ingested_at: i64,
    ) -> Result<Ticket> {
        let mut scratch = Default::default();
        let record =
            insert_record(article, profile, ingested_at, self.inner.num_perm, &mut scratch)?;
        {
            let mut watermark = lock(&self.inner.watermark);
            *watermark = (*watermark).max(Some(record.time_key()));
        }
        let ticket = self.inner.writer.append(&Record::Insert(record))?;
        self.inner.records.fetch_add(1, Ordering::Relaxed);
        Ok(ticket)
    }

    /// Appends a record that story `from` joined story `into` (both by id).
    pub(crate) fn append_merge(&self, from: &str, into: &str) -> Result<Ticket> {
        check_field("cluster_id", from)?;
        check_field("cluster_id", into)?;
        let ticket = self.inner.writer.append(&Record::Merge { from, into })?;
        self.inner.records.fetch_add(1, Ordering::Relaxed);
        Ok(ticket)
    }

    /// Appends a tombstone for `id`.
    pub(crate) fn append_remove(&self, id: &str) -> Result<Ticket> {
        check_field("id", id)?;
        let ticket = self.inner.writer.append(&Record::Remove { id })?;
        self.inner.records.fetch_add(1, Ordering::Relaxed);
        Ok(ticket)
    }

    /// A ticket that resolves once every record appended so far is durable.
    pub(crate) fn barrier(&self) -> Ticket {
        self.inner.writer.barrier()
    }

    /// Counts `n` more dead records (removed or expired articles, tombstones) towards
    /// the automatic compaction threshold.
    pub(crate) fn note_dead(&self, n: u64) {
        self.inner.dead.fetch_add(n, Ordering::Relaxed);
    }

    /// Newest article time ever accepted.
    pub(crate) fn watermark(&self) -> Option<i64> {
        *lock(&self.inner.watermark)
    }

    /// Articles with a time key below this are outside the window (`i64::MIN` without one).
    pub(crate) fn cutoff(&self) -> i64 {
        recover::cutoff(self.watermark(), self.inner.config.window_millis())
    }

    /// Whether dead records passed the configured share of the log.
    pub(crate) fn should_compact(&self) -> bool {
        let dead = self.inner.dead.load(Ordering::Relaxed);
        let records = self.inner.records.load(Ordering::Relaxed).max(1);
        dead >= self.inner.config.compact_min_dead
            && dead as f64 >= self.inner.config.compact_fraction * records as f64
    }

    /// Counters and settings.
    pub fn stats(&self) -> StoreStats {
        let segments = lock(&self.inner.segments).clone();
        let disk_bytes = segments
            .iter()
            .filter_map(|&n| std::fs::metadata(self.inner.dir.join(segment_name(n))).ok())
            .map(|m| m.len())
            .sum();
        StoreStats {
            data_dir: self.inner.dir.clone(),
            sync: self.inner.config.sync,
            window_ms: self.inner.config.window_millis(),
            newest: self.watermark(),
            segments: segments.len(),
            disk_bytes,
            records: self.inner.records.load(Ordering::Relaxed),
            dead_records: self.inner.dead.load(Ordering::Relaxed),
            compactions: self.inner.compactions.load(Ordering::Relaxed),
            syncs: self.inner.writer.shared.syncs.load(Ordering::Relaxed),
            recovery: self.inner.recovery.clone(),
        }
    }

    /// Writes and syncs everything appended, then stops accepting appends.
    pub fn close(&self) -> Result<()> {
        let _compaction = lock(&self.inner.compaction);
        self.inner.writer.shutdown()
    }

    /// Seals the active segment (synced) and starts the next; returns the sealed number.
    pub(crate) fn rotate(&self) -> Result<u64> {
        if let Some(reason) = self.inner.writer.failure() {
            return Err(Error::StoreFailed { reason });
        }
        let mut active = lock(&self.inner.writer.shared.active);
        let sealed = active.number;
        let path = self.inner.dir.join(segment_name(sealed));
        active.file.sync_data().map_err(|e| Error::io(&path, e))?;
        let next = create_segment(&self.inner.dir, sealed + 1, self.watermark())?;
        *active = next;
        lock(&self.inner.segments).push(sealed + 1);
        Ok(sealed)
    }
}

/// Writes a new data directory in one pass (`neardup scan --save`): no writer thread,
/// one sync at the end. The directory must not exist or be empty.
pub struct BulkWriter {
    dir: PathBuf,
    out: BufWriter<File>,
    buf: Vec<u8>,
    num_perm: usize,
    records: u64,
    _lock: File,
}

impl std::fmt::Debug for BulkWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkWriter").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl BulkWriter {
    /// Creates the data directory `dir` for `detector`.
    pub fn create(dir: &Path, detector: &DetectorConfig) -> Result<Self> {
        detector.validate()?;
        if read_manifest(dir).ok().flatten().is_some() {
            return Err(Error::IncompatibleStore {
                path: dir.to_owned(),
                setting: MANIFEST_FILE.into(),
                stored: "(present: the directory holds data already)".into(),
                current: "a new, empty directory".into(),
            });
        }
        let lock = prepare_dir(dir, detector)?;
        let path = dir.join(segment_name(1));
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(BulkWriter {
            dir: dir.to_owned(),
            out: BufWriter::with_capacity(1 << 20, file),
            buf: Vec::new(),
            num_perm: detector.num_perm,
            records: 0,
            _lock: lock,
        })
    }

    /// Appends one article with its decision.
    pub fn append(&mut self, article: &StoredArticle<'_>, ingested_at: i64) -> Result<()> {
        let mut scratch = Default::default();
        let record = insert_record(article, None, ingested_at, self.num_perm, &mut scratch)?;
        if self.records == 0 {
            // The header comes first; its watermark is not needed, the records carry it.
            let header = header_frame(1, 1, None);
            self.out.write_all(&header).map_err(|e| Error::io(&self.dir, e))?;
        }
        self.buf.clear();
        log::frame(&mut self.buf, &Record::Insert(record));
        self.out.write_all(&self.buf).map_err(|e| Error::io(&self.dir, e))?;
        self.records += 1;
        Ok(())
    }

    /// Flushes and syncs the log and stores `chrome`, the model the articles were
    /// signed under, as the directory's chrome checkpoint; returns the number of
    /// articles written.
    pub fn finish(mut self, chrome: Option<&ChromeModel>) -> Result<u64> {
        if self.records == 0 {
            let header = header_frame(1, 1, None);
            self.out.write_all(&header).map_err(|e| Error::io(&self.dir, e))?;
        }
        let file = self.out.into_inner().map_err(|e| Error::io(&self.dir, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.dir, e))?;
        sync_dir(&self.dir)?;
        if let Some(model) = chrome {
            checkpoint::write(&self.dir, 1, model)?;
        }
        Ok(self.records)
    }
}

/// Milliseconds since the Unix epoch by the system clock (for `ingested_at`).
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as i64
}
