//! The local model's transformer: candle's `quantized_llama` (dense Llama path), forked so that
//! (1) Q4_1 weights are multiplied by `powerbirth_q41` (crates/q41) instead of candle's scalar loop and (2) the
//! decode step of several sequences runs as one forward pass ([`Model::decode_batch`]).
//!
//! Forked from candle-transformers 0.11.1 `models/quantized_llama.rs` (MIT/Apache-2.0,
//! © the candle authors); the mixture-of-experts and GGML-v1 paths are left out. Every operation
//! other than the Q4_1 product is candle's, called with the same shapes, so the logits equal
//! `candle_transformers::models::quantized_llama::ModelWeights`'s bit for bit (tested in
//! `super::tests::speed`): same model, same answers.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor, gguf_file};
use candle_core::{CpuStorage, CustomOp1, DType, Device, IndexOp, Layout, Module, Result, Shape};
use candle_core::{Tensor, bail};
use candle_nn::Embedding;

use powerbirth_q41::Q41Matrix;

/// Positions the rotary tables cover (as candle's).
pub const MAX_SEQ_LEN: usize = 4096;

/// Query rows of a prompt whose attention scores are computed together.
const QUERY_CHUNK: usize = 64;

/// A weight matrix: regrouped Q4_1 when it is one, candle's `QMatMul` otherwise.
#[derive(Debug, Clone)]
enum Linear {
    Q41(Arc<Q41Matrix>),
    Candle(QMatMul),
}

impl Linear {
    fn new(tensor: QTensor) -> Result<Self> {
        Ok(match Q41Matrix::from_qtensor(&tensor)? {
            Some(matrix) => Linear::Q41(Arc::new(matrix)),
            None => Linear::Candle(QMatMul::from_qtensor(tensor)?),
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Q41(matrix) => x.apply_op1_no_bwd(&Q41Op(Arc::clone(matrix))),
            Linear::Candle(inner) => inner.forward(x),
        }
    }
}

/// `x @ wᵀ` over the last dimension of `x`, as a candle op (forward only).
struct Q41Op(Arc<Q41Matrix>);

impl CustomOp1 for Q41Op {
    fn name(&self) -> &'static str {
        "q4_1-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            bail!("q4_1-matmul: f32 activations expected")
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            bail!("q4_1-matmul: contiguous activations expected")
        };
        let mut dims = layout.shape().dims().to_vec();
        let Some(last) = dims.last_mut() else {
            bail!("q4_1-matmul: a scalar has no rows")
        };
        *last = self.0.rows();
        let shape = Shape::from(dims);
        let mut dst = vec![0f32; shape.elem_count()];
        self.0.matmul(&data[start..end], &mut dst);
        Ok((CpuStorage::F32(dst), shape))
    }
}

#[derive(Debug)]
struct Layer {
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    attention_norm: Tensor,
    w1: Linear,
    w2: Linear,
    w3: Linear,
    ffn_norm: Tensor,
}

/// The weights, read once and shared by every sequence.
#[derive(Debug)]
pub struct Weights {
    tok_embeddings: Embedding,
    layers: Vec<Layer>,
    norm: Tensor,
    output: Linear,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    eps: f32,
    cos: Tensor,
    sin: Tensor,
    neg_inf: Tensor,
}

/// One sequence: the shared weights and this sequence's KV cache. Cloning is cheap (tensors are
/// reference-counted) and the clone's next forward pass appends to new tensors, never to the
/// original's: the prefix cache relies on it.
#[derive(Debug, Clone)]
pub struct Model {
    weights: Arc<Weights>,
    /// Per layer; shared with clones until one of them appends (copy on write).
    kv: Vec<Arc<Kv>>,
    /// Causal masks keyed by (seq_len, kv_len).
    masks: HashMap<(usize, usize), Tensor>,
}

fn precompute_freqs_cis(head_dim: usize, freq_base: f32) -> Result<(Tensor, Tensor)> {
    let theta: Vec<_> = (0..head_dim)
        .step_by(2)
        .map(|i| 1f32 / freq_base.powf(i as f32 / head_dim as f32))
        .collect();
    let theta = Tensor::new(theta.as_slice(), &Device::Cpu)?;
    let idx_theta = Tensor::arange(0, MAX_SEQ_LEN as u32, &Device::Cpu)?
        .to_dtype(DType::F32)?
        .reshape((MAX_SEQ_LEN, 1))?
        .matmul(&theta.reshape((1, theta.elem_count()))?)?;
    Ok((idx_theta.cos()?, idx_theta.sin()?))
}

