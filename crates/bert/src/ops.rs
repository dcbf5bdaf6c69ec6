//! The element-wise and per-row passes of the encoder: layer normalisation, GELU (erf form),
//! softmax, and one attention head. Each has an AVX2 path (chosen at run time) where it matters
//! and a plain one.

use std::sync::OnceLock;

/// Whether the AVX2 + FMA paths can run (detected once by the standard library, then a load).
pub(crate) fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `row = LayerNorm(row + residual)` with weight `gamma`, bias `beta` and `eps` (BERT's
/// `*.LayerNorm` after each sub-layer; `residual` empty for the embeddings' one). Mean and
/// variance are taken in two passes, in f64.
pub(crate) fn add_norm(row: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    if !residual.is_empty() {
        for (x, r) in row.iter_mut().zip(residual) {
            *x += r;
        }
    }
    let n = row.len() as f64;
    let mean = row.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = row
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    let (mean, inv_std) = (mean as f32, ((var as f32) + eps).sqrt().recip());
    for ((x, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *x = (*x - mean) * inv_std * g + b;
    }
}

/// Intervals of `|x|` in [0, 4) on which erf is a polynomial (beyond, erf = ±1 to within
/// erfc(4) ≈ 1.5e-8).
const PIECES: usize = 16;
/// Width of an interval.
const WIDTH: f64 = 0.25;
/// Degree of each interval's polynomial: its Taylor expansion about the interval's centre,
/// exact to about 1e-10 (the f32 evaluation's rounding, ≤ 6e-8, dominates).
const DEGREE: usize = 8;

/// `[j][i]`: the j-th Taylor coefficient of erf about the centre of interval i.
type Table = [[f32; PIECES]; DEGREE + 1];

/// The Taylor coefficients, worked out once in f64 from erf's derivatives:
/// erf⁽ⁿ⁾(c) = (2/√π) (−1)ⁿ⁻¹ Hₙ₋₁(c) e^(−c²), with Hₙ the physicists' Hermite polynomials,
/// and erf(c) itself from its series of positive terms,
/// erf(c) = (2/√π) e^(−c²) Σ 2ⁿ c^(2n+1) / (1·3·…·(2n+1)), which loses no digits to cancellation.
fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [[0.0; PIECES]; DEGREE + 1];
        for (i, c) in (0..PIECES).map(|i| (i, (i as f64 + 0.5) * WIDTH)) {
            for (row, v) in t.iter_mut().zip(taylor(c)) {
                row[i] = v as f32;
            }
        }
        t
    })
}

/// erf's Taylor coefficients about `c`, up to [`DEGREE`].
fn taylor(c: f64) -> [f64; DEGREE + 1] {
    let k = 2.0 / std::f64::consts::PI.sqrt() * (-c * c).exp();
    let (mut term, mut sum, mut n) = (c, c, 0.0);
    while term > 1e-18 * sum {
        n += 1.0;
        term *= 2.0 * c * c / (2.0 * n + 1.0);
        sum += term;
    }
    let mut out = [0.0; DEGREE + 1];
    out[0] = k * sum;
    // erf⁽ⁿ⁾(c) = (2/√π) (−1)ⁿ⁻¹ Hₙ₋₁(c) e^(−c²); H₀ = 1, H₁ = 2c, Hₘ₊₁ = 2c Hₘ − 2m Hₘ₋₁.
    let (mut h_prev, mut h) = (0.0, 1.0);
    let mut factorial = 1.0;
    for (n, o) in out.iter_mut().enumerate().skip(1) {
        factorial *= n as f64;
        let sign = if n % 2 == 1 { 1.0 } else { -1.0 };
        *o = k * sign * h / factorial;
        let m = (n - 1) as f64;
        (h_prev, h) = (h, 2.0 * c * h - 2.0 * m * h_prev);
    }
    out
}

/// erf(x) in f32, absolute error ≤ 1e-7 (tested against f64 erf).
pub fn erf(x: f32) -> f32 {
    let z = x.abs();
    if z >= 4.0 || z.is_nan() {
        return if z.is_nan() { x } else { 1.0_f32.copysign(x) };
    }
    let t = table();
    let i = (z * 4.0) as usize;
    let d = z - (i as f32 + 0.5) * 0.25;
    let mut r = t[DEGREE][i];
    for j in (0..DEGREE).rev() {
        r = r.mul_add(d, t[j][i]);
    }
    r.copysign(x)
}

/// BERT's "gelu" in place: `x · (1 + erf(x/√2)) / 2`, written as candle's f32 kernel writes it.
pub(crate) fn gelu(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: AVX2 and FMA are present.
        unsafe { simd::gelu(xs, table()) };
        return;
    }
    for x in xs {
        *x = (erf(*x * std::f32::consts::FRAC_1_SQRT_2) + 1.0) * 0.5 * *x;
    }
}

