//! The durable store's log reader on arbitrary bytes: record payloads and whole
//! segments (frames, checksums, resynchronisation after damage). Damaged input must be
//! refused with an error, never a panic, and a record that decodes must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    neardup::store::fuzz_read_log(data);
});
