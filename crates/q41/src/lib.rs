//! The matrix product of the local model's Q4_1 weights, with the same numbers as candle's.
//!
//! candle 0.11 multiplies Q4_1 weights with a scalar loop (`BlockQ4_1::vec_dot_unopt`: no SIMD
//! kernel exists for this type on x86), one weight row and one activation row at a time. That loop
//! was most of the local model's time. This crate computes the same thing faster:
//!
//! - weights are regrouped at load time, eight output rows per group and interleaved so that one
//!   row sits in each 32-bit lane of a vector ([`interleave`]); one activation block is read once
//!   for eight rows, and up to four activation rows share each unpacked weight block;
//! - the integer part of each 32-element block (4-bit weight × 8-bit activation) is computed with
//!   AVX2 (`maddubs`/`madd`) with no horizontal addition; integer sums are exact in any order;
//! - the floating-point part is done per output, block by block, in exactly the order and with
//!   exactly the operations of candle's loop (`sum += isum * dw * da + mw * sa`, no fused
//!   multiply-add), eight outputs per vector lane. So every output equals candle's bit for bit,
//!   whatever the tiling, the thread count or how many rows are multiplied together — which is
//!   what makes batched and unbatched decoding give the same tokens, and the answers of the
//!   shipped eval sets unchanged by this work (tested in the gateway: `providers::local::tests::speed`).
//!
//! Activations are quantised to Q8_1 with candle's own `from_float`, as candle does.

use candle_core::quantized::k_quants::{BlockQ8_1, GgmlType};
use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;

/// Elements per quantised block (Q4_1 and Q8_1).
const QK: usize = 32;
/// Output rows per group: one AVX2 vector of f32 lanes.
const ROWS: usize = 8;
/// Bytes of one Q4_1 block in the GGUF: `d: f16, m: f16, qs: [u8; 16]`.
const Q41_BLOCK: usize = 20;
/// Bytes of one regrouped block of eight rows: `d: [f16; 8]`, `m: [f16; 8]`, then the 256
/// weights as 4-bit values interleaved for the kernel (see [`interleave`]).
const GROUP_BLOCK: usize = 16 + 16 + ROWS * 16;
/// Bytes of candle's `BlockQ8_1`: `d: f16, s: f16, qs: [i8; 32]` (`#[repr(C)]`).
const Q81_BLOCK: usize = 36;
const _: () = assert!(std::mem::size_of::<BlockQ8_1>() == Q81_BLOCK);
/// Bytes of one quantised activation block as the kernel reads it: `d: f32, s: f32, qs: [i8; 32]`
/// (candle's block with its two f16 widened, which is exact).
const ACT_BLOCK: usize = 40;
/// Activation rows multiplied together against one unpacked weight block.
const ROW_TILE: usize = 4;
/// From this many activation rows on, quantising them is spread over the thread pool.
const PARALLEL_QUANTIZE_ROWS: usize = 16;

/// A Q4_1 weight matrix of `n` output rows by `k` inputs, regrouped eight rows at a time.
#[derive(Debug)]
pub struct Q41Matrix {
    n: usize,
    k: usize,
    /// `n.div_ceil(8)` groups of `k / 32` blocks; rows past `n` are zero.
    groups: Vec<u8>,
}

impl Q41Matrix {
    /// Regroups a Q4_1 matrix; `None` for any other type or shape (candle multiplies those).
    pub fn from_qtensor(tensor: &QTensor) -> candle_core::Result<Option<Self>> {
        if tensor.dtype() != GgmlDType::Q4_1 {
            return Ok(None);
        }
        let Ok((n, k)) = tensor.shape().dims2() else {
            return Ok(None);
        };
        if k % QK != 0 {
            return Ok(None);
        }
        let data = tensor.data()?;
        let blocks = k / QK;
        if data.len() != n * blocks * Q41_BLOCK {
            return Ok(None);
        }
        let n_groups = n.div_ceil(ROWS);
        let mut groups = vec![0u8; n_groups * blocks * GROUP_BLOCK];
        for row in 0..n {
            let (group, lane) = (row / ROWS, row % ROWS);
            for block in 0..blocks {
                let src = &data[(row * blocks + block) * Q41_BLOCK..][..Q41_BLOCK];
                let dst = &mut groups[(group * blocks + block) * GROUP_BLOCK..][..GROUP_BLOCK];
                dst[lane * 2..lane * 2 + 2].copy_from_slice(&src[0..2]);
                dst[16 + lane * 2..16 + lane * 2 + 2].copy_from_slice(&src[2..4]);
                // Q4_1: element i < 16 is the low nibble of byte i, element i + 16 its high one.
                let mut weights = [0u8; QK];
                for (i, &byte) in src[4..20].iter().enumerate() {
                    weights[i] = byte & 0x0F;
                    weights[i + 16] = byte >> 4;
                }
                interleave(&weights, lane, &mut dst[32..]);
            }
        }
        Ok(Some(Self { n, k, groups }))
    }

