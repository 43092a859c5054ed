//! Corpus readers: JSONL (field names configurable), plain text with one article per
//! line, and a directory of `.txt` files. Files are memory-mapped; records borrow from
//! the map wherever JSON escapes allow, and every error names the file and line.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::error::{Error, Result};

/// Names of the JSONL fields to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    /// Article id (string or number).
    pub id: String,
    /// Body text (string).
    pub text: String,
    /// Publication date (ISO 8601 / RFC 3339 string), optional.
    pub date: String,
    /// Outlet, optional.
    pub source: String,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            id: "id".into(),
            text: "text".into(),
            date: "date".into(),
            source: "source".into(),
        }
    }
}

/// How to split a file into articles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// One article per line of plain text; ids are line numbers.
    Lines,
    /// The whole file is one article; its id is the path relative to the scanned directory.
    Whole,
}

/// A file's bytes: memory-mapped, or read when mapping is impossible (empty files, pipes).
pub enum Bytes {
    /// A read-only map.
    Mapped(memmap2::Mmap),
    /// Owned bytes.
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(map) => map,
            Bytes::Owned(bytes) => bytes,
        }
    }
}

/// Maps `path` read-only, with sequential read-ahead advice.
pub fn map_file(path: &Path) -> Result<Bytes> {
    let io = |source| Error::Io { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > 0 {
        // SAFETY: the map is read-only and we never hand out a `&mut`. If another process
        // truncates the file while we scan it, reads past the end fault (SIGBUS); that
        // is the accepted trade-off of every mmap-based reader (ripgrep included), and
        // the scan documents that inputs must not change underneath it.
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
            #[cfg(unix)]
            let _ = map.advise(memmap2::Advice::Sequential);
            return Ok(Bytes::Mapped(map));
        }
    }
    std::fs::read(path).map(Bytes::Owned).map_err(io)
}

/// One input file with its format and the name used for its articles.
pub struct Input {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// For [`Format::Whole`]: the article id (path relative to the scanned directory).
    pub whole_id: Option<String>,
    /// Its contents.
    pub bytes: Bytes,
}

/// Expands `path` into inputs: a directory gives every `.txt` file below it (sorted, one
/// article each); a file is JSONL when `format` says so or, with `None`, when its name
/// ends in `.jsonl`/`.ndjson`/`.json` or its first non-blank byte is `{`.
pub fn open(path: &Path, format: Option<Format>) -> Result<Vec<Input>> {
    let io = |source| Error::Io { path: path.to_owned(), source };
    if std::fs::metadata(path).map_err(io)?.is_dir() {
        let mut files = Vec::new();
        collect_txt(path, &mut files)?;
        files.sort();
        return files
            .into_iter()
            .map(|file| {
                let id = file.strip_prefix(path).unwrap_or(&file).to_string_lossy().into_owned();
                Ok(Input {
                    bytes: map_file(&file)?,
                    path: file,
                    format: Format::Whole,
                    whole_id: Some(id),
                })
            })
            .collect();
    }
    let bytes = map_file(path)?;
    let format = format.unwrap_or_else(|| sniff(path, &bytes));
    Ok(vec![Input { path: path.to_owned(), format, whole_id: None, bytes }])
}

fn collect_txt(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let io = |source| Error::Io { path: dir.to_owned(), source };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect_txt(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "txt") {
            out.push(path);
        }
    }
    Ok(())
}

fn sniff(path: &Path, bytes: &[u8]) -> Format {
    let by_name = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
    match by_name.as_deref() {
        Some("jsonl" | "ndjson" | "json") => Format::Jsonl,
        Some("txt") => Format::Lines,
        _ if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => Format::Jsonl,
        _ => Format::Lines,
    }
}

/// A unit of work: one article's bytes and where they came from.
#[derive(Debug, Clone, Copy)]
pub struct Span<'a> {
    /// 1-based line number (1 for whole files).
    pub line: usize,
    /// The raw bytes (without the line terminator).
    pub bytes: &'a [u8],
}

/// Bytes per chunk when [`Input::spans`] splits an input.
const SPAN_CHUNK: usize = 8 << 20;

impl Input {
    /// Splits the input into byte ranges of about `target` bytes that end on line
    /// boundaries (a whole-file input is one range), so chunks can be processed in
    /// parallel and released as soon as they are done.
    pub fn chunks(&self, target: usize) -> Vec<std::ops::Range<usize>> {
        let len = self.bytes.len();
        if self.format == Format::Whole || len == 0 {
            return std::iter::once(0..len).collect();
        }
        let mut out = Vec::with_capacity(len / target.max(1) + 1);
        let mut start = 0;
        while start < len {
            let want = (start + target.max(1)).min(len);
            let end = match memchr::memchr(b'\n', &self.bytes[want..]) {
                Some(at) => want + at + 1,
                None => len,
            };
            out.push(start..end);
            start = end;
        }
        out
    }