impl Model {
    /// Reads a Llama-architecture GGUF (SmolLM2). Mixture-of-experts models are refused.
    pub fn from_gguf<R: std::io::Seek + std::io::Read>(
        ct: gguf_file::Content,
        reader: &mut R,
    ) -> Result<Self> {
        let device = &Device::Cpu;
        let md = |s: &str| match ct.metadata.get(s) {
            None => bail!("cannot find {s} in metadata"),
            Some(v) => Ok(v),
        };
        if md("llama.expert_count")
            .and_then(|v| v.to_u32())
            .unwrap_or(0)
            > 1
        {
            bail!("mixture-of-experts models are not supported by the local engine");
        }
        let arch = md("general.architecture")?.to_string()?.clone();
        if arch != "llama" {
            bail!("architecture {arch:?} is not supported by the local engine (llama only)");
        }
        let n_head = md("llama.attention.head_count")?.to_u32()? as usize;
        let n_kv_head = md("llama.attention.head_count_kv")?.to_u32()? as usize;
        let block_count = md("llama.block_count")?.to_u32()? as usize;
        let embedding_length = md("llama.embedding_length")?.to_u32()? as usize;
        let rope_dim = md("llama.rope.dimension_count")?.to_u32()? as usize;
        let eps = md("llama.attention.layer_norm_rms_epsilon")?.to_f32()?;
        let freq_base = md("llama.rope.freq_base")
            .and_then(|m| m.to_f32())
            .unwrap_or(10000f32);
        let (cos, sin) = precompute_freqs_cis(rope_dim, freq_base)?;
        let mut tensor = |name: &str| ct.tensor(reader, name, device);
        let tok_embeddings_q = tensor("token_embd.weight")?;
        let tok_embeddings = tok_embeddings_q.dequantize(device)?;
        let norm = tensor("output_norm.weight")?.dequantize(device)?;
        let output = match tensor("output.weight") {
            Ok(output) => output,
            Err(_) => tok_embeddings_q,
        };
        let mut layers = Vec::with_capacity(block_count);
        for i in 0..block_count {
            let mut get = |name: &str| tensor(&format!("blk.{i}.{name}.weight"));
            layers.push(Layer {
                wq: Linear::new(get("attn_q")?)?,
                wk: Linear::new(get("attn_k")?)?,
                wv: Linear::new(get("attn_v")?)?,
                wo: Linear::new(get("attn_output")?)?,
                attention_norm: get("attn_norm")?.dequantize(device)?,
                w1: Linear::new(get("ffn_gate")?)?,
                w2: Linear::new(get("ffn_down")?)?,
                w3: Linear::new(get("ffn_up")?)?,
                ffn_norm: get("ffn_norm")?.dequantize(device)?,
            });
        }
        let weights = Weights {
            tok_embeddings: Embedding::new(tok_embeddings, embedding_length),
            layers,
            norm,
            output: Linear::new(output)?,
            n_head,
            n_kv_head,
            head_dim: embedding_length / n_head,
            eps,
            cos,
            sin,
            neg_inf: Tensor::new(f32::NEG_INFINITY, device)?,
        };
        Ok(Self {
            kv: vec![Arc::new(Kv::default()); weights.layers.len()],
            weights: Arc::new(weights),
            masks: HashMap::new(),
        })
    }

    /// Tokens already in this sequence's KV cache.
    pub fn position(&self) -> usize {
        self.kv.first().map_or(0, |kv| kv.len)
    }

    /// Reads `x` (`1 × seq_len` token ids) at `index_pos` and returns the logits of its last
    /// token (`1 × vocab`), as candle's `ModelWeights::forward`.
    pub fn forward(&mut self, x: &Tensor, index_pos: usize) -> Result<Tensor> {
        let (_b, seq_len) = x.dims2()?;
        let mask = if seq_len == 1 {
            None
        } else {
            Some(self.mask(seq_len, index_pos)?)
        };
        let w = Arc::clone(&self.weights);
        let mut h = w.tok_embeddings.forward(x)?;
        for (layer, kv) in w.layers.iter().zip(self.kv.iter_mut()) {
            let x = candle_nn::ops::rms_norm(&h, &layer.attention_norm, w.eps)?;
            let attn = w.attention(layer, kv, &x, mask.as_ref(), index_pos)?;
            let attn = layer.wo.forward(&attn)?;
            h = (attn + &h)?;
            h = (w.mlp(layer, &h)? + &h)?;
        }
        let x = candle_nn::ops::rms_norm(&h, &w.norm, w.eps)?;
        w.output.forward(&x.i((.., seq_len - 1, ..))?)
    }

