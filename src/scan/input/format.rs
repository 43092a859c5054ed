//! Which format a file is in: from its extension (after any `.gz`/`.zst`), or forced by
//! the caller; and the checks that refuse content contradicting the extension, so a
//! mislabelled file is an error naming it rather than a corpus read the wrong way.

use std::fmt;

/// How a file holds articles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// One JSON object per line (`.jsonl`, `.ndjson`).
    Jsonl,
    /// A JSON array of objects, or one object per line (`.json`).
    Json,
    /// Comma-separated values with a header row, RFC 4180 quoting (`.csv`).
    Csv,
    /// Tab-separated values with a header row, the same quoting (`.tsv`).
    Tsv,
    /// Apache Parquet (`.parquet`).
    Parquet,
    /// One article per line of plain text; ids are line numbers (`.txt` given as a file).
    Lines,
    /// The whole file is one article; its id is the path relative to the scanned
    /// directory (`.txt` inside a directory).
    Whole,
}

impl Format {
    /// Every format, for messages.
    pub const ALL: [Format; 7] = [
        Format::Jsonl,
        Format::Json,
        Format::Csv,
        Format::Tsv,
        Format::Parquet,
        Format::Lines,
        Format::Whole,
    ];

    /// The format a file name's extension announces (compression suffix already
    /// removed). `.txt` is one article per line for a file given by name and one article
    /// per file inside a directory.
    pub fn from_name(name: &str, in_directory: bool) -> Option<Format> {
        let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match extension.as_str() {
            "jsonl" | "ndjson" => Format::Jsonl,
            "json" => Format::Json,
            "csv" => Format::Csv,
            "tsv" | "tab" => Format::Tsv,
            "parquet" | "pq" => Format::Parquet,
            "txt" if in_directory => Format::Whole,
            "txt" => Format::Lines,
            _ => return None,
        })
    }

    /// The field delimiter of a delimited format.
    pub(super) fn delimiter(self) -> Option<u8> {
        match self {
            Format::Csv => Some(b','),
            Format::Tsv => Some(b'\t'),
            _ => None,
        }
    }

    /// Whether articles are numbered by row (Parquet) rather than by line.
    pub fn numbers_rows(self) -> bool {
        self == Format::Parquet
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Jsonl => "JSONL",
            Format::Json => "JSON",
            Format::Csv => "CSV",
            Format::Tsv => "TSV",
            Format::Parquet => "Parquet",
            Format::Lines => "text lines",
            Format::Whole => "a text file",
        })
    }
}

/// The extensions [`Format::from_name`] knows, for messages.
pub(super) const EXTENSIONS: &str =
    ".jsonl, .ndjson, .json, .csv, .tsv, .parquet or .txt, each optionally with .gz or .zst";

/// Bytes looked at for content checks.
const SNIFF: usize = 8192;

const PARQUET_MAGIC: &[u8] = b"PAR1";

/// Refuses `data` (decompressed, byte-order mark removed) when it cannot be `format`:
/// Parquet in a text format or the reverse, UTF-16 text, or (unless the format was
/// forced) content that is plainly another format than the extension says.
pub(super) fn check_content(format: Format, data: &[u8], forced: bool) -> Result<(), String> {
    if format == Format::Parquet {
        if data.starts_with(PARQUET_MAGIC) && data.ends_with(PARQUET_MAGIC) && data.len() >= 12 {
            return Ok(());
        }
        let hint = match first_byte(data) {
            Some(b'{') => ": it looks like JSONL",
            _ if data.is_empty() => ": the file is empty",
            _ => "",
        };
        return Err(format!("not a Parquet file (no PAR1 magic at both ends){hint}"));
    }
    if data.starts_with(PARQUET_MAGIC) {
        return Err(format!("is a Parquet file, not {format}; name it .parquet"));
    }
    if looks_like_utf16(&data[..data.len().min(SNIFF)]) {
        return Err(format!(
            "looks like UTF-16 text without a byte-order mark (every other byte is NUL), not \
             {format} in UTF-8; convert it to UTF-8"
        ));
    }
    if forced {
        return Ok(());
    }
    let first = first_byte(data);
    match (format, first) {
        (_, None) => Ok(()),
        (Format::Jsonl, Some(b'[')) => {
            Err("starts with '[', a JSON array, not JSONL (one object per line): name it .json \
             or give --format json"
                .into())
        }
        (Format::Jsonl, Some(b)) if b != b'{' => Err(format!(
            "does not look like JSONL: it starts with {:?}, not a JSON object",
            char::from(b)
        )),
        (Format::Json, Some(b)) if b != b'[' && b != b'{' => Err(format!(
            "does not look like JSON: it starts with {:?}, not an array or an object",
            char::from(b)
        )),
        (Format::Csv | Format::Tsv, Some(b'{' | b'[')) if first_line_is_json(data) => {
            Err(format!("looks like JSON, not {format}: its first line is JSON"))
        }
        (Format::Lines, Some(b'{')) if first_line_is_json(data) => {
            Err("looks like JSONL (its first line is a JSON object): name it .jsonl, or give \
             --format lines to read every line as text"
                .into())
        }
        _ => Ok(()),
    }
}

