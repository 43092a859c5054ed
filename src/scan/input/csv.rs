//! CSV and TSV with a header row and RFC 4180 quoting (a quoted field may hold the
//! delimiter, doubled quotes and newlines). The header picks the columns by the same
//! field names as JSON. Record boundaries are found once, in order (a quoted newline
//! makes a parallel split unsafe); each record is then parsed on its own, in parallel,
//! by the csv crate's core parser.

use std::borrow::Cow;

use std::cell::RefCell;

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

use super::{DateParser, Fields, Positions, Record};

/// A delimited file's layout: where its records start and which columns to read.
#[derive(Debug, Clone)]
pub(super) struct Table {
    /// The field delimiter.
    delimiter: u8,
    /// Columns in the header.
    columns: usize,
    id: usize,
    text: usize,
    date: Option<usize>,
    source: Option<usize>,
    /// Byte offset of the first record (after the header).
    pub(super) data_start: usize,
    /// Column names read with the default name but absent, for a warning.
    pub(super) missing: Vec<String>,
}

impl Table {
    /// Reads the header at the start of `data` (a byte-order mark already removed) and
    /// finds the columns of `fields`.
    pub(super) fn new(data: &[u8], delimiter: u8, fields: &Fields) -> Result<Table, String> {
        let Some(header) = next_record(&mut parser(delimiter), data, 0) else {
            return Err("has no header row".into());
        };
        let names = split(delimiter, &data[header.start..header.end], usize::MAX)
            .map_err(|e| format!("header: {e}"))?;
        let names: Vec<&str> = (0..names.len())
            .map(|i| std::str::from_utf8(names.get(i)))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("header is not UTF-8: {e}"))?;
        let find = |name: &str| -> Result<Option<usize>, String> {
            let mut found = names.iter().enumerate().filter(|(_, n)| **n == name);
            match (found.next(), found.next()) {
                (Some(_), Some(_)) => Err(format!("header names column {name:?} twice")),
                (found, _) => Ok(found.map(|(i, _)| i)),
            }
        };
        let required = |name: &str, flag: &str| -> Result<usize, String> {
            find(name)?.ok_or_else(|| {
                let hint = match delimiter {
                    b',' if names.len() == 1 && names[0].contains('\t') => {
                        "; the header looks tab-separated: give --format tsv"
                    }
                    b'\t' if names.len() == 1 && names[0].contains(',') => {
                        "; the header looks comma-separated: give --format csv"
                    }
                    _ if names.len() == 1 && names[0].contains(';') => {
                        "; the header looks semicolon-separated, which is not supported"
                    }
                    _ => "",
                };
                format!(
                    "header has no column {name:?} (columns: {}); name the column with \
                     {flag}{hint}",
                    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
                )
            })
        };
        let id = required(&fields.id, "--id-field")?;
        let text = required(&fields.text, "--text-field")?;
        let date = find(&fields.date)?;
        let source = find(&fields.source)?;
        let missing = [(&fields.date, date), (&fields.source, source)]
            .into_iter()
            .filter(|(_, column)| column.is_none())
            .map(|(name, _)| name.clone())
            .collect();
        Ok(Table {
            delimiter,
            columns: names.len(),
            id,
            text,
            date,
            source,
            data_start: header.next,
            missing,
        })
    }

    /// Every record of `data` after the header: its first line (1-based) and its bytes
    /// range. Blank records are skipped, as blank lines are in JSONL.
    pub(super) fn records(&self, data: &[u8]) -> Result<Positions, String> {
        let mut parser = parser(self.delimiter);
        let mut out = Vec::new();
        let mut at = self.data_start;
        let (mut line, mut counted) = (1, 0);
        while let Some(record) = next_record(&mut parser, data, at) {
            at = record.next;
            let bytes = &data[record.start..record.end];
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            line += memchr::memchr_iter(b'\n', &data[counted..record.start]).count();
            counted = record.start;
            if record.next == data.len() && bytes.iter().filter(|&&b| b == b'"').count() % 2 == 1 {
                return Err(format!(
                    "line {line}: a quoted field is never closed (it runs to the end of the file)"
                ));
            }
            out.push((line, record.start..record.end));
        }
        Ok(out)
    }

    /// The record in `raw` (one record's bytes, from [`Table::records`]).
    pub(super) fn parse<'a>(
        &self,
        raw: &[u8],
        fields: &Fields,
        dates: &DateParser,
    ) -> Result<Record<'a>, String> {
        let values = split(self.delimiter, raw, self.columns)?;
        if values.len() != self.columns {
            return Err(format!(
                "has {} fields, but the header has {} columns",
                values.len(),
                self.columns
            ));
        }
        let value = |column: usize, name: &str| -> Result<String, String> {
            std::str::from_utf8(values.get(column))
                .map(str::to_owned)
                .map_err(|e| format!("field {name:?} is not UTF-8: {e}"))
        };
        let id = value(self.id, &fields.id)?;
        if id.trim().is_empty() {
            return Err(format!("field {:?} is empty", fields.id));
        }
        let text = value(self.text, &fields.text)?;
        let source = match self.source {
            Some(column) if !values.get(column).is_empty() => {
                Some(Cow::Owned(value(column, &fields.source)?))
            }
            _ => None,
        };
        let published = match self.date {
            Some(column) => dates
                .parse_str(&value(column, &fields.date)?)
                .map_err(|e| format!("field {:?}: {e}", fields.date))?,
            None => None,
        };
        Ok(Record { id: Cow::Owned(id), text: Cow::Owned(text), source, published })
    }
}

