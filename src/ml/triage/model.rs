//! A trained triage version loaded for the request path: the frozen encoder and the head, with
//! the per-class thresholds chosen on validation. It is the guard's second opinion
//! ([`SecondOpinion`]): on each user turn it embeds the message once (a few milliseconds on
//! one core in a release build) and names `red_flag` / `self_harm` when their probability reaches
//! the threshold.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::head::Head;
use super::{CLASSES, ESCALATING, FORMAT, TriageError, sha256_hex};
use crate::embed::Embedder;
use crate::guard::second_opinion::SecondOpinion;
use crate::guard::{Category, Lang};

/// `triage.json`: what the head was trained on and how it is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageFile {
    pub format: String,
    pub version: String,
    pub classes: Vec<String>,
    /// Escalating class → the probability at or above which it escalates.
    pub thresholds: BTreeMap<String, f64>,
    /// The base model's name (`models/base/<name>`).
    pub base_model: String,
    /// SHA-256 of the encoder's `model.safetensors`: the head is meaningless on another encoder.
    pub encoder_sha256: String,
    pub dim: usize,
    /// How many of the encoder's last layers were fine-tuned (`head.freeze`); their tensors are
    /// in [`LAYERS_FILE`]. Absent (0) for a head on the frozen encoder.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub trained_layers: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The fine-tuned encoder layers of a version, named as in the base `model.safetensors`.
pub const LAYERS_FILE: &str = "encoder_layers.safetensors";

/// A trained triage version with its encoder.
#[derive(Clone)]
pub struct TriageModel {
    pub file: TriageFile,
    head: Head,
    embedder: Embedder,
}

impl std::fmt::Debug for TriageModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TriageModel")
            .field("version", &self.file.version)
            .finish_non_exhaustive()
    }
}

impl TriageModel {
    /// Reads `version_dir` (`triage.json`, `head.safetensors`, and [`LAYERS_FILE`] when layers
    /// were fine-tuned) and loads the encoder of `encoder_dir`, which must be the one it was
    /// trained on (`encoder_sha256`), with the fine-tuned layers swapped in. Slow (the encoder
    /// is read): once at start-up.
    pub fn load(version_dir: &Path, encoder_dir: &Path) -> Result<TriageModel, TriageError> {
        let encoder_sha = encoder_sha256(encoder_dir)?;
        let path = version_dir.join("triage.json");
        let text = std::fs::read_to_string(&path).map_err(|e| TriageError::io(&path, e))?;
        let file: TriageFile =
            serde_json::from_str(&text).map_err(|e| TriageError::data(&path, e.to_string()))?;
        if file.format != FORMAT || file.classes != CLASSES {
            return Err(TriageError::data(
                &path,
                format!(
                    "format {:?} with classes {:?} is not {FORMAT}",
                    file.format, file.classes
                ),
            ));
        }
        if file.encoder_sha256 != encoder_sha {
            return Err(TriageError::data(
                &path,
                "the head was trained on another encoder (encoder_sha256 differs)",
            ));
        }
        let weights = version_dir.join("head.safetensors");
        let tensors = candle_core::safetensors::load(&weights, &candle_core::Device::Cpu)
            .map_err(|e| TriageError::data(&weights, e.to_string()))?;
        let read = |name: &str| -> Result<Vec<f32>, TriageError> {
            tensors
                .get(name)
                .ok_or_else(|| TriageError::data(&weights, format!("no tensor {name:?}")))?
                .flatten_all()
                .and_then(|t| t.to_vec1())
                .map_err(|e| TriageError::data(&weights, e.to_string()))
        };
        let head = Head {
            weights: read("weight")?,
            bias: read("bias")?,
            classes: CLASSES.len(),
            dim: file.dim,
        };
        if head.weights.len() != head.classes * head.dim || head.bias.len() != head.classes {
            return Err(TriageError::data(
                &weights,
                "tensor shapes do not match triage.json",
            ));
        }
        let embedder = if file.trained_layers == 0 {
            Embedder::load(encoder_dir)?
        } else {
            let path = version_dir.join(LAYERS_FILE);
            let layers = candle_core::safetensors::load(&path, &candle_core::Device::Cpu)
                .map_err(|e| TriageError::data(&path, e.to_string()))?;
            let total = super::layers::layer_count(encoder_dir)?;
            let first = total.saturating_sub(file.trained_layers);
            let expected: Vec<String> = (first..total)
                .flat_map(|l| {
                    super::layers::LAYER_TENSORS
                        .iter()
                        .map(move |n| super::layers::tensor_name(l, n))
                })
                .collect();
            if file.trained_layers > total
                || layers.len() != expected.len()
                || expected.iter().any(|n| !layers.contains_key(n))
            {
                return Err(TriageError::data(
                    &path,
                    format!(
                        "expected the tensors of the last {} of {total} encoder layers",
                        file.trained_layers
                    ),
                ));
            }
            Embedder::load_with(encoder_dir, layers)?
        };
        Ok(TriageModel {
            file,
            head,
            embedder,
        })
    }

    /// A version from its parts (a trained head on an encoder), without files: for tests and
    /// benchmarks that need a model but not a training run.
    pub fn from_parts(file: TriageFile, head: Head, embedder: Embedder) -> TriageModel {
        TriageModel {
            file,
            head,
            embedder,
        }
    }

    /// Class probabilities of each text, in [`CLASSES`] order.
    pub fn proba(&self, texts: &[&str]) -> Result<Vec<Vec<f64>>, TriageError> {
        Ok(self
            .embedder
            .embed(texts)?
            .iter()
            .map(|x| self.head.proba(x))
            .collect())
    }

    /// The escalating classes whose probability reaches their threshold.
    pub fn escalating(&self, p: &[f64]) -> Vec<usize> {
        ESCALATING
            .into_iter()
            .filter(|&c| {
                self.file
                    .thresholds
                    .get(CLASSES[c])
                    .is_some_and(|t| p[c] >= *t)
            })
            .collect()
    }

    /// The guard's categories for class probabilities `p`: those whose threshold `p` reaches.
    pub fn categories(&self, p: &[f64]) -> Vec<Category> {
        self.escalating(p)
            .into_iter()
            .map(|c| {
                if c == super::RED_FLAG {
                    Category::RedFlag
                } else {
                    Category::SelfHarm
                }
            })
            .collect()
    }
}

impl SecondOpinion for TriageModel {
    fn escalations(&self, text: &str, _lang: Lang) -> Vec<Category> {
        match self.proba(&[text]) {
            Ok(p) => self.categories(&p[0]),
            // A reader that cannot answer says nothing: the lexicons stand.
            Err(_) => Vec::new(),
        }
    }

    fn name(&self) -> &str {
        "triage"
    }
}

/// SHA-256 of `<encoder_dir>/model.safetensors`.
pub fn encoder_sha256(encoder_dir: &Path) -> Result<String, TriageError> {
    let path = encoder_dir.join("model.safetensors");
    let bytes = std::fs::read(&path).map_err(|e| TriageError::io(&path, e))?;
    Ok(sha256_hex(&bytes))
}
