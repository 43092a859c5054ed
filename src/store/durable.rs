//! [`DurableDetector`]: a [`Detector`] whose every insert and remove is logged in a
//! [`Store`], with the time window applied. This is the type the service holds.
//!
//! Ordering: the detector's decisions and the log's records are made under one lock, so
//! the log order is the order the detector saw (replay then gives the same origin
//! tie-breaks). Only the in-memory decision and the queueing of the record happen under
//! it; fingerprinting comes before and the wait for durability after.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use std::path::PathBuf;

use crate::article::Article;
use crate::chrome::ChromeModel;
use crate::config::{DetectorConfig, StoreConfig};
use crate::detector::{Detector, DetectorStats, SignedArticle, StoredArticle, Verdict};
use crate::error::{Error, Result};

use super::checkpoint;
use super::writer::{Ticket, lock};
use super::{CompactReport, Store, StoreStats, check_field, read_manifest, time_key};

/// The outcome of [`DurableDetector::ingest`].
#[derive(Debug)]
pub struct Ingested {
    /// The label.
    pub verdict: Verdict,
    /// Whether the article is in the index: false only for an article older than the
    /// time window, which is labelled but not kept.
    pub indexed: bool,
    /// Resolves once the article's record (or, for a retry, the earlier one) is durable.
    /// Answer the client only after it resolves.
    pub ticket: Ticket,
}

/// Detector and store counters together, for the service's `Stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DurableStats {
    /// The index.
    pub detector: DetectorStats,
    /// The log.
    pub store: StoreStats,
    /// The indexed article with the oldest time and that time (Unix ms): publication, or
    /// ingestion for undated articles under a window; without a window, the earliest
    /// published article (undated ones are not considered).
    pub oldest_kept: Option<(String, i64)>,
}

/// Time keys of the indexed articles, to expire the oldest first. Kept only when a
/// window is set: without one nothing expires, and the oldest article is found by a scan.
#[derive(Default)]
struct TimeIndex {
    enabled: bool,
    time_of: gxhash::HashMap<Box<str>, i64>,
    by_time: BTreeSet<(i64, Box<str>)>,
}

impl TimeIndex {
    fn insert(&mut self, id: &str, time: i64) {
        if !self.enabled {
            return;
        }
        self.time_of.insert(id.into(), time);
        self.by_time.insert((time, id.into()));
    }

    fn remove(&mut self, id: &str) {
        if let Some(time) = self.time_of.remove(id) {
            self.by_time.remove(&(time, id.into()));
        }
    }
}

/// A detector whose state survives restarts. Cheap to share behind an `Arc`; every
/// method is blocking (CPU work and file I/O, no sync waits): call them from a blocking
/// thread and await the returned [`Ticket`]s from async code.
pub struct DurableDetector {
    detector: Detector,
    store: Store,
    /// Where the chrome checkpoint is written (see [`checkpoint`]).
    data_dir: PathBuf,
    times: Mutex<TimeIndex>,
    compacting: Arc<AtomicBool>,
    /// The segment number the chrome checkpoint on disk covers through.
    checkpointed: Arc<Mutex<u64>>,
}

/// A compaction whose segments are sealed, with the chrome model as of the seal.
struct Sealed {
    store: Store,
    dir: PathBuf,
    checkpointed: Arc<Mutex<u64>>,
    sealed: u64,
    model: Option<ChromeModel>,
}

impl Sealed {
    /// Checkpoints the chrome model (before any record it covers can be dropped), then
    /// compacts the sealed segments. A checkpoint never goes back: one that an earlier
    /// seal would write after a later one is skipped.
    fn run(self, stop: Option<super::CompactStep>) -> Result<CompactReport> {
        let Sealed { store, dir, checkpointed, sealed, model } = self;
        store.compact_sealing(stop, |_| {
            let mut covers = lock(&checkpointed);
            if let Some(model) = &model
                && sealed > *covers
            {
                checkpoint::write(&dir, sealed, model)?;
                *covers = sealed;
            }
            Ok(sealed)
        })
    }
}

impl std::fmt::Debug for DurableDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableDetector").field("store", &self.store).finish_non_exhaustive()
    }
}

