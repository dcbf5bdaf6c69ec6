//! A sequence's attention state: keys and values in place, and the attention of one new token
//! over them with candle's arithmetic but none of its copies.

use candle_core::{Device, Result, Tensor};

pub(super) fn flat(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// One layer's keys and values, each `[n_kv][capacity][head_dim]`, the first `len` positions
/// filled. Appending writes the new positions in place (candle's cache concatenated the whole
/// cache again at every token, then copied it once per query head).
#[derive(Debug, Clone, Default)]
pub(super) struct Kv {
    k: Vec<f32>,
    v: Vec<f32>,
    pub(super) len: usize,
    capacity: usize,
}

impl Kv {
    /// Appends `t` positions of `k` and `v`, each laid out `[n_kv][t][d]`.
    pub(super) fn append(&mut self, k: &[f32], v: &[f32], t: usize, n_kv: usize, d: usize) {
        if self.len + t > self.capacity {
            let capacity = (self.len + t).max(self.capacity * 2).max(64);
            let grow = |old: &[f32]| {
                let mut new = vec![0f32; n_kv * capacity * d];
                for head in 0..n_kv {
                    let rows = &old[head * self.capacity * d..][..self.len * d];
                    new[head * capacity * d..][..self.len * d].copy_from_slice(rows);
                }
                new
            };
            self.k = grow(&self.k);
            self.v = grow(&self.v);
            self.capacity = capacity;
        }
        for head in 0..n_kv {
            let at = (head * self.capacity + self.len) * d;
            self.k[at..at + t * d].copy_from_slice(&k[head * t * d..][..t * d]);
            self.v[at..at + t * d].copy_from_slice(&v[head * t * d..][..t * d]);
        }
        self.len += t;
    }

    /// Keys and values of one head (`len × d`, rows contiguous).
    fn head(&self, head: usize, d: usize) -> (&[f32], &[f32]) {
        let at = head * self.capacity * d;
        (
            &self.k[at..at + self.len * d],
            &self.v[at..at + self.len * d],
        )
    }

    /// The cache as candle tensors `1 × n_kv × len × d` (a copy).
    pub(super) fn tensors(&self, n_kv: usize, d: usize) -> Result<(Tensor, Tensor)> {
        let mut k = Vec::with_capacity(n_kv * self.len * d);
        let mut v = Vec::with_capacity(n_kv * self.len * d);
        for head in 0..n_kv {
            let (hk, hv) = self.head(head, d);
            k.extend_from_slice(hk);
            v.extend_from_slice(hv);
        }
        let shape = (1, n_kv, self.len, d);
        Ok((
            Tensor::from_vec(k, shape, &Device::Cpu)?,
            Tensor::from_vec(v, shape, &Device::Cpu)?,
        ))
    }
}

/// Attention of one new token per sequence (`q`: `rows × n_head × d`, rotated) over each
/// sequence's cache, without copying it; returns `rows × n_head × d`.
///
/// Exactly candle's computation for a one-token query, head by head: `q · kᵀ` with the same
/// `gemm` call (`m = 1`, `n = len`, `k = d`, the same strides) candle's batched matmul makes for
/// each head; candle's `/ √d` (`x * (1/√d) + 0`) and `softmax_last_dim` (its max and sum
/// reductions, `exp`, division), written out; then `att · v`, again candle's `gemm` call. Only the
/// copies are gone (each query head reads its key/value head in place instead of a repeated copy
/// of the cache), and the (sequence, head) pairs, independent of each other, are spread over the
/// thread pool.
pub(super) fn decode_attention(
    q: &[f32],
    kvs: &[&Kv],
    n_head: usize,
    n_kv: usize,
    d: usize,
) -> Vec<f32> {
    let mut y = vec![0f32; kvs.len() * n_head * d];
    let y_addr = y.as_mut_ptr() as usize;
    let n_rep = n_head / n_kv;
    let parallelism = parallelism();
    candle_core::utils::barrier_pool().execute_chunked(kvs.len() * n_head, |items| {
        let mut scores = Vec::new();
        for item in items {
            let (row, head) = (item / n_head, item % n_head);
            let kv = kvs[row];
            let len = kv.len;
            let (k, v) = kv.head(head / n_rep, d);
            let q = &q[item * d..][..d];
            scores.clear();
            scores.resize(len, 0f32);
            // q · kᵀ: the rows of `k` are the columns of kᵀ (column stride d, row stride 1).
            // SAFETY: `scores` holds len, `q` d, `k` len rows of d.
            unsafe { row_product(scores.as_mut_ptr(), len, q, k.as_ptr(), (d, 1), parallelism) };
            softmax(&mut scores, (1.0 / (d as f64).sqrt()) as f32);
            // att · v: `v` is len rows of d (column stride 1, row stride d).
            // SAFETY: item `item` alone writes `y[item * d..][..d]`, inside `y`; `v` is len × d.
            unsafe {
                let dst = (y_addr as *mut f32).add(item * d);
                row_product(dst, d, &scores, v.as_ptr(), (1, d), parallelism);
            }
        }
    });
    y
}

/// `dst (1 × n) = lhs (1 × lhs.len()) · rhs (lhs.len() × n)` with `rhs`'s (column, row) strides:
/// the gemm call candle's matmul makes for one head of a one-token query (destination and lhs
/// contiguous, alpha 0, beta 1).
///
/// # Safety
/// `dst` must hold `n` values and `rhs` every index its strides reach for `lhs.len()` rows and
/// `n` columns.
unsafe fn row_product(
    dst: *mut f32,
    n: usize,
    lhs: &[f32],
    rhs: *const f32,
    (rhs_cs, rhs_rs): (usize, usize),
    parallelism: gemm::Parallelism,
) {
    let k = lhs.len();
    // SAFETY: the caller's contract; lhs is 1 × k, contiguous.
    unsafe {
        gemm::gemm(
            1,
            n,
            k,
            dst,
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            0f32,
            1f32,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// candle's `affine(scale, 0)` then `softmax_last_dim` on one row, in place.
fn softmax(row: &mut [f32], scale: f32) {
    use candle_core::cpu::kernels::VecOps;
    for x in row.iter_mut() {
        *x = *x * scale + 0f32;
    }
    let mut max = f32::NEG_INFINITY;
    // SAFETY: both reductions read `row.len()` elements of `row`, which is not empty (the cache
    // holds at least the new token).
    unsafe { <f32 as VecOps>::vec_reduce_max(row.as_ptr(), &mut max, row.len()) };
    for x in row.iter_mut() {
        *x = (*x - max).exp();
    }
    let mut sum = 0f32;
    unsafe { <f32 as VecOps>::vec_reduce_sum(row.as_ptr(), &mut sum, row.len()) };
    for x in row.iter_mut() {
        *x /= sum;
    }
}

/// The threading candle's matmul asks gemm for; read once (candle reads the CPU list on every
/// call).
fn parallelism() -> gemm::Parallelism {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    match *THREADS.get_or_init(candle_core::utils::get_num_threads) {
        threads if threads > 1 => gemm::Parallelism::Rayon(threads),
        _ => gemm::Parallelism::None,
    }
}