/// Softmax of a row of scores in place: `exp(s − max) / Σ`, as candle's softmax.
pub(crate) fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    #[cfg(target_arch = "x86_64")]
    let done = avx2() && {
        // SAFETY: AVX2 and FMA are present.
        unsafe { simd::exp_shifted(row, max) };
        true
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = false;
    if !done {
        for s in row.iter_mut() {
            *s = (*s - max).exp();
        }
    }
    let sum: f32 = row.iter().sum();
    for s in row {
        *s /= sum;
    }
}

/// A dot product of two slices whose length is a multiple of 8, in eight lanes.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0_f32; 8];
    for (ca, cb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for ((s, x), y) in acc.iter_mut().zip(ca).zip(cb) {
            *s += x * y;
        }
    }
    acc.iter().sum()
}

/// One head of self-attention over one sentence: `qkv` holds the sentence's rows of queries,
/// keys and values side by side (`[len, 3·hidden]`); the head's `dh` columns start at `offset`
/// within each third. Writes `softmax(q·kᵀ / √dh)·v` into `out` (`len` rows, stride
/// `stride`). Only the sentence's own tokens are attended (candle masks the padding with the
/// most negative f32, whose weight after softmax is exactly 0).
pub(crate) fn attend(qkv: &[f32], hidden: usize, offset: usize, dh: usize, out: &mut Strided) {
    let width = 3 * hidden;
    let len = qkv.len() / width;
    let scale = (dh as f32).sqrt();
    let mut scores = vec![0.0_f32; len];
    for i in 0..len {
        let q = &qkv[i * width + offset..][..dh];
        for (j, s) in scores.iter_mut().enumerate() {
            *s = dot(q, &qkv[j * width + hidden + offset..][..dh]) / scale;
        }
        softmax(&mut scores);
        let row = out.row(i);
        row.fill(0.0);
        for (j, &p) in scores.iter().enumerate() {
            let v = &qkv[j * width + 2 * hidden + offset..][..dh];
            for (o, &x) in row.iter_mut().zip(v) {
                *o += p * x;
            }
        }
    }
}

/// `dh` columns of consecutive rows of a row-major buffer that other threads write other
/// columns of (one attention head's part of the context rows).
pub(crate) struct Strided {
    base: *mut f32,
    stride: usize,
    width: usize,
    rows: usize,
}

// SAFETY: a `Strided` only reaches its own rows × columns, which no other `Strided` made by
// `Strided::split` shares; the buffer outlives them all (see `Strided::split`).
unsafe impl Send for Strided {}

impl Strided {
    /// The column blocks `[offset, offset + width)` of rows `[row0, row0 + rows)` of `buf`
    /// (stride `stride`) for each `(row0, rows, offset)` in `parts`, which must not overlap.
    pub(crate) fn split(
        buf: &mut [f32],
        stride: usize,
        width: usize,
        parts: &[(usize, usize, usize)],
    ) -> Vec<Strided> {
        parts
            .iter()
            .map(|&(row0, rows, offset)| {
                assert!(offset + width <= stride && (row0 + rows) * stride <= buf.len());
                Strided {
                    // SAFETY: in bounds, checked above.
                    base: unsafe { buf.as_mut_ptr().add(row0 * stride + offset) },
                    stride,
                    width,
                    rows,
                }
            })
            .collect()
    }

