//! The log's on-disk format: framed, checksummed records and their encoding.
//!
//! A frame is `magic (4) | payload length (u32 LE) | CRC32C of length and payload (u32 LE) |
//! payload`. The checksum covers the length, so a torn or flipped length is caught
//! like any other damage, and the magic lets recovery look past a bad frame for later
//! valid ones: a bad frame followed by none is a torn tail (a crash mid-write), a bad
//! frame followed by valid ones is corruption. Payloads are hand-rolled little-endian:
//! the records are few and fixed, and the signature lanes dominate their size. Payloads
//! are padded to a multiple of 4 bytes and lanes start 4-aligned, so every frame starts
//! 4-aligned and a memory-mapped log hands out lanes as `&[u32]` without copying.

use std::ops::Range;

use crate::chrome::LineProfile;
use crate::cluster::CopyKind;

/// First bytes of every frame.
pub(crate) const MAGIC: [u8; 4] = *b"NDr\x01";
/// Bytes before the payload.
pub(crate) const FRAME_HEADER: usize = 12;
/// Largest payload accepted: ids and sources are at most 64 KiB each, signatures at
/// most 1024 lanes, sketches 1024 entries, and a line profile 8 bytes a line of an
/// article the service's message limit let in, so anything longer is a damaged length
/// field.
pub(crate) const MAX_PAYLOAD: usize = 16 * 1024 * 1024;
/// Longest id, source or cluster id a record can hold.
pub const MAX_FIELD_BYTES: usize = u16::MAX as usize;
/// An article dated more than this past its ingestion counts as ingested-at for the time
/// window, so one typo in a date cannot advance the window and expire everything.
pub const MAX_FUTURE_MS: i64 = 24 * 3600 * 1000;

const TYPE_HEADER: u8 = 1;
const TYPE_INSERT: u8 = 2;
const TYPE_REMOVE: u8 = 3;
const TYPE_MERGE: u8 = 4;

/// First record of every segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub(crate) format_version: u32,
    /// The segment's number (also its file name).
    pub(crate) number: u64,
    /// A compacted segment replaces every segment numbered `covers_from..number`.
    pub(crate) covers_from: u64,
    /// Newest time key ever accepted when the segment was started. Compaction drops
    /// expired records, so the newest time must survive them for replay to compute the
    /// same window.
    pub(crate) watermark: Option<i64>,
}

/// Signature lanes: borrowed words when writing, raw little-endian bytes when reading
/// from a memory map (which gives no alignment guarantee).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lanes<'a> {
    Words(&'a [u32]),
    Bytes(&'a [u8]),
}

impl<'a> Lanes<'a> {
    /// Lanes read from a payload: borrowed as words when aligned (always, for logs this
    /// module wrote, on a little-endian machine), else kept as bytes to decode.
    fn from_bytes(bytes: &'a [u8]) -> Self {
        #[cfg(target_endian = "little")]
        {
            // SAFETY: every bit pattern is a valid u32, and align_to only returns a
            // middle part that is correctly aligned for u32.
            let (head, words, tail) = unsafe { bytes.align_to::<u32>() };
            if head.is_empty() && tail.is_empty() {
                return Lanes::Words(words);
            }
        }
        Lanes::Bytes(bytes)
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Lanes::Words(words) => words.len(),
            Lanes::Bytes(bytes) => bytes.len() / 4,
        }
    }

    /// Copies the lanes into `out`; false when the lengths differ.
    pub(crate) fn copy_to(self, out: &mut [u32]) -> bool {
        if self.len() != out.len() {
            return false;
        }
        match self {
            Lanes::Words(words) => out.copy_from_slice(words),
            Lanes::Bytes(bytes) => {
                for (dst, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *dst = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
        }
        true
    }

    #[cfg(test)]
    pub(crate) fn to_boxed(self) -> Box<[u32]> {
        match self {
            Lanes::Words(words) => words.into(),
            Lanes::Bytes(bytes) => bytes
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        }
    }
}

/// An indexed article with the decision it got.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InsertRecord<'a> {
    pub(crate) id: &'a str,
    pub(crate) source: &'a str,
    pub(crate) cluster_id: &'a str,
    pub(crate) kind: CopyKind,
    pub(crate) published: Option<i64>,
    pub(crate) ingested_at: i64,
    pub(crate) text_hash: u64,
    pub(crate) shingle_count: u32,
    pub(crate) lanes: Lanes<'a>,
    /// What the detector keeps of the shingle set: little-endian u16s.
    pub(crate) sketch: &'a [u8],
    /// The chrome model's view of the article ([`LineProfile`] without its source,
    /// which is the record's): the story key and the line hashes as little-endian u64s.
    pub(crate) profile_story: u32,
    pub(crate) profile_lines: &'a [u8],
}

impl InsertRecord<'_> {
    /// The sketch as values.
    pub(crate) fn sketch(&self) -> Box<[u16]> {
        self.sketch.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect()
    }

    /// The line profile the chrome model learned from when the article was ingested.
    pub(crate) fn profile(&self) -> LineProfile {
        LineProfile {
            source: LineProfile::source_key(self.source),
            lines: self
                .profile_lines
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
            story: self.profile_story,
        }
    }
    /// The time the window judges this article by.
    pub(crate) fn time_key(&self) -> i64 {
        time_key(self.published, self.ingested_at)
    }
}

