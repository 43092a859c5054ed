//! Scoring a clustering against ground truth: pairwise precision, recall and F1, the
//! adjusted Rand index and origin accuracy. Definitions match
//! `shared/data/tools/score.py` (documents missing from the prediction are singletons,
//! documents only in the prediction are ignored).

use std::collections::HashMap;

use serde::Serialize;

/// One document's label: its cluster and optionally the origin it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Cluster name.
    pub cluster: String,
    /// Origin document id, if given.
    pub origin: Option<String>,
}

/// Agreement of a prediction with the truth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    /// Documents in the truth.
    pub docs: usize,
    /// True clusters.
    pub true_clusters: usize,
    /// Predicted clusters (over the truth's documents).
    pub pred_clusters: usize,
    /// Share of predicted same-cluster pairs that are truly together.
    pub precision: f64,
    /// Share of true same-cluster pairs that were predicted together.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Adjusted Rand index.
    pub ari: f64,
    /// Among documents of true multi-member clusters whose prediction names an origin,
    /// the share naming the true origin. `None` when either side lacks origins.
    pub origin_accuracy: Option<f64>,
    /// Truth documents absent from the prediction.
    pub missing: usize,
}

fn pairs(n: usize) -> f64 {
    (n as f64) * (n as f64 - 1.0) / 2.0
}

/// Scores `pred` against `truth`; both map document id to label.
pub fn score(truth: &[(String, Label)], pred: &HashMap<String, Label>) -> Scores {
    #[derive(PartialEq, Eq, Hash, Clone)]
    enum Pred<'a> {
        Cluster(&'a str),
        Single(&'a str),
    }
    let mut joint: HashMap<(&str, Pred<'_>), usize> = HashMap::new();
    let mut true_sizes: HashMap<&str, usize> = HashMap::new();
    let mut pred_sizes: HashMap<Pred<'_>, usize> = HashMap::new();
    let mut missing = 0;
    for (id, label) in truth {
        let p = match pred.get(id.as_str()) {
            Some(l) => Pred::Cluster(&l.cluster),
            None => {
                missing += 1;
                Pred::Single(id)
            }
        };
        *joint.entry((&label.cluster, p.clone())).or_default() += 1;
        *true_sizes.entry(&label.cluster).or_default() += 1;
        *pred_sizes.entry(p).or_default() += 1;
    }
    let tp: f64 = joint.values().map(|&n| pairs(n)).sum();
    let true_pairs: f64 = true_sizes.values().map(|&n| pairs(n)).sum();
    let pred_pairs: f64 = pred_sizes.values().map(|&n| pairs(n)).sum();
    let precision = if pred_pairs > 0.0 { tp / pred_pairs } else { 1.0 };
    let recall = if true_pairs > 0.0 { tp / true_pairs } else { 1.0 };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let total = pairs(truth.len());
    let expected = if total > 0.0 { true_pairs * pred_pairs / total } else { 0.0 };
    let max_index = (true_pairs + pred_pairs) / 2.0;
    let ari = if max_index != expected { (tp - expected) / (max_index - expected) } else { 1.0 };

    let origin_accuracy = if truth.iter().all(|(_, l)| l.origin.is_some()) {
        let (mut ok, mut n) = (0usize, 0usize);
        for (id, label) in truth {
            let Some(named) = pred.get(id.as_str()).and_then(|l| l.origin.as_deref()) else {
                continue;
            };
            if true_sizes[label.cluster.as_str()] > 1 {
                n += 1;
                ok += usize::from(Some(named) == label.origin.as_deref());
            }
        }
        (n > 0).then(|| ok as f64 / n as f64)
    } else {
        None
    };
    Scores {
        docs: truth.len(),
        true_clusters: true_sizes.len(),
        pred_clusters: pred_sizes.len(),
        precision,
        recall,
        f1,
        ari,
        origin_accuracy,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(rows: &[(&str, &str)]) -> Vec<(String, Label)> {
        rows.iter()
            .map(|(id, c)| (id.to_string(), Label { cluster: c.to_string(), origin: None }))
            .collect()
    }

    #[test]
    fn perfect_and_all_singletons() {
        let truth = labels(&[("a", "x"), ("b", "x"), ("c", "y")]);
        let perfect: HashMap<_, _> =
            labels(&[("a", "1"), ("b", "1"), ("c", "2")]).into_iter().collect();
        let s = score(&truth, &perfect);
        assert_eq!((s.precision, s.recall, s.f1, s.ari), (1.0, 1.0, 1.0, 1.0));
        let none = score(&truth, &HashMap::new());
        assert_eq!((none.precision, none.recall, none.missing), (1.0, 0.0, 3));
    }

    #[test]
    fn hand_computed_case() {
        // truth {a,b,c} {d}; pred {a,b} {c,d}: tp 1, true pairs 3, pred pairs 2.
        let truth = labels(&[("a", "x"), ("b", "x"), ("c", "x"), ("d", "y")]);
        let pred: HashMap<_, _> =
            labels(&[("a", "1"), ("b", "1"), ("c", "2"), ("d", "2")]).into_iter().collect();
        let s = score(&truth, &pred);
        assert!((s.precision - 0.5).abs() < 1e-12);
        assert!((s.recall - 1.0 / 3.0).abs() < 1e-12);
        // expected = 3 * 2 / 6 = 1, max = 2.5: ari = 0 / 1.5
        assert!(s.ari.abs() < 1e-12);
    }
}
