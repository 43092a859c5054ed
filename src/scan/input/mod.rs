//! Corpus readers: every format a data team keeps articles in, read into [`Record`]s
//! with errors that name the file and the line (or the Parquet row).
//!
//! - JSONL and JSON arrays, CSV and TSV with a header, Parquet, plain text with one
//!   article per line, and directories of any of these (searched recursively; a `.txt`
//!   file in a directory is one article). The format comes from the extension, or from
//!   [`ReadOptions::format`]; content that contradicts the extension is an error.
//! - gzip and zstd are decompressed into memory, recognised by their magic bytes; other
//!   files are memory-mapped and records borrow from the map wherever they can. A UTF-8
//!   byte-order mark is skipped.
//! - Dates are read by [`DateParser`]; one that cannot be read is a record error.
//!
//! An [`Input`] is split into [`Span`]s (one per record, found in parallel for line
//! formats) that are parsed independently, so the scan can parse them on every core.

mod csv;
mod dates;
mod decompress;
mod format;
mod jsonl;

#[cfg(feature = "parquet")]
pub mod arrow;
#[cfg(feature = "parquet")]
pub mod parquet;

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::error::{Error, Result};
pub(crate) use decompress::Compression;

pub use dates::{DateParser, EPOCH_MILLIS_FROM, parse_date};
pub use format::Format;

/// Names of the fields (JSON keys, CSV and Parquet columns) to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    /// Article id (string or number).
    pub id: String,
    /// Body text (string).
    pub text: String,
    /// Publication date, optional (see [`DateParser`] for what is understood).
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

/// How to read corpus files: the same for `scan`, `ingest` and `check`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Field and column names.
    pub fields: Fields,
    /// Read every file in this format instead of the one its extension names.
    pub format: Option<Format>,
    /// A `strftime` format for dates, tried before the built-in shapes.
    pub date_format: Option<String>,
}

/// The name standard input goes by in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// A file's bytes: memory-mapped, or read when mapping is impossible (empty files, pipes)
/// or the bytes had to be decompressed.
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
    let io = |source| Error::io(path, source);
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

/// Expands `path` into inputs: `-` is standard input (which needs a forced format); a
/// directory gives every file below it, sorted by path, in the format of its extension
/// (names starting with `.` or `_` are skipped, as Spark and Hadoop do; an unknown
/// extension is an error); a file is read in the format of its extension.
pub fn open(path: &Path, options: &ReadOptions) -> Result<Vec<Input>> {
    let context = Arc::new(Context::new(options)?);
    if path == Path::new("-") {
        let Some(format) = options.format else {
            return Err(bad_file(STDIN_NAME, "reading standard input (-) needs --format"));
        };
        let mut data = Vec::new();
        std::io::stdin().lock().read_to_end(&mut data).map_err(|e| Error::io(STDIN_NAME, e))?;
        let name = PathBuf::from(STDIN_NAME);
        let raw = Bytes::Owned(data);
        return Ok(vec![Input::new(name, format, raw, true, Compression::None, None, &context)?]);
    }
    if std::fs::metadata(path).map_err(|e| Error::io(path, e))?.is_dir() {
        let mut files = Vec::new();
        collect(path, &mut files)?;
        files.sort();
        if files.is_empty() {
            return Err(bad_file(path, "the directory holds no input files"));
        }
        return files
            .into_par_iter()
            .map(|file| {
                let id = file.strip_prefix(path).unwrap_or(&file).to_string_lossy().into_owned();
                open_file(&file, true, Some(id), options.format, &context)
            })
            .collect();
    }
    Ok(vec![open_file(path, false, None, options.format, &context)?])
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let io = |source| Error::io(dir, source);
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_name().to_string_lossy().starts_with(['.', '_']) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn open_file(
    path: &Path,
    in_directory: bool,
    whole_id: Option<String>,
    forced: Option<Format>,
    context: &Arc<Context>,
) -> Result<Input> {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let (named, stem) = Compression::of_name(&name);
    let format = match forced {
        Some(format) => format,
        None => Format::from_name(stem, in_directory).ok_or_else(|| {
            bad_file(
                path,
                format!(
                    "unknown extension: cannot tell the format of {name:?} (known: {}); give \
                     --format",
                    format::EXTENSIONS
                ),
            )
        })?,
    };
    let raw = map_file(path)?;
    Input::new(path.to_owned(), format, raw, forced.is_some(), named, whole_id, context)
}

fn bad_file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
    Error::BadFile { path: path.into(), reason: reason.into() }
}