/// Publication time, capped at [`MAX_FUTURE_MS`] past ingestion; ingestion time when
/// undated.
pub fn time_key(published: Option<i64>, ingested_at: i64) -> i64 {
    match published {
        Some(published) => published.min(ingested_at.saturating_add(MAX_FUTURE_MS)),
        None => ingested_at,
    }
}

/// One decoded record.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Record<'a> {
    Header(SegmentHeader),
    Insert(InsertRecord<'a>),
    Remove {
        id: &'a str,
    },
    /// Story `from` joined story `into` (both by id).
    Merge {
        from: &'a str,
        into: &'a str,
    },
}

/// Appends one framed record to `buf`.
pub(crate) fn frame(buf: &mut Vec<u8>, record: &Record<'_>) {
    let start = buf.len();
    buf.extend_from_slice(&MAGIC);
    buf.extend_from_slice(&[0; 8]);
    encode(buf, record, start + FRAME_HEADER);
    pad4(buf, start + FRAME_HEADER);
    let len = (buf.len() - start - FRAME_HEADER) as u32;
    debug_assert!(len as usize <= MAX_PAYLOAD);
    let len_bytes = len.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len_bytes), &buf[start + FRAME_HEADER..]);
    buf[start + 4..start + 8].copy_from_slice(&len_bytes);
    buf[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

fn put_str(buf: &mut Vec<u8>, text: &str) {
    debug_assert!(text.len() <= MAX_FIELD_BYTES, "field lengths are checked before framing");
    buf.extend_from_slice(&(text.len() as u16).to_le_bytes());
    buf.extend_from_slice(text.as_bytes());
}

/// Zero bytes up to the next multiple of 4 counted from `base`.
fn pad4(buf: &mut Vec<u8>, base: usize) {
    while !(buf.len() - base).is_multiple_of(4) {
        buf.push(0);
    }
}

fn encode(buf: &mut Vec<u8>, record: &Record<'_>, base: usize) {
    match record {
        Record::Header(header) => {
            buf.push(TYPE_HEADER);
            buf.extend_from_slice(&header.format_version.to_le_bytes());
            buf.extend_from_slice(&header.number.to_le_bytes());
            buf.extend_from_slice(&header.covers_from.to_le_bytes());
            buf.push(u8::from(header.watermark.is_some()));
            buf.extend_from_slice(&header.watermark.unwrap_or(0).to_le_bytes());
        }
        Record::Insert(insert) => {
            buf.push(TYPE_INSERT);
            buf.push(kind_byte(insert.kind));
            buf.push(u8::from(insert.published.is_some()));
            buf.extend_from_slice(&insert.published.unwrap_or(0).to_le_bytes());
            buf.extend_from_slice(&insert.ingested_at.to_le_bytes());
            buf.extend_from_slice(&insert.text_hash.to_le_bytes());
            buf.extend_from_slice(&insert.shingle_count.to_le_bytes());
            buf.extend_from_slice(&(insert.lanes.len() as u16).to_le_bytes());
            put_str(buf, insert.id);
            put_str(buf, insert.source);
            // A founder's cluster is named after itself: store it once.
            put_str(buf, if insert.cluster_id == insert.id { "" } else { insert.cluster_id });
            pad4(buf, base);
            match insert.lanes {
                Lanes::Words(words) => {
                    for word in words {
                        buf.extend_from_slice(&word.to_le_bytes());
                    }
                }
                Lanes::Bytes(bytes) => buf.extend_from_slice(bytes),
            }
            buf.extend_from_slice(&insert.profile_story.to_le_bytes());
            buf.extend_from_slice(&((insert.profile_lines.len() / 8) as u32).to_le_bytes());
            buf.extend_from_slice(&((insert.sketch.len() / 2) as u16).to_le_bytes());
            buf.extend_from_slice(insert.profile_lines);
            buf.extend_from_slice(insert.sketch);
        }
        Record::Remove { id } => {
            buf.push(TYPE_REMOVE);
            put_str(buf, id);
        }
        Record::Merge { from, into } => {
            buf.push(TYPE_MERGE);
            put_str(buf, from);
            put_str(buf, into);
        }
    }
}

fn kind_byte(kind: CopyKind) -> u8 {
    match kind {
        CopyKind::NewStory => 0,
        CopyKind::Duplicate => 1,
        CopyKind::PartialCopy => 2,
    }
}

/// Little-endian cursor over a payload; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    /// Bytes consumed so far.
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err(format!("payload ends {} bytes early", n - self.bytes.len()));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        self.pos += n;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(self.u64()? as i64)
    }
    fn str(&mut self, field: &str) -> Result<&'a str, String> {
        let len = usize::from(self.u16()?);
        std::str::from_utf8(self.take(len)?).map_err(|e| format!("{field} is not UTF-8: {e}"))
    }
}

