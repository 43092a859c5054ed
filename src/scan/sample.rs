//! Which records a scan learns chrome from. A corpus within [`WHOLE`] is learned from
//! whole, in the one pass that also keeps each article's normalized text for signing,
//! so nothing is read twice and the model is the whole corpus's. A larger corpus is
//! learned from a sample first: runs of [`RUN`] consecutive records (contiguous pages
//! of the input) at evenly spaced places, so outlets and dates spread through the
//! input are all met, and the full pass then reads, normalizes and signs each record
//! once. Keeping every normalized text instead would cost about as much memory as the
//! input itself.
//!
//! The sample is the [`SAMPLE`] budget, but at least 1/[`MIN_SHARE`] of a large
//! corpus (so the evidence grows with it) and at most half of a corpus just above
//! [`WHOLE`] (so the sample pass stays cheaper than the full one).
//!
//! The chrome thresholds (`min_docs_per_source`, `min_docs_global`) are not scaled
//! down for a sample: they count documents that confirm a line is page furniture, and
//! a sampled document confirms it as well as any; lower thresholds would make chance
//! repeats (two articles of an outlet quoting one line) chrome. What a sample misses
//! is the chrome of an outlet with too few articles in it, whose lines then stay in
//! its fingerprints, as they do for any outlet with fewer articles than the threshold.

use std::ops::Range;

/// How many records, and how many of their bytes, some part of a scan may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Budget {
    /// Records.
    pub docs: usize,
    /// Input bytes (each record with its line end).
    pub bytes: u64,
}

/// A corpus within this budget is learned from whole, keeping its normalized texts
/// between learning and signing (about 1.5 times the input bytes).
pub(super) const WHOLE: Budget = Budget { docs: 1 << 16, bytes: 64 << 20 };

/// The chrome sample of a larger corpus: enough documents for the thresholds to be met
/// by every outlet with a few hundred articles in a million, and well under a tenth of
/// a million-article pass.
pub(super) const SAMPLE: Budget = Budget { docs: 1 << 16, bytes: 128 << 20 };

/// A sample is at least this fraction (1/`MIN_SHARE`) of the corpus.
pub(super) const MIN_SHARE: usize = 32;

/// Consecutive records per sampled run: long enough that a run reads whole pages
/// (about 128 KiB of news articles), short enough that a million-article corpus is met
/// at a thousand places, so an outlet whose articles sit together is still sampled.
pub(super) const RUN: usize = 64;

/// What a scan learns chrome from: a pure function of the number of records and their
/// bytes, so that a runner that counts line keys elsewhere can learn from the same ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChromeSample {
    /// Every record, in the pass that signs them.
    Whole,
    /// These runs of records (indices into the units, ascending and disjoint), in a
    /// pass of their own.
    Runs(Vec<Range<usize>>),
}

impl ChromeSample {
    /// What a scan of `records` records of `bytes` input bytes in all (each with its
    /// line end; for Parquet, the text column's bytes) learns chrome from.
    pub fn of(records: usize, bytes: u64) -> ChromeSample {
        ChromeSample::choose(records, bytes, WHOLE, SAMPLE)
    }

    /// Whether record `record` (0-based, in input order) is learned from.
    pub fn includes(&self, record: usize) -> bool {
        match self {
            ChromeSample::Whole => true,
            ChromeSample::Runs(runs) => {
                let after = runs.partition_point(|run| run.start <= record);
                after > 0 && runs[after - 1].contains(&record)
            }
        }
    }