/// What every input of one reading shares.
#[derive(Debug)]
struct Context {
    fields: Fields,
    dates: DateParser,
}

impl Context {
    fn new(options: &ReadOptions) -> Result<Context> {
        Ok(Context {
            fields: options.fields.clone(),
            dates: DateParser::new(options.date_format.as_deref())?,
        })
    }
}

/// Where a record is in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The 1-based line where it starts.
    Line(usize),
    /// The 1-based row of a Parquet file.
    Row(usize),
}

/// A record left out under `skip_invalid`: where it is and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The file.
    pub path: PathBuf,
    /// Where in it.
    pub location: Location,
    /// What is wrong with the record.
    pub reason: String,
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Location::Line(line) => write!(f, "{}:{line}: {}", self.path.display(), self.reason),
            Location::Row(row) => write!(f, "{}: row {row}: {}", self.path.display(), self.reason),
        }
    }
}

/// One input file, ready to be split into records.
pub struct Input {
    /// The file (or [`STDIN_NAME`]).
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// Its bytes, decompressed (empty for Parquet, whose columns are decoded).
    bytes: Bytes,
    /// Where the data starts (after a byte-order mark).
    start: usize,
    layout: Layout,
    context: Arc<Context>,
    warnings: Vec<String>,
}

/// Where records were found: each one's first line (1-based) and byte range.
type Positions = Vec<(usize, Range<usize>)>;

/// How an input's records are laid out.
enum Layout {
    /// One record per line, found in parallel chunks.
    Lines,
    /// The whole input is one article with this id.
    Whole(String),
    /// Records found in order (JSON array elements, CSV records): each one's first line
    /// and byte range.
    Found(Positions),
    /// A CSV or TSV file's header, with its records.
    Delimited(csv::Table, Positions),
    /// Decoded Parquet columns.
    #[cfg(feature = "parquet")]
    Parquet(parquet::Table),
}

impl Input {
    /// An input over `data` (compressed or not) in `format`, named `name` in messages
    /// (and used as the article id of a [`Format::Whole`] input).
    pub fn from_bytes(
        name: impl Into<PathBuf>,
        format: Format,
        data: Vec<u8>,
        options: &ReadOptions,
    ) -> Result<Input> {
        let context = Arc::new(Context::new(options)?);
        let name = name.into();
        let id = name.to_string_lossy().into_owned();
        Input::new(name, format, Bytes::Owned(data), true, Compression::None, Some(id), &context)
    }

    /// An input over Arrow record batches already in memory (all of `schema`), read as a
    /// Parquet file's rows would be and named `name` in messages. A batch whose schema
    /// differs from `schema` is refused.
    #[cfg(feature = "parquet")]
    pub fn from_batches(
        name: impl Into<PathBuf>,
        batches: &[arrow_array::RecordBatch],
        schema: &arrow_schema::Schema,
        options: &ReadOptions,
    ) -> Result<Input> {
        let path = name.into();
        if let Some(batch) = batches.iter().find(|b| b.schema().fields() != schema.fields()) {
            return Err(bad_file(
                &path,
                format!("a record batch has schema {} but the table has {schema}", batch.schema()),
            ));
        }
        let context = Arc::new(Context::new(options)?);
        let table = parquet::Table::from_batches(batches, schema, &context.fields)
            .map_err(|reason| bad_file(&path, reason))?;
        let mut warnings = Vec::new();
        if table.missing.contains(&context.fields.date) {
            warnings.push(undated(&path, &context.fields.date));
        }
        let (bytes, layout) = (Bytes::Owned(Vec::new()), Layout::Parquet(table));
        Ok(Input { path, format: Format::Parquet, bytes, start: 0, layout, context, warnings })
    }