/// Decodes a payload whose checksum already passed.
pub(crate) fn decode(payload: &[u8]) -> Result<Record<'_>, String> {
    let mut r = Reader { bytes: payload, pos: 0 };
    let record = match r.u8()? {
        TYPE_HEADER => {
            let format_version = r.u32()?;
            let number = r.u64()?;
            let covers_from = r.u64()?;
            let has_watermark = r.u8()? != 0;
            let watermark = r.i64()?;
            Record::Header(SegmentHeader {
                format_version,
                number,
                covers_from,
                watermark: has_watermark.then_some(watermark),
            })
        }
        TYPE_INSERT => {
            let kind = match r.u8()? {
                0 => CopyKind::NewStory,
                1 => CopyKind::Duplicate,
                2 => CopyKind::PartialCopy,
                other => return Err(format!("unknown kind {other}")),
            };
            let has_published = r.u8()? != 0;
            let published = r.i64()?;
            let ingested_at = r.i64()?;
            let text_hash = r.u64()?;
            let shingle_count = r.u32()?;
            let lanes = usize::from(r.u16()?);
            let id = r.str("id")?;
            let source = r.str("source")?;
            let cluster_id = r.str("cluster id")?;
            r.take((4 - r.pos % 4) % 4)?;
            let lanes = Lanes::from_bytes(r.take(4 * lanes)?);
            let profile_story = r.u32()?;
            let profile_lines = r.u32()? as usize;
            let sketch = usize::from(r.u16()?);
            let profile_lines = r.take(profile_lines.checked_mul(8).ok_or("profile overflows")?)?;
            let sketch = r.take(2 * sketch)?;
            Record::Insert(InsertRecord {
                id,
                source,
                cluster_id: if cluster_id.is_empty() { id } else { cluster_id },
                kind,
                published: has_published.then_some(published),
                ingested_at,
                text_hash,
                shingle_count,
                lanes,
                sketch,
                profile_story,
                profile_lines,
            })
        }
        TYPE_REMOVE => Record::Remove { id: r.str("id")? },
        TYPE_MERGE => Record::Merge { from: r.str("merged story")?, into: r.str("story")? },
        other => return Err(format!("unknown record type {other}")),
    };
    if r.bytes.len() > 3 || r.bytes.iter().any(|&b| b != 0) {
        return Err(format!("{} unexpected bytes after the record", r.bytes.len()));
    }
    Ok(record)
}

/// A frame found by [`split_frames`]: where it starts and where its payload lies.
#[derive(Debug, Clone)]
pub(crate) struct FrameRef {
    pub(crate) offset: usize,
    pub(crate) payload: Range<usize>,
}

