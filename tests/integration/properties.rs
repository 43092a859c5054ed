//! Exact laws of the pipeline, checked against independent truth (exact Jaccard from
//! sets) on random inputs.

use std::collections::{BTreeSet, HashMap};

use neardup::DetectorConfig;
use neardup::cluster::Similarity;
use neardup::cluster::cluster_fingerprints;
use neardup::fingerprint::Fingerprinter;
use neardup::lsh::LshIndex;
use neardup::minhash::MinHasher;
use proptest::prelude::*;

/// splitmix64: a fixed generator so the statistical test is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn estimated_jaccard_is_within_four_sigma_of_exact() {
    const K: usize = 128;
    const PAIRS: usize = 2000;
    let hasher = MinHasher::new(K, neardup::config::DEFAULT_SEED);
    let mut rng = Rng(2026);
    let mut within = 0;
    for _ in 0..PAIRS {
        // Random sizes and overlap: shared part plus private parts, over hashes that look
        // like gxhash outputs (uniform u64) as well as small structured integers.
        let shared = rng.below(400) as usize;
        let only_a = rng.below(400) as usize + usize::from(shared == 0);
        let only_b = rng.below(400) as usize;
        let structured = rng.below(2) == 0;
        let draw = |rng: &mut Rng| if structured { rng.below(1 << 20) } else { rng.next() };
        let common: BTreeSet<u64> = (0..shared).map(|_| draw(&mut rng)).collect();
        let mut a = common.clone();
        let mut b = common;
        a.extend((0..only_a).map(|_| draw(&mut rng)));
        b.extend((0..only_b).map(|_| draw(&mut rng)));
        let exact = a.intersection(&b).count() as f64 / a.union(&b).count() as f64;
        let a: Vec<u64> = a.into_iter().collect();
        let b: Vec<u64> = b.into_iter().collect();
        let estimate = hasher.signature(&a).jaccard(&hasher.signature(&b));
        let sigma = (exact * (1.0 - exact) / K as f64).sqrt();
        if (estimate - exact).abs() <= 4.0 * sigma + 1e-12 {
            within += 1;
        }
    }
    let share = within as f64 / PAIRS as f64;
    assert!(share >= 0.99, "only {share:.4} of estimates within 4 sigma");
}

fn words() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z]{1,8}", 1..80)
}

proptest! {
    #[test]
    fn signature_ignores_order_and_repeats(mut hashes in prop::collection::vec(any::<u64>(), 1..300), seed in any::<u64>()) {
        let hasher = MinHasher::new(64, seed);
        let reference = hasher.signature(&hashes);
        hashes.reverse();
        let repeated: Vec<u64> = hashes.iter().chain(hashes.iter().step_by(3)).copied().collect();
        prop_assert_eq!(&hasher.signature(&repeated), &reference);
    }

    #[test]
    fn identical_texts_score_one(words in words()) {
        let fingerprinter = Fingerprinter::new(DetectorConfig::default()).unwrap();
        let text = words.join(" ");
        let a = fingerprinter.fingerprint(&text).unwrap();
        let b = fingerprinter.fingerprint(&format!("  {}\n", text.to_uppercase())).unwrap();
        let similarity = Similarity::between(&a, &b);
        prop_assert_eq!(similarity.jaccard, 1.0);
        prop_assert_eq!(similarity.containment, 1.0);
    }

    #[test]
    fn an_indexed_document_finds_itself(texts in prop::collection::vec(words(), 1..20), pick in any::<prop::sample::Index>()) {
        let config = DetectorConfig::default();
        let fingerprinter = Fingerprinter::new(config.clone()).unwrap();
        let mut index = LshIndex::new(config.bands, config.rows, config.seed);
        let fingerprints: Vec<_> = texts.iter().map(|w| fingerprinter.fingerprint(&w.join(" ")).unwrap()).collect();
        for (slot, fp) in fingerprints.iter().enumerate() {
            index.insert(slot as u32, fp.signature.lanes());
        }
        let me = pick.index(fingerprints.len());
        prop_assert!(index.candidates(fingerprints[me].signature.lanes()).contains(&(me as u32)));
    }

    #[test]
    fn clusters_do_not_depend_on_input_order(seed in any::<u64>()) {
        let config = DetectorConfig::default();
        let fingerprinter = Fingerprinter::new(config.clone()).unwrap();
        let docs = story_family(seed);
        let mut order: Vec<usize> = (0..docs.len()).collect();
        let mut rng = Rng(seed);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let partition = |order: &[usize]| -> BTreeSet<BTreeSet<usize>> {
            let fps: Vec<_> = order.iter().map(|&d| fingerprinter.fingerprint(&docs[d]).unwrap()).collect();
            let assignments = cluster_fingerprints(&config, &fps, None, &vec![None; fps.len()]);
            let mut groups: HashMap<usize, BTreeSet<usize>> = HashMap::new();
            for (position, assignment) in assignments.iter().enumerate() {
                groups.entry(assignment.origin).or_default().insert(order[position]);
            }
            groups.into_values().collect()
        };
        let identity: Vec<usize> = (0..docs.len()).collect();
        prop_assert_eq!(partition(&identity), partition(&order));
    }
}

/// A few stories, each with edited copies (chrome, dropped sentences, typos), all built
/// from random words so stories share no text.
fn story_family(seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    let mut docs = Vec::new();
    for _ in 0..4 {
        let sentences: Vec<String> = (0..8)
            .map(|_| (0..12).map(|_| format!("w{}", rng.below(5000))).collect::<Vec<_>>().join(" "))
            .collect();
        docs.push(sentences.join(". "));
        for copy in 0..3 {
            let mut edited = sentences.clone();
            edited.remove(rng.below(edited.len() as u64) as usize);
            if copy == 1 {
                edited.insert(0, "Home » News » Subscribe to our channel".into());
            }
            docs.push(edited.join(". "));
        }
    }
    docs
}