    /// The rows of several matrices with the same inputs as one matrix (query, key and value
    /// projections; gate and up), so one product and one pass over the thread pool serve them
    /// all. Each output is computed exactly as in its own matrix. `None` unless every part has
    /// `k` columns and all but the last a multiple of eight rows (groups must not straddle).
    pub fn stack(parts: &[Q41Matrix]) -> Option<Self> {
        let k = parts.first()?.k;
        let (last, head) = parts.split_last()?;
        if parts.iter().any(|p| p.k != k) || head.iter().any(|p| p.n % ROWS != 0) {
            return None;
        }
        let mut groups = Vec::with_capacity(parts.iter().map(|p| p.groups.len()).sum());
        for part in head {
            groups.extend_from_slice(&part.groups);
        }
        groups.extend_from_slice(&last.groups);
        Some(Self {
            n: parts.iter().map(|p| p.n).sum(),
            k,
            groups,
        })
    }

    /// Output rows.
    pub fn rows(&self) -> usize {
        self.n
    }

    /// `dst[r][j] = Σ_i x[r][i] · w[j][i]` for the `m` rows of `x` (row-major, `m × k`);
    /// `dst` is `m × n`. Spread over candle's thread pool.
    pub fn matmul(&self, x: &[f32], dst: &mut [f32]) {
        let (n, k) = (self.n, self.k);
        let m = x.len() / k;
        assert_eq!(x.len(), m * k, "activation length is not a multiple of {k}");
        assert_eq!(dst.len(), m * n, "output length must be {m} × {n}");
        let blocks = k / QK;
        let acts = quantize(x, m, k);
        let n_groups = n.div_ceil(ROWS);
        let dst_addr = dst.as_mut_ptr() as usize;
        let work = |range: std::ops::Range<usize>| {
            let mut lanes = [[0f32; ROWS]; ROW_TILE];
            for group in range {
                let weights = &self.groups[group * blocks * GROUP_BLOCK..][..blocks * GROUP_BLOCK];
                let mut row = 0;
                while row < m {
                    let tile = ROW_TILE.min(m - row);
                    let rows = &acts[row * blocks * ACT_BLOCK..(row + tile) * blocks * ACT_BLOCK];
                    group_dot(weights, blocks, rows, tile, &mut lanes);
                    for (t, out) in lanes.iter().enumerate().take(tile) {
                        let first = group * ROWS;
                        let count = ROWS.min(n - first);
                        // SAFETY: each (row, group) of `dst` is written by exactly one work item,
                        // and `first + count <= n`, `row + t < m`: inside `dst`.
                        unsafe {
                            let base = (dst_addr as *mut f32).add((row + t) * n + first);
                            std::ptr::copy_nonoverlapping(out.as_ptr(), base, count);
                        }
                    }
                    row += tile;
                }
            }
        };
        candle_core::utils::barrier_pool().execute_chunked(n_groups, work);
    }
}

/// Writes row `lane`'s 32 weights (0..=15) into the eight rows' 128 interleaved bytes.
///
/// Byte `32c + 4j + e` holds, in its low nibble, element `8c + e` of row `j` and, in its high
/// nibble, element `8c + 4 + e` (c = 0..4, e = 0..4). Masking the low nibbles of one 32-byte
/// vector gives four consecutive elements of each of the eight rows, one row per 32-bit lane:
/// multiplied by the same four activation bytes broadcast to every lane, `maddubs` and `madd`
/// leave each row's partial sum in its own lane, with no horizontal addition.
fn interleave(weights: &[u8; QK], lane: usize, qs: &mut [u8]) {
    for c in 0..4 {
        for e in 0..4 {
            let byte = &mut qs[32 * c + 4 * lane + e];
            *byte = weights[8 * c + e] | (weights[8 * c + 4 + e] << 4);
        }
    }
}