/// The first damaged frame of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    pub(crate) offset: usize,
    pub(crate) reason: String,
}

/// Splits a segment into frames by magic and length, stopping at the first frame whose
/// framing is broken. Checksums are checked separately ([`first_bad_checksum`]) so that
/// they can be verified in parallel.
pub(crate) fn split_frames(bytes: &[u8]) -> (Vec<FrameRef>, Option<Damage>) {
    let mut frames = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        match frame_at(bytes, pos) {
            Ok(payload) => {
                pos = payload.end;
                frames.push(FrameRef { offset: payload.start - FRAME_HEADER, payload });
            }
            Err(reason) => return (frames, Some(Damage { offset: pos, reason })),
        }
    }
    (frames, None)
}

/// The payload range of the frame at `pos`, if its magic and length are plausible.
fn frame_at(bytes: &[u8], pos: usize) -> Result<Range<usize>, String> {
    let rest = &bytes[pos..];
    if rest.len() < FRAME_HEADER {
        return Err(format!("{} bytes are too short for a frame header", rest.len()));
    }
    if rest[..4] != MAGIC {
        return Err("no record marker".into());
    }
    let len = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes")) as usize;
    if len > MAX_PAYLOAD {
        return Err(format!("length {len} exceeds the maximum {MAX_PAYLOAD}"));
    }
    if rest.len() - FRAME_HEADER < len {
        return Err(format!(
            "record of {len} bytes runs past the end of the file ({} bytes left)",
            rest.len() - FRAME_HEADER
        ));
    }
    Ok(pos + FRAME_HEADER..pos + FRAME_HEADER + len)
}

