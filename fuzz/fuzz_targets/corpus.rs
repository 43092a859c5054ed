//! Corpus readers on arbitrary bytes: opening them in any format (with the content
//! checks, decompression, CSV headers, JSON arrays and Parquet metadata) and parsing
//! every record must never panic, and for line formats the chunked split the scan uses
//! must yield exactly the spans of the whole-input split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neardup::scan::input::{Format, Input, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let format = Format::ALL[usize::from(selector) % Format::ALL.len()];
    let Ok(input) = Input::from_bytes("fuzz", format, bytes.to_vec(), &ReadOptions::default())
    else {
        return;
    };
    let spans = input.spans();
    for span in &spans {
        // Dates, ids and texts are checked while parsing: any record parses or not, calmly.
        let _ = input.parse(*span);
    }
    // The chunked reader sees the same spans, numbered the same way.
    let target = usize::from(selector / 7) + 1;
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
