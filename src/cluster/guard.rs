//! Linking documents into stories under the chaining guard, and naming each story's
//! origin. Links come strongest first; a link between two clusters merges them only
//! when the clusters themselves are related (their origins, or enough of their earliest
//! members), so one article that quotes another story cannot glue two stories together.

use crate::lsh::Slot;

use super::similarity::{Similarity, origin_key};
use super::union_find::UnionFind;
use super::verify::Verifier;

/// One document's place in a batch clustering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment {
    /// Index of the cluster's origin document (the cluster is named after it).
    pub origin: usize,
    /// Similarity of this document to the origin (1.0 for the origin itself).
    pub to_origin: Similarity,
    /// The strongest accepted link touching this document: the other document and the
    /// similarity of this one to it. `None` for a document alone in its cluster.
    pub link: Option<(usize, Similarity)>,
}

/// A verified copy link between two documents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Link {
    /// One document.
    pub(crate) a: Slot,
    /// The other.
    pub(crate) b: Slot,
    /// Similarity of `a` to `b`.
    pub(crate) similarity: Similarity,
}

/// The order in which [`assign_clusters`] takes links: strongest first (Jaccard, then
/// containment), ties by document.
pub(crate) fn link_order(x: &Link, y: &Link) -> std::cmp::Ordering {
    x.similarity.rank(&y.similarity).then(x.a.cmp(&y.a)).then(x.b.cmp(&y.b))
}

/// Clusters documents from verified links and names each cluster by its origin: the
/// member with the smallest [`origin_key`].
///
/// Links are taken strongest first ([`link_order`]). A link whose ends are already in
/// one cluster changes nothing. Otherwise the chaining guard decides: two clusters merge
/// when their origins are related, or else when at least `merge_support` of the pairs
/// between their earliest `support_sample` members are ("related": containment of the
/// shorter in the longer at least `support_containment`). Two single documents merge
/// on their link alone; a cluster of many copies does not merge with another story
/// because one member of it quotes that story.
///
/// `to_origin` is left at 1.0; [`assign_clusters`] fills it in.
pub(crate) fn cluster_links(
    verifier: &Verifier<'_>,
    published: &[Option<i64>],
    mut links: Vec<Link>,
) -> Vec<Assignment> {
    // Stable and adaptive: linear when the caller sorted already.
    links.sort_by(link_order);
    let mut clusterer = Clusterer::new(verifier, published);
    for link in links {
        clusterer.offer(link);
    }
    clusterer.finish()
}

/// Links taken one at a time, strongest first (Jaccard, then containment of the
/// shorter, ties by documents), for callers that produce links in that order lazily: [`Clusterer::joined`] lets them skip the verification of a
/// pair whose documents are already in one cluster (taking such a link changes nothing).
#[derive(Debug)]
pub(crate) struct Clusterer<'v, 'a> {
    verifier: &'v Verifier<'a>,
    published: &'v [Option<i64>],
    sets: UnionFind,
    /// Per root of a cluster of two or more: its earliest members, at most
    /// `support_sample`, in origin order. Empty for a single document (whose sample is
    /// itself), so that a million singletons cost no allocation.
    samples: Vec<Vec<u32>>,
    link_of: Vec<Option<(usize, Similarity)>>,
    /// Per root: the merge that last changed its sample (0: never). With the root it
    /// names a sample exactly, so a refused merge can be remembered.
    changed: Vec<u32>,
    merges: u32,
    /// Cluster pairs (root and `changed` of each, in the order asked) the chaining guard
    /// refused: the guard's answer depends on the two samples only, and between two big
    /// stories that quote each other every cross link would ask again.
    refused: std::collections::HashSet<u128>,
}

impl<'v, 'a> Clusterer<'v, 'a> {
    /// Every document of `verifier` alone in its cluster.
    pub(crate) fn new(verifier: &'v Verifier<'a>, published: &'v [Option<i64>]) -> Self {
        let n = verifier.len();
        debug_assert_eq!(published.len(), n);
        Clusterer {
            verifier,
            published,
            sets: UnionFind::new(n),
            samples: vec![Vec::new(); n],
            link_of: vec![None; n],
            changed: vec![0; n],
            merges: 0,
            refused: std::collections::HashSet::new(),
        }
    }

    /// True when `a` and `b` are in one cluster already.
    pub(crate) fn joined(&mut self, a: Slot, b: Slot) -> bool {
        self.sets.find(a) == self.sets.find(b)
    }

    /// [`Clusterer::joined`] through a shared reference (no path shortening), so that
    /// many threads can check links ahead of their turn.
    pub(crate) fn joined_now(&self, a: Slot, b: Slot) -> bool {
        self.sets.root(a) == self.sets.root(b)
    }

    fn sample(&self, root: u32) -> &[u32] {
        let sample = &self.samples[root as usize];
        if sample.is_empty() {
            // A singleton's root is the document itself.
            std::slice::from_ref(&self.sets.parent[root as usize])
        } else {
            sample
        }
    }

