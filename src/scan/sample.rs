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

use super::{Unit, batch_bytes};

/// How many records, and how many of their bytes, some part of a scan may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Budget {
    /// Records.
    pub docs: usize,
    /// Input bytes (each record with its line end, as [`batch_bytes`] counts them).
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

/// What chrome is learned from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ChromeSample {
    /// Every record, in the pass that signs them.
    Whole,
    /// These runs of records (indices into the units, ascending and disjoint), in a
    /// pass of their own.
    Runs(Vec<Range<usize>>),
}

impl ChromeSample {
    /// Chooses what to learn chrome from among `units` (every record of the scan, in
    /// order), under `whole` and `sample` budgets.
    pub(super) fn choose(units: &[Unit<'_>], whole: Budget, sample: Budget) -> ChromeSample {
        let n = units.len();
        let total = batch_bytes(units);
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
    use crate::scan::input::Span;

    /// `n` records of `len` bytes each (plus the line end), over one shared buffer.
    fn units(buffer: &[u8], n: usize, len: usize) -> Vec<Unit<'_>> {
        (0..n).map(|i| (0, Span { line: i + 1, bytes: &buffer[..len] })).collect()
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
        let buffer = vec![b'x'; 100];
        let at_bound = units(&buffer, 100, 99);
        assert_eq!(ChromeSample::choose(&at_bound, SMALL, SMALL), ChromeSample::Whole);
        assert_eq!(ChromeSample::choose(&[], SMALL, SMALL), ChromeSample::Whole);
        let one_more = units(&buffer, 101, 10);
        assert!(matches!(ChromeSample::choose(&one_more, SMALL, SMALL), ChromeSample::Runs(_)));
        let longer = units(&buffer, 100, 99 + 1);
        assert!(matches!(ChromeSample::choose(&longer, SMALL, SMALL), ChromeSample::Runs(_)));
    }

    #[test]
    fn runs_are_ordered_disjoint_and_spread_over_the_whole_corpus() {
        let buffer = vec![b'x'; 10];
        for n in [WHOLE.docs + 1, 100_003, 1_027_560, 5_000_000] {
            let units = units(&buffer, n, 10);
            let runs = runs(ChromeSample::choose(&units, WHOLE, SAMPLE));
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
        let buffer = vec![b'x'; 4000];
        // Short records: the document budget decides.
        let short = units(&buffer, 1_000_000, 100);
        assert_eq!(taken(&runs(ChromeSample::choose(&short, WHOLE, SAMPLE))), SAMPLE.docs);
        // Long records: the byte budget decides.
        let long = units(&buffer, 200_000, 3999);
        let sample = runs(ChromeSample::choose(&long, WHOLE, SAMPLE));
        let bytes = taken(&sample) as u64 * 4000;
        assert!(bytes <= SAMPLE.bytes && bytes + 4000 * RUN as u64 > SAMPLE.bytes, "{bytes}");
        // A very large corpus: at least 1/MIN_SHARE of it.
        let huge = units(&buffer, 8_000_000, 10);
        assert_eq!(taken(&runs(ChromeSample::choose(&huge, WHOLE, SAMPLE))), 250_000);
        // Just above the whole budget: at most half.
        let near = units(&buffer, WHOLE.docs + 2, 10);
        assert_eq!(taken(&runs(ChromeSample::choose(&near, WHOLE, SAMPLE))), (WHOLE.docs + 2) / 2);
    }

    #[test]
    fn every_outlet_of_a_corpus_sorted_by_outlet_is_sampled() {
        // A million records grouped by outlet (as a directory of per-outlet files
        // reads), 400 outlets of 2,500: the runs are about a thousand records apart,
        // so every outlet gets whole runs of its own records, more than the chrome
        // thresholds need.
        let buffer = vec![b'x'; 10];
        let (outlets, per_outlet) = (400, 2500);
        let units = units(&buffer, outlets * per_outlet, 10);
        let runs = runs(ChromeSample::choose(&units, WHOLE, SAMPLE));
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