/// NUL in (nearly) every even or every odd byte: ASCII-range text in UTF-16, which would
/// otherwise pass as UTF-8 with a NUL between letters. A stray NUL is left to the text
/// rules (it separates words).
fn looks_like_utf16(head: &[u8]) -> bool {
    let pairs = head.len() / 2;
    if pairs < 4 {
        return false;
    }
    let nul_at = |parity: usize| head.iter().skip(parity).step_by(2).filter(|&&b| b == 0).count();
    let (even, odd) = (nul_at(0), nul_at(1));
    let most = |n: usize| n * 10 >= pairs * 9;
    let few = |n: usize| n * 10 <= pairs;
    (most(even) && few(odd)) || (most(odd) && few(even))
}

fn first_byte(data: &[u8]) -> Option<u8> {
    data.iter().copied().find(|b| !b.is_ascii_whitespace())
}

fn first_line_is_json(data: &[u8]) -> bool {
    let line = data
        .split(|&b| b == b'\n')
        .find(|line| !line.iter().all(u8::is_ascii_whitespace))
        .unwrap_or_default();
    serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_name_formats() {
        assert_eq!(Format::from_name("a.JSONL", false), Some(Format::Jsonl));
        assert_eq!(Format::from_name("dir.v2/a.ndjson", true), Some(Format::Jsonl));
        assert_eq!(Format::from_name("a.json", false), Some(Format::Json));
        assert_eq!(Format::from_name("a.tsv", false), Some(Format::Tsv));
        assert_eq!(Format::from_name("part-0.snappy.parquet", true), Some(Format::Parquet));
        assert_eq!(Format::from_name("a.txt", false), Some(Format::Lines));
        assert_eq!(Format::from_name("a.txt", true), Some(Format::Whole));
        assert_eq!(Format::from_name("a.md", true), None);
        assert_eq!(Format::from_name("README", false), None);
    }

    #[test]
    fn content_that_contradicts_the_extension() {
        let ok = |f, d: &[u8]| check_content(f, d, false);
        assert!(ok(Format::Jsonl, b"\n {\"id\":1}\n").is_ok());
        assert!(ok(Format::Jsonl, b"").is_ok());
        assert!(ok(Format::Jsonl, b"[{\"id\":1}]").unwrap_err().contains("--format json"));
        assert!(ok(Format::Jsonl, b"id,text\n").unwrap_err().contains("not a JSON object"));
        assert!(ok(Format::Json, b"[]").is_ok());
        assert!(ok(Format::Json, b"id,text").is_err());
        assert!(ok(Format::Csv, b"{\"id\":1,\"text\":\"x\"}\n").unwrap_err().contains("JSON"));
        assert!(ok(Format::Csv, b"id,text\n1,{x}\n").is_ok());
        assert!(ok(Format::Lines, b"{\"id\":1}\n").unwrap_err().contains("--format lines"));
        assert!(ok(Format::Lines, b"{braces} in a sentence\n").is_ok());
        assert!(ok(Format::Lines, b"PAR1....PAR1").unwrap_err().contains("Parquet"));
        let utf16: Vec<u8> = "id,text\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(ok(Format::Csv, &utf16).unwrap_err().contains("UTF-16"));
        assert!(ok(Format::Lines, b"alpha\0beta\0gamma delta\n").is_ok());
        assert!(ok(Format::Parquet, b"{\"id\":1}").unwrap_err().contains("JSONL"));
        assert!(ok(Format::Parquet, b"").unwrap_err().contains("empty"));
        // Forced formats skip the guesses but not the binary checks.
        assert!(check_content(Format::Lines, b"{\"id\":1}\n", true).is_ok());
        assert!(check_content(Format::Lines, b"a\0b\0c\0d\0", true).is_err());
    }
}
