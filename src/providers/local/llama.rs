//! The local model's transformer: candle's `quantized_llama` (dense Llama path), forked so that
//! (1) Q4_1 weights are multiplied by `powerbirth_q41` (crates/q41) instead of candle's scalar
//! loop, (2) keys and values stay in place ([`super::kv`]) and (3) the decode step of several
//! sequences runs as one forward pass ([`Model::decode_batch`]).
//!
//! Forked from candle-transformers 0.11.1 `models/quantized_llama.rs` (MIT/Apache-2.0,
//! © the candle authors); the mixture-of-experts and GGML-v1 paths are left out. Every operation
//! other than the Q4_1 product is candle's, called with the same shapes, so the logits equal
//! `candle_transformers::models::quantized_llama::ModelWeights`'s bit for bit (tested in
//! `super::tests::speed`): same model, same answers.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor, bail};
use candle_nn::Embedding;

use super::kv::{Kv, decode_attention, flat};
use super::linear::{Linear, Projection};

/// Positions the rotary tables cover (as candle's).
pub const MAX_SEQ_LEN: usize = 4096;

#[derive(Debug)]
struct Layer {
    /// Query, key and value.
    qkv: Projection,
    wo: Linear,
    attention_norm: Tensor,
    /// Gate (`w1`) and up (`w3`).
    gate_up: Projection,
    w2: Linear,
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
                qkv: Projection::new(vec![get("attn_q")?, get("attn_k")?, get("attn_v")?])?,
                wo: Linear::new(get("attn_output")?)?,
                attention_norm: get("attn_norm")?.dequantize(device)?,
                gate_up: Projection::new(vec![get("ffn_gate")?, get("ffn_up")?])?,
                w2: Linear::new(get("ffn_down")?)?,
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
            kv: (0..weights.layers.len())
                .map(|_| Arc::new(Kv::default()))
                .collect(),
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
        if seq_len == 1 {
            if index_pos == 0 {
                self.kv
                    .iter_mut()
                    .for_each(|kv| *kv = Arc::new(Kv::default()));
            }
            let token = x.flatten_all()?.to_vec1::<u32>()?;
            return Self::decode(&mut [self], &token, &[index_pos]);
        }
        let mask = Some(self.mask(seq_len, index_pos)?);
        let w = Arc::clone(&self.weights);
        let mut h = w.tok_embeddings.forward(x)?;
        for (layer, kv) in w.layers.iter().zip(self.kv.iter_mut()) {
            let x = candle_nn::ops::rms_norm(&h, &layer.attention_norm, w.eps)?;
            let qkv = layer.qkv.forward(&x)?;
            let attn = w.attention(kv, &qkv, mask.as_ref(), index_pos)?;
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
    /// [`Model::forward`] gives for that sequence alone (which is this with one sequence).
    pub fn decode_batch(seqs: &mut [&mut Model], tokens: &[u32]) -> Result<Vec<Tensor>> {
        let positions: Vec<usize> = seqs.iter().map(|s| s.position()).collect();
        let logits = Self::decode(seqs, tokens, &positions)?;
        (0..seqs.len())
            .map(|row| logits.narrow(0, row, 1))
            .collect()
    }

    /// The decode step of [`Model::decode_batch`]: logits `seqs.len() × vocab`.
    fn decode(seqs: &mut [&mut Model], tokens: &[u32], positions: &[usize]) -> Result<Tensor> {
        if seqs.len() != tokens.len() || seqs.len() != positions.len() {
            bail!("decode: {} sequences, {} tokens", seqs.len(), tokens.len());
        }
        let Some(first) = seqs.first() else {
            bail!("decode: no sequence");
        };
        let w = Arc::clone(&first.weights);
        if seqs.iter().any(|s| !Arc::ptr_eq(&s.weights, &w)) {
            bail!("decode: sequences of different models");
        }
        let (rows, n_head, n_kv, d) = (seqs.len(), w.n_head, w.n_kv_head, w.head_dim);
        // Each row's rotation at its own position: candle's rope with per-row tables.
        let at = Tensor::new(
            positions.iter().map(|&p| p as u32).collect::<Vec<_>>(),
            &Device::Cpu,
        )?;
        let cos = w.cos.index_select(&at, 0)?.unsqueeze(1)?;
        let sin = w.sin.index_select(&at, 0)?.unsqueeze(1)?;
        let rope = |x: &Tensor, heads: usize| {
            let x = x
                .reshape((rows, 1, heads, d))?
                .transpose(1, 2)?
                .contiguous()?;
            flat(&candle_nn::rotary_emb::rope_i(&x, &cos, &sin)?)
        };
        let ids = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(1)?;
        let mut h = w.tok_embeddings.forward(&ids)?;
        for (index, layer) in w.layers.iter().enumerate() {
            let x = candle_nn::ops::rms_norm(&h, &layer.attention_norm, w.eps)?;
            let [q, k, v]: [Tensor; 3] = layer.qkv.forward(&x)?.try_into().map_err(|_| {
                candle_core::Error::Msg("attention needs query, key and value".into())
            })?;
            let (q, k, v) = (rope(&q, n_head)?, rope(&k, n_kv)?, flat(&v)?);
            for (row, seq) in seqs.iter_mut().enumerate() {
                if seq.kv[index].len != positions[row] {
                    bail!(
                        "decode at position {} after {} cached tokens",
                        positions[row],
                        seq.kv[index].len
                    );
                }
                let at = row * n_kv * d..(row + 1) * n_kv * d;
                Arc::make_mut(&mut seq.kv[index]).append(&k[at.clone()], &v[at], 1, n_kv, d);
            }
            let kvs: Vec<&Kv> = seqs.iter().map(|s| &*s.kv[index]).collect();
            let y = decode_attention(&q, &kvs, n_head, n_kv, d);
            let attn =
                layer
                    .wo
                    .forward(&Tensor::from_vec(y, (rows, 1, n_head * d), &Device::Cpu)?)?;
            h = (attn + &h)?;
            h = (w.mlp(layer, &h)? + &h)?;
        }
        let x = candle_nn::ops::rms_norm(&h, &w.norm, w.eps)?;
        w.output.forward(&x.i((.., 0, ..))?)
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

    /// Attention of one sequence's projections (`qkv`: query, key, value, each
    /// `1 × seq_len × heads·d`) before the output projection; appends the keys and values to `kv`.
    fn attention(
        &self,
        kv: &mut Arc<Kv>,
        qkv: &[Tensor],
        mask: Option<&Tensor>,
        index_pos: usize,
    ) -> Result<Tensor> {
        let [q, k, v] = qkv else {
            bail!("attention needs query, key and value")
        };
        let (b, seq_len, embd) = q.dims3()?;
        let (n_head, n_kv, d) = (self.n_head, self.n_kv_head, self.head_dim);
        let q = q.reshape((b, seq_len, n_head, d))?.transpose(1, 2)?;
        let k = k.reshape((b, seq_len, n_kv, d))?.transpose(1, 2)?;
        let v = v.reshape((b, seq_len, n_kv, d))?.transpose(1, 2)?;
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
        // The prompt: candle's own computation on the whole cache, one head at a time. candle's
        // batched matmul already makes one gemm call per head, so the numbers are the same, and
        // the score matrix is one head's (a 1,000-token prompt's is 4 MB instead of 36 MB: small
        // enough for the allocator to reuse rather than map and fault in afresh each time).
        // Splitting by query rows instead changes gemm's order of work on long prompts.
        let (k, v) = kv.tensors(n_kv, d)?;
        let k = repeat_kv(k, n_head / n_kv)?;
        let v = repeat_kv(v, n_head / n_kv)?.contiguous()?;
        let mut heads = Vec::with_capacity(n_head);
        for head in 0..n_head {
            let q = q.narrow(1, head, 1)?;
            let att = (q.matmul(&k.narrow(1, head, 1)?.t()?)? / (d as f64).sqrt())?;
            let att = match mask {
                None => att,
                Some(mask) => {
                    let mask = mask.broadcast_as(att.shape())?;
                    mask.where_cond(&self.neg_inf.broadcast_as(mask.shape().dims())?, &att)?
                }
            };
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            heads.push(att.matmul(&v.narrow(1, head, 1)?)?);
        }
        let y = Tensor::cat(&heads, 1)?;
        y.transpose(1, 2)?.reshape(&[b, seq_len, embd])
    }

    fn mlp(&self, layer: &Layer, h: &Tensor) -> Result<Tensor> {
        let x = candle_nn::ops::rms_norm(h, &layer.ffn_norm, self.eps)?;
        let [gate, up] =
            layer.gate_up.forward(&x)?.try_into().map_err(|_| {
                candle_core::Error::Msg("the feed-forward needs gate and up".into())
            })?;
        layer.w2.forward(&(candle_nn::ops::silu(&gate)? * up)?)
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
