//! neardup finds near-duplicate and syndicated copies of news articles.
//!
//! The pipeline, one plain function or small type per stage:
//!
//! ```text
//! text ─▶ text::normalize ─▶ shingle::shingle_hashes (gxhash64) ─▶ minhash::MinHasher
//!      ─▶ lsh::LshIndex candidates ─▶ cluster::Similarity (Jaccard, containment)
//!      ─▶ cluster assignment and origin
//! ```
//!
//! [`Detector`] is the online engine (used by the gRPC service); [`scan`] is the batch
//! pipeline over corpora (used by `neardup scan`). Both share every stage above.
//!
//! ```
//! use neardup::{Article, Detector, DetectorConfig, Kind};
//!
//! let detector = Detector::new(DetectorConfig::default())?;
//! let wire = "The central bank raised its key interest rate by half a point on Thursday, \
//!             the largest increase in two decades, and said further rises were likely.";
//! let first = detector.ingest(&Article { id: "wire-1", text: wire, ..Default::default() })?;
//! assert_eq!(first.kind, Kind::NewStory);
//! let copy = format!("Home > Business\n{wire}\nLeave a comment");
//! let second = detector.ingest(&Article { id: "outlet-7", text: &copy, ..Default::default() })?;
//! assert_eq!(second.kind, Kind::Duplicate);
//! assert_eq!(second.cluster_id, "wire-1");
//! # Ok::<(), neardup::Error>(())
//! ```

pub mod cluster;
pub mod config;
pub mod detector;
mod error;
pub mod eval;
pub mod fingerprint;
pub mod lsh;
pub mod minhash;
pub mod shingle;
pub mod text;

#[cfg(feature = "cli")]
pub mod corpus;
#[cfg(feature = "cli")]
pub mod scan;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "store")]
pub mod store;

pub use cluster::{Kind, Similarity};
pub use config::{DetectorConfig, ServiceConfig, StoreConfig, SyncMode};
pub use detector::{
    Article, ClusterView, Detector, DetectorStats, Match, Member, StoredArticle, Verdict,
};
pub use error::{Error, Result};
pub use fingerprint::{Fingerprint, Fingerprinter};
pub use minhash::{MinHasher, Signature};
