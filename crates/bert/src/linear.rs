//! Dense layers `y = x·Wᵀ + b` (PyTorch's and candle's `Linear`), with the weights packed once at
//! load time so that the product reads them in the order the kernel uses them.
//!
//! The weight `[n, k]` is stored as panels of [`NR`] output columns: panel `p` holds, for each
//! `k`, the 16 weights of columns `16p..16p+16` side by side (`[n/16][k][16]`). The AVX2 kernel
//! keeps a block of up to [`MR`] rows × 16 columns of `y` in twelve registers, and for each `k`
//! loads two vectors of the panel and broadcasts one value of each row of `x`: no packing of `x`
//! per call (`gemm` packs its left-hand side on every product), and a panel (24 KB for k = 384)
//! stays in L1 while every row block of the call goes through it.

/// Output columns per panel: two AVX2 vectors of f32.
pub(crate) const NR: usize = 16;
/// Rows of `x` per kernel call (12 accumulators, 2 weight vectors, 1 broadcast: 15 of the 16
/// AVX2 registers).
const MR: usize = 6;

/// A dense layer's weight, packed in panels, and its bias.
pub struct Linear {
    /// Inputs per row.
    pub(crate) k: usize,
    /// Outputs per row (a multiple of [`NR`]).
    pub(crate) n: usize,
    /// `[n / NR][k][NR]`.
    packed: Vec<f32>,
    bias: Vec<f32>,
}

impl Linear {
    /// From a weight in PyTorch's layout `[n, k]` (row-major) and a bias `[n]`.
    pub fn new(weight: &[f32], bias: &[f32], n: usize, k: usize) -> Result<Linear, String> {
        if !n.is_multiple_of(NR) || weight.len() != n * k || bias.len() != n {
            return Err(format!(
                "a {n}×{k} layer needs a multiple of {NR} outputs, {} weights and {n} biases \
                 (got {} and {})",
                n * k,
                weight.len(),
                bias.len()
            ));
        }
        let mut packed = vec![0.0; n * k];
        for (col, row) in weight.chunks_exact(k).enumerate() {
            let (panel, lane) = (col / NR, col % NR);
            for (kk, &w) in row.iter().enumerate() {
                packed[(panel * k + kk) * NR + lane] = w;
            }
        }
        Ok(Linear {
            k,
            n,
            packed,
            bias: bias.to_vec(),
        })
    }

    /// Several layers on the same input as one, their outputs side by side (query, key and value
    /// in one product). Panels are whole columns, so this only appends them.
    pub fn concat(parts: Vec<Linear>) -> Linear {
        let k = parts[0].k;
        assert!(
            parts.iter().all(|p| p.k == k),
            "layers of different input sizes"
        );
        let mut out = Linear {
            k,
            n: 0,
            packed: Vec::new(),
            bias: Vec::new(),
        };
        for p in parts {
            out.n += p.n;
            out.packed.extend(p.packed);
            out.bias.extend(p.bias);
        }
        out
    }

    /// The weight back in PyTorch's layout `[n, k]`.
    pub fn weight(&self) -> Vec<f32> {
        let mut w = vec![0.0; self.n * self.k];
        for (i, &v) in self.packed.iter().enumerate() {
            let (lane, kk, panel) = (i % NR, (i / NR) % self.k, i / (NR * self.k));
            w[(panel * NR + lane) * self.k + kk] = v;
        }
        w
    }

