//! The Mann–Whitney U test as `scipy.stats.mannwhitneyu` computes it with its defaults
//! (two-sided, `use_continuity=True`, `method="auto"`), and the Hodges–Lehmann shift estimate
//! with its distribution-free confidence interval.
//!
//! scipy's `auto` rule: the exact null distribution of U when either sample has at most 8
//! values and there are no ties; otherwise the normal approximation with the tie-corrected
//! variance and a continuity correction of 0.5 towards the mean. Source:
//! `scipy/stats/_mannwhitneyu.py` (`_mwu_choose_method`, `_get_mwu_z`, `_MWU`).

use serde::Serialize;

use super::{normal_quantile, normal_sf, rank_average};

/// Which null distribution produced the p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MwuMethod {
    /// The exact distribution of U (small samples without ties).
    Exact,
    /// The tie-corrected normal approximation with continuity correction.
    Asymptotic,
}

/// scipy's `MannwhitneyuResult` plus the method it chose.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MannWhitney {
    /// U of the first sample (`statistic` in scipy: R1 − n1(n1+1)/2).
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// The null distribution used.
    pub method: MwuMethod,
}

/// Two-sided Mann–Whitney U test of `x` against `y` with scipy's defaults. `None` when either
/// sample is empty or holds a NaN (scipy returns NaN there).
pub fn mann_whitney(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    if x.is_empty() || y.is_empty() || x.iter().chain(y).any(|v| v.is_nan()) {
        return None;
    }
    let (n1, n2) = (x.len(), y.len());
    let xy: Vec<f64> = x.iter().chain(y).copied().collect();
    let (ranks, ties) = rank_average(&xy);
    let r1: f64 = ranks[..n1].iter().sum();
    let u1 = r1 - (n1 * (n1 + 1)) as f64 / 2.0;
    let u2 = (n1 * n2) as f64 - u1;
    let u = u1.max(u2);
    let any_tie = ties.iter().any(|&t| t > 1);
    let (method, p) = if (n1 > 8 && n2 > 8) || any_tie {
        (MwuMethod::Asymptotic, normal_sf(mwu_z(u, n1, n2, &ties)))
    } else {
        (MwuMethod::Exact, exact_sf(u as u64, n1, n2))
    };
    Some(MannWhitney {
        statistic: u1,
        p_value: (2.0 * p).clamp(0.0, 1.0),
        method,
    })
}

/// scipy's `_get_mwu_z` with continuity: (U − n1·n2/2 − 0.5) / σ, σ tie-corrected.
fn mwu_z(u: f64, n1: usize, n2: usize, ties: &[usize]) -> f64 {
    let mu = (n1 * n2) as f64 / 2.0;
    let n = (n1 + n2) as f64;
    let tie_term: f64 = ties.iter().map(|&t| (t * t * t - t) as f64).sum();
    let s = ((n1 * n2) as f64 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
    // scipy divides with errors ignored: 0/0 and x/0 give NaN or ±inf, and the SF follows.
    (u - mu - 0.5) / s
}

/// P(U ≥ u) under the null for sample sizes `n1`, `n2` (u ≥ n1·n2/2, as scipy calls it), from
/// the exact counts of arrangements: by symmetry it is the CDF at n1·n2 − u.
fn exact_sf(u: u64, n1: usize, n2: usize) -> f64 {
    let (m, n) = (n1.min(n2), n1.max(n2));
    let kc = (m * n) as u64 - u.min((m * n) as u64);
    let counts = u_counts(m, n, kc as usize);
    let total: f64 = binomial(m + n, m);
    let below: f64 = counts.iter().sum();
    if u < kc {
        // Not reached from `mann_whitney` (u is the larger of U1 and U2); kept for symmetry.
        1.0 - below / total + counts[kc as usize] / total
    } else {
        below / total
    }
}

/// Number of arrangements with U = 0..=maxu for sizes m ≤ n: the coefficients of the Gaussian
/// binomial [m+n choose m]_q, built factor by factor (each step stays a polynomial with
/// non-negative integer coefficients, so i128 is exact; f64 beyond its range).
fn u_counts(m: usize, n: usize, maxu: usize) -> Vec<f64> {
    let mut poly = vec![0i128; maxu + 1];
    poly[0] = 1;
    for i in 1..=m {
        // × (1 − q^(n+i))
        let d = n + i;
        for k in (d..=maxu).rev() {
            poly[k] = poly[k].saturating_sub(poly[k - d]);
        }
        // ÷ (1 − q^i): a running sum with stride i.
        for k in i..=maxu {
            poly[k] = poly[k].saturating_add(poly[k - i]);
        }
    }
    poly.into_iter().map(|c| c as f64).collect()
}

fn binomial(n: usize, k: usize) -> f64 {
    statrs::function::factorial::binomial(n as u64, k as u64)
}

/// The Hodges–Lehmann estimate of the shift `x − y` (the median of all pairwise differences)
/// and its distribution-free confidence interval at `confidence` (Hollander & Wolfe: order
/// statistics C and mn + 1 − C of the differences, C = ⌊mn/2 − z·√(mn(m+n+1)/12)⌋, at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HodgesLehmann {
    /// Median of the pairwise differences x_i − y_j.
    pub estimate: f64,
    /// Lower bound of the interval.
    pub ci_low: f64,
    /// Upper bound of the interval.
    pub ci_high: f64,
    /// The interval's nominal confidence (e.g. 0.95).
    pub confidence: f64,
}

