//! Fine-tuning the encoder's last N layers together with the head (`head.freeze = N > 0`).
//!
//! The head is first trained alone on the frozen encoder ([`super::head`]); then the last N
//! transformer layers and the head train together with AdamW (the layers at
//! `head.encoder_learning_rate`, the head at `head.learning_rate`), early-stopped on validation
//! macro-F1. The lower layers never change, so each message goes through them once and the
//! hidden states they produce are kept ([`Cache`]): an epoch runs only the last N layers, forward
//! and backward. Deterministic on CPU: no dropout, a seeded batch order, fixed batch shapes.
//!
//! candle's own BERT layer cannot be trained (its fused LayerNorm has no backward pass), so the
//! layer is written out here with differentiable operations ([`Layer`]); a test pins it to
//! candle's forward pass. The trained tensors keep `model.safetensors`' names, so serving loads
//! the encoder with them swapped in ([`crate::embed::Embedder::load_with`]).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Linear, Module, Optimizer, ParamsAdamW, VarBuilder};
use candle_transformers::models::bert::{BertModel, Config};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::TriageError;
use super::config::HeadParams;
use super::head::Head;
use crate::embed::{Embedder, pool};
use crate::ml::train::metrics::{argmax, f1_macro};

/// Messages run through the frozen layers (or scored) together.
const CHUNK: usize = 32;

/// The tensors of one BERT layer, relative to `encoder.layer.<i>.` in `model.safetensors`.
pub const LAYER_TENSORS: [&str; 16] = [
    "attention.self.query.weight",
    "attention.self.query.bias",
    "attention.self.key.weight",
    "attention.self.key.bias",
    "attention.self.value.weight",
    "attention.self.value.bias",
    "attention.output.dense.weight",
    "attention.output.dense.bias",
    "attention.output.LayerNorm.weight",
    "attention.output.LayerNorm.bias",
    "intermediate.dense.weight",
    "intermediate.dense.bias",
    "output.dense.weight",
    "output.dense.bias",
    "output.LayerNorm.weight",
    "output.LayerNorm.bias",
];

fn err(e: candle_core::Error) -> TriageError {
    TriageError::Train(e.to_string())
}

/// The number of transformer layers of the encoder in `encoder_dir` (`config.json`).
pub fn layer_count(encoder_dir: &Path) -> Result<usize, TriageError> {
    let path = encoder_dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| TriageError::io(&path, e))?;
    let config: Config =
        serde_json::from_str(&text).map_err(|e| TriageError::data(&path, e.to_string()))?;
    Ok(config.num_hidden_layers)
}

/// The name of tensor `name` of layer `layer` in `model.safetensors`.
pub fn tensor_name(layer: usize, name: &str) -> String {
    format!("encoder.layer.{layer}.{name}")
}

/// One BERT layer (post-LayerNorm, as Hugging Face's `BertLayer`) over tensors that may be
/// [`Var`]s: self-attention, residual and LayerNorm, feed-forward with erf GELU, residual and
/// LayerNorm.
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: (Tensor, Tensor),
    intermediate: Linear,
    output: Linear,
    output_norm: (Tensor, Tensor),
    heads: usize,
    eps: f32,
}

impl Layer {
    /// The layer from `t(name)` for each of [`LAYER_TENSORS`].
    fn new(
        config: &Config,
        t: &dyn Fn(&str) -> Result<Tensor, TriageError>,
    ) -> Result<Layer, TriageError> {
        let linear = |p: &str| -> Result<Linear, TriageError> {
            Ok(Linear::new(
                t(&format!("{p}.weight"))?,
                Some(t(&format!("{p}.bias"))?),
            ))
        };
        let norm = |p: &str| -> Result<(Tensor, Tensor), TriageError> {
            Ok((t(&format!("{p}.weight"))?, t(&format!("{p}.bias"))?))
        };
        Ok(Layer {
            query: linear("attention.self.query")?,
            key: linear("attention.self.key")?,
            value: linear("attention.self.value")?,
            attention_out: linear("attention.output.dense")?,
            attention_norm: norm("attention.output.LayerNorm")?,
            intermediate: linear("intermediate.dense")?,
            output: linear("output.dense")?,
            output_norm: norm("output.LayerNorm")?,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps as f32,
        })
    }