/// Whether the frame's checksum matches.
pub(crate) fn checksum_ok(bytes: &[u8], frame: &FrameRef) -> bool {
    let stored =
        u32::from_le_bytes(bytes[frame.offset + 8..frame.offset + 12].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c_append(
        crc32c::crc32c(&bytes[frame.offset + 4..frame.offset + 8]),
        &bytes[frame.payload.clone()],
    );
    stored == computed
}

/// Offset of the first complete, checksum-valid frame starting after `after`.
pub(crate) fn next_valid_frame(bytes: &[u8], after: usize) -> Option<usize> {
    let start = after + 1;
    if start >= bytes.len() {
        return None;
    }
    memchr::memmem::find_iter(&bytes[start..], &MAGIC).map(|hit| start + hit).find(|&pos| {
        frame_at(bytes, pos).is_ok_and(|payload| {
            checksum_ok(bytes, &FrameRef { offset: pos, payload: payload.clone() })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(id: &str, cluster: &str, lanes: &[u32]) -> Vec<u8> {
        let mut buf = Vec::new();
        let record = InsertRecord {
            id,
            source: "wire",
            cluster_id: cluster,
            kind: CopyKind::PartialCopy,
            published: Some(-5),
            ingested_at: 77,
            text_hash: 0xdead_beef_0000_0001,
            shingle_count: 9,
            lanes: Lanes::Words(lanes),
            sketch: &[3, 0, 255, 255],
            profile_story: 42,
            profile_lines: &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80],
        };
        frame(&mut buf, &Record::Insert(record));
        buf
    }

    #[test]
    fn records_round_trip() {
        let mut buf = insert("a", "b", &[1, 2, 3, u32::MAX]);
        buf.extend(insert("founder", "founder", &[7; 16]));
        let header =
            SegmentHeader { format_version: 1, number: 3, covers_from: 1, watermark: Some(-1) };
        frame(&mut buf, &Record::Header(header));
        frame(&mut buf, &Record::Remove { id: "a" });
        frame(&mut buf, &Record::Merge { from: "b", into: "founder" });
        let (frames, damage) = split_frames(&buf);
        assert_eq!((frames.len(), damage), (5, None));
        assert!(frames.iter().all(|f| checksum_ok(&buf, f)));
        let decoded: Vec<Record<'_>> =
            frames.iter().map(|f| decode(&buf[f.payload.clone()]).unwrap()).collect();
        let Record::Insert(first) = decoded[0] else { panic!("{decoded:?}") };
        assert_eq!((first.id, first.source, first.cluster_id), ("a", "wire", "b"));
        assert_eq!(&*first.sketch(), [3, u16::MAX]);
        let profile = first.profile();
        assert_eq!((profile.story, profile.lines), (42, vec![1, 1 << 63]));
        assert_eq!(profile.source, LineProfile::source_key("wire"));
        assert_eq!(
            (first.kind, first.published, first.ingested_at),
            (CopyKind::PartialCopy, Some(-5), 77)
        );
        assert_eq!((first.text_hash, first.shingle_count), (0xdead_beef_0000_0001, 9));
        assert_eq!(&*first.lanes.to_boxed(), &[1, 2, 3, u32::MAX]);
        assert!(frames.iter().all(|f| f.offset % 4 == 0 && f.payload.len() % 4 == 0));
        let Record::Insert(second) = decoded[1] else { panic!() };
        assert_eq!(second.cluster_id, "founder");
        assert!(matches!(decoded[2], Record::Header(h) if h == header));
        assert!(matches!(decoded[3], Record::Remove { id: "a" }));
    }

    #[test]
    fn misaligned_lanes_are_decoded_not_borrowed() {
        let framed = insert("a", "a", &[1, 2, 3, 0xdead_beef]);
        let mut shifted = vec![0u8; 1];
        shifted.extend(&framed);
        for bytes in [&framed[..], &shifted[1..]] {
            // Lanes start 4-aligned within the frame: borrowed iff the frame is aligned.
            let aligned = bytes.as_ptr().align_offset(4) == 0;
            let Ok(Record::Insert(record)) = decode(&bytes[FRAME_HEADER..]) else { panic!() };
            assert_eq!(matches!(record.lanes, Lanes::Words(_)), aligned);
            let mut out = [0u32; 4];
            assert!(record.lanes.copy_to(&mut out));
            assert_eq!(out, [1, 2, 3, 0xdead_beef]);
            assert!(!record.lanes.copy_to(&mut [0u32; 3]));
        }
    }

    #[test]
    fn damage_is_located() {
        let one = insert("a", "a", &[1; 16]);
        let mut buf = one.clone();
        buf.extend(insert("b", "a", &[2; 16]));
        // Torn: the second frame lost its last byte.
        let (frames, damage) = split_frames(&buf[..buf.len() - 1]);
        assert_eq!(frames.len(), 1);
        assert_eq!(damage.unwrap().offset, one.len());
        // Flipped payload bit: framing holds, the checksum fails, nothing valid follows.
        let mut flipped = buf.clone();
        flipped[one.len() + 30] ^= 0x10;
        let (frames, damage) = split_frames(&flipped);
        assert_eq!((frames.len(), damage), (2, None));
        assert!(checksum_ok(&flipped, &frames[0]) && !checksum_ok(&flipped, &frames[1]));
        assert_eq!(next_valid_frame(&flipped, frames[1].offset), None);
        // Flipped bit in the first frame: the second is found past it.
        let mut early = buf.clone();
        early[20] ^= 1;
        assert_eq!(next_valid_frame(&early, 0), Some(one.len()));
        // A flipped length is caught by the checksum, not trusted.
        let mut length = buf.clone();
        length[4] ^= 4;
        let (frames, damage) = split_frames(&length);
        assert!(damage.is_some() || !checksum_ok(&length, &frames[0]));
    }

    #[test]
    fn garbage_payloads_are_errors_not_panics() {
        for payload in [
            &[][..],
            &[9],
            &[TYPE_INSERT, 7],
            &[TYPE_REMOVE, 5, 0, b'a'],
            &[TYPE_REMOVE, 1, 0, 0xff],
        ] {
            assert!(decode(payload).is_err(), "{payload:?}");
        }
        let mut buf = insert("a", "a", &[1; 16]);
        buf.truncate(buf.len() - 4); // drop a lane but keep the declared count
        assert!(decode(&buf[FRAME_HEADER..]).is_err());
    }

    #[test]
    fn time_key_caps_future_dates() {
        assert_eq!(time_key(None, 50), 50);
        assert_eq!(time_key(Some(10), 50), 10);
        assert_eq!(time_key(Some(i64::MAX), 50), 50 + MAX_FUTURE_MS);
    }
}
