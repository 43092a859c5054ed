//! Recovery: map every segment, verify every frame (checksums in parallel), cut a torn
//! tail, refuse corruption in the middle, decode in parallel and replay the records in
//! log order into the set of live articles.

use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use rayon::prelude::*;

use crate::error::{Error, Result};

use super::log::{self, Damage, InsertRecord, Record, SegmentHeader, checksum_ok, split_frames};
use super::manifest::sync_dir;

/// File name of segment `number`.
pub(crate) fn segment_name(number: u64) -> String {
    format!("{number:020}.log")
}

fn segment_number(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// One mapped segment.
pub(crate) struct Segment {
    pub(crate) number: u64,
    pub(crate) path: PathBuf,
    pub(crate) map: Option<Mmap>,
    pub(crate) header: Option<SegmentHeader>,
}

impl Segment {
    pub(crate) fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

/// Maps `path` read-only (`None` for an empty file, which cannot be mapped).
pub(crate) fn map_file(path: &Path) -> Result<Option<Mmap>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: segments are only modified by this process, which holds the data
    // directory's lock; sealed segments are never written again, and the active one is
    // only appended to (never truncated) while a map of it is alive.
    // Populated up front: recovery reads every byte, and one bulk fault-in is cheaper
    // than a page fault per 4 KiB.
    let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }
        .map_err(|e| Error::io(path, e))?;
    Ok(Some(map))
}

/// Decodes the header frame at the start of `bytes`, if it is intact.
pub(crate) fn read_header(bytes: &[u8]) -> Option<SegmentHeader> {
    let (frames, _) = split_frames(bytes);
    let first = frames.first()?;
    if !checksum_ok(bytes, first) {
        return None;
    }
    match log::decode(&bytes[first.payload.clone()]) {
        Ok(Record::Header(header)) => Some(header),
        _ => None,
    }
}

/// Lists the directory's segments, removes leftovers of interrupted compactions (temp
/// files, and segments a durable compacted segment supersedes), and maps the rest in
/// order.
pub(crate) fn open_segments(dir: &Path) -> Result<Vec<Segment>> {
    let mut segments = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if name.ends_with(".log.tmp") {
            tracing::info!(path = %path.display(), "removing the leftover of an interrupted compaction");
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            continue;
        }
        if let Some(number) = segment_number(name) {
            let map = map_file(&path)?;
            let header = map.as_deref().and_then(read_header);
            segments.push(Segment { number, path, map, header });
        }
    }
    segments.sort_by_key(|s| s.number);
    let superseded: Vec<usize> = (0..segments.len())
        .filter(|&i| {
            let number = segments[i].number;
            segments
                .iter()
                .any(|s| s.header.is_some_and(|h| h.covers_from <= number && number < s.number))
        })
        .collect();
    if !superseded.is_empty() {
        // The compacted segment's rename must be durable before its inputs go.
        sync_dir(dir)?;
        for &i in superseded.iter().rev() {
            let segment = segments.remove(i);
            tracing::info!(
                path = %segment.path.display(),
                "removing a segment replaced by an interrupted compaction"
            );
            drop(segment.map);
            std::fs::remove_file(&segment.path).map_err(|e| Error::io(&segment.path, e))?;
        }
        sync_dir(dir)?;
    }
    Ok(segments)
}

/// What recovery found, before the records are handed to a detector.
pub(crate) struct Scanned {
    pub(crate) segments: Vec<Segment>,
    /// Valid frames of each segment (payload ranges), header frames included.
    pub(crate) frames: Vec<Vec<Range<usize>>>,
    /// Bytes cut from the end of the last segment.
    pub(crate) truncated: u64,
}

