//! neardup finds near-duplicate and syndicated copies of news articles.
//!
//! The pipeline, one plain function or small type per stage:
//!
//! ```text
//! text ─▶ text::normalize (by line) ─▶ boilerplate::ChromeModel (chrome left out)
//!      ─▶ shingle::shingle_hashes (gxhash64) ─▶ minhash::MinHasher
//!      ─▶ LSH candidates (Jaccard bands + containment bands)
//!      ─▶ cluster::Similarity (Jaccard, containment both ways, sampled where MinHash is
//!         too coarse) ─▶ cluster assignment with the chaining guard, and origin
//! ```
//!
//! [`Detector`] is the online engine (used by the gRPC service); [`scan`] is the batch
//! pipeline over corpora (used by `neardup scan`). Both share every stage above.
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
pub mod detector;
mod error;
pub mod eval;
pub mod fingerprint;
mod intern;
pub mod lsh;
pub mod minhash;
pub mod shingle;
pub mod text;

#[cfg(feature = "scan")]
pub mod scan;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "store")]
pub mod store;

pub use article::{Article, OwnedArticle};
pub use chrome::ChromeModel;
pub use cluster::{CopyKind, Similarity};
pub use config::{ChromeConfig, DetectorConfig, ServiceConfig, StoreConfig, SyncMode};
pub use detector::{
    ClusterView, Detector, DetectorStats, Match, Member, SignedArticle, StoredArticle, Verdict,
};
pub use error::{Error, Result};
pub use fingerprint::{Fingerprint, Fingerprinter, PreparedText, SignedText};
pub use minhash::{MinHasher, Signature};
