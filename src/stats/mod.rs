//! Statistical tests and distances, as pure functions equal to their references (scipy,
//! scikit-learn, Evidently 0.7) to 1e-9 on the fixtures `scripts/stats-reference.py` writes
//! (`tests/fixtures/stats/`). The drift monitor, the canary comparison and `powerbirth stats`
//! use them; nothing here does I/O.
//!
//! - [`mann_whitney`]: `scipy.stats.mannwhitneyu` defaults; [`hodges_lehmann`] shift and CI.
//! - [`two_proportions_z`]: Evidently's `z_stat_test` (two-proportion z-test, pooled variance).
//! - [`ks_2samp`]: `scipy.stats.ks_2samp` defaults (exact up to 10,000 values per sample, then
//!   `kstwo.sf` with every path of scipy's [`kolmogorov`] distribution).
//! - [`distance`]: `wasserstein_distance`, `jensenshannon`, `chisquare`.
//! - [`evidently`]: Evidently 0.7's drift tests (psi, chisquare, z, jensenshannon, normed
//!   wasserstein, ks) with their binning and default thresholds.
//! - [`roc_auc`]: scikit-learn's `roc_auc_score` (binary).

pub mod auc;
pub mod distance;
pub mod evidently;
pub mod kolmogorov;
pub mod ks;
pub mod mann_whitney;
pub mod proportions;

pub use auc::{roc_auc, roc_curve};
pub use distance::{chisquare, jensen_shannon, wasserstein};
pub use ks::{KolmogorovSmirnov, ks_2samp};
pub use mann_whitney::{HodgesLehmann, MannWhitney, MwuMethod, hodges_lehmann, mann_whitney};
pub use proportions::{ProportionsZ, two_proportions_z};

use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::gamma::ln_gamma;

/// ln(n!) for a real n ≥ 0.
fn ln_factorial(n: f64) -> f64 {
    ln_gamma(n + 1.0)
}

/// ln C(n, k).
fn ln_binomial(n: f64, k: f64) -> f64 {
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

fn standard_normal() -> Normal {
    Normal::standard()
}

/// P(Z > z) for a standard normal (scipy's `norm.sf`); NaN stays NaN.
pub fn normal_sf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    standard_normal().sf(z)
}

/// P(Z ≤ z) for a standard normal (scipy's `norm.cdf`).
pub fn normal_cdf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    standard_normal().cdf(z)
}

/// The standard normal quantile (scipy's `norm.ppf`).
pub fn normal_quantile(p: f64) -> f64 {
    standard_normal().inverse_cdf(p)
}

/// Average ranks (1-based, ties share the mean rank, as `scipy.stats.rankdata`) and the size of
/// every tie group (groups of one included), in value order.
pub fn rank_average(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && values[order[j]] == values[order[i]] {
            j += 1;
        }
        // Positions i..j (0-based) share ranks i+1..=j: their mean is (i + 1 + j) / 2.
        let rank = (i + 1 + j) as f64 / 2.0;
        for &k in &order[i..j] {
            ranks[k] = rank;
        }
        ties.push(j - i);
        i = j;
    }
    (ranks, ties)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tied_values_share_their_mean_rank() {
        let (r, t) = rank_average(&[3.0, 1.0, 3.0, 2.0]);
        assert_eq!(r, vec![3.5, 1.0, 3.5, 2.0]);
        assert_eq!(t, vec![1, 1, 2]);
    }
}