/// Verifies every frame; cuts a torn tail of the last segment (when `cut_tail`), fails
/// on damage anywhere else.
pub(crate) fn verify(mut segments: Vec<Segment>, cut_tail: bool) -> Result<Scanned> {
    let mut all_frames = Vec::with_capacity(segments.len());
    let mut truncated = 0;
    let count = segments.len();
    for ix in 0..count {
        let segment = &segments[ix];
        let bytes = segment.bytes();
        let (mut frames, damage) = split_frames(bytes);
        let bad_checksum = frames.par_iter().position_first(|f| !checksum_ok(bytes, f));
        let damage = match bad_checksum {
            Some(i) => {
                let offset = frames[i].offset;
                frames.truncate(i);
                Some(Damage { offset, reason: "checksum mismatch".into() })
            }
            None => damage,
        };
        if let Some(damage) = damage {
            let next = log::next_valid_frame(bytes, damage.offset)
                .map(|at| format!("at byte {at}"))
                .or_else(|| {
                    (ix + 1 < count).then(|| {
                        format!("in the later segment {}", segments[ix + 1].path.display())
                    })
                })
                .or_else(|| {
                    (!cut_tail).then(|| "none, but the segment was sealed intact".to_owned())
                });
            if let Some(next_valid) = next {
                return Err(Error::CorruptLog {
                    path: segment.path.clone(),
                    offset: damage.offset as u64,
                    next_valid,
                    reason: damage.reason,
                });
            }
            let cut = bytes.len() - damage.offset;
            tracing::warn!(
                path = %segment.path.display(),
                offset = damage.offset,
                bytes = cut,
                reason = %damage.reason,
                "log ends in a torn or corrupt record (a crash mid-write); truncating it away"
            );
            let path = segment.path.clone();
            segments[ix].map = None;
            let file =
                OpenOptions::new().write(true).open(&path).map_err(|e| Error::io(&path, e))?;
            file.set_len(damage.offset as u64).map_err(|e| Error::io(&path, e))?;
            file.sync_all().map_err(|e| Error::io(&path, e))?;
            segments[ix].map = map_file(&path)?;
            truncated += cut as u64;
        }
        all_frames.push(frames.into_iter().map(|f| f.payload).collect());
    }
    Ok(Scanned { segments, frames: all_frames, truncated })
}

/// One live article found by replay: where its insert record is.
#[derive(Debug, Clone)]
pub(crate) struct LiveRef {
    pub(crate) segment: usize,
    pub(crate) payload: Range<usize>,
    pub(crate) time_key: i64,
}

/// The outcome of replaying the records.
pub(crate) struct Replayed {
    /// Live articles in log order.
    pub(crate) live: Vec<LiveRef>,
    /// Every insert record (segment index and payload), live or not, in log order.
    pub(crate) inserts: Vec<(usize, Range<usize>)>,
    /// Every story merge record (segment index and payload), in log order.
    pub(crate) merges: Vec<(usize, Range<usize>)>,
    /// Records in the log (headers excluded).
    pub(crate) records: u64,
    /// Newest time key ever accepted, including from compacted-away records.
    pub(crate) watermark: Option<i64>,
}

