//! Stand-ins for the statistics module's tests until it is merged: Mann–Whitney (normal
//! approximation, tie and continuity corrected), Hodges–Lehmann with Moses' interval, the pooled
//! two-proportion z-test.

/// Median of a non-empty sample.
pub fn median(x: &[f64]) -> f64 {
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Standard normal survival function via erfc (Numerical Recipes' erfcc, relative error < 1.2e-7).
fn normal_sf(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let erfc = if x >= 0.0 { erfc } else { 2.0 - erfc };
    erfc / 2.0
}

/// U of `x` and the two-sided p-value.
pub fn mann_whitney(x: &[f64], y: &[f64]) -> (f64, f64) {
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|v| (*v, true))
        .chain(y.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let (mut r1, mut ties, mut i) = (0.0, 0.0, 0);
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        r1 += all[i..=j].iter().filter(|a| a.1).count() as f64 * rank;
        i = j + 1;
    }
    let u1 = r1 - n1 * (n1 + 1.0) / 2.0;
    let mu = n1 * n2 / 2.0;
    let nt = n1 + n2;
    let sigma = (n1 * n2 / 12.0 * ((nt + 1.0) - ties / (nt * (nt - 1.0)))).sqrt();
    if sigma == 0.0 {
        return (u1, 1.0);
    }
    let u = u1.max(n1 * n2 - u1);
    let z = (u - mu - 0.5) / sigma;
    (u1, (2.0 * normal_sf(z)).min(1.0))
}

/// The Hodges–Lehmann shift of `x` over `y` and its `confidence` interval (Moses).
pub fn hodges_lehmann(x: &[f64], y: &[f64], confidence: f64) -> (f64, f64, f64) {
    let mut d: Vec<f64> = x
        .iter()
        .flat_map(|a| y.iter().map(move |b| a - b))
        .collect();
    d.sort_by(f64::total_cmp);
    let estimate = median(&d);
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let z = match confidence {
        c if (c - 0.95).abs() < 1e-12 => 1.959_963_984_540_054,
        _ => 2.575_829_303_548_901,
    };
    let k = (n1 * n2 / 2.0 - z * (n1 * n2 * (n1 + n2 + 1.0) / 12.0).sqrt()).floor();
    let m = d.len();
    let k = (k.max(1.0) as usize).min(m);
    (estimate, d[k - 1], d[m - k])
}

/// Pooled two-proportion z and its two-sided p-value.
pub fn two_proportions(x1: u64, n1: u64, x2: u64, n2: u64) -> (f64, f64) {
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let p = (x1 + x2) as f64 / (n1 + n2) as f64;
    let se = (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    if se == 0.0 {
        return (0.0, 1.0);
    }
    let z = (p1 - p2) / se;
    (z, (2.0 * normal_sf(z.abs())).min(1.0))
}