    /// One decode step for several sequences at once: `tokens[i]` is read by `seqs[i]` at its
    /// own position. The weight products run once for all rows; attention runs per sequence on
    /// its own cache. Returns each sequence's logits (`1 × vocab`), equal bit for bit to what
    /// [`Model::forward`] gives for that sequence alone.
    pub fn decode_batch(seqs: &mut [&mut Model], tokens: &[u32]) -> Result<Vec<Tensor>> {
        if seqs.len() != tokens.len() {
            bail!(
                "decode_batch: {} sequences, {} tokens",
                seqs.len(),
                tokens.len()
            );
        }
        let Some(first) = seqs.first() else {
            return Ok(Vec::new());
        };
        let w = Arc::clone(&first.weights);
        if seqs.iter().any(|s| !Arc::ptr_eq(&s.weights, &w)) {
            bail!("decode_batch: sequences of different models");
        }
        let positions: Vec<usize> = seqs.iter().map(|s| s.position()).collect();
        let ids = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(1)?;
        let mut h = w.tok_embeddings.forward(&ids)?;
        for (index, layer) in w.layers.iter().enumerate() {
            let x = candle_nn::ops::rms_norm(&h, &layer.attention_norm, w.eps)?;
            let mut parts = Vec::with_capacity(seqs.len());
            for (row, seq) in seqs.iter_mut().enumerate() {
                let x = x.narrow(0, row, 1)?;
                parts.push(w.attention(layer, &mut seq.kv[index], &x, None, positions[row])?);
            }
            let attn = layer.wo.forward(&Tensor::cat(&parts, 0)?)?;
            h = (attn + &h)?;
            h = (w.mlp(layer, &h)? + &h)?;
        }
        let x = candle_nn::ops::rms_norm(&h, &w.norm, w.eps)?;
        let logits = w.output.forward(&x.i((.., 0, ..))?)?;
        (0..seqs.len())
            .map(|row| logits.narrow(0, row, 1))
            .collect()
    }

    fn mask(&mut self, seq_len: usize, index_pos: usize) -> Result<Tensor> {
        let kv_len = index_pos + seq_len;
        if let Some(mask) = self.masks.get(&(seq_len, kv_len)) {
            return Ok(mask.clone());
        }
        let mask: Vec<u8> = (0..seq_len)
            .flat_map(|i| (0..kv_len).map(move |j| u8::from(j > index_pos + i)))
            .collect();
        let mask = Tensor::from_slice(&mask, (seq_len, kv_len), &Device::Cpu)?;
        self.masks.insert((seq_len, kv_len), mask.clone());
        Ok(mask)
    }
}

impl Weights {
    fn rotary(&self, x: &Tensor, index_pos: usize) -> Result<Tensor> {
        let (_b, _h, seq_len, _d) = x.dims4()?;
        let cos = self.cos.narrow(0, index_pos, seq_len)?;
        let sin = self.sin.narrow(0, index_pos, seq_len)?;
        candle_nn::rotary_emb::rope_i(&x.contiguous()?, &cos, &sin)
    }

    /// Attention of `x` (`1 × seq_len × embd`, already normed) before the output projection;
    /// appends this chunk's keys and values to `kv`.
    fn attention(
        &self,
        layer: &Layer,
        kv: &mut Arc<Kv>,
        x: &Tensor,
        mask: Option<&Tensor>,
        index_pos: usize,
    ) -> Result<Tensor> {
        let (b, seq_len, embd) = x.dims3()?;
        let (n_head, n_kv, d) = (self.n_head, self.n_kv_head, self.head_dim);
        let q = layer
            .wq
            .forward(x)?
            .reshape((b, seq_len, n_head, d))?
            .transpose(1, 2)?;
        let k = layer
            .wk
            .forward(x)?
            .reshape((b, seq_len, n_kv, d))?
            .transpose(1, 2)?;
        let v = layer
            .wv
            .forward(x)?
            .reshape((b, seq_len, n_kv, d))?
            .transpose(1, 2)?;
        let v = v.contiguous()?;
        let q = self.rotary(&q, index_pos)?;
        let k = self.rotary(&k, index_pos)?;
        if index_pos != kv.len && index_pos != 0 {
            bail!(
                "attention at position {index_pos} after {} cached tokens",
                kv.len
            );
        }
        let kv = Arc::make_mut(kv);
        if index_pos == 0 {
            kv.len = 0;
        }
        kv.append(&flat(&k)?, &flat(&v)?, seq_len, n_kv, d);
        if seq_len == 1 {
            let y = decode_attention(&flat(&q)?, kv, n_head, n_kv, d)?;
            return Tensor::from_vec(y, (b, seq_len, embd), &Device::Cpu);
        }
        // The prompt: candle's own computation on the whole cache, `QUERY_CHUNK` query rows at a
        // time so the score matrix stays small (a 1,000-token prompt's is 36 MB per layer in one
        // piece). Every score row is computed as in one piece: gemm's blocking of the summed
        // dimension does not depend on the number of rows, and softmax is per row.
        let (k, v) = kv.tensors(n_kv, d)?;
        let k = repeat_kv(k, n_head / n_kv)?.t()?;
        let v = repeat_kv(v, n_head / n_kv)?.contiguous()?;
        let mut parts = Vec::with_capacity(seq_len.div_ceil(QUERY_CHUNK));
        for start in (0..seq_len).step_by(QUERY_CHUNK) {
            let rows = QUERY_CHUNK.min(seq_len - start);
            let q = q.narrow(2, start, rows)?;
            let att = (q.matmul(&k)? / (d as f64).sqrt())?;
            let att = match mask {
                None => att,
                Some(mask) => {
                    let mask = mask.narrow(0, start, rows)?.broadcast_as(att.shape())?;
                    mask.where_cond(&self.neg_inf.broadcast_as(mask.shape().dims())?, &att)?
                }
            };
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            parts.push(att.matmul(&v)?);
        }
        let y = Tensor::cat(&parts, 2)?;
        y.transpose(1, 2)?.reshape(&[b, seq_len, embd])
    }