    /// `x` `[batch, seq, hidden]`, `mask` the additive attention mask `[batch, 1, 1, seq]`.
    fn forward(&self, x: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (b, s, h) = x.dims3()?;
        let head = h / self.heads;
        // [batch, seq, hidden] → [batch, heads, seq, head]
        let split = |t: Tensor| {
            t.reshape((b, s, self.heads, head))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.query.forward(x)?)?;
        let k = split(self.key.forward(x)?)?;
        let v = split(self.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? / (head as f64).sqrt())?.broadcast_add(mask)?;
        let p = candle_nn::ops::softmax(&scores, D::Minus1)?; // [batch, heads, seq, seq]
        let context = p
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, s, h))?;
        let (w, bias) = &self.attention_norm;
        let a = candle_nn::ops::layer_norm_slow(
            &(self.attention_out.forward(&context)? + x)?,
            w,
            bias,
            self.eps,
        )?;
        let f = self.intermediate.forward(&a)?.gelu_erf()?;
        let (w, bias) = &self.output_norm;
        candle_nn::ops::layer_norm_slow(&(self.output.forward(&f)? + &a)?, w, bias, self.eps)
    }
}

/// The additive attention mask `[batch, 1, 1, seq]` of a 0/1 mask `[batch, seq]`, as Hugging
/// Face's `get_extended_attention_mask`: 0 where attended, the most negative f32 elsewhere.
fn additive_mask(mask: &Tensor) -> candle_core::Result<Tensor> {
    let m = mask.to_dtype(DType::F32)?.unsqueeze(1)?.unsqueeze(1)?;
    (m.ones_like()? - &m)? * f64::from(f32::MIN)
}

/// Each message's hidden states after the frozen lower layers, `[tokens, hidden]`, unpadded.
pub struct Cache {
    states: Vec<Tensor>,
    hidden: usize,
}

impl Cache {
    /// Runs `texts` once through the encoder's embeddings and its first `frozen` layers.
    pub fn build(
        embedder: &Embedder,
        base: &HashMap<String, Tensor>,
        frozen: usize,
        texts: &[&str],
    ) -> Result<Cache, TriageError> {
        let config = Config {
            num_hidden_layers: frozen,
            ..embedder.config().clone()
        };
        let lower = BertModel::load(
            VarBuilder::from_tensors(base.clone(), DType::F32, &Device::Cpu),
            &config,
        )
        .map_err(err)?;
        let mut states = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(CHUNK) {
            let (ids, mask) = embedder.encode(chunk)?;
            let out = lower
                .forward(&ids, &ids.zeros_like().map_err(err)?, Some(&mask))
                .map_err(err)?; // [chunk, longest, hidden]
            let lengths: Vec<u32> = mask.sum(1).and_then(|m| m.to_vec1()).map_err(err)?;
            for (i, len) in lengths.into_iter().enumerate() {
                states.push(
                    out.get(i)
                        .and_then(|t| t.narrow(0, 0, len as usize))
                        .map_err(err)?,
                );
            }
        }
        Ok(Cache {
            states,
            hidden: config.hidden_size,
        })
    }

    /// The rows `rows` padded with zeros to the longest: states `[rows, longest, hidden]` and
    /// the 0/1 mask `[rows, longest]`.
    fn batch(&self, rows: &[usize]) -> candle_core::Result<(Tensor, Tensor)> {
        let longest = rows
            .iter()
            .map(|&i| self.states[i].dim(0))
            .collect::<candle_core::Result<Vec<_>>>()?
            .into_iter()
            .max()
            .unwrap_or(0);
        let mut padded = Vec::with_capacity(rows.len());
        let mut mask = Vec::with_capacity(rows.len() * longest);
        for &i in rows {
            let s = &self.states[i];
            let len = s.dim(0)?;
            padded.push(if len < longest {
                let zeros = Tensor::zeros((longest - len, self.hidden), DType::F32, s.device())?;
                Tensor::cat(&[s, &zeros], 0)?
            } else {
                s.clone()
            });
            mask.extend((0..longest).map(|p| if p < len { 1f32 } else { 0f32 }));
        }
        Ok((
            Tensor::stack(&padded, 0)?,
            Tensor::from_vec(mask, (rows.len(), longest), &Device::Cpu)?,
        ))
    }
}

/// The last layers being trained, named as in `model.safetensors`.
pub struct TopLayers {
    first: usize,
    layers: Vec<Layer>,
    vars: Vec<(String, Var)>,
}