/// Decodes every record (in parallel) and replays them in order: inserts, tombstones,
/// then the time window as of the newest record.
pub(crate) fn replay(
    scanned: &Scanned,
    segment_range: Range<usize>,
    window_ms: Option<i64>,
) -> Result<Replayed> {
    let mut decoded: Vec<(usize, Range<usize>, Record<'_>)> = Vec::new();
    for ix in segment_range {
        let segment = &scanned.segments[ix];
        let bytes = segment.bytes();
        let records: Vec<Result<Record<'_>>> = scanned.frames[ix]
            .par_iter()
            .with_min_len(1024)
            .map(|payload| {
                log::decode(&bytes[payload.clone()]).map_err(|reason| Error::BadLogRecord {
                    path: segment.path.clone(),
                    offset: (payload.start - log::FRAME_HEADER) as u64,
                    reason,
                })
            })
            .collect();
        for (record, payload) in records.into_iter().zip(&scanned.frames[ix]) {
            let record = record?;
            if let Record::Header(header) = &record {
                if payload.start != log::FRAME_HEADER || header.number != segment.number {
                    return Err(Error::BadLogRecord {
                        path: segment.path.clone(),
                        offset: (payload.start - log::FRAME_HEADER) as u64,
                        reason: format!("misplaced segment header for segment {}", header.number),
                    });
                }
                if header.format_version != super::manifest::FORMAT_VERSION {
                    return Err(Error::IncompatibleStore {
                        path: segment.path.clone(),
                        setting: "format_version".into(),
                        stored: header.format_version.to_string(),
                        current: super::manifest::FORMAT_VERSION.to_string(),
                    });
                }
            } else if payload.start == log::FRAME_HEADER {
                return Err(Error::BadLogRecord {
                    path: segment.path.clone(),
                    offset: 0,
                    reason: "segment does not start with a header".into(),
                });
            }
            decoded.push((ix, payload.clone(), record));
        }
    }
    let mut live: gxhash::HashMap<&str, usize> = gxhash::HashMap::default();
    live.reserve(decoded.len());
    let mut watermark: Option<i64> = None;
    let mut records = 0u64;
    let mut inserts = Vec::new();
    let mut merges = Vec::new();
    for (at, (segment, payload, record)) in decoded.iter().enumerate() {
        match record {
            Record::Header(header) => watermark = watermark.max(header.watermark),
            Record::Insert(insert) => {
                records += 1;
                inserts.push((*segment, payload.clone()));
                watermark = watermark.max(Some(insert.time_key()));
                if live.insert(insert.id, at).is_some() {
                    tracing::warn!(
                        id = insert.id,
                        "log holds two live inserts of one id; keeping the later"
                    );
                }
            }
            Record::Remove { id } => {
                records += 1;
                live.remove(id);
            }
            Record::Merge { .. } => {
                records += 1;
                merges.push((*segment, payload.clone()));
            }
        }
    }
    let cutoff = cutoff(watermark, window_ms);
    let mut kept: Vec<usize> = live.into_values().collect();
    kept.sort_unstable();
    let live = kept
        .into_iter()
        .filter_map(|at| {
            let (segment, payload, record) = &decoded[at];
            let Record::Insert(insert) = record else { unreachable!("live entries are inserts") };
            let time_key = insert.time_key();
            (time_key >= cutoff).then(|| LiveRef {
                segment: *segment,
                payload: payload.clone(),
                time_key,
            })
        })
        .collect();
    Ok(Replayed { live, inserts, merges, records, watermark })
}

/// Articles with a time key below this are outside the window.
pub(crate) fn cutoff(watermark: Option<i64>, window_ms: Option<i64>) -> i64 {
    match (watermark, window_ms) {
        (Some(newest), Some(window)) => newest.saturating_sub(window),
        _ => i64::MIN,
    }
}

/// The story merge record at `payload` of segment `segment`: (absorbed id, survivor id).
pub(crate) fn merge_at<'a>(
    scanned: &'a Scanned,
    (segment, payload): &(usize, Range<usize>),
) -> (&'a str, &'a str) {
    let bytes = scanned.segments[*segment].bytes();
    match log::decode(&bytes[payload.clone()]) {
        Ok(Record::Merge { from, into }) => (from, into),
        other => unreachable!("replay recorded a merge at a frame holding {other:?}"),
    }
}

/// The merge records a compaction keeps: those that still rename a story some kept
/// insert (or a kept later merge) names, so replaying the compacted log rebuilds the
/// same stories.
pub(crate) fn needed_merges<'a>(
    scanned: &'a Scanned,
    replayed: &Replayed,
    kept_stories: impl IntoIterator<Item = &'a str>,
) -> Vec<(usize, Range<usize>)> {
    let mut names: std::collections::HashSet<&str> = kept_stories.into_iter().collect();
    let merges: Vec<(&str, &str)> = replayed.merges.iter().map(|m| merge_at(scanned, m)).collect();
    let mut kept = vec![false; merges.len()];
    loop {
        let mut changed = false;
        for (ix, (from, into)) in merges.iter().enumerate() {
            if !kept[ix] && names.contains(from) {
                kept[ix] = true;
                names.insert(into);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    replayed.merges.iter().zip(kept).filter(|(_, k)| *k).map(|(m, _)| m.clone()).collect()
}

/// Decodes a live insert again (cheap: the checksum was verified already).
pub(crate) fn insert_at<'a>(
    scanned: &'a Scanned,
    segment: usize,
    payload: &Range<usize>,
) -> InsertRecord<'a> {
    let bytes = scanned.segments[segment].bytes();
    match log::decode(&bytes[payload.clone()]) {
        Ok(Record::Insert(insert)) => insert,
        other => unreachable!("replay decoded this insert before: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(segment_number(&segment_name(42)), Some(42));
        assert_eq!(segment_number("42.log"), None);
        assert_eq!(segment_number("0000000000000000004x.log"), None);
    }

    #[test]
    fn window_cutoff() {
        assert_eq!(cutoff(Some(100), Some(30)), 70);
        assert_eq!(cutoff(None, Some(30)), i64::MIN);
        assert_eq!(cutoff(Some(100), None), i64::MIN);
    }
}
