//! The sentence encoder's inference forward: a BERT encoder (post-LayerNorm, GELU in its erf
//! form, absolute positions, token type 0) followed by mean pooling under the attention mask and
//! L2 normalisation, i.e. candle's `BertModel` plus sentence-transformers' pooling, computed in
//! f32 for the gateway's request path (the triage classifier's second opinion, issue #19).
//!
//! It computes the same function as candle, not the same bits: products sum in another order
//! (fused multiply-adds along `k`), layer norms take their variance in two passes, erf and exp
//! are vectorised approximations within 1e-7. The gateway tests the embeddings against candle's
//! to 1e-5 (`embed::fast` tests). What makes it faster than candle on 2 cores:
//!
//! - weights are packed once for the product kernel ([`linear`]); query, key and value are one
//!   product `[hidden × 3·hidden]`;
//! - each sentence runs at its own length: the sentences of a batch are laid end to end as rows
//!   (no padding), attention runs per sentence and head on the real length only;
//! - everything but attention is row-wise, so each thread takes a block of rows through the
//!   attention output, both layer norms, the feed-forward and GELU in one go, in its own cache;
//!   two parallel regions per layer, no allocation per operation.

pub mod linear;
mod ops;

use linear::{Linear, NR};
use rayon::prelude::*;

pub use ops::erf;

/// The sizes of a BERT encoder (its `config.json`).
#[derive(Clone, Debug)]
pub struct Dims {
    /// `hidden_size` (a multiple of 16).
    pub hidden: usize,
    /// `num_attention_heads`; `hidden / heads` must be a multiple of 8.
    pub heads: usize,
    /// `intermediate_size` (a multiple of 16).
    pub intermediate: usize,
    /// `num_hidden_layers`.
    pub layers: usize,
    /// `layer_norm_eps`.
    pub eps: f32,
}

/// A tensor by name, as `(shape, values in row-major order)`.
pub type Named = (String, Vec<usize>, Vec<f32>);

/// One transformer layer.
struct Layer {
    /// Query, key and value side by side: `[hidden] → [3·hidden]`.
    qkv: Linear,
    /// `attention.output.dense`.
    attn_out: Linear,
    /// `attention.output.LayerNorm`: weight, bias.
    norm1: (Vec<f32>, Vec<f32>),
    /// `intermediate.dense`.
    up: Linear,
    /// `output.dense`.
    down: Linear,
    /// `output.LayerNorm`.
    norm2: (Vec<f32>, Vec<f32>),
}

/// The encoder's weights, loaded once and packed.
pub struct Encoder {
    dims: Dims,
    /// `[vocab, hidden]`.
    words: Vec<f32>,
    /// `[max positions, hidden]`.
    positions: Vec<f32>,
    /// `[type vocab, hidden]`; only type 0 is used (sentence-transformers passes zeros).
    types: Vec<f32>,
    type_rows: usize,
    norm: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
}

/// Rows one thread takes through a layer at most (its feed-forward activations, 48 × 1536
/// floats, stay in its L2 cache).
const MAX_BLOCK: usize = 48;

impl Encoder {
    /// Reads every tensor by its name in a BERT `model.safetensors` (`embeddings.…`,
    /// `encoder.layer.{i}.…`) through `tensor`, which returns its shape and values.
    pub fn new(
        dims: Dims,
        mut tensor: impl FnMut(&str) -> Result<(Vec<usize>, Vec<f32>), String>,
    ) -> Result<Encoder, String> {
        let h = dims.hidden;
        let fits = dims.heads > 0
            && h.is_multiple_of(NR)
            && dims.intermediate.is_multiple_of(NR)
            && h.is_multiple_of(dims.heads)
            && (h / dims.heads).is_multiple_of(8);
        if !fits {
            return Err(format!("unsupported sizes {dims:?}"));
        }
        let mut matrix = |name: &str, cols: usize| -> Result<(usize, Vec<f32>), String> {
            let (shape, v) = tensor(name)?;
            match shape.as_slice() {
                [rows, c] if *c == cols => Ok((*rows, v)),
                _ => Err(format!("{name} is {shape:?}, expected [_, {cols}]")),
            }
        };
        let (_, words) = matrix("embeddings.word_embeddings.weight", h)?;
        let (_, positions) = matrix("embeddings.position_embeddings.weight", h)?;
        let (type_rows, types) = matrix("embeddings.token_type_embeddings.weight", h)?;
        let mut vector = |name: &str, len: usize| -> Result<Vec<f32>, String> {
            let (shape, v) = tensor(name)?;
            if shape != [len] {
                return Err(format!("{name} is {shape:?}, expected [{len}]"));
            }
            Ok(v)
        };
        let norm = (
            vector("embeddings.LayerNorm.weight", h)?,
            vector("embeddings.LayerNorm.bias", h)?,
        );
        let layers = (0..dims.layers)
            .map(|i| Layer::new(&dims, &format!("encoder.layer.{i}."), &mut tensor))
            .collect::<Result<_, _>>()?;
        Ok(Encoder {
            dims,
            words,
            positions,
            types,
            type_rows,
            norm,
            layers,
        })
    }