impl TopLayers {
    /// Layers `first..first + n` of `base` as trainable [`Var`]s, starting at their
    /// pre-trained values.
    pub fn new(
        config: &Config,
        base: &HashMap<String, Tensor>,
        first: usize,
        n: usize,
    ) -> Result<TopLayers, TriageError> {
        let mut layers = Vec::with_capacity(n);
        let mut vars = Vec::new();
        for layer in first..first + n {
            let mut own = HashMap::new();
            for name in LAYER_TENSORS {
                let full = tensor_name(layer, name);
                let t = base
                    .get(&full)
                    .ok_or_else(|| TriageError::Train(format!("the encoder has no {full}")))?;
                let var = Var::from_tensor(t).map_err(err)?;
                own.insert(name.to_string(), var.as_tensor().clone());
                vars.push((full, var));
            }
            let get = |name: &str| {
                own.get(name)
                    .cloned()
                    .ok_or_else(|| TriageError::Train(format!("no tensor {name}")))
            };
            layers.push(Layer::new(config, &get)?);
        }
        Ok(TopLayers {
            first,
            layers,
            vars,
        })
    }

    /// Sentence embeddings `[rows, hidden]` of cached rows through the trained layers.
    fn embed(&self, cache: &Cache, rows: &[usize]) -> candle_core::Result<Tensor> {
        let (mut x, mask) = cache.batch(rows)?;
        let additive = additive_mask(&mask)?;
        for layer in &self.layers {
            x = layer.forward(&x, &additive)?;
        }
        pool(&x, &mask)
    }

    /// The current tensors (deep copies), named as in `model.safetensors`.
    pub fn snapshot(&self) -> Result<HashMap<String, Tensor>, TriageError> {
        self.vars
            .iter()
            .map(|(n, v)| Ok((n.clone(), v.as_tensor().copy().map_err(err)?)))
            .collect()
    }

    /// The index of the first trained layer.
    pub fn first(&self) -> usize {
        self.first
    }
}

/// What the joint training did.
pub struct TrainedLayers {
    pub head: Head,
    /// The trained layers' tensors, named as in `model.safetensors`.
    pub tensors: HashMap<String, Tensor>,
    pub epochs: usize,
    /// The epoch (1-based) whose weights were kept.
    pub best_epoch: usize,
    pub best_validation_f1: f64,
}

/// The training rows of the joint training: texts, classes and per-row loss weights.
pub struct TextRows<'a> {
    pub texts: &'a [&'a str],
    pub y: &'a [usize],
    pub weight: &'a [f32],
}

/// Trains the last `params.freeze` layers of the encoder in `encoder_dir` with `head` (trained
/// alone first), keeping the epoch with the best validation macro-F1 (the first on ties);
/// stops after `params.encoder_patience` epochs without a better one. Long because it reads as
/// the training's steps in order (cache the lower layers, make the variables and the two
/// optimisers, run the epochs, keep the best), each a call or a few lines.
pub fn train(
    embedder: &Embedder,
    encoder_dir: &Path,
    train: &TextRows,
    validation: (&[&str], &[usize]),
    head: &Head,
    params: &HeadParams,
    seed: u64,
) -> Result<TrainedLayers, TriageError> {
    let config = embedder.config();
    let n = params.freeze;
    let total = config.num_hidden_layers;
    if n == 0 || n > total {
        return Err(TriageError::Train(format!(
            "head.freeze = {n}: the encoder has {total} layers"
        )));
    }
    let weights = encoder_dir.join("model.safetensors");
    let base = candle_core::safetensors::load(&weights, &Device::Cpu)
        .map_err(|e| TriageError::data(&weights, e.to_string()))?;
    let frozen = total - n;
    let train_cache = Cache::build(embedder, &base, frozen, train.texts)?;
    let val_cache = Cache::build(embedder, &base, frozen, validation.0)?;
    let top = TopLayers::new(config, &base, frozen, n)?;
    drop(base);

    let dev = Device::Cpu;
    let (classes, dim) = (head.classes, head.dim);
    let w = Var::from_tensor(
        &Tensor::from_vec(head.weights.clone(), (classes, dim), &dev).map_err(err)?,
    )
    .map_err(err)?;
    let b = Var::from_tensor(&Tensor::from_vec(head.bias.clone(), classes, &dev).map_err(err)?)
        .map_err(err)?;
    let adamw = |vars: Vec<Var>, lr: f64| {
        AdamW::new(
            vars,
            ParamsAdamW {
                lr,
                weight_decay: params.weight_decay,
                ..ParamsAdamW::default()
            },
        )
        .map_err(err)
    };
    let mut head_opt = adamw(vec![w.clone(), b.clone()], params.learning_rate)?;
    let layer_vars = top.vars.iter().map(|(_, v)| v.clone()).collect();
    let mut layer_opt = adamw(layer_vars, params.encoder_learning_rate)?;

    let snapshot_head = || -> Result<Head, TriageError> {
        Ok(Head {
            weights: w
                .as_tensor()
                .flatten_all()
                .and_then(|t| t.to_vec1())
                .map_err(err)?,
            bias: b.as_tensor().to_vec1().map_err(err)?,
            classes,
            dim,
        })
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x1a7e);
    let mut order: Vec<usize> = (0..train.texts.len()).collect();
    let mut best: Option<(f64, usize, Head, HashMap<String, Tensor>)> = None;
    let mut epochs = 0;
    for epoch in 1..=params.encoder_epochs {
        epochs = epoch;
        order.shuffle(&mut rng);
        for batch in order.chunks(params.batch_size) {
            let x = top.embed(&train_cache, batch).map_err(err)?; // [batch, hidden]
            let loss = weighted_loss(&x, train, batch, &w, &b).map_err(err)?;
            let grads = loss.backward().map_err(err)?;
            head_opt.step(&grads).map_err(err)?;
            layer_opt.step(&grads).map_err(err)?;
        }
        let current = snapshot_head()?;
        let predicted = predict(&top, &val_cache, &current)?;
        let f1 = f1_macro(validation.1, &predicted);
        if best.as_ref().is_none_or(|(f, ..)| f1 > *f) {
            best = Some((f1, epoch, current, top.snapshot()?));
        } else if best
            .as_ref()
            .is_some_and(|(_, e, ..)| epoch - e >= params.encoder_patience)
        {
            break;
        }
    }
    let (best_validation_f1, best_epoch, head, tensors) =
        best.ok_or_else(|| TriageError::Train("no epoch ran (head.encoder_epochs)".into()))?;
    Ok(TrainedLayers {
        head,
        tensors,
        epochs,
        best_epoch,
        best_validation_f1,
    })
}

