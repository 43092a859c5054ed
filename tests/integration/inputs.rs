//! Every input a data team has, run through the real `neardup` binary: the same corpus
//! (the Kremlin example, whose origin depends on its dates) as JSONL, CSV, TSV, a JSON
//! array, Parquet from two writers, gzip and zstd streams, standard input and a
//! mixed-format directory must give the output of the JSONL file; every hostile input
//! (contradicting extensions, unreadable dates, truncated streams, broken CSV, Parquet
//! without its text column) gives exit code 2 and a message naming the file and the line
//! or row, never exit 0 with wrong documents. Then `--rejects`, the output formats,
//! `--threads`, and a property: one corpus in four formats gives byte-identical output.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use proptest::prelude::*;
use serde_json::Value;

use crate::common::{neardup, root, stdout_ok};

/// One article of the test corpus, as plain strings.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    source: Option<String>,
    date: Option<String>,
    text: String,
}

fn kremlin() -> Vec<Row> {
    let text = std::fs::read_to_string(root().join("examples/kremlin.jsonl")).unwrap();
    text.lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).unwrap();
            let field = |name: &str| row[name].as_str().map(str::to_owned);
            Row {
                id: field("id").unwrap(),
                source: field("source"),
                date: field("date"),
                text: field("text").unwrap(),
            }
        })
        .collect()
}

fn jsonl(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        let mut object = serde_json::json!({"id": row.id, "text": row.text});
        if let Some(source) = &row.source {
            object["source"] = source.as_str().into();
        }
        if let Some(date) = &row.date {
            object["date"] = date.as_str().into();
        }
        serde_json::to_writer(&mut out, &object).unwrap();
        out.push(b'\n');
    }
    out
}

fn delimited(rows: &[Row], delimiter: u8) -> Vec<u8> {
    let mut out = csv::WriterBuilder::new().delimiter(delimiter).from_writer(Vec::new());
    out.write_record(["source", "id", "date", "text"]).unwrap();
    for row in rows {
        let cell = |v: &Option<String>| v.clone().unwrap_or_default();
        out.write_record([cell(&row.source), row.id.clone(), cell(&row.date), row.text.clone()])
            .unwrap();
    }
    out.into_inner().unwrap()
}

fn parquet(rows: &[Row], with_text: bool) -> Vec<u8> {
    let strings = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("id", strings(&|r| Some(r.id.clone()))),
        ("source", strings(&|r| r.source.clone())),
        ("date", strings(&|r| r.date.clone())),
    ];
    if with_text {
        columns.push(("text", strings(&|r| Some(r.text.clone()))));
    }
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut out = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// `rows` with each date rewritten by `f` (from the ISO form the example uses).
fn redated(rows: &[Row], f: impl Fn(chrono::NaiveDateTime) -> String) -> Vec<Row> {
    rows.iter()
        .map(|row| {
            let date = row
                .date
                .as_deref()
                .map(|d| f(chrono::NaiveDateTime::parse_from_str(d, "%Y-%m-%dT%H:%M:%S").unwrap()));
            Row { date, ..row.clone() }
        })
        .collect()
}