/// Quantises each row of `x` to Q8_1 blocks with candle's own code, as the kernel reads them.
fn quantize(x: &[f32], m: usize, k: usize) -> Vec<u8> {
    let blocks = k / QK;
    // u64 storage: aligned for `BlockQ8_1` (align 2) and zero-initialised before candle writes it.
    let mut storage = vec![0u64; (m * blocks * Q81_BLOCK).div_ceil(8)];
    {
        // SAFETY: `BlockQ8_1` is `#[repr(C)]` plain data (f16, f16, [i8; 32]) of 36 bytes, valid
        // for any bit pattern; the storage holds at least `m * blocks` of them.
        let out = unsafe {
            std::slice::from_raw_parts_mut(storage.as_mut_ptr().cast::<BlockQ8_1>(), m * blocks)
        };
        if m < PARALLEL_QUANTIZE_ROWS {
            for (row, out) in x.chunks_exact(k).zip(out.chunks_exact_mut(blocks)) {
                BlockQ8_1::from_float(row, out);
            }
        } else {
            // A prompt's rows, spread over the pool: each row is quantised on its own, so the
            // split changes nothing in the result.
            let out_addr = out.as_mut_ptr() as usize;
            candle_core::utils::barrier_pool().execute_chunked(m, |rows| {
                for row in rows {
                    // SAFETY: each row's blocks are written by exactly one work item.
                    let out = unsafe {
                        std::slice::from_raw_parts_mut(
                            (out_addr as *mut BlockQ8_1).add(row * blocks),
                            blocks,
                        )
                    };
                    BlockQ8_1::from_float(&x[row * k..(row + 1) * k], out);
                }
            });
        }
    }
    // SAFETY: the storage holds at least `m * blocks * Q81_BLOCK` initialised bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts(storage.as_ptr().cast::<u8>(), m * blocks * Q81_BLOCK)
    };
    let mut acts = vec![0u8; m * blocks * ACT_BLOCK];
    for (src, dst) in bytes
        .chunks_exact(Q81_BLOCK)
        .zip(acts.chunks_exact_mut(ACT_BLOCK))
    {
        dst[0..4].copy_from_slice(&f16_at(src, 0).to_ne_bytes());
        dst[4..8].copy_from_slice(&f16_at(src, 2).to_ne_bytes());
        dst[8..40].copy_from_slice(&src[4..36]);
    }
    acts
}

fn f32_at(bytes: &[u8], at: usize) -> f32 {
    f32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([bytes[at], bytes[at + 1]])).to_f32()
}

/// Eight outputs (one group) for `tile` activation rows, into `lanes[..tile]`.
fn group_dot(
    weights: &[u8],
    blocks: usize,
    acts: &[u8],
    tile: usize,
    lanes: &mut [[f32; ROWS]; ROW_TILE],
) {
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "f16c"
    ))]
    {
        // SAFETY: the target features are enabled at compile time; slices are bounds-checked
        // by their lengths (`weights` holds `blocks` group blocks, `acts` `tile` rows).
        unsafe { avx2::group_dot(weights, blocks, acts, tile, lanes) }
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "f16c"
    )))]
    group_dot_scalar(weights, blocks, acts, tile, lanes)
}