/// The argmax class of each cached row.
fn predict(top: &TopLayers, cache: &Cache, head: &Head) -> Result<Vec<usize>, TriageError> {
    let rows: Vec<usize> = (0..cache.states.len()).collect();
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(CHUNK) {
        let x: Vec<Vec<f32>> = top
            .embed(cache, chunk)
            .and_then(|t| t.detach().to_vec2())
            .map_err(err)?;
        out.extend(x.iter().map(|x| argmax(&head.proba(x))));
    }
    Ok(out)
}

/// The weighted cross-entropy of one mini-batch of embeddings `x` `[batch, hidden]`:
/// `−Σ wᵢ log p(yᵢ|xᵢ) / Σ wᵢ`.
fn weighted_loss(
    x: &Tensor,
    rows: &TextRows,
    batch: &[usize],
    w: &Var,
    b: &Var,
) -> candle_core::Result<Tensor> {
    let y: Vec<u32> = batch.iter().map(|&i| rows.y[i] as u32).collect();
    let wt: Vec<f32> = batch.iter().map(|&i| rows.weight[i]).collect();
    super::head::weighted_cross_entropy(x, y, wt, w, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoder_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/base/all-minilm-l6-v2")
    }

    /// The layer written out here, on the pre-trained weights, computes what candle's BERT
    /// computes: the cached lower layers plus it give the embedder's embeddings.
    #[test]
    fn the_trainable_layers_reproduce_the_frozen_encoder() {
        let dir = encoder_dir();
        let embedder = Embedder::load(&dir).expect("models/base/all-minilm-l6-v2 (make models)");
        let base = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)
            .expect("weights");
        let texts = [
            "socorro, tem alguma coisa muito errada comigo",
            "hello",
            "what fruit is good during pregnancy",
        ];
        let expected = embedder.embed(&texts).expect("embed");
        for n in [1, 2] {
            let frozen = embedder.config().num_hidden_layers - n;
            let cache = Cache::build(&embedder, &base, frozen, &texts).expect("cache");
            let top = TopLayers::new(embedder.config(), &base, frozen, n).expect("layers");
            let got: Vec<Vec<f32>> = top.embed(&cache, &[0, 1, 2]).unwrap().to_vec2().unwrap();
            for (g, e) in got.iter().zip(&expected) {
                let diff = g
                    .iter()
                    .zip(e)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(diff < 1e-5, "n = {n}: {diff}");
            }
        }
    }
}