    /// Takes the next link; links must come strongest first (see [`Clusterer`]).
    pub(crate) fn offer(&mut self, link: Link) {
        let config = self.verifier.config();
        let (ra, rb) = (self.sets.find(link.a), self.sets.find(link.b));
        if ra == rb {
            return;
        }
        let (sa, sb) = (self.sample(ra), self.sample(rb));
        let guarded = config.merge_support > 0.0 && (sa.len() > 1 || sb.len() > 1);
        if guarded {
            let name = |root: u32| u128::from(root) << 32 | u128::from(self.changed[root as usize]);
            let pair = name(ra) << 64 | name(rb);
            if self.refused.contains(&pair) {
                return;
            }
            if !supported(self.verifier, sa, sb) {
                self.refused.insert(pair);
                return;
            }
        }
        let published = self.published;
        let key = |doc: u32| origin_key(published[doc as usize], doc as usize);
        // Both samples are in origin order: merge them, keeping the earliest.
        let keep = config.support_sample.min(sa.len() + sb.len());
        let mut merged: Vec<u32> = Vec::with_capacity(keep);
        let (mut i, mut j) = (0, 0);
        while merged.len() < keep {
            let take_left = j == sb.len() || (i < sa.len() && key(sa[i]) < key(sb[j]));
            if take_left {
                merged.push(sa[i]);
                i += 1;
            } else {
                merged.push(sb[j]);
                j += 1;
            }
        }
        self.sets.union(ra, rb);
        let root = self.sets.find(ra) as usize;
        self.samples[ra as usize] = Vec::new();
        self.samples[rb as usize] = Vec::new();
        self.samples[root] = merged;
        self.merges += 1;
        self.changed[root] = self.merges;
        self.link_of[link.a as usize].get_or_insert((link.b as usize, link.similarity));
        self.link_of[link.b as usize].get_or_insert((link.a as usize, link.similarity.reversed()));
    }

    /// Each document's cluster origin and strongest accepted link; `to_origin` is left
    /// at 1.0 for [`Assignment::fill_to_origin`].
    pub(crate) fn finish(mut self) -> Vec<Assignment> {
        let n = self.verifier.len();
        (0..n)
            .map(|doc| {
                let root = self.sets.find(doc as u32);
                let origin = self.sample(root)[0] as usize;
                Assignment { origin, to_origin: IDENTICAL, link: self.link_of[doc] }
            })
            .collect()
    }
}

const IDENTICAL: Similarity = Similarity { jaccard: 1.0, containment: 1.0, containment_rev: 1.0 };

impl Assignment {
    /// Sets `to_origin` for document `doc`.
    pub(crate) fn fill_to_origin(&mut self, verifier: &Verifier<'_>, doc: usize) {
        self.to_origin = if self.origin == doc {
            IDENTICAL
        } else {
            verifier.similarity(doc as u32, self.origin as u32)
        };
    }
}

#[cfg(test)]
/// [`cluster_links`] and each document's similarity to its origin.
pub(crate) fn assign_clusters(
    verifier: &Verifier<'_>,
    published: &[Option<i64>],
    links: Vec<Link>,
) -> Vec<Assignment> {
    let mut assignments = cluster_links(verifier, published, links);
    for (doc, assignment) in assignments.iter_mut().enumerate() {
        assignment.fill_to_origin(verifier, doc);
    }
    assignments
}

/// The chaining guard's test (`left` and `right` are cluster samples, origin first): are
/// the origins related, or else at least `merge_support` of the pairs between `left` and
/// `right`? Stops as soon as the answer is known.
fn supported(verifier: &Verifier<'_>, left: &[u32], right: &[u32]) -> bool {
    let config = verifier.config();
    let related = |x: u32, y: u32| {
        verifier.similarity(x, y).containment_of_shorter() >= config.support_containment
    };
    if related(left[0], right[0]) {
        return true;
    }
    let pairs = left.len() * right.len();
    let needed = (config.merge_support * pairs as f64).ceil() as usize;
    // The origin pair was the first one tried, and failed.
    let (mut hits, mut misses) = (0, 1);
    for (i, &x) in left.iter().enumerate() {
        for (j, &y) in right.iter().enumerate() {
            if i == 0 && j == 0 {
                continue;
            }
            if related(x, y) {
                hits += 1;
            } else {
                misses += 1;
            }
            if hits >= needed {
                return true;
            }
            if pairs - misses < needed {
                return false;
            }
        }
    }
    hits >= needed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::verify::flatten;
    use crate::config::DetectorConfig;
    use crate::fingerprint::Fingerprint;

    #[test]
    fn chaining_guard_keeps_a_quoted_story_out() {
        use crate::fingerprint::Fingerprinter;
        let story = "The finance ministry said on Monday that tax revenue rose for the third quarter \
            in a row, helped by higher fuel duties and a recovery in corporate profits, and officials \
            expect the budget deficit to narrow to two percent of output next year.";
        let quoted = "Heavy rain flooded hundreds of homes in the northern valley overnight, and rescue \
            teams used boats to reach families stranded on rooftops while the river kept rising.";
        let quoting = format!("{story}\n{quoted}");
        let texts = [story, story, quoting.as_str(), quoted];
        for (merge_support, glued) in
            [(DetectorConfig::default().merge_support, false), (0.0, true)]
        {
            let config = DetectorConfig { merge_support, ..DetectorConfig::default() };
            let fingerprinter = Fingerprinter::new(config.clone()).unwrap();
            let prints: Vec<Fingerprint> =
                texts.iter().map(|t| fingerprinter.fingerprint(t).unwrap()).collect();
            let (lanes, sizes) = flatten(&prints);
            let narrowed = crate::minhash::narrow(&lanes);
            let verifier = Verifier::new(&config, &narrowed, &sizes, None);
            let mut links = Vec::new();
            for a in 0..4u32 {
                for b in 0..a {
                    let similarity = verifier.similarity(a, b);
                    if similarity.copy_kind(&config).is_some() {
                        links.push(Link { a, b, similarity });
                    }
                }
            }
            // The quoted article's only link is to the quoting copy.
            assert_eq!(links.iter().filter(|l| l.a == 3).count(), 1, "{links:?}");
            let published = [Some(1), Some(2), Some(3), Some(4)];
            let assignments = assign_clusters(&verifier, &published, links);
            assert_eq!(assignments[1].origin, 0);
            assert_eq!(assignments[2].origin, 0);
            assert_eq!(assignments[3].origin == 0, glued, "merge_support {merge_support}");
        }
    }
}
