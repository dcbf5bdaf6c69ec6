//! The one-sample two-sided Kolmogorov distribution's survival function, P(D_n ≥ x), as
//! `scipy.stats.kstwo.sf(x, n)` computes it (`scipy/stats/_ksstats.py`, `_kolmogn`, after Simard
//! & L'Ecuyer 2011), path by path:
//!
//! - x ≤ 1/(2n): 1; n·x ≤ 1: Ruben–Gambino, 1 − n!/nⁿ·(2nx − 1)ⁿ;
//! - n·x ≥ n − 1: Ruben–Gambino, 2(1 − x)ⁿ; x ≥ 0.5: twice the exact one-sided Smirnov tail;
//! - n ≤ 140: Durbin's matrix (Marsaglia–Tsang–Wang) when n·x² ≤ 0.754693, Pomeranz's recursion
//!   when n·x² ≤ 4, else twice the Smirnov tail;
//! - n > 140: 0 when n·x² ≥ 370; twice the Smirnov tail when n·x² ≥ 2.2; else 1 − CDF with the
//!   CDF from Durbin's matrix when n ≤ 100,000 and n·x^1.5 ≤ 1.4, else Pelz–Good.
//!
//! The matrix and the recursion keep scipy's scaling by 2^±128 so nothing underflows.

const E128: i32 = 128;

fn ep128() -> f64 {
    2f64.powi(E128)
}

fn em128() -> f64 {
    2f64.powi(-E128)
}

/// `kstwo.sf(x, n)` for n ≥ 1.
pub fn sf(n: usize, x: f64) -> f64 {
    let nf = n as f64;
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let t = nf * x;
    if t <= 1.0 {
        if t <= 0.5 {
            return 1.0;
        }
        let prob = if n <= 140 {
            (1..=n).fold(1.0, |p, i| p * (i as f64 * (1.0 / nf) * (2.0 * t - 1.0)))
        } else {
            (super::ln_factorial(nf) - nf * nf.ln() + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return clip(1.0 - prob);
    }
    if t >= nf - 1.0 {
        return clip(2.0 * (1.0 - x).powf(nf));
    }
    if x >= 0.5 {
        return clip(2.0 * smirnov_sf(nf, x));
    }
    let nx2 = t * x;
    if n <= 140 {
        return clip(match nx2 {
            v if v <= 0.754693 => 1.0 - durbin_cdf(n, x),
            v if v <= 4.0 => 1.0 - pomeranz_cdf(n, x),
            _ => 2.0 * smirnov_sf(nf, x),
        });
    }
    if nx2 >= 370.0 {
        return 0.0;
    }
    if nx2 >= 2.2 {
        return clip(2.0 * smirnov_sf(nf, x));
    }
    let cdf = if nx2 >= 18.0 {
        1.0
    } else if n <= 100_000 && nf * x.powf(1.5) <= 1.4 {
        durbin_cdf(n, x)
    } else {
        pelz_good_cdf(nf, x)
    };
    clip(1.0 - clip(cdf))
}

fn clip(p: f64) -> f64 {
    p.clamp(0.0, 1.0)
}

/// Square matrices of side `m`, row-major.
fn matmul(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * m];
    for i in 0..m {
        for k in 0..m {
            let aik = a[i * m + k];
            if aik == 0.0 {
                continue;
            }
            for j in 0..m {
                out[i * m + j] += aik * b[k * m + j];
            }
        }
    }
    out
}

/// `_kolmogn_DMTW(n, d)`: P(D_n ≤ d) by Durbin's matrix (Marsaglia, Tsang & Wang 2003), the
/// k-th diagonal entry of Hⁿ times n!/nⁿ, with d = (k − h)/n.
fn durbin_cdf(n: usize, d: f64) -> f64 {
    if d >= 1.0 {
        return 1.0;
    }
    let nd = n as f64 * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    // v: the first column (and, reversed, the last row); w[j] = 1/j!.
    let mut v: Vec<f64> = (1..=m).map(|j| 1.0 - h.powf(j as f64)).collect();
    let mut w = vec![0.0; m];
    let mut fac = 1.0;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] *= fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powf(m as f64) - 2.0 * h.powf(m as f64);
    v[m - 1] = (1.0 + tt) * fac;
    let mut hm = vec![0.0; m * m];
    for i in 1..m {
        for (idx, r) in (i - 1..m).enumerate() {
            hm[r * m + i] = w[idx];
        }
    }
    for r in 0..m {
        hm[r * m] = v[r];
    }
    for c in 0..m {
        hm[(m - 1) * m + c] = v[m - 1 - c];
    }
    let mut power: Vec<f64> = (0..m * m)
        .map(|i| if i / m == i % m { 1.0 } else { 0.0 })
        .collect();
    let (mut nn, mut expnt, mut h_expnt) = (n, 0i32, 0i32);
    while nn > 0 {
        if nn % 2 == 1 {
            power = matmul(&power, &hm, m);
            expnt += h_expnt;
        }
        hm = matmul(&hm, &hm, m);
        h_expnt *= 2;
        if hm[(k - 1) * m + k - 1].abs() > ep128() {
            for v in &mut hm {
                *v /= ep128();
            }
            h_expnt += E128;
        }
        nn /= 2;
    }
    let mut p = power[(k - 1) * m + k - 1];
    for i in 1..=n {
        p = i as f64 * p / n as f64;
        if p.abs() < em128() {
            p *= ep128();
            expnt -= E128;
        }
    }
    clip(p * 2f64.powi(expnt))
}