/// Hands the heap pages the restore freed (decode buffers, the tables' growth steps)
/// back to the system. glibc keeps freed pages for reuse otherwise, so a restored
/// million-article index would stay resident with about a tenth more memory than it
/// holds.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only walks the allocator's own free lists; it takes no
    // pointers from us.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl DurableDetector {
    /// Opens (or creates) `store.data_dir` for `detector` and restores every live
    /// article. Fails with [`Error::IncompatibleStore`] when the directory was written
    /// under settings that give other signatures, [`Error::CorruptLog`] when the log is
    /// damaged other than by a torn tail.
    pub fn open(store: &StoreConfig, detector: DetectorConfig) -> Result<Self> {
        let started = Instant::now();
        let windowed = store.window.is_some();
        let data_dir = store.data_dir.clone();
        let (store, recovered) = Store::open(store, &detector)?;
        let checkpoint = checkpoint::read(&data_dir)?;
        let covers_through = checkpoint.as_ref().map_or(0, |c| c.covers_through);
        let detector = match checkpoint {
            Some(checkpoint) => Detector::with_chrome_model(detector, checkpoint.model)?,
            None => Detector::new(detector)?,
        };
        recovered
            .for_each_profile_after(covers_through, |profile| detector.observe_chrome(profile));
        // The index and the time index are independent: build them side by side.
        let (restored, times) = std::thread::scope(|scope| {
            let times = scope.spawn(|| {
                let mut times = TimeIndex { enabled: windowed, ..TimeIndex::default() };
                if windowed {
                    times.time_of.reserve(recovered.len());
                    recovered.for_each_live(|id, time| times.insert(id, time));
                }
                times
            });
            let restored = recovered.restore_into(&detector);
            (restored, times.join().expect("time index thread does not panic"))
        });
        restored?;
        tracing::info!(
            articles = recovered.len(),
            seconds = started.elapsed().as_secs_f64(),
            "restored the index"
        );
        drop(recovered);
        release_freed_memory();
        Ok(DurableDetector {
            detector,
            store,
            data_dir,
            times: Mutex::new(times),
            compacting: Arc::new(AtomicBool::new(false)),
            checkpointed: Arc::new(Mutex::new(covers_through)),
        })
    }

    /// Opens an existing data directory under the detector config its manifest holds.
    pub fn open_existing(store: &StoreConfig) -> Result<Self> {
        let dir = &store.data_dir;
        let manifest = read_manifest(dir)?.ok_or_else(|| Error::NotFound {
            what: "data directory manifest",
            id: dir.join(super::MANIFEST_FILE).display().to_string(),
        })?;
        Self::open(store, manifest.detector_config(dir)?)
    }

    /// The detector, for read-only calls (`check`, `cluster`, `stats`).
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Labels and stores `article`, logging it with its decision; `ingested_at` is the
    /// time of arrival (Unix ms; [`super::now_millis`]), which dates undated articles
    /// for the window. A retry of an indexed article returns its verdict and a ticket
    /// for the earlier record; an article older than the window is labelled, not kept.
    pub fn ingest(&self, article: &Article<'_>, ingested_at: i64) -> Result<Ingested> {
        // Field limits before the text work, so an oversized id costs nothing.
        check_field("id", article.id)?;
        check_field("source", article.source)?;
        let signed = self.detector.sign_article(article)?;
        self.ingest_signed(article, &signed, ingested_at)
    }

    /// [`DurableDetector::ingest`] for an article signed beforehand with
    /// [`Detector::sign_article`], so the service can sign on its worker pool and keep
    /// only this step in order. The chrome model learns from the article here, and its
    /// record carries what it learned from, so that replay learns the same.
    pub fn ingest_signed(
        &self,
        article: &Article<'_>,
        signed: &SignedArticle,
        ingested_at: i64,
    ) -> Result<Ingested> {
        check_field("id", article.id)?;
        check_field("source", article.source)?;
        let time = time_key(article.published, ingested_at);
        let mut times = lock(&self.times);
        if self.detector.contains(article.id) {
            let verdict = self.detector.ingest_signed(article, signed)?;
            return Ok(Ingested { verdict, indexed: true, ticket: self.store.barrier() });
        }
        if time < self.store.cutoff() {
            drop(times);
            let verdict = self.detector.check_signed(article, signed)?;
            return Ok(Ingested { verdict, indexed: false, ticket: Ticket::ready() });
        }
        let committed = self.detector.commit(article, signed)?;
        let verdict = committed.verdict;
        let signed = committed.resigned.as_ref().unwrap_or(signed);
        let fingerprint = &signed.fingerprint;
        let stored = StoredArticle {
            id: article.id,
            source: article.source,
            published: article.published,
            text_hash: signed.text_hash,
            lanes: fingerprint.signature.lanes(),
            shingle_count: fingerprint.shingle_count,
            sketch: &committed.sketch,
            kind: verdict.kind,
            cluster_id: &verdict.cluster_id,
        };
        let profile = self.detector.config().chrome.enabled.then(|| signed.profile());
        let appended = self.store.append_insert(&stored, profile, ingested_at).and_then(|ticket| {
            // The merges after the insert: the ticket of the last one covers them all.
            committed
                .merged
                .iter()
                .try_fold(ticket, |_, (from, into)| self.store.append_merge(from, into))
        });
        let ticket = match appended {
            Ok(ticket) => ticket,
            Err(error) => {
                // Not logged, so not kept: the index must not hold what a restart loses.
                self.detector.remove(article.id);
                return Err(error);
            }
        };
        times.insert(article.id, time);
        self.expire(&mut times);
        drop(times);
        self.maybe_compact();
        Ok(Ingested { verdict, indexed: true, ticket })
    }

    /// Removes an article, logging a tombstone. `None` when it was not indexed.
    pub fn remove(&self, id: &str) -> Result<Option<Ticket>> {
        let mut times = lock(&self.times);
        if !self.detector.contains(id) {
            return Ok(None);
        }
        let ticket = self.store.append_remove(id)?;
        self.detector.remove(id);
        times.remove(id);
        drop(times);
        self.store.note_dead(2);
        self.maybe_compact();
        Ok(Some(ticket))
    }

    /// Compacts now (blocking; appends continue meanwhile).
    pub fn compact(&self) -> Result<CompactReport> {
        self.seal()?.run(None)
    }

    /// [`DurableDetector::compact`] that stops right after `stop`, leaving the files as a
    /// crash there would. For crash tests only: drop the detector afterwards and reopen.
    #[doc(hidden)]
    pub fn compact_until(&self, stop: Option<super::CompactStep>) -> Result<CompactReport> {
        self.seal()?.run(stop)
    }

    /// The first step of a compaction, taken in log order: seals the active segment
    /// and copies the chrome model as it stands after the sealed records.
    fn seal(&self) -> Result<Sealed> {
        let times = lock(&self.times);
        let sealed = self.store.rotate()?;
        let model = self.detector.config().chrome.enabled.then(|| self.detector.chrome_model());
        drop(times);
        Ok(Sealed {
            store: self.store.clone(),
            dir: self.data_dir.clone(),
            checkpointed: Arc::clone(&self.checkpointed),
            sealed,
            model,
        })
    }

    /// Counters of the index and the log, the window and the oldest article kept.
    pub fn stats(&self) -> DurableStats {
        let times = lock(&self.times);
        let oldest_kept = if times.enabled {
            times.by_time.first().map(|(time, id)| (id.to_string(), *time))
        } else {
            drop(times);
            self.detector.oldest()
        };
        DurableStats { detector: self.detector.stats(), store: self.store.stats(), oldest_kept }
    }

    /// Writes and syncs everything logged, waits for a running compaction, and stops
    /// accepting changes.
    pub fn close(&self) -> Result<()> {
        self.store.close()
    }

    /// Drops articles that fell out of the window from the index; their records become
    /// dead and go with the next compaction.
    fn expire(&self, times: &mut TimeIndex) {
        let cutoff = self.store.cutoff();
        let mut expired = 0;
        while times.by_time.first().is_some_and(|(time, _)| *time < cutoff) {
            let (_, id) = times.by_time.pop_first().expect("checked non-empty");
            times.time_of.remove(&id);
            self.detector.remove(&id);
            expired += 1;
        }
        if expired > 0 {
            self.store.note_dead(expired);
        }
    }

    fn maybe_compact(&self) {
        if !self.store.should_compact() || self.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        let sealed = match self.seal() {
            Ok(sealed) => sealed,
            Err(error) => {
                tracing::error!(%error, "could not seal the log for a compaction");
                self.compacting.store(false, Ordering::Release);
                return;
            }
        };
        let flag = Arc::clone(&self.compacting);
        let spawned = std::thread::Builder::new().name("neardup-compact".into()).spawn(move || {
            if let Err(error) = sealed.run(None) {
                tracing::error!(%error, "automatic compaction failed; the log stays as it was");
            }
            flag.store(false, Ordering::Release);
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start a compaction thread");
            self.compacting.store(false, Ordering::Release);
        }
    }
}