    fn new(
        path: PathBuf,
        format: Format,
        raw: Bytes,
        forced: bool,
        named: Compression,
        whole_id: Option<String>,
        context: &Arc<Context>,
    ) -> Result<Input> {
        let bad = |reason: String| bad_file(&path, reason);
        let compression = Compression::of(&raw);
        if named != Compression::None && compression != named {
            return Err(bad(format!(
                "the name says {} but the data is {}",
                named.name(),
                compression.name()
            )));
        }
        let bytes = match compression {
            Compression::None => raw,
            _ => Bytes::Owned(compression.decompress(&raw).map_err(bad)?),
        };
        if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
            return Err(bad("is UTF-16 text (it starts with a UTF-16 byte-order mark); convert \
                            it to UTF-8"
                .into()));
        }
        let start = if bytes.starts_with(b"\xef\xbb\xbf") { 3 } else { 0 };
        let data = &bytes[start..];
        format::check_content(format, data, forced).map_err(bad)?;
        let mut warnings = Vec::new();
        #[cfg(feature = "parquet")]
        if format == Format::Parquet {
            let shared = match bytes {
                Bytes::Mapped(map) => ::bytes::Bytes::from_owner(map),
                Bytes::Owned(data) => ::bytes::Bytes::from(data),
            };
            let table = parquet::Table::read(shared, &context.fields).map_err(bad)?;
            if table.missing.contains(&context.fields.date) {
                warnings.push(undated(&path, &context.fields.date));
            }
            let (bytes, layout) = (Bytes::Owned(Vec::new()), Layout::Parquet(table));
            let context = context.clone();
            return Ok(Input { path, format, bytes, start: 0, layout, context, warnings });
        }
        let layout = match format {
            Format::Jsonl | Format::Lines => Layout::Lines,
            Format::Whole => Layout::Whole(whole_id.unwrap_or_else(|| path.display().to_string())),
            Format::Json if data.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') => {
                let text = std::str::from_utf8(data).map_err(|e| {
                    let line = 1 + memchr::memchr_iter(b'\n', &data[..e.valid_up_to()]).count();
                    Error::BadRecord {
                        path: path.clone(),
                        line,
                        reason: format!("invalid UTF-8: {e}"),
                    }
                })?;
                let elements = jsonl::array_elements(text).map_err(|(line, reason)| {
                    Error::BadRecord { path: path.clone(), line, reason }
                })?;
                Layout::Found(elements)
            }
            Format::Json => Layout::Lines,
            Format::Csv | Format::Tsv => {
                let delimiter = format.delimiter().unwrap_or(b',');
                let table = csv::Table::new(data, delimiter, &context.fields).map_err(bad)?;
                let records = table.records(data).map_err(bad)?;
                if table.missing.contains(&context.fields.date) {
                    warnings.push(undated(&path, &context.fields.date));
                }
                Layout::Delimited(table, records)
            }
            // Read above when the feature is on.
            Format::Parquet => {
                return Err(bad("this build reads no Parquet (feature \"parquet\" is off)".into()));
            }
        };
        Ok(Input { path, format, bytes, start, layout, context: context.clone(), warnings })
    }

    /// Things worth telling about this input that are not errors (a CSV file without a
    /// date column, say).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Where the record of `span` is.
    pub fn location(&self, span: Span<'_>) -> Location {
        if self.format.numbers_rows() {
            Location::Row(span.line)
        } else {
            Location::Line(span.line)
        }
    }

    /// The error for the record of `span`, naming this file and its line or row.
    pub fn error(&self, span: Span<'_>, reason: String) -> Error {
        match self.location(span) {
            Location::Row(row) => Error::BadRow { path: self.path.clone(), row, reason },
            Location::Line(line) => Error::BadRecord { path: self.path.clone(), line, reason },
        }
    }

    /// `error` (met reading the record of `span`) as a reject.
    pub fn reject(&self, span: Span<'_>, error: Error) -> Reject {
        let reason = match error {
            Error::BadRecord { reason, .. } | Error::BadRow { reason, .. } => reason,
            other => other.to_string(),
        };
        Reject { path: self.path.clone(), location: self.location(span), reason }
    }

    /// The offset of `bytes` in the memory map, when they lie in it (for releasing pages
    /// behind a pass).
    pub fn mapped_offset(&self, bytes: &[u8]) -> Option<usize> {
        let Bytes::Mapped(map) = &self.bytes else { return None };
        let offset = (bytes.as_ptr() as usize).checked_sub(map.as_ptr() as usize)?;
        (offset <= map.len()).then_some(offset)
    }
}

fn undated(path: &Path, date: &str) -> String {
    format!(
        "{}: no column {date:?}, so its articles are undated and origins follow input order \
         (name the date column with --date-field)",
        path.display()
    )
}

/// A unit of work: one article's bytes and where they came from.
#[derive(Debug, Clone, Copy)]
pub struct Span<'a> {
    /// 1-based line number where the record starts (1 for whole files), or the 1-based
    /// row of a Parquet file.
    pub line: usize,
    /// The raw bytes (without the line terminator).
    pub bytes: &'a [u8],
}

