//! What the detector answers: the verdict on one article with its matches, a story with
//! its members, and counters. Plain serializable data, the same over gRPC, JSON lines
//! and the library.

use serde::{Deserialize, Serialize};

use crate::cluster::CopyKind;

/// A stored article that resembles the one being labelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// Id of the stored article.
    pub id: String,
    /// Its outlet.
    pub source: String,
    /// Estimated Jaccard between the two.
    pub jaccard: f64,
    /// Estimated share of the labelled article contained in this one.
    pub containment: f64,
    /// Estimated share of this one contained in the labelled article.
    #[serde(default)]
    pub containment_rev: f64,
}

/// The label given to one article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The article's id.
    pub id: String,
    /// New story, duplicate or partial copy.
    pub kind: CopyKind,
    /// The story this article belongs to: its stable id, the id of the article that
    /// founded it (see [`crate::Detector::cluster`]).
    pub cluster_id: String,
    /// The story's earliest published member.
    pub origin_id: String,
    /// The stored article that put this one in its story, with the scores that
    /// decided its kind (none for a new story).
    #[serde(default)]
    pub link: Option<Match>,
    /// Estimated Jaccard to the origin (1 for the origin itself).
    #[serde(default)]
    pub origin_jaccard: f64,
    /// Estimated share of this article contained in the origin (1 for the origin itself).
    #[serde(default)]
    pub origin_containment: f64,
    /// Copies found, best first.
    pub matches: Vec<Match>,
    /// Jaccard of the best match (0 for a new story).
    pub best_jaccard: f64,
    /// Containment of the shorter in the longer for the best match.
    pub best_containment: f64,
    /// Lines of the article left out of matching as site chrome (normalized text).
    #[serde(default)]
    pub chrome_ignored: Vec<String>,
}

/// A member of a cluster, with its similarity to the cluster's origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Article id.
    pub id: String,
    /// Outlet.
    pub source: String,
    /// Publication time in Unix milliseconds, if known.
    pub published: Option<i64>,
    /// Estimated Jaccard to the origin.
    pub jaccard: f64,
    /// Estimated share of this member contained in the origin.
    pub containment: f64,
    /// New story for the origin; for a copy, the kind it was given when stored, or, if
    /// it started the story before an earlier-published copy arrived, its kind against
    /// the origin (duplicate when the scores against the origin alone do not decide).
    pub kind: CopyKind,
}

/// A story and every indexed copy of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    /// Cluster id.
    pub cluster_id: String,
    /// Earliest published member.
    pub origin_id: String,
    /// Members in origin order (earliest first).
    pub members: Vec<Member>,
}

/// Counters for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectorStats {
    /// Indexed articles.
    pub documents: usize,
    /// Stories (clusters, singletons included).
    pub clusters: usize,
    /// Approximate heap bytes of the index and signatures.
    pub heap_bytes: usize,
}