/// `neardup` with `args`, `{dir}` standing for the test's directory.
fn run(dir: &Path, args: &[&str]) -> Output {
    let args: Vec<String> =
        args.iter().map(|a| a.replace("{dir}", dir.to_str().unwrap())).collect();
    neardup(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn run_with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_neardup"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The output of the example as JSONL: what every good representation must give.
fn reference() -> String {
    stdout_ok(&neardup(&["scan", root().join("examples/kremlin.jsonl").to_str().unwrap()]))
}

/// Files to write: a path under the test's directory and the bytes.
type Files = Vec<(&'static str, Vec<u8>)>;

fn write_files(dir: &Path, files: &[(&str, Vec<u8>)]) {
    for (name, data) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
}

#[test]
fn every_format_gives_the_output_of_the_jsonl_file() {
    let rows = kremlin();
    let expected = reference();
    let mut bom_crlf_csv = b"\xef\xbb\xbf".to_vec();
    bom_crlf_csv
        .extend(String::from_utf8(delimited(&rows, b',')).unwrap().replace('\n', "\r\n").bytes());
    let mut bom_jsonl = b"\xef\xbb\xbf".to_vec();
    bom_jsonl.extend(jsonl(&rows));
    let array: Vec<Value> = jsonl(&rows)
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let fixtures = root().join("tests/fixtures");
    let fixture = |name: &str| std::fs::read(fixtures.join(name)).unwrap();
    let cases: Vec<(&str, Files, Vec<&str>)> = vec![
        (
            "CSV (a header, quoted text with newlines)",
            vec![("k.csv", delimited(&rows, b','))],
            vec![],
        ),
        ("CSV with a byte-order mark and CRLF", vec![("k.csv", bom_crlf_csv)], vec![]),
        ("TSV", vec![("k.tsv", delimited(&rows, b'\t'))], vec![]),
        ("JSON array", vec![("k.json", serde_json::to_vec_pretty(&array).unwrap())], vec![]),
        ("JSONL with a byte-order mark", vec![("k.jsonl", bom_jsonl)], vec![]),
        ("gzipped JSONL", vec![("k.jsonl.gz", gzip(&jsonl(&rows)))], vec![]),
        (
            "zstd JSONL",
            vec![("k.ndjson.zst", zstd::encode_all(&jsonl(&rows)[..], 3).unwrap())],
            vec![],
        ),
        ("gzipped CSV", vec![("k.csv.gz", gzip(&delimited(&rows, b',')))], vec![]),
        ("a gzip stream named .jsonl", vec![("k.jsonl", gzip(&jsonl(&rows)))], vec![]),
        ("Parquet (arrow-rs)", vec![("k.parquet", parquet(&rows, true))], vec![]),
        (
            "Parquet (pyarrow, snappy, dictionary sources, timestamps)",
            vec![("k.parquet", fixture("kremlin-snappy.parquet"))],
            vec![],
        ),
        (
            "Parquet (pyarrow, zstd, large strings, string dates)",
            vec![("k.parquet", fixture("kremlin-zstd.parquet"))],
            vec![],
        ),
        (
            "Parquet (pyarrow, gzip, epoch seconds in another column)",
            vec![("k.parquet", fixture("kremlin-gzip.parquet"))],
            vec!["--date-field", "published"],
        ),
        (
            "RFC 2822 dates",
            vec![(
                "k.jsonl",
                jsonl(&redated(&rows, |d| d.format("%a, %d %b %Y %H:%M:%S +0000").to_string())),
            )],
            vec![],
        ),
        (
            "dates with an offset",
            vec![(
                "k.jsonl",
                jsonl(&redated(&rows, |d| {
                    (d + chrono::Duration::hours(3)).format("%Y-%m-%dT%H:%M:%S+03:00").to_string()
                })),
            )],
            vec![],
        ),
        (
            "epoch milliseconds as digit strings, in CSV",
            vec![(
                "k.csv",
                delimited(&redated(&rows, |d| d.and_utc().timestamp_millis().to_string()), b','),
            )],
            vec![],
        ),
        (
            "a --date-format",
            vec![(
                "k.csv",
                delimited(&redated(&rows, |d| d.format("%d/%m/%Y %H.%M").to_string()), b','),
            )],
            vec!["--date-format", "%d/%m/%Y %H.%M"],
        ),
        (
            "--format over an unknown extension",
            vec![("k.data", jsonl(&rows))],
            vec!["--format", "jsonl"],
        ),
        ("--threads 1", vec![("k.jsonl", jsonl(&rows))], vec!["--threads", "1"]),
    ];
    for (name, files, extra) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &files);
        let mut args = vec!["scan"];
        args.extend(extra);
        args.push(files[0].0);
        let args: Vec<String> = args
            .iter()
            .map(|a| if *a == files[0].0 { format!("{{dir}}/{a}") } else { a.to_string() })
            .collect();
        let output = run(dir.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{name}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&output.stdout), expected, "{name}: {stderr}");
        assert!(stderr.contains("6 documents") && !stderr.contains("warning"), "{name}: {stderr}");
    }

    // Epoch seconds as JSON numbers.
    let dir = tempfile::tempdir().unwrap();
    let mut numbers = String::new();
    for line in String::from_utf8(jsonl(&rows)).unwrap().lines() {
        let mut row: Value = serde_json::from_str(line).unwrap();
        let date = chrono::NaiveDateTime::parse_from_str(
            row["date"].as_str().unwrap(),
            "%Y-%m-%dT%H:%M:%S",
        )
        .unwrap();
        row["date"] = date.and_utc().timestamp().into();
        numbers.push_str(&format!("{row}\n"));
    }
    write_files(dir.path(), &[("k.jsonl", numbers.into_bytes())]);
    assert_eq!(stdout_ok(&run(dir.path(), &["scan", "{dir}/k.jsonl"])), expected, "epoch numbers");

    // Standard input, with a format.
    let output = run_with_stdin(&["scan", "--format", "jsonl", "-"], &gzip(&jsonl(&rows)));
    assert_eq!(stdout_ok(&output), expected, "gzipped JSONL on stdin");
    let output = run_with_stdin(&["scan", "--format", "csv", "-"], &delimited(&rows, b','));
    assert_eq!(stdout_ok(&output), expected, "CSV on stdin");
}