/// Where one record lies: its bytes (without the line end) and where the next begins.
struct Found {
    start: usize,
    end: usize,
    next: usize,
}

/// The record starting at or after `at` (line ends before it skipped), or `None` at the
/// end of `data`.
fn next_record(parser: &mut Reader, data: &[u8], at: usize) -> Option<Found> {
    let start = at + data[at..].iter().take_while(|&&b| b == b'\n' || b == b'\r').count();
    if start >= data.len() {
        return None;
    }
    // The fields themselves are not needed here: the buffers are overwritten as they fill.
    let mut output = [0u8; 4096];
    let mut ends = [0usize; 64];
    let mut pos = start;
    loop {
        let (result, read, _, _) = parser.read_record(&data[pos..], &mut output, &mut ends);
        pos += read;
        match result {
            ReadRecordResult::InputEmpty if pos >= data.len() => {
                // Tell the parser the data ended; it closes the last record.
                parser.read_record(&[], &mut output, &mut ends);
                break;
            }
            ReadRecordResult::Record | ReadRecordResult::End => break,
            _ => {}
        }
    }
    parser.reset();
    let mut end = pos;
    while end > start && matches!(data[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    Some(Found { start, end, next: pos })
}

/// The unescaped fields of one record, one after another.
struct Values {
    output: Vec<u8>,
    ends: Vec<usize>,
}

impl Values {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, field: usize) -> &[u8] {
        let start = if field == 0 { 0 } else { self.ends[field - 1] };
        &self.output[start..self.ends[field]]
    }
}

/// A new parser for `delimiter`.
fn parser(delimiter: u8) -> Reader {
    ReaderBuilder::new().delimiter(delimiter).build()
}

/// Runs `f` with this thread's parser for `delimiter`, reset. Building one per record
/// would cost more than parsing it, and a clone of a built `csv_core::Reader` does not
/// parse like the original (csv-core 0.1.13), so each thread keeps one and resets it.
fn with_parser<T>(delimiter: u8, f: impl FnOnce(&mut Reader) -> T) -> T {
    thread_local! {
        static CACHED: RefCell<Option<(u8, Reader)>> = const { RefCell::new(None) };
    }
    CACHED.with(|cell| {
        let mut cached = cell.borrow_mut();
        if matches!(&*cached, Some((cached, _)) if *cached != delimiter) {
            *cached = None;
        }
        let (_, reader) = cached.get_or_insert_with(|| (delimiter, parser(delimiter)));
        reader.reset();
        f(reader)
    })
}

/// The unescaped fields of the one record in `raw`; more than `limit` is an error.
fn split(delimiter: u8, raw: &[u8], limit: usize) -> Result<Values, String> {
    with_parser(delimiter, |parser| split_with(parser, raw, limit))
}

fn split_with(parser: &mut Reader, raw: &[u8], limit: usize) -> Result<Values, String> {
    let mut output = vec![0u8; raw.len().max(1)];
    let mut ends = vec![0usize; limit.min(raw.len() + 1).max(1) + 1];
    let (mut read, mut written, mut fields) = (0, 0, 0);
    loop {
        let (result, r, w, f) =
            parser.read_record(&raw[read..], &mut output[written..], &mut ends[fields..]);
        read += r;
        written += w;
        fields += f;
        match result {
            ReadRecordResult::InputEmpty => {}
            ReadRecordResult::Record | ReadRecordResult::End => break,
            ReadRecordResult::OutputFull => output.resize(output.len() * 2, 0),
            ReadRecordResult::OutputEndsFull => {
                if ends.len() > limit {
                    return Err(format!("has more fields than the header's {limit} columns"));
                }
                ends.resize(ends.len() * 2, 0);
            }
        }
    }
    ends.truncate(fields);
    Ok(Values { output, ends })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(data: &str) -> Result<Table, String> {
        Table::new(data.as_bytes(), b',', &Fields::default())
    }

    fn rows(data: &str) -> Vec<(usize, String, String)> {
        let table = table(data).unwrap();
        let records = table.records(data.as_bytes()).unwrap();
        records
            .into_iter()
            .map(|(line, range)| {
                let record = table
                    .parse(&data.as_bytes()[range], &Fields::default(), &DateParser::default())
                    .unwrap();
                (line, record.id.into_owned(), record.text.into_owned())
            })
            .collect()
    }

    #[test]
    fn quoted_fields_hold_delimiters_quotes_and_newlines() {
        let data =
            "title,id,text\r\nT,1,\"one, \"\"two\"\"\nthree\"\r\n\r\nU,2,plain\n\"V\nW\",3,\"x\"";
        assert_eq!(
            rows(data),
            [
                (2, "1".into(), "one, \"two\"\nthree".into()),
                (5, "2".into(), "plain".into()),
                (6, "3".into(), "x".into())
            ]
        );
    }

    #[test]
    fn header_problems_are_named() {
        let err = table("id,body\n1,x\n").unwrap_err();
        assert!(err.contains("no column \"text\"") && err.contains("\"body\""), "{err}");
        assert!(table("id\ttext\n1\tx\n").unwrap_err().contains("--format tsv"));
        assert!(table("id,text,text\n").unwrap_err().contains("twice"));
        assert!(table("").unwrap_err().contains("no header"));
        let t = table("id,text,date\n").unwrap();
        assert_eq!(t.missing, ["source"]);
    }

    #[test]
    fn bad_records() {
        let data = "id,text,date\n1,a\n2,b,c,d\n3,c,yesterday\n,d,\n";
        let table = table(data).unwrap();
        let errors: Vec<String> = table
            .records(data.as_bytes())
            .unwrap()
            .into_iter()
            .map(|(_, range)| {
                let raw = &data.as_bytes()[range];
                table.parse(raw, &Fields::default(), &DateParser::default()).unwrap_err()
            })
            .collect();
        assert!(errors[0].contains("has 2 fields"), "{}", errors[0]);
        assert!(errors[1].contains("has 4 fields, but the header has 3"), "{}", errors[1]);
        assert!(errors[2].contains("field \"date\": cannot read"), "{}", errors[2]);
        assert!(errors[3].contains("field \"id\" is empty"), "{}", errors[3]);
        let open = "id,text\n1,\"never closed\n2,x\n";
        let err = Table::new(open.as_bytes(), b',', &Fields::default())
            .unwrap()
            .records(open.as_bytes())
            .unwrap_err();
        assert!(err.contains("line 2: a quoted field is never closed"), "{err}");
    }
}