/// `_pomeranz_compute_j1j2`: the non-zero span of row `i`.
fn pomeranz_span(i: i64, n: i64, ll: i64, ceilf: i64, roundf: i64) -> (i64, i64) {
    let (j1, j2) = if i == 0 {
        (-ll - ceilf - 1, ll + ceilf - 1)
    } else {
        let (half, odd_i) = ((i + 1) / 2, (i + 1) % 2 == 0);
        match (odd_i, half == n + 1) {
            (true, true) => (n - ll - ceilf - 1, n + ll + ceilf - 1),
            (true, false) => (half - 1 - ll - roundf - 1, half + ll - 1 + ceilf - 1),
            (false, _) => (half - 1 - ll - 1, half + ll + roundf - 1),
        }
    };
    ((j1 + 2).max(0), j2.min(n))
}

/// `_kolmogn_Pomeranz(n, x)`: P(D_n ≤ x) by Pomeranz's recursion (1974): 2n + 1 rows, each the
/// convolution of the previous one with one of three truncated Poisson sequences.
/// Long because it follows scipy's loop line by line (its index arithmetic is the algorithm).
fn pomeranz_cdf(n: usize, x: f64) -> f64 {
    let nf = n as f64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceilf = i64::from(f > 0.0);
    let roundf = i64::from(f > 0.5);
    let npwrs = (2 * (ll + 1)) as usize;
    let powers = |step: f64| {
        let mut p = vec![1.0; npwrs];
        for m in 1..npwrs {
            p[m] = p[m - 1] * step / m as f64;
        }
        p
    };
    let gpower = powers(g / nf);
    let twogpower = powers(2.0 * g / nf);
    let onem2gpower = powers((1.0 - 2.0 * g) / nf);
    let mut v0 = vec![0.0; npwrs];
    let mut v1 = vec![0.0; npwrs];
    v1[0] = 1.0;
    let (mut v0s, mut v1s) = (0i64, 0i64);
    let mut expnt = 0i32;
    let n_i = n as i64;
    let (mut j1, _) = pomeranz_span(0, n_i, ll, ceilf, roundf);
    for i in 1..(2 * n_i + 2) {
        let k1 = j1;
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut v0s, &mut v1s);
        v1.fill(0.0);
        let (nj1, j2) = pomeranz_span(i, n_i, ll, ceilf, roundf);
        j1 = nj1;
        let pwrs = if i == 1 || i == 2 * n_i + 1 {
            &gpower
        } else if i % 2 == 1 {
            &twogpower
        } else {
            &onem2gpower
        };
        let ln2 = j2 - k1 + 1;
        if ln2 > 0 {
            let a = py_slice(&v0, k1 - v0s, k1 - v0s + ln2);
            let b = py_slice(pwrs, 0, ln2);
            let conv = convolve(a, b);
            let (start, len) = (j1 - k1, j2 - j1 + 1);
            let from = py_slice(&conv, start, start + len);
            v1[..from.len()].copy_from_slice(from);
            let max = v1.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if 0.0 < max && max < em128() {
                for v in &mut v1 {
                    *v *= ep128();
                }
                expnt -= E128;
            }
            v1s = v0s + j1 - k1;
        }
    }
    let mut ans = py_slice(&v1, n_i - v1s, n_i - v1s + 1)
        .first()
        .copied()
        .unwrap_or(0.0);
    for m in 1..=n {
        if ans.abs() > ep128() {
            ans *= em128();
            expnt += E128;
        }
        ans *= m as f64;
    }
    clip(ans * 2f64.powi(expnt))
}