/// Dates without an offset are UTC: the same instant written with one gives the same
/// output, and moving one copy's date moves the origin.
#[test]
fn naive_dates_are_utc() {
    let rows = kremlin();
    let dir = tempfile::tempdir().unwrap();
    let zulu = redated(&rows, |d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    write_files(dir.path(), &[("z.jsonl", jsonl(&zulu))]);
    assert_eq!(stdout_ok(&run(dir.path(), &["scan", "{dir}/z.jsonl"])), reference());
    // aggregator-1 at 21:40 local time in UTC-02:00 is 23:40 UTC, still after
    // korrespondent; at 21:40+03:00 (18:40 UTC) it comes first and becomes the origin.
    let mut early = rows.clone();
    early[0].date = Some("2022-01-28T21:40:00+03:00".into());
    write_files(dir.path(), &[("e.jsonl", jsonl(&early))]);
    let out = stdout_ok(&run(dir.path(), &["scan", "{dir}/e.jsonl"]));
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["cluster"], "aggregator-1", "{out}");
}

#[test]
fn a_mixed_format_directory_reads_every_file() {
    let rows = kremlin();
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let array: Vec<Value> = jsonl(&rows[4..5])
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    write_files(
        &tree,
        &[
            ("a.jsonl", jsonl(&rows[0..2])),
            ("c.parquet", parquet(&rows[3..4], true)),
            ("d.json", serde_json::to_vec(&array).unwrap()),
            ("sub/b.csv.gz", gzip(&delimited(&rows[2..3], b','))),
            ("sub/deeper/e.tsv", delimited(&rows[5..6], b'\t')),
            ("_SUCCESS", Vec::new()),
            (".a.jsonl.crc", b"\x00\x01".to_vec()),
        ],
    );
    let output = run(dir.path(), &["scan", "{dir}/tree"]);
    let mut got: Vec<&str> = std::str::from_utf8(&output.stdout).unwrap().lines().collect();
    let expected = reference();
    let mut want: Vec<&str> = expected.lines().collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "{}", String::from_utf8_lossy(&output.stderr));
}

/// One hostile input: files to write, arguments, and the message expected on stderr
/// (with exit code 2 and nothing on stdout).
struct Hostile {
    name: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
    args: Vec<&'static str>,
    message: String,
}

