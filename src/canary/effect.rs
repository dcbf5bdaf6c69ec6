//! The statistics of one comparison: Mann–Whitney with the Hodges–Lehmann shift and its 95 %
//! confidence interval for continuous metrics, the two-proportion z-test for rates. The tests
//! themselves are the statistics module's; this file only puts their numbers together.

use serde::Serialize;

use crate::stats;

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
    /// Two-sided p-value, with scipy's defaults (exact distribution for small samples without
    /// ties, else the tie-corrected normal approximation with continuity correction).
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

/// Compares two non-empty samples without NaN (`None` otherwise).
pub fn shift(candidate: &[f64], baseline: &[f64]) -> Option<Shift> {
    let mw = stats::mann_whitney(candidate, baseline)?;
    let hl = stats::hodges_lehmann(candidate, baseline, 0.95)?;
    let median_candidate = median(candidate);
    let median_baseline = median(baseline);
    Some(Shift {
        median_candidate,
        median_baseline,
        median_difference: median_candidate - median_baseline,
        hodges_lehmann: hl.estimate,
        ci95: [hl.ci_low, hl.ci_high],
        u: mw.statistic,
        p_value: mw.p_value,
    })
}

/// Median of a non-empty sample.
fn median(x: &[f64]) -> f64 {
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
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

/// Compares `x_c` successes out of `n_c` with `x_b` out of `n_b` (`None` when a side is empty).
/// Equal rates at 0 or 1 (no variance at all) are no difference: z = 0, p = 1, where the test
/// itself gives NaN.
pub fn rate_shift(x_c: u64, n_c: u64, x_b: u64, n_b: u64) -> Option<RateShift> {
    let t = stats::two_proportions_z(x_c, n_c, x_b, n_b)?;
    let (pc, pb) = (t.p1, t.p2);
    let (z, p_value) = if t.z.is_nan() {
        (0.0, 1.0)
    } else {
        (t.z, t.p_value)
    };
    let se = (pc * (1.0 - pc) / n_c as f64 + pb * (1.0 - pb) / n_b as f64).sqrt();
    let d = pc - pb;
    let q = stats::normal_quantile(0.975);
    Some(RateShift {
        rate_candidate: pc,
        rate_baseline: pb,
        difference: d,
        ci95: [d - q * se, d + q * se],
        z,
        p_value,
    })
}
