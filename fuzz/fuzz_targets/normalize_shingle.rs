//! Normalization, shingling and fingerprinting on arbitrary text: never a panic, the
//! normalized form is single-space separated tokens, shingle sets are sorted and
//! distinct, and the fingerprint of a text with words is always computable.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use neardup::shingle::shingle_hashes;
use neardup::text::normalize;
use neardup::DetectorConfig;
use neardup::fingerprint::Fingerprinter;

thread_local! {
    // One fingerprinter per shingle size: building one (the permutation family) costs
    // more than fingerprinting a short input.
    static FINGERPRINTERS: RefCell<Vec<Option<Fingerprinter>>> = RefCell::new(vec![None; 9]);
}

fuzz_target!(|data: &[u8]| {
    let Some((&k, bytes)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(bytes);
    let normalized = normalize(&text);
    assert!(!normalized.starts_with(' ') && !normalized.ends_with(' '), "{normalized:?}");
    assert!(!normalized.contains("  "), "{normalized:?}");
    let k = usize::from(k % 8) + 1;
    let hashes = shingle_hashes(&normalized, k, 7);
    assert!(hashes.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
    assert_eq!(hashes.is_empty(), normalized.is_empty());
    FINGERPRINTERS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let fingerprinter = cache[k].get_or_insert_with(|| {
            let config = DetectorConfig { shingle_size: k, ..DetectorConfig::default() };
            Fingerprinter::new(config).expect("valid config")
        });
        match fingerprinter.fingerprint(&text) {
            Ok(fingerprint) => assert!(fingerprint.shingle_count > 0),
            Err(err) => assert!(normalized.is_empty(), "{err}"),
        }
    });
});
