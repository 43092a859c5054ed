//! Corpus readers on arbitrary bytes: splitting into lines or chunks and parsing each
//! record as JSONL, plain lines or a whole file must never panic, and the chunked split
//! the scan uses must yield exactly the spans of the whole-file split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neardup::scan::input::{Bytes, Fields, Format, Input};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let format = match selector % 3 {
        0 => Format::Jsonl,
        1 => Format::Lines,
        _ => Format::Whole,
    };
    let input = Input {
        path: "fuzz.jsonl".into(),
        format,
        whole_id: (format == Format::Whole).then(|| "fuzz.txt".to_owned()),
        bytes: Bytes::Owned(bytes.to_vec()),
    };
    let fields = Fields::default();
    let spans = input.spans();
    for span in &spans {
        if let Ok(record) = input.parse(*span, &fields) {
            // Dates come from the record as written: any string must parse or not, calmly.
            let _ = record.date.as_deref().and_then(neardup::scan::input::parse_date);
        }
    }
    // The chunked reader sees the same spans, numbered the same way.
    let target = usize::from(selector / 3) + 1;
    let mut line = 1;
    let mut chunked = Vec::new();
    for range in input.chunks(target) {
        let (found, newlines) = input.spans_in(range, line);
        chunked.extend(found.into_iter().map(|s| (s.line, s.bytes.to_vec())));
        line += newlines;
    }
    let whole: Vec<(usize, Vec<u8>)> = spans.iter().map(|s| (s.line, s.bytes.to_vec())).collect();
    assert_eq!(whole, chunked, "chunks of {target} bytes");
});
