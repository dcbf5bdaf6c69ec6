//! The message-triage classifier (issue #19): a pregnant woman's message read as `red_flag`,
//! `self_harm`, `medication_dosing` or `benign` by a classification head on a sentence encoder
//! ([`crate::embed`], all-MiniLM-L6-v2; frozen, or with its last layers fine-tuned). It is the
//! guard's second opinion: installed by `app.rs` through [`crate::guard::SecondOpinion`], it may
//! add a red-flag or self-harm escalation the lexicons missed, never remove one.
//!
//! - [`base`]: base models under `models/base/<name>/` and their `modelcard.yaml` manifest
//!   (`powerbirth models base sync`).
//! - [`config`]: the YAML config, `training/configs/triage.yaml`.
//! - [`prepare`]: the dataset (`powerbirth finetune prepare`): the guard's development set,
//!   promoted nurse reviews and extra JSONL, redacted, deduplicated, split, with its report. The
//!   guard's held-out parts are refused: they are the classifier's test sets.
//! - [`head`]: the linear head trained with AdamW, early stopping on validation macro-F1.
//! - [`layers`]: with `head.freeze = N > 0`, the encoder's last N layers trained with the head.
//! - [`run`]: `powerbirth finetune run`: embed, train, choose thresholds, score, package.
//! - [`score`]: thresholds chosen on validation, and the figures `metrics.json` carries.
//! - [`model`]: a trained version loaded for the request path ([`TriageModel`]).
//! - [`select`]: `[guard] triage_model` as a folder or a registry selector (`triage@production`).
//! - [`batch`]: concurrent turns scored in one forward pass ([`batch::BatchedTriage`]), the
//!   guard's second opinion on the request path.

pub mod base;
pub mod batch;
pub mod compare;
pub mod config;
pub mod head;
pub mod layers;
pub mod model;
pub mod prepare;
pub mod run;
pub mod score;
pub mod select;

pub use config::TriageConfig;
pub use model::TriageModel;

/// The classes, in the order of the head's outputs and of every report.
pub const CLASSES: [&str; 4] = ["red_flag", "self_harm", "medication_dosing", "benign"];
/// Index of `red_flag` in [`CLASSES`].
pub const RED_FLAG: usize = 0;
/// Index of `self_harm` in [`CLASSES`].
pub const SELF_HARM: usize = 1;
/// Index of `benign` in [`CLASSES`].
pub const BENIGN: usize = 3;
/// The classes whose threshold can escalate a turn (the others never change the guard's verdict).
pub const ESCALATING: [usize; 2] = [RED_FLAG, SELF_HARM];
/// Bumped when the packaged files change meaning; part of the version hash.
pub const FORMAT: &str = "triage-head-v1";

/// Everything that can go wrong preparing, training or loading, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("{path}: {message}")]
    Data { path: String, message: String },
    #[error("{0}")]
    HeldOut(String),
    #[error(transparent)]
    Encoder(#[from] crate::embed::EmbedError),
    #[error("training failed: {0}")]
    Train(String),
    #[error(transparent)]
    Registry(#[from] crate::ml::registry::RegistryError),
    /// A registry selector that names no usable version.
    #[error("{0}")]
    Selector(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl TriageError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn data(path: &std::path::Path, message: impl Into<String>) -> Self {
        Self::Data {
            path: path.display().to_string(),
            message: message.into(),
        }
    }
}

/// The class of a message labelled in the guard's format: the most urgent of its labels
/// (`pii` alone is benign for triage: redaction is the lexicons' job).
pub fn class_of(labels: &[crate::guard::Category]) -> usize {
    use crate::guard::Category;
    if labels.contains(&Category::RedFlag) {
        RED_FLAG
    } else if labels.contains(&Category::SelfHarm) {
        SELF_HARM
    } else if labels.contains(&Category::MedicationDosing) {
        2
    } else {
        3
    }
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