    /// The bias `[n]`.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// `y = x·Wᵀ + b` for the rows of `x` (`[rows, k]`) into `y` (`[rows, n]`), on this thread.
    /// Each output is its dot product summed in `k` order with fused multiply-adds, then the
    /// bias added (candle adds the bias after the product too).
    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        let rows = x.len() / self.k;
        assert!(x.len() == rows * self.k && y.len() == rows * self.n);
        #[cfg(target_arch = "x86_64")]
        if crate::ops::avx2() {
            // SAFETY: AVX2 and FMA are present; the slices have the sizes asserted above.
            unsafe { avx2::forward(self, x, y, rows) };
            return;
        }
        for (xr, yr) in x.chunks_exact(self.k).zip(y.chunks_exact_mut(self.n)) {
            for (col, out) in yr.iter_mut().enumerate() {
                let panel = &self.packed[(col / NR) * self.k * NR..];
                let mut sum = 0.0_f32;
                for (kk, &a) in xr.iter().enumerate() {
                    sum = a.mul_add(panel[kk * NR + col % NR], sum);
                }
                *out = sum + self.bias[col];
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Linear, MR, NR};
    use std::arch::x86_64::*;

    /// Every panel, every block of [`MR`] rows (the last block shorter).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn forward(l: &Linear, x: &[f32], y: &mut [f32], rows: usize) {
        let (k, n) = (l.k, l.n);
        for panel in 0..n / NR {
            let w = l.packed[panel * k * NR..(panel + 1) * k * NR].as_ptr();
            let bias = l.bias[panel * NR..].as_ptr();
            let mut r = 0;
            // SAFETY (all calls): rows r..r+R of x and y exist, the panel holds k × NR weights.
            unsafe {
                let (xp, yp) = (x.as_ptr(), y.as_mut_ptr().add(panel * NR));
                while r + MR <= rows {
                    block::<MR>(xp.add(r * k), k, w, bias, yp.add(r * n), n);
                    r += MR;
                }
                let (xr, yr) = (xp.add(r * k), yp.add(r * n));
                match rows - r {
                    5 => block::<5>(xr, k, w, bias, yr, n),
                    4 => block::<4>(xr, k, w, bias, yr, n),
                    3 => block::<3>(xr, k, w, bias, yr, n),
                    2 => block::<2>(xr, k, w, bias, yr, n),
                    1 => block::<1>(xr, k, w, bias, yr, n),
                    _ => {}
                }
            }
        }
    }

    /// `R` rows × [`NR`] columns: `y[r][0..16] = Σ_k x[r][k] · w[k][0..16] + bias[0..16]`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn block<const R: usize>(
        x: *const f32,
        k: usize,
        w: *const f32,
        bias: *const f32,
        y: *mut f32,
        ldy: usize,
    ) {
        let mut lo = [_mm256_setzero_ps(); R];
        let mut hi = [_mm256_setzero_ps(); R];
        // SAFETY: the caller guarantees R rows of k inputs at x, k × NR weights at w, NR biases
        // and R rows of at least NR outputs (stride ldy) at y.
        unsafe {
            for kk in 0..k {
                let w0 = _mm256_loadu_ps(w.add(kk * NR));
                let w1 = _mm256_loadu_ps(w.add(kk * NR + 8));
                for r in 0..R {
                    let a = _mm256_broadcast_ss(&*x.add(r * k + kk));
                    lo[r] = _mm256_fmadd_ps(a, w0, lo[r]);
                    hi[r] = _mm256_fmadd_ps(a, w1, hi[r]);
                }
            }
            let (b0, b1) = (_mm256_loadu_ps(bias), _mm256_loadu_ps(bias.add(8)));
            for r in 0..R {
                _mm256_storeu_ps(y.add(r * ldy), _mm256_add_ps(lo[r], b0));
                _mm256_storeu_ps(y.add(r * ldy + 8), _mm256_add_ps(hi[r], b1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn the_packed_product_is_the_plain_one_for_every_row_count() {
        let (n, k) = (48, 37);
        let (w, b) = (pseudo(n * k, 1), pseudo(n, 2));
        let l = Linear::new(&w, &b, n, k).unwrap();
        assert_eq!(l.weight(), w);
        for rows in 1..=13 {
            let x = pseudo(rows * k, rows as u32);
            let mut y = vec![0.0; rows * n];
            l.forward(&x, &mut y);
            for r in 0..rows {
                for c in 0..n {
                    let want: f64 = (0..k)
                        .map(|i| f64::from(x[r * k + i]) * f64::from(w[c * k + i]))
                        .sum::<f64>()
                        + f64::from(b[c]);
                    assert!(
                        (f64::from(y[r * n + c]) - want).abs() < 1e-5,
                        "{rows} {r} {c}"
                    );
                }
            }
        }
    }
}
