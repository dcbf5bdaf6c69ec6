//! Distances between two samples or two distributions, as scipy computes them:
//! `scipy.stats.wasserstein_distance` (1-D, unweighted: the area between the two ECDFs),
//! `scipy.spatial.distance.jensenshannon` (natural log) and `scipy.stats.chisquare`.

use statrs::distribution::{ChiSquared, ContinuousCDF};

/// `wasserstein_distance(u, v)`: Σ |U(t) − V(t)| · Δt over the pooled sorted values. `None`
/// when a sample is empty or holds a NaN.
pub fn wasserstein(u: &[f64], v: &[f64]) -> Option<f64> {
    if u.is_empty() || v.is_empty() || u.iter().chain(v).any(|x| x.is_nan()) {
        return None;
    }
    let mut us = u.to_vec();
    let mut vs = v.to_vec();
    us.sort_by(f64::total_cmp);
    vs.sort_by(f64::total_cmp);
    let mut all: Vec<f64> = us.iter().chain(&vs).copied().collect();
    all.sort_by(f64::total_cmp);
    let (nu, nv) = (us.len() as f64, vs.len() as f64);
    let (mut i, mut j) = (0, 0);
    let mut terms = Vec::with_capacity(all.len());
    for w in all.windows(2) {
        // searchsorted(side="right") of w[0]: both pointers only move forward.
        while i < us.len() && us[i] <= w[0] {
            i += 1;
        }
        while j < vs.len() && vs[j] <= w[0] {
            j += 1;
        }
        terms.push((i as f64 / nu - j as f64 / nv).abs() * (w[1] - w[0]));
    }
    Some(pairwise_sum(&terms))
}

/// numpy's pairwise summation (`np.sum` on a contiguous float array): blocks of 128 summed
/// with 8 accumulators, halves added recursively. Matching it keeps sums equal to the last
/// bits on long inputs.
pub fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        return a.iter().fold(0.0, |s, x| s + x);
    }
    if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - (n % 8) {
            for k in 0..8 {
                r[k] += a[i + k];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for x in &a[i..] {
            res += x;
        }
        return res;
    }
    let mut half = n / 2;
    half -= half % 8;
    pairwise_sum(&a[..half]) + pairwise_sum(&a[half..])
}

/// `scipy.special.rel_entr(x, y)`.
fn rel_entr(x: f64, y: f64) -> f64 {
    if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// `jensenshannon(p, q)` with the natural log: each vector normalised to sum 1, then
/// √((KL(p‖m) + KL(q‖m)) / 2), m the midpoint. `None` on different lengths or an empty input.
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> Option<f64> {
    if p.len() != q.len() || p.is_empty() {
        return None;
    }
    let (sp, sq) = (pairwise_sum(p), pairwise_sum(q));
    let p: Vec<f64> = p.iter().map(|x| x / sp).collect();
    let q: Vec<f64> = q.iter().map(|x| x / sq).collect();
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
    let left: Vec<f64> = p.iter().zip(&m).map(|(a, b)| rel_entr(*a, *b)).collect();
    let right: Vec<f64> = q.iter().zip(&m).map(|(a, b)| rel_entr(*a, *b)).collect();
    let js = pairwise_sum(&left) + pairwise_sum(&right);
    Some((js / 2.0).sqrt())
}

/// `scipy.stats.chisquare(f_obs, f_exp)`: Σ (o − e)²/e and its p-value on k − 1 degrees of
/// freedom; p is NaN with one category (as scipy's `chi2.sf(x, 0)`), 0 when an expected count
/// is 0 and its observed count is not (the statistic is infinite).
pub fn chisquare(observed: &[f64], expected: &[f64]) -> (f64, f64) {
    let terms: Vec<f64> = observed
        .iter()
        .zip(expected)
        .map(|(o, e)| (o - e) * (o - e) / e)
        .collect();
    let stat = pairwise_sum(&terms);
    let dof = observed.len() as f64 - 1.0;
    (stat, chi2_sf(stat, dof))
}

/// P(X > x) for X ~ χ²(dof); NaN when dof ≤ 0 or x is NaN.
pub fn chi2_sf(x: f64, dof: f64) -> f64 {
    if x.is_nan() || dof <= 0.0 {
        return f64::NAN;
    }
    if x.is_infinite() {
        return 0.0;
    }
    match ChiSquared::new(dof) {
        Ok(d) => d.sf(x),
        Err(_) => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_sum_agrees_with_a_plain_sum_on_exact_values() {
        let a: Vec<f64> = (0..1000).map(f64::from).collect();
        assert_eq!(pairwise_sum(&a), 499_500.0);
    }

    #[test]
    fn a_sample_against_itself_has_no_distance() {
        let x = [3.0, 1.0, 2.0];
        assert_eq!(wasserstein(&x, &x), Some(0.0));
        assert_eq!(jensen_shannon(&[1.0, 2.0], &[2.0, 4.0]), Some(0.0));
    }

    #[test]
    fn shifting_a_sample_moves_it_by_the_shift() {
        let x = [0.0, 1.0, 2.0, 3.0];
        let y: Vec<f64> = x.iter().map(|v| v + 2.5).collect();
        assert_eq!(wasserstein(&x, &y), Some(2.5));
    }
}
