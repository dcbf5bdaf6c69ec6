//! The model registry: which trained versions exist, their cross-validated metrics, who approved
//! them, which one is `production`, and the history of promotions. Two backends with the same
//! semantics: an MLflow tracking server when `MLFLOW_TRACKING_URI` is set (runs, artifacts,
//! registered model versions, aliases), otherwise the local file `models/registry.json`.
//! The promotion gate ([`gate`]) is shared: a version becomes `production` only when its CV AUC is
//! at least production's and a person approved it. See `docs/ml.md` ("Registry").

pub mod bootstrap;
pub mod gate;
pub mod local;
pub mod mlflow;
mod time;
pub mod version_dir;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use bootstrap::{Bootstrap, RISK_TRAINING_CONFIG, ensure_production};
pub use gate::{Approver, Refusal};
pub use local::LocalRegistry;
pub use mlflow::{MlflowClient, MlflowError, MlflowRegistry};
pub use version_dir::VersionDir;

/// The alias a served model is read from.
pub const PRODUCTION: &str = "production";
/// The metric the gate compares: mean cross-validated ROC AUC, `high risk` against the rest.
pub const GATE_METRIC: &str = "roc_auc_high";
/// Version tags the promotion writes (the approval is a tag, as in MLflow).
pub const TAG_APPROVED_BY: &str = "approved_by";
/// When the approval was recorded (RFC 3339, UTC).
pub const TAG_APPROVED_AT: &str = "approved_at";
/// The reason given with the approval.
pub const TAG_APPROVAL_REASON: &str = "approval_reason";
/// Our version string (training's `<version>`) on an MLflow model version, whose own number differs.
pub const TAG_VERSION: &str = "powerbirth_version";

/// One registered version of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// Training's version string (the directory name under `models/<task>/`).
    pub version: String,
    /// The registry's own id: MLflow's version number, or `version` in the local registry.
    pub registry_version: String,
    /// Where the artifacts are: the version directory, or the MLflow run's artifact URI.
    pub source: String,
    /// The MLflow run that logged it, if any.
    pub run_id: Option<String>,
    /// Mean cross-validated metrics by name (`roc_auc_high`, `f1_macro`, `brier`, …).
    pub metrics: BTreeMap<String, f64>,
    /// Version tags (approval, git SHA, data hash).
    pub tags: BTreeMap<String, String>,
    /// Aliases pointing at this version.
    pub aliases: Vec<String>,
}

impl ModelVersion {
    /// The gate's metric, if the version has it.
    pub fn gate_metric(&self) -> Option<f64> {
        self.metrics.get(GATE_METRIC).copied()
    }

    /// Who approved it, if anyone.
    pub fn approved_by(&self) -> Option<&str> {
        self.tags.get(TAG_APPROVED_BY).map(String::as_str)
    }
}

/// One move of the `production` alias, kept because MLflow keeps no history of aliases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    /// The alias moved (`production`).
    pub alias: String,
    /// The version it now points at.
    pub version: String,
    /// The version it pointed at before, if any.
    pub previous: Option<String>,
    /// Who approved it (an email, or `bootstrap` for the start-up model).
    pub approved_by: String,
    /// Why, as given on the command line.
    pub reason: Option<String>,
    /// When (RFC 3339, UTC).
    pub at: String,
}

/// What `promote` is asked to do.
#[derive(Debug, Clone)]
pub struct PromotionRequest {
    /// Training's version string or, with MLflow, the registry's version number.
    pub version: String,
    pub approver: Approver,
    pub reason: Option<String>,
}

/// Everything that can go wrong in the registry; each message names the file, version or call.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("model {model:?} has no version {version:?}")]
    UnknownVersion { model: String, version: String },
    #[error("version {version:?} of model {model:?} is already registered")]
    AlreadyRegistered { model: String, version: String },
    #[error("promotion refused: {0}")]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Mlflow(#[from] MlflowError),
}

impl RegistryError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A model's name in the registry: lowercase letters, digits, `-` and `_` (it becomes a file key
/// and an MLflow name).
pub fn check_model_name(name: &str) -> Result<(), RegistryError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RegistryError::Invalid {
            path: PathBuf::from(name),
            message: "a model name is 1–64 of a-z, 0-9, '-' and '_'".into(),
        })
    }
}

/// The registry in use: MLflow or the local file, with one set of operations.
pub enum Registry {
    Local(LocalRegistry),
    Mlflow(MlflowRegistry),
}

impl Registry {
    /// MLflow when `MLFLOW_TRACKING_URI` is set (and not empty), else `<models_dir>/registry.json`.
    pub fn from_env(models_dir: &Path) -> Result<Self, RegistryError> {
        let uri = std::env::var("MLFLOW_TRACKING_URI").ok();
        Self::open(models_dir, uri.as_deref().filter(|u| !u.trim().is_empty()))
    }

    /// MLflow at `tracking_uri` if given, else the local file registry under `models_dir`.
    pub fn open(models_dir: &Path, tracking_uri: Option<&str>) -> Result<Self, RegistryError> {
        Ok(match tracking_uri {
            Some(uri) => Self::Mlflow(MlflowRegistry::new(MlflowClient::new(uri)?)),
            None => Self::Local(LocalRegistry::new(models_dir)),
        })
    }

    /// Where it is, for messages and logs.
    pub fn describe(&self) -> String {
        match self {
            Self::Local(r) => format!("local registry {}", r.path().display()),
            Self::Mlflow(r) => format!("MLflow at {}", r.client().base_url()),
        }
    }

    /// Registers the trained version in `dir` (with MLflow: logs a run with its params, metrics,
    /// tags and artifacts, then creates a model version with the run as source).
    pub async fn register(&self, model: &str, dir: &Path) -> Result<ModelVersion, RegistryError> {
        check_model_name(model)?;
        let version = VersionDir::read(dir)?;
        match self {
            Self::Local(r) => r.register(model, &version),
            Self::Mlflow(r) => r.register(model, &version).await,
        }
    }

    /// Every version, oldest first.
    pub async fn versions(&self, model: &str) -> Result<Vec<ModelVersion>, RegistryError> {
        check_model_name(model)?;
        match self {
            Self::Local(r) => r.versions(model),
            Self::Mlflow(r) => r.versions(model).await,
        }
    }

    /// The version the `production` alias points at, if any.
    pub async fn production(&self, model: &str) -> Result<Option<ModelVersion>, RegistryError> {
        Ok(self
            .versions(model)
            .await?
            .into_iter()
            .find(|v| v.aliases.iter().any(|a| a == PRODUCTION)))
    }

    /// Moves `production` to the requested version if the gate lets it, recording the approval
    /// as a version tag and the move in the history.
    pub async fn promote(
        &self,
        model: &str,
        request: &PromotionRequest,
    ) -> Result<Promotion, RegistryError> {
        check_model_name(model)?;
        match self {
            Self::Local(r) => r.promote(model, request),
            Self::Mlflow(r) => r.promote(model, request).await,
        }
    }

    /// Every promotion, oldest first.
    pub async fn history(&self, model: &str) -> Result<Vec<Promotion>, RegistryError> {
        check_model_name(model)?;
        match self {
            Self::Local(r) => r.history(model),
            Self::Mlflow(r) => r.history(model).await,
        }
    }
}
