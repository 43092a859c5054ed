//! neardup finds near-duplicate and syndicated copies of news articles: for each
//! article, whether it copies a story already seen, which copy came first (the origin),
//! and how close it is (estimated Jaccard of shingle sets, and containment for cut or
//! extended copies).
//!
//! The pipeline, one plain function or small type per stage, none doing I/O:
//!
//! ```text
//! text ─▶ text::normalize_lines_into ─▶ chrome::ChromeModel (site chrome left out)
//!      ─▶ shingle (k-word windows, gxhash64) ─▶ minhash::MinHasher (signature)
//!      ─▶ lsh (Jaccard bands + one-row containment bands) ─▶ candidates
//!      ─▶ cluster::Similarity (verify; sampled containment where MinHash is coarse)
//!      ─▶ the chaining guard (story, origin)
//! ```
//!
//! [`fingerprint::Fingerprinter`] runs the text stages. [`Detector`] is the online engine
//! (the service holds one, made durable by [`store`]); `scan` is the batch pipeline over
//! corpora (feature `scan`). Both share every stage above; `ARCHITECTURE.md` maps the
//! modules.
//!
//! ```
//! use neardup::{Article, Detector, DetectorConfig, CopyKind};
//!
//! let detector = Detector::new(DetectorConfig::default())?;
//! let wire = "The central bank raised its key interest rate by half a point on Thursday, \
//!             the largest increase in two decades, and said further rises were likely.";
//! let first = detector.ingest(&Article { id: "wire-1", text: wire, ..Default::default() })?;
//! assert_eq!(first.kind, CopyKind::NewStory);
//! let copy = format!("Home > Business\n{wire}\nLeave a comment");
//! let second = detector.ingest(&Article { id: "outlet-7", text: &copy, ..Default::default() })?;
//! assert_eq!(second.kind, CopyKind::Duplicate);
//! assert_eq!(second.cluster_id, "wire-1");
//! # Ok::<(), neardup::Error>(())
//! ```

pub mod article;
pub mod chrome;
pub mod cluster;
pub mod config;
pub mod contract;
pub mod detector;
pub mod diff;
mod error;
pub mod eval;
pub mod fingerprint;
mod intern;
pub mod lsh;
pub mod minhash;
pub mod shingle;
#[cfg(test)]
mod testing;
pub mod text;

#[cfg(feature = "scan")]
pub mod scan;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "store")]
pub mod store;

pub use article::Article;
pub use cluster::CopyKind;
pub use config::DetectorConfig;
pub use detector::{ClusterView, Detector, Match, Verdict};
pub use error::{Error, Result};
#[cfg(feature = "scan")]
pub use scan::{ScanOptions, ScanReport, scan};
#[cfg(feature = "store")]
pub use store::DurableDetector;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
