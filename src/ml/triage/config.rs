//! The triage fine-tuning configuration (`training/configs/triage.yaml`): the base encoder, the
//! data sources, deduplication, split, balance, the head's hyper-parameters and where the
//! versions go. Unknown keys are errors with the file's line; relative paths are read from the
//! config file's folder, so a config prepares and trains the same from any working directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A triage config as written (paths resolved by [`TriageConfig::load`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageConfig {
    /// The registry's model name and the tarball's prefix (`triage`).
    pub task: String,
    /// The base encoder folder (`models/base/<name>`, with `modelcard.yaml`).
    pub base_model: PathBuf,
    /// The guard's data folder: its PII redaction cleans every message before it is kept.
    pub guard_dir: PathBuf,
    pub sources: Sources,
    #[serde(default)]
    pub dedup: Dedup,
    #[serde(default)]
    pub split: Split,
    #[serde(default)]
    pub balance: Balance,
    pub seed: u64,
    pub head: HeadParams,
    /// Prepared datasets go to `<processed>/<timestamp>/`.
    pub processed: PathBuf,
    /// Trained versions go to `<models>/<version>/` and `<models>/<task>-<version>.tar.gz`.
    pub models: PathBuf,
}

/// Where the labelled messages come from. Only the guard's development part may be named: the
/// held-out parts are the classifier's test sets ([`super::prepare`] refuses them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// Folders of the guard's labelled `*.jsonl` (`evalsets/guard/dev`).
    pub guard_sets: Vec<PathBuf>,
    /// Eval set files (TOML) that nurse reviews were promoted into; a case with the `escalated`
    /// assertion becomes a `red_flag` example (its last user message).
    #[serde(default)]
    pub promoted: Vec<PathBuf>,
    /// More JSONL files in the guard's format (`{"id","lang","text","labels"}`).
    #[serde(default)]
    pub extra: Vec<PathBuf>,
}

/// Exact duplicates (same normalised text) always go; near duplicates are pairs whose
/// embeddings' cosine is at least `near_cosine` (the later one goes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dedup {
    pub near_cosine: f64,
}

impl Default for Dedup {
    fn default() -> Self {
        Dedup { near_cosine: 0.97 }
    }
}

/// Fractions of each class that go to validation and test (the rest trains).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    pub validation: f64,
    pub test: f64,
}

impl Default for Split {
    fn default() -> Self {
        Split {
            validation: 0.2,
            test: 0.2,
        }
    }
}

/// How the classes are balanced in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// The loss weighs each class by `n / (k · n_class)` (scikit-learn's `balanced`).
    #[default]
    ClassWeights,
    /// Training rows of the smaller classes are repeated (seeded) up to the largest class.
    Resample,
}

/// The classification head and its training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadParams {
    /// Encoder layers left trainable from the top; 0 = the head only (the encoder is frozen, so
    /// every message is embedded once). With N > 0 the head trains alone first, then the last N
    /// layers and the head train together ([`super::layers`]).
    pub freeze: usize,
    pub max_epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Epochs without a better validation macro-F1 before training stops.
    pub patience: usize,
    /// The recall each escalating class (red flag, self-harm) must keep on validation; the
    /// per-class threshold is the highest that reaches it.
    pub target_recall: f64,
    /// The most of validation's benign messages each escalating class may escalate (a share,
    /// e.g. 0.05): its threshold never goes below that, even when `target_recall` would need
    /// it. Absent: `target_recall` alone decides.
    #[serde(default)]
    pub max_false_escalation: Option<f64>,
    /// With `freeze` > 0: AdamW's learning rate for the trained encoder layers (the head keeps
    /// `learning_rate`).
    #[serde(default = "default_encoder_learning_rate")]
    pub encoder_learning_rate: f64,
    /// With `freeze` > 0: the most epochs of the joint training (layers and head).
    #[serde(default = "default_encoder_epochs")]
    pub encoder_epochs: usize,
    /// With `freeze` > 0: epochs of the joint training without a better validation macro-F1
    /// before it stops.
    #[serde(default = "default_encoder_patience")]
    pub encoder_patience: usize,
}

