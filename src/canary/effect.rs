//! The statistics of one comparison: Mann–Whitney with the Hodges–Lehmann shift and its 95 %
//! confidence interval for continuous metrics, the two-proportion z-test for rates. The tests
//! themselves are the statistics module's; this file only puts their numbers together.

use serde::Serialize;

use super::stats_shim as stats;

/// A continuous metric compared (candidate minus baseline).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shift {
    pub median_candidate: f64,
    pub median_baseline: f64,
    /// Median of the candidate minus median of the baseline.
    pub median_difference: f64,
    /// The Hodges–Lehmann estimate of the shift: the median of every pairwise difference.
    pub hodges_lehmann: f64,
    /// The shift's 95 % confidence interval (Moses, from the Mann–Whitney distribution).
    pub ci95: [f64; 2],
    /// Mann–Whitney U of the candidate.
    pub u: f64,
    /// Two-sided p-value (normal approximation, tie and continuity corrected, as scipy).
    pub p_value: f64,
}

/// A rate compared (candidate minus baseline).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateShift {
    pub rate_candidate: f64,
    pub rate_baseline: f64,
    pub difference: f64,
    /// The difference's 95 % Wald interval.
    pub ci95: [f64; 2],
    pub z: f64,
    /// Two-sided p-value of the pooled two-proportion z-test.
    pub p_value: f64,
}

/// Values per side above which the Hodges–Lehmann estimate and its interval are computed on an
/// evenly spaced (by rank) subsample: they read every pairwise difference, n × m of them.
pub const HL_MAX_PER_SIDE: usize = 2_000;

/// Compares two non-empty samples.
pub fn shift(candidate: &[f64], baseline: &[f64]) -> Shift {
    let (u, p_value) = stats::mann_whitney(candidate, baseline);
    let (hodges_lehmann, lo, hi) = stats::hodges_lehmann(
        &thin(candidate, HL_MAX_PER_SIDE),
        &thin(baseline, HL_MAX_PER_SIDE),
        0.95,
    );
    let median_candidate = stats::median(candidate);
    let median_baseline = stats::median(baseline);
    Shift {
        median_candidate,
        median_baseline,
        median_difference: median_candidate - median_baseline,
        hodges_lehmann,
        ci95: [lo, hi],
        u,
        p_value,
    }
}

impl Shift {
    /// The direction the candidate moved: positive when it tends to be higher.
    pub fn direction(&self, n_candidate: usize, n_baseline: usize) -> f64 {
        if self.hodges_lehmann != 0.0 {
            self.hodges_lehmann
        } else if self.median_difference != 0.0 {
            self.median_difference
        } else {
            self.u - (n_candidate * n_baseline) as f64 / 2.0
        }
    }
}

/// Compares `x_c` successes out of `n_c` with `x_b` out of `n_b` (both `n` positive).
pub fn rate_shift(x_c: u64, n_c: u64, x_b: u64, n_b: u64) -> RateShift {
    let (z, p_value) = stats::two_proportions(x_c, n_c, x_b, n_b);
    let (pc, pb) = (x_c as f64 / n_c as f64, x_b as f64 / n_b as f64);
    let se = (pc * (1.0 - pc) / n_c as f64 + pb * (1.0 - pb) / n_b as f64).sqrt();
    let d = pc - pb;
    RateShift {
        rate_candidate: pc,
        rate_baseline: pb,
        difference: d,
        ci95: [d - 1.959_963_984_540_054 * se, d + 1.959_963_984_540_054 * se],
        z,
        p_value,
    }
}

/// At most `max` values of `x`, sorted, evenly spaced by rank (all of them when there are fewer).
fn thin(x: &[f64], max: usize) -> Vec<f64> {
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    if v.len() <= max {
        return v;
    }
    let step = v.len() as f64 / max as f64;
    (0..max)
        .map(|i| v[((i as f64 + 0.5) * step) as usize])
        .collect()
}