    /// The article spans of `range` (from [`Input::chunks`]), numbered from
    /// `first_line`, and the number of line ends in the range (to number the next one).
    /// Blank lines are skipped (they are not articles).
    pub fn spans_in(
        &self,
        range: std::ops::Range<usize>,
        first_line: usize,
    ) -> (Vec<Span<'_>>, usize) {
        if self.format == Format::Whole {
            return (vec![Span { line: 1, bytes: &self.bytes }], 0);
        }
        let bytes = &self.bytes[range];
        let mut out = Vec::new();
        let mut start = 0;
        let mut newlines = 0;
        for end in memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len())) {
            if end == bytes.len() && start == end {
                break;
            }
            let line = &bytes[start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.iter().all(u8::is_ascii_whitespace) {
                out.push(Span { line: first_line + newlines, bytes: line });
            }
            newlines += usize::from(end < bytes.len());
            start = end + 1;
        }
        (out, newlines)
    }

    /// Tells the kernel the pages of `range` are no longer needed, so a scan of a file
    /// larger than memory keeps only the part in flight resident. Later reads of the
    /// range still work (the pages fault back in from the file).
    pub fn release(&self, range: std::ops::Range<usize>) {
        #[cfg(unix)]
        if let Bytes::Mapped(map) = &self.bytes {
            // SAFETY: the map is a read-only, file-backed private mapping: MADV_DONTNEED
            // only drops clean page-cache pages from this process, and any later access
            // reads the unchanged file again, so no reference can observe a change.
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    range.start,
                    range.len(),
                )
            };
        }
        #[cfg(not(unix))]
        let _ = range;
    }

    /// The article spans of this input. Blank lines are skipped (they are not articles).
    /// Large inputs are split in chunks found in parallel, and each chunk's mapped pages
    /// are released once read, so finding the articles of a file larger than memory
    /// does not make it all resident.
    pub fn spans(&self) -> Vec<Span<'_>> {
        self.spans_by(SPAN_CHUNK)
    }

    fn spans_by(&self, chunk: usize) -> Vec<Span<'_>> {
        use rayon::prelude::*;
        if self.format == Format::Whole {
            return vec![Span { line: 1, bytes: &self.bytes }];
        }
        let chunks = self.chunks(chunk);
        let found: Vec<(Vec<Span<'_>>, usize)> = chunks
            .into_par_iter()
            .map(|range| {
                let found = self.spans_in(range.clone(), 0);
                self.release(range);
                found
            })
            .collect();
        let mut out = Vec::with_capacity(found.iter().map(|(spans, _)| spans.len()).sum());
        let mut first_line = 1;
        for (spans, newlines) in found {
            out.extend(spans.into_iter().map(|span| Span { line: span.line + first_line, ..span }));
            first_line += newlines;
        }
        out
    }

    /// Parses one span into a record, or an error naming this file and the line.
    pub fn parse<'a>(&'a self, span: Span<'a>, fields: &Fields) -> Result<Record<'a>> {
        let bad =
            |reason: String| Error::BadRecord { path: self.path.clone(), line: span.line, reason };
        let text =
            std::str::from_utf8(span.bytes).map_err(|e| bad(format!("invalid UTF-8: {e}")))?;
        match self.format {
            Format::Whole => Ok(Record {
                id: Cow::Borrowed(self.whole_id.as_deref().unwrap_or_default()),
                text: Cow::Borrowed(text),
                source: None,
                date: None,
            }),
            Format::Lines => Ok(Record {
                id: Cow::Owned(span.line.to_string()),
                text: Cow::Borrowed(text),
                source: None,
                date: None,
            }),
            Format::Jsonl => {
                let mut de = serde_json::Deserializer::from_str(text);
                let raw = RecordSeed(fields)
                    .deserialize(&mut de)
                    .map_err(|e| bad(format!("malformed JSON: {e}")))?;
                de.end().map_err(|e| bad(format!("malformed JSON: {e}")))?;
                let id = match raw.id {
                    Some(JsonValue::Str(id)) if !id.trim().is_empty() => id,
                    Some(JsonValue::Number(n)) => Cow::Owned(n),
                    Some(JsonValue::Str(_)) => {
                        return Err(bad(format!("field {:?} is empty", fields.id)));
                    }
                    Some(JsonValue::Other(kind)) => {
                        return Err(bad(format!(
                            "field {:?} is {kind}, not a string or number",
                            fields.id
                        )));
                    }
                    None => return Err(bad(format!("missing field {:?}", fields.id))),
                };
                let text = match raw.text {
                    Some(JsonValue::Str(text)) => text,
                    Some(JsonValue::Number(_)) => {
                        return Err(bad(format!(
                            "field {:?} is a number, not a string",
                            fields.text
                        )));
                    }
                    Some(JsonValue::Other(kind)) => {
                        return Err(bad(format!(
                            "field {:?} is {kind}, not a string",
                            fields.text
                        )));
                    }
                    None => return Err(bad(format!("missing field {:?}", fields.text))),
                };
                Ok(Record {
                    id,
                    text,
                    source: raw.source.and_then(JsonValue::into_str),
                    date: raw.date.and_then(JsonValue::into_str),
                })
            }
        }
    }
}