impl Span<'_> {
    /// What the record counts for in a corpus's size, by which a scan chooses its chrome
    /// sample ([`crate::scan::ChromeSample::of`]): its bytes and its line end.
    pub fn input_bytes(&self) -> u64 {
        self.bytes.len() as u64 + 1
    }
}

/// Bytes per chunk when [`Input::spans`] splits an input.
const SPAN_CHUNK: usize = 8 << 20;

impl Input {
    /// Splits the input into byte ranges of about `target` bytes that end on line
    /// boundaries (a whole-file input is one range), so chunks can be processed in
    /// parallel and released as soon as they are done.
    pub fn chunks(&self, target: usize) -> Vec<std::ops::Range<usize>> {
        let len = self.bytes.len();
        if !matches!(self.layout, Layout::Lines) || len == self.start {
            return std::iter::once(self.start..len).collect();
        }
        let mut out = Vec::with_capacity(len / target.max(1) + 1);
        let mut start = self.start;
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
        if !matches!(self.layout, Layout::Lines) {
            let spans = self.spans();
            return (if range.start == self.start { spans } else { Vec::new() }, 0);
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

    /// The records of this input. Blank lines are skipped (they are not articles).
    /// Large line-formatted inputs are split in chunks found in parallel, and each
    /// chunk's mapped pages are released once read, so finding the articles of a file
    /// larger than memory does not make it all resident.
    pub fn spans(&self) -> Vec<Span<'_>> {
        self.spans_by(SPAN_CHUNK)
    }

    fn spans_by(&self, chunk: usize) -> Vec<Span<'_>> {
        let found = |records: &[(usize, Range<usize>)]| -> Vec<Span<'_>> {
            let data = &self.bytes[self.start..];
            records
                .iter()
                .map(|(line, range)| Span { line: *line, bytes: &data[range.clone()] })
                .collect()
        };
        match &self.layout {
            Layout::Lines => {}
            Layout::Whole(_) => return vec![Span { line: 1, bytes: &self.bytes[self.start..] }],
            Layout::Found(records) | Layout::Delimited(_, records) => return found(records),
            #[cfg(feature = "parquet")]
            Layout::Parquet(table) => {
                let mut row = 0;
                let mut out = Vec::with_capacity(table.len());
                for batch in table.batches() {
                    for index in 0..batch.len() {
                        row += 1;
                        out.push(Span { line: row, bytes: batch.text_bytes(index) });
                    }
                }
                return out;
            }
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

    /// Parses the record of `span` (from this input's [`Input::spans`]), or returns an
    /// error naming this file and the record's line or row.
    pub fn parse<'a>(&'a self, span: Span<'a>) -> Result<Record<'a>> {
        let Context { fields, dates } = &*self.context;
        let bad = |reason: String| self.error(span, reason);
        match &self.layout {
            #[cfg(feature = "parquet")]
            Layout::Parquet(table) => {
                let (batch, row) = table
                    .locate(span.line.wrapping_sub(1))
                    .ok_or_else(|| bad(format!("no row {} in this file", span.line)))?;
                return batch.record(row, fields, dates).map_err(bad);
            }
            Layout::Delimited(table, _) => {
                return table.parse(span.bytes, fields, dates).map_err(bad);
            }
            _ => {}
        }
        let text =
            std::str::from_utf8(span.bytes).map_err(|e| bad(format!("invalid UTF-8: {e}")))?;
        match (&self.layout, self.format) {
            (Layout::Whole(id), _) => Ok(Record {
                id: Cow::Borrowed(id),
                text: Cow::Borrowed(text),
                source: None,
                published: None,
            }),
            (_, Format::Jsonl | Format::Json) => jsonl::parse(text, fields, dates).map_err(bad),
            _ => Ok(Record {
                id: Cow::Owned(span.line.to_string()),
                text: Cow::Borrowed(text),
                source: None,
                published: None,
            }),
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
    /// Outlet, when present and not blank.
    pub source: Option<Cow<'a, str>>,
    /// Publication time in Unix milliseconds, when the record has a date.
    pub published: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(format: Format, text: &str) -> Input {
        Input::from_bytes("mem.jsonl", format, text.as_bytes().to_vec(), &ReadOptions::default())
            .unwrap()
    }

    #[test]
    fn jsonl_fields_borrow_and_skip() {
        let input = input(
            Format::Jsonl,
            "{\"id\":7,\"x\":[1,{\"a\":2}],\"text\":\"hi there\",\"date\":\"2022-01-28\"}\n\n{\"id\":\"b\",\"text\":\"a \\\"q\\\"\"}\n",
        );
        let spans = input.spans();
        assert_eq!(spans.iter().map(|s| s.line).collect::<Vec<_>>(), [1, 3]);
        let first = input.parse(spans[0]).unwrap();
        assert_eq!((first.id.as_ref(), first.text.as_ref()), ("7", "hi there"));
        assert!(matches!(first.text, Cow::Borrowed(_)));
        assert_eq!(first.published, Some(1_643_328_000_000));
        assert_eq!(input.parse(spans[1]).unwrap().text, "a \"q\"");
    }

    #[test]
    fn bad_records_name_file_and_line() {
        let input = input(
            Format::Jsonl,
            "{\"id\":1,\"text\":\"ok\"}\n{\"id\":2,\"text\":5}\n{\"id\":3\n{\"text\":\"x\"}\n{\"id\":4,\"text\":\"a\"} x\n[1]\n",
        );
        let spans = input.spans();
        let errors: Vec<String> =
            spans[1..].iter().map(|s| input.parse(*s).unwrap_err().to_string()).collect();
        assert!(errors[0].starts_with("mem.jsonl:2: field \"text\" is a number"), "{}", errors[0]);
        assert!(errors[1].starts_with("mem.jsonl:3: malformed JSON"), "{}", errors[1]);
        assert!(errors[2].starts_with("mem.jsonl:4: missing field \"id\""), "{}", errors[2]);
        assert!(errors[3].starts_with("mem.jsonl:5: malformed JSON"), "{}", errors[3]);
        assert!(errors[4].starts_with("mem.jsonl:6: malformed JSON"), "{}", errors[4]);
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let input = Input::from_bytes(
            "x.txt",
            Format::Lines,
            b"ok\nbad \xff\n".to_vec(),
            &ReadOptions::default(),
        )
        .unwrap();
        let spans = input.spans();
        assert_eq!(input.parse(spans[0]).unwrap().id, "1");
        assert!(input.parse(spans[1]).unwrap_err().to_string().contains("x.txt:2: invalid UTF-8"));
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
    fn byte_order_marks_and_compressed_bytes() {
        let mut data = b"\xef\xbb\xbf{\"id\":1,\"text\":\"x\"}\n".to_vec();
        let plain = input(Format::Jsonl, std::str::from_utf8(&data).unwrap());
        assert_eq!(plain.parse(plain.spans()[0]).unwrap().id, "1");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, &data).unwrap();
        let gz = encoder.finish().unwrap();
        let unpacked = Input::from_bytes("a", Format::Jsonl, gz, &ReadOptions::default()).unwrap();
        assert_eq!(unpacked.parse(unpacked.spans()[0]).unwrap().text, "x");
        data.splice(0..3, [0xff, 0xfe]);
        let err = Input::from_bytes("u16", Format::Jsonl, data, &ReadOptions::default());
        assert!(err.err().unwrap().to_string().contains("UTF-16"));
    }

    #[test]
    fn json_arrays_and_delimited_records() {
        let array =
            input(Format::Json, "[\n{\"id\":\"a\",\"text\":\"x\"},\n{\"id\":2,\"text\":\"y\"}\n]");
        let spans = array.spans();
        assert_eq!(spans.iter().map(|s| s.line).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(array.parse(spans[1]).unwrap().id, "2");
        let lines = input(Format::Json, "{\"id\":\"a\",\"text\":\"x\"}\n");
        assert_eq!(lines.parse(lines.spans()[0]).unwrap().id, "a");
        let tsv = input(Format::Tsv, "text\tid\n\"a\tb\"\t1\nc\t2\n");
        let spans = tsv.spans();
        assert_eq!(tsv.parse(spans[0]).unwrap().text, "a\tb");
        assert_eq!((spans[1].line, tsv.parse(spans[1]).unwrap().id.as_ref()), (3, "2"));
        assert!(tsv.warnings().iter().any(|w| w.contains("no column \"date\"")));
    }

    #[test]
    fn rejects_name_lines() {
        let input = input(Format::Jsonl, "{\"id\":1}\n");
        let span = input.spans()[0];
        let reject = input.reject(span, input.parse(span).unwrap_err());
        assert_eq!(reject.to_string(), "mem.jsonl:1: missing field \"text\"");
        assert_eq!(reject.location, Location::Line(1));
    }
}