    fn row(&mut self, i: usize) -> &mut [f32] {
        assert!(i < self.rows);
        // SAFETY: row i of this block is in bounds (checked in `split`) and only this block
        // reaches it; `&mut self` keeps the returned row unique.
        unsafe { std::slice::from_raw_parts_mut(self.base.add(i * self.stride), self.width) }
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{DEGREE, Table};
    use std::arch::x86_64::*;

    /// erf of eight lanes: the interval's coefficients picked with two 8-entry permutes.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn erf8(x: __m256, t: &Table) -> __m256 {
        let sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0));
        let z = _mm256_andnot_ps(_mm256_set1_ps(-0.0), x);
        let big = _mm256_cmp_ps::<_CMP_GE_OQ>(z, _mm256_set1_ps(4.0));
        let idx = _mm256_cvttps_epi32(_mm256_min_ps(
            _mm256_mul_ps(z, _mm256_set1_ps(4.0)),
            _mm256_set1_ps(15.0),
        ));
        let upper = _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(7)));
        let centre = _mm256_mul_ps(
            _mm256_add_ps(_mm256_cvtepi32_ps(idx), _mm256_set1_ps(0.5)),
            _mm256_set1_ps(0.25),
        );
        let d = _mm256_sub_ps(z, centre);
        // SAFETY: each row of the table has 16 entries, read as two vectors of 8.
        let coef = |j: usize| unsafe {
            let lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(t[j].as_ptr()), idx);
            let hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(t[j].as_ptr().add(8)), idx);
            _mm256_blendv_ps(lo, hi, upper)
        };
        let mut r = coef(DEGREE);
        for j in (0..DEGREE).rev() {
            r = _mm256_fmadd_ps(r, d, coef(j));
        }
        _mm256_or_ps(_mm256_blendv_ps(r, _mm256_set1_ps(1.0), big), sign)
    }

    /// GELU in place, eight at a time (the tail through a zero-padded vector).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gelu(xs: &mut [f32], t: &Table) {
        let one = _mm256_set1_ps(1.0);
        let (half, c) = (
            _mm256_set1_ps(0.5),
            _mm256_set1_ps(std::f32::consts::FRAC_1_SQRT_2),
        );
        let f = |x: __m256| unsafe {
            let e = erf8(_mm256_mul_ps(x, c), t);
            _mm256_mul_ps(_mm256_mul_ps(_mm256_add_ps(e, one), half), x)
        };
        let mut chunks = xs.chunks_exact_mut(8);
        for ch in &mut chunks {
            // SAFETY: eight floats.
            unsafe { _mm256_storeu_ps(ch.as_mut_ptr(), f(_mm256_loadu_ps(ch.as_ptr()))) };
        }
        let tail = chunks.into_remainder();
        let mut buf = [0.0_f32; 8];
        buf[..tail.len()].copy_from_slice(tail);
        // SAFETY: eight floats.
        unsafe { _mm256_storeu_ps(buf.as_mut_ptr(), f(_mm256_loadu_ps(buf.as_ptr()))) };
        tail.copy_from_slice(&buf[..tail.len()]);
    }

    /// `exp(x)` of eight lanes (Cephes' `expf`: x = n·ln 2 + r, a degree-5 polynomial in r,
    /// relative error about 1e-7), for x ≤ 0; below −87.3 the result is 0 or tiny.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) unsafe fn exp8(x: __m256) -> __m256 {
        let x = _mm256_max_ps(x, _mm256_set1_ps(-87.3));
        let n = _mm256_floor_ps(_mm256_fmadd_ps(
            x,
            _mm256_set1_ps(std::f32::consts::LOG2_E),
            _mm256_set1_ps(0.5),
        ));
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
        let mut p = _mm256_set1_ps(1.987_569_2e-4);
        for c in [
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            0.166_666_65,
            0.5,
        ] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
        }
        let p = _mm256_add_ps(
            _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r),
            _mm256_set1_ps(1.0),
        );
        let pow2 = _mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_cvtps_epi32(n),
            _mm256_set1_epi32(127),
        ));
        _mm256_mul_ps(p, _mm256_castsi256_ps(pow2))
    }

    /// `row[i] = exp(row[i] − max)` in place.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn exp_shifted(row: &mut [f32], max: f32) {
        let m = _mm256_set1_ps(max);
        let mut chunks = row.chunks_exact_mut(8);
        for ch in &mut chunks {
            // SAFETY: eight floats.
            unsafe {
                let v = exp8(_mm256_sub_ps(_mm256_loadu_ps(ch.as_ptr()), m));
                _mm256_storeu_ps(ch.as_mut_ptr(), v);
            }
        }
        let tail = chunks.into_remainder();
        let mut buf = [max; 8];
        buf[..tail.len()].copy_from_slice(tail);
        // SAFETY: eight floats.
        unsafe {
            let v = exp8(_mm256_sub_ps(_mm256_loadu_ps(buf.as_ptr()), m));
            _mm256_storeu_ps(buf.as_mut_ptr(), v);
        }
        tail.copy_from_slice(&buf[..tail.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> impl Iterator<Item = f32> {
        (-90_000..=90_000).map(|i| i as f32 * 1e-4)
    }

    #[test]
    fn erf_is_within_1e_7_of_the_f64_erf_everywhere() {
        let worst = grid()
            .map(|x| (f64::from(erf(x)) - libm::erf(f64::from(x))).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 1e-7, "{worst}");
    }

    #[test]
    fn the_vector_gelu_is_the_erf_gelu() {
        let mut xs: Vec<f32> = grid().collect();
        xs.push(f32::MAX);
        xs.push(-f32::MAX);
        let mut got = xs.clone();
        gelu(&mut got);
        for (x, g) in xs.iter().zip(&got) {
            // The vector path is the scalar formula lane by lane, bit for bit ...
            let scalar = (erf(*x * std::f32::consts::FRAC_1_SQRT_2) + 1.0) * 0.5 * *x;
            assert_eq!(g.to_bits(), scalar.to_bits(), "{x}");
            // ... within erf's 1e-7 (times x/2) and the f32 rounding of the result of f64's.
            let x = f64::from(*x);
            let want = x * (1.0 + libm::erf(x / 2f64.sqrt())) / 2.0;
            let slack = 1e-7 * x.abs().max(1.0) + f64::from(f32::EPSILON) * want.abs();
            assert!((f64::from(*g) - want).abs() <= slack, "{x}: {g}");
        }
    }

    #[test]
    fn softmax_weights_sum_to_one_and_follow_exp() {
        let mut row: Vec<f32> = (0..37).map(|i| (i as f32 * 0.77).sin() * 30.0).collect();
        let max = row.iter().copied().fold(f32::MIN, f32::max);
        let want: Vec<f64> = row.iter().map(|&s| f64::from(s - max).exp()).collect();
        let total: f64 = want.iter().sum();
        softmax(&mut row);
        for (g, w) in row.iter().zip(&want) {
            assert!(
                (f64::from(*g) - w / total).abs() < 1e-7,
                "{g} {}",
                w / total
            );
        }
    }
}
