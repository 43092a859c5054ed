//! Request handling on arbitrary bytes: decode them as each request message of the
//! service, then push what decodes through the same conversion and validation the
//! handlers use and into a detector. Errors are expected; panics are bugs.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use neardup::service::{convert, pb};
use neardup::{Detector, DetectorConfig};
use prost::Message;

thread_local! {
    // Kept across inputs so later requests meet stored articles; renewed now and then so
    // a long run does not grow without bound.
    static DETECTOR: RefCell<Detector> = RefCell::new(fresh());
}

fn fresh() -> Detector {
    Detector::new(DetectorConfig::default()).expect("valid config")
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else { return };
    DETECTOR.with(|cell| {
        if cell.borrow().stats().documents > 10_000 {
            *cell.borrow_mut() = fresh();
        }
        handle(&cell.borrow(), which, bytes);
    });
});

fn handle(detector: &Detector, which: u8, bytes: &[u8]) {
    match which % 4 {
        0 | 1 => {
            let article = if which % 4 == 0 {
                pb::IngestRequest::decode(bytes).map(|r| r.article)
            } else {
                pb::CheckRequest::decode(bytes).map(|r| r.article)
            };
            let Ok(article) = article else { return };
            let Ok(owned) = convert::article(article) else { return };
            let borrowed = owned.as_article();
            let verdict = if which % 4 == 0 {
                detector.ingest(&borrowed)
            } else {
                detector.check(&borrowed)
            };
            if let Ok(verdict) = verdict {
                let back = convert::verdict_from_pb(convert::verdict(verdict.clone()));
                assert_eq!(back.expect("own verdicts convert back").kind, verdict.kind);
            }
        }
        2 => {
            let Ok(request) = pb::RemoveRequest::decode(bytes) else { return };
            if let Ok(id) = convert::required("id", &request.id) {
                detector.remove(id);
            }
        }
        _ => {
            let Ok(request) = pb::GetClusterRequest::decode(bytes) else { return };
            if let Ok(id) = convert::required("cluster_id", &request.cluster_id) {
                let _ = detector.cluster(id).map(convert::cluster);
            }
        }
    }
}