    /// [`ChromeSample::of`] under `whole` and `sample` budgets.
    pub(super) fn choose(n: usize, total: u64, whole: Budget, sample: Budget) -> ChromeSample {
        if n <= whole.docs && total <= whole.bytes {
            return ChromeSample::Whole;
        }
        let docs = sample.docs.max(n / MIN_SHARE);
        let bytes = sample.bytes.max(total / MIN_SHARE as u64);
        // Records to take: the document budget, or fewer when the byte budget (applied to
        // the average record) is the tighter one.
        let by_bytes = (u128::from(bytes) * n as u128 / u128::from(total.max(1))) as usize;
        let take = docs.min(by_bytes).min(n / 2).max(1);
        let runs = take.div_ceil(RUN);
        // Run `k` starts at `k * n / runs` and takes its share of `take`; with `take` at
        // most half of `n`, runs never reach the next one's start.
        let ranges = (0..runs)
            .map(|k| {
                let start = k * n / runs;
                let len = (k + 1) * take / runs - k * take / runs;
                let next = (k + 1) * n / runs;
                start..(start + len).min(next)
            })
            .filter(|run| !run.is_empty())
            .collect();
        ChromeSample::Runs(ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample of `n` records of `len` bytes each (plus the line end).
    fn choose(n: usize, len: u64, whole: Budget, sample: Budget) -> ChromeSample {
        ChromeSample::choose(n, n as u64 * (len + 1), whole, sample)
    }

    fn runs(sample: ChromeSample) -> Vec<Range<usize>> {
        match sample {
            ChromeSample::Runs(runs) => runs,
            ChromeSample::Whole => panic!("expected a sample"),
        }
    }

    fn taken(runs: &[Range<usize>]) -> usize {
        runs.iter().map(|run| run.len()).sum()
    }

    const SMALL: Budget = Budget { docs: 100, bytes: 10_000 };

    #[test]
    fn a_corpus_within_the_whole_budget_is_learned_whole() {
        assert_eq!(choose(100, 99, SMALL, SMALL), ChromeSample::Whole);
        assert_eq!(choose(0, 0, SMALL, SMALL), ChromeSample::Whole);
        assert!(matches!(choose(101, 10, SMALL, SMALL), ChromeSample::Runs(_)));
        assert!(matches!(choose(100, 100, SMALL, SMALL), ChromeSample::Runs(_)));
    }

    #[test]
    fn runs_are_ordered_disjoint_and_spread_over_the_whole_corpus() {
        for n in [WHOLE.docs + 1, 100_003, 1_027_560, 5_000_000] {
            let sample = choose(n, 10, WHOLE, SAMPLE);
            let included = (0..n).filter(|&record| sample.includes(record)).count();
            let runs = runs(sample);
            assert_eq!(included, taken(&runs), "n {n}");
            let sample = ChromeSample::Runs(runs.clone());
            for run in &runs {
                assert!(sample.includes(run.start) && sample.includes(run.end - 1), "n {n}");
                assert!(
                    !sample.includes(run.end)
                        && (run.start == 0 || !sample.includes(run.start - 1))
                );
            }
            assert!(runs.windows(2).all(|w| w[0].end <= w[1].start), "n {n}");
            assert!(runs.iter().all(|run| run.len() <= RUN && run.end <= n), "n {n}");
            // Evenly spaced: the first run starts the corpus, the gaps between run
            // starts differ by at most one record, and so does the one after the last.
            assert_eq!(runs[0].start, 0);
            let gaps: Vec<usize> = runs.windows(2).map(|w| w[1].start - w[0].start).collect();
            let (low, high) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
            assert!(high - low <= 1, "n {n}: gaps {low}..{high}");
            assert!(n - runs.last().unwrap().start <= high + 1, "n {n}");
        }
    }

    #[test]
    fn the_sample_keeps_to_its_budget_and_share() {
        // Short records: the document budget decides.
        assert_eq!(taken(&runs(choose(1_000_000, 100, WHOLE, SAMPLE))), SAMPLE.docs);
        // Long records: the byte budget decides.
        let sample = runs(choose(200_000, 3999, WHOLE, SAMPLE));
        let bytes = taken(&sample) as u64 * 4000;
        assert!(bytes <= SAMPLE.bytes && bytes + 4000 * RUN as u64 > SAMPLE.bytes, "{bytes}");
        // A very large corpus: at least 1/MIN_SHARE of it.
        assert_eq!(taken(&runs(choose(8_000_000, 10, WHOLE, SAMPLE))), 250_000);
        // Just above the whole budget: at most half.
        assert_eq!(taken(&runs(choose(WHOLE.docs + 2, 10, WHOLE, SAMPLE))), (WHOLE.docs + 2) / 2);
        // The budgets scans use.
        assert_eq!(ChromeSample::of(1_000_000, 101_000_000), choose(1_000_000, 100, WHOLE, SAMPLE));
    }

    #[test]
    fn every_outlet_of_a_corpus_sorted_by_outlet_is_sampled() {
        // A million records grouped by outlet (as a directory of per-outlet files
        // reads), 400 outlets of 2,500: the runs are about a thousand records apart,
        // so every outlet gets whole runs of its own records, more than the chrome
        // thresholds need.
        let (outlets, per_outlet) = (400, 2500);
        let runs = runs(choose(outlets * per_outlet, 10, WHOLE, SAMPLE));
        let mut sampled = vec![0usize; outlets];
        for run in &runs {
            for record in run.clone() {
                sampled[record / per_outlet] += 1;
            }
        }
        let fewest = sampled.iter().min().unwrap();
        assert!(*fewest >= 2 * RUN, "an outlet got only {fewest} sampled records");
    }
}