fn hostile(
    name: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
    args: &[&'static str],
    message: impl Into<String>,
) -> Hostile {
    Hostile { name, files, args: args.to_vec(), message: message.into() }
}

#[test]
fn hostile_inputs_stop_with_exit_2_and_say_where() {
    let rows = kremlin();
    let good = jsonl(&rows);
    let mut bad_date = rows.clone();
    bad_date[2].date = Some("yesterday".into());
    let mut ambiguous = rows.clone();
    ambiguous[1].date = Some("20220128".into());
    let mut extra_field = delimited(&rows[..2], b',');
    extra_field.extend(b"src,id-x,2022-01-01,text,one field too many\n");
    let mut open_quote = delimited(&rows[..2], b',');
    open_quote.extend(b"src,id-x,2022-01-01,\"never closed\n");
    let gz = gzip(&good);
    let null_text = {
        let texts = vec![Some(rows[0].text.as_str()), Some(rows[1].text.as_str()), None];
        let texts: ArrayRef = Arc::new(StringArray::from(texts));
        let ids: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c"]));
        let batch = RecordBatch::try_from_iter(vec![("id", ids), ("text", texts)]).unwrap();
        let mut out = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        out
    };
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain("{\"id\":1}".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let utf16_csv: Vec<u8> = String::from_utf8(delimited(&rows, b','))
        .unwrap()
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let cases = vec![
        hostile(
            "an unreadable date",
            vec![("c.jsonl", jsonl(&bad_date))],
            &[],
            "c.jsonl:3: field \"date\": cannot read \"yesterday\" as a date",
        ),
        hostile(
            "an ambiguous date",
            vec![("c.csv", delimited(&ambiguous, b','))],
            &[],
            "field \"date\": \"20220128\" is ambiguous",
        ),
        hostile(
            "a date format that is not one",
            vec![("c.jsonl", good.clone())],
            &["--date-format", "%Q"],
            "invalid config: date_format",
        ),
        hostile(
            "an unknown extension in a directory",
            vec![("d/a.jsonl", good.clone()), ("d/notes.md", b"# notes".to_vec())],
            &[],
            "d/notes.md: unknown extension",
        ),
        hostile(
            "an unknown extension",
            vec![("c.data", good.clone())],
            &[],
            "c.data: unknown extension",
        ),
        hostile(
            "JSONL named .csv",
            vec![("c.csv", good.clone())],
            &[],
            "c.csv: looks like JSON, not CSV",
        ),
        hostile(
            "a JSON array named .jsonl",
            vec![("c.jsonl", b"[{\"id\":1,\"text\":\"x\"}]".to_vec())],
            &[],
            "c.jsonl: starts with '[', a JSON array",
        ),
        hostile(
            "CSV named .jsonl",
            vec![("c.jsonl", delimited(&rows, b','))],
            &[],
            "c.jsonl: does not look like JSONL",
        ),
        hostile(
            "Parquet named .jsonl",
            vec![("c.jsonl", parquet(&rows, true))],
            &[],
            "c.jsonl: is a Parquet file, not JSONL",
        ),
        hostile("JSONL named .txt", vec![("c.txt", good.clone())], &[], "c.txt: looks like JSONL"),
        hostile(
            "JSONL named .parquet",
            vec![("c.parquet", good.clone())],
            &[],
            "c.parquet: not a Parquet file",
        ),
        hostile(
            "an empty file named .parquet",
            vec![("c.parquet", Vec::new())],
            &[],
            "c.parquet: not a Parquet file (no PAR1 magic at both ends): the file is empty",
        ),
        hostile(
            "Parquet without the text column",
            vec![("c.parquet", parquet(&rows, false))],
            &[],
            "c.parquet: has no column \"text\" (columns: \"id\", \"source\", \"date\")",
        ),
        hostile(
            "a null text in Parquet",
            vec![("c.parquet", null_text)],
            &[],
            "c.parquet: row 3: field \"text\" is null",
        ),
        hostile(
            "CSV without the text column",
            vec![("c.csv", b"id,body\n1,words\n".to_vec())],
            &[],
            "c.csv: header has no column \"text\" (columns: \"id\", \"body\")",
        ),
        hostile("a TSV named .csv", vec![("c.csv", delimited(&rows, b'\t'))], &[], "--format tsv"),
        hostile(
            "a CSV record with an extra field",
            vec![("c.csv", extra_field)],
            &[],
            "has 5 fields, but the header has 4 columns",
        ),
        hostile(
            "a CSV quote never closed",
            vec![("c.csv", open_quote)],
            &[],
            "a quoted field is never closed",
        ),
        hostile(
            "a truncated gzip stream",
            vec![("c.jsonl.gz", gz[..gz.len() / 2].to_vec())],
            &[],
            "c.jsonl.gz: gzip stream is truncated",
        ),
        hostile(
            "a .gz name on plain data",
            vec![("c.jsonl.gz", good.clone())],
            &[],
            "c.jsonl.gz: the name says gzip but the data is uncompressed",
        ),
        hostile("UTF-16", vec![("c.jsonl", utf16)], &[], "c.jsonl: is UTF-16 text"),
        hostile(
            "UTF-16 without a byte-order mark",
            vec![("c.csv", utf16_csv)],
            &[],
            "c.csv: looks like UTF-16 text",
        ),
        hostile(
            "an empty directory",
            vec![("d/.keep", Vec::new())],
            &[],
            "d: the directory holds no input files",
        ),
        hostile(
            "a missing file",
            vec![],
            &[],
            "missing.jsonl: No such file or directory (os error 2)",
        ),
    ];
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &case.files);
        let target = match case.files.first() {
            Some((name, _)) if name.starts_with("d/") => "{dir}/d".to_owned(),
            Some((name, _)) => format!("{{dir}}/{name}"),
            None => "{dir}/missing.jsonl".to_owned(),
        };
        let mut args = vec!["scan"];
        args.extend(&case.args);
        args.push(&target);
        let output = run(dir.path(), &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{}: {stderr}", case.name);
        assert!(output.stdout.is_empty(), "{}: wrote output despite the error", case.name);
        assert!(
            stderr.contains(&case.message),
            "{}: expected {:?} in {stderr:?}",
            case.name,
            case.message
        );
        assert_eq!(stderr.lines().count(), 1, "{}: one line: {stderr}", case.name);
        if case.name == "a missing file" {
            assert_eq!(stderr.matches("No such file").count(), 1, "the cause once: {stderr}");
        }
    }

    let output = neardup(&["scan", "-"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("reading standard input (-) needs --format")
    );
    let output = neardup(&["scan", "--format", "jsonl", "-", "-"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("more than once"));
    let output = neardup(&["scan", "--threads", "0", "x.jsonl"]);
    assert_eq!(output.status.code(), Some(2));
}

/// Inputs that are odd but not wrong: their result, and a warning that says why.
#[test]
fn empty_inputs_and_missing_date_columns_warn() {
    let rows = kremlin();
    let dir = tempfile::tempdir().unwrap();
    let no_rows = parquet(&[], true);
    let no_date: Vec<Row> = rows.iter().map(|r| Row { date: None, ..r.clone() }).collect();
    let mut no_date_csv = Vec::new();
    let mut writer = csv::Writer::from_writer(&mut no_date_csv);
    writer.write_record(["id", "text"]).unwrap();
    for row in &no_date {
        writer.write_record([&row.id, &row.text]).unwrap();
    }
    drop(writer);
    write_files(
        dir.path(),
        &[
            ("empty.parquet", no_rows),
            ("header.csv", b"id,text,date\n".to_vec()),
            ("nodate.csv", no_date_csv),
        ],
    );
    for (file, warning) in
        [("empty.parquet", "empty.parquet: no records"), ("header.csv", "header.csv: no records")]
    {
        let output = run(dir.path(), &["scan", &format!("{{dir}}/{file}")]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success() && output.stdout.is_empty(), "{file}: {stderr}");
        assert!(stderr.contains(warning) && stderr.contains("0 documents"), "{file}: {stderr}");
    }
    let output = run(dir.path(), &["scan", "{dir}/nodate.csv"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nodate.csv: no column \"date\", so its articles are undated"),
        "{stderr}"
    );
    let first: Value =
        serde_json::from_str(std::str::from_utf8(&output.stdout).unwrap().lines().next().unwrap())
            .unwrap();
    assert_eq!(first["cluster"], "aggregator-1", "undated: the first in input order is the origin");
}

#[test]
fn rejects_name_file_line_or_row_and_reason() {
    let rows = kremlin();
    let mut bad = rows.clone();
    bad[1].date = Some("not a date".into());
    bad[3].id = String::new();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("c.csv", delimited(&bad, b','))]);
    let output = run(dir.path(), &["scan", "--rejects", "{dir}/rejects.jsonl", "{dir}/c.csv"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(std::str::from_utf8(&output.stdout).unwrap().lines().count(), 4);
    assert!(stderr.contains("2 invalid skipped") && stderr.contains("rejects.jsonl"), "{stderr}");
    let rejects: Vec<Value> = std::fs::read_to_string(dir.path().join("rejects.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let file = dir.path().join("c.csv").to_str().unwrap().to_owned();
    // Row 2's text has blank lines inside its quotes: the next records start further down.
    let second_line = 2 + rows[0].text.matches('\n').count() + 1;
    assert_eq!(rejects[0]["file"], file.as_str());
    assert_eq!(rejects[0]["line"], second_line);
    assert!(
        rejects[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("field \"date\": cannot read \"not a date\"")
    );
    assert_eq!(rejects[1]["reason"], "field \"id\" is empty");

    let output = run(dir.path(), &["scan", "--rejects", "{dir}/rejects.csv", "{dir}/c.csv"]);
    assert!(output.status.success());
    let mut reader = csv::Reader::from_path(dir.path().join("rejects.csv")).unwrap();
    assert_eq!(reader.headers().unwrap(), vec!["file", "line", "row", "reason"]);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(
        (&records[0][0], &records[0][1], &records[0][2]),
        (file.as_str(), second_line.to_string().as_str(), "")
    );

    // A Parquet reject has a row.
    let mut null_id = rows.clone();
    null_id[1].date = Some("31.12.".into());
    write_files(dir.path(), &[("c.parquet", parquet(&null_id, true))]);
    let output = run(dir.path(), &["scan", "--rejects", "{dir}/r.jsonl", "{dir}/c.parquet"]);
    assert!(output.status.success());
    let reject: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap())
            .unwrap();
    assert_eq!((reject["row"].as_u64(), reject.get("line")), (Some(2), None));

    // Without --rejects, --skip-invalid names each skipped record on stderr.
    let output = run(dir.path(), &["scan", "--skip-invalid", "{dir}/c.parquet"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("skipped") && stderr.contains("c.parquet: row 2: field \"date\""),
        "{stderr}"
    );
}

#[test]
fn outputs_in_the_format_their_names_ask_for() {
    let dir = tempfile::tempdir().unwrap();
    let example = root().join("examples/kremlin.jsonl");
    let example = example.to_str().unwrap();
    let expected: Vec<Value> =
        reference().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let clusters_jsonl = dir.path().join("clusters.jsonl");
    stdout_ok(&neardup(&[
        "scan",
        example,
        "--out",
        "-",
        "--clusters",
        clusters_jsonl.to_str().unwrap(),
    ]));
    let clusters: Vec<Value> = std::fs::read_to_string(&clusters_jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    let out = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    stdout_ok(&neardup(&["scan", example, "--out", &out("a.csv"), "--clusters", &out("c.csv")]));
    let mut reader = csv::Reader::from_path(out("a.csv")).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    // The JSONL fields, in the order they are written.
    let first_line = reference();
    let first_line = first_line.lines().next().unwrap();
    let keys: Vec<String> = expected[0]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (first_line.find(&format!("\"{k}\":")).unwrap(), k.clone()))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_values()
        // The link's fields are columns of their own.
        .flat_map(|k| match k.as_str() {
            "link" => ["link_id", "link_jaccard", "link_containment", "link_containment_rev"]
                .map(String::from)
                .to_vec(),
            _ => vec![k],
        })
        .collect();
    assert_eq!(header, keys, "CSV has the JSONL fields");
    for (record, want) in reader.records().map(Result::unwrap).zip(&expected) {
        assert_eq!(&record[0], want["id"].as_str().unwrap());
        assert_eq!(&record[1], want["cluster"].as_str().unwrap());
        assert_eq!(&record[3], want["kind"].as_str().unwrap());
        assert_eq!(record[4].parse::<f64>().unwrap(), want["jaccard"].as_f64().unwrap());
    }
    let mut reader = csv::Reader::from_path(out("c.csv")).unwrap();
    for (record, want) in reader.records().map(Result::unwrap).zip(&clusters) {
        assert_eq!(&record[0], want["cluster"].as_str().unwrap());
        assert_eq!(serde_json::from_str::<Value>(&record[3]).unwrap(), want["members"]);
    }

    stdout_ok(&neardup(&[
        "scan",
        example,
        "--out",
        &out("a.parquet"),
        "--clusters",
        &out("c.parquet"),
    ]));
    let batches = read_parquet(&out("a.parquet"));
    let ids = batches[0].column_by_name("id").unwrap();
    let ids = arrow_array::cast::AsArray::as_string::<i32>(ids);
    let jaccard = batches[0].column_by_name("jaccard").unwrap();
    let jaccard =
        arrow_array::cast::AsArray::as_primitive::<arrow_array::types::Float64Type>(jaccard);
    assert_eq!(batches[0].num_rows(), expected.len());
    for (row, want) in expected.iter().enumerate() {
        assert_eq!(ids.value(row), want["id"].as_str().unwrap());
        assert_eq!(jaccard.value(row), want["jaccard"].as_f64().unwrap());
    }
    let schema = batches[0].schema();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, keys, "Parquet has the JSONL fields");
    let clusters_pq = read_parquet(&out("c.parquet"));
    let members = arrow_array::cast::AsArray::as_list::<i32>(
        clusters_pq[0].column_by_name("members").unwrap(),
    );
    let first = members.value(0);
    let first: Vec<&str> =
        arrow_array::cast::AsArray::as_string::<i32>(&first).iter().map(Option::unwrap).collect();
    assert_eq!(serde_json::json!(first), clusters[0]["members"]);

    stdout_ok(&neardup(&["scan", example, "--out", &out("a.jsonl.gz")]));
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(out("a.jsonl.gz")).unwrap()),
        &mut text,
    )
    .unwrap();
    assert_eq!(text, reference());

    for (args, message) in [
        (vec!["--out", "-", "--clusters", "-"], "only one of --out, --clusters and --rejects"),
        (vec!["--clusters", "-"], "only one of --out, --clusters and --rejects"),
        (vec!["--explain", "--out", "x.csv"], "--explain is written as JSONL only"),
        (vec!["--rejects", "r.parquet"], "--rejects is written as JSONL or CSV"),
        (vec!["--out", "x.parquet.gz"], "Parquet compresses its columns itself"),
    ] {
        let mut all = vec!["scan", example];
        all.extend(args);
        let output = neardup(&all);
        assert_eq!(output.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&output.stderr).contains(message), "{message}");
    }
}

fn read_parquet(path: &str) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// `ingest --skip-invalid` leaves out bad records and sends the rest; `check` reads
/// Parquet like `scan` does.
#[cfg(all(feature = "server", feature = "cli"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_and_check_read_every_format() {
    use crate::common::TestServer;
    let server = TestServer::start(neardup::config::ServiceConfig::default()).await;
    let url = server.url();
    let rows = kremlin();
    let mut bad = rows.clone();
    bad[2].date = Some("soon".into());
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[("c.csv", delimited(&bad, b',')), ("k.parquet", parquet(&rows, true))],
    );
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let call = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            neardup(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };
    let output =
        call(vec!["ingest".into(), "--server".into(), url.clone(), path("c.csv")]).await.unwrap();
    assert_eq!(output.status.code(), Some(2), "without --skip-invalid a bad record stops it");
    assert!(String::from_utf8_lossy(&output.stderr).contains("c.csv"));
    let output = call(vec![
        "ingest".into(),
        "--skip-invalid".into(),
        "--server".into(),
        url.clone(),
        path("c.csv"),
    ])
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("skipped") && stderr.contains("field \"date\": cannot read \"soon\""),
        "{stderr}"
    );
    let ingested: Vec<Value> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ingested.len(), rows.len() - 1);
    let output =
        call(vec!["check".into(), "--server".into(), url, path("k.parquet")]).await.unwrap();
    let checked: Vec<Value> =
        stdout_ok(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(checked.len(), rows.len());
    assert_eq!(checked[0]["id"], rows[0].id.as_str());
    server.shutdown().await;
}