    /// The sizes this encoder was built with.
    pub fn dims(&self) -> &Dims {
        &self.dims
    }

    /// Every tensor [`Encoder::new`] read, back in its original layout (to build another
    /// implementation of the same model from these weights).
    pub fn tensors(&self) -> Vec<Named> {
        let h = self.dims.hidden;
        let mut out: Vec<Named> = vec![
            (
                "embeddings.word_embeddings.weight".into(),
                vec![self.words.len() / h, h],
                self.words.clone(),
            ),
            (
                "embeddings.position_embeddings.weight".into(),
                vec![self.positions.len() / h, h],
                self.positions.clone(),
            ),
            (
                "embeddings.token_type_embeddings.weight".into(),
                vec![self.type_rows, h],
                self.types.clone(),
            ),
            (
                "embeddings.LayerNorm.weight".into(),
                vec![h],
                self.norm.0.clone(),
            ),
            (
                "embeddings.LayerNorm.bias".into(),
                vec![h],
                self.norm.1.clone(),
            ),
        ];
        for (i, layer) in self.layers.iter().enumerate() {
            layer.tensors(h, &format!("encoder.layer.{i}."), &mut out);
        }
        out
    }

    /// Unit-length sentence embeddings of `sentences`, each given as its token ids (unpadded,
    /// already truncated). Runs on rayon's pool.
    pub fn embed(&self, sentences: &[&[u32]]) -> Result<Vec<Vec<f32>>, String> {
        // On a pool thread from the start: each parallel region below is then split among the
        // workers, not injected into the pool from outside and waited for (twelve times).
        rayon::scope(|_| self.forward(sentences))
    }

    fn forward(&self, sentences: &[&[u32]]) -> Result<Vec<Vec<f32>>, String> {
        let h = self.dims.hidden;
        let max = self.positions.len() / h;
        let vocab = self.words.len() / h;
        for s in sentences {
            if s.len() > max || s.iter().any(|&id| id as usize >= vocab) {
                return Err(format!(
                    "a sentence of {} tokens has an id outside the vocabulary or is longer than {max}",
                    s.len()
                ));
            }
        }
        let rows: usize = sentences.iter().map(|s| s.len()).sum();
        let mut x = vec![0.0_f32; rows * h];
        for (row, (pos, &id)) in x
            .chunks_exact_mut(h)
            .zip(sentences.iter().flat_map(|s| s.iter().enumerate()))
        {
            let (w, p) = (
                &self.words[id as usize * h..][..h],
                &self.positions[pos * h..][..h],
            );
            for (((o, &w), &t), &p) in row.iter_mut().zip(w).zip(&self.types[..h]).zip(p) {
                *o = (w + t) + p;
            }
            ops::add_norm(row, &[], &self.norm.0, &self.norm.1, self.dims.eps);
        }
        let lengths: Vec<usize> = sentences.iter().map(|s| s.len()).collect();
        let mut qkv = vec![0.0_f32; rows * 3 * h];
        let mut ctx = vec![0.0_f32; rows * h];
        let block = block_rows(rows);
        for layer in &self.layers {
            x.par_chunks(block * h)
                .zip(qkv.par_chunks_mut(block * 3 * h))
                .for_each(|(x, qkv)| layer.qkv.forward(x, qkv));
            self.attention(&qkv, &lengths, &mut ctx);
            x.par_chunks_mut(block * h)
                .zip(ctx.par_chunks(block * h))
                .for_each(|(x, ctx)| layer.rest(&self.dims, ctx, x));
        }
        Ok(pool(&x, &lengths, h))
    }

    /// Self-attention of every sentence and head, in parallel: `qkv` `[rows, 3·hidden]` →
    /// `ctx` `[rows, hidden]`.
    fn attention(&self, qkv: &[f32], lengths: &[usize], ctx: &mut [f32]) {
        let (h, heads) = (self.dims.hidden, self.dims.heads);
        let dh = h / heads;
        let mut parts = Vec::with_capacity(lengths.len() * heads);
        let mut row0 = 0;
        for &len in lengths {
            parts.extend((0..heads).map(|head| (row0, len, head * dh)));
            row0 += len;
        }
        let outs = ops::Strided::split(ctx, h, dh, &parts);
        parts
            .into_par_iter()
            .zip(outs)
            .for_each(|((row0, len, offset), mut out)| {
                let rows = &qkv[row0 * 3 * h..(row0 + len) * 3 * h];
                ops::attend(rows, h, offset, dh, &mut out);
            });
    }
}