/// `v[start:end]` with Python's meaning (negative indices from the end, clamped bounds).
fn py_slice(v: &[f64], start: i64, end: i64) -> &[f64] {
    let len = v.len() as i64;
    let fix = |i: i64| if i < 0 { (i + len).max(0) } else { i.min(len) };
    let (s, e) = (fix(start), fix(end));
    if s >= e {
        &[]
    } else {
        &v[s as usize..e as usize]
    }
}

/// `np.convolve(a, b)` (full).
fn convolve(a: &[f64], b: &[f64]) -> Vec<f64> {
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    let mut out = vec![0.0; a.len() + b.len() - 1];
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            out[i + j] += x * y;
        }
    }
    out
}

/// The exact one-sided Smirnov tail P(D+_n ≥ x) = x·Σ_{j=0}^{⌊n(1−x)⌋} C(n,j)
/// (x + j/n)^(j−1) (1 − x − j/n)^(n−j), summed in logs (every term is positive).
fn smirnov_sf(n: f64, x: f64) -> f64 {
    let nn = n as u64;
    let last = (n * (1.0 - x)).floor() as u64;
    let mut sum = 0.0;
    for j in 0..=last.min(nn) {
        let jf = j as f64;
        let rest = 1.0 - x - jf / n;
        if rest <= 0.0 {
            continue;
        }
        let log_term =
            super::ln_binomial(n, jf) + (jf - 1.0) * (x + jf / n).ln() + (n - jf) * rest.ln();
        sum += log_term.exp();
    }
    x * sum
}

/// scipy's `_kolmogn_PelzGood(n, x, cdf=True)`.
fn pelz_good_cdf(n: f64, x: f64) -> f64 {
    use std::f64::consts::PI;
    let (pi2, pi4, pi6) = (PI * PI, PI.powi(4), PI.powi(6));
    let z = n.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z.powi(3), z.powi(4), z.powi(6));
    let qlog = -pi2 / 8.0 / z2;
    if qlog < -708.0 {
        return 0.0;
    }
    let q = qlog.exp();
    let (k1a, k1b) = (-z2, pi2 / 4.0);
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);
    let mut k = [0.0f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for kk in (1..=maxk).rev() {
        let m = (2 * kk - 1) as f64;
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let qpower = q.powf(8.0 * kk as f64);
        let coeffs = [
            1.0,
            k1a + k1b * m2,
            k2a + k2b * m2 + k2c * m4,
            k3a + k3b * m2 + k3c * m4 + k3d * m6,
        ];
        for (v, c) in k.iter_mut().zip(coeffs) {
            *v = *v * qpower + c;
        }
    }
    let sqrt2pi = (2.0 * PI).sqrt();
    let div = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (v, d) in k.iter_mut().zip(div) {
        *v = *v * q * sqrt2pi / d;
    }
    let q2 = (-pi2 / 2.0 / z2).exp();
    let sqrt3z = 3f64.sqrt() * z;
    let (mut k2extra, mut k3extra) = (0.0, 0.0);
    for kk in (1..=maxk).rev() {
        let ks2 = (kk * kk) as f64;
        let qp = q2.powf(ks2);
        let kspi = PI * kk as f64;
        k2extra += ks2 * qp;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qp;
    }
    k[2] += k2extra * pi2 * sqrt2pi / (-36.0 * z3);
    k[3] += k3extra * pi2 * sqrt2pi / (216.0 * z6);
    k.iter()
        .enumerate()
        .map(|(i, v)| v / n.powf(i as f64 / 2.0))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durbin_and_pomeranz_agree_where_both_apply() {
        // Both are exact algorithms for the same CDF.
        for (n, x) in [(5, 0.3), (40, 0.12), (100, 0.08), (140, 0.1)] {
            let (d, p) = (durbin_cdf(n, x), pomeranz_cdf(n, x));
            assert!((d - p).abs() < 1e-12, "n = {n}, x = {x}: {d} vs {p}");
        }
    }

    #[test]
    fn the_tails_are_probabilities_at_the_edges() {
        assert_eq!(sf(10, 0.0), 1.0);
        assert_eq!(sf(10, 1.0), 0.0);
        assert_eq!(sf(10, 0.04), 1.0);
        // n·x ≥ n − 1: 2(1 − x)ⁿ.
        assert!((sf(3, 0.7) - 2.0 * 0.3f64.powi(3)).abs() < 1e-15);
    }
}
