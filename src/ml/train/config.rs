//! The training configuration (`training/configs/*.yaml`): data, target, features, model and its
//! hyper-parameters, cross-validation and tracking. Unknown keys are errors with the file's line
//! (serde's `deny_unknown_fields`, located by serde_norway). Relative paths are read from the
//! config file's folder, so a config trains the same from any working directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A training config as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The task name; also the registry's model name and the tarball's prefix (`risk`).
    pub task: String,
    pub data: DataSection,
    pub target: Target,
    pub features: Vec<FeatureSpec>,
    pub model: ModelSection,
    pub cv: CvSection,
    /// The model card template (tera), rendered into `modelcard.yaml`.
    pub model_card: PathBuf,
    /// Where runs are tracked; read by `ml::registry` (MLflow when `MLFLOW_TRACKING_URI` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<Tracking>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// CSV or Parquet file.
    pub path: PathBuf,
    /// Expectation suite run before training; an `error` failure stops training.
    pub suite: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub column: String,
    /// All classes, in the order probabilities are reported.
    pub classes: Vec<String>,
    /// The class scored by the binary AUC and F1 (`high risk`).
    pub positive: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub name: String,
    pub unit: String,
}

/// The model kind and every kind's hyper-parameters (only `kind`'s are used).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    pub kind: ModelKind,
    #[serde(default)]
    pub logistic_regression: LogisticParams,
    #[serde(default)]
    pub gradient_boosting: BoostingParams,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    LogisticRegression,
    GradientBoosting,
}

/// linfa-logistic's multinomial regression on standardised features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogisticParams {
    /// L2 penalty.
    pub alpha: f64,
    pub max_iterations: u64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            alpha: 1.0,
            max_iterations: 200,
        }
    }
}

/// perpetual's gradient boosting (one booster per class, log loss).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoostingParams {
    /// perpetual's one complexity knob: more budget, more and deeper trees.
    pub budget: f32,
    pub max_bin: u16,
    /// Upper bound on boosting rounds (keeps the test config fast).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration_limit: Option<usize>,
}

impl Default for BoostingParams {
    fn default() -> Self {
        BoostingParams {
            budget: 0.5,
            max_bin: 255,
            iteration_limit: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CvSection {
    pub folds: usize,
    /// Seeds the fold assignment and the model.
    pub seed: u64,
    /// Equal-width bins for the expected calibration error and the calibration plot.
    #[serde(default = "default_bins")]
    pub calibration_bins: usize,
}

fn default_bins() -> usize {
    10
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tracking {
    /// MLflow experiment name.
    pub experiment: String,
    /// Registered model name.
    pub registered_model: String,
}

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Yaml {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl TrainConfig {
    /// Reads, checks and resolves `path`; also returns the file's bytes (hashed into the version).
    pub fn load(path: &Path) -> Result<(TrainConfig, Vec<u8>), ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        let mut config = TrainConfig::parse(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.data.path = base.join(&config.data.path);
        config.data.suite = base.join(&config.data.suite);
        config.model_card = base.join(&config.model_card);
        Ok((config, bytes))
    }

    /// Parses and checks `text` (named `path` in errors); paths stay as written.
    pub fn parse(text: &str, path: &Path) -> Result<TrainConfig, ConfigError> {
        let config: TrainConfig = serde_norway::from_str(text).map_err(|e| ConfigError::Yaml {
            path: path.to_path_buf(),
            line: e.location().map_or(0, |l| l.line()),
            message: e.to_string(),
        })?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.target.classes.len() < 2 {
            return Err("target.classes needs at least two classes".into());
        }
        if !self.target.classes.contains(&self.target.positive) {
            return Err(format!(
                "target.positive {:?} is not one of target.classes",
                self.target.positive
            ));
        }
        if self.features.is_empty() {
            return Err("features is empty".into());
        }
        if self.cv.folds < 2 {
            return Err("cv.folds must be at least 2".into());
        }
        if self.cv.calibration_bins < 2 {
            return Err("cv.calibration_bins must be at least 2".into());
        }
        let g = &self.model.gradient_boosting;
        // Written so that NaN is refused too.
        if g.budget.is_nan() || g.budget <= 0.0 {
            return Err("model.gradient_boosting.budget must be positive".into());
        }
        let alpha = self.model.logistic_regression.alpha;
        if alpha.is_nan() || alpha < 0.0 {
            return Err("model.logistic_regression.alpha must be ≥ 0".into());
        }
        Ok(())
    }

    /// Index of the positive class in `target.classes`.
    pub fn positive_index(&self) -> usize {
        self.target
            .classes
            .iter()
            .position(|c| *c == self.target.positive)
            .unwrap_or(0)
    }
}
