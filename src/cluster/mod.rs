//! From signatures to stories: the similarity of two fingerprints and the copy kind it
//! implies ([`similarity`](CopyKind)), verification of candidate pairs with sampled
//! containment, union-find and the chaining guard that links documents strongest first
//! and names each story's origin (earliest published, then earliest seen), and the
//! batch linking the scan runs over sorted LSH buckets.

#[cfg(feature = "scan")]
mod candidates;
#[cfg(feature = "scan")]
mod collapse;
#[cfg(feature = "scan")]
mod guard;
#[cfg(feature = "scan")]
mod link;
mod sample;
mod similarity;
#[cfg(feature = "scan")]
pub mod stages;
#[cfg(feature = "scan")]
mod union_find;
#[cfg(feature = "scan")]
mod verify;

#[cfg(feature = "scan")]
pub use guard::Assignment;
#[cfg(feature = "scan")]
pub use link::cluster_fingerprints;
#[cfg(feature = "scan")]
pub(crate) use link::{cluster_signatures, representatives};
#[cfg(feature = "scan")]
pub(crate) use sample::SampledContainment;
pub use sample::ShingleSample;
#[cfg(feature = "scan")]
pub(crate) use sample::ShingleSets;
pub use sample::{
    MAX_SKETCH, shingle_sketch, sketch_in_sketch, sketch_keys_containment, sketch_of_hashes,
};
pub(crate) use sample::{decode_sketch, encode_sketch, needs_sampling};
pub(crate) use similarity::origin_key;
pub use similarity::{CopyKind, Similarity};