fn default_encoder_learning_rate() -> f64 {
    5e-5
}

fn default_encoder_epochs() -> usize {
    8
}

fn default_encoder_patience() -> usize {
    3
}

/// A config that cannot be used, naming the file (and line, for YAML errors): the training
/// config's error, one type for both YAML configs.
pub use crate::ml::train::config::ConfigError;

impl TriageConfig {
    /// Reads, checks and resolves `path`; returns the config and its bytes (hashed into the data
    /// and model versions).
    pub fn load(path: &Path) -> Result<(TriageConfig, Vec<u8>), ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        let mut c: TriageConfig = serde_norway::from_str(&text).map_err(|e| ConfigError::Yaml {
            path: path.to_path_buf(),
            line: e.location().map_or(0, |l| l.line()),
            message: e.to_string(),
        })?;
        c.validate().map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let at = |p: &mut PathBuf| *p = base.join(&*p);
        at(&mut c.base_model);
        c.check_freeze(path, &text)?;
        at(&mut c.guard_dir);
        at(&mut c.processed);
        at(&mut c.models);
        let s = &mut c.sources;
        s.guard_sets.iter_mut().for_each(at);
        s.promoted.iter_mut().for_each(at);
        s.extra.iter_mut().for_each(at);
        Ok((c, bytes))
    }

    fn validate(&self) -> Result<(), String> {
        let h = &self.head;
        let fraction = |x: f64| x.is_finite() && (0.0..1.0).contains(&x);
        if !fraction(self.split.validation) || !fraction(self.split.test) {
            return Err("split.validation and split.test are fractions in [0, 1)".into());
        }
        if self.split.validation + self.split.test >= 0.9 {
            return Err("split.validation + split.test must leave at least 10 % to train".into());
        }
        if !(self.dedup.near_cosine > 0.0 && self.dedup.near_cosine <= 1.0) {
            return Err("dedup.near_cosine must be in (0, 1]".into());
        }
        if h.max_epochs == 0 || h.batch_size == 0 || h.encoder_epochs == 0 {
            return Err(
                "head.max_epochs, head.encoder_epochs and head.batch_size must be positive".into(),
            );
        }
        if !(h.learning_rate > 0.0 && h.learning_rate.is_finite()) {
            return Err("head.learning_rate must be positive".into());
        }
        if !(h.encoder_learning_rate > 0.0 && h.encoder_learning_rate.is_finite()) {
            return Err("head.encoder_learning_rate must be positive".into());
        }
        if !(h.weight_decay >= 0.0 && h.weight_decay.is_finite()) {
            return Err("head.weight_decay must be ≥ 0".into());
        }
        if !(h.target_recall > 0.0 && h.target_recall <= 1.0) {
            return Err("head.target_recall must be in (0, 1]".into());
        }
        if h.max_false_escalation
            .is_some_and(|b| !(0.0..=1.0).contains(&b))
        {
            return Err("head.max_false_escalation must be in [0, 1]".into());
        }
        if self.sources.guard_sets.is_empty() && self.sources.extra.is_empty() {
            return Err("sources: name at least one guard set or extra file".into());
        }
        Ok(())
    }

    /// `head.freeze` against the base encoder's layer count (its `config.json`; read only when
    /// N > 0, so a head-only config loads before `make models`). The error names the config
    /// file and the line of `freeze:`.
    fn check_freeze(&self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let n = self.head.freeze;
        if n == 0 {
            return Ok(());
        }
        let at_line = |message: String| ConfigError::Yaml {
            path: path.to_path_buf(),
            line: line_of(text, "freeze"),
            message,
        };
        let layers = super::layers::layer_count(&self.base_model).map_err(|e| {
            at_line(format!(
                "head.freeze = {n} needs the base encoder's layer count: {e}"
            ))
        })?;
        if n > layers {
            return Err(at_line(format!(
                "head.freeze = {n}, but the base encoder {} has {layers} layers: freeze names how \
                 many of its last layers train with the head (0 = the head only, at most {layers})",
                self.base_model.display()
            )));
        }
        Ok(())
    }
}

/// The 1-based line of the first `key:` in a YAML text (0 when absent).
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or(0, |i| i + 1)
}
