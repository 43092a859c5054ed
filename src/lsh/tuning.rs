//! Choosing bands and rows for a similarity threshold. The S-curve of `b` bands of `r`
//! rows, `1 - (1 - s^r)^b`, should rise at the threshold; the choice that minimises the
//! false-positive mass below it plus the false-negative mass above it is found by
//! trying every split of the signature.

/// Bands and rows minimising the equal-weighted false-positive plus false-negative
/// probability mass around `threshold` (the integral datasketch and MMDS 3.4 use).
pub fn optimal_bands(threshold: f64, num_perm: usize) -> (usize, usize) {
    fn integrate(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
        const STEPS: usize = 200;
        let step = (hi - lo) / STEPS as f64;
        (0..STEPS).map(|i| f(lo + (i as f64 + 0.5) * step)).sum::<f64>() * step
    }
    let threshold = threshold.clamp(0.0, 1.0);
    let mut best = (f64::INFINITY, 1, num_perm.max(1));
    for bands in 1..=num_perm {
        for rows in 1..=(num_perm / bands).min(32) {
            let p = |s: f64| 1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32);
            let false_pos = integrate(p, 0.0, threshold);
            let false_neg = integrate(|s| 1.0 - p(s), threshold, 1.0);
            let error = 0.5 * false_pos + 0.5 * false_neg;
            if error < best.0 {
                best = (error, bands, rows);
            }
        }
    }
    (best.1, best.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_match_datasketch() {
        // Values of datasketch's _optimal_param for 128 permutations.
        assert_eq!(optimal_bands(0.5, 128), (25, 5));
        assert_eq!(optimal_bands(0.3, 128), (37, 3));
    }
}