fn story_text() -> impl Strategy<Value = String> {
    // Words and the characters that quoting must survive: commas, quotes, tabs,
    // newlines, CR, non-ASCII.
    let word = prop::sample::select(vec![
        "the",
        "minister",
        "said",
        "rail",
        "line",
        "would",
        "open",
        "spring",
        "après",
        "“quoted”",
        "\"quote\"",
        "a,b",
        "tab\there",
        "new\nline",
        "crlf\r\nend",
        "Zürich",
        "東京",
        "delay",
        "years",
        "budget",
        "council",
        "vote",
        "0.5%",
        "$12",
    ]);
    prop::collection::vec(word, 8..60).prop_map(|words| words.join(" "))
}

fn corpus() -> impl Strategy<Value = Vec<Row>> {
    let stories = prop::collection::vec(story_text(), 1..4);
    let copies = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            0u32..4,
            prop::option::of(0i64..2_000_000_000),
            prop::option::of("[a-z]{1,8}"),
        ),
        1..24,
    );
    (stories, copies).prop_map(|(stories, copies)| {
        copies
            .into_iter()
            .enumerate()
            .map(|(n, (story, edit, date, source))| {
                let mut text = stories[story.index(stories.len())].clone();
                if edit > 0 {
                    text = format!("Home, News\n{text}\nedit {edit}");
                }
                let date = date.map(|secs| {
                    chrono::DateTime::from_timestamp(secs, 0)
                        .unwrap()
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string()
                });
                Row { id: format!("doc-{n},\"{edit}\""), source, date, text }
            })
            .collect()
    })
}

fn scan_output(path: &Path) -> Vec<u8> {
    let config = neardup::DetectorConfig::default();
    let report = neardup::scan::scan(&[path.to_path_buf()], &config, &Default::default()).unwrap();
    let mut out = Vec::new();
    neardup::scan::write_assignments(&report, &config, false, &mut out).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// One corpus as JSONL, CSV, Parquet and gzipped JSONL gives byte-identical output.
    #[test]
    fn one_corpus_in_four_formats_scans_alike(rows in corpus()) {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("c.jsonl", jsonl(&rows)),
            ("c.csv", delimited(&rows, b',')),
            ("c.parquet", parquet(&rows, true)),
            ("c.jsonl.gz", gzip(&jsonl(&rows))),
        ];
        write_files(dir.path(), &files);
        let reference = scan_output(&dir.path().join("c.jsonl"));
        prop_assert_eq!(reference.iter().filter(|&&b| b == b'\n').count(), rows.len());
        for (name, _) in &files[1..] {
            let output = scan_output(&dir.path().join(name));
            prop_assert_eq!(&output, &reference, "{}", name);
        }
    }
}