/// One article as read from a corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Article id.
    pub id: Cow<'a, str>,
    /// Body text.
    pub text: Cow<'a, str>,
    /// Outlet, when present.
    pub source: Option<Cow<'a, str>>,
    /// Publication date as written, when present.
    pub date: Option<Cow<'a, str>>,
}

/// Parses an ISO 8601 / RFC 3339 date or date-time to Unix milliseconds. Times without
/// an offset are taken as UTC.
pub fn parse_date(text: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let text = text.trim();
    if let Some(millis) = parse_plain_date_time(text) {
        return Some(millis);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(text, format) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS` (no fraction, no offset), the common shapes,
/// without chrono's format-string interpretation on every record.
fn parse_plain_date_time(text: &str) -> Option<i64> {
    use chrono::NaiveDate;
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        digits
            .iter()
            .try_fold(0u32, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0')))
    };
    if !(b.len() == 10 || (b.len() == 19 && matches!(b[10], b'T' | b' ')))
        || b[4] != b'-'
        || b[7] != b'-'
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = if b.len() == 19 {
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?
    } else {
        date.and_hms_opt(0, 0, 0)?
    };
    Some(time.and_utc().timestamp_millis())
}

enum JsonValue<'a> {
    Str(Cow<'a, str>),
    Number(String),
    Other(&'static str),
}

impl<'a> JsonValue<'a> {
    fn into_str(self) -> Option<Cow<'a, str>> {
        match self {
            JsonValue::Str(s) => Some(s),
            JsonValue::Number(n) => Some(Cow::Owned(n)),
            JsonValue::Other(_) => None,
        }
    }
}

impl<'de> de::Deserialize<'de> for JsonValue<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonValue::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonValue::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonValue::Str(Cow::Owned(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(JsonValue::Number(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(JsonValue::Number(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(JsonValue::Number(v.to_string()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(JsonValue::Other("a boolean"))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(JsonValue::Other("null"))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(JsonValue::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonValue::Other("an object"))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[derive(Default)]
struct RawRecord<'a> {
    id: Option<JsonValue<'a>>,
    text: Option<JsonValue<'a>>,
    source: Option<JsonValue<'a>>,
    date: Option<JsonValue<'a>>,
}

/// Reads only the configured fields of a JSON object and skips the rest unparsed.
struct RecordSeed<'f>(&'f Fields);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = RawRecord<'de>;
    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = RawRecord<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut record = RawRecord::default();
        while let Some(key) = map.next_key::<JsonValue<'de>>()? {
            let JsonValue::Str(key) = key else { continue };
            let slot = if key == self.0.text.as_str() {
                &mut record.text
            } else if key == self.0.id.as_str() {
                &mut record.id
            } else if key == self.0.date.as_str() {
                &mut record.date
            } else if key == self.0.source.as_str() {
                &mut record.source
            } else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            *slot = Some(map.next_value()?);
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(format: Format, text: &str) -> Input {
        Input {
            path: "mem.jsonl".into(),
            format,
            whole_id: None,
            bytes: Bytes::Owned(text.as_bytes().to_vec()),
        }
    }

    #[test]
    fn jsonl_fields_borrow_and_skip() {
        let input = input(
            Format::Jsonl,
            "{\"id\":7,\"x\":[1,{\"a\":2}],\"text\":\"hi there\",\"date\":\"2022-01-28\"}\n\n{\"id\":\"b\",\"text\":\"a \\\"q\\\"\"}\n",
        );
        let spans = input.spans();
        assert_eq!(spans.iter().map(|s| s.line).collect::<Vec<_>>(), [1, 3]);
        let first = input.parse(spans[0], &Fields::default()).unwrap();
        assert_eq!((first.id.as_ref(), first.text.as_ref()), ("7", "hi there"));
        assert!(matches!(first.text, Cow::Borrowed(_)));
        assert_eq!(first.date.as_deref(), Some("2022-01-28"));
        assert_eq!(input.parse(spans[1], &Fields::default()).unwrap().text, "a \"q\"");
    }

    #[test]
    fn bad_records_name_file_and_line() {
        let input = input(
            Format::Jsonl,
            "{\"id\":1,\"text\":\"ok\"}\n{\"id\":2,\"text\":5}\n{\"id\":3\n{\"text\":\"x\"}\n{\"id\":4,\"text\":\"a\"} x\n[1]\n",
        );
        let spans = input.spans();
        let errors: Vec<String> = spans[1..]
            .iter()
            .map(|s| input.parse(*s, &Fields::default()).unwrap_err().to_string())
            .collect();
        assert!(errors[0].starts_with("mem.jsonl:2: field \"text\" is a number"), "{}", errors[0]);
        assert!(errors[1].starts_with("mem.jsonl:3: malformed JSON"), "{}", errors[1]);
        assert!(errors[2].starts_with("mem.jsonl:4: missing field \"id\""), "{}", errors[2]);
        assert!(errors[3].starts_with("mem.jsonl:5: malformed JSON"), "{}", errors[3]);
        assert!(errors[4].starts_with("mem.jsonl:6: malformed JSON"), "{}", errors[4]);
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let input = Input {
            path: "x.txt".into(),
            format: Format::Lines,
            whole_id: None,
            bytes: Bytes::Owned(b"ok\nbad \xff\n".to_vec()),
        };
        let spans = input.spans();
        assert_eq!(input.parse(spans[0], &Fields::default()).unwrap().id, "1");
        assert!(
            input
                .parse(spans[1], &Fields::default())
                .unwrap_err()
                .to_string()
                .contains("x.txt:2: invalid UTF-8")
        );
    }

    #[test]
    fn chunks_end_on_lines_and_keep_line_numbers() {
        let text = "{\"a\":1}\n\n{\"b\":22}\r\n{\"c\":333}\n{\"d\":4}";
        let input = input(Format::Jsonl, text);
        for target in [1, 5, 12, 1000] {
            let chunks = input.chunks(target);
            assert_eq!(chunks.first().unwrap().start, 0);
            assert_eq!(chunks.last().unwrap().end, text.len());
            let mut first_line = 1;
            let mut spans = Vec::new();
            for range in chunks {
                assert!(range.end == text.len() || text.as_bytes()[range.end - 1] == b'\n');
                let (chunk_spans, newlines) = input.spans_in(range.clone(), first_line);
                assert_eq!(newlines, spans_lines(&text[range]));
                spans.extend(chunk_spans);
                first_line += newlines;
            }
            let whole = input.spans();
            assert_eq!(spans.len(), whole.len(), "target {target}");
            for (a, b) in spans.iter().zip(&whole) {
                assert_eq!((a.line, a.bytes), (b.line, b.bytes));
            }
        }
    }

    #[test]
    fn spans_in_parallel_chunks_match_a_line_split() {
        let text = "{\"a\":1}\n\n{\"b\":22}\r\n  \n{\"c\":333}\n{\"d\":4}\n\n";
        let input = input(Format::Jsonl, text);
        let expected: Vec<(usize, &[u8])> = text
            .split('\n')
            .enumerate()
            .map(|(i, line)| (i + 1, line.strip_suffix('\r').unwrap_or(line)))
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| (i, line.as_bytes()))
            .collect();
        for chunk in [1, 3, 9, 17, 1 << 20] {
            let spans: Vec<(usize, &[u8])> =
                input.spans_by(chunk).iter().map(|s| (s.line, s.bytes)).collect();
            assert_eq!(spans, expected, "chunk {chunk}");
        }
    }

    fn spans_lines(text: &str) -> usize {
        text.bytes().filter(|&b| b == b'\n').count()
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01T00:00:01"), Some(1000));
        assert_eq!(parse_date("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_date("1987-02-26T15:01:01.79"), parse_date("1987-02-26T15:01:01.790Z"));
        assert_eq!(parse_date("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("1987-03-03T15:44:56"), parse_date("1987-03-03T15:44:56.000Z"));
        assert_eq!(parse_date("1987-03-03 15:44:56"), Some(541_784_696_000));
        assert_eq!(parse_date("1987-02-30"), None);
        assert_eq!(parse_date("1987-03-03T25:00:00"), None);
        assert_eq!(parse_date("198x-03-03"), None);
    }
}
