//! The portable risk-model format: one JSON file (`model.json`) that the trainer writes and the
//! server loads without retraining. A logistic regression is its standardisation and
//! coefficients; a gradient-boosted ensemble is perpetual's own serialised trees. Keys are
//! written sorted, so the same model is always the same bytes.
//!
//! ```no_run
//! let model = powerbirth::ml::models::load(std::path::Path::new("models/risk/V/model.json"))?;
//! // One row per woman, features in `model.features` order; one probability per class.
//! let p = model.predict_proba(&[vec![25.0, 130.0, 80.0, 15.0, 98.0, 86.0]])?;
//! # Ok::<(), powerbirth::ml::models::ModelError>(())
//! ```

use std::path::{Path, PathBuf};

use perpetual::{Matrix, MultiOutputBooster};
use serde::{Deserialize, Serialize};

/// The format tag written in every model file.
pub const FORMAT: &str = "powerbirth.risk-model/1";

/// A feature the model reads, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    pub name: String,
    pub unit: String,
}

/// What was fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Estimator {
    /// Multinomial logistic regression on standardised features:
    /// `p = softmax(coefficients · ((x − mean) / scale) + intercepts)`.
    LogisticRegression {
        mean: Vec<f64>,
        scale: Vec<f64>,
        /// One row per class, one column per feature.
        coefficients: Vec<Vec<f64>>,
        intercepts: Vec<f64>,
    },
    /// perpetual's `MultiOutputBooster` (one-vs-rest or native multiclass trees), as perpetual
    /// serialises it.
    GradientBoosting { booster: serde_json::Value },
}

/// The model file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub format: String,
    pub task: String,
    /// Class labels in probability order.
    pub classes: Vec<String>,
    /// The class whose probability is the risk score (`high risk`).
    pub positive_class: String,
    pub features: Vec<Feature>,
    pub estimator: Estimator,
}

/// Why a model could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a risk model file: {0}")]
    Format(String),
    #[error("row {row} has {got} features, the model reads {want}")]
    Width { row: usize, got: usize, want: usize },
}

/// A model ready to predict.
pub struct RiskModel {
    pub file: ModelFile,
    predictor: Predictor,
}

enum Predictor {
    Linear,
    Boosted(Box<MultiOutputBooster>),
}

/// Reads and loads `model.json`.
pub fn load(path: &Path) -> Result<RiskModel, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    RiskModel::from_json(&text)
}

impl RiskModel {
    /// Parses a model file's text.
    pub fn from_json(text: &str) -> Result<RiskModel, ModelError> {
        let file: ModelFile =
            serde_json::from_str(text).map_err(|e| ModelError::Format(e.to_string()))?;
        RiskModel::new(file)
    }

    /// Checks `file` and prepares its predictor.
    pub fn new(file: ModelFile) -> Result<RiskModel, ModelError> {
        if file.format != FORMAT {
            return Err(ModelError::Format(format!(
                "format {:?}, expected {FORMAT:?}",
                file.format
            )));
        }
        if !file.classes.contains(&file.positive_class) {
            return Err(ModelError::Format(
                "positive_class is not one of classes".into(),
            ));
        }
        let (k, d) = (file.classes.len(), file.features.len());
        let predictor = match &file.estimator {
            Estimator::LogisticRegression {
                mean,
                scale,
                coefficients,
                intercepts,
            } => {
                let shapes_ok = mean.len() == d
                    && scale.len() == d
                    && intercepts.len() == k
                    && coefficients.len() == k
                    && coefficients.iter().all(|r| r.len() == d);
                if !shapes_ok {
                    return Err(ModelError::Format(
                        "coefficient shapes do not match classes × features".into(),
                    ));
                }
                Predictor::Linear
            }
            Estimator::GradientBoosting { booster } => {
                let b: MultiOutputBooster = serde_json::from_value(booster.clone())
                    .map_err(|e| ModelError::Format(format!("booster: {e}")))?;
                if b.n_boosters != k {
                    return Err(ModelError::Format(
                        "booster outputs do not match classes".into(),
                    ));
                }
                Predictor::Boosted(Box::new(b))
            }
        };
        Ok(RiskModel { file, predictor })
    }

    /// The model file as JSON bytes, keys sorted (deterministic).
    pub fn to_json(&self) -> Vec<u8> {
        canonical_json(&self.file)
    }

    /// Index of the positive class in each probability row.
    pub fn positive_index(&self) -> usize {
        self.file
            .classes
            .iter()
            .position(|c| *c == self.file.positive_class)
            .unwrap_or(0)
    }

    /// Class probabilities for each row (features in `file.features` order); each row sums to 1.
    pub fn predict_proba(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, ModelError> {
        let want = self.file.features.len();
        if let Some((row, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != want) {
            return Err(ModelError::Width {
                row,
                got: r.len(),
                want,
            });
        }
        Ok(match (&self.predictor, &self.file.estimator) {
            (
                Predictor::Linear,
                Estimator::LogisticRegression {
                    mean,
                    scale,
                    coefficients,
                    intercepts,
                },
            ) => rows
                .iter()
                .map(|x| {
                    let z: Vec<f64> = x
                        .iter()
                        .zip(mean)
                        .zip(scale)
                        .map(|((x, m), s)| (x - m) / s)
                        .collect();
                    let logits: Vec<f64> = coefficients
                        .iter()
                        .zip(intercepts)
                        .map(|(w, b)| w.iter().zip(&z).map(|(w, z)| w * z).sum::<f64>() + b)
                        .collect();
                    softmax(&logits)
                })
                .collect(),
            (Predictor::Boosted(b), _) => {
                let k = self.file.classes.len();
                // perpetual's Matrix is column-major: all rows of feature 0, then feature 1, …
                let mut columns = Vec::with_capacity(rows.len() * want);
                for j in 0..want {
                    columns.extend(rows.iter().map(|r| r[j]));
                }
                let matrix = Matrix::new(&columns, rows.len(), want);
                // Row-major: row i's class probabilities at i*k .. i*k+k.
                let flat = b.predict_proba(&matrix, false);
                flat.chunks(k).map(<[f64]>::to_vec).collect()
            }
            _ => unreachable!("the predictor is built from the estimator"),
        })
    }
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

/// `value` as pretty JSON with every object's keys sorted: serde_json's map (without
/// `preserve_order`) is a BTreeMap, so going through `Value` sorts HashMaps too.
pub fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    let value = serde_json::to_value(value).expect("model types serialise");
    let mut out = serde_json::to_vec_pretty(&value).expect("a Value serialises");
    out.push(b'\n');
    out
}