impl Layer {
    fn new(
        dims: &Dims,
        prefix: &str,
        tensor: &mut impl FnMut(&str) -> Result<(Vec<usize>, Vec<f32>), String>,
    ) -> Result<Layer, String> {
        let mut linear = |name: &str, n: usize, k: usize| -> Result<Linear, String> {
            let (ws, w) = tensor(&format!("{prefix}{name}.weight"))?;
            let (bs, b) = tensor(&format!("{prefix}{name}.bias"))?;
            if ws != [n, k] || bs != [n] {
                return Err(format!(
                    "{prefix}{name} is {ws:?} + {bs:?}, expected [{n}, {k}]"
                ));
            }
            Linear::new(&w, &b, n, k)
        };
        let (h, i) = (dims.hidden, dims.intermediate);
        let qkv = Linear::concat(vec![
            linear("attention.self.query", h, h)?,
            linear("attention.self.key", h, h)?,
            linear("attention.self.value", h, h)?,
        ]);
        let attn_out = linear("attention.output.dense", h, h)?;
        let up = linear("intermediate.dense", i, h)?;
        let down = linear("output.dense", h, i)?;
        let mut norm = |name: &str| -> Result<(Vec<f32>, Vec<f32>), String> {
            let mut one = |part: &str| {
                let (s, v) = tensor(&format!("{prefix}{name}.LayerNorm.{part}"))?;
                if s != [h] {
                    return Err(format!("{prefix}{name}.LayerNorm.{part} is {s:?}"));
                }
                Ok(v)
            };
            Ok((one("weight")?, one("bias")?))
        };
        Ok(Layer {
            qkv,
            attn_out,
            norm1: norm("attention.output")?,
            up,
            down,
            norm2: norm("output")?,
        })
    }

    fn tensors(&self, h: usize, prefix: &str, out: &mut Vec<Named>) {
        let mut linear = |name: &str, w: Vec<f32>, b: &[f32], n: usize, k: usize| {
            out.push((format!("{prefix}{name}.weight"), vec![n, k], w));
            out.push((format!("{prefix}{name}.bias"), vec![n], b.to_vec()));
        };
        let qkv = self.qkv.weight();
        for (j, name) in ["query", "key", "value"].iter().enumerate() {
            let w = qkv[j * h * h..(j + 1) * h * h].to_vec();
            let b = &self.qkv.bias()[j * h..(j + 1) * h];
            linear(&format!("attention.self.{name}"), w, b, h, h);
        }
        let (a, u, d) = (&self.attn_out, &self.up, &self.down);
        linear("attention.output.dense", a.weight(), a.bias(), a.n, a.k);
        linear("intermediate.dense", u.weight(), u.bias(), u.n, u.k);
        linear("output.dense", d.weight(), d.bias(), d.n, d.k);
        for (name, (g, b)) in [("attention.output", &self.norm1), ("output", &self.norm2)] {
            out.push((
                format!("{prefix}{name}.LayerNorm.weight"),
                vec![h],
                g.clone(),
            ));
            out.push((format!("{prefix}{name}.LayerNorm.bias"), vec![h], b.clone()));
        }
    }

    /// The rest of the layer for a block of rows, on this thread: `x` (the layer's input, its
    /// output on return) and `ctx` (the attention's context rows).
    fn rest(&self, dims: &Dims, ctx: &[f32], x: &mut [f32]) {
        let (h, eps) = (dims.hidden, dims.eps);
        let rows = x.len() / h;
        let mut attended = vec![0.0_f32; rows * h];
        self.attn_out.forward(ctx, &mut attended);
        for (a, r) in attended.chunks_exact_mut(h).zip(x.chunks_exact(h)) {
            ops::add_norm(a, r, &self.norm1.0, &self.norm1.1, eps);
        }
        let mut inner = vec![0.0_f32; rows * dims.intermediate];
        self.up.forward(&attended, &mut inner);
        ops::gelu(&mut inner);
        self.down.forward(&inner, x);
        for (o, r) in x.chunks_exact_mut(h).zip(attended.chunks_exact(h)) {
            ops::add_norm(o, r, &self.norm2.0, &self.norm2.1, eps);
        }
    }
}

/// Rows per parallel block: the rows shared evenly between rayon's threads, in whole kernel
/// blocks of 6, at most [`MAX_BLOCK`].
fn block_rows(rows: usize) -> usize {
    let per_thread = rows.div_ceil(rayon::current_num_threads().max(1));
    (per_thread.div_ceil(6) * 6).clamp(6, MAX_BLOCK)
}

/// Mean of each sentence's token rows, then divided by its L2 norm (at least 1e-12), as
/// sentence-transformers' Pooling and Normalize.
fn pool(x: &[f32], lengths: &[usize], h: usize) -> Vec<Vec<f32>> {
    let mut row0 = 0;
    lengths
        .iter()
        .map(|&len| {
            let mut sum = vec![0.0_f32; h];
            for row in x[row0 * h..(row0 + len) * h].chunks_exact(h) {
                for (s, v) in sum.iter_mut().zip(row) {
                    *s += v;
                }
            }
            row0 += len;
            let count = (len as f32).max(1e-9);
            let mean: Vec<f32> = sum.iter().map(|s| s / count).collect();
            let norm = mean.iter().map(|m| m * m).sum::<f32>().sqrt().max(1e-12);
            mean.iter().map(|m| m / norm).collect()
        })
        .collect()
}