    fn mlp(&self, layer: &Layer, h: &Tensor) -> Result<Tensor> {
        let x = candle_nn::ops::rms_norm(h, &layer.ffn_norm, self.eps)?;
        let gate = candle_nn::ops::silu(&layer.w1.forward(&x)?)?;
        layer.w2.forward(&(gate * layer.w3.forward(&x)?)?)
    }
}

/// candle-transformers' `utils::repeat_kv`: each key/value head repeated for its query heads.
fn repeat_kv(xs: Tensor, n_rep: usize) -> Result<Tensor> {
    if n_rep == 1 {
        return Ok(xs);
    }
    let (b, n_kv, seq_len, d) = xs.dims4()?;
    Tensor::cat(&vec![&xs; n_rep], 2)?.reshape((b, n_kv * n_rep, seq_len, d))
}

fn flat(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// One layer's keys and values, each `[n_kv][capacity][head_dim]`, the first `len` positions
/// filled. Appending writes the new positions in place (candle's cache concatenated the whole
/// cache again at every token, then copied it once per query head).
#[derive(Debug, Clone, Default)]
pub(super) struct Kv {
    k: Vec<f32>,
    v: Vec<f32>,
    len: usize,
    capacity: usize,
}

impl Kv {
    /// Appends `t` positions of `k` and `v`, each laid out `[n_kv][t][d]`.
    fn append(&mut self, k: &[f32], v: &[f32], t: usize, n_kv: usize, d: usize) {
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
    fn tensors(&self, n_kv: usize, d: usize) -> Result<(Tensor, Tensor)> {
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

/// Attention of one new token (`q`: `n_head × d`, rotated) over the cache, without copying it.
///
/// Exactly candle's computation for a one-token query: `q · kᵀ` per head with the same `gemm`
/// call (`m = 1`, `n = len`, `k = d`, the same strides) candle's batched matmul makes for each
/// head, candle's `/ √d` and `softmax_last_dim`, then `att · v` per head, again the same `gemm`
/// call. Only the copies are gone: each query head reads its key/value head in place instead of
/// from a repeated copy of the cache.
fn decode_attention(q: &[f32], kv: &Kv, n_head: usize, n_kv: usize, d: usize) -> Result<Vec<f32>> {
    let len = kv.len;
    let n_rep = n_head / n_kv;
    let threads = candle_core::utils::get_num_threads();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let mut scores = vec![0f32; n_head * len];
    for head in 0..n_head {
        let (k, _) = kv.head(head / n_rep, d);
        let (q, dst) = (&q[head * d..][..d], &mut scores[head * len..][..len]);
        // SAFETY: `dst` is 1 × len, `q` 1 × d, `k` len rows of d: every index gemm forms from
        // these sizes and strides is inside them.
        unsafe {
            gemm::gemm(
                1,
                len,
                d,
                dst.as_mut_ptr(),
                1,
                len as isize,
                false,
                q.as_ptr(),
                1,
                d as isize,
                k.as_ptr(),
                d as isize,
                1,
                0f32,
                1f32,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
    let att = (Tensor::from_vec(scores, (1, n_head, 1, len), &Device::Cpu)? / (d as f64).sqrt())?;
    let att = flat(&candle_nn::ops::softmax_last_dim(&att)?)?;
    let mut y = vec![0f32; n_head * d];
    for head in 0..n_head {
        let (_, v) = kv.head(head / n_rep, d);
        let (att, dst) = (&att[head * len..][..len], &mut y[head * d..][..d]);
        // SAFETY: `dst` is 1 × d, `att` 1 × len, `v` len rows of d.
        unsafe {
            gemm::gemm(
                1,
                d,
                len,
                dst.as_mut_ptr(),
                1,
                d as isize,
                false,
                att.as_ptr(),
                1,
                len as isize,
                v.as_ptr(),
                1,
                d as isize,
                0f32,
                1f32,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
    Ok(y)
}
