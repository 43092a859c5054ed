//! Compaction: rewrite the sealed segments as one, keeping only live articles inside
//! the window, without stopping appends (they go on into a fresh active segment).
//!
//! Crash safety comes from the order of steps and from naming: the output is written
//! to `N.log.tmp` and synced, then renamed over `N.log` (the last sealed input), whose
//! header says it covers `first..=N`; then the directory is synced and the other inputs
//! are deleted. Opening a directory deletes temp files (an unfinished output) and any
//! segment a compacted one covers (inputs left by a crash after the rename), so every
//! crash point leaves either the old segments or the new one, never neither.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};

use super::log::FRAME_HEADER;
use super::manifest::sync_dir;
use super::recover::{self, Segment, map_file, read_header, segment_name};
use super::writer::lock;
use super::{Store, header_frame};

/// What one compaction did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompactReport {
    /// Segments rewritten.
    pub segments: usize,
    /// Records they held.
    pub records_before: u64,
    /// Records kept.
    pub records_after: u64,
    /// Bytes before and after.
    pub bytes_before: u64,
    /// Bytes of the compacted segment.
    pub bytes_after: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// A point in a compaction, for crash tests ([`Store::compact_until`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactStep {
    /// The output is written and synced under its temp name.
    TempWritten,
    /// The output is renamed over the last input; the directory is not synced.
    Renamed,
    /// The directory is synced; the other inputs still exist.
    DirSynced,
}

impl Store {
    /// Rewrites every sealed segment (the active one is sealed first) without removed
    /// and expired records. Appends continue meanwhile. Blocking: run it on a blocking
    /// thread. At most one compaction runs at a time; a second call waits.
    pub fn compact(&self) -> Result<CompactReport> {
        self.compact_until(None)
    }

    /// [`Store::compact`] that stops right after `stop`, leaving the files as a crash
    /// there would. For crash tests only: drop the store afterwards and reopen.
    #[doc(hidden)]
    ///
    /// When the detector learns chrome, only segments the chrome checkpoint covers are
    /// compacted: the records after it are what a restart learns from again, so they
    /// stay until a [`crate::DurableDetector`] compaction checkpoints past them.
    pub fn compact_until(&self, stop: Option<CompactStep>) -> Result<CompactReport> {
        self.compact_sealing(stop, |store| {
            let sealed = store.rotate()?;
            if !store.inner.learns_chrome {
                return Ok(sealed);
            }
            let covers = super::checkpoint::read(&store.inner.dir)?.map_or(0, |c| c.covers_through);
            Ok(sealed.min(covers))
        })
    }

    /// [`Store::compact_until`] whose first step, sealing the active segment, is
    /// `seal`: it must call [`Store::rotate`] and return the sealed number, and may do
    /// more in the same moment (the durable detector checkpoints its chrome model).
    pub(crate) fn compact_sealing(
        &self,
        stop: Option<CompactStep>,
        seal: impl FnOnce(&Store) -> Result<u64>,
    ) -> Result<CompactReport> {
        let started = Instant::now();
        let _one = lock(&self.inner.compaction);
        let dir = &self.inner.dir;
        let sealed = seal(self)?;
        let inputs: Vec<u64> =
            lock(&self.inner.segments).iter().copied().filter(|&n| n <= sealed).collect();
        if inputs.is_empty() {
            return Ok(CompactReport {
                segments: 0,
                records_before: 0,
                records_after: 0,
                bytes_before: 0,
                bytes_after: 0,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        let mut segments = Vec::with_capacity(inputs.len());
        for &number in &inputs {
            let path = dir.join(segment_name(number));
            let map = map_file(&path)?;
            let header = map.as_deref().and_then(read_header);
            segments.push(Segment { number, path, map, header });
        }
        let covers_from = segments
            .first()
            .map(|s| s.header.map_or(s.number, |h| h.covers_from.min(s.number)))
            .unwrap_or(sealed);
        let bytes_before: u64 = segments.iter().map(|s| s.bytes().len() as u64).sum();
        let scanned = recover::verify(segments, false)?;
        let replayed = recover::replay(
            &scanned,
            0..scanned.segments.len(),
            self.inner.config.window_millis(),
        )?;
        // The window as of now, not as of the inputs: newer records elsewhere may have
        // expired more of them already.
        let cutoff = self.cutoff();

        let tmp = dir.join(format!("{}.tmp", segment_name(sealed)));
        let target = dir.join(segment_name(sealed));
        let mut kept = 0u64;
        let mut write = || -> std::io::Result<u64> {
            let file = File::create(&tmp)?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let header = header_frame(sealed, covers_from, self.watermark());
            out.write_all(&header)?;
            let mut written = header.len() as u64;
            let live: Vec<_> = replayed.live.iter().filter(|l| l.time_key >= cutoff).collect();
            let stories =
                live.iter().map(|l| recover::insert_at(&scanned, l.segment, &l.payload).cluster_id);
            let merges = recover::needed_merges(&scanned, &replayed, stories);
            let frames = live
                .iter()
                .map(|l| (l.segment, &l.payload))
                .chain(merges.iter().map(|(segment, payload)| (*segment, payload)));
            for (segment, payload) in frames {
                let bytes = scanned.segments[segment].bytes();
                let frame = &bytes[payload.start - FRAME_HEADER..payload.end];
                out.write_all(frame)?;
                written += frame.len() as u64;
                kept += 1;
            }
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            Ok(written)
        };
        let bytes_after = write().map_err(|e| Error::io(&tmp, e))?;
        let report = CompactReport {
            segments: inputs.len(),
            records_before: replayed.records,
            records_after: kept,
            bytes_before,
            bytes_after,
            seconds: 0.0,
        };
        if stop == Some(CompactStep::TempWritten) {
            return Ok(report);
        }
        std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
        if stop == Some(CompactStep::Renamed) {
            return Ok(report);
        }
        sync_dir(dir)?;
        if stop == Some(CompactStep::DirSynced) {
            return Ok(report);
        }
        drop(scanned);
        for &number in inputs.iter().filter(|&&n| n != sealed) {
            let path = dir.join(segment_name(number));
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
        sync_dir(dir)?;
        lock(&self.inner.segments).retain(|&n| n >= sealed);
        let dropped = replayed.records - kept;
        self.inner.records.fetch_sub(dropped, Ordering::Relaxed);
        let dead = &self.inner.dead;
        let _ = dead.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
            Some(d.saturating_sub(dropped))
        });
        self.inner.compactions.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("neardup_compactions_total").increment(1);
        let report = CompactReport { seconds: started.elapsed().as_secs_f64(), ..report };
        tracing::info!(
            segments = report.segments,
            records_before = report.records_before,
            records_after = report.records_after,
            bytes_before = report.bytes_before,
            bytes_after = report.bytes_after,
            seconds = report.seconds,
            "compacted the log"
        );
        Ok(report)
    }
}