/// The portable kernel: candle's `vec_dot_unopt` for Q4_1 × Q8_1, per output.
#[cfg_attr(
    all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "f16c"
    ),
    allow(dead_code)
)]
fn group_dot_scalar(
    weights: &[u8],
    blocks: usize,
    acts: &[u8],
    tile: usize,
    lanes: &mut [[f32; ROWS]; ROW_TILE],
) {
    for (t, out) in lanes.iter_mut().enumerate().take(tile) {
        let row = &acts[t * blocks * ACT_BLOCK..][..blocks * ACT_BLOCK];
        for (lane, sum) in out.iter_mut().enumerate() {
            let mut sumf = 0f32;
            for block in 0..blocks {
                let w = &weights[block * GROUP_BLOCK..][..GROUP_BLOCK];
                let a = &row[block * ACT_BLOCK..][..ACT_BLOCK];
                let mut sumi = 0i32;
                for c in 0..4 {
                    for e in 0..4 {
                        let byte = w[32 + 32 * c + 4 * lane + e];
                        let lo = i32::from(byte & 0x0F) * i32::from(a[8 + 8 * c + e] as i8);
                        let hi = i32::from(byte >> 4) * i32::from(a[8 + 8 * c + 4 + e] as i8);
                        sumi += lo + hi;
                    }
                }
                sumf += sumi as f32 * f16_at(w, lane * 2) * f32_at(a, 0)
                    + f16_at(w, 16 + lane * 2) * f32_at(a, 4);
            }
            *sum = sumf;
        }
    }
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "f16c"
))]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{ACT_BLOCK, GROUP_BLOCK, ROW_TILE, ROWS};

    /// See [`super::group_dot`]. Per block and activation row: eight `maddubs` of four weights
    /// of each row (one row per lane, [`super::interleave`]) by four activation bytes broadcast,
    /// summed as 16-bit integers (at most 8 × 2 × 15 × 127 = 30,480: no overflow), one `madd`
    /// to 32 bits, then candle's float arithmetic on the eight lanes.
    #[inline]
    pub unsafe fn group_dot(
        weights: &[u8],
        blocks: usize,
        acts: &[u8],
        tile: usize,
        lanes: &mut [[f32; ROWS]; ROW_TILE],
    ) {
        assert!(weights.len() >= blocks * GROUP_BLOCK);
        assert!(acts.len() >= tile * blocks * ACT_BLOCK && tile <= ROW_TILE);
        unsafe {
            let low = _mm256_set1_epi8(0x0F);
            let ones = _mm256_set1_epi16(1);
            let mut acc = [_mm256_setzero_ps(); ROW_TILE];
            for block in 0..blocks {
                let w = weights.as_ptr().add(block * GROUP_BLOCK);
                let mut sums = [_mm256_setzero_si256(); ROW_TILE];
                for c in 0..4 {
                    let q = _mm256_loadu_si256(w.add(32 + 32 * c).cast());
                    let lo = _mm256_and_si256(q, low);
                    let hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
                    for (t, sum) in sums.iter_mut().enumerate().take(tile) {
                        let a = acts
                            .as_ptr()
                            .add((t * blocks + block) * ACT_BLOCK + 8 + 8 * c);
                        let a_lo = _mm256_set1_epi32(a.cast::<i32>().read_unaligned());
                        let a_hi = _mm256_set1_epi32(a.add(4).cast::<i32>().read_unaligned());
                        *sum = _mm256_add_epi16(*sum, _mm256_maddubs_epi16(lo, a_lo));
                        *sum = _mm256_add_epi16(*sum, _mm256_maddubs_epi16(hi, a_hi));
                    }
                }
                let dw = _mm256_cvtph_ps(_mm_loadu_si128(w.cast()));
                let mw = _mm256_cvtph_ps(_mm_loadu_si128(w.add(16).cast()));
                for t in 0..tile {
                    let a = acts.as_ptr().add((t * blocks + block) * ACT_BLOCK);
                    let da = _mm256_broadcast_ss(&*a.cast::<f32>());
                    let sa = _mm256_broadcast_ss(&*a.add(4).cast::<f32>());
                    let sumi = _mm256_madd_epi16(sums[t], ones);
                    // candle: sumf += sumi as f32 * d_w * d_a + m_w * s_a, left to right.
                    let term = _mm256_add_ps(
                        _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(sumi), dw), da),
                        _mm256_mul_ps(mw, sa),
                    );
                    acc[t] = _mm256_add_ps(acc[t], term);
                }
            }
            for (t, out) in lanes.iter_mut().enumerate().take(tile) {
                _mm256_storeu_ps(out.as_mut_ptr(), acc[t]);
            }
        }
    }
}