/// Hodges–Lehmann shift of `x` over `y`. Exact order statistics of the m·n differences without
/// materialising them (a bisection over the f64 values, O((m+n)·64) after sorting), so a day of
/// latencies is fine. `None` when a sample is empty or holds a NaN.
pub fn hodges_lehmann(x: &[f64], y: &[f64], confidence: f64) -> Option<HodgesLehmann> {
    if x.is_empty() || y.is_empty() || x.iter().chain(y).any(|v| v.is_nan()) {
        return None;
    }
    let mut xs = x.to_vec();
    let mut ys = y.to_vec();
    xs.sort_by(f64::total_cmp);
    ys.sort_by(f64::total_cmp);
    let total = (xs.len() * ys.len()) as u64;
    let nth = |k: u64| kth_difference(&xs, &ys, k);
    let estimate = if total % 2 == 1 {
        nth(total.div_ceil(2))
    } else {
        (nth(total / 2) + nth(total / 2 + 1)) / 2.0
    };
    let (m, n) = (xs.len() as f64, ys.len() as f64);
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let c = ((m * n / 2.0) - z * (m * n * (m + n + 1.0) / 12.0).sqrt()).floor();
    let c = (c.max(1.0) as u64).min(total);
    Some(HodgesLehmann {
        estimate,
        ci_low: nth(c),
        ci_high: nth(total + 1 - c),
        confidence,
    })
}

/// The k-th smallest (1-based) of fl(x_i − y_j) over sorted `xs`, `ys`.
fn kth_difference(xs: &[f64], ys: &[f64], k: u64) -> f64 {
    // Bisection over the totally ordered bit patterns of f64: `lo` has fewer than k
    // differences at or below it, `hi` at least k; when adjacent, `hi` is a difference.
    let mut lo = key(xs[0] - ys[ys.len() - 1]) - 1;
    let mut hi = key(xs[xs.len() - 1] - ys[0]);
    // Keys span all of i64 (negative floats sit far below positive ones): step in i128.
    while i128::from(hi) - i128::from(lo) > 1 {
        let mid = ((i128::from(lo) + i128::from(hi)).div_euclid(2)) as i64;
        if count_at_most(xs, ys, unkey(mid)) >= k {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    unkey(hi)
}

/// How many fl(x_i − y_j) ≤ d (fl(x − y) is monotone in both arguments: two pointers).
fn count_at_most(xs: &[f64], ys: &[f64], d: f64) -> u64 {
    let mut j = ys.len(); // ys[j..] are the y with x − y ≤ d for the current x
    let mut count = 0u64;
    for &x in xs.iter().rev() {
        while j > 0 && x - ys[j - 1] <= d {
            j -= 1;
        }
        count += (ys.len() - j) as u64;
    }
    count
}

fn key(v: f64) -> i64 {
    let b = v.to_bits() as i64;
    if b < 0 { b ^ i64::MAX } else { b }
}

fn unkey(k: i64) -> f64 {
    let b = if k < 0 { k ^ i64::MAX } else { k };
    f64::from_bits(b as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exact_distribution_sums_to_the_number_of_arrangements() {
        let c = u_counts(3, 5, 15);
        assert_eq!(c.iter().sum::<f64>(), binomial(8, 3));
        assert_eq!(&c[..4], &[1.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn hodges_lehmann_is_the_median_of_pairwise_differences() {
        let x = [1.0, 4.0, 9.0];
        let y = [0.0, 2.0];
        // differences: 1, -1, 4, 2, 9, 7 → sorted -1 1 2 4 7 9 → median (2+4)/2
        let hl = hodges_lehmann(&x, &y, 0.95).unwrap();
        assert_eq!(hl.estimate, 3.0);
        assert_eq!((hl.ci_low, hl.ci_high), (-1.0, 9.0));
    }

    #[test]
    fn a_shifted_sample_has_its_shift_inside_the_interval() {
        let y: Vec<f64> = (0..400).map(|i| ((i * 37) % 101) as f64).collect();
        let x: Vec<f64> = y.iter().map(|v| v + 10.0).collect();
        let hl = hodges_lehmann(&x, &y, 0.95).unwrap();
        assert_eq!(hl.estimate, 10.0);
        assert!(hl.ci_low <= 10.0 && hl.ci_high >= 10.0 && hl.ci_low > 0.0);
    }

    #[test]
    fn bit_keys_keep_the_order_of_floats() {
        let v = [-3.5, -0.0, 0.0, 1e-300, 2.0];
        for w in v.windows(2) {
            assert!(key(w[0]) <= key(w[1]));
            assert_eq!(unkey(key(w[0])), w[0]);
        }
    }
}
