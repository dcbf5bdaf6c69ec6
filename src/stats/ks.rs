//! The two-sample Kolmogorov–Smirnov test as `scipy.stats.ks_2samp` computes it with its
//! defaults (two-sided, `method="auto"`): the exact p-value when both samples have at most
//! 10,000 values (`MAX_AUTO_N`), otherwise the one-sample Kolmogorov distribution at
//! n = round(n1·n2/(n1+n2)) (`kstwo.sf`).
//!
//! Exact: `_compute_prob_outside_square` for equal sizes, else Viehmann's 1 − p recursion of
//! Hodges' inside method (`_compute_outer_prob_inside_method`), both in scipy's order of
//! operations. Asymptotic: `kstwo.sf`, i.e. scipy's `_kolmogn` with every one of its paths
//! (Ruben–Gambino, Durbin's matrix, Pomeranz, Pelz–Good, the exact Smirnov tail), in
//! [`super::kolmogorov`].

use serde::Serialize;

/// The KS statistic D and its two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KolmogorovSmirnov {
    /// sup |F1 − F2| over the pooled values.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// `exact` or `asymptotic`.
    pub method: &'static str,
}

const MAX_AUTO_N: usize = 10_000;

/// `ks_2samp(x, y)`. `None` when a sample is empty or holds a NaN.
pub fn ks_2samp(x: &[f64], y: &[f64]) -> Option<KolmogorovSmirnov> {
    if x.is_empty() || y.is_empty() || x.iter().chain(y).any(|v| v.is_nan()) {
        return None;
    }
    let mut a = x.to_vec();
    let mut b = y.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n1, n2) = (a.len(), b.len());
    let d = statistic(&a, &b);
    if n1.max(n2) <= MAX_AUTO_N
        && let Some((d, p)) = exact(n1, n2, d)
    {
        return Some(KolmogorovSmirnov {
            statistic: d,
            p_value: p,
            method: "exact",
        });
    }
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = (m * n / (m + n)).round_ties_even();
    Some(KolmogorovSmirnov {
        statistic: d,
        p_value: super::kolmogorov::sf(en as usize, d).clamp(0.0, 1.0),
        method: "asymptotic",
    })
}

/// max over the pooled values of |ECDF_a − ECDF_b| (right-continuous, as `searchsorted(side=
/// "right")`), computed as scipy does: the larger of max(cdf1 − cdf2) and max(cdf2 − cdf1).
fn statistic(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0, 0);
    let (mut max_s, mut min_s) = (f64::NEG_INFINITY, f64::INFINITY);
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(&p), Some(&q)) => p.min(q),
            (Some(&p), None) => p,
            (None, Some(&q)) => q,
            (None, None) => unreachable!(),
        };
        while i < a.len() && a[i] <= v {
            i += 1;
        }
        while j < b.len() && b[j] <= v {
            j += 1;
        }
        let diff = i as f64 / n1 - j as f64 / n2;
        max_s = max_s.max(diff);
        min_s = min_s.min(diff);
    }
    let min_s = (-min_s).clamp(0.0, 1.0);
    if min_s > max_s { min_s } else { max_s }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// scipy's `_attempt_exact_2kssamp` (two-sided): D rounded to the lattice h/lcm, then the
/// probability; `None` when it is not a probability (scipy then falls back to asymptotic).
fn exact(n1: usize, n2: usize, d: f64) -> Option<(f64, f64)> {
    let g = gcd(n1, n2);
    let lcm = (n1 / g) * n2;
    let h = (d * lcm as f64).round_ties_even() as usize;
    let d = h as f64 / lcm as f64;
    if h == 0 {
        return Some((d, 1.0));
    }
    let p = if n1 == n2 {
        outside_square(n1, h)
    } else {
        outer_inside(n1, n2, g, h)
    };
    (0.0..=1.0).contains(&p).then_some((d, p))
}

/// `_compute_prob_outside_square(n, h)`: 2·A0·(1 − A1·(1 − A2·(…))), Horner-like.
fn outside_square(n: usize, h: usize) -> f64 {
    let (nf, hf) = (n as f64, h as f64);
    let mut p = 0.0;
    let mut k = n / h;
    loop {
        let kf = k as f64;
        let mut p1 = 1.0;
        for j in 0..h {
            let jf = j as f64;
            p1 = (nf - kf * hf - jf) * p1 / (nf + kf * hf + jf + 1.0);
        }
        p = p1 * (1.0 - p);
        if k == 0 {
            break;
        }
        k -= 1;
    }
    2.0 * p
}

/// `_compute_outer_prob_inside_method(m, n, g, h)`, the 1 − p recursion (Viehmann 2021).
fn outer_inside(m: usize, n: usize, g: usize, h: usize) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = ((m / g) as i64, (n / g) as i64);
    let (h, n_i) = (h as i64, n as i64);
    let ceil_div = |a: i64, b: i64| (a as f64 / b as f64).ceil() as i64;
    let floor_div = |a: i64, b: i64| (a as f64 / b as f64).floor() as i64;
    let mut minj: i64 = 0;
    let mut maxj: i64 = ceil_div(h, mg).min(n_i + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n_i + 1) as usize;
    let mut a = vec![1.0f64; len_a];
    for v in a.iter_mut().take(maxj as usize) {
        *v = 0.0;
    }
    for i in 1..=m as i64 {
        let (lastminj, lastlen) = (minj, curlen);
        minj = (floor_div(ng * i - h, mg) + 1).max(0).min(n_i);
        maxj = ceil_div(ng * i + h, mg).min(n_i + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = (jj + minj) as f64;
            let fi = i as f64;
            val = (a[(jj + minj - lastminj) as usize] * fi + val * j) / (fi + j);
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            for v in &mut a[curlen as usize..(curlen + lastlen - curlen) as usize] {
                *v = 1.0;
            }
        }
    }
    a[(maxj - minj - 1) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_have_no_distance_and_p_one() {
        let x = [1.0, 2.0, 3.0];
        let r = ks_2samp(&x, &x).unwrap();
        assert_eq!((r.statistic, r.p_value), (0.0, 1.0));
    }

    #[test]
    fn disjoint_samples_have_distance_one() {
        let r = ks_2samp(&[1.0, 2.0], &[5.0, 6.0, 7.0]).unwrap();
        assert_eq!(r.statistic, 1.0);
        // scipy: the exact p of D = 1 for sizes 2 and 3 is 2/C(5,2).
        assert!((r.p_value - 0.2).abs() < 1e-12);
    }
}
